//! Integration tests of `sim`: whole scenarios through the runner and the binary.

mod bad_input;
mod compare;
mod designs;
mod determinism;
mod exchange;
mod golden;
mod html;
mod live;
mod outcomes;
mod play;
mod portfolio;
mod shards;
mod suite;
mod sweep;
mod tournament;

use std::path::{Path, PathBuf};
use testbed_core::report::{NegotiationReport, Report};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sim sits in the workspace").to_path_buf()
}

pub fn scenario_path(name: &str) -> PathBuf {
    repo_root().join("scenarios").join(name)
}

/// A committed scenario as a TOML table, to edit before running.
pub fn scenario_table(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(scenario_path(name)).expect("committed scenario");
    text.parse().expect("committed scenario parses")
}

pub fn run_table(table: &toml::Table) -> Report {
    // Edits may remove what a committed scenario's thresholds name (a clause, a bank); the
    // behaviour under test is the outcome, so the thresholds go.
    let mut table = table.clone();
    table.remove("thresholds");
    let text = toml::to_string(&table).expect("tables serialise");
    let scenario = testbed_core::scenario::parse(&text).expect("edited scenario is valid");
    sim::run(&scenario)
}

pub fn run_committed(name: &str) -> Report {
    let text = std::fs::read_to_string(scenario_path(name)).expect("committed scenario");
    sim::run(&testbed_core::scenario::parse(&text).expect("committed scenario is valid"))
}

/// A committed scenario without its data phase, for tests about negotiation alone.
pub fn negotiation_table(name: &str) -> toml::Table {
    let mut t = scenario_table(name);
    t.remove("data");
    t
}

/// The `[[banks]]` (or `[[platforms]]`) entry called `name`.
pub fn entry_mut<'a>(table: &'a mut toml::Table, list: &str, name: &str) -> &'a mut toml::Table {
    table[list]
        .as_array_mut()
        .expect("a list of tables")
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|t| t["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {list} entry named {name}"))
}

pub fn policy_mut<'a>(table: &'a mut toml::Table, bank: &str) -> &'a mut toml::Table {
    entry_mut(table, "banks", bank)["policy"].as_table_mut().expect("policy table")
}

pub fn negotiation<'a>(report: &'a Report, platform: &str, bank: &str) -> &'a NegotiationReport {
    report
        .negotiations
        .iter()
        .find(|n| n.platform == platform && n.bank == bank)
        .unwrap_or_else(|| panic!("no negotiation {platform}→{bank}"))
}

pub const DAY_MS: u64 = 86_400_000;
