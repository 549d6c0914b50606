//! Same scenario and seed, byte-identical `report.json`, through the real binary.

use crate::*;
use std::process::Command;

fn run_sim(args: &[&str], out: &Path) -> Vec<u8> {
    let status = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo_root())
        .args(["run", "scenarios/messenger-2018.toml", "--out"])
        .arg(out)
        .args(args)
        .output()
        .expect("sim runs");
    assert!(status.status.success(), "sim failed: {}", String::from_utf8_lossy(&status.stderr));
    std::fs::read(out.join("report.json")).expect("report.json written")
}

#[test]
fn the_same_scenario_and_seed_give_a_byte_identical_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_sim(&[], &dir.path().join("a"));
    let b = run_sim(&[], &dir.path().join("b"));
    assert_eq!(a, b);
    let c = run_sim(&["--seed", "7"], &dir.path().join("c"));
    let d = run_sim(&["--seed", "7"], &dir.path().join("d"));
    assert_eq!(c, d, "another seed is reproducible too");
    assert_ne!(a, c, "the seed reaches the timings");
    let report: testbed_core::report::Report = serde_json::from_slice(&c).unwrap();
    assert_eq!(report.scenario.seed, 7, "the report records the seed used");
    assert_eq!(report.schema, testbed_core::report::SCHEMA);
    assert_eq!(report.tool.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_run_writes_the_report_the_transcript_and_the_markdown_from_one_result() {
    let dir = tempfile::tempdir().unwrap();
    let json = run_sim(&[], dir.path());
    let report: testbed_core::report::Report = serde_json::from_slice(&json).unwrap();
    let transcript = std::fs::read_to_string(dir.path().join("transcript.jsonl")).unwrap();
    let moves: usize = report.negotiations.iter().map(|n| n.transcript.len()).sum();
    assert_eq!(transcript.lines().count(), moves + report.negotiations.len(), "every move plus one end line each");
    for line in transcript.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["platform"].is_string() && v["bank"].is_string());
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for n in &report.negotiations {
        assert!(md.contains(&format!("### {}→{}", n.platform, n.bank)));
    }
    assert!(md.contains("no_off_platform_data"));
    assert!(!dir.path().join("report.json.tmp").exists(), "no temporary files left behind");
}

#[test]
fn the_summary_table_names_pairs_outcomes_and_clauses() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo_root())
        .args(["run", "scenarios/messenger-2018.toml", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    for needle in
        ["pair", "time to outcome", "messenger→jpmorgan-like", "withdrawal", "no_off_platform_data", "agreement"]
    {
        assert!(stdout.contains(needle), "summary lacks {needle}:\n{stdout}");
    }
}

#[test]
fn export_exposed_writes_one_row_per_exposed_customer_with_quasi_identifiers_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("exposed.csv");
    let json = run_sim(&["--export-exposed", csv.to_str().unwrap()], &dir.path().join("out"));
    let report: testbed_core::report::Report = serde_json::from_slice(&json).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..6], ["platform", "bank", "customer", "zip5", "date_of_birth", "sex"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let exposed: u64 = report.data.as_ref().unwrap().flows.iter().map(|f| f.exposure.customers_exposed).sum();
    assert_eq!(rows.len() as u64, exposed, "one row per exposed customer and agreement");
    // The per-category sums in the file equal the report's records by category.
    for flow in &report.data.as_ref().unwrap().flows {
        for (category, records) in &flow.exposure.records_by_category {
            let col = header.iter().position(|h| h == category).unwrap();
            let sum: u64 = rows
                .iter()
                .filter(|r| r[0] == flow.platform && r[1] == flow.bank)
                .map(|r| r[col].parse::<u64>().unwrap())
                .sum();
            assert_eq!(sum, *records, "{} {} {category}", flow.platform, flow.bank);
        }
    }
}
