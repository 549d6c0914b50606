//! `bank-mock serve --agreed`: the bank starts holding the agreements that the scenario's own
//! negotiation reaches with it, for users who only want the data API. The negotiation runs in
//! virtual time at start (`testbed_core::session::negotiate`, the one `sim run` runs), so the
//! agreed terms are the ones a virtual run of the same scenario and seed reports.

use crate::desk::{AgreementInfo, Desk};
use testbed_core::SimTime;
use testbed_core::negotiation::Withdrawal;
use testbed_core::report::OutcomeKind;
use testbed_core::scenario::{BankId, Scenario};
use testbed_core::session::negotiate;
use testbed_core::time::calendar_text;

/// How one platform's negotiation with the bank ended, as the bank starts with it.
#[derive(Clone, Debug, PartialEq)]
pub enum Held {
    /// An agreement, held by the desk: its token is the platform's.
    Agreed {
        info: AgreementInfo,
        /// The agreed terms, issue and option.
        terms: Vec<(String, String)>,
        at: SimTime,
        /// Revoked in the negotiation phase (the platform's trust fell, a regulation came in):
        /// the agreement is held revoked, so consents under it are refused with the reason.
        revoked: Option<(SimTime, Withdrawal)>,
    },
    /// No agreement: a withdrawal, a timeout or a negotiation still open when the scenario ended.
    NotAgreed { platform: String, how: String },
}

impl Held {
    /// The lines `bank-mock serve` prints for it.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Held::Agreed { info, terms, at, revoked } => {
                let terms: Vec<String> = terms.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let mut lines = vec![format!(
                    "agreed with {} in round {} at {}: {}",
                    info.platform,
                    info.round,
                    calendar_text(at.as_millis()),
                    terms.join(", ")
                )];
                if let Some((when, w)) = revoked {
                    lines.push(format!(
                        "agreement with {} revoked at {} over `{}`: {}",
                        info.platform,
                        calendar_text(when.as_millis()),
                        w.clause,
                        w.reason
                    ));
                }
                lines.push(format!("agreement token for {}: {}", info.platform, info.token));
                lines
            }
            Held::NotAgreed { platform, how } => vec![format!("no agreement with {platform}: {how}")],
        }
    }
}

/// Runs the scenario's negotiation and has `desk` hold the agreements its bank reached, in the
/// scenario's order of platforms; answers what each platform that negotiates with the bank
/// ended with, and the calendar time the data phase starts at (the earliest agreement, as in a
/// virtual run; zero without one).
pub fn install(scenario: &Scenario, bank: BankId, desk: &mut Desk) -> (Vec<Held>, SimTime) {
    let session = negotiate(scenario, None);
    let mut held = Vec::new();
    let mut origin: Option<SimTime> = None;
    for (pair, n) in session.negotiation.negotiations.iter().enumerate() {
        if n.bank != scenario.banks[bank].name {
            continue;
        }
        let agreement = session.agreements.iter().find(|(p, _)| *p == pair).map(|(_, a)| a);
        match agreement {
            Some(a) => {
                let revoked = n.revocation.as_ref().map(|r| {
                    let at = SimTime::from_nanos(r.at_ms.saturating_mul(1_000_000));
                    (at, Withdrawal { clause: r.clause.clone(), reason: r.reason.clone() })
                });
                let info =
                    desk.install_agreement(a.platform, a.outcome, a.round, revoked.as_ref().map(|(_, w)| w.clone()));
                origin = Some(origin.map_or(a.at, |o| o.min(a.at)));
                let terms = scenario.space.describe(a.outcome);
                held.push(Held::Agreed { info, terms, at: a.at, revoked });
            }
            None => {
                let o = &n.outcome;
                let how = match o.kind {
                    OutcomeKind::Withdrawal => format!(
                        "withdrawal by the {} in round {} over `{}`",
                        o.by.map_or("?", |s| s.as_str()),
                        o.round,
                        o.clause.as_deref().unwrap_or("?")
                    ),
                    OutcomeKind::Timeout => format!("timeout after round {}", o.round),
                    OutcomeKind::Unfinished => {
                        format!("still negotiating in round {} when the scenario ended", o.round)
                    }
                    // An agreement the session did not list: revoked before the data phase.
                    OutcomeKind::Agreement => "the agreement was revoked in the negotiation phase".to_string(),
                };
                held.push(Held::NotAgreed { platform: n.platform.clone(), how });
            }
        }
    }
    (held, origin.unwrap_or(SimTime::ZERO))
}
