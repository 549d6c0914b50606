//! The data phase in virtual time: under each agreement, linked customers' requests arrive as
//! Poisson processes (open model: sent at their scheduled times whatever the bank does), cross
//! the network, queue at the bank, are served or refused by the same `bank_mock::api` code as
//! live mode, and every field that leaves the bank goes into the exposure ledger.
//!
//! It runs after the negotiation phase: negotiations never depend on data, and everything
//! data can do to a negotiation (a revocation after violations) happens in here.
//!
//! A platform's integration design changes the path, never the accounting: an aggregator adds
//! a hop each way and a queue, and keeps its own ledger of what it relayed; minimised flows ask
//! for derived signals, and the bank's terms for them carry no raw balance or transaction
//! field; push flows turn the population's card transactions into deliveries from the bank,
//! measured from the transaction to the delivery.

use bank_mock::alerts::{AlertSchedule, EventSet, Watch};
use bank_mock::api::{self, Asking, Consent, Grant, Resource};
use bank_mock::serve::{self, Ask, Door, Entry};
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::exposure::{Booking, Disclosure, Exposed, PairLedger, Records};
use testbed_core::population::{self, PopulationSpec, Transaction};
use testbed_core::queue::{Admission, BankQueue, QueueFigures, partition_of};
use testbed_core::report::{
    BankTally, DataParts, DataReport, DesignReport, FlowPart, FlowTally, LatencyTable, Revocation, TimelineEntry,
    data_report,
};
use testbed_core::rng::{SimRng, stream};
use testbed_core::scenario::{BankId, Design, PlatformId, RequestKind, Scenario};
use testbed_core::scheduler::Scheduler;
pub use testbed_core::session::Agreement;
use testbed_core::terms::{DataCategory, FieldSet};
use testbed_core::workload::{self, Arrival, EndedBy, EventType, FlowPlan, RequestError, Shard, Sources};

const DAY_MS: u64 = 86_400_000;

/// What the data phase adds to the report, plus audit revocations to fold into negotiations.
pub struct DataOutcome {
    pub report: DataReport,
    /// Each agreement's ledger, to export what was disclosed.
    pub exposed: Exposed,
    /// `(index into the agreements, revocation)` for revocations made by audits.
    pub revocations: Vec<(usize, Revocation)>,
    pub timeline: Vec<TimelineEntry>,
    /// Integration designs other than the direct pull, for `Report::designs`.
    pub designs: Vec<DesignReport>,
    /// The latency table the report's rows were summarised from (partitions merged in order).
    pub latency: LatencyTable,
    /// Each bank's queue figures, per partition, that its row was summed from.
    pub queues: Vec<QueueFigures>,
    /// Events the run processed (arrivals, and the events they and pushed bookings caused):
    /// its work.
    pub events: u64,
}

/// The latency table of `customer`'s partition at `bank`.
fn table<'t>(tables: &'t mut [LatencyTable], sc: &Scenario, bank: BankId, customer: u64) -> &'t mut LatencyTable {
    &mut tables[partition_of(customer, sc.banks[bank].service.partitions) as usize]
}

#[derive(Clone, Copy)]
struct Req {
    flow: u32,
    item: u16,
    attempt: u8,
    over_fetch: bool,
    customer: u64,
    intended: SimTime,
    sent: SimTime,
    /// Pushed deliveries: the transaction whose booking raised this one.
    pushed: Option<Booking>,
    /// Push designs: held back by an outage or the rate limit (already counted as sent).
    deferred: bool,
}

enum Ev {
    AtBank(Req),
    Send(Req),
    /// Aggregator designs: the request reaches the aggregator.
    AtAggregator(Req),
    /// Push designs: turn one day of the linked customers' transactions into deliveries.
    PushDay {
        flow: usize,
        day: u32,
    },
    /// Push designs: the bank sends one delivery (event time in `intended`).
    Push(Req),
}

struct Flow {
    platform: PlatformId,
    bank: BankId,
    consent: Consent,
    start: SimTime,
    end: SimTime,
    revoked_at: Option<SimTime>,
    ledger: PairLedger,
    /// The flow's draws for network, service and errors: one stream, or one per partition of
    /// its bank, so that a partition's requests depend on no other's.
    rngs: Vec<SimRng>,
    requests: u64,
    audit_revoked: Option<Revocation>,
    /// Aggregator designs: what the aggregator saw, and its own stream for the extra hops.
    relay: Option<(PairLedger, SimRng)>,
    /// Minimised designs: the terms the bank serves under (derived signals, no raw data).
    serving: api::Serving,
    /// What the consent and the serving terms allow together (`serve::Basis`), worked out once.
    allowance: (FieldSet, bool),
    /// The events the bank pushes (`workload::pushed_events`), each with its workload item.
    pushed_events: Vec<(EventType, usize)>,
    /// Which bookings raise them, as the live bank's pusher finds them: every linked customer
    /// watched from the agreement on.
    alerts: AlertSchedule,
    watches: Vec<Watch>,
    pushed: u64,
}

impl Flow {
    /// The stream that draws for a request of `customer`: its partition's.
    fn rng(&mut self, customer: u64) -> &mut SimRng {
        let partitions = self.rngs.len() as u32;
        &mut self.rngs[partition_of(customer, partitions) as usize]
    }
}

struct Bank {
    spec: PopulationSpec,
    door: Door,
    /// Per partition: when the next delivery held back by the rate limit may try again.
    held_pushes: Vec<SimTime>,
}

struct Phase<'a> {
    sc: &'a Scenario,
    queue: Scheduler<Ev>,
    flows: Vec<Flow>,
    sources: Sources,
    banks: Vec<Bank>,
    /// Per partition, per (bank, request kind): requests sent, their latency, and the span of
    /// time they covered. One table at banks of one partition; merged in partition order.
    latency: Vec<LatencyTable>,
    timeline: Vec<TimelineEntry>,
    scratch: Vec<Transaction>,
    /// Per platform: its aggregator's queue, for aggregator designs.
    aggregators: Vec<Option<BankQueue>>,
}

/// Runs the data phase for `agreements`. `None` when the scenario has no `[data]` table.
pub fn run(sc: &Scenario, agreements: &[Agreement]) -> Option<DataOutcome> {
    run_shard(sc, agreements, None)
}

/// Runs the part of the data phase that `shard` simulates: every partition (`None`), or one
/// partition of every bank with the shard's count of partitions.
pub fn run_shard(sc: &Scenario, agreements: &[Agreement], shard: Option<Shard>) -> Option<DataOutcome> {
    let (parts, audits) = run_parts(sc, agreements, shard)?;
    Some(outcome(sc, agreements, parts, audits))
}

/// What the part of the data phase that `shard` simulates counted, and what its audits did.
pub fn run_parts(sc: &Scenario, agreements: &[Agreement], shard: Option<Shard>) -> Option<(DataParts, Audits)> {
    sc.data.as_ref()?;
    let mut phase = Phase {
        sc,
        queue: Scheduler::default(),
        flows: Vec::new(),
        sources: Sources::of_shard(sc, &plans(sc, agreements), shard),
        banks: sc
            .banks
            .iter()
            .enumerate()
            .map(|(i, b)| Bank {
                spec: sc.population_spec(BankId::new(i)),
                door: Door::new(sc, BankId::new(i)),
                held_pushes: vec![SimTime::ZERO; b.service.partitions as usize],
            })
            .collect(),
        latency: (0..sc.banks.iter().map(|b| b.service.partitions).max().unwrap_or(1))
            .map(|_| LatencyTable::new(sc.banks.len()))
            .collect(),
        timeline: Vec::new(),
        scratch: Vec::new(),
        aggregators: sc
            .platforms
            .iter()
            .map(|p| match &p.design {
                Design::Aggregator(a) => Some(BankQueue::new(a.workers, None)),
                _ => None,
            })
            .collect(),
    };
    for (fi, a) in agreements.iter().enumerate() {
        let platform = &sc.platforms[a.platform];
        let bank = &sc.banks[a.bank];
        let (end, _) = workload::data_window(sc, a.at, a.revoked_at);
        let (serving, consent) = consent_of(sc, a);
        let allowance = {
            let basis = serve::Basis::new(&consent, &serving);
            (basis.allowed, basis.off_platform)
        };
        let linked = sc.linked_customers(a.platform, a.bank, a.terms.consent_mode);
        let pair = format!("{}/{}", platform.name, bank.name);
        // A shard's ledgers keep its partition's customers only: a partition's memory, and
        // counts close together in it.
        let ledger = || match shard {
            Some(s) if s.count == bank.service.partitions => PairLedger::for_partition(linked, s.index, s.count),
            _ => PairLedger::new(linked),
        };
        let relay = match &platform.design {
            Design::Aggregator(_) => Some((ledger(), stream(sc.seed, &format!("aggregator/{pair}")))),
            _ => None,
        };
        phase.flows.push(Flow {
            platform: a.platform,
            bank: a.bank,
            consent,
            start: a.at,
            end,
            revoked_at: a.revoked_at,
            ledger: ledger(),
            rngs: match bank.service.partitions {
                1 => vec![stream(sc.seed, &format!("data/{pair}"))],
                n => (0..n).map(|i| stream(sc.seed, &format!("data/{pair}/partition-{i}"))).collect(),
            },
            requests: 0,
            audit_revoked: None,
            relay,
            allowance,
            serving,
            pushed_events: Vec::new(),
            alerts: AlertSchedule::default(),
            watches: Vec::new(),
            pushed: 0,
        });
        // Pushed as the customers' transactions happen, not polled (see `push_day`); a
        // well-behaved platform gets only what it agreed to.
        let pushed_events = workload::pushed_events(platform, bank, &a.terms, linked);
        if !pushed_events.is_empty() {
            let flow = &mut phase.flows[fi];
            let events = EventSet::of(&pushed_events.iter().map(|(e, _)| *e).collect::<Vec<_>>());
            let off_platform = a.terms.grants(DataCategory::OffPlatformTransactions);
            // Bookings after `since_ms` raise events: those from the agreement on.
            let since_ms = a.at.as_millis().saturating_sub(1);
            let partitions = bank.service.partitions;
            flow.watches = (0..linked)
                .filter(|&customer| Shard::has(shard, customer, partitions))
                .map(|customer| Watch { subscription: 0, consent: customer, customer, off_platform, since_ms, events })
                .collect();
            flow.pushed_events = pushed_events;
            phase.queue.schedule(a.at, Ev::PushDay { flow: fi, day: (a.at.as_millis() / DAY_MS) as u32 });
        }
    }
    // Arrivals and the events they cause run in one time order; an event due at the same
    // instant as an arrival runs first.
    let mut events = 0u64;
    loop {
        let next_event = phase.queue.peek_time();
        if let Some(at) = phase.sources.peek_time()
            && next_event.is_none_or(|e| at < e)
        {
            events += 1;
            let (now, arrival) = phase.sources.next().expect("an arrival is due");
            phase.arrival(now, arrival);
            continue;
        }
        let Some((now, ev)) = phase.queue.pop() else { break };
        events += 1;
        match ev {
            Ev::Send(req) => phase.send(now, req),
            Ev::AtBank(req) => phase.at_bank(now, req),
            Ev::AtAggregator(req) => phase.at_aggregator(now, req),
            Ev::PushDay { flow, day } => phase.push_day(now, flow, day),
            Ev::Push(req) => phase.push(now, req),
        }
    }
    Some(phase.finish(events))
}

/// The platforms' request schedule under `agreements`: every agreement's sources, drained in
/// time order by the event loop (audits may end a flow's sources early).
pub fn schedule(sc: &Scenario, agreements: &[Agreement]) -> Sources {
    Sources::new(sc, &plans(sc, agreements))
}

/// How the platform's design has the bank serve an agreement (minimised: derived signals), as
/// behind HTTP, and the authorised consent the flow's requests carry.
fn consent_of(sc: &Scenario, a: &Agreement) -> (api::Serving, Consent) {
    let (platform, bank) = (&sc.platforms[a.platform], &sc.banks[a.bank]);
    let serving = api::Serving::new(&platform.design, &a.terms);
    let mut consent = Consent::new(
        format!("consent-{}-{}", platform.name, bank.name),
        platform.name.clone(),
        &serving.consent_terms,
        a.at,
    );
    consent.authorise();
    (serving, consent)
}

fn plans<'a>(sc: &Scenario, agreements: &'a [Agreement]) -> Vec<FlowPlan<'a>> {
    agreements.iter().map(|a| FlowPlan::new(sc, (a.platform, a.bank), &a.terms, a.at, a.revoked_at)).collect()
}

impl Phase<'_> {
    fn item(&self, req: &Req) -> &testbed_core::scenario::WorkloadItem {
        &self.sc.platforms[self.flows[req.flow as usize].platform].workload[req.item as usize]
    }

    fn arrival(&mut self, now: SimTime, a: Arrival) {
        let flow = &mut self.flows[a.flow];
        flow.requests += 1;
        let req = Req {
            flow: a.flow as u32,
            item: a.item as u16,
            attempt: 0,
            over_fetch: a.over_fetch,
            customer: a.customer,
            intended: now,
            sent: now,
            pushed: None,
            deferred: false,
        };
        table(&mut self.latency, self.sc, flow.bank, a.customer).sent(flow.bank, a.kind, now);
        self.send(now, req);
    }

    /// The request leaves the platform at `now`.
    fn send(&mut self, now: SimTime, mut req: Req) {
        req.sent = now;
        let flow = &mut self.flows[req.flow as usize];
        if let (Design::Aggregator(a), Some((_, rng))) = (&self.sc.platforms[flow.platform].design, &mut flow.relay) {
            let hop = a.network_delay.sample(rng);
            self.queue.schedule(now + hop, Ev::AtAggregator(req));
            return;
        }
        let delay = self.sc.banks[flow.bank].service.network_delay.sample(flow.rng(req.customer));
        self.queue.schedule(now + delay, Ev::AtBank(req));
    }

    /// Aggregator designs: the aggregator queues the request, relays it, and it crosses to the
    /// bank.
    fn at_aggregator(&mut self, now: SimTime, req: Req) {
        let flow = &mut self.flows[req.flow as usize];
        let (Design::Aggregator(a), Some((_, rng))) = (&self.sc.platforms[flow.platform].design, &mut flow.relay)
        else {
            unreachable!("only aggregator flows reach an aggregator")
        };
        let service = a.service_time.sample(rng);
        let queue = self.aggregators[flow.platform.index()].as_mut().expect("an aggregator design has a queue");
        let Admission::Served { finish, .. } = queue.admit(now, service) else {
            unreachable!("aggregators have no rate limit")
        };
        let delay = self.sc.banks[flow.bank].service.network_delay.sample(flow.rng(req.customer));
        self.queue.schedule(finish + delay, Ev::AtBank(req));
    }

    /// The extra way back from the bank's side to the platform: the aggregator's hop, if any.
    fn relay_back(&mut self, fi: usize) -> Duration {
        let flow = &mut self.flows[fi];
        match (&self.sc.platforms[flow.platform].design, &mut flow.relay) {
            (Design::Aggregator(a), Some((_, rng))) => a.network_delay.sample(rng),
            _ => Duration::ZERO,
        }
    }

    fn at_bank(&mut self, now: SimTime, req: Req) {
        let sc = self.sc;
        let fi = req.flow as usize;
        let item = self.item(&req).clone();
        let (bank_i, platform_i) = (self.flows[fi].bank, self.flows[fi].platform);
        let service = &sc.banks[bank_i].service;
        let client = &sc.platforms[platform_i].client;
        let rng = self.flows[fi].rng(req.customer);
        let finish = match self.banks[bank_i.index()]
            .door
            .admit(now, now, req.customer, || service.service_time.sample(rng))
        {
            Entry::Unavailable { .. } => {
                let back = now + service.network_delay.sample(self.flows[fi].rng(req.customer)) + self.relay_back(fi);
                return self.failed(back, req, RequestError::Unavailable, None);
            }
            Entry::RateLimited { retry_after } => {
                let back = now + service.network_delay.sample(self.flows[fi].rng(req.customer)) + self.relay_back(fi);
                return self.failed(back, req, RequestError::RateLimited, Some(retry_after));
            }
            Entry::Served { finish, .. } => finish,
        };
        let back = finish + service.network_delay.sample(self.flows[fi].rng(req.customer)) + self.relay_back(fi);
        if self.banks[bank_i.index()].door.fails(self.flows[fi].rng(req.customer)) {
            return self.failed(back, req, RequestError::ServerError, None);
        }
        let resource = match item.kind {
            RequestKind::Accounts => Resource::Accounts,
            RequestKind::BalanceLookup => Resource::Balances,
            RequestKind::TransactionSync | RequestKind::Commerce => Resource::Transactions {
                from_ms: finish.as_millis().saturating_sub(item.window.as_millis() as u64),
                to_ms: finish.as_millis(),
            },
            RequestKind::FraudAlert => Resource::FraudAlert,
        };
        // Over-fetching asks the raw resource for everything, whatever the design.
        let asking = if req.over_fetch { Asking::Everything } else { Asking::WithinConsent };
        let decision = self.decide(fi, Ask { resource, purpose: item.purpose, asking }, finish);
        let timed_out = back.since(req.sent) > client.timeout;
        match decision.answer {
            Err(refusal) if !timed_out => return self.final_error(req, RequestError::Refused(refusal.as_str().into())),
            Err(_) => {}
            Ok(grant) => self.disclose(fi, &req, decision.resource, &grant, finish),
        }
        if timed_out {
            // The platform gave up before the answer came; the data had left the bank anyway.
            let gave_up = req.sent + client.timeout;
            self.failed(gave_up, req, RequestError::Timeout, None);
        } else {
            let row = table(&mut self.latency, sc, bank_i, req.customer).row(bank_i, item.kind, req.intended);
            row.recorder.record(back.since(req.intended));
            row.last = row.last.max(back);
        }
    }

    /// The bank's decision on a request under flow `fi` served at `at` (`serve::decide`, as
    /// behind HTTP); an audit revocation it makes ends the flow there.
    fn decide(&mut self, fi: usize, ask: Ask, at: SimTime) -> serve::Decision {
        let flow = &mut self.flows[fi];
        let bank = &self.sc.banks[flow.bank];
        // Revocation stops data at once: the consent is checked when data would leave.
        if let Some(r) = flow.revoked_at
            && at >= r
        {
            flow.consent.revoke(r, "bank", "agreement revoked");
        }
        let revoked = flow.audit_revoked.is_some() || flow.revoked_at.is_some();
        let (allowed, off_platform) = flow.allowance;
        let basis = serve::Basis { consent: &flow.consent, serving: &flow.serving, allowed, off_platform };
        let decision = serve::decide(basis, ask, at, &mut flow.ledger, bank, revoked);
        if let Some(why) = &decision.revoke {
            let reason = why.reason.clone();
            flow.revoked_at = Some(at);
            flow.consent.revoke(at, "bank", &reason);
            if at < flow.end {
                flow.end = at;
                self.sources.end_flow(fi, at);
            }
            let revocation = Revocation { at_ms: at.as_millis(), clause: why.clause.clone(), reason };
            let platform = &self.sc.platforms[flow.platform].name;
            let entry =
                TimelineEntry::revocation(at.as_millis(), platform, &bank.name, &revocation.clause, &revocation.reason);
            self.timeline.push(entry);
            flow.audit_revoked = Some(revocation);
        }
        decision
    }

    /// An attempt failed with `kind`; the response reached the platform at `at`, naming
    /// `retry_after` for a rate limit. Retried as `workload::retry_wait` says.
    fn failed(&mut self, at: SimTime, req: Req, kind: RequestError, retry_after: Option<Duration>) {
        let client = &self.sc.platforms[self.flows[req.flow as usize].platform].client;
        if let Some(wait) = workload::retry_wait(client, u32::from(req.attempt), &kind, retry_after) {
            let (bank, item_kind) = (self.flows[req.flow as usize].bank, self.item(&req).kind);
            let rec =
                &mut table(&mut self.latency, self.sc, bank, req.customer).row(bank, item_kind, req.intended).recorder;
            rec.error(&kind);
            rec.retried();
            let retry = Req { attempt: req.attempt + 1, ..req };
            self.queue.schedule(at + wait, if req.pushed.is_some() { Ev::Push(retry) } else { Ev::Send(retry) });
        } else {
            self.final_error(req, kind);
        }
    }

    fn final_error(&mut self, req: Req, kind: RequestError) {
        let (bank, item_kind) = (self.flows[req.flow as usize].bank, self.item(&req).kind);
        table(&mut self.latency, self.sc, bank, req.customer).row(bank, item_kind, req.intended).recorder.error(&kind);
    }

    /// Counts what a served request disclosed (`PairLedger::count`, as the bank counts it live),
    /// in the platform's ledger and, under an aggregator design, in the aggregator's: it sees
    /// every record it relays.
    fn disclose(&mut self, fi: usize, req: &Req, resource: Resource, grant: &Grant, at: SimTime) {
        let purpose = self.item(req).purpose;
        let flow = &mut self.flows[fi];
        let spec = &self.banks[flow.bank.index()].spec;
        let records = match (resource, req.pushed) {
            // The customer's accounts, as `api::account_records` lists them live.
            (Resource::Accounts, _) => Records::Other(api::ACCOUNTS_PER_CUSTOMER as u64),
            // A balance, a balance change, a derived signal: one record.
            (Resource::Balances | Resource::Contact, _) | (Resource::FraudAlert, None) => Records::Other(1),
            // A pushed transaction or alert is the transaction the bank booked.
            (Resource::FraudAlert | Resource::Transactions { .. }, Some(t)) => Records::Transaction(t),
            // The first page of the window, as the live platform asks for it.
            (Resource::Transactions { from_ms, to_ms }, None) => {
                let day = |d, out: &mut Vec<_>| population::transactions_on_day(spec, req.customer, d, out);
                serve::transactions_page(
                    day,
                    (from_ms, to_ms),
                    at.as_millis(),
                    grant.off_platform,
                    1,
                    &mut self.scratch,
                );
                Records::Transactions(&self.scratch)
            }
        };
        let disclosure = Disclosure { customer: req.customer, purpose, fields: grant.fields, records };
        flow.ledger.count(at.as_millis(), &disclosure);
        if let Some((relay, _)) = &mut flow.relay {
            relay.count(at.as_millis(), &disclosure);
        }
    }

    /// Pushed events: at the start of `day` (or of the flow), every booking of that day by a
    /// linked customer inside the flow's time raises its events (`alerts::AlertSchedule`, as the
    /// live bank's pusher finds them): a balance change for every booking, the transaction or a
    /// fraud alert only for those the platform may see.
    fn push_day(&mut self, now: SimTime, fi: usize, day: u32) {
        let flow = &mut self.flows[fi];
        if now >= flow.end {
            return;
        }
        let spec = &self.banks[flow.bank.index()].spec;
        let day_start = u64::from(day) * DAY_MS;
        let (from, to) = (day_start.max(flow.start.as_millis()), (day_start + DAY_MS).min(flow.end.as_millis()));
        // `due` takes the bookings in (from, to]: these are those in [from, to). The day's
        // deliveries are scheduled together: a run the scheduler takes in order.
        let mut day_pushes = Vec::new();
        for alert in flow.alerts.due(spec, &flow.watches, from.saturating_sub(1), to.saturating_sub(1)) {
            let Some(&(_, item)) = flow.pushed_events.iter().find(|(e, _)| *e == alert.event) else { continue };
            let at = alert.at();
            let req = Req {
                flow: fi as u32,
                item: item as u16,
                attempt: 0,
                over_fetch: false,
                customer: alert.customer,
                intended: at,
                sent: at,
                pushed: Some(Booking::from(&alert.transaction)),
                deferred: false,
            };
            day_pushes.push((at, Ev::Push(req)));
        }
        self.queue.schedule_all(day_pushes);
        let next = SimTime::from_duration(Duration::from_millis(day_start + DAY_MS));
        if next < flow.end {
            self.queue.schedule(next, Ev::PushDay { flow: fi, day: day + 1 });
        }
    }

    /// Push designs: the bank serves one delivery at `now` and sends it; its latency runs from
    /// the booking that raised it to its arrival at the platform.
    fn push(&mut self, now: SimTime, req: Req) {
        let sc = self.sc;
        let fi = req.flow as usize;
        let kind = self.item(&req).kind;
        let purpose = self.item(&req).purpose;
        let bank_i = self.flows[fi].bank;
        let service = &sc.banks[bank_i].service;
        if req.attempt == 0 && !req.deferred {
            let flow = &mut self.flows[fi];
            if now >= flow.end {
                return; // the agreement's data phase is over: nothing more is pushed
            }
            flow.requests += 1;
            flow.pushed += 1;
            table(&mut self.latency, sc, bank_i, req.customer).sent(bank_i, kind, now);
        }
        let rng = self.flows[fi].rng(req.customer);
        let finish =
            match self.banks[bank_i.index()].door.admit(now, now, req.customer, || service.service_time.sample(rng)) {
                // During an outage the bank holds its deliveries and sends them once it is back.
                Entry::Unavailable { until } => {
                    return self.queue.schedule(until, Ev::Push(Req { deferred: true, ..req }));
                }
                // The bank's rate limit paces its pushes too: a delivery waits for a token, and
                // deliveries held together wait one token apart, in the order they were held
                // (each trying again at the same instant would cost every one of them an event
                // per token: quadratic in the deliveries held).
                Entry::RateLimited { retry_after } => {
                    let partition = partition_of(req.customer, service.partitions) as usize;
                    let slot = &mut self.banks[bank_i.index()].held_pushes[partition];
                    let at = (now + retry_after).max(*slot);
                    let per_second = service.partition_rate_limit().map_or(f64::INFINITY, |(per_second, _)| per_second);
                    *slot = at + Duration::from_secs_f64(1.0 / per_second);
                    return self.queue.schedule(at, Ev::Push(Req { deferred: true, ..req }));
                }
                Entry::Served { finish, .. } => finish,
            };
        // Through the platform's aggregator, if it has one, as the live relay forwards events.
        let delivered = finish + service.network_delay.sample(self.flows[fi].rng(req.customer)) + self.relay_back(fi);
        if self.banks[bank_i.index()].door.fails(self.flows[fi].rng(req.customer)) {
            return self.failed(delivered, req, RequestError::ServerError, None);
        }
        // What the pushed kind arrives as, as the live pusher sends it; account look-ups are
        // always pulled (`workload::delivery`), so every pushed kind has an event.
        let Some(event) = workload::event(kind) else { return };
        let resource = bank_mock::alerts::event_resource(event, req.intended.as_millis());
        match self.decide(fi, Ask { resource, purpose, asking: Asking::WithinConsent }, finish).answer {
            Err(refusal) => self.final_error(req, RequestError::Refused(refusal.as_str().into())),
            Ok(grant) => {
                self.disclose(fi, &req, resource, &grant, finish);
                let row = table(&mut self.latency, sc, bank_i, req.customer).row(bank_i, kind, req.intended);
                row.recorder.record(delivered.since(req.intended));
                row.last = row.last.max(delivered);
            }
        }
    }

    /// What the run counted, and what its audits did.
    fn finish(self, events: u64) -> (DataParts, Audits) {
        let mut latency = LatencyTable::new(self.sc.banks.len());
        for partition in &self.latency {
            latency.merge(partition);
        }
        let queues = self.banks.iter().map(|b| b.door.figures()).collect();
        let mut revoked = Vec::with_capacity(self.flows.len());
        let flows = (self.flows.into_iter())
            .map(|f| {
                revoked.push(f.audit_revoked.zip(f.revoked_at));
                FlowPart { requests: f.requests, pushed: f.pushed, ledger: f.ledger, relay: f.relay.map(|(l, _)| l) }
            })
            .collect();
        (DataParts { flows, latency, queues, events }, Audits { revoked, timeline: self.timeline })
    }
}

/// What audits did to a run's agreements: by agreement, the revocation one made and when; and
/// the timeline entries. A shard makes none (`Shard::refusal` refuses what could).
pub struct Audits {
    pub revoked: Vec<Option<(Revocation, SimTime)>>,
    pub timeline: Vec<TimelineEntry>,
}

impl Audits {
    /// No audit revoked anything.
    pub fn none(agreements: usize) -> Audits {
        Audits { revoked: vec![None; agreements], timeline: Vec::new() }
    }
}

/// The data phase's outcome from what it counted (`parts`: one run's, or its shards' merged)
/// under `agreements` and what audits did: one way for a run and for a merge, so the two give
/// the same report.
pub fn outcome(sc: &Scenario, agreements: &[Agreement], parts: DataParts, audits: Audits) -> DataOutcome {
    let tallies: Vec<FlowTally<'_>> = (agreements.iter().zip(&parts.flows).zip(&audits.revoked))
        .map(|((a, part), revoked)| {
            let (mut end, mut ended_by) = workload::data_window(sc, a.at, a.revoked_at);
            if let Some((_, at)) = revoked
                && *at < end
            {
                (end, ended_by) = (*at, EndedBy::Revoked);
            }
            FlowTally {
                platform: a.platform,
                bank: a.bank,
                started_at_ms: a.at.as_millis(),
                ended_at_ms: end.as_millis(),
                ended_by,
                terms: &a.terms,
                permissions: consent_of(sc, a).1.permissions.iter().map(|p| format!("{p:?}")).collect(),
                requests: part.requests,
                consents_refused: 0,
                ledger: &part.ledger,
                relay: part.relay.as_ref(),
                pushed: part.pushed,
            }
        })
        .collect();
    let banks: Vec<BankTally> = parts.queues.iter().map(BankTally::of).collect();
    let rows = parts.latency.rows(sc, |row| row.last.since(row.first));
    let (report, designs) = data_report(sc, &tallies, &banks, rows, None);
    drop(tallies);
    let mut exposed = Exposed::default();
    for (a, part) in agreements.iter().zip(parts.flows) {
        exposed.push(sc.platforms[a.platform].name.clone(), a.bank, part.ledger);
        if let (Design::Aggregator(aggregator), Some(relay)) = (&sc.platforms[a.platform].design, part.relay) {
            exposed.push(aggregator.name.clone(), a.bank, relay);
        }
    }
    let revocations = (audits.revoked.into_iter().enumerate()).filter_map(|(fi, r)| Some((fi, r?.0))).collect();
    DataOutcome {
        exposed,
        report,
        revocations,
        timeline: audits.timeline,
        designs,
        latency: parts.latency,
        queues: parts.queues,
        events: parts.events,
    }
}
