//! The report files of a run, each written through a temporary file and a rename, so a reader
//! never sees half a file and a failed run leaves the previous files whole.

use crate::ReportError;
use crate::html::render_html;
use std::path::{Path, PathBuf};
use testbed_core::report::{Report, render_json, render_markdown, render_transcript};

/// The files a run writes, relative to its output folder.
pub const REPORT_JSON: &str = "report.json";
pub const REPORT_MD: &str = "report.md";
pub const TRANSCRIPT_JSONL: &str = "transcript.jsonl";
pub const REPORT_HTML: &str = "report.html";

/// Writes every report file into `dir`; returns their paths.
pub fn write_reports(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|error| ReportError::Write { path: dir.display().to_string(), error })?;
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

/// Writes `bytes` to `path` through `path.<ext>.tmp` and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let err = |error| ReportError::Write { path: path.display().to_string(), error };
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or_default()));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
