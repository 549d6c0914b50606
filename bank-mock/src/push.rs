//! The bank's event pusher: one task per server that, while event subscriptions exist, turns
//! the watched customers' bookings into `POST`s of the events they raise (fraud alerts,
//! transactions, balance changes) to the subscribers' callbacks at each booking time (simulated time mapped to wall time by the server's `LiveClock`).
//!
//! What falls due and what an alert may carry is decided without I/O (`alerts::AlertSchedule`,
//! `Desk::release_alert`); this module only waits, sends and counts, and reports each alert the
//! callback acknowledged (2xx) back to the desk, whose ledger counts only those. Each alert
//! passes the bank's door (`serve::Door`) as the virtual run's deliveries do: an outage holds it
//! until the bank is back, the rate limit until a token returns, a worker serves it before it
//! leaves, and an injected server error is retried as the platform's client policy says
//! (`workload::retry_wait`), then counted (`bank_alerts_dropped_total{reason="server_error"}`). It is bounded:
//! at most `MAX_IN_FLIGHT` sends per subscription (an alert finding them all busy is dropped and
//! counted: a slow callback never builds a queue), each send gives up after
//! `CALLBACK_TIMEOUT`, and the task ends when the server shuts down. It shares only the desk's
//! lock with the request path, held for one look per tick, one check per alert and one
//! count per acknowledged alert.

use crate::alerts::{AlertSchedule, DueAlert, notification_body};
use crate::http::AppState;
use crate::serve::Entry;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use testbed_core::SimTime;
use testbed_core::workload::{RequestError, retry_wait};

/// How often the pusher looks for alerts falling due (it looks one tick ahead and waits for
/// each booking time, so alerts are not late by a tick).
pub const TICK: Duration = Duration::from_millis(10);
/// Most notifications to one subscription in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long a callback has to answer one notification.
pub const CALLBACK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the pusher did, for `/metrics`.
#[derive(Default)]
pub struct PushCounters {
    /// Alerts released and sent.
    pub sent: AtomicU64,
    /// Sent alerts the callback did not acknowledge with 2xx within `CALLBACK_TIMEOUT` (the
    /// others are counted in the exposure ledger).
    pub failed: AtomicU64,
    /// Alerts dropped because `MAX_IN_FLIGHT` sends to the callback were still open.
    pub dropped_slow_callback: AtomicU64,
    /// Alerts dropped beyond the subscription's `MaxEventsPerSecond`.
    pub dropped_rate: AtomicU64,
    /// Alerts that met injected server errors on every attempt the platform's policy allows.
    pub dropped_server_error: AtomicU64,
    /// Subscriptions ended by the bank because their callback kept failing.
    pub subscriptions_ended: AtomicU64,
}

/// Sends in a row a callback may fail before the bank ends its subscription: a platform that
/// died without unsubscribing is not pushed to (nor its port, which another process may take)
/// for ever.
pub const MAX_FAILURES_IN_A_ROW: usize = 50;

/// The sends open per subscription, shared by the pusher and `DELETE /event-subscriptions/{id}`,
/// which answers once its subscription has none left: after the 204 nothing more arrives from
/// it, and the ledger counts every alert of it the callback acknowledged.
#[derive(Default)]
pub struct OpenSends(Mutex<BTreeMap<u64, Arc<AtomicUsize>>>);

impl OpenSends {
    fn counter(&self, subscription: u64) -> Arc<AtomicUsize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(subscription).or_default().clone()
    }

    fn forget(&self, subscription: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&subscription);
    }

    fn open(&self, subscription: u64) -> usize {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&subscription).map_or(0, |n| n.load(Ordering::SeqCst))
    }

    /// Waits until no send of `subscription`, which must be gone from the desk, is open. Each
    /// send gives up after `CALLBACK_TIMEOUT`, so this ends by then.
    pub async fn settled(&self, subscription: u64) {
        let give_up = Instant::now() + CALLBACK_TIMEOUT + TICK;
        while self.open(subscription) > 0 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A subscription's sending budget.
struct Budget {
    in_flight: Arc<AtomicUsize>,
    /// Sends that failed since the last one the callback acknowledged.
    failures_in_a_row: Arc<AtomicUsize>,
    /// Token bucket for `MaxEventsPerSecond`: (rate, burst, tokens, last refill).
    bucket: Option<(f64, f64, f64, Instant)>,
}

impl Budget {
    fn new(in_flight: Arc<AtomicUsize>, max_per_second: Option<u32>) -> Budget {
        let bucket = max_per_second.map(|r| {
            let rate = f64::from(r);
            // A second's worth: alerts come due in bursts (the pusher looks every 10 ms, and
            // card spending clusters), and the limit is per second, not per 50 ms.
            let burst = rate.max(1.0);
            (rate, burst, burst, Instant::now())
        });
        Budget { in_flight, failures_in_a_row: Arc::new(AtomicUsize::new(0)), bucket }
    }

    fn take_token(&mut self) -> bool {
        let Some((rate, burst, tokens, last)) = &mut self.bucket else { return true };
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * *rate).min(*burst);
        *last = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

/// `at` on the machine's wall clock, in µs since the Unix epoch.
fn unix_micros(at: Instant) -> u64 {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let t = if at <= now { wall - now.duration_since(at) } else { wall + at.duration_since(now) };
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// An alert on its way out: when it goes (to the door) on the bank's calendar, the attempt it
/// is on, and whether it is new (not yet past the subscriber's budget).
struct Outgoing {
    at: SimTime,
    attempt: u32,
    new: bool,
    alert: DueAlert,
}

/// Runs until `stop` resolves; sends still open then are abandoned.
pub async fn run(state: Arc<AppState>, stop: impl std::future::Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let counters = state.push_counters();
    let mut schedule = AlertSchedule::default();
    let mut budgets: BTreeMap<u64, Budget> = BTreeMap::new();
    let mut sends = tokio::task::JoinSet::new();
    // Alerts the door held back (an outage, the rate limit) or that go again after a server
    // error, until their time.
    let mut held: Vec<Outgoing> = Vec::new();
    let (retry_tx, mut retries) = tokio::sync::mpsc::unbounded_channel::<Outgoing>();
    let mut next_event = 1u64;
    let mut from_ms = state.sim_now().as_millis();
    let mut epoch = state.clock().started;
    'ticks: loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(TICK) => {}
        }
        while sends.try_join_next().is_some() {}
        while let Ok(again) = retries.try_recv() {
            held.push(again);
        }
        // Read each tick: an in-process driver may restart the calendar for its data phase; a
        // restarted calendar raises events from its new start (the bookings before it, on the
        // calendar it left, belong to no run).
        let clock = state.clock();
        let now = clock.now();
        if clock.started != epoch {
            epoch = clock.started;
            from_ms = now.as_millis();
        }
        let to_ms = (now + TICK.mul_f64(clock.scale)).as_millis().max(from_ms);
        let (watches, subscribed): (Vec<_>, BTreeMap<u64, (Option<u32>, String)>) = {
            let desk = state.desk();
            let subscribed = desk.subscriptions().map(|s| (s.id, (s.max_events_per_second, s.platform.clone())));
            (desk.watches(now), subscribed.collect())
        };
        // A deleted subscription's budget stays while its sends are open (its DELETE waits on them).
        budgets.retain(|&id, b| {
            let keep = subscribed.contains_key(&id) || b.in_flight.load(Ordering::SeqCst) > 0;
            if !keep {
                state.open_sends().forget(id);
            }
            keep
        });
        let failing: Vec<u64> = budgets
            .iter()
            .filter(|(id, b)| {
                subscribed.contains_key(id) && b.failures_in_a_row.load(Ordering::Relaxed) >= MAX_FAILURES_IN_A_ROW
            })
            .map(|(&id, _)| id)
            .collect();
        if !failing.is_empty() {
            let mut desk = state.desk();
            for id in failing {
                // Its budget goes at the next look, once its open sends have ended.
                desk.end_subscription(id);
                counters.subscriptions_ended.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subscription = id, "ended an event subscription whose callback kept failing");
            }
            continue;
        }
        for (&id, (limit, _)) in &subscribed {
            budgets.entry(id).or_insert_with(|| Budget::new(state.open_sends().counter(id), *limit));
        }
        let due = schedule.due(state.population(), &watches, from_ms, to_ms);
        let mut outgoing: Vec<Outgoing> =
            due.into_iter().map(|alert| Outgoing { at: alert.at(), attempt: 0, new: true, alert }).collect();
        let (now_due, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|o| o.at.as_millis() < to_ms);
        held = later;
        outgoing.extend(now_due);
        outgoing.sort_by_key(|o| o.at);
        from_ms = to_ms;
        for o in outgoing {
            tokio::select! {
                () = &mut stop => break 'ticks,
                () = tokio::time::sleep_until(clock.instant_of(o.at).into()) => {}
            }
            let Some(budget) = budgets.get_mut(&o.alert.subscription) else { continue };
            // The subscriber's own ceiling first, so its drops say how much it asked to thin.
            if o.new && !budget.take_token() {
                counters.dropped_rate.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if budget.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                counters.dropped_slow_callback.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // The bank's door, as for a data request: closed, out of tokens, or a worker's time.
            let (entry, fail) = state.knock(o.alert.customer);
            let finish = match entry {
                Entry::Unavailable { until } => {
                    held.push(Outgoing { at: until, new: false, ..o });
                    continue;
                }
                Entry::RateLimited { retry_after } => {
                    held.push(Outgoing { at: clock.now() + retry_after.mul_f64(clock.scale), new: false, ..o });
                    continue;
                }
                Entry::Served { finish, .. } => state.on_service_clock(finish),
            };
            // Counted open before the desk's check, so a DELETE that comes after the check waits for it.
            let in_flight = budget.in_flight.clone();
            in_flight.fetch_add(1, Ordering::SeqCst);
            let event_id = next_event;
            next_event += 1;
            // An injected server error: whether (and after how long) the platform's policy retries.
            let retry = fail.then(|| {
                let platform = subscribed.get(&o.alert.subscription).map(|(_, p)| p.as_str());
                let policy = platform.and_then(|p| state.platform_client(p));
                policy.and_then(|c| retry_wait(c, o.attempt, &RequestError::ServerError, None))
            });
            let (client, counters, state) = (client.clone(), counters.clone(), state.clone());
            let (failures_in_a_row, retry_tx) = (budget.failures_in_a_row.clone(), retry_tx.clone());
            sends.spawn(async move {
                tokio::time::sleep_until(finish.into()).await;
                if let Some(retry) = retry {
                    match retry {
                        Some(wait) => {
                            let at = clock.now() + wait.mul_f64(clock.scale);
                            let _ = retry_tx.send(Outgoing { at, attempt: o.attempt + 1, new: false, ..o });
                        }
                        None => {
                            counters.dropped_server_error.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                send(&state, &client, &counters, (event_id, &o.alert, &failures_in_a_row)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
    sends.abort_all();
}

/// Sends one alert the door let through, once the desk released it (checked at the moment it
/// leaves: a revocation or a DELETE that came first stops it), and counts it in the ledger
/// if the callback acknowledged it.
async fn send(
    state: &AppState,
    client: &Client<HttpConnector, Full<Bytes>>,
    counters: &PushCounters,
    (event_id, alert, failures_in_a_row): (u64, &DueAlert, &AtomicUsize),
) {
    let released_at = state.clock().now();
    let Some(released) = state.desk().release_alert(alert, released_at) else { return };
    counters.sent.fetch_add(1, Ordering::Relaxed);
    let body = notification_body(
        event_id,
        alert.subscription,
        alert.consent,
        alert.event,
        &released.account_id,
        crate::desk::Desk::payload(alert, &released),
        &released.grant,
        unix_micros(state.clock().instant_of(alert.at())),
    );
    let request = hyper::Request::post(released.callback_url.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).expect("a notification serialises"))));
    let Ok(request) = request else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let answered = tokio::time::timeout(CALLBACK_TIMEOUT, async {
        let response = client.request(request).await.ok()?;
        let status = response.status();
        response.into_body().collect().await.ok()?;
        Some(status)
    })
    .await;
    if matches!(answered, Ok(Some(status)) if status.is_success()) {
        failures_in_a_row.store(0, Ordering::Relaxed);
        // Only what the platform acknowledged counts as disclosed to it.
        state.desk().record_consent_disclosure(released.consent, &released.disclosure, released_at);
    } else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        failures_in_a_row.fetch_add(1, Ordering::Relaxed);
    }
}
