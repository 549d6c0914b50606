//! The narrated transcript: a negotiation told round by round in words, for `report.md` and
//! `report.html`. Who offered what, what each offer was worth to each side, and why the other
//! side refused it, accepted it or walked away. Runs of rounds in which nothing but a number
//! moved are told once, with the numbers as `from→to`, so a long stalemate stays one line.

use super::{Action, IssueInfo, NegotiationReport, OfferAssessment, Report, TranscriptEntry, ms, terms_line};
use crate::negotiation::Side;
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of the story: one round, or a run of rounds told together.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NarratedRounds {
    /// `round 4` or `rounds 3–7`.
    pub rounds: String,
    /// Simulated time of the first and last move, `63d 12h → 87d 3h`.
    pub when: String,
    /// Sentences; clause ids and terms are in `backticks`.
    pub text: String,
}

/// A sentence under construction: literal text and numbers. Two rounds whose texts agree and
/// differ only in numbers are told as one.
#[derive(Clone, Debug, Default, PartialEq)]
struct Telling {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Number(String),
}

impl Telling {
    fn text(&mut self, s: impl Into<String>) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Text(t)) => t.push_str(&s.into()),
            _ => self.parts.push(Part::Text(s.into())),
        }
        self
    }

    fn number(&mut self, s: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Number(s.into()));
        self
    }

    fn utility(&mut self, u: f64) -> &mut Self {
        self.number(format!("{u:.3}"))
    }

    fn same_shape(&self, other: &Telling) -> bool {
        self.parts.len() == other.parts.len()
            && self.parts.iter().zip(&other.parts).all(|pair| match pair {
                (Part::Text(a), Part::Text(b)) => a == b,
                (Part::Number(_), Part::Number(_)) => true,
                _ => false,
            })
    }

    /// The text with each number shown as in `first`, or `first→last` where they differ.
    fn render(first: &Telling, last: &Telling) -> String {
        let mut out = String::new();
        for (a, b) in first.parts.iter().zip(&last.parts) {
            match (a, b) {
                (Part::Number(x), Part::Number(y)) if x != y => {
                    out.push_str(x);
                    out.push('→');
                    out.push_str(y);
                }
                (Part::Text(x) | Part::Number(x), _) => out.push_str(x),
            }
        }
        out
    }
}

struct Round {
    first: u32,
    last: u32,
    from_ms: u64,
    to_ms: u64,
    first_telling: Telling,
    last_telling: Telling,
}

/// The negotiation `n` of `report`, round by round.
pub fn narrate(report: &Report, n: &NegotiationReport) -> Vec<NarratedRounds> {
    let ask = report.platforms.iter().find(|p| p.name == n.platform).map(|p| &p.ask);
    let mut previous_offer: [Option<&BTreeMap<String, String>>; 2] = [None, None];
    let mut rounds: Vec<Round> = Vec::new();
    let mut i = 0;
    while i < n.transcript.len() {
        let round = n.transcript[i].round;
        let moves: Vec<&TranscriptEntry> = n.transcript[i..].iter().take_while(|e| e.round == round).collect();
        i += moves.len();
        let mut telling = Telling::default();
        for e in &moves {
            if !telling.parts.is_empty() {
                telling.text(" ");
            }
            tell_move(&mut telling, &report.issues, ask, e, &mut previous_offer);
        }
        let (from_ms, to_ms) = (moves[0].at_ms, moves[moves.len() - 1].at_ms);
        match rounds.last_mut() {
            Some(r) if r.last + 1 == round && r.last_telling.same_shape(&telling) => {
                r.last = round;
                r.to_ms = to_ms;
                r.last_telling = telling;
            }
            _ => rounds.push(Round {
                first: round,
                last: round,
                from_ms,
                to_ms,
                first_telling: telling.clone(),
                last_telling: telling,
            }),
        }
    }
    rounds
        .into_iter()
        .map(|r| NarratedRounds {
            rounds: if r.first == r.last {
                format!("round {}", r.first)
            } else {
                format!("rounds {}–{}", r.first, r.last)
            },
            when: if r.from_ms == r.to_ms { ms(r.from_ms) } else { format!("{} → {}", ms(r.from_ms), ms(r.to_ms)) },
            text: Telling::render(&r.first_telling, &r.last_telling),
        })
        .collect()
}

fn utilities(t: &mut Telling, e: &TranscriptEntry) {
    if let (Some(p), Some(b)) = (e.utility_platform, e.utility_bank) {
        t.text(" (platform ").utility(p).text(", bank ").utility(b).text(")");
    }
}

/// One move; `previous_offer` holds each side's latest offer so far.
fn tell_move<'a>(
    t: &mut Telling,
    issues: &[IssueInfo],
    ask: Option<&BTreeMap<String, String>>,
    e: &'a TranscriptEntry,
    previous_offer: &mut [Option<&'a BTreeMap<String, String>>; 2],
) {
    let side = e.side.as_str();
    // Offers alternate, so the offer on the table is the other side's latest one.
    let answering = previous_offer[e.side.other() as usize].is_some();
    let the = |s: &str| format!("The {s}");
    match e.action {
        Action::Offer => {
            let terms = e.outcome.as_ref().expect("an offer has terms");
            t.text(the(side)).text(" ");
            if answering {
                t.text("refuses it");
                refusal(t, e.assessment.as_ref());
                t.text(" and ");
            }
            match previous_offer[e.side as usize] {
                None if e.side == Side::Platform && ask == Some(terms) => {
                    t.text(if answering { "answers with its ask" } else { "opens with its ask" });
                }
                None => {
                    t.text(if answering { "counters with " } else { "opens with " });
                    t.text(format!("`{}`", terms_line(issues, terms)));
                }
                Some(before) if before == terms => {
                    t.text("repeats its offer");
                }
                Some(before) => {
                    let changed: BTreeMap<String, String> = terms
                        .iter()
                        .filter(|(k, v)| before.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    t.text("counters, changing ").text(format!("`{}`", terms_line(issues, &changed)));
                }
            }
            utilities(t, e);
            t.text(".");
            previous_offer[e.side as usize] = Some(terms);
        }
        Action::Accept => {
            t.text(the(side)).text(" accepts");
            if let Some(a) = &e.assessment {
                t.text(" (worth ").utility(a.utility).text(" to it, at least the ").utility(a.threshold);
                t.text(" it asks for)");
            }
            t.text(": agreement");
            utilities(t, e);
            t.text(".");
        }
        Action::Withdraw => {
            let clause = e.clause.as_deref().unwrap_or("-");
            let reason = e.reason.as_deref().unwrap_or("");
            let last_straw = e.assessment.as_ref().and_then(|a| a.broken.iter().find(|b| b.clause == clause));
            match last_straw {
                Some(b) => {
                    let still = if b.strikes > 1 { "still " } else { "" };
                    t.text(the(side)).text(format!(" withdraws: the offer {still}has `{}={}`", b.issue, b.option));
                    if b.strikes > 1 {
                        t.text(format!(" ({} offers in a row)", b.strikes));
                    }
                    t.text(format!(", refused by clause `{clause}`: {reason}."));
                }
                None => {
                    t.text(the(side)).text(format!(" withdraws over clause `{clause}`: {reason}."));
                }
            }
        }
    }
}

/// Why the answering side did not accept the standing offer, from its assessment.
fn refusal(t: &mut Telling, assessment: Option<&OfferAssessment>) {
    let Some(a) = assessment else { return };
    if a.broken.is_empty() {
        t.text(" (worth ").utility(a.utility).text(" to it, below the ").utility(a.threshold).text(" it asks for)");
        return;
    }
    t.text(" (");
    for (k, b) in a.broken.iter().enumerate() {
        if k > 0 {
            t.text("; ");
        }
        t.text(format!("`{}={}` is refused by clause `{}`, strike ", b.issue, b.option, b.clause));
        t.number(b.strikes.to_string()).text(format!(" of {}", b.patience));
    }
    t.text(")");
}
