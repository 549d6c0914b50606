//! The queue model of a bank's API (and of an aggregator relaying to it): `workers` identical
//! servers fed by one FIFO queue, and a token-bucket rate limit answering 429 with
//! `Retry-After`; the bank's door (`bank_mock::serve::Door`) adds outages and injected errors.
//! Requests must be admitted
//! in arrival order; each admission returns when service starts and ends, which is exact for a
//! FIFO multi-server queue (the Kiefer–Wolfowitz recursion), so no departure events are needed.

use crate::SimTime;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Bucket size: requests allowed in a burst.
    pub burst: f64,
}

/// What happened to a request at the bank's door.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// 429 Too Many Requests: try again after `retry_after`.
    RateLimited { retry_after: Duration },
    /// Queued and served: service runs from `start` to `finish`.
    Served { start: SimTime, finish: SimTime },
}

/// The queue state of one bank.
#[derive(Clone, Debug)]
pub struct BankQueue {
    /// When each worker is next free (min-heap).
    free_at: BinaryHeap<Reverse<SimTime>>,
    /// Finish times of requests still in the system (min-heap), to count what an arrival sees.
    in_system: BinaryHeap<Reverse<SimTime>>,
    rate_limit: Option<RateLimit>,
    tokens: f64,
    last_refill: SimTime,
    last_arrival: SimTime,
    /// Sum over admitted arrivals of the number already in the system (Poisson arrivals see
    /// time averages, so this over `admitted` estimates the mean number in system, L).
    seen_in_system: u64,
    admitted: u64,
    /// Sum of queueing delays (service start − arrival), in seconds.
    wait_sum: f64,
    /// Sum of service times given, in ns: a `u128` holds any number of the longest service
    /// times a scenario can draw (a `Duration` overflowed after 585,000 million-year ones).
    busy_nanos: u128,
}

impl BankQueue {
    pub fn new(workers: u32, rate_limit: Option<RateLimit>) -> Self {
        let workers = workers.max(1) as usize;
        BankQueue {
            free_at: (0..workers).map(|_| Reverse(SimTime::ZERO)).collect(),
            in_system: BinaryHeap::new(),
            tokens: rate_limit.map_or(0.0, |r| r.burst),
            rate_limit,
            last_refill: SimTime::ZERO,
            last_arrival: SimTime::ZERO,
            seen_in_system: 0,
            admitted: 0,
            wait_sum: 0.0,
            busy_nanos: 0,
        }
    }

    /// Admits a request arriving at `now` that needs `service` time. Arrivals must come in
    /// time order (debug-asserted).
    pub fn admit(&mut self, now: SimTime, service: Duration) -> Admission {
        debug_assert!(now >= self.last_arrival, "arrivals must be admitted in time order");
        self.last_arrival = now;
        if let Some(limit) = self.rate_limit {
            let elapsed = now.since(self.last_refill).as_secs_f64();
            self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
            self.last_refill = now;
            if self.tokens < 1.0 {
                let wait = (1.0 - self.tokens) / limit.per_second;
                return Admission::RateLimited { retry_after: Duration::from_secs_f64(wait) };
            }
            self.tokens -= 1.0;
        }
        while self.in_system.peek().is_some_and(|Reverse(f)| *f <= now) {
            self.in_system.pop();
        }
        self.seen_in_system += self.in_system.len() as u64;
        self.admitted += 1;
        let Reverse(free) = self.free_at.pop().expect("at least one worker");
        let start = free.max(now);
        let finish = start + service;
        self.wait_sum += start.since(now).as_secs_f64();
        self.busy_nanos += service.as_nanos();
        self.free_at.push(Reverse(finish));
        self.in_system.push(Reverse(finish));
        Admission::Served { start, finish }
    }

    /// Mean number of requests in the system seen by admitted arrivals.
    pub fn mean_in_system_seen(&self) -> f64 {
        if self.admitted == 0 { 0.0 } else { self.seen_in_system as f64 / self.admitted as f64 }
    }

    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Mean time admitted requests waited for a worker.
    pub fn mean_wait(&self) -> Duration {
        if self.admitted == 0 { Duration::ZERO } else { Duration::from_secs_f64(self.wait_sum / self.admitted as f64) }
    }

    /// Total time admitted requests waited for a worker, in seconds (the exact sum).
    pub fn wait_secs(&self) -> f64 {
        self.wait_sum
    }

    /// Total time admitted requests waited for a worker.
    pub fn total_wait(&self) -> Duration {
        Duration::from_secs_f64(self.wait_sum)
    }

    /// Total service time given, in seconds, to compute utilisation over a span (the same
    /// float `Duration::as_secs_f64` gives for sums a `Duration` holds).
    pub fn busy_secs(&self) -> f64 {
        (self.busy_nanos / 1_000_000_000) as f64 + (self.busy_nanos % 1_000_000_000) as f64 / 1e9
    }

    /// What a bank's figures are summed from.
    pub fn figures(&self) -> PartitionFigures {
        PartitionFigures {
            admitted: self.admitted,
            wait_secs: self.wait_sum,
            mean_in_system_seen: self.mean_in_system_seen(),
            busy_secs: self.busy_secs(),
        }
    }
}

/// One partition's queue over a run.
///
/// Floats travel as their bits in a shard's file, so that a merge sums the very values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionFigures {
    pub admitted: u64,
    /// Time admitted requests waited for a worker, in total, in seconds.
    #[serde(with = "crate::serde_bits::bounded")]
    pub wait_secs: f64,
    /// Mean number of requests in the partition seen by its admitted arrivals.
    #[serde(with = "crate::serde_bits::bounded")]
    pub mean_in_system_seen: f64,
    /// Worker time given, in total, in seconds.
    #[serde(with = "crate::serde_bits::bounded")]
    pub busy_secs: f64,
}

/// A bank's queue figures over a run: its partitions' (in partition order), its workers, and
/// the service-clock span of its admitted requests. The bank's figures are sums over its
/// partitions in that order, so the figures of runs of single partitions, merged, are those of
/// the run of all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueFigures {
    pub partitions: Vec<PartitionFigures>,
    pub workers: u32,
    /// First arrival and last finish of the admitted requests.
    pub first: Option<SimTime>,
    pub last: SimTime,
}

impl QueueFigures {
    /// Requests admitted to the queues.
    pub fn admitted(&self) -> u64 {
        self.partitions.iter().fold(0, |sum, p| sum.saturating_add(p.admitted))
    }

    fn wait_secs(&self) -> f64 {
        self.partitions.iter().map(|p| p.wait_secs).sum()
    }

    /// Time admitted requests waited for a worker, in total.
    pub fn total_wait(&self) -> Duration {
        Duration::from_secs_f64(self.wait_secs())
    }

    /// Mean time admitted requests waited for a worker.
    pub fn mean_wait(&self) -> Duration {
        match self.admitted() {
            0 => Duration::ZERO,
            n => Duration::from_secs_f64(self.wait_secs() / n as f64),
        }
    }

    /// Mean number of requests in the bank seen by admitted arrivals: over its partitions, the
    /// sum of what each partition's arrivals saw in it.
    pub fn mean_in_system_seen(&self) -> f64 {
        self.partitions.iter().map(|p| p.mean_in_system_seen).sum()
    }

    /// Worker time given, in total, in seconds.
    pub fn busy_secs(&self) -> f64 {
        self.partitions.iter().map(|p| p.busy_secs).sum()
    }

    /// Share of the workers' time busy between the first admission and the last finish.
    pub fn utilisation(&self) -> f64 {
        let span = self.first.map_or(Duration::ZERO, |f| self.last.since(f));
        if span.is_zero() { 0.0 } else { self.busy_secs() / (span.as_secs_f64() * f64::from(self.workers)) }
    }

    /// Adds `other`'s partitions to these, partition by partition (a run of one partition has
    /// the others empty), and widens the span.
    pub fn merge(&mut self, other: &QueueFigures) {
        if self.partitions.len() < other.partitions.len() {
            self.partitions.resize(other.partitions.len(), PartitionFigures::default());
        }
        for (mine, theirs) in self.partitions.iter_mut().zip(&other.partitions) {
            mine.admitted = mine.admitted.saturating_add(theirs.admitted);
            mine.wait_secs += theirs.wait_secs;
            mine.mean_in_system_seen += theirs.mean_in_system_seen;
            mine.busy_secs += theirs.busy_secs;
        }
        self.workers = self.workers.max(other.workers);
        self.first = self.first.into_iter().chain(other.first).min();
        self.last = self.last.max(other.last);
    }
}

/// The partition of `partitions` that serves `customer`: the bank's router. A customer's
/// number is already a random identity (everything about the customer is drawn from a keyed
/// hash of it, `population`), so routing by the number modulo `partitions` is a uniform hash of
/// the customer that can also be inverted: partition `i` serves customers `i`, `i + N`,
/// `i + 2N`, … ([`partition_customer`]), which lets a partition draw its own customers without
/// the others. The same in every run, mode and shard; one partition is partition 0.
#[inline]
pub fn partition_of(customer: u64, partitions: u32) -> u32 {
    // One partition skips the division: it is on every request's path.
    if partitions <= 1 { 0 } else { (customer % u64::from(partitions)) as u32 }
}

/// Customers among the first `linked` that partition `partition` of `partitions` serves.
pub fn partition_customers(linked: u64, partition: u32, partitions: u32) -> u64 {
    let (i, n) = (u64::from(partition), u64::from(partitions.max(1)));
    if linked <= i { 0 } else { (linked - i).div_ceil(n) }
}

/// The `k`th customer partition `partition` of `partitions` serves.
pub fn partition_customer(k: u64, partition: u32, partitions: u32) -> u64 {
    u64::from(partition) + k * u64::from(partitions.max(1))
}

/// Erlang C: the probability that an arrival waits, for `c` servers at offered load
/// `a = λ/μ` (requires `a < c`).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    // Sum a^k/k! for k < c, computed iteratively to stay stable.
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) * (f64::from(c) / (f64::from(c) - a));
    last / (sum + last)
}

/// Mean wait in queue of an M/M/c queue: `C(c, a) / (cμ - λ)`.
pub fn mmc_mean_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_sends_every_customer_to_one_fixed_partition_and_each_partition_lists_its_own() {
        assert!((0..1_000).all(|c| partition_of(c, 1) == 0));
        let (linked, n) = (1_003, 4);
        for p in 0..n {
            let mine: Vec<u64> = (0..linked).filter(|&c| partition_of(c, n) == p).collect();
            assert_eq!(partition_customers(linked, p, n), mine.len() as u64);
            let listed: Vec<u64> = (0..mine.len() as u64).map(|k| partition_customer(k, p, n)).collect();
            assert_eq!(listed, mine, "partition {p}");
        }
        // Even: 1,003 customers over 4 partitions are 251, 251, 251 and 250.
        assert_eq!([0, 1, 2, 3].map(|p| partition_customers(linked, p, n)), [251, 251, 251, 250]);
        assert_eq!(partition_customers(2, 3, 4), 0);
    }

    #[test]
    fn a_free_worker_serves_at_once_and_a_busy_one_queues_fifo() {
        let mut q = BankQueue::new(1, None);
        let ms = Duration::from_millis;
        let t = |m| SimTime::ZERO + ms(m);
        assert_eq!(q.admit(t(0), ms(10)), Admission::Served { start: t(0), finish: t(10) });
        assert_eq!(q.admit(t(5), ms(10)), Admission::Served { start: t(10), finish: t(20) });
        assert_eq!(q.admit(t(30), ms(1)), Admission::Served { start: t(30), finish: t(31) });
        // The second arrival saw one request in the system, the others none.
        assert!((q.mean_in_system_seen() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn two_workers_serve_two_requests_in_parallel() {
        let mut q = BankQueue::new(2, None);
        let ms = Duration::from_millis;
        let t = |m| SimTime::ZERO + ms(m);
        assert_eq!(q.admit(t(0), ms(10)), Admission::Served { start: t(0), finish: t(10) });
        assert_eq!(q.admit(t(1), ms(10)), Admission::Served { start: t(1), finish: t(11) });
        assert_eq!(q.admit(t(2), ms(10)), Admission::Served { start: t(10), finish: t(20) });
    }

    #[test]
    fn the_rate_limit_answers_429_with_the_time_until_a_token_returns() {
        let mut q = BankQueue::new(4, Some(RateLimit { per_second: 10.0, burst: 2.0 }));
        let t = SimTime::ZERO;
        assert!(matches!(q.admit(t, Duration::ZERO), Admission::Served { .. }));
        assert!(matches!(q.admit(t, Duration::ZERO), Admission::Served { .. }));
        match q.admit(t, Duration::ZERO) {
            Admission::RateLimited { retry_after } => assert_eq!(retry_after, Duration::from_millis(100)),
            other => panic!("expected 429, got {other:?}"),
        }
        // 100 ms later one token is back.
        assert!(matches!(q.admit(t + Duration::from_millis(100), Duration::ZERO), Admission::Served { .. }));
    }

    #[test]
    fn a_million_requests_of_the_longest_service_time_do_not_overflow_the_busy_sum() {
        // Each draw can be as long as `SimTime` allows (584 years); the old `Duration` sum
        // panicked with "overflow when adding durations".
        let mut q = BankQueue::new(1, None);
        let longest = Duration::from_nanos(u64::MAX);
        for _ in 0..1_000_000 {
            q.admit(SimTime::ZERO, longest);
        }
        assert!((q.busy_secs() - 1e6 * longest.as_secs_f64()).abs() / q.busy_secs() < 1e-9);
    }

    #[test]
    fn erlang_c_matches_hand_computed_values() {
        // One server: C = ρ. Two servers at a = 1: C = (1/2 · 2) / (1 + 1 + 1) = 1/3.
        assert!((erlang_c(1, 0.8) - 0.8).abs() < 1e-12);
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    }
}
