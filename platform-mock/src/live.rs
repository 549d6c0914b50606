//! The platform live: negotiation with bank servers over real HTTP, then the scenario's workload
//! as open-model load against them.
//!
//! The negotiation keeps the virtual-time schedule of `testbed_core::session` with every bank
//! decision made by its server over HTTP, so the outcomes equal the virtual run's for the same
//! seed. The data phase is real open-model load: requests leave at their scheduled (Poisson)
//! times whether or not earlier ones have returned, and latency is measured from those intended
//! times. Each bank's data phase is compressed into the run's `duration` as far as 80% of the
//! bank's rate limit and `max_rate` requests per second in total allow (`pace`); a bank held
//! back covers the first part of its phase, and the report says how much.
//!
//! Exposure is counted in one of two places, and the report says which: by the banks' own
//! ledgers when the caller can read them (`sim run --live` runs the banks in-process), or, against
//! banks elsewhere (`platform-mock run`), from what the platform received: the records and the
//! fields present in each response.
//!
//! Fraud alerts are pushed, not polled: where the terms allow them and the platform's workload
//! has a `fraud_alert` item, the driver starts a callback on 127.0.0.1:0 (`alerts`), subscribes
//! at the bank (`POST /event-subscriptions`), records each notification's latency from the
//! booking that raised it and counts what it carried, and unsubscribes when the run ends.

use crate::alerts::{CallbackServer, OnNotification};
use crate::client::{ClientError, HttpClient};
use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use testbed_core::SimTime;
use testbed_core::exposure::{ExposureSummary, FieldValues, PairLedger};
use testbed_core::latency::LatencyRecorder;
use testbed_core::negotiation::review::Verdict;
use testbed_core::negotiation::{Decision, OutcomeId, Withdrawal};
use testbed_core::report::{
    BankDataRow, BankPaceRow, DataReport, FlowReport, LatencyRow, LivePace, Mode, Report, Totals,
};
use testbed_core::scenario::{Rate, RequestKind, Scenario};
use testbed_core::session::{RemoteBanks, negotiate};
use testbed_core::terms::{DEFAULT_SENSITIVITY_WEIGHTS, DataCategory, Field, FieldSet, Purpose, Terms};
use testbed_core::time::calendar_text;
use testbed_core::workload::{self, RequestError};
use tokio::runtime::Runtime;

pub struct LiveOptions {
    /// Wall-clock length of the data phase.
    pub duration: Duration,
    /// Ceiling on the total request rate (requests per second).
    pub max_rate: f64,
    /// Most consents created per agreement (customers are drawn among them).
    pub max_customers: u64,
    /// How long to wait for requests still in flight when the run stops.
    pub drain: Duration,
    /// Most requests in flight at once; a request waiting for a slot still counts its latency
    /// from its intended send time.
    pub max_in_flight: usize,
    /// Compress each bank's phase into `duration` even beyond `RATE_LIMIT_SHARE` of its rate
    /// limit: an overload test.
    pub ignore_rate_limits: bool,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            duration: Duration::from_secs(10),
            max_rate: 20_000.0,
            max_customers: 2_000,
            drain: Duration::from_secs(3),
            max_in_flight: 256,
            ignore_rate_limits: false,
        }
    }
}

/// The platforms' client credentials at the banks, by (platform, bank) index of the scenario:
/// what each bank issued each platform it negotiates with, out of band (`bank-mock serve` prints
/// them), and the platform presents to open a negotiation.
pub type ClientTokens = BTreeMap<(usize, usize), String>;

struct HttpBanks<'a> {
    rt: &'a Runtime,
    client: HttpClient,
    scenario: &'a Scenario,
    urls: Vec<String>,
    client_tokens: &'a ClientTokens,
    /// Per pair: the bank, the negotiation's id and its token (the credential for every move).
    negotiations: BTreeMap<usize, RemoteNegotiation>,
    /// Per pair: the agreement token.
    tokens: BTreeMap<usize, String>,
    error: Option<String>,
    /// A bank that refused a platform's client token: the run cannot negotiate there at all.
    refused: Option<ClientError>,
}

#[derive(Clone)]
struct RemoteNegotiation {
    bank: usize,
    id: String,
    token: String,
}

impl HttpBanks<'_> {
    /// A negotiation move or review, with the token that covers it.
    fn post(&mut self, url: &str, token: &str, body: serde_json::Value) -> Option<serde_json::Value> {
        match self.rt.block_on(self.client.post_json(url, Some(token), &body)) {
            Ok((status, v)) if status.is_success() => Some(v),
            Ok((status, v)) => {
                self.error.get_or_insert(format!("{url}: {status}: {v}"));
                None
            }
            Err(e) => {
                self.error.get_or_insert(e.to_string());
                None
            }
        }
    }

    fn outcome(&self, v: &serde_json::Value) -> Option<OutcomeId> {
        let labels = v.as_object()?;
        let space = &self.scenario.space;
        let choice: Option<Vec<usize>> = space
            .issues()
            .iter()
            .enumerate()
            .map(|(i, issue)| space.option_index(i, labels.get(&issue.name)?.as_str()?))
            .collect();
        space.outcome(&choice?).ok()
    }

    fn failed(&self) -> Decision {
        Decision::Withdraw(Withdrawal {
            clause: "transport_error".into(),
            reason: self.error.clone().unwrap_or_default(),
        })
    }
}

fn ms(t: SimTime) -> u64 {
    t.as_millis()
}

impl RemoteBanks for HttpBanks<'_> {
    fn bank_decides(
        &mut self,
        pair: usize,
        platform: &str,
        bank: &str,
        standing: Option<OutcomeId>,
        now: SimTime,
    ) -> Decision {
        let b = self.scenario.bank_index(bank).expect("bank of the scenario");
        if !self.negotiations.contains_key(&pair) {
            let url = format!("{}/negotiations", self.urls[b]);
            let p = self.scenario.platform_index(platform).expect("platform of the scenario");
            let Some(client) = self.client_tokens.get(&(p, b)) else {
                self.error.get_or_insert(format!("no client token for platform `{platform}` at bank `{bank}`"));
                return self.failed();
            };
            let body = json!({"Platform": platform, "SimTimeMs": ms(now)});
            let v = match self.rt.block_on(self.client.post_json(&url, Some(client), &body)) {
                Ok((status, v)) if status.is_success() => v,
                Ok((status, v)) if status.as_u16() == 401 || v["Code"] == "forbidden" => {
                    let message = v["Message"].as_str().unwrap_or_default().to_string();
                    let (platform, bank) = (platform.to_string(), bank.to_string());
                    self.refused.get_or_insert(ClientError::ClientTokenRefused {
                        url,
                        platform,
                        bank,
                        status,
                        message,
                    });
                    self.error.get_or_insert_with(|| "client token refused".into());
                    return self.failed();
                }
                Ok((status, v)) => {
                    self.error.get_or_insert(format!("{url}: {status}: {v}"));
                    return self.failed();
                }
                Err(e) => {
                    self.error.get_or_insert(e.to_string());
                    return self.failed();
                }
            };
            let (Some(id), Some(token)) = (v["NegotiationId"].as_str(), v["NegotiationToken"].as_str()) else {
                self.error.get_or_insert(format!("{url}: no NegotiationId and NegotiationToken in {v}"));
                return self.failed();
            };
            self.negotiations.insert(pair, RemoteNegotiation { bank: b, id: id.into(), token: token.into() });
            if standing.is_none() {
                // The bank opens: its opening offer came with the negotiation.
                return v.get("BankOffer").and_then(|o| self.outcome(o)).map_or_else(|| self.failed(), Decision::Offer);
            }
        }
        let n = self.negotiations[&pair].clone();
        let Some(offer) = standing else { return self.failed() };
        let labels: BTreeMap<String, String> = self.scenario.space.describe(offer).into_iter().collect();
        let url = format!("{}/negotiations/{}/offers", self.urls[n.bank], n.id);
        let Some(v) = self.post(&url, &n.token, json!({"Outcome": labels, "SimTimeMs": ms(now)})) else {
            return self.failed();
        };
        match v["Decision"].as_str() {
            Some("counter") | Some("timeout") => {
                v.get("Outcome").and_then(|o| self.outcome(o)).map_or_else(|| self.failed(), Decision::Offer)
            }
            Some("accept") => {
                if let Some(t) = v["Agreement"]["Token"].as_str() {
                    self.tokens.insert(pair, t.to_string());
                }
                Decision::Accept
            }
            Some("withdraw") => Decision::Withdraw(Withdrawal {
                clause: v["Clause"].as_str().unwrap_or_default().into(),
                reason: v["Reason"].as_str().unwrap_or_default().into(),
            }),
            _ => {
                self.error.get_or_insert(format!("{url}: unexpected answer {v}"));
                self.failed()
            }
        }
    }

    fn platform_ended(&mut self, pair: usize, decision: &Decision, now: SimTime) {
        let Some(n) = self.negotiations.get(&pair).cloned() else { return };
        match decision {
            Decision::Accept => {
                let url = format!("{}/negotiations/{}/accept", self.urls[n.bank], n.id);
                if let Some(v) = self.post(&url, &n.token, json!({"SimTimeMs": ms(now)}))
                    && let Some(t) = v["Agreement"]["Token"].as_str()
                {
                    self.tokens.insert(pair, t.to_string());
                }
            }
            Decision::Withdraw(w) => {
                let url = format!("{}/negotiations/{}/withdraw", self.urls[n.bank], n.id);
                let body = json!({"Clause": w.clause, "Reason": w.reason, "SimTimeMs": ms(now)});
                self.post(&url, &n.token, body);
            }
            Decision::Offer(_) => {}
        }
    }

    fn review(
        &mut self,
        pair: usize,
        platform: &str,
        negotiating: bool,
        after_incident: bool,
        now: SimTime,
    ) -> Verdict {
        let Some(n) = self.negotiations.get(&pair).cloned() else { return Verdict::Continue };
        // A running negotiation is reviewed with its token, an agreement with the agreement's.
        let (url, token) = if negotiating {
            (format!("{}/negotiations/{}/review", self.urls[n.bank], n.id), n.token)
        } else {
            let url = format!("{}/agreements/{platform}/review", self.urls[n.bank]);
            let Some(token) = self.tokens.get(&pair).cloned() else {
                self.error.get_or_insert(format!("{url}: no agreement token for the review"));
                return Verdict::Continue;
            };
            (url, token)
        };
        let body = json!({"SimTimeMs": ms(now), "AfterIncident": after_incident});
        let Some(v) = self.post(&url, &token, body) else {
            return Verdict::Continue;
        };
        let w = || Withdrawal {
            clause: v["Clause"].as_str().unwrap_or_default().into(),
            reason: v["Reason"].as_str().unwrap_or_default().into(),
        };
        match v["Decision"].as_str() {
            Some("withdraw") => Verdict::Withdraw(w()),
            Some("revoke") => Verdict::Revoke(w()),
            _ => Verdict::Continue,
        }
    }
}

/// What a caller that runs the banks itself (in this process) can do that a remote client
/// cannot: read their ledgers, and set their calendars to the pace of the data phase.
pub trait InProcessBanks {
    /// A bank's own exposure ledger for a platform (by bank index and platform name).
    fn exposure(&self, bank: usize, platform: &str) -> Option<ExposureSummary>;
    /// Restart the bank's calendar at the start of the data phase (simulated time zero), running
    /// `scale` simulated seconds per wall-clock second.
    fn start_data_phase(&self, bank: usize, scale: f64);
}

/// Runs `scenario` live against the bank servers at `urls` (one base URL per bank of the
/// scenario, in its order), opening each negotiation with the platform's client token at that
/// bank (one per platform and bank it negotiates with). `stop` ends the data phase early (Ctrl-C); the report then says it
/// is incomplete. With `in_process`, exposure comes from the banks' ledgers and their calendars
/// follow the pace of the data phase; without, exposure is what the platform received, and
/// remote banks keep their own calendars (`bank-mock serve --time-scale`).
pub fn run(
    scenario: Arc<Scenario>,
    urls: &[String],
    client_tokens: &ClientTokens,
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    in_process: Option<&dyn InProcessBanks>,
) -> Result<Report, ClientError> {
    if urls.len() != scenario.banks.len() {
        return Err(ClientError::Live(format!(
            "{} bank URLs for the {} banks of the scenario",
            urls.len(),
            scenario.banks.len()
        )));
    }
    for (pi, p) in scenario.platforms.iter().enumerate() {
        if let Some(&bi) = p.banks.iter().find(|&&bi| !client_tokens.contains_key(&(pi, bi))) {
            return Err(ClientError::Live(format!(
                "no client token for platform `{}` at bank `{}`",
                p.name, scenario.banks[bi].name
            )));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Live(format!("starting the runtime: {e}")))?;
    // Ctrl-C stops new load; requests in flight get `drain` to finish; the report says so.
    let on_signal = stop.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let data = scenario.data.clone();
    let mut banks = HttpBanks {
        rt: &rt,
        client: HttpClient::default(),
        scenario: &scenario,
        urls: urls.to_vec(),
        client_tokens,
        negotiations: BTreeMap::new(),
        tokens: BTreeMap::new(),
        error: None,
        refused: None,
    };
    let session = negotiate(&scenario, Some(&mut banks));
    if let Some(e) = banks.refused.take() {
        return Err(e);
    }
    if let Some(e) = banks.error.take() {
        return Err(ClientError::Live(format!("negotiation failed: {e}")));
    }
    let (mut report, agreements) = (session.report, session.agreements);
    report.mode = Mode::Live;
    let tokens = banks.tokens.clone();
    drop(banks);

    let mut complete = true;
    if let Some(d) = &data {
        let flows: Vec<LiveFlow> = agreements
            .iter()
            .filter(|(_, a)| a.revoked_at.is_none())
            .filter_map(|(pair, a)| {
                tokens.get(pair).map(|t| LiveFlow {
                    platform: a.platform,
                    bank: a.bank,
                    token: t.clone(),
                    terms: a.terms.clone(),
                })
            })
            .collect();
        let observed = rt.block_on(load(&scenario, urls, &flows, opts, stop.clone(), in_process));
        let (latency, finished, wall, pace) = (observed.latency, observed.finished, observed.wall, observed.pace);
        // Incomplete means interrupted. Requests still in flight when the drain ends (say,
        // waiting out a Retry-After) show as `requests` − `ok` − errors in their row.
        let _ = finished;
        complete = !stop.load(Ordering::Relaxed);
        let mut flow_reports = Vec::new();
        for (fi, f) in flows.iter().enumerate() {
            let platform = &scenario.platforms[f.platform].name;
            let exposure = match in_process {
                Some(banks) => banks.exposure(f.bank, platform),
                None => {
                    let ledger = observed.ledgers[fi].lock().unwrap_or_else(|e| e.into_inner());
                    Some(ledger.summarize(&scenario.population_spec(f.bank), platform, d.sensitivity_weights))
                }
            };
            if let Some(exposure) = exposure {
                flow_reports.push(FlowReport {
                    platform: platform.clone(),
                    bank: scenario.banks[f.bank].name.clone(),
                    started_at_ms: 0,
                    ended_at_ms: wall.as_millis() as u64,
                    ended_by: if complete { "phase_over".into() } else { "interrupted".into() },
                    categories: f.terms.category_names().into_iter().map(String::from).collect(),
                    purposes: f.terms.purpose_names().into_iter().map(String::from).collect(),
                    permissions: observed.permissions[fi].clone(),
                    requests: latency.iter().filter(|((b, _), _)| *b == f.bank).map(|(_, (n, _))| *n).sum(),
                    exposure,
                });
            }
        }
        let banks = scenario
            .banks
            .iter()
            .enumerate()
            .map(|(bi, b)| {
                let mine: Vec<&FlowReport> = flow_reports.iter().filter(|r| r.bank == b.name).collect();
                let exposed: u64 = mine.iter().map(|r| r.exposure.customers_exposed).max().unwrap_or(0);
                let sum = |g: fn(&FlowReport) -> u64| mine.iter().map(|r| g(r)).sum();
                let queue = observed.counters[bi].map(queue_figures);
                BankDataRow {
                    bank: b.name.clone(),
                    population: b.population.customers,
                    customers_exposed: exposed,
                    share_of_population: exposed as f64 / (b.population.customers.max(1)) as f64,
                    weighted_score: mine.iter().fold(0.0, |s, r| s + r.exposure.weighted_score),
                    field_values: FieldValues {
                        low: sum(|r| r.exposure.field_values.low),
                        moderate: sum(|r| r.exposure.field_values.moderate),
                        high: sum(|r| r.exposure.field_values.high),
                    },
                    // As in virtual mode: requests the bank admitted to its queue, by its own
                    // count; for a bank that does not publish it, the platform's answered pulls.
                    requests_served: match observed.counters[bi] {
                        Some((before, after)) => (after.admitted - before.admitted).max(0.0) as u64,
                        None => latency
                            .iter()
                            .filter(|((b, kind), _)| *b == bi && *kind != RequestKind::FraudAlert)
                            .map(|(_, (_, r))| r.count())
                            .sum(),
                    },
                    mean_wait_ms: queue.map(|q| q.0),
                    mean_in_system: queue.map(|q| q.1),
                    utilisation: queue.map(|q| q.2),
                }
            })
            .collect();
        report.data = Some(DataReport {
            generator: testbed_core::population::GENERATOR_VERSION.into(),
            phase_ms: d.duration.as_millis() as u64,
            sensitivity_weights: if d.sensitivity_weights == [0.0; 3] {
                DEFAULT_SENSITIVITY_WEIGHTS
            } else {
                d.sensitivity_weights
            },
            flows: flow_reports,
            latency: latency
                .iter()
                .map(|((b, k), (n, rec))| LatencyRow {
                    bank: scenario.banks[*b].name.clone(),
                    kind: k.as_str().into(),
                    requests: *n,
                    latency: rec.summary(wall),
                })
                .collect(),
            banks,
            live: Some(LivePace {
                wall_ms: wall.as_millis() as u64,
                // The banks with data flowing: the others had nothing to pace.
                banks: scenario
                    .banks
                    .iter()
                    .zip(&pace.banks)
                    .enumerate()
                    .filter(|(bi, _)| observed.paced[*bi])
                    .map(|(_, bp)| bp)
                    .map(|(b, p)| BankPaceRow {
                        bank: b.name.clone(),
                        simulated_ms: ((wall.as_secs_f64() * p.scale).min(d.duration.as_secs_f64()) * 1e3) as u64,
                        speedup: p.scale,
                        bound: p.bound.into(),
                    })
                    .collect(),
            }),
        });
    }
    report.complete = complete;
    report.totals = Totals::count(&report.negotiations);
    rt.shutdown_timeout(opts.drain);
    Ok(report)
}

/// How fast each bank's live data phase runs, and what set that speed.
#[derive(Clone, Debug, PartialEq)]
pub struct Pace {
    /// One per bank of the scenario, in its order.
    pub banks: Vec<BankPace>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BankPace {
    /// Simulated seconds per wall-clock second.
    pub scale: f64,
    /// What bounds `scale`: `phase` (the whole data phase fits in the run), `max_rate`, or
    /// `rate_limit` (the bank's own rate limit).
    pub bound: &'static str,
}

/// How often a waiting source looks whether the run was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Share of a bank's published rate limit the platform plans to use: the rest absorbs the
/// Poisson bursts of open-model load, so that latency measures the bank's service and not a
/// storm of 429s.
pub const RATE_LIMIT_SHARE: f64 = 0.8;

/// How much faster than simulated time each bank's live data phase runs, given the agreements
/// reached, as `(platform, bank, terms)`. The scenario's data phase is compressed into
/// `opts.duration`, unless that would send a bank more than `RATE_LIMIT_SHARE` of its rate limit
/// (unless `opts.ignore_rate_limits`), or all banks together more than `opts.max_rate` requests
/// per second; then those banks go as fast as that allows and the run covers the first part of
/// their phase. Each bank has its own calendar, so a slow bank does not slow the others.
pub fn pace(scenario: &Scenario, agreed: &[(usize, usize, &Terms)], opts: &LiveOptions) -> Pace {
    let n = scenario.banks.len();
    let Some(data) = &scenario.data else { return Pace { banks: vec![BankPace { scale: 1.0, bound: "phase" }; n] } };
    let whole = data.duration.as_secs_f64() / opts.duration.as_secs_f64().max(1e-3);
    // Requests, and pushed alerts, per simulated second at each bank.
    let mut pulled = vec![0.0; n];
    let mut pushed = vec![0.0; n];
    for &(pi, bi, terms) in agreed {
        let bank = &scenario.banks[bi];
        let linked = scenario.linked_customers(pi, bi, terms.consent_mode);
        for w in scenario.platforms[pi].workload.iter().filter(|w| terms.allows(w.purpose)) {
            let per_day = match (w.kind, w.rate) {
                // Pushed by the bank: one per visible card transaction of each customer with a
                // consent.
                (RequestKind::FraudAlert, _) => {
                    let visible = if terms.grants(DataCategory::OffPlatformTransactions) {
                        1.0
                    } else {
                        bank.population.on_platform_share
                    };
                    let consents = linked.min(opts.max_customers) as f64;
                    pushed[bi] += bank.population.transactions_per_day * visible * consents / 86_400.0;
                    continue;
                }
                (_, Rate::PerCustomerPerDay(r)) => r * linked as f64,
                (_, Rate::PerSecond(r)) => r * 86_400.0,
                (_, Rate::PerTransaction) => bank.population.transactions_per_day * linked as f64,
            };
            pulled[bi] += per_day / 86_400.0;
        }
    }
    let mut banks: Vec<BankPace> = scenario
        .banks
        .iter()
        .zip(&pulled)
        .map(|(bank, offered)| match bank.service.rate_limit {
            Some((per_second, _)) if offered * whole > per_second * RATE_LIMIT_SHARE && !opts.ignore_rate_limits => {
                BankPace { scale: per_second * RATE_LIMIT_SHARE / offered, bound: "rate_limit" }
            }
            _ => BankPace { scale: whole, bound: "phase" },
        })
        .collect();
    // Within `max_rate`, the banks held to their own limits keep their pace and the others
    // share what is left; if the limited ones alone exceed it, every bank slows alike.
    let load = |limited: bool| -> f64 {
        banks
            .iter()
            .enumerate()
            .filter(|(_, b)| (b.bound == "rate_limit") == limited)
            .map(|(i, b)| (pulled[i] + pushed[i]) * b.scale)
            .sum()
    };
    let (limited, free) = (load(true), load(false));
    if limited + free > opts.max_rate {
        let (factor, slowed): (f64, fn(&BankPace) -> bool) = if limited < opts.max_rate {
            ((opts.max_rate - limited) / free, |b| b.bound != "rate_limit")
        } else {
            (opts.max_rate / (limited + free), |_| true)
        };
        for b in banks.iter_mut().filter(|b| slowed(b)) {
            *b = BankPace { scale: b.scale * factor, bound: "max_rate" };
        }
    }
    Pace { banks }
}

struct LiveFlow {
    platform: usize,
    bank: usize,
    token: String,
    terms: testbed_core::terms::Terms,
}

type LatencyMap = BTreeMap<(usize, RequestKind), (u64, LatencyRecorder)>;

/// What the platform saw in the data phase.
struct Observed {
    /// Requests and latency per (bank, kind).
    latency: LatencyMap,
    /// Whether every request finished.
    finished: bool,
    /// Per flow: what the platform received, counted as the banks count disclosures.
    ledgers: Vec<Mutex<PairLedger>>,
    /// Per flow: the permissions the bank put on the consents it granted.
    permissions: Vec<Vec<String>>,
    /// How long load was sent: the run's duration, or less when it was interrupted.
    wall: Duration,
    /// The pace of each bank's data phase, and whether it had any (a flow with a linked customer).
    pace: Pace,
    paced: Vec<bool>,
    /// Per bank: its counters before and after the data phase, if it publishes them.
    counters: Vec<Option<(BankCounters, BankCounters)>>,
}

/// Counters a bank publishes at `/metrics` (bank-mock does; another server may not): its
/// service model's queue, and the alerts it dropped rather than send.
#[derive(Clone, Copy, Debug)]
struct BankCounters {
    at: tokio::time::Instant,
    workers: f64,
    admitted: f64,
    wait_s: f64,
    busy_s: f64,
    dropped_slow_callback: f64,
    dropped_over_rate: f64,
}

/// Every bank's counters, where its `/metrics` has them.
async fn read_counters(client: &HttpClient, urls: &[String]) -> Vec<Option<BankCounters>> {
    let mut readings = Vec::new();
    for base in urls {
        let url = format!("{base}/metrics");
        let answer =
            tokio::time::timeout(Duration::from_secs(2), client.send(hyper::Method::GET, &url, None, &[], None));
        let text = match answer.await {
            Ok(Ok(a)) if a.status.is_success() => String::from_utf8_lossy(&a.body).into_owned(),
            _ => {
                readings.push(None);
                continue;
            }
        };
        readings.push(parse_counters(&text, tokio::time::Instant::now()));
    }
    readings
}

/// A bank's counters in its `/metrics` text, read `at`; `None` unless it has them all.
fn parse_counters(text: &str, at: tokio::time::Instant) -> Option<BankCounters> {
    // One bank per server: the first sample of the family whose labels include `label`.
    let value = |family: &str, label: &str| {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let rest = l.strip_prefix(family)?;
            let (labels, v) = match rest.strip_prefix('{') {
                Some(r) => r.split_once('}')?,
                None => ("", rest),
            };
            if !labels.contains(label) {
                return None;
            }
            v.trim().parse::<f64>().ok()
        })
    };
    Some(BankCounters {
        at,
        workers: value("bank_workers", "")?,
        admitted: value("bank_requests_admitted_total", "")?,
        wait_s: value("bank_queue_wait_seconds_total", "")?,
        busy_s: value("bank_worker_busy_seconds_total", "")?,
        dropped_slow_callback: value("bank_alerts_dropped_total", "reason=\"slow_callback\"")?,
        dropped_over_rate: value("bank_alerts_dropped_total", "reason=\"max_events_per_second\"")?,
    })
}

/// Alerts a bank dropped rather than send never reach the callback: they count in its
/// fraud_alert row as sent and failed, by the bank's own count over the data phase.
fn count_dropped_alerts(map: &mut LatencyMap, counters: &[Option<(BankCounters, BankCounters)>]) {
    for (bank, counters) in counters.iter().enumerate() {
        let (Some((before, after)), Some((sent, rec))) = (counters, map.get_mut(&(bank, RequestKind::FraudAlert)))
        else {
            continue;
        };
        for (kind, n) in [
            (RequestError::Dropped("slow_callback"), after.dropped_slow_callback - before.dropped_slow_callback),
            (RequestError::Dropped("max_events_per_second"), after.dropped_over_rate - before.dropped_over_rate),
        ] {
            let n = n.max(0.0) as u64;
            *sent += n;
            rec.errors_of(&kind, n);
        }
    }
}

/// Mean wait (ms), mean number in system and utilisation between two readings of one bank.
fn queue_figures((before, after): (BankCounters, BankCounters)) -> (f64, f64, f64) {
    let span = (after.at - before.at).as_secs_f64().max(1e-9);
    let admitted = after.admitted - before.admitted;
    let (wait, busy) = (after.wait_s - before.wait_s, after.busy_s - before.busy_s);
    let mean_wait_ms = if admitted > 0.0 { wait / admitted * 1e3 } else { 0.0 };
    // Little's law over the span: time spent in the bank (waiting or served) per unit of time.
    (mean_wait_ms, (wait + busy) / span, busy / (span * after.workers.max(1.0)))
}

/// The fields a response record carries, by the API's field names; identifiers of the record
/// itself (`TransactionId`) are not customer data.
fn received_fields(record: &serde_json::Map<String, serde_json::Value>) -> FieldSet {
    let field = |name: &str| match name {
        "AccountId" => Some(Field::AccountId),
        "Amount" => Some(Field::TxnAmount),
        "BookingDateTimeMs" => Some(Field::TxnDate),
        "Status" => Some(Field::TxnStatus),
        "MerchantCategory" => Some(Field::TxnCategory),
        "MerchantName" => Some(Field::TxnMerchant),
        "PlaceZip5" => Some(Field::TxnPlace),
        "FraudFlag" => Some(Field::FraudFlag),
        "Current" => Some(Field::BalanceCurrent),
        "Available" => Some(Field::BalanceAvailable),
        "Band" => Some(Field::BalanceBand),
        "AccountType" => Some(Field::AccountType),
        "MaskedNumber" => Some(Field::MaskedNumber),
        "AccountNumber" => Some(Field::AccountNumber),
        "RoutingNumber" => Some(Field::RoutingNumber),
        "CardPan" => Some(Field::CardPan),
        "HolderName" => Some(Field::Name),
        _ => None,
    };
    FieldSet::of(&record.keys().filter_map(|k| field(k)).collect::<Vec<_>>())
}

/// Counts a successful response's records into the platform's ledger.
fn count_received(ledger: &Mutex<PairLedger>, body: &[u8], at_ms: u64, customer: u64, purpose: Purpose) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let Some(data) = v.get("Data").and_then(|d| d.as_object()) else { return };
    let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    for records in data.values().filter_map(|r| r.as_array()) {
        let fields =
            records.iter().filter_map(|r| r.as_object()).fold(FieldSet::EMPTY, |f, r| f.union(received_fields(r)));
        ledger.disclose(at_ms, customer, purpose, fields, records.len() as u64, 0);
    }
}

/// Creates consents, then sends every flow's workload at its scheduled times for
/// `opts.duration`.
async fn load(
    scenario: &Scenario,
    urls: &[String],
    flows: &[LiveFlow],
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    in_process: Option<&dyn InProcessBanks>,
) -> Observed {
    let client = HttpClient::default();
    let latency: Arc<Mutex<LatencyMap>> = Arc::new(Mutex::new(BTreeMap::new()));
    // Link customers: one consent (and access token) each.
    let mut access: Vec<Vec<String>> = Vec::new();
    // Per flow: ConsentId → customer, to tell whom a pushed alert is about.
    let mut consent_customers: Vec<BTreeMap<String, u64>> = Vec::new();
    let mut ledgers = Vec::new();
    let mut permissions = Vec::new();
    for f in flows {
        let linked = scenario.linked_customers(f.platform, f.bank, f.terms.consent_mode).min(opts.max_customers);
        ledgers.push(Mutex::new(PairLedger::new(linked)));
        permissions.push(Vec::new());
        let mut tokens = Vec::new();
        let mut customers = BTreeMap::new();
        for c in 0..linked {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let url = format!("{}/account-access-consents", urls[f.bank]);
            if let Ok((status, v)) = client.post_json(&url, Some(&f.token), &json!({"Data": {"CustomerId": c}})).await
                && status.is_success()
                && let Some(t) = v["AccessToken"].as_str()
            {
                if let (Some(granted), true) = (v["Data"]["Permissions"].as_array(), tokens.is_empty()) {
                    *permissions.last_mut().expect("pushed above") =
                        granted.iter().filter_map(|p| p.as_str().map(String::from)).collect();
                }
                if let Some(id) = v["Data"]["ConsentId"].as_str() {
                    customers.insert(id.to_string(), tokens.len() as u64);
                }
                tokens.push(t.to_string());
            }
        }
        access.push(tokens);
        consent_customers.push(customers);
    }
    // Paced on the flows that linked a customer: an agreement whose consents were all refused
    // sends nothing and takes no share of `max_rate`.
    let linked_flows: Vec<(usize, usize, &Terms)> =
        flows.iter().zip(&access).filter(|(_, a)| !a.is_empty()).map(|(f, _)| (f.platform, f.bank, &f.terms)).collect();
    let paced: Vec<bool> = (0..scenario.banks.len()).map(|b| linked_flows.iter().any(|f| f.1 == b)).collect();
    let pace = pace(scenario, &linked_flows, opts);
    let scales: Vec<f64> = pace.banks.iter().map(|b| b.scale).collect();
    // Rates in wall time, capped in total.
    let mut sources = Vec::new();
    // Flows whose bank pushes fraud alerts: (flow, purpose, expected alerts per second).
    let mut alert_flows = Vec::new();
    for (fi, f) in flows.iter().enumerate() {
        let platform = &scenario.platforms[f.platform];
        let bank = &scenario.banks[f.bank];
        let linked = scenario.linked_customers(f.platform, f.bank, f.terms.consent_mode) as f64;
        for w in &platform.workload {
            if !f.terms.allows(w.purpose) || access[fi].is_empty() {
                continue;
            }
            if w.kind == RequestKind::FraudAlert {
                // The bank pushes one per visible card transaction of each customer with a consent.
                let visible = if f.terms.grants(DataCategory::OffPlatformTransactions) {
                    1.0
                } else {
                    bank.population.on_platform_share
                };
                let per_day = bank.population.transactions_per_day * visible * access[fi].len() as f64;
                alert_flows.push((fi, w.purpose, per_day / 86_400.0 * scales[f.bank]));
                continue;
            }
            let per_day = match w.rate {
                Rate::PerCustomerPerDay(r) => r * linked,
                Rate::PerSecond(r) => r * 86_400.0,
                Rate::PerTransaction => bank.population.transactions_per_day * linked,
            };
            sources.push((fi, w.clone(), per_day / 86_400.0 * scales[f.bank]));
        }
    }
    let total: f64 = sources.iter().map(|s| s.2).sum::<f64>() + alert_flows.iter().map(|a| a.2).sum::<f64>();
    let cap = if total > opts.max_rate { opts.max_rate / total } else { 1.0 };
    // The data phase starts now, on every calendar.
    if let Some(banks) = in_process {
        for (bank, scale) in scales.iter().enumerate() {
            banks.start_data_phase(bank, *scale);
        }
    }
    let counters_before = read_counters(&client, urls).await;
    let start = tokio::time::Instant::now();
    let end = start + opts.duration;
    let in_flight = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.max_in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let access = Arc::new(access);
    let ledgers = Arc::new(ledgers);
    let callback = subscribe_to_alerts(
        &client,
        urls,
        flows,
        &alert_flows,
        cap,
        consent_customers,
        (latency.clone(), ledgers.clone()),
        (start, scales.to_vec()),
    )
    .await;
    if let Some((_, subscriptions)) = &callback {
        // At the end of the run (or on Ctrl-C) unsubscribe, so no new alerts are raised; those
        // already on their way are received during the drain.
        let (client, subscriptions, stop) = (client.clone(), subscriptions.clone(), stop.clone());
        let drain = opts.drain;
        tasks.spawn(async move {
            while tokio::time::Instant::now() < end && !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50).min(end - tokio::time::Instant::now())).await;
            }
            for (url, token) in subscriptions.iter() {
                let delete = client.send(hyper::Method::DELETE, url, Some(token), &[], None);
                let _ = tokio::time::timeout(drain, delete).await;
            }
        });
    }
    for (si, (fi, item, rate)) in sources.into_iter().enumerate() {
        let rate = rate * cap;
        if rate <= 0.0 {
            continue;
        }
        let (client, latency, access, stop, in_flight, slots, ledgers) = (
            client.clone(),
            latency.clone(),
            access.clone(),
            stop.clone(),
            in_flight.clone(),
            slots.clone(),
            ledgers.clone(),
        );
        let f = &flows[fi];
        let (bank, base) = (f.bank, urls[f.bank].clone());
        let bank_name = scenario.banks[bank].name.clone();
        let client_cfg = scenario.platforms[f.platform].client.clone();
        let clock_scale = scales[bank];
        tasks.spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(si as u64 + 1);
            let mut requests = tokio::task::JoinSet::new();
            let mut next = start;
            loop {
                let u: f64 = rng.random();
                next += Duration::from_secs_f64(-(1.0 - u).ln() / rate);
                // Woken at least every 50 ms, so that Ctrl-C stops a slow source at once rather
                // than at its next arrival.
                while !stop.load(Ordering::Relaxed) && next < end && tokio::time::Instant::now() < next {
                    tokio::time::sleep_until(next.min(tokio::time::Instant::now() + STOP_POLL)).await;
                }
                if next >= end || stop.load(Ordering::Relaxed) {
                    break;
                }
                let tokens = &access[fi];
                let c = rng.random_range(0..tokens.len());
                let token = tokens[c].clone();
                let sim_now_ms = (next - start).as_secs_f64() * clock_scale * 1e3;
                let url = match item.kind {
                    RequestKind::BalanceLookup => format!("{base}/accounts/chk-{bank_name}-{c}/balances"),
                    RequestKind::Accounts => format!("{base}/accounts"),
                    _ => {
                        let to = (sim_now_ms as u64).max(item.window.as_millis() as u64);
                        let from = to - item.window.as_millis() as u64;
                        format!(
                            "{base}/accounts/card-{bank_name}-{c}/transactions?fromBookingDateTime={}&toBookingDateTime={}",
                            calendar_text(from),
                            calendar_text(to)
                        )
                    }
                };
                let (client, latency, in_flight, cfg, slots, ledgers) = (
                    client.clone(),
                    latency.clone(),
                    in_flight.clone(),
                    client_cfg.clone(),
                    slots.clone(),
                    ledgers.clone(),
                );
                let purpose_id = item.purpose;
                let customer = c as u64;
                let sim_ms = sim_now_ms as u64;
                let intended = next;
                let kind = item.kind;
                latency.lock().unwrap_or_else(|e| e.into_inner()).entry((bank, kind)).or_insert_with(|| (0, LatencyRecorder::default())).0 += 1;
                let purpose = item.purpose.as_str();
                in_flight.fetch_add(1, Ordering::Relaxed);
                requests.spawn(async move {
                    let mut attempt = 0;
                    let outcome = loop {
                        // A slot per attempt: a request waiting out a Retry-After holds none.
                        let slot = slots.acquire().await;
                        let sent = tokio::time::Instant::now();
                        let r = tokio::time::timeout(
                            cfg.timeout,
                            client.send(hyper::Method::GET, &url, Some(&token), &[("x-purpose", purpose)], None),
                        )
                        .await;
                        let (kind_of_error, wait) = match r {
                            Ok(Ok(a)) if a.status.is_success() => {
                                count_received(&ledgers[fi], &a.body, sim_ms, customer, purpose_id);
                                break Ok(());
                            }
                            Ok(Ok(a)) if a.status.as_u16() == 429 => {
                                (RequestError::RateLimited, Duration::from_secs(a.retry_after.unwrap_or(1)))
                            }
                            Ok(Ok(a)) if a.status.as_u16() == 503 => {
                                (RequestError::Unavailable, workload::backoff(&cfg, attempt))
                            }
                            Ok(Ok(a)) if a.status.is_server_error() => {
                                (RequestError::ServerError, workload::backoff(&cfg, attempt))
                            }
                            Ok(Ok(a)) => break Err(RequestError::Refused(a.status.as_u16().to_string())),
                            Ok(Err(_)) => (RequestError::Transport, workload::backoff(&cfg, attempt)),
                            Err(_) => (RequestError::Timeout, workload::backoff(&cfg, attempt)),
                        };
                        let _ = sent;
                        drop(slot);
                        if !workload::may_retry(&cfg, attempt) {
                            break Err(kind_of_error);
                        }
                        {
                            let mut l = latency.lock().unwrap_or_else(|e| e.into_inner());
                            let rec = &mut l.entry((bank, kind)).or_insert_with(|| (0, LatencyRecorder::default())).1;
                            rec.error(&kind_of_error);
                            rec.retried();
                        }
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                    };
                    let mut l = latency.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = l.entry((bank, kind)).or_insert_with(|| (0, LatencyRecorder::default()));
                    match outcome {
                        Ok(()) => entry.1.record(intended.elapsed()),
                        Err(kind) => entry.1.error(&kind),
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
                // Reap finished requests so the set does not grow without bound.
                while requests.try_join_next().is_some() {}
            }
            while requests.join_next().await.is_some() {}
        });
    }
    // Wait for the sources to finish; after the end of the run or an interruption, give
    // requests in flight `drain` more, then leave them.
    let mut deadline = end + opts.drain;
    let mut finished = true;
    // When the load stopped: the end of the run, or (within 50 ms) when Ctrl-C was seen.
    let mut stopped_at = None;
    loop {
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(tokio::time::Instant::now().min(end));
        }
        match tokio::time::timeout(Duration::from_millis(50), tasks.join_next()).await {
            Ok(None) => break,
            Ok(Some(_)) => {}
            Err(_) => {
                let now = tokio::time::Instant::now();
                if stop.load(Ordering::Relaxed) {
                    deadline = deadline.min(now + opts.drain);
                }
                if now >= deadline {
                    finished = false;
                    tasks.abort_all();
                    break;
                }
            }
        }
    }
    if let Some((server, _)) = callback {
        server.shutdown().await;
    }
    let counters: Vec<_> =
        counters_before.iter().zip(read_counters(&client, urls).await).map(|(a, b)| a.zip(b)).collect();
    let mut map = std::mem::take(&mut *latency.lock().unwrap_or_else(|e| e.into_inner()));
    count_dropped_alerts(&mut map, &counters);
    let ledgers = Arc::try_unwrap(ledgers).unwrap_or_else(|shared| {
        // A request left in flight after the drain still holds the ledgers: copy them out.
        shared.iter().map(|l| Mutex::new(l.lock().unwrap_or_else(|e| e.into_inner()).clone())).collect()
    });
    Observed {
        latency: map,
        finished: finished && in_flight.load(Ordering::Relaxed) == 0,
        ledgers,
        permissions,
        wall: stopped_at.unwrap_or(end) - start,
        pace,
        paced,
        counters,
    }
}

/// Starts the callback and subscribes it at the bank of every flow in `alert_flows`; returns
/// the server and the subscriptions made (URL, agreement token), or `None` when there is
/// nothing to subscribe to. A refused subscription shows as an error in the flow's
/// `fraud_alert` row. Each notification is counted in its flow's ledger and its latency
/// recorded from the booking that raised it (`TimeOfEventUnixMicros`: bank and platform share
/// the machine's clock, as callbacks are on loopback).
#[allow(clippy::too_many_arguments)]
async fn subscribe_to_alerts(
    client: &HttpClient,
    urls: &[String],
    flows: &[LiveFlow],
    alert_flows: &[(usize, Purpose, f64)],
    cap: f64,
    consent_customers: Vec<BTreeMap<String, u64>>,
    (latency, ledgers): (Arc<Mutex<LatencyMap>>, Arc<Vec<Mutex<PairLedger>>>),
    (start, scales): (tokio::time::Instant, Vec<f64>),
) -> Option<(CallbackServer, Arc<Vec<(String, String)>>)> {
    if alert_flows.is_empty() {
        return None;
    }
    let banks: Vec<usize> = flows.iter().map(|f| f.bank).collect();
    let mut purposes = vec![Purpose::FraudAlerts; flows.len()];
    for &(fi, purpose, _) in alert_flows {
        purposes[fi] = purpose;
    }
    let record_latency = latency.clone();
    let on_notification: OnNotification = Arc::new(move |fi: usize, body: &[u8]| {
        let received = SystemTime::now();
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return };
        let (Some(toe), Some(ledger)) = (v["TimeOfEventUnixMicros"].as_u64(), ledgers.get(fi)) else { return };
        let Some(&customer) = v["ConsentId"].as_str().and_then(|id| consent_customers.get(fi)?.get(id)) else {
            return;
        };
        let booked = SystemTime::UNIX_EPOCH + Duration::from_micros(toe);
        let sim_ms = (start.elapsed().as_secs_f64() * scales[banks[fi]] * 1e3) as u64;
        count_received(ledger, body, sim_ms, customer, purposes[fi]);
        let mut l = record_latency.lock().unwrap_or_else(|e| e.into_inner());
        let entry = l.entry((banks[fi], RequestKind::FraudAlert)).or_insert_with(|| (0, LatencyRecorder::default()));
        entry.0 += 1;
        entry.1.record(received.duration_since(booked).unwrap_or_default());
    });
    let server = CallbackServer::start(on_notification).await.ok()?;
    let mut subscriptions = Vec::new();
    for &(fi, _, rate) in alert_flows {
        let f = &flows[fi];
        let mut data = json!({"CallbackUrl": server.url(fi), "EventTypes": ["fraud_alert"]});
        // The run's pace (and so --max-rate) covers pushed alerts too: the bank drops those beyond
        // twice the planned mean rate (room for the busy hours of the day), or 10 a second,
        // whichever is more (a few a second are no flood, and Poisson bursts of them are common).
        data["MaxEventsPerSecond"] = json!((2.0 * rate * cap).ceil().clamp(10.0, f64::from(u32::MAX)) as u32);
        let url = format!("{}/event-subscriptions", urls[f.bank]);
        let refused = match client.post_json(&url, Some(&f.token), &json!({ "Data": data })).await {
            Ok((status, v)) if status.is_success() => match v["Data"]["EventSubscriptionId"].as_str() {
                Some(id) => {
                    subscriptions.push((format!("{url}/{id}"), f.token.clone()));
                    continue;
                }
                None => RequestError::Refused("no_subscription_id".into()),
            },
            Ok((status, _)) => RequestError::Refused(status.as_u16().to_string()),
            Err(_) => RequestError::Transport,
        };
        let mut l = latency.lock().unwrap_or_else(|e| e.into_inner());
        l.entry((f.bank, RequestKind::FraudAlert)).or_insert_with(|| (0, LatencyRecorder::default())).1.error(&refused);
    }
    Some((server, Arc::new(subscriptions)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP bank_workers Workers.\n# TYPE bank_workers gauge\nbank_workers{bank=\"b\"} 8\n\
        bank_requests_admitted_total{bank=\"b\"} 100\nbank_queue_wait_seconds_total{bank=\"b\"} 0.5\n\
        bank_worker_busy_seconds_total{bank=\"b\"} 2.0\n\
        bank_alerts_dropped_total{bank=\"b\",reason=\"slow_callback\"} 3\n\
        bank_alerts_dropped_total{bank=\"b\",reason=\"max_events_per_second\"} 7\n";

    #[test]
    fn a_banks_metrics_give_its_counters_and_a_server_without_them_gives_none() {
        let at = tokio::time::Instant::now();
        let c = parse_counters(METRICS, at).expect("all counters present");
        assert_eq!((c.workers, c.admitted, c.wait_s, c.busy_s), (8.0, 100.0, 0.5, 2.0));
        assert_eq!((c.dropped_slow_callback, c.dropped_over_rate), (3.0, 7.0));
        assert!(parse_counters("# nothing here\nup 1\n", at).is_none());
        let without_queue: String = METRICS.lines().filter(|l| !l.contains("busy")).map(|l| format!("{l}\n")).collect();
        assert!(parse_counters(&without_queue, at).is_none());
    }

    #[test]
    fn alerts_a_bank_dropped_count_in_its_fraud_alert_row_as_sent_and_failed() {
        let at = tokio::time::Instant::now();
        let before = parse_counters(METRICS, at).unwrap();
        let after = BankCounters { dropped_slow_callback: 5.0, dropped_over_rate: 17.0, ..before };
        let mut map = LatencyMap::new();
        let mut received = LatencyRecorder::default();
        received.record(Duration::from_millis(2));
        map.insert((0, RequestKind::FraudAlert), (1, received));
        // Bank 1 has no fraud_alert row (no subscription): nothing is added for it.
        count_dropped_alerts(&mut map, &[Some((before, after)), Some((before, after))]);
        let (sent, rec) = &map[&(0, RequestKind::FraudAlert)];
        assert_eq!(*sent, 1 + 2 + 10);
        let errors = rec.summary(Duration::from_secs(1)).errors;
        assert_eq!(errors.get("dropped:slow_callback"), Some(&2));
        assert_eq!(errors.get("dropped:max_events_per_second"), Some(&10));
        assert_eq!(map.len(), 1);
    }
}
