//! `platform-mock receive`, the callback receiver of the README's fraud-alert walk-through, as a
//! process: what it prints, what it answers, and a bank's alerts reaching it. Waits are bounded
//! liveness checks, never assertions on speed.

use super::*;
use hyper::{Method, StatusCode};
use platform_mock::client::HttpClient;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Stdio};

/// A receiver process on 127.0.0.1:0 with `args`, its stdout past the `receiving on` line, and
/// its base URL.
fn start_receiver(args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_platform-mock"))
        .args(["receive", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base = first.trim().strip_prefix("platform-mock receiving on ").unwrap_or_else(|| panic!("{first:?}"));
    (child, stdout, base.to_string())
}

/// Waits (at most 60 s) for `child` to end, and returns its exit status and stderr.
fn finished(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the receiver did not stop after its --max");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status, stderr)
}

#[test]
fn the_receiver_answers_202_prints_one_line_per_notification_and_stops_after_max() {
    let (child, mut stdout, base) = start_receiver(&["--max", "1"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let body = json!({"Data": {"FraudAlert": {"AccountId": "card-demo-bank-8", "Amount": "24.08"}}});
    let answer = rt
        .block_on(HttpClient::default().send(
            Method::POST,
            &format!("{base}/alerts"),
            None,
            &[],
            Some(hyper::body::Bytes::from(body.to_string())),
        ))
        .unwrap();
    assert_eq!(answer.status, StatusCode::ACCEPTED, "a 2xx: the bank counts the delivery");
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, format!("POST /alerts {body}\n"));
    let (status, stderr) = finished(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr, "received 1 notifications\n");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "one line per notification");
}

#[test]
fn the_receiver_listens_on_loopback_only() {
    let run = platform_mock(&["receive", "--listen", "10.1.2.3:9000"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--listen: 10.1.2.3:9000 is not on loopback"));
}

#[test]
fn a_banks_fraud_alerts_reach_the_receiver_as_in_the_readme_walk_through() {
    // The walk-through's bank: demo-bank at a simulated day a second.
    let scenario = Arc::new(load("live-demo.toml"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let bank = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(
        scenario.clone(),
        testbed_core::scenario::BankId::new(0),
        2018,
        LiveClock::new(SimTime::ZERO, 86_400.0),
    );
    rt.spawn(serve(listener, state.clone(), std::future::pending::<()>()));
    let (child, mut stdout, base) = start_receiver(&["--max", "3"]);
    let client = HttpClient::default();
    let post = |path: &str, token: &str, body: Value| {
        let (status, answer) =
            rt.block_on(client.post::<Value, Value>(&format!("{bank}{path}"), Some(token), &body)).unwrap();
        answer.unwrap_or_else(|e| panic!("{path}: {status} {e:?}"))
    };
    let opened =
        post("/negotiations", &state.client_token("demo-platform").unwrap(), json!({"Platform": "demo-platform"}));
    let offer = json!({"Outcome": {"balances": "included", "transactions": "detail", "off_platform_transactions": "excluded",
        "purposes": "balance_display+fraud_alerts+commerce", "consent_mode": "opt_in"}});
    let accepted = post("/negotiations/1/offers", opened["NegotiationToken"].as_str().unwrap(), offer);
    let agreement = accepted["Agreement"]["Token"].as_str().unwrap().to_string();
    post("/account-access-consents", &agreement, json!({"Data": {"CustomerId": 8}}));
    let callback = format!("{base}/alerts");
    post("/event-subscriptions", &agreement, json!({"Data": {"CallbackUrl": callback, "EventTypes": ["fraud_alert"]}}));
    let (status, stderr) = finished(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr, "received 3 notifications\n");
    let lines: Vec<String> = (&mut stdout).lines().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        let body = line.strip_prefix("POST /alerts ").unwrap_or_else(|| panic!("{line}"));
        let alert: Value = serde_json::from_str(body).unwrap();
        assert_eq!(alert["Data"]["FraudAlert"][0]["AccountId"], "card-demo-bank-8", "{line}");
    }
    // Answered 2xx, so the bank counts them as delivered and disclosed.
    let metrics = rt.block_on(client.send(Method::GET, &format!("{bank}/metrics"), None, &[], None)).unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body);
    let sent = metrics.lines().find_map(|l| l.strip_prefix("bank_alerts_sent_total{bank=\"demo-bank\"} "));
    assert!(sent.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 3), "{metrics}");
}
