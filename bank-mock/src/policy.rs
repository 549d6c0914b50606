//! The bank's side of a negotiation: its agent, and its verdicts when events change the
//! relationship with a platform.

use std::sync::Arc;
use testbed_core::negotiation::{Negotiator, OutcomeId, Preferences, Withdrawal};
use testbed_core::scenario::{Bank, INCIDENT_CLAUSE, IncidentReaction};

/// The bank's negotiating agent for one platform.
pub fn negotiator(bank: &Bank, preferences: Arc<Preferences>) -> Negotiator {
    Negotiator::new(preferences, bank.strategy)
}

/// Where a bank stands with one platform when it reviews the relationship.
pub enum Standing<'a> {
    Negotiating(&'a Negotiator),
    Agreed(OutcomeId),
}

/// What a bank decides after reviewing a relationship.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Continue,
    /// Leave the negotiation, naming the clause.
    Withdraw(Withdrawal),
    /// Revoke the agreement, naming the clause; data stops at once.
    Revoke(Withdrawal),
}

/// Reviews a relationship after a privacy incident at the platform.
pub fn review_after_incident(bank: &Bank, standing: Standing<'_>, preferences: &Preferences, trust: f64) -> Verdict {
    if bank.on_privacy_incident == IncidentReaction::Withdraw {
        let w = Withdrawal {
            clause: INCIDENT_CLAUSE.into(),
            reason: "the bank walks away from any platform hit by a privacy incident".into(),
        };
        return match standing {
            Standing::Negotiating(_) => Verdict::Withdraw(w),
            Standing::Agreed(_) => Verdict::Revoke(w),
        };
    }
    review(standing, preferences, trust)
}

/// Re-checks trust floors and hard limits (which a regulation may have extended).
pub fn review(standing: Standing<'_>, preferences: &Preferences, trust: f64) -> Verdict {
    match standing {
        Standing::Negotiating(agent) => agent.review(trust).map_or(Verdict::Continue, Verdict::Withdraw),
        Standing::Agreed(outcome) => preferences
            .review_agreement(outcome, trust)
            .map_or(Verdict::Continue, |(clause, reason)| Verdict::Revoke(Withdrawal { clause, reason })),
    }
}
