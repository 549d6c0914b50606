//! Thresholds: pass/fail criteria a scenario sets on its own results (k6's idea: a breached
//! threshold fails the run), and their check against a [`Report`].
//!
//! Checking is a pure function of the report and returns values (passed, breached with the
//! observed value and the limit, or not applicable), never errors: the scenario loader has
//! already made sure that every bank, platform, request kind and clause a threshold names exists.

use crate::latency::LatencySummary;
use crate::report::{NegotiationReport, OutcomeKind, Report};
use crate::scenario::RequestKind;
use crate::terms::DataCategory;
use crate::workload::Abandoned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A latency percentile of one bank and request kind, as the report's latency table has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Percentile {
    #[serde(rename = "p50")]
    P50,
    #[serde(rename = "p90")]
    P90,
    #[serde(rename = "p99")]
    P99,
    #[serde(rename = "p99.9")]
    P999,
    #[serde(rename = "max")]
    Max,
}

impl Percentile {
    pub fn as_str(self) -> &'static str {
        match self {
            Percentile::P50 => "p50",
            Percentile::P90 => "p90",
            Percentile::P99 => "p99",
            Percentile::P999 => "p99.9",
            Percentile::Max => "max",
        }
    }

    pub fn of(self, l: &LatencySummary) -> f64 {
        match self {
            Percentile::P50 => l.p50_ms,
            Percentile::P90 => l.p90_ms,
            Percentile::P99 => l.p99_ms,
            Percentile::P999 => l.p999_ms,
            Percentile::Max => l.max_ms,
        }
    }
}

/// How a negotiation is expected to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    Agreed,
    Withdrawn,
    Timeout,
    Unfinished,
}

impl ExpectedOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedOutcome::Agreed => "agreed",
            ExpectedOutcome::Withdrawn => "withdrawn",
            ExpectedOutcome::Timeout => "timeout",
            ExpectedOutcome::Unfinished => "unfinished",
        }
    }

    /// The outcome kind this expectation names.
    pub fn kind(self) -> OutcomeKind {
        match self {
            ExpectedOutcome::Agreed => OutcomeKind::Agreement,
            ExpectedOutcome::Withdrawn => OutcomeKind::Withdrawal,
            ExpectedOutcome::Timeout => OutcomeKind::Timeout,
            ExpectedOutcome::Unfinished => OutcomeKind::Unfinished,
        }
    }
}

/// An outcome in the words thresholds use (`agreed`, not `agreement`).
fn said_as_expected(kind: OutcomeKind) -> ExpectedOutcome {
    match kind {
        OutcomeKind::Agreement => ExpectedOutcome::Agreed,
        OutcomeKind::Withdrawal => ExpectedOutcome::Withdrawn,
        OutcomeKind::Timeout => ExpectedOutcome::Timeout,
        OutcomeKind::Unfinished => ExpectedOutcome::Unfinished,
    }
}

/// A limit on a count: exactly one comparison per threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountLimit {
    Below(u64),
    AtMost(u64),
    AtLeast(u64),
    Equals(u64),
}

impl CountLimit {
    pub fn holds(self, observed: u64) -> bool {
        match self {
            CountLimit::Below(n) => observed < n,
            CountLimit::AtMost(n) => observed <= n,
            CountLimit::AtLeast(n) => observed >= n,
            CountLimit::Equals(n) => observed == n,
        }
    }

    /// The key that set it: `below`, `at_most`, `at_least` or `equals`.
    pub fn comparison(self) -> &'static str {
        match self {
            CountLimit::Below(_) => "below",
            CountLimit::AtMost(_) => "at_most",
            CountLimit::AtLeast(_) => "at_least",
            CountLimit::Equals(_) => "equals",
        }
    }

    pub fn value(self) -> u64 {
        match self {
            CountLimit::Below(n) | CountLimit::AtMost(n) | CountLimit::AtLeast(n) | CountLimit::Equals(n) => n,
        }
    }
}

impl fmt::Display for CountLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.comparison().replace('_', " "), self.value())
    }
}

/// One `[[thresholds]]` entry of a scenario, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum Threshold {
    /// A latency percentile of `bank`'s `kind` requests must stay below `below_ms`.
    Latency { bank: String, kind: RequestKind, percentile: Percentile, below_ms: f64 },
    /// Distinct customers exposed, of one bank or summed over all banks.
    CustomersExposed { bank: Option<String>, limit: CountLimit },
    /// Records disclosed (of one category, or all records), of one bank or of all.
    RecordsExposed { bank: Option<String>, category: Option<DataCategory>, limit: CountLimit },
    /// Every negotiation of `bank` (with `platform`, or with every platform) ends this way.
    Outcome { bank: String, platform: Option<String>, expected: ExpectedOutcome, clause: Option<String> },
    /// Negotiations that ended in a withdrawal, optionally of one bank, platform or clause.
    Withdrawals { bank: Option<String>, platform: Option<String>, clause: Option<String>, limit: CountLimit },
    /// Scheduled requests that ended with neither an answer nor an error, optionally of one
    /// bank, request kind or reason.
    Abandoned { bank: Option<String>, kind: Option<RequestKind>, reason: Option<Abandoned>, limit: CountLimit },
}

impl Threshold {
    /// The `metric` key of the scenario file.
    pub fn metric(&self) -> &'static str {
        match self {
            Threshold::Latency { .. } => "latency",
            Threshold::CustomersExposed { .. } => "customers_exposed",
            Threshold::RecordsExposed { .. } => "records_exposed",
            Threshold::Outcome { .. } => "outcome",
            Threshold::Withdrawals { .. } => "withdrawals",
            Threshold::Abandoned { .. } => "abandoned",
        }
    }

    /// The threshold in words, e.g. `p99 latency of citi-like balance_lookup below 500ms`.
    pub fn describe(&self) -> String {
        let of_bank = |bank: &Option<String>| bank.as_ref().map_or_else(|| "all banks".into(), |b| b.clone());
        match self {
            Threshold::Latency { bank, kind, percentile, below_ms } => {
                format!("{} latency of {bank} {} below {}ms", percentile.as_str(), kind.as_str(), number(*below_ms))
            }
            Threshold::CustomersExposed { bank, limit } => {
                format!("customers exposed by {} {limit}", of_bank(bank))
            }
            Threshold::RecordsExposed { bank, category, limit } => {
                let what = category.map_or_else(|| "records".into(), |c| format!("{} records", c.as_str()));
                format!("{what} exposed by {} {limit}", of_bank(bank))
            }
            Threshold::Outcome { bank, platform, expected, clause } => {
                let with = platform.as_ref().map_or_else(String::new, |p| format!(" with {p}"));
                let over = clause.as_ref().map_or_else(String::new, |c| format!(" over {c}"));
                format!("{bank}{with} {}{over}", expected.as_str())
            }
            Threshold::Withdrawals { bank, platform, clause, limit } => {
                let mut s = "withdrawals".to_string();
                if let Some(b) = bank {
                    s.push_str(&format!(" of {b}"));
                }
                if let Some(p) = platform {
                    s.push_str(&format!(" with {p}"));
                }
                if let Some(c) = clause {
                    s.push_str(&format!(" over {c}"));
                }
                format!("{s} {limit}")
            }
            Threshold::Abandoned { bank, kind, reason, limit } => {
                let what = kind.map_or_else(String::new, |k| format!(" {}", k.as_str()));
                let why = reason.map_or_else(String::new, |r| format!(" ({})", r.as_str()));
                format!("abandoned{what} requests{why} of {} {limit}", of_bank(bank))
            }
        }
    }
}

/// Shortest decimal form: `500`, `0.001`, `205.3`.
fn number(x: f64) -> String {
    format!("{x}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Breached,
    /// The report holds nothing to check it against (e.g. a latency threshold without a data
    /// phase); it neither passes nor fails the run.
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Breached => "breached",
            Status::NotApplicable => "not applicable",
        }
    }
}

/// An observed value or a limit: a count, milliseconds, or an outcome in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Count(u64),
    Number(f64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Number(x) => write!(f, "{}", number(*x)),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// The check of one threshold against one report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// `latency`, `customers_exposed`, `records_exposed`, `outcome`, `withdrawals` or
    /// `abandoned`.
    pub metric: String,
    /// The threshold in words.
    pub threshold: String,
    pub status: Status,
    /// `below`, `at_most`, `at_least` or `equals`.
    pub comparison: String,
    /// Milliseconds for latency, a count, or the expected outcome.
    pub limit: Value,
    /// `None` when not applicable.
    pub observed: Option<Value>,
    /// One sentence: what was observed against what was allowed, or why it does not apply.
    pub message: String,
}

/// Checks every threshold, in order; `None` when there are none (the report then has no
/// `thresholds` field at all).
pub fn check_all(thresholds: &[Threshold], report: &Report) -> Option<Vec<ThresholdResult>> {
    if thresholds.is_empty() { None } else { Some(thresholds.iter().map(|t| check(t, report)).collect()) }
}

/// How many of `results` were breached.
pub fn breached(results: &[ThresholdResult]) -> usize {
    results.iter().filter(|r| r.status == Status::Breached).count()
}

pub fn check(threshold: &Threshold, report: &Report) -> ThresholdResult {
    let describe = threshold.describe();
    let result = |status, comparison: &str, limit, observed, message: String| ThresholdResult {
        metric: threshold.metric().into(),
        threshold: describe.clone(),
        status,
        comparison: comparison.into(),
        limit,
        observed,
        message,
    };
    let not_applicable = |comparison: &str, limit, why: &str| {
        result(Status::NotApplicable, comparison, limit, None, format!("{describe}: not applicable: {why}"))
    };
    let counted = |limit: CountLimit, observed: u64| {
        let (status, message) = if limit.holds(observed) {
            (Status::Passed, format!("{describe}: {observed}"))
        } else {
            (Status::Breached, format!("{describe}: observed {observed}, not {limit}"))
        };
        result(status, limit.comparison(), Value::Count(limit.value()), Some(Value::Count(observed)), message)
    };
    match threshold {
        Threshold::Latency { bank, kind, percentile, below_ms } => {
            let limit = Value::Number(*below_ms);
            let Some(data) = &report.data else { return not_applicable("below", limit, "no data phase") };
            let Some(row) = data.latency.iter().find(|r| &r.bank == bank && r.kind == *kind) else {
                return not_applicable("below", limit, &format!("no {} requests were sent to {bank}", kind.as_str()));
            };
            if row.latency.ok == 0 {
                // Requests were sent and none succeeded: there is no latency to pass with.
                let message = format!("{describe}: none of {} requests got a successful response", row.requests);
                return result(Status::Breached, "below", limit, None, message);
            }
            let observed = percentile.of(&row.latency);
            let (status, message) = if observed < *below_ms {
                (Status::Passed, format!("{describe}: {observed:.3}ms"))
            } else {
                (Status::Breached, format!("{describe}: observed {observed:.3}ms, not below {}ms", number(*below_ms)))
            };
            result(status, "below", limit, Some(Value::Number(observed)), message)
        }
        Threshold::CustomersExposed { bank, limit } => {
            let Some(data) = &report.data else {
                return not_applicable(limit.comparison(), Value::Count(limit.value()), "no data phase");
            };
            let observed =
                data.banks.iter().filter(|b| bank.as_ref().is_none_or(|x| x == &b.bank)).map(|b| b.customers_exposed);
            counted(*limit, observed.sum())
        }
        Threshold::RecordsExposed { bank, category, limit } => {
            let Some(data) = &report.data else {
                return not_applicable(limit.comparison(), Value::Count(limit.value()), "no data phase");
            };
            let observed = data
                .flows
                .iter()
                .filter(|f| bank.as_ref().is_none_or(|x| x == &f.bank))
                .map(|f| match category {
                    Some(c) => f.exposure.records_by_category.get(c.as_str()).copied().unwrap_or(0),
                    // Each record counts once, whatever categories its fields fall in.
                    None => f.exposure.by_purpose.values().map(|p| p.records).sum(),
                })
                .sum();
            counted(*limit, observed)
        }
        Threshold::Outcome { bank, platform, expected, clause } => {
            let limit = Value::Text(match clause {
                Some(c) => format!("{} over {c}", expected.as_str()),
                None => expected.as_str().into(),
            });
            let theirs: Vec<&NegotiationReport> = report
                .negotiations
                .iter()
                .filter(|n| &n.bank == bank && platform.as_ref().is_none_or(|p| p == &n.platform))
                .collect();
            if theirs.is_empty() {
                return not_applicable("equals", limit, "no such negotiation in the report");
            }
            let matches = |n: &NegotiationReport| {
                n.outcome.kind == expected.kind()
                    && clause.as_ref().is_none_or(|c| n.outcome.clause.as_ref() == Some(c))
            };
            let said: Vec<String> = theirs
                .iter()
                .map(|n| {
                    let mut s = said_as_expected(n.outcome.kind).as_str().to_string();
                    if let Some(c) = &n.outcome.clause {
                        s.push_str(&format!(" over {c}"));
                    }
                    if theirs.len() > 1 { format!("{}: {s}", n.platform) } else { s }
                })
                .collect();
            let observed = said.join("; ");
            let (status, message) = if theirs.iter().all(|n| matches(n)) {
                (Status::Passed, format!("{describe}: {observed}"))
            } else {
                (Status::Breached, format!("{describe}: observed {observed}"))
            };
            result(status, "equals", limit, Some(Value::Text(observed)), message)
        }
        Threshold::Abandoned { bank, kind, reason, limit } => {
            let Some(data) = &report.data else {
                return not_applicable(limit.comparison(), Value::Count(limit.value()), "no data phase");
            };
            let observed = data
                .latency
                .iter()
                .filter(|r| bank.as_ref().is_none_or(|b| b == &r.bank))
                .filter(|r| kind.is_none_or(|k| k == r.kind))
                .map(|r| match reason {
                    Some(why) => r.latency.abandoned.get(why.as_str()).copied().unwrap_or(0),
                    None => r.latency.abandoned_total(),
                })
                .sum();
            counted(*limit, observed)
        }
        Threshold::Withdrawals { bank, platform, clause, limit } => {
            let observed = report
                .negotiations
                .iter()
                .filter(|n| n.outcome.kind == OutcomeKind::Withdrawal)
                .filter(|n| bank.as_ref().is_none_or(|b| b == &n.bank))
                .filter(|n| platform.as_ref().is_none_or(|p| p == &n.platform))
                .filter(|n| clause.as_ref().is_none_or(|c| n.outcome.clause.as_ref() == Some(c)))
                .count();
            counted(*limit, observed as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{
        BankDataRow, DataReport, LatencyRow, Mode, NegotiationReport, Outcome, ScenarioInfo, Tool, Totals,
    };
    use crate::{exposure::FieldValues, latency::LatencyRecorder, negotiation::Side};
    use std::time::Duration;

    fn negotiation(bank: &str, kind: OutcomeKind, clause: Option<&str>) -> NegotiationReport {
        NegotiationReport {
            platform: "p".into(),
            bank: bank.into(),
            opened_by: Side::Platform,
            deadline_rounds: 20,
            started_at_ms: 0,
            outcome: Outcome {
                kind,
                round: 2,
                at_ms: 10,
                time_to_outcome_ms: 10,
                by: Some(Side::Bank),
                clause: clause.map(String::from),
                reason: None,
                terms: None,
                utility_platform: None,
                utility_bank: None,
                quality: None,
            },
            offers: 3,
            transcript: Vec::new(),
            revocation: None,
            outcome_space: None,
            offers_among_ties: 0,
            played_by_person: None,
            reservation_moves: Vec::new(),
        }
    }

    fn report(with_data: bool) -> Report {
        let negotiations = vec![
            negotiation("a", OutcomeKind::Agreement, None),
            negotiation("b", OutcomeKind::Withdrawal, Some("no_detail")),
        ];
        let mut latency = LatencyRecorder::default();
        for ms in 1..=100u64 {
            latency.record(Duration::from_millis(ms));
        }
        let bank_row = |bank: &str, customers_exposed| BankDataRow {
            bank: bank.into(),
            population: 1000,
            customers_exposed,
            share_of_population: 0.0,
            weighted_score: 0.0,
            field_values: FieldValues { low: 0, moderate: 0, high: 0 },
            requests_served: 0,
            mean_wait_ms: Some(0.0),
            mean_in_system: Some(0.0),
            utilisation: Some(0.0),
        };
        Report {
            schema: crate::report::SCHEMA.into(),
            tool: Tool { name: "t".into(), version: "0".into() },
            mode: Mode::Virtual,
            complete: true,
            scenario: ScenarioInfo { name: "s".into(), description: String::new(), seed: 1, duration_ms: 1 },
            issues: Vec::new(),
            platforms: Vec::new(),
            banks: Vec::new(),
            designs: Vec::new(),
            totals: Totals::count(&negotiations),
            negotiations,
            timeline: Vec::new(),
            data: with_data.then(|| DataReport {
                generator: "g".into(),
                phase_ms: 1,
                sensitivity_weights: [1.0, 3.0, 9.0],
                flows: Vec::new(),
                latency: vec![LatencyRow {
                    bank: "a".into(),
                    kind: RequestKind::BalanceLookup,
                    requests: 100,
                    latency: latency.summary(Duration::from_secs(1)),
                }],
                banks: vec![bank_row("a", 40), bank_row("b", 0)],
                live: None,
            }),
            thresholds: None,
        }
    }

    fn latency(below_ms: f64) -> Threshold {
        Threshold::Latency { bank: "a".into(), kind: RequestKind::BalanceLookup, percentile: Percentile::P99, below_ms }
    }

    #[test]
    fn a_latency_percentile_passes_below_the_limit_and_is_breached_at_or_above_it() {
        let r = report(true);
        let ok = check(&latency(500.0), &r);
        assert_eq!(ok.status, Status::Passed);
        let Some(Value::Number(p99)) = ok.observed else { panic!("a number: {ok:?}") };
        assert!((p99 - 99.0).abs() < 1.0, "{p99}");
        let bad = check(&latency(0.001), &r);
        assert_eq!(bad.status, Status::Breached);
        assert!(bad.message.contains("not below 0.001ms"), "{}", bad.message);
        assert_eq!(bad.limit, Value::Number(0.001));
    }

    #[test]
    fn data_thresholds_do_not_apply_without_a_data_phase() {
        let r = report(false);
        let res = check(&latency(500.0), &r);
        assert_eq!(res.status, Status::NotApplicable);
        assert!(res.message.ends_with("not applicable: no data phase"), "{}", res.message);
        assert_eq!(res.observed, None);
        let res = check(&Threshold::CustomersExposed { bank: None, limit: CountLimit::Below(0) }, &r);
        assert_eq!(res.status, Status::NotApplicable);
    }

    #[test]
    fn a_request_kind_never_sent_is_not_applicable() {
        let t = Threshold::Latency {
            bank: "b".into(),
            kind: RequestKind::BalanceLookup,
            percentile: Percentile::Max,
            below_ms: 1.0,
        };
        assert_eq!(check(&t, &report(true)).status, Status::NotApplicable);
    }

    #[test]
    fn customers_exposed_sum_over_banks_or_count_one_bank() {
        let r = report(true);
        let total = check(&Threshold::CustomersExposed { bank: None, limit: CountLimit::AtMost(40) }, &r);
        assert_eq!((total.status, total.observed), (Status::Passed, Some(Value::Count(40))));
        let below_zero = check(&Threshold::CustomersExposed { bank: None, limit: CountLimit::Below(0) }, &r);
        assert_eq!(below_zero.status, Status::Breached);
        assert!(below_zero.message.ends_with("observed 40, not below 0"), "{}", below_zero.message);
        let b = check(&Threshold::CustomersExposed { bank: Some("b".into()), limit: CountLimit::Equals(0) }, &r);
        assert_eq!(b.status, Status::Passed);
    }

    #[test]
    fn an_outcome_threshold_checks_the_kind_and_the_clause() {
        let r = report(true);
        let outcome = |bank: &str, expected, clause: Option<&str>| {
            check(
                &Threshold::Outcome { bank: bank.into(), platform: None, expected, clause: clause.map(String::from) },
                &r,
            )
        };
        assert_eq!(outcome("b", ExpectedOutcome::Withdrawn, None).status, Status::Passed);
        assert_eq!(outcome("b", ExpectedOutcome::Withdrawn, Some("no_detail")).status, Status::Passed);
        let wrong_clause = outcome("b", ExpectedOutcome::Withdrawn, Some("other"));
        assert_eq!(wrong_clause.status, Status::Breached);
        assert_eq!(wrong_clause.observed, Some(Value::Text("withdrawn over no_detail".into())));
        assert_eq!(outcome("a", ExpectedOutcome::Withdrawn, None).status, Status::Breached);
        assert_eq!(outcome("a", ExpectedOutcome::Agreed, None).status, Status::Passed);
    }

    #[test]
    fn withdrawals_are_counted_with_their_filters() {
        let r = report(true);
        let count = |clause: Option<&str>, limit| {
            check(&Threshold::Withdrawals { bank: None, platform: None, clause: clause.map(String::from), limit }, &r)
        };
        assert_eq!(count(None, CountLimit::Equals(1)).status, Status::Passed);
        assert_eq!(count(None, CountLimit::AtLeast(2)).status, Status::Breached);
        assert_eq!(count(Some("other"), CountLimit::Equals(0)).status, Status::Passed);
    }

    #[test]
    fn abandoned_requests_are_counted_by_bank_kind_and_reason() {
        let mut r = report(true);
        let mut rec = LatencyRecorder::default();
        for _ in 0..3 {
            rec.abandoned(Abandoned::ClientTimeout);
        }
        rec.abandoned(Abandoned::InFlightAtEnd);
        let row = LatencyRow {
            bank: "b".into(),
            kind: RequestKind::Accounts,
            requests: 4,
            latency: rec.summary(Duration::ZERO),
        };
        r.data.as_mut().unwrap().latency.push(row);
        let count = |bank: Option<&str>, reason, limit| {
            let t = Threshold::Abandoned { bank: bank.map(String::from), kind: None, reason, limit };
            check(&t, &r)
        };
        assert_eq!(count(None, None, CountLimit::AtMost(0)).status, Status::Breached);
        assert_eq!(count(None, None, CountLimit::Equals(4)).status, Status::Passed);
        assert_eq!(count(Some("a"), None, CountLimit::AtMost(0)).status, Status::Passed);
        assert_eq!(count(None, Some(Abandoned::ClientTimeout), CountLimit::Equals(3)).status, Status::Passed);
        assert_eq!(count(None, Some(Abandoned::Interrupted), CountLimit::Equals(0)).status, Status::Passed);
        let kind = Threshold::Abandoned {
            bank: None,
            kind: Some(RequestKind::BalanceLookup),
            reason: None,
            limit: CountLimit::AtMost(0),
        };
        assert_eq!(check(&kind, &r).status, Status::Passed);
        assert_eq!(check(&kind, &report(false)).status, Status::NotApplicable);
    }

    #[test]
    fn no_thresholds_give_no_results_field() {
        assert_eq!(check_all(&[], &report(true)), None);
        assert_eq!(check_all(&[latency(0.001)], &report(true)).map(|r| breached(&r)), Some(1));
    }
}
