//! `sim suite`: many scenarios, each in virtual time with its own seed, run in parallel; one
//! table, `suite.json` and JUnit XML; exit codes as k6 (99 when a threshold is breached).
//!
//! A scenario that cannot be loaded does not stop the others: it is reported as an error (in the
//! table, on stderr naming its file, in both files) and makes the suite exit 2, which wins over
//! 99. Results are in file order and hold no wall-clock times, so the files are the same
//! whatever `--jobs` is.

use crate::output::{SimError, load_scenario};
use crate::progress::Progress;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use testbed_core::report::{Report, Tool, Totals};
use testbed_core::scenario::{RequestKind, Scenario};
use testbed_core::thresholds::{self, Status, ThresholdResult};
use testbed_report::files::{write_atomically, write_reports};

/// Version of `suite.json`; bumped when a field changes meaning or disappears.
pub const SUITE_SCHEMA: &str = "testbed-suite/1";
pub const SUITE_JSON: &str = "suite.json";
pub const JUNIT_XML: &str = "junit.xml";
pub use testbed_report::exit::{BAD_INPUT as EXIT_BAD_INPUT, THRESHOLDS_BREACHED as EXIT_THRESHOLDS_BREACHED};

pub struct SuiteOptions {
    /// Scenarios run at once (at least 1).
    pub jobs: usize,
    pub out: PathBuf,
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStatus {
    Passed,
    /// At least one threshold breached.
    Failed,
    /// The scenario could not be loaded.
    Error,
}

/// `suite.json`.
#[derive(Debug, Serialize)]
pub struct SuiteReport {
    pub schema: String,
    pub tool: Tool,
    /// The exit code of `sim suite`: 0, 99 (a threshold breached) or 2 (a scenario in error).
    pub exit_code: u8,
    pub totals: SuiteTotals,
    pub scenarios: Vec<ScenarioEntry>,
}

#[derive(Debug, Default, Serialize)]
pub struct SuiteTotals {
    pub scenarios: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub thresholds: usize,
    pub thresholds_passed: usize,
    pub thresholds_breached: usize,
    pub thresholds_not_applicable: usize,
}

#[derive(Debug, Serialize)]
pub struct ScenarioEntry {
    /// The file as given (or found in a given folder).
    pub file: String,
    /// `None` when the file could not be loaded.
    pub name: Option<String>,
    pub seed: Option<u64>,
    pub status: ScenarioStatus,
    /// Why the scenario could not be loaded: one line naming the file and the place.
    pub error: Option<String>,
    /// Where its report files were written, relative to `suite.json`'s folder.
    pub reports: Option<String>,
    pub outcomes: Option<Totals>,
    /// Distinct customers exposed over all banks; `None` without a data phase.
    pub customers_exposed: Option<u64>,
    /// The highest p99 latency of any bank and request kind; `None` without one.
    pub worst_p99: Option<WorstLatency>,
    pub thresholds: Vec<ThresholdResult>,
}

#[derive(Debug, Serialize)]
pub struct WorstLatency {
    pub bank: String,
    pub request: RequestKind,
    pub p99_ms: f64,
}

/// The scenario files of a suite: every `*.toml` directly in a given folder, sorted by name,
/// and given files as they are (a missing one becomes a scenario in error, not a stop).
pub fn scenario_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, SimError> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let read_err = |error| SimError::Read { path: input.display().to_string(), error };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(input).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
                found.push(path);
            }
        }
        if found.is_empty() {
            return Err(SimError::Usage(format!("{}: no *.toml scenario files in this folder", input.display())));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Runs the suite, writes every report, `suite.json` and `junit.xml` under `opts.out`.
pub fn run_suite(files: &[PathBuf], opts: &SuiteOptions) -> Result<SuiteReport, SimError> {
    let mut loaded: Vec<Result<Scenario, String>> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let scenario = load_scenario(file).map_err(|e| e.to_string()).and_then(|sc| {
            // Reports go to <out>/<name>/: two scenarios may not share one folder.
            let earlier = loaded.iter().zip(files).take(i).find(|(l, _)| l.as_ref().is_ok_and(|o| o.name == sc.name));
            match earlier {
                Some((_, other)) => Err(format!(
                    "{}: scenario.name: `{}` is also the name of {}; names must differ within a suite",
                    file.display(),
                    sc.name,
                    other.display()
                )),
                None => Ok(sc),
            }
        });
        loaded.push(scenario);
    }

    let todo: Vec<(usize, &Scenario)> =
        loaded.iter().enumerate().filter_map(|(i, l)| l.as_ref().ok().map(|sc| (i, sc))).collect();
    let progress = Progress::new(todo.len() as u64, "suite", opts.quiet);
    let done = crate::jobs::in_order(
        &todo,
        opts.jobs,
        |&(_, sc)| {
            progress.set_message(sc.name.clone());
            crate::run(sc)
        },
        &|| progress.inc(),
    );
    let mut reports: Vec<Option<Report>> = loaded.iter().map(|_| None).collect();
    for (&(i, _), report) in todo.iter().zip(done) {
        reports[i] = Some(report);
    }
    progress.finish();

    let mut scenarios = Vec::new();
    for ((file, scenario), report) in files.iter().zip(&loaded).zip(reports) {
        let file = file.display().to_string();
        let entry = match (scenario, report) {
            (Ok(sc), Some(report)) => {
                let dir = opts.out.join(&sc.name);
                write_reports(&dir, &report)?;
                entry_for(file, sc, &report)
            }
            (Err(error), _) => ScenarioEntry {
                file,
                name: None,
                seed: None,
                status: ScenarioStatus::Error,
                error: Some(error.clone()),
                reports: None,
                outcomes: None,
                customers_exposed: None,
                worst_p99: None,
                thresholds: Vec::new(),
            },
            (Ok(_), None) => unreachable!("every loaded scenario was run"),
        };
        scenarios.push(entry);
    }
    let suite = summarise(scenarios);
    std::fs::create_dir_all(&opts.out)
        .map_err(|error| SimError::Write { path: opts.out.display().to_string(), error })?;
    let mut json = serde_json::to_string_pretty(&suite).expect("suite reports serialise");
    json.push('\n');
    write_atomically(&opts.out.join(SUITE_JSON), json.as_bytes())?;
    write_atomically(&opts.out.join(JUNIT_XML), junit_xml(&suite).as_bytes())?;
    Ok(suite)
}

fn entry_for(file: String, sc: &Scenario, report: &Report) -> ScenarioEntry {
    let thresholds = report.thresholds.clone().unwrap_or_default();
    let data = report.data.as_ref();
    ScenarioEntry {
        file,
        name: Some(sc.name.clone()),
        seed: Some(sc.seed),
        status: if thresholds::breached(&thresholds) > 0 { ScenarioStatus::Failed } else { ScenarioStatus::Passed },
        error: None,
        reports: Some(sc.name.clone()),
        outcomes: Some(report.totals.clone()),
        customers_exposed: data.map(|d| d.banks.iter().map(|b| b.customers_exposed).sum()),
        worst_p99: data.and_then(|d| {
            d.latency
                .iter()
                .filter(|r| r.latency.ok > 0)
                .max_by(|a, b| a.latency.p99_ms.total_cmp(&b.latency.p99_ms))
                .map(|r| WorstLatency { bank: r.bank.clone(), request: r.kind, p99_ms: r.latency.p99_ms })
        }),
        thresholds,
    }
}

fn summarise(scenarios: Vec<ScenarioEntry>) -> SuiteReport {
    let mut t = SuiteTotals { scenarios: scenarios.len(), ..SuiteTotals::default() };
    for s in &scenarios {
        match s.status {
            ScenarioStatus::Passed => t.passed += 1,
            ScenarioStatus::Failed => t.failed += 1,
            ScenarioStatus::Error => t.errors += 1,
        }
        for r in &s.thresholds {
            t.thresholds += 1;
            match r.status {
                Status::Passed => t.thresholds_passed += 1,
                Status::Breached => t.thresholds_breached += 1,
                Status::NotApplicable => t.thresholds_not_applicable += 1,
            }
        }
    }
    // Bad input wins over a breach: the suite did not test what it was meant to.
    let exit_code = if t.errors > 0 {
        EXIT_BAD_INPUT
    } else if t.failed > 0 {
        EXIT_THRESHOLDS_BREACHED
    } else {
        0
    };
    SuiteReport {
        schema: SUITE_SCHEMA.into(),
        tool: Tool::new("sim", env!("CARGO_PKG_VERSION")),
        exit_code,
        totals: t,
        scenarios,
    }
}

/// `3 passed, 1 breached, 1 not applicable`, leaving out zeros; `-` for none.
fn threshold_counts(results: &[ThresholdResult]) -> String {
    let parts: Vec<String> = [Status::Passed, Status::Breached, Status::NotApplicable]
        .into_iter()
        .map(|s| (s, results.iter().filter(|r| r.status == s).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

fn outcomes_line(t: &Totals) -> String {
    let parts: Vec<String> = [
        (t.agreements, "agreed"),
        (t.withdrawals, "withdrawn"),
        (t.timeouts, "timeout"),
        (t.unfinished, "unfinished"),
        (t.revocations, "revoked"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() { "-".into() } else { parts.join(", ") }
}

/// The terminal view: one table, then every breach and error in words.
pub fn render_table(suite: &SuiteReport) -> String {
    let mut table = testbed_report::terminal::table();
    table.set_header(["scenario", "outcomes", "customers exposed", "worst p99", "thresholds", "status"]);
    for s in &suite.scenarios {
        table.add_row([
            // A broken file by its file name; the error line on stderr gives the whole path.
            s.name.clone().unwrap_or_else(|| {
                Path::new(&s.file).file_name().map_or_else(|| s.file.clone(), |f| f.to_string_lossy().into_owned())
            }),
            s.outcomes.as_ref().map_or_else(|| "-".into(), outcomes_line),
            s.customers_exposed.map_or_else(|| "-".into(), |n| n.to_string()),
            s.worst_p99
                .as_ref()
                .map_or_else(|| "-".into(), |w| format!("{:.1}ms ({} {})", w.p99_ms, w.bank, w.request.as_str())),
            threshold_counts(&s.thresholds),
            match s.status {
                ScenarioStatus::Passed => "passed".into(),
                ScenarioStatus::Failed => "FAILED".into(),
                ScenarioStatus::Error => "ERROR".into(),
            },
        ]);
    }
    let mut out = format!("{table}\n");
    for s in &suite.scenarios {
        for r in s.thresholds.iter().filter(|r| r.status == Status::Breached) {
            let _ = writeln!(out, "breached: {}: {}", s.name.as_deref().unwrap_or(&s.file), r.message);
        }
    }
    let t = &suite.totals;
    let _ = writeln!(
        out,
        "{} scenarios: {} passed, {} failed, {} in error; thresholds: {} passed, {} breached, {} not applicable",
        t.scenarios,
        t.passed,
        t.failed,
        t.errors,
        t.thresholds_passed,
        t.thresholds_breached,
        t.thresholds_not_applicable
    );
    out
}

/// One line per threshold of a run, for the terminal.
pub use testbed_report::terminal::thresholds as render_thresholds;

/// JUnit XML: one `<testsuite>`, one `<testcase>` per scenario, a `<failure>` per breached
/// threshold, an `<error>` for a scenario that could not be loaded.
pub fn junit_xml(suite: &SuiteReport) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_junit(&mut w, suite).expect("writing to memory does not fail");
    let mut xml = String::from_utf8(w.into_inner()).expect("the writer was given UTF-8 only");
    xml.push('\n');
    xml
}

fn write_junit(w: &mut Writer<Vec<u8>>, suite: &SuiteReport) -> std::io::Result<()> {
    let t = &suite.totals;
    let (tests, failures, errors) = (t.scenarios.to_string(), t.failed.to_string(), t.errors.to_string());
    let counts = [("tests", tests.as_str()), ("failures", failures.as_str()), ("errors", errors.as_str())];
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("testsuites").with_attribute(("name", "sim suite")).with_attributes(counts).write_inner_content(
        |w| {
            w.create_element("testsuite")
                .with_attribute(("name", "sim suite"))
                .with_attributes(counts)
                .with_attribute(("skipped", "0"))
                .write_inner_content(|w| {
                    for s in &suite.scenarios {
                        write_testcase(w, s)?;
                    }
                    Ok(())
                })?;
            Ok(())
        },
    )?;
    Ok(())
}

fn write_testcase(w: &mut Writer<Vec<u8>>, s: &ScenarioEntry) -> std::io::Result<()> {
    let stem = Path::new(&s.file).file_stem().map_or_else(|| s.file.clone(), |f| f.to_string_lossy().into_owned());
    let name = s.name.clone().unwrap_or(stem);
    // `classname` is split at dots by some viewers, so the file (with its `.toml`) goes in `file`.
    let attributes = [("name", name.as_str()), ("classname", "sim suite"), ("file", s.file.as_str())];
    w.create_element("testcase").with_attributes(attributes).write_inner_content(|w| {
        if let Some(error) = &s.error {
            w.create_element("error")
                .with_attributes([("message", error.as_str()), ("type", "bad_input")])
                .write_text_content(BytesText::new(error))?;
        }
        for r in s.thresholds.iter().filter(|r| r.status == Status::Breached) {
            w.create_element("failure")
                .with_attributes([("message", r.message.as_str()), ("type", r.metric.as_str())])
                .write_text_content(BytesText::new(&r.message))?;
        }
        let mut log = String::new();
        if let Some(seed) = s.seed {
            let _ = writeln!(log, "seed {seed}");
        }
        log.push_str(&render_thresholds(&s.thresholds));
        if !log.is_empty() {
            w.create_element("system-out").write_text_content(BytesText::new(log.trim_end()))?;
        }
        Ok(())
    })?;
    Ok(())
}
