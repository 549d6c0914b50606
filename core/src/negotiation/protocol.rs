//! The stacked alternating offers mechanism for one (platform, bank) pair, as a state machine
//! with time passed in. In each round the first side answers the standing offer (accept or
//! counter; in round 0 there is none, so it opens), then the second side answers. After
//! `n_rounds` rounds without agreement the negotiation times out. Either side may withdraw at
//! any moment, in turn or not (an event can prompt it).

use super::negotiator::{Decision, Withdrawal};
use super::space::OutcomeId;
use crate::CoreError;
use crate::time::SimTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Platform,
    Bank,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Platform => Side::Bank,
            Side::Bank => Side::Platform,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Platform => "platform",
            Side::Bank => "bank",
        }
    }
}

/// Whose decision the mechanism waits for, and what that side sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    pub side: Side,
    pub round: u32,
    pub n_rounds: u32,
    pub standing: Option<OutcomeId>,
}

/// How a negotiation ended. Domain outcomes are values: a withdrawal is not an error.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    Agreement { outcome: OutcomeId, round: u32, accepted_by: Side, at: SimTime },
    Withdrawal { by: Side, withdrawal: Withdrawal, round: u32, at: SimTime },
    Timeout { rounds: u32, at: SimTime },
}

impl End {
    pub fn at(&self) -> SimTime {
        match self {
            End::Agreement { at, .. } | End::Withdrawal { at, .. } | End::Timeout { at, .. } => *at,
        }
    }
}

/// What a decision led to.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Next(Turn),
    Ended(End),
}

#[derive(Clone, Debug)]
pub struct Protocol {
    n_rounds: u32,
    first: Side,
    round: u32,
    turn: Side,
    standing: Option<OutcomeId>,
    started_at: SimTime,
    offers: u32,
    end: Option<End>,
}

impl Protocol {
    pub fn new(n_rounds: u32, first: Side, now: SimTime) -> Result<Self, CoreError> {
        if n_rounds == 0 {
            return Err(CoreError::Protocol("a negotiation needs at least one round".into()));
        }
        Ok(Protocol { n_rounds, first, round: 0, turn: first, standing: None, started_at: now, offers: 0, end: None })
    }

    pub fn started_at(&self) -> SimTime {
        self.started_at
    }

    pub fn first(&self) -> Side {
        self.first
    }

    pub fn n_rounds(&self) -> u32 {
        self.n_rounds
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    pub fn offers(&self) -> u32 {
        self.offers
    }

    /// The last offer made, by either side (still standing unless the negotiation ended).
    pub fn standing(&self) -> Option<OutcomeId> {
        self.standing
    }

    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    pub fn turn(&self) -> Option<Turn> {
        if self.end.is_some() {
            return None;
        }
        Some(Turn { side: self.turn, round: self.round, n_rounds: self.n_rounds, standing: self.standing })
    }

    /// Applies the decision of the side whose turn it is.
    pub fn decide(&mut self, now: SimTime, side: Side, decision: Decision) -> Result<Step, CoreError> {
        let turn = self.turn().ok_or_else(|| CoreError::Protocol("the negotiation has ended".into()))?;
        if turn.side != side {
            return Err(CoreError::Protocol(format!("it is the {}'s turn", turn.side.as_str())));
        }
        let end = match decision {
            Decision::Accept => {
                let outcome = self.standing.ok_or_else(|| CoreError::Protocol("there is no offer to accept".into()))?;
                End::Agreement { outcome, round: self.round, accepted_by: side, at: now }
            }
            Decision::Withdraw(withdrawal) => End::Withdrawal { by: side, withdrawal, round: self.round, at: now },
            Decision::Offer(outcome) => {
                self.standing = Some(outcome);
                self.offers += 1;
                self.turn = side.other();
                if side != self.first {
                    self.round += 1;
                    if self.round == self.n_rounds {
                        let end = End::Timeout { rounds: self.n_rounds, at: now };
                        self.end = Some(end.clone());
                        return Ok(Step::Ended(end));
                    }
                }
                return Ok(Step::Next(self.turn().expect("still running")));
            }
        };
        self.end = Some(end.clone());
        Ok(Step::Ended(end))
    }

    /// Withdrawal out of turn, e.g. when an event breaks a side's trust floor.
    pub fn withdraw(&mut self, now: SimTime, side: Side, withdrawal: Withdrawal) -> Result<End, CoreError> {
        if self.end.is_some() {
            return Err(CoreError::Protocol("the negotiation has ended".into()));
        }
        let end = End::Withdrawal { by: side, withdrawal, round: self.round, at: now };
        self.end = Some(end.clone());
        Ok(end)
    }
}
