//! Integration tests: real processes on loopback.
//!
//! One test binary (so the crate is linked once); a module per area.
//! `support` holds the helpers every area shares: bundles in temporary
//! directories, a `stripedns serve` process, and plain DNS over UDP and TCP.

mod check;
mod serve;
mod support;
