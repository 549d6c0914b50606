//! Simulated requests per second of the virtual-time engine: a 1,000,000-request M/M/1 data
//! phase (λ = 800/s, μ = 1000/s, one worker, no network delay) through `sim::run`, negotiation
//! and report assembly included. Each request is two queue events (arrival, arrival at the
//! bank). Run: `cargo bench -p sim --bench engine`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const SCENARIO: &str = r#"
[scenario]
name = "mm1-bench"
seed = 1
duration = "1d"
[data]
duration = "1250s"
[timing]
network_delay = { dist = "fixed", value = "0s" }
decision_delay = { dist = "fixed", value = "0s" }
[[issues]]
name = "balances"
options = ["included"]
[[issues]]
name = "purposes"
options = ["balance_display"]
[[platforms]]
name = "p"
trust = 1.0
strategy = "linear"
reservation = 0.0
ask = { balances = "included" }
[platforms.linking]
overlap = 1.0
opt_in_rate = 1.0
[platforms.client]
timeout = "1h"
retries = 0
[[platforms.workload]]
kind = "balance_lookup"
per_second = 800.0
[[banks]]
name = "b"
[banks.policy]
reservation = 0.0
strategy = "linear"
[banks.population]
customers = 1000
[banks.service]
workers = 1
service_time = { dist = "exponential", mean = "1ms" }
network_delay = { dist = "fixed", value = "0s" }
"#;

fn bench(c: &mut Criterion) {
    let scenario = testbed_core::scenario::parse(SCENARIO).unwrap();
    let report = sim::run(&scenario);
    let requests = report.data.as_ref().unwrap().latency[0].requests;
    eprintln!("each run: {requests} requests, {} queue events", 2 * requests);
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(requests));
    g.bench_function("mm1_1m_requests", |b| b.iter(|| black_box(sim::run(&scenario))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
