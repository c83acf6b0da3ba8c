//! The `native` engine: our own zone-file parser, wire codec, lookup and
//! response encoding, written without hickory-proto.
#![forbid(unsafe_code)]

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::bundle::{Bundle, BundleError};

use super::{Engine, EngineKind, Identity, Outcome, Transport};

pub mod name;
pub mod record;
pub mod zonefile;

/// The zones the engine serves, built completely before being swapped in.
#[derive(Debug, Default)]
pub struct Zones {
    /// The zones as parsed.
    pub parsed: Vec<record::ParsedZone>,
}

/// The native engine: live zones behind an `ArcSwap`, plus the identity.
#[derive(Debug)]
pub struct NativeEngine {
    /// The live zone data; replaced whole by [`Engine::reload`].
    zones: ArcSwap<Zones>,
    /// What CHAOS `id.server` and NSID answer.
    identity: Identity,
}

impl NativeEngine {
    /// Load `bundle` and build an engine serving it.
    pub fn open(bundle: &Bundle, identity: Identity) -> Result<NativeEngine, BundleError> {
        Ok(NativeEngine {
            zones: ArcSwap::from_pointee(load(bundle)?),
            identity,
        })
    }
}

/// Parse every zone of `bundle`.
fn load(bundle: &Bundle) -> Result<Zones, BundleError> {
    let parsed = bundle
        .zones()
        .iter()
        .map(|z| zonefile::load_zone(bundle, z))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Zones { parsed })
}

impl Engine for NativeEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Native
    }

    fn reload(&self, bundle: &Bundle) -> Result<(), BundleError> {
        self.zones.store(Arc::new(load(bundle)?));
        Ok(())
    }

    fn answer(&self, query: &[u8], _transport: Transport, out: &mut Vec<u8>) -> Outcome {
        // Placeholder until the answer path lands: REFUSED with the header echoed.
        let _ = &self.identity;
        out.clear();
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return Outcome::Drop;
        }
        out.extend_from_slice(&query[..12]);
        out[2] = (query[2] & 0x79) | 0x80;
        out[3] = 5;
        out[4..12].fill(0);
        Outcome::Reply
    }
}
