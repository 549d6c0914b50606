//! `sim sweep`: a grid of scenario keys × seeds, one CSV row per run, an HTML chart per output;
//! bad flags are refused before any run with the flag named.

use crate::*;
use std::collections::BTreeMap;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(repo_root()).args(args).output().expect("sim runs")
}

/// Header and rows of a CSV without quoted fields (the sweep's own values never need quotes).
fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let text = std::fs::read_to_string(path).expect("sweep.csv written");
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("a header").split(',').map(str::to_string).collect();
    let rows = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "row as wide as the header: {l}");
            header.iter().cloned().zip(cells.iter().map(|c| c.to_string())).collect()
        })
        .collect();
    (header, rows)
}

const TRUST: &str = "platforms[messenger].trust";

#[test]
fn a_trust_sweep_writes_a_row_per_grid_point_and_seed_and_withdrawals_do_not_fall_as_trust_falls() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let run = sim(&[
        "sweep",
        "scenarios/messenger-2018.toml",
        "--set",
        &format!("{TRUST}=0..1:0.25"),
        // A short data phase: the negotiations are what this test is about.
        "--set",
        "data.duration=1d",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "stderr: {stderr}");
    let (header, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(&header[..3], [TRUST, "data.duration", "seed"]);
    for column in ["withdrawals", "withdrawal_rate", "customers_exposed", "records_exposed", "p99_ms"] {
        assert!(header.iter().any(|h| h == column), "no {column} column in {header:?}");
    }
    for bank in ["jpmorgan-like", "citi-like", "wells-like", "us-bank-like"] {
        assert!(header.contains(&format!("outcome[{bank}]")), "no outcome column for {bank}");
        assert!(header.contains(&format!("withdrawn[{bank}]")), "no withdrawn column for {bank}");
    }
    assert_eq!(rows.len(), 5 * 2, "one row per grid point and seed");
    let trusts: Vec<&str> = rows.iter().map(|r| r[TRUST].as_str()).collect();
    assert_eq!(trusts, ["0", "0", "0.25", "0.25", "0.5", "0.5", "0.75", "0.75", "1", "1"]);
    let seeds: Vec<&str> = rows.iter().take(2).map(|r| r["seed"].as_str()).collect();
    assert_eq!(seeds, ["2018", "2019"], "the scenario's seed, then the next");

    // Mean withdrawals per trust value, from the highest trust down.
    let mut by_trust: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in &rows {
        by_trust.entry(r[TRUST].clone()).or_default().push(r["withdrawals"].parse().unwrap());
    }
    let mut means: Vec<(f64, f64)> =
        by_trust.iter().map(|(t, w)| (t.parse().unwrap(), w.iter().sum::<f64>() / w.len() as f64)).collect();
    means.sort_by(|a, b| b.0.total_cmp(&a.0));
    for pair in means.windows(2) {
        assert!(
            pair[1].1 >= pair[0].1,
            "withdrawals fell as trust fell from {} to {}: {means:?}",
            pair[0].0,
            pair[1].0
        );
    }
    assert_eq!(means.last().unwrap().1, 4.0, "with no trust at all every bank walks away");
    assert!(means[0].1 < 4.0, "with full trust some bank stays: {means:?}");

    let html = std::fs::read_to_string(out.join("sweep.html")).expect("sweep.html written");
    assert!(html.matches("<svg").count() >= 4, "a chart per default output");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external URL in sweep.html");
    assert!(!html.contains("<script") && !html.contains("<link"), "nothing to fetch");
    assert!(html.contains("95% confidence interval"), "the page says what the band is");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("5 grid points × 2 seeds = 10 runs"), "{stdout}");
}

#[test]
fn the_csv_is_the_same_whatever_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let csv = |jobs: &str| {
        let out = dir.path().join(format!("jobs-{jobs}"));
        let run = sim(&[
            "sweep",
            "scenarios/messenger-2018.toml",
            "--set",
            &format!("{TRUST}=0.5,1"),
            "--set",
            "data.duration=1d",
            "--seeds",
            "2",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        std::fs::read(out.join("sweep.csv")).unwrap()
    };
    assert_eq!(csv("1"), csv("3"));
}

#[test]
fn two_sets_run_the_full_grid_and_integer_ranges_stay_integers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid");
    let run = sim(&[
        "sweep",
        "scenarios/messenger-2018.toml",
        "--set",
        &format!("{TRUST}=0.5,1"),
        // deadline_rounds is an integer in the format: a float here would be refused.
        "--set",
        "platforms[messenger].deadline_rounds=10..30:10",
        "--set",
        "data.duration=1d",
        "--metric",
        "agreements",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let (_, rows) = read_csv(&out.join("sweep.csv"));
    let grid: Vec<(String, String)> =
        rows.iter().map(|r| (r[TRUST].clone(), r["platforms[messenger].deadline_rounds"].clone())).collect();
    let expected: Vec<(String, String)> = ["0.5", "1"]
        .iter()
        .flat_map(|t| ["10", "20", "30"].iter().map(move |d| (t.to_string(), d.to_string())))
        .collect();
    assert_eq!(grid, expected);
    let html = std::fs::read_to_string(out.join("sweep.html")).unwrap();
    assert!(html.contains("platforms[messenger].deadline_rounds=10"), "one line per value of the second key");
}

#[test]
fn bad_sweep_flags_exit_2_with_one_line_naming_the_flag_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--set", "platforms[messenger].trst=0..1:0.5"], &["--set", "platforms[messenger].trst", "no such key"]),
        (&["--set", "nosuch.key=1"], &["--set", "nosuch.key"]),
        (&["--set", "banks[no-bank].policy.reservation=0..1:0.5"], &["--set", "banks[no-bank]", "jpmorgan-like"]),
        (&["--set", "platforms.trust=0..1:0.5"], &["--set", "platforms[NAME]"]),
        (&["--set", "platforms[messenger].trust=0..1"], &["--set", "FROM..TO:STEP"]),
        (&["--set", "platforms[messenger].trust=0..one:0.5"], &["--set", "FROM..TO:STEP"]),
        (&["--set", "platforms[messenger].trust"], &["--set", "KEY=FROM..TO:STEP"]),
        (&["--set", "platforms[messenger].trust=0..1:0"], &["--set", "STEP must not be 0"]),
        (&["--set", "platforms[messenger].trust=1..0:0.1"], &["--set", "negative"]),
        (&["--set", "platforms[messenger].trust=0..2:1"], &["--set platforms[messenger].trust=2", "outside 0..=1"]),
        (&["--set", "platforms[messenger].deadline_rounds=0.5"], &["--set", "deadline_rounds", "expected u32"]),
        (&["--set", "platforms[messenger].trust=0.5", "--metric", "nosuch"], &["--metric nosuch", "withdrawal_rate"]),
        (&["--set", "platforms[messenger].trust=0.5", "--seeds", "0"], &["--seeds"]),
    ];
    for (i, (args, expect)) in cases.iter().enumerate() {
        let out_dir = dir.path().join(format!("case-{i}"));
        let mut all = vec!["sweep", "scenarios/messenger-2018.toml", "--out", out_dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = sim(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: stderr: {stderr}");
        if !args.contains(&"--seeds") {
            // clap's own usage errors are several lines; ours are one.
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: not one line: {stderr}");
        }
        for e in *expect {
            assert!(stderr.contains(e), "{args:?}: expected `{e}` in: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!out_dir.exists(), "{args:?}: nothing written for bad flags");
    }
}
