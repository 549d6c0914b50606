//! Progress bars on stderr for work that takes a while (runs, suites, sweeps).
//!
//! A bar appears only if the work is still going after [`REVEAL_AFTER`] (so quick runs print
//! nothing), only when stderr is a terminal (so CI logs and redirected output stay clean), and
//! never with `--quiet`. The environment variable `SIM_PROGRESS_AFTER` (a duration such as `0s`)
//! changes the delay, which is how the tests show that a bar stays hidden off a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Work shorter than this shows no bar at all.
pub const REVEAL_AFTER: Duration = Duration::from_secs(1);
const TICK: Duration = Duration::from_millis(100);

/// A progress bar (known total) or spinner (unknown), hidden until it has been running for a
/// second. Cheap to share between worker threads: every method takes `&self`.
pub struct Progress {
    bar: ProgressBar,
    /// Dropping the sender tells the reveal thread that the work is done.
    reveal: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

/// Whether a bar may be drawn at all: not with `--quiet`, not when stderr is a file or a pipe.
pub fn should_draw(quiet: bool, stderr_is_terminal: bool) -> bool {
    !quiet && stderr_is_terminal
}

impl Progress {
    /// A bar counting `total` steps, e.g. the scenarios of a suite or the points of a sweep.
    pub fn new(total: u64, label: &str, quiet: bool) -> Progress {
        let style = ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
            .expect("template is valid")
            .progress_chars("=> ");
        Progress::start(Some(total), style, label, quiet)
    }

    /// A spinner for work whose length is unknown, e.g. one run.
    pub fn spinner(label: &str, quiet: bool) -> Progress {
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}").expect("template is valid");
        Progress::start(None, style, label, quiet)
    }

    fn start(total: Option<u64>, style: ProgressStyle, label: &str, quiet: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        if !should_draw(quiet, std::io::stderr().is_terminal()) {
            return Progress { bar, reveal: Mutex::new(None) };
        }
        let (done, wait) = mpsc::channel::<()>();
        let shown = bar.clone();
        let after = reveal_after();
        let thread = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(after) {
                // indicatif's stderr target also hides itself when stderr is not a terminal.
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(TICK);
            }
        });
        Progress { bar, reveal: Mutex::new(Some((done, thread))) }
    }

    /// One more step done.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// What is going on now, shown after the bar.
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Ends the bar and clears its line, so the output that follows starts clean.
    pub fn finish(&self) {
        let reveal = self.reveal.lock().map(|mut r| r.take()).unwrap_or_default();
        if let Some((done, thread)) = reveal {
            drop(done);
            let _ = thread.join();
        }
        self.bar.finish_and_clear();
    }

    /// True while nothing is drawn (before the reveal, off a terminal, or quiet).
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn reveal_after() -> Duration {
    std::env::var("SIM_PROGRESS_AFTER")
        .ok()
        .and_then(|text| testbed_core::serde_duration::parse(&text).ok())
        .unwrap_or(REVEAL_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_only_on_a_terminal_and_without_quiet() {
        assert!(should_draw(false, true));
        assert!(!should_draw(true, true));
        assert!(!should_draw(false, false));
        assert!(!should_draw(true, false));
    }

    #[test]
    fn a_quiet_bar_stays_hidden_and_counts() {
        let p = Progress::new(3, "test", true);
        p.inc();
        p.inc();
        assert!(p.is_hidden());
        assert_eq!(p.bar.position(), 2);
        p.finish();
        p.finish(); // finishing twice (explicitly, then on drop) is harmless
    }
}
