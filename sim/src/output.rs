//! Loading scenario files, and `sim`'s one error type. Report files are written by
//! `testbed_report::files`.

use std::path::Path;
use testbed_core::CoreError;
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
    /// A report file could not be written or rendered.
    #[error(transparent)]
    Report(#[from] testbed_report::ReportError),
}

impl SimError {
    /// True when the input, not the machine, is at fault (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, SimError::Scenario { .. } | SimError::Read { .. } | SimError::Usage(_))
    }
}

/// Reads and validates a scenario file; errors read `file:line:col: …` or `file: key.path: …`.
pub fn load_scenario(path: &Path) -> Result<Scenario, SimError> {
    Ok(read_scenario(path)?.1)
}

/// The same, with the file's text (a shard carries it to the merge).
pub fn read_scenario(path: &Path) -> Result<(String, Scenario), SimError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| SimError::Read { path: shown.clone(), error })?;
    let sc = scenario::parse(&text).map_err(|error| SimError::Scenario { path: shown, error })?;
    Ok((text, sc))
}

/// `file:line:col: …` for syntax errors, `file: key.path: …` for the rest.
fn separator(e: &CoreError) -> &'static str {
    if matches!(e, CoreError::ScenarioSyntax { .. }) { ":" } else { ": " }
}
