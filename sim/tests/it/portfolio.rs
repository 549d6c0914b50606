//! A platform that weighs its deals together (`[platforms.portfolio]`): one bank's walking away
//! or agreeing changes how it negotiates with the others.

use crate::*;
use testbed_core::negotiation::Side;
use testbed_core::report::{OutcomeKind, TimelineKind};

const FILE: &str = "assistants-portfolio.toml";
const GOOGLE: &str = "google-assistant";

#[test]
fn once_a_bank_agrees_the_platform_asks_less_of_the_pivotal_one_and_concedes_further_than_alone() {
    let table = negotiation_table(FILE);
    let report = run_table(&table);
    let wells = negotiation(&report, GOOGLE, "wells-like");
    assert_eq!(wells.outcome.kind, OutcomeKind::Agreement);
    let jpmorgan = negotiation(&report, GOOGLE, "jpmorgan-like");
    // Citi-like and U.S.-Bank-like walked away first: two left for two places, nothing agreed,
    // so nothing moved until Wells-like agreed.
    assert_eq!(jpmorgan.reservation_moves.len(), 1, "{:?}", jpmorgan.reservation_moves);
    let m = &jpmorgan.reservation_moves[0];
    assert_eq!((m.at_ms, m.from, m.to), (wells.outcome.at_ms, 0.3, 0.0));
    assert!(m.reason.starts_with("wells-like agreed; google-assistant needs 2 of its 4 banks"), "{}", m.reason);
    assert!(m.accepts_after.unwrap() < m.accepts_before.unwrap(), "{m:?}");
    assert!(report.timeline.iter().any(|e| e.kind == TimelineKind::Portfolio && e.at_ms == m.at_ms));
    let md = testbed_core::report::render_markdown(&report);
    assert!(md.contains("The platform weighs its deals together: at "), "report.md says how it moved");
    // Weighing each deal alone, the same platform makes the same offers up to the move, then
    // asks more in the next round than it does with its deals weighed together.
    let mut alone = table.clone();
    entry_mut(&mut alone, "platforms", GOOGLE).remove("portfolio");
    let alone = run_table(&alone);
    assert!(alone.negotiations.iter().all(|n| n.reservation_moves.is_empty()));
    assert!(alone.timeline.iter().all(|e| e.kind != TimelineKind::Portfolio));
    let before = negotiation(&alone, GOOGLE, "jpmorgan-like");
    let platform_offer = |n: &testbed_core::report::NegotiationReport, round: u32| {
        (n.transcript.iter())
            .find(|e| e.round == round && e.side == Side::Platform && e.action == testbed_core::report::Action::Offer)
            .and_then(|e| e.utility_platform)
            .expect("a platform offer in that round")
    };
    assert_eq!(platform_offer(jpmorgan, m.round), platform_offer(before, m.round), "the move comes after its offer");
    assert!(platform_offer(jpmorgan, m.round + 1) < platform_offer(before, m.round + 1));
    // Here that offer breaks the bank's limit a third time in a row: the discount lost the
    // deal (alone, the platform agrees with it).
    assert_eq!(jpmorgan.outcome.clause.as_deref(), Some("no_off_platform_data"));
    assert_eq!(before.outcome.kind, OutcomeKind::Agreement);
    // The other platform, weighing each deal alone, is untouched.
    for (a, b) in report.negotiations.iter().zip(&alone.negotiations).filter(|(n, _)| n.platform != GOOGLE) {
        assert_eq!(a.transcript, b.transcript, "{}", a.pair());
    }
}

#[test]
fn a_platform_that_needs_three_banks_walks_away_from_the_rest_when_only_two_can_still_agree() {
    let mut table = negotiation_table(FILE);
    entry_mut(&mut table, "platforms", GOOGLE)["portfolio"]["min_banks"] = 3.into();
    let report = run_table(&table);
    let us_bank = negotiation(&report, GOOGLE, "us-bank-like");
    let citi = negotiation(&report, GOOGLE, "citi-like");
    assert_eq!((us_bank.outcome.by, citi.outcome.by), (Some(Side::Bank), Some(Side::Bank)));
    let second = us_bank.outcome.at_ms.max(citi.outcome.at_ms);
    for bank in ["jpmorgan-like", "wells-like"] {
        let n = negotiation(&report, GOOGLE, bank);
        assert_eq!(n.outcome.kind, OutcomeKind::Withdrawal, "{bank}");
        assert_eq!(n.outcome.by, Some(Side::Platform));
        assert_eq!(n.outcome.clause.as_deref(), Some(testbed_core::session::PORTFOLIO_CLAUSE));
        assert_eq!(n.outcome.at_ms, second, "{bank}: at once, when the second bank walked away");
        assert!(n.outcome.reason.as_deref().unwrap().ends_with("needs 3 of its 4 banks and only 2 can still agree"));
    }
}

#[test]
fn a_tit_for_tat_platform_s_moved_reservation_changes_nothing_and_the_report_says_so() {
    let mut table = negotiation_table(FILE);
    let amazon = entry_mut(&mut table, "platforms", "amazon-alexa");
    amazon.insert("portfolio".into(), toml::Value::Table(toml::toml! { min_banks = 3 }));
    let report = run_table(&table);
    let alone = run_table(&negotiation_table("assistants-2018.toml"));
    let mut moves = 0;
    for (a, b) in report.negotiations.iter().zip(&alone.negotiations).filter(|(n, _)| n.platform == "amazon-alexa") {
        // The same moves and the same end (its deal-quality figures measure against the moved
        // reservation value, so they differ, and its thresholds differ in the last bit).
        let steps = |n: &testbed_core::report::NegotiationReport| -> Vec<_> {
            n.transcript.iter().map(|e| (e.round, e.side, e.action, e.outcome.clone(), e.at_ms)).collect()
        };
        assert_eq!(steps(a), steps(b), "{}", a.pair());
        assert_eq!((a.outcome.kind, &a.outcome.terms), (b.outcome.kind, &b.outcome.terms), "{}", a.pair());
        for m in &a.reservation_moves {
            let (before, after) = (m.accepts_before.unwrap(), m.accepts_after.unwrap());
            assert!((before - after).abs() < 1e-9, "{m:?}");
            moves += 1;
        }
    }
    assert!(moves > 0, "its reservation values moved");
    let md = testbed_core::report::render_markdown(&report);
    assert!(md.contains("is the same at either value, so its offers and acceptances did not change"));
}

#[test]
fn losing_the_set_with_nothing_left_open_is_said_in_the_timeline() {
    // Wells-like's deal made (day 167), JPMorgan-like gone (day 215), then a privacy incident
    // at day 250 drops the assistant's trust below Wells-like's revocation floor: no deal left of
    // the two it needs, nothing open to walk away from.
    let mut table = negotiation_table(FILE);
    let wells = policy_mut(&mut table, "wells-like");
    wells.insert("revoke_below_trust".into(), 0.3.into());
    wells.insert("on_privacy_incident".into(), "reassess".into());
    let incident = toml::toml! {
        kind = "privacy_incident"
        at = "250d"
        platform = "google-assistant"
        trust_change = -0.5
    };
    table["events"].as_array_mut().unwrap().push(toml::Value::Table(incident));
    let report = run_table(&table);
    let wells = negotiation(&report, GOOGLE, "wells-like");
    let revoked = wells.revocation.as_ref().expect("Wells-like revokes after the incident");
    let said = (report.timeline.iter())
        .find(|e| e.kind == TimelineKind::Portfolio && e.at_ms == revoked.at_ms)
        .unwrap_or_else(|| panic!("no portfolio entry at the revocation: {:#?}", report.timeline));
    assert_eq!(
        said.detail,
        "wells-like revoked its agreement; google-assistant needs 2 of its 4 banks and only 0 can still agree: it keeps the deals it has (only banks revoke them)"
    );
}
