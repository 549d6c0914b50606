//! A platform that weighs its deals together (`[platforms.portfolio]`): one bank's walking away
//! changes how it negotiates with the others.

use crate::*;
use testbed_core::negotiation::Side;
use testbed_core::report::{Action, OutcomeKind, TimelineKind};

/// The least utility the platform's offers in `n` had for it in `[from, to)` ms.
fn least_offered(n: &testbed_core::report::NegotiationReport, from: u64, to: u64) -> f64 {
    (n.transcript.iter())
        .filter(|e| e.side == Side::Platform && e.action == Action::Offer && (from..to).contains(&e.at_ms))
        .filter_map(|e| e.utility_platform)
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn a_platform_that_needs_two_banks_asks_less_of_the_pivotal_ones_once_a_bank_walks_away() {
    let table = negotiation_table("messenger-portfolio.toml");
    let report = run_table(&table);
    let jpmorgan = negotiation(&report, "messenger", "jpmorgan-like");
    assert_eq!(jpmorgan.outcome.kind, OutcomeKind::Withdrawal);
    let walked = jpmorgan.outcome.at_ms;
    for bank in ["citi-like", "wells-like"] {
        let n = negotiation(&report, "messenger", bank);
        // us-bank-like walked away first, leaving three for two places: nobody was pivotal yet.
        assert_eq!(n.reservation_moves.len(), 1, "{bank}: {:?}", n.reservation_moves);
        let m = &n.reservation_moves[0];
        assert_eq!((m.at_ms, m.from, m.to), (walked, 0.3, 0.0), "{bank}");
        assert!(m.reason.starts_with("jpmorgan-like withdrew; messenger needs 2 of its 4 banks"), "{}", m.reason);
        let (before, after) = (least_offered(n, 0, walked), least_offered(n, walked, u64::MAX));
        assert!(after < before, "{bank}: the platform's offers went {before} → {after}");
        assert_eq!(n.outcome.kind, OutcomeKind::Agreement, "{bank}");
    }
    for bank in ["jpmorgan-like", "us-bank-like"] {
        assert!(negotiation(&report, "messenger", bank).reservation_moves.is_empty());
    }
    assert!(report.timeline.iter().any(|e| e.kind == TimelineKind::Portfolio && e.at_ms == walked));
    let md = testbed_core::report::render_markdown(&report);
    assert!(md.contains("The platform weighs its deals together: at "), "report.md says how it moved");
    // The same scenario weighing each deal alone moves nothing.
    let mut alone = table.clone();
    entry_mut(&mut alone, "platforms", "messenger").remove("portfolio");
    let alone = run_table(&alone);
    assert!(alone.negotiations.iter().all(|n| n.reservation_moves.is_empty()));
    assert!(alone.timeline.iter().all(|e| e.kind != TimelineKind::Portfolio));
}

#[test]
fn a_platform_that_needs_three_banks_walks_away_from_the_rest_when_only_two_can_still_agree() {
    let mut table = negotiation_table("messenger-portfolio.toml");
    entry_mut(&mut table, "platforms", "messenger")["portfolio"]["min_banks"] = 3.into();
    let report = run_table(&table);
    let us_bank = negotiation(&report, "messenger", "us-bank-like");
    let jpmorgan = negotiation(&report, "messenger", "jpmorgan-like");
    assert!(us_bank.outcome.at_ms < jpmorgan.outcome.at_ms);
    for bank in ["citi-like", "wells-like"] {
        let n = negotiation(&report, "messenger", bank);
        // Three left for three places after us-bank-like: each one needed.
        assert_eq!(n.reservation_moves[0].at_ms, us_bank.outcome.at_ms, "{bank}");
        assert_eq!(n.outcome.kind, OutcomeKind::Withdrawal, "{bank}");
        assert_eq!(n.outcome.by, Some(Side::Platform));
        assert_eq!(n.outcome.clause.as_deref(), Some(testbed_core::session::PORTFOLIO_CLAUSE));
        assert_eq!(n.outcome.at_ms, jpmorgan.outcome.at_ms, "{bank}: at once, when the second bank walked away");
        assert!(n.outcome.reason.as_deref().unwrap().ends_with("needs 3 of its 4 banks and only 2 can still agree"));
    }
}
