//! The bank's side of a negotiation: its agent, and its verdicts when events change the
//! relationship with a platform. The verdicts are pure domain rules shared with the
//! negotiation session in `testbed-core`, which re-checks them in virtual time.

use std::sync::Arc;
use testbed_core::negotiation::{Negotiator, Preferences};
use testbed_core::scenario::Bank;

pub use testbed_core::negotiation::review::{Standing, Verdict, review, review_after_incident};

/// The bank's negotiating agent for one platform.
pub fn negotiator(bank: &Bank, preferences: Arc<Preferences>) -> Negotiator {
    Negotiator::new(preferences, bank.strategy)
}
