//! The data phase in virtual time: under each agreement, linked customers' requests arrive as
//! Poisson processes (open model: sent at their scheduled times whatever the bank does), cross
//! the network, queue at the bank, are served or refused by the same `bank_mock::api` code as
//! live mode, and every field that leaves the bank goes into the exposure ledger.
//!
//! It runs after the negotiation phase: negotiations never depend on data, and everything
//! data can do to a negotiation (a revocation after violations) happens in here.

use bank_mock::api::{self, Consent, DataRequest, Permission, Resource};
use bank_mock::service::{Admission, BankQueue, RateLimit};
use rand::RngExt;
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::exposure::{FieldValues, PairLedger, UNICITY_SAMPLE};
use testbed_core::latency::LatencyRecorder;
use testbed_core::population::{self, GENERATOR_VERSION, PopulationSpec, Transaction};
use testbed_core::report::{BankDataRow, DataReport, FlowReport, LatencyRow, Revocation, TimelineEntry};
use testbed_core::rng::{SimRng, stream};
use testbed_core::scenario::{EventKind, Rate, RequestKind, Scenario};
use testbed_core::scheduler::Scheduler;
pub use testbed_core::session::Agreement;
use testbed_core::terms::{DataCategory, FieldSet, Terms};

const DAY: Duration = Duration::from_secs(86_400);
const REQUEST_KINDS: [RequestKind; 5] = [
    RequestKind::Accounts,
    RequestKind::BalanceLookup,
    RequestKind::TransactionSync,
    RequestKind::FraudAlert,
    RequestKind::Commerce,
];

fn latency_slot(bank: usize, kind: RequestKind) -> usize {
    bank * REQUEST_KINDS.len() + kind as usize
}
const DAY_MS: u64 = 86_400_000;

/// What the data phase adds to the report, plus audit revocations to fold into negotiations.
pub struct DataOutcome {
    pub report: DataReport,
    /// Each agreement's ledger, to export what was disclosed.
    pub exposed: Exposed,
    /// `(index into the agreements, revocation)` for revocations made by audits.
    pub revocations: Vec<(usize, Revocation)>,
    pub timeline: Vec<TimelineEntry>,
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
}

enum Ev {
    Arrival(usize),
    AtBank(Req),
    Send(Req),
}

struct Source {
    flow: usize,
    item: usize,
    /// Requests per nanosecond before load spikes.
    rate: f64,
    rng: SimRng,
}

struct Flow {
    platform: usize,
    bank: usize,
    terms: Terms,
    consent: Consent,
    start: SimTime,
    end: SimTime,
    ended_by: &'static str,
    revoked_at: Option<SimTime>,
    linked: u64,
    ledger: PairLedger,
    rng: SimRng,
    requests: u64,
    audit_revoked: Option<Revocation>,
}

struct Bank {
    spec: PopulationSpec,
    queue: BankQueue,
    outages: Vec<(SimTime, SimTime)>,
    first: Option<SimTime>,
    last: SimTime,
}

struct Phase<'a> {
    sc: &'a Scenario,
    queue: Scheduler<Ev>,
    flows: Vec<Flow>,
    sources: Vec<Source>,
    banks: Vec<Bank>,
    spikes: Vec<Vec<(SimTime, SimTime, f64)>>,
    /// Per (bank, request kind), indexed by `latency_slot`: requests sent, the recorder, and
    /// the span of time they covered.
    latency: Vec<Option<(u64, LatencyRecorder, SimTime, SimTime)>>,
    timeline: Vec<TimelineEntry>,
    scratch: Vec<Transaction>,
}

/// Runs the data phase for `agreements`. `None` when the scenario has no `[data]` table.
pub fn run(sc: &Scenario, agreements: &[Agreement]) -> Option<DataOutcome> {
    let data = sc.data.as_ref()?;
    let scenario_end = SimTime::from_duration(sc.duration);
    let mut phase = Phase {
        sc,
        queue: Scheduler::default(),
        flows: Vec::new(),
        sources: Vec::new(),
        banks: sc
            .banks
            .iter()
            .enumerate()
            .map(|(i, b)| Bank {
                spec: sc.population_spec(i),
                queue: BankQueue::new(
                    b.service.workers,
                    b.service.rate_limit.map(|(per_second, burst)| RateLimit { per_second, burst }),
                ),
                outages: Vec::new(),
                first: None,
                last: SimTime::ZERO,
            })
            .collect(),
        spikes: vec![Vec::new(); sc.platforms.len()],
        latency: vec![None; sc.banks.len() * REQUEST_KINDS.len()],
        timeline: Vec::new(),
        scratch: Vec::new(),
    };
    for e in &sc.events {
        let at = SimTime::from_duration(e.at);
        match e.kind {
            EventKind::Outage { bank, duration } => phase.banks[bank].outages.push((at, at + duration)),
            EventKind::LoadSpike { platform, duration, factor } => {
                phase.spikes[platform].push((at, at + duration, factor));
            }
            _ => {}
        }
    }
    for (fi, a) in agreements.iter().enumerate() {
        let platform = &sc.platforms[a.platform];
        let bank = &sc.banks[a.bank];
        let mut end = (a.at + data.duration).min(scenario_end);
        let mut ended_by = if a.at + data.duration <= scenario_end { "phase_over" } else { "scenario_end" };
        if let Some(r) = a.revoked_at.filter(|r| *r < end) {
            end = r;
            ended_by = "revoked";
        }
        let mut consent =
            Consent::new(format!("consent-{}-{}", platform.name, bank.name), platform.name.clone(), &a.terms, a.at);
        consent.authorise();
        let linked = sc.linked_customers(a.platform, a.bank, a.terms.consent_mode);
        let pair = format!("{}/{}", platform.name, bank.name);
        phase.flows.push(Flow {
            platform: a.platform,
            bank: a.bank,
            terms: a.terms.clone(),
            consent,
            start: a.at,
            end,
            ended_by,
            revoked_at: a.revoked_at,
            linked,
            ledger: PairLedger::new(linked),
            rng: stream(sc.seed, &format!("data/{pair}")),
            requests: 0,
            audit_revoked: None,
        });
        if linked == 0 {
            continue;
        }
        for (wi, w) in platform.workload.iter().enumerate() {
            // A well-behaved platform sends only requests whose purpose was agreed and whose
            // resource its consent covers.
            let permission = match w.kind {
                RequestKind::Accounts => Permission::ReadAccountsBasic,
                RequestKind::BalanceLookup => Permission::ReadBalances,
                _ => Permission::ReadTransactionsBasic,
            };
            if !a.terms.allows(w.purpose) || !phase.flows[fi].consent.has(permission) {
                continue;
            }
            let per_day = match w.rate {
                Rate::PerCustomerPerDay(r) => r * linked as f64,
                Rate::PerSecond(r) => r * 86_400.0,
                Rate::PerTransaction => {
                    let p = &bank.population;
                    // Alerts can only be pushed for transactions the platform may see.
                    let visible =
                        if a.terms.grants(DataCategory::OffPlatformTransactions) { 1.0 } else { p.on_platform_share };
                    p.transactions_per_day * visible * linked as f64
                }
            };
            if per_day <= 0.0 {
                continue;
            }
            let si = phase.sources.len();
            let mut rng = stream(sc.seed, &format!("arrivals/{pair}/{wi}"));
            let rate = per_day / DAY.as_nanos() as f64;
            let first = next_arrival(a.at, rate, &phase.spikes[a.platform], &mut rng);
            phase.sources.push(Source { flow: fi, item: wi, rate, rng });
            phase.queue.schedule(first, Ev::Arrival(si));
        }
    }
    while let Some((now, ev)) = phase.queue.pop() {
        match ev {
            Ev::Arrival(s) => phase.arrival(now, s),
            Ev::Send(req) => phase.send(now, req),
            Ev::AtBank(req) => phase.at_bank(now, req),
        }
    }
    Some(phase.finish(data.duration, data.sensitivity_weights))
}

/// The next Poisson arrival after `now` at `rate` per ns, multiplied by any load spikes: an
/// exponential amount of "work" is consumed segment by segment, which is exact for piecewise
/// constant rates.
fn next_arrival(now: SimTime, rate: f64, spikes: &[(SimTime, SimTime, f64)], rng: &mut SimRng) -> SimTime {
    let u: f64 = rng.random();
    let mut work = -(1.0 - u).ln(); // Exp(1)
    let mut t = now.as_nanos() as f64;
    loop {
        let factor: f64 = spikes
            .iter()
            .filter(|(s, e, _)| (s.as_nanos() as f64) <= t && t < e.as_nanos() as f64)
            .map(|(_, _, f)| *f)
            .product();
        let boundary = spikes
            .iter()
            .flat_map(|(s, e, _)| [s.as_nanos() as f64, e.as_nanos() as f64])
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

impl Phase<'_> {
    fn item(&self, req: &Req) -> &testbed_core::scenario::WorkloadItem {
        &self.sc.platforms[self.flows[req.flow as usize].platform].workload[req.item as usize]
    }

    fn arrival(&mut self, now: SimTime, s: usize) {
        let src = &mut self.sources[s];
        let flow = &mut self.flows[src.flow];
        if now >= flow.end {
            return; // the agreement's data phase is over: this source stops
        }
        let next = next_arrival(now, src.rate, &self.spikes[flow.platform], &mut src.rng);
        let customer = src.rng.random_range(0..flow.linked);
        let over_fetch = self.sc.platforms[flow.platform].client.over_fetch > 0.0
            && src.rng.random::<f64>() < self.sc.platforms[flow.platform].client.over_fetch;
        flow.requests += 1;
        let req = Req {
            flow: src.flow as u32,
            item: src.item as u16,
            attempt: 0,
            over_fetch,
            customer,
            intended: now,
            sent: now,
        };
        let kind = self.sc.platforms[flow.platform].workload[src.item].kind;
        let bank = flow.bank;
        self.latency[latency_slot(bank, kind)].get_or_insert_with(|| (0, LatencyRecorder::default(), now, now)).0 += 1;
        if next < flow.end {
            self.queue.schedule(next, Ev::Arrival(s));
        }
        self.send(now, req);
    }

    /// The request leaves the platform at `now`.
    fn send(&mut self, now: SimTime, mut req: Req) {
        req.sent = now;
        let flow = &mut self.flows[req.flow as usize];
        let delay = self.sc.banks[flow.bank].service.network_delay.sample(&mut flow.rng);
        self.queue.schedule(now + delay, Ev::AtBank(req));
    }

    fn at_bank(&mut self, now: SimTime, req: Req) {
        let sc = self.sc;
        let fi = req.flow as usize;
        let item = self.item(&req).clone();
        let (bank_i, platform_i) = (self.flows[fi].bank, self.flows[fi].platform);
        let service = &sc.banks[bank_i].service;
        let client = &sc.platforms[platform_i].client;
        if self.banks[bank_i].outages.iter().any(|(s, e)| *s <= now && now < *e) {
            let back = now + service.network_delay.sample(&mut self.flows[fi].rng);
            return self.failed(back, req, "unavailable", client.backoff * 2u32.pow(u32::from(req.attempt)));
        }
        let service_time = service.service_time.sample(&mut self.flows[fi].rng);
        let (start, finish) = match self.banks[bank_i].queue.admit(now, service_time) {
            Admission::RateLimited { retry_after } => {
                let back = now + service.network_delay.sample(&mut self.flows[fi].rng);
                return self.failed(back, req, "rate_limited", retry_after);
            }
            Admission::Served { start, finish } => (start, finish),
        };
        let _ = start;
        let bank = &mut self.banks[bank_i];
        bank.first = Some(bank.first.map_or(now, |f| f.min(now)));
        bank.last = bank.last.max(finish);
        let flow = &mut self.flows[fi];
        let back = finish + service.network_delay.sample(&mut flow.rng);
        if service.error_rate > 0.0 && flow.rng.random::<f64>() < service.error_rate {
            return self.failed(back, req, "server_error", client.backoff * 2u32.pow(u32::from(req.attempt)));
        }
        // Revocation stops data at once: the consent is checked when data would leave.
        if let Some(r) = flow.revoked_at
            && finish >= r
        {
            flow.consent.revoke(r, "bank", "agreement revoked");
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
        let wants =
            if req.over_fetch { resource.fields() } else { resource.fields().intersect(flow.terms.allowed_fields()) };
        let wants_off_platform = req.over_fetch || flow.terms.grants(DataCategory::OffPlatformTransactions);
        let request = DataRequest { resource, purpose: item.purpose, wants, wants_off_platform };
        let outcome = api::authorize(&flow.consent, &flow.terms, &request, finish);
        let timed_out = back.since(req.sent) > client.timeout;
        match outcome {
            Err(refusal) => {
                flow.ledger.refused(refusal.as_str(), refusal.is_violation());
                self.audit(fi, finish, refusal.is_violation());
                if !timed_out {
                    self.final_error(req, &format!("refused:{}", refusal.as_str()));
                    return;
                }
            }
            Ok(grant) => {
                if grant.is_violation() {
                    flow.ledger.blocked(grant.blocked, grant.blocked_off_platform);
                }
                self.disclose(fi, &req, resource, grant.fields, grant.off_platform, finish);
                if grant.is_violation() {
                    self.audit(fi, finish, true);
                }
            }
        }
        if timed_out {
            // The platform gave up before the answer came; the data had left the bank anyway.
            let gave_up = req.sent + client.timeout;
            self.failed(gave_up, req, "timeout", client.backoff * 2u32.pow(u32::from(req.attempt)));
        } else if outcome.is_ok() {
            let entry = self.latency[latency_slot(bank_i, item.kind)].as_mut().expect("created at arrival");
            entry.1.record(back.since(req.intended));
            entry.3 = entry.3.max(back);
        }
    }

    /// An attempt failed with `kind`; the response reached the platform at `at`. Retry after
    /// `wait` if retries remain.
    fn failed(&mut self, at: SimTime, req: Req, kind: &str, wait: Duration) {
        let retries = self.sc.platforms[self.flows[req.flow as usize].platform].client.retries;
        if u32::from(req.attempt) < retries {
            let slot = latency_slot(self.flows[req.flow as usize].bank, self.item(&req).kind);
            let rec = &mut self.latency[slot].as_mut().expect("created at arrival").1;
            rec.error(kind);
            rec.retried();
            self.queue.schedule(at + wait, Ev::Send(Req { attempt: req.attempt + 1, ..req }));
        } else {
            self.final_error(req, kind);
        }
    }

    fn final_error(&mut self, req: Req, kind: &str) {
        let slot = latency_slot(self.flows[req.flow as usize].bank, self.item(&req).kind);
        self.latency[slot].as_mut().expect("created at arrival").1.error(kind);
    }

    /// Counts what a served request disclosed.
    fn disclose(
        &mut self,
        fi: usize,
        req: &Req,
        resource: Resource,
        fields: FieldSet,
        off_platform: bool,
        at: SimTime,
    ) {
        let purpose = self.item(req).purpose;
        let flow = &mut self.flows[fi];
        let spec = &self.banks[flow.bank].spec;
        let at_ms = at.as_millis();
        match resource {
            Resource::Accounts => flow.ledger.disclose(at_ms, req.customer, purpose, fields, 2, 0),
            Resource::Balances => flow.ledger.disclose(at_ms, req.customer, purpose, fields, 1, 0),
            Resource::FraudAlert => {
                let off = off_platform && flow.rng.random::<f64>() >= spec.on_platform_share;
                flow.ledger.disclose(at_ms, req.customer, purpose, fields, 1, u64::from(off));
            }
            Resource::Transactions { from_ms, to_ms } => {
                let (mut on, mut off) = (0u64, 0u64);
                let traced = req.customer < UNICITY_SAMPLE && fields.contains(testbed_core::terms::Field::TxnMerchant);
                for day in (from_ms / DAY_MS)..=(to_ms.saturating_sub(1) / DAY_MS) {
                    self.scratch.clear();
                    population::transactions_on_day(spec, req.customer, day as u32, &mut self.scratch);
                    for t in self.scratch.iter().filter(|t| t.at_ms >= from_ms && t.at_ms < to_ms) {
                        if !t.on_platform && !off_platform {
                            continue;
                        }
                        if t.on_platform {
                            on += 1;
                        } else {
                            off += 1;
                        }
                        if traced {
                            flow.ledger.trace(req.customer, t.merchant, day as u32);
                        }
                    }
                }
                flow.ledger.disclose(at_ms, req.customer, purpose, fields, on + off, off);
            }
        }
    }

    /// An audit finding: revoke once the bank's policy says enough.
    fn audit(&mut self, fi: usize, at: SimTime, violation: bool) {
        if !violation {
            return;
        }
        let flow = &mut self.flows[fi];
        let bank = &self.sc.banks[flow.bank];
        let Some(limit) = bank.revoke_after_violations else { return };
        if flow.ledger.violations() >= limit && flow.audit_revoked.is_none() && flow.revoked_at.is_none() {
            let reason = format!("an audit found {limit} requests outside the agreed terms");
            flow.revoked_at = Some(at);
            flow.consent.revoke(at, "bank", &reason);
            if at < flow.end {
                flow.end = at;
                flow.ended_by = "revoked";
            }
            let revocation = Revocation { at_ms: at.as_millis(), clause: "revoke_after_violations".into(), reason };
            self.timeline.push(TimelineEntry {
                at_ms: at.as_millis(),
                kind: "revocation".into(),
                subject: format!("{}→{}", self.sc.platforms[flow.platform].name, bank.name),
                detail: format!(
                    "the bank revoked the agreement over clause `revoke_after_violations`: {}",
                    revocation.reason
                ),
            });
            flow.audit_revoked = Some(revocation);
        }
    }

    fn finish(self, phase: Duration, weights: [f64; 3]) -> DataOutcome {
        let sc = self.sc;
        let mut revocations = Vec::new();
        let mut flows = Vec::new();
        for (fi, f) in self.flows.iter().enumerate() {
            if let Some(r) = &f.audit_revoked {
                revocations.push((fi, r.clone()));
            }
            let platform = &sc.platforms[f.platform].name;
            flows.push(FlowReport {
                platform: platform.clone(),
                bank: sc.banks[f.bank].name.clone(),
                started_at_ms: f.start.as_millis(),
                ended_at_ms: f.end.as_millis(),
                ended_by: f.ended_by.into(),
                categories: f.terms.category_names().into_iter().map(String::from).collect(),
                purposes: f.terms.purpose_names().into_iter().map(String::from).collect(),
                permissions: f.consent.permissions.iter().map(|p| format!("{p:?}")).collect(),
                requests: f.requests,
                exposure: f.ledger.summarize(&self.banks[f.bank].spec, platform, weights),
            });
        }
        let latency = self
            .latency
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_ref().map(|e| (slot, e)))
            .map(|(slot, (requests, rec, first, last))| LatencyRow {
                bank: sc.banks[slot / REQUEST_KINDS.len()].name.clone(),
                kind: REQUEST_KINDS[slot % REQUEST_KINDS.len()].as_str().into(),
                requests: *requests,
                latency: rec.summary(last.since(*first)),
            })
            .collect();
        let banks = sc
            .banks
            .iter()
            .enumerate()
            .map(|(bi, b)| {
                let mine: Vec<(&Flow, &FlowReport)> =
                    self.flows.iter().zip(&flows).filter(|(f, _)| f.bank == bi).collect();
                let mut union = vec![false; b.population.customers as usize];
                for (f, _) in &mine {
                    for (i, exposed) in union.iter_mut().enumerate().take(f.linked as usize) {
                        *exposed |= f.ledger.is_exposed(i);
                    }
                }
                let exposed = union.iter().filter(|x| **x).count() as u64;
                let sum = |g: fn(&FieldValues) -> u64| mine.iter().map(|(_, r)| g(&r.exposure.field_values)).sum();
                let bank = &self.banks[bi];
                let span = bank.first.map_or(Duration::ZERO, |f| bank.last.since(f));
                BankDataRow {
                    bank: b.name.clone(),
                    population: b.population.customers,
                    customers_exposed: exposed,
                    share_of_population: if b.population.customers == 0 {
                        0.0
                    } else {
                        exposed as f64 / b.population.customers as f64
                    },
                    weighted_score: mine.iter().fold(0.0, |s, (_, r)| s + r.exposure.weighted_score),
                    field_values: FieldValues {
                        low: sum(|v| v.low),
                        moderate: sum(|v| v.moderate),
                        high: sum(|v| v.high),
                    },
                    requests_served: bank.queue.admitted(),
                    mean_wait_ms: bank.queue.mean_wait().as_secs_f64() * 1e3,
                    mean_in_system: bank.queue.mean_in_system_seen(),
                    utilisation: if span.is_zero() {
                        0.0
                    } else {
                        bank.queue.busy().as_secs_f64() / (span.as_secs_f64() * f64::from(b.service.workers))
                    },
                }
            })
            .collect();
        let exposed = Exposed { flows: self.flows.into_iter().map(|f| (f.platform, f.bank, f.ledger)).collect() };
        DataOutcome {
            exposed,
            report: DataReport {
                generator: GENERATOR_VERSION.into(),
                phase_ms: phase.as_millis() as u64,
                sensitivity_weights: weights,
                flows,
                latency,
                banks,
            },
            revocations,
            timeline: self.timeline,
        }
    }
}

/// What each agreement disclosed, per customer: the basis of `--export-exposed`.
#[derive(Default)]
pub struct Exposed {
    flows: Vec<(usize, usize, PairLedger)>,
}

impl Exposed {
    /// One row per exposed customer and agreement: who, the quasi-identifiers, and the number of
    /// records disclosed in each category.
    pub fn to_csv(&self, sc: &Scenario) -> String {
        let mut out = String::from("platform,bank,customer,zip5,date_of_birth,sex");
        for c in DataCategory::ALL {
            out.push(',');
            out.push_str(c.as_str());
        }
        out.push('\n');
        for (platform, bank, ledger) in &self.flows {
            let spec = sc.population_spec(*bank);
            for (i, counts) in ledger.customer_counts().iter().enumerate() {
                if counts.iter().all(|n| *n == 0) {
                    continue;
                }
                let qi = population::quasi_identifiers(&spec, i as u64);
                let sex = match qi.sex {
                    population::Sex::Female => "F",
                    population::Sex::Male => "M",
                };
                out.push_str(&format!(
                    "{},{},{i},{:05},{},{sex}",
                    sc.platforms[*platform].name, sc.banks[*bank].name, qi.zip5, qi.birth_date
                ));
                for n in counts {
                    out.push_str(&format!(",{n}"));
                }
                out.push('\n');
            }
        }
        out
    }
}
