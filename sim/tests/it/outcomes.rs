//! Outcomes emerge from policies, strategies and events: change one and the outcome follows.

use crate::*;
use testbed_core::negotiation::Side;
use testbed_core::report::{Action, OutcomeKind};

#[test]
fn by_default_one_bank_withdraws_over_a_privacy_clause_and_another_agrees() {
    let report = run_table(&negotiation_table("messenger-2018.toml"));
    let jpm = negotiation(&report, "messenger", "jpmorgan-like");
    assert_eq!(jpm.outcome.kind, OutcomeKind::Withdrawal);
    assert_eq!(jpm.outcome.by, Some(Side::Bank));
    assert_eq!(jpm.outcome.clause.as_deref(), Some("no_off_platform_data"));
    assert!(jpm.outcome.reason.as_deref().unwrap().contains("off-platform"));
    assert!(report.totals.agreements >= 1, "{:?}", report.totals);
}

#[test]
fn lifting_the_jpmorgan_like_refusal_of_off_platform_data_changes_its_outcome() {
    let mut table = negotiation_table("messenger-2018.toml");
    policy_mut(&mut table, "jpmorgan-like").remove("limits");
    let report = run_table(&table);
    let jpm = negotiation(&report, "messenger", "jpmorgan-like");
    // It no longer walks out in round 2: it negotiates on until the privacy incident sinks the
    // platform's trust below its floor.
    assert_ne!(jpm.outcome.clause.as_deref(), Some("no_off_platform_data"));
    assert!(jpm.outcome.round > 2, "{:?}", jpm.outcome);
    assert_eq!(jpm.outcome.clause.as_deref(), Some("min_platform_trust"), "{:?}", jpm.outcome);
    // Without the incident either, it strikes a deal.
    table.remove("events");
    let report = run_table(&table);
    let jpm = negotiation(&report, "messenger", "jpmorgan-like");
    assert_eq!(jpm.outcome.kind, OutcomeKind::Agreement, "{:?}", jpm.outcome);
}

#[test]
fn platform_trust_below_a_banks_minimum_makes_that_bank_withdraw_naming_the_trust_clause() {
    let mut table = negotiation_table("messenger-2018.toml");
    policy_mut(&mut table, "wells-like").insert("min_platform_trust".into(), 0.55.into());
    let report = run_table(&table);
    let wells = negotiation(&report, "messenger", "wells-like");
    assert_eq!(wells.outcome.kind, OutcomeKind::Withdrawal);
    assert_eq!(wells.outcome.clause.as_deref(), Some("min_platform_trust"));
    assert_eq!(wells.outcome.round, 0, "it never gets past its first turn");
    assert_eq!(wells.offers, 1, "only the platform's opening offer was made");
}

#[test]
fn a_privacy_incident_during_the_talks_makes_a_bank_withdraw_mid_negotiation() {
    let mut table = negotiation_table("messenger-2018.toml");
    let first_incident = table["events"].as_array_mut().unwrap()[0].as_table_mut().unwrap();
    first_incident.insert("at".into(), "100d".into());
    first_incident.insert("trust_change".into(), (-0.4).into());
    let report = run_table(&table);
    let citi = negotiation(&report, "messenger", "citi-like");
    assert_eq!(citi.outcome.kind, OutcomeKind::Withdrawal, "{:?}", citi.outcome);
    assert_eq!(citi.outcome.clause.as_deref(), Some("min_platform_trust"));
    assert!(citi.outcome.at_ms >= 100 * DAY_MS, "not before the incident");
    assert!(citi.outcome.round > 0, "it was mid-negotiation");
    // The withdrawal is the last move of its transcript, made by the bank.
    let last = citi.transcript.last().unwrap();
    assert_eq!((last.side, last.action), (Side::Bank, Action::Withdraw));
}

#[test]
fn a_bank_revokes_an_agreement_when_trust_falls_below_its_revocation_floor() {
    let mut table = negotiation_table("messenger-2018.toml");
    policy_mut(&mut table, "citi-like").insert("revoke_below_trust".into(), 0.2.into());
    let report = run_table(&table);
    let citi = negotiation(&report, "messenger", "citi-like");
    assert_eq!(citi.outcome.kind, OutcomeKind::Agreement);
    let revocation = citi.revocation.as_ref().expect("revoked");
    assert_eq!(revocation.clause, "revoke_below_trust");
    assert!(revocation.at_ms >= 260 * DAY_MS && revocation.at_ms > citi.outcome.at_ms);
    assert_eq!(report.totals.revocations, 1);
    // Without the higher floor the same agreement stands.
    let baseline = run_table(&negotiation_table("messenger-2018.toml"));
    assert!(negotiation(&baseline, "messenger", "citi-like").revocation.is_none());
}

#[test]
fn a_regulation_revokes_agreements_that_break_it_and_spares_the_rest() {
    let mut table = negotiation_table("messenger-2018.toml");
    let mut regulation = toml::Table::new();
    regulation.insert("kind".into(), "regulation".into());
    regulation.insert("at".into(), "300d".into());
    regulation.insert("id".into(), "no_off_platform_sharing_rule".into());
    regulation.insert("reason".into(), "off-platform purchase data may not go to platforms".into());
    regulation.insert("issue".into(), "off_platform_transactions".into());
    regulation.insert("forbid".into(), toml::Value::Array(vec!["included".into()]));
    table["events"].as_array_mut().unwrap().push(regulation.into());
    let report = run_table(&table);
    for n in report.negotiations.iter().filter(|n| n.outcome.kind == OutcomeKind::Agreement) {
        let included = n.outcome.terms.as_ref().unwrap()["off_platform_transactions"] == "included";
        assert_eq!(
            n.revocation.as_ref().map(|r| r.clause.as_str()),
            included.then_some("no_off_platform_sharing_rule")
        );
    }
    assert!(report.totals.revocations >= 1);
}

#[test]
fn a_bank_outage_holds_its_answers_until_it_is_back() {
    let mut table = negotiation_table("messenger-2018.toml");
    let mut outage = toml::Table::new();
    outage.insert("kind".into(), "outage".into());
    outage.insert("at".into(), "0s".into());
    outage.insert("bank".into(), "wells-like".into());
    outage.insert("duration".into(), "100d".into());
    table.insert("events".into(), toml::Value::Array(vec![outage.into()]));
    let report = run_table(&table);
    let wells = negotiation(&report, "messenger", "wells-like");
    let first_bank_move = wells.transcript.iter().find(|e| e.side == Side::Bank).unwrap();
    assert!(first_bank_move.at_ms >= 100 * DAY_MS, "answered at {} ms", first_bank_move.at_ms);
    let citi = negotiation(&report, "messenger", "citi-like");
    let citi_first = citi.transcript.iter().find(|e| e.side == Side::Bank).unwrap();
    assert!(citi_first.at_ms < 100 * DAY_MS, "other banks are not affected");
}

#[test]
fn a_hardliner_bank_facing_a_hardliner_platform_times_out_at_the_deadline() {
    let mut table = negotiation_table("messenger-2018.toml");
    entry_mut(&mut table, "platforms", "messenger").insert("strategy".into(), "hardliner".into());
    let wells = policy_mut(&mut table, "wells-like");
    wells.insert("strategy".into(), "hardliner".into());
    wells.insert("deadline_rounds".into(), 5.into());
    let report = run_table(&table);
    let wells = negotiation(&report, "messenger", "wells-like");
    assert_eq!(wells.outcome.kind, OutcomeKind::Timeout);
    assert_eq!(wells.deadline_rounds, 5);
    assert_eq!(wells.offers, 10);
}

#[test]
fn a_scenario_that_ends_before_the_talks_do_reports_them_unfinished() {
    let mut table = negotiation_table("messenger-2018.toml");
    table["scenario"].as_table_mut().unwrap().insert("duration".into(), "30d".into());
    table.remove("events");
    let report = run_table(&table);
    let wells = negotiation(&report, "messenger", "wells-like");
    assert_eq!(wells.outcome.kind, OutcomeKind::Unfinished);
    assert_eq!(wells.outcome.at_ms, 30 * DAY_MS);
}

#[test]
fn several_platforms_negotiate_with_the_same_banks_at_once() {
    let report = run_committed("assistants-2018.toml");
    assert_eq!(report.negotiations.len(), 8);
    for platform in ["google-assistant", "amazon-alexa"] {
        for bank in ["jpmorgan-like", "citi-like", "wells-like", "us-bank-like"] {
            negotiation(&report, platform, bank);
        }
    }
    let amazon = negotiation(&report, "amazon-alexa", "wells-like");
    assert_eq!(amazon.started_at_ms, 30 * DAY_MS, "platform start offsets are honoured");
    // Asks without off-platform data meet no JPMorgan-like refusal.
    let jpm = negotiation(&report, "google-assistant", "jpmorgan-like");
    assert_ne!(jpm.outcome.clause.as_deref(), Some("no_off_platform_data"));
}

#[test]
fn every_offer_in_a_transcript_carries_both_sides_utilities() {
    let report = run_table(&negotiation_table("messenger-2018.toml"));
    for n in &report.negotiations {
        assert_eq!(n.transcript.iter().filter(|e| e.action == Action::Offer).count() as u32, n.offers);
        for e in n.transcript.iter().filter(|e| e.action != Action::Withdraw) {
            let (p, b) = (e.utility_platform.unwrap(), e.utility_bank.unwrap());
            assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&b));
        }
        // Moves are in time order.
        assert!(n.transcript.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }
}
