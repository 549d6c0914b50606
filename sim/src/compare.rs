//! `sim compare`: two `report.json` files side by side — outcomes, latency and exposure, with
//! deltas (B − A) and ratios (B / A). Reports of different scenarios may be compared: pairs,
//! banks and request kinds are matched by name, and what only one side has is shown as missing.
//!
//! The diff itself ([`compare`]) is a pure function of two [`Report`] values; it lives here
//! rather than in `testbed-core` because it is a view for the command line (like the file
//! formats `compare.md` and `compare.json`), and nothing but `sim` needs it.

use crate::output::SimError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use testbed_core::exposure::ExposureSummary;
use testbed_core::report::{Mode, NegotiationReport, Report, SCHEMA};
use testbed_core::scenario::RequestKind;
use testbed_report::files::write_atomically;

/// Version of `compare.json`.
pub const COMPARE_SCHEMA: &str = "testbed-compare/1";
pub const COMPARE_MD: &str = "compare.md";
pub const COMPARE_JSON: &str = "compare.json";

/// One number on both sides. `None` means the side has no such thing (a bank it does not
/// have, a data phase it did not run).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// B − A.
    pub delta: Option<f64>,
    /// B / A; `None` when A is 0 or missing.
    pub ratio: Option<f64>,
}

impl Diff {
    pub fn new(metric: impl Into<String>, a: Option<f64>, b: Option<f64>) -> Diff {
        let delta = a.zip(b).map(|(a, b)| b - a);
        let ratio = a.zip(b).and_then(|(a, b)| if a == 0.0 { None } else { Some(b / a) });
        Diff { metric: metric.into(), a, b, delta, ratio }
    }
}

/// Where a report came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Source {
    pub file: String,
    pub scenario: String,
    pub seed: u64,
    pub mode: Mode,
    pub complete: bool,
    pub data_phase: bool,
}

/// How one negotiation ended, as far as a comparison cares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairOutcome {
    pub outcome: String,
    pub round: u32,
    pub clause: Option<String>,
    pub terms: Option<BTreeMap<String, String>>,
    /// The clause under which an agreement was revoked.
    pub revoked: Option<String>,
    pub time_to_outcome_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairDiff {
    pub platform: String,
    pub bank: String,
    pub a: Option<PairOutcome>,
    pub b: Option<PairOutcome>,
    /// What differs: `outcome`, `round`, `clause`, `terms`, `revocation`, or `missing`.
    pub changed: Vec<String>,
    /// Agreed terms that differ, issue → [A's option, B's option].
    pub terms_changed: BTreeMap<String, [Option<String>; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyDiff {
    pub bank: String,
    pub kind: RequestKind,
    /// `requests`, `ok`, `p50_ms`, `p90_ms`, `p99_ms`, `p999_ms`, `max_ms`, `mean_ms`, `errors`.
    pub metrics: Vec<Diff>,
}

/// Exposure of one scope: `all banks`, a bank, or an agreement (`platform→bank`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExposureDiff {
    pub scope: String,
    pub metrics: Vec<Diff>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub schema: String,
    pub a: Source,
    pub b: Source,
    pub totals: Vec<Diff>,
    pub outcomes: Vec<PairDiff>,
    pub latency: Vec<LatencyDiff>,
    pub exposure: Vec<ExposureDiff>,
}

/// Keys of `a` in order, then those only `b` has, in `b`'s order.
fn union_keys<K: Clone + PartialEq>(a: &[K], b: &[K]) -> Vec<K> {
    let mut keys = a.to_vec();
    keys.extend(b.iter().filter(|k| !a.contains(k)).cloned());
    keys.dedup();
    keys
}

fn pair_outcome(n: &NegotiationReport) -> PairOutcome {
    PairOutcome {
        outcome: n.outcome.kind.as_str().to_string(),
        round: n.outcome.round,
        clause: n.outcome.clause.clone(),
        terms: n.outcome.terms.clone(),
        revoked: n.revocation.as_ref().map(|r| r.clause.clone()),
        time_to_outcome_ms: n.outcome.time_to_outcome_ms,
    }
}

fn pair_diff(platform: &str, bank: &str, a: Option<&NegotiationReport>, b: Option<&NegotiationReport>) -> PairDiff {
    let (a, b) = (a.map(pair_outcome), b.map(pair_outcome));
    let mut changed = Vec::new();
    let mut terms_changed = BTreeMap::new();
    match (&a, &b) {
        (Some(x), Some(y)) => {
            for (what, differs) in [
                ("outcome", x.outcome != y.outcome),
                ("round", x.round != y.round),
                ("clause", x.clause != y.clause),
                ("terms", x.terms != y.terms),
                ("revocation", x.revoked != y.revoked),
            ] {
                if differs {
                    changed.push(what.to_string());
                }
            }
            let empty = BTreeMap::new();
            let (ta, tb) = (x.terms.as_ref().unwrap_or(&empty), y.terms.as_ref().unwrap_or(&empty));
            for issue in union_keys(&ta.keys().cloned().collect::<Vec<_>>(), &tb.keys().cloned().collect::<Vec<_>>()) {
                let (oa, ob) = (ta.get(&issue).cloned(), tb.get(&issue).cloned());
                if oa != ob && x.terms.is_some() && y.terms.is_some() {
                    terms_changed.insert(issue, [oa, ob]);
                }
            }
        }
        _ => changed.push("missing".to_string()),
    }
    PairDiff { platform: platform.into(), bank: bank.into(), a, b, changed, terms_changed }
}

fn records(e: &ExposureSummary) -> u64 {
    e.records_by_category.values().sum()
}

/// What a bank exposed across its platforms, from the report's per-bank rows and flows.
#[derive(Default, Clone, Copy)]
struct BankExposure {
    population: f64,
    customers: f64,
    records: f64,
    low: f64,
    moderate: f64,
    high: f64,
    score: f64,
    served: f64,
}

fn bank_exposure(report: &Report, bank: &str) -> Option<BankExposure> {
    let d = report.data.as_ref()?;
    let row = d.banks.iter().find(|b| b.bank == bank)?;
    let records: u64 = d.flows.iter().filter(|f| f.bank == bank).map(|f| records(&f.exposure)).sum();
    Some(BankExposure {
        population: row.population as f64,
        customers: row.customers_exposed as f64,
        records: records as f64,
        low: row.field_values.low as f64,
        moderate: row.field_values.moderate as f64,
        high: row.field_values.high as f64,
        score: row.weighted_score,
        served: row.requests_served as f64,
    })
}

fn total_exposure(report: &Report) -> Option<BankExposure> {
    let d = report.data.as_ref()?;
    Some(d.banks.iter().filter_map(|b| bank_exposure(report, &b.bank)).fold(BankExposure::default(), |t, x| {
        BankExposure {
            population: t.population + x.population,
            customers: t.customers + x.customers,
            records: t.records + x.records,
            low: t.low + x.low,
            moderate: t.moderate + x.moderate,
            high: t.high + x.high,
            score: t.score + x.score,
            served: t.served + x.served,
        }
    }))
}

fn bank_metrics(a: Option<BankExposure>, b: Option<BankExposure>) -> Vec<Diff> {
    let field = |f: fn(&BankExposure) -> f64| (a.as_ref().map(f), b.as_ref().map(f));
    let share = |x: &BankExposure| if x.population > 0.0 { x.customers / x.population } else { 0.0 };
    [
        ("customers_exposed", field(|x| x.customers)),
        ("share_of_population", field(share)),
        ("records_exposed", field(|x| x.records)),
        ("field_values_low", field(|x| x.low)),
        ("field_values_moderate", field(|x| x.moderate)),
        ("field_values_high", field(|x| x.high)),
        ("weighted_score", field(|x| x.score)),
        ("requests_served", field(|x| x.served)),
    ]
    .into_iter()
    .map(|(name, (a, b))| Diff::new(name, a, b))
    .collect()
}

fn flow_metrics(a: Option<&ExposureSummary>, b: Option<&ExposureSummary>) -> Vec<Diff> {
    let num = |f: &dyn Fn(&ExposureSummary) -> Option<f64>| (a.and_then(f), b.and_then(f));
    let mut out = vec![
        Diff::new("linked_customers", a.map(|e| e.linked_customers as f64), b.map(|e| e.linked_customers as f64)),
        Diff::new("customers_exposed", a.map(|e| e.customers_exposed as f64), b.map(|e| e.customers_exposed as f64)),
        Diff::new("share_of_linked", a.map(|e| e.share_of_linked), b.map(|e| e.share_of_linked)),
        Diff::new("records_exposed", a.map(|e| records(e) as f64), b.map(|e| records(e) as f64)),
    ];
    let cats_a: Vec<String> = a.map(|e| e.records_by_category.keys().cloned().collect()).unwrap_or_default();
    let cats_b: Vec<String> = b.map(|e| e.records_by_category.keys().cloned().collect()).unwrap_or_default();
    for cat in union_keys(&cats_a, &cats_b) {
        // A category one side never disclosed is 0 there, as long as that side has the flow.
        let get = |e: &ExposureSummary| e.records_by_category.get(&cat).copied().unwrap_or(0) as f64;
        out.push(Diff::new(format!("records: {cat}"), a.map(get), b.map(get)));
    }
    for (name, (x, y)) in [
        ("field_values_low", num(&|e| Some(e.field_values.low as f64))),
        ("field_values_moderate", num(&|e| Some(e.field_values.moderate as f64))),
        ("field_values_high", num(&|e| Some(e.field_values.high as f64))),
        ("weighted_score", num(&|e| Some(e.weighted_score))),
        ("unique_on_zip_dob_sex", num(&|e| Some(e.qi_unique_share))),
        ("min_k_zip_dob_sex", num(&|e| e.qi_min_k.map(|k| k as f64))),
        ("unique_on_4_merchant_days", num(&|e| e.merchant_day_unique_share)),
        ("minimisation_excess", num(&|e| Some(e.minimisation_excess as f64))),
        ("violations", num(&|e| Some(e.violations as f64))),
        ("blocked_requests", num(&|e| Some(e.blocked_requests as f64))),
    ] {
        out.push(Diff::new(name, x, y));
    }
    out
}

fn source(file: &str, r: &Report) -> Source {
    Source {
        file: file.to_string(),
        scenario: r.scenario.name.clone(),
        seed: r.scenario.seed,
        mode: r.mode,
        complete: r.complete,
        data_phase: r.data.is_some(),
    }
}

/// The diff of two reports; `file_a` and `file_b` only label them.
pub fn compare(file_a: &str, a: &Report, file_b: &str, b: &Report) -> Comparison {
    let t = |r: &Report| {
        let t = &r.totals;
        [
            ("negotiations", f64::from(t.negotiations)),
            ("agreements", f64::from(t.agreements)),
            ("withdrawals", f64::from(t.withdrawals)),
            ("timeouts", f64::from(t.timeouts)),
            ("unfinished", f64::from(t.unfinished)),
            ("revocations", f64::from(t.revocations)),
        ]
    };
    let totals = t(a).iter().zip(t(b)).map(|((name, x), (_, y))| Diff::new(*name, Some(*x), Some(y))).collect();

    let pairs = |r: &Report| r.negotiations.iter().map(|n| (n.platform.clone(), n.bank.clone())).collect::<Vec<_>>();
    let find = |r: &'_ Report, p: &str, bk: &str| -> Option<NegotiationReport> {
        r.negotiations.iter().find(|n| n.platform == p && n.bank == bk).cloned()
    };
    let outcomes = union_keys(&pairs(a), &pairs(b))
        .iter()
        .map(|(p, bk)| pair_diff(p, bk, find(a, p, bk).as_ref(), find(b, p, bk).as_ref()))
        .collect();

    let rows = |r: &Report| {
        r.data.as_ref().map_or_else(Vec::new, |d| d.latency.iter().map(|l| (l.bank.clone(), l.kind)).collect())
    };
    let latency = union_keys(&rows(a), &rows(b))
        .into_iter()
        .map(|(bank, kind)| {
            let row = |r: &Report| {
                r.data.as_ref().and_then(|d| d.latency.iter().find(|l| l.bank == bank && l.kind == kind).cloned())
            };
            let (x, y) = (row(a), row(b));
            let field = |f: fn(&testbed_core::report::LatencyRow) -> f64| (x.as_ref().map(f), y.as_ref().map(f));
            let metrics = [
                ("requests", field(|l| l.requests as f64)),
                ("ok", field(|l| l.latency.ok as f64)),
                ("p50_ms", field(|l| l.latency.p50_ms)),
                ("p90_ms", field(|l| l.latency.p90_ms)),
                ("p99_ms", field(|l| l.latency.p99_ms)),
                ("p999_ms", field(|l| l.latency.p999_ms)),
                ("max_ms", field(|l| l.latency.max_ms)),
                ("mean_ms", field(|l| l.latency.mean_ms)),
                ("errors", field(|l| l.latency.errors.values().sum::<u64>() as f64)),
            ]
            .into_iter()
            .map(|(name, (p, q))| Diff::new(name, p, q))
            .collect();
            LatencyDiff { bank, kind, metrics }
        })
        .collect();

    let mut exposure =
        vec![ExposureDiff { scope: "all banks".into(), metrics: bank_metrics(total_exposure(a), total_exposure(b)) }];
    let banks = |r: &Report| r.banks.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
    for bank in union_keys(&banks(a), &banks(b)) {
        exposure.push(ExposureDiff {
            metrics: bank_metrics(bank_exposure(a, &bank), bank_exposure(b, &bank)),
            scope: bank,
        });
    }
    let flows = |r: &Report| {
        r.data
            .as_ref()
            .map_or_else(Vec::new, |d| d.flows.iter().map(|f| (f.platform.clone(), f.bank.clone())).collect())
    };
    for (platform, bank) in union_keys(&flows(a), &flows(b)) {
        let flow = |r: &'_ Report| -> Option<ExposureSummary> {
            r.data.as_ref()?.flows.iter().find(|f| f.platform == platform && f.bank == bank).map(|f| f.exposure.clone())
        };
        exposure.push(ExposureDiff {
            scope: format!("{platform}→{bank}"),
            metrics: flow_metrics(flow(a).as_ref(), flow(b).as_ref()),
        });
    }
    Comparison {
        schema: COMPARE_SCHEMA.into(),
        a: source(file_a, a),
        b: source(file_b, b),
        totals,
        outcomes,
        latency,
        exposure,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading reports
// ---------------------------------------------------------------------------------------------

fn json_error(path: &str, e: &serde_json::Error) -> SimError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    SimError::Usage(format!("{path}:{}:{}: {message}", e.line(), e.column()))
}

/// Reads a `report.json`; anything else is refused with the file named (and `line:col` for
/// JSON that does not parse or does not fit the report format).
pub fn load_report(path: &Path) -> Result<Report, SimError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| SimError::Read { path: shown.clone(), error })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| json_error(&shown, &e))?;
    match value.get("schema").and_then(serde_json::Value::as_str) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(SimError::Usage(format!(
                "{shown}: schema is `{other}`; expected a {SCHEMA} report (the report.json of `sim run`)"
            )));
        }
        None => {
            return Err(SimError::Usage(format!(
                "{shown}: not a {SCHEMA} report (no \"schema\" field); give the report.json of `sim run`"
            )));
        }
    }
    serde_json::from_str(&text).map_err(|e| json_error(&shown, &e))
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// A number as people read it: integers with thousands separators, others with 3 decimals
/// below 10 and 1 above.
fn num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        let s = format!("{}", x.abs() as u64);
        let mut out = String::from(if x < 0.0 { "-" } else { "" });
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x.abs() < 10.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.1}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "missing".into(), num)
}

fn delta(d: &Diff) -> String {
    d.delta.map_or_else(|| "-".into(), |x| if x > 0.0 { format!("+{}", num(x)) } else { num(x) })
}

fn ratio(d: &Diff) -> String {
    match (d.a, d.b, d.ratio) {
        (_, _, Some(r)) => format!("×{r:.2}"),
        (Some(a), Some(b), None) if a == 0.0 && b == 0.0 => "=".into(),
        (Some(_), Some(_), None) => "new".into(),
        _ => "-".into(),
    }
}

/// `a → b (Δ, ×r)`, or just `a` when nothing changed; `compact` leaves out Δ.
fn cell(d: &Diff, compact: bool) -> String {
    match (d.a, d.b) {
        (Some(a), Some(b)) if a == b => num(a),
        _ if compact => format!("{} → {} ({})", opt(d.a), opt(d.b), ratio(d)),
        _ => format!("{} → {} ({}, {})", opt(d.a), opt(d.b), delta(d), ratio(d)),
    }
}

fn outcome_text(o: &Option<PairOutcome>) -> String {
    o.as_ref().map_or_else(
        || "missing".into(),
        |o| {
            let mut s = format!("{} in round {}", o.outcome, o.round);
            if let Some(c) = &o.clause {
                let _ = write!(s, " (`{c}`)");
            }
            if let Some(c) = &o.revoked {
                let _ = write!(s, ", revoked (`{c}`)");
            }
            s
        },
    )
}

struct View {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn views(c: &Comparison, full: bool) -> Vec<View> {
    let mut views = vec![View {
        title: "Totals".into(),
        header: ["negotiations", "A", "B", "Δ (B − A)"].map(String::from).to_vec(),
        rows: c.totals.iter().map(|d| vec![d.metric.clone(), opt(d.a), opt(d.b), delta(d)]).collect(),
    }];
    views.push(View {
        title: "Outcomes".into(),
        header: ["pair", "A", "B", "what differs", "agreed terms that differ (A → B)"].map(String::from).to_vec(),
        rows: c
            .outcomes
            .iter()
            .map(|p| {
                let terms = p
                    .terms_changed
                    .iter()
                    .map(|(issue, [x, y])| {
                        format!("{issue}: {} → {}", x.as_deref().unwrap_or("-"), y.as_deref().unwrap_or("-"))
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                vec![
                    format!("{}→{}", p.platform, p.bank),
                    outcome_text(&p.a),
                    outcome_text(&p.b),
                    if p.changed.is_empty() { "same".into() } else { p.changed.join(", ") },
                    if terms.is_empty() { "-".into() } else { terms },
                ]
            })
            .collect(),
    });
    let exposure_rows = |scopes: &mut dyn Iterator<Item = &ExposureDiff>| -> Vec<Vec<String>> {
        scopes
            .flat_map(|e| {
                e.metrics
                    .iter()
                    .map(move |d| vec![e.scope.clone(), d.metric.clone(), opt(d.a), opt(d.b), delta(d), ratio(d)])
            })
            .collect()
    };
    let header = ["scope", "metric", "A", "B", "Δ (B − A)", "B / A"].map(String::from).to_vec();
    let is_flow = |e: &&ExposureDiff| e.scope.contains('→');
    if full {
        views.push(View {
            title: "Exposure by bank".into(),
            header: header.clone(),
            rows: exposure_rows(&mut c.exposure.iter().filter(|e| !is_flow(e))),
        });
    } else {
        // The terminal gets one row per bank, A → B in each cell.
        let columns = [
            "customers_exposed",
            "records_exposed",
            "field_values_low",
            "field_values_moderate",
            "field_values_high",
            "weighted_score",
        ];
        views.push(View {
            title: "Exposure by bank (A → B, ratio)".into(),
            header: ["bank", "customers exposed", "records exposed", "low", "moderate", "high", "weighted score"]
                .map(String::from)
                .to_vec(),
            rows: c
                .exposure
                .iter()
                .filter(|e| !is_flow(e))
                .map(|e| {
                    let mut row = vec![e.scope.clone()];
                    for name in columns {
                        row.push(
                            e.metrics.iter().find(|d| d.metric == name).map_or_else(|| "-".into(), |d| cell(d, true)),
                        );
                    }
                    row
                })
                .collect(),
        });
    }
    if full {
        views.push(View {
            title: "Exposure by agreement (records, sensitivity, uniqueness)".into(),
            header,
            rows: exposure_rows(&mut c.exposure.iter().filter(is_flow)),
        });
    }
    let latency_header =
        ["bank", "request", "requests", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "mean ms", "errors"];
    views.push(View {
        title: "Latency (A → B, Δ, ratio)".into(),
        header: latency_header.map(String::from).to_vec(),
        rows: c
            .latency
            .iter()
            .map(|l| {
                let mut row = vec![l.bank.clone(), l.kind.as_str().into()];
                for name in ["requests", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "errors"] {
                    row.push(
                        l.metrics.iter().find(|d| d.metric == name).map_or_else(|| "-".into(), |d| cell(d, !full)),
                    );
                }
                row
            })
            .collect(),
    });
    views
}

/// One sentence on total exposure, the number an architect looks for first.
pub fn headline(c: &Comparison) -> String {
    let all = c.exposure.iter().find(|e| e.scope == "all banks");
    let get = |m: &str| all.and_then(|e| e.metrics.iter().find(|d| d.metric == m));
    match (get("customers_exposed"), get("weighted_score"), get("records_exposed")) {
        (Some(cust), Some(score), Some(rec)) if cust.a.is_some() && cust.b.is_some() => format!(
            "Exposure, all banks: customers {} → {} ({}, {}); records {} → {} ({}); weighted score {} → {} ({}).",
            opt(cust.a),
            opt(cust.b),
            delta(cust),
            ratio(cust),
            opt(rec.a),
            opt(rec.b),
            ratio(rec),
            opt(score.a),
            opt(score.b),
            ratio(score)
        ),
        _ => format!(
            "Exposure: {} data phase in A, {} in B.",
            if c.a.data_phase { "a" } else { "no" },
            if c.b.data_phase { "a" } else { "no" }
        ),
    }
}

fn describe(label: &str, s: &Source) -> String {
    format!(
        "{label}: {} — scenario {}, seed {}, {:?} time{}",
        s.file,
        s.scenario,
        s.seed,
        s.mode,
        if s.complete { "" } else { ", incomplete run" }
    )
}

/// `compare.md`.
pub fn render_markdown(c: &Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Compare {} (A) and {} (B)\n", c.a.scenario, c.b.scenario);
    let _ = writeln!(md, "- {}\n- {}\n", describe("A", &c.a), describe("B", &c.b));
    let _ = writeln!(md, "{}\n", headline(c));
    let _ = writeln!(md, "Δ is B − A; B / A is `new` when A is 0, `missing` when a side lacks the row.\n");
    for v in views(c, true) {
        let _ = writeln!(md, "## {}\n", v.title);
        let _ = writeln!(md, "| {} |", v.header.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(v.header.len()));
        for row in &v.rows {
            let cells: Vec<String> = row.iter().map(|x| x.replace('|', "\\|")).collect();
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(md);
    }
    md
}

/// What the terminal gets: the headline tables (the agreements' detail is in `compare.md`).
pub fn render_terminal(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n{}\n{}", describe("A", &c.a), describe("B", &c.b), headline(c));
    for v in views(c, false) {
        let mut table = testbed_report::terminal::table();
        table.set_header(v.header);
        for row in v.rows {
            table.add_row(row);
        }
        let _ = writeln!(out, "\n{}\n{table}", v.title);
    }
    out
}

/// `compare.json`: pretty JSON and a final newline.
pub fn render_json(c: &Comparison) -> String {
    let mut json = serde_json::to_string_pretty(c).expect("comparisons serialise");
    json.push('\n');
    json
}

/// `sim compare A B [--out DIR]`: reads both reports, writes `compare.md` and `compare.json`
/// (into `reports/compare-<A>-vs-<B>` by default) and returns the terminal text.
pub fn execute(a: &Path, b: &Path, out: Option<&Path>) -> Result<String, SimError> {
    let (ra, rb) = (load_report(a)?, load_report(b)?);
    let c = compare(&a.display().to_string(), &ra, &b.display().to_string(), &rb);
    let dir = out.map_or_else(
        || PathBuf::from("reports").join(format!("compare-{}-vs-{}", ra.scenario.name, rb.scenario.name)),
        Path::to_path_buf,
    );
    std::fs::create_dir_all(&dir).map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
    let mut text = render_terminal(&c);
    for (name, content) in [(COMPARE_MD, render_markdown(&c)), (COMPARE_JSON, render_json(&c))] {
        let path = dir.join(name);
        write_atomically(&path, content.as_bytes())?;
        let _ = writeln!(text, "wrote {}", path.display());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_b_minus_a_and_ratios_need_a_non_zero_a() {
        let d = Diff::new("x", Some(4.0), Some(1.0));
        assert_eq!((d.delta, d.ratio), (Some(-3.0), Some(0.25)));
        let d = Diff::new("x", Some(0.0), Some(2.0));
        assert_eq!((d.delta, d.ratio), (Some(2.0), None));
        assert_eq!(ratio(&d), "new");
        let d = Diff::new("x", None, Some(2.0));
        assert_eq!((d.delta, d.ratio), (None, None));
        assert_eq!(cell(&d, false), "missing → 2 (-, -)");
    }

    #[test]
    fn keys_only_b_has_come_after_a_s() {
        assert_eq!(union_keys(&["x", "y"], &["z", "y", "w"]), vec!["x", "y", "z", "w"]);
    }
}
