//! `platform-mock run` against real `bank-mock serve` processes when things go wrong: a bank
//! killed mid-run, a run interrupted with Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testbed_core::report::Report;
use testbed_core::scenario::RequestKind;

/// Four banks that accept the platform's one offer and serve 200 customers each, quickly.
fn four_banks() -> String {
    let mut text = String::from(
        r#"
[scenario]
name = "four-banks"
seed = 11
duration = "30d"

[data]
duration = "30d"

[timing]
network_delay = { dist = "fixed", value = "0s" }
decision_delay = { dist = "fixed", value = "0s" }

[[issues]]
name = "balances"
options = ["included"]

[[issues]]
name = "transactions"
options = ["detail"]

[[issues]]
name = "purposes"
options = ["balance_display+commerce"]

[[issues]]
name = "consent_mode"
options = ["opt_in"]

[[platforms]]
name = "platform"
trust = 0.8
strategy = "linear"
reservation = 0.0
ask = { balances = "included", transactions = "detail" }

[platforms.linking]
overlap = 1.0
opt_in_rate = 1.0

[[platforms.workload]]
kind = "balance_lookup"
per_customer_per_day = 4.0

[[platforms.workload]]
kind = "transaction_sync"
per_customer_per_day = 2.0
window = "1d"
"#,
    );
    for bank in ["bank-a", "bank-b", "bank-c", "bank-d"] {
        text.push_str(&format!(
            r#"
[[banks]]
name = "{bank}"
[banks.policy]
reservation = 0.0
strategy = "linear"
[banks.population]
customers = 200
[banks.service]
workers = 64
service_time = {{ dist = "fixed", value = "1ms" }}
"#
        ));
    }
    text
}

/// The `bank-mock` binary `cargo test --workspace` built beside `platform-mock`.
fn bank_mock_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_platform-mock")).with_file_name("bank-mock");
    assert!(path.exists(), "{} missing: build it first (cargo build -p bank-mock)", path.display());
    path
}

/// A `bank-mock serve` process: the process, its URL and the client token it printed.
struct BankProcess {
    child: Child,
    url: String,
    client_token: String,
}

impl Drop for BankProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(scenario: &Path, bank: &str, time_scale: f64) -> BankProcess {
    let mut child = Command::new(bank_mock_binary())
        .args(["serve", "--scenario", &scenario.display().to_string(), "--bank", bank])
        .args(["--time-scale", &time_scale.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bank-mock serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut line = || lines.next().expect("a line").expect("utf-8");
    let url = line().rsplit(' ').next().expect("listening on URL").to_string();
    let client_token = line().rsplit(' ').next().expect("client token for platform: TOKEN").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    BankProcess { child, url, client_token }
}

/// The four banks of `four_banks()` as `bank-mock serve` processes at the pace a run of
/// `duration` takes, and the `platform-mock run` command against them writing to `out`.
fn run_against_four_banks(duration: &str, out: &Path) -> (Vec<BankProcess>, Command) {
    let scenario_path = out.join("four-banks.toml");
    std::fs::write(&scenario_path, four_banks()).unwrap();
    let scenario = Arc::new(testbed_core::scenario::parse(&four_banks()).unwrap());
    let opts = platform_mock::live::LiveOptions {
        duration: platform_mock::live_args::parse_duration(duration).unwrap(),
        ..Default::default()
    };
    let pace = super::expected_pace(&scenario, &opts);
    let banks: Vec<BankProcess> =
        (scenario.banks.iter().zip(&pace.banks)).map(|(b, p)| serve(&scenario_path, &b.name, p.scale)).collect();
    let mut run = Command::new(env!("CARGO_BIN_EXE_platform-mock"));
    run.args(["run", "--scenario", &scenario_path.display().to_string(), "--duration", duration]);
    for (b, process) in scenario.banks.iter().zip(&banks) {
        run.args(["--bank", &format!("{}={}", b.name, process.url)]);
        run.args(["--client-token", &process.client_token]);
    }
    run.args(["--out", &out.join("report").display().to_string()]);
    (banks, run)
}

fn read_report(out: &Path) -> Report {
    serde_json::from_str(&std::fs::read_to_string(out.join("report/report.json")).expect("report.json written"))
        .unwrap()
}

#[test]
fn a_bank_killed_mid_run_shows_as_connection_errors_and_the_run_still_ends_with_its_report() {
    let out = tempfile::tempdir().unwrap();
    let (mut banks, mut run) = run_against_four_banks("3s", out.path());
    let started = Instant::now();
    let mut platform = run.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    // Negotiating and linking 800 customers take well under a second; the data phase then runs 3 s.
    std::thread::sleep(Duration::from_millis(2_000));
    let killed = Command::new("kill").args(["-9", &banks[2].child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    banks[2].child.wait().unwrap();
    let status = platform.wait().unwrap();
    let took = started.elapsed();
    let stderr = std::io::read_to_string(platform.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    // Within its duration plus the 3 s drain, and the set-up before them.
    assert!(took < Duration::from_secs(3 + 3 + 3), "took {took:?}");
    let report = read_report(out.path());
    eprintln!("took {took:?}");
    let data = report.data.as_ref().expect("a data phase");
    for row in &data.latency {
        let s = &row.latency;
        eprintln!(
            "{}/{:?}: {} requests, {} ok, errors {:?}, abandoned {:?}",
            row.bank, row.kind, row.requests, s.ok, s.errors, s.abandoned
        );
        assert_eq!(row.requests, s.ok + s.failed() + s.abandoned_total(), "every request ends: {row:?}");
        let transport = s.errors.get("transport").copied().unwrap_or(0);
        if row.bank == "bank-c" {
            assert!(transport > 0, "the killed bank's requests fail to connect: {row:?}");
            assert!(s.ok > 0, "it answered before it was killed: {row:?}");
        } else {
            assert_eq!(transport, 0, "{row:?}");
            assert!(s.ok > 0, "{row:?}");
        }
    }
    let kinds = data.latency.iter().filter(|r| r.bank == "bank-c").map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds, [RequestKind::BalanceLookup, RequestKind::TransactionSync]);
}

#[test]
fn an_interrupted_run_writes_its_report_and_exits_130() {
    let out = tempfile::tempdir().unwrap();
    let (_banks, mut run) = run_against_four_banks("60s", out.path());
    let mut platform = run.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2_000));
    let interrupted = Command::new("kill").args(["-INT", &platform.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let status = platform.wait().unwrap();
    let stderr = std::io::read_to_string(platform.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(i32::from(testbed_report::exit::INTERRUPTED)), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let report = read_report(out.path());
    assert!(!report.complete, "an interrupted run is marked incomplete");
    assert!(report.data.as_ref().and_then(|d| d.live.as_ref()).is_some_and(|l| l.wall_ms < 60_000));
}
