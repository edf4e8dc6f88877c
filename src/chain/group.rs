//! Groups of equivalent targets: which member a call goes to (ADR 0018).
//!
//! A [`Balancer`] per group keeps, for each member, a peak-EWMA of its
//! latency (time to answer, or to the first event of a stream) and its
//! count of calls in flight, and picks a member among those the caller says
//! are eligible (healthy, not yet tried) by the configured [`RoutingStrategy`],
//! or by rendezvous hashing when the request carries an affinity key.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::opaque::Opaque;
use crate::sync::LockUnpoisoned as _;

/// How a group picks the member a call goes to.
///
/// | strategy | picks | use it when |
/// | --- | --- | --- |
/// | `PeakEwma` (default) | the better of two weighted random members, by peak-EWMA latency × (calls in flight + 1) | members differ in speed or load |
/// | `WeightedRandom` | a member at random, in proportion to its weight | a fixed split matters more than speed |
/// | `RoundRobin` | members in turn, each `weight` times per round | an even, predictable spread |
/// | `LeastInFlight` | the member with the fewest calls in flight per weight | long calls with a per-deployment concurrency cap |
///
/// ```
/// use majordomo::{ChainConfig, RoutingStrategy};
/// let config = ChainConfig::default().routing(RoutingStrategy::RoundRobin);
/// assert_eq!(config.routing, RoutingStrategy::RoundRobin);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoutingStrategy {
    /// Power of two choices on peak-EWMA latency and calls in flight,
    /// candidates drawn by weight; members without data are tried first.
    #[default]
    PeakEwma,
    /// A weighted random member.
    WeightedRandom,
    /// Weighted round robin.
    RoundRobin,
    /// The fewest calls in flight per unit of weight; ties by weighted draw.
    LeastInFlight,
}

impl RoutingStrategy {
    /// The stable kebab-case name: `peak-ewma`, `weighted-random`,
    /// `round-robin`, `least-in-flight`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::PeakEwma => "peak-ewma",
            RoutingStrategy::WeightedRandom => "weighted-random",
            RoutingStrategy::RoundRobin => "round-robin",
            RoutingStrategy::LeastInFlight => "least-in-flight",
        }
    }
}

impl fmt::Display for RoutingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How fast a member's latency score forgets: the weight of an old score
/// halves about every 7 s (`exp(-t / 10 s)`), so one slow (or lucky) answer
/// does not pin a member for long.
const DECAY: Duration = Duration::from_secs(10);

/// Most members a group may have (eligibility is a 64-bit mask).
pub(super) const MAX_MEMBERS: usize = crate::spec::MAX_GROUP_MEMBERS;

/// What a group knows about one member.
#[derive(Debug, Clone, Copy, Default)]
struct Stat {
    /// Peak-EWMA latency in nanoseconds; meaningful once `sampled`.
    ewma_ns: f64,
    /// When `ewma_ns` was last updated.
    last: Option<Instant>,
    sampled: bool,
    in_flight: u32,
}

impl Stat {
    /// The load score: decayed latency × (calls in flight + 1). A member
    /// without data but with a call in flight waits for that call's answer.
    fn cost(&self, now: Instant) -> f64 {
        let pending = f64::from(self.in_flight) + 1.0;
        match self.last {
            Some(last) if self.sampled => {
                let idle = now.saturating_duration_since(last).as_secs_f64();
                self.ewma_ns * (-idle / DECAY.as_secs_f64()).exp() * pending
            }
            _ if self.in_flight == 0 => 0.0,
            _ => f64::MAX / 2.0,
        }
    }

    /// Peak EWMA: a sample slower than the current (decayed) score is taken
    /// at once; a faster one is blended into the decayed score with a weight
    /// that grows with the time since the last update. A member answering
    /// often forgives a slow answer over about [`DECAY`]; a member picked
    /// again after a long rest is judged by its new answer.
    fn observe(&mut self, latency: Duration, now: Instant) {
        let sample = latency.as_nanos() as f64;
        match self.last {
            Some(last) if self.sampled => {
                let idle = now.saturating_duration_since(last).as_secs_f64();
                let keep = (-idle / DECAY.as_secs_f64()).exp();
                let decayed = self.ewma_ns * keep;
                self.ewma_ns = if sample >= decayed {
                    sample
                } else {
                    decayed * keep + sample * (1.0 - keep)
                };
            }
            _ => self.ewma_ns = sample,
        }
        self.sampled = true;
        self.last = Some(now);
    }
}

/// Chooses members of one group and learns from their calls. Safe to share
/// between tasks; a [`crate::Chain`] keeps one per group, shared by its clones.
///
/// Members are numbered from 0 in the order given; `pick` takes the set of
/// eligible members as a bit mask (bit `i` = member `i`), so the caller
/// decides what healthy means.
///
/// ```
/// use majordomo::{Balancer, RoutingStrategy};
/// let group = Balancer::new(&[("openai/gpt-4o", 3), ("azure/gpt-4o", 1)], RoutingStrategy::WeightedRandom, Some(7));
/// let member = group.pick(0b11, None).unwrap();
/// assert!(member < 2);
/// // Only member 1 is eligible (member 0 is benched, say).
/// assert_eq!(group.pick(0b10, None), Some(1));
/// // The same affinity key picks the same member while it is eligible.
/// let first = group.pick(0b11, Some("user-42"));
/// assert_eq!(group.pick(0b11, Some("user-42")), first);
/// ```
#[derive(Debug)]
pub struct Balancer {
    strategy: RoutingStrategy,
    weights: Box<[u32]>,
    /// Hash of each member's name, for rendezvous hashing.
    hashes: Opaque<Box<[u64]>>,
    rng: Opaque<AtomicU64>,
    turn: Opaque<AtomicU64>,
    stats: Opaque<Mutex<Box<[Stat]>>>,
}

impl Balancer {
    /// A balancer over `members` (name, weight), at most 64
    /// (later ones are never picked). A weight of 0 counts as 1. `seed` makes
    /// the random choices reproducible; `None` seeds from the process's
    /// random state.
    pub fn new(members: &[(&str, u32)], strategy: RoutingStrategy, seed: Option<u64>) -> Self {
        let members = &members[..members.len().min(MAX_MEMBERS)];
        let hashes: Box<[u64]> = members.iter().map(|(name, _)| fnv1a(name)).collect();
        let group_hash = hashes.iter().fold(0u64, |acc, h| mix(acc ^ h));
        let seed = seed.unwrap_or_else(|| RandomState::new().hash_one(group_hash));
        Balancer {
            strategy,
            weights: members.iter().map(|&(_, w)| w.max(1)).collect(),
            hashes: Opaque(hashes),
            rng: Opaque(AtomicU64::new(seed ^ group_hash)),
            turn: Opaque(AtomicU64::new(0)),
            stats: Opaque(Mutex::new(
                vec![Stat::default(); members.len()].into_boxed_slice(),
            )),
        }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True for a balancer without members.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The strategy.
    pub fn strategy(&self) -> RoutingStrategy {
        self.strategy
    }

    /// The member a call should go to among the `eligible` ones (bit `i` set
    /// = member `i` may be called), or `None` when none is. With an
    /// `affinity` key, the eligible member that rendezvous hashing ranks
    /// first for the key, whatever the strategy: the same key keeps the same
    /// member while it stays eligible, and only keys on a member that leaves
    /// move.
    pub fn pick(&self, eligible: u64, affinity: Option<&str>) -> Option<usize> {
        let eligible = eligible & self.all();
        if eligible == 0 {
            return None;
        }
        if eligible.count_ones() == 1 {
            return Some(eligible.trailing_zeros() as usize);
        }
        if let Some(key) = affinity {
            return self.rendezvous(eligible, key);
        }
        match self.strategy {
            RoutingStrategy::PeakEwma => self.power_of_two(eligible),
            RoutingStrategy::WeightedRandom => self.draw(eligible),
            RoutingStrategy::RoundRobin => self.round_robin(eligible),
            RoutingStrategy::LeastInFlight => self.least_in_flight(eligible),
        }
    }

    /// Counts a call to `member` in flight until the returned guard is
    /// finished (its latency is learned) or dropped (a failure or a
    /// cancellation: only the in-flight count is undone).
    pub fn begin(&self, member: usize) -> InFlight<'_> {
        if let Some(stat) = self.lock().get_mut(member) {
            stat.in_flight += 1;
        }
        InFlight {
            balancer: self,
            member,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Learns that `member` answered in `latency` (without a call in flight
    /// to undo), for callers that time calls themselves.
    pub fn observe(&self, member: usize, latency: Duration) {
        if let Some(stat) = self.lock().get_mut(member) {
            stat.observe(latency, Instant::now());
        }
    }

    /// The calls in flight to `member`.
    pub fn in_flight(&self, member: usize) -> u32 {
        self.lock().get(member).map_or(0, |s| s.in_flight)
    }

    fn all(&self) -> u64 {
        match self.weights.len() {
            MAX_MEMBERS => u64::MAX,
            n => (1u64 << n) - 1,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<[Stat]>> {
        // Every update leaves the numbers consistent: a poisoned lock is usable.
        self.stats.lock_unpoisoned()
    }

    /// SplitMix64 over an atomic counter: one `fetch_add`, no lock.
    fn next_u64(&self) -> u64 {
        const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
        mix(self
            .rng
            .fetch_add(GOLDEN, Ordering::Relaxed)
            .wrapping_add(GOLDEN))
    }

    fn weight_of(&self, mask: u64) -> u64 {
        bits(mask).map(|i| u64::from(self.weights[i])).sum()
    }

    /// A member of `mask` drawn in proportion to its weight.
    fn draw(&self, mask: u64) -> Option<usize> {
        let total = self.weight_of(mask);
        if total == 0 {
            return None;
        }
        let mut r = self.next_u64() % total;
        for i in bits(mask) {
            let w = u64::from(self.weights[i]);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        None
    }

    fn power_of_two(&self, eligible: u64) -> Option<usize> {
        let stats = self.lock();
        let fresh = bits(eligible)
            .filter(|&i| !stats[i].sampled && stats[i].in_flight == 0)
            .fold(0u64, |m, i| m | (1 << i));
        if fresh != 0 {
            return self.draw(fresh);
        }
        let a = self.draw(eligible)?;
        let Some(b) = self.draw(eligible & !(1 << a)) else {
            return Some(a);
        };
        let now = Instant::now();
        Some(if stats[b].cost(now) < stats[a].cost(now) {
            b
        } else {
            a
        })
    }

    fn round_robin(&self, eligible: u64) -> Option<usize> {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.turn.fetch_add(1, Ordering::Relaxed) % total.max(1);
        let mut slot = 0;
        for (i, &w) in self.weights.iter().enumerate() {
            if r < u64::from(w) {
                slot = i;
                break;
            }
            r -= u64::from(w);
        }
        // The slot's owner, else the next eligible member after it.
        let n = self.weights.len();
        (0..n)
            .map(|k| (slot + k) % n)
            .find(|&i| eligible & (1 << i) != 0)
    }

    fn least_in_flight(&self, eligible: u64) -> Option<usize> {
        let stats = self.lock();
        let mut best: Option<(u64, u64)> = None; // (in flight, weight) of the least loaded
        let mut ties = 0u64;
        for i in bits(eligible) {
            let load = (u64::from(stats[i].in_flight), u64::from(self.weights[i]));
            match best {
                Some((f, w)) if load.0 * w > f * load.1 => {}
                Some((f, w)) if load.0 * w == f * load.1 => ties |= 1 << i,
                _ => {
                    best = Some(load);
                    ties = 1 << i;
                }
            }
        }
        drop(stats);
        self.draw(ties)
    }

    /// Weighted rendezvous hashing: the member with the least
    /// `-ln(u) / weight`, `u` uniform from the key and the member's name.
    fn rendezvous(&self, eligible: u64, key: &str) -> Option<usize> {
        let key = fnv1a(key);
        bits(eligible)
            .map(|i| {
                let h = mix(key ^ self.hashes[i]);
                // 53 random bits into (0, 1).
                let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                (i, -u.ln() / f64::from(self.weights[i]))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

/// A call in flight to one member, from [`Balancer::begin`].
#[derive(Debug)]
pub struct InFlight<'a> {
    balancer: &'a Balancer,
    member: usize,
    started: Instant,
    finished: bool,
}

impl InFlight<'_> {
    /// The call answered: learn its latency (since `begin`) and end it.
    pub fn finish(mut self) {
        self.finished = true;
        let now = Instant::now();
        if let Some(stat) = self.balancer.lock().get_mut(self.member) {
            stat.in_flight = stat.in_flight.saturating_sub(1);
            stat.observe(now.saturating_duration_since(self.started), now);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(stat) = self.balancer.lock().get_mut(self.member) {
            stat.in_flight = stat.in_flight.saturating_sub(1);
        }
    }
}

/// The set bits of `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let i = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(i)
    })
}

/// FNV-1a: stable across processes and releases, so affinity survives restarts.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The SplitMix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(weights: &[u32], strategy: RoutingStrategy) -> Balancer {
        let names: Vec<String> = (0..weights.len()).map(|i| format!("p/m{i}")).collect();
        let members: Vec<(&str, u32)> = names
            .iter()
            .zip(weights)
            .map(|(n, &w)| (n.as_str(), w))
            .collect();
        Balancer::new(&members, strategy, Some(42))
    }

    fn shares(b: &Balancer, eligible: u64, n: usize) -> Vec<usize> {
        let mut counts = vec![0; b.len()];
        for _ in 0..n {
            counts[b.pick(eligible, None).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn weighted_random_honours_weights() {
        let b = balancer(&[3, 1], RoutingStrategy::WeightedRandom);
        let counts = shares(&b, 0b11, 10_000);
        assert!((7_300..=7_700).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn round_robin_is_exact_per_round() {
        let b = balancer(&[2, 1, 1], RoutingStrategy::RoundRobin);
        assert_eq!(shares(&b, 0b111, 4_000), [2_000, 1_000, 1_000]);
        // A member that is not eligible hands its turns to the next one.
        assert_eq!(shares(&b, 0b101, 4_000), [2_000, 0, 2_000]);
    }

    #[test]
    fn least_in_flight_avoids_busy_members() {
        let b = balancer(&[1, 1, 1], RoutingStrategy::LeastInFlight);
        let _one = b.begin(0);
        let _two = b.begin(1);
        assert_eq!(b.pick(0b111, None), Some(2));
        drop(_two);
        assert!(matches!(b.pick(0b111, None), Some(1 | 2)));
    }

    #[test]
    fn rendezvous_moves_only_keys_of_a_leaving_member() {
        let b = balancer(&[1, 1, 1, 1], RoutingStrategy::PeakEwma);
        let before: Vec<usize> = (0..1000)
            .map(|k| b.pick(0b1111, Some(&format!("key-{k}"))).unwrap())
            .collect();
        let after: Vec<usize> = (0..1000)
            .map(|k| b.pick(0b1101, Some(&format!("key-{k}"))).unwrap())
            .collect();
        for (x, y) in before.iter().zip(&after) {
            if *x != 1 {
                assert_eq!(x, y);
            } else {
                assert_ne!(*y, 1);
            }
        }
    }

    #[test]
    fn peak_ewma_takes_slow_samples_at_once_and_decays() {
        let now = Instant::now();
        let mut stat = Stat::default();
        stat.observe(Duration::from_millis(10), now);
        stat.observe(Duration::from_millis(500), now);
        assert_eq!(stat.ewma_ns, 500e6);
        let later = now + Duration::from_secs(10);
        assert!(stat.cost(later) < 200e6);
        stat.observe(Duration::from_millis(10), later);
        assert!(stat.ewma_ns < 200e6);
    }
}
