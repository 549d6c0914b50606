//! Bilateral negotiation over discrete issues: the outcome space, preferences, strategies,
//! the negotiating agent and the stacked-alternating-offers protocol.

mod negotiator;
pub mod nice;
pub mod portfolio;
mod preferences;
mod protocol;
pub mod quality;
pub mod review;
mod space;
mod strategy;

pub use negotiator::{Assessment, Decision, Negotiator, OwnMoves, RESERVATION_CLAUSE, Situation, Strike, Withdrawal};
pub use preferences::{Clause, LinearUtility, Preferences, TrustFloor};
pub use protocol::{End, Protocol, Side, Step, Turn};
pub use space::{Issue, IssueSpace, MAX_OUTCOMES, OutcomeId};
pub use strategy::{
    BOULWARE_EXPONENT, CONCEDER_EXPONENT, LINEAR_EXPONENT, Strategy, THRESHOLD_SLACK, aspiration, relative_time,
    threshold,
};

/// Runs a negotiation to its end with no delays and no events: the pure loop the benchmark
/// measures and the tests use. Both sides see the other's trust as 1.
pub fn run_to_end(protocol: &mut Protocol, platform: &mut Negotiator, bank: &mut Negotiator) -> End {
    use crate::time::SimTime;
    while let Some(turn) = protocol.turn() {
        let agent = match turn.side {
            Side::Platform => &mut *platform,
            Side::Bank => &mut *bank,
        };
        let decision = agent.respond(&Situation {
            round: turn.round,
            n_rounds: turn.n_rounds,
            standing: turn.standing,
            counterparty_trust: 1.0,
        });
        if let Step::Ended(end) =
            protocol.decide(SimTime::ZERO, turn.side, decision).expect("the agent answers its own turn")
        {
            return end;
        }
    }
    protocol.end().cloned().expect("a finished protocol has an end")
}
