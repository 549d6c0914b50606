//! How fast a live data phase runs: each bank's scenario calendar compressed into the run's
//! wall-clock length, as far as the bank's rate limit, its capacity, the aggregator in between
//! and the run's `--max-rate` allow. Pure: the live driver (`platform-mock`) asks it once, before
//! it sends anything, and the report says what bound each bank.
//!
//! It is not the schedule: which requests leave when is `workload::Sources`, the same in both
//! modes; the pace only maps a bank's simulated seconds onto wall-clock seconds.

use crate::SimTime;
use crate::report::{BankPaceRow, LivePace, PaceBound};
use crate::scenario::{Bank, BankId, Design, PlatformId, Scenario};
use crate::terms::Terms;
use crate::workload::{self, Delivery};
use std::collections::BTreeMap;
use std::time::Duration;

/// How a flow's simulated times read on its bank's calendar in a live data phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calendar {
    /// The simulated time at the start of the phase.
    pub zero: SimTime,
    /// Whether the bank's calendar reads simulated time itself (a bank in the run's process,
    /// its calendar restarted at its earliest agreement, where the virtual run's data phase
    /// starts), or the time since `zero` (a bank elsewhere, on a calendar of its own from its
    /// start).
    pub absolute: bool,
}

impl Calendar {
    /// What the bank's calendar reads at simulated time `t`, in ms.
    pub fn reading(self, t: SimTime) -> u64 {
        if self.absolute { t.as_millis() } else { t.since(self.zero).as_millis() as u64 }
    }

    /// The simulated time at which the bank's calendar reads `reading_ms`.
    pub fn time_of(self, reading_ms: u64) -> SimTime {
        let reading = Duration::from_millis(reading_ms);
        if self.absolute { SimTime::from_duration(reading) } else { self.zero + reading }
    }

    /// How far into the run's wall clock (ms, at most `wall_ms`) simulated time `t` falls, at
    /// `scale` simulated seconds a wall-clock second.
    pub fn wall_ms(self, t: SimTime, scale: f64, wall_ms: u64) -> u64 {
        ((t.since(self.zero).as_secs_f64() * 1e3 / scale.max(1e-9)) as u64).min(wall_ms)
    }
}

/// What a live run allows: its length, its total request rate, and whether banks' own limits
/// may be exceeded (an overload test).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceLimits {
    /// Wall-clock length of the data phase.
    pub duration: Duration,
    /// Ceiling on the total request rate (requests per second).
    pub max_rate: f64,
    /// Compress each bank's phase into `duration` even beyond `RATE_LIMIT_SHARE` of its rate
    /// limit and `CAPACITY_SHARE` of its capacity.
    pub ignore_rate_limits: bool,
}

/// How fast each bank's live data phase runs, and what set that speed.
#[derive(Clone, Debug, PartialEq)]
pub struct Pace {
    /// One per bank of the scenario, in its order.
    pub banks: Vec<BankPace>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BankPace {
    /// Simulated seconds per wall-clock second.
    pub scale: f64,
    /// What bounds `scale`: the whole data phase fits in the run, `--max-rate`, or the bank's
    /// own rate limit.
    pub bound: PaceBound,
}

/// Share of a bank's capacity (workers over the mean service time) the platform plans to use:
/// at half of it a bank's queue stays short, so a live run measures its service rather than a
/// queue the compression of time made.
pub const CAPACITY_SHARE: f64 = 0.5;

impl Pace {
    /// The pace of `bank`'s data phase.
    pub fn of(&self, bank: BankId) -> &BankPace {
        &self.banks[bank.index()]
    }

    /// What a live run of `wall` covered, for the report: each bank with data flowing (`paced`,
    /// by bank; the others had nothing to pace), how much of its data phase, at what speed and
    /// bound by what.
    pub fn covered(&self, scenario: &Scenario, paced: &[bool], wall: Duration) -> LivePace {
        let phase = scenario.data.as_ref().map_or(Duration::ZERO, |d| d.duration);
        let banks = (scenario.banks.iter().zip(&self.banks).zip(paced))
            .filter(|(_, paced)| **paced)
            .map(|((b, p), _)| BankPaceRow {
                bank: b.name.clone(),
                simulated_ms: ((wall.as_secs_f64() * p.scale).min(phase.as_secs_f64()) * 1e3) as u64,
                speedup: p.scale,
                bound: p.bound,
            })
            .collect();
        LivePace { api: Default::default(), wall_ms: wall.as_millis() as u64, banks }
    }
}

/// A bank's capacity in requests per second: its workers over its mean service time; `None`
/// when service takes no time.
pub fn capacity(bank: &Bank) -> Option<f64> {
    let mean = bank.service.service_time.mean().as_secs_f64();
    (mean > 0.0).then(|| f64::from(bank.service.workers) / mean)
}

/// Share of a bank's published rate limit the platform plans to use: the rest absorbs the
/// Poisson bursts of open-model load, so that latency measures the bank's service and not a
/// storm of 429s.
pub const RATE_LIMIT_SHARE: f64 = 0.8;

/// How much faster than simulated time each bank's live data phase runs, given the agreements
/// reached, as `(platform, bank, terms)`. The scenario's data phase is compressed into
/// `opts.duration`, unless that would send a bank more than `RATE_LIMIT_SHARE` of its rate limit
/// (unless `opts.ignore_rate_limits`), or all banks together more than `opts.max_rate` requests
/// per second; then those banks go as fast as that allows and the run covers the first part of
/// their phase. Each bank has its own calendar, so a slow bank does not slow the others.
pub fn pace(scenario: &Scenario, agreed: &[(PlatformId, BankId, &Terms)], opts: &PaceLimits) -> Pace {
    let n = scenario.banks.len();
    let Some(data) = &scenario.data else {
        return Pace { banks: vec![BankPace { scale: 1.0, bound: PaceBound::Phase }; n] };
    };
    let whole = data.duration.as_secs_f64() / opts.duration.as_secs_f64().max(1e-3);
    // Requests, and pushed alerts, per simulated second at each bank: the rates the sources
    // send (`workload::per_second`, only what the terms let a well-behaved platform send).
    let mut pulled = vec![0.0; n];
    let mut pushed = vec![0.0; n];
    // Per aggregator platform: its pulls per simulated second at each bank, all relayed.
    let mut relayed: BTreeMap<PlatformId, Vec<f64>> = BTreeMap::new();
    for &(pi, bank_id, terms) in agreed {
        let (platform, bank, bi) = (&scenario.platforms[pi], &scenario.banks[bank_id], bank_id.index());
        let linked = scenario.linked_customers(pi, bank_id, terms.consent_mode);
        for w in platform.workload.iter().filter(|w| workload::agreed(w, terms)) {
            let rate = workload::per_second(w, bank, terms, linked);
            match (workload::delivery(&platform.design, w.kind), &platform.design) {
                (Delivery::Polled, Design::Aggregator(_)) => {
                    pulled[bi] += rate;
                    relayed.entry(pi).or_insert_with(|| vec![0.0; n])[bi] += rate;
                }
                (Delivery::Polled, _) => pulled[bi] += rate,
                (Delivery::Pushed, _) => pushed[bi] += rate,
            }
        }
    }
    let mut banks: Vec<BankPace> = scenario
        .banks
        .iter()
        .zip(pulled.iter().zip(&pushed))
        .map(|(bank, (pulled, pushed))| {
            let mut pace = BankPace { scale: whole, bound: PaceBound::Phase };
            // Pushed events pass the bank's door too (its tokens and workers).
            let offered = pulled + pushed;
            if opts.ignore_rate_limits || offered <= 0.0 {
                return pace;
            }
            // The tighter of the bank's rate limit and its capacity (workers over the mean
            // service time), each at the share the platform plans to use.
            let limits = [
                bank.service.rate_limit.map(|(per_second, _)| (per_second * RATE_LIMIT_SHARE, PaceBound::RateLimit)),
                capacity(bank).map(|c| (c * CAPACITY_SHARE, PaceBound::Capacity)),
            ];
            for (most, bound) in limits.into_iter().flatten() {
                if offered * pace.scale > most {
                    pace = BankPace { scale: most / offered, bound };
                }
            }
            pace
        })
        .collect();
    // An aggregator relays every request of its platform, at all its banks: the banks it
    // relays to slow alike until it runs at `CAPACITY_SHARE` of its capacity.
    if !opts.ignore_rate_limits {
        for (pi, rates) in &relayed {
            let Design::Aggregator(a) = &scenario.platforms[*pi].design else { continue };
            let mean = a.service_time.mean().as_secs_f64();
            let through: f64 = rates.iter().zip(&banks).map(|(r, b)| r * b.scale).sum();
            if mean <= 0.0 || through <= 0.0 {
                continue;
            }
            let most = f64::from(a.workers) / mean * CAPACITY_SHARE;
            if through > most {
                for (b, _) in banks.iter_mut().zip(rates).filter(|(_, r)| **r > 0.0) {
                    *b = BankPace { scale: b.scale * most / through, bound: PaceBound::AggregatorCapacity };
                }
            }
        }
    }
    // Within `max_rate`, the banks held to their own limits keep their pace and the others
    // share what is left; if the limited ones alone exceed it, every bank slows alike.
    let load = |limited: bool| -> f64 {
        banks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.bound.is_the_banks() == limited)
            .map(|(i, b)| (pulled[i] + pushed[i]) * b.scale)
            .sum()
    };
    let (limited, free) = (load(true), load(false));
    if limited + free > opts.max_rate {
        let (factor, slowed): (f64, fn(&BankPace) -> bool) = if limited < opts.max_rate {
            ((opts.max_rate - limited) / free, |b| !b.bound.is_the_banks())
        } else {
            (opts.max_rate / (limited + free), |_| true)
        };
        for b in banks.iter_mut().filter(|b| slowed(b)) {
            *b = BankPace { scale: b.scale * factor, bound: PaceBound::MaxRate };
        }
    }
    Pace { banks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_reads_simulated_time_or_the_time_since_its_zero_and_maps_back() {
        let zero = SimTime::from_duration(Duration::from_secs(100));
        let t = zero + Duration::from_millis(2_500);
        let own = Calendar { zero, absolute: false };
        let shared = Calendar { zero, absolute: true };
        assert_eq!((own.reading(t), shared.reading(t)), (2_500, 102_500));
        assert_eq!((own.time_of(2_500), shared.time_of(102_500)), (t, t));
        // 2.5 simulated seconds at 100 a wall second: 25 ms into the run; capped at its length.
        assert_eq!(own.wall_ms(t, 100.0, 1_000), 25);
        assert_eq!(own.wall_ms(t, 0.001, 1_000), 1_000);
    }

    #[test]
    fn a_live_run_covers_the_start_of_each_paced_banks_phase_at_its_speed() {
        let mut scenario = crate::scenario::parse(include_str!("../../scenarios/live-demo.toml")).unwrap();
        scenario.data.as_mut().unwrap().duration = Duration::from_secs(1_000);
        let banks = vec![
            BankPace { scale: 50.0, bound: PaceBound::RateLimit },
            BankPace { scale: 500.0, bound: PaceBound::Phase },
        ];
        let live = Pace { banks }.covered(&scenario, &[true, true], Duration::from_secs(10));
        assert_eq!(live.wall_ms, 10_000);
        // 10 s at 50x: the first 500 simulated seconds; at 500x the whole 1,000 s phase.
        assert_eq!((live.banks[0].simulated_ms, live.banks[1].simulated_ms), (500_000, 1_000_000));
        let one = Pace { banks: vec![live_bank(), live_bank()] }.covered(&scenario, &[false, true], Duration::ZERO);
        assert_eq!(one.banks.iter().map(|b| b.bank.as_str()).collect::<Vec<_>>(), [scenario.banks[1].name.as_str()]);
    }

    fn live_bank() -> BankPace {
        BankPace { scale: 1.0, bound: PaceBound::Phase }
    }
}
