//! The bank behind HTTP (hyper, through axum's router): translates requests into `Desk` calls
//! and their results into JSON, puts data requests through the bank's door in real time
//! (`serve::Door`: outages, rate limit with `Retry-After`, workers, injected errors), and serves
//! `/healthz`, `/metrics` and `/openapi.json`. Every error has one JSON shape:
//! `{"Code": "...", "Message": "...", "Path": "..."}` with a stable `Code`.
//!
//! This module holds what every route shares: the server's state (`AppState`, `LiveClock`),
//! the router and the connection loop (`serve`, with its hot path), the one error shape
//! (`Failure`), body, token and calendar helpers. The routes live one resource a file:
//! `negotiation` (negotiations and agreement reviews), `consents`, `subscriptions`, `data`
//! (accounts, balances, transactions and the service model in front of them) and `metrics`
//! (`/metrics`, `/healthz`, `/openapi.json`).

mod consents;
mod data;
mod fdx;
mod metrics;
mod negotiation;
mod oauth;
mod obie;
mod subscriptions;

use crate::desk::{Desk, DeskError, TokenKind, TokenMint, Verified};
use crate::push::{OpenSends, PushCounters};
use crate::serve::{Door, Entry};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use data::DayCache;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testbed_core::SimTime;
use testbed_core::population::PopulationSpec;
use testbed_core::rng::{SimRng, stream};
use testbed_core::scenario::{BankId, Scenario};
use testbed_core::time::CalendarError;
use tokio::net::TcpListener;

/// Request bodies larger than this get 413.
pub const MAX_BODY: usize = 64 * 1024;
pub use crate::serve::PAGE_SIZE;
/// Highest page number accepted (366 days of transactions fit well below it).
pub const MAX_PAGE: usize = 1_000_000;
/// Day 0 of the mock calendar: 2018-01-01T00:00:00Z, in Unix seconds.
pub const EPOCH_UNIX: u64 = 1_514_764_800;

/// The OpenAPI 3 document of this server, checked in beside the crate.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The OpenAPI 3 document of the UK Open Banking profile (`--api obie`), ours, checked in beside
/// the crate: what this server serves, in the standard's shapes, our extensions marked `x-testbed`.
pub const OPENAPI_OBIE: &str = include_str!("../../openapi-obie.json");

/// The OpenAPI 3 document of the FDX profile (`--api fdx`), ours likewise.
pub const OPENAPI_FDX: &str = include_str!("../../openapi-fdx.json");

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

/// A route counted in `bank_http_responses_total`, by the one counting middleware
/// (`count_responses`) or, for the transactions page served on the hot path, right there.
/// Declared in the order the metrics list them (their labels' alphabetical order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Accounts,
    AgreementReview,
    Authorize,
    Balances,
    Consent,
    ConsentDelete,
    Consents,
    EventSubscription,
    EventSubscriptionDelete,
    EventSubscriptions,
    FdxAccount,
    FdxAccounts,
    FdxContact,
    FdxCustomer,
    FdxTransactions,
    NegotiationAccept,
    NegotiationOffers,
    NegotiationReview,
    NegotiationWithdraw,
    Negotiations,
    ObieAccount,
    ObieAccounts,
    ObieBalances,
    ObieConsent,
    ObieConsentDelete,
    ObieConsents,
    ObieTransactions,
    SandboxConsents,
    Token,
    Transactions,
}

impl Route {
    const ALL: [Route; 30] = [
        Route::Accounts,
        Route::AgreementReview,
        Route::Authorize,
        Route::Balances,
        Route::Consent,
        Route::ConsentDelete,
        Route::Consents,
        Route::EventSubscription,
        Route::EventSubscriptionDelete,
        Route::EventSubscriptions,
        Route::FdxAccount,
        Route::FdxAccounts,
        Route::FdxContact,
        Route::FdxCustomer,
        Route::FdxTransactions,
        Route::NegotiationAccept,
        Route::NegotiationOffers,
        Route::NegotiationReview,
        Route::NegotiationWithdraw,
        Route::Negotiations,
        Route::ObieAccount,
        Route::ObieAccounts,
        Route::ObieBalances,
        Route::ObieConsent,
        Route::ObieConsentDelete,
        Route::ObieConsents,
        Route::ObieTransactions,
        Route::SandboxConsents,
        Route::Token,
        Route::Transactions,
    ];

    /// The `route` label.
    fn name(self) -> &'static str {
        match self {
            Route::Accounts => "accounts",
            Route::AgreementReview => "agreement_review",
            Route::Authorize => "authorize",
            Route::Balances => "balances",
            Route::Consent => "consent",
            Route::ConsentDelete => "consent_delete",
            Route::Consents => "consents",
            Route::EventSubscription => "event_subscription",
            Route::EventSubscriptionDelete => "event_subscription_delete",
            Route::EventSubscriptions => "event_subscriptions",
            Route::FdxAccount => "fdx_account",
            Route::FdxAccounts => "fdx_accounts",
            Route::FdxContact => "fdx_contact",
            Route::FdxCustomer => "fdx_customer",
            Route::FdxTransactions => "fdx_transactions",
            Route::NegotiationAccept => "negotiation_accept",
            Route::NegotiationOffers => "negotiation_offers",
            Route::NegotiationReview => "negotiation_review",
            Route::NegotiationWithdraw => "negotiation_withdraw",
            Route::Negotiations => "negotiations",
            Route::ObieAccount => "obie_account",
            Route::ObieAccounts => "obie_accounts",
            Route::ObieBalances => "obie_balances",
            Route::ObieConsent => "obie_consent",
            Route::ObieConsentDelete => "obie_consent_delete",
            Route::ObieConsents => "obie_consents",
            Route::ObieTransactions => "obie_transactions",
            Route::SandboxConsents => "sandbox_consents",
            Route::Token => "token",
            Route::Transactions => "transactions",
        }
    }

    /// The counted route of a request the router matched to `pattern` (as written in `router`)
    /// with `method`; `None` for the operational routes and a method the route does not take.
    fn of(method: &Method, pattern: &str) -> Option<Route> {
        // axum answers HEAD with the GET handler.
        let get = *method == Method::GET || *method == Method::HEAD;
        let (post, delete) = (*method == Method::POST, *method == Method::DELETE);
        Some(match pattern {
            "/negotiations" if post => Route::Negotiations,
            "/negotiations/{id}/offers" if post => Route::NegotiationOffers,
            "/negotiations/{id}/accept" if post => Route::NegotiationAccept,
            "/negotiations/{id}/withdraw" if post => Route::NegotiationWithdraw,
            "/negotiations/{id}/review" if post => Route::NegotiationReview,
            "/agreements/{platform}/review" if post => Route::AgreementReview,
            "/account-access-consents" if post => Route::Consents,
            "/account-access-consents/{id}" if get => Route::Consent,
            "/account-access-consents/{id}" if delete => Route::ConsentDelete,
            "/event-subscriptions" if post => Route::EventSubscriptions,
            "/event-subscriptions/{id}" if get => Route::EventSubscription,
            "/event-subscriptions/{id}" if delete => Route::EventSubscriptionDelete,
            "/accounts" if get => Route::Accounts,
            "/accounts/{account}/balances" if get => Route::Balances,
            "/accounts/{account}/transactions" if get => Route::Transactions,
            "/open-banking/v3.1/aisp/account-access-consents/{id}" if get => Route::ObieConsent,
            "/open-banking/v3.1/aisp/account-access-consents/{id}" if delete => Route::ObieConsentDelete,
            "/open-banking/v3.1/aisp/accounts" if get => Route::ObieAccounts,
            "/open-banking/v3.1/aisp/accounts/{account}" if get => Route::ObieAccount,
            "/open-banking/v3.1/aisp/accounts/{account}/balances" if get => Route::ObieBalances,
            "/open-banking/v3.1/aisp/accounts/{account}/transactions" if get => Route::ObieTransactions,
            "/sandbox/consents" if post => Route::SandboxConsents,
            "/fdx/v6/customers/current" if get => Route::FdxCustomer,
            "/fdx/v6/accounts" if get => Route::FdxAccounts,
            "/fdx/v6/accounts/{account}" if get => Route::FdxAccount,
            "/fdx/v6/accounts/{account}/transactions" if get => Route::FdxTransactions,
            "/fdx/v6/accounts/{account}/contact" if get => Route::FdxContact,
            "/token" if post => Route::Token,
            "/authorize" if get => Route::Authorize,
            "/open-banking/v3.1/aisp/account-access-consents" if post => Route::ObieConsents,
            _ => return None,
        })
    }
}

pub use testbed_core::wire::ApiProfile;

/// Response counters per route hold one slot per status code below this.
const STATUS_SLOTS: usize = 600;

pub struct AppState {
    desk: Mutex<Desk>,
    scenario: Arc<Scenario>,
    bank: BankId,
    /// The desk's population, copied out so data requests need not lock the desk to read it.
    spec: PopulationSpec,
    /// The desk's token mint, copied out so requests are authenticated without locking the desk
    /// (and before they take a rate-limit token).
    tokens: TokenMint,
    /// Set once at start, and again by an in-process driver when its data phase begins.
    clock: std::sync::RwLock<LiveClock>,
    /// The bank's door (`serve::Door`) and the stream its service times and injected errors
    /// are drawn from (named from the scenario's seed, `service/<bank>`).
    door: Mutex<(Door, SimRng)>,
    /// Zero on the service clock the door runs on: when the server state was made.
    origin: Instant,
    in_flight: AtomicU64,
    /// Responses by (`Route`, status): atomics, so counting takes no lock.
    responses: Box<[AtomicU64]>,
    days: DayCache,
    push: Arc<PushCounters>,
    open_sends: OpenSends,
    /// The address `serve` listens on, set when it starts: no callback may point there.
    listening: std::sync::OnceLock<std::net::SocketAddr>,
    limits: Limits,
    api: ApiProfile,
    /// Mutual TLS (`serve --tls`): set once, before `serve` starts.
    tls: std::sync::OnceLock<tokio_rustls::TlsAcceptor>,
    /// Authorization codes issued at `/authorize` and not yet exchanged (the standard profiles).
    codes: Mutex<oauth::Codes>,
    /// `GET /openapi.json`: the document narrowed to this scenario (`metrics::openapi_document`).
    openapi: Bytes,
}

/// Bounds on what clients can hold of the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Time a client has to send a request's head. hyper arms it whenever a connection waits
    /// for its next request, so it is also the longest an idle keep-alive connection stays open.
    pub header_read: Duration,
    /// Time a client has to send a request's whole body (408 `body_timeout` after).
    pub body_read: Duration,
    /// Connections open at once; one more is answered 503 `too_many_connections` and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { header_read: Duration::from_secs(10), body_read: Duration::from_secs(10), max_connections: 4096 }
    }
}

impl AppState {
    pub fn new(scenario: Arc<Scenario>, bank: BankId, secret: u64, clock: LiveClock) -> Arc<AppState> {
        AppState::with_limits(scenario, bank, secret, clock, Limits::default())
    }

    /// `new`, with other bounds on clients than the defaults.
    pub fn with_limits(
        scenario: Arc<Scenario>,
        bank: BankId,
        secret: u64,
        clock: LiveClock,
        limits: Limits,
    ) -> Arc<AppState> {
        AppState::speaking(scenario, bank, secret, clock, limits, ApiProfile::Testbed)
    }

    /// `with_limits`, speaking `api`.
    pub fn speaking(
        scenario: Arc<Scenario>,
        bank: BankId,
        secret: u64,
        clock: LiveClock,
        limits: Limits,
        api: ApiProfile,
    ) -> Arc<AppState> {
        let desk = Desk::new(scenario.clone(), bank, secret);
        let rng = stream(scenario.seed, &format!("service/{}", scenario.banks[bank].name));
        let openapi = metrics::openapi_document(&scenario, bank, api).into();
        Arc::new(AppState {
            spec: desk.population().clone(),
            tokens: desk.tokens().clone(),
            desk: Mutex::new(desk),
            door: Mutex::new((Door::new(&scenario, bank), rng)),
            origin: Instant::now(),
            scenario,
            bank,
            clock: std::sync::RwLock::new(clock),
            in_flight: AtomicU64::new(0),
            responses: (0..Route::ALL.len() * STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            days: DayCache::new(),
            push: Arc::new(PushCounters::default()),
            open_sends: OpenSends::default(),
            listening: std::sync::OnceLock::new(),
            limits,
            api,
            tls: std::sync::OnceLock::new(),
            codes: Mutex::new(oauth::Codes::default()),
            openapi,
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

    /// The OAuth client secret of `platform` (whose `client_id` is its name), under the same
    /// condition as its client token: the out-of-band registration a TPP makes.
    pub fn client_secret(&self, platform: &str) -> Option<String> {
        self.client_token(platform).map(|_| self.tokens.client_secret(platform))
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, oauth::Codes> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves mutual TLS with `acceptor` (`crate::tls::make`): every connection must present a
    /// client certificate of the run's CA. Set before `serve` starts; a second call is ignored.
    pub fn use_tls(&self, acceptor: tokio_rustls::TlsAcceptor) {
        let _ = self.tls.set(acceptor);
    }

    /// The data API this server speaks.
    pub fn api(&self) -> ApiProfile {
        self.api
    }

    pub fn desk(&self) -> std::sync::MutexGuard<'_, Desk> {
        self.desk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One response of `route` with `status`: an atomic add, no lock.
    fn count(&self, route: Route, status: StatusCode) {
        let s = usize::from(status.as_u16()).min(STATUS_SLOTS - 1);
        self.responses[route as usize * STATUS_SLOTS + s].fetch_add(1, Ordering::Relaxed);
    }

    /// The client policy of the scenario's platform named `platform` (its retries).
    pub(crate) fn platform_client(&self, platform: &str) -> Option<&testbed_core::scenario::ClientConfig> {
        self.scenario.platforms.iter().find(|p| p.name == platform).map(|p| &p.client)
    }

    /// The customer a data request made with `token` is for, as the bank's router sees it: its
    /// consent's customer when the bank has partitions to route to (0 for a token that is no
    /// consent's, which the desk then refuses), else 0 without looking.
    pub(crate) fn routed_customer(&self, token: &Verified<'_>) -> u64 {
        if self.scenario.banks[self.bank].service.partitions <= 1 || token.kind() != TokenKind::Access {
            return 0;
        }
        self.desk().consent_customer(token.id()).unwrap_or(0)
    }

    /// A data request for `customer` at the door now: what it answers, and whether the request
    /// then fails with an injected error. The service clock is read under the door's lock, so
    /// requests reach it in time order.
    pub(crate) fn knock(&self, customer: u64) -> (Entry, bool) {
        let calendar = self.sim_now();
        let service = &self.scenario.banks[self.bank].service;
        let mut door = self.door.lock().unwrap_or_else(|e| e.into_inner());
        let (door, rng) = &mut *door;
        let clock = SimTime::from_duration(self.origin.elapsed());
        let entry = door.admit(calendar, clock, customer, || service.service_time.sample(rng));
        let fail = matches!(entry, Entry::Served { .. }) && door.fails(rng);
        (entry, fail)
    }

    /// The wall-clock instant of `t` on the door's service clock.
    pub(crate) fn on_service_clock(&self, t: SimTime) -> Instant {
        self.origin + t.since(SimTime::ZERO)
    }

    /// The door's figures: admitted requests, their total wait and the workers' busy seconds.
    fn door_figures(&self) -> (u64, Duration, f64, u32) {
        let door = self.door.lock().unwrap_or_else(|e| e.into_inner());
        let figures = door.0.figures();
        (figures.admitted(), figures.total_wait(), figures.busy_secs(), figures.workers)
    }
}

pub use crate::wire::ApiError;

// The parsers of request input (headers, query, path ids, bodies) are public, here and below,
// so that the fuzz targets in `fuzz/` run the server's own code.
pub use consents::consent_window;
pub use data::{TransactionsQuery, asking_header, purpose_header};
pub use fdx::Paging as FdxPaging;
pub use negotiation::parse_outcome;
pub use oauth::{intent_of_request_object, redirect_uri_ok};
pub use obie::auth_date_ok;
pub use subscriptions::subscription_request;

/// A refused request: its status and the body in the one error shape.
pub struct Failure {
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

    pub fn status(&self) -> StatusCode {
        self.status
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
            | DeskError::EventNotAgreed(_) => StatusCode::FORBIDDEN,
            DeskError::SubscriptionExists(_) | DeskError::TooManyConsents(_) => StatusCode::CONFLICT,
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
    parse_json(&bytes)
}

/// A JSON body read whole, parsed strictly (valid JSON, known fields, right types, nothing
/// after the value): 400 `invalid_body` naming where it went wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
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

/// The token of the `Authorization: Bearer` header, unchecked: 401 when there is none.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Failure> {
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

/// A body's `SimTimeMs`, or the bank's clock now when it has none.
fn sim_time(state: &AppState, ms: Option<u64>) -> Result<SimTime, Failure> {
    ms.map_or_else(|| Ok(state.sim_now()), sim_time_ms)
}

/// A body's `SimTimeMs` as simulated time: int64 in openapi.json, so at most `i64::MAX` (400
/// naming it beyond).
pub fn sim_time_ms(ms: u64) -> Result<SimTime, Failure> {
    if ms > i64::MAX as u64 {
        return Err(Failure::bad(
            "invalid_body",
            format!("SimTimeMs {ms} is beyond int64 (at most {})", i64::MAX),
            Some("SimTimeMs"),
        ));
    }
    Ok(SimTime::from_nanos(ms.saturating_mul(1_000_000)))
}

/// A resource id in a path: a decimal number in its one spelling (no sign, no leading zero), or
/// 404 naming `what`.
pub fn resource_id(id: &str, what: &str) -> Result<u64, Failure> {
    let canonical = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    canonical
        .then(|| id.parse().ok())
        .flatten()
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} with that id"), None))
}

pub fn router(state: Arc<AppState>) -> Router {
    let router = Router::new()
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(metrics::openapi))
        .route("/negotiations", post(negotiation::open_negotiation))
        .route("/negotiations/{id}/offers", post(negotiation::offer))
        .route("/negotiations/{id}/accept", post(negotiation::accept))
        .route("/negotiations/{id}/withdraw", post(negotiation::withdraw))
        .route("/negotiations/{id}/review", post(negotiation::review_negotiation))
        .route("/agreements/{platform}/review", post(negotiation::review_agreement))
        .route("/account-access-consents", post(consents::create_consent))
        .route("/account-access-consents/{id}", get(consents::get_consent).delete(consents::delete_consent))
        .route("/event-subscriptions", post(subscriptions::create_subscription))
        .route(
            "/event-subscriptions/{id}",
            get(subscriptions::get_subscription).delete(subscriptions::delete_subscription),
        )
        .merge(match state.api {
            ApiProfile::Testbed => Router::new()
                .route("/accounts", get(data::accounts))
                .route("/accounts/{account}/balances", get(data::balances))
                .route("/accounts/{account}/transactions", get(data::transactions)),
            ApiProfile::Obie => obie::routes().merge(oauth::routes()),
            ApiProfile::Fdx => fdx::routes().merge(oauth::routes()),
        })
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "not_found", "no such route", None) })
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
                None,
            )
        });
    // A profile's own shapes go on inside the counting, so that `/metrics` counts what clients get.
    let router = match state.api {
        ApiProfile::Testbed => router,
        ApiProfile::Obie => router.layer(middleware::from_fn(obie::shape)),
        ApiProfile::Fdx => router.layer(middleware::from_fn(fdx::shape)),
    };
    router
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), read_body_in_time))
        .layer(middleware::from_fn_with_state(state.clone(), count_responses))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets in-flight requests finish: stops accepting,
/// asks every connection to close once its current request is answered, and waits for them.
///
/// Each connection is one hyper HTTP/1.1 task. The hot routes (`GET /healthz` and the
/// transactions page of the profile the server speaks) are answered without going through the
/// router; everything else, and any request they cannot take as is, goes to `router`. The hot
/// routes read no request body (a GET's), where the router reads one within `body_read`.
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
        while connections.try_join_next().is_some() {}
        if connections.len() >= state.limits.max_connections {
            // One connection too many: told so in the error shape (in plain HTTP only), and closed.
            if state.tls.get().is_none() {
                let _ = stream.try_write(&too_many_connections());
            }
            continue;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel();
        if stops.len() >= 64 && stops.len().is_power_of_two() {
            stops.retain(|s| !s.is_closed());
        }
        stops.push(stop);
        let service = Hot { state: state.clone(), router: TowerToHyperService::new(router.clone()) };
        let header_read = state.limits.header_read;
        let tls = state.tls.get().cloned();
        connections.spawn(async move {
            match tls {
                None => drive(stream, service, header_read, stopped).await,
                // The handshake is bounded like a request's head.
                Some(acceptor) => match tokio::time::timeout(header_read, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => drive(stream, service, header_read, stopped).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake refused: {e}"),
                    Err(_) => tracing::debug!("TLS handshake not done within {header_read:?}"),
                },
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

/// Serves one connection until it closes or `stopped` fires (then lets its request finish).
async fn drive<S>(stream: S, service: Hot, header_read: Duration, stopped: tokio::sync::oneshot::Receiver<()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        biased;
        _ = conn.as_mut() => {}
        _ = stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The whole HTTP/1.1 response a connection beyond `Limits::max_connections` gets: 503 in the
/// error shape, then the server closes it.
fn too_many_connections() -> Vec<u8> {
    let body = serde_json::to_vec(&ApiError {
        code: "too_many_connections".into(),
        message: "the server holds as many connections as it takes; retry later".into(),
        path: None,
    })
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
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
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let hot = if request.method() == axum::http::Method::GET { hot_route(request.uri().path()) } else { None };
        // Each profile's own transactions page; another profile's path goes to the router (a 404).
        let hot = hot.filter(|h| match h {
            HotRoute::Healthz => true,
            HotRoute::Transactions(api) => *api == self.state.api,
        });
        match hot {
            Some(HotRoute::Healthz) => Box::pin(async { Ok(metrics::healthz_response()) }),
            // The standard pages: their profile's middleware around the route's own handler.
            Some(HotRoute::Transactions(ApiProfile::Obie | ApiProfile::Fdx)) => {
                Box::pin(standard_page(self.state.clone(), request.map(axum::body::Body::new)))
            }
            Some(HotRoute::Transactions(ApiProfile::Testbed)) => {
                let state = self.state.clone();
                Box::pin(async move {
                    let path = request.uri().path();
                    let account = transactions_page_of(path).map_or("", |(_, account)| account);
                    let query = request.uri().query();
                    let headers = request.headers();
                    let reply = data::service(&state, headers, |token| {
                        data::transactions_page(&state, account, query, headers, token)
                    })
                    .await;
                    // The router's counting middleware is not on this path: counted here.
                    let response = reply.into_response();
                    state.count(Route::Transactions, response.status());
                    Ok(response)
                })
            }
            None => Box::pin(self.router.call(request)),
        }
    }
}

/// A standard profile's transactions page off the router: the profile's middleware (`shaped`)
/// around the route's handler, counted as the router counts it.
async fn standard_page(state: Arc<AppState>, request: Request) -> Result<Response, Infallible> {
    let inner = state.clone();
    let page = move |request: Request| {
        let (parts, _) = request.into_parts();
        async move {
            let account = transactions_page_of(parts.uri.path()).map_or("", |(_, account)| account);
            standard_transactions_reply(&inner, account, parts.uri.query(), &parts.headers).await.into_response()
        }
    };
    let (response, route) = match state.api {
        ApiProfile::Fdx => (fdx::shaped(request, page).await, Route::FdxTransactions),
        _ => (obie::shaped(request, page).await, Route::ObieTransactions),
    };
    state.count(route, response.status());
    Ok(response)
}

/// The router's route of a standard profile's transactions page: the reply the hot path gives.
pub(super) async fn standard_transactions(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    standard_transactions_reply(&state, &account, query.as_deref(), request.headers()).await
}

/// A transactions page of `account` in the standard profile the server speaks.
async fn standard_transactions_reply(
    state: &Arc<AppState>,
    account: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Reply {
    match state.api {
        ApiProfile::Fdx => fdx::transactions_reply(state, account, query, headers).await,
        _ => obie::transactions_reply(state, account, query, headers).await,
    }
}

enum HotRoute {
    Healthz,
    /// A profile's transactions page.
    Transactions(ApiProfile),
}

/// The profile whose transactions page `path` is, and its account segment, if it needs no
/// decoding: `/accounts/{account}/transactions`, under the base of UK Open Banking or FDX for
/// theirs, with a non-empty, unescaped account segment.
fn transactions_page_of(path: &str) -> Option<(ApiProfile, &str)> {
    let (api, rest) = if let Some(rest) = path.strip_prefix(testbed_core::wire::obie::BASE) {
        (ApiProfile::Obie, rest)
    } else if let Some(rest) = path.strip_prefix(testbed_core::wire::fdx::BASE) {
        (ApiProfile::Fdx, rest)
    } else {
        (ApiProfile::Testbed, path)
    };
    let account = rest.strip_prefix("/accounts/")?.strip_suffix("/transactions")?;
    (!account.is_empty() && !account.contains(['/', '%'])).then_some((api, account))
}

/// The hot route a GET path is, if any: `/healthz`, or a profile's transactions page.
fn hot_route(path: &str) -> Option<HotRoute> {
    if path == "/healthz" {
        return Some(HotRoute::Healthz);
    }
    transactions_page_of(path).map(|(api, _)| HotRoute::Transactions(api))
}

/// A path segment, or the error shape when it cannot be decoded.
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    path.map(|Path(v)| v).map_err(|e| Failure::bad("invalid_path", format!("path: {e}"), None))
}

/// An empty body counts as `{}`.
fn parse_optional_body<T: DeserializeOwned + Default>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    match &body {
        Ok(bytes) => parse_optional_json(bytes),
        Err(_) => parse_body(body),
    }
}

/// `parse_json`, with an empty (or all-whitespace) body counting as `{}`.
pub fn parse_optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { parse_json(bytes) }
}

/// Reads a request's body whole within `Limits::body_read` (408 `body_timeout` otherwise), at
/// most `MAX_BODY` bytes, before the handler sees it: a client trickling a body holds its
/// connection no longer than that. A body over the limit reaches the handler as one that fails
/// at once, so it still checks the token before it answers 413.
async fn read_body_in_time(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let limit = state.limits.body_read;
    let body = match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => axum::body::Body::from(bytes),
        Ok(Err(e)) => {
            if !e.into_inner().is::<http_body_util::LengthLimitError>() {
                return Failure::bad("invalid_body", "the request body could not be read", None).into_response();
            }
            axum::body::Body::new(http_body_util::Limited::new(axum::body::Body::from("x"), 0))
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {}", humantime::format_duration(limit));
            return Failure::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", message, None).into_response();
        }
    };
    next.run(Request::from_parts(parts, body)).await
}

/// The one place the router's responses are counted in `bank_http_responses_total`: under the
/// route the router matched, once the handler answered (a request whose client went away
/// before the answer is not counted).
async fn count_responses(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().and_then(|p| Route::of(request.method(), p.as_str()));
    let response = next.run(request).await;
    if let Some(route) = route {
        state.count(route, response.status());
    }
    response
}

/// RFC 3339 date-time → ms of the mock calendar (day 0 = 2018-01-01). A time before day 0 is
/// day 0: nothing was booked before the calendar began, so a window reaching further back holds
/// what it holds from day 0 on.
fn calendar_ms(text: &str, path: &str) -> Result<u64, Failure> {
    calendar_ms_by(testbed_core::time::calendar_ms, text, path)
}

/// `calendar_ms` with another reading of the text (the standard profiles take any offset).
fn calendar_ms_by(read: fn(&str) -> Result<u64, CalendarError>, text: &str, path: &str) -> Result<u64, Failure> {
    match read(text) {
        Ok(ms) => Ok(ms),
        Err(CalendarError::BeforeEpoch) => Ok(0),
        Err(CalendarError::Syntax(e)) => Err(Failure::bad(
            "invalid_date",
            format!("`{text}` is not an RFC 3339 date-time ({e}), e.g. 2018-03-01T00:00:00Z"),
            Some(path),
        )),
    }
}

/// Ms of the mock calendar (day 0 = 2018-01-01) as an RFC 3339 date-time.
pub fn calendar_text(ms: u64) -> String {
    calendar_time(ms).to_string()
}

/// `calendar_text` as a `Display`, to format without an intermediate `String`.
fn calendar_time(ms: u64) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(EPOCH_UNIX * 1000 + ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_routes_index_their_counters_in_the_order_of_their_labels() {
        for (i, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route as usize, i);
        }
        assert!(Route::ALL.windows(2).all(|w| w[0].name() < w[1].name()));
    }
}
