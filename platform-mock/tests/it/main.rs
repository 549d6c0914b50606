//! platform-mock against real bank-mock servers on 127.0.0.1:0: the live driver and the
//! `platform-mock run` command.

use bank_mock::http::{AppState, LiveClock, serve};
use platform_mock::live::ClientTokens;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::scenario::Scenario;

mod agreed;
mod alerts;
mod faults;
mod pace;
mod profiles;
mod receive;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(name)
}

fn load(name: &str) -> Scenario {
    testbed_core::scenario::parse(&std::fs::read_to_string(scenario_path(name)).unwrap()).unwrap()
}

/// The pace a live run will take: that of the agreements the in-process session reaches (the
/// live negotiation reaches the same ones).
fn expected_pace(scenario: &Scenario, opts: &platform_mock::live::LiveOptions) -> testbed_core::pace::Pace {
    let session = testbed_core::session::negotiate(scenario, None);
    let agreed: Vec<_> = session
        .agreements
        .iter()
        .filter(|(_, a)| a.revoked_at.is_none())
        .map(|(_, a)| (a.platform, a.bank, &a.terms))
        .collect();
    testbed_core::pace::pace(scenario, &agreed, &opts.pace_limits())
}

/// One bank-mock per bank of `scenario` on 127.0.0.1:0, on a runtime of their own, each with a
/// calendar at `pace` (as `bank-mock serve --time-scale` would set it); returns their base URLs,
/// their states, and the runtime (dropping it stops them).
fn start_banks(
    scenario: &Arc<Scenario>,
    pace: &testbed_core::pace::Pace,
) -> (Vec<String>, Vec<Arc<AppState>>, tokio::runtime::Runtime) {
    start_banks_speaking(scenario, pace, testbed_core::wire::ApiProfile::Testbed)
}

/// `start_banks`, the banks speaking `api` (as `bank-mock serve --api` would).
fn start_banks_speaking(
    scenario: &Arc<Scenario>,
    pace: &testbed_core::pace::Pace,
    api: testbed_core::wire::ApiProfile,
) -> (Vec<String>, Vec<Arc<AppState>>, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut urls = Vec::new();
    let mut states = Vec::new();
    for b in scenario.bank_ids() {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        urls.push(format!("http://{}", listener.local_addr().unwrap()));
        let clock = LiveClock::new(SimTime::ZERO, pace.of(b).scale);
        let state = AppState::speaking(scenario.clone(), b, scenario.seed, clock, Default::default(), api);
        states.push(state.clone());
        rt.spawn(serve(listener, state, std::future::pending::<()>()));
    }
    (urls, states, rt)
}

/// The client token each bank of `states` issued each platform it negotiates with, as a platform
/// would hold them after registering (`bank-mock serve` prints them).
fn client_tokens(scenario: &Scenario, states: &[Arc<AppState>]) -> ClientTokens {
    let mut tokens = ClientTokens::new();
    for (p, platform) in scenario.platforms_by_id() {
        for &b in &platform.banks {
            tokens.insert((p, b), states[b.index()].client_token(&platform.name).expect("a platform of the bank"));
        }
    }
    tokens
}

/// A live run of `scenario` by platform-mock against bank servers it does not run, started at
/// the pace the run will take and holding the client tokens they issued: the report, the
/// banks' states, and their runtime (dropping it stops them).
fn live_run(
    scenario: &Arc<Scenario>,
    opts: &platform_mock::live::LiveOptions,
    stop: Arc<AtomicBool>,
) -> (testbed_core::report::Report, Vec<Arc<AppState>>, tokio::runtime::Runtime) {
    let (urls, states, rt) = start_banks(scenario, &expected_pace(scenario, opts));
    let tokens = client_tokens(scenario, &states);
    let report =
        platform_mock::live::run(scenario.clone(), &urls, &tokens, opts, stop, None, test_tool()).expect("live run");
    (report, states, rt)
}

/// The tool a test's live runs name in their reports.
fn test_tool() -> testbed_core::report::Tool {
    testbed_core::report::Tool::new("platform-mock-test", "0.0.1")
}

/// A 1.5 s live run of live-demo (`max_rate` requests/s) by
/// platform-mock against bank servers it does not run: the scenario, the report, the banks'
/// states, and their runtime (dropping it stops them).
fn live_demo_run(
    max_rate: f64,
) -> (Arc<Scenario>, testbed_core::report::Report, Vec<Arc<AppState>>, tokio::runtime::Runtime) {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts =
        platform_mock::live::LiveOptions { duration: Duration::from_millis(1_500), max_rate, ..Default::default() };
    let (report, states, rt) = live_run(&scenario, &opts, Arc::new(AtomicBool::new(false)));
    (scenario, report, states, rt)
}

#[test]
fn negotiating_with_bank_servers_reaches_the_outcomes_of_the_in_process_session() {
    let mut scenario = load("messenger-2018.toml");
    scenario.data = None;
    let scenario = Arc::new(scenario);
    let opts = platform_mock::live::LiveOptions { duration: Duration::from_millis(100), ..Default::default() };
    let (live, _states, _rt) = live_run(&scenario, &opts, Arc::new(AtomicBool::new(false)));
    let local = testbed_core::session::negotiate(&scenario, None).negotiation;
    assert_eq!(live.negotiations.len(), 4);
    assert_eq!((live.tool, live.mode), (test_tool(), testbed_core::report::Mode::Live), "as the caller said");
    for (l, v) in live.negotiations.iter().zip(&local.negotiations) {
        assert_eq!(l.outcome, v.outcome, "{}", l.pair());
        assert_eq!(l.transcript, v.transcript, "{}", l.pair());
    }
}

#[test]
fn the_platform_counts_no_more_than_the_bank_disclosed_and_only_fields_the_terms_allow() {
    let (scenario, report, states, _rt) = live_demo_run(300.0);
    let data = report.data.as_ref().expect("the scenario has a data phase");
    assert!(!data.flows.is_empty(), "an agreement with data");
    for flow in &data.flows {
        let received = &flow.exposure;
        assert!(received.customers_exposed > 0, "{}: the platform received data", flow.bank);
        let b = scenario.bank_index(&flow.bank).unwrap();
        let desk = states[b.index()].desk();
        let disclosed = desk.ledgers()[&flow.platform].summarize(desk.population(), &flow.platform, [1.0, 3.0, 9.0]);
        assert!(received.customers_exposed <= disclosed.customers_exposed, "{received:?} vs {disclosed:?}");
        let (r, d) = (&received.field_values, &disclosed.field_values);
        assert!(r.low + r.moderate + r.high <= d.low + d.moderate + d.high, "{r:?} vs {d:?}");
        // What the platform saw is within the terms: no category it was not granted.
        for (category, records) in &received.records_by_category {
            if *records > 0 {
                assert!(flow.categories.iter().any(|c| c == category), "{category} received but not granted");
            }
        }
    }
}

#[test]
fn live_bank_rows_carry_the_queue_figures_the_banks_publish() {
    let (_, report, states, _rt) = live_demo_run(300.0);
    let data = report.data.as_ref().expect("the scenario has a data phase");
    let limited = data.banks.iter().find(|b| b.bank == "limited-bank").expect("limited-bank row");
    assert!(limited.requests_served > 0, "{limited:?}");
    // 8 workers, each request held for at least 1 ms: busy, but far from full.
    let utilisation = limited.utilisation.expect("bank-mock publishes its queue counters");
    assert!(utilisation > 0.0 && utilisation < 1.0, "{limited:?}");
    assert!(limited.mean_in_system.is_some_and(|l| l > 0.0), "{limited:?}");
    assert!(limited.mean_wait_ms.is_some_and(|w| w >= 0.0), "{limited:?}");
    // A bank with no service time is never busy.
    let demo = data.banks.iter().find(|b| b.bank == "demo-bank").expect("demo-bank row");
    assert_eq!(demo.utilisation, Some(0.0), "{demo:?}");
    // Served counts what the bank's door admitted, pulls and pushed alerts, as in virtual mode:
    // at least what was answered; at most what was sent where nothing is pushed (a delivery the
    // door let in can still be stopped at its release, by the run's DELETE of its subscription).
    for bank in [limited, demo] {
        let rows = data.latency.iter().filter(|r| r.bank == bank.bank);
        let pushes = rows.clone().any(|r| r.kind == testbed_core::scenario::RequestKind::FraudAlert);
        let (sent, ok) = rows.fold((0, 0), |(s, o), r| (s + r.requests, o + r.latency.ok));
        let sent = if pushes { u64::MAX } else { sent };
        assert!(ok <= bank.requests_served && bank.requests_served <= sent, "{bank:?} vs {:?}", data.latency);
    }
    drop(states);
}

fn platform_mock(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_platform-mock")).args(args).output().unwrap()
}

/// `platform-mock run`'s arguments for `scenario` (file `name`) against the banks at `urls`,
/// with the client tokens they issued.
fn run_args(name: &str, scenario: &Scenario, urls: &[String], states: &[Arc<AppState>]) -> Vec<String> {
    let mut args = vec!["run".to_string(), "--scenario".into(), scenario_path(name).display().to_string()];
    for (b, url) in scenario.banks.iter().zip(urls) {
        args.extend(["--bank".into(), format!("{}={url}", b.name)]);
    }
    for token in client_tokens(scenario, states).values() {
        args.extend(["--client-token".into(), token.clone()]);
    }
    args
}

#[test]
fn run_writes_the_report_files_of_sim_against_bank_urls() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts =
        platform_mock::live::LiveOptions { duration: Duration::from_secs(1), max_rate: 200.0, ..Default::default() };
    let pace = expected_pace(&scenario, &opts);
    let (urls, states, _rt) = start_banks(&scenario, &pace);
    let out = tempfile::tempdir().unwrap();
    let mut args = run_args("live-demo.toml", &scenario, &urls, &states);
    args.extend(["--duration".into(), "1s".into(), "--max-rate".into(), "200".into()]);
    args.extend(["--out".into(), out.path().display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = platform_mock(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: testbed_core::report::Report =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report.schema, testbed_core::report::SCHEMA);
    assert_eq!(report.tool.name, "platform-mock");
    assert_eq!(report.mode, testbed_core::report::Mode::Live);
    assert!(report.data.is_some_and(|d| d.latency.iter().any(|l| l.requests > 0)));
    assert!(out.path().join("report.md").exists() && out.path().join("transcript.jsonl").exists());
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("report.html, as sim writes it");
    assert!(html.contains("<svg") && html.contains("live-demo"), "a page with the run's charts");
}

#[test]
fn run_refuses_bank_flags_it_cannot_use_naming_the_flag() {
    let path = scenario_path("messenger-2018.toml").display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--bank", "citi-like=http://127.0.0.1:1"], "no URL for jpmorgan-like, wells-like, us-bank-like"),
        (&["--bank", "hsbc-like=http://127.0.0.1:1"], "no bank `hsbc-like`"),
        (&["--bank", "citi-like"], "expected NAME=URL"),
        (&["--bank", "citi-like=https://127.0.0.1:1"], "must start with http://"),
        (&["--bank", "citi-like=http://example.com:80"], "not on loopback"),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["run", "--scenario", &path];
        args.extend_from_slice(flags);
        let run = platform_mock(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{flags:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--bank") && stderr.contains(expected), "{flags:?}: {stderr}");
    }
    let broken = platform_mock(&["run", "--scenario", "no/such.toml", "--bank", "x=http://127.0.0.1:1"]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("no/such.toml: cannot read"));
}

#[test]
fn run_refuses_client_token_flags_it_cannot_use_naming_the_flag() {
    let path = scenario_path("live-demo.toml").display().to_string();
    let banks = ["--bank", "demo-bank=http://127.0.0.1:1", "--bank", "limited-bank=http://127.0.0.1:1"];
    let (demo, limited) = ("cli.demo-bank.demo-platform.0.00", "cli.limited-bank.demo-platform.0.00");
    let cases: [(&[&str], &str); 7] = [
        (&[demo], "none for demo-platform at limited-bank"),
        (&[], "none for demo-platform at demo-bank, demo-platform at limited-bank"),
        (&[demo, limited, "demo-bank=abc"], "expected a client token"),
        (&[demo, limited, "neg.demo-bank.demo-platform.1.00"], "not a client token"),
        (&[demo, limited, "cli.hsbc-like.demo-platform.0.00"], "no bank `hsbc-like`"),
        (&[demo, limited, "cli.demo-bank.messenger.0.00"], "no platform `messenger`"),
        (&[demo, limited, demo], "given twice"),
    ];
    for (tokens, expected) in cases {
        let mut args = vec!["run", "--scenario", &path];
        args.extend_from_slice(&banks);
        for token in tokens {
            args.extend(["--client-token", token]);
        }
        let run = platform_mock(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{tokens:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--client-token") && stderr.contains(expected), "{tokens:?}: {stderr}");
    }
}

#[test]
fn run_with_a_client_token_the_bank_did_not_issue_fails_naming_the_flag() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts = platform_mock::live::LiveOptions { duration: Duration::from_millis(100), ..Default::default() };
    let (urls, states, _rt) = start_banks(&scenario, &expected_pace(&scenario, &opts));
    let mut args = vec!["run".to_string(), "--scenario".into(), scenario_path("live-demo.toml").display().to_string()];
    for (b, url) in scenario.banks.iter().zip(&urls) {
        args.extend(["--bank".into(), format!("{}={url}", b.name)]);
    }
    // demo-bank's token with its MAC changed: well formed, but not one the bank issued.
    for token in client_tokens(&scenario, &states).values() {
        let (claims, mac) = token.rsplit_once('.').unwrap();
        let token = if claims.starts_with("cli.demo-bank.") {
            format!("{claims}.{:016x}", u64::from_str_radix(mac, 16).unwrap() ^ 1)
        } else {
            token.clone()
        };
        args.extend(["--client-token".into(), token]);
    }
    let out = tempfile::tempdir().unwrap();
    args.extend(["--out".into(), out.path().display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = platform_mock(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for expected in ["--client-token", "bank `demo-bank` refused platform `demo-platform`'s client token", "401"] {
        assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
    }
    assert!(!out.path().join("report.json").exists(), "no report of a run that could not negotiate");
}

#[test]
fn the_live_driver_opens_no_negotiation_without_a_client_token_for_every_pair() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts = platform_mock::live::LiveOptions { duration: Duration::from_millis(100), ..Default::default() };
    let (urls, states, _rt) = start_banks(&scenario, &expected_pace(&scenario, &opts));
    let mut tokens = client_tokens(&scenario, &states);
    tokens.pop_last();
    let stop = Arc::new(AtomicBool::new(false));
    let run = platform_mock::live::run(scenario.clone(), &urls, &tokens, &opts, stop, None, test_tool());
    let e = run.expect_err("refused").to_string();
    assert!(e.contains("no client token for platform `demo-platform` at bank"), "{e}");
    assert!(states.iter().all(|s| s.desk().agreement("demo-platform").is_none()), "nothing negotiated");
}

#[test]
fn an_interrupted_live_run_reports_the_time_it_ran_not_the_duration_asked_for() {
    let scenario = Arc::new(load("live-demo.toml"));
    let opts =
        platform_mock::live::LiveOptions { duration: Duration::from_secs(60), max_rate: 200.0, ..Default::default() };
    let pace = expected_pace(&scenario, &opts);
    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(800));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let (report, _states, _rt) = live_run(&scenario, &opts, stop);
    ctrl_c.join().unwrap();
    assert!(!report.complete, "an interrupted run is marked incomplete");
    let data = report.data.as_ref().expect("the scenario has a data phase");
    let live = data.live.as_ref().expect("a live run reports its pace");
    assert!(live.wall_ms < 60_000, "the run stopped after {} ms, not the 60 s asked for", live.wall_ms);
    assert!(!data.flows.is_empty());
    for flow in &data.flows {
        assert_eq!(flow.ended_by, testbed_core::workload::EndedBy::Interrupted);
        assert_eq!(flow.ended_at_ms, live.wall_ms, "{}", flow.bank);
    }
    for row in &live.banks {
        let bank = pace.of(scenario.bank_index(&row.bank).unwrap());
        let covered = (live.wall_ms as f64 * bank.scale).min(data.phase_ms as f64);
        assert!((row.simulated_ms as f64 - covered).abs() <= bank.scale + 1.0, "{}: {row:?}", row.bank);
    }
}

#[test]
fn a_bank_where_no_customer_was_linked_is_not_paced_in_the_report() {
    let mut scenario = load("live-demo.toml");
    // Nobody opts in: agreements are reached, but no customer links.
    scenario.platforms[0].linking.opt_in_rate = 0.0;
    let scenario = Arc::new(scenario);
    let opts = platform_mock::live::LiveOptions {
        duration: Duration::from_millis(300),
        max_rate: 200.0,
        ..Default::default()
    };
    let (report, _states, _rt) = live_run(&scenario, &opts, Arc::new(AtomicBool::new(false)));
    let data = report.data.as_ref().expect("the scenario has a data phase");
    assert!(data.latency.iter().all(|row| row.requests == 0), "{:?}", data.latency);
    let live = data.live.as_ref().expect("a live run reports its pace");
    assert_eq!(live.banks, vec![], "no data flowed, so no bank had a pace");
}
