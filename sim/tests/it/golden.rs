//! Golden reports: the committed scenarios' `report.json` and `report.md` under
//! `reports/examples/` must match a fresh run byte for byte, so any change in outcomes or in
//! the schema is seen in review. Regenerate with `UPDATE_GOLDEN=1 cargo test -p sim golden`.

use crate::*;
use testbed_core::report::{render_json, render_markdown};

fn check(scenario: &str) {
    let report = run_committed(&format!("{scenario}.toml"));
    let dir = repo_root().join("reports/examples").join(scenario);
    for (file, fresh) in [("report.json", render_json(&report)), ("report.md", render_markdown(&report))] {
        let path = dir.join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            golden == fresh,
            "{} differs from a fresh run; if the change is intended, run UPDATE_GOLDEN=1 cargo test -p sim golden",
            path.display()
        );
    }
}

#[test]
fn golden_messenger_2018_report_matches_a_fresh_run() {
    check("messenger-2018");
}

#[test]
fn golden_assistants_2018_report_matches_a_fresh_run() {
    check("assistants-2018");
}

#[test]
fn golden_design_direct_report_matches_a_fresh_run() {
    check("design-direct");
}

#[test]
fn golden_design_aggregator_report_matches_a_fresh_run() {
    check("design-aggregator");
}

#[test]
fn golden_design_minimised_report_matches_a_fresh_run() {
    check("design-minimised");
}

#[test]
fn golden_assistants_portfolio_report_matches_a_fresh_run() {
    check("assistants-portfolio");
}

#[test]
fn golden_design_push_report_matches_a_fresh_run() {
    check("design-push");
}
