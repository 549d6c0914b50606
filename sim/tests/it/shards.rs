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

/// `name`'s text with every bank's API in `partitions` partitions, its workers and bursts
/// rounded up to split evenly; thresholds kept.
fn sharded_text(name: &str, partitions: i64) -> String {
    let mut table = scenario_table(name);
    for bank in table.get_mut("banks").and_then(toml::Value::as_array_mut).expect("banks") {
        let bank = bank.as_table_mut().expect("a bank is a table");
        let service = bank.entry("service").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let service = service.as_table_mut().expect("a table");
        service.insert("partitions".into(), toml::Value::Integer(partitions));
        if let Some(workers) = service.get("workers").and_then(toml::Value::as_integer) {
            let split = (workers + partitions - 1) / partitions * partitions;
            service.insert("workers".into(), toml::Value::Integer(split));
        }
    }
    toml::to_string(&table).expect("tables serialise")
}

fn sim_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(dir).args(args).output().expect("sim runs")
}

fn shard_dirs(dir: &std::path::Path, count: u32, seed: Option<&str>) -> Vec<String> {
    (0..count)
        .map(|i| {
            let out = format!("shard-{i}-of-{count}{}", seed.map_or(String::new(), |s| format!("-seed-{s}")));
            let mut args = vec!["run", "scenario.toml", "--quiet", "--out", &out];
            let spec = format!("{i}/{count}");
            args.extend(["--shard", &spec]);
            if let Some(seed) = seed {
                args.extend(["--seed", seed]);
            }
            let run = sim_in(dir, &args);
            assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
            out
        })
        .collect()
}

#[test]
fn the_shards_of_a_partitioned_scenario_merged_give_the_one_process_report_byte_for_byte() {
    for (name, count) in [("messenger-2018.toml", 2), ("design-direct.toml", 2), ("design-direct.toml", 3)] {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("scenario.toml"), sharded_text(name, i64::from(count))).expect("written");
        let whole = sim_in(dir.path(), &["run", "scenario.toml", "--quiet", "--out", "whole"]);
        let mut shards = shard_dirs(dir.path(), count, None);
        // Given in any order: the merge puts them in shard order.
        shards.reverse();
        let mut args = vec!["merge", "--out", "merged"];
        args.extend(shards.iter().map(String::as_str));
        let merged = sim_in(dir.path(), &args);
        assert_eq!(merged.status.code(), whole.status.code(), "{}", String::from_utf8_lossy(&merged.stderr));
        let read = |folder: &str, file: &str| std::fs::read(dir.path().join(folder).join(file)).expect("a report");
        let report: Report = serde_json::from_slice(&read("whole", "report.json")).expect("a report");
        let answered: u64 = report.data.as_ref().expect("a data phase").latency.iter().map(|r| r.latency.ok).sum();
        assert!(answered > 1_000, "{name}: {answered} answers");
        for file in ["report.json", "report.md", "transcript.jsonl"] {
            assert!(read("whole", file) == read("merged", file), "{name} in {count} shards: {file} differs");
        }
    }
}

#[test]
fn a_merge_refuses_a_missing_a_duplicate_and_a_foreign_shard_in_one_line_with_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("scenario.toml"), sharded_text("design-direct.toml", 2)).expect("written");
    let shards = shard_dirs(dir.path(), 2, None);
    let other_seed = shard_dirs(dir.path(), 2, Some("8"));
    let cases = [
        (vec![shards[0].as_str()], "missing shard 1/2 of scenario `design-direct`"),
        (vec![&shards[0], &shards[0], &shards[1]], "shard 0/2 given twice"),
        (vec![&shards[0], &other_seed[1]], "a shard of another run (seed 8)"),
        (vec![&shards[0], "renamed"], "flows[0]: a ledger of partition 0 of 2; shard 1/2 keeps partition 1 of 2"),
    ];
    // Shard 0's file, claiming to be shard 1.
    std::fs::create_dir(dir.path().join("renamed")).expect("a folder");
    let text = std::fs::read_to_string(dir.path().join(&shards[0]).join("shard.json")).expect("shard 0");
    let renamed = text.replacen(r#""shard":{"index":0,"count":2}"#, r#""shard":{"index":1,"count":2}"#, 1);
    assert_ne!(renamed, text, "the shard's index is in its file");
    std::fs::write(dir.path().join("renamed/shard.json"), renamed).expect("written");
    for (parts, says) in cases {
        let mut args = vec!["merge", "--out", "merged"];
        args.extend(parts);
        let merge = sim_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&merge.stderr);
        assert_eq!(merge.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!dir.path().join("merged").exists(), "nothing written");
    }
}

#[test]
fn a_shard_of_a_scenario_whose_banks_have_another_count_of_partitions_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("scenario.toml"), sharded_text("design-direct.toml", 2)).expect("written");
    let run = sim_in(dir.path(), &["run", "scenario.toml", "--shard", "0/4"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("banks[0].service.partitions: 2, but shard 0/4"), "{stderr}");
}

#[test]
fn k_and_the_unique_share_from_merged_shards_equal_those_of_the_one_process_runs_exported_customers() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(dir.path().join("scenario.toml"), sharded_text("design-direct.toml", 2)).expect("written");
    let whole =
        sim_in(dir.path(), &["run", "scenario.toml", "--quiet", "--out", "whole", "--export-exposed", "exposed.csv"]);
    assert!(whole.status.code().is_some_and(|c| c == 0 || c == 99), "{}", String::from_utf8_lossy(&whole.stderr));
    let shards = shard_dirs(dir.path(), 2, None);
    let merged = sim_in(dir.path(), &["merge", "--out", "merged", &shards[0], &shards[1]]);
    assert_eq!(merged.status.code(), whole.status.code(), "{}", String::from_utf8_lossy(&merged.stderr));
    // Equivalence classes on (ZIP5, date of birth, sex) per (platform, bank), from the CSV.
    let csv = std::fs::read_to_string(dir.path().join("exposed.csv")).expect("the export");
    let mut classes: std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, u64>> =
        Default::default();
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let qi = format!("{}|{}|{}", cols[3], cols[4], cols[5]);
        *classes.entry((cols[0].into(), cols[1].into())).or_default().entry(qi).or_default() += 1;
    }
    let report: Report = serde_json::from_slice(&std::fs::read(dir.path().join("merged/report.json")).expect("merged"))
        .expect("a report");
    let flows = &report.data.as_ref().expect("a data phase").flows;
    let exposing: Vec<_> = flows.iter().filter(|f| f.exposure.customers_exposed > 0).collect();
    assert_eq!(exposing.len(), classes.len(), "every exposing flow is in the export");
    for flow in exposing {
        let sizes = &classes[&(flow.platform.clone(), flow.bank.clone())];
        let exposed: u64 = sizes.values().sum();
        let unique = sizes.values().filter(|&&k| k == 1).count() as f64 / exposed as f64;
        assert_eq!(exposed, flow.exposure.customers_exposed, "{}/{}", flow.platform, flow.bank);
        assert_eq!(Some(*sizes.values().min().expect("a class")), flow.exposure.qi_min_k);
        assert_eq!(unique, flow.exposure.qi_unique_share, "{}/{}", flow.platform, flow.bank);
    }
}
