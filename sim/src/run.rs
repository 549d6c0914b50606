//! A virtual-time run: the negotiation session (in `testbed-core`), then the data phase under
//! the agreements it reached (`exchange`), assembled into one report.

use crate::exchange;
use testbed_core::exposure::Exposed;
use testbed_core::report::{DataPart, Mode, Report, RunMeta, Tool, assemble};
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
    let mut exposed = Exposed::default();
    let data = exchange::run(scenario, &agreements).map(|data| {
        exposed = data.exposed;
        DataPart {
            report: data.report,
            // Audits name agreements; the report names negotiations.
            revocations: data.revocations.into_iter().map(|(agreement, r)| (pairs[agreement], r)).collect(),
            timeline: data.timeline,
            designs: data.designs,
        }
    });
    let meta = RunMeta { tool: Tool::new("sim", env!("CARGO_PKG_VERSION")), mode: Mode::Virtual, complete: true };
    (assemble(meta, session.negotiation, data, &scenario.thresholds), exposed)
}
