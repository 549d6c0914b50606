//! `sim tournament`: every strategy against every strategy, in both roles, on every domain and
//! seed, in virtual time, and a leaderboard of how each strategy did (`leaderboard.csv`,
//! `tournament.json`, `tournament.html`), measured as reports measure deals
//! (`negotiation::quality`, NegMAS's definitions). As in ANAC / ANL tournaments, a side that
//! reaches no agreement gets its reservation value.
//!
//! A domain is one platform–bank pair of a scenario file (its issues, both sides' preferences,
//! clauses and reservation values, the platform's trust and both deadlines; without the file's
//! events, data phase and thresholds), or one generated from the story's default issues:
//! - `zero-sum`: one set of weights, and the bank values each option at 1 minus the platform's
//!   value, so the bank's utility is 1 minus the platform's everywhere;
//! - `monotonic`: each side's values rise along the option order towards the end it favours
//!   (the bank's: `vocabulary::DEFAULT_ISSUES`, the platform's: the other end), in random steps,
//!   with random weights per side;
//! - `general`: random values and weights per side.
//!
//! A generated domain is drawn from a stream named after it and the game's seed, so each seed
//! is a new draw of the same kind. Games run in parallel and are put back in plan order: the same
//! command writes the same bytes whatever `--jobs` says.

use crate::output::{SimError, load_scenario};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use testbed_core::negotiation::Strategy;
use testbed_core::report::{NegotiationReport, OutcomeKind};
use testbed_core::rng::{SimRng, stream};
use testbed_core::scenario::{self, BankId, PlatformId, STRATEGY_NAMES, Scenario};
use testbed_core::session::negotiate;
use testbed_core::vocabulary::{DEFAULT_ISSUES, Favours};
use testbed_report::files::write_atomically;

/// Most games one tournament may plan.
pub const MAX_GAMES: usize = 100_000;

/// The kinds of generated domain.
pub const GENERATED: &[&str] = &["zero-sum", "monotonic", "general"];

/// Where a domain comes from.
#[derive(Clone, Debug)]
enum Source {
    /// A platform–bank pair of a scenario file, as loaded.
    Pair(Box<Scenario>),
    /// A generated domain of this kind (an entry of `GENERATED`).
    Generated(&'static str),
}

#[derive(Clone, Debug)]
pub struct Domain {
    pub name: String,
    source: Source,
}

/// What a tournament plays: every ordered pair of strategies (platform, bank) on every domain
/// and seed.
#[derive(Clone, Debug)]
pub struct Plan {
    pub strategies: Vec<(String, Strategy)>,
    pub domains: Vec<Domain>,
    /// Seeds 1..=seeds.
    pub seeds: u64,
}

/// One game: who played which side, where, and how it ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Game {
    pub domain: String,
    pub seed: u64,
    pub platform: String,
    pub bank: String,
    pub agreement: bool,
    /// The round it ended in (0-based).
    pub rounds: u32,
    /// Each side's utility: of the agreement, or its reservation value without one.
    pub utility_platform: f64,
    pub utility_bank: f64,
    pub advantage_platform: f64,
    pub advantage_bank: f64,
    /// The agreement's figures (`outcome.quality`); none without an agreement.
    pub pareto_optimality: Option<f64>,
    pub nash_optimality: Option<f64>,
}

/// How one strategy did over all its games, in both roles.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Standing {
    pub strategy: String,
    /// The sides it played: a game against itself counts once for each side.
    pub sides_played: u64,
    pub agreement_rate: f64,
    /// Its own utility and its advantage over its reservation value, per game.
    pub mean_utility: f64,
    pub mean_advantage: f64,
    /// Both sides' utilities together, per game.
    pub mean_welfare: f64,
    /// Over its agreements; `None` when it reached none.
    pub mean_pareto_optimality: Option<f64>,
    pub mean_nash_optimality: Option<f64>,
    pub mean_rounds: f64,
}

/// Plans a tournament: `strategies` by name (`STRATEGY_NAMES`), `domains` as scenario files
/// (every pair in each) or generated kinds (`GENERATED`).
pub fn plan(strategies: &[String], domains: &[String], seeds: u32) -> Result<Plan, SimError> {
    if strategies.iter().any(|n| n.trim().is_empty()) {
        return Err(SimError::Usage("--strategies: an empty name; give names separated by single commas".into()));
    }
    if domains.iter().any(|d| d.trim().is_empty()) {
        return Err(SimError::Usage("--domains: an empty name; give names separated by single commas".into()));
    }
    let mut named = Vec::new();
    for name in strategies {
        let strategy = scenario::strategy_named(name).ok_or_else(|| {
            SimError::Usage(format!("--strategies: unknown strategy `{name}` (allowed: {})", STRATEGY_NAMES.join(", ")))
        })?;
        if named.iter().any(|(n, _)| n == name) {
            return Err(SimError::Usage(format!("--strategies: `{name}` is given twice")));
        }
        named.push((name.clone(), strategy));
    }
    if named.is_empty() {
        return Err(SimError::Usage("--strategies: give at least one strategy".into()));
    }
    let mut planned = Vec::new();
    for d in domains {
        if let Some(kind) = GENERATED.iter().find(|k| *k == d) {
            planned.push(Domain { name: (*kind).into(), source: Source::Generated(kind) });
            continue;
        }
        let path = Path::new(d);
        if !path.exists() && path.extension().is_none() {
            return Err(SimError::Usage(format!(
                "--domains: `{d}` is neither a scenario file nor a generated domain ({})",
                GENERATED.join(", ")
            )));
        }
        let sc = load_scenario(path)?;
        for (p, platform) in sc.platforms_by_id() {
            for &b in &platform.banks {
                let name = format!("{}:{}/{}", sc.name, platform.name, sc.banks[b].name);
                planned.push(Domain { name, source: Source::Pair(Box::new(pair_only(&sc, p, b))) });
            }
        }
    }
    if planned.is_empty() {
        return Err(SimError::Usage("--domains: give at least one domain".into()));
    }
    if let Some(twice) = planned.iter().enumerate().find(|(i, d)| planned[..*i].iter().any(|e| e.name == d.name)) {
        return Err(SimError::Usage(format!("--domains: `{}` is given twice", twice.1.name)));
    }
    let plan = Plan { strategies: named, domains: planned, seeds: u64::from(seeds) };
    if plan.games() > MAX_GAMES {
        return Err(SimError::Usage(format!(
            "{} games planned (strategies² × domains × seeds); at most {MAX_GAMES}",
            plan.games()
        )));
    }
    Ok(plan)
}

/// `sc` with only platform `p`, bank `b` and their one negotiation: no events, data phase or
/// thresholds.
fn pair_only(sc: &Scenario, p: PlatformId, b: BankId) -> Scenario {
    let mut one = sc.clone();
    let mut platform = sc.platforms[p].clone();
    platform.banks = vec![BankId::new(0)];
    one.platforms = vec![platform];
    one.banks = vec![sc.banks[b].clone()];
    one.events.clear();
    one.data = None;
    one.thresholds.clear();
    one
}

impl Plan {
    pub fn games(&self) -> usize {
        self.strategies.len().pow(2) * self.domains.len() * self.seeds as usize
    }

    /// Every game, in plan order: domain, seed, platform strategy, bank strategy.
    fn work(&self) -> Vec<(usize, u64, usize, usize)> {
        let n = self.strategies.len();
        let mut work = Vec::with_capacity(self.games());
        for d in 0..self.domains.len() {
            for seed in 1..=self.seeds {
                for a in 0..n {
                    for b in 0..n {
                        work.push((d, seed, a, b));
                    }
                }
            }
        }
        work
    }
}

/// Plays every game on up to `jobs` threads; in plan order.
pub fn play(plan: &Plan, jobs: usize, on_done: &(dyn Fn() + Sync)) -> Vec<Game> {
    // Each domain's scenario for each seed, made once: every pair of strategies plays on it.
    let seeds = plan.seeds as usize;
    let scenarios: Vec<Scenario> = (plan.domains.iter())
        .flat_map(|domain| (1..=plan.seeds).map(move |seed| (domain, seed)))
        .map(|(domain, seed)| {
            let mut sc = match &domain.source {
                Source::Pair(sc) => (**sc).clone(),
                Source::Generated(kind) => generated(kind, seed),
            };
            sc.seed = seed;
            sc
        })
        .collect();
    let play_one = |&(d, seed, a, b): &(usize, u64, usize, usize)| {
        game(plan, &plan.domains[d], &scenarios[d * seeds + (seed - 1) as usize], (a, b))
    };
    crate::jobs::in_order(&plan.work(), jobs, play_one, on_done)
}

/// Strategies `a` (platform) and `b` (bank) of the plan on `sc`, a scenario of `domain`.
fn game(plan: &Plan, domain: &Domain, sc: &Scenario, (a, b): (usize, usize)) -> Game {
    let seed = sc.seed;
    let mut sc = sc.clone();
    sc.platforms[0].strategy = plan.strategies[a].1;
    sc.banks[0].strategy = plan.strategies[b].1;
    let session = negotiate(&sc, None);
    let n: &NegotiationReport = &session.negotiation.negotiations[0];
    let reservation = (sc.platforms[0].preferences.reservation(), sc.banks[0].preferences.reservation());
    let agreement = n.outcome.kind == OutcomeKind::Agreement;
    let (up, ub) = match (n.outcome.utility_platform, n.outcome.utility_bank) {
        (Some(up), Some(ub)) if agreement => (up, ub),
        _ => reservation,
    };
    let quality = n.outcome.quality.as_ref();
    Game {
        domain: domain.name.clone(),
        seed,
        platform: plan.strategies[a].0.clone(),
        bank: plan.strategies[b].0.clone(),
        agreement,
        rounds: n.outcome.round,
        utility_platform: up,
        utility_bank: ub,
        advantage_platform: up - reservation.0,
        advantage_bank: ub - reservation.1,
        pareto_optimality: quality.map(|q| q.pareto_optimality),
        nash_optimality: quality.map(|q| q.nash_optimality),
    }
}

/// A generated domain of `kind` for `seed`: the default issues, a platform and a bank with
/// drawn weights, values and reservation values, put through the scenario loader.
fn generated(kind: &str, seed: u64) -> Scenario {
    let mut rng = stream(seed, &format!("tournament/{kind}"));
    let (mut platform_weights, mut bank_weights) = (toml::Table::new(), toml::Table::new());
    let (mut platform_values, mut bank_values) = (toml::Table::new(), toml::Table::new());
    for issue in DEFAULT_ISSUES {
        let n = issue.options.len();
        let (pw, bw) = (uniform(&mut rng, 0.1, 3.0), uniform(&mut rng, 0.1, 3.0));
        let random = |rng: &mut SimRng| (0..n).map(|_| uniform(rng, 0.0, 1.0)).collect::<Vec<f64>>();
        let (pv, bv, bw) = match kind {
            "zero-sum" => {
                let pv = random(&mut rng);
                let bv = pv.iter().map(|v| 1.0 - v).collect();
                (pv, bv, pw)
            }
            "monotonic" => {
                // Each side's values rise towards the end it favours.
                let (mut pv, mut bv) = (rising(&mut rng, n), rising(&mut rng, n));
                if issue.bank_favours == Favours::First {
                    bv.reverse();
                } else {
                    pv.reverse();
                }
                (pv, bv, bw)
            }
            _ => (random(&mut rng), random(&mut rng), bw),
        };
        platform_weights.insert(issue.name.into(), pw.into());
        bank_weights.insert(issue.name.into(), bw.into());
        let table = |values: &[f64]| -> toml::Table {
            issue.options.iter().zip(values).map(|(o, v)| ((*o).to_string(), v.clamp(0.0, 1.0).into())).collect()
        };
        platform_values.insert(issue.name.into(), table(&pv).into());
        bank_values.insert(issue.name.into(), table(&bv).into());
    }
    let (rp, rb) = (uniform(&mut rng, 0.0, 0.4), uniform(&mut rng, 0.0, 0.4));
    let text = format!(
        "[scenario]\nname = \"{kind}\"\nseed = {seed}\nduration = \"365d\"\n\n\
         [[platforms]]\nname = \"platform\"\ntrust = 1.0\nstrategy = \"linear\"\nreservation = {rp}\n\
         [platforms.weights]\n{}\n[platforms.values]\n{}\n\
         [[banks]]\nname = \"bank\"\n[banks.policy]\nreservation = {rb}\nstrategy = \"linear\"\n\
         [banks.policy.weights]\n{}\n[banks.policy.values]\n{}\n",
        platform_weights,
        inline_tables(&platform_values),
        bank_weights,
        inline_tables(&bank_values),
    );
    scenario::parse(&text).unwrap_or_else(|e| panic!("a generated {kind} domain loads: {e}\n{text}"))
}

fn uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    use rand::RngExt as _;
    lo + (hi - lo) * rng.random::<f64>()
}

/// `n` values rising from 0 to 1 in random steps.
fn rising(rng: &mut SimRng, n: usize) -> Vec<f64> {
    let steps: Vec<f64> = (1..n).map(|_| uniform(rng, 0.05, 1.0)).collect();
    let total: f64 = steps.iter().sum();
    let mut acc = 0.0;
    std::iter::once(0.0)
        .chain(steps.iter().map(|s| {
            acc += s;
            acc / total
        }))
        .collect()
}

/// `issue = { option = value, ... }` lines.
fn inline_tables(t: &toml::Table) -> String {
    let mut out = String::new();
    for (k, v) in t {
        let inner: Vec<String> = (v.as_table().into_iter().flatten())
            .map(|(o, x)| format!("{} = {x}", toml::Value::String(o.clone())))
            .collect();
        let _ = writeln!(out, "{k} = {{ {} }}", inner.join(", "));
    }
    out
}

/// One game as one of its two players saw it.
struct Played {
    /// Its own utility and its advantage over its reservation value.
    utility: f64,
    advantage: f64,
    /// Both sides' utilities together.
    welfare: f64,
    agreement: bool,
    /// Pareto and Nash optimality of the agreement.
    quality: Option<(f64, f64)>,
    rounds: u32,
}

/// The leaderboard: every strategy over all its games in both roles, best mean advantage first
/// (then mean utility, then name).
pub fn leaderboard(plan: &Plan, games: &[Game]) -> Vec<Standing> {
    let mut table: Vec<Standing> = plan
        .strategies
        .iter()
        .map(|(name, _)| {
            let mut mine: Vec<Played> = Vec::new();
            for g in games {
                let played = |utility, advantage| Played {
                    utility,
                    advantage,
                    welfare: g.utility_platform + g.utility_bank,
                    agreement: g.agreement,
                    quality: g.pareto_optimality.zip(g.nash_optimality),
                    rounds: g.rounds,
                };
                if &g.platform == name {
                    mine.push(played(g.utility_platform, g.advantage_platform));
                }
                if &g.bank == name {
                    mine.push(played(g.utility_bank, g.advantage_bank));
                }
            }
            let n = mine.len().max(1) as f64;
            let mean = |f: fn(&Played) -> f64| mine.iter().map(f).sum::<f64>() / n;
            let agreed: Vec<(f64, f64)> = mine.iter().filter_map(|m| m.quality).collect();
            let over_agreed = |f: fn(&(f64, f64)) -> f64| {
                (!agreed.is_empty()).then(|| agreed.iter().map(f).sum::<f64>() / agreed.len() as f64)
            };
            Standing {
                strategy: name.clone(),
                sides_played: mine.len() as u64,
                agreement_rate: mean(|m| f64::from(u8::from(m.agreement))),
                mean_utility: mean(|m| m.utility),
                mean_advantage: mean(|m| m.advantage),
                mean_welfare: mean(|m| m.welfare),
                mean_pareto_optimality: over_agreed(|q| q.0),
                mean_nash_optimality: over_agreed(|q| q.1),
                mean_rounds: mean(|m| f64::from(m.rounds)),
            }
        })
        .collect();
    table.sort_by(|a, b| {
        b.mean_advantage
            .total_cmp(&a.mean_advantage)
            .then(b.mean_utility.total_cmp(&a.mean_utility))
            .then(a.strategy.cmp(&b.strategy))
    });
    table
}

const COLUMNS: [&str; 9] = [
    "strategy",
    "sides_played",
    "agreement_rate",
    "mean_utility",
    "mean_advantage",
    "mean_welfare",
    "mean_pareto_optimality",
    "mean_nash_optimality",
    "mean_rounds",
];

fn cells(s: &Standing) -> [String; 9] {
    let f = |x: f64| format!("{x:.6}");
    let o = |x: Option<f64>| x.map_or_else(String::new, f);
    [
        s.strategy.clone(),
        s.sides_played.to_string(),
        f(s.agreement_rate),
        f(s.mean_utility),
        f(s.mean_advantage),
        f(s.mean_welfare),
        o(s.mean_pareto_optimality),
        o(s.mean_nash_optimality),
        f(s.mean_rounds),
    ]
}

pub fn render_csv(table: &[Standing]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for s in table {
        out.push_str(&cells(s).join(","));
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct TournamentJson<'a> {
    strategies: Vec<&'a str>,
    domains: Vec<&'a str>,
    seeds: u64,
    leaderboard: &'a [Standing],
    games: &'a [Game],
}

pub fn render_json(plan: &Plan, table: &[Standing], games: &[Game]) -> String {
    let json = TournamentJson {
        strategies: plan.strategies.iter().map(|(n, _)| n.as_str()).collect(),
        domains: plan.domains.iter().map(|d| d.name.as_str()).collect(),
        seeds: plan.seeds,
        leaderboard: table,
        games,
    };
    let mut text = serde_json::to_string_pretty(&json).expect("tournaments serialise");
    text.push('\n');
    text
}

/// The leaderboard as the terminal shows it.
pub fn render_table(table: &[Standing]) -> String {
    let rows: Vec<[String; 9]> = table.iter().map(cells).collect();
    let width = |i: usize| rows.iter().map(|r| r[i].len()).chain([COLUMNS[i].len()]).max().unwrap_or(0);
    let mut out = String::new();
    for (i, c) in COLUMNS.iter().enumerate() {
        let _ = write!(out, "{c:<w$}  ", w = width(i));
    }
    out = out.trim_end().to_string();
    out.push('\n');
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let _ = write!(line, "{c:<w$}  ", w = width(i));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tournament · testbed</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #282c34; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #e1e4ea; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg.chart { width: 100%; height: auto; }
.note { color: #5a606b; }
</style>
</head>
<body>
<h1>Tournament</h1>
<p class="note">{{ strategies|length }} strategies, each against each in both roles (platform and bank), on
{{ domains|length }} domain{% if domains|length != 1 %}s{% endif %} and {{ seeds }} seed{% if seeds != 1 %}s{% endif %}:
{{ games }} games. A side that reaches no agreement gets its reservation value (advantage 0). Each figure is
over the sides a strategy played (a game against itself counts once for each side); Pareto and Nash optimality
over its agreements (NegMAS's definitions). Domains: {{ domains|join(", ") }}.</p>
{{ chart }}
<table>
<thead><tr>{% for c in columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</body>
</html>
"#;

pub fn render_html(plan: &Plan, table: &[Standing], games: usize) -> Result<String, String> {
    use testbed_report::html::charts::{BarSeries, Bars, PALETTE, bar_chart};
    let bars = Bars {
        title: "mean advantage over the reservation value, per game".into(),
        value_desc: "mean advantage (utility above the reservation value)".into(),
        groups: table.iter().map(|s| s.strategy.clone()).collect(),
        series: vec![
            BarSeries {
                name: "mean advantage".into(),
                colour: PALETTE[0],
                values: table.iter().map(|s| s.mean_advantage.max(0.0)).collect(),
            },
            BarSeries {
                name: "agreement rate".into(),
                colour: PALETTE[2],
                values: table.iter().map(|s| s.agreement_rate).collect(),
            },
        ],
        unit: String::new(),
    };
    let chart = bar_chart(&bars).map_err(|e| e.to_string())?;
    let rows: Vec<[String; 9]> = table.iter().map(cells).collect();
    let mut env = minijinja::Environment::new();
    env.add_template("tournament.html", PAGE).map_err(|e| e.to_string())?;
    let page = env.get_template("tournament.html").map_err(|e| e.to_string())?;
    page.render(minijinja::context! {
        strategies => plan.strategies.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        domains => plan.domains.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
        seeds => plan.seeds, games => games, columns => COLUMNS, rows => rows,
        chart => minijinja::Value::from_safe_string(chart),
    })
    .map_err(|e| e.to_string())
}

/// The files a tournament writes, relative to its output folder.
pub const LEADERBOARD_CSV: &str = "leaderboard.csv";
pub const TOURNAMENT_JSON: &str = "tournament.json";
pub const TOURNAMENT_HTML: &str = "tournament.html";

/// Writes the leaderboard files into `dir` (each whole or not at all) and returns the text for
/// the terminal.
pub fn write(plan: &Plan, games: &[Game], dir: &Path) -> Result<String, SimError> {
    let table = leaderboard(plan, games);
    let html_path = dir.join(TOURNAMENT_HTML);
    let html = render_html(plan, &table, games.len())
        .map_err(|e| SimError::Write { path: html_path.display().to_string(), error: std::io::Error::other(e) })?;
    std::fs::create_dir_all(dir).map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
    let (csv_path, json_path) = (dir.join(LEADERBOARD_CSV), dir.join(TOURNAMENT_JSON));
    write_atomically(&csv_path, render_csv(&table).as_bytes())?;
    write_atomically(&json_path, render_json(plan, &table, games).as_bytes())?;
    write_atomically(&html_path, html.as_bytes())?;
    let mut out = render_table(&table);
    let _ = writeln!(out, "{} games", games.len());
    for p in [csv_path, json_path, html_path] {
        let _ = writeln!(out, "wrote {}", p.display());
    }
    Ok(out)
}

/// The default output folder.
pub fn default_out() -> PathBuf {
    PathBuf::from("reports").join("tournament")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_sum_domain_gives_the_bank_one_minus_the_platforms_utility_everywhere() {
        let sc = generated("zero-sum", 3);
        let (p, b) = (&sc.platforms[0].preferences, &sc.banks[0].preferences);
        for o in sc.space.outcomes().step_by(97) {
            assert!((p.utility(o) + b.utility(o) - 1.0).abs() < 1e-9, "{o:?}");
        }
    }

    #[test]
    fn a_monotonic_domain_has_each_side_prefer_its_own_end_of_every_issue() {
        let sc = generated("monotonic", 5);
        let (p, b) = (&sc.platforms[0].preferences, &sc.banks[0].preferences);
        for (i, issue) in DEFAULT_ISSUES.iter().enumerate() {
            let (pv, bv) = (&p.linear_utility().values()[i], &b.linear_utility().values()[i]);
            let (bank_best, platform_best) =
                if issue.bank_favours == Favours::First { (0, pv.len() - 1) } else { (pv.len() - 1, 0) };
            assert_eq!((bv[bank_best], pv[platform_best]), (1.0, 1.0), "{}", issue.name);
            assert!(pv.windows(2).all(|w| (w[0] <= w[1]) == (platform_best > 0)), "{}: {pv:?}", issue.name);
        }
    }

    #[test]
    fn generated_domains_differ_by_seed_and_repeat_for_the_same_seed() {
        let u =
            |seed| generated("general", seed).platforms[0].preferences.utility(testbed_core::negotiation::OutcomeId(7));
        assert_eq!(u(1), u(1));
        assert_ne!(u(1), u(2));
    }

    #[test]
    fn a_hardliner_against_itself_never_agrees_and_both_keep_their_reservation_values() {
        let plan = plan(&["hardliner".into(), "conceder".into()], &["general".into()], 1).unwrap();
        let games = play(&plan, 1, &|| {});
        assert_eq!(games.len(), 4);
        let hh = games.iter().find(|g| g.platform == "hardliner" && g.bank == "hardliner").unwrap();
        assert!(!hh.agreement);
        assert_eq!((hh.advantage_platform, hh.advantage_bank), (0.0, 0.0));
        let table = leaderboard(&plan, &games);
        assert_eq!(
            table.iter().map(|s| s.sides_played).collect::<Vec<_>>(),
            vec![4, 4],
            "each plays both roles against both"
        );
    }

    #[test]
    fn unknown_strategies_and_domains_are_refused_naming_what_is_allowed() {
        let e = plan(&["bouleware".into()], &["general".into()], 1).unwrap_err().to_string();
        assert!(e.contains("unknown strategy `bouleware`") && e.contains("boulware, linear"), "{e}");
        let e = plan(&["linear".into(), String::new()], &["general".into()], 1).unwrap_err().to_string();
        assert!(e.contains("--strategies: an empty name"), "{e}");
        let e = plan(&["linear".into()], &["zero_sum".into()], 1).unwrap_err().to_string();
        assert!(e.contains("`zero_sum` is neither a scenario file nor a generated domain (zero-sum"), "{e}");
    }
}
