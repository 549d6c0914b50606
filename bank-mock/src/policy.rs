//! The bank's side of a negotiation: its agent, and its verdicts when events change the
//! relationship with a platform. The verdicts are pure domain rules shared with the
//! negotiation session in `testbed-core`, which re-checks them in virtual time.

use std::sync::Arc;
use testbed_core::negotiation::{Negotiator, Preferences, Withdrawal};
use testbed_core::scenario::Bank;

pub use testbed_core::negotiation::review::{Standing, Verdict, review, review_after_incident};

/// The bank's negotiating agent for one platform.
pub fn negotiator(bank: &Bank, preferences: Arc<Preferences>) -> Negotiator {
    Negotiator::new(preferences, bank.strategy)
}

/// The bank's audit after a term violation, in both modes: once it has found
/// `revoke_after_violations` of them under an agreement not already revoked, it revokes, over
/// clause `revoke_after_violations`.
pub fn audit(bank: &Bank, violations: u64, already_revoked: bool) -> Option<Withdrawal> {
    let limit = bank.revoke_after_violations?;
    (violations >= limit && !already_revoked).then(|| Withdrawal {
        clause: "revoke_after_violations".into(),
        reason: format!("an audit found {limit} requests outside the agreed terms"),
    })
}
