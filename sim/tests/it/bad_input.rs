//! Bad input gets one line naming the place and what is allowed, exit code 2, no panic and no
//! report. Each file under `sim/tests/broken/` opens with `# expect: <text the error contains>`.

use crate::*;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(repo_root()).args(args).output().expect("sim runs")
}

fn broken_files() -> Vec<PathBuf> {
    let dir = repo_root().join("sim/tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("broken scenarios folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_broken_scenario_gets_a_one_line_error_naming_the_place_and_exit_code_2() {
    let files = broken_files();
    assert!(files.len() >= 8, "at least eight broken scenarios, found {}", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks its `# expect:` line", file.display()));
        let rel = file.strip_prefix(repo_root()).unwrap().to_str().unwrap().to_string();
        let out = sim(&["validate", &rel]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rel}: exit code, stderr: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{rel}: not one line: {stderr}");
        assert!(stderr.starts_with(&format!("error: {rel}:")), "{rel}: does not name the file: {stderr}");
        assert!(stderr.contains(expect), "{rel}: expected `{expect}` in: {stderr}");
        assert!(!stderr.contains("panicked"), "{rel}: {stderr}");
    }
}

#[test]
fn a_broken_scenario_writes_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = sim(&["run", "sim/tests/broken/reservation_out_of_range.toml", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out_dir.exists(), "nothing written for a scenario that failed validation");
}

#[test]
fn a_missing_file_and_a_bad_flag_are_bad_input_too() {
    let out = sim(&["run", "scenarios/no-such-file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scenarios/no-such-file.toml: cannot read"));
    let out = sim(&["run", "scenarios/messenger-2018.toml", "--seed", "minus-one"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seed"));
}

#[test]
fn the_committed_scenarios_validate() {
    let out = sim(&["validate", "scenarios/messenger-2018.toml", "scenarios/assistants-2018.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn a_run_above_its_budget_is_refused_in_one_line_naming_the_key_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = dir.path().to_str().unwrap().to_string() + "/out";
    let refused = sim(&["run", "scenarios/design-direct.toml", "--out", &out, "--max-requests", "1000"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: scenarios/design-direct.toml: platforms[0].workload[0].per_customer_per_day: the run would simulate up to"),
        "{stderr}"
    );
    assert!(
        stderr.contains("above the budget of 1000; raise it with --max-requests or [data] max_requests"),
        "{stderr}"
    );
    assert!(!out_dir.exists(), "nothing written for a run over its budget");
    let memory = sim(&["run", "scenarios/design-direct.toml", "--out", &out, "--max-memory-mb", "1"]);
    let stderr = String::from_utf8_lossy(&memory.stderr);
    assert_eq!(memory.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("above the budget of 1 MB; raise it with --max-memory-mb"), "{stderr}");
}

#[test]
fn validate_prints_the_estimated_requests_and_peak_memory() {
    let out = sim(&["validate", "scenarios/design-direct.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("; about 774060 simulated requests at most, peak memory about"), "{stdout}");
}

#[test]
fn validate_warns_when_sim_run_would_refuse_the_scenario_at_the_default_budget() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    let text = std::fs::read_to_string(repo_root().join("scenarios/design-direct.toml")).unwrap();
    std::fs::write(&path, text.replace("customers = 4000", "customers = 100000000")).unwrap();
    let out = sim(&["validate", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "valid, only large: {stderr}");
    assert!(stderr.starts_with("warning: `sim run` refuses it at the default budget: "), "{stderr}");
    assert!(stderr.contains("banks[0].population.customers: the run would"), "{stderr}");
    // A scenario within the budget gets no warning.
    assert!(sim(&["validate", "scenarios/design-direct.toml"]).stderr.is_empty());
}

#[test]
fn sim_play_refuses_a_seat_that_is_no_party_and_a_page_off_loopback_in_one_line() {
    for (args, expected) in [
        (
            &["play", "scenarios/live-demo.toml", "--as", "nobody"][..],
            "error: --as `nobody` is no platform or bank of the scenario (allowed: demo-platform, demo-bank, limited-bank)",
        ),
        (
            &["play", "scenarios/live-demo.toml", "--as", "demo-bank", "--listen", "0.0.0.0:0"][..],
            "error: --listen 0.0.0.0:0: sim play serves on loopback only (127.0.0.1)",
        ),
        (
            &["play", "scenarios/live-demo.toml", "--as", "demo-bank", "--out", "README.md/play"][..],
            "error: --out README.md/play: cannot make the folder: Not a directory (os error 20)",
        ),
        (
            &["play", "scenarios/live-demo.toml", "--as", "demo-bank", "--max-requests", "10"][..],
            "error: scenarios/live-demo.toml: platforms[0].workload[0].per_customer_per_day: the run would simulate",
        ),
    ] {
        let out = sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    }
    let out = sim(&["play", "scenarios/live-demo.toml", "--as", "demo-bank", "--idle-timeout", "0s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0s is shorter than the allowed 1s"));
}
