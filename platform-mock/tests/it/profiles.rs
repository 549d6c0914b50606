//! platform-mock against banks speaking a standard profile (`bank-mock serve --api obie|fdx`):
//! customers link through OAuth 2.0, data is read in the standard's shapes, and what the platform
//! counts as received is what the banks counted as disclosed.

use crate::{client_tokens, expected_pace, load, platform_mock, run_args, start_banks_speaking, test_tool};
use bank_mock::http::AppState;
use platform_mock::bank_api::OAuthClient;
use platform_mock::live::{LiveOptions, OAuthClients};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_core::scenario::Scenario;
use testbed_core::wire::ApiProfile;

/// Each platform's OAuth client at each bank, as `bank-mock serve` prints them.
pub(crate) fn oauth_clients(scenario: &Scenario, states: &[Arc<AppState>]) -> OAuthClients {
    let mut clients = OAuthClients::new();
    for (p, platform) in scenario.platforms_by_id() {
        for &b in &platform.banks {
            let secret = states[b.index()].client_secret(&platform.name).expect("a platform of the bank");
            clients.insert((p, b), OAuthClient { id: platform.name.clone(), secret });
        }
    }
    clients
}

#[test]
fn over_any_profile_the_platform_counts_as_received_what_the_bank_counted_as_disclosed() {
    let scenario = Arc::new(load("design-direct.toml"));
    for api in ApiProfile::ALL {
        let opts = LiveOptions { duration: Duration::from_millis(1_000), max_rate: 400.0, api, ..Default::default() };
        let (urls, states, _rt) = start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), api);
        let opts = LiveOptions { oauth_clients: oauth_clients(&scenario, &states), ..opts };
        let tokens = client_tokens(&scenario, &states);
        let stop = Arc::new(AtomicBool::new(false));
        let report = platform_mock::live::run(scenario.clone(), &urls, &tokens, &opts, stop, None, test_tool())
            .expect("live run");
        let data = report.data.as_ref().expect("a data phase");
        assert_eq!(data.live.as_ref().map(|l| l.api), Some(api));
        assert!(!data.flows.is_empty());
        for flow in &data.flows {
            let received = &flow.exposure;
            assert!(received.customers_exposed > 0, "{api:?} {}: the platform received data", flow.bank);
            let b = scenario.bank_index(&flow.bank).unwrap();
            let desk = states[b.index()].desk();
            let disclosed =
                desk.ledgers()[&flow.platform].summarize(desk.population(), &flow.platform, [1.0, 3.0, 9.0]);
            if report.complete {
                // Every request answered: the same records, of the same fields, to the same customers.
                assert_eq!(received.records_by_category, disclosed.records_by_category, "{api:?} {}", flow.bank);
                assert_eq!(received.field_values, disclosed.field_values, "{api:?} {}", flow.bank);
                assert_eq!(received.customers_exposed, disclosed.customers_exposed, "{api:?} {}", flow.bank);
            } else {
                assert!(received.customers_exposed <= disclosed.customers_exposed, "{api:?} {}", flow.bank);
            }
        }
    }
}

#[test]
fn run_speaks_a_standard_with_the_oauth_clients_the_banks_printed() {
    let scenario = Arc::new(load("live-demo.toml"));
    let api = ApiProfile::Obie;
    let opts = LiveOptions { duration: Duration::from_secs(1), max_rate: 200.0, api, ..Default::default() };
    let (urls, states, _rt) = start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), api);
    let out = tempfile::tempdir().unwrap();
    let mut args = run_args("live-demo.toml", &scenario, &urls, &states);
    args.extend(["--duration".into(), "1s".into(), "--max-rate".into(), "200".into()]);
    args.extend(["--out".into(), out.path().display().to_string()]);
    let clients = oauth_clients(&scenario, &states);
    let flags: Vec<String> =
        clients.iter().map(|((_, b), c)| format!("{}={}:{}", scenario.banks[*b].name, c.id, c.secret)).collect();
    let run_over = |api: &str, oauth: &[String]| {
        let mut all = args.clone();
        all.extend(["--api".into(), api.into()]);
        for flag in oauth {
            all.extend(["--oauth-client".into(), flag.clone()]);
        }
        platform_mock(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let run_with = |oauth: &[String]| run_over("obie", oauth);
    // Banks that speak another profile than the run: one line naming --api, before negotiating.
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    let mismatched = run_over("fdx", &flags);
    assert_eq!(mismatched.status.code(), Some(2), "{}", stderr(&mismatched));
    assert!(stderr(&mismatched).starts_with("error: --api: bank `"), "{}", stderr(&mismatched));
    assert!(stderr(&mismatched).contains("does not speak --api fdx"), "{}", stderr(&mismatched));
    let run = run_with(&flags);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: testbed_core::report::Report =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    let data = report.data.expect("a data phase");
    assert_eq!(data.live.map(|l| l.api), Some(ApiProfile::Obie));
    assert!(data.flows.iter().any(|f| f.exposure.customers_exposed > 0), "customers linked and data read");

    // Without the OAuth clients, or with a wrong secret, or of the wrong shape: one line naming
    // the flag, exit 2, before any load.
    let none = run_with(&[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("--oauth-client: none for"), "{}", stderr(&none));
    let wrong: Vec<String> = flags.iter().map(|f| format!("{}0", &f[..f.len() - 1])).collect();
    let refused = run_with(&wrong);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).starts_with("error: --oauth-client: bank `"), "{}", stderr(&refused));
    let shapeless = run_with(&["demo-bank".to_string()]);
    assert_eq!(shapeless.status.code(), Some(2));
    assert!(stderr(&shapeless).contains("expected BANK=ID:SECRET"), "{}", stderr(&shapeless));
}
