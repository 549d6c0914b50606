//! The one place a [`Report`] is put together: from what the negotiation session found, what
//! the data phase found (if it ran) and what the caller says about the run (which tool, which
//! mode, whether it ran to the end). Nothing patches a report afterwards, so the timeline is
//! sorted, the totals counted and the thresholds checked exactly once, on the final figures.

use super::{
    BankInfo, DataReport, DesignReport, IssueInfo, Mode, NegotiationReport, PlatformInfo, Report, Revocation, SCHEMA,
    ScenarioInfo, TimelineEntry, Tool, Totals,
};
use crate::thresholds::{Threshold, check_all};

/// What only the caller knows about a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMeta {
    pub tool: Tool,
    pub mode: Mode,
    /// False when the run was cut short or abandoned requests.
    pub complete: bool,
}

/// What the negotiation session found (`session::negotiate`): everything a report says before
/// any data flowed. Its timeline is in the order things were recorded; [`assemble`] sorts it.
#[derive(Clone, Debug, PartialEq)]
pub struct NegotiationPart {
    pub scenario: ScenarioInfo,
    pub issues: Vec<IssueInfo>,
    pub platforms: Vec<PlatformInfo>,
    pub banks: Vec<BankInfo>,
    pub negotiations: Vec<NegotiationReport>,
    pub timeline: Vec<TimelineEntry>,
}

/// What the data phase found.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPart {
    pub report: DataReport,
    /// Revocations the data phase decided (audits), as `(index into the negotiations,
    /// revocation)`; a negotiation already revoked keeps its first revocation.
    pub revocations: Vec<(usize, Revocation)>,
    /// Entries to merge into the negotiation's timeline.
    pub timeline: Vec<TimelineEntry>,
    /// Integration designs other than the direct pull.
    pub designs: Vec<DesignReport>,
}

/// The report of a run: audit revocations folded into the negotiations, one timeline sorted by
/// time (stably: same-millisecond entries keep the order they were recorded in, negotiation
/// before data), totals counted and `thresholds` checked against the finished report.
pub fn assemble(
    meta: RunMeta,
    negotiation: NegotiationPart,
    data: Option<DataPart>,
    thresholds: &[Threshold],
) -> Report {
    let NegotiationPart { scenario, issues, platforms, banks, mut negotiations, mut timeline } = negotiation;
    let (data, designs) = match data {
        Some(DataPart { report, revocations, timeline: more, designs }) => {
            for (i, revocation) in revocations {
                negotiations[i].revocation.get_or_insert(revocation);
            }
            timeline.extend(more);
            (Some(report), designs)
        }
        None => (None, Vec::new()),
    };
    timeline.sort_by_key(|e| e.at_ms);
    let mut report = Report {
        schema: SCHEMA.into(),
        tool: meta.tool,
        mode: meta.mode,
        complete: meta.complete,
        scenario,
        issues,
        platforms,
        banks,
        totals: Totals::count(&negotiations),
        negotiations,
        timeline,
        data,
        designs,
        thresholds: None,
    };
    report.thresholds = check_all(thresholds, &report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::FieldValues;
    use crate::negotiation::Side;
    use crate::report::{BankDataRow, Outcome, OutcomeKind, TimelineKind};
    use crate::thresholds::{CountLimit, Status};

    fn negotiation(bank: &str, revocation: Option<Revocation>) -> NegotiationReport {
        NegotiationReport {
            platform: "p".into(),
            bank: bank.into(),
            opened_by: Side::Platform,
            deadline_rounds: 10,
            started_at_ms: 0,
            outcome: Outcome {
                kind: OutcomeKind::Agreement,
                round: 1,
                at_ms: 10,
                time_to_outcome_ms: 10,
                by: Some(Side::Bank),
                clause: None,
                reason: None,
                terms: None,
                utility_platform: None,
                utility_bank: None,
                quality: None,
            },
            offers: 2,
            transcript: Vec::new(),
            revocation,
            outcome_space: None,
            offers_among_ties: 0,
            played_by_person: None,
            reservation_moves: Vec::new(),
        }
    }

    fn entry(at_ms: u64, kind: TimelineKind, subject: &str) -> TimelineEntry {
        TimelineEntry { at_ms, kind, subject: subject.into(), detail: String::new() }
    }

    fn revocation(at_ms: u64, clause: &str) -> Revocation {
        Revocation { at_ms, clause: clause.into(), reason: "r".into() }
    }

    fn part() -> NegotiationPart {
        NegotiationPart {
            scenario: ScenarioInfo { name: "s".into(), description: String::new(), seed: 1, duration_ms: 100 },
            issues: Vec::new(),
            platforms: Vec::new(),
            banks: Vec::new(),
            negotiations: vec![negotiation("a", None), negotiation("b", Some(revocation(20, "trust")))],
            // As recorded, not yet sorted.
            timeline: vec![
                entry(50, TimelineKind::Outage, "a"),
                entry(10, TimelineKind::Agreement, "p→a"),
                entry(10, TimelineKind::Agreement, "p→b"),
                entry(20, TimelineKind::Revocation, "p→b"),
            ],
        }
    }

    fn data(exposed_at_a: u64) -> DataPart {
        let row = |bank: &str, customers_exposed| BankDataRow {
            bank: bank.into(),
            population: 100,
            customers_exposed,
            share_of_population: 0.0,
            weighted_score: 0.0,
            field_values: FieldValues { low: 0, moderate: 0, high: 0 },
            requests_served: 0,
            mean_wait_ms: None,
            mean_in_system: None,
            utilisation: None,
        };
        DataPart {
            report: DataReport {
                generator: "g".into(),
                phase_ms: 100,
                sensitivity_weights: [1.0, 3.0, 9.0],
                flows: Vec::new(),
                latency: Vec::new(),
                banks: vec![row("a", exposed_at_a), row("b", 0)],
                live: None,
            },
            revocations: vec![(0, revocation(30, "revoke_after_violations")), (1, revocation(40, "audit"))],
            timeline: vec![entry(30, TimelineKind::Revocation, "p→a"), entry(10, TimelineKind::Revocation, "x")],
            designs: Vec::new(),
        }
    }

    fn meta(mode: Mode, complete: bool) -> RunMeta {
        RunMeta { tool: Tool::new("platform-mock", "9.9.9"), mode, complete }
    }

    fn exposed_at_most(n: u64) -> Threshold {
        Threshold::CustomersExposed { bank: None, limit: CountLimit::AtMost(n) }
    }

    #[test]
    fn tool_mode_and_completeness_come_from_the_caller() {
        let r = assemble(meta(Mode::Live, false), part(), None, &[]);
        assert_eq!((r.tool.name.as_str(), r.tool.version.as_str()), ("platform-mock", "9.9.9"));
        assert_eq!((r.mode, r.complete, r.schema.as_str()), (Mode::Live, false, SCHEMA));
        let r = assemble(meta(Mode::Virtual, true), part(), None, &[]);
        assert_eq!((r.mode, r.complete), (Mode::Virtual, true));
    }

    #[test]
    fn the_merged_timeline_is_sorted_once_keeping_recorded_order_within_a_millisecond() {
        let r = assemble(meta(Mode::Virtual, true), part(), Some(data(0)), &[]);
        let seen: Vec<(u64, &str)> = r.timeline.iter().map(|e| (e.at_ms, e.subject.as_str())).collect();
        // Same-millisecond entries: the negotiation's first, in the order recorded, then the data
        // phase's.
        assert_eq!(seen, [(10, "p→a"), (10, "p→b"), (10, "x"), (20, "p→b"), (30, "p→a"), (50, "a")]);
        let without_data = assemble(meta(Mode::Virtual, true), part(), None, &[]);
        assert!(without_data.timeline.is_sorted_by_key(|e| e.at_ms), "{:?}", without_data.timeline);
    }

    #[test]
    fn audit_revocations_are_folded_in_and_counted_but_an_earlier_revocation_stands() {
        let r = assemble(meta(Mode::Virtual, true), part(), Some(data(0)), &[]);
        assert_eq!(r.negotiations[0].revocation.as_ref().map(|x| x.clause.as_str()), Some("revoke_after_violations"));
        assert_eq!(r.negotiations[1].revocation.as_ref().map(|x| x.clause.as_str()), Some("trust"));
        assert_eq!((r.totals.agreements, r.totals.revocations), (2, 2));
        let without_data = assemble(meta(Mode::Virtual, true), part(), None, &[]);
        assert_eq!(without_data.totals.revocations, 1);
        assert!(without_data.data.is_none() && without_data.designs.is_empty());
    }

    #[test]
    fn thresholds_are_checked_on_the_assembled_data() {
        let thresholds = [exposed_at_most(5)];
        let passed = assemble(meta(Mode::Virtual, true), part(), Some(data(5)), &thresholds);
        let breached = assemble(meta(Mode::Virtual, true), part(), Some(data(6)), &thresholds);
        let no_data = assemble(meta(Mode::Virtual, true), part(), None, &thresholds);
        let status = |r: &Report| r.thresholds.as_ref().map(|t| t.iter().map(|x| x.status).collect::<Vec<_>>());
        assert_eq!(status(&passed), Some(vec![Status::Passed]));
        assert_eq!(status(&breached), Some(vec![Status::Breached]));
        assert_eq!(status(&no_data), Some(vec![Status::NotApplicable]));
        assert_eq!(assemble(meta(Mode::Virtual, true), part(), Some(data(6)), &[]).thresholds, None);
    }
}
