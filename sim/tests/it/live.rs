//! Live mode: real hyper servers on 127.0.0.1:0 in-process, real HTTP, bounded in time.

use crate::*;
use sim::live::{LiveOptions, run_live};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn parse(table: &toml::Table) -> testbed_core::scenario::Scenario {
    testbed_core::scenario::parse(&toml::to_string(table).unwrap()).unwrap()
}

#[test]
fn live_negotiations_reach_the_same_outcomes_as_the_virtual_run_move_for_move() {
    let table = negotiation_table("messenger-2018.toml");
    let scenario = parse(&table);
    let virtual_report = sim::run(&scenario);
    let opts = LiveOptions { duration: Duration::from_millis(200), ..Default::default() };
    let live = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(live.mode, testbed_core::report::Mode::Live);
    assert_eq!(live.negotiations.len(), virtual_report.negotiations.len());
    for (l, v) in live.negotiations.iter().zip(&virtual_report.negotiations) {
        assert_eq!(l.outcome, v.outcome, "{}", l.pair());
        assert_eq!(l.transcript, v.transcript, "{}", l.pair());
        assert_eq!(l.revocation, v.revocation, "{}", l.pair());
    }
}

#[test]
fn a_live_data_phase_sends_open_model_load_and_the_banks_count_what_they_disclose() {
    let scenario = parse(&scenario_table("live-demo.toml"));
    let opts = LiveOptions {
        duration: Duration::from_millis(1_500),
        max_rate: 400.0,
        max_customers: 50,
        // Past limited-bank's rate limit on purpose, to see its 429s.
        ignore_rate_limits: true,
        ..Default::default()
    };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.as_ref().expect("data phase");
    let fast = data.latency.iter().filter(|r| r.bank == "demo-bank").collect::<Vec<_>>();
    let ok: u64 = fast.iter().map(|r| r.latency.ok).sum();
    let sent: u64 = fast.iter().map(|r| r.requests).sum();
    assert!(ok > 100, "demo-bank answered {ok} of {sent}");
    let flow = data.flows.iter().find(|f| f.bank == "demo-bank").unwrap();
    assert!(flow.exposure.customers_exposed > 0 && flow.exposure.customers_exposed <= 50);
    assert!(!flow.exposure.records_by_category.contains_key("off_platform_transactions"));
    // The rate-limited bank pushed back with 429s.
    let limited: u64 = data
        .latency
        .iter()
        .filter(|r| r.bank == "limited-bank")
        .map(|r| r.latency.errors.get("rate_limited").copied().unwrap_or(0))
        .sum();
    assert!(limited > 0, "no 429 from limited-bank: {:?}", data.latency);
}

#[test]
fn a_live_run_receives_the_fraud_alerts_the_banks_push_and_their_ledgers_count_them() {
    let scenario = parse(&scenario_table("live-demo.toml"));
    let opts = LiveOptions {
        duration: Duration::from_millis(1_500),
        max_rate: 2_000.0,
        max_customers: 40,
        ..Default::default()
    };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.as_ref().expect("data phase");
    // limited-bank's rate limit holds its phase to about a minute of simulated time here, too
    // little for a card transaction to be likely; demo-bank runs its whole phase.
    for flow in data.flows.iter().filter(|f| f.bank == "demo-bank") {
        let row = data.latency.iter().find(|r| r.bank == flow.bank && r.kind == "fraud_alert");
        let row = row.unwrap_or_else(|| panic!("{}: no fraud_alert row in {:?}", flow.bank, data.latency));
        assert!(row.requests > 0 && row.latency.ok == row.requests, "{}: {row:?}", flow.bank);
        // Exposure here is the bank's own ledger: it counted at least what the platform received.
        let counted = flow.exposure.by_purpose.get("fraud_alerts").map_or(0, |p| p.records);
        assert!(
            counted >= row.requests,
            "{}: the bank counted {counted}, the platform got {}",
            flow.bank,
            row.requests
        );
        assert!(!flow.exposure.records_by_category.contains_key("off_platform_transactions"));
    }
}
