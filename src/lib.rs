//! stripedns: an authoritative DNS server for web fleets, built so that one
//! bad input cannot take the DNS down.
//!
//! The crate is split into a small shared layer and the engines below it:
//!
//! - [`bundle`] finds the zone files of a bundle directory, confines every
//!   path to it and computes the bundle's [`bundle::BundleId`];
//! - [`engine`] holds the [`engine::Engine`] trait, the one seam between the
//!   shared layer and the answer engines, and the engines themselves;
//! - [`server`] owns the UDP and TCP sockets and hands raw queries to an
//!   engine;
//! - [`king`] is `serve`: it binds the sockets and supervises the
//!   [`worker`] processes that answer on them, restarting the dead and
//!   killing the hung;
//! - [`fingerprint`], [`slot`] and [`blacklist`] are the query-of-death
//!   blacklist: what a query is, where a worker records the query it is
//!   answering, and the file of queries that killed a worker;
//! - [`state`] is the pipeline's state directory (landing, foodtaster,
//!   dns, poisoned, the verdict log), every change atomic;
//! - [`taster`] tastes a bundle: every engine, a loopback server, the
//!   tasting suite over UDP and TCP, a verdict;
//! - [`pipeline`] runs the `foodtaster` process on each landed bundle under
//!   limits, then poisons or promotes it;
//! - [`follow`] makes a king's workers follow `dns/current` and hot-swap
//!   bundles;
//! - [`health`] is the health checker of fleet addresses and the
//!   workers' follower of the health file it publishes;
//! - [`topology`] and [`up`] are `stripedns up`: the POPs and stripes of
//!   a local topology, and the supervisor that runs the pipeline and one
//!   king per POP on one state directory;
//! - [`metrics`] counts queries in the workers' slots and serves what the
//!   king and `up` know in the Prometheus text format;
//! - [`cli`] is the `stripedns` command line.
//!
//! See `ARCHITECTURE.md` for how these fit together.
//!
//! `unsafe` is denied everywhere except in [`sys`] (descriptor passing,
//! shared memory, kill/prctl/flock) and `pipeline::limits` (the rlimits a
//! taster runs under); the engines forbid it outright.
#![deny(unsafe_code)]

pub mod blacklist;
pub mod bundle;
pub mod cli;
pub mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod fingerprint;
pub mod fleet;
pub mod follow;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod king;
pub mod metrics;
pub mod pipeline;
pub mod server;
pub mod slot;
pub mod state;
// Descriptor passing, shared memory, kill/prctl/flock: see the module's
// documentation; every unsafe block in it states why it is sound.
#[allow(unsafe_code)]
pub mod sys;
pub mod taster;
pub mod topology;
pub mod up;
pub mod worker;
