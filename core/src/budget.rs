//! How much work a virtual run is, estimated from the scenario before it runs, and the budget
//! a run must fit: a file the loader accepts can still ask for 10^13 requests or a ledger per
//! customer of a 10^8 population, which would run for hours or abort on an allocation. The
//! estimate is an upper bound on the data phase: every pair a platform asks agrees as soon as
//! the platform starts, under the terms that link the most customers and show every
//! transaction. A run above the budget is refused in one line naming the key that makes it
//! large (`sim run`, exit 2); `sim validate` prints the estimate.

use crate::CoreError;
use crate::scenario::{Rate, Scenario};
use crate::workload::{self, Delivery};

/// Simulated requests a run may make unless `--max-requests` or `[data] max_requests` allows
/// more: a few seconds of a release build at about 8 million requests a second (BENCHMARKS.md),
/// and about 12 s when the bank is overloaded and its queue grows to millions.
pub const DEFAULT_MAX_REQUESTS: u64 = 20_000_000;
/// Estimated peak memory a run may use unless `--max-memory-mb` or `[data] max_memory_mb`
/// allows more, in MiB.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 4_096;

/// Bytes per linked customer of one ledger: its per-category counts and what its summary sorts.
const LEDGER_BYTES_PER_CUSTOMER: f64 = 96.0;
/// Bytes per customer of a bank: the union of exposed customers.
const BANK_BYTES_PER_CUSTOMER: f64 = 1.0;
/// Bytes per pushed delivery queued (a day's deliveries are queued at the day's start).
const PUSH_BYTES_PER_DELIVERY: f64 = 128.0;
/// Bytes per request waiting in an overloaded bank's queue (its finish time in a growing heap).
const QUEUED_BYTES_PER_REQUEST: f64 = 16.0;
/// Bytes per outcome per negotiating party (utilities and the admissible outcomes in order).
const NEGOTIATION_BYTES_PER_OUTCOME: f64 = 16.0;
/// Resident bytes of one latency row: its HdrHistogram allocates 28,672 zeroed counts of 8
/// bytes (1 µs to a day at 3 significant digits), of which only the pages its values touch
/// become resident: about 50 KiB a row measured (4,096 partitions of one kind: 248 MB peak).
const LATENCY_ROW_BYTES: f64 = 64.0 * 1024.0;
/// What a run holds whatever the scenario (code, histograms, report).
const BASE_BYTES: f64 = 16.0 * 1024.0 * 1024.0;
const SECONDS_PER_DAY: f64 = 86_400.0;

/// The estimate of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Simulated requests: polled and pushed, plus the customer-days a push design walks.
    pub requests: f64,
    /// Peak memory, in bytes.
    pub peak_bytes: f64,
    /// The key that contributes most to `requests`, and how (`None` without a data phase).
    pub requests_by: Option<Culprit>,
    /// The key that contributes most to `peak_bytes`.
    pub memory_by: Culprit,
}

/// A key path and the words that say how it makes a figure large.
#[derive(Clone, Debug, PartialEq)]
pub struct Culprit {
    pub key: String,
    pub how: String,
    amount: f64,
}

/// The budget a run must fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub max_requests: u64,
    pub max_memory_mb: u64,
}

impl Budget {
    /// The larger of the command line's budget and the scenario's own `[data]` keys.
    pub fn for_scenario(sc: &Scenario, max_requests: u64, max_memory_mb: u64) -> Budget {
        let data = sc.data.as_ref();
        Budget {
            max_requests: max_requests.max(data.and_then(|d| d.max_requests).unwrap_or(0)),
            max_memory_mb: max_memory_mb.max(data.and_then(|d| d.max_memory_mb).unwrap_or(0)),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_requests: DEFAULT_MAX_REQUESTS, max_memory_mb: DEFAULT_MAX_MEMORY_MB }
    }
}

/// A candidate key: the key, how it contributes, and how far its value is above its default
/// (the key most above its default is the one that makes the figure large).
struct Factor {
    key: String,
    how: String,
    above_default: f64,
}

fn culprit(amount: f64, factors: Vec<Factor>) -> Culprit {
    let f = factors
        .into_iter()
        .max_by(|a, b| a.above_default.total_cmp(&b.above_default))
        .expect("every contribution has a factor");
    Culprit { key: f.key, how: f.how, amount }
}

fn factor(key: String, how: String, value: f64, default: f64) -> Factor {
    Factor { key, how, above_default: value / default }
}

/// Estimates the work of a virtual run of `sc`.
pub fn estimate(sc: &Scenario) -> Estimate {
    let mut requests = 0.0;
    let mut requests_by: Option<Culprit> = None;
    let mut memory = BASE_BYTES;
    let mut memory_by = Culprit { key: "scenario".into(), how: "the run's fixed cost".into(), amount: BASE_BYTES };
    let mut add_memory = |bytes: f64, by: Culprit| {
        memory += bytes;
        if bytes > memory_by.amount {
            memory_by = by;
        }
    };
    let parties = (sc.platforms.len() + sc.banks.len()) as f64;
    let outcomes = f64::from(sc.space.len());
    add_memory(
        parties * outcomes * NEGOTIATION_BYTES_PER_OUTCOME,
        Culprit {
            key: "issues".into(),
            how: format!("{outcomes} outcomes per negotiation, held by each of {parties} parties"),
            amount: parties * outcomes * NEGOTIATION_BYTES_PER_OUTCOME,
        },
    );
    let Some(data) = &sc.data else {
        return Estimate { requests, peak_bytes: memory, requests_by, memory_by };
    };
    for (bank, b) in sc.banks_by_id() {
        let bi = bank.index();
        let bytes = b.population.customers as f64 * BANK_BYTES_PER_CUSTOMER;
        let key = format!("banks[{bi}].population.customers");
        add_memory(bytes, Culprit { how: format!("{} customers", b.population.customers), key, amount: bytes });
        // A partitioned bank's latency rows are kept per partition (merged at the end).
        let partitions = b.service.partitions;
        if partitions > 1 {
            let mut kinds: Vec<_> = (sc.platforms.iter().filter(|p| p.banks.contains(&bank)))
                .flat_map(|p| p.workload.iter().map(|w| w.kind))
                .collect();
            kinds.sort();
            kinds.dedup();
            let bytes = f64::from(partitions) * kinds.len() as f64 * LATENCY_ROW_BYTES;
            let how = format!("{partitions} partitions × {} request kinds, a latency histogram each", kinds.len());
            add_memory(bytes, Culprit { key: format!("banks[{bi}].service.partitions"), how, amount: bytes });
        }
    }
    // Per bank: requests per second offered while data flows, and for how long.
    let mut offered = vec![(0.0, 0.0f64); sc.banks.len()];
    for (pi, p) in sc.platforms_by_id() {
        let window = data.duration.min(sc.duration.saturating_sub(p.start)).as_secs_f64();
        let days = window / SECONDS_PER_DAY;
        let l = &p.linking;
        let spike_extra: f64 = sc
            .events
            .iter()
            .filter_map(|e| match e.kind {
                crate::scenario::EventKind::LoadSpike { platform, duration, factor } if platform == pi => {
                    Some((factor - 1.0).max(0.0) * duration.as_secs_f64().min(window) / SECONDS_PER_DAY)
                }
                _ => None,
            })
            .sum();
        for &bank_id in &p.banks {
            let (bank, bi) = (&sc.banks[bank_id], bank_id.index());
            let share = l.opt_in_rate.max(1.0 - l.opt_out_rate);
            let linked = (bank.population.customers as f64 * l.overlap * share).floor();
            let customers_key = format!("banks[{bi}].population.customers");
            let customers = bank.population.customers as f64;
            let ledgers = if matches!(p.design, crate::scenario::Design::Aggregator(_)) { 2.0 } else { 1.0 };
            let bytes = linked * LEDGER_BYTES_PER_CUSTOMER * ledgers;
            add_memory(
                bytes,
                Culprit {
                    key: customers_key.clone(),
                    how: format!("a ledger for each of up to {linked} customers {} links", p.name),
                    amount: bytes,
                },
            );
            let tx = bank.population.transactions_per_day;
            let tx_key = format!("banks[{bi}].population.transactions_per_day");
            let customers_factor = || {
                factor(
                    customers_key.clone(),
                    format!("{linked} linked customers"),
                    customers,
                    crate::scenario::DEFAULT_CUSTOMERS as f64,
                )
            };
            let mut pushed_items = 0.0;
            for (wi, w) in p.workload.iter().enumerate() {
                let wp = format!("platforms[{}].workload[{wi}]", pi.index());
                let (per_day, mut factors) = match w.rate {
                    Rate::PerCustomerPerDay(r) => (
                        r * linked,
                        vec![
                            factor(format!("{wp}.per_customer_per_day"), format!("{r} a customer a day"), r, 1.0),
                            customers_factor(),
                        ],
                    ),
                    Rate::PerSecond(r) => {
                        (r * SECONDS_PER_DAY, vec![factor(format!("{wp}.per_second"), format!("{r} a second"), r, 1.0)])
                    }
                    Rate::PerTransaction => (
                        tx * linked,
                        vec![factor(tx_key.clone(), format!("{tx} transactions a day"), tx, 1.5), customers_factor()],
                    ),
                };
                let pushed = workload::delivery(&p.design, w.kind) == Delivery::Pushed;
                // Pushes follow the bookings whatever the item's rate.
                let (per_day, mut factors) = if pushed {
                    pushed_items += 1.0;
                    (
                        tx * linked,
                        vec![
                            factor(tx_key.clone(), format!("{tx} pushed bookings a day"), tx, 1.5),
                            customers_factor(),
                        ],
                    )
                } else {
                    (per_day, std::mem::take(&mut factors))
                };
                let n = per_day * (days + spike_extra);
                offered[bi].0 += per_day / SECONDS_PER_DAY;
                offered[bi].1 = offered[bi].1.max(window);
                factors.push(factor("data.duration".into(), format!("{days:.0} days of data"), days, 30.0));
                requests += n;
                if requests_by.as_ref().is_none_or(|c| n > c.amount) {
                    requests_by = Some(culprit(n, factors));
                }
            }
            if pushed_items > 0.0 {
                // The push design walks every linked customer each day, and queues a day's
                // deliveries at once.
                let walks = linked * days;
                requests += walks;
                if requests_by.as_ref().is_none_or(|c| walks > c.amount) {
                    requests_by = Some(culprit(walks, vec![customers_factor()]));
                }
                let bytes = linked * tx * pushed_items * PUSH_BYTES_PER_DELIVERY;
                let how = format!("a day's pushed deliveries: {linked} linked customers × {tx} bookings");
                add_memory(bytes, Culprit { key: tx_key.clone(), how, amount: bytes });
            }
        }
    }
    // An overloaded bank's queue holds every request it cannot serve yet (open model: arrivals
    // do not slow down), so memory grows with the excess over its capacity.
    for (bi, b) in sc.banks.iter().enumerate() {
        let (rate, window) = offered[bi];
        let admitted = b.service.rate_limit.map_or(rate, |(per_second, _)| rate.min(per_second));
        let mean = b.service.service_time.mean().as_secs_f64();
        let capacity = if mean > 0.0 { f64::from(b.service.workers) / mean } else { f64::INFINITY };
        let backlog = (admitted - capacity).max(0.0) * window;
        if backlog > 0.0 {
            let bytes = backlog * QUEUED_BYTES_PER_REQUEST;
            let how = format!(
                "a queue growing to {} requests: {admitted:.0} a second offered to a capacity of {capacity:.0} a second",
                short(backlog)
            );
            add_memory(bytes, Culprit { key: format!("banks[{bi}].service.workers"), how, amount: bytes });
        }
    }
    Estimate { requests, peak_bytes: memory, requests_by, memory_by }
}

/// `n` in a short form: `830000`, `1.2e10`.
fn short(n: f64) -> String {
    if n < 1e7 { format!("{n:.0}") } else { format!("{n:.1e}") }
}

impl Estimate {
    /// The work of one of `count` shards of the run (`sim run --shard`): its share of the
    /// requests; memory stays the whole run's, an upper bound (a shard keeps every bank's
    /// population and every agreement's ledger, counting only its partition's customers).
    pub fn of_shard(mut self, count: u32) -> Estimate {
        if count <= 1 {
            return self; // the whole run
        }
        let share = f64::from(count);
        self.requests /= share;
        if let Some(by) = &mut self.requests_by {
            by.amount /= share;
            by.how = format!("{}, one shard of {count}", by.how);
        }
        self
    }

    /// Peak memory in MiB, rounded up.
    pub fn peak_mb(&self) -> u64 {
        (self.peak_bytes / (1024.0 * 1024.0)).ceil() as u64
    }

    /// One line for `sim validate`.
    pub fn describe(&self) -> String {
        format!("about {} simulated requests at most, peak memory about {} MB", short(self.requests), self.peak_mb())
    }

    /// Refuses a run above `budget`, naming the key that makes it large.
    pub fn check(&self, budget: Budget) -> Result<(), CoreError> {
        if self.requests > budget.max_requests as f64 {
            let by = self.requests_by.as_ref().expect("requests come from a data phase");
            return Err(CoreError::ScenarioInvalid {
                path: by.key.clone(),
                message: format!(
                    "the run would simulate up to {} requests ({}), above the budget of {}; raise it with --max-requests or [data] max_requests",
                    short(self.requests),
                    by.how,
                    budget.max_requests
                ),
            });
        }
        if self.peak_mb() > budget.max_memory_mb {
            return Err(CoreError::ScenarioInvalid {
                path: self.memory_by.key.clone(),
                message: format!(
                    "the run would need about {} MB ({}), above the budget of {} MB; raise it with --max-memory-mb or [data] max_memory_mb",
                    self.peak_mb(),
                    self.memory_by.how,
                    budget.max_memory_mb
                ),
            });
        }
        Ok(())
    }
}

/// One line naming the first (platform, bank) pair that could link more customers than
/// `max_customers` (under either consent mode: the terms are not known before the negotiation),
/// for both front ends to refuse before anything is negotiated.
pub fn too_many_customers(scenario: &Scenario, max_customers: u64) -> Option<String> {
    use crate::terms::ConsentMode;
    scenario.platforms_by_id().find_map(|(pi, p)| {
        p.banks.iter().find_map(|&bi| {
            let most = [ConsentMode::OptIn, ConsentMode::OptOut]
                .into_iter()
                .map(|mode| scenario.linked_customers(pi, bi, mode))
                .max()
                .unwrap_or(0);
            (most > max_customers).then(|| {
                format!(
                    "--max-customers: {} may link {most} customers at {}, more than {max_customers}; a live run links each one (a consent each) before its data phase: raise --max-customers or lower banks[{}].population.customers",
                    p.name, scenario.banks[bi].name, scenario.banks[bi].name
                )
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse;

    fn scenario(customers: u64, per_customer_per_day: f64, data: &str) -> Scenario {
        parse(&scenario_text(customers, per_customer_per_day, data)).unwrap()
    }

    fn scenario_text(customers: u64, per_customer_per_day: f64, data: &str) -> String {
        format!(
            r#"
[scenario]
name = "budget"
seed = 1
duration = "30d"
[data]
duration = "10d"
{data}
[[platforms]]
name = "p"
trust = 0.5
strategy = "linear"
reservation = 0.1
ask = {{ balances = "included" }}
[platforms.linking]
overlap = 1.0
opt_in_rate = 1.0
[[platforms.workload]]
kind = "balance_lookup"
per_customer_per_day = {per_customer_per_day}
[[banks]]
name = "b"
[banks.policy]
reservation = 0.2
strategy = "boulware"
[banks.population]
customers = {customers}
"#
        )
    }

    #[test]
    fn requests_are_rate_times_linked_customers_times_days() {
        let e = estimate(&scenario(1_000, 2.0, ""));
        assert!((e.requests - 2.0 * 1_000.0 * 10.0).abs() < 1e-6, "{}", e.requests);
        assert!(e.check(Budget::default()).is_ok());
    }

    #[test]
    fn a_run_above_the_request_budget_is_refused_naming_the_key_that_makes_it_large() {
        let many_customers = estimate(&scenario(100_000_000, 1.0, "")).check(Budget::default()).unwrap_err();
        assert!(
            many_customers
                .to_string()
                .starts_with("banks[0].population.customers: the run would simulate up to 1.0e9 requests"),
            "{many_customers}"
        );
        let high_rate = estimate(&scenario(10_000, 80_000.0, "")).check(Budget::default()).unwrap_err().to_string();
        assert!(high_rate.starts_with("platforms[0].workload[0].per_customer_per_day: "), "{high_rate}");
        assert!(high_rate.contains("--max-requests or [data] max_requests"), "{high_rate}");
    }

    #[test]
    fn the_scenario_can_raise_its_own_budget() {
        // 1,157 requests a second against the default bank's 1,600: no queue builds up.
        let sc = scenario(10_000, 10_000.0, "max_requests = 10_000_000_000");
        assert!(estimate(&sc).check(Budget::default()).is_err());
        let budget = Budget::for_scenario(&sc, DEFAULT_MAX_REQUESTS, DEFAULT_MAX_MEMORY_MB);
        assert_eq!(budget.max_requests, 10_000_000_000);
        assert!(estimate(&sc).check(budget).is_ok());
    }

    #[test]
    fn a_run_above_the_memory_budget_is_refused_naming_the_population() {
        let sc = scenario(100_000_000, 0.0, "");
        let err = estimate(&sc).check(Budget { max_requests: u64::MAX, max_memory_mb: 1_024 }).unwrap_err();
        assert!(err.to_string().starts_with("banks[0].population.customers: the run would need about"), "{err}");
    }

    #[test]
    fn a_bank_of_many_partitions_is_refused_for_its_latency_rows_naming_its_partitions() {
        let text = |partitions| {
            format!("{}[banks.service]\nworkers = 4096\npartitions = {partitions}\n", scenario_text(10_000, 1.0, ""))
        };
        let budget = Budget { max_requests: u64::MAX, max_memory_mb: 128 };
        let one = parse(&text(1)).unwrap();
        assert!(estimate(&one).check(budget).is_ok());
        // 4,096 partitions × one request kind × 64 KiB: about 256 MiB.
        let many = parse(&text(4096)).unwrap();
        let err = estimate(&many).check(budget).unwrap_err().to_string();
        assert!(err.starts_with("banks[0].service.partitions: the run would need about"), "{err}");
    }

    #[test]
    fn an_overloaded_bank_is_refused_for_its_growing_queue_naming_its_workers() {
        // 9,259 requests a second against 8 workers of 5 ms (1,600 a second) for 10 days.
        let sc = scenario(10_000, 80_000.0, "max_requests = 10_000_000_000");
        let budget = Budget::for_scenario(&sc, DEFAULT_MAX_REQUESTS, DEFAULT_MAX_MEMORY_MB);
        let err = estimate(&sc).check(budget).unwrap_err().to_string();
        assert!(err.starts_with("banks[0].service.workers: the run would need about"), "{err}");
        assert!(err.contains("a capacity of 1600 a second"), "{err}");
    }
}
