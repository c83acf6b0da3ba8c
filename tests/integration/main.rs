//! Integration tests: real processes on loopback.
//!
//! One test binary (so the crate is linked once); a module per area.
//! `support` holds the helpers every area shares: bundles in temporary
//! directories, a `stripedns serve` process, and plain DNS over UDP and TCP;
//! `peers` starts Knot DNS and NSD for the differential tests. `kings`
//! sends queries of death when built with `--features fault-injection`
//! (as `tests/run.sh` does). `up` starts whole topologies: the pipeline
//! and four kings in two stripes. `metrics` scrapes the Prometheus
//! endpoints of `serve --metrics` and of `up`. `fleet` checks rotation,
//! answer limits and health checks against backends of its own on
//! 127.0.0.2 to .5.

mod bundle_errors;
mod check;
mod differential;
mod dnsmsg;
mod fleet;
mod fuzz_corpus;
mod kings;
mod metrics;
mod peers;
mod pipeline;
mod serve;
mod support;
mod up;
