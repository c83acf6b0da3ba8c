//! The answer engines and the one trait they share.
//!
//! An engine is a whole implementation of answering: zone loading, wire
//! parsing, lookup and response encoding. The server layer above only moves
//! bytes: it hands a raw query to [`Engine::answer`] and sends back whatever
//! the engine wrote. Engines share nothing below this trait (no name type,
//! no parser, no lookup code), so a bug in one cannot be a bug in the other.
//!
//! Zone data lives inside the engine behind an `ArcSwap`; [`Engine::reload`]
//! builds the new data completely before swapping it in, so a reader never
//! blocks and never sees half a bundle.

use std::fmt;
use std::str::FromStr;

use std::sync::Arc;

use crate::bundle::{Bundle, BundleError};
use crate::fleet::HealthState;

pub mod hickory;
pub mod native;

/// Which transport a query arrived on; it decides the response size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: the response must fit in 512 octets, or the client's EDNS size.
    Udp,
    /// TCP: up to 65,535 octets.
    Tcp,
}

/// Who is answering, for CHAOS `id.server`/`hostname.bind` and NSID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The text answered to `id.server` and sent as NSID; `None` refuses
    /// those queries and sends no NSID, as Knot DNS does when unset.
    pub id: Option<String>,
}

/// What the engine decided to do with one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `out` holds a response to send.
    Reply,
    /// Send nothing: the packet was not a query worth answering (too short
    /// to carry a header, or a response).
    Drop,
}

/// One implementation of answering.
pub trait Engine: Send + Sync + fmt::Debug {
    /// The engine's name, as on the command line (`native`, `hickory`).
    fn kind(&self) -> EngineKind;

    /// Load `bundle` completely and swap it in for the live data. On error
    /// the live data is untouched.
    fn reload(&self, bundle: &Bundle) -> Result<(), BundleError>;

    /// Answer one raw query. `out` is cleared and receives the response.
    /// Never panics on any input.
    fn answer(&self, query: &[u8], transport: Transport, out: &mut Vec<u8>) -> Outcome;

    /// Swap in the health of fleet addresses: from the next query on,
    /// addresses it lists as down are left out of answers, as
    /// [`crate::fleet`] describes. It survives reloads.
    fn set_health(&self, health: Arc<HealthState>);
}

/// The engines this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// Our own codec and zone-file parser.
    #[default]
    Native,
    /// Built on hickory-proto's message and record types.
    Hickory,
}

impl EngineKind {
    /// Every engine this build knows: what `check` and the taster load a
    /// bundle with.
    pub const ALL: &'static [EngineKind] = &[EngineKind::Native, EngineKind::Hickory];

    /// The engine's command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::Hickory => "hickory",
        }
    }

    /// Build an engine of this kind serving `bundle`.
    pub fn open(
        self,
        bundle: &Bundle,
        identity: Identity,
    ) -> Result<std::sync::Arc<dyn Engine>, BundleError> {
        match self {
            EngineKind::Native => Ok(std::sync::Arc::new(native::NativeEngine::open(
                bundle, identity,
            )?)),
            EngineKind::Hickory => Ok(std::sync::Arc::new(hickory::HickoryEngine::open(
                bundle, identity,
            )?)),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(EngineKind::Native),
            "hickory" => Ok(EngineKind::Hickory),
            other => Err(format!("unknown engine `{other}` (known: native, hickory)")),
        }
    }
}
