//! Integration tests: real processes on loopback.

mod bundle_errors;
mod differential;
mod dnsmsg;
mod peers;
