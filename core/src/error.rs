use thiserror::Error;

/// Every way a core operation can be refused. Domain outcomes (a withdrawal, a timeout, a
/// refused data request) are values, not errors: these are misuse and invalid input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    #[error("invalid issue space: {0}")]
    InvalidSpace(String),
    #[error("invalid utility: {0}")]
    InvalidUtility(String),
    #[error("invalid distribution: {0}")]
    InvalidDistribution(String),
    #[error("protocol: {0}")]
    Protocol(String),
    /// A scenario file that does not parse; `line` and `column` are 1-based.
    #[error("{line}:{column}: {message}")]
    ScenarioSyntax { line: usize, column: usize, message: String },
    /// A scenario file that parses but says something impossible; `path` is the key path.
    #[error("{path}: {message}")]
    ScenarioInvalid { path: String, message: String },
}
