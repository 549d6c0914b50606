//! A bank's verdicts when events change its relationship with a platform: after a privacy
//! incident, a regulation or a change of trust it re-checks its floors and hard limits and
//! continues, withdraws from the negotiation or revokes the agreement.

use super::{Negotiator, OutcomeId, Preferences, Withdrawal};
use crate::scenario::{Bank, INCIDENT_CLAUSE, IncidentReaction};

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
