//! `platform-mock run --scenario FILE --bank NAME=URL ... --client-token TOKEN ...`: the
//! scenario's platforms negotiate with the bank servers at the given URLs, presenting the client
//! tokens the banks issued them, then send their workload to them; the report has the schema
//! `sim` writes, and its exposure is what the platform received.

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use testbed_core::report::Tool;
use testbed_core::scenario::{self, BankId, PlatformId, Scenario};

use testbed_report::exit;

#[derive(Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    #[arg(long)]
    scenario: PathBuf,
    /// A bank of the scenario and the base URL of its server, e.g.
    /// `jpmorgan-like=http://127.0.0.1:8081`; one per bank the scenario's platforms talk to.
    #[arg(long = "bank", value_name = "NAME=URL", required = true)]
    banks: Vec<String>,
    /// A platform's client token at a bank, as `bank-mock serve` prints it on start
    /// (`cli.<bank>.<platform>.0.<mac>`; it names its bank and platform); one per platform and
    /// bank the scenario pairs.
    #[arg(long = "client-token", value_name = "TOKEN")]
    client_tokens: Vec<String>,
    /// The banks were started with `bank-mock serve --agreed`: do not negotiate (they hold the
    /// agreements already); run the scenario's negotiation here in virtual time, as they did, and
    /// send data under the agreement tokens they printed (`--agreement-token`; under `--api
    /// obie|fdx` the OAuth clients' client-credentials grant gives them instead).
    #[arg(long)]
    agreed: bool,
    /// With `--agreed`: an agreement token as `bank-mock serve --agreed` prints it
    /// (`agreement token for PLATFORM: agr.<bank>.<platform>.<id>.<mac>`); one per agreement the
    /// scenario's negotiation reaches.
    #[arg(long = "agreement-token", value_name = "TOKEN", requires = "agreed")]
    agreement_tokens: Vec<String>,
    /// With `--api obie|fdx`: a platform's OAuth client at a bank, as that bank's `bank-mock
    /// serve` prints it (`oauth client for PLATFORM: client_id=ID client_secret=SECRET`), given
    /// as `BANK=ID:SECRET`; one per platform and bank the scenario pairs.
    #[arg(long = "oauth-client", value_name = "BANK=ID:SECRET")]
    oauth_clients: Vec<String>,
    /// Seed to use instead of the scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Output folder [default: reports/<scenario name>].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    live: platform_mock::live_args::LiveArgs,
    /// Allow bank URLs outside loopback (by default load goes only to 127.0.0.0/8, localhost
    /// or [::1]).
    #[arg(long)]
    allow_non_loopback: bool,
}

/// A failure and whether the input is at fault.
struct Failure {
    bad_input: bool,
    message: String,
}

fn bad_input(message: String) -> Failure {
    Failure { bad_input: true, message }
}

pub fn main(args: RunArgs) -> ExitCode {
    match execute(args) {
        Ok((code, breached)) => {
            match code {
                exit::INTERRUPTED => eprintln!("error: interrupted; the report covers the part that ran"),
                exit::THRESHOLDS_BREACHED => eprintln!("error: {breached} threshold(s) breached (see report.md)"),
                _ => {}
            }
            ExitCode::from(code)
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(if f.bad_input { exit::BAD_INPUT } else { 1 })
        }
    }
}

/// Runs and writes the report; returns the run's exit code and how many thresholds were breached.
fn execute(args: RunArgs) -> Result<(u8, usize), Failure> {
    let mut sc = load_scenario(&args.scenario)?;
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    let mut opts = args.live.options().map_err(bad_input)?;
    if let Some(why) = opts.api.refusal(&sc, |_| true) {
        return Err(bad_input(why));
    }
    opts.oauth_clients = oauth_clients(&sc, &args.oauth_clients, opts.api)?;
    if let Some(why) = testbed_core::budget::too_many_customers(&sc, opts.max_customers) {
        return Err(bad_input(why));
    }
    let urls = bank_urls(&sc, &args.banks, args.allow_non_loopback)?;
    let client_tokens = match args.agreed {
        false => client_tokens(&sc, &args.client_tokens)?,
        true if args.client_tokens.is_empty() => platform_mock::live::ClientTokens::new(),
        true => {
            return Err(bad_input(
                "--client-token: with --agreed nothing is negotiated; give --agreement-token as the banks printed them"
                    .into(),
            ));
        }
    };
    if args.agreed {
        let form = "agr.<bank>.<platform>.<id>.<mac>";
        let what = ("--agreement-token", "agr", "an agreement token", form);
        if opts.api.is_standard() && !args.agreement_tokens.is_empty() {
            return Err(bad_input(format!(
                "--agreement-token: under --api {} the client-credentials grant gives the agreement tokens; give none",
                opts.api.as_str()
            )));
        }
        opts.agreed = Some(pair_tokens(&sc, &args.agreement_tokens, what)?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let tool = Tool::new("platform-mock", env!("CARGO_PKG_VERSION"));
    let report = platform_mock::live::run(Arc::new(sc.clone()), &urls, &client_tokens, &opts, stop.clone(), None, tool)
        .map_err(|e| {
            // A bank refusing the credential it was given is bad input, not a failed run.
            use platform_mock::client::ClientError;
            let (flag, hint) = match e {
                ClientError::ClientTokenRefused { .. } => {
                    ("--client-token: ", "; give the token that bank's `bank-mock serve` printed")
                }
                ClientError::ProfileNotSpoken { .. } => ("--api: ", ""),
                ClientError::AgreementTokens(_) => ("--agreement-token: ", ""),
                ClientError::GrantRefused { .. } if args.agreed => ("--agreed: ", ""),
                // Banks that hold agreements already refuse a new negotiation.
                ClientError::Live(ref m) if !args.agreed && m.contains("409") && m.contains("is in force") => {
                    ("--agreed: ", "; the banks hold agreements already (started with --agreed?): run with --agreed")
                }
                ClientError::OAuthClientRefused { .. } => {
                    ("--oauth-client: ", "; give the client that bank's `bank-mock serve --api` printed")
                }
                _ => ("", ""),
            };
            Failure { bad_input: !flag.is_empty(), message: format!("{flag}{e}{hint}") }
        })?;
    let breached = report.thresholds.as_deref().map_or(0, testbed_core::thresholds::breached);
    let dir = args.out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
    let written = testbed_report::files::write_reports(&dir, &report)
        .map_err(|e| Failure { bad_input: false, message: e.to_string() })?;
    print!("{}", testbed_report::terminal::summary(&report));
    if let Some(results) = &report.thresholds {
        print!("\nThresholds\n{}", testbed_report::terminal::thresholds(results));
    }
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok((exit::of_run(&report, stop.load(std::sync::atomic::Ordering::Relaxed)), breached))
}

fn load_scenario(path: &Path) -> Result<Scenario, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| bad_input(format!("{shown}: cannot read: {e}")))?;
    scenario::parse(&text).map_err(|e| {
        // Syntax errors carry `line:col` and read `file:line:col: …`; the rest name a key.
        let sep = if matches!(e, testbed_core::CoreError::ScenarioSyntax { .. }) { ":" } else { ": " };
        bad_input(format!("{shown}{sep}{e}"))
    })
}

/// One base URL per bank of the scenario, from `NAME=URL` flags.
fn bank_urls(sc: &Scenario, flags: &[String], allow_non_loopback: bool) -> Result<Vec<String>, Failure> {
    let names = || sc.banks.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ");
    let mut urls = vec![None; sc.banks.len()];
    for flag in flags {
        let Some((name, url)) = flag.split_once('=') else {
            return Err(bad_input(format!(
                "--bank `{flag}`: expected NAME=URL, e.g. {}=http://127.0.0.1:8081",
                sc.banks[0].name
            )));
        };
        let Some(b) = sc.bank_index(name) else {
            return Err(bad_input(format!(
                "--bank `{flag}`: no bank `{name}` in the scenario; its banks: {}",
                names()
            )));
        };
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(bad_input(format!("--bank `{flag}`: the URL must start with http://")));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let host = if authority.starts_with('[') {
            authority.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
        } else {
            authority.split(':').next().unwrap_or_default().to_string()
        };
        let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
        if host.is_empty() || (!loopback && !allow_non_loopback) {
            return Err(bad_input(format!(
                "--bank `{flag}`: `{host}` is not on loopback; load goes only to 127.0.0.0/8, localhost or [::1] unless --allow-non-loopback"
            )));
        }
        if urls[b.index()].is_some() {
            return Err(bad_input(format!("--bank `{flag}`: bank `{name}` is given twice")));
        }
        urls[b.index()] = Some(url.trim_end_matches('/').to_string());
    }
    let missing: Vec<&str> =
        sc.banks.iter().zip(&urls).filter(|(_, u)| u.is_none()).map(|(b, _)| b.name.as_str()).collect();
    if !missing.is_empty() {
        return Err(bad_input(format!(
            "--bank: no URL for {}; give one --bank NAME=URL for each bank of the scenario",
            missing.join(", ")
        )));
    }
    Ok(urls.into_iter().flatten().collect())
}

/// The platforms' client tokens, by (platform, bank), from `--client-token` flags: each names its
/// bank and platform (`cli.<bank>.<platform>.0.<mac>`), and every pair of the scenario needs one.
fn client_tokens(sc: &Scenario, flags: &[String]) -> Result<platform_mock::live::ClientTokens, Failure> {
    let tokens = pair_tokens(sc, flags, ("--client-token", "cli", "a client token", "cli.<bank>.<platform>.0.<mac>"))?;
    let missing = missing_pairs(sc, |pair| tokens.contains_key(&pair));
    if !missing.is_empty() {
        return Err(bad_input(format!(
            "--client-token: none for {}; give each platform's token as each `bank-mock serve` prints it (client token for PLATFORM: TOKEN)",
            missing.join(", ")
        )));
    }
    Ok(tokens)
}

/// Tokens by (platform, bank) from the flags `flag`: each names its bank and platform
/// (`<tag>.<bank>.<platform>.<id>.<mac>`, as `bank-mock serve` prints a `what`, shaped `form`),
/// at most one per pair, for pairs the scenario has.
fn pair_tokens(
    sc: &Scenario,
    flags: &[String],
    (flag_name, want_tag, what, form): (&str, &str, &str, &str),
) -> Result<std::collections::BTreeMap<(PlatformId, BankId), String>, Failure> {
    let mut tokens = std::collections::BTreeMap::new();
    for flag in flags {
        let parts: Vec<&str> = flag.split('.').collect();
        let [tag, bank, platform, _id, _mac] = parts[..] else {
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: expected {what} as `bank-mock serve` prints it, {form}"
            )));
        };
        if tag != want_tag {
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: not {what} (they start `{want_tag}.`, as `bank-mock serve` prints them)"
            )));
        }
        let Some(b) = sc.bank_index(bank) else {
            let names: Vec<&str> = sc.banks.iter().map(|b| b.name.as_str()).collect();
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: no bank `{bank}` in the scenario; its banks: {}",
                names.join(", ")
            )));
        };
        let Some(p) = sc.platform_index(platform) else {
            let names: Vec<&str> = sc.platforms.iter().map(|p| p.name.as_str()).collect();
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: no platform `{platform}` in the scenario; its platforms: {}",
                names.join(", ")
            )));
        };
        if !sc.platforms[p].banks.contains(&b) {
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: platform `{platform}` does not negotiate with bank `{bank}` in the scenario"
            )));
        }
        if tokens.insert((p, b), flag.clone()).is_some() {
            return Err(bad_input(format!(
                "{flag_name} `{flag}`: platform `{platform}` at bank `{bank}` is given twice"
            )));
        }
    }
    Ok(tokens)
}

/// The platforms' OAuth clients, by (platform, bank), from `--oauth-client BANK=ID:SECRET`
/// flags (the client id is the platform's name, as `bank-mock serve` registers it): under a
/// standard profile every pair of the scenario needs one; under the testbed's API none is taken.
fn oauth_clients(
    sc: &Scenario,
    flags: &[String],
    api: testbed_core::wire::ApiProfile,
) -> Result<platform_mock::live::OAuthClients, Failure> {
    use platform_mock::bank_api::OAuthClient;
    let mut clients = platform_mock::live::OAuthClients::new();
    if !api.is_standard() {
        return match flags.first() {
            Some(flag) => Err(bad_input(format!(
                "--oauth-client `{flag}`: OAuth clients are for --api obie or fdx (the testbed's API takes client tokens)"
            ))),
            None => Ok(clients),
        };
    }
    for flag in flags {
        let shape = || {
            bad_input(format!(
                "--oauth-client `{flag}`: expected BANK=ID:SECRET, from the bank's line `oauth client for PLATFORM: client_id=ID client_secret=SECRET`"
            ))
        };
        let (bank, client) = flag.split_once('=').ok_or_else(shape)?;
        let (id, secret) = client.split_once(':').ok_or_else(shape)?;
        if secret.is_empty() {
            return Err(shape());
        }
        let Some(b) = sc.bank_index(bank) else {
            let names: Vec<&str> = sc.banks.iter().map(|b| b.name.as_str()).collect();
            return Err(bad_input(format!(
                "--oauth-client `{flag}`: no bank `{bank}` in the scenario; its banks: {}",
                names.join(", ")
            )));
        };
        let Some(p) = sc.platform_index(id).filter(|p| sc.platforms[*p].banks.contains(&b)) else {
            return Err(bad_input(format!(
                "--oauth-client `{flag}`: client id `{id}` is no platform of the scenario that negotiates with bank `{bank}`"
            )));
        };
        let client = OAuthClient { id: id.to_string(), secret: secret.to_string() };
        if clients.insert((p, b), client).is_some() {
            return Err(bad_input(format!("--oauth-client `{flag}`: platform `{id}` at bank `{bank}` is given twice")));
        }
    }
    let missing = missing_pairs(sc, |pair| clients.contains_key(&pair));
    if !missing.is_empty() {
        return Err(bad_input(format!(
            "--oauth-client: none for {}; --api {} needs each platform's OAuth client as each `bank-mock serve --api {}` prints it",
            missing.join(", "),
            api.as_str(),
            api.as_str()
        )));
    }
    Ok(clients)
}

/// The (platform, bank) pairs of the scenario `given` has no credential for, as `PLATFORM at BANK`.
fn missing_pairs(sc: &Scenario, given: impl Fn((PlatformId, BankId)) -> bool) -> Vec<String> {
    sc.platforms_by_id()
        .flat_map(|(p, platform)| platform.banks.iter().map(move |&b| (p, b, &platform.name)))
        .filter(|(p, b, _)| !given((*p, *b)))
        .map(|(_, b, platform)| format!("{platform} at {}", sc.banks[b].name))
        .collect()
}
