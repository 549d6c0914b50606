//! `platform-mock`: `run` negotiates with bank servers and drives a scenario's workload against
//! them (see `run_command`); `load` is an HTTP load generator on loopback (open or closed model);
//! `receive` prints the notifications a bank pushes (see `receive_command`).

mod receive_command;
mod run_command;

use clap::{Parser, Subcommand};
use platform_mock::load::{LoadSpec, Model, process_cpu_time, run};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "platform-mock",
    version,
    about = "The platform side of the testbed: scenario driver and HTTP load generator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Negotiate with bank servers, then send the scenario's workload to them (open model), and
    /// write report.json, report.md and transcript.jsonl.
    Run(run_command::RunArgs),
    /// Send GET requests to one URL for a bounded time and report rate, latency and CPU cost.
    Load {
        /// Target URL (loopback only), e.g. http://127.0.0.1:8080/healthz
        url: String,
        /// Open model: requests per second, sent on schedule.
        #[arg(long, conflicts_with = "connections")]
        rate: Option<f64>,
        /// Closed model: concurrent request loops.
        #[arg(long)]
        connections: Option<usize>,
        /// How long to send, e.g. 10s (at most 10m).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Bearer token to send.
        #[arg(long)]
        token: Option<String>,
        /// Open model: connections, hence most requests in flight.
        #[arg(long, default_value_t = 512)]
        max_in_flight: usize,
        /// Worker threads (each with its own runtime and share of the connections); default:
        /// the number of CPUs.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Receive the notifications a bank pushes (fraud alerts, balance changes, transactions) on a
    /// loopback address, answer each 202 and print it on one line (method, path, body), until
    /// Ctrl-C or --max.
    Receive(receive_command::ReceiveArgs),
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = testbed_core::serde_duration::parse(text)?;
    if d.is_zero() || d > Duration::from_secs(600) { Err("allowed from 1ms to 10m".into()) } else { Ok(d) }
}

fn main() -> ExitCode {
    let (url, rate, connections, duration, token, max_in_flight, threads) = match Cli::parse().command {
        Command::Run(args) => return run_command::main(args),
        Command::Receive(args) => return receive_command::main(args),
        Command::Load { url, rate, connections, duration, token, max_in_flight, threads } => {
            (url, rate, connections, duration, token, max_in_flight, threads)
        }
    };
    let host = url.strip_prefix("http://").and_then(|r| r.split(['/', ':']).next()).unwrap_or("");
    if !(host == "127.0.0.1" || host == "localhost" || host.starts_with("127.") || host == "[::1]") {
        eprintln!("error: url: `{url}` is not on loopback; load is only sent to 127.0.0.0/8, localhost or [::1]");
        return ExitCode::from(2);
    }
    let model = match (rate, connections) {
        (Some(r), None) if r.is_finite() && r > 0.0 => Model::Open { rate: r },
        (None, Some(c)) if c > 0 => Model::Closed { connections: c },
        _ => {
            eprintln!("error: give exactly one of --rate N (> 0, open model) or --connections N (> 0, closed model)");
            return ExitCode::from(2);
        }
    };
    if max_in_flight == 0 || threads == Some(0) {
        eprintln!("error: --max-in-flight and --threads must be > 0");
        return ExitCode::from(2);
    }
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let spec = LoadSpec { url, token, model: model.clone(), duration, max_in_flight, threads };
    let cpu0 = process_cpu_time();
    let result = match run(&spec) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cpu = process_cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let l = &result.latency;
    let achieved = result.completed as f64 / result.elapsed.as_secs_f64();
    println!("model: {model:?}, {threads} threads, duration {:.2}s", result.elapsed.as_secs_f64());
    if let Model::Open { rate } = model {
        println!(
            "scheduled rate {rate:.0}/s, achieved {achieved:.0}/s ({} scheduled, {} sent, {} completed)",
            result.scheduled, result.sent, result.completed
        );
        if result.sent > result.completed {
            println!(
                "unanswered: {} requests still in flight {}s after the end were given up",
                result.sent - result.completed,
                platform_mock::load::DRAIN.as_secs()
            );
        }
        println!(
            "scheduling lag: mean {:.3}ms, max {:.3}ms",
            result.lag_mean.as_secs_f64() * 1e3,
            result.lag_max.as_secs_f64() * 1e3
        );
    } else {
        println!("achieved {achieved:.0}/s ({} requests)", result.completed);
    }
    println!(
        "latency: p50 {:.3}ms p90 {:.3}ms p99 {:.3}ms p99.9 {:.3}ms max {:.3}ms; errors {:?}",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.errors
    );
    if let Some(cpu) = cpu {
        println!(
            "cpu: {:.2}s, {:.1} µs per request",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / result.completed.max(1) as f64
        );
    }
    ExitCode::SUCCESS
}
