//! The exposure ledger: every field value a bank discloses is counted by (bank, platform,
//! customer, record, field, purpose) as it happens, into running tallies small enough to keep
//! for a million customers; re-identification statistics are computed once, at the end.
//!
//! - customers exposed: a category mask per linked customer;
//! - field values by NIST 800-122 class, and a weighted score (L=1, M=3, H=9 by default);
//! - share of exposed customers unique on (ZIP5, date of birth, sex), and the smallest k
//!   (Sweeney: 87% of Americans are unique on these three);
//! - share unique on 4 (merchant, day) points (de Montjoye et al., Science 2015: 4 points
//!   re-identify 90% of 1.1M card holders), within a sample of exposed customers;
//! - minimisation excess: field values beyond each purpose's minimal set;
//! - blocked attempts, term violations and refusals.

use crate::population::{MS_PER_DAY, PopulationSpec, Transaction, quasi_identifiers};
use crate::rng::stream;
use crate::scenario::BankId;
use crate::terms::{DataCategory, Field, FieldSet, Purpose};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many of the lowest-indexed linked customers keep their (merchant, day) trace for the
/// unicity statistic. Their indices carry no meaning (customers are i.i.d.), so this is a
/// uniform sample.
pub const UNICITY_SAMPLE: u64 = 10_000;
/// Points per customer used by the unicity test.
pub const UNICITY_POINTS: usize = 4;

/// What one response (a page, a record, a delivered event) disclosed about one customer, as
/// both modes count it ([`PairLedger::count`]): the bank's ledger in both, the platform's in
/// virtual runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Disclosure<'a> {
    pub customer: u64,
    pub purpose: Purpose,
    /// The fields each record carries.
    pub fields: FieldSet,
    pub records: Records<'a>,
}

/// The records of a [`Disclosure`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Records<'a> {
    /// So many records that are not card transactions: accounts, balances, derived signals.
    Other(u64),
    /// A page of card transactions, one record each.
    Transactions(&'a [Transaction]),
    /// One card transaction, pushed as it was booked.
    Transaction(Booking),
}

/// What the ledger needs of one card transaction: small, so that a pushed delivery carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Booking {
    pub merchant: u32,
    pub day: u32,
    pub on_platform: bool,
}

impl From<&Transaction> for Booking {
    #[inline]
    fn from(t: &Transaction) -> Booking {
        Booking { merchant: t.merchant, day: (t.at_ms / MS_PER_DAY) as u32, on_platform: t.on_platform }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposeTally {
    requests: u64,
    records: u64,
    field_values: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "LedgerState", try_from = "LedgerState")]
pub struct PairLedger {
    linked: u64,
    /// Which customers it keeps: `customer % stride == offset` (a shard's ledger keeps its
    /// partition's, `queue::partition_of`), each at slot `customer / stride`. 1 and 0: all.
    stride: u64,
    offset: u64,
    /// Records disclosed per category, per kept linked customer, by slot.
    customers: Vec<[u32; DataCategory::ALL.len()]>,
    records_by_category: [u64; DataCategory::ALL.len()],
    field_values_by_class: [u64; 3],
    by_purpose: [PurposeTally; Purpose::ALL.len()],
    minimisation_excess: u64,
    blocked_requests: u64,
    blocked_field_values: u64,
    blocked_off_platform_requests: u64,
    violations: u64,
    refused: BTreeMap<String, u64>,
    /// The (merchant, day) points of the kept customers in the unicity sample, by slot.
    traces: Vec<Vec<(u32, u32)>>,
    first_ms: Option<u64>,
    last_ms: Option<u64>,
}

/// A ledger as a shard writes it (issue 13): only the customers it disclosed anything about
/// (a shard serves one partition's customers), each with its records per category; the rest
/// as kept.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerState {
    linked: u64,
    /// The customers the ledger keeps: `customer % stride == offset`.
    stride: u64,
    offset: u64,
    /// (customer, records per category), by customer.
    customers: Vec<(u64, [u32; DataCategory::ALL.len()])>,
    records_by_category: [u64; DataCategory::ALL.len()],
    field_values_by_class: [u64; 3],
    by_purpose: [PurposeTally; Purpose::ALL.len()],
    minimisation_excess: u64,
    blocked_requests: u64,
    blocked_field_values: u64,
    blocked_off_platform_requests: u64,
    violations: u64,
    refused: BTreeMap<String, u64>,
    /// (customer, its (merchant, day) points), for the sampled customers with any.
    traces: Vec<(u64, Vec<(u32, u32)>)>,
    first_ms: Option<u64>,
    last_ms: Option<u64>,
}

impl From<PairLedger> for LedgerState {
    fn from(l: PairLedger) -> Self {
        let customer = |slot: usize| slot as u64 * l.stride + l.offset;
        LedgerState {
            linked: l.linked,
            stride: l.stride,
            offset: l.offset,
            customers: (l.customers.iter().enumerate())
                .filter(|(_, counts)| counts.iter().any(|&n| n > 0))
                .map(|(slot, counts)| (customer(slot), *counts))
                .collect(),
            records_by_category: l.records_by_category,
            field_values_by_class: l.field_values_by_class,
            by_purpose: l.by_purpose,
            minimisation_excess: l.minimisation_excess,
            blocked_requests: l.blocked_requests,
            blocked_field_values: l.blocked_field_values,
            blocked_off_platform_requests: l.blocked_off_platform_requests,
            violations: l.violations,
            refused: l.refused,
            traces: (l.traces.iter().enumerate())
                .filter(|(_, t)| !t.is_empty())
                .map(|(slot, t)| (customer(slot), t.clone()))
                .collect(),
            first_ms: l.first_ms,
            last_ms: l.last_ms,
        }
    }
}

impl TryFrom<LedgerState> for PairLedger {
    type Error = String;

    fn try_from(s: LedgerState) -> Result<Self, String> {
        if s.linked > crate::scenario::MAX_CUSTOMERS {
            return Err(format!("linked: {}; allowed 0..={}", s.linked, crate::scenario::MAX_CUSTOMERS));
        }
        let increasing_below = |customers: &mut dyn Iterator<Item = u64>, limit: u64, what: &str| {
            let mut previous = None;
            for c in customers {
                if c >= limit || previous.is_some_and(|p| c <= p) {
                    return Err(format!(
                        "{what}: customer {c} out of order or range; allowed increasing, below {limit}"
                    ));
                }
                previous = Some(c);
            }
            Ok(())
        };
        if s.stride == 0 || s.stride > u64::from(crate::scenario::MAX_PARTITIONS) || s.offset >= s.stride {
            return Err(format!(
                "stride {} and offset {}: allowed 1 <= stride <= {}, offset < stride",
                s.stride,
                s.offset,
                crate::scenario::MAX_PARTITIONS
            ));
        }
        increasing_below(&mut s.customers.iter().map(|(c, _)| *c), s.linked, "customers")?;
        increasing_below(&mut s.traces.iter().map(|(c, _)| *c), s.linked.min(UNICITY_SAMPLE), "traces")?;
        let mut ledger = PairLedger::for_partition(s.linked, s.offset as u32, s.stride as u32);
        for (c, counts) in s.customers {
            let slot = ledger.slot(c).ok_or_else(|| format!("customers: customer {c} is not kept by this ledger"))?;
            ledger.customers[slot] = counts;
        }
        for (c, points) in s.traces {
            let slot = ledger.slot(c).ok_or_else(|| format!("traces: customer {c} is not kept by this ledger"))?;
            ledger.traces[slot] = points;
        }
        Ok(PairLedger {
            records_by_category: s.records_by_category,
            field_values_by_class: s.field_values_by_class,
            by_purpose: s.by_purpose,
            minimisation_excess: s.minimisation_excess,
            blocked_requests: s.blocked_requests,
            blocked_field_values: s.blocked_field_values,
            blocked_off_platform_requests: s.blocked_off_platform_requests,
            violations: s.violations,
            refused: s.refused,
            first_ms: s.first_ms,
            last_ms: s.last_ms,
            ..ledger
        })
    }
}

impl PairLedger {
    /// The customers it may count (`0..linked`).
    pub fn linked(&self) -> u64 {
        self.linked
    }

    /// Which customers it keeps: those of partition `.0` of `.1` (`0` of `1`: all).
    pub fn partition(&self) -> (u64, u64) {
        (self.offset, self.stride)
    }

    /// A ledger for `linked` customers (indices `0..linked`).
    pub fn new(linked: u64) -> Self {
        PairLedger::for_partition(linked, 0, 1)
    }

    /// A ledger of `linked` customers that keeps partition `partition` of `partitions`'s only
    /// (a shard's): its memory, and the span of memory its counts touch, are a partition's.
    pub fn for_partition(linked: u64, partition: u32, partitions: u32) -> Self {
        let (stride, offset) = (u64::from(partitions.max(1)), u64::from(partition));
        let kept = |n: u64| crate::queue::partition_customers(n, partition, partitions) as usize;
        PairLedger {
            linked,
            stride,
            offset,
            customers: vec![[0; DataCategory::ALL.len()]; kept(linked)],
            records_by_category: [0; DataCategory::ALL.len()],
            field_values_by_class: [0; 3],
            by_purpose: Default::default(),
            minimisation_excess: 0,
            blocked_requests: 0,
            blocked_field_values: 0,
            blocked_off_platform_requests: 0,
            violations: 0,
            refused: BTreeMap::new(),
            traces: vec![Vec::new(); kept(linked.min(UNICITY_SAMPLE))],
            first_ms: None,
            last_ms: None,
        }
    }

    /// Where `customer`'s counts are kept, if this ledger keeps them.
    #[inline]
    fn slot(&self, customer: u64) -> Option<usize> {
        if self.stride == 1 {
            return (customer < self.linked).then_some(customer as usize);
        }
        (customer % self.stride == self.offset && customer < self.linked).then_some((customer / self.stride) as usize)
    }

    /// Keeps every customer from now on (a merge of partitions needs room for all).
    fn keep_all(&mut self) {
        if self.stride == 1 {
            return;
        }
        // Only what was counted is copied: the rest of the whole ledger stays untouched zeros.
        let mut whole = PairLedger::new(self.linked);
        for (customer, counts) in self.exposed() {
            whole.customers[customer as usize] = *counts;
        }
        for (slot, points) in std::mem::take(&mut self.traces).into_iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            whole.traces[slot * self.stride as usize + self.offset as usize] = points;
        }
        (self.stride, self.offset, self.customers, self.traces) = (1, 0, whole.customers, whole.traces);
    }

    /// The customers anything was disclosed about, in increasing order, with their counts.
    pub fn exposed(&self) -> impl Iterator<Item = (u64, &[u32; DataCategory::ALL.len()])> + '_ {
        (self.customers.iter().enumerate())
            .filter(|(_, counts)| counts.iter().any(|&n| n > 0))
            .map(|(slot, counts)| (slot as u64 * self.stride + self.offset, counts))
    }

    /// Makes room for `linked` customers (indices `0..linked`), keeping what was counted: a
    /// platform's ledger at a bank spans its agreements there, which may link more customers.
    pub fn widen(&mut self, linked: u64) {
        if linked > self.linked {
            self.linked = linked;
            let (partition, partitions) = (self.offset as u32, self.stride as u32);
            let kept = |n: u64| crate::queue::partition_customers(n, partition, partitions) as usize;
            self.customers.resize(kept(linked), [0; DataCategory::ALL.len()]);
            self.traces.resize(kept(linked.min(UNICITY_SAMPLE)), Vec::new());
        }
    }

    /// Adds what `other` counted: the same agreement's disclosures to other customers (say, at
    /// another partition of the bank), so that the merged ledger is the one a single run would
    /// have kept. Customers' counts add, and a customer's trace points follow its own.
    pub fn merge(&mut self, other: &PairLedger) {
        self.widen(other.linked);
        if (self.stride, self.offset) != (other.stride, other.offset) {
            self.keep_all();
        }
        for (customer, theirs) in other.exposed() {
            let slot = self.slot(customer).expect("a merged ledger keeps the other's customers");
            for (m, t) in self.customers[slot].iter_mut().zip(theirs) {
                *m = m.saturating_add(*t);
            }
        }
        for (m, t) in self.records_by_category.iter_mut().zip(other.records_by_category) {
            *m = m.saturating_add(t);
        }
        for (m, t) in self.field_values_by_class.iter_mut().zip(other.field_values_by_class) {
            *m = m.saturating_add(t);
        }
        for (m, t) in self.by_purpose.iter_mut().zip(&other.by_purpose) {
            m.requests = m.requests.saturating_add(t.requests);
            m.records = m.records.saturating_add(t.records);
            m.field_values = m.field_values.saturating_add(t.field_values);
        }
        self.minimisation_excess = self.minimisation_excess.saturating_add(other.minimisation_excess);
        self.blocked_requests = self.blocked_requests.saturating_add(other.blocked_requests);
        self.blocked_field_values = self.blocked_field_values.saturating_add(other.blocked_field_values);
        self.blocked_off_platform_requests =
            self.blocked_off_platform_requests.saturating_add(other.blocked_off_platform_requests);
        self.violations = self.violations.saturating_add(other.violations);
        for (reason, n) in &other.refused {
            let count = self.refused.entry(reason.clone()).or_default();
            *count = count.saturating_add(*n);
        }
        for (slot, theirs) in other.traces.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            let customer = slot as u64 * other.stride + other.offset;
            let mine = self.slot(customer).expect("a merged ledger keeps the other's sample");
            self.traces[mine].extend_from_slice(theirs);
        }
        self.first_ms = self.first_ms.into_iter().chain(other.first_ms).min();
        self.last_ms = self.last_ms.into_iter().chain(other.last_ms).max();
    }

    /// `records` records, each carrying `fields`, of which `off_platform` were transactions made
    /// outside the platform, left the bank at `at_ms` for `customer`, for `purpose`.
    pub fn disclose(
        &mut self,
        at_ms: u64,
        customer: u64,
        purpose: Purpose,
        fields: FieldSet,
        records: u64,
        off_platform: u64,
    ) {
        if records == 0 || fields.is_empty() {
            return;
        }
        let mut per_customer = match self.slot(customer) {
            Some(slot) => self.customers.get_mut(slot),
            None => None,
        };
        let sat = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        for c in DataCategory::ALL {
            if !fields.intersect(c.fields()).is_empty() {
                self.records_by_category[*c as usize] += records;
                if let Some(counts) = per_customer.as_deref_mut() {
                    counts[*c as usize] = counts[*c as usize].saturating_add(sat(records));
                }
            }
        }
        if off_platform > 0 {
            let c = DataCategory::OffPlatformTransactions as usize;
            self.records_by_category[c] += off_platform;
            if let Some(counts) = per_customer {
                counts[c] = counts[c].saturating_add(sat(off_platform));
            }
        }
        let classes = fields.by_sensitivity();
        for (total, n) in self.field_values_by_class.iter_mut().zip(classes) {
            *total += records * u64::from(n);
        }
        let p = &mut self.by_purpose[purpose as usize];
        p.requests += 1;
        p.records += records;
        p.field_values += records * u64::from(fields.len());
        self.minimisation_excess += records * u64::from(fields.minus(purpose.minimal_fields()).len());
        self.first_ms = Some(self.first_ms.map_or(at_ms, |f| f.min(at_ms)));
        self.last_ms = Some(self.last_ms.map_or(at_ms, |l| l.max(at_ms)));
    }

    /// Counts what a response disclosed at `at_ms`: its records, the card transactions made
    /// outside the platform among them, and, for customers in the unicity sample, the
    /// (merchant, day) point of each transaction that left with its merchant.
    #[inline]
    pub fn count(&mut self, at_ms: u64, d: &Disclosure<'_>) {
        let traced = d.customer < UNICITY_SAMPLE && d.fields.contains(Field::TxnMerchant);
        match &d.records {
            Records::Other(n) => self.disclose(at_ms, d.customer, d.purpose, d.fields, *n, 0),
            Records::Transactions(page) => {
                let off_platform = page.iter().filter(|t| !t.on_platform).count() as u64;
                self.disclose(at_ms, d.customer, d.purpose, d.fields, page.len() as u64, off_platform);
                for b in page.iter().map(Booking::from).filter(|_| traced) {
                    self.trace(d.customer, b.merchant, b.day);
                }
            }
            Records::Transaction(b) => {
                self.disclose(at_ms, d.customer, d.purpose, d.fields, 1, u64::from(!b.on_platform));
                if traced {
                    self.trace(d.customer, b.merchant, b.day);
                }
            }
        }
    }

    /// A (merchant, day) point of `customer` became visible to the platform.
    pub fn trace(&mut self, customer: u64, merchant: u32, day: u32) {
        if let Some(t) = self.slot(customer).and_then(|slot| self.traces.get_mut(slot)) {
            t.push((merchant, day));
        }
    }

    /// The platform asked for fields (or off-platform records) the terms do not allow; they
    /// were blocked.
    pub fn blocked(&mut self, fields: FieldSet, off_platform_records: bool) {
        self.blocked_requests += 1;
        self.blocked_field_values += u64::from(fields.len());
        self.blocked_off_platform_requests += u64::from(off_platform_records);
        self.violations += 1;
    }

    /// A request got no data; `violation` when the platform asked outside the terms.
    pub fn refused(&mut self, reason: &str, violation: bool) {
        *self.refused.entry(reason.to_string()).or_default() += 1;
        if violation {
            self.violations += 1;
        }
    }

    pub fn violations(&self) -> u64 {
        self.violations
    }

    pub fn last_disclosure_ms(&self) -> Option<u64> {
        self.last_ms
    }

    /// Records disclosed about `customer` per category (indexed by `DataCategory as usize`),
    /// if the ledger keeps that customer.
    pub fn counts_of(&self, customer: u64) -> Option<&[u32; DataCategory::ALL.len()]> {
        self.slot(customer).and_then(|slot| self.customers.get(slot))
    }

    /// Whether anything about `customer` was disclosed.
    pub fn is_exposed(&self, customer: u64) -> bool {
        self.counts_of(customer).is_some_and(|c| c.iter().any(|n| *n > 0))
    }

    pub fn summarize(&self, spec: &PopulationSpec, platform: &str, weights: [f64; 3]) -> ExposureSummary {
        let exposed: Vec<u64> = self.exposed().map(|(customer, _)| customer).collect();
        let (qi_unique_share, qi_min_k) = quasi_identifier_uniqueness(spec, &exposed);
        let (unicity, sample) = unicity(spec.seed, &format!("unicity/{}/{platform}", spec.bank), &self.traces);
        let n = exposed.len() as f64;
        let [low, moderate, high] = self.field_values_by_class;
        ExposureSummary {
            bank: spec.bank.clone(),
            platform: platform.to_string(),
            population: spec.size,
            linked_customers: self.linked,
            customers_exposed: exposed.len() as u64,
            share_of_linked: if self.linked == 0 { 0.0 } else { n / self.linked as f64 },
            share_of_population: if spec.size == 0 { 0.0 } else { n / spec.size as f64 },
            records_by_category: DataCategory::ALL
                .iter()
                .filter(|c| self.records_by_category[**c as usize] > 0)
                .map(|c| (c.as_str().to_string(), self.records_by_category[*c as usize]))
                .collect(),
            customers_by_category: DataCategory::ALL
                .iter()
                .map(|c| (c, self.customers.iter().filter(|m| m[*c as usize] > 0).count() as u64))
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| (c.as_str().to_string(), n))
                .collect(),
            field_values: FieldValues { low, moderate, high },
            weighted_score: weights[0] * low as f64 + weights[1] * moderate as f64 + weights[2] * high as f64,
            qi_unique_share,
            qi_min_k,
            merchant_day_unique_share: unicity,
            merchant_day_sample: sample,
            minimisation_excess: self.minimisation_excess,
            blocked_requests: self.blocked_requests,
            blocked_field_values: self.blocked_field_values,
            blocked_off_platform_requests: self.blocked_off_platform_requests,
            violations: self.violations,
            refused: self.refused.clone(),
            by_purpose: Purpose::ALL
                .iter()
                .filter(|p| self.by_purpose[**p as usize].requests > 0)
                .map(|p| {
                    let t = &self.by_purpose[*p as usize];
                    (
                        p.as_str().to_string(),
                        PurposeExposure { requests: t.requests, records: t.records, field_values: t.field_values },
                    )
                })
                .collect(),
            first_disclosure_ms: self.first_ms,
            last_disclosure_ms: self.last_ms,
        }
    }
}

/// Share of `exposed` customers alone in their (ZIP5, birth date, sex) class among the exposed,
/// and the smallest class size (`None` if nobody is exposed).
pub fn quasi_identifier_uniqueness(spec: &PopulationSpec, exposed: &[u64]) -> (f64, Option<u64>) {
    if exposed.is_empty() {
        return (0.0, None);
    }
    let mut qis: Vec<_> = exposed.iter().map(|&i| quasi_identifiers(spec, i)).collect();
    qis.sort_unstable();
    let mut unique = 0u64;
    let mut min_k = u64::MAX;
    for class in qis.chunk_by(|a, b| a == b) {
        let k = class.len() as u64;
        unique += u64::from(k == 1);
        min_k = min_k.min(k);
    }
    (unique as f64 / exposed.len() as f64, Some(min_k))
}

/// de Montjoye's unicity: for each traced customer with at least 4 distinct points, draw 4 of
/// them at random; the customer is unique if no other traced customer's trace holds all 4.
/// Returns the unique share and how many customers were tested.
pub fn unicity(seed: u64, stream_name: &str, traces: &[Vec<(u32, u32)>]) -> (Option<f64>, u64) {
    let traces: Vec<Vec<(u32, u32)>> = traces
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let mut index: BTreeMap<(u32, u32), Vec<u32>> = BTreeMap::new();
    for (c, t) in traces.iter().enumerate() {
        for p in t {
            index.entry(*p).or_default().push(c as u32);
        }
    }
    let mut rng = stream(seed, stream_name);
    let (mut tested, mut unique) = (0u64, 0u64);
    for (c, t) in traces.iter().enumerate() {
        if t.len() < UNICITY_POINTS {
            continue;
        }
        tested += 1;
        // Partial Fisher–Yates: the first 4 slots become a uniform sample of points.
        let mut idx: Vec<usize> = (0..t.len()).collect();
        for i in 0..UNICITY_POINTS {
            let j = rng.random_range(i..idx.len());
            idx.swap(i, j);
        }
        let points: Vec<(u32, u32)> = idx[..UNICITY_POINTS].iter().map(|&i| t[i]).collect();
        let rarest = points.iter().map(|p| &index[p]).min_by_key(|v| v.len()).expect("4 points");
        let matches = rarest
            .iter()
            .filter(|&&other| points.iter().all(|p| traces[other as usize].binary_search(p).is_ok()))
            .count();
        debug_assert!(matches >= 1, "a trace contains its own points");
        unique += u64::from(matches == 1 && rarest.contains(&(c as u32)));
    }
    if tested == 0 { (None, 0) } else { (Some(unique as f64 / tested as f64), tested) }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldValues {
    pub low: u64,
    pub moderate: u64,
    pub high: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PurposeExposure {
    pub requests: u64,
    pub records: u64,
    pub field_values: u64,
}

/// Exposure of one (bank, platform) relationship, as reports carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExposureSummary {
    pub bank: String,
    pub platform: String,
    pub population: u64,
    pub linked_customers: u64,
    pub customers_exposed: u64,
    pub share_of_linked: f64,
    pub share_of_population: f64,
    pub records_by_category: BTreeMap<String, u64>,
    pub customers_by_category: BTreeMap<String, u64>,
    pub field_values: FieldValues,
    pub weighted_score: f64,
    /// Share of exposed customers unique on (ZIP5, date of birth, sex).
    pub qi_unique_share: f64,
    /// Smallest (ZIP5, date of birth, sex) class among the exposed (k of k-anonymity).
    pub qi_min_k: Option<u64>,
    /// Share of sampled exposed customers unique on 4 (merchant, day) points.
    pub merchant_day_unique_share: Option<f64>,
    pub merchant_day_sample: u64,
    pub minimisation_excess: u64,
    pub blocked_requests: u64,
    pub blocked_field_values: u64,
    /// Requests that asked for off-platform transactions without the right to them.
    pub blocked_off_platform_requests: u64,
    pub violations: u64,
    pub refused: BTreeMap<String, u64>,
    pub by_purpose: BTreeMap<String, PurposeExposure>,
    pub first_disclosure_ms: Option<u64>,
    pub last_disclosure_ms: Option<u64>,
}

/// What each agreement disclosed, per customer: the basis of `--export-exposed`.
#[derive(Default)]
pub struct Exposed {
    /// (receiving party: a platform or an aggregator, bank, ledger).
    flows: Vec<(String, BankId, PairLedger)>,
}

impl Exposed {
    /// Adds what `party` (a platform or an aggregator) received from `bank` under one agreement.
    pub fn push(&mut self, party: String, bank: BankId, ledger: PairLedger) {
        self.flows.push((party, bank, ledger));
    }

    /// Each agreement's ledger, with the party that received it and the bank, in the order added.
    pub fn ledgers(&self) -> impl Iterator<Item = (&str, BankId, &PairLedger)> {
        self.flows.iter().map(|(party, bank, ledger)| (party.as_str(), *bank, ledger))
    }

    /// One row per exposed customer and agreement: who, the quasi-identifiers, and the number of
    /// records disclosed in each category.
    pub fn to_csv(&self, sc: &crate::scenario::Scenario) -> String {
        let mut out = String::from("platform,bank,customer,zip5,date_of_birth,sex");
        for c in DataCategory::ALL {
            out.push(',');
            out.push_str(c.as_str());
        }
        out.push('\n');
        for (party, bank, ledger) in &self.flows {
            let spec = sc.population_spec(*bank);
            for (i, counts) in ledger.exposed() {
                let qi = quasi_identifiers(&spec, i);
                let sex = match qi.sex {
                    crate::population::Sex::Female => "F",
                    crate::population::Sex::Male => "M",
                };
                out.push_str(&format!("{},{},{i},{:05},{},{sex}", party, sc.banks[*bank].name, qi.zip5, qi.birth_date));
                for n in counts {
                    out.push_str(&format!(",{n}"));
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::Field;

    #[test]
    fn a_trace_no_one_else_shares_is_unique_and_shared_traces_are_not() {
        let a = vec![(1, 1), (2, 2), (3, 3), (4, 4)];
        let b = vec![(9, 1), (9, 2), (9, 3), (9, 4)];
        let (share, n) = unicity(1, "t", &[a.clone(), a.clone(), b]);
        assert_eq!(n, 3);
        assert!((share.unwrap() - 1.0 / 3.0).abs() < 1e-12, "only b is unique");
        assert_eq!(unicity(1, "t", &[vec![(1, 1)]]), (None, 0), "too few points to test");
    }

    #[test]
    fn disclosures_count_records_fields_classes_and_excess() {
        let mut l = PairLedger::new(10);
        let fields = FieldSet::of(&[Field::AccountId, Field::TxnAmount, Field::TxnMerchant]);
        l.disclose(5, 3, Purpose::FraudAlerts, fields, 2, 1);
        assert_eq!(l.records_by_category[DataCategory::TransactionsBasic as usize], 2);
        assert_eq!(l.records_by_category[DataCategory::TransactionsDetail as usize], 2);
        assert_eq!(l.records_by_category[DataCategory::OffPlatformTransactions as usize], 1);
        assert_eq!(l.field_values_by_class, [2, 4, 0]);
        // Merchant is beyond the fraud-alert minimal set: 1 field × 2 records.
        assert_eq!(l.minimisation_excess, 2);
        assert!(l.is_exposed(3));
        assert_eq!((0..10).filter(|&i| l.is_exposed(i)).count(), 1);
        assert_eq!(l.counts_of(3).expect("customer 3")[DataCategory::OffPlatformTransactions as usize], 1);
    }

    #[test]
    fn a_page_of_transactions_counts_each_as_a_record_off_platform_ones_apart_and_traces_merchants_that_left() {
        let t = |day: u64, merchant, on_platform| Transaction {
            id: 0,
            at_ms: day * MS_PER_DAY + 5,
            amount_cents: 100,
            category: crate::population::MerchantCategory::Groceries,
            merchant,
            place_zip5: 10001,
            on_platform,
            pending: false,
        };
        let page = [t(1, 7, true), t(2, 8, false), t(2, 9, false)];
        let with_merchant = FieldSet::of(&[Field::TxnAmount, Field::TxnMerchant]);
        let mut l = PairLedger::new(UNICITY_SAMPLE + 2);
        let d = |customer, fields, records| Disclosure { customer, purpose: Purpose::Commerce, fields, records };
        l.count(10, &d(4, with_merchant, Records::Transactions(&page)));
        assert_eq!(l.records_by_category[DataCategory::TransactionsBasic as usize], 3);
        assert_eq!(l.records_by_category[DataCategory::OffPlatformTransactions as usize], 2);
        assert_eq!(l.traces[4], vec![(7, 1), (8, 2), (9, 2)]);
        // A pushed transaction counts as a page of one; without the merchant field no point is traced.
        l.count(11, &d(5, FieldSet::of(&[Field::TxnAmount]), Records::Transaction(Booking::from(&page[1]))));
        assert_eq!(l.records_by_category[DataCategory::OffPlatformTransactions as usize], 3);
        assert!(l.traces[5].is_empty());
        // Customers beyond the unicity sample are counted, not traced; other records are never off-platform.
        l.count(12, &d(UNICITY_SAMPLE + 1, with_merchant, Records::Transactions(&page)));
        assert_eq!(l.traces.len() as u64, UNICITY_SAMPLE);
        l.count(13, &d(6, FieldSet::of(&[Field::AccountId]), Records::Other(2)));
        assert_eq!(l.records_by_category[DataCategory::OffPlatformTransactions as usize], 5);
        assert!(l.is_exposed(6) && l.is_exposed(UNICITY_SAMPLE + 1));
    }

    #[test]
    fn a_ledger_read_back_from_its_shard_form_is_the_ledger_written() {
        let mut l = PairLedger::new(UNICITY_SAMPLE + 5);
        let with_merchant = FieldSet::of(&[Field::TxnAmount, Field::TxnMerchant]);
        let booking = Booking { merchant: 7, day: 3, on_platform: false };
        let d = |customer, records| Disclosure { customer, purpose: Purpose::Commerce, fields: with_merchant, records };
        l.count(10, &d(4, Records::Transaction(booking)));
        l.count(20, &d(UNICITY_SAMPLE + 3, Records::Other(2)));
        l.disclose(30, 9, Purpose::FraudAlerts, FieldSet::of(&[Field::AccountId]), 1, 0);
        let json = serde_json::to_string(&l).expect("a ledger serialises");
        // Only the three customers disclosed to are written, not the ten thousand linked.
        assert!(json.len() < 1_000, "{json}");
        let back: PairLedger = serde_json::from_str(&json).expect("and reads back");
        assert_eq!(format!("{back:?}"), format!("{l:?}"));
    }

    #[test]
    fn a_ledger_file_naming_a_customer_beyond_the_linked_ones_is_refused() {
        let mut json: serde_json::Value = serde_json::to_value(PairLedger::new(3)).expect("serialises");
        json["customers"] = serde_json::json!([[3, vec![1u32; DataCategory::ALL.len()]]]);
        let refused = serde_json::from_value::<PairLedger>(json).expect_err("customer 3 of 3");
        assert!(refused.to_string().contains("customers: customer 3 out of order or range"), "{refused}");
    }

    #[test]
    fn partition_ledgers_keep_a_partitions_customers_only_and_merge_into_the_whole_ledger() {
        let linked = UNICITY_SAMPLE + 7;
        let (mut whole, mut parts) =
            (PairLedger::new(linked), [0, 1, 2].map(|p| PairLedger::for_partition(linked, p, 3)));
        assert_eq!(parts.iter().map(|p| p.customers.len() as u64).sum::<u64>(), linked);
        let with_merchant = FieldSet::of(&[Field::TxnAmount, Field::TxnMerchant]);
        for (i, customer) in [4, 5, 9, 4, UNICITY_SAMPLE + 6, 11, 5].into_iter().enumerate() {
            let booking = Booking { merchant: i as u32, day: 3, on_platform: i % 2 == 0 };
            let d = Disclosure {
                customer,
                purpose: Purpose::Commerce,
                fields: with_merchant,
                records: Records::Transaction(booking),
            };
            whole.count(10 + i as u64, &d);
            parts[(customer % 3) as usize].count(10 + i as u64, &d);
            // A ledger of another partition keeps no other partition's customer.
            let mut other = PairLedger::for_partition(linked, ((customer + 1) % 3) as u32, 3);
            other.count(10, &d);
            assert_eq!((other.exposed().count(), other.traces.iter().filter(|t| !t.is_empty()).count()), (0, 0));
        }
        let read = |l: &PairLedger| -> PairLedger {
            serde_json::from_str(&serde_json::to_string(l).expect("serialises")).expect("reads")
        };
        let mut merged = read(&parts[0]);
        for p in &parts[1..] {
            merged.merge(&read(p));
        }
        assert_eq!(format!("{merged:?}"), format!("{whole:?}"));
    }
}
