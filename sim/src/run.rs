//! A virtual-time run: the negotiation session (in `testbed-core`), then the data phase under
//! the agreements it reached (`exchange`), folded into one report.

use crate::exchange::{self, Exposed};
use testbed_core::report::{Report, Totals};
use testbed_core::scenario::Scenario;
use testbed_core::session::{Agreement, negotiate};

/// Runs `scenario` in virtual time and returns its report.
pub fn run(scenario: &Scenario) -> Report {
    run_with_exposure(scenario).0
}

/// Runs `scenario` and also returns what each agreement disclosed, per customer.
pub fn run_with_exposure(scenario: &Scenario) -> (Report, Exposed) {
    let session = negotiate(scenario, None);
    let (pairs, agreements): (Vec<usize>, Vec<Agreement>) = session.agreements.into_iter().unzip();
    let mut report = session.report;
    let mut exposed = Exposed::default();
    if let Some(data) = exchange::run(scenario, &agreements) {
        exposed = data.exposed;
        for (agreement, revocation) in data.revocations {
            report.negotiations[pairs[agreement]].revocation.get_or_insert(revocation);
        }
        report.timeline.extend(data.timeline);
        report.timeline.sort_by_key(|e| e.at_ms);
        report.totals = Totals::count(&report.negotiations);
        report.data = Some(data.report);
        report.designs = data.designs;
    }
    report.thresholds = testbed_core::thresholds::check_all(&scenario.thresholds, &report);
    (report, exposed)
}
