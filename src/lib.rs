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
//! - [`cli`] is the `stripedns` command line.
//!
//! See `ARCHITECTURE.md` for how these fit together.
//!
//! `unsafe` is denied everywhere except in [`sys`], which wraps the few
//! system calls that handing sockets and shared memory to a worker needs.
#![deny(unsafe_code)]

pub mod blacklist;
pub mod bundle;
pub mod cli;
pub mod engine;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
pub mod king;
pub mod server;
pub mod slot;
// Descriptor passing, shared memory, kill/prctl/flock: see the module's
// documentation; every unsafe block in it states why it is sound.
#[allow(unsafe_code)]
pub mod sys;
pub mod worker;
