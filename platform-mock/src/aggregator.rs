//! The aggregator of an `aggregator` design, live: a relay on 127.0.0.1:0 between a platform
//! and its banks, as the virtual run models it. Every request waits in the aggregator's FIFO
//! queue (`workers`, `service_time`: the `BankQueue` the banks' door runs on, on the relay's
//! own service clock) and is then forwarded to the bank; every answer it relays is counted in
//! its own ledger, one per agreement, the way the platform counts what it receives. Loopback is
//! the network: the design's `network_delay` is not added live, as the banks' is not.
//!
//! Routes are `/{route}/{the bank's path}`, one route per agreement. The platform names the
//! customer link a request is for in `X-Link-Customer` (an aggregator knows whose link it
//! uses); that header is not forwarded. Events the bank pushes come the same way: the
//! subscription's callback is the relay's `/hook/{route}`, which counts each notification and
//! passes it on to the platform's callback.

use crate::client::HttpClient;
use crate::loopback::{LoopbackServer, read_body, status};
use crate::received::{Shapes, count_received};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use testbed_core::SimTime;
use testbed_core::exposure::PairLedger;
use testbed_core::queue::{Admission, BankQueue};
use testbed_core::rng::{SimRng, stream};
use testbed_core::scenario::AggregatorConfig;
use testbed_core::terms::Purpose;
use testbed_core::wire::EventNotification;

/// The header naming the customer link a relayed request is for.
pub const LINK_HEADER: &str = "x-link-customer";

/// Headers of the platform's request the relay passes on to the bank.
const FORWARDED: [&str; 2] = ["x-purpose", "x-requested-fields"];

/// One agreement relayed: the bank's base URL, and what the aggregator received under it.
pub struct RelayRoute {
    pub bank: String,
    pub ledger: Mutex<PairLedger>,
    /// Simulated seconds per wall second on the bank's calendar, to date what is received.
    pub scale: f64,
    /// Whom each of the agreement's consents is for, to tell whom a notification is about.
    pub consents: BTreeMap<String, u64>,
    /// The purpose pushed events are for.
    pub events_purpose: Purpose,
    /// The platform's callback the relay passes notifications on to, once it listens.
    pub hook: std::sync::OnceLock<String>,
    /// How the bank's answers are read (its API profile; the agreed fields).
    pub shapes: Shapes,
}

struct State {
    routes: BTreeMap<usize, RelayRoute>,
    queue: Mutex<(BankQueue, SimRng)>,
    config: AggregatorConfig,
    /// Zero on the relay's service clock, and the start of the data phase.
    origin: tokio::time::Instant,
    client: HttpClient,
}

pub struct Relay {
    server: LoopbackServer,
    state: Arc<State>,
}

impl Relay {
    /// Starts the relay of the aggregator `config` for `routes` (by route number); its service
    /// times are drawn from the stream `aggregator/<platform>` of `seed`.
    pub async fn start(
        config: &AggregatorConfig,
        routes: BTreeMap<usize, RelayRoute>,
        seed: u64,
        platform: &str,
        client: HttpClient,
    ) -> std::io::Result<Relay> {
        let state = Arc::new(State {
            routes,
            queue: Mutex::new((BankQueue::new(config.workers, None), stream(seed, &format!("aggregator/{platform}")))),
            config: config.clone(),
            origin: tokio::time::Instant::now(),
            client,
        });
        let shared = state.clone();
        let server = LoopbackServer::start(move |request: Request<Incoming>| {
            let state = shared.clone();
            async move { relay(request, &state).await }
        })
        .await?;
        Ok(Relay { server, state })
    }

    /// The base URL that stands for the bank of `route`.
    pub fn url(&self, route: usize) -> String {
        format!("{}/{route}", self.server.base())
    }

    /// The callback URL for the bank's events under `route`.
    pub fn hook_url(&self, route: usize) -> String {
        format!("{}/hook/{route}", self.server.base())
    }

    /// Passes the events of `route` on to the platform's `callback`.
    pub fn forward_events(&self, route: usize, callback: String) {
        if let Some(r) = self.state.routes.get(&route) {
            let _ = r.hook.set(callback);
        }
    }

    /// Stops the relay; what it received, by route.
    pub async fn shutdown(self) -> BTreeMap<usize, PairLedger> {
        self.server.shutdown().await;
        (self.state.routes.iter())
            .map(|(r, route)| (*r, route.ledger.lock().unwrap_or_else(|e| e.into_inner()).clone()))
            .collect()
    }
}

async fn relay(request: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    if request.method() == hyper::Method::POST
        && let Some(route) = request.uri().path().strip_prefix("/hook/").and_then(|r| r.parse::<usize>().ok())
    {
        return pass_on_event(request, route, state).await;
    }
    let Some((route, rest)) = request.uri().path().strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Some(route) = route.parse::<usize>().ok().and_then(|n| state.routes.get(&n)) else {
        return status(StatusCode::NOT_FOUND);
    };
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let customer = header(LINK_HEADER).and_then(|c| c.parse::<u64>().ok());
    let purpose = header("x-purpose").and_then(Purpose::parse);
    let (Some(customer), Some(purpose)) = (customer, purpose) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // The aggregator's queue: the request is relayed once a worker has served it.
    let finish = {
        let mut queue = state.queue.lock().unwrap_or_else(|e| e.into_inner());
        let (queue, rng) = &mut *queue;
        let clock = SimTime::from_duration(state.origin.elapsed());
        match queue.admit(clock, state.config.service_time.sample(rng)) {
            Admission::Served { finish, .. } => finish,
            Admission::RateLimited { .. } => return status(StatusCode::SERVICE_UNAVAILABLE),
        }
    };
    tokio::time::sleep_until(state.origin + finish.since(SimTime::ZERO)).await;
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}/{rest}{query}", route.bank);
    let token = header("authorization").and_then(|t| t.strip_prefix("Bearer "));
    let forwarded: Vec<(&str, &str)> = FORWARDED.iter().filter_map(|&h| Some((h, header(h)?))).collect();
    let answer = match state.client.send(request.method().clone(), &url, token, &forwarded, None).await {
        Ok(answer) => answer,
        Err(_) => return status(StatusCode::BAD_GATEWAY),
    };
    if answer.status.is_success() {
        let sim_ms = (state.origin.elapsed().as_secs_f64() * route.scale * 1e3) as u64;
        count_received(&route.ledger, &answer.body, sim_ms, customer, purpose, route.shapes);
    }
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    let json = hyper::header::HeaderValue::from_static("application/json");
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, json);
    if let Some(after) = answer.retry_after {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, after.into());
    }
    response
}

/// A notification the bank pushed under route `route`: counted, then passed on to the
/// platform's callback, whose status the bank gets back.
async fn pass_on_event(request: Request<Incoming>, route: usize, state: &State) -> Response<Full<Bytes>> {
    let Some(route) = state.routes.get(&route) else {
        return status(StatusCode::NOT_FOUND);
    };
    let Some(body) = read_body(request).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Ok(event) = serde_json::from_slice::<EventNotification>(&body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let (Some(callback), Some(&customer)) = (route.hook.get(), route.consents.get(&event.consent_id)) else {
        return status(StatusCode::NOT_FOUND);
    };
    let sim_ms = (state.origin.elapsed().as_secs_f64() * route.scale * 1e3) as u64;
    count_received(&route.ledger, &body, sim_ms, customer, route.events_purpose, Shapes::testbed(route.shapes.agreed));
    // Passed on as it came.
    match state.client.send(hyper::Method::POST, callback, None, &[], Some(body)).await {
        Ok(answer) => status(answer.status),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}
