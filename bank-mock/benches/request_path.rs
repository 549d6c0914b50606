//! The per-response work of the bank, without HTTP: the consent and terms decision, building
//! the filtered records of a ~1 KB transactions page, serialising it, and exposure accounting;
//! once through `TransactionRecord`s and serde, once as the server does it (records written
//! straight from the transactions).
//! Run: `cargo bench -p bank-mock --bench request_path`.

use bank_mock::api::{self, Consent, DataRequest, Resource};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testbed_core::SimTime;
use testbed_core::exposure::PairLedger;
use testbed_core::population::{self, PopulationSpec};
use testbed_core::terms::{ConsentMode, DataCategory, Purpose, Terms};

fn bench(c: &mut Criterion) {
    let terms = Terms {
        categories: DataCategory::AccountBasic.bit()
            | DataCategory::Balances.bit()
            | DataCategory::TransactionsBasic.bit()
            | DataCategory::TransactionsDetail.bit(),
        purposes: Purpose::Commerce.bit() | Purpose::BalanceDisplay.bit(),
        retention_days: Some(90),
        onward_sharing: "none".into(),
        consent_mode: ConsentMode::OptIn,
        authorisation_days: None,
    };
    let mut consent = Consent::new("1".into(), "p".into(), &terms, SimTime::ZERO);
    consent.authorise();
    let spec =
        PopulationSpec { seed: 1, bank: "b".into(), size: 1000, transactions_per_day: 3.0, on_platform_share: 0.5 };
    // A page of about 1 KB: the on-platform transactions of a few days.
    let mut txns = Vec::new();
    for day in 0..3 {
        population::transactions_on_day(&spec, 7, day, &mut txns);
    }
    let resource = Resource::Transactions { from_ms: 0, to_ms: 3 * 86_400_000 };
    let request =
        DataRequest { resource, purpose: Purpose::Commerce, wants: resource.fields(), wants_off_platform: true };
    let mut ledger = PairLedger::new(1000);
    let grant = api::authorize(&consent, &terms, &request, SimTime::ZERO).unwrap();
    let page = serde_json::to_vec(&api::transaction_records(&grant, "card-b-7", &txns)).unwrap();
    eprintln!(
        "page: {} records, {} bytes of JSON",
        api::transaction_records(&grant, "card-b-7", &txns).len(),
        page.len()
    );
    let mut g = c.benchmark_group("request_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("authorize_filter_serialise_account_1kb_page", |b| {
        b.iter(|| {
            let grant = api::authorize(&consent, &terms, &request, SimTime::ZERO).unwrap();
            let records = api::transaction_records(&grant, "card-b-7", &txns);
            let json = serde_json::to_vec(&records).unwrap();
            ledger.disclose(0, 7, Purpose::Commerce, grant.fields, records.len() as u64, 0);
            black_box(json.len())
        })
    });
    // What the HTTP server does per page: records written as bytes straight from the
    // transactions into a reused buffer (same bytes as the JSON value), then counted.
    let mut out = Vec::with_capacity(4096);
    g.bench_function("authorize_filter_write_account_1kb_page_as_served", |b| {
        b.iter(|| {
            let grant = api::authorize(&consent, &terms, &request, SimTime::ZERO).unwrap();
            out.clear();
            let mut records = 0;
            for view in api::transaction_views(&grant, "card-b-7", &txns) {
                out.push(if records == 0 { b'[' } else { b',' });
                view.write_json(&mut out);
                records += 1;
            }
            out.push(b']');
            ledger.disclose(0, 7, Purpose::Commerce, grant.fields, records, 0);
            black_box(out.len())
        })
    });
    g.bench_function("authorize_only", |b| {
        b.iter(|| black_box(api::authorize(&consent, &terms, &request, SimTime::ZERO).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
