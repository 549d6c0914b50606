//! The synthetic population: customers per second with the full `fake` identity, quasi-identifiers
//! per second, and card transactions generated per second at 1.5 transactions per day.
//! Run: `cargo bench -p testbed-core --bench population`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testbed_core::population::{PopulationSpec, customer, quasi_identifiers, transactions_on_day};

fn spec() -> PopulationSpec {
    PopulationSpec {
        seed: 42,
        bank: "first-national".to_string(),
        size: 1_000_000,
        transactions_per_day: 1.5,
        on_platform_share: 0.3,
    }
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let mut g = c.benchmark_group("population");

    g.throughput(Throughput::Elements(1));
    let mut index = 0u64;
    g.bench_function("customer_full_identity", |b| {
        b.iter(|| {
            index = index.wrapping_add(1) % spec.size;
            black_box(customer(&spec, black_box(index)))
        })
    });
    g.bench_function("quasi_identifiers", |b| {
        b.iter(|| {
            index = index.wrapping_add(1) % spec.size;
            black_box(quasi_identifiers(&spec, black_box(index)))
        })
    });

    // One iteration: day 0 of 1,000 customers. Say once how many transactions that is.
    const CUSTOMERS: u64 = 1_000;
    let mut out = Vec::new();
    for i in 0..CUSTOMERS {
        transactions_on_day(&spec, i, 0, &mut out);
    }
    let per_iteration = out.len() as u64;
    eprintln!(
        "transactions: {per_iteration} on day 0 of {CUSTOMERS} customers ({:.3} per customer-day)",
        per_iteration as f64 / CUSTOMERS as f64
    );
    g.throughput(Throughput::Elements(per_iteration));
    g.bench_function("transactions_1000_customer_days_1.5_per_day", |b| {
        b.iter(|| {
            out.clear();
            for i in 0..CUSTOMERS {
                transactions_on_day(&spec, black_box(i), 0, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
