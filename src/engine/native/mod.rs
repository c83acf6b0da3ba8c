//! The `native` engine: our own zone-file parser, wire codec, lookup and
//! response encoding, written without hickory-proto.
//!
//! Data flow: [`zonefile`] turns each zone file of a bundle into records,
//! [`zone`] builds a lookup tree per zone, and [`answer`] decodes a request
//! with [`wire`], walks the tree and encodes the response. The live
//! [`answer::ZoneSet`] sits behind an `ArcSwap`: one load per query, and a
//! reload never blocks a reader. The bundle's web-fleet policy is mapped
//! onto the address RRsets at load time; [`rotate`] chooses their records
//! per response, leaving out the addresses the health state (a second
//! `ArcSwap`, read at most once per query) lists as down.
#![forbid(unsafe_code)]

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::bundle::{Bundle, BundleError};
use crate::fleet::HealthState;

use super::{Engine, EngineKind, Identity, Outcome, Transport};

pub mod answer;
pub mod name;
pub mod record;
pub mod rotate;
pub mod wire;
pub mod zone;
pub mod zonefile;

#[cfg(test)]
mod fleet_tests;

use answer::ZoneSet;
use zone::Zone;

/// The native engine: live zones behind an `ArcSwap`, plus the identity.
#[derive(Debug)]
pub struct NativeEngine {
    /// The live zone data; replaced whole by [`Engine::reload`].
    zones: ArcSwap<ZoneSet>,
    /// What CHAOS `id.server` and NSID answer.
    identity: Identity,
    /// The fleet addresses that are down now; kept across reloads.
    health: ArcSwap<HealthState>,
}

impl NativeEngine {
    /// Load `bundle` and build an engine serving it.
    pub fn open(bundle: &Bundle, identity: Identity) -> Result<NativeEngine, BundleError> {
        let zones = load(bundle)?;
        crate::sys::release_free_heap();
        Ok(NativeEngine {
            zones: ArcSwap::from_pointee(zones),
            identity,
            health: ArcSwap::from_pointee(HealthState::default()),
        })
    }

    /// Number of zones and records live now.
    pub fn counts(&self) -> (usize, usize) {
        let zones = self.zones.load();
        let records = zones.zones.values().map(Zone::record_count).sum();
        (zones.zones.len(), records)
    }
}

/// Parse, check and build every zone of `bundle`.
fn load(bundle: &Bundle) -> Result<ZoneSet, BundleError> {
    // The policy is part of the bundle: a bad one fails the load.
    let policy = crate::fleet::FleetPolicy::from_bundle(bundle)?;
    let mut set = ZoneSet::default();
    for file in bundle.zones() {
        let parsed = zonefile::load_zone(bundle, file)?;
        #[cfg(feature = "fault-injection")]
        for r in parsed
            .records
            .iter()
            .filter(|r| r.rtype == record::rtype::TXT)
        {
            // Each character-string: a length octet, then the text.
            let mut rest = &r.rdata[..];
            while let Some((&len, tail)) = rest.split_first() {
                let (text, after) = tail.split_at(usize::from(len).min(tail.len()));
                crate::fault::on_load_txt(text);
                rest = after;
            }
        }
        let zone = Zone::build(parsed, &policy)?;
        let key = zone.origin.key();
        if set.zones.contains_key(&key) {
            return Err(BundleError::Zone {
                file: file.path.clone(),
                line: 0,
                message: format!("zone {} is defined by two files", zone.origin),
            });
        }
        set.zones.insert(key, zone);
    }
    Ok(set)
}

impl Engine for NativeEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Native
    }

    fn reload(&self, bundle: &Bundle) -> Result<(), BundleError> {
        self.zones.store(Arc::new(load(bundle)?));
        // The old zones go when their last reader lets go; what the load
        // freed goes back now.
        crate::sys::release_free_heap();
        Ok(())
    }

    fn answer(&self, query: &[u8], transport: Transport, out: &mut Vec<u8>) -> Outcome {
        let zones = self.zones.load();
        if answer::answer(&zones, &self.identity, &self.health, query, transport, out) {
            Outcome::Reply
        } else {
            Outcome::Drop
        }
    }

    fn set_health(&self, health: Arc<HealthState>) {
        self.health.store(health);
    }
}
