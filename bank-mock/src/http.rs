//! The bank behind HTTP (hyper, through axum's router): translates requests into `Desk` calls
//! and their results into JSON, applies the scenario's service model in real time (workers,
//! rate limit with `Retry-After`, injected latency, errors and outages), and serves
//! `/healthz`, `/metrics` and `/openapi.json`. Every error has one JSON shape:
//! `{"Code": "...", "Message": "...", "Path": "..."}` with a stable `Code`.

use crate::alerts::{self, EventType, Subscription, check_callback_url};
use crate::api::{self, DataRequest, Permission, Resource};
use crate::desk::{Answer, Desk, DeskError, Disclosure, TokenMint, Verified, account_belongs};
use crate::policy::Verdict;
use crate::push::{OpenSends, PushCounters};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testbed_core::SimTime;
use testbed_core::negotiation::OutcomeId;
use testbed_core::population::{self, PopulationSpec};
use testbed_core::scenario::{EventKind, Scenario};
use testbed_core::terms::Purpose;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Request bodies larger than this get 413.
pub const MAX_BODY: usize = 64 * 1024;
/// Transactions per page.
pub const PAGE_SIZE: usize = 50;
/// Highest page number accepted (366 days of transactions fit well below it).
pub const MAX_PAGE: usize = 1_000_000;
/// Day 0 of the mock calendar: 2018-01-01T00:00:00Z, in Unix seconds.
pub const EPOCH_UNIX: u64 = 1_514_764_800;

/// The OpenAPI 3 document of this server, checked in beside the crate.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Maps wall time since start to scenario time: `offset + elapsed × scale`.
#[derive(Clone, Copy, Debug)]
pub struct LiveClock {
    pub started: Instant,
    pub offset: SimTime,
    pub scale: f64,
}

impl LiveClock {
    pub fn new(offset: SimTime, scale: f64) -> Self {
        LiveClock { started: Instant::now(), offset, scale }
    }

    pub fn now(&self) -> SimTime {
        self.offset + self.started.elapsed().mul_f64(self.scale)
    }

    /// The wall-clock instant at which the scenario's calendar reads `t` (the start for times
    /// before the offset).
    pub fn instant_of(&self, t: SimTime) -> Instant {
        self.started + Duration::from_nanos(t.as_nanos().saturating_sub(self.offset.as_nanos())).div_f64(self.scale)
    }
}

/// Routes counted in `bank_http_responses_total`, in the order the metrics list them.
const COUNTED_ROUTES: [&str; 15] = [
    "accounts",
    "agreement_review",
    "balances",
    "consent",
    "consent_delete",
    "consents",
    "event_subscription",
    "event_subscription_delete",
    "event_subscriptions",
    "negotiation_accept",
    "negotiation_offers",
    "negotiation_review",
    "negotiation_withdraw",
    "negotiations",
    "transactions",
];
/// Response counters per route hold one slot per status code below this.
const STATUS_SLOTS: usize = 600;

pub struct AppState {
    desk: Mutex<Desk>,
    scenario: Arc<Scenario>,
    bank: usize,
    /// The desk's population, copied out so data requests need not lock the desk to read it.
    spec: PopulationSpec,
    /// The desk's token mint, copied out so requests are authenticated without locking the desk
    /// (and before they take a rate-limit token).
    tokens: TokenMint,
    /// Set once at start, and again by an in-process driver when its data phase begins.
    clock: std::sync::RwLock<LiveClock>,
    workers: Semaphore,
    bucket: Mutex<(f64, Instant)>,
    in_flight: AtomicU64,
    queue: QueueCounters,
    /// Responses by (route of `COUNTED_ROUTES`, status): atomics, so counting takes no lock.
    responses: Box<[AtomicU64]>,
    days: DayCache,
    push: Arc<PushCounters>,
    open_sends: OpenSends,
    /// The address `serve` listens on, set when it starts: no callback may point there.
    listening: std::sync::OnceLock<std::net::SocketAddr>,
}

/// The service model's queue in wall-clock time, as counters (`/metrics`): a reader takes two
/// readings and divides their differences, so nothing here needs a window or a reset.
#[derive(Default)]
struct QueueCounters {
    /// Data requests that got a worker (past the outage check, the token and the rate limit).
    admitted: AtomicU64,
    /// Nanoseconds admitted requests waited for a free worker.
    wait_ns: AtomicU64,
    /// Nanoseconds workers were held by the service time the model injects.
    busy_ns: AtomicU64,
}

/// The generated transactions of recently served (customer, day) pairs: the pages of a window
/// repeat the same days, and generating a day costs more than serving it. Direct-mapped and of
/// fixed size; the population is a pure function of (seed, bank, customer, day), so a cached
/// day equals a regenerated one.
struct DayCache {
    slots: Box<[Mutex<Option<CachedDay>>]>,
}

struct CachedDay {
    customer: u64,
    day: u32,
    transactions: Vec<population::Transaction>,
}

impl DayCache {
    const SLOTS: usize = 4096;

    fn new() -> DayCache {
        DayCache { slots: (0..Self::SLOTS).map(|_| Mutex::new(None)).collect() }
    }

    /// Replaces `out` with `population::transactions_on_day(spec, customer, day)`.
    fn transactions_on_day(
        &self,
        spec: &PopulationSpec,
        customer: u64,
        day: u32,
        out: &mut Vec<population::Transaction>,
    ) {
        out.clear();
        let h = customer.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(day).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let slot = &self.slots[(h >> 32) as usize % Self::SLOTS];
        if let Some(c) = &*slot.lock().unwrap_or_else(|e| e.into_inner())
            && c.customer == customer
            && c.day == day
        {
            out.extend_from_slice(&c.transactions);
            return;
        }
        population::transactions_on_day(spec, customer, day, out);
        let cached = CachedDay { customer, day, transactions: out.clone() };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(cached);
    }
}

impl AppState {
    pub fn new(scenario: Arc<Scenario>, bank: usize, secret: u64, clock: LiveClock) -> Arc<AppState> {
        let service = &scenario.banks[bank].service;
        let burst = service.rate_limit.map_or(0.0, |(_, b)| b);
        let desk = Desk::new(scenario.clone(), bank, secret);
        Arc::new(AppState {
            spec: desk.population().clone(),
            tokens: desk.tokens().clone(),
            desk: Mutex::new(desk),
            workers: Semaphore::new(service.workers as usize),
            bucket: Mutex::new((burst, Instant::now())),
            scenario,
            bank,
            clock: std::sync::RwLock::new(clock),
            in_flight: AtomicU64::new(0),
            queue: QueueCounters::default(),
            responses: (0..COUNTED_ROUTES.len() * STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            days: DayCache::new(),
            push: Arc::new(PushCounters::default()),
            open_sends: OpenSends::default(),
            listening: std::sync::OnceLock::new(),
        })
    }

    /// The scenario's calendar as this server runs it.
    pub fn clock(&self) -> LiveClock {
        *self.clock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Restarts the calendar: from now on it reads `clock`. For a driver running the bank
    /// in-process, which learns the pace of the data phase only after the negotiation.
    pub fn set_clock(&self, clock: LiveClock) {
        *self.clock.write().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    /// Simulated time now, on this server's clock.
    pub fn sim_now(&self) -> SimTime {
        self.clock().now()
    }

    pub fn population(&self) -> &PopulationSpec {
        &self.spec
    }

    /// What the alert pusher sent, dropped and failed to deliver.
    pub fn push_counters(&self) -> Arc<PushCounters> {
        self.push.clone()
    }

    /// The alert sends open per event subscription.
    pub fn open_sends(&self) -> &OpenSends {
        &self.open_sends
    }

    /// The client credential of `platform` at this bank, if the scenario has it negotiate here:
    /// what the bank gives the platform out of band, and it presents to open negotiations.
    pub fn client_token(&self, platform: &str) -> Option<String> {
        self.desk().client_token(platform)
    }

    pub fn desk(&self) -> std::sync::MutexGuard<'_, Desk> {
        self.desk.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, route: &'static str, status: StatusCode) {
        let r = COUNTED_ROUTES.iter().position(|n| *n == route).expect("a counted route");
        let s = usize::from(status.as_u16()).min(STATUS_SLOTS - 1);
        self.responses[r * STATUS_SLOTS + s].fetch_add(1, Ordering::Relaxed);
    }

    /// The token bucket: `Err(retry_after)` when empty.
    fn take_token(&self) -> Result<(), Duration> {
        let Some((rate, burst)) = self.scenario.banks[self.bank].service.rate_limit else { return Ok(()) };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * rate).min(burst);
        b.1 = now;
        if b.0 < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - b.0) / rate));
        }
        b.0 -= 1.0;
        Ok(())
    }

    fn in_outage(&self, now: SimTime) -> bool {
        self.scenario.events.iter().any(|e| match e.kind {
            EventKind::Outage { bank, duration } if bank == self.bank => {
                let start = SimTime::from_duration(e.at);
                start <= now && now < start + duration
            }
            _ => false,
        })
    }
}

/// The one error shape of the API.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

struct Failure {
    status: StatusCode,
    error: ApiError,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(status: StatusCode, code: &str, message: impl Into<String>, path: Option<&str>) -> Failure {
        Failure {
            status,
            error: ApiError { code: code.into(), message: message.into(), path: path.map(String::from) },
            retry_after: None,
        }
    }

    fn bad(code: &str, message: impl Into<String>, path: Option<&str>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, code, message, path)
    }
}

impl From<DeskError> for Failure {
    fn from(e: DeskError) -> Failure {
        let status = match &e {
            DeskError::UnknownPlatform(_) | DeskError::InvalidOutcome(_) => StatusCode::BAD_REQUEST,
            DeskError::NotFound(_) => StatusCode::NOT_FOUND,
            DeskError::Protocol(_) => StatusCode::CONFLICT,
            DeskError::Unauthorized => StatusCode::UNAUTHORIZED,
            DeskError::NotAskedBank(_)
            | DeskError::NoAgreement(_)
            | DeskError::PermissionNotAgreed(_)
            | DeskError::CustomerNotLinked(_)
            | DeskError::Forbidden(_)
            | DeskError::Refused(_)
            | DeskError::AlertsNotAgreed => StatusCode::FORBIDDEN,
            DeskError::SubscriptionExists(_) => StatusCode::CONFLICT,
        };
        Failure::new(status, e.code(), e.to_string(), None)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.error)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

type Reply = Result<Response, Failure>;

/// Parses a JSON body strictly: size limit, valid JSON, known fields, right types.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    let bytes = body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "invalid_body" };
        Failure::new(status, code, format!("request body: {e}"), None)
    })?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error(&mut de)
}

/// serde_json with the path of the offending field in the error.
fn serde_path_to_error<T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, Failure> {
    let value = T::deserialize(&mut *de).map_err(|e| {
        Failure::bad("invalid_body", format!("{e}"), Some(&format!("line {} column {}", e.line(), e.column())))
    })?;
    de.end().map_err(|e| Failure::bad("invalid_body", format!("trailing characters: {e}"), None))?;
    Ok(value)
}

fn bearer(headers: &HeaderMap) -> Result<&str, Failure> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Failure::from(DeskError::Unauthorized))
}

/// The request's bearer token, checked (form and MAC) without locking the desk: 401 for a
/// missing, malformed or forged one, 403 for a genuine token of another bank.
fn authenticate<'h>(state: &AppState, headers: &'h HeaderMap) -> Result<Verified<'h>, Failure> {
    Ok(state.tokens.check(bearer(headers)?)?)
}

fn sim_time(state: &AppState, ms: Option<u64>) -> SimTime {
    ms.map_or_else(|| state.sim_now(), |ms| SimTime::from_nanos(ms.saturating_mul(1_000_000)))
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/negotiations", post(open_negotiation))
        .route("/negotiations/{id}/offers", post(offer))
        .route("/negotiations/{id}/accept", post(accept))
        .route("/negotiations/{id}/withdraw", post(withdraw))
        .route("/negotiations/{id}/review", post(review_negotiation))
        .route("/agreements/{platform}/review", post(review_agreement))
        .route("/account-access-consents", post(create_consent))
        .route("/account-access-consents/{id}", get(get_consent).delete(delete_consent))
        .route("/event-subscriptions", post(create_subscription))
        .route("/event-subscriptions/{id}", get(get_subscription).delete(delete_subscription))
        .route("/accounts", get(accounts))
        .route("/accounts/{account}/balances", get(balances))
        .route("/accounts/{account}/transactions", get(transactions))
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "not_found", "no such route", None) })
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
                None,
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets in-flight requests finish: stops accepting,
/// asks every connection to close once its current request is answered, and waits for them.
///
/// Each connection is one hyper HTTP/1.1 task. The two hot routes (`GET /healthz` and
/// `GET /accounts/{account}/transactions`) are answered without going through the router;
/// everything else, and any request those two cannot take as is, goes to `router`.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        let _ = state.listening.set(addr);
    }
    let router = router(state.clone());
    // The alert pusher lives as long as the server; it idles while nobody subscribes.
    let (stop_pusher, pusher_stopped) = tokio::sync::oneshot::channel::<()>();
    let pusher = tokio::spawn(crate::push::run(state.clone(), async {
        let _ = pusher_stopped.await;
    }));
    let mut connections = tokio::task::JoinSet::new();
    // One stop sender per open connection; those of closed connections are dropped as we go.
    let mut stops: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        if stops.len() >= 64 && stops.len().is_power_of_two() {
            stops.retain(|s| !s.is_closed());
        }
        stops.push(stop);
        while connections.try_join_next().is_some() {}
        let service = Hot { state: state.clone(), router: TowerToHyperService::new(router.clone()) };
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                biased;
                _ = conn.as_mut() => {}
                _ = stopped => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    for stop in stops {
        let _ = stop.send(());
    }
    let _ = stop_pusher.send(());
    while connections.join_next().await.is_some() {}
    let _ = pusher.await;
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// The per-connection service: the hot routes directly, the rest through the router.
#[derive(Clone)]
struct Hot {
    state: Arc<AppState>,
    router: TowerToHyperService<Router>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Hot {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let hot = if request.method() == axum::http::Method::GET { hot_route(request.uri().path()) } else { None };
        match hot {
            Some(HotRoute::Healthz) => Box::pin(async { Ok(healthz_response()) }),
            Some(HotRoute::Transactions) => {
                let state = self.state.clone();
                Box::pin(async move {
                    let path = request.uri().path();
                    let account = &path["/accounts/".len()..path.len() - "/transactions".len()];
                    let query = request.uri().query();
                    let headers = request.headers();
                    let reply = service(&state, "transactions", headers, |token| {
                        transactions_page(&state, account, query, headers, token)
                    })
                    .await;
                    Ok(reply.into_response())
                })
            }
            None => Box::pin(self.router.call(request)),
        }
    }
}

enum HotRoute {
    Healthz,
    Transactions,
}

/// The hot route a GET path is, if it needs no decoding: `/healthz`, or
/// `/accounts/{account}/transactions` with a non-empty, unescaped account segment.
fn hot_route(path: &str) -> Option<HotRoute> {
    if path == "/healthz" {
        return Some(HotRoute::Healthz);
    }
    let account = path.strip_prefix("/accounts/")?.strip_suffix("/transactions")?;
    (!account.is_empty() && !account.contains(['/', '%'])).then_some(HotRoute::Transactions)
}

async fn healthz() -> Response {
    healthz_response()
}

fn healthz_response() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"Status":"ok"}"#).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    let bank = &state.scenario.banks[state.bank].name;
    out.push_str(
        "# HELP bank_http_responses_total Responses by route and status.\n# TYPE bank_http_responses_total counter\n",
    );
    for (i, n) in state.responses.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let (route, status) = (COUNTED_ROUTES[i / STATUS_SLOTS], i % STATUS_SLOTS);
            out.push_str(&format!(
                "bank_http_responses_total{{bank=\"{bank}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_in_flight_requests Data requests being served.\n# TYPE bank_in_flight_requests gauge\n");
    out.push_str(&format!("bank_in_flight_requests{{bank=\"{bank}\"}} {}\n", state.in_flight.load(Ordering::Relaxed)));
    let queue = &state.queue;
    let seconds = |ns: &AtomicU64| ns.load(Ordering::Relaxed) as f64 / 1e9;
    for (name, kind, help, value) in [
        (
            "bank_workers",
            "gauge",
            "Workers of the bank's service model.",
            state.scenario.banks[state.bank].service.workers.to_string(),
        ),
        (
            "bank_requests_admitted_total",
            "counter",
            "Data requests that got a worker (past outages, tokens and the rate limit).",
            queue.admitted.load(Ordering::Relaxed).to_string(),
        ),
        (
            "bank_queue_wait_seconds_total",
            "counter",
            "Time admitted requests waited for a free worker.",
            format!("{:.9}", seconds(&queue.wait_ns)),
        ),
        (
            "bank_worker_busy_seconds_total",
            "counter",
            "Time workers were held by the service time of the bank's service model.",
            format!("{:.9}", seconds(&queue.busy_ns)),
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{bank=\"{bank}\"}} {value}\n"));
    }
    let push = &state.push;
    out.push_str("# HELP bank_alerts_sent_total Fraud alerts sent to subscribers' callbacks.\n# TYPE bank_alerts_sent_total counter\n");
    out.push_str(&format!("bank_alerts_sent_total{{bank=\"{bank}\"}} {}\n", push.sent.load(Ordering::Relaxed)));
    out.push_str("# HELP bank_alerts_failed_total Sent alerts the callback did not acknowledge in time.\n# TYPE bank_alerts_failed_total counter\n");
    out.push_str(&format!("bank_alerts_failed_total{{bank=\"{bank}\"}} {}\n", push.failed.load(Ordering::Relaxed)));
    out.push_str("# HELP bank_alerts_dropped_total Alerts not sent: the callback was slow, or over the subscription's rate.\n# TYPE bank_alerts_dropped_total counter\n");
    for (reason, n) in [("slow_callback", &push.dropped_slow_callback), ("max_events_per_second", &push.dropped_rate)] {
        out.push_str(&format!(
            "bank_alerts_dropped_total{{bank=\"{bank}\",reason=\"{reason}\"}} {}\n",
            n.load(Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP bank_event_subscriptions_ended_total Subscriptions the bank ended because their callback kept failing.\n# TYPE bank_event_subscriptions_ended_total counter\n");
    out.push_str(&format!(
        "bank_event_subscriptions_ended_total{{bank=\"{bank}\"}} {}\n",
        push.subscriptions_ended.load(Ordering::Relaxed)
    ));
    let desk = state.desk();
    let spec = desk.population().clone();
    out.push_str(
        "# HELP bank_event_subscriptions Active event subscriptions.\n# TYPE bank_event_subscriptions gauge\n",
    );
    out.push_str(&format!("bank_event_subscriptions{{bank=\"{bank}\"}} {}\n", desk.subscriptions().count()));
    // Each family in one group, as the text format requires, platform by platform within it.
    let summaries: Vec<_> = desk
        .ledgers()
        .iter()
        .map(|(platform, ledger)| {
            (platform.clone(), ledger.summarize(&spec, platform, testbed_core::terms::DEFAULT_SENSITIVITY_WEIGHTS))
        })
        .collect();
    drop(desk);
    out.push_str("# HELP bank_disclosed_field_values_total Field values disclosed, by platform and NIST class.\n# TYPE bank_disclosed_field_values_total counter\n");
    for (platform, s) in &summaries {
        for (class, n) in
            [("low", s.field_values.low), ("moderate", s.field_values.moderate), ("high", s.field_values.high)]
        {
            out.push_str(&format!(
                "bank_disclosed_field_values_total{{bank=\"{bank}\",platform=\"{platform}\",class=\"{class}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_customers_exposed Distinct customers disclosed to the platform.\n# TYPE bank_customers_exposed gauge\n");
    for (platform, s) in &summaries {
        out.push_str(&format!(
            "bank_customers_exposed{{bank=\"{bank}\",platform=\"{platform}\"}} {}\n",
            s.customers_exposed
        ));
    }
    out.push_str("# HELP bank_refused_requests_total Data requests the desk refused, by platform and reason.\n# TYPE bank_refused_requests_total counter\n");
    for (platform, s) in &summaries {
        for (reason, n) in &s.refused {
            out.push_str(&format!(
                "bank_refused_requests_total{{bank=\"{bank}\",platform=\"{platform}\",reason=\"{reason}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_term_violations_total Requests beyond the agreed terms, by platform.\n# TYPE bank_term_violations_total counter\n");
    for (platform, s) in &summaries {
        out.push_str(&format!(
            "bank_term_violations_total{{bank=\"{bank}\",platform=\"{platform}\"}} {}\n",
            s.violations
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

// ---------------------------------------------------------------------------------------------
// Negotiation

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OpenBody {
    platform: String,
    sim_time_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OfferBody {
    outcome: BTreeMap<String, String>,
    sim_time_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TimeBody {
    sim_time_ms: Option<u64>,
    #[serde(default)]
    after_incident: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WithdrawBody {
    clause: String,
    reason: String,
    sim_time_ms: Option<u64>,
}

fn outcome_json(scenario: &Scenario, o: OutcomeId) -> BTreeMap<String, String> {
    scenario.space.describe(o).into_iter().collect()
}

fn parse_outcome(scenario: &Scenario, labels: &BTreeMap<String, String>) -> Result<OutcomeId, Failure> {
    let space = &scenario.space;
    let mut choice = Vec::new();
    for (i, issue) in space.issues().iter().enumerate() {
        let path = format!("Outcome.{}", issue.name);
        let option = labels
            .get(&issue.name)
            .ok_or_else(|| Failure::bad("invalid_outcome", format!("missing issue `{}`", issue.name), Some(&path)))?;
        choice.push(space.option_index(i, option).ok_or_else(|| {
            Failure::bad(
                "invalid_outcome",
                format!("issue `{}` has no option `{option}` (options: {})", issue.name, issue.options.join(", ")),
                Some(&path),
            )
        })?);
    }
    if let Some(extra) = labels.keys().find(|k| space.issue_index(k).is_none()) {
        return Err(Failure::bad(
            "invalid_outcome",
            format!("unknown issue `{extra}`"),
            Some(&format!("Outcome.{extra}")),
        ));
    }
    space.outcome(&choice).map_err(|e| Failure::bad("invalid_outcome", e.to_string(), Some("Outcome")))
}

fn answer_json(scenario: &Scenario, answer: Answer) -> serde_json::Value {
    match answer {
        Answer::Counter { outcome, round } => {
            json!({"Decision": "counter", "Round": round, "Outcome": outcome_json(scenario, outcome)})
        }
        Answer::Agreed(a) => json!({
            "Decision": "accept",
            "Round": a.round,
            "Outcome": outcome_json(scenario, a.outcome),
            "Agreement": {
                "Platform": a.platform,
                "Categories": a.terms.category_names(),
                "Purposes": a.terms.purpose_names(),
                "Permissions": a.permissions,
                "LinkedCustomers": a.linked_customers,
                "Token": a.token,
            }
        }),
        Answer::Withdrew { withdrawal, round } => {
            json!({"Decision": "withdraw", "Round": round, "Clause": withdrawal.clause, "Reason": withdrawal.reason})
        }
        Answer::Timeout { rounds, last_offer } => {
            json!({"Decision": "timeout", "Round": rounds, "Outcome": outcome_json(scenario, last_offer)})
        }
    }
}

/// Opens a negotiation for the platform of the client token (401 without a valid one, 403 for
/// another kind of token or another bank's), checked before the body is read; the body's
/// `Platform` must be the token's (403 otherwise).
async fn open_negotiation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    counted(
        &state,
        "negotiations",
        (|| {
            let client = authenticate(&state, &headers)?.client_access()?;
            let b: OpenBody = parse_body(body)?;
            let now = sim_time(&state, b.sim_time_ms);
            let opened = state.desk().open_negotiation(client, &b.platform, now)?;
            let sc = &state.scenario;
            let issues: Vec<_> =
                sc.space.issues().iter().map(|i| json!({"Name": i.name, "Options": i.options})).collect();
            let body = json!({
                "NegotiationId": opened.id.to_string(),
                "NegotiationToken": opened.token,
                "Platform": b.platform,
                "Bank": sc.banks[state.bank].name,
                "Rounds": opened.rounds,
                "Opens": opened.opens.as_str(),
                "Issues": issues,
                "BankOffer": opened.bank_offer.map(|o| outcome_json(sc, o)),
            });
            Ok((StatusCode::CREATED, Json(body)).into_response())
        })(),
    )
}

/// A path segment, or the error shape when it cannot be decoded.
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    path.map(|Path(v)| v).map_err(|e| Failure::bad("invalid_path", format!("path: {e}"), None))
}

fn negotiation_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, "not_found", "no negotiation with that id", None))
}

/// Leave to move in the negotiation of the path: the bearer token must be that negotiation's own
/// (401 without a valid one, 403 for another's), checked before the body is read.
fn negotiation_access(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<crate::desk::NegotiationAccess, Failure> {
    let token = authenticate(state, headers)?;
    let id = negotiation_id(id)?;
    Ok(state.desk().negotiation_access(token, id)?)
}

async fn offer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "negotiation_offers",
        (|| {
            let access = negotiation_access(&state, &headers, &id)?;
            let b: OfferBody = parse_body(body)?;
            let outcome = parse_outcome(&state.scenario, &b.outcome)?;
            let answer = state.desk().platform_offer(access, outcome, sim_time(&state, b.sim_time_ms))?;
            Ok(Json(answer_json(&state.scenario, answer)).into_response())
        })(),
    )
}

async fn accept(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "negotiation_accept",
        (|| {
            let access = negotiation_access(&state, &headers, &id)?;
            let b: TimeBody = parse_optional_body(body)?;
            let answer = state.desk().platform_accept(access, sim_time(&state, b.sim_time_ms))?;
            Ok(Json(answer_json(&state.scenario, answer)).into_response())
        })(),
    )
}

async fn withdraw(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "negotiation_withdraw",
        (|| {
            let access = negotiation_access(&state, &headers, &id)?;
            let b: WithdrawBody = parse_body(body)?;
            let w = testbed_core::negotiation::Withdrawal { clause: b.clause, reason: b.reason };
            let answer = state.desk().platform_withdraw(access, w, sim_time(&state, b.sim_time_ms))?;
            Ok(Json(answer_json(&state.scenario, answer)).into_response())
        })(),
    )
}

fn verdict_json(v: Verdict) -> serde_json::Value {
    match v {
        Verdict::Continue => json!({"Decision": "continue"}),
        Verdict::Withdraw(w) => json!({"Decision": "withdraw", "Clause": w.clause, "Reason": w.reason}),
        Verdict::Revoke(w) => json!({"Decision": "revoke", "Clause": w.clause, "Reason": w.reason}),
    }
}

async fn review_negotiation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "negotiation_review",
        (|| {
            let access = negotiation_access(&state, &headers, &id)?;
            let b: TimeBody = parse_optional_body(body)?;
            let v = state.desk().review_negotiation(access, sim_time(&state, b.sim_time_ms), b.after_incident)?;
            Ok(Json(verdict_json(v)).into_response())
        })(),
    )
}

async fn review_agreement(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let platform = path_param(path)?;
    counted(
        &state,
        "agreement_review",
        (|| {
            let token = authenticate(&state, &headers)?;
            let access = state.desk().agreement_access(token, &platform)?;
            let b: TimeBody = parse_optional_body(body)?;
            let now = state.sim_now();
            let v = state.desk().review_agreement(access, sim_time(&state, b.sim_time_ms), now, b.after_incident)?;
            Ok(Json(verdict_json(v)).into_response())
        })(),
    )
}

/// An empty body counts as `{}`.
fn parse_optional_body<T: DeserializeOwned + Default>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        _ => parse_body(body),
    }
}

/// Counts `reply` in `/metrics` under `route`, and passes it on.
fn counted(state: &AppState, route: &'static str, reply: Reply) -> Reply {
    state.count(route, status_of(&reply));
    reply
}

fn status_of(reply: &Reply) -> StatusCode {
    match reply {
        Ok(r) => r.status(),
        Err(f) => f.status,
    }
}

// ---------------------------------------------------------------------------------------------
// Consents

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ConsentBody {
    data: ConsentData,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ConsentData {
    customer_id: u64,
    permissions: Option<Vec<Permission>>,
    transaction_from_date_time: Option<String>,
    transaction_to_date_time: Option<String>,
}

/// RFC 3339 date-time → ms of the mock calendar (day 0 = 2018-01-01).
fn calendar_ms(text: &str, path: &str) -> Result<u64, Failure> {
    let t = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).map_err(|e| {
        Failure::bad(
            "invalid_date",
            format!("`{text}` is not an RFC 3339 date-time ({e}), e.g. 2018-03-01T00:00:00Z"),
            Some(path),
        )
    })?;
    let unix =
        t.duration_since(std::time::UNIX_EPOCH).map_err(|_| Failure::bad("invalid_date", "before 1970", Some(path)))?;
    let ms = unix.as_millis() as i128 - i128::from(EPOCH_UNIX) * 1000;
    u64::try_from(ms).map_err(|_| {
        Failure::bad("invalid_date", format!("`{text}` is before 2018-01-01, day 0 of the mock calendar"), Some(path))
    })
}

/// Ms of the mock calendar (day 0 = 2018-01-01) as an RFC 3339 date-time.
pub fn calendar_text(ms: u64) -> String {
    calendar_time(ms).to_string()
}

/// `calendar_text` as a `Display`, to format without an intermediate `String`.
fn calendar_time(ms: u64) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(EPOCH_UNIX * 1000 + ms))
}

fn consent_json(c: &api::Consent, customer: u64) -> serde_json::Value {
    json!({
        "ConsentId": c.id,
        "Status": c.status,
        "Permissions": c.permissions,
        "CustomerId": customer,
        "CreationDateTime": calendar_text(c.created_at.as_millis()),
        "ExpirationDateTime": c.expiration.map(|e| calendar_text(e.as_millis())),
        "TransactionFromDateTime": c.transaction_from_ms.map(calendar_text),
        "TransactionToDateTime": c.transaction_to_ms.map(calendar_text),
        "Revocation": c.revocation.as_ref().map(|r| json!({"By": r.by, "Why": r.why, "At": calendar_text(r.at.as_millis())})),
    })
}

async fn create_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    counted(
        &state,
        "consents",
        (|| {
            // The token before the body: a caller without one learns nothing about the schema.
            let token = authenticate(&state, &headers)?;
            let b: ConsentBody = parse_body(body)?;
            let from = b
                .data
                .transaction_from_date_time
                .as_deref()
                .map(|t| calendar_ms(t, "Data.TransactionFromDateTime"))
                .transpose()?;
            let to = b
                .data
                .transaction_to_date_time
                .as_deref()
                .map(|t| calendar_ms(t, "Data.TransactionToDateTime"))
                .transpose()?;
            if let (Some(f), Some(t)) = (from, to)
                && f > t
            {
                return Err(Failure::bad(
                    "invalid_date",
                    "TransactionFromDateTime is after TransactionToDateTime",
                    Some("Data"),
                ));
            }
            let now = state.sim_now();
            let (consent, access) =
                state.desk().create_consent(token, b.data.customer_id, b.data.permissions, (from, to), now)?;
            let body = json!({"Data": consent_json(&consent, b.data.customer_id), "AccessToken": access});
            Ok((StatusCode::CREATED, Json(body)).into_response())
        })(),
    )
}

fn consent_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, "not_found", "no consent with that id", None))
}

async fn get_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "consent",
        (|| {
            let token = authenticate(&state, &headers)?;
            let id = consent_id(&id)?;
            let desk = state.desk();
            let (c, customer) = desk.consent(token, id)?;
            Ok(Json(json!({"Data": consent_json(c, customer)})).into_response())
        })(),
    )
}

async fn delete_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "consent_delete",
        (|| {
            let token = authenticate(&state, &headers)?;
            let id = consent_id(&id)?;
            state.desk().revoke_consent(token, id, state.sim_now())?;
            Ok(StatusCode::NO_CONTENT.into_response())
        })(),
    )
}

// ---------------------------------------------------------------------------------------------
// Event subscriptions (fraud alerts pushed to the platform's callback; see `push.rs`)

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SubscriptionBody {
    data: SubscriptionData,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SubscriptionData {
    callback_url: String,
    event_types: Option<Vec<EventType>>,
    max_events_per_second: Option<u32>,
}

fn subscription_json(s: &Subscription) -> serde_json::Value {
    json!({
        "Data": {
            "EventSubscriptionId": s.id.to_string(),
            "CallbackUrl": s.callback_url,
            "EventTypes": s.event_types,
            "MaxEventsPerSecond": s.max_events_per_second,
            "CreationDateTime": calendar_text(s.created_at.as_millis()),
        },
        "Links": {"Self": format!("/event-subscriptions/{}", s.id)},
    })
}

fn subscription_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, "not_found", "no event subscription with that id", None))
}

async fn create_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    counted(
        &state,
        "event_subscriptions",
        (|| {
            // The token before the body: a caller without one learns nothing about the schema.
            let token = authenticate(&state, &headers)?;
            let b: SubscriptionBody = parse_body(body)?;
            let event_types = b.data.event_types.unwrap_or_else(|| vec![EventType::FraudAlert]);
            if event_types.is_empty() {
                return Err(Failure::bad(
                    "invalid_body",
                    "EventTypes is empty; omit it or name at least one of: fraud_alert",
                    Some("Data.EventTypes"),
                ));
            }
            if b.data.max_events_per_second == Some(0) {
                return Err(Failure::bad(
                    "invalid_body",
                    "MaxEventsPerSecond must be at least 1 (omit it for no limit)",
                    Some("Data.MaxEventsPerSecond"),
                ));
            }
            let bad_url = |e: String| Failure::bad("invalid_callback_url", e, Some("Data.CallbackUrl"));
            let target = check_callback_url(&b.data.callback_url).map_err(|e| bad_url(format!("CallbackUrl {e}")))?;
            if let Some(&own) = state.listening.get()
                && alerts::reaches(target, own)
            {
                return Err(bad_url(format!(
                    "CallbackUrl `{}` is this bank's own address ({own}); the bank does not send notifications to itself",
                    b.data.callback_url
                )));
            }
            let now = state.sim_now();
            let s =
                state.desk().subscribe(token, &b.data.callback_url, event_types, b.data.max_events_per_second, now)?;
            Ok((StatusCode::CREATED, Json(subscription_json(&s))).into_response())
        })(),
    )
}

async fn get_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    counted(
        &state,
        "event_subscription",
        (|| {
            let token = authenticate(&state, &headers)?;
            let id = subscription_id(&id)?;
            let desk = state.desk();
            Ok(Json(subscription_json(desk.subscription(token, id)?)).into_response())
        })(),
    )
}

async fn delete_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let deleted = (|| {
        let token = authenticate(&state, &headers)?;
        let id = subscription_id(&id)?;
        state.desk().unsubscribe(token, id)?;
        Ok(id)
    })();
    // Answered once the alerts already on their way were answered (or timed out): nothing of
    // the subscription arrives after the 204, and the ledger holds every one acknowledged.
    if let Ok(id) = deleted {
        state.open_sends().settled(id).await;
    }
    counted(&state, "event_subscription_delete", deleted.map(|_| StatusCode::NO_CONTENT.into_response()))
}

// ---------------------------------------------------------------------------------------------
// Data

fn purpose(headers: &HeaderMap, default: Purpose) -> Result<Purpose, Failure> {
    match headers.get("x-purpose") {
        None => Ok(default),
        Some(v) => {
            let text = v.to_str().unwrap_or_default();
            Purpose::parse(text).ok_or_else(|| {
                let all: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
                Failure::bad(
                    "invalid_header",
                    format!("unknown purpose `{text}` (purposes: {})", all.join(", ")),
                    Some("X-Purpose"),
                )
            })
        }
    }
}

/// The service model in real time for a data request: outage, authentication, rate limit, a
/// worker, injected latency and errors, then `work` with the request's checked token.
///
/// The token is checked (a MAC, no lock) before the rate-limit bucket is touched: requests with
/// no valid token get 401 (or 403 for another bank's) without draining the bucket the bank's
/// legitimate platforms share.
async fn service<'h, T>(
    state: &AppState,
    route: &'static str,
    headers: &'h HeaderMap,
    work: impl FnOnce(Verified<'h>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let result = async {
        let now = state.sim_now();
        if state.in_outage(now) {
            return Err(Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the bank is in an outage", None));
        }
        let token = authenticate(state, headers)?;
        state.take_token().map_err(|wait| {
            let mut f =
                Failure::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded; retry later", None);
            f.retry_after = Some(wait);
            f
        })?;
        // A free worker is taken without awaiting; only a busy bank queues.
        let _worker = match state.workers.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = Instant::now();
                let permit =
                    state.workers.acquire().await.map_err(|_| {
                        Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down", None)
                    })?;
                state.queue.wait_ns.fetch_add(nanos(queued.elapsed()), Ordering::Relaxed);
                permit
            }
        };
        state.queue.admitted.fetch_add(1, Ordering::Relaxed);
        let svc = &state.scenario.banks[state.bank].service;
        let delay = svc.service_time.sample(&mut rand::rng());
        let fail = svc.error_rate > 0.0 && rand::RngExt::random::<f64>(&mut rand::rng()) < svc.error_rate;
        {
            // Counted on drop: a client that gives up mid-service (its handler is dropped at
            // the await) still leaves the in-flight gauge and its busy time right.
            let _serving = Serving::start(state, !delay.is_zero());
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        if fail {
            return Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "injected server error", None));
        }
        work(token)
    }
    .await;
    state.count(route, result.as_ref().map_or_else(|f| f.status, |_| StatusCode::OK));
    result
}

/// A request holding a worker: in the in-flight gauge and, when the model injects a service
/// time, its time in the busy counter (measured, not the sample: the worker is held for as long
/// as the timer takes).
struct Serving<'s> {
    state: &'s AppState,
    since: Option<Instant>,
}

impl<'s> Serving<'s> {
    fn start(state: &'s AppState, timed: bool) -> Serving<'s> {
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        Serving { state, since: timed.then(Instant::now) }
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(since) = self.since {
            self.state.queue.busy_ns.fetch_add(nanos(since.elapsed()), Ordering::Relaxed);
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A JSON body already serialised.
fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn accounts(State(state): State<Arc<AppState>>, request: Request) -> Reply {
    let headers = request.headers();
    service(&state, "accounts", headers, |token| {
        let purpose = purpose(headers, Purpose::CustomerService)?;
        let request = DataRequest {
            resource: Resource::Accounts,
            purpose,
            wants: Resource::Accounts.fields(),
            wants_off_platform: false,
        };
        let now = state.sim_now();
        let served = state.desk().serve_consent(token, &request, now)?;
        let person = population::customer(&state.spec, served.customer);
        let records = api::account_records(&served.grant, &person);
        let disclosure = Disclosure {
            customer: served.customer,
            purpose,
            fields: served.grant.fields,
            records: records.len() as u64,
            off_platform: 0,
        };
        state.desk().record_consent_disclosure(served.consent, disclosure, now);
        Ok(Json(json!({"Data": {"Account": records}})).into_response())
    })
    .await
}

async fn balances(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, "balances", headers, |token| {
        let purpose = purpose(headers, Purpose::BalanceDisplay)?;
        let request = DataRequest {
            resource: Resource::Balances,
            purpose,
            wants: Resource::Balances.fields(),
            wants_off_platform: false,
        };
        let now = state.sim_now();
        let served = state.desk().serve_consent(token, &request, now)?;
        if !account_belongs(&state.spec, served.customer, &account) {
            return Err(DeskError::NotFound("account").into());
        }
        let day = (now.as_millis() / 86_400_000) as u32;
        let cents = population::balance_cents(&state.spec, served.customer, day);
        let record = api::balance_record(&served.grant, &account, cents);
        let disclosure =
            Disclosure { customer: served.customer, purpose, fields: served.grant.fields, records: 1, off_platform: 0 };
        state.desk().record_consent_disclosure(served.consent, disclosure, now);
        Ok(Json(json!({"Data": {"Balance": [record]}})).into_response())
    })
    .await
}

/// A query value with the escapes clients use in date-times undone (`%3A` → `:`, `%2B` → `+`).
fn unescape_query_value(v: &str) -> Cow<'_, str> {
    if v.contains('%') {
        Cow::Owned(v.replace("%3A", ":").replace("%3a", ":").replace("%2B", "+"))
    } else {
        Cow::Borrowed(v)
    }
}

async fn transactions(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, "transactions", headers, |token| {
        transactions_page(&state, &account, query.as_deref(), headers, token)
    })
    .await
}

/// `GET /accounts/{account}/transactions` once the service model let the request in.
fn transactions_page(
    state: &AppState,
    account: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    token: Verified<'_>,
) -> Reply {
    let purpose = purpose(headers, Purpose::Commerce)?;
    let mut from = None;
    let mut to = None;
    let mut page = 1usize;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = unescape_query_value(v);
        match k {
            "fromBookingDateTime" => from = Some(calendar_ms(&v, "fromBookingDateTime")?),
            "toBookingDateTime" => to = Some(calendar_ms(&v, "toBookingDateTime")?),
            "page" => {
                page = v.parse().ok().filter(|p| (1..=MAX_PAGE).contains(p)).ok_or_else(|| {
                    Failure::bad(
                        "invalid_query",
                        format!("page `{v}` is not a whole number in 1..={MAX_PAGE}"),
                        Some("page"),
                    )
                })?
            }
            other => {
                return Err(Failure::bad(
                    "invalid_query",
                    format!(
                        "unknown query parameter `{other}` (allowed: fromBookingDateTime, toBookingDateTime, page)"
                    ),
                    Some(other),
                ));
            }
        }
    }
    let nowt = state.sim_now();
    let to = to.unwrap_or(nowt.as_millis());
    let from = from.unwrap_or(to.saturating_sub(30 * 86_400_000));
    if from > to {
        return Err(Failure::bad(
            "invalid_query",
            "fromBookingDateTime is after toBookingDateTime",
            Some("fromBookingDateTime"),
        ));
    }
    if to - from > 366 * 86_400_000 {
        return Err(Failure::bad("invalid_query", "the window may span at most 366 days", Some("toBookingDateTime")));
    }
    let request = DataRequest {
        resource: Resource::Transactions { from_ms: from, to_ms: to },
        purpose,
        wants: Resource::Transactions { from_ms: from, to_ms: to }.fields(),
        wants_off_platform: true,
    };
    // The desk is locked twice, briefly: to decide (and count refusals), and to count what
    // was served; the page is built between and serialised after, unlocked.
    let served = state.desk().serve_consent(token, &request, nowt)?;
    let (customer, grant) = (served.customer, served.grant);
    if !account_belongs(&state.spec, customer, account) {
        return Err(DeskError::NotFound("account").into());
    }
    let mut txns: Vec<population::Transaction> = Vec::new();
    if account.starts_with("card-") {
        let mut day_txns = Vec::new();
        for day in (from / 86_400_000)..=(to.saturating_sub(1) / 86_400_000) {
            state.days.transactions_on_day(&state.spec, customer, day as u32, &mut day_txns);
            txns.extend(
                day_txns
                    .iter()
                    .filter(|t| t.at_ms >= from && t.at_ms < to)
                    .filter(|t| t.on_platform || grant.off_platform),
            );
        }
    }
    let pages = txns.len().div_ceil(PAGE_SIZE).max(1);
    let first = ((page - 1) * PAGE_SIZE).min(txns.len());
    let slice = &txns[first..(first + PAGE_SIZE).min(txns.len())];
    let off = slice.iter().filter(|t| !t.on_platform).count() as u64;
    // Every transaction in `slice` passed the grant's off-platform filter: each is a record.
    let disclosure =
        Disclosure { customer, purpose, fields: grant.fields, records: slice.len() as u64, off_platform: off };
    state.desk().record_consent_disclosure(served.consent, disclosure, nowt);
    let mut out = Vec::with_capacity(320 + 320 * slice.len());
    write_transaction_page(&mut out, api::transaction_views(&grant, account, slice), account, (from, to), page, pages);
    Ok(json_response(out))
}

/// Writes a transactions page: the bytes `serde_json` gives for the value
/// `{"Data": {"Transaction": [..]}, "Links": {"Next": .., "Self": ..}, "Meta": {"TotalPages": ..}}`
/// (a JSON value's keys are sorted), without building the value.
fn write_transaction_page<'a>(
    out: &mut Vec<u8>,
    records: impl Iterator<Item = api::TransactionView<'a>>,
    account: &str,
    window_ms: (u64, u64),
    page: usize,
    pages: usize,
) {
    out.extend_from_slice(b"{\"Data\":{\"Transaction\":[");
    for (i, record) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record.write_json(out);
    }
    out.extend_from_slice(b"]},\"Links\":{\"Next\":");
    let (from, to) = (calendar_time(window_ms.0), calendar_time(window_ms.1));
    let link = |out: &mut Vec<u8>, page: usize| {
        let text =
            format!("/accounts/{account}/transactions?fromBookingDateTime={from}&toBookingDateTime={to}&page={page}");
        api::write_json_str(out, &text);
    };
    if page < pages {
        link(out, page + 1);
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"Self\":");
    link(out, page);
    out.extend_from_slice(b"},\"Meta\":{\"TotalPages\":");
    api::write_decimal(out, pages as u64, 1);
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Grant;

    #[test]
    fn a_transactions_page_serialises_to_the_bytes_of_its_json_value() {
        let spec =
            PopulationSpec { seed: 5, bank: "b".into(), size: 10, transactions_per_day: 5.0, on_platform_share: 0.5 };
        let mut txns = Vec::new();
        for day in 0..3 {
            population::transactions_on_day(&spec, 4, day, &mut txns);
        }
        let grant = Grant {
            fields: Resource::Transactions { from_ms: 0, to_ms: 1 }.fields(),
            blocked: testbed_core::terms::FieldSet::EMPTY,
            off_platform: false,
            blocked_off_platform: false,
        };
        let (account, from, to) = ("card-b-4", 0, 3 * 86_400_000);
        for (page, pages) in [(1, 2), (2, 2)] {
            let mut fast = Vec::new();
            write_transaction_page(
                &mut fast,
                api::transaction_views(&grant, account, &txns),
                account,
                (from, to),
                page,
                pages,
            );
            let text = |p: usize| {
                format!(
                    "/accounts/{account}/transactions?fromBookingDateTime={}&toBookingDateTime={}&page={p}",
                    calendar_text(from),
                    calendar_text(to)
                )
            };
            let value = json!({
                "Data": {"Transaction": api::transaction_records(&grant, account, &txns)},
                "Links": {"Self": text(page), "Next": (page < pages).then(|| text(page + 1))},
                "Meta": {"TotalPages": pages},
            });
            assert_eq!(String::from_utf8(fast).unwrap(), serde_json::to_string(&value).unwrap());
        }
    }
}
