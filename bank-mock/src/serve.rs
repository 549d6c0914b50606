//! The bank's serving path for a data request, one for both modes: the virtual data phase
//! (`sim::exchange`) calls it at simulated times, the HTTP handlers (`http::data`, through the
//! desk) at the live clock's, and each acts on what it answers.
//!
//! - **`Door`**: whether the request gets in and when it is done. Outages come from the
//!   scenario's events and are read on the bank's *calendar*; the token bucket and the workers'
//!   FIFO queue (`BankQueue`) run on the bank's *service clock*. In virtual time the two are the
//!   same time; live, the calendar runs at the run's pace while service takes real time, so the
//!   handler waits until the answered finish on the wall clock.
//! - **`decide`**: what may leave. The consent and the terms (as the platform's design has the
//!   bank serve them, `api::Serving`), the field filter, refusals and blocked fields counted in
//!   the platform's ledger, and the audit that revokes after `revoke_after_violations`.
//! - **`transactions_page`**: which transactions a transactions response carries; the ledger
//!   counts what left with `PairLedger::count`, so both modes count records one way.

use crate::api::{self, Asking, Consent, DataRequest, Grant, Permission, Refusal, Resource, Serving};
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::exposure::PairLedger;
use testbed_core::negotiation::Withdrawal;
use testbed_core::population::{MS_PER_DAY, Transaction};
use testbed_core::queue::{Admission, BankQueue, QueueFigures, RateLimit, partition_of};
use testbed_core::scenario::{Bank, BankId, EventKind, Scenario};
use testbed_core::terms::FieldSet;
use testbed_core::terms::{DataCategory, Purpose};

/// One bank's door: outages, rate limit and workers, with the figures the report shows. A bank
/// with `partitions` > 1 serves each customer at one partition (`queue::partition_of`), each
/// with its share of the workers and of the rate limit; outages and injected errors are the
/// bank's.
#[derive(Clone, Debug)]
pub struct Door {
    /// One queue per partition.
    queues: Vec<BankQueue>,
    workers: u32,
    /// Outage windows `[start, end)` on the calendar.
    outages: Vec<(SimTime, SimTime)>,
    error_rate: f64,
    /// Service-clock span of the admitted requests: first arrival, last finish.
    first: Option<SimTime>,
    last: SimTime,
}

/// What the door answers a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry {
    /// 503: the bank is in an outage until `until` (calendar).
    Unavailable { until: SimTime },
    /// 429: no token; one returns after `retry_after`.
    RateLimited { retry_after: Duration },
    /// Served by a worker from `start` to `finish` (service clock).
    Served { start: SimTime, finish: SimTime },
}

impl Door {
    pub fn new(scenario: &Scenario, bank: BankId) -> Door {
        let service = &scenario.banks[bank].service;
        let outages = scenario
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Outage { bank: b, duration } if b == bank => {
                    let at = SimTime::from_duration(e.at);
                    Some((at, at + duration))
                }
                _ => None,
            })
            .collect();
        let rate_limit = service.partition_rate_limit().map(|(per_second, burst)| RateLimit { per_second, burst });
        Door {
            queues: (0..service.partitions).map(|_| BankQueue::new(service.partition_workers(), rate_limit)).collect(),
            workers: service.workers.max(1),
            outages,
            error_rate: service.error_rate,
            first: None,
            last: SimTime::ZERO,
        }
    }

    /// A request for `customer` reaches the door at `calendar` on the bank's calendar and
    /// `clock` on its service clock (the same time in virtual runs); `service` draws the
    /// worker's time it needs, once the bank is found open. Requests must come in service-clock
    /// order.
    #[inline]
    pub fn admit(
        &mut self,
        calendar: SimTime,
        clock: SimTime,
        customer: u64,
        service: impl FnOnce() -> Duration,
    ) -> Entry {
        if let Some(&(_, until)) = self.outages.iter().find(|(s, e)| *s <= calendar && calendar < *e) {
            return Entry::Unavailable { until };
        }
        let partition = partition_of(customer, self.queues.len() as u32) as usize;
        match self.queues[partition].admit(clock, service()) {
            Admission::RateLimited { retry_after } => Entry::RateLimited { retry_after },
            Admission::Served { start, finish } => {
                self.first = Some(self.first.map_or(clock, |f| f.min(clock)));
                self.last = self.last.max(finish);
                Entry::Served { start, finish }
            }
        }
    }

    /// Whether a served request fails with an injected server error (`error_rate`), drawn from
    /// the caller's stream.
    #[inline]
    pub fn fails(&self, rng: &mut impl rand::Rng) -> bool {
        self.error_rate > 0.0 && rand::RngExt::random::<f64>(rng) < self.error_rate
    }

    /// The door's figures over the run so far, per partition (`QueueFigures`).
    pub fn figures(&self) -> QueueFigures {
        QueueFigures {
            partitions: self.queues.iter().map(BankQueue::figures).collect(),
            workers: self.workers,
            first: self.first,
            last: self.last,
        }
    }
}

/// A data request as the bank receives it: the route's resource, the purpose it names, and how
/// much it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub resource: Resource,
    pub purpose: Purpose,
    pub asking: Asking,
}

/// The bank's decision on a request that got past the door.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// What is served: the resource asked for, or a derived one (minimised designs).
    pub resource: Resource,
    /// The fields that leave, or why nothing does.
    pub answer: Result<Grant, Refusal>,
    /// The audit's revocation of the agreement, when this request was the last violation it
    /// tolerates.
    pub revoke: Option<Withdrawal>,
}

/// What the bank serves requests under one consent by: the consent, the terms the platform's
/// design has it serve (`api::Serving`), and what the two allow together, worked out once (a
/// consent's permissions do not change; its status is checked on every request).
#[derive(Clone, Copy, Debug)]
pub struct Basis<'a> {
    pub consent: &'a Consent,
    pub serving: &'a Serving,
    /// The fields the consent and the terms allow.
    pub allowed: FieldSet,
    /// Whether both grant transactions made outside the platform.
    pub off_platform: bool,
}

impl<'a> Basis<'a> {
    pub fn new(consent: &'a Consent, serving: &'a Serving) -> Basis<'a> {
        let terms = &serving.terms;
        Basis {
            consent,
            serving,
            allowed: consent.allowed_fields().intersect(terms.allowed_fields()),
            off_platform: consent.has(Permission::ReadOffPlatformTransactions)
                && terms.grants(DataCategory::OffPlatformTransactions),
        }
    }
}

/// Decides what a request under `basis` may take at `now`: the fields it asks for (within its
/// consent, or everything when it over-fetches), the derived resource a minimised design serves
/// instead, the consent and terms check. A refusal, or fields asked for but not granted, are
/// counted in `ledger`; a violation is audited under the bank's policy (`already_revoked`: the
/// agreement is revoked already).
#[inline]
pub fn decide(
    basis: Basis<'_>,
    ask: Ask,
    now: SimTime,
    ledger: &mut PairLedger,
    bank: &Bank,
    already_revoked: bool,
) -> Decision {
    let Basis { consent, serving, allowed, off_platform: off_platform_granted } = basis;
    let terms = &serving.terms;
    let carries_transactions = matches!(ask.resource, Resource::Transactions { .. } | Resource::FraudAlert);
    let off_platform_allowed = carries_transactions && off_platform_granted;
    let (mut wants, wants_off_platform) = api::wants(ask.resource, ask.asking, allowed, off_platform_allowed);
    let mut resource = ask.resource;
    if let Some((derived, fields)) = serving.resource(resource, ask.asking) {
        // A derived resource carries its own fields, not those of the route asked.
        resource = derived;
        wants = fields.intersect(allowed);
    }
    let request = DataRequest { resource, purpose: ask.purpose, wants, wants_off_platform };
    let answer = api::authorize_within(consent, terms, &request, now, (allowed, off_platform_granted));
    let violation = match &answer {
        Err(refusal) => {
            ledger.refused(refusal.as_str(), refusal.is_violation());
            refusal.is_violation()
        }
        Ok(grant) => {
            if grant.is_violation() {
                ledger.blocked(grant.blocked, grant.blocked_off_platform);
            }
            grant.is_violation()
        }
    };
    // The audit sees the violation at once; the revocation stops data from the next request.
    let revoke = if violation { crate::policy::audit(bank, ledger.violations(), already_revoked) } else { None };
    Decision { resource, answer, revoke }
}

/// Transactions a page of a transactions response holds.
pub const PAGE_SIZE: usize = 50;

/// The transactions a `Transactions { from_ms, to_ms }` response carries, in both modes: the
/// card's bookings in the window made by `now_ms` on the bank's calendar (nothing is booked
/// later), those made outside the platform only when `off_platform` was granted, in time
/// order, `PAGE_SIZE` to a page. Leaves page `page` (from 1) in `out` and returns how many
/// pages the window has (at least one). `day` appends one day's bookings to its buffer.
pub fn transactions_page(
    day: impl FnMut(u32, &mut Vec<Transaction>),
    window: (u64, u64),
    now_ms: u64,
    off_platform: bool,
    page: usize,
    out: &mut Vec<Transaction>,
) -> usize {
    visible_transactions(day, window, now_ms, off_platform, out);
    let pages = out.len().div_ceil(PAGE_SIZE).max(1);
    out.drain(..(page.saturating_sub(1) * PAGE_SIZE).min(out.len()));
    out.truncate(PAGE_SIZE);
    pages
}

/// Every transaction a response about the window `[from_ms, to_ms)` may carry, in time order,
/// into `out`: booked by `now_ms` on the bank's clock, and off the platform only if
/// `off_platform`. The pages of every profile are cut from this one list.
pub fn visible_transactions(
    mut day: impl FnMut(u32, &mut Vec<Transaction>),
    (from_ms, to_ms): (u64, u64),
    now_ms: u64,
    off_platform: bool,
    out: &mut Vec<Transaction>,
) {
    out.clear();
    let until = to_ms.min(now_ms);
    if until > from_ms {
        for d in (from_ms / MS_PER_DAY)..=((until - 1) / MS_PER_DAY) {
            day(d as u32, out);
        }
        out.retain(|t| t.at_ms >= from_ms && t.at_ms < until && (t.on_platform || off_platform));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_core::scenario::ScheduledEvent;
    use testbed_core::terms::{Field, Terms};

    fn scenario() -> Scenario {
        testbed_core::scenario::parse(include_str!("../../scenarios/design-minimised.toml")).expect("a valid scenario")
    }

    fn agreed(sc: &Scenario) -> Terms {
        Terms::from_outcome(&sc.space, testbed_core::negotiation::OutcomeId(0))
    }

    #[test]
    fn transaction_pages_split_the_visible_bookings_of_the_window_up_to_the_banks_clock_in_time_order() {
        use testbed_core::population::{PopulationSpec, transactions_on_day};
        let spec =
            PopulationSpec { seed: 3, bank: "b".into(), size: 10, transactions_per_day: 40.0, on_platform_share: 0.5 };
        let day = |d, out: &mut Vec<Transaction>| transactions_on_day(&spec, 2, d, out);
        let (from, to, now) = (MS_PER_DAY / 2, 5 * MS_PER_DAY, 4 * MS_PER_DAY + 7);
        let mut every = Vec::new();
        for d in 0..6 {
            transactions_on_day(&spec, 2, d, &mut every);
        }
        for off_platform in [false, true] {
            let visible: Vec<Transaction> = (every.iter().copied())
                .filter(|t| t.at_ms >= from && t.at_ms < now && (t.on_platform || off_platform))
                .collect();
            let (mut walked, mut page) = (Vec::new(), Vec::new());
            let pages = transactions_page(day, (from, to), now, off_platform, 1, &mut page);
            assert_eq!(pages, visible.len().div_ceil(PAGE_SIZE));
            assert!(pages > 1, "the test covers more than one page");
            for p in 1..=pages {
                assert_eq!(transactions_page(day, (from, to), now, off_platform, p, &mut page), pages);
                assert!(page.len() <= PAGE_SIZE && !page.is_empty());
                walked.extend_from_slice(&page);
            }
            assert_eq!(walked, visible);
            // Past the last page: nothing, and still the number of pages.
            assert_eq!(transactions_page(day, (from, to), now, off_platform, pages + 1, &mut page), pages);
            assert!(page.is_empty());
        }
        // A window that ends before it starts on the bank's clock holds nothing: one empty page.
        let mut page = Vec::new();
        assert_eq!(transactions_page(day, (from, to), from, true, 1, &mut page), 1);
        assert!(page.is_empty());
    }

    #[test]
    fn the_door_reads_outages_on_the_calendar_and_queues_on_the_service_clock() {
        let mut sc = scenario();
        sc.banks[0].service.workers = 1;
        let hour = Duration::from_secs(3600);
        sc.events.push(ScheduledEvent {
            at: hour,
            description: "down".into(),
            kind: EventKind::Outage { bank: BankId::new(0), duration: hour },
        });
        let mut door = Door::new(&sc, BankId::new(0));
        let (t, ms) = (|d: Duration| SimTime::ZERO + d, Duration::from_millis);
        let mut drawn = 0;
        // Closed on the calendar: no service time is drawn, whatever the service clock says.
        let entry = door.admit(t(hour + ms(1)), t(ms(1)), 0, || {
            drawn += 1;
            ms(10)
        });
        assert_eq!(entry, Entry::Unavailable { until: t(2 * hour) });
        assert_eq!(drawn, 0);
        // Open: one worker, so the second request waits for the first on the service clock.
        assert_eq!(door.admit(t(ms(0)), t(ms(0)), 0, || ms(10)), Entry::Served { start: t(ms(0)), finish: t(ms(10)) });
        assert_eq!(door.admit(t(ms(5)), t(ms(5)), 0, || ms(10)), Entry::Served { start: t(ms(10)), finish: t(ms(20)) });
        let figures = door.figures();
        assert_eq!(figures.admitted(), 2);
        assert_eq!(figures.mean_wait(), ms(5) / 2);
        // 20 ms of work over the 20 ms from the first arrival to the last finish.
        assert!((figures.utilisation() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_partitioned_door_queues_each_customer_at_its_own_partition_with_its_share_of_workers_and_tokens() {
        let mut sc = scenario();
        sc.banks[0].service.workers = 2;
        sc.banks[0].service.partitions = 2;
        sc.banks[0].service.rate_limit = Some((1.0, 4.0));
        let mut door = Door::new(&sc, BankId::new(0));
        let (t, ms) = (|d: Duration| SimTime::ZERO + d, Duration::from_millis);
        // Customers 0 and 2 are routed to partition 0, customer 1 to partition 1.
        assert_eq!([0, 1, 2].map(|c| partition_of(c, 2)), [0, 1, 0]);
        // One worker each: customer 2 waits for customer 0, customer 1 does not.
        assert_eq!(door.admit(t(ms(0)), t(ms(0)), 0, || ms(10)), Entry::Served { start: t(ms(0)), finish: t(ms(10)) });
        assert_eq!(door.admit(t(ms(1)), t(ms(1)), 2, || ms(10)), Entry::Served { start: t(ms(10)), finish: t(ms(20)) });
        assert_eq!(door.admit(t(ms(2)), t(ms(2)), 1, || ms(10)), Entry::Served { start: t(ms(2)), finish: t(ms(12)) });
        // Two tokens each (burst 4 over 2 partitions): partition 0's are spent, partition 1 has one.
        assert!(matches!(door.admit(t(ms(3)), t(ms(3)), 0, || ms(10)), Entry::RateLimited { .. }));
        assert!(matches!(door.admit(t(ms(3)), t(ms(3)), 1, || ms(10)), Entry::Served { .. }));
        // The bank's figures are over its partitions: 4 admitted, 9 ms waited in all.
        let figures = door.figures();
        assert_eq!(figures.admitted(), 4);
        assert_eq!(figures.total_wait(), ms(9) + ms(12 - 3));
        assert_eq!(figures.workers, 2);
    }

    #[test]
    fn a_minimised_flow_gets_derived_signals_and_over_fetching_is_blocked_counted_and_revoked_at_the_audit_limit() {
        let mut sc = scenario();
        sc.banks[0].revoke_after_violations = Some(2);
        let terms = agreed(&sc);
        let serving = Serving::new(&sc.platforms[0].design, &terms);
        let mut consent = Consent::new("c".into(), "wallet".into(), &serving.consent_terms, SimTime::ZERO);
        consent.authorise();
        let mut ledger = PairLedger::new(10);
        let window = Resource::Transactions { from_ms: 0, to_ms: 86_400_000 };
        let ask = |asking| Ask { resource: window, purpose: Purpose::FraudAlerts, asking };
        let bank = &sc.banks[0];
        let within =
            decide(Basis::new(&consent, &serving), ask(Asking::WithinConsent), SimTime::ZERO, &mut ledger, bank, false);
        assert_eq!(within.resource, Resource::FraudAlert);
        let grant = within.answer.expect("served");
        assert!(!grant.is_violation());
        assert_eq!(grant.fields, FieldSet::of(&[Field::AccountId, Field::FraudFlag]));
        assert_eq!((ledger.violations(), within.revoke), (0, None));
        // Over-fetching asks the raw resource: its raw fields are blocked and counted.
        let over =
            decide(Basis::new(&consent, &serving), ask(Asking::Everything), SimTime::ZERO, &mut ledger, bank, false);
        assert_eq!(over.resource, window);
        assert!(over.answer.expect("served, filtered").is_violation());
        assert_eq!((ledger.violations(), over.revoke), (1, None));
        let again =
            decide(Basis::new(&consent, &serving), ask(Asking::Everything), SimTime::ZERO, &mut ledger, bank, false);
        assert_eq!(again.revoke.expect("the second violation is the limit").clause, "revoke_after_violations");
        // An agreement revoked already is not revoked twice.
        let after =
            decide(Basis::new(&consent, &serving), ask(Asking::Everything), SimTime::ZERO, &mut ledger, bank, true);
        assert_eq!(after.revoke, None);
    }
}
