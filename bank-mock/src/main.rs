//! `bank-mock serve`: one bank of a scenario behind HTTP on loopback.

use anyhow::{Context as _, bail};
use bank_mock::http::{ApiProfile, AppState, Limits, LiveClock, serve};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use testbed_core::SimTime;

#[derive(Parser)]
#[command(name = "bank-mock", version, about = "A mock bank with consents, negotiation and exposure accounting")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one bank of a scenario until Ctrl-C. Prints the address it listens on, then the client
    /// token of each platform the scenario pairs with the bank (to open negotiations with).
    Serve {
        /// The scenario file (TOML).
        #[arg(long)]
        scenario: PathBuf,
        /// The bank's name in the scenario.
        #[arg(long)]
        bank: String,
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Simulated seconds per wall-clock second (the scenario's calendar runs this fast).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// The key of this server's bearer tokens, the platforms' client tokens (printed on start)
        /// among them. Random by default; fix it to get the same tokens in every run (a test
        /// script), and never on a shared machine.
        #[arg(long)]
        token_secret: Option<u64>,
        /// Time a client has to send a request's head; also the longest an idle keep-alive
        /// connection is kept (e.g. 10s).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        header_read_timeout: std::time::Duration,
        /// Time a client has to send a request's whole body (408 after).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        body_read_timeout: std::time::Duration,
        /// Connections open at once; one more is answered 503 and closed. Keep it below the
        /// process's open-file limit (`ulimit -n`).
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        max_connections: u32,
        /// Start holding the agreements the scenario's own negotiation reaches with this bank
        /// (run in virtual time at start, as `sim run` runs it), and print each with its
        /// agreement token, for clients that only want the data API. The calendar then starts
        /// at the earliest agreement, as a virtual run's data phase does. The negotiation API
        /// still answers.
        #[arg(long)]
        agreed: bool,
        /// The data API to speak: `testbed` (ours, `openapi.json`), `obie` (UK Open Banking
        /// v3.1.11 under /open-banking/v3.1/aisp) or `fdx` (FDX 6.4 under /fdx/v6). The
        /// standard ones come with OAuth 2.0 (/authorize, /token) and the sandbox shortcut POST
        /// /sandbox/consents, and print each platform's OAuth client.
        #[arg(long, default_value = "testbed", value_parser = str::parse::<ApiProfile>)]
        api: ApiProfile,
        /// Serve mutual TLS, as FAPI asks: make a CA, the server's certificate and one client
        /// certificate per platform at start, write them as PEM into DIR (ca.pem,
        /// client-PLATFORM.pem, client-PLATFORM-key.pem) and accept only clients presenting one.
        #[arg(long, value_name = "DIR")]
        tls: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    let Command::Serve {
        scenario,
        bank,
        listen,
        time_scale,
        token_secret,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        agreed,
        api,
        tls,
    } = command;
    for (flag, d) in [("--header-read-timeout", header_read_timeout), ("--body-read-timeout", body_read_timeout)] {
        if !(Duration::from_millis(1)..=Duration::from_secs(3600)).contains(&d) {
            bail!("{flag}: {} is not a time from 1ms to 1h", humantime::format_duration(d));
        }
    }
    let limits = Limits {
        header_read: header_read_timeout,
        body_read: body_read_timeout,
        max_connections: max_connections as usize,
    };
    let text = std::fs::read_to_string(&scenario).with_context(|| format!("{}: cannot read", scenario.display()))?;
    let sc = testbed_core::scenario::parse(&text).map_err(|e| {
        let sep = if matches!(e, testbed_core::CoreError::ScenarioSyntax { .. }) { ":" } else { ": " };
        anyhow::anyhow!("{}{sep}{e}", scenario.display())
    })?;
    let Some(index) = sc.bank_index(&bank) else {
        let names: Vec<&str> = sc.banks.iter().map(|b| b.name.as_str()).collect();
        bail!("--bank: no bank named `{bank}` in {} (banks: {})", scenario.display(), names.join(", "));
    };
    if let Some(why) = api.refusal(&sc, |b| b == index) {
        bail!("{why}");
    }
    if !(time_scale.is_finite() && (1e-6..=1e9).contains(&time_scale)) {
        bail!("--time-scale: {time_scale:?} is not a number from 0.000001 to 1000000000");
    }
    let secret = token_secret.unwrap_or_else(rand::random);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("--listen: cannot bind {listen}"))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("bank-mock {bank} listening on {scheme}://{addr}");
        let sc = Arc::new(sc);
        let clock = LiveClock::new(SimTime::ZERO, time_scale);
        let state = AppState::speaking(sc.clone(), index, secret, clock, limits, api);
        if let Some(dir) = &tls {
            let platforms: Vec<&str> =
                sc.platforms.iter().filter(|p| p.banks.contains(&index)).map(|p| p.name.as_str()).collect();
            let (acceptor, files) =
                bank_mock::tls::make(dir, &platforms).with_context(|| format!("--tls: {}", dir.display()))?;
            state.use_tls(acceptor);
            println!("tls: clients present a certificate of {}", files.ca.display());
            for (platform, cert, key) in &files.clients {
                println!("tls client for {platform}: cert={} key={}", cert.display(), key.display());
            }
        }
        let held = if agreed {
            let (held, origin) = bank_mock::agreed::install(&sc, index, &mut state.desk());
            state.set_clock(LiveClock::new(origin, time_scale));
            println!(
                "calendar starts at {} (the earliest agreement)",
                testbed_core::time::calendar_text(origin.as_millis())
            );
            held
        } else {
            Vec::new()
        };
        // The out-of-band registration: each platform the scenario pairs with this bank gets its
        // client credential here, to open negotiations with (a platform's key, not customer data).
        for platform in &sc.platforms {
            if let Some(token) = state.client_token(&platform.name) {
                println!("client token for {}: {token}", platform.name);
            }
            if api != ApiProfile::Testbed
                && let Some(secret) = state.client_secret(&platform.name)
            {
                println!("oauth client for {0}: client_id={0} client_secret={secret}", platform.name);
            }
        }
        for line in held.iter().flat_map(bank_mock::agreed::Held::lines) {
            println!("{line}");
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, state, shutdown).await.context("serving")
    })
}
