//! Loading scenario files and writing report files: the only file I/O of a run.

use crate::html::render_html;
use std::path::{Path, PathBuf};
use testbed_core::CoreError;
use testbed_core::report::{Report, render_json, render_markdown, render_transcript};
use testbed_core::scenario::{self, Scenario};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SimError {
    #[error("{path}: cannot read: {error}")]
    Read { path: String, error: std::io::Error },
    /// A scenario that does not parse or validate: the caller's input is wrong.
    #[error("{path}{}{error}", separator(error))]
    Scenario { path: String, error: CoreError },
    #[error("{path}: cannot write: {error}")]
    Write { path: String, error: std::io::Error },
    /// Flags that do not go together.
    #[error("{0}")]
    Usage(String),
    /// A report view could not be rendered (a bug, not bad input).
    #[error("cannot render report.html: {0}")]
    Render(String),
}

impl SimError {
    /// True when the input, not the machine, is at fault (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, SimError::Scenario { .. } | SimError::Read { .. } | SimError::Usage(_))
    }
}

/// Reads and validates a scenario file; errors read `file:line:col: …` or `file: key.path: …`.
pub fn load_scenario(path: &Path) -> Result<Scenario, SimError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| SimError::Read { path: shown.clone(), error })?;
    scenario::parse(&text).map_err(|error| SimError::Scenario { path: shown, error })
}

/// `file:line:col: …` for syntax errors, `file: key.path: …` for the rest.
fn separator(e: &CoreError) -> &'static str {
    if matches!(e, CoreError::ScenarioSyntax { .. }) { ":" } else { ": " }
}

/// The files a run writes, relative to its output folder.
pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const TRANSCRIPT_JSONL: &str = "transcript.jsonl";
pub const REPORT_HTML: &str = "report.html";

/// Writes every report file into `dir`, each through a temporary file and a rename, so a
/// reader never sees half a file and a failed run leaves the previous files whole.
pub fn write_reports(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, SimError> {
    std::fs::create_dir_all(dir).map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
    let files = [
        (REPORT_JSON, render_json(report)),
        (REPORT_MD, render_markdown(report)),
        (TRANSCRIPT_JSONL, render_transcript(report)),
        (REPORT_HTML, render_html(report)?),
    ];
    let mut written = Vec::new();
    for (name, content) in files {
        let path = dir.join(name);
        write_atomically(&path, content.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let err = |error| SimError::Write { path: path.display().to_string(), error };
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or_default()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
