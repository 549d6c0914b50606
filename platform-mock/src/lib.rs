//! `platform-mock`: a simulated partner platform: its negotiating agent, the HTTP client it
//! uses to negotiate with banks and read their data (`client`), the live driver that negotiates
//! with bank servers (`remote`) and then sends the scenario's workload as open-model load
//! (`live`, the `platform-mock run` command and `sim run --live`, with their shared flags in
//! `live_args` and the banks' `/metrics` read in `bank_metrics`), the callback banks push fraud alerts to in
//! live mode (`alerts`), the relay of an aggregator design live (`aggregator`), both on a small
//! loopback server (`loopback`), a load generator (`load`, the `platform-mock load` command) for
//! open- and closed-model load on loopback, and a callback receiver for trying a bank's pushed
//! notifications by hand (`receive`, the `platform-mock receive` command).
//!
//! It is not a scheduler and owns no clock: its callers pass the time in (the virtual-time
//! runner in `sim`, or the live driver, which turns wall time into send times).

mod aggregator;
pub mod alerts;
pub mod bank_api;
mod bank_metrics;
pub mod client;
pub mod live;
pub mod live_args;
pub mod load;
mod loopback;
pub mod receive;
mod received;
mod remote;

use std::sync::Arc;
use testbed_core::negotiation::{Negotiator, Preferences};
use testbed_core::scenario::Platform;

/// The platform's negotiating agent for one bank.
pub fn negotiator(platform: &Platform, preferences: Arc<Preferences>) -> Negotiator {
    Negotiator::new(preferences, platform.strategy)
}
