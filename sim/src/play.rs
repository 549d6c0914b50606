//! `sim play`: a person takes one party's side of its negotiations against the scenario's
//! agents, on a page served on loopback. The session is the one `sim run` runs
//! (`testbed_core::session::negotiate_played`), in virtual time on a thread of its own; at each
//! of the person's turns it waits for their move from the page. Then the data phase runs under
//! the agreements reached, and the same report files as `sim run` are written.
//!
//! The page reads `GET /state` (the turn: the offer on the table with the person's utility and
//! the clauses it breaks, their best offers, the opponent's moves, the outcome-space chart) and
//! answers with `POST /move`; `POST /evaluate` gives the person's utility of any outcome they
//! compose. Every request is checked: a move out of turn is 409, a bad one 422 with one line
//! naming the field and what is allowed.

use crate::output::SimError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use testbed_core::negotiation::quality::OutcomeSpace;
use testbed_core::negotiation::{Decision, OutcomeId, Preferences, RESERVATION_CLAUSE, Side, Withdrawal};
use testbed_core::report::{Action, Report, render_json, render_markdown};
use testbed_core::scenario::Scenario;
use testbed_core::session::{Player, PlayerTurn, Seat, check_move, negotiate_played};
use testbed_core::time::format_duration;

const PAGE: &str = include_str!("play.html");

/// Offers listed for the person at each turn, best for them first.
const BEST_OFFERS: usize = 12;
/// The longest reason a person may give for withdrawing.
const MAX_REASON: usize = 300;

/// The seat `name` names: one platform or one bank of the scenario that negotiates at all.
pub fn seat_of(scenario: &Scenario, name: &str) -> Result<Seat, SimError> {
    let platform = scenario.platforms.iter().position(|p| p.name == name);
    let bank = scenario.banks.iter().position(|b| b.name == name);
    let seat = match (platform, bank) {
        (Some(party), None) => Seat { side: Side::Platform, party },
        (None, Some(party)) => Seat { side: Side::Bank, party },
        (Some(_), Some(_)) => {
            return Err(SimError::Usage(format!("--as `{name}` names both a platform and a bank of the scenario")));
        }
        (None, None) => {
            let names: Vec<&str> = (scenario.platforms.iter().map(|p| p.name.as_str()))
                .chain(scenario.banks.iter().map(|b| b.name.as_str()))
                .collect();
            return Err(SimError::Usage(format!(
                "--as `{name}` is no platform or bank of the scenario (allowed: {})",
                names.join(", ")
            )));
        }
    };
    let negotiates = match seat.side {
        Side::Platform => !scenario.platforms[seat.party].banks.is_empty(),
        Side::Bank => scenario.platforms.iter().any(|p| p.banks.contains(&seat.party)),
    };
    if !negotiates {
        return Err(SimError::Usage(format!("--as `{name}`: it negotiates with no one in this scenario")));
    }
    Ok(seat)
}

/// Where the game stands, as the page reads it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
enum Status {
    /// The agents are moving.
    Waiting,
    YourTurn {
        turn: Box<TurnView>,
    },
    Finished {
        summary: String,
        wrote: Vec<String>,
    },
    Failed {
        error: String,
    },
}

/// A turn as the page shows it. Utilities are the person's.
#[derive(Clone, Debug, Serialize)]
struct TurnView {
    id: u64,
    pair: String,
    side: Side,
    opponent: String,
    round: u32,
    n_rounds: u32,
    at: String,
    reservation: f64,
    issues: Vec<IssueView>,
    standing: Option<OfferView>,
    /// What the scenario's agent for this side would do now.
    agent: String,
    /// The least utility the agent would accept this round.
    agent_threshold: Option<f64>,
    best: Vec<OfferView>,
    /// Clauses the person may withdraw over: their own, and the reservation value.
    clauses: Vec<ClauseView>,
    transcript: Vec<MoveView>,
    chart: String,
}

#[derive(Clone, Debug, Serialize)]
struct IssueView {
    name: String,
    options: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
struct OfferView {
    terms: BTreeMap<String, String>,
    utility: f64,
    /// The person's clauses the offer breaks; for the offer on the table, with the strikes
    /// the other side has run up on each and the patience before the agent would walk away.
    breaks: Vec<BreakView>,
}

#[derive(Clone, Debug, Serialize)]
struct BreakView {
    clause: String,
    reason: String,
    strikes: Option<u32>,
    patience: u32,
}

#[derive(Clone, Debug, Serialize)]
struct ClauseView {
    id: String,
    reason: String,
}

#[derive(Clone, Debug, Serialize)]
struct MoveView {
    round: u32,
    by: Side,
    action: Action,
    terms: Option<BTreeMap<String, String>>,
    utility: Option<f64>,
    clause: Option<String>,
}

/// The game, shared by its thread and the page's requests.
struct Table {
    game: Mutex<Game>,
    moved: Condvar,
}

struct Game {
    status: Status,
    /// The person's preferences at the turn under way (for `/evaluate` and checking moves),
    /// and whether an offer is on the table.
    mine: Option<Arc<Preferences>>,
    standing: Option<OutcomeId>,
    turns: u64,
    reply: Option<Decision>,
    /// The finished report, rendered, for the page's links.
    report: Option<Arc<Report>>,
    quit: bool,
    last_request: Instant,
}

impl Table {
    fn lock(&self) -> MutexGuard<'_, Game> {
        self.game.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The person at the table: each of their turns is put on the page, and the game waits for
/// their move.
struct WebPlayer {
    table: Arc<Table>,
}

impl Player for WebPlayer {
    fn decide(&mut self, turn: &PlayerTurn<'_>) -> Decision {
        let mut game = self.table.lock();
        game.turns += 1;
        let view = turn_view(turn, game.turns);
        game.status = Status::YourTurn { turn: Box::new(view) };
        game.mine = Some(Arc::new(turn.mine.clone()));
        game.standing = turn.standing;
        game.reply = None;
        let mut game = self.table.moved.wait_while(game, |g| g.reply.is_none()).unwrap_or_else(|e| e.into_inner());
        game.reply.take().expect("woken with a reply")
    }
}

fn turn_view(turn: &PlayerTurn<'_>, id: u64) -> TurnView {
    let (mine, space) = (turn.mine, turn.mine.space());
    let terms = |o: OutcomeId| space.describe(o).into_iter().collect::<BTreeMap<_, _>>();
    let breaks = |o: OutcomeId| -> Vec<BreakView> {
        (mine.clauses().iter())
            .filter(|c| c.is_violated_by(space, o))
            .map(|c| BreakView { clause: c.id.clone(), reason: c.reason.clone(), strikes: None, patience: c.patience })
            .collect()
    };
    let standing = turn.standing.map(|o| {
        let mut offer = OfferView { terms: terms(o), utility: mine.utility(o), breaks: breaks(o) };
        // The strikes as the agent counted them, this offer included.
        for b in &mut offer.breaks {
            b.strikes =
                (turn.assessment.iter().flat_map(|a| &a.broken)).find(|s| s.clause == b.clause).map(|s| s.strikes);
        }
        offer
    });
    let best = (mine.best_first().take(BEST_OFFERS))
        .map(|(utility, o)| OfferView { terms: terms(o), utility, breaks: breaks(o) })
        .collect();
    let agent = match turn.agent {
        Decision::Accept => "accept the offer on the table".to_string(),
        Decision::Offer(o) => format!("offer {} (your utility {:.3})", describe(&terms(*o)), mine.utility(*o)),
        Decision::Withdraw(w) => format!("withdraw over clause `{}`: {}", w.clause, w.reason),
    };
    let (platform_prefs, bank_prefs) = match turn.side {
        Side::Platform => (turn.mine, turn.theirs),
        Side::Bank => (turn.theirs, turn.mine),
    };
    let space_report = (&OutcomeSpace::new(platform_prefs, bank_prefs)).into();
    let pair = format!("{}→{}", turn.platform, turn.bank);
    let chart = testbed_report::html::outcome_space_so_far(&pair, &space_report, turn.transcript)
        .unwrap_or_else(|e| format!("<p>the chart could not be drawn: {e}</p>"));
    let mut clauses: Vec<ClauseView> =
        mine.clauses().iter().map(|c| ClauseView { id: c.id.clone(), reason: c.reason.clone() }).collect();
    clauses.push(ClauseView {
        id: RESERVATION_CLAUSE.into(),
        reason: "no outcome on offer is worth my reservation value".into(),
    });
    TurnView {
        id,
        pair,
        side: turn.side,
        opponent: match turn.side {
            Side::Platform => turn.bank.to_string(),
            Side::Bank => turn.platform.to_string(),
        },
        round: turn.round,
        n_rounds: turn.n_rounds,
        at: format_duration(turn.now.since(testbed_core::SimTime::ZERO)),
        reservation: mine.reservation(),
        issues: (space.issues().iter())
            .map(|i| IssueView { name: i.name.clone(), options: i.options.clone() })
            .collect(),
        standing,
        agent,
        agent_threshold: turn.assessment.map(|a| a.threshold),
        best,
        clauses,
        transcript: (turn.transcript.iter())
            .map(|e| MoveView {
                round: e.round,
                by: e.side,
                action: e.action,
                terms: e.outcome.clone(),
                utility: match turn.side {
                    Side::Platform => e.utility_platform,
                    Side::Bank => e.utility_bank,
                },
                clause: e.clause.clone(),
            })
            .collect(),
        chart,
    }
}

fn describe(terms: &BTreeMap<String, String>) -> String {
    terms.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// A game of `sim play` under way: its page at `url`.
pub struct Play {
    pub url: String,
    table: Arc<Table>,
    rt: tokio::runtime::Runtime,
}

/// How a game of `sim play` ended.
pub enum Ended {
    /// The report was written and the person closed the page (or `POST /quit`).
    Done { report: Arc<Report>, wrote: Vec<PathBuf> },
    /// Writing the report failed.
    Failed(String),
    /// Interrupted (Ctrl-C) or no request for `idle`: nothing written.
    Left(String),
}

/// Starts a game: the page on `listen` (a loopback address), the session on a thread of its
/// own; the report goes to `out` at the end.
pub fn start(scenario: Scenario, seat: Seat, listen: SocketAddr, out: PathBuf) -> Result<Play, SimError> {
    if !listen.ip().is_loopback() {
        return Err(SimError::Usage(format!("--listen {listen}: sim play serves on loopback only (127.0.0.1)")));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| SimError::Usage(format!("starting the runtime: {e}")))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| SimError::Usage(format!("--listen {listen}: {e}")))?;
    let url = format!("http://{}/", listener.local_addr().map_err(|e| SimError::Usage(e.to_string()))?);
    let table = Arc::new(Table {
        game: Mutex::new(Game {
            status: Status::Waiting,
            mine: None,
            standing: None,
            turns: 0,
            reply: None,
            report: None,
            quit: false,
            last_request: Instant::now(),
        }),
        moved: Condvar::new(),
    });
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/state", get(state))
        .route("/evaluate", post(evaluate))
        .route("/move", post(make_move))
        .route("/quit", post(quit))
        .route("/report.html", get(report_html))
        .route("/report.json", get(report_json))
        .route("/report.md", get(report_md))
        // The report's page asks for an icon; it has none.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .with_state(table.clone());
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let game_table = table.clone();
    std::thread::spawn(move || {
        let mut player = WebPlayer { table: game_table.clone() };
        let session = negotiate_played(&scenario, seat, &mut player);
        let report = crate::run::after_negotiation(&scenario, session).report;
        let status = match testbed_report::files::write_reports(&out, &report) {
            Ok(wrote) => Status::Finished {
                summary: testbed_report::terminal::summary(&report),
                wrote: wrote.iter().map(|p| p.display().to_string()).collect(),
            },
            Err(e) => Status::Failed { error: e.to_string() },
        };
        let mut game = game_table.lock();
        game.status = status;
        game.report = Some(Arc::new(report));
        game_table.moved.notify_all();
    });
    Ok(Play { url, table, rt })
}

impl Play {
    /// Waits until the person closes the finished game, Ctrl-C, or no request for `idle`.
    pub fn wait(self, idle: Duration) -> Ended {
        let table = self.table.clone();
        let ended = self.rt.block_on(async move {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ended::Left("interrupted; nothing written".into()),
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                let game = table.lock();
                match (&game.status, game.quit) {
                    (Status::Finished { wrote, .. }, true) => {
                        let report = game.report.clone().expect("a finished game has its report");
                        return Ended::Done { report, wrote: wrote.iter().map(PathBuf::from).collect() };
                    }
                    (Status::Failed { error }, _) => return Ended::Failed(error.clone()),
                    _ => {}
                }
                if game.last_request.elapsed() >= idle {
                    let left = match game.status {
                        Status::Finished { .. } => "the page was left open",
                        _ => "nothing written",
                    };
                    return Ended::Left(format!("no request from the page for {}; {left}", format_duration(idle)));
                }
            }
        });
        self.rt.shutdown_timeout(Duration::from_secs(1));
        ended
    }
}

/// A request the page made wrong: its status and one line saying what is allowed.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn seen(table: &Table) -> MutexGuard<'_, Game> {
    let mut game = table.lock();
    game.last_request = Instant::now();
    game
}

async fn state(State(table): State<Arc<Table>>) -> Response {
    axum::Json(seen(&table).status.clone()).into_response()
}

/// An outcome the page names: one option for each issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Evaluate {
    terms: BTreeMap<String, String>,
}

/// The outcome `terms` names in `prefs`' space, or 422 naming the issue or option at fault.
fn outcome_of(prefs: &Preferences, terms: &BTreeMap<String, String>) -> Result<OutcomeId, Refused> {
    let space = prefs.space();
    let mut choice = Vec::new();
    for issue in space.issues() {
        let option = terms.get(&issue.name).ok_or_else(|| {
            Refused(StatusCode::UNPROCESSABLE_ENTITY, format!("terms.{}: missing (one option per issue)", issue.name))
        })?;
        let index = issue.options.iter().position(|o| o == option).ok_or_else(|| {
            Refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("terms.{}: `{option}` is not an option (allowed: {})", issue.name, issue.options.join(", ")),
            )
        })?;
        choice.push(index);
    }
    if let Some(unknown) = terms.keys().find(|k| space.issue_index(k).is_none()) {
        let names: Vec<&str> = space.issues().iter().map(|i| i.name.as_str()).collect();
        return Err(Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("terms.{unknown}: no such issue (allowed: {})", names.join(", ")),
        ));
    }
    space.outcome(&choice).map_err(|e| Refused(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refused> {
    body.map(|Json(b)| b).map_err(|e| Refused(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()))
}

fn not_your_turn() -> Refused {
    Refused(StatusCode::CONFLICT, "it is not your turn".into())
}

async fn evaluate(State(table): State<Arc<Table>>, request: Result<Json<Evaluate>, JsonRejection>) -> Response {
    let result = (|| {
        let request = body(request)?;
        let mine = seen(&table).mine.clone().ok_or_else(not_your_turn)?;
        let o = outcome_of(&mine, &request.terms)?;
        let breaks: Vec<BreakView> = (mine.clauses().iter())
            .filter(|c| c.is_violated_by(mine.space(), o))
            .map(|c| BreakView { clause: c.id.clone(), reason: c.reason.clone(), strikes: None, patience: c.patience })
            .collect();
        Ok::<_, Refused>(OfferView { terms: request.terms, utility: mine.utility(o), breaks })
    })();
    result.map(axum::Json).into_response()
}

/// A move of the person's: `offer` with `terms`, `accept`, or `withdraw` with `clause` (and a
/// `reason`, else the clause's own). `turn` is the id of the turn answered.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    turn: u64,
    action: Action,
    #[serde(default)]
    terms: Option<BTreeMap<String, String>>,
    #[serde(default)]
    clause: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn make_move(State(table): State<Arc<Table>>, request: Result<Json<Move>, JsonRejection>) -> Response {
    let result = (|| {
        let m = body(request)?;
        let mut game = seen(&table);
        let mine = game.mine.clone().ok_or_else(not_your_turn)?;
        if m.turn != game.turns {
            return Err(Refused(
                StatusCode::CONFLICT,
                format!("turn {} is over; the turn under way is {}", m.turn, game.turns),
            ));
        }
        let decision = match m.action {
            Action::Offer => {
                let terms = m.terms.as_ref().ok_or_else(|| {
                    Refused(StatusCode::UNPROCESSABLE_ENTITY, "terms: an offer names one option per issue".into())
                })?;
                Decision::Offer(outcome_of(&mine, terms)?)
            }
            Action::Accept => Decision::Accept,
            Action::Withdraw => {
                let clause = m.clause.clone().unwrap_or_default();
                let own = mine.clauses().iter().find(|c| c.id == clause).map(|c| c.reason.clone());
                let known = own.clone().or_else(|| (clause == RESERVATION_CLAUSE).then(String::new));
                let Some(default_reason) = known else {
                    let mut ids: Vec<&str> = mine.clauses().iter().map(|c| c.id.as_str()).collect();
                    ids.push(RESERVATION_CLAUSE);
                    return Err(Refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("clause: `{clause}` is not one of your clauses (allowed: {})", ids.join(", ")),
                    ));
                };
                let reason = m.reason.clone().filter(|r| !r.trim().is_empty());
                if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
                    return Err(Refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("reason: at most {MAX_REASON} characters"),
                    ));
                }
                let reason = reason.unwrap_or_else(|| {
                    if default_reason.is_empty() {
                        "no outcome on offer is worth the reservation value".into()
                    } else {
                        default_reason
                    }
                });
                Decision::Withdraw(Withdrawal { clause, reason })
            }
        };
        check_move(game.standing, mine.space(), &decision).map_err(|e| Refused(StatusCode::CONFLICT, e))?;
        // The turn is over as soon as its move is taken: the page sees the agents move next.
        game.reply = Some(decision);
        game.status = Status::Waiting;
        game.mine = None;
        table.moved.notify_all();
        Ok(axum::Json(serde_json::json!({ "ok": true })))
    })();
    result.into_response()
}

async fn quit(State(table): State<Arc<Table>>) -> Response {
    let mut game = seen(&table);
    if !matches!(game.status, Status::Finished { .. } | Status::Failed { .. }) {
        return Refused(StatusCode::CONFLICT, "the game is not over; withdraw to end a negotiation".into())
            .into_response();
    }
    game.quit = true;
    axum::Json(serde_json::json!({ "ok": true })).into_response()
}

/// The finished report, rendered by `render`; 404 before the game ends.
fn report_as(table: &Table, render: impl FnOnce(&Report) -> Result<String, String>, kind: &'static str) -> Response {
    let report = seen(table).report.clone();
    match report.map(|r| render(&r)) {
        Some(Ok(text)) => ([(header::CONTENT_TYPE, kind)], text).into_response(),
        Some(Err(e)) => Refused(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        None => Refused(StatusCode::NOT_FOUND, "the report is written when the game ends".into()).into_response(),
    }
}

async fn report_html(State(table): State<Arc<Table>>) -> Response {
    report_as(&table, |r| testbed_report::html::render_html(r).map_err(|e| e.to_string()), "text/html; charset=utf-8")
}

async fn report_json(State(table): State<Arc<Table>>) -> Response {
    report_as(&table, |r| Ok(render_json(r)), "application/json")
}

async fn report_md(State(table): State<Arc<Table>>) -> Response {
    report_as(&table, |r| Ok(render_markdown(r)), "text/markdown; charset=utf-8")
}
