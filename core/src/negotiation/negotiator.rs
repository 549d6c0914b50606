//! A negotiating agent: preferences plus a strategy plus the little state a negotiation needs
//! (how often the other side insisted on a forbidden option; its first offer, for
//! tit-for-tat). Pure: it is told the round and the other side's trust, and answers.

use super::nice::NiceTitForTat;
use super::preferences::Preferences;
use super::space::OutcomeId;
use super::strategy::{Strategy, aspiration, relative_time, threshold};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Clause id used when no admissible outcome is worth the reservation value.
pub const RESERVATION_CLAUSE: &str = "reservation_value";

/// What a negotiator is told when it is its turn.
#[derive(Clone, Copy, Debug)]
pub struct Situation {
    pub round: u32,
    pub n_rounds: u32,
    /// The standing offer from the other side, if any.
    pub standing: Option<OutcomeId>,
    /// The other side's current trust level (events move it).
    pub counterparty_trust: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Withdrawal {
    pub clause: String,
    pub reason: String,
}

/// How the standing offer looked to the side answering it.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// This side's utility of the offer.
    pub utility: f64,
    /// The least utility it accepts this round.
    pub threshold: f64,
    /// Its clauses the offer breaks, in declared order (up to the one it withdrew over).
    pub broken: Vec<Strike>,
}

/// A clause an offer broke, and how many consecutive offers of the other side have broken it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strike {
    /// Index into [`Preferences::clauses`].
    pub clause: usize,
    pub strikes: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Accept,
    Offer(OutcomeId),
    Withdraw(Withdrawal),
}

/// The offers a negotiator remembers making (see [`Negotiator::own_moves`]).
#[derive(Clone, Debug)]
pub struct OwnMoves {
    sent: BTreeSet<OutcomeId>,
    last_sent: Option<OutcomeId>,
}

#[derive(Clone, Debug)]
pub struct Negotiator {
    prefs: Arc<Preferences>,
    strategy: Strategy,
    /// Consecutive offers from the other side that broke each clause.
    insisted: Vec<u32>,
    opponent_first_utility: Option<f64>,
    /// MiCRO: the distinct outcomes offered and received so far, and its last offer.
    sent: BTreeSet<OutcomeId>,
    received: BTreeSet<OutcomeId>,
    last_sent: Option<OutcomeId>,
    /// Nice tit-for-tat: what it learned of the other side's offers.
    nice: NiceTitForTat,
}

impl Negotiator {
    pub fn new(prefs: Arc<Preferences>, strategy: Strategy) -> Self {
        let insisted = vec![0; prefs.clauses().len()];
        Negotiator {
            prefs,
            strategy,
            insisted,
            opponent_first_utility: None,
            sent: BTreeSet::new(),
            received: BTreeSet::new(),
            last_sent: None,
            nice: NiceTitForTat::default(),
        }
    }

    pub fn preferences(&self) -> &Arc<Preferences> {
        &self.prefs
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Swaps in new preferences mid-negotiation (a regulation adds a clause); the insistence
    /// counts of clauses that still exist are kept, new clauses start at zero.
    pub fn replace_preferences(&mut self, prefs: Arc<Preferences>) {
        self.insisted.resize(prefs.clauses().len(), 0);
        self.prefs = prefs;
    }

    /// The least utility this negotiator accepts in `round`, given what it has seen so far.
    /// `None` when it has no admissible outcome at all.
    pub fn threshold(&self, round: u32, n_rounds: u32, latest_opponent_utility: Option<f64>) -> Option<f64> {
        let (umin, umax) = (self.prefs.min_utility()?, self.prefs.max_utility()?);
        let t = relative_time(round, n_rounds);
        let a = match self.strategy {
            Strategy::TimeBased { exponent } => aspiration(t, exponent),
            Strategy::Aspiration { accepting, .. } => aspiration(t, accepting),
            Strategy::Hardliner => 1.0,
            Strategy::TitForTat => {
                let conceded = match (self.opponent_first_utility, latest_opponent_utility) {
                    (Some(first), Some(latest)) => (latest - first).max(0.0),
                    _ => 0.0,
                };
                if umax > umin { 1.0 - conceded / (umax - umin) } else { 1.0 }
            }
            // At least as good as the next outcome it would offer (or, not ready to concede,
            // as its last new one), and never below its reservation value.
            Strategy::Micro => {
                let mine = if self.ready_to_concede() { self.micro_next() } else { self.last_sent };
                return Some(mine.map_or(umin, |o| self.prefs.utility(o).max(umin)));
            }
            Strategy::NiceTitForTat => return self.nice.plan(&self.prefs, round, n_rounds).map(|p| p.threshold),
        };
        Some(threshold(umin, umax, a))
    }

    /// The least utility of what this negotiator offers in `round`: its acceptance threshold,
    /// except under separate offering and accepting curves.
    fn offering_threshold(&self, round: u32, n_rounds: u32, accepting: f64) -> f64 {
        match (self.strategy, self.prefs.min_utility(), self.prefs.max_utility()) {
            (Strategy::Aspiration { offering, .. }, Some(umin), Some(umax)) => {
                threshold(umin, umax, aspiration(relative_time(round, n_rounds), offering))
            }
            _ => accepting,
        }
    }

    /// The offers this negotiator remembers making (MiCRO's), to set back with
    /// [`made_instead`](Self::made_instead) when a move is made in its place.
    pub fn own_moves(&self) -> OwnMoves {
        OwnMoves { sent: self.sent.clone(), last_sent: self.last_sent }
    }

    /// Someone else (a person, a bank behind HTTP) made `made` where this negotiator was asked:
    /// it remembers that move, not its own suggestion, so its next suggestion follows the
    /// negotiation as it went. `before` is [`own_moves`](Self::own_moves) from before it was asked.
    pub fn made_instead(&mut self, before: OwnMoves, made: &Decision) {
        self.sent = before.sent;
        self.last_sent = before.last_sent;
        if let Decision::Offer(o) = made {
            self.sent.insert(*o);
            self.last_sent = Some(*o);
        }
    }

    /// MiCRO concedes to a new outcome only while it has offered no more distinct outcomes
    /// than it has received.
    fn ready_to_concede(&self) -> bool {
        self.sent.len() <= self.received.len()
    }

    /// MiCRO's next new outcome: the best admissible one at or above its reservation value
    /// that it has not offered yet (ties: lowest outcome id first).
    fn micro_next(&self) -> Option<OutcomeId> {
        let floor = self.prefs.reservation();
        self.prefs.best_first().find(|(u, o)| *u >= floor && !self.sent.contains(o)).map(|(_, o)| o)
    }

    /// What MiCRO offers now: a new outcome when ready to concede and one is left, else its
    /// last offer again (NegMAS repeats a random earlier one; a repeat keeps runs seeded).
    fn micro_offer(&mut self) -> Option<OutcomeId> {
        let new = if self.ready_to_concede() { self.micro_next() } else { None };
        let offer = new.or(self.last_sent).or_else(|| self.prefs.best_first().next().map(|(_, o)| o))?;
        self.sent.insert(offer);
        self.last_sent = Some(offer);
        Some(offer)
    }

    /// Checks the trust floor for negotiations; used on every turn and when an event moves
    /// the other side's trust between turns.
    pub fn review(&self, counterparty_trust: f64) -> Option<Withdrawal> {
        let floor = self.prefs.negotiation_trust_floor.as_ref()?;
        (counterparty_trust < floor.min)
            .then(|| Withdrawal { clause: floor.clause.clone(), reason: floor.reason.clone() })
    }

    pub fn respond(&mut self, s: &Situation) -> Decision {
        self.respond_explained(s).0
    }

    /// Like [`respond`](Self::respond), and also says how the standing offer looked to this
    /// side (`None` when there was no offer or the side withdrew before weighing it), so a
    /// transcript can say *why* an offer was refused.
    pub fn respond_explained(&mut self, s: &Situation) -> (Decision, Option<Assessment>) {
        if let Some(w) = self.review(s.counterparty_trust) {
            return (Decision::Withdraw(w), None);
        }
        if !self.prefs.has_acceptable_outcome() {
            let w = Withdrawal {
                clause: RESERVATION_CLAUSE.into(),
                reason: "no outcome within its hard limits is worth its reservation value".into(),
            };
            return (Decision::Withdraw(w), None);
        }
        let offered_utility = s.standing.map(|o| self.prefs.utility(o));
        if self.opponent_first_utility.is_none() {
            self.opponent_first_utility = offered_utility;
        }
        if let Some(o) = s.standing {
            self.received.insert(o);
            if self.strategy == Strategy::NiceTitForTat {
                self.nice.observe(&self.prefs, o);
            }
        }
        // Nice tit-for-tat plans its threshold and its offer together: planned once a turn.
        let nice = match self.strategy {
            Strategy::NiceTitForTat => self.nice.plan(&self.prefs, s.round, s.n_rounds),
            _ => None,
        };
        let threshold = (nice.map(|p| p.threshold))
            .or_else(|| self.threshold(s.round, s.n_rounds, offered_utility))
            .expect("has_acceptable_outcome implies an admissible outcome");
        let mut assessment = None;
        if let Some(offer) = s.standing {
            let mut broken = Vec::new();
            let space = self.prefs.space();
            for (i, (count, clause)) in self.insisted.iter_mut().zip(self.prefs.clauses()).enumerate() {
                if clause.is_violated_by(space, offer) {
                    *count += 1;
                    broken.push(Strike { clause: i, strikes: *count });
                    if *count >= clause.patience {
                        let w = Withdrawal { clause: clause.id.clone(), reason: clause.reason.clone() };
                        let a = Assessment { utility: self.prefs.utility(offer), threshold, broken };
                        return (Decision::Withdraw(w), Some(a));
                    }
                } else {
                    *count = 0;
                }
            }
            let a = Assessment { utility: self.prefs.utility(offer), threshold, broken };
            if a.broken.is_empty() && a.utility >= threshold {
                return (Decision::Accept, Some(a));
            }
            assessment = Some(a);
        }
        let offer = match self.strategy {
            Strategy::Micro => self.micro_offer(),
            Strategy::NiceTitForTat => nice.map(|p| p.offer),
            _ => self.prefs.lowest_at_or_above(self.offering_threshold(s.round, s.n_rounds, threshold)),
        }
        .expect("the threshold never exceeds the best admissible utility");
        (Decision::Offer(offer), assessment)
    }
}
