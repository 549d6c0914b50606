//! How fast a live run goes: the whole data phase when it fits, else as fast as the run's
//! `--max-rate` and the banks' own rate limits allow.

use crate::load;
use platform_mock::live::LiveOptions;
use std::time::Duration;
use testbed_core::pace::{CAPACITY_SHARE, Pace, RATE_LIMIT_SHARE, capacity};
use testbed_core::report::PaceBound;
use testbed_core::scenario::{BankId, Rate, RequestKind, Scenario};
use testbed_core::terms::DataCategory;

/// The pace of the agreements the session reaches.
fn pace(scenario: &Scenario, opts: &LiveOptions) -> Pace {
    crate::expected_pace(scenario, opts)
}

/// Requests per simulated second the platforms send `bank` under the agreements reached.
fn offered(scenario: &Scenario, bank: BankId) -> f64 {
    offered_of(scenario, bank, |_| true)
}

/// Requests per simulated second the platforms pull from `bank` (pushed alerts left out).
fn pulled(scenario: &Scenario, bank: BankId) -> f64 {
    offered_of(scenario, bank, |kind| kind != RequestKind::FraudAlert)
}

fn offered_of(scenario: &Scenario, bank: BankId, counted: impl Fn(RequestKind) -> bool) -> f64 {
    let session = testbed_core::session::negotiate(scenario, None);
    let mut per_second = 0.0;
    for (_, a) in session.agreements.iter().filter(|(_, a)| a.bank == bank && a.revoked_at.is_none()) {
        let linked = scenario.linked_customers(a.platform, bank, a.terms.consent_mode) as f64;
        let workload = &scenario.platforms[a.platform].workload;
        // Pulls and pushed alerts alike: both pass the bank's door. Alerts follow the bookings
        // the platform may see.
        let population = &scenario.banks[bank].population;
        let visible =
            if a.terms.grants(DataCategory::OffPlatformTransactions) { 1.0 } else { population.on_platform_share };
        for w in workload.iter().filter(|w| counted(w.kind) && a.terms.allows(w.purpose)) {
            per_second += match w.rate {
                Rate::PerCustomerPerDay(r) => r * linked / 86_400.0,
                Rate::PerSecond(r) => r,
                Rate::PerTransaction => population.transactions_per_day * visible * linked / 86_400.0,
            };
        }
    }
    per_second
}

fn opts(duration: Duration, max_rate: f64) -> LiveOptions {
    LiveOptions { duration, max_rate, max_customers: 2_000, ..Default::default() }
}

#[test]
fn a_compressed_phase_that_would_flood_a_bank_is_held_to_its_rate_limit() {
    let scenario = load("messenger-2018.toml");
    let p = pace(&scenario, &opts(Duration::from_secs(10), 1e9));
    let whole = scenario.data.as_ref().unwrap().duration.as_secs_f64() / 10.0;
    let mut held = 0;
    for (i, (bank, bp)) in scenario.bank_ids().zip(scenario.banks.iter().zip(&p.banks)) {
        let (limit, _) = bank.service.rate_limit.expect("every bank of the default scenario has a rate limit");
        if offered(&scenario, i) == 0.0 {
            // A bank that withdrew gets no load: nothing holds its calendar back.
            assert_eq!((bp.scale, bp.bound), (whole, PaceBound::Phase), "{}", bank.name);
            continue;
        }
        held += 1;
        assert_eq!(bp.bound, PaceBound::RateLimit, "{}: the whole phase in 10 s would flood it: {bp:?}", bank.name);
        assert!(bp.scale < whole);
        assert!((offered(&scenario, i) * bp.scale - limit * RATE_LIMIT_SHARE).abs() < 1e-6, "{}: {bp:?}", bank.name);
    }
    assert!(held >= 1, "the default scenario has an agreement with data");
}

#[test]
fn a_bank_without_a_rate_limit_is_not_slowed_by_one_that_has_one() {
    let scenario = load("live-demo.toml");
    let p = pace(&scenario, &opts(Duration::from_secs(10), 1e9));
    let whole = scenario.data.as_ref().unwrap().duration.as_secs_f64() / 10.0;
    let limited = scenario.bank_index("limited-bank").unwrap();
    let free = scenario.bank_index("demo-bank").unwrap();
    assert!(scenario.banks[free].service.rate_limit.is_none());
    assert_eq!((p.of(free).scale, p.of(free).bound), (whole, PaceBound::Phase));
    assert!(p.of(limited).scale <= p.of(free).scale, "{p:?}");
}

#[test]
fn max_rate_slows_every_bank_in_proportion() {
    let scenario = load("messenger-2018.toml");
    let free = pace(&scenario, &opts(Duration::from_secs(10), 1e9));
    let slow = pace(&scenario, &opts(Duration::from_secs(10), 10.0));
    for (i, (f, s)) in scenario.bank_ids().zip(free.banks.iter().zip(&slow.banks)) {
        if offered(&scenario, i) > 0.0 {
            assert_eq!(s.bound, PaceBound::MaxRate);
            assert!(s.scale < f.scale);
        }
    }
}

#[test]
fn a_long_enough_run_covers_the_whole_phase_at_the_phase_pace() {
    let scenario = load("messenger-2018.toml");
    let phase = scenario.data.as_ref().unwrap().duration;
    // Real time: the scenario's own rates are far below every limit.
    let p = pace(&scenario, &opts(phase, 1e9));
    for b in &p.banks {
        assert_eq!(b.bound, PaceBound::Phase);
        assert!((b.scale - 1.0).abs() < 1e-9, "{b:?}");
    }
}

#[test]
fn an_overload_test_ignores_the_rate_limits_but_not_max_rate() {
    let scenario = load("messenger-2018.toml");
    let whole = scenario.data.as_ref().unwrap().duration.as_secs_f64() / 10.0;
    let overload = pace(&scenario, &LiveOptions { ignore_rate_limits: true, ..opts(Duration::from_secs(10), 1e9) });
    assert!(overload.banks.iter().all(|b| b.bound == PaceBound::Phase && b.scale == whole), "{overload:?}");
    let capped = pace(&scenario, &LiveOptions { ignore_rate_limits: true, ..opts(Duration::from_secs(10), 10.0) });
    assert!(capped.banks.iter().all(|b| b.bound == PaceBound::MaxRate), "{capped:?}");
}

#[test]
fn a_compressed_phase_beyond_half_a_banks_capacity_is_held_there_unless_overload_is_asked_for() {
    let scenario = load("design-direct.toml");
    let slow = scenario.bank_index("slow-bank").unwrap();
    let capacity = capacity(&scenario.banks[slow]).expect("service takes time");
    let p = pace(&scenario, &opts(Duration::from_secs(5), 1e9));
    assert_eq!(p.of(slow).bound, PaceBound::Capacity, "{p:?}");
    let planned = offered(&scenario, slow) * p.of(slow).scale;
    let half = capacity * CAPACITY_SHARE;
    assert!((planned - half).abs() / half < 1e-9, "planned {planned}/s, half the capacity {half}/s");
    let overload = LiveOptions { ignore_rate_limits: true, ..opts(Duration::from_secs(5), 1e9) };
    assert_eq!(pace(&scenario, &overload).of(slow).bound, PaceBound::Phase);
}

#[test]
fn the_banks_an_aggregator_relays_to_are_held_together_to_half_its_capacity() {
    let mut scenario = load("design-aggregator.toml");
    let testbed_core::scenario::Design::Aggregator(a) = &mut scenario.platforms[0].design else {
        panic!("an aggregator design")
    };
    // A small aggregator: 1 worker of 5 ms on average relays 200 requests a second at most.
    a.workers = 1;
    let capacity = 1.0 / a.service_time.mean().as_secs_f64();
    let p = pace(&scenario, &opts(Duration::from_secs(5), 1e9));
    // It relays the pulls; the banks push their alerts to the platform through it unqueued.
    let through: f64 = scenario.bank_ids().map(|b| pulled(&scenario, b) * p.of(b).scale).sum();
    let half = capacity * CAPACITY_SHARE;
    assert!((through - half).abs() / half < 1e-9, "relayed {through}/s, half its capacity {half}/s: {p:?}");
    assert!(p.banks.iter().all(|b| b.bound == PaceBound::AggregatorCapacity), "{p:?}");
    let overload = LiveOptions { ignore_rate_limits: true, ..opts(Duration::from_secs(5), 1e9) };
    assert!(pace(&scenario, &overload).banks.iter().all(|b| b.bound == PaceBound::Phase));
}
