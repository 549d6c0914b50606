//! `testbed-report`: the views of a run's [`Report`](testbed_core::report::Report), for every
//! binary that writes them (`sim`, `platform-mock`): `report.html` ([`html`]), the terminal
//! summary ([`terminal`]), the report files, written whole or not at all ([`files`]), and the
//! exit codes a run ends with ([`exit`]).
//! `report.json`, `report.md` and `transcript.jsonl` are rendered by the report model itself
//! (`testbed_core::report`), which the mocks' own tests read back.
//!
//! It is not the result: it renders a finished `Report` and never computes a figure of its own.

pub mod exit;
pub mod files;
pub mod html;
pub mod terminal;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{path}: cannot write: {error}")]
    Write { path: String, error: std::io::Error },
    /// A view could not be rendered (a bug, not bad input).
    #[error("cannot render report.html: {0}")]
    Render(String),
}
