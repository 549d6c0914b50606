//! Bilateral negotiations per second: 4 discrete issues (4×4×4×2 = 128 outcomes), 20 rounds,
//! time-based agents on both sides, the setting of the NegMAS reference figure in DESIGN.md.
//! Run: `cargo bench -p testbed-core --bench negotiation`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use testbed_core::SimTime;
use testbed_core::negotiation::{
    End, Issue, IssueSpace, LinearUtility, Negotiator, Preferences, Protocol, Side, Strategy, run_to_end,
};

fn space() -> IssueSpace {
    IssueSpace::new(vec![
        Issue::new("data", &["d0", "d1", "d2", "d3"]),
        Issue::new("purpose", &["p0", "p1", "p2", "p3"]),
        Issue::new("retention", &["r0", "r1", "r2", "r3"]),
        Issue::new("consent", &["opt_in", "opt_out"]),
    ])
    .unwrap()
}

/// Opposed preferences: the platform values later options, the bank earlier ones.
fn preferences(space: &IssueSpace, platform: bool, weights: [f64; 4], reservation: f64) -> Arc<Preferences> {
    let values = space
        .issues()
        .iter()
        .map(|i| {
            let n = (i.options.len() - 1) as f64;
            (0..i.options.len()).map(|j| if platform { j as f64 / n } else { 1.0 - j as f64 / n }).collect()
        })
        .collect();
    let u = LinearUtility::new(space, weights.to_vec(), values).unwrap();
    Arc::new(Preferences::new(space.clone(), u, vec![], reservation).unwrap())
}

fn bench(c: &mut Criterion) {
    let space = space();
    let platform = preferences(&space, true, [0.4, 0.3, 0.2, 0.1], 0.2);
    let bank = preferences(&space, false, [0.1, 0.2, 0.3, 0.4], 0.3);
    // Say once what is being timed: how far this negotiation goes before it ends.
    let mut protocol = Protocol::new(20, Side::Platform, SimTime::ZERO).unwrap();
    let end = run_to_end(
        &mut protocol,
        &mut Negotiator::new(platform.clone(), Strategy::boulware()),
        &mut Negotiator::new(bank.clone(), Strategy::linear()),
    );
    eprintln!("each negotiation: {} offers, ends with {end:?}", protocol.offers());
    let mut g = c.benchmark_group("negotiation");
    g.throughput(Throughput::Elements(1));
    g.bench_function("128_outcomes_20_rounds_time_based", |b| {
        b.iter(|| {
            let mut protocol = Protocol::new(20, Side::Platform, SimTime::ZERO).unwrap();
            let mut p = Negotiator::new(platform.clone(), Strategy::boulware());
            let mut k = Negotiator::new(bank.clone(), Strategy::linear());
            let end = run_to_end(&mut protocol, &mut p, &mut k);
            black_box(matches!(end, End::Agreement { .. }))
        })
    });
    // The same, also building both sides' utility tables every time (no sharing).
    g.bench_function("128_outcomes_20_rounds_time_based_with_setup", |b| {
        b.iter(|| {
            let pp = preferences(&space, true, [0.4, 0.3, 0.2, 0.1], 0.2);
            let bp = preferences(&space, false, [0.1, 0.2, 0.3, 0.4], 0.3);
            let mut protocol = Protocol::new(20, Side::Platform, SimTime::ZERO).unwrap();
            let mut p = Negotiator::new(pp, Strategy::boulware());
            let mut k = Negotiator::new(bp, Strategy::linear());
            black_box(run_to_end(&mut protocol, &mut p, &mut k))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
