//! Integration tests: real processes on loopback.

mod differential;
mod dnsmsg;
mod peers;
