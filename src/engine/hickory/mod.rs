//! The `hickory` engine: a second, independent implementation of
//! answering, built on hickory-proto's types (`Name`, `LowerName`,
//! `RData`, `BinDecoder`, `BinEncoder`) and sharing nothing with the
//! native engine below the [`Engine`] trait.
//!
//! Data flow: [`master`] streams each zone file of a bundle (with [`text`]
//! for the lexical layer and [`rdata`] for per-type RDATA, encoded once
//! into wire form) into a [`tree::Builder`], which builds and checks the
//! zone as the records arrive, [`spread`] maps
//! the bundle's fleet policy onto its address RRsets, [`request`] decodes a
//! query in stages, [`answer`] walks the tree into a plan and [`emit`]
//! encodes it within the size limit. The live [`answer::Zones`] sit behind an `ArcSwap`: one load per
//! query, and a reload never blocks a reader.
//!
//! hickory-proto is used where it is right and worked around where it is
//! not; each module's documentation says which of its behaviours it
//! avoids and why.
//!
//! ```
//! use stripedns::engine::{Engine, Identity, Outcome, Transport};
//! use stripedns::engine::hickory::HickoryEngine;
//! # let dir = std::env::temp_dir().join(format!("hickory-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("example.zone"), "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n").unwrap();
//! let bundle = stripedns::bundle::Bundle::open(&dir).unwrap();
//! let engine = HickoryEngine::open(&bundle, Identity::default()).unwrap();
//! let query = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02ns\x07example\x00\x00\x01\x00\x01";
//! let mut out = Vec::new();
//! assert_eq!(engine.answer(query, Transport::Udp, &mut out), Outcome::Reply);
//! assert_eq!(out[7], 1); // one answer record
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::bundle::{Bundle, BundleError};
use crate::fleet::HealthState;

use super::{Engine, EngineKind, Identity, Outcome, Transport};

pub mod answer;
pub mod emit;
#[doc(hidden)]
pub mod fuzzing;
pub mod master;
pub mod rdata;
pub mod request;
pub mod spread;
pub mod text;
pub mod tree;

#[cfg(test)]
mod tests;

use answer::Zones;
use tree::{Builder, Zone};

/// The hickory engine: live zones behind an `ArcSwap`, and the identity.
#[derive(Debug)]
pub struct HickoryEngine {
    /// The live zones; replaced whole by [`Engine::reload`].
    zones: ArcSwap<Zones>,
    /// What CHAOS `id.server` and NSID answer.
    identity: Identity,
    /// The fleet addresses that are down now; kept across reloads.
    health: ArcSwap<HealthState>,
}

impl HickoryEngine {
    /// Load `bundle` and build an engine serving it.
    pub fn open(bundle: &Bundle, identity: Identity) -> Result<HickoryEngine, BundleError> {
        Ok(HickoryEngine {
            zones: ArcSwap::from_pointee(load(bundle)?),
            identity,
            health: ArcSwap::from_pointee(HealthState::default()),
        })
    }

    /// Number of zones and records live now.
    pub fn counts(&self) -> (usize, usize) {
        let zones = self.zones.load();
        let records = zones.by_apex.values().map(Zone::record_count).sum();
        (zones.by_apex.len(), records)
    }
}

/// Read, check and build every zone of `bundle`.
pub fn load(bundle: &Bundle) -> Result<Zones, BundleError> {
    // The policy is part of the bundle: a bad one fails the load.
    let policy = crate::fleet::FleetPolicy::from_bundle(bundle)?;
    let mut zones = Zones::default();
    for file in bundle.zones() {
        let mut builder = Builder::new(&master::origin(file)?);
        let loaded = master::read_zone(bundle, file, &mut builder)?;
        let mut zone = builder.finish().map_err(|bad| match bad.at {
            Some(at) => BundleError::Zone {
                file: loaded
                    .files
                    .get(usize::from(at.file))
                    .cloned()
                    .unwrap_or_default(),
                line: at.line as usize,
                message: match master::describe(bundle, &loaded.files, at) {
                    Some(text) => format!("`{text}`: {}", bad.message),
                    None => bad.message,
                },
            },
            None => BundleError::Zone {
                file: file.path.clone(),
                line: 0,
                message: bad.message,
            },
        })?;
        spread::attach(&mut zone, &policy);
        let key = zone.apex.clone();
        if zones.by_apex.contains_key(&key) {
            return Err(BundleError::Zone {
                file: file.path.clone(),
                line: 0,
                message: format!("zone {} is defined by two files", zone.origin),
            });
        }
        zones.by_apex.insert(key, zone);
    }
    // The reader's and the checks' scratch is freed by now.
    crate::sys::release_free_heap();
    Ok(zones)
}

impl Engine for HickoryEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Hickory
    }

    fn reload(&self, bundle: &Bundle) -> Result<(), BundleError> {
        self.zones.store(Arc::new(load(bundle)?));
        Ok(())
    }

    fn answer(&self, query: &[u8], transport: Transport, out: &mut Vec<u8>) -> Outcome {
        let zones = self.zones.load();
        if answer::answer(&zones, &self.health, &self.identity, query, transport, out) {
            Outcome::Reply
        } else {
            Outcome::Drop
        }
    }

    fn set_health(&self, health: Arc<HealthState>) {
        self.health.store(health);
    }
}
