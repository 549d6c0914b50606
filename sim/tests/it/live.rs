//! Live mode: real hyper servers on 127.0.0.1:0 in-process, real HTTP, bounded in time.

use crate::*;
use sim::live::{LiveOptions, run_live};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::scenario::{RequestKind, Scenario};
use testbed_core::workload::Sources;

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
    assert!(flow.exposure.customers_exposed > 0 && flow.exposure.customers_exposed <= flow.exposure.linked_customers);
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
    let opts = LiveOptions { duration: Duration::from_millis(1_500), max_rate: 2_000.0, ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.as_ref().expect("data phase");
    // limited-bank's rate limit holds its phase to about a minute of simulated time here, too
    // little for a card transaction to be likely; demo-bank runs its whole phase.
    for flow in data.flows.iter().filter(|f| f.bank == "demo-bank") {
        let row = data.latency.iter().find(|r| r.bank == flow.bank && r.kind == RequestKind::FraudAlert);
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

/// Up to `n` arrivals of each stream of `sources`, by (flow, workload item), as (time since
/// `start` of the flow, customer, kind).
type Streams = BTreeMap<(usize, usize), Vec<(Duration, u64, RequestKind)>>;

fn first_arrivals(mut sources: Sources, starts: &[SimTime], n: usize) -> Streams {
    let mut out: BTreeMap<(usize, usize), Vec<_>> = sources.streams().map(|k| (k, Vec::new())).collect();
    let mut open = out.len();
    while open > 0 {
        let Some((t, a)) = sources.next() else { break };
        let seen = out.get_mut(&(a.flow, a.item)).expect("a stream of these sources");
        if seen.len() < n {
            seen.push((t.since(starts[a.flow]), a.customer, a.kind));
            open -= usize::from(seen.len() == n);
        }
    }
    out
}

#[test]
fn virtual_and_live_drivers_draw_the_same_request_schedule_from_the_seed_for_every_committed_scenario() {
    let mut dir: Vec<_> = std::fs::read_dir(repo_root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    dir.sort();
    assert!(dir.len() >= 7, "the committed scenarios: {dir:?}");
    let mut compared = 0;
    for path in dir {
        let sc: Scenario = testbed_core::scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let session = testbed_core::session::negotiate(&sc, None);
        let agreements: Vec<_> = session.agreements.iter().map(|(_, a)| a.clone()).collect();
        let starts: Vec<SimTime> = agreements.iter().map(|a| a.at).collect();
        let virtual_streams = first_arrivals(sim::exchange::schedule(&sc, &agreements), &starts, 1_000);
        let live = platform_mock::live::schedule(&sc, &session.agreements);
        for ((platform, bank), sources) in live {
            let flow = agreements.iter().position(|a| (a.platform, a.bank) == (platform, bank)).unwrap();
            let start = agreements[flow].at;
            let live_streams = first_arrivals(sources, &[start], 1_000);
            for ((_, item), arrivals) in live_streams {
                let name = format!("{} {}/{} item {item}", sc.name, sc.platforms[platform].name, sc.banks[bank].name);
                assert!(!arrivals.is_empty(), "{name}: an empty stream");
                assert_eq!(Some(&arrivals), virtual_streams.get(&(flow, item)), "{name}");
                compared += arrivals.len();
            }
        }
    }
    assert!(compared > 10_000, "only {compared} arrivals compared");
}

fn live_counts(seed: u64) -> Vec<(String, RequestKind, u64)> {
    let mut scenario = parse(&scenario_table("live-demo.toml"));
    scenario.seed = seed;
    let opts = LiveOptions { duration: Duration::from_millis(700), ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.expect("data phase");
    data.latency
        .iter()
        // Alerts are the bank's pushes, timed by its own clock: not the platform's schedule.
        .filter(|r| r.kind != RequestKind::FraudAlert)
        .map(|r| (r.bank.clone(), r.kind, r.requests))
        .collect()
}

#[test]
fn live_runs_send_the_seeds_schedule_the_same_seed_the_same_counts_another_seed_others() {
    let seven = live_counts(7);
    assert!(seven.iter().map(|r| r.2).sum::<u64>() > 100, "{seven:?}");
    assert_eq!(seven, live_counts(7));
    assert_ne!(seven, live_counts(8));
}

#[test]
fn every_live_request_ends_answered_failed_or_abandoned_with_a_reason() {
    let scenario = parse(&scenario_table("live-demo.toml"));
    // Far more than one connection can carry within the platform's timeout.
    let opts = LiveOptions {
        duration: Duration::from_millis(800),
        max_rate: 1_000_000.0,
        max_in_flight: 1,
        ignore_rate_limits: true,
        drain: Duration::from_millis(300),
        ..Default::default()
    };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.as_ref().expect("data phase");
    let mut abandoned = 0;
    for row in &data.latency {
        let l = &row.latency;
        assert_eq!(row.requests, l.ok + l.failed() + l.abandoned_total(), "{} {}: {l:?}", row.bank, row.kind);
        abandoned += l.abandoned_total();
    }
    assert!(abandoned > 0, "nothing abandoned: {:?}", data.latency);
    assert!(!report.complete, "a run that abandoned requests is not complete");
    let sentence = testbed_core::report::abandoned_sentence(&report).expect("the report says so");
    assert!(sentence.contains("abandoned"), "{sentence}");
}

fn pulled_requests(table: &toml::Table, bank: &str) -> u64 {
    let opts = LiveOptions { duration: Duration::from_millis(700), max_rate: 500.0, ..Default::default() };
    let report = run_live(Arc::new(parse(table)), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.expect("data phase");
    data.latency.iter().filter(|r| r.bank == bank && r.kind != RequestKind::FraudAlert).map(|r| r.requests).sum()
}

#[test]
fn a_partitioned_bank_serves_live_each_request_at_its_customers_partition() {
    let mut table = scenario_table("live-demo.toml");
    table.remove("thresholds");
    let banks = table.get_mut("banks").and_then(toml::Value::as_array_mut).unwrap();
    let service = banks[0].get_mut("service").and_then(toml::Value::as_table_mut).unwrap();
    service.insert("partitions".into(), toml::Value::Integer(4));
    let scenario = parse(&table);
    assert_eq!(scenario.banks[0].service.partitions, 4);
    let opts = LiveOptions { duration: Duration::from_millis(700), max_rate: 500.0, ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = report.data.expect("data phase");
    let answered: u64 = data
        .latency
        .iter()
        .filter(|r| r.bank == "demo-bank" && r.kind != RequestKind::FraudAlert)
        .map(|r| r.latency.ok)
        .sum();
    let bank = data.banks.iter().find(|b| b.bank == "demo-bank").unwrap();
    assert!(answered > 100, "demo-bank answered {answered}");
    // Every pull it answered went through one of its partitions' queues, by the bank's count.
    assert!(bank.requests_served >= answered, "{} admitted, {answered} answered", bank.requests_served);
    assert!(report.complete, "{:?}", data.latency);
}

#[test]
fn a_load_spike_multiplies_live_arrivals() {
    let calm = scenario_table("live-demo.toml");
    let mut spiked = calm.clone();
    let spike: toml::Table = toml::from_str(
        "kind = \"load_spike\"\nat = \"0s\"\nplatform = \"demo-platform\"\nduration = \"29d\"\nfactor = 5.0",
    )
    .unwrap();
    spiked.insert("events".into(), toml::Value::Array(vec![toml::Value::Table(spike)]));
    let (before, during) = (pulled_requests(&calm, "demo-bank"), pulled_requests(&spiked, "demo-bank"));
    assert!(before > 100, "{before} requests without the spike");
    let ratio = during as f64 / before as f64;
    assert!((4.0..6.0).contains(&ratio), "{during} requests with a ×5 spike, {before} without");
}

#[test]
fn an_in_process_banks_calendar_starts_at_its_agreement_so_an_outage_falls_where_the_virtual_run_has_it() {
    // The quick bank goes down the moment it agrees, for a month. The agreement comes days into
    // the scenario and the live run covers only hours after it: every pull at the quick bank
    // meets the outage, live as in virtual time; the slow bank is unaffected.
    let mut table = scenario_table("design-direct.toml");
    table.remove("thresholds");
    let agreed_at = negotiation(&sim::run(&parse(&table)), "wallet", "quick-bank").outcome.at_ms;
    assert!(agreed_at > 86_400_000, "the agreement comes after day 1: {agreed_at} ms");
    let outage: toml::Table = toml::from_str(&format!(
        "kind = \"outage\"\nat = \"{agreed_at}ms\"\nbank = \"quick-bank\"\nduration = \"30d\"\ndescription = \"down\""
    ))
    .unwrap();
    table.insert("events".into(), toml::Value::Array(vec![toml::Value::Table(outage)]));
    let opts = LiveOptions { duration: Duration::from_millis(800), max_rate: 500.0, ..Default::default() };
    let live = run_live(Arc::new(parse(&table)), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    let data = live.data.expect("data phase");
    let pulls = |bank: &str| {
        let rows = data.latency.iter().filter(|r| r.bank == bank && r.kind != RequestKind::FraudAlert);
        rows.fold((0, 0), |(ok, down), r| {
            (ok + r.latency.ok, down + r.latency.errors.get("unavailable").copied().unwrap_or(0))
        })
    };
    let (quick_ok, quick_down) = pulls("quick-bank");
    assert_eq!(quick_ok, 0, "no pull at the quick bank got through its outage");
    assert!(quick_down > 20, "{quick_down} pulls met the outage");
    let (slow_ok, slow_down) = pulls("slow-bank");
    assert!(slow_ok > 0 && slow_down == 0, "the slow bank served {slow_ok}, was down for {slow_down}");
}

#[test]
fn an_over_fetching_platform_is_revoked_live_by_the_audit_as_in_the_virtual_run() {
    over_fetching_is_revoked_live_over(testbed_core::wire::ApiProfile::Testbed);
}

#[test]
fn an_over_fetching_platform_is_revoked_by_the_audit_over_the_standard_apis_too() {
    over_fetching_is_revoked_live_over(testbed_core::wire::ApiProfile::Obie);
    over_fetching_is_revoked_live_over(testbed_core::wire::ApiProfile::Fdx);
}

fn over_fetching_is_revoked_live_over(api: testbed_core::wire::ApiProfile) {
    let mut table = scenario_table("live-demo.toml");
    table.remove("thresholds");
    let platform = entry_mut(&mut table, "platforms", "demo-platform");
    let client: toml::Table = toml::from_str("over_fetch = 0.5").unwrap();
    platform.insert("client".into(), toml::Value::Table(client));
    policy_mut(&mut table, "demo-bank").insert("revoke_after_violations".into(), toml::Value::Integer(20));
    let scenario = parse(&table);
    let virtual_report = sim::run(&scenario);
    let revoked = |r: &testbed_core::report::Report| {
        let n = negotiation(r, "demo-platform", "demo-bank");
        n.revocation.as_ref().map(|v| v.clause.clone())
    };
    assert_eq!(revoked(&virtual_report).as_deref(), Some("revoke_after_violations"), "the virtual run revokes");
    let opts = LiveOptions { duration: Duration::from_millis(1_000), max_rate: 500.0, api, ..Default::default() };
    let live = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(revoked(&live), revoked(&virtual_report), "{api:?}: the live run revokes over the same clause");
    let data = live.data.as_ref().unwrap();
    let flow = data.flows.iter().find(|f| f.bank == "demo-bank").unwrap();
    assert_eq!(flow.ended_by, testbed_core::workload::EndedBy::Revoked);
    assert!(flow.exposure.violations >= 20, "{:?}", flow.exposure);
    // Requests after the revocation are refused: the consent is revoked.
    let refused: u64 = data
        .latency
        .iter()
        .filter(|r| r.bank == "demo-bank")
        .map(|r| r.latency.errors.get("refused:403").copied().unwrap_or(0))
        .sum();
    assert!(refused > 0, "{:?}", data.latency);
    // ... only those already on their way: once it learns of the revocation the platform sends
    // nothing more under it (the virtual run stops the flow's arrivals at the revocation).
    assert!(refused <= opts.max_in_flight as u64, "{refused} refused after the revocation");
    assert!(flow.requests < 1_000, "{} requests under a revoked agreement", flow.requests);
    assert!(live.timeline.iter().any(|e| e.kind == testbed_core::report::TimelineKind::Revocation && e.subject == "demo-platform→demo-bank"));
}

#[test]
fn a_minimised_design_runs_live_and_its_platform_receives_derived_signals_only() {
    let scenario = parse(&scenario_table("design-minimised.toml"));
    let opts = LiveOptions { duration: Duration::from_millis(800), max_rate: 2_000.0, ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(report.designs.len(), 1, "the report records the design: {:?}", report.designs);
    assert_eq!(report.designs[0].kind.as_str(), "minimised");
    let data = report.data.as_ref().expect("data phase");
    assert!(!data.flows.is_empty());
    for flow in &data.flows {
        let e = &flow.exposure;
        assert!(e.customers_exposed > 0, "{}: nothing flowed", flow.bank);
        // Raw balances and transactions never leave the bank: only account listings and the
        // derived signals the consent adds.
        let categories: Vec<&str> = e.records_by_category.keys().map(String::as_str).collect();
        assert!(
            categories.iter().all(|c| matches!(*c, "account_basic" | "derived_signals")),
            "{}: {categories:?}",
            flow.bank
        );
        assert!(categories.contains(&"derived_signals"), "{}: {categories:?}", flow.bank);
        assert!(flow.permissions.iter().any(|p| p == "ReadDerivedSignals"), "{}: {:?}", flow.bank, flow.permissions);
        // A transaction request gets one signal: its account and the fraud flag, as in virtual time.
        let signals = e.by_purpose.get("commerce").expect("commerce requests were answered");
        assert_eq!(signals.field_values, 2 * signals.records, "{}: {signals:?}", flow.bank);
    }
}

#[test]
fn an_aggregator_design_runs_live_through_a_relay_whose_ledger_holds_what_the_banks_disclosed() {
    let scenario = parse(&scenario_table("design-aggregator.toml"));
    let opts = LiveOptions { duration: Duration::from_millis(1500), max_rate: 2_000.0, ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(report.designs.len(), 1, "the report records the design: {:?}", report.designs);
    let design = &report.designs[0];
    assert_eq!((design.kind.as_str(), design.aggregator.as_deref()), ("aggregator", Some("aggregator")));
    let data = report.data.as_ref().expect("data phase");
    assert_eq!(design.relayed.len(), data.flows.len(), "one relay ledger per agreement");
    for (flow, relayed) in data.flows.iter().zip(&design.relayed) {
        assert_eq!((relayed.platform.as_str(), &relayed.bank), ("aggregator", &flow.bank));
        assert!(flow.exposure.customers_exposed > 0, "{}: nothing flowed", flow.bank);
        // Every answer and pushed alert went through the relay: it received what the bank's own
        // ledger says the bank disclosed.
        assert_eq!(relayed.records_by_category, flow.exposure.records_by_category, "{}", flow.bank);
        assert_eq!(relayed.customers_exposed, flow.exposure.customers_exposed, "{}", flow.bank);
    }
    // The bank rows count both parties that received data.
    for bank in &data.banks {
        let mine = data.flows.iter().zip(&design.relayed).filter(|(f, _)| f.bank == bank.bank);
        let score: f64 = mine.map(|(f, r)| f.exposure.weighted_score + r.weighted_score).sum();
        assert!((bank.weighted_score - score).abs() < 1e-9, "{}: {} vs {score}", bank.bank, bank.weighted_score);
    }
}

#[test]
fn a_push_design_runs_live_and_the_banks_push_balance_changes_transactions_and_alerts_as_bookings_happen() {
    let scenario = parse(&scenario_table("design-push.toml"));
    let opts = LiveOptions { duration: Duration::from_millis(1500), ..Default::default() };
    let report = run_live(Arc::new(scenario), &opts, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(report.designs.len(), 1, "the report records the design: {:?}", report.designs);
    let design = &report.designs[0];
    assert_eq!(design.kind.as_str(), "push");
    let data = report.data.as_ref().expect("data phase");
    let row = |bank: &str, kind: RequestKind| data.latency.iter().find(|r| r.bank == bank && r.kind == kind);
    // Pushes take the banks' workers, so the pace holds slow-bank to its capacity: in 1.5 s it
    // may cover too little of its calendar for a booking. quick-bank covers hours of it.
    let mut delivered = 0;
    for flow in &data.flows {
        let pushed = design.pushed[&flow.bank];
        let ok = |kind| row(&flow.bank, kind).map_or(0, |r| r.latency.ok);
        let (balances, transactions, alerts) =
            (ok(RequestKind::BalanceLookup), ok(RequestKind::TransactionSync), ok(RequestKind::FraudAlert));
        if flow.bank == "quick-bank" {
            assert!(transactions > 0 && alerts > 0, "{}: {balances} {transactions} {alerts}", flow.bank);
        }
        delivered += pushed;
        // Every booking changes the balance; only the wallet's own card transactions are seen.
        assert!(balances >= transactions, "{}: {balances} balance changes, {transactions} transactions", flow.bank);
        assert_eq!(
            pushed,
            balances + transactions + alerts,
            "{}: each event received is one pushed delivery",
            flow.bank
        );
        // Account look-ups are still pulled.
        let pulled = row(&flow.bank, RequestKind::Accounts).map_or(0, |r| r.requests);
        assert!(pulled > 0 || flow.bank != "quick-bank", "{}", flow.bank);
        // The bank's ledger counts what the callback acknowledged: one record per event.
        let records = &flow.exposure.records_by_category;
        assert_eq!(records.get("balances").copied().unwrap_or(0), balances, "{}: {records:?}", flow.bank);
    }
    assert!(delivered > 0, "{:?}", design.pushed);
}

#[test]
fn a_live_run_that_would_link_more_customers_than_allowed_is_refused_in_one_line_before_it_starts() {
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo_root())
        .args(["run", "--live", "scenarios/live-demo.toml", "--max-customers", "10", "--out"])
        .arg(out.path())
        .output()
        .expect("sim runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--max-customers") && stderr.contains("1000"), "{stderr}");
    assert!(!out.path().join("report.json").exists(), "nothing written");
}

/// A live run of `scenario` with the banks speaking `api`.
fn live_over(
    scenario: &Scenario,
    api: testbed_core::wire::ApiProfile,
    opts: &LiveOptions,
) -> testbed_core::report::Report {
    let opts = LiveOptions { api, ..opts.clone() };
    run_live(Arc::new(scenario.clone()), &opts, Arc::new(AtomicBool::new(false))).expect("live run")
}

#[test]
fn one_scenario_over_any_api_profile_reaches_the_same_outcomes_and_exposes_the_same_data() {
    use testbed_core::wire::ApiProfile;
    let scenario = parse(&scenario_table("design-direct.toml"));
    let opts = LiveOptions { duration: Duration::from_millis(1_200), max_rate: 600.0, ..Default::default() };
    let [ours, obie, fdx] = ApiProfile::ALL.map(|api| live_over(&scenario, api, &opts));
    for (api, report) in [(ApiProfile::Obie, &obie), (ApiProfile::Fdx, &fdx)] {
        assert_eq!(report.data.as_ref().unwrap().live.as_ref().unwrap().api, api, "the report names the API");
        for (n, o) in report.negotiations.iter().zip(&ours.negotiations) {
            assert_eq!((&n.outcome, &n.revocation), (&o.outcome, &o.revocation), "{api:?}: {}", n.pair());
        }
        let (flows, our_flows) = (&report.data.as_ref().unwrap().flows, &ours.data.as_ref().unwrap().flows);
        assert_eq!(flows.len(), our_flows.len());
        for (f, o) in flows.iter().zip(our_flows) {
            assert!(f.exposure.customers_exposed > 0, "{api:?} {}: nothing flowed", f.bank);
            // The permissions the bank put on the consents, by the testbed's names whatever the
            // profile, and the same kinds of data reached the platform.
            assert_eq!(f.permissions, o.permissions, "{api:?} {}", f.bank);
            let kinds = |f: &testbed_core::report::FlowReport| -> Vec<String> {
                f.exposure.records_by_category.iter().filter(|(_, n)| **n > 0).map(|(c, _)| c.clone()).collect()
            };
            assert_eq!(kinds(f), kinds(o), "{api:?} {}", f.bank);
            assert_eq!(f.requests, o.requests, "{api:?} {}: the same schedule", f.bank);
        }
    }
    // Where every request was answered, UK Open Banking disclosed exactly what the testbed's
    // API did: the same records to the same customers. FDX names whole days, so its
    // transaction reads reach back to midnight and carry at least as much.
    if [&ours, &obie, &fdx].iter().all(|r| r.complete) {
        let flows = |r: &testbed_core::report::Report| r.data.as_ref().unwrap().flows.clone();
        for ((o, b), f) in flows(&ours).iter().zip(flows(&obie)).zip(flows(&fdx)) {
            assert_eq!(b.exposure.customers_exposed, o.exposure.customers_exposed, "{}", o.bank);
            assert_eq!(b.exposure.records_by_category, o.exposure.records_by_category, "{}", o.bank);
            assert!(f.exposure.customers_exposed >= o.exposure.customers_exposed, "{}", o.bank);
        }
    }
}
