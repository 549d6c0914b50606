//! The platform's side of the data phase, without I/O or a clock: which requests a platform
//! sends under each agreement, how often, about which customer, and what it does when one
//! fails. Both drivers drain the same [`Sources`]: the virtual event loop in `sim` (in simulated
//! time) and the tokio loop in `platform_mock::live` (mapping simulated time onto the wall clock
//! at each bank's pace), so a seed gives one request schedule in both modes.
//!
//! It is not the bank's side: queues, rate limits, consents and ledgers are served elsewhere.

use crate::SimTime;
use crate::queue::{partition_customer, partition_customers, partition_of};
use crate::rng::{SimRng, stream};
use crate::scenario::{
    Bank, BankId, ClientConfig, Design, EventKind, Platform, PlatformId, Rate, RequestKind, Scenario, WorkloadItem,
};
use crate::terms::{DataCategory, Terms};
use rand::RngExt;
use serde::{Serialize, Serializer};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fmt;
use std::time::Duration;

const SECONDS_PER_DAY: f64 = 86_400.0;
const NANOS_PER_DAY: f64 = 86_400e9;

impl RequestKind {
    /// Every kind, in the order of latency slots and report rows.
    pub const ALL: [RequestKind; 5] = [
        RequestKind::Accounts,
        RequestKind::BalanceLookup,
        RequestKind::TransactionSync,
        RequestKind::FraudAlert,
        RequestKind::Commerce,
    ];

    /// The category a request of this kind reads: without it in the consent, a well-behaved
    /// platform does not send it.
    pub fn category(self) -> DataCategory {
        match self {
            RequestKind::Accounts => DataCategory::AccountBasic,
            RequestKind::BalanceLookup => DataCategory::Balances,
            RequestKind::TransactionSync | RequestKind::Commerce | RequestKind::FraudAlert => {
                DataCategory::TransactionsBasic
            }
        }
    }

    fn position(self) -> usize {
        match self {
            RequestKind::Accounts => 0,
            RequestKind::BalanceLookup => 1,
            RequestKind::TransactionSync => 2,
            RequestKind::FraudAlert => 3,
            RequestKind::Commerce => 4,
        }
    }
}

/// The slot of (bank, kind) in a flat table of per-bank, per-kind figures (latency rows).
pub fn latency_slot(bank: BankId, kind: RequestKind) -> usize {
    bank.index() * RequestKind::ALL.len() + kind.position()
}

/// The (bank, kind) of a slot made by [`latency_slot`].
pub fn slot_key(slot: usize) -> (BankId, RequestKind) {
    (BankId::new(slot / RequestKind::ALL.len()), RequestKind::ALL[slot % RequestKind::ALL.len()])
}

/// Requests of `item` per simulated day for `customers` linked customers of `bank` under
/// `terms`: the one rate both modes send (and the live pace plans with). Alerts follow the card
/// transactions the platform may see.
pub fn per_day(item: &WorkloadItem, bank: &Bank, terms: &Terms, customers: u64) -> f64 {
    match item.rate {
        Rate::PerCustomerPerDay(r) => r * customers as f64,
        Rate::PerSecond(r) => r * SECONDS_PER_DAY,
        Rate::PerTransaction => {
            let p = &bank.population;
            let visible = if terms.grants(DataCategory::OffPlatformTransactions) { 1.0 } else { p.on_platform_share };
            p.transactions_per_day * visible * customers as f64
        }
    }
}

/// Requests of `item` per simulated second; see [`per_day`].
pub fn per_second(item: &WorkloadItem, bank: &Bank, terms: &Terms, customers: u64) -> f64 {
    per_day(item, bank, terms, customers) / SECONDS_PER_DAY
}

/// Whether a well-behaved platform sends `item` at all under `terms`: its purpose was agreed
/// and the consent covers what it reads.
pub fn agreed(item: &WorkloadItem, terms: &Terms) -> bool {
    terms.allows(item.purpose) && terms.grants(item.kind.category())
}

/// How the platform gets a request kind under its design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The platform asks (a `Sources` stream).
    Polled,
    /// The bank sends it as the customer's transactions happen.
    Pushed,
}

/// Push designs are pushed everything but on-demand account look-ups; fraud alerts are pushed
/// whatever the design (a platform cannot ask about a transaction it does not know of), in
/// both modes.
pub fn delivery(design: &Design, kind: RequestKind) -> Delivery {
    match (design, kind) {
        (_, RequestKind::Accounts) => Delivery::Polled,
        (Design::Push, _) | (_, RequestKind::FraudAlert) => Delivery::Pushed,
        (Design::Direct | Design::Aggregator(_) | Design::Minimised, _) => Delivery::Polled,
    }
}

/// The events a bank pushes to a subscribed platform instead of being polled: what a pushed
/// request kind arrives as (`event`), named as the event-subscription API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// One notification per new card transaction the consent may see: the transaction, for a
    /// fraud check.
    FraudAlert,
    /// One notification per booking on a customer's accounts: the checking balance after it
    /// (a balance changes whatever the platform may see of the transaction).
    BalanceChange,
    /// One notification per new card transaction the consent may see: the transaction.
    Transaction,
}

impl EventType {
    pub const ALL: [EventType; 3] = [EventType::FraudAlert, EventType::BalanceChange, EventType::Transaction];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::FraudAlert => "fraud_alert",
            EventType::BalanceChange => "balance_change",
            EventType::Transaction => "transaction",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The purpose the bank checks the event under: that of the request kind it replaces.
    pub fn purpose(self) -> crate::terms::Purpose {
        match self {
            EventType::FraudAlert => RequestKind::FraudAlert.default_purpose(),
            EventType::BalanceChange => RequestKind::BalanceLookup.default_purpose(),
            EventType::Transaction => RequestKind::TransactionSync.default_purpose(),
        }
    }
}

/// The event a pushed request kind arrives as; account look-ups are never pushed.
pub fn event(kind: RequestKind) -> Option<EventType> {
    match kind {
        RequestKind::FraudAlert => Some(EventType::FraudAlert),
        RequestKind::BalanceLookup => Some(EventType::BalanceChange),
        RequestKind::TransactionSync | RequestKind::Commerce => Some(EventType::Transaction),
        RequestKind::Accounts => None,
    }
}

/// The events a flow of `platform` at `bank` under `terms`, with `customers` linked, is pushed,
/// in both modes: one per event type its pushed items raise, each with the first such item
/// (whose latency row it counts in and whose purpose it serves), whatever the items' rates: a
/// booking raises an event once.
pub fn pushed_events(platform: &Platform, bank: &Bank, terms: &Terms, customers: u64) -> Vec<(EventType, usize)> {
    let mut events: Vec<(EventType, usize)> = Vec::new();
    for (wi, w) in platform.workload.iter().enumerate() {
        let pushed = delivery(&platform.design, w.kind) == Delivery::Pushed
            && agreed(w, terms)
            && per_day(w, bank, terms, customers) > 0.0;
        if let Some(event) = event(w.kind).filter(|_| pushed)
            && events.iter().all(|(e, _)| *e != event)
        {
            events.push((event, wi));
        }
    }
    events
}

/// Events a second (simulated) that `events` (`pushed_events` of the flow) bring: the rates of
/// the flow's agreed items whose event is among them.
pub fn pushed_per_second(
    platform: &Platform,
    bank: &Bank,
    terms: &Terms,
    customers: u64,
    events: &[(EventType, usize)],
) -> f64 {
    (platform.workload.iter())
        .filter(|w| agreed(w, terms))
        .filter(|w| event(w.kind).is_some_and(|e| events.iter().any(|(pushed, _)| *pushed == e)))
        .map(|w| per_second(w, bank, terms, customers))
        .sum()
}

/// The most events a second a live subscription asks its bank to push, for `rate` expected a
/// second: twice the mean (room for the busy hours of the day), or 10, whichever is more (a few
/// a second are no flood, and Poisson bursts of them are common). The bank drops those beyond,
/// so the run's pace (and `--max-rate`) covers pushed events too.
pub fn pushed_events_cap(rate: f64) -> u32 {
    (2.0 * rate).ceil().clamp(10.0, f64::from(u32::MAX)) as u32
}

/// How long the platform waits before attempt `attempt + 1` after attempt `attempt` failed
/// (when the bank names no time): `backoff`, doubling with each retry.
pub fn backoff(client: &ClientConfig, attempt: u32) -> Duration {
    client.backoff.saturating_mul(2u32.saturating_pow(attempt))
}

/// Whether a failed attempt `attempt` (0 for the first) may be tried again.
pub fn may_retry(client: &ClientConfig, attempt: u32) -> bool {
    attempt < client.retries
}

/// What the platform does after attempt `attempt` (0 for the first) failed with `error`: the
/// wait before it tries again, or `None` to give up. A refusal is final; a rate limit waits as
/// long as the bank said (`retry_after`); timeouts, outages, server and connection errors back
/// off; nothing is retried past the client's `retries`. One rule for both drivers.
pub fn retry_wait(
    client: &ClientConfig,
    attempt: u32,
    error: &RequestError,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    if !may_retry(client, attempt) {
        return None;
    }
    match error {
        RequestError::RateLimited => Some(retry_after.unwrap_or_else(|| backoff(client, attempt))),
        RequestError::Timeout
        | RequestError::ServerError
        | RequestError::Unavailable
        | RequestError::Transport
        | RequestError::Connect => Some(backoff(client, attempt)),
        RequestError::Refused(_) | RequestError::Dropped(_) | RequestError::Status(_) => None,
    }
}

/// Why a request (or one of its attempts) failed, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestError {
    /// No answer within the platform's timeout.
    Timeout,
    /// 429: the bank's rate limit.
    RateLimited,
    /// 5xx other than 503: an injected or real server error.
    ServerError,
    /// 503: an outage.
    Unavailable,
    /// The connection failed.
    Transport,
    /// No connection could be made (the load generator's name for it).
    Connect,
    /// An HTTP status the load generator counts by class (`status_429`, `status_other_4xx`).
    Status(&'static str),
    /// The bank refused it: a reason code (`consent_revoked`, …) or an HTTP status.
    Refused(String),
    /// The bank dropped a pushed alert rather than send it (`slow_callback`, …).
    Dropped(&'static str),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Timeout => f.write_str("timeout"),
            RequestError::RateLimited => f.write_str("rate_limited"),
            RequestError::ServerError => f.write_str("server_error"),
            RequestError::Unavailable => f.write_str("unavailable"),
            RequestError::Transport => f.write_str("transport"),
            RequestError::Connect => f.write_str("connect"),
            RequestError::Status(name) => f.write_str(name),
            RequestError::Refused(why) => write!(f, "refused:{why}"),
            RequestError::Dropped(why) => write!(f, "dropped:{why}"),
        }
    }
}

impl Serialize for RequestError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why an agreement's data phase ends (`FlowReport::ended_by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The scenario's `[data] duration` after the agreement.
    PhaseOver,
    /// The scenario ended first.
    ScenarioEnd,
    /// The agreement was revoked.
    Revoked,
    /// A live run was interrupted.
    Interrupted,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::PhaseOver => "phase_over",
            EndedBy::ScenarioEnd => "scenario_end",
            EndedBy::Revoked => "revoked",
            EndedBy::Interrupted => "interrupted",
        }
    }
}

/// When the data phase of an agreement reached at `at` ends, and why: `[data] duration` later,
/// at the end of the scenario, or at a revocation known in advance, whichever comes first.
pub fn data_window(scenario: &Scenario, at: SimTime, revoked_at: Option<SimTime>) -> (SimTime, EndedBy) {
    let scenario_end = SimTime::from_duration(scenario.duration);
    let phase = scenario.data.as_ref().map_or(Duration::ZERO, |d| d.duration);
    let (mut end, mut ended_by) = if at + phase <= scenario_end {
        (at + phase, EndedBy::PhaseOver)
    } else {
        (scenario_end, EndedBy::ScenarioEnd)
    };
    if let Some(r) = revoked_at.filter(|r| *r < end) {
        end = r;
        ended_by = EndedBy::Revoked;
    }
    (end, ended_by)
}

/// Why a scheduled request ended with neither an answer nor an error: the live driver could
/// not send it, or it was still waiting when the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abandoned {
    /// Not sent before the run (and its drain) ended: the machine could not send the load.
    Deadline,
    /// Not sent because it waited for a free connection longer than the platform's timeout.
    ClientTimeout,
    /// Not sent: the run was interrupted (Ctrl-C) before its time.
    Interrupted,
    /// Sent, but no final answer when the drain ended.
    InFlightAtEnd,
    /// Not sent: the bank refused to link its customer (no consent to send it with).
    NoConsent,
}

impl Abandoned {
    pub fn as_str(self) -> &'static str {
        match self {
            Abandoned::Deadline => "deadline",
            Abandoned::ClientTimeout => "client_timeout",
            Abandoned::Interrupted => "interrupted",
            Abandoned::InFlightAtEnd => "in_flight_at_end",
            Abandoned::NoConsent => "no_consent",
        }
    }

    pub const ALL: [Abandoned; 5] = [
        Abandoned::Deadline,
        Abandoned::ClientTimeout,
        Abandoned::Interrupted,
        Abandoned::InFlightAtEnd,
        Abandoned::NoConsent,
    ];

    pub fn parse(text: &str) -> Option<Abandoned> {
        Abandoned::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One agreement's data phase, as far as the platform's sources need it.
#[derive(Clone, Debug)]
pub struct FlowPlan<'a> {
    pub platform: PlatformId,
    pub bank: BankId,
    pub terms: &'a Terms,
    /// When data starts to flow (the agreement) and stops (phase over, scenario end or a
    /// revocation known in advance).
    pub start: SimTime,
    pub end: SimTime,
    /// Linked customers: requests name customers `0..linked`.
    pub linked: u64,
}

impl<'a> FlowPlan<'a> {
    /// The data phase of the agreement `platform`–`bank` on `terms` reached `at`: to the end of
    /// the phase or the scenario, or `revoked_at` when known in advance (`data_window`), over the
    /// customers the terms' consent mode links.
    pub fn new(
        scenario: &Scenario,
        (platform, bank): (PlatformId, BankId),
        terms: &'a Terms,
        at: SimTime,
        revoked_at: Option<SimTime>,
    ) -> FlowPlan<'a> {
        let linked = scenario.linked_customers(platform, bank, terms.consent_mode);
        FlowPlan { platform, bank, terms, start: at, end: data_window(scenario, at, revoked_at).0, linked }
    }
}

/// One request as a source raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Index into the flows the sources were made from.
    pub flow: usize,
    /// Index into the platform's workload.
    pub item: usize,
    pub kind: RequestKind,
    pub customer: u64,
    /// Asks for every field of the resource, beyond the terms.
    pub over_fetch: bool,
}

struct Stream {
    flow: usize,
    item: usize,
    kind: RequestKind,
    /// Requests per nanosecond of simulated time, before load spikes.
    rate: f64,
    /// The bank's partition the stream's customers are routed to, of how many, and how many
    /// of the flow's linked customers it serves.
    partition: u32,
    partitions: u32,
    customers: u64,
    rng: SimRng,
}

/// Which partition of the banks a run simulates: shard `index` of `count` runs partition
/// `index` of every bank with `count` partitions (`[banks.service] partitions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Why `scenario` cannot run as shard `self`, in one line naming the key, if it cannot: a
    /// shard runs one partition of every bank, so every bank needs the shard's count of
    /// partitions, and nothing may couple a bank's partitions. Two things do: an audit that
    /// revokes after violations counted over all of an agreement's requests (when the platform
    /// over-fetches, so that there are violations to count), and an aggregator, one queue for
    /// all its platform's requests.
    pub fn refusal(self, scenario: &Scenario) -> Option<String> {
        let Shard { index, count } = self;
        if count == 0 || index >= count {
            return Some(format!("--shard {index}/{count}: allowed I/N with 0 <= I < N"));
        }
        for (bank, b) in scenario.banks_by_id() {
            let bi = bank.index();
            if b.service.partitions != count {
                return Some(format!(
                    "banks[{bi}].service.partitions: {}, but shard {index}/{count} runs partition {index} of every bank: give every bank partitions = {count}",
                    b.service.partitions
                ));
            }
            let over_fetching =
                scenario.platforms.iter().find(|p| p.banks.contains(&bank) && p.client.over_fetch > 0.0);
            if let (Some(limit), Some(p)) = (b.revoke_after_violations, over_fetching) {
                let why = if count == 1 {
                    "may revoke an agreement by audit, which a merge of shards does not replay".to_owned()
                } else {
                    "counted over every partition cannot be counted by one shard".to_owned()
                };
                return Some(format!(
                    "banks[{bi}].policy.revoke_after_violations: {limit} violations of `{}` (it over-fetches) {why}; run it in one process",
                    p.name
                ));
            }
        }
        let aggregator = scenario.platforms_by_id().find(|(_, p)| matches!(p.design, Design::Aggregator(_)));
        if let (Some((pi, _)), true) = (aggregator, count > 1) {
            return Some(format!(
                "platforms[{}].design.kind: an aggregator queues its platform's requests to every partition in one queue, which one shard cannot run; run it in one process",
                pi.index()
            ));
        }
        None
    }

    /// Whether the shard simulates `customer` of a bank with `partitions` partitions (a whole
    /// run, `None`, simulates every customer).
    pub fn has(shard: Option<Shard>, customer: u64, partitions: u32) -> bool {
        shard.is_none_or(|s| partitions != s.count || partition_of(customer, partitions) == s.index)
    }
}

/// A load spike: a platform's rates multiplied by `factor` in `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spike {
    from: SimTime,
    to: SimTime,
    factor: f64,
}

/// The platform's request arrivals under a set of agreements: one Poisson stream per (flow,
/// polled workload item), named `arrivals/<platform>/<bank>/<item>` from the scenario seed (so a
/// stream's draws do not depend on which other streams exist), multiplied by load spikes, each
/// arrival naming a uniformly chosen linked customer and, at the platform's `over_fetch` share,
/// asking beyond the terms. Drained in time order by [`Sources::next`].
///
/// At a bank with N > 1 partitions each stream is N streams, one per partition
/// (`…/<item>/partition-<i>`), each at its partition's share of the rate and choosing among its
/// partition's customers: the same process, drawn so that a partition's arrivals depend on no
/// other partition's, and a shard can draw its own alone.
pub struct Sources {
    streams: Vec<Stream>,
    /// Per flow: the platform, and when its sources stop.
    flows: Vec<(PlatformId, SimTime)>,
    over_fetch: Vec<f64>,
    spikes: Vec<Vec<Spike>>,
    /// Pending arrivals: (time, order of scheduling, stream).
    heap: BinaryHeap<Reverse<(SimTime, u64, usize)>>,
    seq: u64,
}

impl Sources {
    /// The sources of `flows` under `scenario`: the polled items (see [`delivery`]).
    pub fn new(scenario: &Scenario, flows: &[FlowPlan<'_>]) -> Sources {
        Sources::of_shard(scenario, flows, None)
    }

    /// The sources of `flows` that `shard` simulates (all of them for `None`).
    pub fn of_shard(scenario: &Scenario, flows: &[FlowPlan<'_>], shard: Option<Shard>) -> Sources {
        let mut spikes = vec![Vec::new(); scenario.platforms.len()];
        for e in &scenario.events {
            if let EventKind::LoadSpike { platform, duration, factor } = e.kind {
                let from = SimTime::from_duration(e.at);
                spikes[platform.index()].push(Spike { from, to: from + duration, factor });
            }
        }
        let mut sources = Sources {
            streams: Vec::new(),
            flows: flows.iter().map(|f| (f.platform, f.end)).collect(),
            over_fetch: scenario.platforms.iter().map(|p| p.client.over_fetch).collect(),
            spikes,
            heap: BinaryHeap::new(),
            seq: 0,
        };
        for (fi, f) in flows.iter().enumerate() {
            if f.linked == 0 {
                continue;
            }
            let platform = &scenario.platforms[f.platform];
            let bank = &scenario.banks[f.bank];
            let pair = format!("{}/{}", platform.name, bank.name);
            for (wi, w) in platform.workload.iter().enumerate() {
                let per_day = per_day(w, bank, f.terms, f.linked);
                if !agreed(w, f.terms) || per_day <= 0.0 || delivery(&platform.design, w.kind) != Delivery::Polled {
                    continue;
                }
                let partitions = bank.service.partitions;
                for partition in 0..partitions {
                    let customers = partition_customers(f.linked, partition, partitions);
                    if customers == 0 || !Shard::has(shard, u64::from(partition), partitions) {
                        continue;
                    }
                    let name = match partitions {
                        1 => format!("arrivals/{pair}/{wi}"),
                        _ => format!("arrivals/{pair}/{wi}/partition-{partition}"),
                    };
                    let mut rng = stream(scenario.seed, &name);
                    let rate = per_day / NANOS_PER_DAY * (customers as f64 / f.linked as f64);
                    let first = next_arrival(f.start, rate, &sources.spikes[f.platform.index()], &mut rng);
                    let si = sources.streams.len();
                    let kind = w.kind;
                    let s = Stream { flow: fi, item: wi, kind, rate, partition, partitions, customers, rng };
                    sources.streams.push(s);
                    sources.push(first, si);
                }
            }
        }
        sources
    }

    fn push(&mut self, at: SimTime, stream: usize) {
        self.heap.push(Reverse((at, self.seq, stream)));
        self.seq += 1;
    }

    /// When the next arrival is due, if any (streams whose flow has ended are dropped first,
    /// so the time is that of the arrival `next` returns).
    pub fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(Reverse((t, _, si))) = self.heap.peek() {
            if *t < self.flows[self.streams[*si].flow].1 {
                return Some(*t);
            }
            self.heap.pop();
        }
        None
    }

    /// The next arrival in time order (ties in the order they were drawn). A stream stops at
    /// its flow's end.
    #[allow(clippy::should_implement_trait)] // arrivals are drained, with `peek_time`, not iterated
    pub fn next(&mut self) -> Option<(SimTime, Arrival)> {
        // The stream's next arrival replaces it at the top of the heap (one sift, not a pop and
        // a push): the same order, as keys are unique.
        while let Some(mut top) = self.heap.peek_mut() {
            let Reverse((now, _, si)) = *top;
            let s = &mut self.streams[si];
            let (platform, end) = self.flows[s.flow];
            if now >= end {
                PeekMut::pop(top); // the agreement's data phase is over: this stream stops
                continue;
            }
            let next = next_arrival(now, s.rate, &self.spikes[platform.index()], &mut s.rng);
            let customer = partition_customer(s.rng.random_range(0..s.customers), s.partition, s.partitions);
            let p = self.over_fetch[platform.index()];
            let over_fetch = p > 0.0 && s.rng.random::<f64>() < p;
            let arrival = Arrival { flow: s.flow, item: s.item, kind: s.kind, customer, over_fetch };
            if next < end {
                *top = Reverse((next, self.seq, si));
                self.seq += 1;
            } else {
                PeekMut::pop(top);
            }
            return Some((now, arrival));
        }
        None
    }

    /// Stops `flow`'s streams at `at` (say, an audit revoked its agreement): nothing at or after
    /// it is sent.
    pub fn end_flow(&mut self, flow: usize, at: SimTime) {
        let end = &mut self.flows[flow].1;
        *end = (*end).min(at);
    }

    /// The streams, as (flow, workload item), in the order they were made.
    pub fn streams(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.streams.iter().map(|s| (s.flow, s.item))
    }
}

/// The next Poisson arrival after `now` at `rate` per ns, multiplied by any load spikes: an
/// exponential amount of "work" is consumed segment by segment, which is exact for piecewise
/// constant rates.
fn next_arrival(now: SimTime, rate: f64, spikes: &[Spike], rng: &mut SimRng) -> SimTime {
    let u: f64 = rng.random();
    let mut work = -(1.0 - u).ln(); // Exp(1)
    let mut t = now.as_nanos() as f64;
    if spikes.is_empty() {
        // The loop below without spikes, in the same arithmetic: one step at the base rate.
        let at = t + work / rate;
        return if rate > 0.0 && at < f64::INFINITY {
            SimTime::from_nanos(at.min(u64::MAX as f64) as u64)
        } else {
            SimTime::MAX
        };
    }
    loop {
        let factor: f64 = spikes
            .iter()
            .filter(|s| (s.from.as_nanos() as f64) <= t && t < s.to.as_nanos() as f64)
            .map(|s| s.factor)
            .product();
        let boundary = spikes
            .iter()
            .flat_map(|s| [s.from.as_nanos() as f64, s.to.as_nanos() as f64])
            .filter(|b| *b > t)
            .fold(f64::INFINITY, f64::min);
        let r = rate * factor;
        if r > 0.0 {
            let dt = work / r;
            if t + dt < boundary {
                return SimTime::from_nanos((t + dt).min(u64::MAX as f64) as u64);
            }
            work -= (boundary - t) * r;
        }
        if boundary.is_infinite() {
            return SimTime::MAX;
        }
        t = boundary;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_subscription_asks_for_twice_the_expected_events_and_at_least_ten_a_second() {
        assert_eq!(pushed_events_cap(0.2), 10);
        assert_eq!(pushed_events_cap(7.3), 15);
        assert_eq!(pushed_events_cap(1e12), u32::MAX);
    }

    use super::*;
    use crate::terms::Purpose;

    #[test]
    fn a_shard_runs_only_where_every_bank_has_its_partitions_and_nothing_couples_them() {
        let direct = include_str!("../../scenarios/design-direct.toml");
        let mut sc = crate::scenario::parse(direct).expect("design-direct parses");
        let shard = Shard { index: 1, count: 2 };
        assert_eq!(
            shard.refusal(&sc).as_deref(),
            Some(
                "banks[0].service.partitions: 1, but shard 1/2 runs partition 1 of every bank: give every bank partitions = 2"
            )
        );
        for b in &mut sc.banks {
            b.service.partitions = 2;
        }
        assert_eq!(shard.refusal(&sc), None);
        assert_eq!(
            Shard { index: 2, count: 2 }.refusal(&sc).as_deref(),
            Some("--shard 2/2: allowed I/N with 0 <= I < N")
        );
        // An audit couples the partitions only when there are violations to count.
        sc.banks[1].revoke_after_violations = Some(20);
        assert_eq!(shard.refusal(&sc), None);
        sc.platforms[0].client.over_fetch = 0.01;
        let refused = shard.refusal(&sc).expect("refused");
        assert!(refused.starts_with("banks[1].policy.revoke_after_violations: 20 violations"), "{refused}");
        let aggregator = include_str!("../../scenarios/design-aggregator.toml");
        let mut sc = crate::scenario::parse(aggregator).expect("design-aggregator parses");
        for b in &mut sc.banks {
            b.service.partitions = 2;
        }
        let refused = shard.refusal(&sc).expect("refused");
        assert!(refused.starts_with("platforms[0].design.kind: an aggregator"), "{refused}");
    }

    #[test]
    fn a_booking_raises_each_pushed_event_once_named_by_the_first_item_of_its_kind() {
        let text = include_str!("../../scenarios/design-push.toml");
        let mut sc = crate::scenario::parse(text).expect("design-push parses");
        // A second item pushed as a transaction (commerce reads the spending too).
        let mut commerce = sc.platforms[0].workload[1].clone();
        commerce.kind = RequestKind::Commerce;
        sc.platforms[0].workload.push(commerce);
        let terms = Terms::from_outcome(&sc.space, crate::negotiation::OutcomeId(0));
        let events = pushed_events(&sc.platforms[0], &sc.banks[0], &terms, 100);
        let kinds: Vec<(EventType, RequestKind)> =
            events.iter().map(|&(e, wi)| (e, sc.platforms[0].workload[wi].kind)).collect();
        // Account look-ups stay pulled; transaction_sync, listed before commerce, names the event.
        assert_eq!(
            kinds,
            [
                (EventType::BalanceChange, RequestKind::BalanceLookup),
                (EventType::Transaction, RequestKind::TransactionSync),
                (EventType::FraudAlert, RequestKind::FraudAlert),
            ]
        );
        // Nobody linked, nothing pushed at a per-customer rate; fraud alerts need their purpose.
        assert!(pushed_events(&sc.platforms[0], &sc.banks[0], &terms, 0).is_empty());
        let without_alerts = Terms { purposes: terms.purposes & !Purpose::FraudAlerts.bit(), ..terms.clone() };
        let events = pushed_events(&sc.platforms[0], &sc.banks[0], &without_alerts, 100);
        assert!(events.iter().all(|(e, _)| *e != EventType::FraudAlert), "{events:?}");
    }

    #[test]
    fn latency_slots_cover_every_kind_of_every_bank_once() {
        let mut seen = Vec::new();
        for bank in BankId::all(3) {
            for kind in RequestKind::ALL {
                let slot = latency_slot(bank, kind);
                assert_eq!(slot_key(slot), (bank, kind));
                seen.push(slot);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..15).collect::<Vec<_>>());
    }

    #[test]
    fn request_errors_keep_the_names_reports_have_always_used() {
        let names: Vec<String> = [
            RequestError::Timeout,
            RequestError::RateLimited,
            RequestError::ServerError,
            RequestError::Unavailable,
            RequestError::Transport,
            RequestError::Refused("consent_revoked".into()),
            RequestError::Dropped("slow_callback"),
        ]
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"timeout\"",
                "\"rate_limited\"",
                "\"server_error\"",
                "\"unavailable\"",
                "\"transport\"",
                "\"refused:consent_revoked\"",
                "\"dropped:slow_callback\""
            ]
        );
    }

    #[test]
    fn backoff_doubles_with_each_retry_and_never_overflows() {
        let client = ClientConfig {
            timeout: Duration::from_secs(1),
            retries: 2,
            backoff: Duration::from_millis(100),
            over_fetch: 0.0,
        };
        assert_eq!(backoff(&client, 0), Duration::from_millis(100));
        assert_eq!(backoff(&client, 2), Duration::from_millis(400));
        assert!(backoff(&client, 200) >= Duration::from_secs(1));
        assert!(may_retry(&client, 1) && !may_retry(&client, 2));
        let limited = RequestError::RateLimited;
        assert_eq!(retry_wait(&client, 0, &limited, Some(Duration::from_secs(3))), Some(Duration::from_secs(3)));
        assert_eq!(retry_wait(&client, 1, &RequestError::Unavailable, None), Some(Duration::from_millis(200)));
        assert_eq!(retry_wait(&client, 0, &RequestError::Refused("403".into()), None), None, "a refusal is final");
        assert_eq!(retry_wait(&client, 2, &RequestError::Timeout, None), None, "no retries left");
    }

    #[test]
    fn a_spike_multiplies_the_arrivals_inside_it_and_only_there() {
        let spikes =
            [Spike { from: SimTime::from_nanos(1_000_000_000), to: SimTime::from_nanos(2_000_000_000), factor: 10.0 }];
        let rate = 1e-6; // 1,000 per simulated second
        let count = |spikes: &[Spike], from: u64, to: u64| {
            let mut rng = stream(1, "spike-test");
            let mut t = SimTime::ZERO;
            let mut n = 0;
            loop {
                t = next_arrival(t, rate, spikes, &mut rng);
                if t.as_nanos() >= 3_000_000_000 {
                    return n;
                }
                n += u64::from(t.as_nanos() >= from && t.as_nanos() < to);
            }
        };
        let inside = count(&spikes, 1_000_000_000, 2_000_000_000);
        let outside = count(&spikes, 0, 1_000_000_000);
        assert!((9_000..11_000).contains(&inside), "{inside} arrivals in the spike's second");
        assert!((900..1_100).contains(&outside), "{outside} arrivals in a normal second");
        assert!((900..1_100).contains(&count(&[], 1_000_000_000, 2_000_000_000)));
    }
}
