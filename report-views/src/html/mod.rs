//! `report.html`: one self-contained page rendered from a [`Report`]: summary, each
//! negotiation's dance and narrated transcript, latency, exposure and a timeline. Charts are
//! inline SVG (see [`charts`]), styles are inline CSS, and nothing refers to anything outside the
//! file, so it opens offline and can be mailed or archived as is. Same report, same bytes.

pub mod charts;

use crate::ReportError;
use charts::{
    AGREEMENT_COLOUR, BANK_COLOUR, BarSeries, Bars, Dance, DanceEnd, DanceOffer, Lanes, LegendEntry, Mark,
    NEUTRAL_COLOUR, PALETTE, PLATFORM_COLOUR, Plane, PlaneEnd, SENSITIVITY_COLOURS, Span, Swatch, WITHDRAWAL_COLOUR,
};
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use plotters::style::RGBColor;
use serde::Serialize;
use std::collections::BTreeMap;
use testbed_core::negotiation::Side;
use testbed_core::negotiation::quality::{PLANE_AGREEABLE, PLANE_CELLS, PLANE_OUTCOME};
use testbed_core::report::{
    Action, NegotiationReport, OutcomeKind, OutcomeSpaceReport, Report, SUMMARY_HEADER, TableView, TimelineKind,
    TranscriptEntry, data_tables, ms, narrate, person_clause, portfolio_lines, quality_line, summary_row,
    summary_sentences, terms_line, ties_clause,
};

const TEMPLATE: &str = include_str!("../../templates/report.html.j2");
const STYLE: &str = include_str!("../../templates/report.css");
const DAY_MS: f64 = 86_400_000.0;

/// Renders `report.html`.
pub fn render_html(report: &Report) -> Result<String, ReportError> {
    let page = page(report).map_err(|e| ReportError::Render(e.to_string()))?;
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE).map_err(|e| ReportError::Render(e.to_string()))?;
    let template = env.get_template("report.html").map_err(|e| ReportError::Render(e.to_string()))?;
    let mut html = template.render(Value::from(Serde(page))).map_err(|e| ReportError::Render(e.to_string()))?;
    if !html.ends_with('\n') {
        html.push('\n');
    }
    Ok(html)
}

/// HTML-escapes `text` and sets `backticked` spans in `<code>`.
pub fn inline_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, piece) in text.split('`').enumerate() {
        let escaped = escape(piece);
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escaped);
            out.push_str("</code>");
        } else {
            out.push_str(&escaped);
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn safe(html: String) -> Value {
    Value::from_safe_string(html)
}

/// `messenger→citi-like` → `pair-messenger-citi-like`: an anchor that survives any name.
fn anchor(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    out.push('-');
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out
}

fn css_colour(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

#[derive(Serialize)]
struct Page {
    title: String,
    description: String,
    style: Value,
    meta: Vec<(String, String)>,
    complete: bool,
    cards: Vec<Card>,
    sentence: Option<String>,
    summary: Table,
    parties: Table,
    negotiations: Vec<NegotiationView>,
    latency: Option<Section>,
    exposure: Option<Section>,
    timeline_chart: Value,
    timeline: Vec<TimelineRow>,
    platform_colour: String,
    bank_colour: String,
}

#[derive(Serialize)]
struct Card {
    label: String,
    value: String,
    tone: &'static str,
}

#[derive(Serialize)]
struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl From<TableView> for Table {
    fn from(t: TableView) -> Self {
        Table { title: t.title.into(), header: t.header.iter().map(|h| h.to_string()).collect(), rows: t.rows }
    }
}

#[derive(Serialize)]
struct Section {
    charts: Vec<ChartView>,
    tables: Vec<Table>,
}

#[derive(Serialize)]
struct ChartView {
    id: String,
    title: String,
    note: String,
    svg: Value,
}

#[derive(Serialize)]
struct NegotiationView {
    anchor: String,
    pair: String,
    kind: &'static str,
    headline: String,
    facts: String,
    chart: Value,
    narration: Vec<NarrationRow>,
    terms: Option<String>,
    end: Option<Value>,
    /// How good the deal was (`report::quality_line`).
    quality: Option<String>,
    /// How a platform weighing its deals together moved here (`report::portfolio_lines`).
    portfolio: Vec<String>,
    /// The outcome space in the utility plane, with both sides' offer paths.
    plane: Option<Value>,
    revocation: Option<Value>,
}

#[derive(Serialize)]
struct NarrationRow {
    rounds: String,
    when: String,
    text: Value,
}

#[derive(Serialize)]
struct TimelineRow {
    when: String,
    kind: String,
    subject: String,
    detail: Value,
}

fn page(report: &Report) -> Result<Page, charts::ChartError> {
    let s = &report.scenario;
    let t = &report.totals;
    let mut cards = vec![
        Card { label: "negotiations".into(), value: t.negotiations.to_string(), tone: "plain" },
        Card { label: "agreements".into(), value: t.agreements.to_string(), tone: "good" },
        Card { label: "withdrawals".into(), value: t.withdrawals.to_string(), tone: "bad" },
        Card {
            label: "timeouts / unfinished".into(),
            value: format!("{} / {}", t.timeouts, t.unfinished),
            tone: "plain",
        },
        Card { label: "agreements revoked".into(), value: t.revocations.to_string(), tone: "bad" },
    ];
    if let Some(d) = &report.data {
        let exposed: u64 = d.banks.iter().map(|b| b.customers_exposed).sum();
        let requests: u64 = d.latency.iter().map(|r| r.requests).sum();
        cards.push(Card {
            label: "customers exposed".into(),
            value: charts::short_number(exposed as f64),
            tone: "warn",
        });
        cards.push(Card { label: "requests sent".into(), value: charts::short_number(requests as f64), tone: "plain" });
    }
    let meta = vec![
        ("mode".into(), format!("{:?}", report.mode).to_lowercase()),
        ("seed".into(), s.seed.to_string()),
        ("simulated duration".into(), ms(s.duration_ms)),
        ("tool".into(), format!("{} {}", report.tool.name, report.tool.version)),
        ("schema".into(), report.schema.clone()),
    ];
    let summary = Table {
        title: "Outcomes".into(),
        header: SUMMARY_HEADER.iter().map(|h| h.to_string()).collect(),
        rows: report.negotiations.iter().map(|n| summary_row(report, n).to_vec()).collect(),
    };
    Ok(Page {
        title: s.name.clone(),
        description: s.description.trim().to_string(),
        style: safe(STYLE.to_string()),
        meta,
        complete: report.complete,
        cards,
        sentence: Some(summary_sentences(report).join(" ")).filter(|s| !s.is_empty()),
        summary,
        parties: parties(report),
        negotiations: report.negotiations.iter().map(|n| negotiation_view(report, n)).collect::<Result<_, _>>()?,
        latency: latency_section(report)?,
        exposure: exposure_section(report)?,
        timeline_chart: safe(charts::lanes_chart(&timeline_lanes(report))?),
        timeline: report
            .timeline
            .iter()
            .map(|e| TimelineRow {
                when: ms(e.at_ms),
                kind: e.kind.as_str().into(),
                subject: e.subject.clone(),
                detail: safe(inline_code(&e.detail)),
            })
            .collect(),
        platform_colour: css_colour(PLATFORM_COLOUR),
        bank_colour: css_colour(BANK_COLOUR),
    })
}

fn parties(report: &Report) -> Table {
    let mut rows = Vec::new();
    for p in &report.platforms {
        let trust = if p.initial_trust == p.final_trust {
            format!("{:.2}", p.initial_trust)
        } else {
            format!("{:.2} → {:.2}", p.initial_trust, p.final_trust)
        };
        rows.push(vec![
            p.name.clone(),
            "platform".into(),
            p.strategy.clone(),
            format!("{:.2}", p.reservation),
            p.deadline_rounds.to_string(),
            format!("trust {trust}"),
        ]);
    }
    for b in &report.banks {
        let mut limits: Vec<String> = b
            .clauses
            .iter()
            .map(|c| format!("{}: no {}={} (patience {})", c.id, c.issue, c.forbidden.join("/"), c.patience))
            .collect();
        if let Some(min) = b.min_platform_trust {
            limits.push(format!("min_platform_trust {min:.2}"));
        }
        if let Some(min) = b.revoke_below_trust {
            limits.push(format!("revoke below trust {min:.2}"));
        }
        rows.push(vec![
            b.name.clone(),
            "bank".into(),
            b.strategy.clone(),
            format!("{:.2}", b.reservation),
            b.deadline_rounds.to_string(),
            if limits.is_empty() { "-".into() } else { limits.join("; ") },
        ]);
    }
    Table {
        title: "Parties".into(),
        header: ["name", "role", "strategy", "reservation", "deadline (rounds)", "hard limits and trust"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

fn negotiation_view(report: &Report, n: &NegotiationReport) -> Result<NegotiationView, charts::ChartError> {
    let o = &n.outcome;
    let second = |side: Side| if side == n.opened_by { 0.0 } else { 0.5 };
    let offers: Vec<DanceOffer> = n
        .transcript
        .iter()
        .filter(|e| e.action == Action::Offer)
        .filter_map(|e| {
            Some(DanceOffer {
                x: f64::from(e.round) + second(e.side),
                by_platform: e.side == Side::Platform,
                utility_platform: e.utility_platform?,
                utility_bank: e.utility_bank?,
            })
        })
        .collect();
    let last_x = n.transcript.last().map_or(0.0, |e| f64::from(e.round) + second(e.side));
    let (label, colour) = end_mark(n);
    let (kind, x, agreed) = match o.kind {
        OutcomeKind::Agreement => ("agreement", last_x, o.utility_platform.zip(o.utility_bank)),
        OutcomeKind::Withdrawal => ("withdrawal", last_x, None),
        OutcomeKind::Timeout => ("timeout", f64::from(n.deadline_rounds), None),
        OutcomeKind::Unfinished => ("unfinished", last_x, None),
    };
    let end = Some(DanceEnd { x, label, colour, agreed });
    // As the negotiation ended: a platform weighing its deals together may have moved it.
    let reservation_platform = match n.reservation_moves.last() {
        Some(moved) => moved.to,
        None => report.platforms.iter().find(|p| p.name == n.platform).map_or(0.0, |p| p.reservation),
    };
    let reservation_bank = report.banks.iter().find(|b| b.name == n.bank).map_or(0.0, |b| b.reservation);
    let last_round = n.transcript.last().map_or(0, |e| e.round);
    let dance = Dance {
        title: format!("negotiation dance of {}", n.pair()),
        rounds: (last_round + 1).max(o.round + 1),
        offers,
        reservation_platform,
        reservation_bank,
        end,
    };
    let by = by_whom(o);
    let headline = match o.kind {
        OutcomeKind::Agreement => format!("agreement in round {} after {}", o.round, ms(o.time_to_outcome_ms)),
        OutcomeKind::Withdrawal => format!(
            "withdrawal{by} in round {} after {}, over {}",
            o.round,
            ms(o.time_to_outcome_ms),
            o.clause.as_deref().unwrap_or("-")
        ),
        OutcomeKind::Timeout => format!("timeout after {} rounds", n.deadline_rounds),
        OutcomeKind::Unfinished => format!("unfinished in round {}", o.round),
    };
    let end = match (&o.clause, &o.reason) {
        (Some(c), Some(r)) => Some(safe(inline_code(&format!("Clause `{c}`: {r}.")))),
        _ => None,
    };
    Ok(NegotiationView {
        anchor: anchor("pair", &n.pair()),
        pair: n.pair(),
        kind,
        headline,
        facts: format!(
            "Opened by the {} at {}; deadline {} rounds; {} offer{}{}{}.",
            n.opened_by.as_str(),
            ms(n.started_at_ms),
            n.deadline_rounds,
            n.offers,
            if n.offers == 1 { "" } else { "s" },
            ties_clause(n),
            person_clause(n)
        ),
        chart: safe(charts::dance_chart(&dance)?),
        narration: narrate(report, n)
            .into_iter()
            .map(|l| NarrationRow { rounds: l.rounds, when: l.when, text: safe(inline_code(&l.text)) })
            .collect(),
        terms: o.terms.as_ref().map(|t| terms_line(&report.issues, t)),
        end,
        quality: quality_line(n),
        portfolio: portfolio_lines(n),
        plane: plane(n).map(|p| charts::plane_chart(&p)).transpose()?.map(safe),
        revocation: n.revocation.as_ref().map(|r| {
            safe(inline_code(&format!("Revoked at {} under clause `{}`: {}.", ms(r.at_ms), r.clause, r.reason)))
        }),
    })
}

/// ` by the bank` (or platform): who accepted or withdrew.
fn by_whom(o: &testbed_core::report::Outcome) -> String {
    o.by.map_or(String::new(), |s| format!(" by the {}", s.as_str()))
}

/// How a negotiation ended, as both of its charts label it, and in which colour.
fn end_mark(n: &NegotiationReport) -> (String, RGBColor) {
    let (o, by) = (&n.outcome, by_whom(&n.outcome));
    match o.kind {
        OutcomeKind::Agreement => (format!("agreement in round {}{by}", o.round), AGREEMENT_COLOUR),
        OutcomeKind::Withdrawal => (
            format!("withdrawal{by} in round {}: {}", o.round, o.clause.as_deref().unwrap_or("no clause given")),
            WITHDRAWAL_COLOUR,
        ),
        OutcomeKind::Timeout => (format!("timeout after {} rounds", n.deadline_rounds), NEUTRAL_COLOUR),
        OutcomeKind::Unfinished => ("still negotiating when the scenario ended".into(), NEUTRAL_COLOUR),
    }
}

/// A negotiation's outcome-space chart: every outcome, the frontier, the Nash and
/// Kalai–Smorodinsky points, the reservation values, each side's offers and how it ended.
/// `None` for a report without the outcome space.
fn plane(n: &NegotiationReport) -> Option<Plane> {
    let space = n.outcome_space.as_ref()?;
    let o = &n.outcome;
    // A negotiation that ended without a deal is marked at the last offer on the table.
    let last_offer = (n.transcript.iter().rev())
        .find(|e| e.action == Action::Offer)
        .and_then(|e| e.utility_platform.zip(e.utility_bank));
    let agreement = o.kind == OutcomeKind::Agreement;
    let at = if agreement { o.utility_platform.zip(o.utility_bank) } else { last_offer };
    let end = at.map(|at| {
        let (label, colour) = end_mark(n);
        PlaneEnd { at, label, colour, agreement }
    });
    Some(Plane { end, ..plane_so_far(&n.pair(), space, &n.transcript) })
}

/// The outcome-space chart of a negotiation still under way (`sim play` shows it at each
/// turn): as in the report, without an end.
pub fn outcome_space_so_far(
    pair: &str,
    space: &OutcomeSpaceReport,
    transcript: &[TranscriptEntry],
) -> Result<String, charts::ChartError> {
    charts::plane_chart(&plane_so_far(pair, space, transcript))
}

fn plane_so_far(pair: &str, space: &OutcomeSpaceReport, transcript: &[TranscriptEntry]) -> Plane {
    let xy = |p: &[f64; 2]| (p[0], p[1]);
    let offers = |side: Side| -> Vec<(f64, f64)> {
        (transcript.iter())
            .filter(|e| e.action == Action::Offer && e.side == side)
            .filter_map(|e| e.utility_platform.zip(e.utility_bank))
            .collect()
    };
    Plane {
        title: format!("outcome space of {pair}"),
        runs: plane_runs(&space.plane),
        cell: 1.0 / PLANE_CELLS as f64,
        frontier: space.frontier.iter().map(xy).collect(),
        nash: space.nash.iter().map(xy).collect(),
        kalai_smorodinsky: space.kalai_smorodinsky.iter().map(xy).collect(),
        reservation: xy(&space.disagreement),
        platform_offers: offers(Side::Platform),
        bank_offers: offers(Side::Bank),
        end: None,
    }
}

/// The runs of occupied cells of a report's outcome-space picture (`OutcomeSpaceReport::plane`),
/// one rectangle each: (platform utility of the first and last cell, bank utility, agreeable).
fn plane_runs(plane: &[String]) -> Vec<(f64, f64, f64, bool)> {
    let n = PLANE_CELLS as f64;
    let mut runs = Vec::new();
    for (row, line) in plane.iter().enumerate() {
        let y = (n - row as f64) / n;
        let chars: Vec<char> = line.chars().collect();
        let mut start = 0;
        while start < chars.len() {
            let c = chars[start];
            let end = start + chars[start..].iter().take_while(|&&x| x == c).count();
            if c == PLANE_OUTCOME || c == PLANE_AGREEABLE {
                runs.push((start as f64 / n, (end - 1) as f64 / n, y, c == PLANE_AGREEABLE));
            }
            start = end;
        }
    }
    runs
}

/// Reads one percentile of a latency summary.
type Percentile = fn(&testbed_core::latency::LatencySummary) -> f64;

fn latency_section(report: &Report) -> Result<Option<Section>, charts::ChartError> {
    let Some(d) = &report.data else { return Ok(None) };
    let percentiles: [(&str, Percentile); 5] = [
        ("p50", |l| l.p50_ms),
        ("p90", |l| l.p90_ms),
        ("p99", |l| l.p99_ms),
        ("p99.9", |l| l.p999_ms),
        ("max", |l| l.max_ms),
    ];
    // Light to dark: the further into the tail, the darker the bar.
    let shades = [
        RGBColor(158, 202, 225),
        RGBColor(107, 174, 214),
        RGBColor(49, 130, 189),
        RGBColor(8, 81, 156),
        RGBColor(8, 48, 107),
    ];
    let rows: Vec<_> = d.latency.iter().filter(|r| r.latency.ok > 0).collect();
    let mut charts_out = Vec::new();
    if !rows.is_empty() {
        let bars = Bars {
            title: "latency percentiles per bank and request kind".into(),
            value_desc: "latency from the intended send time (ms)".into(),
            groups: rows.iter().map(|r| format!("{} · {}", r.bank, r.kind.as_str())).collect(),
            series: percentiles
                .iter()
                .zip(shades)
                .map(|((name, get), colour)| BarSeries {
                    name: (*name).into(),
                    colour,
                    values: rows.iter().map(|r| get(&r.latency)).collect(),
                })
                .collect(),
            unit: " ms".into(),
        };
        charts_out.push(ChartView {
            id: "latency-percentiles".into(),
            title: "Percentiles per bank and request kind".into(),
            note: "Measured from when each request was meant to be sent, so queueing and retries count \
                   (no coordinated omission)."
                .into(),
            svg: safe(charts::bar_chart(&bars)?),
        });
    }
    let tables: Vec<Table> = data_tables(report)
        .into_iter()
        .filter(|t| t.title.starts_with("Latency") || t.title == "Bank queues")
        .map(Table::from)
        .collect();
    Ok(Some(Section { charts: charts_out, tables }))
}

fn exposure_section(report: &Report) -> Result<Option<Section>, charts::ChartError> {
    let Some(d) = &report.data else { return Ok(None) };
    let banks: Vec<String> = d.banks.iter().map(|b| b.bank.clone()).collect();
    let class_names = ["low sensitivity", "moderate sensitivity", "high sensitivity"];
    let by_class = Bars {
        title: "field values disclosed by sensitivity class per bank".into(),
        value_desc: "field values disclosed (NIST 800-122 class)".into(),
        groups: banks.clone(),
        series: class_names
            .iter()
            .zip(SENSITIVITY_COLOURS)
            .enumerate()
            .map(|(i, (name, colour))| BarSeries {
                name: (*name).into(),
                colour,
                values: d
                    .banks
                    .iter()
                    .map(|b| {
                        let f = &b.field_values;
                        [f.low, f.moderate, f.high][i] as f64
                    })
                    .collect(),
            })
            .collect(),
        unit: String::new(),
    };
    let mut by_category: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for f in &d.flows {
        for (category, records) in &f.exposure.records_by_category {
            *by_category.entry(category).or_default().entry(f.bank.as_str()).or_default() += records;
        }
    }
    let by_category = Bars {
        title: "records disclosed by data category per bank".into(),
        value_desc: "records disclosed".into(),
        groups: banks.clone(),
        series: by_category
            .iter()
            .enumerate()
            .map(|(i, (category, per_bank))| BarSeries {
                name: (*category).into(),
                colour: PALETTE[i % PALETTE.len()],
                values: banks.iter().map(|b| per_bank.get(b.as_str()).copied().unwrap_or(0) as f64).collect(),
            })
            .collect(),
        unit: String::new(),
    };
    let charts_out = vec![
        ChartView {
            id: "exposure-by-class".into(),
            title: "By sensitivity class".into(),
            note: format!(
                "Field values that left each bank, by NIST 800-122 class; the weighted score counts them {:?} (L/M/H).",
                d.sensitivity_weights
            ),
            svg: safe(charts::bar_chart(&by_class)?),
        },
        ChartView {
            id: "exposure-by-category".into(),
            title: "By data category".into(),
            note: "Records disclosed per bank, by the data category they belong to.".into(),
            svg: safe(charts::bar_chart(&by_category)?),
        },
    ];
    let tables: Vec<Table> =
        data_tables(report).into_iter().filter(|t| t.title.starts_with("Exposure")).map(Table::from).collect();
    Ok(Some(Section { charts: charts_out, tables }))
}

/// Timeline kinds and their colours, in legend order.
const EVENT_COLOURS: [(TimelineKind, RGBColor); 10] = [
    (TimelineKind::Agreement, AGREEMENT_COLOUR),
    (TimelineKind::Withdrawal, WITHDRAWAL_COLOUR),
    (TimelineKind::Revocation, RGBColor(120, 30, 70)),
    (TimelineKind::Timeout, NEUTRAL_COLOUR),
    (TimelineKind::Unfinished, RGBColor(170, 170, 178)),
    (TimelineKind::PrivacyIncident, RGBColor(150, 60, 190)),
    (TimelineKind::Regulation, RGBColor(20, 110, 140)),
    (TimelineKind::Outage, RGBColor(30, 30, 30)),
    (TimelineKind::LoadSpike, RGBColor(200, 120, 20)),
    (TimelineKind::Portfolio, RGBColor(90, 140, 60)),
];

fn event_colour(kind: TimelineKind) -> RGBColor {
    EVENT_COLOURS.iter().find(|(k, _)| *k == kind).map_or(RGBColor(200, 120, 20), |(_, c)| *c)
}

fn timeline_lanes(report: &Report) -> Lanes {
    let mut lanes: Vec<String> = report.negotiations.iter().map(NegotiationReport::pair).collect();
    let lane_of = |subject: &str, lanes: &mut Vec<String>| -> usize {
        if let Some(i) = lanes.iter().position(|l| l == subject) {
            i
        } else {
            lanes.push(subject.to_string());
            lanes.len() - 1
        }
    };
    let day = |at_ms: u64| at_ms as f64 / DAY_MS;
    let negotiating = RGBColor(150, 160, 175);
    let flowing = RGBColor(120, 190, 140);
    let mut spans = Vec::new();
    for (i, n) in report.negotiations.iter().enumerate() {
        spans.push(Span {
            lane: i,
            from: day(n.started_at_ms),
            to: day(n.outcome.at_ms),
            colour: negotiating,
            thick: false,
        });
    }
    if let Some(d) = &report.data {
        for f in &d.flows {
            let pair = format!("{}→{}", f.platform, f.bank);
            let lane = lane_of(&pair, &mut lanes);
            spans.push(Span { lane, from: day(f.started_at_ms), to: day(f.ended_at_ms), colour: flowing, thick: true });
        }
    }
    let mut marks = Vec::new();
    let mut kinds_seen = Vec::new();
    for e in &report.timeline {
        let lane = lane_of(&e.subject, &mut lanes);
        marks.push(Mark { lane, at: day(e.at_ms), colour: event_colour(e.kind) });
        if !kinds_seen.contains(&e.kind) {
            kinds_seen.push(e.kind);
        }
    }
    let mut legend = vec![
        LegendEntry { label: "negotiating".into(), colour: negotiating, swatch: Swatch::Line },
        LegendEntry { label: "data flowing".into(), colour: flowing, swatch: Swatch::Box },
    ];
    // Legend in a fixed order, the kinds this page shows.
    for k in EVENT_COLOURS.iter().map(|(k, _)| *k).filter(|k| kinds_seen.contains(k)) {
        legend.push(LegendEntry { label: k.as_str().replace('_', " "), colour: event_colour(k), swatch: Swatch::Dot });
    }
    Lanes {
        title: "timeline of negotiations, data flows and events".into(),
        x_desc: "simulated time (days)".into(),
        x_max: day(report.scenario.duration_ms),
        lanes,
        spans,
        marks,
        legend,
    }
}
