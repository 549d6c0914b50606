//! The data phase's part of a report, made one way for both drivers: each hands in what it
//! tallied per agreement (the ledgers of what the platform and its aggregator received, the
//! requests, the window) and per bank (its queue figures), and [`data_report`] turns them into
//! the flow, bank and design rows, so a figure means the same in virtual and live reports.

use super::{BankDataRow, DataReport, DesignReport, FlowReport, LatencyRow, LivePace};
use crate::SimTime;
use crate::exposure::{ExposureSummary, FieldValues, PairLedger};
use crate::latency::LatencyRecorder;
use crate::population::GENERATOR_VERSION;
use crate::queue::QueueFigures;
use crate::scenario::{BankId, Design, PlatformId, RequestKind, Scenario};
use crate::terms::Terms;
use crate::workload::{EndedBy, latency_slot, slot_key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One agreement's data phase as its driver saw it.
pub struct FlowTally<'a> {
    pub platform: PlatformId,
    pub bank: BankId,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub ended_by: EndedBy,
    pub terms: &'a Terms,
    /// The permissions the bank put on the flow's consents.
    pub permissions: Vec<String>,
    /// Requests scheduled under the agreement (pulls, and pushed deliveries).
    pub requests: u64,
    /// Customers the platform asked the bank to link and the bank refused (live runs).
    pub consents_refused: u64,
    /// What the platform received.
    pub ledger: &'a PairLedger,
    /// Aggregator designs: what the aggregator received while relaying.
    pub relay: Option<&'a PairLedger>,
    /// Push designs: deliveries the bank pushed.
    pub pushed: u64,
}

/// One bank's queue figures over the data phase (`None` where a live bank does not publish
/// them).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BankTally {
    pub requests_served: u64,
    pub mean_wait_ms: Option<f64>,
    pub mean_in_system: Option<f64>,
    pub utilisation: Option<f64>,
}

impl BankTally {
    /// A bank's row from its queue figures (virtual runs, and a bank that publishes them).
    pub fn of(queue: &QueueFigures) -> BankTally {
        BankTally {
            requests_served: queue.admitted(),
            mean_wait_ms: Some(queue.mean_wait().as_secs_f64() * 1e3),
            mean_in_system: Some(queue.mean_in_system_seen()),
            utilisation: Some(queue.utilisation()),
        }
    }
}

/// Requests and their latency per (bank, request kind), kept one way by both drivers: the
/// report's latency table before it is summarised.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTable {
    /// By `workload::latency_slot`; a row exists once a request of its kind was sent.
    slots: Vec<Option<LatencyTally>>,
}

/// One row of a [`LatencyTable`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTally {
    /// Requests sent (first attempts, and pushed deliveries).
    pub requests: u64,
    /// Answers, errors, retries and abandoned requests.
    pub recorder: LatencyRecorder,
    /// When the row's first request was sent and its last answer came (virtual time; the live
    /// driver summarises over its wall-clock span instead).
    pub first: SimTime,
    pub last: SimTime,
}

impl LatencyTable {
    /// An empty table for `banks` banks (rows for more are made as needed).
    pub fn new(banks: usize) -> LatencyTable {
        LatencyTable { slots: vec![None; banks * RequestKind::ALL.len()] }
    }

    /// The row of (`bank`, `kind`), made empty if no request of it was sent yet, with its
    /// span starting `at`.
    pub fn row(&mut self, bank: BankId, kind: RequestKind, at: SimTime) -> &mut LatencyTally {
        let slot = latency_slot(bank, kind);
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, None);
        }
        self.slots[slot].get_or_insert_with(|| LatencyTally { first: at, last: at, ..LatencyTally::default() })
    }

    /// A request of `kind` to `bank` is sent `at`.
    pub fn sent(&mut self, bank: BankId, kind: RequestKind, at: SimTime) -> &mut LatencyTally {
        let row = self.row(bank, kind, at);
        row.requests += 1;
        row
    }

    /// The row of (`bank`, `kind`), if a request of it was sent.
    pub fn get_mut(&mut self, bank: BankId, kind: RequestKind) -> Option<&mut LatencyTally> {
        self.slots.get_mut(latency_slot(bank, kind))?.as_mut()
    }

    /// Adds `other`'s rows to these, as [`LatencyRecorder::merge`] adds a recorder's: requests
    /// summed, answers and errors merged, the span widened. A run of partitioned banks keeps a
    /// table per partition and merges them in partition order, so merging its shards' tables in
    /// that order gives the same rows.
    pub fn merge(&mut self, other: &LatencyTable) {
        for (slot, row) in other.slots.iter().enumerate() {
            let Some(row) = row else { continue };
            if self.slots.len() <= slot {
                self.slots.resize(slot + 1, None);
            }
            match &mut self.slots[slot] {
                Some(mine) => {
                    mine.requests = mine.requests.saturating_add(row.requests);
                    mine.recorder.merge(&row.recorder);
                    mine.first = mine.first.min(row.first);
                    mine.last = mine.last.max(row.last);
                }
                empty => *empty = Some(row.clone()),
            }
        }
    }

    /// Room for rows: banks × request kinds, or fewer.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Every row, by bank and then kind.
    pub fn iter(&self) -> impl Iterator<Item = ((BankId, RequestKind), &LatencyTally)> + '_ {
        self.slots.iter().enumerate().filter_map(|(slot, row)| Some((slot_key(slot), row.as_ref()?)))
    }

    /// The report's latency rows, each summarised over the span `span` gives it.
    pub fn rows(&self, sc: &Scenario, span: impl Fn(&LatencyTally) -> Duration) -> Vec<LatencyRow> {
        (self.iter())
            .map(|((bank, kind), row)| LatencyRow {
                bank: sc.banks[bank].name.clone(),
                kind,
                requests: row.requests,
                latency: row.recorder.summary(span(row)),
            })
            .collect()
    }
}

/// What a data phase counted, in a form that merges exactly: per agreement, its requests and
/// ledgers; the latency table; each bank's queue figures per partition. A virtual run's parts
/// are its partitions' parts merged in partition order, so the parts a scenario's shards write
/// (issue 13), merged in shard order, are the one-process run's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataParts {
    /// By agreement, in the session's order.
    pub flows: Vec<FlowPart>,
    pub latency: LatencyTable,
    /// By bank.
    pub queues: Vec<QueueFigures>,
    /// Events the run processed: its work (not in the report).
    pub events: u64,
}

/// What one agreement's data phase counted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowPart {
    /// Requests scheduled (pulls, and pushed deliveries).
    pub requests: u64,
    /// Push designs: deliveries the bank pushed.
    pub pushed: u64,
    /// What the platform received.
    pub ledger: PairLedger,
    /// Aggregator designs: what the aggregator received while relaying.
    pub relay: Option<PairLedger>,
}

impl DataParts {
    /// Adds `other`'s counts as if its partitions came after `self`'s. Both must be parts of
    /// one scenario under the same agreements: the same flows and banks, as the caller checks.
    pub fn merge(&mut self, other: &DataParts) {
        debug_assert_eq!((self.flows.len(), self.queues.len()), (other.flows.len(), other.queues.len()));
        for (mine, theirs) in self.flows.iter_mut().zip(&other.flows) {
            mine.requests = mine.requests.saturating_add(theirs.requests);
            mine.pushed = mine.pushed.saturating_add(theirs.pushed);
            mine.ledger.merge(&theirs.ledger);
            if let (Some(mine), Some(theirs)) = (&mut mine.relay, &theirs.relay) {
                mine.merge(theirs);
            }
        }
        self.latency.merge(&other.latency);
        for (mine, theirs) in self.queues.iter_mut().zip(&other.queues) {
            mine.merge(theirs);
        }
        self.events = self.events.saturating_add(other.events);
    }
}

/// The data report, and the designs other than the direct pull, from the drivers' tallies.
/// `banks` has one entry per bank of the scenario.
pub fn data_report(
    sc: &Scenario,
    flows: &[FlowTally<'_>],
    banks: &[BankTally],
    latency: Vec<LatencyRow>,
    live: Option<LivePace>,
) -> (DataReport, Vec<DesignReport>) {
    let data = sc.data.as_ref();
    let weights = data.map_or(crate::terms::DEFAULT_SENSITIVITY_WEIGHTS, |d| d.sensitivity_weights);
    let aggregator = |pi: PlatformId| match &sc.platforms[pi].design {
        Design::Aggregator(a) => Some(a.name.clone()),
        _ => None,
    };
    let reports: Vec<FlowReport> = flows
        .iter()
        .map(|f| {
            let platform = &sc.platforms[f.platform].name;
            FlowReport {
                platform: platform.clone(),
                bank: sc.banks[f.bank].name.clone(),
                started_at_ms: f.started_at_ms,
                ended_at_ms: f.ended_at_ms,
                ended_by: f.ended_by,
                categories: f.terms.category_names().into_iter().map(String::from).collect(),
                purposes: f.terms.purpose_names().into_iter().map(String::from).collect(),
                permissions: f.permissions.clone(),
                requests: f.requests,
                consents_refused: f.consents_refused,
                exposure: f.ledger.summarize(&sc.population_spec(f.bank), platform, weights),
            }
        })
        .collect();
    // Per flow: what its aggregator received, under an aggregator design.
    let relayed: Vec<Option<ExposureSummary>> = flows
        .iter()
        .map(|f| Some(f.relay?.summarize(&sc.population_spec(f.bank), &aggregator(f.platform)?, weights)))
        .collect();
    let bank_rows = sc
        .banks_by_id()
        .map(|(bi, b)| {
            let mine: Vec<usize> = (0..flows.len()).filter(|&i| flows[i].bank == bi).collect();
            let mut union = vec![false; b.population.customers as usize];
            for f in mine.iter().map(|&i| &flows[i]) {
                for (customer, _) in f.ledger.exposed().chain(f.relay.into_iter().flat_map(PairLedger::exposed)) {
                    if let Some(exposed) = union.get_mut(customer as usize) {
                        *exposed = true;
                    }
                }
            }
            let exposed = union.iter().filter(|x| **x).count() as u64;
            // Every party that received data counts: the platform, and its aggregator.
            let parties: Vec<&ExposureSummary> =
                mine.iter().flat_map(|&i| std::iter::once(&reports[i].exposure).chain(relayed[i].as_ref())).collect();
            let sum = |g: fn(&FieldValues) -> u64| parties.iter().map(|e| g(&e.field_values)).sum();
            let tally = banks[bi.index()];
            BankDataRow {
                bank: b.name.clone(),
                population: b.population.customers,
                customers_exposed: exposed,
                share_of_population: if b.population.customers == 0 {
                    0.0
                } else {
                    exposed as f64 / b.population.customers as f64
                },
                weighted_score: parties.iter().fold(0.0, |s, e| s + e.weighted_score),
                field_values: FieldValues { low: sum(|v| v.low), moderate: sum(|v| v.moderate), high: sum(|v| v.high) },
                requests_served: tally.requests_served,
                mean_wait_ms: tally.mean_wait_ms,
                mean_in_system: tally.mean_in_system,
                utilisation: tally.utilisation,
            }
        })
        .collect();
    let designs = sc
        .platforms_by_id()
        .filter(|(_, p)| p.design != Design::Direct)
        .map(|(pi, p)| {
            let mine = || (0..flows.len()).filter(move |&i| flows[i].platform == pi);
            DesignReport {
                platform: p.name.clone(),
                kind: p.design.kind(),
                aggregator: aggregator(pi),
                relayed: mine().filter_map(|i| relayed[i].clone()).collect(),
                pushed: if p.design == Design::Push {
                    mine().map(|i| (sc.banks[flows[i].bank].name.clone(), flows[i].pushed)).collect()
                } else {
                    BTreeMap::new()
                },
            }
        })
        .collect();
    let report = DataReport {
        generator: GENERATOR_VERSION.into(),
        phase_ms: data.map_or(0, |d| d.duration.as_millis() as u64),
        sensitivity_weights: weights,
        flows: reports,
        latency,
        banks: bank_rows,
        live,
    };
    (report, designs)
}
