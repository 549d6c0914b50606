//! platform-mock against banks started holding the scenario's agreements (`bank-mock serve
//! --agreed`): it negotiates nothing, takes the scenario's own negotiation as the banks did, and
//! sends data under the agreement tokens they printed (or, over a standard API, under the
//! client-credentials grant).

use crate::{expected_pace, load, platform_mock, run_args, start_banks_speaking, test_tool};
use bank_mock::agreed::{Held, install};
use bank_mock::http::{AppState, LiveClock};
use platform_mock::live::{AgreementTokens, ClientTokens, LiveOptions};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_core::scenario::Scenario;
use testbed_core::wire::ApiProfile;

/// Installs at each bank what `bank-mock serve --agreed` holds, its calendar from its earliest
/// agreement at `scale`; returns the agreement tokens the banks print.
fn hold_agreements(scenario: &Scenario, states: &[Arc<AppState>], opts: &LiveOptions) -> AgreementTokens {
    let pace = expected_pace(scenario, opts);
    let mut tokens = AgreementTokens::new();
    for b in scenario.bank_ids() {
        let (held, origin) = install(scenario, b, &mut states[b.index()].desk());
        states[b.index()].set_clock(LiveClock::new(origin, pace.of(b).scale));
        for h in held {
            if let Held::Agreed { info, revoked: None, .. } = h {
                tokens.insert((scenario.platform_index(&info.platform).unwrap(), b), info.token);
            }
        }
    }
    tokens
}

#[test]
fn against_agreed_banks_the_platform_negotiates_nothing_and_reads_under_their_agreements() {
    let scenario = Arc::new(load("design-direct.toml"));
    let local = testbed_core::session::negotiate(&scenario, None).negotiation;
    for api in [ApiProfile::Testbed, ApiProfile::Obie] {
        let opts = LiveOptions { duration: Duration::from_millis(800), max_rate: 400.0, api, ..Default::default() };
        let (urls, states, _rt) = start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), api);
        let tokens = hold_agreements(&scenario, &states, &opts);
        assert!(!tokens.is_empty());
        let oauth = crate::profiles::oauth_clients(&scenario, &states);
        // Under a standard the client-credentials grant gives the tokens: none are passed.
        let agreed = if api.is_standard() { AgreementTokens::new() } else { tokens };
        let opts = LiveOptions { agreed: Some(agreed), oauth_clients: oauth, ..opts };
        let stop = Arc::new(AtomicBool::new(false));
        let report =
            platform_mock::live::run(scenario.clone(), &urls, &ClientTokens::new(), &opts, stop, None, test_tool())
                .expect("live run");
        for (l, v) in report.negotiations.iter().zip(&local.negotiations) {
            assert_eq!((&l.outcome, &l.transcript), (&v.outcome, &v.transcript), "{api:?} {}", l.pair());
        }
        let data = report.data.as_ref().expect("a data phase");
        for flow in &data.flows {
            assert!(flow.exposure.customers_exposed > 0, "{api:?} {}: data flowed", flow.bank);
            let b = scenario.bank_index(&flow.bank).unwrap();
            let desk = states[b.index()].desk();
            let disclosed =
                desk.ledgers()[&flow.platform].summarize(desk.population(), &flow.platform, [1.0, 3.0, 9.0]);
            if report.complete {
                assert_eq!(flow.exposure.records_by_category, disclosed.records_by_category, "{api:?} {}", flow.bank);
            }
        }
        // Nothing was negotiated over HTTP: no bank answered a negotiation route.
        for (b, url) in urls.iter().enumerate() {
            let metrics = fetch(&format!("{url}/metrics"));
            let opened = (metrics.lines())
                .filter(|l| l.starts_with("bank_http_responses_total{") && l.contains("route=\"negotiations\""))
                .filter(|l| !l.ends_with(" 0"))
                .count();
            assert_eq!(opened, 0, "bank {b}: {metrics}");
        }
    }
}

/// A GET's body, over plain HTTP/1.1 on loopback.
fn fetch(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn run_agreed_takes_the_agreement_tokens_the_banks_printed_and_names_what_is_wrong() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts = LiveOptions { duration: Duration::from_secs(1), max_rate: 200.0, ..Default::default() };
    let (urls, states, _rt) = start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), ApiProfile::Testbed);
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    // A client token (nothing to negotiate) and a missing agreement token are named.
    let mut args: Vec<String> = run_args("live-demo.toml", &scenario, &urls, &states);
    args.extend(["--duration".into(), "1s".into(), "--max-rate".into(), "200".into(), "--agreed".into()]);
    // One line naming the flag, exit 2.
    let refused = |args: &[String], line: &str| {
        let out = platform_mock(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).starts_with(line), "{}", stderr(&out));
    };
    refused(&args, "error: --client-token: with --agreed");
    let args: Vec<String> = args
        .into_iter()
        .scan(false, |skip, a| {
            let keep = !*skip && a != "--client-token";
            *skip = a == "--client-token";
            Some(keep.then_some(a))
        })
        .flatten()
        .collect();
    let tokens = hold_agreements(&scenario, &states, &opts);
    refused(&args, "error: --agreement-token: no agreement token for platform");

    // Negotiating with banks that hold agreements already: they answer 409, and the line says
    // to run with --agreed.
    let mut negotiating = run_args("live-demo.toml", &scenario, &urls, &states);
    negotiating.extend(["--duration".into(), "1s".into()]);
    refused(&negotiating, "error: --agreed: live run: negotiation failed");
    // A forged agreement token is named before anything is asked under it.
    let mut forged = args.clone();
    for token in tokens.values() {
        let last = if token.ends_with('0') { "1" } else { "0" };
        forged.extend(["--agreement-token".into(), format!("{}{last}", &token[..token.len() - 1])]);
    }
    refused(&forged, "error: --agreement-token: bank `");
    let out = tempfile::tempdir().unwrap();
    let mut full = args.clone();
    for token in tokens.values() {
        full.extend(["--agreement-token".into(), token.clone()]);
    }
    full.extend(["--out".into(), out.path().display().to_string()]);
    let run = platform_mock(&full.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.status.success(), "{}", stderr(&run));
    let report: testbed_core::report::Report =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    assert!(report.data.expect("a data phase").flows.iter().any(|f| f.exposure.customers_exposed > 0));
}

#[test]
fn customers_the_bank_refuses_to_link_are_named_and_make_the_run_incomplete() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts = LiveOptions { duration: Duration::from_millis(500), max_rate: 200.0, ..Default::default() };
    let (urls, states, _rt) = start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), ApiProfile::Testbed);
    // The banks hold their agreements, but one of them was restarted without `--agreed`: the
    // token it printed before still authenticates (the same key), and every consent asked
    // under it is refused, as no agreement is held.
    let tokens = hold_agreements(&scenario, &states, &opts);
    let forged_pair = *tokens.keys().next().expect("an agreement");
    let (restarted, _restarted_states, _rt2) =
        start_banks_speaking(&scenario, &expected_pace(&scenario, &opts), ApiProfile::Testbed);
    let mut urls = urls;
    urls[forged_pair.1.index()] = restarted[forged_pair.1.index()].clone();
    let opts = LiveOptions { agreed: Some(tokens), ..opts };
    let stop = Arc::new(AtomicBool::new(false));
    let report =
        platform_mock::live::run(scenario.clone(), &urls, &ClientTokens::new(), &opts, stop, None, test_tool())
            .expect("live run");
    assert!(!report.complete, "a run that could not link customers is not whole");
    let data = report.data.as_ref().unwrap();
    let bank = &scenario.banks[forged_pair.1].name;
    let flow = data.flows.iter().find(|f| &f.bank == bank).unwrap();
    assert_eq!(flow.consents_refused, flow.exposure.linked_customers, "every consent refused");
    assert_eq!(flow.exposure.customers_exposed, 0);
    for other in data.flows.iter().filter(|f| &f.bank != bank) {
        assert_eq!(other.consents_refused, 0, "{}", other.bank);
    }
    let said = testbed_core::report::summary_sentences(&report).join(" ");
    assert!(said.contains(&format!("customers of demo-platform at {bank} (every one)")), "{said}");
}
