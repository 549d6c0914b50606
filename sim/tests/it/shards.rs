//! Partitions and shards: a bank's partitions are independent parts of one run, so a run is
//! the union of its partitions simulated alone (the ground a sharded run and its merge stand on).

use crate::*;
use sim::exchange::{self, DataOutcome};
use std::collections::BTreeMap;
use testbed_core::report::DataReport;
use testbed_core::scenario::Scenario;
use testbed_core::session::{Agreement, negotiate};
use testbed_core::workload::Shard;

/// `name` with every bank's API split into `partitions` partitions.
fn partitioned(name: &str, partitions: i64) -> Scenario {
    let mut table = scenario_table(name);
    table.remove("thresholds");
    for bank in table.get_mut("banks").and_then(toml::Value::as_array_mut).expect("banks") {
        let bank = bank.as_table_mut().expect("a bank is a table");
        let service = bank.entry("service").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        service.as_table_mut().expect("a table").insert("partitions".into(), toml::Value::Integer(partitions));
    }
    testbed_core::scenario::parse(&toml::to_string(&table).expect("tables serialise")).expect("partitioned scenario")
}

fn data_phase(scenario: &Scenario, shard: Option<Shard>) -> DataReport {
    let agreements: Vec<Agreement> = negotiate(scenario, None).agreements.into_iter().map(|(_, a)| a).collect();
    let outcome: DataOutcome = exchange::run_shard(scenario, &agreements, shard).expect("a data phase");
    outcome.report
}

/// What adds up across partitions: per latency row (bank, kind) its requests, answers, errors
/// by kind and retries, and the answers' total latency; per flow its requests, the customers it
/// exposed and its records by category; per bank the requests it served.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    rows: BTreeMap<String, (u64, u64, BTreeMap<String, u64>, u64)>,
    latency_ms: BTreeMap<String, f64>,
    flows: BTreeMap<String, (u64, u64, BTreeMap<String, u64>)>,
    served: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, d: &DataReport) {
        for r in &d.latency {
            let key = format!("{}/{}", r.bank, r.kind.as_str());
            let row = self.rows.entry(key.clone()).or_default();
            row.0 += r.requests;
            row.1 += r.latency.ok;
            for (e, n) in &r.latency.errors {
                *row.2.entry(e.clone()).or_default() += n;
            }
            row.3 += r.latency.retries;
            *self.latency_ms.entry(key).or_default() += r.latency.mean_ms * r.latency.ok as f64;
        }
        for f in &d.flows {
            let flow = self.flows.entry(format!("{}/{}", f.platform, f.bank)).or_default();
            flow.0 += f.requests;
            flow.1 += f.exposure.customers_exposed;
            for (c, n) in &f.exposure.records_by_category {
                *flow.2.entry(c.clone()).or_default() += n;
            }
        }
        for b in &d.banks {
            *self.served.entry(b.bank.clone()).or_default() += b.requests_served;
        }
    }
}

#[test]
fn a_run_of_partitioned_banks_is_the_union_of_its_partitions_simulated_alone() {
    for name in ["messenger-2018.toml", "design-direct.toml", "design-push.toml"] {
        let scenario = partitioned(name, 2);
        let mut whole = Totals::default();
        whole.add(&data_phase(&scenario, None));
        let mut parts = Totals::default();
        for index in 0..2 {
            parts.add(&data_phase(&scenario, Some(Shard { index, count: 2 })));
        }
        assert!(whole.rows.values().map(|r| r.1).sum::<u64>() > 1_000, "{name}: {whole:?}");
        assert_eq!(whole.rows, parts.rows, "{name}");
        assert_eq!(whole.flows, parts.flows, "{name}");
        assert_eq!(whole.served, parts.served, "{name}");
        for (key, total) in &whole.latency_ms {
            let relative = (total - parts.latency_ms[key]).abs() / total.max(1e-9);
            assert!(relative < 1e-9, "{name} {key}: {total} ms in all, {} in the parts", parts.latency_ms[key]);
        }
    }
}
