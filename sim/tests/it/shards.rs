//! Partitions and shards: a bank's partitions are independent parts of one run, so a run is
//! its partitions simulated alone and merged in partition order (the ground a sharded run and
//! its merge stand on).

use crate::*;
use sim::exchange::{self, DataOutcome};
use testbed_core::report::{BankTally, LatencyTable};
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

fn agreements(scenario: &Scenario) -> Vec<Agreement> {
    negotiate(scenario, None).agreements.into_iter().map(|(_, a)| a).collect()
}

#[test]
fn a_run_of_partitioned_banks_is_its_partitions_run_alone_merged_in_partition_order() {
    for name in ["messenger-2018.toml", "design-direct.toml", "design-push.toml", "design-minimised.toml"] {
        let scenario = partitioned(name, 2);
        assert_eq!(Shard { index: 0, count: 2 }.refusal(&scenario), None, "{name} may run in shards");
        let agreements = agreements(&scenario);
        let whole: DataOutcome = exchange::run_shard(&scenario, &agreements, None).expect("a data phase");
        let shards: Vec<DataOutcome> = (0..2)
            .map(|index| exchange::run_shard(&scenario, &agreements, Some(Shard { index, count: 2 })).unwrap())
            .collect();
        // The latency rows, every field: percentiles, mean, interval, errors, retries, span.
        let mut latency = LatencyTable::new(scenario.banks.len());
        for shard in &shards {
            latency.merge(&shard.latency);
        }
        let rows = latency.rows(&scenario, |row| row.last.since(row.first));
        assert!(rows.iter().map(|r| r.latency.ok).sum::<u64>() > 1_000, "{name}: {rows:?}");
        assert_eq!(rows, whole.report.latency, "{name}");
        // What each platform received, every figure of its exposure summary.
        let weights = scenario.data.as_ref().expect("a data phase").sensitivity_weights;
        let parts: Vec<Vec<_>> = shards.iter().map(|s| s.exposed.ledgers().collect()).collect();
        for (i, (party, bank, ledger)) in whole.exposed.ledgers().enumerate() {
            let mut merged = parts[0][i].2.clone();
            merged.merge(parts[1][i].2);
            let spec = scenario.population_spec(bank);
            assert_eq!(merged.summarize(&spec, party, weights), ledger.summarize(&spec, party, weights), "{name}");
        }
        // Each bank's queue figures, partition by partition: served, mean wait, mean number in
        // the bank, utilisation.
        for (b, row) in whole.report.banks.iter().enumerate() {
            let mut queue = shards[0].queues[b].clone();
            queue.merge(&shards[1].queues[b]);
            let merged = BankTally::of(&queue);
            let whole_row = (row.requests_served, row.mean_wait_ms, row.mean_in_system, row.utilisation);
            let merged_row = (merged.requests_served, merged.mean_wait_ms, merged.mean_in_system, merged.utilisation);
            assert_eq!(merged_row, whole_row, "{name} {}", row.bank);
        }
    }
}
