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
//! - [`state`] is the pipeline's state directory (landing, foodtaster,
//!   dns, poisoned, the verdict log), every change atomic;
//! - [`taster`] tastes a bundle: every engine, a loopback server, the
//!   tasting suite over UDP and TCP, a verdict;
//! - [`pipeline`] runs the `foodtaster` process on each landed bundle under
//!   limits, then poisons or promotes it;
//! - [`follow`] makes a king follow `dns/current` and hot-swap bundles;
//! - [`cli`] is the `stripedns` command line.
//!
//! See `ARCHITECTURE.md` for how these fit together.
// `deny`, not `forbid`: `pipeline::limits` alone allows the `unsafe` that
// `pre_exec` needs. The engines keep `forbid` of their own.
#![deny(unsafe_code)]

pub mod bundle;
pub mod cli;
pub mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod follow;
#[doc(hidden)]
pub mod fuzzing;
pub mod pipeline;
pub mod server;
pub mod state;
pub mod taster;
