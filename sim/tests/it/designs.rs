//! Integration designs (`[platforms.design]`): the four committed design scenarios share one
//! base and one seed, so each comparison below isolates what the design changes.

use crate::*;
use std::collections::BTreeMap;
use testbed_core::delay::Delay;
use testbed_core::report::{DataReport, Report};
use testbed_core::scenario::{Design, DesignKind, RequestKind, parse};

fn data(r: &Report) -> &DataReport {
    r.data.as_ref().expect("the design scenarios have a data phase")
}

/// Requests sent (first attempts) per (bank, kind), and the p50 latency.
fn latency_by_kind(r: &Report) -> BTreeMap<(String, RequestKind), (u64, f64)> {
    data(r).latency.iter().map(|l| ((l.bank.clone(), l.kind), (l.requests, l.latency.p50_ms))).collect()
}

fn total_requests(r: &Report) -> u64 {
    data(r).flows.iter().map(|f| f.requests).sum()
}

#[test]
fn minimised_banks_disclose_no_raw_balance_or_transaction_field_and_expose_less_than_direct() {
    let direct = run_committed("design-direct.toml");
    let minimised = run_committed("design-minimised.toml");
    assert_eq!(total_requests(&direct), total_requests(&minimised), "same requests, different answers");
    for (d, m) in data(&direct).flows.iter().zip(&data(&minimised).flows) {
        let raw = ["balances", "transactions_basic", "transactions_detail", "off_platform_transactions"];
        assert!(raw.iter().any(|c| d.exposure.records_by_category.contains_key(*c)), "direct shares raw data");
        for c in raw {
            assert!(!m.exposure.records_by_category.contains_key(c), "{}: raw {c} left the bank", m.bank);
            assert!(!m.exposure.customers_by_category.contains_key(c), "{}: raw {c} left the bank", m.bank);
        }
        assert!(m.exposure.records_by_category["derived_signals"] > 0, "signals were sent instead");
        let (dv, mv) = (&d.exposure.field_values, &m.exposure.field_values);
        assert_eq!((mv.moderate, mv.high), (0, 0), "balances and amounts are Moderate; none left");
        assert!(mv.low + mv.moderate + mv.high < dv.low + dv.moderate + dv.high);
        assert!(m.exposure.weighted_score < d.exposure.weighted_score / 2.0);
        // Not its minimisation excess: a minimised bank answers every transaction request with a
        // signal (a fraud flag, beyond the commerce purpose's minimum) where a direct pull often
        // returns no transaction at all, so the excess is about even; what leaves is less sensitive.
        assert!(m.permissions.contains(&"ReadDerivedSignals".to_string()), "{:?}", m.permissions);
    }
    for (d, m) in data(&direct).banks.iter().zip(&data(&minimised).banks) {
        assert!(m.weighted_score < d.weighted_score, "{}: {} vs {}", m.bank, m.weighted_score, d.weighted_score);
    }
    assert_eq!(minimised.designs.len(), 1);
    assert_eq!(minimised.designs[0].kind, DesignKind::Minimised);
    assert!(direct.designs.is_empty(), "direct is not recorded: its reports stay as they were");
}

#[test]
fn an_aggregator_adds_its_hop_to_latency_and_holds_every_record_it_relays() {
    let direct = run_committed("design-direct.toml");
    let aggregated = run_committed("design-aggregator.toml");
    let sc = parse(&std::fs::read_to_string(scenario_path("design-aggregator.toml")).unwrap()).unwrap();
    let Design::Aggregator(a) = &sc.platforms[0].design else { panic!("an aggregator design") };
    let ms = |d: Delay| d.mean().as_secs_f64() * 1e3;
    // Two hops (there and back) and one relay; the p50 of a sum is near the sum of the means.
    let added = 2.0 * ms(a.network_delay) + ms(a.service_time);
    let (before, after) = (latency_by_kind(&direct), latency_by_kind(&aggregated));
    for (key, (sent, p50)) in &after {
        let (sent_direct, p50_direct) = before[key];
        assert_eq!(*sent, sent_direct, "{key:?}: the aggregator changes no arrival");
        if *sent > 10_000 {
            let extra = p50 - p50_direct;
            assert!((extra - added).abs() < 0.15 * added, "{key:?}: p50 +{extra:.1} ms, hops add {added:.1} ms");
        }
    }
    let design = &aggregated.designs[0];
    assert_eq!((design.kind.as_str(), design.aggregator.as_deref()), ("aggregator", Some(a.name.as_str())));
    assert_eq!(design.relayed.len(), data(&aggregated).flows.len(), "one relayed ledger per agreement");
    for (flow, relayed) in data(&aggregated).flows.iter().zip(&design.relayed) {
        assert_eq!(relayed.platform, a.name);
        assert_eq!(relayed.bank, flow.bank);
        assert_eq!(relayed.records_by_category, flow.exposure.records_by_category, "it sees every record");
        assert_eq!(relayed.field_values, flow.exposure.field_values);
    }
    // The same records left each bank, now held by two parties: the banks' scores double.
    for (d, g) in data(&direct).banks.iter().zip(&data(&aggregated).banks) {
        assert_eq!(d.customers_exposed, g.customers_exposed);
        assert!((g.weighted_score - 2.0 * d.weighted_score).abs() < 1e-6 * d.weighted_score);
    }
}

#[test]
fn push_sends_fewer_requests_than_polling_and_delivers_each_booking_once() {
    let polled = run_committed("design-direct.toml");
    let pushed = run_committed("design-push.toml");
    assert!(
        3 * total_requests(&pushed) < total_requests(&polled),
        "push {} vs polling {}",
        total_requests(&pushed),
        total_requests(&polled)
    );
    let sc = parse(&std::fs::read_to_string(scenario_path("design-push.toml")).unwrap()).unwrap();
    let (before, after) = (latency_by_kind(&polled), latency_by_kind(&pushed));
    for (bank, row) in data(&pushed).banks.iter().map(|b| b.bank.clone()).zip(&data(&pushed).flows) {
        let b = &sc.banks[sc.bank_index(&bank).unwrap()];
        let bookings = b.population.transactions_per_day * row.exposure.linked_customers as f64 * 14.0;
        let k = |kind: RequestKind| after[&(bank.clone(), kind)];
        // Every booking moves the balance; only bookings in the wallet are visible as
        // transactions and alerts (off-platform data was not agreed), each pushed once.
        let balances = k(RequestKind::BalanceLookup).0 as f64;
        assert!(
            (balances - bookings).abs() < 0.05 * bookings,
            "{bank}: {balances} balance pushes, {bookings} bookings"
        );
        assert_eq!(
            k(RequestKind::TransactionSync).0,
            k(RequestKind::FraudAlert).0,
            "{bank}: one of each per visible booking"
        );
        let visible = k(RequestKind::FraudAlert).0 as f64 / balances;
        assert!((visible - b.population.on_platform_share).abs() < 0.03, "{bank}: visible share {visible}");
        // One way from the bank, against a round trip for a poll.
        for kind in [RequestKind::BalanceLookup, RequestKind::TransactionSync] {
            assert!(k(kind).1 < before[&(bank.clone(), kind)].1, "{bank} {kind}");
        }
        assert_eq!(
            k(RequestKind::Accounts).0,
            before[&(bank.clone(), RequestKind::Accounts)].0,
            "accounts are still pulled"
        );
    }
    let pulled: u64 = after.iter().filter(|((_, kind), _)| *kind == RequestKind::Accounts).map(|(_, (n, _))| n).sum();
    assert_eq!(pushed.designs[0].pushed.values().sum::<u64>() + pulled, total_requests(&pushed));
}

fn with_design(design: &str) -> String {
    let text = std::fs::read_to_string(scenario_path("design-direct.toml")).unwrap();
    text.replace("[platforms.design]\nkind = \"direct\"\n", design)
}

#[test]
fn bad_design_keys_give_one_line_errors_naming_the_key_and_the_allowed_values() {
    let cases = [
        ("[platforms.design]\nkind = \"pull\"\n", "platforms[0].design.kind: unknown design `pull`"),
        ("[platforms.design]\nworkers = 4\n", "platforms[0].design.kind: say which design"),
        (
            "[platforms.design]\nkind = \"push\"\nworkers = 4\n",
            "platforms[0].design.workers: applies only to kind = \"aggregator\", not \"push\"",
        ),
        (
            "[platforms.design]\nkind = \"aggregator\"\nworkers = 0\n",
            "platforms[0].design.workers: 0; allowed 1..=100000",
        ),
        (
            "[platforms.design]\nkind = \"aggregator\"\nname = \"quick-bank\"\n",
            "platforms[0].design.name: `quick-bank` is already the name of banks[0]",
        ),
    ];
    for (table, expect) in cases {
        let err = parse(&with_design(table)).expect_err(table).to_string();
        assert!(err.starts_with(expect), "{table}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        if expect.contains("design.kind") {
            assert!(err.contains("\"direct\", \"aggregator\", \"minimised\", \"push\""), "{err}");
        }
    }
    let err = parse(&with_design("[platforms.design]\nkind = \"direct\"\nhops = 2\n")).unwrap_err().to_string();
    assert!(err.contains("unknown field `hops`") && err.contains("`kind`"), "{err}");
}

#[test]
fn pushes_held_by_the_rate_limit_wait_one_token_apart_and_cost_one_event_each() {
    // design-push for 6 hours against banks that let a push out every 50 s, fewer than the
    // bookings raise: deliveries pile up behind the rate limit.
    let mut table = scenario_table("design-push.toml");
    table.remove("thresholds");
    table["data"].as_table_mut().unwrap().insert("duration".into(), toml::Value::String("6h".into()));
    for bank in table["banks"].as_array_mut().unwrap() {
        let service = bank.as_table_mut().unwrap()["service"].as_table_mut().unwrap();
        let limit: toml::Table = toml::from_str("per_second = 0.02\nburst = 1").unwrap();
        service.insert("rate_limit".into(), toml::Value::Table(limit));
    }
    let scenario = parse(&toml::to_string(&table).unwrap()).unwrap();
    let agreements: Vec<_> =
        testbed_core::session::negotiate(&scenario, None).agreements.into_iter().map(|(_, a)| a).collect();
    let outcome = sim::exchange::run(&scenario, &agreements).expect("a data phase");
    let pushed: u64 = outcome.designs.iter().flat_map(|d| d.pushed.values()).sum();
    let requests: u64 = outcome.report.latency.iter().map(|r| r.requests).sum();
    // More was pushed than 6 hours of tokens lets out (432 a bank), so deliveries were held.
    assert!(pushed > 2 * 432, "{pushed} deliveries");
    // Each request is a handful of events (arrival, hops, the delivery, a wait for its token);
    // deliveries all trying again at every token would be hundreds each.
    let per_request = outcome.events as f64 / requests as f64;
    assert!(per_request < 6.0, "{} events for {requests} requests: {per_request:.1} each", outcome.events);
}
