//! The data phase: queueing behaviour checked against theory, exposure checked against terms,
//! revocation checked against the clock.

use testbed_core::report::{DataReport, Report};

/// One platform, one bank, an outcome space of one outcome per issue so they agree at once
/// (t = 0, no delays), then `workload` runs against the bank's `service` for `phase`.
fn quick_deal(issues: &str, bank_extra: &str, platform_extra: &str, phase: &str, events: &str) -> String {
    format!(
        r#"
[scenario]
name = "queue-check"
seed = 42
duration = "30d"

[data]
duration = "{phase}"

[timing]
network_delay = {{ dist = "fixed", value = "0s" }}
decision_delay = {{ dist = "fixed", value = "0s" }}

{issues}

[[platforms]]
name = "p"
trust = 0.9
strategy = "linear"
reservation = 0.0
ask = {{ balances = "included" }}
[platforms.linking]
overlap = 1.0
opt_in_rate = 1.0
{platform_extra}

[[banks]]
name = "b"
[banks.policy]
reservation = 0.0
strategy = "linear"
{bank_extra}
{events}
"#
    )
}

const BALANCES_ONLY: &str = r#"
[[issues]]
name = "balances"
options = ["included"]
[[issues]]
name = "purposes"
options = ["balance_display"]
"#;

fn run(text: &str) -> Report {
    sim::run(&testbed_core::scenario::parse(text).expect("test scenario is valid"))
}

fn data(r: &Report) -> &DataReport {
    r.data.as_ref().expect("a data phase ran")
}

/// Poisson arrivals at `lambda`/s to `workers` servers with exponential service of mean
/// `1/mu`, for `seconds`.
fn queue(workers: u32, lambda: f64, mu: f64, seconds: u64) -> Report {
    partitioned_queue(workers, 1, lambda, mu, seconds)
}

/// As [`queue`], with the workers split among `partitions` behind the bank's router.
fn partitioned_queue(workers: u32, partitions: u32, lambda: f64, mu: f64, seconds: u64) -> Report {
    let bank = format!(
        r#"
[banks.population]
customers = 1000
[banks.service]
workers = {workers}
partitions = {partitions}
service_time = {{ dist = "exponential", mean = "{}us" }}
network_delay = {{ dist = "fixed", value = "0s" }}
"#,
        (1e6 / mu) as u64
    );
    let platform = format!(
        r#"
[platforms.client]
timeout = "1h"
retries = 0
[[platforms.workload]]
kind = "balance_lookup"
per_second = {lambda}
"#
    );
    run(&quick_deal(BALANCES_ONLY, &bank, &platform, &format!("{seconds}s"), ""))
}

#[test]
fn one_worker_at_utilisation_0_8_gives_the_mm1_mean_latency() {
    let (lambda, mu) = (800.0, 1000.0);
    let report = queue(1, lambda, mu, 1_300);
    let row = &data(&report).latency[0];
    assert!(row.latency.ok >= 1_000_000, "only {} requests", row.latency.ok);
    let theory_ms = 1e3 / (mu - lambda);
    let err = (row.latency.mean_ms - theory_ms).abs() / theory_ms;
    assert!(err < 0.02, "mean {} ms vs 1/(μ−λ) = {theory_ms} ms ({:.2}% off)", row.latency.mean_ms, err * 100.0);
    assert!(row.latency.mean_ci95_ms[0] < row.latency.mean_ms && row.latency.mean_ms < row.latency.mean_ci95_ms[1]);
    let bank = &data(&report).banks[0];
    let utilisation = bank.utilisation.expect("virtual mode measures the queue");
    assert!((utilisation - 0.8).abs() < 0.01, "utilisation {utilisation}");
}

#[test]
fn several_workers_wait_as_long_as_erlang_c_says() {
    let (c, lambda, mu) = (4, 3_200.0, 1_000.0);
    let report = queue(c, lambda, mu, 400);
    let bank = &data(&report).banks[0];
    assert!(bank.requests_served >= 1_000_000, "only {}", bank.requests_served);
    let theory_ms = testbed_core::queue::mmc_mean_wait(c, lambda, mu) * 1e3;
    let mean_wait_ms = bank.mean_wait_ms.expect("virtual mode measures the queue");
    let err = (mean_wait_ms - theory_ms).abs() / theory_ms;
    assert!(err < 0.02, "mean wait {mean_wait_ms} ms vs Erlang C {theory_ms} ms ({:.2}% off)", err * 100.0);
}

#[test]
fn a_bank_split_into_partitions_waits_as_its_separate_queues_do_longer_than_one_pooled_queue() {
    // 4 workers as 4 partitions of one: each an M/M/1 fed by its customers' share of λ.
    let (c, lambda, mu) = (4, 3_200.0, 1_000.0);
    let report = partitioned_queue(c, c, lambda, mu, 400);
    let bank = &data(&report).banks[0];
    assert!(bank.requests_served >= 1_000_000, "only {}", bank.requests_served);
    // The 1,000 linked customers are asked uniformly; each partition gets those routed to it.
    let share: Vec<f64> = (0..c).map(|p| testbed_core::queue::partition_customers(1_000, p, c) as f64 / 1e3).collect();
    // M/M/1 mean wait at λᵢ = share·λ: ρᵢ / (μ − λᵢ); a request's expected wait over partitions.
    let theory_ms: f64 = share.iter().map(|s| s * (s * lambda / mu) / (mu - s * lambda) * 1e3).sum();
    let mean_wait_ms = bank.mean_wait_ms.expect("virtual mode measures the queue");
    let err = (mean_wait_ms - theory_ms).abs() / theory_ms;
    assert!(
        err < 0.03,
        "mean wait {mean_wait_ms} ms vs separate M/M/1 queues {theory_ms} ms ({:.2}% off)",
        err * 100.0
    );
    let pooled_ms = testbed_core::queue::mmc_mean_wait(c, lambda, mu) * 1e3;
    assert!(mean_wait_ms > 4.0 * pooled_ms, "partitioned {mean_wait_ms} ms vs pooled {pooled_ms} ms");
    // Little's law for the whole bank: L over its partitions against λ·W.
    let row = &data(&report).latency[0];
    let little = row.latency.throughput_per_s * row.latency.mean_ms / 1e3;
    let mean_in_system = bank.mean_in_system.expect("virtual mode measures the queue");
    assert!((mean_in_system - little).abs() / little < 0.03, "L = {mean_in_system} but λW = {little}");
}

#[test]
fn littles_law_holds_for_the_measured_queue() {
    // L measured by what arrivals see (PASTA) against λ·W from the measured rate and latency.
    let report = queue(2, 1_500.0, 1_000.0, 300);
    let d = data(&report);
    let (bank, row) = (&d.banks[0], &d.latency[0]);
    let lambda = row.latency.throughput_per_s;
    let little = lambda * row.latency.mean_ms / 1e3;
    let mean_in_system = bank.mean_in_system.expect("virtual mode measures the queue");
    let err = (mean_in_system - little).abs() / little;
    assert!(err < 0.02, "L = {mean_in_system} but λW = {little} ({:.2}% off)", err * 100.0);
}

fn transactions_deal(off_platform: &str, extra_events: &str, policy: &str, platform_client: &str) -> Report {
    let issues = format!(
        r#"
[[issues]]
name = "transactions"
options = ["detail"]
[[issues]]
name = "off_platform_transactions"
options = ["{off_platform}"]
[[issues]]
name = "purposes"
options = ["commerce"]
"#
    );
    let bank = format!(
        r#"{policy}
[banks.population]
customers = 2000
transactions_per_day = 2.0
on_platform_share = 0.2
"#
    );
    let platform = format!(
        r#"
{platform_client}
[[platforms.workload]]
kind = "transaction_sync"
per_customer_per_day = 2.0
window = "1d"
"#
    );
    run(&quick_deal(&issues, &bank, &platform, "20d", extra_events)
        .replace(r#"ask = { balances = "included" }"#, r#"ask = { transactions = "detail" }"#))
}

#[test]
fn terms_without_off_platform_transactions_expose_none_and_with_them_some() {
    let without = transactions_deal("excluded", "", "", "");
    let e = &data(&without).flows[0].exposure;
    assert!(e.records_by_category["transactions_basic"] > 1_000, "data did flow: {:?}", e.records_by_category);
    assert!(!e.records_by_category.contains_key("off_platform_transactions"));
    assert!(!e.customers_by_category.contains_key("off_platform_transactions"));
    let with = transactions_deal("included", "", "", "");
    let e = &data(&with).flows[0].exposure;
    assert!(e.records_by_category["off_platform_transactions"] > 1_000);
    // Most spending is off the platform (on_platform_share 0.2), so allowing it multiplies
    // what leaves the bank.
    let before = data(&without).flows[0].exposure.records_by_category["transactions_basic"];
    assert!(e.records_by_category["transactions_basic"] > 3 * before);
}

#[test]
fn nothing_is_disclosed_after_an_agreement_is_revoked() {
    let incident = r#"
[[events]]
kind = "privacy_incident"
at = "7d"
platform = "p"
trust_change = -0.8
"#;
    let report =
        transactions_deal("excluded", incident, "revoke_below_trust = 0.5\non_privacy_incident = \"reassess\"", "");
    let revocation = report.negotiations[0].revocation.as_ref().expect("revoked after the incident");
    assert_eq!(revocation.clause, "revoke_below_trust");
    let flow = &data(&report).flows[0];
    assert_eq!(flow.ended_by, testbed_core::workload::EndedBy::Revoked);
    assert_eq!(flow.ended_at_ms, revocation.at_ms);
    let last = flow.exposure.last_disclosure_ms.expect("data flowed before");
    assert!(last <= revocation.at_ms, "disclosure at {last} ms after revocation at {} ms", revocation.at_ms);
    assert!(last > revocation.at_ms - 3_600_000, "and it flowed right up to the revocation");
}

#[test]
fn an_audit_revokes_a_platform_that_keeps_over_fetching() {
    let client = "[platforms.client]\nover_fetch = 0.05";
    let report = transactions_deal("excluded", "", "revoke_after_violations = 100", client);
    let revocation = report.negotiations[0].revocation.as_ref().expect("revoked by the audit");
    assert_eq!(revocation.clause, "revoke_after_violations");
    let flow = &data(&report).flows[0];
    assert_eq!(flow.exposure.violations, 100, "revoked at the hundredth violation");
    assert!(flow.exposure.blocked_requests >= 100 && flow.exposure.blocked_off_platform_requests >= 100);
    assert!(flow.exposure.last_disclosure_ms.unwrap() <= revocation.at_ms);
    assert!(flow.exposure.refused.contains_key("consent_revoked") || flow.ended_at_ms == revocation.at_ms);
    // Over-fetched fields were blocked: the off-platform records never left.
    assert!(!flow.exposure.records_by_category.contains_key("off_platform_transactions"));
}

#[test]
fn the_summary_sentence_names_every_bank_that_exposed_data_most_exposed_first() {
    // Without its promise of no third parties, the messenger also agrees with Wells-like (which
    // offers third-party sharing the promise forbids): two banks expose data, two do not.
    let mut table = crate::scenario_table("messenger-2018.toml");
    let messenger = crate::entry_mut(&mut table, "platforms", "messenger");
    let limits = messenger["limits"].as_array_mut().unwrap();
    limits.retain(|l| l["id"].as_str() != Some("promise_no_third_parties"));
    let report = crate::run_table(&table);
    let d = data(&report);
    let mut exposed: Vec<_> = d.banks.iter().filter(|b| b.customers_exposed > 0).collect();
    let quiet: Vec<_> = d.banks.iter().filter(|b| b.customers_exposed == 0).collect();
    assert!(exposed.len() >= 2 && !quiet.is_empty(), "the default scenario has banks on both sides");
    exposed.sort_by(|a, b| b.weighted_score.total_cmp(&a.weighted_score));
    let sentence = testbed_core::report::withdrawn_banks_sentence(&report).expect("a sentence");
    let (before, after) = sentence.split_once(" exposed no customer data").expect("names the quiet banks first");
    for b in &quiet {
        assert!(before.contains(&b.bank), "{sentence}");
    }
    let positions: Vec<usize> = exposed.iter().map(|b| after.find(&b.bank).expect("every exposing bank")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "most exposed first: {sentence}");
}

#[test]
fn a_data_phase_at_every_duration_and_rate_bound_runs_without_panicking() {
    // Each delay at its largest (365d; log-normal sigma 4 draws up to what simulated time
    // holds), the slowest rate limit (a Retry-After of up to 1,000 s), the longest client
    // timeout and back-off with every retry: before the bounds, a service time of a million
    // years overflowed the bank's busy-time sum and a rate limit of 1e-300/s panicked in
    // `Duration::from_secs_f64`.
    let bank = r#"
[banks.population]
customers = 1000
transactions_per_day = 1000
[banks.service]
workers = 1
service_time = { dist = "lognormal", median = "365d", sigma = 4 }
network_delay = { dist = "uniform", min = "365d", max = "365d" }
rate_limit = { per_second = 0.001, burst = 1 }
"#;
    let platform = r#"
[platforms.client]
timeout = "1d"
backoff = "1d"
retries = 10
[[platforms.workload]]
kind = "balance_lookup"
per_second = 1
"#;
    let text =
        quick_deal(BALANCES_ONLY, bank, platform, "1h", "").replace("duration = \"30d\"", "duration = \"36500d\"");
    let report = run(&text);
    let row = &data(&report).latency[0];
    assert!(row.requests > 3_000, "{} requests", row.requests);
    assert_eq!(row.requests, row.latency.ok + row.latency.failed() + row.latency.abandoned_total());
}
