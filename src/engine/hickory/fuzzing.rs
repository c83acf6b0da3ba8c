//! The hickory side of the fuzzing checks: hickory-proto's message decoder
//! as a check on responses the native engine writes (so each engine's
//! answers are read by code that did not write them). Not public API.

use hickory_proto::op::Message;

/// Decode `msg` with hickory-proto.
pub fn decodes(msg: &[u8]) -> Result<(), String> {
    Message::from_vec(msg).map(drop).map_err(|e| e.to_string())
}
