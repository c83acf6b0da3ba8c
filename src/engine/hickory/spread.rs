//! Web-fleet answers in the hickory engine: which records of an address
//! RRset one response carries, and in which order (rotation, `max_answers`
//! and health filtering with fail open, exactly as [`crate::fleet`]
//! specifies them).
//!
//! Design: the policy is mapped onto the zone's RRsets once, at load
//! ([`attach`]): every A or AAAA RRset of two records or more gets a
//! [`Spread`] holding its rotation, its limit and its response counter. A one-record set needs none: whatever
//! the policy, it is answered whole. At query time the answer path turns
//! the `Spread` into a [`Turn`] (the counter's value for this response and
//! the owner's down addresses), and the encoder asks [`Turn::order`] for
//! the record indices to write. The indices are chosen in a small array on
//! the stack, so no rotation allocates (sets above [`STACK_RECORDS`]
//! records, which no UDP answer can carry anyway, use a heap array).
//!
//! ```
//! use stripedns::engine::hickory::spread::{Spread, Turn};
//! use stripedns::fleet::{AnswerPolicy, Rotation};
//! let spread = Spread::new(AnswerPolicy { rotation: Rotation::Cyclic, max_answers: Some(2) });
//! let mut picked = Vec::new();
//! for _ in 0..2 {
//!     let turn = Turn::take(&spread, &[]);
//!     // Three records; no address is down, so addresses are not asked for.
//!     turn.order(3, |_| None, |i| picked.push(i));
//! }
//! assert_eq!(picked, [0, 1, 1, 2]);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fleet::{AnswerPolicy, FleetPolicy, Rotation};

use super::tree::{Zone, t};

/// Largest set whose record indices are chosen in an array on the stack.
pub const STACK_RECORDS: usize = 256;

/// The fleet policy of one address RRset, with its response counter.
#[derive(Debug)]
pub struct Spread {
    /// How the records are ordered from one response to the next.
    pub rotation: Rotation,
    /// The most records one response carries.
    pub limit: usize,
    /// Responses that carried the set so far (the cyclic start).
    carried: AtomicU64,
}

impl Spread {
    /// A fresh policy, its counter at 0.
    pub fn new(policy: AnswerPolicy) -> Spread {
        Spread {
            rotation: policy.rotation,
            limit: policy.max_answers.unwrap_or(usize::MAX),
            carried: AtomicU64::new(0),
        }
    }
}

impl Clone for Spread {
    fn clone(&self) -> Spread {
        Spread {
            rotation: self.rotation,
            limit: self.limit,
            carried: AtomicU64::new(self.carried.load(Ordering::Relaxed)),
        }
    }
}

/// Give every A and AAAA RRset of two records or more in `zone` the
/// policy `policy` sets for it.
pub fn attach(zone: &mut Zone, policy: &FleetPolicy) {
    // A node's key is its owner lowercased; the sets in the order they
    // lie in memory.
    let mut lower = Vec::new();
    for set in zone.sets.iter_mut() {
        if !matches!(set.rtype, t::A | t::AAAA) || set.len() < 2 {
            continue;
        }
        lower.clear();
        lower.extend_from_slice(&set.owner);
        lower.make_ascii_lowercase();
        let rule = policy.for_owner(&zone.apex, &lower);
        set.spread = Some(Spread::new(rule));
    }
}

/// How one response orders one address RRset.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'h> {
    /// The set's rotation.
    rotation: Rotation,
    /// Its limit.
    limit: usize,
    /// The counter's value for this response.
    count: u64,
    /// The owner's addresses that are down, sorted.
    down: &'h [IpAddr],
}

impl<'h> Turn<'h> {
    /// Count one more response carrying the set of `spread`, whose owner
    /// has the down addresses `down`.
    pub fn take(spread: &Spread, down: &'h [IpAddr]) -> Turn<'h> {
        Turn {
            rotation: spread.rotation,
            limit: spread.limit,
            count: spread.carried.fetch_add(1, Ordering::Relaxed),
            down,
        }
    }

    /// Call `write` with the index of each record of a set of `all`
    /// records (record `i` holding the address `address_of(i)`) this
    /// response carries, in order.
    pub fn order(
        &self,
        all: usize,
        address_of: impl Fn(usize) -> Option<IpAddr>,
        mut write: impl FnMut(usize),
    ) {
        let is_down = |i: usize| {
            !self.down.is_empty()
                && address_of(i).is_some_and(|a| self.down.binary_search(&a).is_ok())
        };
        let up = if self.down.is_empty() {
            all
        } else {
            (0..all).filter(|&i| !is_down(i)).count()
        };
        // Fail open: with every address down, all of them are served.
        let filtered = up != all && up != 0;
        let n = if filtered { up } else { all };
        let k = self.limit.min(n);
        if n == 0 {
            return;
        }
        if !filtered && self.rotation != Rotation::Random {
            let start = match self.rotation {
                Rotation::Cyclic => (self.count % n as u64) as usize,
                _ => 0,
            };
            (0..k).for_each(|i| write((start + i) % n));
            return;
        }
        let fill = |slots: &mut [u32]| {
            let healthy = (0..all).filter(|&i| !filtered || !is_down(i));
            for (slot, i) in slots.iter_mut().zip(healthy) {
                *slot = i as u32;
            }
        };
        if n <= STACK_RECORDS {
            let mut slots = [0u32; STACK_RECORDS];
            fill(&mut slots[..n]);
            self.emit(&mut slots[..n], k, &mut write);
        } else {
            let mut slots = vec![0u32; n];
            fill(&mut slots);
            self.emit(&mut slots, k, &mut write);
        }
    }

    /// Write the first `k` of `healthy` (record indices in zone order) as
    /// the rotation orders them.
    fn emit(&self, healthy: &mut [u32], k: usize, write: &mut impl FnMut(usize)) {
        let n = healthy.len();
        match self.rotation {
            Rotation::Random => {
                // Fisher-Yates, stopped after the k positions sent.
                for i in 0..k {
                    let j = fastrand::usize(i..n);
                    healthy.swap(i, j);
                    write(healthy[i] as usize);
                }
            }
            Rotation::Cyclic => {
                let start = (self.count % n as u64) as usize;
                (0..k).for_each(|i| write(healthy[(start + i) % n] as usize));
            }
            Rotation::Off => healthy[..k].iter().for_each(|&i| write(i as usize)),
        }
    }
}

/// The address an A or AAAA RDATA holds.
pub fn address(rdata: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(rdata) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(rdata)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wires(n: u8) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![192, 0, 2, i]).collect()
    }

    fn spread(rotation: Rotation, max_answers: Option<usize>) -> Spread {
        Spread::new(AnswerPolicy {
            rotation,
            max_answers,
        })
    }

    fn pick(s: &Spread, w: &[Vec<u8>], down: &[IpAddr]) -> Vec<usize> {
        let mut out = Vec::new();
        Turn::take(s, down).order(w.len(), |i| address(&w[i]), |i| out.push(i));
        out
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn cyclic_window_follows_the_counter() {
        let w = wires(5);
        let s = spread(Rotation::Cyclic, Some(3));
        assert_eq!(pick(&s, &w, &[]), [0, 1, 2]);
        assert_eq!(pick(&s, &w, &[]), [1, 2, 3]);
        assert_eq!(pick(&s, &w, &[]), [2, 3, 4]);
        assert_eq!(pick(&s, &w, &[]), [3, 4, 0]);
        // Counter 4, healthy = [0, 2, 4] (1 and 3 down): start 4 mod 3 = 1.
        assert_eq!(pick(&s, &w, &[ip(1), ip(3)]), [2, 4, 0]);
    }

    #[test]
    fn off_is_zone_order_and_all_down_fails_open() {
        let w = wires(4);
        let s = spread(Rotation::Off, None);
        assert_eq!(pick(&s, &w, &[]), [0, 1, 2, 3]);
        assert_eq!(pick(&s, &w, &[ip(0), ip(2)]), [1, 3]);
        let all: Vec<IpAddr> = (0..4).map(ip).collect();
        assert_eq!(pick(&s, &w, &all), [0, 1, 2, 3]);
        // A down address of another set changes nothing.
        assert_eq!(pick(&s, &w, &[ip(9)]), [0, 1, 2, 3]);
    }

    #[test]
    fn random_is_a_permutation_of_the_healthy() {
        let w = wires(8);
        let s = spread(Rotation::Random, Some(5));
        for _ in 0..200 {
            let mut got = pick(&s, &w, &[ip(7)]);
            assert_eq!(got.len(), 5);
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), 5);
            assert!(!got.contains(&7));
        }
    }

    #[test]
    fn large_sets_use_the_heap_array_alike() {
        let w: Vec<Vec<u8>> = (0..300u16)
            .map(|i| vec![10, 0, (i >> 8) as u8, i as u8])
            .collect();
        let down = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0))];
        let s = spread(Rotation::Cyclic, Some(2));
        assert_eq!(pick(&s, &w, &down), [1, 2]);
        assert_eq!(pick(&s, &w, &down), [2, 3]);
        let s = spread(Rotation::Random, None);
        let mut got = pick(&s, &w, &down);
        got.sort_unstable();
        assert_eq!(got, (1..300).collect::<Vec<_>>());
    }
}
