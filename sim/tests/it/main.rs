//! Integration tests of `sim`: whole scenarios through the runner and the binary.

mod bad_input;
mod compare;
mod determinism;
mod exchange;
mod golden;
mod live;
mod outcomes;
mod sweep;

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
    let text = toml::to_string(table).expect("tables serialise");
    let scenario = testbed_core::scenario::parse(&text).expect("edited scenario is valid");
    sim::run(&scenario)
}

pub fn run_committed(name: &str) -> Report {
    run_table(&scenario_table(name))
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
