//! Scenario files: the TOML format (wire types, unknown keys rejected) and its conversion into
//! validated domain values. Parsing text is not I/O: callers read the file and pass its text,
//! so the mocks' binaries and `sim` share one loader.
//!
//! Every error names its place: `line:column` for syntax and type errors, the key path
//! (`banks[1].policy.reservation`) for values that parse but make no sense.

use crate::CoreError;
use crate::delay::Delay;
pub use crate::ids::{BankId, PlatformId};
use crate::negotiation::{
    BOULWARE_EXPONENT, CONCEDER_EXPONENT, Clause, Issue, IssueSpace, LINEAR_EXPONENT, LinearUtility, OutcomeId,
    Preferences, Side, Strategy, TrustFloor,
};
use crate::terms::{DEFAULT_SENSITIVITY_WEIGHTS, DataCategory, Purpose};
use crate::thresholds::{CountLimit, ExpectedOutcome, Percentile, Threshold};
use crate::time::format_duration;
use crate::vocabulary::{Favours, default_favours, default_issues};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_DEADLINE_ROUNDS: u32 = 20;
pub const DEFAULT_PATIENCE: u32 = 3;
pub const DEFAULT_CUSTOMERS: u64 = 10_000;
/// Customer indices must fit the ledger's `u32` bookkeeping.
pub const MAX_CUSTOMERS: u64 = 100_000_000;
pub const MAX_DEADLINE_ROUNDS: u32 = 100_000;

// Bounds checked at load, so that no value the parser accepts can overflow simulated time,
// panic in a conversion, or allocate without limit later (scenarios/README.md lists them by
// key). How much work a run is (requests, memory) is a separate budget.

/// Longest scenario, data phase, outage or load spike: 100 years (`SimTime` holds 584).
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);
/// Largest value of a delay distribution's duration parameters (`value`, `mean`, `median`,
/// `min`, `max`, `sd`): 365 days.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 86_400);
/// Largest `sigma` of a log-normal delay: its mean is then at most e^8 ≈ 2981 times its median.
pub const MAX_LOGNORMAL_SIGMA: f64 = 4.0;
/// Longest client timeout and first retry back-off: one day.
pub const MAX_CLIENT_WAIT: Duration = Duration::from_secs(86_400);
/// Allowed sustained rate of a bank's rate limit, per second: at the least one request in 1,000
/// s (the longest Retry-After), at the most a billion a second.
pub const RATE_LIMIT_PER_SECOND: (f64, f64) = (0.001, 1e9);
/// Largest token-bucket burst.
pub const MAX_BURST: f64 = 1e9;
/// Most partitions a bank's API may have.
pub const MAX_PARTITIONS: u32 = 4_096;
/// Largest `per_second` of a workload item: a million requests a second.
pub const MAX_PER_SECOND: f64 = 1e6;
/// Largest `per_customer_per_day` of a workload item: one request a second per customer.
pub const MAX_PER_CUSTOMER_PER_DAY: f64 = 86_400.0;
/// Largest mean number of card transactions per customer per day (a day's transaction ids have
/// 16 bits, and a push design holds a day's deliveries in memory).
pub const MAX_TRANSACTIONS_PER_DAY: f64 = 1_000.0;
/// Largest exposure-score weight of a sensitivity class.
pub const MAX_SENSITIVITY_WEIGHT: f64 = 1e6;
/// Clause id a bank names when the platform's trust is below its floor.
pub const TRUST_CLAUSE: &str = "min_platform_trust";
/// Clause id a bank names when it revokes an agreement because trust fell.
pub const REVOKE_TRUST_CLAUSE: &str = "revoke_below_trust";
/// Clause id a bank names when its reaction to any privacy incident is to walk away.
pub const INCIDENT_CLAUSE: &str = "privacy_incident";

// ---------------------------------------------------------------------------------------------
// Domain values
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration: Duration,
    /// Which side makes the first offer in every negotiation.
    pub opens: Side,
    pub space: IssueSpace,
    pub network_delay: Delay,
    pub decision_delay: Delay,
    pub platforms: Vec<Platform>,
    pub banks: Vec<Bank>,
    /// Sorted by time; events at the same time keep file order.
    pub events: Vec<ScheduledEvent>,
    /// The data exchange that follows each agreement; `None` when the file has no `[data]`.
    pub data: Option<DataPhase>,
    /// Pass/fail criteria checked against the report after a run, in file order.
    pub thresholds: Vec<Threshold>,
}

#[derive(Clone, Debug)]
pub struct DataPhase {
    /// How long data flows after each agreement (cut short by revocation or the scenario end).
    pub duration: Duration,
    /// Exposure score weights of Low, Moderate and High field values.
    pub sensitivity_weights: [f64; 3],
    /// Raise the run's request budget (`budget::DEFAULT_MAX_REQUESTS`) to this.
    pub max_requests: Option<u64>,
    /// Raise the run's memory budget (`budget::DEFAULT_MAX_MEMORY_MB`) to this, in MiB.
    pub max_memory_mb: Option<u64>,
}

/// A bank's synthetic customers.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationConfig {
    pub customers: u64,
    pub transactions_per_day: f64,
    pub on_platform_share: f64,
}

/// How a bank serves API requests.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    pub workers: u32,
    pub service_time: Delay,
    /// One-way network delay between platform and bank.
    pub network_delay: Delay,
    /// Probability that a served request fails with a 5xx.
    pub error_rate: f64,
    /// Requests per second and burst of the token bucket (429 with Retry-After beyond it): the
    /// bank's total, split evenly among its partitions.
    pub rate_limit: Option<(f64, f64)>,
    /// Partitions behind a hash router (`queue::partition_of`): each customer's requests go to
    /// one, each with `workers / partitions` workers and its share of the rate limit.
    pub partitions: u32,
}

impl ServiceConfig {
    /// Workers of each partition.
    pub fn partition_workers(&self) -> u32 {
        self.workers / self.partitions
    }

    /// Rate limit (per second, burst) of each partition.
    pub fn partition_rate_limit(&self) -> Option<(f64, f64)> {
        let n = f64::from(self.partitions);
        self.rate_limit.map(|(per_second, burst)| (per_second / n, burst / n))
    }
}

/// Which of a bank's customers a platform can link.
#[derive(Clone, Debug, PartialEq)]
pub struct Linking {
    /// Share of the bank's customers who also use the platform.
    pub overlap: f64,
    /// Share of those who link when linking is opt-in.
    pub opt_in_rate: f64,
    /// Share of those who refuse when linking is opt-out.
    pub opt_out_rate: f64,
}

/// The platform's HTTP client behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub timeout: Duration,
    pub retries: u32,
    /// First retry delay; it doubles with each further retry.
    pub backoff: Duration,
    /// Share of requests that ask for every field of the resource, beyond the terms.
    pub over_fetch: f64,
}

/// How data flows from the banks to a platform after an agreement (`[platforms.design]`).
#[derive(Clone, Debug, PartialEq)]
pub enum Design {
    /// The platform pulls from each bank's API itself (the default).
    Direct,
    /// The platform pulls through an aggregator: one more party, one more hop each way, its
    /// own queue, and a copy of every record it relays.
    Aggregator(AggregatorConfig),
    /// Banks answer with derived signals (a balance band, a fraud flag) instead of raw
    /// balances and transactions.
    Minimised,
    /// Banks push balance changes, new transactions and fraud alerts as they happen instead of
    /// being polled; only on-demand requests (`accounts`) are still pulled.
    Push,
}

impl Design {
    /// The `kind` values of `[platforms.design]`, in the order documented.
    pub const KINDS: [&'static str; 4] = ["direct", "aggregator", "minimised", "push"];

    pub fn kind(&self) -> DesignKind {
        match self {
            Design::Direct => DesignKind::Direct,
            Design::Aggregator(_) => DesignKind::Aggregator,
            Design::Minimised => DesignKind::Minimised,
            Design::Push => DesignKind::Push,
        }
    }
}

/// A [`Design`] without its settings: what `kind = "…"` names and reports record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DesignKind {
    Direct,
    Aggregator,
    Minimised,
    Push,
}

impl DesignKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DesignKind::Direct => "direct",
            DesignKind::Aggregator => "aggregator",
            DesignKind::Minimised => "minimised",
            DesignKind::Push => "push",
        }
    }
}

impl std::fmt::Display for DesignKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aggregator between a platform and the banks it pulls from.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregatorConfig {
    /// The aggregator's name in reports (shares the namespace of banks and platforms).
    pub name: String,
    /// One-way delay between the platform and the aggregator, drawn each way.
    pub network_delay: Delay,
    /// Time one of its workers spends relaying a request.
    pub service_time: Delay,
    /// Requests relayed in parallel; the rest wait in one FIFO queue.
    pub workers: u32,
}

/// Kinds of data requests a platform makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Accounts,
    BalanceLookup,
    TransactionSync,
    /// Pushed by the bank for each new card transaction; its rate follows the transactions.
    FraudAlert,
    Commerce,
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Accounts => "accounts",
            RequestKind::BalanceLookup => "balance_lookup",
            RequestKind::TransactionSync => "transaction_sync",
            RequestKind::FraudAlert => "fraud_alert",
            RequestKind::Commerce => "commerce",
        }
    }

    pub fn default_purpose(self) -> Purpose {
        match self {
            RequestKind::Accounts => Purpose::CustomerService,
            RequestKind::BalanceLookup => Purpose::BalanceDisplay,
            RequestKind::TransactionSync | RequestKind::Commerce => Purpose::Commerce,
            RequestKind::FraudAlert => Purpose::FraudAlerts,
        }
    }
}

/// How often a workload item fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Poisson, this many per linked customer per day.
    PerCustomerPerDay(f64),
    /// Poisson, this many per second in total.
    PerSecond(f64),
    /// One per new card transaction of a linked customer (fraud alerts).
    PerTransaction,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadItem {
    pub kind: RequestKind,
    pub rate: Rate,
    pub purpose: Purpose,
    /// Transactions look-back window (transaction_sync, commerce).
    pub window: Duration,
}

#[derive(Clone, Debug)]
pub struct Platform {
    pub name: String,
    pub description: String,
    /// Trust in `0..=1`; privacy incidents move it.
    pub trust: f64,
    pub start: Duration,
    pub deadline_rounds: u32,
    pub strategy: Strategy,
    pub preferences: Arc<Preferences>,
    /// The banks this platform asks.
    pub banks: Vec<BankId>,
    /// The platform's opening ask, one option per issue.
    pub ask: OutcomeId,
    pub decision_delay: Option<Delay>,
    pub linking: Linking,
    pub client: ClientConfig,
    pub workload: Vec<WorkloadItem>,
    /// How its data flows (direct pull, aggregator, minimised, push).
    pub design: Design,
    /// How it values its deals together, if it does (`[platforms.portfolio]`).
    pub portfolio: Option<Portfolio>,
}

pub use crate::negotiation::portfolio::Portfolio;

/// How a bank reacts when a privacy incident hits a platform it deals with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentReaction {
    /// Re-check its trust floors as soon as it has deliberated (decision delay).
    Reassess,
    /// Walk away from the platform at once: withdraw, or revoke an agreement.
    Withdraw,
    /// Notice only at its next turn.
    Ignore,
}

#[derive(Clone, Debug)]
pub struct Bank {
    pub name: String,
    pub description: String,
    pub deadline_rounds: u32,
    pub strategy: Strategy,
    pub preferences: Arc<Preferences>,
    pub on_privacy_incident: IncidentReaction,
    pub decision_delay: Option<Delay>,
    pub population: PopulationConfig,
    pub service: ServiceConfig,
    /// Revoke an agreement once an audit has found this many term violations.
    pub revoke_after_violations: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct ScheduledEvent {
    pub at: Duration,
    pub description: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug)]
pub enum EventKind {
    /// A privacy incident at a platform moves its trust by `trust_change` (clamped to 0..=1).
    PrivacyIncident { platform: PlatformId, trust_change: f64 },
    /// A rule every party must now follow, as a hard limit added to every bank and platform.
    Regulation { clause: Clause },
    /// A bank stops answering for `duration`: negotiation messages wait until it is back, API
    /// requests get 503.
    Outage { bank: BankId, duration: Duration },
    /// A platform's request rates are multiplied by `factor` for `duration`.
    LoadSpike { platform: PlatformId, duration: Duration, factor: f64 },
}

// ---------------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWire {
    scenario: MetaWire,
    #[serde(default)]
    timing: TimingWire,
    issues: Option<Vec<IssueWire>>,
    #[serde(default)]
    platforms: Vec<PlatformWire>,
    #[serde(default)]
    banks: Vec<BankWire>,
    #[serde(default)]
    events: Vec<EventWire>,
    data: Option<DataWire>,
    #[serde(default)]
    thresholds: Vec<ThresholdWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataWire {
    #[serde(with = "crate::serde_duration")]
    duration: Duration,
    sensitivity_weights: Option<[f64; 3]>,
    max_requests: Option<u64>,
    max_memory_mb: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PopulationWire {
    customers: Option<u64>,
    transactions_per_day: Option<f64>,
    on_platform_share: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServiceWire {
    workers: Option<u32>,
    service_time: Option<DelayWire>,
    network_delay: Option<DelayWire>,
    error_rate: Option<f64>,
    rate_limit: Option<RateLimitWire>,
    partitions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitWire {
    per_second: f64,
    burst: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkingWire {
    overlap: Option<f64>,
    opt_in_rate: Option<f64>,
    opt_out_rate: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClientWire {
    #[serde(default, with = "crate::serde_duration::option")]
    timeout: Option<Duration>,
    retries: Option<u32>,
    #[serde(default, with = "crate::serde_duration::option")]
    backoff: Option<Duration>,
    over_fetch: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadWire {
    kind: RequestKind,
    per_customer_per_day: Option<f64>,
    per_second: Option<f64>,
    purpose: Option<String>,
    #[serde(default, with = "crate::serde_duration::option")]
    window: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaWire {
    name: String,
    #[serde(default)]
    description: String,
    seed: u64,
    #[serde(with = "crate::serde_duration")]
    duration: Duration,
    #[serde(default = "platform_side")]
    opens: Side,
}

fn platform_side() -> Side {
    Side::Platform
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TimingWire {
    network_delay: Option<DelayWire>,
    decision_delay: Option<DelayWire>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
enum DelayWire {
    Fixed {
        #[serde(with = "crate::serde_duration")]
        value: Duration,
    },
    Exponential {
        #[serde(with = "crate::serde_duration")]
        mean: Duration,
    },
    #[serde(rename = "lognormal", alias = "log_normal")]
    LogNormal {
        #[serde(with = "crate::serde_duration")]
        median: Duration,
        sigma: f64,
    },
    Uniform {
        #[serde(with = "crate::serde_duration")]
        min: Duration,
        #[serde(with = "crate::serde_duration")]
        max: Duration,
    },
    Normal {
        #[serde(with = "crate::serde_duration")]
        mean: Duration,
        #[serde(with = "crate::serde_duration")]
        sd: Duration,
    },
}

impl From<DelayWire> for Delay {
    fn from(w: DelayWire) -> Delay {
        match w {
            DelayWire::Fixed { value } => Delay::Fixed { value },
            DelayWire::Exponential { mean } => Delay::Exponential { mean },
            DelayWire::LogNormal { median, sigma } => Delay::LogNormal { median, sigma },
            DelayWire::Uniform { min, max } => Delay::Uniform { min, max },
            DelayWire::Normal { mean, sd } => Delay::Normal { mean, sd },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueWire {
    name: String,
    options: Vec<String>,
    bank_favours: Option<Favours>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum StrategyName {
    Boulware,
    Linear,
    Conceder,
    TimeBased,
    Hardliner,
    TitForTat,
    Aspiration,
    Micro,
    NiceTitForTat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformWire {
    name: String,
    #[serde(default)]
    description: String,
    trust: f64,
    strategy: StrategyName,
    exponent: Option<f64>,
    accepting_exponent: Option<f64>,
    reservation: f64,
    deadline_rounds: Option<u32>,
    #[serde(default, with = "crate::serde_duration::option")]
    start: Option<Duration>,
    banks: Option<Vec<String>>,
    #[serde(default)]
    ask: BTreeMap<String, String>,
    #[serde(default)]
    weights: BTreeMap<String, f64>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default)]
    limits: Vec<LimitWire>,
    decision_delay: Option<DelayWire>,
    #[serde(default)]
    linking: LinkingWire,
    #[serde(default)]
    client: ClientWire,
    #[serde(default)]
    workload: Vec<WorkloadWire>,
    design: Option<DesignWire>,
    portfolio: Option<PortfolioWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortfolioWire {
    min_banks: u32,
    #[serde(default)]
    shares: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DesignWire {
    kind: Option<String>,
    name: Option<String>,
    network_delay: Option<DelayWire>,
    service_time: Option<DelayWire>,
    workers: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BankWire {
    name: String,
    #[serde(default)]
    description: String,
    policy: PolicyWire,
    decision_delay: Option<DelayWire>,
    #[serde(default)]
    population: PopulationWire,
    #[serde(default)]
    service: ServiceWire,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyWire {
    reservation: f64,
    strategy: StrategyName,
    exponent: Option<f64>,
    accepting_exponent: Option<f64>,
    deadline_rounds: Option<u32>,
    min_platform_trust: Option<f64>,
    revoke_below_trust: Option<f64>,
    on_privacy_incident: Option<IncidentReaction>,
    patience: Option<u32>,
    revoke_after_violations: Option<u64>,
    #[serde(default)]
    weights: BTreeMap<String, f64>,
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default)]
    limits: Vec<LimitWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitWire {
    id: String,
    reason: String,
    issue: String,
    forbid: Option<Vec<String>>,
    allow: Option<Vec<String>>,
    patience: Option<u32>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum EventWire {
    PrivacyIncident {
        #[serde(with = "crate::serde_duration")]
        at: Duration,
        platform: String,
        trust_change: f64,
        #[serde(default)]
        description: String,
    },
    Regulation {
        #[serde(with = "crate::serde_duration")]
        at: Duration,
        id: String,
        reason: String,
        issue: String,
        forbid: Option<Vec<String>>,
        allow: Option<Vec<String>>,
        #[serde(default)]
        description: String,
    },
    Outage {
        #[serde(with = "crate::serde_duration")]
        at: Duration,
        bank: String,
        #[serde(with = "crate::serde_duration")]
        duration: Duration,
        #[serde(default)]
        description: String,
    },
    LoadSpike {
        #[serde(with = "crate::serde_duration")]
        at: Duration,
        platform: String,
        #[serde(with = "crate::serde_duration")]
        duration: Duration,
        factor: f64,
        #[serde(default)]
        description: String,
    },
}

/// One `[[thresholds]]` entry; `metric` picks the variant. Count metrics take exactly one of
/// `below`, `at_most`, `at_least`, `equals` (spelt out per variant: serde cannot flatten them
/// into a variant that denies unknown keys).
#[derive(Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case", deny_unknown_fields)]
enum ThresholdWire {
    Latency {
        bank: String,
        request: RequestKind,
        percentile: Percentile,
        below_ms: f64,
    },
    CustomersExposed {
        bank: Option<String>,
        below: Option<u64>,
        at_most: Option<u64>,
        at_least: Option<u64>,
        equals: Option<u64>,
    },
    RecordsExposed {
        bank: Option<String>,
        category: Option<String>,
        below: Option<u64>,
        at_most: Option<u64>,
        at_least: Option<u64>,
        equals: Option<u64>,
    },
    Outcome {
        bank: String,
        platform: Option<String>,
        equals: ExpectedOutcome,
        clause: Option<String>,
    },
    Withdrawals {
        bank: Option<String>,
        platform: Option<String>,
        clause: Option<String>,
        below: Option<u64>,
        at_most: Option<u64>,
        at_least: Option<u64>,
        equals: Option<u64>,
    },
    Abandoned {
        bank: Option<String>,
        request: Option<RequestKind>,
        reason: Option<String>,
        below: Option<u64>,
        at_most: Option<u64>,
        at_least: Option<u64>,
        equals: Option<u64>,
    },
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation
// ---------------------------------------------------------------------------------------------

/// Parses and validates a scenario from TOML text.
pub fn parse(text: &str) -> Result<Scenario, CoreError> {
    let wire: FileWire = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    convert(wire)
}

fn syntax_error(text: &str, e: &toml::de::Error) -> CoreError {
    let (line, column) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (1, 1),
    };
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    CoreError::ScenarioSyntax { line, column, message }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `[platforms.portfolio]`: `min_banks` in 1..=the banks asked; `shares` by bank name, every
/// asked bank or none (then equal), each above 0, normalised to sum to 1.
fn convert_portfolio(
    path: &str,
    wire: &PortfolioWire,
    asked: &[BankId],
    banks: &[Bank],
) -> Result<Portfolio, CoreError> {
    let asked_count = asked.len() as u32;
    if !(1..=asked_count).contains(&wire.min_banks) {
        return Err(invalid(
            format!("{path}.min_banks"),
            format!("{}; allowed 1..={asked_count} (the banks it asks)", wire.min_banks),
        ));
    }
    let names: Vec<&str> = asked.iter().map(|&b| banks[b].name.as_str()).collect();
    if let Some(unknown) = wire.shares.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(invalid(
            format!("{path}.shares.{unknown}"),
            format!("not a bank this platform asks (banks: {})", names.join(", ")),
        ));
    }
    let shares: Vec<f64> = if wire.shares.is_empty() {
        vec![1.0; asked.len()]
    } else {
        let mut shares = Vec::new();
        for name in &names {
            let share = wire.shares.get(*name).ok_or_else(|| {
                invalid(
                    format!("{path}.shares.{name}"),
                    "missing: give every asked bank a share, or none (equal shares)",
                )
            })?;
            if !(share.is_finite() && *share > 0.0 && *share <= 1e9) {
                return Err(invalid(
                    format!("{path}.shares.{name}"),
                    format!("{}; allowed above 0, up to 1e9", number(*share)),
                ));
            }
            shares.push(*share);
        }
        shares
    };
    let total: f64 = shares.iter().sum();
    let shares: Vec<f64> = shares.iter().map(|s| s / total).collect();
    if let Some(i) = shares.iter().position(|s| !s.is_normal()) {
        return Err(invalid(
            format!("{path}.shares.{}", names[i]),
            "too small next to the others to count (shares are normalised to sum to 1)",
        ));
    }
    Ok(Portfolio { min_banks: wire.min_banks, shares })
}

/// `[banks.service] partitions`: `1..=MAX_PARTITIONS`, and the bank's `workers` and rate limit
/// split evenly among them: whole workers each, a whole share of the burst each, and a rate
/// each within the rate limit's range.
fn check_partitions(sp: &str, partitions: u32, workers: u32, rate_limit: Option<(f64, f64)>) -> Result<(), CoreError> {
    let key = format!("{sp}.partitions");
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return Err(invalid(key, format!("{partitions}; allowed 1..={MAX_PARTITIONS}")));
    }
    if !workers.is_multiple_of(partitions) {
        return Err(invalid(
            key,
            format!(
                "{partitions} partitions do not split {sp}.workers = {workers} evenly; allowed a divisor of {workers}"
            ),
        ));
    }
    let Some((per_second, burst)) = rate_limit else { return Ok(()) };
    let n = f64::from(partitions);
    if burst % n != 0.0 {
        return Err(invalid(
            format!("{sp}.rate_limit.burst"),
            format!(
                "{} does not split evenly into {partitions} partitions; allowed a multiple of {partitions} (give the burst explicitly)",
                number(burst)
            ),
        ));
    }
    let (lo, _) = RATE_LIMIT_PER_SECOND;
    if per_second / n < lo {
        return Err(invalid(
            format!("{sp}.rate_limit.per_second"),
            format!(
                "{} split into {partitions} partitions is below {lo} a second each; allowed at least {}",
                number(per_second),
                number(lo * n)
            ),
        ));
    }
    Ok(())
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> CoreError {
    CoreError::ScenarioInvalid { path: path.into(), message: message.into() }
}

fn check_name(path: &str, name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        // No '.': names are fields of bearer tokens (`kind.bank.platform.id.mac`) and of sweep
        // keys (`banks[name].key`).
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("`{name}` is not a valid name; use 1 to 64 of a-z, 0-9, '-', '_', starting with a letter or digit"),
        ))
    }
}

fn check_unit(path: &str, value: f64) -> Result<f64, CoreError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(path, format!("{} is outside 0..=1", number(value))))
    }
}

fn check_rounds(path: &str, rounds: Option<u32>) -> Result<u32, CoreError> {
    let r = rounds.unwrap_or(DEFAULT_DEADLINE_ROUNDS);
    if (1..=MAX_DEADLINE_ROUNDS).contains(&r) {
        Ok(r)
    } else {
        Err(invalid(path, format!("{r} rounds; allowed 1..={MAX_DEADLINE_ROUNDS}")))
    }
}

fn convert_delay(path: &str, wire: Option<DelayWire>, default: Delay) -> Result<Delay, CoreError> {
    if let Some(w) = wire {
        let params: &[(&str, Duration)] = match &w {
            DelayWire::Fixed { value } => &[("value", *value)],
            DelayWire::Exponential { mean } => &[("mean", *mean)],
            DelayWire::LogNormal { median, .. } => &[("median", *median)],
            DelayWire::Uniform { min, max } => &[("min", *min), ("max", *max)],
            DelayWire::Normal { mean, sd } => &[("mean", *mean), ("sd", *sd)],
        };
        for (key, value) in params {
            check_duration(&format!("{path}.{key}"), *value, false, MAX_DELAY)?;
        }
        if let DelayWire::LogNormal { sigma, .. } = w {
            check_range(&format!("{path}.sigma"), sigma, 0.0, MAX_LOGNORMAL_SIGMA)?;
        }
    }
    let delay = wire.map_or(default, Delay::from);
    delay.validate().map_err(|e| invalid(path, e.to_string()))?;
    Ok(delay)
}

/// Strategy names a scenario's `strategy` key accepts that need no other key (for messages;
/// `strategy_named` reads a name the way the loader does).
pub const STRATEGY_NAMES: &[&str] =
    &["boulware", "linear", "conceder", "hardliner", "tit_for_tat", "aspiration", "micro", "nice_tit_for_tat"];

/// The strategy a scenario's `strategy = "NAME"` gives with no other key (`aspiration` with its
/// defaults), as the scenario loader makes it; `None` for an unknown name or one that needs an
/// exponent (`time_based`).
pub fn strategy_named(name: &str) -> Option<Strategy> {
    let named = StrategyName::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name));
    convert_strategy("strategy", named.ok()?, None, None).ok()
}

fn convert_strategy(
    path: &str,
    name: StrategyName,
    exponent: Option<f64>,
    accepting_exponent: Option<f64>,
) -> Result<Strategy, CoreError> {
    let takes_exponent = matches!(name, StrategyName::TimeBased | StrategyName::Aspiration);
    if exponent.is_some() && !takes_exponent {
        return Err(invalid(
            format!("{path}.exponent"),
            "`exponent` applies only to strategy = \"time_based\" or \"aspiration\"",
        ));
    }
    if accepting_exponent.is_some() && name != StrategyName::Aspiration {
        return Err(invalid(
            format!("{path}.accepting_exponent"),
            "`accepting_exponent` applies only to strategy = \"aspiration\"",
        ));
    }
    let positive = |key: &str, x: f64| {
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(invalid(format!("{path}.{key}"), format!("{} is not a finite number > 0", number(x))))
        }
    };
    Ok(match name {
        StrategyName::Boulware => Strategy::TimeBased { exponent: BOULWARE_EXPONENT },
        StrategyName::Linear => Strategy::TimeBased { exponent: LINEAR_EXPONENT },
        StrategyName::Conceder => Strategy::TimeBased { exponent: CONCEDER_EXPONENT },
        StrategyName::Hardliner => Strategy::Hardliner,
        StrategyName::TitForTat => Strategy::TitForTat,
        StrategyName::Micro => Strategy::Micro,
        StrategyName::NiceTitForTat => Strategy::NiceTitForTat,
        StrategyName::TimeBased => {
            let x = exponent
                .ok_or_else(|| invalid(format!("{path}.exponent"), "strategy \"time_based\" needs an exponent > 0"))?;
            Strategy::TimeBased { exponent: positive("exponent", x)? }
        }
        // Offering Boulware by default, accepting on the offering curve unless told otherwise.
        StrategyName::Aspiration => {
            let offering = positive("exponent", exponent.unwrap_or(BOULWARE_EXPONENT))?;
            let accepting = positive("accepting_exponent", accepting_exponent.unwrap_or(offering))?;
            Strategy::Aspiration { offering, accepting }
        }
    })
}

fn issue_index(space: &IssueSpace, path: &str, name: &str) -> Result<usize, CoreError> {
    space.issue_index(name).ok_or_else(|| {
        let names: Vec<&str> = space.issues().iter().map(|i| i.name.as_str()).collect();
        invalid(path, format!("no issue named `{name}` (issues: {})", names.join(", ")))
    })
}

fn option_index(space: &IssueSpace, issue: usize, path: &str, option: &str) -> Result<usize, CoreError> {
    space.option_index(issue, option).ok_or_else(|| {
        let i = &space.issues()[issue];
        invalid(path, format!("issue `{}` has no option `{option}` (options: {})", i.name, i.options.join(", ")))
    })
}

fn convert_clause(
    space: &IssueSpace,
    path: &str,
    limit: &LimitWire,
    default_patience: u32,
) -> Result<Clause, CoreError> {
    let LimitWire { id, reason, issue, forbid, allow, patience } = limit;
    let (forbid, allow) = (forbid.as_deref(), allow.as_deref());
    check_name(&format!("{path}.id"), id)?;
    if reason.trim().is_empty() {
        return Err(invalid(format!("{path}.reason"), "say in words why the clause exists"));
    }
    let issue_i = issue_index(space, &format!("{path}.issue"), issue)?;
    let n = space.issues()[issue_i].options.len();
    let forbidden = match (forbid, allow) {
        (Some(list), None) => {
            let mut f = vec![false; n];
            for (j, o) in list.iter().enumerate() {
                f[option_index(space, issue_i, &format!("{path}.forbid[{j}]"), o)?] = true;
            }
            f
        }
        (None, Some(list)) => {
            let mut f = vec![true; n];
            for (j, o) in list.iter().enumerate() {
                f[option_index(space, issue_i, &format!("{path}.allow[{j}]"), o)?] = false;
            }
            f
        }
        _ => return Err(invalid(path, "give exactly one of `forbid` or `allow`")),
    };
    if forbidden.iter().all(|&f| f) {
        return Err(invalid(path, "the clause forbids every option, so no outcome could satisfy it"));
    }
    let patience = patience.unwrap_or(default_patience);
    if patience == 0 {
        return Err(invalid(format!("{path}.patience"), "0; allowed 1 or more offers"));
    }
    Ok(Clause { id: id.clone(), reason: reason.clone(), issue: issue_i, forbidden, patience })
}

/// Weights and option values of one side, defaults filled in by `default_value(issue, option)`.
fn convert_utility(
    space: &IssueSpace,
    path: &str,
    weights: &BTreeMap<String, f64>,
    values: &BTreeMap<String, BTreeMap<String, f64>>,
    default_weight: impl Fn(usize) -> f64,
    default_value: impl Fn(usize, usize) -> f64,
) -> Result<LinearUtility, CoreError> {
    for (name, w) in weights {
        issue_index(space, &format!("{path}.weights.{name}"), name)?;
        if !(w.is_finite() && *w >= 0.0) {
            return Err(invalid(
                format!("{path}.weights.{name}"),
                format!("{} is not a finite number >= 0", number(*w)),
            ));
        }
    }
    for (name, opts) in values {
        let i = issue_index(space, &format!("{path}.values.{name}"), name)?;
        for (option, v) in opts {
            option_index(space, i, &format!("{path}.values.{name}.{option}"), option)?;
            check_unit(&format!("{path}.values.{name}.{option}"), *v)?;
        }
    }
    let mut w = Vec::new();
    let mut vals = Vec::new();
    for (i, issue) in space.issues().iter().enumerate() {
        w.push(weights.get(&issue.name).copied().unwrap_or_else(|| default_weight(i)));
        let given = values.get(&issue.name);
        vals.push(
            issue
                .options
                .iter()
                .enumerate()
                .map(|(j, o)| given.and_then(|g| g.get(o)).copied().unwrap_or_else(|| default_value(i, j)))
                .collect(),
        );
    }
    if w.iter().sum::<f64>() <= 0.0 {
        return Err(invalid(format!("{path}.weights"), "at least one issue must have a positive weight"));
    }
    LinearUtility::new(space, w, vals).map_err(|e| invalid(path, e.to_string()))
}

/// Linear fall-off from a peak option: 1 at `peak`, 0 at the farthest option.
fn falloff(n: usize, peak: usize, j: usize) -> f64 {
    if n <= 1 {
        return 1.0;
    }
    let far = peak.max(n - 1 - peak) as f64;
    1.0 - (j.abs_diff(peak) as f64) / far
}

/// What fall-off past the ask keeps, toward more sharing, when the ask lies between the ends:
/// the farthest such option is worth this, not 0.
pub const PAST_THE_ASK_FLOOR: f64 = 0.1;

/// A platform's default value of option `j` of an issue of `n` options whose ask is `ask`:
/// the fall-off from the ask, but when the ask lies strictly between the ends, the options past
/// it on the side the banks favour less (more data, or less given in return) fall only to
/// `PAST_THE_ASK_FLOOR`, so that no two options are worth exactly the same (ties would leave
/// the choice between them to the tie-break): more than it asked is worth a little more to it
/// than less.
fn platform_value(n: usize, ask: usize, bank_favours: Favours, j: usize) -> f64 {
    let value = falloff(n, ask, j);
    let past_the_ask = match bank_favours {
        Favours::First => j > ask,
        Favours::Last => j < ask,
    };
    if ask > 0 && ask + 1 < n && past_the_ask { PAST_THE_ASK_FLOOR + (1.0 - PAST_THE_ASK_FLOOR) * value } else { value }
}

fn convert(w: FileWire) -> Result<Scenario, CoreError> {
    check_name("scenario.name", &w.scenario.name)?;
    check_duration("scenario.duration", w.scenario.duration, true, MAX_DURATION)?;
    let space = match &w.issues {
        None => IssueSpace::new(default_issues()),
        Some(list) => {
            for (i, issue) in list.iter().enumerate() {
                check_name(&format!("issues[{i}].name"), &issue.name)?;
                if issue.options.is_empty() {
                    return Err(invalid(format!("issues[{i}].options"), "list at least one option"));
                }
            }
            IssueSpace::new(list.iter().map(|i| Issue { name: i.name.clone(), options: i.options.clone() }).collect())
        }
    }
    .map_err(|e| invalid("issues", e.to_string()))?;
    let favours = |i: usize| -> Favours {
        let name = &space.issues()[i].name;
        w.issues
            .as_ref()
            .and_then(|l| l.iter().find(|x| &x.name == name).and_then(|x| x.bank_favours))
            .unwrap_or_else(|| default_favours(name))
    };

    let network_delay = convert_delay(
        "timing.network_delay",
        w.timing.network_delay,
        Delay::LogNormal { median: Duration::from_millis(40), sigma: 0.5 },
    )?;
    let decision_delay = convert_delay(
        "timing.decision_delay",
        w.timing.decision_delay,
        Delay::Exponential { mean: Duration::from_secs(86_400) },
    )?;

    if w.banks.is_empty() {
        return Err(invalid("banks", "at least one [[banks]] entry is required"));
    }
    if w.platforms.is_empty() {
        return Err(invalid("platforms", "at least one [[platforms]] entry is required"));
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut claim = |path: String, name: &str| -> Result<(), CoreError> {
        check_name(&path, name)?;
        if let Some((first, _)) = seen.iter().find(|(_, n)| n == name) {
            return Err(invalid(path, format!("`{name}` is already the name of {first}")));
        }
        seen.push((path.trim_end_matches(".name").to_string(), name.to_string()));
        Ok(())
    };
    for (i, b) in w.banks.iter().enumerate() {
        claim(format!("banks[{i}].name"), &b.name)?;
    }
    for (i, p) in w.platforms.iter().enumerate() {
        claim(format!("platforms[{i}].name"), &p.name)?;
    }
    let bank_index = |path: &str, name: &str| -> Result<BankId, CoreError> {
        w.banks.iter().position(|b| b.name == name).map(BankId::new).ok_or_else(|| {
            let names: Vec<&str> = w.banks.iter().map(|b| b.name.as_str()).collect();
            invalid(path, format!("no bank named `{name}` (banks: {})", names.join(", ")))
        })
    };

    let mut banks = Vec::new();
    for (bi, b) in w.banks.iter().enumerate() {
        let path = format!("banks[{bi}].policy");
        let p = &b.policy;
        let reservation = check_unit(&format!("{path}.reservation"), p.reservation)?;
        let strategy = convert_strategy(&path, p.strategy, p.exponent, p.accepting_exponent)?;
        let deadline_rounds = check_rounds(&format!("{path}.deadline_rounds"), p.deadline_rounds)?;
        let utility = convert_utility(
            &space,
            &path,
            &p.weights,
            &p.values,
            |_| 1.0,
            |i, j| {
                let n = space.issues()[i].options.len();
                match favours(i) {
                    Favours::First => falloff(n, 0, j),
                    Favours::Last => falloff(n, n - 1, j),
                }
            },
        )?;
        let mut clauses = Vec::new();
        for (li, l) in p.limits.iter().enumerate() {
            let c = convert_clause(&space, &format!("{path}.limits[{li}]"), l, p.patience.unwrap_or(DEFAULT_PATIENCE))?;
            if clauses.iter().any(|x: &Clause| x.id == c.id) {
                return Err(invalid(format!("{path}.limits[{li}].id"), format!("`{}` is used twice", c.id)));
            }
            clauses.push(c);
        }
        let mut prefs = Preferences::new(space.clone(), utility, clauses, reservation)
            .map_err(|e| invalid(&path, e.to_string()))?;
        if let Some(min) = p.min_platform_trust {
            prefs.negotiation_trust_floor = Some(TrustFloor {
                min: check_unit(&format!("{path}.min_platform_trust"), min)?,
                clause: TRUST_CLAUSE.into(),
                reason: format!("the platform's trust is below the bank's minimum of {min}"),
            });
        }
        if let Some(min) = p.revoke_below_trust {
            prefs.agreement_trust_floor = Some(TrustFloor {
                min: check_unit(&format!("{path}.revoke_below_trust"), min)?,
                clause: REVOKE_TRUST_CLAUSE.into(),
                reason: format!("the platform's trust fell below {min}, the level at which the bank revokes"),
            });
        }
        let population = PopulationConfig {
            customers: b.population.customers.unwrap_or(DEFAULT_CUSTOMERS),
            transactions_per_day: check_range(
                &format!("banks[{bi}].population.transactions_per_day"),
                b.population.transactions_per_day.unwrap_or(1.5),
                0.0,
                MAX_TRANSACTIONS_PER_DAY,
            )?,
            on_platform_share: check_unit(
                &format!("banks[{bi}].population.on_platform_share"),
                b.population.on_platform_share.unwrap_or(0.05),
            )?,
        };
        if population.customers > MAX_CUSTOMERS {
            return Err(invalid(
                format!("banks[{bi}].population.customers"),
                format!("{}; allowed 0..={MAX_CUSTOMERS}", population.customers),
            ));
        }
        let sp = format!("banks[{bi}].service");
        let workers = b.service.workers.unwrap_or(8);
        if !(1..=100_000).contains(&workers) {
            return Err(invalid(format!("{sp}.workers"), format!("{workers}; allowed 1..=100000")));
        }
        let rate_limit = match &b.service.rate_limit {
            None => None,
            Some(r) => {
                let (lo, hi) = RATE_LIMIT_PER_SECOND;
                let per_second = check_range(&format!("{sp}.rate_limit.per_second"), r.per_second, lo, hi)?;
                let burst = check_range(
                    &format!("{sp}.rate_limit.burst"),
                    r.burst.unwrap_or(per_second.max(1.0)),
                    1.0,
                    MAX_BURST,
                )?;
                Some((per_second, burst))
            }
        };
        let partitions = b.service.partitions.unwrap_or(1);
        check_partitions(&sp, partitions, workers, rate_limit)?;
        let service = ServiceConfig {
            workers,
            service_time: convert_delay(
                &format!("{sp}.service_time"),
                b.service.service_time,
                Delay::Exponential { mean: Duration::from_millis(5) },
            )?,
            network_delay: convert_delay(&format!("{sp}.network_delay"), b.service.network_delay, network_delay)?,
            error_rate: check_unit(&format!("{sp}.error_rate"), b.service.error_rate.unwrap_or(0.0))?,
            rate_limit,
            partitions,
        };
        banks.push(Bank {
            population,
            service,
            revoke_after_violations: match p.revoke_after_violations {
                Some(0) => {
                    return Err(invalid(
                        format!("{path}.revoke_after_violations"),
                        "0; allowed 1 or more violations (leave the key out to never revoke)",
                    ));
                }
                other => other,
            },
            name: b.name.clone(),
            description: b.description.clone(),
            deadline_rounds,
            strategy,
            preferences: Arc::new(prefs),
            on_privacy_incident: p.on_privacy_incident.unwrap_or(IncidentReaction::Reassess),
            decision_delay: b
                .decision_delay
                .map(|d| convert_delay(&format!("banks[{bi}].decision_delay"), Some(d), Delay::ZERO))
                .transpose()?,
        });
    }

    let mut platforms = Vec::new();
    for (pi, p) in w.platforms.iter().enumerate() {
        let path = format!("platforms[{pi}]");
        let trust = check_unit(&format!("{path}.trust"), p.trust)?;
        let reservation = check_unit(&format!("{path}.reservation"), p.reservation)?;
        let strategy = convert_strategy(&path, p.strategy, p.exponent, p.accepting_exponent)?;
        let deadline_rounds = check_rounds(&format!("{path}.deadline_rounds"), p.deadline_rounds)?;
        let start = p.start.unwrap_or_default();
        if start >= w.scenario.duration {
            return Err(invalid(format!("{path}.start"), "starts at or after the end of the scenario"));
        }
        if p.ask.is_empty() && p.weights.values().all(|w| *w == 0.0) {
            return Err(invalid(
                format!("{path}.ask"),
                "say what the platform asks for: at least one `issue = \"option\"` under [platforms.ask]",
            ));
        }
        let mut ask = vec![None; space.issues().len()];
        for (issue, option) in &p.ask {
            let i = issue_index(&space, &format!("{path}.ask.{issue}"), issue)?;
            ask[i] = Some(option_index(&space, i, &format!("{path}.ask.{issue}"), option)?);
        }
        // Unasked issues: the platform is indifferent (weight 0) and opens with the bank's
        // favourite option.
        let utility = convert_utility(
            &space,
            &path,
            &p.weights,
            &p.values,
            |i| if ask[i].is_some() { 1.0 } else { 0.0 },
            |i, j| ask[i].map_or(1.0, |peak| platform_value(space.issues()[i].options.len(), peak, favours(i), j)),
        )?;
        let ask_outcome: Vec<usize> = ask
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.unwrap_or(match favours(i) {
                    Favours::First => 0,
                    Favours::Last => space.issues()[i].options.len() - 1,
                })
            })
            .collect();
        let ask = space.outcome(&ask_outcome).map_err(|e| invalid(format!("{path}.ask"), e.to_string()))?;
        let mut clauses: Vec<Clause> = Vec::new();
        for (li, l) in p.limits.iter().enumerate() {
            let c = convert_clause(&space, &format!("{path}.limits[{li}]"), l, DEFAULT_PATIENCE)?;
            if clauses.iter().any(|x| x.id == c.id) {
                return Err(invalid(format!("{path}.limits[{li}].id"), format!("`{}` is used twice", c.id)));
            }
            clauses.push(c);
        }
        let prefs = Preferences::new(space.clone(), utility, clauses, reservation)
            .map_err(|e| invalid(&path, e.to_string()))?;
        let asked_banks = match &p.banks {
            None => BankId::all(banks.len()).collect(),
            Some(list) => {
                if list.is_empty() {
                    return Err(invalid(
                        format!("{path}.banks"),
                        "list at least one bank, or leave the key out to ask every bank",
                    ));
                }
                let mut idx = Vec::new();
                for (j, name) in list.iter().enumerate() {
                    let b = bank_index(&format!("{path}.banks[{j}]"), name)?;
                    if idx.contains(&b) {
                        return Err(invalid(format!("{path}.banks[{j}]"), format!("`{name}` is listed twice")));
                    }
                    idx.push(b);
                }
                idx
            }
        };
        let lp = format!("{path}.linking");
        let linking = Linking {
            overlap: check_unit(&format!("{lp}.overlap"), p.linking.overlap.unwrap_or(0.5))?,
            opt_in_rate: check_unit(&format!("{lp}.opt_in_rate"), p.linking.opt_in_rate.unwrap_or(0.2))?,
            opt_out_rate: check_unit(&format!("{lp}.opt_out_rate"), p.linking.opt_out_rate.unwrap_or(0.05))?,
        };
        let cp = format!("{path}.client");
        let client = ClientConfig {
            timeout: p.client.timeout.unwrap_or(Duration::from_secs(2)),
            retries: p.client.retries.unwrap_or(2),
            backoff: p.client.backoff.unwrap_or(Duration::from_millis(100)),
            over_fetch: check_unit(&format!("{cp}.over_fetch"), p.client.over_fetch.unwrap_or(0.0))?,
        };
        check_duration(&format!("{cp}.timeout"), client.timeout, true, MAX_CLIENT_WAIT)?;
        check_duration(&format!("{cp}.backoff"), client.backoff, false, MAX_CLIENT_WAIT)?;
        if client.retries > 10 {
            return Err(invalid(format!("{cp}.retries"), format!("{}; allowed 0..=10", client.retries)));
        }
        let mut workload = Vec::new();
        for (wi, w) in p.workload.iter().enumerate() {
            let wp = format!("{path}.workload[{wi}]");
            let rate = match (w.kind, w.per_customer_per_day, w.per_second) {
                (RequestKind::FraudAlert, None, None) => Rate::PerTransaction,
                (RequestKind::FraudAlert, _, _) => {
                    return Err(invalid(
                        &wp,
                        "fraud alerts follow the customers' transactions: give no rate (set banks' population.transactions_per_day)",
                    ));
                }
                (_, Some(r), None) => Rate::PerCustomerPerDay(check_range(
                    &format!("{wp}.per_customer_per_day"),
                    r,
                    0.0,
                    MAX_PER_CUSTOMER_PER_DAY,
                )?),
                (_, None, Some(r)) => {
                    Rate::PerSecond(check_range(&format!("{wp}.per_second"), r, 0.0, MAX_PER_SECOND)?)
                }
                _ => return Err(invalid(&wp, "give exactly one of `per_customer_per_day` or `per_second`")),
            };
            let purpose = match &w.purpose {
                None => w.kind.default_purpose(),
                Some(name) => Purpose::parse(name).ok_or_else(|| {
                    let all: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
                    invalid(format!("{wp}.purpose"), format!("unknown purpose `{name}` (purposes: {})", all.join(", ")))
                })?,
            };
            let window = w.window.unwrap_or(Duration::from_secs(86_400));
            if window < Duration::from_millis(1) || window > Duration::from_secs(366 * 86_400) {
                return Err(invalid(format!("{wp}.window"), "allowed from 1ms to 366d"));
            }
            workload.push(WorkloadItem { kind: w.kind, rate, purpose, window });
        }
        let portfolio = match &p.portfolio {
            None => None,
            Some(wire) => Some(convert_portfolio(&format!("{path}.portfolio"), wire, &asked_banks, &banks)?),
        };
        let design = convert_design(&format!("{path}.design"), p.design.as_ref(), &p.name, network_delay)?;
        if let Design::Aggregator(a) = &design {
            claim(format!("{path}.design.name"), &a.name)?;
        }
        platforms.push(Platform {
            portfolio,
            design,
            linking,
            client,
            workload,
            name: p.name.clone(),
            description: p.description.clone(),
            trust,
            start,
            deadline_rounds,
            strategy,
            preferences: Arc::new(prefs),
            banks: asked_banks,
            ask,
            decision_delay: p
                .decision_delay
                .map(|d| convert_delay(&format!("{path}.decision_delay"), Some(d), Delay::ZERO))
                .transpose()?,
        });
    }

    let platform_index = |path: &str, name: &str| -> Result<PlatformId, CoreError> {
        w.platforms.iter().position(|p| p.name == name).map(PlatformId::new).ok_or_else(|| {
            let names: Vec<&str> = w.platforms.iter().map(|p| p.name.as_str()).collect();
            invalid(path, format!("no platform named `{name}` (platforms: {})", names.join(", ")))
        })
    };
    let mut events = Vec::new();
    for (ei, e) in w.events.iter().enumerate() {
        let path = format!("events[{ei}]");
        let (at, description, kind) = match e {
            EventWire::PrivacyIncident { at, platform, trust_change, description } => {
                let p = platform_index(&format!("{path}.platform"), platform)?;
                if !(trust_change.is_finite() && (-1.0..=1.0).contains(trust_change)) {
                    return Err(invalid(
                        format!("{path}.trust_change"),
                        format!("{} is outside -1..=1", number(*trust_change)),
                    ));
                }
                (*at, description, EventKind::PrivacyIncident { platform: p, trust_change: *trust_change })
            }
            EventWire::Regulation { at, id, reason, issue, forbid, allow, description } => {
                let limit = LimitWire {
                    id: id.clone(),
                    reason: reason.clone(),
                    issue: issue.clone(),
                    forbid: forbid.clone(),
                    allow: allow.clone(),
                    patience: None,
                };
                // Patience 1: a side that receives an offer breaking the regulation withdraws at
                // once, naming it; nobody may keep negotiating over a banned option.
                let clause = convert_clause(&space, &path, &limit, 1)?;
                (*at, description, EventKind::Regulation { clause })
            }
            EventWire::Outage { at, bank, duration, description } => {
                let b = bank_index(&format!("{path}.bank"), bank)?;
                check_duration(&format!("{path}.duration"), *duration, true, MAX_DURATION)?;
                (*at, description, EventKind::Outage { bank: b, duration: *duration })
            }
            EventWire::LoadSpike { at, platform, duration, factor, description } => {
                let p = platform_index(&format!("{path}.platform"), platform)?;
                if !(factor.is_finite() && *factor >= 0.0 && *factor <= 1_000.0) {
                    return Err(invalid(format!("{path}.factor"), format!("{}; allowed 0..=1000", number(*factor))));
                }
                check_duration(&format!("{path}.duration"), *duration, true, MAX_DURATION)?;
                (*at, description, EventKind::LoadSpike { platform: p, duration: *duration, factor: *factor })
            }
        };
        if at > w.scenario.duration {
            return Err(invalid(
                format!("{path}.at"),
                format!(
                    "{} is after the end of the scenario ({})",
                    format_duration(at),
                    format_duration(w.scenario.duration)
                ),
            ));
        }
        events.push(ScheduledEvent { at, description: description.clone(), kind });
    }
    events.sort_by_key(|e| e.at); // stable: same-time events keep file order

    let data = match &w.data {
        None => None,
        Some(d) => {
            check_duration("data.duration", d.duration, true, MAX_DURATION)?;
            let weights = d.sensitivity_weights.unwrap_or(DEFAULT_SENSITIVITY_WEIGHTS);
            for (i, w) in weights.iter().enumerate() {
                check_range(&format!("data.sensitivity_weights[{i}]"), *w, 0.0, MAX_SENSITIVITY_WEIGHT)?;
            }
            for (key, value) in [("max_requests", d.max_requests), ("max_memory_mb", d.max_memory_mb)] {
                if value == Some(0) {
                    return Err(invalid(
                        format!("data.{key}"),
                        "0; allowed 1 or more (leave the key out for the default)",
                    ));
                }
            }
            Some(DataPhase {
                duration: d.duration,
                sensitivity_weights: weights,
                max_requests: d.max_requests,
                max_memory_mb: d.max_memory_mb,
            })
        }
    };

    let thresholds = convert_thresholds(&w, &banks, &platforms)?;

    Ok(Scenario {
        thresholds,
        name: w.scenario.name,
        description: w.scenario.description,
        seed: w.scenario.seed,
        duration: w.scenario.duration,
        opens: w.scenario.opens,
        space,
        network_delay,
        decision_delay,
        platforms,
        banks,
        events,
        data,
    })
}

/// `[platforms.design]`: the kind, and the aggregator's settings only where they mean something.
fn convert_design(
    path: &str,
    wire: Option<&DesignWire>,
    platform: &str,
    network_delay: Delay,
) -> Result<Design, CoreError> {
    let Some(w) = wire else { return Ok(Design::Direct) };
    let kinds = Design::KINDS.map(|k| format!("\"{k}\"")).join(", ");
    let kind =
        w.kind.as_deref().ok_or_else(|| invalid(format!("{path}.kind"), format!("say which design: {kinds}")))?;
    let only_aggregator = |given: bool, key: &str| -> Result<(), CoreError> {
        if given {
            Err(invalid(format!("{path}.{key}"), format!("applies only to kind = \"aggregator\", not \"{kind}\"")))
        } else {
            Ok(())
        }
    };
    if kind != "aggregator" && Design::KINDS.contains(&kind) {
        only_aggregator(w.name.is_some(), "name")?;
        only_aggregator(w.network_delay.is_some(), "network_delay")?;
        only_aggregator(w.service_time.is_some(), "service_time")?;
        only_aggregator(w.workers.is_some(), "workers")?;
    }
    Ok(match kind {
        "direct" => Design::Direct,
        "minimised" => Design::Minimised,
        "push" => Design::Push,
        "aggregator" => {
            let workers = w.workers.unwrap_or(16);
            if !(1..=100_000).contains(&workers) {
                return Err(invalid(format!("{path}.workers"), format!("{workers}; allowed 1..=100000")));
            }
            Design::Aggregator(AggregatorConfig {
                name: w.name.clone().unwrap_or_else(|| format!("{platform}-aggregator")),
                network_delay: convert_delay(&format!("{path}.network_delay"), w.network_delay, network_delay)?,
                service_time: convert_delay(
                    &format!("{path}.service_time"),
                    w.service_time,
                    Delay::Exponential { mean: Duration::from_millis(5) },
                )?,
                workers,
            })
        }
        other => return Err(invalid(format!("{path}.kind"), format!("unknown design `{other}` (designs: {kinds})"))),
    })
}

/// Thresholds name only banks, platforms, request kinds and categories that exist, so checking
/// them later cannot fail. Clauses are not checked against the limits: a student who deletes a
/// limit should see the threshold that expected it breached, not a file that no longer loads.
fn convert_thresholds(w: &FileWire, banks: &[Bank], platforms: &[Platform]) -> Result<Vec<Threshold>, CoreError> {
    let bank = |path: String, name: &str| -> Result<BankId, CoreError> {
        banks.iter().position(|b| b.name == name).map(BankId::new).ok_or_else(|| {
            let names: Vec<&str> = banks.iter().map(|b| b.name.as_str()).collect();
            invalid(path, format!("no bank named `{name}` (banks: {})", names.join(", ")))
        })
    };
    let platform = |path: String, name: &str| -> Result<PlatformId, CoreError> {
        platforms.iter().position(|p| p.name == name).map(PlatformId::new).ok_or_else(|| {
            let names: Vec<&str> = platforms.iter().map(|p| p.name.as_str()).collect();
            invalid(path, format!("no platform named `{name}` (platforms: {})", names.join(", ")))
        })
    };
    let count = |path: &str, below, at_most, at_least, equals| -> Result<CountLimit, CoreError> {
        match (below, at_most, at_least, equals) {
            (Some(n), None, None, None) => Ok(CountLimit::Below(n)),
            (None, Some(n), None, None) => Ok(CountLimit::AtMost(n)),
            (None, None, Some(n), None) => Ok(CountLimit::AtLeast(n)),
            (None, None, None, Some(n)) => Ok(CountLimit::Equals(n)),
            _ => Err(invalid(path, "give exactly one of `below`, `at_most`, `at_least` or `equals`")),
        }
    };
    let mut out = Vec::new();
    for (ti, t) in w.thresholds.iter().enumerate() {
        let path = format!("thresholds[{ti}]");
        let threshold = match t {
            ThresholdWire::Latency { bank: name, request, percentile, below_ms } => {
                let b = bank(format!("{path}.bank"), name)?;
                let sent: Vec<RequestKind> = platforms
                    .iter()
                    .filter(|p| p.banks.contains(&b))
                    .flat_map(|p| p.workload.iter().map(|w| w.kind))
                    .collect();
                if !sent.contains(request) {
                    let mut kinds: Vec<&str> = sent.iter().map(|k| k.as_str()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    let kinds = if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") };
                    return Err(invalid(
                        format!("{path}.request"),
                        format!("no platform sends `{}` requests to `{name}` (it gets: {kinds})", request.as_str()),
                    ));
                }
                if !(below_ms.is_finite() && *below_ms > 0.0) {
                    return Err(invalid(
                        format!("{path}.below_ms"),
                        format!("{} is not a number of ms > 0", number(*below_ms)),
                    ));
                }
                Threshold::Latency { bank: name.clone(), kind: *request, percentile: *percentile, below_ms: *below_ms }
            }
            ThresholdWire::CustomersExposed { bank: name, below, at_most, at_least, equals } => {
                if let Some(name) = name {
                    bank(format!("{path}.bank"), name)?;
                }
                Threshold::CustomersExposed {
                    bank: name.clone(),
                    limit: count(&path, *below, *at_most, *at_least, *equals)?,
                }
            }
            ThresholdWire::RecordsExposed { bank: name, category, below, at_most, at_least, equals } => {
                if let Some(name) = name {
                    bank(format!("{path}.bank"), name)?;
                }
                let category = category
                    .as_ref()
                    .map(|c| {
                        DataCategory::parse(c).ok_or_else(|| {
                            let all: Vec<&str> = DataCategory::ALL.iter().map(|c| c.as_str()).collect();
                            invalid(
                                format!("{path}.category"),
                                format!("unknown data category `{c}` (categories: {})", all.join(", ")),
                            )
                        })
                    })
                    .transpose()?;
                Threshold::RecordsExposed {
                    bank: name.clone(),
                    category,
                    limit: count(&path, *below, *at_most, *at_least, *equals)?,
                }
            }
            ThresholdWire::Outcome { bank: name, platform: with, equals, clause: over } => {
                let b = bank(format!("{path}.bank"), name)?;
                match with {
                    Some(p) => {
                        let pi = platform(format!("{path}.platform"), p)?;
                        if !platforms[pi].banks.contains(&b) {
                            return Err(invalid(
                                format!("{path}.platform"),
                                format!("platform `{p}` does not negotiate with `{name}`"),
                            ));
                        }
                    }
                    None if !platforms.iter().any(|p| p.banks.contains(&b)) => {
                        return Err(invalid(format!("{path}.bank"), format!("no platform negotiates with `{name}`")));
                    }
                    None => {}
                }
                if over.is_some() && *equals != ExpectedOutcome::Withdrawn {
                    return Err(invalid(format!("{path}.clause"), "`clause` applies only to equals = \"withdrawn\""));
                }
                Threshold::Outcome {
                    bank: name.clone(),
                    platform: with.clone(),
                    expected: *equals,
                    clause: over.clone(),
                }
            }
            ThresholdWire::Withdrawals {
                bank: name,
                platform: with,
                clause: over,
                below,
                at_most,
                at_least,
                equals,
            } => {
                if let Some(name) = name {
                    bank(format!("{path}.bank"), name)?;
                }
                if let Some(p) = with {
                    platform(format!("{path}.platform"), p)?;
                }
                Threshold::Withdrawals {
                    bank: name.clone(),
                    platform: with.clone(),
                    clause: over.clone(),
                    limit: count(&path, *below, *at_most, *at_least, *equals)?,
                }
            }
            ThresholdWire::Abandoned { bank: name, request, reason, below, at_most, at_least, equals } => {
                if let Some(name) = name {
                    bank(format!("{path}.bank"), name)?;
                }
                let reason = match reason {
                    None => None,
                    Some(r) => Some(crate::workload::Abandoned::parse(r).ok_or_else(|| {
                        let all: Vec<&str> = crate::workload::Abandoned::ALL.iter().map(|a| a.as_str()).collect();
                        invalid(format!("{path}.reason"), format!("unknown reason `{r}` (reasons: {})", all.join(", ")))
                    })?),
                };
                Threshold::Abandoned {
                    bank: name.clone(),
                    kind: *request,
                    reason,
                    limit: count(&path, *below, *at_most, *at_least, *equals)?,
                }
            }
        };
        out.push(threshold);
    }
    Ok(out)
}

/// A number in `lo..=hi` (NaN and infinities are outside every range).
fn check_range(path: &str, value: f64, lo: f64, hi: f64) -> Result<f64, CoreError> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(path, format!("{}; allowed {}..={}", number(value), number(lo), number(hi))))
    }
}

/// A number as a scenario would write it: `1500000`, `0.001`, `1e-300`, `NaN`.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e16).contains(&v.abs()) { format!("{v}") } else { format!("{v:e}") }
}

/// A duration of at most `max`, and more than zero when `positive`.
fn check_duration(path: &str, value: Duration, positive: bool, max: Duration) -> Result<Duration, CoreError> {
    if (!positive || !value.is_zero()) && value <= max {
        return Ok(value);
    }
    let allowed = if positive { "more than 0s, up to" } else { "0s to" };
    Err(invalid(path, format!("{}; allowed {allowed} {}", format_duration(value), format_duration(max))))
}

impl Scenario {
    /// A platform's trust at simulated time `t`: its initial trust moved by every privacy
    /// incident at or before `t`, in order, clamped to 0..=1 at each step (as the virtual run
    /// applies them).
    pub fn trust_at(&self, platform: PlatformId, t: Duration) -> f64 {
        let mut trust = self.platforms[platform].trust;
        for e in self.events.iter().take_while(|e| e.at <= t) {
            if let EventKind::PrivacyIncident { platform: p, trust_change } = e.kind
                && p == platform
            {
                trust = (trust + trust_change).clamp(0.0, 1.0);
            }
        }
        trust
    }

    /// Regulations in force at simulated time `t`, in the order they took effect.
    pub fn regulations_at(&self, t: Duration) -> impl Iterator<Item = &Clause> {
        self.events.iter().take_while(move |e| e.at <= t).filter_map(|e| match &e.kind {
            EventKind::Regulation { clause } => Some(clause),
            _ => None,
        })
    }

    /// How many of `bank`'s customers `platform` links under terms with `consent_mode`:
    /// customers × overlap × opt-in rate (opt-in), or × (1 − opt-out rate) (opt-out).
    pub fn linked_customers(&self, platform: PlatformId, bank: BankId, consent_mode: crate::terms::ConsentMode) -> u64 {
        let l = &self.platforms[platform].linking;
        let share = match consent_mode {
            crate::terms::ConsentMode::OptIn => l.opt_in_rate,
            crate::terms::ConsentMode::OptOut => 1.0 - l.opt_out_rate,
        };
        (self.banks[bank].population.customers as f64 * l.overlap * share).floor() as u64
    }

    /// The synthetic population of `bank`.
    pub fn population_spec(&self, bank: BankId) -> crate::population::PopulationSpec {
        let b = &self.banks[bank];
        crate::population::PopulationSpec {
            seed: self.seed,
            bank: b.name.clone(),
            size: b.population.customers,
            transactions_per_day: b.population.transactions_per_day,
            on_platform_share: b.population.on_platform_share,
        }
    }

    pub fn bank_index(&self, name: &str) -> Option<BankId> {
        self.banks.iter().position(|b| b.name == name).map(BankId::new)
    }

    pub fn platform_index(&self, name: &str) -> Option<PlatformId> {
        self.platforms.iter().position(|p| p.name == name).map(PlatformId::new)
    }

    /// Every bank of the scenario, in order.
    pub fn bank_ids(&self) -> impl DoubleEndedIterator<Item = BankId> + ExactSizeIterator + Clone + use<> {
        BankId::all(self.banks.len())
    }

    /// Every platform of the scenario, in order.
    pub fn platform_ids(&self) -> impl DoubleEndedIterator<Item = PlatformId> + ExactSizeIterator + Clone + use<> {
        PlatformId::all(self.platforms.len())
    }

    /// Every bank of the scenario with its id, in order.
    pub fn banks_by_id(&self) -> impl Iterator<Item = (BankId, &Bank)> {
        self.banks.iter().enumerate().map(|(i, b)| (BankId::new(i), b))
    }

    /// Every platform of the scenario with its id, in order.
    pub fn platforms_by_id(&self) -> impl Iterator<Item = (PlatformId, &Platform)> {
        self.platforms.iter().enumerate().map(|(i, p)| (PlatformId::new(i), p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[scenario]
name = "tiny"
seed = 1
duration = "30d"

[[platforms]]
name = "p"
trust = 0.5
strategy = "linear"
reservation = 0.1
ask = { balances = "included", transactions = "detail" }

[[banks]]
name = "b"
[banks.policy]
reservation = 0.2
strategy = "boulware"
"#;

    #[test]
    fn a_strategy_named_alone_is_the_one_the_loader_makes_of_that_name() {
        assert_eq!(strategy_named("boulware"), Some(Strategy::boulware()));
        assert_eq!(strategy_named("conceder"), Some(Strategy::conceder()));
        assert_eq!(strategy_named("micro"), Some(Strategy::Micro));
        assert_eq!(strategy_named("nice_tit_for_tat"), Some(Strategy::NiceTitForTat));
        assert_eq!(strategy_named("aspiration"), Some(Strategy::Aspiration { offering: 4.0, accepting: 4.0 }));
        assert!(STRATEGY_NAMES.iter().all(|n| strategy_named(n).is_some()));
        // time_based needs an exponent; unknown names are no strategy.
        assert_eq!(strategy_named("time_based"), None);
        assert_eq!(strategy_named("Boulware"), None);
    }

    #[test]
    fn micro_and_aspiration_are_strategies_and_aspiration_accepts_on_the_offering_curve_unless_told() {
        let with = |platform: &str, bank: &str| {
            parse(&MINIMAL.replace("strategy = \"linear\"", platform).replace("strategy = \"boulware\"", bank))
        };
        let s = with("strategy = \"micro\"", "strategy = \"aspiration\"").unwrap();
        assert_eq!(s.platforms[0].strategy, Strategy::Micro);
        assert_eq!(s.banks[0].strategy, Strategy::Aspiration { offering: 4.0, accepting: 4.0 });
        let s = with("strategy = \"linear\"", "strategy = \"aspiration\"\nexponent = 2.0\naccepting_exponent = 0.5")
            .unwrap();
        assert_eq!(s.banks[0].strategy, Strategy::Aspiration { offering: 2.0, accepting: 0.5 });
        let e = with("strategy = \"micro\"\nexponent = 2.0", "strategy = \"boulware\"").unwrap_err().to_string();
        assert!(e.contains("platforms[0].exponent"), "{e}");
        let e =
            with("strategy = \"linear\"", "strategy = \"aspiration\"\naccepting_exponent = 0").unwrap_err().to_string();
        assert!(e.contains("banks[0].policy.accepting_exponent") && e.contains("> 0"), "{e}");
    }

    #[test]
    fn a_minimal_file_gets_the_vocabulary_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.space.issues().len(), crate::vocabulary::DEFAULT_ISSUES.len());
        assert_eq!(s.platforms[0].deadline_rounds, DEFAULT_DEADLINE_ROUNDS);
        assert_eq!(s.platforms[0].banks, vec![BankId::new(0)]);
        // The platform's best outcome is its ask; the bank's is sharing nothing.
        let p = &s.platforms[0].preferences;
        assert_eq!(p.utility(s.platforms[0].ask), p.max_utility().unwrap());
        let labels = s.space.describe(s.platforms[0].ask);
        assert!(labels.contains(&("transactions".into(), "detail".into())));
        assert!(labels.contains(&("platform_offers".into(), "referrals+fraud_tooling".into())));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let text = MINIMAL.replace("seed = 1", "seed = \"one\"");
        match parse(&text) {
            Err(CoreError::ScenarioSyntax { line, .. }) => assert_eq!(line, 4),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn semantic_errors_carry_the_key_path() {
        let text = MINIMAL.replace("reservation = 0.2", "reservation = 1.5");
        let err = parse(&text).unwrap_err().to_string();
        assert_eq!(err, "banks[0].policy.reservation: 1.5 is outside 0..=1");
    }

    #[test]
    fn a_name_with_a_dot_is_refused_because_tokens_and_sweep_keys_split_on_dots() {
        let text = MINIMAL.replace("name = \"b\"", "name = \"b.1\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("banks[0].name: `b.1` is not a valid name"), "{err}");
        assert!(!err.contains("'.'"), "{err}");
    }

    #[test]
    fn a_platform_pulls_directly_unless_its_design_says_otherwise() {
        assert_eq!(parse(MINIMAL).unwrap().platforms[0].design, Design::Direct);
        let text = MINIMAL.replace("[[banks]]", "[platforms.design]\nkind = \"aggregator\"\n\n[[banks]]");
        let Design::Aggregator(a) = parse(&text).unwrap().platforms[0].design.clone() else {
            panic!("an aggregator design")
        };
        assert_eq!((a.name.as_str(), a.workers), ("p-aggregator", 16));
        // The aggregator's hop defaults to the scenario's network delay.
        assert_eq!(a.network_delay, parse(MINIMAL).unwrap().network_delay);
        let push = MINIMAL.replace("[[banks]]", "[platforms.design]\nkind = \"push\"\n\n[[banks]]");
        assert_eq!(parse(&push).unwrap().platforms[0].design.kind(), DesignKind::Push);
    }

    /// MINIMAL with a data phase, one workload item and a service table to edit.
    fn with_data(platform: &str, bank: &str) -> String {
        let workload =
            format!("[[platforms.workload]]\nkind = \"balance_lookup\"\nper_second = 1\n{platform}\n\n[[banks]]");
        format!("{}\n{bank}\n[data]\nduration = \"1d\"\n", MINIMAL.replace("[[banks]]", &workload))
    }

    #[test]
    fn every_duration_rate_and_count_out_of_range_is_refused_naming_its_key_and_what_is_allowed() {
        let service = |line: &str| with_data("", &format!("[banks.service]\n{line}"));
        let cases = [
            (
                service("service_time = { dist = \"exponential\", mean = \"1000000y\" }"),
                "banks[0].service.service_time.mean: 365250000d; allowed 0s to 365d",
            ),
            (
                service("network_delay = { dist = \"uniform\", min = \"0s\", max = \"400d\" }"),
                "banks[0].service.network_delay.max: 400d; allowed 0s to 365d",
            ),
            (
                service("service_time = { dist = \"lognormal\", median = \"5ms\", sigma = inf }"),
                "banks[0].service.service_time.sigma: inf; allowed 0..=4",
            ),
            (
                service("rate_limit = { per_second = 1e-300 }"),
                "banks[0].service.rate_limit.per_second: 1e-300; allowed 0.001..=1000000000",
            ),
            (
                service("rate_limit = { per_second = 10, burst = 1e300 }"),
                "banks[0].service.rate_limit.burst: 1e300; allowed 1..=1000000000",
            ),
            (service("error_rate = nan"), "banks[0].service.error_rate: NaN is outside 0..=1"),
            (
                with_data("", "[banks.population]\ntransactions_per_day = 1500000"),
                "banks[0].population.transactions_per_day: 1500000; allowed 0..=1000",
            ),
            (
                with_data("", "[banks.population]\ncustomers = 1000000000"),
                "banks[0].population.customers: 1000000000; allowed 0..=100000000",
            ),
            (
                with_data("[platforms.client]\nbackoff = \"2d\"", ""),
                "platforms[0].client.backoff: 2d; allowed 0s to 1d",
            ),
            (
                with_data("[platforms.client]\ntimeout = \"0s\"", ""),
                "platforms[0].client.timeout: 0s; allowed more than 0s, up to 1d",
            ),
            (
                with_data("", "").replace("per_second = 1", "per_second = 1e9"),
                "platforms[0].workload[0].per_second: 1000000000; allowed 0..=1000000",
            ),
            (
                with_data("", "").replace("per_second = 1", "per_customer_per_day = -inf"),
                "platforms[0].workload[0].per_customer_per_day: -inf; allowed 0..=86400",
            ),
            (
                with_data("", "").replace("duration = \"1d\"", "duration = \"200y\""),
                "data.duration: 73050d; allowed more than 0s, up to 36500d",
            ),
            (
                with_data("", "").replace("duration = \"1d\"", "duration = \"1d\"\nsensitivity_weights = [1, -3, 9]"),
                "data.sensitivity_weights[1]: -3; allowed 0..=1000000",
            ),
            (
                MINIMAL.replace("duration = \"30d\"", "duration = \"101y\""),
                "scenario.duration: 36890d 6h; allowed more than 0s, up to 36500d",
            ),
            (
                format!(
                    "{MINIMAL}\n[[events]]\nkind = \"load_spike\"\nat = \"1d\"\nplatform = \"p\"\nduration = \"40000d\"\nfactor = 2"
                ),
                "events[0].duration: 40000d; allowed more than 0s, up to 36500d",
            ),
            (
                format!("{MINIMAL}\n[timing]\ndecision_delay = {{ dist = \"normal\", mean = \"1h\", sd = \"5000d\" }}"),
                "timing.decision_delay.sd: 5000d; allowed 0s to 365d",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&text).map(|_| ()).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn a_bank_has_one_partition_unless_told_and_its_totals_split_evenly_or_the_file_is_refused() {
        let service = |lines: &str| with_data("", &format!("[banks.service]\n{lines}"));
        let s = parse(&service("workers = 8")).unwrap();
        assert_eq!(s.banks[0].service.partitions, 1);
        let s = parse(&service("workers = 8\npartitions = 4\nrate_limit = { per_second = 100, burst = 20 }")).unwrap();
        let b = &s.banks[0].service;
        assert_eq!((b.partitions, b.partition_workers(), b.partition_rate_limit()), (4, 2, Some((25.0, 5.0))));
        let refused = [
            ("workers = 8\npartitions = 0", "banks[0].service.partitions: 0; allowed 1..=4096"),
            ("workers = 8\npartitions = 5000", "banks[0].service.partitions: 5000; allowed 1..=4096"),
            (
                "workers = 8\npartitions = 3",
                "banks[0].service.partitions: 3 partitions do not split banks[0].service.workers = 8 evenly; allowed a divisor of 8",
            ),
            (
                "workers = 8\npartitions = 4\nrate_limit = { per_second = 100, burst = 10 }",
                "banks[0].service.rate_limit.burst: 10 does not split evenly into 4 partitions; allowed a multiple of 4 (give the burst explicitly)",
            ),
            (
                "workers = 8\npartitions = 4\nrate_limit = { per_second = 0.002, burst = 4 }",
                "banks[0].service.rate_limit.per_second: 0.002 split into 4 partitions is below 0.001 a second each; allowed at least 0.004",
            ),
        ];
        for (lines, want) in refused {
            assert_eq!(parse(&service(lines)).map(|_| ()).unwrap_err().to_string(), want, "{lines}");
        }
    }

    #[test]
    fn values_at_the_bounds_load() {
        let text = with_data(
            "[platforms.client]\ntimeout = \"1d\"\nbackoff = \"1d\"\nretries = 10",
            "[banks.population]\ncustomers = 100000000\ntransactions_per_day = 1000\n[banks.service]\n\
             service_time = { dist = \"lognormal\", median = \"365d\", sigma = 4 }\n\
             network_delay = { dist = \"uniform\", min = \"365d\", max = \"365d\" }\n\
             rate_limit = { per_second = 0.001, burst = 1e9 }",
        )
        .replace("per_second = 1\n", "per_second = 1e6\n")
        .replace("duration = \"30d\"", "duration = \"36500d\"");
        let s = parse(&text).unwrap();
        assert_eq!(s.duration, MAX_DURATION);
        assert_eq!(s.banks[0].service.rate_limit, Some((0.001, 1e9)));
        // The largest mean a delay can have is computed without overflow.
        assert!(s.banks[0].service.service_time.mean() > MAX_DELAY * 2_000);
    }

    #[test]
    fn a_platform_values_more_than_its_ask_a_little_above_less_when_its_ask_is_between_the_ends() {
        // Asking the middle of three options (banks favour the first): less 0, the ask 1, more 0.1.
        assert_eq!(platform_value(3, 1, Favours::First, 0), 0.0);
        assert_eq!(platform_value(3, 1, Favours::First, 1), 1.0);
        assert_eq!(platform_value(3, 1, Favours::First, 2), PAST_THE_ASK_FLOOR);
        // Banks favouring the last option (what the platform gives): giving less is "more".
        assert_eq!(platform_value(3, 1, Favours::Last, 0), PAST_THE_ASK_FLOOR);
        // Four options, ask the second: 30 days 0.5, 90 days 1, 365 days 0.1 + 0.9 * 0.5 = 0.55.
        assert!((platform_value(4, 1, Favours::First, 2) - 0.55).abs() < 1e-12);
        // An ask at an end: the plain fall-off, to 0.
        assert_eq!(platform_value(3, 0, Favours::First, 2), 0.0);
        assert_eq!(platform_value(3, 2, Favours::First, 0), 0.0);
    }

    #[test]
    fn falloff_peaks_at_the_ask() {
        assert_eq!(falloff(3, 2, 2), 1.0);
        assert_eq!(falloff(3, 2, 0), 0.0);
        assert_eq!(falloff(5, 1, 4), 0.0);
        assert!((falloff(5, 1, 0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(falloff(1, 0, 0), 1.0);
    }

    #[test]
    fn thresholds_parse_into_domain_values_in_file_order() {
        // The workload goes before [[banks]]: after it, TOML would attach it to the bank.
        let workload = "[[platforms.workload]]\nkind = \"balance_lookup\"\nper_customer_per_day = 1\n\n[[banks]]";
        let thresholds = r#"
[[thresholds]]
metric = "latency"
bank = "b"
request = "balance_lookup"
percentile = "p99.9"
below_ms = 250

[[thresholds]]
metric = "outcome"
bank = "b"
equals = "withdrawn"
clause = "min_platform_trust"

[[thresholds]]
metric = "customers_exposed"
at_most = 10
"#;
        let s = parse(&format!("{}{thresholds}", MINIMAL.replace("[[banks]]", workload))).unwrap();
        assert_eq!(
            s.thresholds,
            vec![
                Threshold::Latency {
                    bank: "b".into(),
                    kind: RequestKind::BalanceLookup,
                    percentile: Percentile::P999,
                    below_ms: 250.0
                },
                Threshold::Outcome {
                    bank: "b".into(),
                    platform: None,
                    expected: ExpectedOutcome::Withdrawn,
                    clause: Some(TRUST_CLAUSE.into())
                },
                Threshold::CustomersExposed { bank: None, limit: CountLimit::AtMost(10) },
            ]
        );
    }

    fn threshold_error(entry: &str) -> String {
        parse(&format!("{MINIMAL}\n[[thresholds]]\n{entry}")).unwrap_err().to_string()
    }

    #[test]
    fn threshold_errors_name_the_key_path_and_what_is_allowed() {
        assert_eq!(
            threshold_error("metric = \"customers_exposed\"\nbank = \"nope\"\nbelow = 1"),
            "thresholds[0].bank: no bank named `nope` (banks: b)"
        );
        assert_eq!(
            threshold_error("metric = \"withdrawals\"\nbelow = 1\nat_most = 2"),
            "thresholds[0]: give exactly one of `below`, `at_most`, `at_least` or `equals`"
        );
        assert_eq!(
            threshold_error(
                "metric = \"latency\"\nbank = \"b\"\nrequest = \"commerce\"\npercentile = \"p99\"\nbelow_ms = 5"
            ),
            "thresholds[0].request: no platform sends `commerce` requests to `b` (it gets: none)"
        );
        assert_eq!(
            threshold_error("metric = \"outcome\"\nbank = \"b\"\nequals = \"agreed\"\nclause = \"x\""),
            "thresholds[0].clause: `clause` applies only to equals = \"withdrawn\""
        );
        let unknown_category = threshold_error("metric = \"records_exposed\"\ncategory = \"pets\"\nbelow = 1");
        assert!(unknown_category.starts_with("thresholds[0].category: unknown data category `pets`"));
    }

    #[test]
    fn threshold_syntax_errors_carry_line_and_column() {
        let lines = MINIMAL.lines().count();
        for (entry, expect) in [
            ("metric = \"speed\"", "unknown variant `speed`"),
            ("metric = \"outcome\"\nbank = \"b\"\nequals = \"left\"", "unknown variant `left`"),
            ("metric = \"withdrawals\"\nbelow = -1", "invalid value"),
            ("metric = \"withdrawals\"\nbelow = 1\nabove = 2", "unknown field `above`"),
        ] {
            match parse(&format!("{MINIMAL}\n[[thresholds]]\n{entry}")) {
                Err(CoreError::ScenarioSyntax { line, message, .. }) => {
                    assert!(line > lines, "{entry}: line {line} is not in the thresholds");
                    assert!(message.contains(expect), "{entry}: {message}");
                }
                other => panic!("{entry}: expected a syntax error, got {other:?}"),
            }
        }
    }
}
