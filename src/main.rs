//! The `stripedns` binary.
fn main() {}
