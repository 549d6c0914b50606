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
    let seat = match (scenario.platform_index(name), scenario.bank_index(name)) {
        (Some(platform), None) => Seat::Platform(platform),
        (None, Some(bank)) => Seat::Bank(bank),
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
    let negotiates = match seat {
        Seat::Platform(platform) => !scenario.platforms[platform].banks.is_empty(),
        Seat::Bank(bank) => scenario.platforms.iter().any(|p| p.banks.contains(&bank)),
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
    /// The negotiations are over; the data phase runs and the report is written.
    Running,
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
    /// A counter-offer now ends the negotiation without agreement (the last round's last word).
    last_word: bool,
    /// Every negotiation at the person's table and where it stands.
    negotiations: Vec<NegotiationLine>,
}

#[derive(Clone, Debug, Serialize)]
struct NegotiationLine {
    pair: String,
    state: String,
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
    /// The person's own move (else the side's strategy's or policy's).
    by_person: bool,
}

/// The game, shared by its thread and the page's requests.
struct Table {
    game: Mutex<Game>,
    moved: Condvar,
}

struct Game {
    status: Status,
    /// The person's preferences at the turn under way (for `/evaluate` and checking moves),
    /// whether an offer is on the table, and the clauses they may withdraw over (id, the reason
    /// given when they give none).
    mine: Option<Arc<Preferences>>,
    standing: Option<OutcomeId>,
    clauses: Vec<(String, String)>,
    turns: u64,
    reply: Option<Decision>,
    /// The finished report, for the page's links.
    report: Option<Arc<Report>>,
    /// The person pressed Done.
    quit: bool,
    /// The report files are being written: an interrupt waits for them.
    writing: bool,
    /// Interrupted or given up before the report was written: write nothing.
    stop: bool,
    /// The last move, evaluation or Done, or the last turn put on the page: what the idle
    /// timeout counts from (the page's polling does not count).
    last_activity: Instant,
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
        game.clauses = view.clauses.iter().map(|c| (c.id.clone(), c.reason.clone())).collect();
        game.status = Status::YourTurn { turn: Box::new(view) };
        game.mine = Some(Arc::new(turn.mine.clone()));
        game.standing = turn.standing;
        game.reply = None;
        game.last_activity = Instant::now();
        let mut game = self.table.moved.wait_while(game, |g| g.reply.is_none()).unwrap_or_else(|e| e.into_inner());
        game.reply.take().expect("woken with a reply")
    }
}

fn turn_view(turn: &PlayerTurn<'_>, id: u64) -> TurnView {
    let (mine, space) = (turn.mine, turn.mine.space());
    let terms = |o: OutcomeId| space.describe(o).into_iter().collect::<BTreeMap<_, _>>();
    let breaks = |o: OutcomeId| breaks_of(mine, o);
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
    // The strategy may walk away over a clause of its policy's (a trust floor, the portfolio):
    // the person may too.
    if let Decision::Withdraw(w) = turn.agent
        && !clauses.iter().any(|c| c.id == w.clause)
    {
        clauses.push(ClauseView { id: w.clause.clone(), reason: w.reason.clone() });
    }
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
                by_person: e.by_person,
            })
            .collect(),
        chart,
        last_word: turn.last_word,
        negotiations: (turn.negotiations.iter())
            .map(|(pair, state)| NegotiationLine { pair: pair.clone(), state: state.clone() })
            .collect(),
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
    /// The report was written and the person pressed Done (or Ctrl-C, or left the finished
    /// page alone for the idle time: `note` says which).
    Done { report: Arc<Report>, wrote: Vec<PathBuf>, note: Option<String> },
    /// Writing the report failed.
    Failed(String),
    /// Interrupted (Ctrl-C) or no request for `idle`: nothing written.
    Left(String),
}

/// Starts a game: the page on `listen` (a loopback address), the session on a thread of its
/// own; the report goes to `out` (made now, so that a folder that cannot be made stops the game
/// before it starts) at the end.
pub fn start(scenario: Scenario, seat: Seat, listen: SocketAddr, out: PathBuf) -> Result<Play, SimError> {
    if !listen.ip().is_loopback() {
        return Err(SimError::Usage(format!("--listen {listen}: sim play serves on loopback only (127.0.0.1)")));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| SimError::Usage(format!("--out {}: cannot make the folder: {e}", out.display())))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| SimError::Usage(format!("starting the runtime: {e}")))?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| SimError::Usage(format!("--listen {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| SimError::Usage(e.to_string()))?;
    let url = format!("http://{addr}/");
    let table = Arc::new(Table {
        game: Mutex::new(Game {
            status: Status::Waiting,
            mine: None,
            standing: None,
            clauses: Vec::new(),
            turns: 0,
            reply: None,
            report: None,
            quit: false,
            writing: false,
            stop: false,
            last_activity: Instant::now(),
        }),
        moved: Condvar::new(),
    });
    // A page elsewhere that names this address (DNS rebinding) is refused: only these hosts.
    let hosts = Arc::new(vec![addr.to_string(), format!("localhost:{}", addr.port())]);
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
        .with_state(table.clone())
        .layer(axum::middleware::from_fn_with_state(hosts, only_these_hosts));
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let game_table = table.clone();
    std::thread::spawn(move || play_game(&scenario, seat, &out, game_table));
    Ok(Play { url, table, rt })
}

/// The game on its thread: the session with the person seated, the data phase, the report
/// files. A failure anywhere (a panic included) is put on the page, not left as a page that
/// waits for ever.
fn play_game(scenario: &Scenario, seat: Seat, out: &std::path::Path, table: Arc<Table>) {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut player = WebPlayer { table: table.clone() };
        let session = negotiate_played(scenario, seat, &mut player);
        table.lock().status = Status::Running;
        crate::run::after_negotiation(scenario, session).report
    }));
    let report = match ran {
        Ok(report) => report,
        Err(panic) => {
            let why = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let mut game = table.lock();
            game.status = Status::Failed { error: format!("the game failed: {why}; nothing written") };
            game.last_activity = Instant::now();
            return;
        }
    };
    {
        let mut game = table.lock();
        if game.stop {
            return; // interrupted: nothing written
        }
        game.writing = true;
    }
    let status = match testbed_report::files::write_reports(out, &report) {
        Ok(wrote) => Status::Finished {
            summary: testbed_report::terminal::summary(&report),
            wrote: wrote.iter().map(|p| p.display().to_string()).collect(),
        },
        Err(e) => Status::Failed { error: e.to_string() },
    };
    let mut game = table.lock();
    game.status = status;
    game.report = Some(Arc::new(report));
    game.writing = false;
    game.last_activity = Instant::now();
}

impl Play {
    /// Waits until the person presses Done after the game, Ctrl-C, or `idle` without a move.
    pub fn wait(self, idle: Duration) -> Ended {
        let table = self.table.clone();
        let ended = self.rt.block_on(async move {
            loop {
                let interrupted = tokio::select! {
                    _ = tokio::signal::ctrl_c() => true,
                    () = tokio::time::sleep(Duration::from_millis(100)) => false,
                };
                let idle_out = table.lock().last_activity.elapsed() >= idle;
                if interrupted || idle_out {
                    // Report files being written are finished first: never half a set (and once
                    // `stop` is set under this lock, the game writes none).
                    let mut game = settled(&table);
                    let why = if interrupted {
                        "interrupted".to_string()
                    } else {
                        format!("no move from the page for {}", format_duration(idle))
                    };
                    return match &game.status {
                        Status::Finished { wrote, .. } => Ended::Done {
                            report: game.report.clone().expect("a finished game has its report"),
                            wrote: wrote.iter().map(PathBuf::from).collect(),
                            note: Some(format!("{why} after the game ended")),
                        },
                        Status::Failed { error } => Ended::Failed(error.clone()),
                        _ => {
                            game.stop = true;
                            Ended::Left(format!("{why}; nothing written"))
                        }
                    };
                }
                let game = table.lock();
                match (&game.status, game.quit) {
                    (Status::Finished { wrote, .. }, true) => {
                        let report = game.report.clone().expect("a finished game has its report");
                        return Ended::Done { report, wrote: wrote.iter().map(PathBuf::from).collect(), note: None };
                    }
                    (Status::Failed { error }, true) => return Ended::Failed(error.clone()),
                    _ => {}
                }
            }
        });
        self.rt.shutdown_timeout(Duration::from_secs(1));
        ended
    }
}

/// The game once no report file is being written (writing takes moments; this runs on the
/// thread that waits for the game, not the page's).
fn settled(table: &Table) -> MutexGuard<'_, Game> {
    loop {
        let game = table.lock();
        if !game.writing {
            return game;
        }
        drop(game);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Refuses a request whose `Host` is not this page's own address (a page elsewhere that
/// resolves its name to 127.0.0.1 must not drive the game).
async fn only_these_hosts(
    State(hosts): State<Arc<Vec<String>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !hosts.iter().any(|h| h == host) {
        return Refused(StatusCode::FORBIDDEN, format!("this page answers to {} only", hosts.join(" or ")))
            .into_response();
    }
    next.run(request).await
}

/// A request the page made wrong: its status and one line saying what is allowed.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The game, for a request that counts as the person's activity (a move, an evaluation, Done).
fn active(table: &Table) -> MutexGuard<'_, Game> {
    let mut game = table.lock();
    game.last_activity = Instant::now();
    game
}

async fn state(State(table): State<Arc<Table>>) -> Response {
    axum::Json(table.lock().status.clone()).into_response()
}

/// An outcome the page names: one option for each issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Evaluate {
    terms: BTreeMap<String, String>,
}

fn unprocessable(message: impl Into<String>) -> Refused {
    Refused(StatusCode::UNPROCESSABLE_ENTITY, message.into())
}

/// The outcome `terms` names in `prefs`' space, or 422 naming the issue or option at fault.
fn outcome_of(prefs: &Preferences, terms: &BTreeMap<String, String>) -> Result<OutcomeId, Refused> {
    let space = prefs.space();
    if let Some(unknown) = terms.keys().find(|k| space.issue_index(k).is_none()) {
        let names: Vec<&str> = space.issues().iter().map(|i| i.name.as_str()).collect();
        return Err(unprocessable(format!("terms.{unknown}: no such issue (allowed: {})", names.join(", "))));
    }
    let mut choice = Vec::new();
    for issue in space.issues() {
        let option = (terms.get(&issue.name))
            .ok_or_else(|| unprocessable(format!("terms.{}: missing (one option per issue)", issue.name)))?;
        let index = issue.options.iter().position(|o| o == option).ok_or_else(|| {
            unprocessable(format!(
                "terms.{}: `{option}` is not an option (allowed: {})",
                issue.name,
                issue.options.join(", ")
            ))
        })?;
        choice.push(index);
    }
    space.outcome(&choice).map_err(|e| unprocessable(e.to_string()))
}

/// A request body: a JSON object (serde would also take a struct's fields as an array, a form
/// nobody documents or means), read as `T`, or 422 saying what is wrong.
fn body<T: serde::de::DeserializeOwned>(body: Result<Json<serde_json::Value>, JsonRejection>) -> Result<T, Refused> {
    let Json(value) = body.map_err(|e| Refused(e.status(), e.body_text()))?;
    if !value.is_object() {
        return Err(unprocessable("the body must be a JSON object, e.g. {\"turn\": 3, \"action\": \"accept\"}"));
    }
    serde_json::from_value(value).map_err(|e| unprocessable(format!("Failed to deserialize the JSON body: {e}")))
}

fn not_your_turn() -> Refused {
    Refused(StatusCode::CONFLICT, "it is not your turn".into())
}

fn breaks_of(prefs: &Preferences, o: OutcomeId) -> Vec<BreakView> {
    (prefs.clauses().iter())
        .filter(|c| c.is_violated_by(prefs.space(), o))
        .map(|c| BreakView { clause: c.id.clone(), reason: c.reason.clone(), strikes: None, patience: c.patience })
        .collect()
}

async fn evaluate(
    State(table): State<Arc<Table>>,
    request: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let result = (|| {
        let request: Evaluate = body(request)?;
        let mine = active(&table).mine.clone().ok_or_else(not_your_turn)?;
        let o = outcome_of(&mine, &request.terms)?;
        Ok::<_, Refused>(OfferView { utility: mine.utility(o), breaks: breaks_of(&mine, o), terms: request.terms })
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

/// The decision a move names, checked against the turn under way.
fn decision_of(m: Move, game: &Game) -> Result<Decision, Refused> {
    let mine = game.mine.clone().ok_or_else(not_your_turn)?;
    if m.turn != game.turns {
        let when = if m.turn < game.turns { "is over" } else { "has not come" };
        return Err(Refused(
            StatusCode::CONFLICT,
            format!("turn {} {when}; the turn under way is {}", m.turn, game.turns),
        ));
    }
    let only = |present: bool, what: &str, which: &str| {
        if present { Err(unprocessable(format!("{what}: only {which}"))) } else { Ok(()) }
    };
    let decision = match m.action {
        Action::Offer => {
            only(m.clause.is_some(), "clause", "a withdrawal names a clause")?;
            only(m.reason.is_some(), "reason", "a withdrawal gives a reason")?;
            let terms =
                m.terms.as_ref().ok_or_else(|| unprocessable("terms: missing: an offer names one option per issue"))?;
            Decision::Offer(outcome_of(&mine, terms)?)
        }
        Action::Accept => {
            only(m.terms.is_some(), "terms", "an offer names terms (an accept takes the offer on the table)")?;
            only(m.clause.is_some(), "clause", "a withdrawal names a clause")?;
            only(m.reason.is_some(), "reason", "a withdrawal gives a reason")?;
            Decision::Accept
        }
        Action::Withdraw => {
            only(m.terms.is_some(), "terms", "an offer names terms")?;
            let ids: Vec<&str> = game.clauses.iter().map(|(id, _)| id.as_str()).collect();
            let clause = m.clause.ok_or_else(|| {
                unprocessable(format!("clause: missing: a withdrawal names one (allowed: {})", ids.join(", ")))
            })?;
            let Some((_, own_reason)) = game.clauses.iter().find(|(id, _)| *id == clause) else {
                return Err(unprocessable(format!(
                    "clause: `{clause}` is not one you may withdraw over (allowed: {})",
                    ids.join(", ")
                )));
            };
            let reason = m.reason.filter(|r| !r.trim().is_empty());
            if let Some(r) = &reason {
                if r.chars().count() > MAX_REASON {
                    return Err(unprocessable(format!("reason: at most {MAX_REASON} characters")));
                }
                if r.chars().any(char::is_control) {
                    return Err(unprocessable("reason: one line of text, without control characters"));
                }
            }
            Decision::Withdraw(Withdrawal { clause, reason: reason.unwrap_or_else(|| own_reason.clone()) })
        }
    };
    check_move(game.standing, mine.space(), &decision).map_err(|e| Refused(StatusCode::CONFLICT, e))?;
    Ok(decision)
}

async fn make_move(
    State(table): State<Arc<Table>>,
    request: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let result = (|| {
        let m: Move = body(request)?;
        let mut game = active(&table);
        let decision = decision_of(m, &game)?;
        // The turn is over as soon as its move is taken: the page sees the agents move next.
        game.reply = Some(decision);
        game.status = Status::Waiting;
        game.mine = None;
        table.moved.notify_all();
        Ok::<_, Refused>(axum::Json(serde_json::json!({ "ok": true })))
    })();
    result.into_response()
}

/// Done: ends `sim play` once the game is over. A JSON request only, so that another site's
/// form cannot press it.
async fn quit(State(table): State<Arc<Table>>, headers: axum::http::HeaderMap) -> Response {
    let json = (headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type: application/json expected".into())
            .into_response();
    }
    let mut game = active(&table);
    if !matches!(game.status, Status::Finished { .. } | Status::Failed { .. }) {
        return Refused(StatusCode::CONFLICT, "the game is not over; withdraw to end a negotiation".into())
            .into_response();
    }
    game.quit = true;
    axum::Json(serde_json::json!({ "ok": true })).into_response()
}

/// The finished report, rendered by `render`; 404 before the game ends.
fn report_as(table: &Table, render: impl FnOnce(&Report) -> Result<String, String>, kind: &'static str) -> Response {
    let report = table.lock().report.clone();
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
