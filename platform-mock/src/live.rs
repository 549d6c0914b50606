//! The platform live: negotiation with bank servers over real HTTP, then the scenario's workload
//! as open-model load against them.
//!
//! The negotiation keeps the virtual-time schedule of `testbed_core::session` with every bank
//! decision made by its server over HTTP, so the outcomes equal the virtual run's for the same
//! seed. The data phase is real open-model load: requests leave at their scheduled (Poisson)
//! times whether or not earlier ones have returned, and latency is measured from those intended
//! times. Each bank's data phase is compressed into the run's `duration` as far as 80% of the
//! bank's rate limit and `max_rate` requests per second in total allow (`testbed_core::pace`); a bank held
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

use crate::aggregator::{Relay, RelayRoute};
use crate::alerts::{CallbackServer, OnNotification};
use crate::bank_api::{Asking, BankApi, Failed, OAuthClient};
use crate::bank_metrics::{BankCounters, count_dropped_alerts, queue_figures, read_counters};
use crate::client::{ClientError, HttpClient};
use crate::received::{Shapes, count_received};
use crate::remote::HttpBanks;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use testbed_core::SimTime;
use testbed_core::exposure::PairLedger;
use testbed_core::pace::{Calendar, Pace, PaceLimits, pace};
use testbed_core::report::{
    BankTally, DataPart, FlowTally, LatencyTable, LatencyTally, LivePace, Mode, NegotiationPart, Report, Revocation,
    RunMeta, TimelineEntry, Tool, assemble, data_report,
};
use testbed_core::scenario::{BankId, Design, PlatformId, RequestKind, Scenario};
use testbed_core::session::{Agreement, negotiate};
use testbed_core::terms::{Purpose, Terms};
use testbed_core::wire::{ApiProfile, EventNotification, SubscriptionData, carried_fields, data_path, permissions_for};
use testbed_core::workload::{self, Abandoned, EventType, FlowPlan, Sources};

#[derive(Clone)]
pub struct LiveOptions {
    /// Wall-clock length of the data phase.
    pub duration: Duration,
    /// Ceiling on the total request rate (requests per second).
    pub max_rate: f64,
    /// Most customers an agreement may link (one consent each, created before the data phase);
    /// a scenario linking more is refused.
    pub max_customers: u64,
    /// How long to wait for requests still in flight when the run stops.
    pub drain: Duration,
    /// Most requests in flight at once; a request waiting for a slot still counts its latency
    /// from its intended send time.
    pub max_in_flight: usize,
    /// Compress each bank's phase into `duration` even beyond the share of its rate limit and
    /// capacity the platform plans to use (`testbed_core::pace`): an overload test.
    pub ignore_rate_limits: bool,
    /// The data API the banks speak (`bank-mock serve --api`): the paths asked, the shapes read,
    /// and how customers link.
    pub api: ApiProfile,
    /// Under a standard profile, each platform's OAuth client at each bank it talks to, by
    /// (platform, bank): as `bank-mock serve` prints them.
    pub oauth_clients: OAuthClients,
    /// The banks were started holding the scenario's agreements (`bank-mock serve --agreed`):
    /// the negotiation is not held over HTTP but run here in virtual time, as the banks ran it,
    /// and data flows under the agreement tokens they printed (by (platform, bank); under a
    /// standard profile the client-credentials grant gives them instead, and this may be empty).
    pub agreed: Option<AgreementTokens>,
}

/// Agreement tokens by (platform, bank) index of the scenario, as `bank-mock serve --agreed`
/// prints them.
pub type AgreementTokens = BTreeMap<(PlatformId, BankId), String>;

/// The platforms' OAuth clients at the banks, by (platform, bank) index of the scenario.
pub type OAuthClients = BTreeMap<(PlatformId, BankId), OAuthClient>;

impl LiveOptions {
    /// What the run allows the pace of its banks' data phases (`testbed_core::pace`).
    pub fn pace_limits(&self) -> PaceLimits {
        PaceLimits { duration: self.duration, max_rate: self.max_rate, ignore_rate_limits: self.ignore_rate_limits }
    }
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            duration: Duration::from_secs(10),
            max_rate: 20_000.0,
            max_customers: 20_000,
            drain: Duration::from_secs(3),
            max_in_flight: 256,
            ignore_rate_limits: false,
            api: ApiProfile::Testbed,
            oauth_clients: OAuthClients::new(),
            agreed: None,
        }
    }
}

/// The platforms' client credentials at the banks, by (platform, bank) index of the scenario:
/// what each bank issued each platform it negotiates with, out of band (`bank-mock serve` prints
/// them), and the platform presents to open a negotiation.
pub type ClientTokens = BTreeMap<(PlatformId, BankId), String>;

/// What a caller that runs the banks itself (in this process) can do that a remote client
/// cannot: read their ledgers, and set their calendars to the pace of the data phase.
pub trait InProcessBanks {
    /// A bank's own exposure ledger for a platform (by bank index and platform name).
    fn ledger(&self, bank: BankId, platform: &str) -> Option<PairLedger>;
    /// Restart the bank's calendar: from now on it reads `origin` and runs `scale` simulated
    /// seconds per wall-clock second.
    fn start_data_phase(&self, bank: BankId, origin: SimTime, scale: f64);
}

/// Runs `scenario` live against the bank servers at `urls` (one base URL per bank of the
/// scenario, in its order), opening each negotiation with the platform's client token at that
/// bank (one per platform and bank it negotiates with). `stop` ends the data phase early (Ctrl-C); the report then says it
/// is incomplete. With `in_process`, exposure comes from the banks' ledgers and their calendars
/// follow the pace of the data phase; without, exposure is what the platform received, and
/// remote banks keep their own calendars (`bank-mock serve --time-scale`). The report names
/// `tool` as the one that ran and has the scenario's thresholds checked.
pub fn run(
    scenario: Arc<Scenario>,
    urls: &[String],
    client_tokens: &ClientTokens,
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    in_process: Option<&dyn InProcessBanks>,
    tool: Tool,
) -> Result<Report, ClientError> {
    if urls.len() != scenario.banks.len() {
        return Err(ClientError::Live(format!(
            "{} bank URLs for the {} banks of the scenario",
            urls.len(),
            scenario.banks.len()
        )));
    }
    // Requests name customers the platform linked, one consent each: a run links them all
    // before the data phase, so that it sends the virtual run's schedule, up to a bound.
    if let Some(why) = testbed_core::budget::too_many_customers(&scenario, opts.max_customers) {
        return Err(ClientError::Live(why));
    }
    for (pi, p) in scenario.platforms_by_id() {
        if let Some(&bi) = p.banks.iter().find(|&&bi| opts.agreed.is_none() && !client_tokens.contains_key(&(pi, bi))) {
            return Err(ClientError::Live(format!(
                "no client token for platform `{}` at bank `{}`",
                p.name, scenario.banks[bi].name
            )));
        }
        if opts.api.is_standard()
            && let Some(&bi) = p.banks.iter().find(|&&bi| !opts.oauth_clients.contains_key(&(pi, bi)))
        {
            return Err(ClientError::Live(format!(
                "--api {}: no OAuth client for platform `{}` at bank `{}`",
                opts.api.as_str(),
                p.name,
                scenario.banks[bi].name
            )));
        }
    }
    if let Some(why) = opts.api.refusal(&scenario, |_| true) {
        return Err(ClientError::Live(why));
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
    let client = HttpClient::default();
    rt.block_on(preflight(&client, &scenario, urls, opts))?;
    let (negotiation, agreements, tokens) = match &opts.agreed {
        Some(held) => agreed_session(&scenario, held, opts.api)?,
        None => {
            let mut banks = HttpBanks::new(&rt, &scenario, urls, client_tokens);
            let session = negotiate(&scenario, Some(&mut banks));
            if let Some(e) = banks.refused.take() {
                return Err(e);
            }
            if let Some(e) = banks.error.take() {
                return Err(ClientError::Live(format!("negotiation failed: {e}")));
            }
            (session.negotiation, session.agreements, banks.tokens.clone())
        }
    };

    let mut complete = true;
    let mut data_part = None;
    if scenario.data.is_some() {
        let mut flows = live_flows(&agreements, &tokens);
        if opts.api.is_standard() {
            // The standard's consent step is authorised with the client-credentials token: it
            // also proves the OAuth client before any customer links.
            for f in &mut flows {
                let bank = bank_api(&client, urls, opts, f.platform, f.bank);
                f.token = rt.block_on(bank.client_credentials()).map_err(|why| ClientError::GrantRefused {
                    platform: scenario.platforms[f.platform].name.clone(),
                    bank: scenario.banks[f.bank].name.clone(),
                    why,
                })?;
            }
        }
        let observed = rt.block_on(load(&scenario, urls, &flows, opts, stop.clone(), in_process));
        let (latency, wall, pace) = (observed.latency, observed.wall, observed.pace);
        // Incomplete: interrupted, or some scheduled requests were abandoned (each row says how
        // many and why).
        let abandoned: u64 = latency.iter().map(|(_, row)| row.recorder.summary(wall).abandoned_total()).sum();
        // ... or the bank refused to link customers the platform asked for.
        let refused: u64 = observed.consents_refused.iter().sum();
        complete = !stop.load(Ordering::Relaxed) && observed.finished && abandoned == 0 && refused == 0;
        let interrupted = stop.load(Ordering::Relaxed);
        let (mut revocations, mut timeline, mut ended) = (Vec::new(), Vec::new(), Vec::new());
        for f in &flows {
            let platform = &scenario.platforms[f.platform].name;
            // A bank's audit revocation ends the flow where the virtual run ends it.
            let fi = ended.len();
            let revoked = observed.revocations[fi].as_ref().map(|(reading, clause, why)| {
                let calendar = observed.calendars[fi];
                let at = calendar.time_of(*reading);
                let revocation = Revocation { at_ms: at.as_millis(), clause: clause.clone(), reason: why.clone() };
                let entry =
                    TimelineEntry::revocation(revocation.at_ms, platform, &scenario.banks[f.bank].name, clause, why);
                timeline.push(entry);
                revocations.push((f.pair, revocation));
                calendar.wall_ms(at, pace.of(f.bank).scale, wall.as_millis() as u64)
            });
            ended.push(revoked);
        }
        // What each platform received: by the banks' own ledgers when they run here, else as
        // the platform counted the responses.
        let ledgers: Vec<PairLedger> = (flows.iter().enumerate())
            .map(|(fi, f)| {
                let platform = &scenario.platforms[f.platform].name;
                in_process
                    .and_then(|banks| banks.ledger(f.bank, platform))
                    .unwrap_or_else(|| observed.ledgers[fi].lock().unwrap_or_else(|e| e.into_inner()).clone())
            })
            .collect();
        let tallies: Vec<FlowTally<'_>> = (flows.iter().enumerate())
            .map(|(fi, f)| FlowTally {
                platform: f.platform,
                bank: f.bank,
                started_at_ms: 0,
                ended_at_ms: ended[fi].unwrap_or(wall.as_millis() as u64),
                ended_by: match (ended[fi], interrupted) {
                    (Some(_), _) => workload::EndedBy::Revoked,
                    (None, true) => workload::EndedBy::Interrupted,
                    (None, false) => workload::EndedBy::PhaseOver,
                },
                terms: &f.terms,
                permissions: observed.permissions[fi].clone(),
                consents_refused: observed.consents_refused[fi],
                requests: observed.flow_requests[fi],
                ledger: &ledgers[fi],
                relay: observed.relayed[fi].as_ref(),
                pushed: observed.flow_pushed[fi],
            })
            .collect();
        let banks: Vec<BankTally> = (scenario.bank_ids())
            .map(|bi| {
                let queue = observed.counters[bi.index()].map(queue_figures);
                BankTally {
                    // As in virtual mode: requests the bank admitted to its queue, by its own
                    // count; for a bank that does not publish it, the platform's answered pulls.
                    requests_served: match observed.counters[bi.index()] {
                        Some((before, after)) => (after.admitted - before.admitted).max(0.0) as u64,
                        None => (latency.iter())
                            .filter(|((b, kind), _)| *b == bi && *kind != RequestKind::FraudAlert)
                            .map(|(_, row)| row.recorder.count())
                            .sum(),
                    },
                    mean_wait_ms: queue.map(|q| q.0),
                    mean_in_system: queue.map(|q| q.1),
                    utilisation: queue.map(|q| q.2),
                }
            })
            .collect();
        let rows = latency.rows(&scenario, |_| wall);
        let live = LivePace { api: opts.api, ..pace.covered(&scenario, &observed.paced, wall) };
        let (report, designs) = data_report(&scenario, &tallies, &banks, rows, Some(live));
        data_part = Some(DataPart { report, revocations, timeline, designs });
    }
    rt.shutdown_timeout(opts.drain);
    let meta = RunMeta { tool, mode: Mode::Live, complete };
    Ok(assemble(meta, negotiation, data_part, &scenario.thresholds))
}

/// What is checked at the banks before any negotiation, so that a mistake changes nothing
/// there: each bank speaks the run's profile; under a standard, each OAuth client is known;
/// against banks started `--agreed`, each agreement token is the bank's own.
async fn preflight(
    client: &HttpClient,
    scenario: &Scenario,
    urls: &[String],
    opts: &LiveOptions,
) -> Result<(), ClientError> {
    for b in scenario.bank_ids() {
        let bank = BankApi::speaking(client.clone(), urls[b.index()].clone(), opts.api, None);
        if bank.speaks_profile().await == Some(false) {
            return Err(ClientError::ProfileNotSpoken {
                bank: scenario.banks[b].name.clone(),
                url: urls[b.index()].clone(),
                api: opts.api.as_str(),
            });
        }
    }
    if opts.api.is_standard() {
        for (pi, p) in scenario.platforms_by_id() {
            for &bi in &p.banks {
                if bank_api(client, urls, opts, pi, bi).knows_client().await == Some(false) {
                    let (platform, bank) = (p.name.clone(), scenario.banks[bi].name.clone());
                    return Err(ClientError::OAuthClientRefused { platform, bank });
                }
            }
        }
    }
    for ((pi, bi), token) in opts.agreed.iter().flatten() {
        let bank = BankApi::new(client.clone(), urls[bi.index()].clone());
        if bank.knows_token(token).await == Some(false) {
            return Err(ClientError::AgreementTokens(format!(
                "bank `{}` refused platform `{}`'s agreement token `{token}`: give the one its `bank-mock serve --agreed` printed",
                scenario.banks[*bi].name, scenario.platforms[*pi].name
            )));
        }
    }
    Ok(())
}

/// A negotiation phase's part of the report, its agreements by pair, and their tokens by pair.
type Negotiated = (NegotiationPart, Vec<(usize, Agreement)>, BTreeMap<usize, String>);

/// The session of banks started `--agreed`: the scenario's negotiation in virtual time (what
/// `bank-mock serve --agreed` ran at start), with each agreement's token from `held` (under a
/// standard profile, the client-credentials grant gives it later).
fn agreed_session(scenario: &Scenario, held: &AgreementTokens, api: ApiProfile) -> Result<Negotiated, ClientError> {
    let session = negotiate(scenario, None);
    let mut tokens = BTreeMap::new();
    for (pair, a) in session.agreements.iter().filter(|(_, a)| a.revoked_at.is_none()) {
        let token = match held.get(&(a.platform, a.bank)) {
            Some(t) => t.clone(),
            None if api.is_standard() => String::new(),
            None => {
                return Err(ClientError::AgreementTokens(format!(
                    "no agreement token for platform `{}` at bank `{}`, which the scenario's negotiation agrees (its `bank-mock serve --agreed` prints it)",
                    scenario.platforms[a.platform].name, scenario.banks[a.bank].name
                )));
            }
        };
        tokens.insert(*pair, token);
    }
    if let Some((p, b)) =
        held.keys().find(|(p, b)| !session.agreements.iter().any(|(_, a)| (a.platform, a.bank) == (*p, *b)))
    {
        return Err(ClientError::AgreementTokens(format!(
            "platform `{}` reaches no agreement with bank `{}` in the scenario's negotiation: no agreement token is wanted there",
            scenario.platforms[*p].name, scenario.banks[*b].name
        )));
    }
    Ok((session.negotiation, session.agreements, tokens))
}

/// How long the tasks cut off at the end of the drain get to count themselves.
const CUT_GRACE: Duration = Duration::from_secs(2);

/// How often a waiting source looks whether the run was stopped.
const STOP_POLL: Duration = Duration::from_millis(50);

struct LiveFlow {
    /// The negotiation's index in the session's report.
    pair: usize,
    platform: PlatformId,
    bank: BankId,
    /// When the agreement was reached: simulated time zero of the flow's live data phase.
    start: SimTime,
    token: String,
    terms: testbed_core::terms::Terms,
}

/// What the platform saw in the data phase.
struct Observed {
    /// Requests and latency per (bank, kind).
    latency: LatencyTable,
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
    /// Per flow: the bank's revocation of the agreement during the phase (ms on the bank's
    /// calendar, clause, reason).
    revocations: Vec<Option<(u64, String, String)>>,
    /// Per flow: requests scheduled under it (pulls) and alerts received.
    flow_requests: Vec<u64>,
    /// Per flow: events the bank pushed that the platform received.
    flow_pushed: Vec<u64>,
    /// Per flow under an aggregator design: what the aggregator received while relaying.
    relayed: Vec<Option<PairLedger>>,
    /// Per flow: customers the bank refused to link.
    consents_refused: Vec<u64>,
    /// Per flow: how its simulated times read on its bank's calendar.
    calendars: Vec<Calendar>,
}

/// Consents created at once while linking customers.
const LINKING_CONCURRENCY: usize = 32;

/// Per flow, what linking its customers gave.
struct Linking {
    /// Each customer's access token (`None` where the bank refused or was not asked).
    access: Vec<Vec<Option<String>>>,
    /// The permissions the bank granted.
    permissions: Vec<Vec<String>>,
    /// Whom each consent is for (to tell whom a pushed alert is about).
    consent_customers: Vec<BTreeMap<String, u64>>,
    /// Customers the bank refused to link.
    refused: Vec<u64>,
}

/// Links every customer of every flow: one consent (and access token) each.
async fn link_customers(
    client: &HttpClient,
    scenario: &Scenario,
    urls: &[String],
    flows: &[LiveFlow],
    opts: &LiveOptions,
    stop: &AtomicBool,
) -> Linking {
    let (mut access, mut permissions, mut consent_customers, mut refusals) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in flows {
        let linked = scenario.linked_customers(f.platform, f.bank, f.terms.consent_mode);
        let bank = bank_api(client, urls, opts, f.platform, f.bank);
        let asked = Arc::new(permissions_for(&f.terms));
        let mut tokens: Vec<Option<String>> = vec![None; linked as usize];
        let mut granted = Vec::new();
        let mut customers = BTreeMap::new();
        let mut pending = tokio::task::JoinSet::new();
        let (mut next, mut refused) = (0u64, 0u64);
        while (next < linked || !pending.is_empty()) && !stop.load(Ordering::Relaxed) {
            while next < linked && pending.len() < LINKING_CONCURRENCY {
                let (bank, token, c, asked) = (bank.clone(), f.token.clone(), next, asked.clone());
                pending.spawn(async move { (c, bank.link(&token, c, &asked).await) });
                next += 1;
            }
            let (c, linked) = match pending.join_next().await {
                Some(Ok((c, Some(linked)))) => (c, linked),
                Some(Ok((_, None))) => {
                    refused += 1;
                    continue;
                }
                _ => continue,
            };
            if granted.is_empty() {
                // The standards name some permissions the testbed's way only (off-platform
                // transactions): read the first consent back for them, by the testbed's names.
                granted = match opts.api {
                    ApiProfile::Testbed => linked.permissions,
                    _ => bank.permissions(&linked.consent_id, &linked.access_token).await.unwrap_or_default(),
                };
            }
            customers.insert(linked.consent_id, c);
            tokens[c as usize] = Some(linked.access_token);
        }
        access.push(tokens);
        permissions.push(granted);
        consent_customers.push(customers);
        refusals.push(refused);
    }
    Linking { access, permissions, consent_customers, refused: refusals }
}

/// The API of `bank` for `platform`, in the run's profile with the platform's OAuth client there.
fn bank_api(client: &HttpClient, urls: &[String], opts: &LiveOptions, platform: PlatformId, bank: BankId) -> BankApi {
    let oauth = opts.oauth_clients.get(&(platform, bank)).cloned();
    BankApi::speaking(client.clone(), urls[bank.index()].clone(), opts.api, oauth)
}

/// Requests and latency per (bank, kind), shared by the tasks that send them.
type SharedLatency = Arc<Mutex<LatencyTable>>;

/// Per flow: what the platform received, shared by the tasks that receive it.
type SharedLedgers = Arc<Vec<Mutex<PairLedger>>>;

fn with_row<T>(latency: &SharedLatency, key: (BankId, RequestKind), f: impl FnOnce(&mut LatencyTally) -> T) -> T {
    let mut l = latency.lock().unwrap_or_else(|e| e.into_inner());
    f(l.row(key.0, key.1, SimTime::ZERO))
}

/// A scheduled request until it ends: if its task is dropped first (the drain ended, the run
/// was cut short), it counts itself abandoned, so every request in a row ends somewhere.
struct Pending {
    latency: SharedLatency,
    key: (BankId, RequestKind),
    stop: Arc<AtomicBool>,
    in_flight: Arc<AtomicU64>,
    sent: bool,
    ended: bool,
}

impl Pending {
    fn end(mut self, f: impl FnOnce(&mut testbed_core::latency::LatencyRecorder)) {
        self.ended = true;
        with_row(&self.latency, self.key, |row| f(&mut row.recorder));
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.ended {
            let why = if self.sent {
                Abandoned::InFlightAtEnd
            } else if self.stop.load(Ordering::Relaxed) {
                Abandoned::Interrupted
            } else {
                Abandoned::Deadline
            };
            with_row(&self.latency, self.key, |row| row.recorder.abandoned(why));
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Everything one request task needs.
struct Send {
    client: HttpClient,
    url: String,
    token: String,
    purpose: Purpose,
    /// Ask for every field, beyond the consent (`X-Requested-Fields: *`).
    over_fetch: bool,
    /// Through an aggregator: the customer link the request is for (`X-Link-Customer`).
    via_relay: bool,
    cfg: testbed_core::scenario::ClientConfig,
    slots: Arc<tokio::sync::Semaphore>,
    ledger: Arc<Vec<Mutex<PairLedger>>>,
    /// How the bank's answers are read.
    shapes: Shapes,
    flow: usize,
    customer: u64,
    sim_ms: u64,
    intended: tokio::time::Instant,
}

/// A request not yet sent `now` whose intended time lies further back than the platform waits
/// for an answer is abandoned (`client_timeout`), whether the sender fell behind or all its
/// connections were busy: sending it would measure this machine, not the bank.
fn not_sent_in_time(
    intended: tokio::time::Instant,
    cfg: &testbed_core::scenario::ClientConfig,
    now: tokio::time::Instant,
) -> bool {
    now > intended + cfg.timeout
}

/// Sends one request, retrying as the platform's client policy says, and ends `pending` with
/// its outcome.
async fn send_request(r: Send, mut pending: Pending, revoked: &AtomicBool) {
    let mut attempt = 0;
    let outcome = loop {
        // A slot per attempt: a request waiting out a Retry-After holds none.
        let slot = r.slots.acquire().await;
        if attempt == 0 && not_sent_in_time(r.intended, &r.cfg, tokio::time::Instant::now()) {
            // The platform gave up before a connection was free.
            return pending.end(|rec| rec.abandoned(Abandoned::ClientTimeout));
        }
        pending.sent = true;
        let link = r.customer.to_string();
        let asking =
            Asking { purpose: r.purpose, over_fetch: r.over_fetch, link: r.via_relay.then_some(link.as_str()) };
        let Failed { error, retry_after, revoked: revoked_now } =
            match BankApi::data(r.shapes.api, &r.client, &r.url, &r.token, &asking, r.cfg.timeout).await {
                Ok(body) => {
                    count_received(&r.ledger[r.flow], &body, r.sim_ms, r.customer, r.purpose, r.shapes);
                    break Ok(());
                }
                Err(failed) => failed,
            };
        if revoked_now {
            revoked.store(true, Ordering::Relaxed);
        }
        drop(slot);
        let Some(wait) = workload::retry_wait(&r.cfg, attempt, &error, retry_after) else {
            break Err(error);
        };
        with_row(&pending.latency, pending.key, |row| {
            row.recorder.error(&error);
            row.recorder.retried();
        });
        attempt += 1;
        tokio::time::sleep(wait).await;
    };
    match outcome {
        Ok(()) => pending.end(|rec| rec.record(r.intended.elapsed())),
        Err(e) => pending.end(|rec| rec.error(&e)),
    }
}

/// The simulated data phase of each live flow: the agreement's window, as the virtual run has it.
fn flow_plans<'a>(scenario: &Scenario, flows: &'a [LiveFlow]) -> Vec<FlowPlan<'a>> {
    flows.iter().map(|f| FlowPlan::new(scenario, (f.platform, f.bank), &f.terms, f.start, None)).collect()
}

/// The request schedule a live run draws for `flows`: one `Sources` per flow, since each bank
/// runs its own calendar (the same streams, so the same draws, as the virtual run's).
fn live_sources(scenario: &Scenario, plans: &[FlowPlan<'_>]) -> Vec<Sources> {
    plans.iter().map(|p| Sources::new(scenario, std::slice::from_ref(p))).collect()
}

/// The agreements a live run sends data under: those not revoked during the negotiations.
fn live_flows(agreements: &[(usize, Agreement)], tokens: &BTreeMap<usize, String>) -> Vec<LiveFlow> {
    agreements
        .iter()
        .filter(|(_, a)| a.revoked_at.is_none())
        .filter_map(|(pair, a)| {
            tokens.get(pair).map(|t| LiveFlow {
                pair: *pair,
                platform: a.platform,
                bank: a.bank,
                start: a.at,
                token: t.clone(),
                terms: a.terms.clone(),
            })
        })
        .collect()
}

/// The request schedule a live run sends under `agreements` (those it sends data under, as
/// `run` picks them): one `Sources` per flow, with the flow's (platform, bank).
pub fn schedule(scenario: &Scenario, agreements: &[(usize, Agreement)]) -> Vec<((PlatformId, BankId), Sources)> {
    let tokens: BTreeMap<usize, String> = agreements.iter().map(|(pair, _)| (*pair, String::new())).collect();
    let flows = live_flows(agreements, &tokens);
    let plans = flow_plans(scenario, &flows);
    flows.iter().map(|f| (f.platform, f.bank)).zip(live_sources(scenario, &plans)).collect()
}

/// Links customers, then sends every flow's workload at its scheduled times for `opts.duration`.
async fn load(
    scenario: &Scenario,
    urls: &[String],
    flows: &[LiveFlow],
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    in_process: Option<&dyn InProcessBanks>,
) -> Observed {
    let client = HttpClient::default();
    let latency: SharedLatency = Arc::new(Mutex::new(LatencyTable::new(scenario.banks.len())));
    // A bank in this process runs its calendar from its earliest agreement, as the virtual
    // run's data phase starts there (so outages, days and hours fall alike); it is set before
    // customers link, so that their consents are made on the calendar the data flows on.
    let origins: Vec<SimTime> = (scenario.bank_ids())
        .map(|b| flows.iter().filter(|f| f.bank == b).map(|f| f.start).min().unwrap_or(SimTime::ZERO))
        .collect();
    let calendars: Vec<Calendar> = (flows.iter())
        .map(|f| match in_process {
            Some(_) => Calendar { zero: origins[f.bank.index()], absolute: true },
            None => Calendar { zero: f.start, absolute: false },
        })
        .collect();
    if let Some(banks) = in_process {
        for (bank, origin) in scenario.bank_ids().zip(&origins) {
            banks.start_data_phase(bank, *origin, 1.0);
        }
    }
    let Linking { access, permissions, consent_customers, refused } =
        link_customers(&client, scenario, urls, flows, opts, &stop).await;
    // Per flow, one consent to read back after the phase: a bank's audit revokes them all.
    let probes: Vec<Option<(String, String)>> = consent_customers
        .iter()
        .zip(&access)
        .map(|(ids, tokens)| {
            let (id, c) = ids.iter().next()?;
            Some((id.clone(), tokens[*c as usize].clone()?))
        })
        .collect();
    let plans = flow_plans(scenario, flows);
    let ledgers: Vec<Mutex<PairLedger>> = plans.iter().map(|p| Mutex::new(PairLedger::new(p.linked))).collect();
    // Paced on the flows that linked a customer: an agreement whose consents were all refused
    // sends nothing and takes no share of `max_rate`.
    let linked_flows: Vec<(PlatformId, BankId, &Terms)> = flows
        .iter()
        .zip(&access)
        .filter(|(_, a)| a.iter().any(Option::is_some))
        .map(|(f, _)| (f.platform, f.bank, &f.terms))
        .collect();
    let paced: Vec<bool> = (scenario.bank_ids()).map(|b| linked_flows.iter().any(|f| f.1 == b)).collect();
    let pace = pace(scenario, &linked_flows, &opts.pace_limits());
    let scales: Vec<f64> = pace.banks.iter().map(|b| b.scale).collect();
    // Flows whose bank pushes events: fraud alerts always, every polled kind under a push design.
    let mut alert_flows = Vec::new();
    for (fi, f) in flows.iter().enumerate() {
        let (platform, bank) = (&scenario.platforms[f.platform], &scenario.banks[f.bank]);
        let consents = access[fi].iter().filter(|t| t.is_some()).count() as u64;
        let events = workload::pushed_events(platform, bank, &f.terms, consents);
        if consents == 0 || events.is_empty() {
            continue;
        }
        // The events expected per wall second.
        let rate = workload::pushed_per_second(platform, bank, &f.terms, consents, &events) * scales[f.bank.index()];
        let events = events.iter().map(|&(e, wi)| (e, platform.workload[wi].kind, platform.workload[wi].purpose));
        alert_flows.push(Pushed { flow: fi, events: events.collect(), rate });
    }
    let relays = start_relays(scenario, urls, flows, (&plans, &scales, &consent_customers), &client, opts.api).await;
    let counters_before = read_counters(&client, urls).await;
    // The data phase starts now, on every calendar: the banks' and the platform's start within
    // microseconds of each other (a millisecond is minutes of simulated time at a high pace).
    if let Some(banks) = in_process {
        for (bank, scale) in scenario.bank_ids().zip(&scales) {
            banks.start_data_phase(bank, origins[bank.index()], *scale);
        }
    }
    let start = tokio::time::Instant::now();
    let end = start + opts.duration;
    let in_flight = Arc::new(AtomicU64::new(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.max_in_flight.max(1)));
    let (cut_tx, cut_rx) = tokio::sync::watch::channel(false);
    // Per flow: whether the bank revoked its consents (a 403 `consent_revoked` came back), and
    // the requests scheduled under it (pulls, and alerts received).
    let revoked: Arc<Vec<AtomicBool>> = Arc::new(flows.iter().map(|_| AtomicBool::new(false)).collect());
    let flow_requests: Arc<Vec<AtomicU64>> = Arc::new(flows.iter().map(|_| AtomicU64::new(0)).collect());
    let flow_pushed: Arc<Vec<AtomicU64>> = Arc::new(flows.iter().map(|_| AtomicU64::new(0)).collect());
    let mut tasks = tokio::task::JoinSet::new();
    let access = Arc::new(access);
    let ledgers = Arc::new(ledgers);
    let callback = subscribe_to_alerts(
        &client,
        urls,
        flows,
        alert_flows,
        consent_customers,
        (latency.clone(), ledgers.clone(), flow_requests.clone(), flow_pushed.clone()),
        (start, scales.to_vec(), calendars.clone()),
        &relays,
    )
    .await;
    if let Some((_, subscriptions)) = &callback {
        // At the end of the run (or on Ctrl-C) unsubscribe, so no new alerts are raised; those
        // already on their way are received during the drain.
        let (client, subscriptions, stop) = (client.clone(), subscriptions.clone(), stop.clone());
        let drain = opts.drain;
        tasks.spawn(async move {
            while tokio::time::Instant::now() < end && !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(STOP_POLL.min(end - tokio::time::Instant::now())).await;
            }
            for (url, token) in subscriptions.iter() {
                BankApi::unsubscribe(&client, url, token, drain).await;
            }
        });
    }
    for (fi, mut sources) in live_sources(scenario, &plans).into_iter().enumerate() {
        let f = &flows[fi];
        let (bank, scale, calendar) = (f.bank, scales[f.bank.index()], calendars[fi]);
        if access[fi].iter().all(Option::is_none) || scale <= 0.0 {
            continue;
        }
        let (base, via_relay) = match relays.iter().find(|(pi, _)| *pi == f.platform) {
            Some((_, relay)) => (relay.url(fi), true),
            None => (urls[bank.index()].clone(), false),
        };
        let bank_name = scenario.banks[bank].name.clone();
        let platform = scenario.platforms[f.platform].clone();
        let (api, agreed) = (opts.api, f.terms.allowed_fields());
        let (client, latency, access, stop, in_flight, slots, ledgers, cut) = (
            client.clone(),
            latency.clone(),
            access.clone(),
            stop.clone(),
            in_flight.clone(),
            slots.clone(),
            ledgers.clone(),
            cut_rx.clone(),
        );
        let (revoked, flow_requests) = (revoked.clone(), flow_requests.clone());
        tasks.spawn(async move {
            // Simulated time as wall time: the phase starts at the calendar's zero.
            let wall_of = |t: SimTime| start + Duration::from_secs_f64(t.since(calendar.zero).as_secs_f64() / scale);
            while let Some(t) = sources.peek_time() {
                let intended = wall_of(t);
                if intended >= end {
                    break; // past the part of the phase this run covers
                }
                // Woken at least every 50 ms, so that Ctrl-C stops a slow source at once.
                while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < intended {
                    tokio::time::sleep_until(intended.min(tokio::time::Instant::now() + STOP_POLL)).await;
                }
                if revoked[fi].load(Ordering::Relaxed) {
                    break; // the bank revoked the agreement: no more requests under it, as in virtual time
                }
                let (_, a) = sources.next().expect("an arrival is due");
                let item = &platform.workload[a.item];
                let key = (bank, a.kind);
                with_row(&latency, key, |row| row.requests += 1);
                flow_requests[fi].fetch_add(1, Ordering::Relaxed);
                let now = tokio::time::Instant::now();
                let why = if stop.load(Ordering::Relaxed) {
                    Some(Abandoned::Interrupted)
                } else if *cut.borrow() {
                    // The drain ended while this source was still behind: never sent.
                    Some(Abandoned::Deadline)
                } else if not_sent_in_time(intended, &platform.client, now) {
                    // The sender fell behind.
                    Some(Abandoned::ClientTimeout)
                } else if access[fi][a.customer as usize].is_none() {
                    Some(Abandoned::NoConsent)
                } else {
                    None
                };
                if let Some(why) = why {
                    with_row(&latency, key, |row| row.recorder.abandoned(why));
                    continue;
                }
                let sim_ms = calendar.reading(t);
                in_flight.fetch_add(1, Ordering::Relaxed);
                let pending = Pending {
                    latency: latency.clone(),
                    key,
                    stop: stop.clone(),
                    in_flight: in_flight.clone(),
                    sent: false,
                    ended: false,
                };
                let request = Send {
                    client: client.clone(),
                    url: format!("{base}{}", data_path(api, a.kind, &bank_name, a.customer, item.window, sim_ms)),
                    token: access[fi][a.customer as usize].clone().expect("checked above"),
                    purpose: item.purpose,
                    over_fetch: a.over_fetch,
                    via_relay,
                    cfg: platform.client.clone(),
                    slots: slots.clone(),
                    ledger: ledgers.clone(),
                    shapes: Shapes { api, agreed: agreed.intersect(carried_fields(a.kind)) },
                    flow: fi,
                    customer: a.customer,
                    sim_ms,
                    intended,
                };
                let (mut cut, revoked) = (cut.clone(), revoked.clone());
                tokio::spawn(async move {
                    // Cut off when the drain ends: dropping the request counts it abandoned.
                    tokio::select! {
                        () = send_request(request, pending, &revoked[fi]) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
    }
    // Wait for the sources to finish; then give requests in flight until `drain` after the end
    // of the run (or after Ctrl-C) and abandon the rest: each counts itself as it is dropped.
    let mut stopped_at = None;
    let mut deadline = end + opts.drain;
    loop {
        if stopped_at.is_none() && stop.load(Ordering::Relaxed) {
            stopped_at = Some(tokio::time::Instant::now().min(end));
            deadline = deadline.min(tokio::time::Instant::now() + opts.drain);
        }
        let now = tokio::time::Instant::now();
        let sources_done = tasks.is_empty();
        if (sources_done && in_flight.load(Ordering::Relaxed) == 0) || now >= deadline {
            break;
        }
        match tokio::time::timeout(STOP_POLL, tasks.join_next()).await {
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let finished = in_flight.load(Ordering::Relaxed) == 0;
    // Cut off what is left: a source still behind counts its remaining arrivals as never sent,
    // each request still waiting counts itself abandoned as it is dropped.
    let _ = cut_tx.send(true);
    let _ = tokio::time::timeout(CUT_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    abandon_left(&in_flight).await;
    if let Some((server, _)) = callback {
        server.shutdown().await;
    }
    let mut relayed: Vec<Option<PairLedger>> = vec![None; flows.len()];
    for (_, relay) in relays {
        for (fi, ledger) in relay.shutdown().await {
            relayed[fi] = Some(ledger);
        }
    }
    let counters: Vec<_> =
        counters_before.iter().zip(read_counters(&client, urls).await).map(|(a, b)| a.zip(b)).collect();
    let revocations = read_revocations(&client, urls, flows, &probes).await;
    let mut table = std::mem::take(&mut *latency.lock().unwrap_or_else(|e| e.into_inner()));
    count_dropped_alerts(&mut table, &counters);
    let ledgers = Arc::try_unwrap(ledgers).unwrap_or_else(|shared| {
        // A request left in flight after the drain still holds the ledgers: copy them out.
        shared.iter().map(|l| Mutex::new(l.lock().unwrap_or_else(|e| e.into_inner()).clone())).collect()
    });
    Observed {
        latency: table,
        finished,
        ledgers,
        permissions,
        wall: stopped_at.unwrap_or(end) - start,
        pace,
        paced,
        counters,
        revocations,
        flow_requests: flow_requests.iter().map(|n| n.load(Ordering::Relaxed)).collect(),
        flow_pushed: flow_pushed.iter().map(|n| n.load(Ordering::Relaxed)).collect(),
        relayed,
        consents_refused: refused,
        calendars,
    }
}

/// Starts the relay of every platform with an aggregator design (`aggregator`), with a route
/// per agreement of the platform; by platform.
async fn start_relays(
    scenario: &Scenario,
    urls: &[String],
    flows: &[LiveFlow],
    (plans, scales, consents): (&[FlowPlan<'_>], &[f64], &[BTreeMap<String, u64>]),
    client: &HttpClient,
    api: ApiProfile,
) -> Vec<(PlatformId, Relay)> {
    let mut relays = Vec::new();
    for (pi, p) in scenario.platforms_by_id() {
        let Design::Aggregator(config) = &p.design else { continue };
        let routes = (flows.iter().enumerate())
            .filter(|(_, f)| f.platform == pi)
            .map(|(fi, f)| {
                let events_purpose = (p.workload.iter())
                    .find(|w| w.kind == RequestKind::FraudAlert)
                    .map_or(Purpose::FraudAlerts, |w| w.purpose);
                let route = RelayRoute {
                    bank: urls[f.bank.index()].clone(),
                    ledger: Mutex::new(PairLedger::new(plans[fi].linked)),
                    scale: scales[f.bank.index()],
                    consents: consents[fi].clone(),
                    events_purpose,
                    hook: std::sync::OnceLock::new(),
                    shapes: Shapes { api, agreed: f.terms.allowed_fields() },
                };
                (fi, route)
            })
            .collect();
        if let Ok(relay) = Relay::start(config, routes, scenario.seed, &p.name, client.clone()).await {
            relays.push((pi, relay));
        }
    }
    relays
}

/// A bank's revocation of a flow's agreement during the data phase, read back from one of its
/// consents (`GET /account-access-consents/{id}`): when on the bank's calendar, over which
/// clause, why. One way for in-process and remote banks.
async fn read_revocations(
    client: &HttpClient,
    urls: &[String],
    flows: &[LiveFlow],
    probes: &[Option<(String, String)>],
) -> Vec<Option<(u64, String, String)>> {
    let mut out = Vec::new();
    for (f, probe) in flows.iter().zip(probes) {
        let bank = BankApi::new(client.clone(), urls[f.bank.index()].clone());
        out.push(match probe {
            Some((id, token)) => bank.revocation(id, token, Duration::from_secs(2)).await,
            None => None,
        });
    }
    out
}

/// Waits (briefly) for the request tasks cut off at the end of the drain to count themselves
/// abandoned, so that their counts are in before the report is made.
async fn abandon_left(in_flight: &AtomicU64) {
    let give_up = tokio::time::Instant::now() + CUT_GRACE;
    while in_flight.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A flow whose bank pushes events: each event type with the request kind whose row it counts
/// in and the purpose it serves, and the events expected per wall second.
struct Pushed {
    flow: usize,
    events: Vec<(EventType, RequestKind, Purpose)>,
    rate: f64,
}

/// Starts the callback and subscribes it at the bank of every flow in `alert_flows`; returns
/// the server and the subscriptions made (URL, agreement token), or `None` when there is
/// nothing to subscribe to. A refused subscription shows as an error in the rows of the flow's
/// pushed kinds. Each notification is counted in its flow's ledger and its latency recorded,
/// in the row of the kind its event replaces, from the booking that raised it
/// (`TimeOfEventUnixMicros`: bank and platform share the machine's clock, as callbacks are on
/// loopback).
#[allow(clippy::too_many_arguments)]
async fn subscribe_to_alerts(
    client: &HttpClient,
    urls: &[String],
    flows: &[LiveFlow],
    alert_flows: Vec<Pushed>,
    consent_customers: Vec<BTreeMap<String, u64>>,
    (latency, ledgers, flow_requests, flow_pushed): (
        SharedLatency,
        SharedLedgers,
        Arc<Vec<AtomicU64>>,
        Arc<Vec<AtomicU64>>,
    ),
    (start, scales, calendars): (tokio::time::Instant, Vec<f64>, Vec<Calendar>),
    relays: &[(PlatformId, Relay)],
) -> Option<(CallbackServer, Arc<Vec<(String, String)>>)> {
    if alert_flows.is_empty() {
        return None;
    }
    let banks: Vec<BankId> = flows.iter().map(|f| f.bank).collect();
    let mut events = vec![Vec::new(); flows.len()];
    for p in &alert_flows {
        events[p.flow] = p.events.clone();
    }
    let record_latency = latency.clone();
    let agreed: Vec<_> = flows.iter().map(|f| f.terms.allowed_fields()).collect();
    let on_notification: OnNotification = Arc::new(move |fi: usize, body: &[u8]| {
        let received = SystemTime::now();
        let Ok(event) = serde_json::from_slice::<EventNotification>(body) else { return };
        let Some(ledger) = ledgers.get(fi) else { return };
        let Some(&customer) = consent_customers.get(fi).and_then(|c| c.get(&event.consent_id)) else { return };
        let Some(&(_, kind, purpose)) = events[fi].iter().find(|(e, _, _)| *e == event.event_type) else { return };
        let booked = SystemTime::UNIX_EPOCH + Duration::from_micros(event.time_of_event_unix_micros);
        let since_start = start.elapsed().mul_f64(scales[banks[fi].index()]);
        let sim_ms = calendars[fi].reading(calendars[fi].zero + since_start);
        count_received(ledger, body, sim_ms, customer, purpose, Shapes::testbed(agreed[fi]));
        flow_requests[fi].fetch_add(1, Ordering::Relaxed);
        flow_pushed[fi].fetch_add(1, Ordering::Relaxed);
        let mut l = record_latency.lock().unwrap_or_else(|e| e.into_inner());
        l.sent(banks[fi], kind, SimTime::ZERO).recorder.record(received.duration_since(booked).unwrap_or_default());
    });
    let server = CallbackServer::start(on_notification).await.ok()?;
    let mut subscriptions = Vec::new();
    for Pushed { flow: fi, events, rate } in alert_flows {
        let f = &flows[fi];
        // Through the platform's aggregator, if it has one: the relay sees the events it passes on.
        let callback = match relays.iter().find(|(pi, _)| *pi == f.platform) {
            Some((_, relay)) => {
                relay.forward_events(fi, server.url(fi));
                relay.hook_url(fi)
            }
            None => server.url(fi),
        };
        let data = SubscriptionData {
            callback_url: callback,
            event_types: Some(events.iter().map(|(e, _, _)| *e).collect()),
            max_events_per_second: Some(workload::pushed_events_cap(rate)),
        };
        let refused = match BankApi::new(client.clone(), urls[f.bank.index()].clone()).subscribe(&f.token, data).await {
            Ok(url) => {
                subscriptions.push((url, f.token.clone()));
                continue;
            }
            Err(refused) => refused,
        };
        let mut l = latency.lock().unwrap_or_else(|e| e.into_inner());
        for (_, kind, _) in &events {
            l.row(f.bank, *kind, SimTime::ZERO).recorder.error(&refused);
        }
    }
    Some((server, Arc::new(subscriptions)))
}
