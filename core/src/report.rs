//! The result of a run as one value, and the views rendered from it. `report.json` is this
//! value serialised; `report.md` and `transcript.jsonl` are rendered from it and nothing else,
//! so every mode (virtual, live, a platform-mock run) that fills it gets the same reports.

mod assemble;
mod narration;
mod tally;

pub use assemble::{DataPart, NegotiationPart, RunMeta, assemble};
pub use narration::{NarratedRounds, narrate};
pub use tally::{BankTally, DataParts, FlowPart, FlowTally, LatencyTable, LatencyTally, data_report};

use crate::negotiation::Side;
use crate::scenario::DesignKind;
use crate::time::format_duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Bumped whenever a field changes meaning or disappears (additions keep the version).
pub const SCHEMA: &str = "testbed-report/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub mode: Mode,
    /// False when the run was cut short (e.g. Ctrl-C in live mode): what is here is true, but
    /// not everything that would have happened is here.
    pub complete: bool,
    pub scenario: ScenarioInfo,
    pub issues: Vec<IssueInfo>,
    pub platforms: Vec<PlatformInfo>,
    pub banks: Vec<BankInfo>,
    pub negotiations: Vec<NegotiationReport>,
    /// Everything that happened, in time order: scheduled events and negotiation ends.
    pub timeline: Vec<TimelineEntry>,
    pub totals: Totals,
    /// Latency and exposure of the data exchange; `None` when the scenario has no `[data]`.
    pub data: Option<DataReport>,
    /// Integration designs other than the direct pull (with `[data]` only); absent when every
    /// platform pulls directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub designs: Vec<DesignReport>,
    /// The scenario's `[[thresholds]]` checked against this report, in file order; absent when
    /// the scenario sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Vec<crate::thresholds::ThresholdResult>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// `Tool::new("sim", env!("CARGO_PKG_VERSION"))`: the binary that ran, in its own words.
    pub fn new(name: &str, version: &str) -> Tool {
        Tool { name: name.into(), version: version.into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Virtual,
    Live,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssueInfo {
    pub name: String,
    pub options: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlatformInfo {
    pub name: String,
    pub initial_trust: f64,
    pub final_trust: f64,
    pub strategy: String,
    pub reservation: f64,
    pub deadline_rounds: u32,
    /// The opening ask, issue → option.
    pub ask: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankInfo {
    pub name: String,
    pub strategy: String,
    pub reservation: f64,
    pub deadline_rounds: u32,
    pub min_platform_trust: Option<f64>,
    pub revoke_below_trust: Option<f64>,
    pub clauses: Vec<ClauseInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClauseInfo {
    pub id: String,
    pub reason: String,
    pub issue: String,
    pub forbidden: Vec<String>,
    pub patience: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Agreement,
    Withdrawal,
    Timeout,
    /// Still negotiating when the scenario's duration ran out.
    Unfinished,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Agreement => "agreement",
            OutcomeKind::Withdrawal => "withdrawal",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::Unfinished => "unfinished",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NegotiationReport {
    pub platform: String,
    pub bank: String,
    pub opened_by: Side,
    pub deadline_rounds: u32,
    pub started_at_ms: u64,
    pub outcome: Outcome,
    pub offers: u32,
    pub transcript: Vec<TranscriptEntry>,
    pub revocation: Option<Revocation>,
    /// The outcome space in the utility plane, as the sides' preferences stood at the end.
    #[serde(default)]
    pub outcome_space: Option<OutcomeSpaceReport>,
    /// Offers whose outcome the offering side valued exactly as much as another admissible one:
    /// where the tie-break (lowest outcome id), not the preferences, chose.
    #[serde(default)]
    pub offers_among_ties: u32,
    /// The side a person played (`sim play`) instead of the scenario's agent; absent when the
    /// agents played both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub played_by_person: Option<Side>,
    /// Where a platform that weighs its deals together moved its reservation value in this
    /// negotiation (`[platforms.portfolio]`); absent for one that weighs each deal alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservation_moves: Vec<ReservationMove>,
}

/// A platform that weighs its deals together moved its reservation value in one negotiation,
/// because another negotiation of its ended (`negotiation::portfolio`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReservationMove {
    pub at_ms: u64,
    pub from: f64,
    pub to: f64,
    /// What ended elsewhere, and why this deal now counts for more or less.
    pub reason: String,
    /// The round under way, and the least the platform accepts in it at the old and the new
    /// value (its strategy's threshold; `None` with nothing admissible): the move's effect.
    pub round: u32,
    pub accepts_before: Option<f64>,
    pub accepts_after: Option<f64>,
}

/// A negotiation's outcome space in the utility plane (`negotiation::quality`, NegMAS's
/// definitions): points are `[platform utility, bank utility]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeSpaceReport {
    /// Outcomes of the space, and those both sides may agree to (no clause broken, each at or
    /// above its reservation value).
    pub outcomes: u32,
    pub agreeable: u32,
    /// Each side's reservation value as the disagreement point has it (raised to its lowest
    /// utility where it lies below).
    pub disagreement: [f64; 2],
    /// Each side's best utility over the space.
    pub ideal: [f64; 2],
    /// The Pareto frontier of the agreeable outcomes, by platform utility ascending.
    pub frontier: Vec<[f64; 2]>,
    pub nash: Vec<[f64; 2]>,
    /// NegMAS's `kalai`: the egalitarian point (greatest smallest gain).
    pub kalai: Vec<[f64; 2]>,
    pub kalai_smorodinsky: Vec<[f64; 2]>,
    pub max_welfare: Option<f64>,
    /// Every outcome of the space in the utility plane, as a picture for the outcome-space
    /// chart: 51 rows of 51 characters, the top row at bank utility 1, the bottom at 0, column
    /// `j` at platform utility j/50; `#` where an outcome both may agree to lies, `+` where only
    /// outcomes they may not, `.` where none (`negotiation::quality::OutcomeSpace::plane`).
    #[serde(default)]
    pub plane: Vec<String>,
}

impl From<&crate::negotiation::quality::OutcomeSpace> for OutcomeSpaceReport {
    fn from(space: &crate::negotiation::quality::OutcomeSpace) -> Self {
        use crate::negotiation::quality::Point;
        let xy = |p: &Point| [p.platform, p.bank];
        OutcomeSpaceReport {
            outcomes: space.outcomes,
            agreeable: space.agreeable,
            disagreement: xy(&space.disagreement),
            ideal: xy(&space.ideal),
            frontier: space.frontier.iter().map(|(p, _)| xy(p)).collect(),
            nash: space.nash.iter().map(xy).collect(),
            kalai: space.kalai.iter().map(xy).collect(),
            kalai_smorodinsky: space.kalai_smorodinsky.iter().map(xy).collect(),
            max_welfare: (!space.frontier.is_empty()).then_some(space.max_welfare),
            plane: space.plane.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// 0-based round in which it ended (the last round reached, for unfinished).
    pub round: u32,
    pub at_ms: u64,
    /// Simulated time from the start of the negotiation to its end.
    pub time_to_outcome_ms: u64,
    /// Who accepted (agreement) or withdrew (withdrawal).
    pub by: Option<Side>,
    pub clause: Option<String>,
    pub reason: Option<String>,
    /// Agreed terms, issue → option.
    pub terms: Option<BTreeMap<String, String>>,
    pub utility_platform: Option<f64>,
    pub utility_bank: Option<f64>,
    /// Agreements: how good the deal was (`NegotiationReport::outcome_space`).
    #[serde(default)]
    pub quality: Option<crate::negotiation::quality::AgreementQuality>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Offer,
    Accept,
    Withdraw,
}

/// One move of one side, with both sides' utility of the outcome it is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub round: u32,
    pub side: Side,
    pub action: Action,
    pub at_ms: u64,
    pub outcome: Option<BTreeMap<String, String>>,
    pub utility_platform: Option<f64>,
    pub utility_bank: Option<f64>,
    pub clause: Option<String>,
    pub reason: Option<String>,
    /// How the moving side weighed the standing offer it answered; absent for an opening offer
    /// and for withdrawals decided before looking at the offer (trust, reservation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assessment: Option<OfferAssessment>,
    /// A person's move (`sim play`), not the side's strategy's or policy's; absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_person: bool,
    /// A person's offer or accept that breaks a limit of their own side's (its first clause
    /// broken); the agents never make one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaks_own_limit: Option<String>,
}

/// Why an offer was accepted, refused or walked away from, from the answering side's view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfferAssessment {
    /// The answering side's utility of the standing offer.
    pub utility: f64,
    /// The least utility it accepted in this round (its concession curve).
    pub threshold: f64,
    /// Its hard limits the offer broke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<BrokenClause>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrokenClause {
    pub clause: String,
    /// The issue and the offered option the clause forbids.
    pub issue: String,
    pub option: String,
    /// Consecutive offers of the other side that broke it, this one included.
    pub strikes: u32,
    /// Strikes after which the side withdraws.
    pub patience: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub at_ms: u64,
    pub clause: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at_ms: u64,
    pub kind: TimelineKind,
    /// The platform, bank or `platform→bank` pair concerned.
    pub subject: String,
    pub detail: String,
}

impl TimelineEntry {
    /// A bank revoked an agreement during the data phase (an audit), in either mode.
    pub fn revocation(at_ms: u64, platform: &str, bank: &str, clause: &str, reason: &str) -> TimelineEntry {
        TimelineEntry {
            at_ms,
            kind: TimelineKind::Revocation,
            subject: format!("{platform}→{bank}"),
            detail: format!("the bank revoked the agreement over clause `{clause}`: {reason}"),
        }
    }
}

/// What a timeline entry records: a scheduled event, a negotiation's end, or a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    PrivacyIncident,
    Regulation,
    Outage,
    LoadSpike,
    Agreement,
    Withdrawal,
    Timeout,
    Unfinished,
    Revocation,
    /// A platform that weighs its deals together moved its reservation values, or walked away.
    Portfolio,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 10] = [
        TimelineKind::PrivacyIncident,
        TimelineKind::Regulation,
        TimelineKind::Outage,
        TimelineKind::LoadSpike,
        TimelineKind::Agreement,
        TimelineKind::Withdrawal,
        TimelineKind::Timeout,
        TimelineKind::Unfinished,
        TimelineKind::Revocation,
        TimelineKind::Portfolio,
    ];

    /// The name `report.json` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::PrivacyIncident => "privacy_incident",
            TimelineKind::Regulation => "regulation",
            TimelineKind::Outage => "outage",
            TimelineKind::LoadSpike => "load_spike",
            TimelineKind::Agreement => "agreement",
            TimelineKind::Withdrawal => "withdrawal",
            TimelineKind::Timeout => "timeout",
            TimelineKind::Unfinished => "unfinished",
            TimelineKind::Revocation => "revocation",
            TimelineKind::Portfolio => "portfolio",
        }
    }
}

impl std::fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&crate::scenario::EventKind> for TimelineKind {
    fn from(event: &crate::scenario::EventKind) -> TimelineKind {
        use crate::scenario::EventKind;
        match event {
            EventKind::PrivacyIncident { .. } => TimelineKind::PrivacyIncident,
            EventKind::Regulation { .. } => TimelineKind::Regulation,
            EventKind::Outage { .. } => TimelineKind::Outage,
            EventKind::LoadSpike { .. } => TimelineKind::LoadSpike,
        }
    }
}

impl From<OutcomeKind> for TimelineKind {
    fn from(kind: OutcomeKind) -> TimelineKind {
        match kind {
            OutcomeKind::Agreement => TimelineKind::Agreement,
            OutcomeKind::Withdrawal => TimelineKind::Withdrawal,
            OutcomeKind::Timeout => TimelineKind::Timeout,
            OutcomeKind::Unfinished => TimelineKind::Unfinished,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub negotiations: u32,
    pub agreements: u32,
    pub withdrawals: u32,
    pub timeouts: u32,
    pub unfinished: u32,
    pub revocations: u32,
    pub withdrawals_by_clause: BTreeMap<String, u32>,
}

impl Totals {
    pub fn count(negotiations: &[NegotiationReport]) -> Totals {
        let mut t = Totals { negotiations: negotiations.len() as u32, ..Totals::default() };
        for n in negotiations {
            match n.outcome.kind {
                OutcomeKind::Agreement => t.agreements += 1,
                OutcomeKind::Withdrawal => {
                    t.withdrawals += 1;
                    let clause = n.outcome.clause.clone().unwrap_or_default();
                    *t.withdrawals_by_clause.entry(clause).or_default() += 1;
                }
                OutcomeKind::Timeout => t.timeouts += 1,
                OutcomeKind::Unfinished => t.unfinished += 1,
            }
            t.revocations += u32::from(n.revocation.is_some());
        }
        t
    }
}

impl NegotiationReport {
    pub fn pair(&self) -> String {
        format!("{}→{}", self.platform, self.bank)
    }
}

pub fn ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// `issue=option, …` in the report's issue order.
pub fn terms_line(issues: &[IssueInfo], terms: &BTreeMap<String, String>) -> String {
    issues.iter().filter_map(|i| terms.get(&i.name).map(|o| format!("{}={o}", i.name))).collect::<Vec<_>>().join(", ")
}

/// One row of the summary table: pair, outcome, round, clause, time to outcome, terms.
pub fn summary_row(report: &Report, n: &NegotiationReport) -> [String; 6] {
    let o = &n.outcome;
    let mut outcome = o.kind.as_str().to_string();
    if let Some(by) = o.by.filter(|_| o.kind == OutcomeKind::Withdrawal) {
        outcome = format!("{outcome} ({})", by.as_str());
    }
    if let Some(r) = &n.revocation {
        outcome = format!("{outcome}, revoked at {} ({})", ms(r.at_ms), r.clause);
    }
    [
        n.pair(),
        outcome,
        o.round.to_string(),
        o.clause.clone().unwrap_or_else(|| "-".into()),
        ms(o.time_to_outcome_ms),
        o.terms.as_ref().map_or_else(|| "-".into(), |t| terms_against_ask(report, n, t)),
    ]
}

/// Agreed terms said as the platform's ask plus what changed, which is what a reader wants to
/// know; the full terms are in `report.json` and the negotiation section of `report.md`.
pub fn terms_against_ask(report: &Report, n: &NegotiationReport, terms: &BTreeMap<String, String>) -> String {
    let Some(platform) = report.platforms.iter().find(|p| p.name == n.platform) else {
        return terms_line(&report.issues, terms);
    };
    let changed: BTreeMap<String, String> =
        terms.iter().filter(|(k, v)| platform.ask.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if changed.is_empty() {
        "the platform's ask".into()
    } else {
        format!("ask, except {}", terms_line(&report.issues, &changed))
    }
}

pub const SUMMARY_HEADER: [&str; 6] = ["pair", "outcome", "round", "clause", "time to outcome", "agreed terms"];

/// `report.md`.
pub fn render_markdown(report: &Report) -> String {
    let mut md = String::new();
    let s = &report.scenario;
    let _ = writeln!(md, "# {}\n", s.name);
    if !s.description.is_empty() {
        let _ = writeln!(md, "{}\n", s.description.trim());
    }
    let _ = writeln!(
        md,
        "Mode: {:?}, seed {}, simulated duration {}, {} {}.{}\n",
        report.mode,
        s.seed,
        ms(s.duration_ms),
        report.tool.name,
        report.tool.version,
        if report.complete { "" } else { " **Incomplete run.**" }
    );
    let t = &report.totals;
    let _ = writeln!(
        md,
        "{} negotiations: {} agreements, {} withdrawals, {} timeouts, {} unfinished; {} agreements revoked.\n",
        t.negotiations, t.agreements, t.withdrawals, t.timeouts, t.unfinished, t.revocations
    );
    let _ = writeln!(md, "## Outcomes\n");
    let _ = writeln!(md, "| {} |", SUMMARY_HEADER.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(SUMMARY_HEADER.len()));
    for n in &report.negotiations {
        let _ = writeln!(md, "| {} |", summary_row(report, n).map(|c| c.replace('|', "\\|")).join(" | "));
    }
    let _ = writeln!(md);
    render_data_markdown(&mut md, report);
    let _ = writeln!(md, "## Timeline\n");
    for e in &report.timeline {
        let _ = writeln!(md, "- **{}** `{}` {}: {}", ms(e.at_ms), e.kind, e.subject, e.detail);
    }
    let _ = writeln!(md, "\n## Negotiations\n");
    for n in &report.negotiations {
        let _ = writeln!(md, "### {}\n", n.pair());
        let _ = writeln!(
            md,
            "Opened by the {}; deadline {} rounds; {} offer{}{}{}.\n",
            n.opened_by.as_str(),
            n.deadline_rounds,
            n.offers,
            if n.offers == 1 { "" } else { "s" },
            ties_clause(n),
            person_clause(n)
        );
        for line in narrate(report, n) {
            let _ = writeln!(md, "- **{}** ({}): {}", line.rounds, line.when, line.text);
        }
        let o = &n.outcome;
        let _ = writeln!(md, "\n**{}** in round {} after {}.", o.kind.as_str(), o.round, ms(o.time_to_outcome_ms));
        if let Some(terms) = &o.terms {
            let _ = writeln!(md, "Agreed terms: {}.", terms_line(&report.issues, terms));
        }
        if let (Some(c), Some(r)) = (&o.clause, &o.reason) {
            let _ = writeln!(md, "Clause `{c}`: {r}.");
        }
        if let Some(line) = quality_line(n) {
            let _ = writeln!(md, "{line}");
        }
        for line in portfolio_lines(n) {
            let _ = writeln!(md, "{line}");
        }
        if let Some(r) = &n.revocation {
            let _ = writeln!(md, "Revoked at {} under clause `{}`: {}.", ms(r.at_ms), r.clause, r.reason);
        }
        let _ = writeln!(md);
    }
    md
}

/// `, 3 of them chosen among outcomes of equal utility`: where the tie-break decided (empty
/// when it never did).
pub fn ties_clause(n: &NegotiationReport) -> String {
    match n.offers_among_ties {
        0 => String::new(),
        t if t == n.offers && t == 1 => ", chosen among outcomes of equal utility".into(),
        t if t == n.offers => ", all chosen among outcomes of equal utility".into(),
        t => format!(", {t} of them chosen among outcomes of equal utility"),
    }
}

/// `; the bank's side played by a person (sim play)`: a side `sim play` handed to a person
/// instead of the scenario's agent (empty when the agents played both).
pub fn person_clause(n: &NegotiationReport) -> String {
    let Some(side) = n.played_by_person else { return String::new() };
    let moves = n.transcript.iter().filter(|e| e.side == side).count();
    let theirs = n.transcript.iter().filter(|e| e.side == side && e.by_person).count();
    let rest = match moves - theirs {
        0 => String::new(),
        1 => ", 1 by its policy (a review after an event)".into(),
        n => format!(", {n} by its policy (reviews after events)"),
    };
    let mut broken: Vec<&str> = n.transcript.iter().filter_map(|e| e.breaks_own_limit.as_deref()).collect();
    let breaking = broken.len();
    broken.sort_unstable();
    broken.dedup();
    let limits = match breaking {
        0 => String::new(),
        k => format!(
            ", {k} of them against the {}'s own limit{} {}",
            side.as_str(),
            if broken.len() == 1 { "" } else { "s" },
            broken.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    format!(
        "; the {}'s side played by a person (sim play): {theirs} of its {moves} move{} theirs{limits}{rest}",
        side.as_str(),
        if moves == 1 { "" } else { "s" }
    )
}

/// `A person played the bank citi-like's side (sim play) in messenger→citi-like.`: for the top of
/// a report, when a person played.
pub fn person_sentence(report: &Report) -> Option<String> {
    let played: Vec<&NegotiationReport> = report.negotiations.iter().filter(|n| n.played_by_person.is_some()).collect();
    let first = played.first()?;
    let side = first.played_by_person?;
    let party = if side == Side::Platform { &first.platform } else { &first.bank };
    let pairs: Vec<String> = played.iter().map(|n| n.pair()).collect();
    Some(format!(
        "A person played the {} {party}'s side (sim play), not its strategy, in {}.",
        side.as_str(),
        pairs.join(", ")
    ))
}

/// How a platform that weighs its deals together moved in this negotiation, one line per move
/// of its reservation value: when, from what to what, why, and what its offers here were worth
/// to it before and after (for report.md and report.html; none for a platform that weighs each
/// deal alone).
pub fn portfolio_lines(n: &NegotiationReport) -> Vec<String> {
    (n.reservation_moves.iter())
        .map(|m| {
            let effect = match (m.accepts_before, m.accepts_after) {
                (Some(b), Some(a)) if (a - b).abs() > 1e-9 => format!(
                    "the least it accepts in round {}: {b:.3} at the old value, {a:.3} at the new",
                    m.round
                ),
                _ => format!(
                    "its strategy's threshold in round {} is the same at either value, so its offers and acceptances did not change",
                    m.round
                ),
            };
            format!(
                "The platform weighs its deals together: at {} its reservation value here went {:.3} → {:.3} ({}); {effect}. The deal-quality figures here measure against the new value.",
                ms(m.at_ms),
                m.from,
                m.to,
                m.reason
            )
        })
        .collect()
}

/// How good the deal was, in one line for report.md and report.html: the agreement's
/// optimality (NegMAS's measures) and each side's advantage, or for a negotiation without one
/// what was there to agree on.
pub fn quality_line(n: &NegotiationReport) -> Option<String> {
    let space = n.outcome_space.as_ref()?;
    let point = |p: &[f64; 2]| format!("({:.3}, {:.3})", p[0], p[1]);
    let room = format!(
        "{} of {} outcomes agreeable to both, {} on the Pareto frontier",
        space.agreeable,
        space.outcomes,
        space.frontier.len()
    );
    Some(match (&n.outcome.quality, space.nash.first()) {
        (Some(q), _) => format!(
            "Deal quality: Pareto {:.3}, Nash {:.3}, Kalai {:.3}, Kalai–Smorodinsky {:.3}, welfare {:.3}; advantage over reservation: platform {:+.3}, bank {:+.3} ({room}).",
            q.pareto_optimality,
            q.nash_optimality,
            q.kalai_optimality,
            q.ks_optimality,
            q.max_welfare_optimality,
            q.advantage_platform,
            q.advantage_bank
        ),
        (None, Some(nash)) => format!("No deal, though {room}; the Nash point was {}.", point(nash)),
        (None, None) => format!("No deal was possible: {room}."),
    })
}

/// `report.json` exactly as written: pretty JSON and a final newline.
pub fn render_json(report: &Report) -> String {
    let mut json = serde_json::to_string_pretty(report).expect("reports serialise");
    json.push('\n');
    json
}

/// `transcript.jsonl`: one line per move, then one line per negotiation end.
pub fn render_transcript(report: &Report) -> String {
    #[derive(Serialize)]
    struct Move<'a> {
        platform: &'a str,
        bank: &'a str,
        #[serde(flatten)]
        entry: &'a TranscriptEntry,
    }
    #[derive(Serialize)]
    struct EndLine<'a> {
        platform: &'a str,
        bank: &'a str,
        end: &'a Outcome,
    }
    let mut out = String::new();
    for n in &report.negotiations {
        for entry in &n.transcript {
            let line = serde_json::to_string(&Move { platform: &n.platform, bank: &n.bank, entry })
                .expect("transcript entries serialise");
            out.push_str(&line);
            out.push('\n');
        }
        let line = serde_json::to_string(&EndLine { platform: &n.platform, bank: &n.bank, end: &n.outcome })
            .expect("outcomes serialise");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The data exchange that followed the agreements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataReport {
    /// Version of the synthetic population generator (changes when data would).
    pub generator: String,
    /// Configured length of each agreement's data phase.
    pub phase_ms: u64,
    pub sensitivity_weights: [f64; 3],
    pub flows: Vec<FlowReport>,
    pub latency: Vec<LatencyRow>,
    pub banks: Vec<BankDataRow>,
    /// Live runs: how each bank's data phase was paced against the wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LivePace>,
}

/// How a live run mapped each bank's data phase onto the wall clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivePace {
    /// The data API the banks spoke (`--api`).
    #[serde(default)]
    pub api: crate::wire::ApiProfile,
    /// Wall-clock length of the run's data phase.
    pub wall_ms: u64,
    pub banks: Vec<BankPaceRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankPaceRow {
    pub bank: String,
    /// Simulated time the run covered: the first `simulated_ms` of the bank's data phase.
    pub simulated_ms: u64,
    /// Simulated seconds per wall-clock second.
    pub speedup: f64,
    /// What set the speed.
    pub bound: PaceBound,
}

/// What set the speed of a bank's live data phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaceBound {
    /// The whole phase fits in the run.
    Phase,
    /// The run's `--max-rate`.
    MaxRate,
    /// The bank's own rate limit, of which the platform plans to use 80%.
    RateLimit,
    /// The bank's capacity (workers over the mean service time), of which the platform plans to
    /// use half.
    Capacity,
    /// The capacity of the aggregator the platform reaches the bank through, of which it plans
    /// to use half.
    AggregatorCapacity,
}

impl PaceBound {
    pub fn as_str(self) -> &'static str {
        match self {
            PaceBound::Phase => "phase",
            PaceBound::MaxRate => "max_rate",
            PaceBound::RateLimit => "rate_limit",
            PaceBound::Capacity => "capacity",
            PaceBound::AggregatorCapacity => "aggregator_capacity",
        }
    }

    /// Whether the limits of the bank, or of the path to it, set the pace (not the run's length
    /// or `--max-rate`).
    pub fn is_the_banks(self) -> bool {
        matches!(self, PaceBound::RateLimit | PaceBound::Capacity | PaceBound::AggregatorCapacity)
    }
}

/// The sentences that head a report's data section: how a live run was paced, and which banks
/// exposed nothing against those that did.
pub fn summary_sentences(report: &Report) -> Vec<String> {
    let live = report.data.as_ref().and_then(|d| d.live.as_ref()).map(live_pace_sentence);
    (person_sentence(report).into_iter().chain(live))
        .chain(refused_consents_sentence(report))
        .chain(abandoned_sentence(report))
        .chain(withdrawn_banks_sentence(report))
        .collect()
}

/// The sentence naming the agreements under which customers the platform asked to link were not
/// linked (the bank refused, or did not answer); `None` when every consent was made.
pub fn refused_consents_sentence(report: &Report) -> Option<String> {
    let d = report.data.as_ref()?;
    let refused: Vec<String> = (d.flows.iter())
        .filter(|f| f.consents_refused > 0)
        .map(|f| {
            let of = f.exposure.linked_customers;
            let every = if f.consents_refused >= of { " (every one)" } else { "" };
            format!("{} of {} customers of {} at {}{every}", count(f.consents_refused), count(of), f.platform, f.bank)
        })
        .collect();
    (!refused.is_empty()).then(|| {
        format!(
            "Not linked: {} (the bank refused, or did not answer); no request was sent for them, and the run is incomplete.",
            and_list(&refused)
        )
    })
}

/// The sentence saying how many scheduled requests ended with neither an answer nor an error,
/// and why; `None` when every request ended one way or the other.
pub fn abandoned_sentence(report: &Report) -> Option<String> {
    let d = report.data.as_ref()?;
    let mut why: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &d.latency {
        for (reason, n) in &row.latency.abandoned {
            *why.entry(reason).or_default() += n;
        }
    }
    let abandoned: u64 = why.values().sum();
    if abandoned == 0 {
        return None;
    }
    let scheduled: u64 = d.latency.iter().map(|r| r.requests).sum();
    let reasons: Vec<String> = why.iter().map(|(r, n)| format!("{r} {}", count(*n))).collect();
    Some(format!(
        "{} of {} scheduled requests were abandoned, neither answered nor failed ({}): latency covers only the answered ones.",
        count(abandoned),
        count(scheduled),
        reasons.join(", ")
    ))
}

/// The sentence saying how a live run was paced, bank by bank.
pub fn live_pace_sentence(pace: &LivePace) -> String {
    let banks: Vec<String> = pace
        .banks
        .iter()
        .map(|b| {
            let why = match b.bound {
                PaceBound::RateLimit => "held to 80% of its rate limit",
                PaceBound::Capacity => "held to half its capacity",
                PaceBound::AggregatorCapacity => "held to half its aggregator's capacity",
                PaceBound::MaxRate => "held to the run's --max-rate",
                PaceBound::Phase => "the whole phase",
            };
            let speedup = if b.speedup < 10.0 { format!("{:.1}", b.speedup) } else { count(b.speedup.round() as u64) };
            format!("{} the first {} ({speedup}\u{d7} real time, {why})", b.bank, ms(b.simulated_ms))
        })
        .collect();
    let over = pace.api.title();
    if banks.is_empty() {
        // No agreement put data on the wire (every negotiation ended without one).
        return format!("Live run over {over}: {} of wall time; no bank had data to pace.", ms(pace.wall_ms));
    }
    format!("Live run over {over}: {} of wall time covered, at {}.", ms(pace.wall_ms), and_list(&banks))
}

/// Data flowing under one agreement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowReport {
    pub platform: String,
    pub bank: String,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub ended_by: crate::workload::EndedBy,
    pub categories: Vec<String>,
    pub purposes: Vec<String>,
    pub permissions: Vec<String>,
    pub requests: u64,
    /// Customers the bank refused to link (live runs; absent when none): their requests were
    /// not sent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consents_refused: u64,
    pub exposure: crate::exposure::ExposureSummary,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A platform's integration design when it is not the default direct pull, and what it
/// changed in the data phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignReport {
    pub platform: String,
    /// `aggregator`, `minimised` or `push`.
    pub kind: crate::scenario::DesignKind,
    /// Aggregator designs: the aggregator's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<String>,
    /// Aggregator designs: what the aggregator received while relaying, one entry per
    /// agreement (its `platform` is the aggregator).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relayed: Vec<crate::exposure::ExposureSummary>,
    /// Push designs: deliveries the banks pushed as events happened, per bank (part of the
    /// flows' `requests`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pushed: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    pub bank: String,
    pub kind: crate::scenario::RequestKind,
    /// Requests sent (first attempts).
    pub requests: u64,
    #[serde(flatten)]
    pub latency: crate::latency::LatencySummary,
}

/// One bank across all platforms: what it exposed and how its service held up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankDataRow {
    pub bank: String,
    pub population: u64,
    /// Distinct customers any platform (or aggregator relaying for one) received data about.
    pub customers_exposed: u64,
    pub share_of_population: f64,
    /// Summed over every party that received data: platforms and the aggregators relaying to
    /// them.
    pub weighted_score: f64,
    pub field_values: crate::exposure::FieldValues,
    pub requests_served: u64,
    /// Queue figures of the bank's service model. Live, they come from the bank's `/metrics`
    /// over the data phase, and are `null` for a bank that does not publish them.
    pub mean_wait_ms: Option<f64>,
    /// Mean number of requests in the bank (L in Little's law): seen by arriving requests in
    /// virtual mode, time-averaged live.
    pub mean_in_system: Option<f64>,
    pub utilisation: Option<f64>,
}

/// A titled table: the shape both `report.md` and the terminal summary render.
pub struct TableView {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// What a table shows for a figure the bank did not publish (a live bank without our `/metrics`).
fn not_published() -> String {
    "n/a".into()
}

fn count(n: u64) -> String {
    // Thousands separators keep big counts readable.
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn map_line(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        "-".into()
    } else {
        m.iter().map(|(k, v)| format!("{k} {}", count(*v))).collect::<Vec<_>>().join(", ")
    }
}

/// The data-phase tables: exposure by bank, by agreement, by purpose; latency; bank queues.
pub fn data_tables(report: &Report) -> Vec<TableView> {
    let Some(d) = &report.data else { return Vec::new() };
    let outcome_of = |bank: &str| -> String {
        let mut kinds: Vec<String> = report
            .negotiations
            .iter()
            .filter(|n| n.bank == bank)
            .map(|n| {
                let mut k = n.outcome.kind.as_str().to_string();
                if n.revocation.is_some() {
                    k.push_str(" (revoked)");
                }
                format!("{}: {k}", n.platform)
            })
            .collect();
        kinds.dedup();
        kinds.join("; ")
    };
    let banks = TableView {
        title: "Exposure by bank",
        header: vec![
            "bank",
            "negotiations",
            "customers exposed",
            "of population",
            "field values L/M/H",
            "weighted score",
            "requests served",
        ],
        rows: d
            .banks
            .iter()
            .map(|b| {
                vec![
                    b.bank.clone(),
                    outcome_of(&b.bank),
                    count(b.customers_exposed),
                    pct(b.share_of_population),
                    format!(
                        "{}/{}/{}",
                        count(b.field_values.low),
                        count(b.field_values.moderate),
                        count(b.field_values.high)
                    ),
                    count(b.weighted_score.round() as u64),
                    count(b.requests_served),
                ]
            })
            .collect(),
    };
    let flows = TableView {
        title: "Exposure by agreement",
        header: vec![
            "pair",
            "data flowed",
            "linked",
            "exposed",
            "records by category",
            "unique on ZIP+DOB+sex (min k)",
            "unique on 4 merchant-days",
            "minimisation excess",
            "violations / blocked",
            "refused",
        ],
        rows: d
            .flows
            .iter()
            .map(|f| {
                let e = &f.exposure;
                vec![
                    format!("{}→{}", f.platform, f.bank),
                    format!("{} → {} ({})", ms(f.started_at_ms), ms(f.ended_at_ms), f.ended_by.as_str()),
                    count(e.linked_customers),
                    format!("{} ({})", count(e.customers_exposed), pct(e.share_of_linked)),
                    map_line(&e.records_by_category),
                    format!("{} ({})", pct(e.qi_unique_share), e.qi_min_k.map_or("-".into(), |k| k.to_string())),
                    e.merchant_day_unique_share
                        .map_or_else(|| "-".into(), |s| format!("{} of {}", pct(s), count(e.merchant_day_sample))),
                    count(e.minimisation_excess),
                    format!("{} / {}", count(e.violations), count(e.blocked_requests)),
                    map_line(&e.refused),
                ]
            })
            .collect(),
    };
    let purposes = TableView {
        title: "Exposure by purpose",
        header: vec!["pair", "purpose", "requests", "records", "field values"],
        rows: d
            .flows
            .iter()
            .flat_map(|f| {
                f.exposure.by_purpose.iter().map(move |(p, x)| {
                    vec![
                        format!("{}→{}", f.platform, f.bank),
                        p.clone(),
                        count(x.requests),
                        count(x.records),
                        count(x.field_values),
                    ]
                })
            })
            .collect(),
    };
    let any_abandoned = d.latency.iter().any(|r| r.latency.abandoned_total() > 0);
    let mut latency = TableView {
        title: "Latency (from intended send time)",
        header: vec![
            "bank",
            "request",
            "sent",
            "ok",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "mean (95% CI)",
            "req/s",
            "errors",
        ],
        rows: d
            .latency
            .iter()
            .map(|r| {
                let l = &r.latency;
                let f = |x: f64| format!("{x:.1}ms");
                vec![
                    r.bank.clone(),
                    r.kind.as_str().into(),
                    count(r.requests),
                    count(l.ok),
                    f(l.p50_ms),
                    f(l.p90_ms),
                    f(l.p99_ms),
                    f(l.p999_ms),
                    f(l.max_ms),
                    format!("{:.2}ms ({:.2}–{:.2})", l.mean_ms, l.mean_ci95_ms[0], l.mean_ci95_ms[1]),
                    format!("{:.2}", l.throughput_per_s),
                    map_line(&l.errors),
                ]
            })
            .collect(),
    };
    if any_abandoned {
        // Only where a run abandoned requests, so that reports of runs without any keep their
        // shape.
        latency.header.push("abandoned");
        for (row, r) in latency.rows.iter_mut().zip(&d.latency) {
            row.push(map_line(&r.latency.abandoned));
        }
    }
    let queues = TableView {
        title: "Bank queues",
        header: vec!["bank", "served", "mean wait", "mean in system", "utilisation"],
        rows: d
            .banks
            .iter()
            .filter(|b| b.requests_served > 0)
            .map(|b| {
                vec![
                    b.bank.clone(),
                    count(b.requests_served),
                    b.mean_wait_ms.map_or_else(not_published, |w| format!("{w:.3}ms")),
                    b.mean_in_system.map_or_else(not_published, |l| format!("{l:.3}")),
                    b.utilisation.map_or_else(not_published, pct),
                ]
            })
            .collect(),
    };
    let mut tables = vec![banks, flows, purposes, latency, queues];
    let relayed: Vec<Vec<String>> = report
        .designs
        .iter()
        .flat_map(|d| d.relayed.iter().map(move |e| (d, e)))
        .map(|(d, e)| {
            vec![
                e.platform.clone(),
                format!("{}→{}", d.platform, e.bank),
                format!("{} ({})", count(e.customers_exposed), pct(e.share_of_linked)),
                map_line(&e.records_by_category),
                format!(
                    "{}/{}/{}",
                    count(e.field_values.low),
                    count(e.field_values.moderate),
                    count(e.field_values.high)
                ),
                count(e.weighted_score.round() as u64),
            ]
        })
        .collect();
    if !relayed.is_empty() {
        tables.push(TableView {
            title: "Exposure at aggregators",
            header: vec![
                "aggregator",
                "relaying",
                "customers seen",
                "records by category",
                "field values L/M/H",
                "weighted score",
            ],
            rows: relayed,
        });
    }
    tables
}

/// One sentence per platform whose integration design is not the direct pull.
pub fn design_sentences(report: &Report) -> Vec<String> {
    report
        .designs
        .iter()
        .map(|d| match d.kind {
            DesignKind::Aggregator => format!(
                "{} reaches the banks through the aggregator {}: one more hop each way in every latency, and a copy \
                 of every record it relays in the aggregator's hands (counted in the banks' field values and scores).",
                d.platform,
                d.aggregator.as_deref().unwrap_or("-")
            ),
            DesignKind::Minimised => format!(
                "{} is minimised: banks answer balance lookups with a balance band and transaction requests with a \
                 fraud flag, so no raw balance or transaction field leaves them.",
                d.platform
            ),
            DesignKind::Push => format!(
                "{} is pushed to: the banks sent {} deliveries ({}) as card transactions booked, instead of being \
                 polled; the latency of pushed kinds runs from the booking to the delivery.",
                d.platform,
                count(d.pushed.values().sum()),
                map_line(&d.pushed)
            ),
            DesignKind::Direct => format!("{}: design direct.", d.platform),
        })
        .collect()
}

/// One sentence setting the banks that exposed nothing against every bank that did, the most
/// exposed first.
pub fn withdrawn_banks_sentence(report: &Report) -> Option<String> {
    let d = report.data.as_ref()?;
    let (none, mut some): (Vec<_>, Vec<_>) = d.banks.iter().partition(|b| b.customers_exposed == 0);
    if none.is_empty() || some.is_empty() {
        return None;
    }
    some.sort_by(|a, b| b.weighted_score.total_cmp(&a.weighted_score).then_with(|| a.bank.cmp(&b.bank)));
    let names: Vec<String> = none.iter().map(|b| b.bank.clone()).collect();
    let exposed: Vec<String> = some
        .iter()
        .enumerate()
        .map(|(i, b)| {
            format!(
                "{}{} {} customers ({} of its population, weighted score {})",
                b.bank,
                if i == 0 { " exposed" } else { "" },
                count(b.customers_exposed),
                pct(b.share_of_population),
                count(b.weighted_score.round() as u64)
            )
        })
        .collect();
    Some(format!("{} exposed no customer data, while {}.", and_list(&names), and_list(&exposed)))
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn markdown_table(md: &mut String, t: &TableView) {
    let _ = writeln!(md, "### {}\n", t.title);
    let _ = writeln!(md, "| {} |", t.header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(t.header.len()));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(md);
}

fn render_data_markdown(md: &mut String, report: &Report) {
    let Some(d) = &report.data else { return };
    let _ = writeln!(md, "## Data exchange\n");
    let _ = writeln!(
        md,
        "Each agreement's data phase lasts {} (less if revoked or the scenario ends). Synthetic customers: `{}`. \
         Exposure score weights L/M/H: {:?}.\n",
        ms(d.phase_ms),
        d.generator,
        d.sensitivity_weights
    );
    for s in summary_sentences(report) {
        let _ = writeln!(md, "{s}\n");
    }
    for s in design_sentences(report) {
        let _ = writeln!(md, "{s}\n");
    }
    for t in data_tables(report) {
        markdown_table(md, &t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::RequestKind;
    use crate::workload::EndedBy;
    use serde::de::DeserializeOwned;

    /// Serialises to `name` in JSON and reads back from it, as `report.json` always spelt it.
    fn same_string<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T, name: &str) {
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!("\"{name}\""), "{value:?}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
    }

    #[test]
    fn report_enums_keep_the_strings_report_json_has_always_used() {
        for k in TimelineKind::ALL {
            same_string(k, k.as_str());
        }
        let names: Vec<&str> = TimelineKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "privacy_incident",
                "regulation",
                "outage",
                "load_spike",
                "agreement",
                "withdrawal",
                "timeout",
                "unfinished",
                "revocation",
                "portfolio"
            ]
        );
        for (e, name) in [
            (EndedBy::PhaseOver, "phase_over"),
            (EndedBy::ScenarioEnd, "scenario_end"),
            (EndedBy::Revoked, "revoked"),
            (EndedBy::Interrupted, "interrupted"),
        ] {
            assert_eq!(e.as_str(), name);
            same_string(e, name);
        }
        for (d, name) in [
            (DesignKind::Direct, "direct"),
            (DesignKind::Aggregator, "aggregator"),
            (DesignKind::Minimised, "minimised"),
            (DesignKind::Push, "push"),
        ] {
            assert_eq!(d.as_str(), name);
            same_string(d, name);
        }
        for (b, name) in [
            (PaceBound::Phase, "phase"),
            (PaceBound::MaxRate, "max_rate"),
            (PaceBound::RateLimit, "rate_limit"),
            (PaceBound::Capacity, "capacity"),
        ] {
            assert_eq!(b.as_str(), name);
            same_string(b, name);
        }
        for k in RequestKind::ALL {
            same_string(k, k.as_str());
        }
    }

    #[test]
    fn every_scheduled_event_and_negotiation_end_has_its_timeline_kind() {
        for (o, k) in [
            (OutcomeKind::Agreement, TimelineKind::Agreement),
            (OutcomeKind::Withdrawal, TimelineKind::Withdrawal),
            (OutcomeKind::Timeout, TimelineKind::Timeout),
            (OutcomeKind::Unfinished, TimelineKind::Unfinished),
        ] {
            assert_eq!(TimelineKind::from(o), k);
            assert_eq!(o.as_str(), k.as_str());
        }
    }
}
