//! Web-fleet answers in the native engine: which records of an address
//! RRset one response carries, and in what order.
//!
//! This is the native reading of the answer semantics of [`crate::fleet`]
//! (rotation, `max_answers`, health with fail open). The policy of every A
//! and AAAA RRset of more than one record is mapped at load time into a
//! [`SetPolicy`] stored with the RRset; per response the answer path draws
//! a [`Pick`] (the set's cyclic counter, or a random seed) when it places
//! the set in the answer section, and the encoder calls [`select`] with the
//! health of the set's owner to write the chosen records.
//!
//! Random order is a uniformly random permutation of the healthy records
//! (a partial Fisher-Yates shuffle of an index array on the stack, from the
//! thread's own `fastrand` generator): no allocation. Sets with more than
//! [`SHUFFLE_BOUND`] healthy records (far more than a UDP answer holds) are
//! instead rotated cyclically from a random start.
//!
//! ```
//! use stripedns::engine::native::rotate::{Pick, SetPolicy, select};
//! use stripedns::fleet::Rotation;
//! let policy = SetPolicy { rotation: Rotation::Cyclic, max_answers: 2, counter: 0 };
//! let mut order = Vec::new();
//! // The counter stood at 3: a set of 4 records starts at the fourth.
//! select(&Pick { policy, draw: 3 }, 4, |_| false, |i| order.push(i));
//! assert_eq!(order, [3, 0]);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use crate::fleet::Rotation;

/// Random order shuffles sets of up to this many healthy records whole;
/// larger sets get a random start and then cyclic order.
pub const SHUFFLE_BOUND: usize = 256;

/// The answer policy of one A or AAAA RRset, mapped at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetPolicy {
    /// How the records are ordered from one response to the next.
    pub rotation: Rotation,
    /// The most records one answer carries; 0 for no limit.
    pub max_answers: u16,
    /// Index of the set's counter in its zone's counters (cyclic only).
    pub counter: u32,
}

/// What one response drew for one set when it placed it in the answer
/// section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The set's policy.
    pub policy: SetPolicy,
    /// Cyclic: the counter's value before this response; random: the seed
    /// of this response's permutation; off: 0.
    pub draw: u64,
}

impl Pick {
    /// Draw for one response: bump the set's counter (cyclic) or take a
    /// random seed from the thread's generator (random).
    pub fn draw(policy: SetPolicy, counters: &[AtomicU64]) -> Pick {
        let draw = match policy.rotation {
            Rotation::Cyclic => counters
                .get(policy.counter as usize)
                .map_or(0, |c| c.fetch_add(1, Ordering::Relaxed)),
            Rotation::Random => fastrand::u64(..),
            Rotation::Off => 0,
        };
        Pick { policy, draw }
    }
}

/// Choose the records of a set of `len` records for one response, calling
/// `emit` with each chosen record's index in answer order, and return how
/// many were chosen. `down(i)` says whether record `i` is down; when all
/// are, all are served (fail open).
pub fn select(
    pick: &Pick,
    len: usize,
    down: impl Fn(usize) -> bool,
    mut emit: impl FnMut(usize),
) -> usize {
    let up = (0..len).filter(|&i| !down(i)).count();
    let fail_open = up == 0;
    let healthy = |i: usize| fail_open || !down(i);
    let n = if fail_open { len } else { up };
    if n == 0 {
        return 0;
    }
    let k = match pick.policy.max_answers {
        0 => n,
        max => n.min(usize::from(max)),
    };
    let start = match pick.policy.rotation {
        Rotation::Off => 0,
        Rotation::Cyclic => (pick.draw % n as u64) as usize,
        Rotation::Random if n <= SHUFFLE_BOUND => {
            let mut idx = [0u16; SHUFFLE_BOUND];
            for (slot, i) in idx.iter_mut().zip((0..len).filter(|&i| healthy(i))) {
                *slot = i as u16;
            }
            // The first k steps of a Fisher-Yates shuffle: the first k of
            // a uniformly random permutation.
            let mut rng = fastrand::Rng::with_seed(pick.draw);
            for i in 0..k {
                let j = rng.usize(i..n);
                idx.swap(i, j);
                emit(usize::from(idx[i]));
            }
            return k;
        }
        // Too large to shuffle on the stack: a random start, then cyclic.
        Rotation::Random => (pick.draw % n as u64) as usize,
    };
    // healthy[(start + i) mod n] for i in 0..k: find the record at healthy
    // position `start`, then walk on cyclically over the healthy ones.
    let first = (0..len).filter(|&i| healthy(i)).nth(start).unwrap_or(0);
    let mut emitted = 0;
    for i in (first..len).chain(0..first).filter(|&i| healthy(i)) {
        if emitted == k {
            break;
        }
        emit(i);
        emitted += 1;
    }
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rotation: Rotation, max_answers: u16) -> SetPolicy {
        SetPolicy {
            rotation,
            max_answers,
            counter: 0,
        }
    }

    fn order(pick: Pick, len: usize, down: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        let n = select(&pick, len, |i| down.contains(&i), |i| out.push(i));
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn cyclic_windows_follow_the_counter_over_healthy_records() {
        let p = policy(Rotation::Cyclic, 0);
        assert_eq!(order(Pick { policy: p, draw: 0 }, 4, &[]), [0, 1, 2, 3]);
        assert_eq!(order(Pick { policy: p, draw: 5 }, 4, &[]), [1, 2, 3, 0]);
        // healthy = [0, 2, 3]; start = 4 mod 3 = 1.
        assert_eq!(order(Pick { policy: p, draw: 4 }, 4, &[1]), [2, 3, 0]);
        let p = policy(Rotation::Cyclic, 2);
        assert_eq!(order(Pick { policy: p, draw: 2 }, 3, &[]), [2, 0]);
    }

    #[test]
    fn all_down_fails_open_and_off_keeps_zone_order() {
        let p = policy(Rotation::Off, 0);
        assert_eq!(order(Pick { policy: p, draw: 9 }, 3, &[0, 1, 2]), [0, 1, 2]);
        assert_eq!(order(Pick { policy: p, draw: 9 }, 3, &[1]), [0, 2]);
        let p = policy(Rotation::Off, 1);
        assert_eq!(order(Pick { policy: p, draw: 0 }, 3, &[0]), [1]);
    }

    #[test]
    fn random_is_a_permutation_of_the_healthy_records() {
        let p = policy(Rotation::Random, 0);
        for draw in 0..200 {
            let mut got = order(Pick { policy: p, draw }, 8, &[3, 5]);
            got.sort();
            assert_eq!(got, [0, 1, 2, 4, 6, 7]);
        }
        // Beyond the bound: every record once, from some start.
        let big = SHUFFLE_BOUND + 10;
        let mut got = order(
            Pick {
                policy: p,
                draw: 77,
            },
            big,
            &[],
        );
        assert_eq!(got[0], 77);
        got.sort();
        assert_eq!(got, (0..big).collect::<Vec<_>>());
    }
}
