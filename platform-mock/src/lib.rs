//! `platform-mock`: a simulated partner platform. Today it holds the platform's negotiating
//! agent; the workload generator and the hyper client driver join it later.
//!
//! It is not a scheduler and owns no clock: its callers pass the time in.

use std::sync::Arc;
use testbed_core::negotiation::{Negotiator, Preferences};
use testbed_core::scenario::Platform;

/// The platform's negotiating agent for one bank.
pub fn negotiator(platform: &Platform, preferences: Arc<Preferences>) -> Negotiator {
    Negotiator::new(preferences, platform.strategy)
}
