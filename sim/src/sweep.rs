//! `sim sweep`: one scenario run over a grid of parameter values and several seeds, in virtual
//! time, summarised as `sweep.csv` (one row per grid point and seed) and `sweep.html` (each
//! chosen output's mean across seeds against the swept parameter, with a confidence band).
//!
//! A parameter is named by a dotted path into the scenario file, as it is written there:
//! `data.duration`, `platforms[messenger].trust`, `banks[citi-like].policy.min_platform_trust`,
//! `events[0].trust_change`. `[...]` picks one entry of a list of tables (`[[banks]]`,
//! `[[platforms]]`, `[[events]]`, `[[banks.policy.limits]]`, …) by its `name`, `id` or `kind`,
//! or by its 0-based index. Values are `FROM..TO:STEP` (inclusive, computed as FROM + i·STEP
//! in decimal, so `0..1:0.1` ends exactly at 1; integers stay integers), `V1,V2,…` or one
//! `VALUE`. Each grid point is the edited file put through the same loader as `sim run`, so a
//! value the format refuses gets the loader's message, prefixed with the `--set` that caused it.
//!
//! Seeds: every grid point runs with the scenario's seed, seed+1, …, seed+N−1 (the seed after
//! any `--set`), so the same command gives the same CSV.

use crate::output::{SimError, load_scenario};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use testbed_core::CoreError;
use testbed_core::report::{OutcomeKind, Report};
use testbed_core::scenario::{self, Scenario};
use testbed_report::files::write_atomically;

/// Most runs one sweep may plan: more is almost always a step typed one digit too small.
pub const MAX_RUNS: usize = 100_000;
/// Most decimals a range may have.
const MAX_DECIMALS: u32 = 12;
/// The outputs charted when no `--metric` is given: which banks withdraw, how often, what it
/// costs in exposure and latency.
pub const DEFAULT_METRICS: [&str; 4] = ["withdrawn", "withdrawal_rate", "customers_exposed", "p99_ms"];

// ---------------------------------------------------------------------------------------------
// --set: key paths and values
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Selector {
    Index(usize),
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    key: String,
    select: Option<Selector>,
}

/// One `--set`: a key path and the values it takes.
#[derive(Clone, Debug)]
pub struct Axis {
    /// The key as given, e.g. `platforms[messenger].trust`.
    pub key: String,
    path: Vec<Segment>,
    pub values: Vec<toml::Value>,
}

impl Axis {
    /// `KEY=VALUE` for the value at `index`, as a `--set` flag would say it.
    fn flag(&self, index: usize) -> String {
        format!("--set {}={}", self.key, show_value(&self.values[index]))
    }

    fn is_numeric(&self) -> bool {
        self.values.iter().all(|v| matches!(v, toml::Value::Integer(_) | toml::Value::Float(_)))
    }
}

/// A value as a CSV cell or a chart label: numbers and booleans as TOML writes them, text bare.
pub fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

fn usage(message: String) -> SimError {
    SimError::Usage(message)
}

/// Parses one `--set KEY=SPEC`.
pub fn parse_set(arg: &str) -> Result<Axis, SimError> {
    const FORMS: &str = "expected KEY=FROM..TO:STEP, KEY=V1,V2,… or KEY=VALUE";
    let Some((key, spec)) = arg.split_once('=') else {
        return Err(usage(format!("--set {arg}: {FORMS}")));
    };
    let (key, spec) = (key.trim(), spec.trim());
    let path = parse_path(key).map_err(|why| usage(format!("--set {arg}: key `{key}`: {why}")))?;
    if spec.is_empty() {
        return Err(usage(format!("--set {arg}: no value; {FORMS}")));
    }
    let values = if spec.contains("..") {
        parse_range(spec).map_err(|why| usage(format!("--set {arg}: {why}")))?
    } else {
        spec.split(',')
            .map(|v| parse_scalar(v.trim()))
            .collect::<Result<_, _>>()
            .map_err(|why| usage(format!("--set {arg}: {why}")))?
    };
    Ok(Axis { key: key.to_string(), path, values })
}

/// `a.b[name].c[0].d` into segments; names may hold `.`, so brackets are read whole.
fn parse_path(key: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = key;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
            return Err(
                "each part must be a key of letters, digits, '_' or '-', optionally followed by [NAME] or [INDEX]"
                    .into(),
            );
        }
        rest = &rest[end..];
        let mut select = None;
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or("`[` without its `]`")?;
            let inner = after[..close].trim();
            if inner.is_empty() {
                return Err("`[]` names no entry; use [NAME] or [INDEX]".into());
            }
            select = Some(match inner.parse::<usize>() {
                Ok(i) => Selector::Index(i),
                Err(_) => Selector::Named(inner.to_string()),
            });
            rest = &after[close + 1..];
        }
        segments.push(Segment { key: name.to_string(), select });
        if rest.is_empty() {
            return Ok(segments);
        }
        rest = rest.strip_prefix('.').ok_or("parts are joined by '.'")?;
    }
}

/// A decimal number held exactly: `units · 10^-scale`.
#[derive(Clone, Copy, Debug)]
struct Decimal {
    units: i128,
    scale: u32,
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || (digits.contains('.') && frac.is_empty()) {
        return None;
    }
    let scale = frac.len() as u32;
    if scale > MAX_DECIMALS || whole.len() > 18 {
        return None;
    }
    let units: i128 = format!("{whole}{frac}").parse().ok()?;
    Some(Decimal { units: if negative { -units } else { units }, scale: if digits.contains('.') { scale } else { 0 } })
}

/// `FROM..TO:STEP`, inclusive, each value FROM + i·STEP computed in decimal (no drift).
fn parse_range(spec: &str) -> Result<Vec<toml::Value>, String> {
    let malformed = || format!("`{spec}` is not a range FROM..TO:STEP of decimal numbers (e.g. 0..1:0.1)");
    let (from, rest) = spec.split_once("..").ok_or_else(malformed)?;
    let (to, step) = rest.rsplit_once(':').ok_or_else(malformed)?;
    let [from_d, to_d, step_d] = [from, to, step].map(|t| parse_decimal(t.trim())).map(|d| d.ok_or_else(malformed));
    let (from_d, to_d, step_d) = (from_d?, to_d?, step_d?);
    let scale = from_d.scale.max(to_d.scale).max(step_d.scale);
    let at_scale = |d: Decimal| d.units * 10i128.pow(scale - d.scale);
    let (from_u, to_u, step_u) = (at_scale(from_d), at_scale(to_d), at_scale(step_d));
    if step_u == 0 {
        return Err("STEP must not be 0".into());
    }
    if (to_u - from_u).signum() * step_u.signum() < 0 {
        return Err(format!(
            "FROM {} TO, so STEP must be {} to get there",
            if from_u > to_u { "is above" } else { "is below" },
            if from_u > to_u { "negative" } else { "positive" }
        ));
    }
    let count = (to_u - from_u) / step_u + 1;
    if count > MAX_RUNS as i128 {
        return Err(format!("{count} values; at most {MAX_RUNS}"));
    }
    let integers = scale == 0;
    (0..count)
        .map(|i| {
            let units = from_u + i * step_u;
            if integers {
                i64::try_from(units)
                    .map(toml::Value::Integer)
                    .map_err(|_| format!("{units} does not fit a 64-bit integer"))
            } else {
                // The decimal text parsed as f64 is the float nearest to it: 0.3, not 0.30000000000000004.
                let sign = if units < 0 { "-" } else { "" };
                let abs = units.unsigned_abs();
                let pow = 10u128.pow(scale);
                let text = format!("{sign}{}.{:0width$}", abs / pow, abs % pow, width = scale as usize);
                text.parse::<f64>().map(toml::Value::Float).map_err(|e| e.to_string())
            }
        })
        .collect()
}

/// One value as TOML reads it (integer, float, boolean, quoted string), else as bare text
/// (`1d`, `boulware`).
fn parse_scalar(text: &str) -> Result<toml::Value, String> {
    if text.is_empty() {
        return Err("an empty value in the list".into());
    }
    let parsed = format!("v = {text}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
    Ok(match parsed {
        Some(
            v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) | toml::Value::String(_)),
        ) => v,
        _ => toml::Value::String(text.to_string()),
    })
}

/// Puts `value` at `path` in `table`. Missing plain tables and the final key are created (the
/// loader then refuses keys the format does not know); a `[...]` must find its entry.
fn set_path(table: &mut toml::Table, path: &[Segment], value: toml::Value) -> Result<(), String> {
    let mut here = table;
    let mut shown = String::new();
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        if !shown.is_empty() {
            shown.push('.');
        }
        shown.push_str(&seg.key);
        let Some(select) = &seg.select else {
            if last {
                if let Some(old @ (toml::Value::Table(_) | toml::Value::Array(_))) = here.get(&seg.key) {
                    let what = if old.is_table() { "a table" } else { "a list" };
                    return Err(format!("`{shown}` is {what}; name a value inside it"));
                }
                here.insert(seg.key.clone(), value);
                return Ok(());
            }
            let next = here.entry(seg.key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            here = match next {
                toml::Value::Table(t) => t,
                toml::Value::Array(_) => {
                    return Err(format!("`{shown}` is a list; pick one entry with {shown}[NAME] or {shown}[INDEX]"));
                }
                _ => return Err(format!("`{shown}` is a value, not a table")),
            };
            continue;
        };
        let Some(toml::Value::Array(entries)) = here.get_mut(&seg.key) else {
            return Err(format!("the scenario has no list `{shown}`"));
        };
        let index = match select {
            Selector::Index(i) if *i < entries.len() => *i,
            Selector::Index(i) => {
                return Err(format!(
                    "`{shown}` has {} entries; index {i} is not one of 0..{}",
                    entries.len(),
                    entries.len()
                ));
            }
            Selector::Named(name) => {
                let names = |e: &toml::Value| -> Vec<String> {
                    ["name", "id", "kind"]
                        .iter()
                        .filter_map(|k| e.get(k).and_then(toml::Value::as_str).map(str::to_string))
                        .collect()
                };
                let matches: Vec<usize> =
                    (0..entries.len()).filter(|&i| names(&entries[i]).iter().any(|n| n == name)).collect();
                match matches.as_slice() {
                    [one] => *one,
                    [] => {
                        let known: Vec<String> = entries.iter().filter_map(|e| names(e).into_iter().next()).collect();
                        return Err(format!(
                            "no entry of `{shown}` is called `{name}`; known: {}",
                            if known.is_empty() { "none (use an index)".into() } else { known.join(", ") }
                        ));
                    }
                    many => {
                        return Err(format!("`{name}` names {} entries of `{shown}`; use an index", many.len()));
                    }
                }
            }
        };
        let _ = write!(shown, "[{}]", index);
        here = match &mut entries[index] {
            toml::Value::Table(t) if !last => t,
            _ if last => return Err(format!("`{shown}` is a whole entry; name a value inside it")),
            _ => return Err(format!("`{shown}` is not a table")),
        };
    }
    Err("an empty key".into())
}

/// The edited file through the same loader as `sim run`; errors name the `--set` flags behind
/// them (line:column would point into the edited text, which nobody has seen, so it is dropped).
fn load_edited(file: &str, table: &toml::Table, flags: &str) -> Result<Scenario, SimError> {
    let text = toml::to_string(table).map_err(|e| usage(format!("{flags}: {file}: {e}")))?;
    scenario::parse(&text).map_err(|e| match e {
        CoreError::ScenarioSyntax { message, .. } if message.starts_with("unknown field") => {
            usage(format!("{flags}: no such key in {file}: {message}"))
        }
        CoreError::ScenarioSyntax { message, .. } => usage(format!("{flags}: {file}: {message}")),
        other => usage(format!("{flags}: {file}: {other}")),
    })
}

// ---------------------------------------------------------------------------------------------
// Outputs: what one run contributes to a row
// ---------------------------------------------------------------------------------------------

/// What kind of number an output is: it fixes how it is written and where its band may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text such as an outcome or a clause: in the CSV, not charted.
    Text,
    Count,
    /// A share in 0..=1.
    Share,
    /// Milliseconds or a score: non-negative, unbounded.
    Amount,
}

/// One output column: `withdrawal_rate`, or a per-bank/per-pair one like `withdrawn[citi-like]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// `withdrawn` for `withdrawn[citi-like]`; the name itself for totals.
    pub family: String,
    /// The bank or pair in brackets, if any.
    pub member: Option<String>,
    pub kind: Kind,
    pub about: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    /// Nothing to measure (no requests, no data phase).
    Missing,
}

const TOTALS: [(&str, Kind, &str); 11] = [
    ("negotiations", Kind::Count, "negotiations"),
    ("agreements", Kind::Count, "agreements"),
    ("withdrawals", Kind::Count, "withdrawals"),
    ("withdrawal_rate", Kind::Share, "share of negotiations ending in a withdrawal"),
    ("timeouts", Kind::Count, "timeouts"),
    ("unfinished", Kind::Count, "negotiations still running at the end"),
    ("revocations", Kind::Count, "agreements revoked"),
    ("customers_exposed", Kind::Count, "customers exposed, all banks"),
    ("records_exposed", Kind::Count, "records exposed, all banks"),
    ("weighted_score", Kind::Amount, "weighted exposure score, all banks"),
    ("p99_ms", Kind::Amount, "p99 latency (ms), worst bank × request kind"),
];

const PER_PAIR: [(&str, Kind, &str); 3] = [
    ("outcome", Kind::Text, "outcome of the negotiation"),
    ("round", Kind::Count, "round the negotiation ended in"),
    ("clause", Kind::Text, "clause named at the end"),
];

const PER_BANK: [(&str, Kind, &str); 4] = [
    ("withdrawn", Kind::Share, "share of the bank's negotiations it withdrew from"),
    ("revoked", Kind::Share, "share of the bank's agreements it revoked"),
    ("customers_exposed", Kind::Count, "customers exposed by the bank"),
    ("p99_ms", Kind::Amount, "p99 latency (ms), the bank's worst request kind"),
];

/// `bank`, or `platform/bank` when there is more than one platform.
fn pair_label(single_platform: bool, platform: &str, bank: &str) -> String {
    if single_platform { bank.to_string() } else { format!("{platform}/{bank}") }
}

/// The output columns of a scenario, in a fixed order: totals, then per pair, then per bank.
pub fn columns(sc: &Scenario) -> Vec<Column> {
    let mut cols: Vec<Column> = TOTALS
        .iter()
        .map(|&(name, kind, about)| Column { name: name.into(), family: name.into(), member: None, kind, about })
        .collect();
    let single = sc.platforms.len() == 1;
    for &(family, kind, about) in &PER_PAIR {
        for p in &sc.platforms {
            for &b in &p.banks {
                let member = pair_label(single, &p.name, &sc.banks[b].name);
                cols.push(Column {
                    name: format!("{family}[{member}]"),
                    family: family.into(),
                    member: Some(member),
                    kind,
                    about,
                });
            }
        }
    }
    for &(family, kind, about) in &PER_BANK {
        for b in &sc.banks {
            cols.push(Column {
                name: format!("{family}[{}]", b.name),
                family: family.into(),
                member: Some(b.name.clone()),
                kind,
                about,
            });
        }
    }
    cols
}

/// The cells of one run, keyed by column name.
fn outputs(report: &Report) -> BTreeMap<String, Cell> {
    let mut cells = BTreeMap::new();
    let mut put = |name: String, cell: Cell| {
        cells.insert(name, cell);
    };
    let t = &report.totals;
    let n = |x: u64| Cell::Number(x as f64);
    put("negotiations".into(), n(t.negotiations.into()));
    put("agreements".into(), n(t.agreements.into()));
    put("withdrawals".into(), n(t.withdrawals.into()));
    put(
        "withdrawal_rate".into(),
        if t.negotiations == 0 {
            Cell::Missing
        } else {
            Cell::Number(f64::from(t.withdrawals) / f64::from(t.negotiations))
        },
    );
    put("timeouts".into(), n(t.timeouts.into()));
    put("unfinished".into(), n(t.unfinished.into()));
    put("revocations".into(), n(t.revocations.into()));
    let max = |xs: &mut dyn Iterator<Item = f64>| xs.fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    if let Some(d) = &report.data {
        put("customers_exposed".into(), n(d.banks.iter().map(|b| b.customers_exposed).sum()));
        let records: u64 = d.flows.iter().flat_map(|f| f.exposure.records_by_category.values()).sum();
        put("records_exposed".into(), n(records));
        put("weighted_score".into(), Cell::Number(d.banks.iter().map(|b| b.weighted_score).sum()));
        let worst = max(&mut d.latency.iter().filter(|r| r.latency.ok > 0).map(|r| r.latency.p99_ms));
        put("p99_ms".into(), worst.map_or(Cell::Missing, Cell::Number));
        for b in &d.banks {
            put(format!("customers_exposed[{}]", b.bank), n(b.customers_exposed));
            let worst =
                max(&mut d.latency.iter().filter(|r| r.bank == b.bank && r.latency.ok > 0).map(|r| r.latency.p99_ms));
            put(format!("p99_ms[{}]", b.bank), worst.map_or(Cell::Missing, Cell::Number));
        }
    }
    let single = report.platforms.len() == 1;
    for neg in &report.negotiations {
        let member = pair_label(single, &neg.platform, &neg.bank);
        let mut outcome = neg.outcome.kind.as_str().to_string();
        if neg.revocation.is_some() {
            outcome.push_str(" (revoked)");
        }
        put(format!("outcome[{member}]"), Cell::Text(outcome));
        put(format!("round[{member}]"), n(neg.outcome.round.into()));
        put(format!("clause[{member}]"), neg.outcome.clause.clone().map_or(Cell::Missing, Cell::Text));
    }
    for bank in &report.banks {
        let mine: Vec<_> = report.negotiations.iter().filter(|n| n.bank == bank.name).collect();
        let share =
            |hits: usize, of: usize| if of == 0 { Cell::Missing } else { Cell::Number(hits as f64 / of as f64) };
        let withdrawn = mine.iter().filter(|n| n.outcome.kind == OutcomeKind::Withdrawal).count();
        put(format!("withdrawn[{}]", bank.name), share(withdrawn, mine.len()));
        let agreed = mine.iter().filter(|n| n.outcome.kind == OutcomeKind::Agreement).count();
        let revoked = mine.iter().filter(|n| n.revocation.is_some()).count();
        put(format!("revoked[{}]", bank.name), share(revoked, agreed));
    }
    cells
}

// ---------------------------------------------------------------------------------------------
// Planning, running, summarising
// ---------------------------------------------------------------------------------------------

/// One point of the grid: an index into each axis' values and the scenario it makes.
#[derive(Clone, Debug)]
pub struct Point {
    pub index: Vec<usize>,
    pub scenario: Scenario,
}

/// A chart (or a table column group) the user asked for with `--metric`.
#[derive(Clone, Debug)]
pub struct Metric {
    pub family: String,
    /// Column names: one for a total, one per bank or pair for a family.
    pub columns: Vec<String>,
    pub per_member: bool,
}

/// Everything checked before the first run: a bad flag never costs a sweep.
#[derive(Clone, Debug)]
pub struct Plan {
    pub file: String,
    pub name: String,
    pub axes: Vec<Axis>,
    /// First axis outermost, last innermost.
    pub points: Vec<Point>,
    pub seeds: u32,
    pub columns: Vec<Column>,
    pub metrics: Vec<Metric>,
}

impl Plan {
    pub fn runs(&self) -> usize {
        self.points.len() * self.seeds as usize
    }

    /// The seeds a grid point runs with.
    pub fn seeds_of(&self, point: usize) -> impl Iterator<Item = u64> + '_ {
        let base = self.points[point].scenario.seed;
        (0..u64::from(self.seeds)).map(move |i| base.wrapping_add(i))
    }
}

/// Loads the scenario, parses every `--set` and `--metric`, and loads every grid point.
pub fn plan(file: &Path, sets: &[String], seeds: u32, metrics: &[String]) -> Result<Plan, SimError> {
    let shown = file.display().to_string();
    let base_scenario = load_scenario(file)?;
    if sets.is_empty() {
        return Err(usage("--set: give at least one KEY=FROM..TO:STEP to sweep".into()));
    }
    if seeds == 0 {
        return Err(usage("--seeds: 0 seeds; give 1 or more".into()));
    }
    let text = std::fs::read_to_string(file).map_err(|error| SimError::Read { path: shown.clone(), error })?;
    let base: toml::Table = text.parse().map_err(|e| usage(format!("{shown}: {e}")))?;
    let axes: Vec<Axis> = sets.iter().map(|s| parse_set(s)).collect::<Result<_, _>>()?;
    for (i, a) in axes.iter().enumerate() {
        if axes[..i].iter().any(|b| b.path == a.path) {
            return Err(usage(format!("--set {}: this key is already swept by an earlier --set", a.key)));
        }
    }
    let runs = axes.iter().try_fold(seeds as usize, |n, a| n.checked_mul(a.values.len()));
    if runs.is_none_or(|n| n > MAX_RUNS) {
        return Err(usage(format!("--set/--seeds: the grid times the seeds is over {MAX_RUNS} runs")));
    }
    // Each flag alone first, so an error names the one flag behind it.
    for axis in &axes {
        for (i, value) in axis.values.iter().enumerate() {
            let mut table = base.clone();
            set_path(&mut table, &axis.path, value.clone())
                .map_err(|why| usage(format!("--set {}: {why}", axis.key)))?;
            load_edited(&shown, &table, &axis.flag(i))?;
        }
    }
    let mut points = Vec::new();
    let mut index = vec![0; axes.len()];
    loop {
        let mut table = base.clone();
        for (a, &i) in axes.iter().zip(&index) {
            set_path(&mut table, &a.path, a.values[i].clone()).map_err(usage)?;
        }
        let flags: Vec<String> = axes.iter().zip(&index).map(|(a, &i)| a.flag(i)).collect();
        let scenario = load_edited(&shown, &table, &flags.join(" "))?;
        points.push(Point { index: index.clone(), scenario });
        // Odometer: the last axis turns fastest.
        let mut k = axes.len();
        loop {
            if k == 0 {
                let columns = columns(&base_scenario);
                let metrics = resolve_metrics(&columns, metrics)?;
                return Ok(Plan { file: shown, name: base_scenario.name, axes, points, seeds, columns, metrics });
            }
            k -= 1;
            index[k] += 1;
            if index[k] < axes[k].values.len() {
                break;
            }
            index[k] = 0;
        }
    }
}

fn resolve_metrics(columns: &[Column], asked: &[String]) -> Result<Vec<Metric>, SimError> {
    let asked: Vec<&str> =
        if asked.is_empty() { DEFAULT_METRICS.to_vec() } else { asked.iter().map(String::as_str).collect() };
    let numeric = |c: &&Column| c.kind != Kind::Text;
    let mut out = Vec::new();
    for name in asked {
        let family = name.strip_suffix("[*]");
        let exact = columns.iter().filter(numeric).find(|c| family.is_none() && c.name == name);
        let metric = if let Some(c) = exact {
            Metric { family: c.name.clone(), columns: vec![c.name.clone()], per_member: false }
        } else {
            let family = family.unwrap_or(name);
            let members: Vec<String> = columns
                .iter()
                .filter(numeric)
                .filter(|c| c.member.is_some() && c.family == family)
                .map(|c| c.name.clone())
                .collect();
            if members.is_empty() {
                let mut known: Vec<String> = Vec::new();
                for c in columns.iter().filter(numeric) {
                    let n = if c.member.is_some() { format!("{}[*]", c.family) } else { c.name.clone() };
                    if !known.contains(&n) {
                        known.push(n);
                    }
                }
                return Err(usage(format!(
                    "--metric {name}: not a numeric output; choose from {} (or one column such as {})",
                    known.join(", "),
                    columns.iter().find(|c| c.member.is_some() && c.kind != Kind::Text).map_or("-", |c| &c.name)
                )));
            }
            Metric { family: family.to_string(), columns: members, per_member: true }
        };
        out.push(metric);
    }
    Ok(out)
}

/// One run's row: the grid point, the seed and its outputs.
#[derive(Clone, Debug)]
pub struct Run {
    pub point: usize,
    pub seed: u64,
    pub cells: BTreeMap<String, Cell>,
}

/// Runs every grid point × seed in virtual time on up to `jobs` threads. Rows come back in
/// grid order whatever order the threads finish in; `on_done` is called after each run (a
/// progress bar hooks in there).
pub fn run(plan: &Plan, jobs: usize, on_done: &(dyn Fn() + Sync)) -> Vec<Run> {
    let work: Vec<(usize, u64)> = (0..plan.points.len()).flat_map(|p| plan.seeds_of(p).map(move |s| (p, s))).collect();
    crate::jobs::in_order(
        &work,
        jobs,
        |&(point, seed)| {
            let mut sc = plan.points[point].scenario.clone();
            sc.seed = seed;
            Run { point, seed, cells: outputs(&crate::run(&sc)) }
        },
        on_done,
    )
}

/// Mean and 95% confidence band of one output at one grid point, across seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub n: usize,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Two-sided 95% quantile of Student's t with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    // Beyond the table, the first-order expansion z + (z³ + z)/(4·df) is within 0.003.
    TABLE.get(df.wrapping_sub(1)).copied().unwrap_or(1.96 + 2.372 / df as f64)
}

/// Mean ± t(0.975, n−1)·s/√n, clipped to what the output can be (a share stays in 0..=1,
/// nothing goes below 0); a single seed gives no band.
pub fn stat(values: &[f64], kind: Kind) -> Option<Stat> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let half = if n < 2 {
        0.0
    } else {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t95(n - 1) * (var / n as f64).sqrt()
    };
    let top = if kind == Kind::Share { 1.0 } else { f64::INFINITY };
    Some(Stat { n, mean, low: (mean - half).clamp(0.0, top), high: (mean + half).clamp(0.0, top) })
}

/// Per grid point, per column: the statistic across seeds.
fn stats(plan: &Plan, runs: &[Run]) -> Vec<BTreeMap<String, Stat>> {
    let mut values: Vec<BTreeMap<&str, Vec<f64>>> = vec![BTreeMap::new(); plan.points.len()];
    for r in runs {
        for (name, cell) in &r.cells {
            if let Cell::Number(x) = cell {
                values[r.point].entry(name.as_str()).or_default().push(*x);
            }
        }
    }
    values
        .into_iter()
        .map(|cols| {
            cols.into_iter()
                .filter_map(|(name, xs)| {
                    let kind = plan.columns.iter().find(|c| c.name == name).map_or(Kind::Amount, |c| c.kind);
                    stat(&xs, kind).map(|s| (name.to_string(), s))
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Views: CSV, terminal table, HTML
// ---------------------------------------------------------------------------------------------

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn show_number(x: f64) -> String {
    // Shortest text that reads back as the same float; integers without ".0".
    format!("{x}")
}

/// `sweep.csv`: the swept values, the seed, then every output column; one row per run.
pub fn render_csv(plan: &Plan, runs: &[Run]) -> String {
    let mut columns: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    // A --set that renames a bank or platform brings columns the base scenario lacks.
    let mut extra: Vec<&str> =
        runs.iter().flat_map(|r| r.cells.keys().map(String::as_str)).filter(|n| !columns.contains(n)).collect();
    extra.sort_unstable();
    extra.dedup();
    columns.extend(extra);
    let mut out = String::new();
    let header: Vec<String> = plan
        .axes
        .iter()
        .map(|a| a.key.as_str())
        .chain(["seed"])
        .chain(columns.iter().copied())
        .map(csv_field)
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for r in runs {
        let point = &plan.points[r.point];
        let mut row: Vec<String> =
            plan.axes.iter().zip(&point.index).map(|(a, &i)| csv_field(&show_value(&a.values[i]))).collect();
        row.push(r.seed.to_string());
        for c in &columns {
            row.push(match r.cells.get(*c) {
                Some(Cell::Text(t)) => csv_field(t),
                Some(Cell::Number(x)) => show_number(*x),
                Some(Cell::Missing) | None => String::new(),
            });
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn short(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// The terminal table: one row per grid point, the mean of each chosen output across seeds.
pub fn render_table(plan: &Plan, runs: &[Run]) -> String {
    let stats = stats(plan, runs);
    let mut table = testbed_report::terminal::table();
    let metric_columns: Vec<&String> = plan.metrics.iter().flat_map(|m| &m.columns).collect();
    let mut header: Vec<String> = plan.axes.iter().map(|a| a.key.clone()).collect();
    header.extend(metric_columns.iter().map(|c| c.to_string()));
    table.set_header(header);
    for (p, point) in plan.points.iter().enumerate() {
        let mut row: Vec<String> = plan.axes.iter().zip(&point.index).map(|(a, &i)| show_value(&a.values[i])).collect();
        for c in &metric_columns {
            row.push(stats[p].get(*c).map_or_else(|| "-".into(), |s| short(s.mean)));
        }
        table.add_row(row);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} grid points × {} seeds = {} runs; mean across seeds",
        plan.name,
        plan.points.len(),
        plan.seeds,
        runs.len()
    );
    let _ = writeln!(out, "{table}");
    out
}

/// Which axis goes along x (the first with more than one value), and which split the lines.
fn chart_axes(plan: &Plan) -> (usize, Vec<usize>) {
    let varying: Vec<usize> = (0..plan.axes.len()).filter(|&a| plan.axes[a].values.len() > 1).collect();
    match varying.split_first() {
        Some((&x, rest)) => (x, rest.to_vec()),
        None => (0, Vec::new()),
    }
}

struct Series {
    label: String,
    /// (x position, statistic)
    points: Vec<(f64, Stat)>,
}

struct ChartSpec {
    title: String,
    column_kind: Kind,
    series: Vec<Series>,
}

/// The charts of the chosen metrics: x is the first varying `--set`; lines are the values of
/// the other varying ones (a 2-D grid gives one line per value of the second parameter), or,
/// for a per-bank output in a 1-D sweep, one line per bank.
fn chart_specs(plan: &Plan, runs: &[Run]) -> Vec<ChartSpec> {
    let stats = stats(plan, runs);
    let (x_axis, others) = chart_axes(plan);
    let x_of = |i: usize| -> f64 {
        match &plan.axes[x_axis].values[i] {
            toml::Value::Integer(v) if plan.axes[x_axis].is_numeric() => *v as f64,
            toml::Value::Float(v) if plan.axes[x_axis].is_numeric() => *v,
            _ => i as f64,
        }
    };
    // Every combination of the other varying axes, in grid order.
    let mut combos: Vec<Vec<usize>> = Vec::new();
    for p in &plan.points {
        let combo: Vec<usize> = others.iter().map(|&a| p.index[a]).collect();
        if !combos.contains(&combo) {
            combos.push(combo);
        }
    }
    let combo_label = |combo: &[usize]| -> String {
        others
            .iter()
            .zip(combo)
            .map(|(&a, &i)| format!("{}={}", plan.axes[a].key, show_value(&plan.axes[a].values[i])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let series_of = |column: &str, combo: &[usize], label: String| -> Series {
        let points = plan
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| others.iter().zip(combo).all(|(&a, &i)| p.index[a] == i))
            .filter_map(|(n, p)| stats[n].get(column).map(|s| (x_of(p.index[x_axis]), *s)))
            .collect();
        Series { label, points }
    };
    let kind_of = |column: &str| plan.columns.iter().find(|c| c.name == column).map_or(Kind::Amount, |c| c.kind);
    let about = |family: &str| plan.columns.iter().find(|c| c.family == family).map_or("", |c| c.about);
    let mut charts = Vec::new();
    for m in &plan.metrics {
        if m.per_member && others.is_empty() {
            charts.push(ChartSpec {
                title: format!("{}: {}", m.family, about(&m.family)),
                column_kind: kind_of(&m.columns[0]),
                series: m
                    .columns
                    .iter()
                    .map(|c| {
                        let member = c.strip_prefix(&m.family).unwrap_or(c).trim_matches(['[', ']']).to_string();
                        series_of(c, &[], member)
                    })
                    .collect(),
            });
            continue;
        }
        for c in &m.columns {
            let title = if m.per_member { format!("{c}: {}", about(&m.family)) } else { format!("{c}: {}", about(c)) };
            let series = combos
                .iter()
                .map(|combo| series_of(c, combo, if others.is_empty() { c.clone() } else { combo_label(combo) }))
                .collect();
            charts.push(ChartSpec { title, column_kind: kind_of(c), series });
        }
    }
    charts
}

/// Okabe–Ito colours: told apart by most colour-blind readers.
const COLOURS: [(u8, u8, u8); 8] = [
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (240, 228, 66),
    (0, 0, 0),
];

fn colour(i: usize) -> plotters::style::RGBColor {
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    plotters::style::RGBColor(r, g, b)
}

fn chart_svg(plan: &Plan, spec: &ChartSpec) -> Result<String, String> {
    use plotters::prelude::*;
    let (x_axis, _) = chart_axes(plan);
    let axis = &plan.axes[x_axis];
    let xs: Vec<f64> = spec.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    let (mut x0, mut x1) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    let pad = if x1 > x0 { (x1 - x0) * 0.03 } else { 0.5 };
    let (x0, x1) = (x0 - pad, x1 + pad);
    let (y0, mut y1) = spec
        .series
        .iter()
        .flat_map(|s| &s.points)
        .fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), (_, s)| (lo.min(s.low), hi.max(s.high)));
    if spec.column_kind == Kind::Share || !y1.is_finite() || y1 <= y0 {
        y1 = if spec.column_kind == Kind::Share { 1.0 } else { y0 + 1.0 };
    }
    let y1 = y1 + (y1 - y0) * 0.05;
    let labels: Vec<String> = axis.values.iter().map(show_value).collect();
    let numeric = axis.is_numeric();
    let x_format = |x: &f64| -> String {
        if numeric {
            let r = (x * 1e6).round() / 1e6;
            format!("{r}")
        } else {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 380)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&spec.title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axis.key.as_str()).x_label_formatter(&x_format).light_line_style(WHITE.mix(0.0));
        if !numeric {
            mesh.x_labels(labels.len().max(2));
        }
        mesh.draw().map_err(e)?;
        // Lines that coincide (two banks that always withdraw) stay visible: earlier series are
        // drawn wider, later ones thinner on top of them.
        let n = spec.series.len();
        for (i, s) in spec.series.iter().enumerate() {
            let colour = colour(i);
            let behind = (n - 1 - i) as u32;
            if s.points.iter().any(|(_, st)| st.high > st.low) {
                let band: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .map(|(x, st)| (*x, st.high))
                    .chain(s.points.iter().rev().map(|(x, st)| (*x, st.low)))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.18).filled()))).map_err(e)?;
            }
            let line = s.points.iter().map(|(x, st)| (*x, st.mean));
            chart.draw_series(LineSeries::new(line, colour.stroke_width(2 + 2 * behind))).map_err(e)?;
            chart
                .draw_series(s.points.iter().map(|(x, st)| Circle::new((*x, st.mean), 3 + 2 * behind, colour.filled())))
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    // Inline SVG in HTML needs no namespace, and leaving it out keeps the page free of URLs.
    Ok(svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sweep of {{ name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 820px; color: #222; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #333; }
.key { margin-right: 1.2em; white-space: nowrap; }
.swatch { display: inline-block; width: 1.6em; height: 0.35em; margin-right: 0.4em; vertical-align: middle; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
code { background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
<h1>Sweep of {{ name }}</h1>
<p>Scenario <code>{{ file }}</code>; {{ points }} grid points × {{ seeds }} seed{% if seeds != 1 %}s{% endif %}
({{ seed_note }}) = {{ runs }} runs in virtual time.</p>
<ul>
{% for a in axes %}<li><code>{{ a.key }}</code>: {{ a.values }}</li>
{% endfor %}</ul>
<p>Each line is the mean across seeds; {{ band_note }}</p>
{% for c in charts %}<figure>{{ c.svg|safe }}<figcaption>{% for s in c.series %}<span class="key"><span class="swatch" style="background: {{ s.colour }}"></span>{{ s.label }}</span> {% endfor %}</figcaption></figure>
{% endfor %}
<h2>Means across seeds</h2>
<table>
<tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p>Every run's outputs are in <code>sweep.csv</code>.</p>
</body>
</html>
"#;

/// `sweep.html`: one self-contained page, one chart per chosen output, no external resource.
pub fn render_html(plan: &Plan, runs: &[Run]) -> Result<String, String> {
    use minijinja::context;
    let specs = chart_specs(plan, runs);
    let mut charts = Vec::new();
    for spec in &specs {
        let series: Vec<_> = spec
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let c = colour(i);
                context! { label => &s.label, colour => format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2) }
            })
            .collect();
        charts.push(context! { svg => chart_svg(plan, spec)?, series => series });
    }
    let axes: Vec<_> = plan
        .axes
        .iter()
        .map(|a| context! { key => &a.key, values => a.values.iter().map(show_value).collect::<Vec<_>>().join(", ") })
        .collect();
    let stats = stats(plan, runs);
    let metric_columns: Vec<&String> = plan.metrics.iter().flat_map(|m| &m.columns).collect();
    let header: Vec<String> =
        plan.axes.iter().map(|a| a.key.clone()).chain(metric_columns.iter().map(|c| c.to_string())).collect();
    let rows: Vec<Vec<String>> = plan
        .points
        .iter()
        .enumerate()
        .map(|(p, point)| {
            let mut row: Vec<String> =
                plan.axes.iter().zip(&point.index).map(|(a, &i)| show_value(&a.values[i])).collect();
            for c in &metric_columns {
                row.push(stats[p].get(*c).map_or_else(
                    || "-".into(),
                    |s| {
                        if s.n > 1 {
                            format!("{} [{}, {}]", short(s.mean), short(s.low), short(s.high))
                        } else {
                            short(s.mean)
                        }
                    },
                ));
            }
            row
        })
        .collect();
    let first_seed = plan.points.first().map_or(0, |p| p.scenario.seed);
    let seed_note = if plan.seeds == 1 {
        format!("seed {first_seed}")
    } else {
        format!("the scenario's seed and the next {}: {first_seed}…", plan.seeds - 1)
    };
    let band_note = if plan.seeds > 1 {
        "the band is the 95% confidence interval of the mean across seeds (mean ± t(0.975, n−1)·s/√n, \
         Student's t), clipped to the output's range (shares stay within 0–1, nothing goes below 0). \
         Table cells read mean [band]."
    } else {
        "with one seed there is no band: run with --seeds 2 or more for one."
    };
    let mut env = minijinja::Environment::new();
    env.add_template("sweep.html", PAGE).map_err(|e| e.to_string())?;
    let page = env.get_template("sweep.html").map_err(|e| e.to_string())?;
    page.render(context! {
        name => &plan.name, file => &plan.file, points => plan.points.len(), seeds => plan.seeds,
        seed_note => seed_note, runs => runs.len(), axes => axes, band_note => band_note,
        charts => charts, header => header, rows => rows,
    })
    .map_err(|e| e.to_string())
}

/// The files a sweep writes, relative to its output folder.
pub const SWEEP_CSV: &str = "sweep.csv";
pub const SWEEP_HTML: &str = "sweep.html";

/// Writes `sweep.csv` and `sweep.html` into `dir` (each whole or not at all) and returns the
/// text for the terminal.
pub fn write(plan: &Plan, runs: &[Run], dir: &Path) -> Result<String, SimError> {
    let html_path = dir.join(SWEEP_HTML);
    let html = render_html(plan, runs)
        .map_err(|e| SimError::Write { path: html_path.display().to_string(), error: std::io::Error::other(e) })?;
    std::fs::create_dir_all(dir).map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
    let csv_path = dir.join(SWEEP_CSV);
    write_atomically(&csv_path, render_csv(plan, runs).as_bytes())?;
    write_atomically(&html_path, html.as_bytes())?;
    let mut out = render_table(plan, runs);
    for p in [csv_path, html_path] {
        let _ = writeln!(out, "wrote {}", p.display());
    }
    Ok(out)
}

/// The default output folder: `reports/<scenario>-sweep`.
pub fn default_out(plan: &Plan) -> PathBuf {
    PathBuf::from("reports").join(format!("{}-sweep", plan.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(spec: &str) -> Vec<f64> {
        parse_range(spec).unwrap().iter().map(|v| v.as_float().unwrap()).collect()
    }

    #[test]
    fn float_ranges_end_exactly_on_to_without_drift() {
        let v = floats("0..1:0.1");
        assert_eq!(v.len(), 11);
        assert_eq!(v[3], 0.3);
        assert_eq!(v[10], 1.0);
        assert_eq!(floats("1..0:-0.25"), vec![1.0, 0.75, 0.5, 0.25, 0.0]);
        assert_eq!(floats("0.1..0.35:0.1"), vec![0.1, 0.2, 0.3]);
    }

    #[test]
    fn integer_ranges_stay_integers() {
        let v = parse_range("10..30:10").unwrap();
        assert_eq!(v, vec![toml::Value::Integer(10), toml::Value::Integer(20), toml::Value::Integer(30)]);
        assert!(parse_range("1..2:1.0").unwrap()[0].is_float(), "a decimal point makes floats");
    }

    #[test]
    fn ranges_that_never_arrive_are_refused() {
        assert!(parse_range("0..1:0").unwrap_err().contains("STEP must not be 0"));
        assert!(parse_range("1..0:0.1").unwrap_err().contains("negative"));
        assert!(parse_range("0..1").is_err());
        assert!(parse_range("a..1:0.1").is_err());
        assert!(parse_range("0..1:1e-1").is_err());
    }

    #[test]
    fn paths_select_list_entries_by_name_or_index() {
        let mut t: toml::Table =
            "[[banks]]\nname = \"a.b\"\n[banks.policy]\nx = 1\n[[banks]]\nname = \"c\"\n".parse().unwrap();
        set_path(&mut t, &parse_path("banks[a.b].policy.x").unwrap(), toml::Value::Integer(5)).unwrap();
        set_path(&mut t, &parse_path("banks[1].y").unwrap(), toml::Value::Float(0.5)).unwrap();
        assert_eq!(t["banks"][0]["policy"]["x"].as_integer(), Some(5));
        assert_eq!(t["banks"][1]["y"].as_float(), Some(0.5));
        let err = set_path(&mut t, &parse_path("banks.policy.x").unwrap(), toml::Value::Integer(1)).unwrap_err();
        assert!(err.contains("banks[NAME]"), "{err}");
        let err = set_path(&mut t, &parse_path("banks[zz].x").unwrap(), toml::Value::Integer(1)).unwrap_err();
        assert!(err.contains("known: a.b, c"), "{err}");
    }

    #[test]
    fn the_band_uses_students_t_and_stays_inside_a_share() {
        let s = stat(&[0.0, 1.0], Kind::Share).unwrap();
        assert_eq!((s.mean, s.low, s.high), (0.5, 0.0, 1.0));
        let s = stat(&[10.0, 12.0, 14.0], Kind::Amount).unwrap();
        assert!((s.high - s.mean - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        let s = stat(&[3.0], Kind::Count).unwrap();
        assert_eq!((s.low, s.high), (3.0, 3.0));
    }
}
