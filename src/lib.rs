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
//! - [`cli`] is the `stripedns` command line.
//!
//! See `ARCHITECTURE.md` for how these fit together.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod cli;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod server;
