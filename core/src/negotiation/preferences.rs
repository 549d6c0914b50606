//! One side's preferences over an [`IssueSpace`]: a linear additive utility, hard limits
//! (clauses), a reservation value and trust floors, precomputed into a table so a decision is a
//! lookup and a binary search.

use super::space::{IssueSpace, OutcomeId};
use crate::CoreError;

/// Linear additive utility: `u(o) = Σ w_i · v_i(o_i)` with weights normalised to sum to 1 and
/// option values in `0..=1`, so every utility lies in `0..=1`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearUtility {
    weights: Vec<f64>,
    values: Vec<Vec<f64>>,
}

impl LinearUtility {
    /// `weights[i]` weighs issue `i`; `values[i][j]` is the value of option `j` of issue `i`.
    pub fn new(space: &IssueSpace, weights: Vec<f64>, values: Vec<Vec<f64>>) -> Result<Self, CoreError> {
        let issues = space.issues();
        if weights.len() != issues.len() || values.len() != issues.len() {
            return Err(CoreError::InvalidUtility(format!(
                "expected a weight and values for each of {} issues",
                issues.len()
            )));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(CoreError::InvalidUtility("weights must be finite and non-negative".into()));
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return Err(CoreError::InvalidUtility("at least one weight must be positive".into()));
        }
        for (issue, vals) in issues.iter().zip(&values) {
            if vals.len() != issue.options.len() {
                return Err(CoreError::InvalidUtility(format!(
                    "issue `{}` has {} options but {} values",
                    issue.name,
                    issue.options.len(),
                    vals.len()
                )));
            }
            if vals.iter().any(|v| !(0.0..=1.0).contains(v)) {
                return Err(CoreError::InvalidUtility(format!("values of issue `{}` must lie in 0..=1", issue.name)));
            }
        }
        // Weights that already sum to 1 are kept as given, bit for bit: dividing by a sum such
        // as 0.4 + 0.3 + 0.2 + 0.1 = 0.9999999999999999 would reorder near-ties and break
        // offer-for-offer agreement with NegMAS, which uses raw weights.
        let weights = if (total - 1.0).abs() <= 1e-9 { weights } else { weights.iter().map(|w| w / total).collect() };
        Ok(LinearUtility { weights, values })
    }

    pub fn utility(&self, space: &IssueSpace, outcome: OutcomeId) -> f64 {
        let mut u = 0.0;
        for (i, (w, vals)) in self.weights.iter().zip(&self.values).enumerate() {
            u += w * vals[space.option_of(outcome, i)];
        }
        u
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    pub fn values(&self) -> &[Vec<f64>] {
        &self.values
    }
}

/// A hard limit: outcomes that pick a forbidden option of one issue are never offered nor
/// accepted by the side holding the clause. When the other side keeps offering such outcomes
/// for `patience` consecutive offers, the holder withdraws naming the clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub id: String,
    pub reason: String,
    pub issue: usize,
    /// One flag per option of `issue`.
    pub forbidden: Vec<bool>,
    pub patience: u32,
}

impl Clause {
    #[inline]
    pub fn is_violated_by(&self, space: &IssueSpace, outcome: OutcomeId) -> bool {
        self.forbidden[space.option_of(outcome, self.issue)]
    }
}

/// Below `min` counterparty trust the holder withdraws (before agreement) or revokes (after),
/// naming `clause`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustFloor {
    pub min: f64,
    pub clause: String,
    pub reason: String,
}

/// Everything a side brings to one negotiation that does not change round by round.
#[derive(Clone, Debug)]
pub struct Preferences {
    space: IssueSpace,
    utility: LinearUtility,
    clauses: Vec<Clause>,
    reservation: f64,
    /// Withdraw from a negotiation when the counterparty's trust is below this.
    pub negotiation_trust_floor: Option<TrustFloor>,
    /// Revoke an agreement when the counterparty's trust falls below this.
    pub agreement_trust_floor: Option<TrustFloor>,
    utilities: Vec<f64>,
    /// Outcomes that break no clause, ascending by (utility, outcome id): the order that makes
    /// "the lowest-utility outcome at or above a threshold" a binary search with a
    /// deterministic tie-break (lowest outcome id).
    admissible: Vec<(f64, OutcomeId)>,
}

impl Preferences {
    pub fn new(
        space: IssueSpace,
        utility: LinearUtility,
        clauses: Vec<Clause>,
        reservation: f64,
    ) -> Result<Self, CoreError> {
        if !(0.0..=1.0).contains(&reservation) {
            return Err(CoreError::InvalidUtility(format!("reservation {reservation} is outside 0..=1")));
        }
        for c in &clauses {
            let options = space.issues().get(c.issue).map(|i| i.options.len());
            if options != Some(c.forbidden.len()) {
                return Err(CoreError::InvalidUtility(format!("clause `{}` does not fit the issues", c.id)));
            }
        }
        let utilities: Vec<f64> = space.outcomes().map(|o| utility.utility(&space, o)).collect();
        let mut admissible: Vec<(f64, OutcomeId)> = space
            .outcomes()
            .filter(|&o| !clauses.iter().any(|c| c.is_violated_by(&space, o)))
            .map(|o| (utilities[o.0 as usize], o))
            .collect();
        admissible.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok(Preferences {
            space,
            utility,
            clauses,
            reservation,
            negotiation_trust_floor: None,
            agreement_trust_floor: None,
            utilities,
            admissible,
        })
    }

    /// The same preferences with one more hard limit (a regulation, say).
    pub fn with_clause(&self, clause: Clause) -> Result<Self, CoreError> {
        let mut clauses = self.clauses.clone();
        clauses.push(clause);
        let mut p = Preferences::new(self.space.clone(), self.utility.clone(), clauses, self.reservation)?;
        p.negotiation_trust_floor = self.negotiation_trust_floor.clone();
        p.agreement_trust_floor = self.agreement_trust_floor.clone();
        Ok(p)
    }

    /// The same preferences with another reservation value (clamped to `0..=1`): a platform
    /// that weighs its deals together moves it per negotiation.
    pub fn with_reservation(&self, reservation: f64) -> Self {
        Preferences { reservation: reservation.clamp(0.0, 1.0), ..self.clone() }
    }

    pub fn space(&self) -> &IssueSpace {
        &self.space
    }

    /// The weights and option values behind `utility`.
    pub fn linear_utility(&self) -> &LinearUtility {
        &self.utility
    }

    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    pub fn reservation(&self) -> f64 {
        self.reservation
    }

    #[inline]
    pub fn utility(&self, outcome: OutcomeId) -> f64 {
        self.utilities[outcome.0 as usize]
    }

    /// Highest utility among outcomes that break no clause (`None` if every outcome breaks one).
    pub fn max_utility(&self) -> Option<f64> {
        self.admissible.last().map(|a| a.0)
    }

    /// Lowest utility among outcomes that break no clause.
    pub fn lowest_admissible_utility(&self) -> Option<f64> {
        self.admissible.first().map(|a| a.0)
    }

    /// `umin` of the NegMAS convention: max(lowest admissible utility, reservation).
    pub fn min_utility(&self) -> Option<f64> {
        self.admissible.first().map(|a| a.0.max(self.reservation))
    }

    /// Admissible outcomes from best to worst for this side, each with its utility; among equal
    /// utilities the lowest outcome id first.
    pub fn best_first(&self) -> impl Iterator<Item = (f64, OutcomeId)> + '_ {
        // `admissible` ascends by (utility, id): its runs of equal utility from the top, each in
        // ascending id order.
        self.admissible.chunk_by(|a, b| a.0 == b.0).rev().flatten().copied()
    }

    /// Whether another admissible outcome has exactly `outcome`'s utility: offering one of them
    /// is the tie-break's choice, not the preferences'.
    pub fn tied(&self, outcome: OutcomeId) -> bool {
        let u = self.utility(outcome);
        let first = self.admissible.partition_point(|a| a.0 < u);
        self.admissible[first..].iter().take_while(|a| a.0 == u).any(|a| a.1 != outcome)
    }

    /// True when some admissible outcome reaches the reservation value.
    pub fn has_acceptable_outcome(&self) -> bool {
        self.max_utility().is_some_and(|u| u >= self.reservation)
    }

    /// The first clause (in declared order) that `outcome` breaks.
    pub fn violated_clause(&self, outcome: OutcomeId) -> Option<&Clause> {
        self.clauses.iter().find(|c| c.is_violated_by(&self.space, outcome))
    }

    /// The lowest-utility admissible outcome whose utility is at or above `target`; ties go to
    /// the lowest outcome id. `None` if no outcome reaches `target`.
    pub fn lowest_at_or_above(&self, target: f64) -> Option<OutcomeId> {
        let i = self.admissible.partition_point(|a| a.0 < target);
        self.admissible.get(i).map(|a| a.1)
    }

    /// The clause an agreement on `outcome` now breaks, if any: a trust floor for agreements,
    /// then the hard limits (which may have grown since, e.g. by regulation).
    pub fn review_agreement(&self, outcome: OutcomeId, counterparty_trust: f64) -> Option<(String, String)> {
        if let Some(floor) = &self.agreement_trust_floor
            && counterparty_trust < floor.min
        {
            return Some((floor.clause.clone(), floor.reason.clone()));
        }
        self.violated_clause(outcome).map(|c| (c.id.clone(), c.reason.clone()))
    }
}
