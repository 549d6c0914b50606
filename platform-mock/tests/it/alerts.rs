//! Fraud alerts in a live run: the platform's callback receives what the banks push.

use super::live_demo_run;
use testbed_core::scenario::RequestKind;

#[test]
fn a_live_run_records_pushed_fraud_alerts_and_counts_no_more_than_the_banks_sent() {
    let (scenario, report, states, _rt) = live_demo_run(2_000.0);
    let data = report.data.as_ref().expect("the scenario has a data phase");
    // limited-bank's rate limit (5/s) holds its phase to about a minute of simulated time in this
    // run, too little for a card transaction to be likely; demo-bank runs its whole phase.
    let bank = "demo-bank";
    let row = data.latency.iter().find(|r| r.bank == bank && r.kind == RequestKind::FraudAlert);
    let row = row.unwrap_or_else(|| panic!("{bank}: no fraud_alert row in {:?}", data.latency));
    assert!(row.requests > 0, "{bank}: {row:?}");
    // Every alert sent was received (and has a latency) or was dropped by the bank, by its count.
    let dropped: u64 = row.latency.errors.iter().filter(|(k, _)| k.starts_with("dropped:")).map(|(_, n)| n).sum();
    assert_eq!(row.latency.errors.values().sum::<u64>(), dropped, "{bank}: {row:?}");
    assert_eq!(row.latency.ok + dropped, row.requests, "{bank}: {row:?}");
    let flow = data.flows.iter().find(|f| f.bank == bank).unwrap();
    let received = &flow.exposure.by_purpose["fraud_alerts"];
    assert_eq!(received.records, row.latency.ok, "{bank}: one record per alert received");
    let b = scenario.bank_index(bank).unwrap();
    let desk = states[b.index()].desk();
    let sent = &desk.ledgers()[&flow.platform].summarize(desk.population(), &flow.platform, [1.0, 3.0, 9.0]);
    let sent = &sent.by_purpose["fraud_alerts"];
    assert!(received.records <= sent.records, "{bank}: received {received:?}, the bank sent {sent:?}");
    assert!(received.field_values <= sent.field_values, "{bank}: received {received:?}, the bank sent {sent:?}");
    // Pushed alerts pass the bank's door as pulls do: it served at least every pull answered and
    // every alert received. (No upper bound from the platform's rows: a delivery the door let in
    // can still be stopped at its release, by the run's DELETE of the subscription.)
    let answered: u64 = data.latency.iter().filter(|r| r.bank == bank).map(|r| r.latency.ok).sum();
    let served = data.banks.iter().find(|r| r.bank == bank).unwrap().requests_served;
    assert!(served >= answered, "{bank}: {served} served, {answered} pulls answered and alerts received");
    // The run unsubscribed when it ended.
    assert_eq!(desk.subscriptions().count(), 0, "{bank}: subscriptions left behind");
}
