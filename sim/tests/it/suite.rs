//! `sim suite` and thresholds through the binary: exit codes as k6 (0, 99 on a breach, 2 on bad
//! input), `suite.json` and JUnit XML that parse, results in file order whatever `--jobs`, and
//! no progress bar when stderr is not a terminal. Fixtures live in `sim/tests/suites/`.

use crate::*;
use quick_xml::Reader;
use quick_xml::events::Event;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(repo_root()).args(args).output().expect("sim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn suite_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("suite.json")).expect("suite.json written"))
        .expect("suite.json is JSON")
}

/// The JUnit file, parsed: (testsuite count, testcases as (name, failure messages, has error)).
struct Junit {
    testsuites: usize,
    testcases: Vec<(String, Vec<String>, bool)>,
}

fn parse_junit(out: &Path) -> Junit {
    let xml = std::fs::read_to_string(out.join("junit.xml")).expect("junit.xml written");
    let mut reader = Reader::from_str(&xml);
    let mut junit = Junit { testsuites: 0, testcases: Vec::new() };
    let attr = |e: &quick_xml::events::BytesStart, key: &str| -> String {
        e.try_get_attribute(key)
            .expect("well-formed attributes")
            .map(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).expect("escaped properly").into_owned())
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testsuite" => junit.testsuites += 1,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "testcase" => {
                junit.testcases.push((attr(&e, "name"), Vec::new(), false));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "failure" => {
                junit.testcases.last_mut().expect("failure inside a testcase").1.push(attr(&e, "message"));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == "error" => {
                junit.testcases.last_mut().expect("error inside a testcase").2 = true;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    junit
}

#[test]
fn the_committed_scenarios_pass_as_a_suite_and_write_suite_json_and_junit_xml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("suite");
    // Every committed scenario but those at full scale (`*-full.toml`: a billion requests and
    // minutes each; bench/full-scale.sh runs them in shards).
    let mut committed: Vec<String> = std::fs::read_dir(repo_root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".toml") && !f.ends_with("-full.toml"))
        .collect();
    committed.sort();
    let mut args = vec!["suite".to_string(), "--out".into(), out.to_str().unwrap().into(), "--quiet".into()];
    args.extend(committed.iter().map(|f| format!("scenarios/{f}")));
    let run = sim(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.status.code(), Some(0), "stdout: {}\nstderr: {}", text(&run.stdout), text(&run.stderr));

    let json = suite_json(&out);
    assert_eq!(json["schema"], "testbed-suite/1");
    assert_eq!(json["exit_code"], 0);
    let scenarios = json["scenarios"].as_array().unwrap();
    let files: Vec<&str> = scenarios.iter().map(|s| s["file"].as_str().unwrap()).collect();
    let expected: Vec<String> = committed.iter().map(|f| format!("scenarios/{f}")).collect();
    assert_eq!(files, expected, "every committed scenario, in file-name order");
    assert!(scenarios.iter().all(|s| s["status"] == "passed"));
    assert!(json["totals"]["thresholds_passed"].as_u64().unwrap() > 0, "committed scenarios carry thresholds");
    assert_eq!(json["totals"]["thresholds_breached"], 0);

    let junit = parse_junit(&out);
    assert_eq!(junit.testsuites, 1);
    let names: Vec<&str> = junit.testcases.iter().map(|(n, _, _)| n.as_str()).collect();
    let scenario_names: Vec<&str> = scenarios.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, scenario_names);
    assert!(junit.testcases.iter().all(|(_, failures, error)| failures.is_empty() && !error));
    for name in scenario_names {
        let report = out.join(name).join("report.json");
        assert!(report.is_file(), "{} written", report.display());
    }
}

#[test]
fn an_impossible_threshold_makes_the_suite_exit_99_and_names_the_breach() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("suite");
    let run = sim(&["suite", "sim/tests/suites/passing", "sim/tests/suites/breached", "--out", out.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(99), "stdout: {stdout}\nstderr: {}", text(&run.stderr));
    assert!(
        stdout.contains("breached: impossible-thresholds: p99 latency of small-bank balance_lookup below 0.001ms"),
        "{stdout}"
    );
    assert!(stdout.contains("breached: impossible-thresholds: customers exposed by all banks below 0"), "{stdout}");

    let json = suite_json(&out);
    assert_eq!(json["exit_code"], 99);
    let failed = &json["scenarios"][2];
    assert_eq!((failed["name"].as_str(), failed["status"].as_str()), (Some("impossible-thresholds"), Some("failed")));
    let latency = &failed["thresholds"][1];
    assert_eq!(latency["status"], "breached");
    assert_eq!(latency["limit"], 0.001);
    assert!(latency["observed"].as_f64().unwrap() > 0.001, "observed vs limit: {latency}");
    // The not-applicable latency threshold of the refused deal does not fail it.
    assert_eq!(json["scenarios"][1]["status"], "passed");
    assert_eq!(json["totals"]["thresholds_not_applicable"], 1);

    let junit = parse_junit(&out);
    let (_, failures, _) = junit.testcases.iter().find(|(n, _, _)| n == "impossible-thresholds").unwrap();
    assert_eq!(failures.len(), 2, "one <failure> per breached threshold: {failures:?}");
    assert!(failures[0].contains("not below 0.001ms"), "{failures:?}");
}

#[test]
fn a_broken_scenario_makes_the_suite_exit_2_naming_its_file_while_the_others_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("suite");
    let broken = "sim/tests/suites/bad-thresholds/unknown_bank.toml";
    // A breach too: bad input (2) wins over a breached threshold (99).
    let run = sim(&[
        "suite",
        broken,
        "sim/tests/suites/breached",
        "sim/tests/suites/passing",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {broken}: thresholds[0].bank: no bank named `nowhere-bank`")),
        "{stderr}"
    );

    let json = suite_json(&out);
    let statuses: Vec<&str> =
        json["scenarios"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["error", "failed", "passed", "passed"]);
    assert!(json["scenarios"][0]["error"].as_str().unwrap().starts_with(broken));
    assert!(out.join("a-small-deal/report.json").is_file(), "the others ran and wrote their reports");

    let junit = parse_junit(&out);
    assert_eq!(junit.testcases.len(), 4);
    assert_eq!(junit.testcases[0].0, "unknown_bank");
    assert!(junit.testcases[0].2, "an <error> for the broken file");
}

#[test]
fn threshold_errors_name_the_file_and_the_place() {
    let dir = repo_root().join("sim/tests/suites/bad-thresholds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 5);
    for file in files {
        let expect = std::fs::read_to_string(&file).unwrap().lines().next().unwrap().replace("# expect: ", "");
        let rel = file.strip_prefix(repo_root()).unwrap().to_str().unwrap().to_string();
        let run = sim(&["validate", &rel]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{rel}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{rel}: one line: {stderr}");
        assert!(stderr.starts_with(&format!("error: {rel}:")), "{rel}: names the file: {stderr}");
        assert!(stderr.contains(&expect), "{rel}: expected `{expect}` in {stderr}");
        // Either `file:line:col: …` or `file: thresholds[i]…: …`.
        let place = stderr[format!("error: {rel}:").len()..].trim_start();
        assert!(place.starts_with("thresholds[") || place.starts_with(char::is_numeric), "{rel}: {stderr}");
    }
}

#[test]
fn suite_files_are_the_same_whatever_the_number_of_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let read = |jobs: &str| {
        let out = dir.path().join(format!("jobs-{jobs}"));
        let run = sim(&[
            "suite",
            "sim/tests/suites/breached",
            "sim/tests/suites/passing",
            "--jobs",
            jobs,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.status.code(), Some(99));
        let files = ["suite.json", "junit.xml", "a-small-deal/report.json"]
            .map(|f| std::fs::read_to_string(out.join(f)).unwrap());
        // The last line names the output folder, which differs on purpose.
        let stdout: Vec<String> =
            text(&run.stdout).lines().filter(|l| !l.starts_with("wrote ")).map(String::from).collect();
        (stdout, files)
    };
    assert_eq!(read("1"), read("3"));
}

#[test]
fn sim_run_checks_thresholds_records_them_and_exits_99_on_a_breach() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let run = sim(&["run", "sim/tests/suites/breached/impossible-thresholds.toml", "--out", out.to_str().unwrap()]);
    let stdout = text(&run.stdout);
    assert_eq!(run.status.code(), Some(99), "{stdout}");
    assert!(stdout.contains("FAIL p99 latency of small-bank balance_lookup below 0.001ms"), "{stdout}");
    assert!(stdout.contains("ok   small-bank agreed"), "{stdout}");
    assert!(text(&run.stderr).contains("2 threshold(s) breached"));
    let report: testbed_core::report::Report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let results = report.thresholds.expect("thresholds recorded in report.json");
    assert_eq!(testbed_core::thresholds::breached(&results), 2);

    let passing = sim(&["run", "sim/tests/suites/passing/a-small-deal.toml", "--out", out.to_str().unwrap()]);
    assert_eq!(passing.status.code(), Some(0), "{}", text(&passing.stderr));
}

#[test]
fn bad_suite_input_exits_2_naming_the_flag_or_folder() {
    let run = sim(&["suite", "scenarios/", "--jobs", "0"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("--jobs"), "{}", text(&run.stderr));
    let run = sim(&["suite", "sim/tests/suites"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("sim/tests/suites: no *.toml scenario files"), "{}", text(&run.stderr));
}

#[test]
fn no_progress_bar_is_drawn_when_stderr_is_not_a_terminal() {
    // The bar would appear at once (no one-second grace) if stderr were a terminal; here it is
    // a pipe, as in CI, so stderr must stay empty.
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["suite", "sim/tests/suites/passing"], vec!["run", "sim/tests/suites/passing/a-small-deal.toml"]] {
        let out = dir.path().join(args[0]);
        let run = Command::new(env!("CARGO_BIN_EXE_sim"))
            .current_dir(repo_root())
            .env("SIM_PROGRESS_AFTER", "0s")
            .args(&args)
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0), "{args:?}");
        assert_eq!(text(&run.stderr), "", "{args:?}: nothing but errors goes to stderr");
    }
}
