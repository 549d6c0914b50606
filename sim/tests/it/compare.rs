//! `sim compare`: two reports side by side, matched by name, with deltas and ratios; anything
//! but a report is refused with the file named.

use crate::*;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim")).current_dir(repo_root()).args(args).output().expect("sim runs")
}

fn write_scenario(dir: &Path, name: &str, table: &toml::Table) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml::to_string(table).unwrap()).unwrap();
    path
}

fn run_to(scenario: &Path, out: &Path) -> PathBuf {
    let run = sim(&["run", scenario.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    out.join("report.json")
}

fn short_data_phase(mut t: toml::Table) -> toml::Table {
    t["data"]["duration"] = toml::Value::String("2d".into());
    t
}

fn metric<'a>(c: &'a serde_json::Value, scope: &str, name: &str) -> &'a serde_json::Value {
    c["exposure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["scope"] == scope)
        .and_then(|e| e["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == name))
        .unwrap_or_else(|| panic!("no {name} for {scope}"))
}

#[test]
fn two_runs_of_one_scenario_compare_with_outcome_latency_and_exposure_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let a = short_data_phase(scenario_table("messenger-2018.toml"));
    let mut b = a.clone();
    // Fewer customers opt in, and the strict bank's trust floor drops so it negotiates instead.
    entry_mut(&mut b, "platforms", "messenger")["linking"]["opt_in_rate"] = toml::Value::Float(0.05);
    policy_mut(&mut b, "us-bank-like")["min_platform_trust"] = toml::Value::Float(0.4);
    let report_a = run_to(&write_scenario(dir.path(), "a", &a), &dir.path().join("a"));
    let report_b = run_to(&write_scenario(dir.path(), "b", &b), &dir.path().join("b"));
    let out = dir.path().join("cmp");
    let run = sim(&["compare", report_a.to_str().unwrap(), report_b.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("Exposure, all banks: customers"), "{stdout}");

    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(c["schema"], "testbed-compare/1");
    let customers = metric(&c, "all banks", "customers_exposed");
    let (ca, cb) = (customers["a"].as_f64().unwrap(), customers["b"].as_f64().unwrap());
    assert!(ca > 0.0 && cb < ca, "fewer opt-ins expose fewer customers: {ca} → {cb}");
    assert_eq!(customers["delta"].as_f64().unwrap(), cb - ca);
    assert!((customers["ratio"].as_f64().unwrap() - cb / ca).abs() < 1e-12);
    let score = metric(&c, "all banks", "weighted_score");
    assert!(score["b"].as_f64().unwrap() < score["a"].as_f64().unwrap());
    assert!(metric(&c, "messenger→citi-like", "unique_on_zip_dob_sex")["a"].is_number(), "uniqueness per agreement");

    let outcomes = c["outcomes"].as_array().unwrap();
    let pair = |bank: &str| outcomes.iter().find(|o| o["bank"] == bank).unwrap();
    assert_eq!(pair("us-bank-like")["a"]["clause"], "min_platform_trust");
    assert!(
        pair("us-bank-like")["changed"].as_array().unwrap().iter().any(|x| x == "clause"),
        "{}",
        pair("us-bank-like")
    );
    assert_eq!(pair("jpmorgan-like")["changed"].as_array().unwrap().len(), 0, "an unchanged pair says so");

    let latency = c["latency"].as_array().unwrap();
    let row = latency.iter().find(|l| l["bank"] == "citi-like" && l["kind"] == "balance_lookup").expect("latency row");
    let p99 = row["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == "p99_ms").unwrap();
    assert!(p99["a"].is_number() && p99["b"].is_number() && p99["delta"].is_number());

    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    for section in ["## Outcomes", "## Exposure by bank", "## Exposure by agreement", "## Latency"] {
        assert!(md.contains(section), "compare.md lacks {section}");
    }
}

#[test]
fn reports_of_different_scenarios_match_banks_by_name_and_show_the_missing_ones() {
    let a = negotiation_table("messenger-2018.toml");
    let mut b = a.clone();
    b["banks"].as_array_mut().unwrap().retain(|bank| bank["name"].as_str() != Some("wells-like"));
    let (ra, rb) = (run_table(&a), run_table(&b));
    let c = sim::compare::compare("a.json", &ra, "b.json", &rb);
    let wells = c.outcomes.iter().find(|o| o.bank == "wells-like").expect("a bank only A has is listed");
    assert!(wells.a.is_some() && wells.b.is_none());
    assert_eq!(wells.changed, ["missing"]);
    let md = sim::compare::render_markdown(&c);
    assert!(md.contains("| messenger→wells-like | withdrawal"), "{md}");
    assert!(md.contains("| missing |"), "{md}");
    assert!(sim::compare::headline(&c).contains("no data phase"), "no exposure to compare without a data phase");
}

#[test]
fn anything_but_a_report_is_refused_with_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(&good, testbed_core::report::render_json(&run_table(&negotiation_table("messenger-2018.toml"))))
        .unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cases = [
        (dir.path().join("absent.json").to_str().unwrap().to_string(), "cannot read".to_string()),
        (file("syntax.json", "{\n  \"schema\": \"testbed-report/1\",\n  oops\n}"), "syntax.json:3:3:".into()),
        (file("other.json", "{\"schema\": \"something-else/2\"}"), "schema is `something-else/2`".into()),
        (file("plain.json", "[1, 2, 3]"), "not a testbed-report/1 report".into()),
        (file("partial.json", "{\"schema\": \"testbed-report/1\"}"), "partial.json:1:".into()),
    ];
    for (path, expect) in cases {
        for args in [[path.as_str(), good.to_str().unwrap()], [good.to_str().unwrap(), path.as_str()]] {
            let out_dir = dir.path().join("out");
            let out = sim(&["compare", args[0], args[1], "--out", out_dir.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{path}: not one line: {stderr}");
            assert!(stderr.contains(&path), "{path}: the file is not named: {stderr}");
            assert!(stderr.contains(&expect), "{path}: expected `{expect}` in: {stderr}");
            assert!(!out_dir.exists(), "nothing written");
        }
    }
}
