//! `bank-mock serve --agreed`: the bank starts holding what the scenario's own negotiation
//! agreed with it, and the agreement tokens it prints make consents and read data at once.

use super::*;
use bank_mock::agreed::{Held, install};
use testbed_core::report::OutcomeKind;

fn committed(name: &str) -> Arc<Scenario> {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Arc::new(testbed_core::scenario::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `name` of `sc` started as `bank-mock serve --agreed` starts it.
async fn start_agreed(sc: Arc<Scenario>, name: &str) -> (Bank, Vec<Held>) {
    let bank = Bank::start_from(sc.clone(), name, SimTime::ZERO, 1.0).await;
    let index = sc.bank_index(name).expect("bank in the scenario");
    let (held, origin) = install(&sc, index, &mut bank.state.desk());
    bank.state.set_clock(LiveClock::new(origin, 1.0));
    (bank, held)
}

fn agreement_token_of<'h>(held: &'h [Held], platform: &str) -> &'h str {
    held.iter()
        .find_map(|h| match h {
            Held::Agreed { info, .. } if info.platform == platform => Some(info.token.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no agreement with {platform}: {held:?}"))
}

#[tokio::test]
async fn a_bank_started_agreed_holds_exactly_the_agreements_of_the_scenarios_negotiation() {
    for name in ["messenger-2018", "assistants-2018", "design-direct"] {
        let sc = committed(name);
        let report = testbed_core::session::negotiate(&sc, None).negotiation;
        for bank in &sc.banks {
            let (started, held) = start_agreed(sc.clone(), &bank.name).await;
            let mine: Vec<_> = report.negotiations.iter().filter(|n| n.bank == bank.name).collect();
            assert_eq!(held.len(), mine.len(), "{name}/{}: one line per platform negotiating here", bank.name);
            for (n, h) in mine.iter().zip(&held) {
                let desk = started.state.desk();
                match h {
                    Held::Agreed { info, terms, revoked, .. } => {
                        assert_eq!(n.outcome.kind, OutcomeKind::Agreement, "{name}/{}: {h:?}", bank.name);
                        assert_eq!(info.platform, n.platform);
                        let reported: Vec<(String, String)> =
                            n.outcome.terms.clone().expect("agreed terms").into_iter().collect();
                        let mut held_terms = terms.clone();
                        held_terms.sort();
                        assert_eq!(held_terms, reported, "{name}/{}→{}", n.platform, bank.name);
                        let (desk_info, desk_revoked) = desk.agreement(&n.platform).expect("the desk holds it");
                        assert_eq!(desk_info, info);
                        assert_eq!(desk_revoked.is_some(), revoked.is_some());
                        assert_eq!(revoked.is_some(), n.revocation.is_some());
                    }
                    Held::NotAgreed { platform, how } => {
                        assert_eq!(*platform, n.platform);
                        assert_ne!(n.outcome.kind, OutcomeKind::Agreement, "{name}/{}: {how}", bank.name);
                        assert!(desk.agreement(platform).is_none(), "{platform} holds nothing at {}", bank.name);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn the_printed_agreement_token_makes_consents_that_read_what_the_terms_allow_and_nothing_else() {
    // assistants-2018 at jpmorgan-like: amazon-alexa agrees to balances, google-assistant to
    // no balances (as the virtual run of the scenario reports).
    let sc = committed("assistants-2018");
    let (bank, held) = start_agreed(sc, "jpmorgan-like").await;
    let api = Api::new();
    let spec = bank.population();
    let mut read = BTreeMap::new();
    for platform in ["amazon-alexa", "google-assistant"] {
        let (_, access) = consent(&api, &bank, agreement_token_of(&held, platform), 0).await;
        let balances = format!("/accounts/{}/balances", population::checking_id(&spec.bank, 0));
        let r = api.get(&bank, &balances).bearer(&access).send().await;
        read.insert(platform, r.status);
    }
    assert_eq!(read["amazon-alexa"], 200, "balances=included");
    assert_eq!(read["google-assistant"], 403, "balances=excluded");
    let lines: Vec<String> = held.iter().flat_map(Held::lines).collect();
    assert!(
        lines.iter().any(|l| l.starts_with("agreed with amazon-alexa in round ") && l.contains("balances=included"))
    );
    assert!(lines.iter().any(|l| l.starts_with("agreement token for amazon-alexa: agr.jpmorgan-like.amazon-alexa.")));
}

#[tokio::test]
async fn a_bank_that_walked_away_prints_why_and_holds_no_agreement_to_consent_under() {
    let sc = committed("messenger-2018");
    let (_bank, held) = start_agreed(sc, "jpmorgan-like").await;
    let lines: Vec<String> = held.iter().flat_map(Held::lines).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("no agreement with messenger: withdrawal by the bank"), "{lines:?}");
}
