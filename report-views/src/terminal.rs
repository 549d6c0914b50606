//! The terminal summary of a run: the outcomes table, the sentences that head the data section,
//! the headline data tables (exposure by bank, latency) and the thresholds. `report.md` has every
//! table; this is what a person reads after a run.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use std::fmt::Write as _;
use testbed_core::report::{Report, SUMMARY_HEADER, data_tables, summary_row};
use testbed_core::thresholds::{Status, ThresholdResult};

/// A terminal table in the house style: condensed UTF-8 borders, columns fitted to the terminal
/// (160 wide when there is none, as in CI logs).
pub fn table() -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if table.width().is_none() {
        table.set_width(160);
    }
    table
}

/// The summary printed after a run.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let mut table = table();
    table.set_header(SUMMARY_HEADER);
    for n in &report.negotiations {
        table.add_row(summary_row(report, n));
    }
    let s = &report.scenario;
    let _ = writeln!(out, "{} (seed {}, {:?} time)", s.name, s.seed, report.mode);
    let _ = writeln!(out, "{table}");
    let t = &report.totals;
    let _ = writeln!(
        out,
        "{} negotiations: {} agreements, {} withdrawals, {} timeouts, {} unfinished, {} revoked",
        t.negotiations, t.agreements, t.withdrawals, t.timeouts, t.unfinished, t.revocations
    );
    for s in testbed_core::report::summary_sentences(report) {
        let _ = writeln!(out, "{s}");
    }
    // The terminal gets the headline tables; report.md has them all.
    for view in data_tables(report)
        .into_iter()
        .filter(|v| matches!(v.title, "Exposure by bank" | "Latency (from intended send time)"))
    {
        let mut table = self::table();
        table.set_header(view.header);
        for row in view.rows {
            table.add_row(row);
        }
        let _ = writeln!(out, "\n{}\n{table}", view.title);
    }
    out
}

/// One line per threshold: `ok`, `FAIL` or `n/a`, and what was observed.
pub fn thresholds(results: &[ThresholdResult]) -> String {
    let mut out = String::new();
    for r in results {
        let mark = match r.status {
            Status::Passed => "ok  ",
            Status::Breached => "FAIL",
            Status::NotApplicable => "n/a ",
        };
        let _ = writeln!(out, "{mark} {}", r.message);
    }
    out
}
