//! The exit codes of every binary that runs a scenario (`sim`, `platform-mock`), one set for
//! both, so that a CI script reads them the same way whichever tool ran.

use testbed_core::report::Report;

/// Bad input: a scenario that does not parse or validate, a bad flag, a missing file.
pub const BAD_INPUT: u8 = 2;

/// A scenario threshold was breached (k6's convention).
pub const THRESHOLDS_BREACHED: u8 = 99;

/// The run was interrupted (Ctrl-C): the report was written and says what ran, but it covers
/// less than was asked. 128 + SIGINT, the shell's code for a process stopped by Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// The exit code of a finished run: interrupted first (its thresholds were checked on part of
/// the run only), then breached thresholds, else success.
pub fn of_run(report: &Report, interrupted: bool) -> u8 {
    if interrupted {
        INTERRUPTED
    } else if report.thresholds.as_deref().is_some_and(|t| testbed_core::thresholds::breached(t) > 0) {
        THRESHOLDS_BREACHED
    } else {
        0
    }
}
