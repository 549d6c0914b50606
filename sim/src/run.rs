//! A virtual-time run: the negotiation session (in `testbed-core`), then the data phase under
//! the agreements it reached (`exchange`), assembled into one report.

use crate::exchange;
use testbed_core::exposure::Exposed;
use testbed_core::negotiation::quality::UfunExport;
use testbed_core::report::{DataPart, Mode, Report, RunMeta, Tool, assemble};
use testbed_core::scenario::Scenario;
use testbed_core::session::{Agreement, SessionOutcome, negotiate};

/// What a virtual run produces: the report, and what a user may export beside it.
pub struct VirtualRun {
    pub report: Report,
    /// What each agreement disclosed, per customer (`--export-exposed`).
    pub exposed: Exposed,
    /// Each negotiation's utility functions outcome by outcome (`--export-ufuns`).
    pub ufuns: Vec<UfunExport>,
}

/// Runs `scenario` in virtual time and returns its report.
pub fn run(scenario: &Scenario) -> Report {
    run_virtual(scenario).report
}

/// Runs `scenario` in virtual time: the report, and the exports.
pub fn run_virtual(scenario: &Scenario) -> VirtualRun {
    after_negotiation(scenario, negotiate(scenario, None))
}

/// The data phase of `scenario` in virtual time under the agreements `session` reached, and the
/// report of both phases: what `sim run` does after its negotiations, and `sim play` after a
/// person's.
pub fn after_negotiation(scenario: &Scenario, session: SessionOutcome) -> VirtualRun {
    let data = exchange::run(scenario, &agreements(&session));
    report_of(scenario, session, data)
}

/// The agreements `session` reached, in its order.
pub fn agreements(session: &SessionOutcome) -> Vec<Agreement> {
    session.agreements.iter().map(|(_, a)| a.clone()).collect()
}

/// The report of `session` and the data phase under its agreements (`data`: one run's, or its
/// shards' merged), and the exports: one way for a run and a merge.
pub fn report_of(scenario: &Scenario, session: SessionOutcome, data: Option<exchange::DataOutcome>) -> VirtualRun {
    let pairs: Vec<usize> = session.agreements.iter().map(|(pair, _)| *pair).collect();
    let ufuns = (session.negotiation.negotiations.iter().zip(&session.preferences))
        .map(|(n, (platform, bank))| UfunExport::new((&n.platform, &n.bank), platform, bank))
        .collect();
    let mut exposed = Exposed::default();
    let data = data.map(|data| {
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
    VirtualRun { report: assemble(meta, session.negotiation, data, &scenario.thresholds), exposed, ufuns }
}
