//! The `sim` command line: thin glue between files, the runner and the terminal.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sim::output::{SimError, load_scenario, read_scenario};
use std::path::PathBuf;
use std::process::ExitCode;
use testbed_report::files::write_reports;
use testbed_report::terminal::summary;

/// Exit code for bad input (scenario files, flags), as clap uses for bad flags.
use testbed_report::exit;

#[derive(Parser)]
#[command(name = "sim", version, about = "Bank/platform data-sharing testbed: run and check scenarios")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write report.json, report.md, report.html and transcript.jsonl.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seed to use instead of the scenario's own.
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder [default: reports/<scenario name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write what was disclosed, one row per exposed customer (CSV).
        #[arg(long, value_name = "FILE.csv")]
        export_exposed: Option<PathBuf>,
        /// Also write each negotiation's two utility functions, outcome by outcome, as they stood
        /// at its end (JSON), to check the deal-quality figures with another tool (NegMAS).
        #[arg(long, value_name = "FILE.json")]
        export_ufuns: Option<PathBuf>,
        /// Run live: one bank-mock server per bank on 127.0.0.1, real HTTP.
        #[arg(long)]
        live: bool,
        #[command(flatten)]
        live_args: platform_mock::live_args::LiveArgs,
        /// No progress spinner on stderr.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        budget: BudgetArgs,
        /// Run shard I of N: the whole negotiation, and partition I of every bank (each needs
        /// `[banks.service] partitions = N`); writes shard.json to --out [default:
        /// reports/<scenario name>-shard-I-of-N] for `sim merge`.
        #[arg(long, value_name = "I/N", value_parser = sim::shards::parse_shard,
              conflicts_with_all = ["live", "export_exposed", "export_ufuns", "shard_count"])]
        shard: Option<testbed_core::workload::Shard>,
        /// Run one shard of N, its index taken from JOB_COMPLETION_INDEX (a Kubernetes Indexed
        /// Job sets it) or SLURM_ARRAY_TASK_ID; as --shard otherwise.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(testbed_core::scenario::MAX_PARTITIONS)),
              conflicts_with_all = ["live", "export_exposed", "export_ufuns"])]
        shard_count: Option<u32>,
    },
    /// Merge the shards of one sharded run (`sim run --shard`) into the report the one-process
    /// run writes: report.json (byte for byte), report.md, report.html, transcript.jsonl.
    /// Exit code 99 when a threshold is breached, 2 for missing, duplicate or foreign shards.
    Merge {
        /// The shards' --out folders (or their shard.json files), all N of them, in any order.
        #[arg(required = true, value_name = "PART_DIR")]
        parts: Vec<PathBuf>,
        /// Output folder [default: reports/<scenario name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write what was disclosed, one row per exposed customer (CSV).
        #[arg(long, value_name = "FILE.csv")]
        export_exposed: Option<PathBuf>,
    },
    /// Run many scenarios in parallel; check their thresholds; write suite.json and junit.xml.
    /// Exit code 99 when a threshold is breached, 2 when a scenario cannot be loaded.
    Suite {
        /// Scenario files, or folders whose *.toml files to run (sorted by name).
        #[arg(required = true, value_name = "DIR|FILE")]
        inputs: Vec<PathBuf>,
        /// Scenarios run at once [default: available cores].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Output folder: one folder of reports per scenario, suite.json, junit.xml.
        #[arg(long, default_value = "reports/suite")]
        out: PathBuf,
        /// No progress bar on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file(s) (TOML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Run a scenario over a grid of parameter values and several seeds; write sweep.csv and
    /// sweep.html (mean across seeds against the swept parameter, with a 95% confidence band).
    Sweep {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// KEY=FROM..TO:STEP (inclusive), KEY=V1,V2,… or KEY=VALUE; repeat for a grid. KEY is a
        /// dotted path into the scenario file; [NAME] or [INDEX] picks an entry of a list of
        /// tables by its name, id or kind: platforms[messenger].trust,
        /// banks[citi-like].policy.min_platform_trust, events[0].trust_change, data.duration.
        #[arg(long = "set", value_name = "KEY=RANGE", required = true)]
        sets: Vec<String>,
        /// Seeds per grid point: the scenario's seed, seed+1, …, seed+N-1.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        seeds: u32,
        /// Output folder [default: reports/<scenario name>-sweep].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Runs at once [default: the number of CPUs].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
        /// Output to chart and tabulate; repeatable [default: withdrawn (per bank),
        /// withdrawal_rate, customers_exposed, p99_ms]. NAME[*] picks a per-bank output.
        #[arg(long = "metric", value_name = "NAME")]
        metrics: Vec<String>,
        /// No progress bar on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Play every strategy against every strategy, in both roles, on every domain and seed;
    /// write the leaderboard as leaderboard.csv, tournament.json and tournament.html.
    Tournament {
        /// Strategies, comma-separated: boulware, linear, conceder, hardliner, tit_for_tat,
        /// aspiration, micro, nice_tit_for_tat.
        #[arg(long, value_delimiter = ',', required = true)]
        strategies: Vec<String>,
        /// Domains, comma-separated: scenario files (each of their platform–bank pairs is a
        /// domain) and generated domains: zero-sum, monotonic, general.
        #[arg(long, value_delimiter = ',', required = true)]
        domains: Vec<String>,
        /// Seeds per domain and pair of strategies: 1, 2, … N.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        seeds: u32,
        /// Games at once [default: the number of CPUs].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: Option<u32>,
        /// Output folder [default: reports/tournament].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar on stderr.
        #[arg(long)]
        quiet: bool,
    },
    /// Play one side of a scenario's negotiations yourself, on a page served on 127.0.0.1,
    /// against its agents; then the data phase runs and the same report files as `run` are
    /// written.
    Play {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The platform or bank whose side you take (its name in the scenario).
        #[arg(long = "as", value_name = "BANK|PLATFORM")]
        seat: String,
        /// Seed to use instead of the scenario's own.
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder [default: reports/<scenario name>-play].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The page's address (loopback only; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Give up when the page has made no move for this long (e.g. 30m, 2h; at least 1s).
        #[arg(long, default_value = "1h", value_parser = idle_timeout)]
        idle_timeout: std::time::Duration,
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// Compare two report.json files: outcomes, latency and exposure side by side, with deltas.
    Compare {
        /// The first report (A).
        a: PathBuf,
        /// The second report (B); deltas are B - A, ratios B / A.
        b: PathBuf,
        /// Output folder for compare.md and compare.json [default: reports/compare-<A>-vs-<B>].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The work a virtual run may take on, as `run` and `play` check it before they start.
#[derive(clap::Args)]
struct BudgetArgs {
    /// Refuse a virtual run estimated to simulate more requests than this (the scenario's
    /// `[data] max_requests` can raise it; `sim validate` prints the estimate).
    #[arg(long, value_name = "N", default_value_t = testbed_core::budget::DEFAULT_MAX_REQUESTS)]
    max_requests: u64,
    /// Refuse a virtual run estimated to need more memory than this, in MiB (the scenario's
    /// `[data] max_memory_mb` can raise it).
    #[arg(long, value_name = "MB", default_value_t = testbed_core::budget::DEFAULT_MAX_MEMORY_MB)]
    max_memory_mb: u64,
}

impl BudgetArgs {
    /// The same for one of `count` shards of `sc`'s run (1: the whole run).
    fn check_shard(
        &self,
        sc: &testbed_core::scenario::Scenario,
        path: &std::path::Path,
        count: u32,
    ) -> Result<(), SimError> {
        let budget = testbed_core::budget::Budget::for_scenario(sc, self.max_requests, self.max_memory_mb);
        (testbed_core::budget::estimate(sc).of_shard(count).check(budget))
            .map_err(|error| SimError::Scenario { path: path.display().to_string(), error })
    }

    /// Refuses `sc` (read from `path`) when its estimate is above the budget, in one line.
    fn check(&self, sc: &testbed_core::scenario::Scenario, path: &std::path::Path) -> Result<(), SimError> {
        self.check_shard(sc, path, 1)
    }
}

/// `--idle-timeout`: a duration of at least a second.
fn idle_timeout(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("{text} is shorter than the allowed 1s"));
    }
    Ok(d)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            let bad_input = e.downcast_ref::<SimError>().is_some_and(SimError::is_bad_input);
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { exit::BAD_INPUT } else { 1 })
        }
    }
}

fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            scenario,
            seed,
            out,
            export_exposed,
            export_ufuns,
            live,
            live_args,
            quiet,
            budget,
            shard,
            shard_count,
        } => {
            let shard = match (shard, shard_count) {
                (Some(shard), _) => Some(shard),
                (None, Some(count)) => Some(
                    sim::shards::shard_from_env(count, |name| {
                        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
                    })
                    .map_err(SimError::Usage)?,
                ),
                (None, None) => None,
            };
            let (text, mut sc) = read_scenario(&scenario)?;
            if !live {
                budget.check_shard(&sc, &scenario, shard.map_or(1, |s| s.count))?;
            }
            if let Some(seed) = seed {
                sc.seed = seed;
            }
            if let Some(shard) = shard {
                return run_shard(&scenario, &text, &sc, shard, out, quiet);
            }
            if let Some(why) =
                live.then(|| testbed_core::budget::too_many_customers(&sc, live_args.max_customers)).flatten()
            {
                return Err(SimError::Usage(why).into());
            }
            if !live && live_args.api.is_standard() {
                return Err(SimError::Usage("--api works with --live only (a virtual run has no HTTP)".into()).into());
            }
            if let Some(why) = live.then(|| live_args.api.refusal(&sc, |_| true)).flatten() {
                return Err(SimError::Usage(why).into());
            }
            if live && (export_exposed.is_some() || export_ufuns.is_some()) {
                let flag = if export_exposed.is_some() { "--export-exposed" } else { "--export-ufuns" };
                return Err(SimError::Usage(format!("{flag} works in virtual mode only")).into());
            }
            let opts = live_args.options().map_err(SimError::Usage)?;
            let spinner = sim::progress::Progress::spinner(&sc.name, quiet);
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (report, exposed, ufuns) = if live {
                tracing::info!(scenario = %sc.name, seed = sc.seed, "running live on 127.0.0.1");
                let report = sim::live::run_live(std::sync::Arc::new(sc.clone()), &opts, stop.clone())
                    .map_err(anyhow::Error::msg)?;
                (report, testbed_core::exposure::Exposed::default(), Vec::new())
            } else {
                tracing::info!(scenario = %sc.name, seed = sc.seed, "running in virtual time");
                let run = sim::run_virtual(&sc);
                (run.report, run.exposed, run.ufuns)
            };
            spinner.finish();
            let interrupted = stop.load(std::sync::atomic::Ordering::Relaxed);
            let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
            finish_run(
                &sc,
                &report,
                Exports { exposed: &exposed, ufuns: &ufuns, export_exposed, export_ufuns },
                &dir,
                interrupted,
            )
        }
        Command::Merge { parts, out, export_exposed } => {
            let (sc, run) = sim::shards::merge(&parts)?;
            let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(&sc.name));
            let exports = Exports { exposed: &run.exposed, ufuns: &run.ufuns, export_exposed, export_ufuns: None };
            finish_run(&sc, &run.report, exports, &dir, false)
        }
        Command::Suite { inputs, jobs, out, quiet } => {
            let files = sim::suite::scenario_files(&inputs)?;
            let jobs = jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from);
            let suite = sim::suite::run_suite(&files, &sim::suite::SuiteOptions { jobs, out: out.clone(), quiet })?;
            for error in suite.scenarios.iter().filter_map(|s| s.error.as_ref()) {
                eprintln!("error: {error}");
            }
            let written = [sim::suite::SUITE_JSON, sim::suite::JUNIT_XML].map(|f| out.join(f).display().to_string());
            print_out(&format!("{}wrote {}\n", sim::suite::render_table(&suite), written.join(", ")));
            Ok(ExitCode::from(suite.exit_code))
        }
        Command::Validate { scenarios } => {
            for path in scenarios {
                let sc = load_scenario(&path)?;
                let pairs: usize = sc.platforms.iter().map(|p| p.banks.len()).sum();
                print_out(&format!(
                    "{}: ok ({} platforms, {} banks, {} negotiations, {} events, {} outcomes per negotiation; {})\n",
                    path.display(),
                    sc.platforms.len(),
                    sc.banks.len(),
                    pairs,
                    sc.events.len(),
                    sc.space.len(),
                    testbed_core::budget::estimate(&sc).describe()
                ));
                // Valid, but `sim run` would refuse it at the default budget: say so, so that
                // a check before a run does not miss the refusal.
                let defaults = BudgetArgs {
                    max_requests: testbed_core::budget::DEFAULT_MAX_REQUESTS,
                    max_memory_mb: testbed_core::budget::DEFAULT_MAX_MEMORY_MB,
                };
                if let Err(refused) = defaults.check(&sc, &path) {
                    eprintln!("warning: `sim run` refuses it at the default budget: {refused}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep { scenario, sets, seeds, out, jobs, metrics, quiet } => {
            let plan = sim::sweep::plan(&scenario, &sets, seeds, &metrics)?;
            let jobs = jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |j| j as usize);
            let progress = sim::progress::Progress::new(plan.runs() as u64, "sweep", quiet);
            let runs = sim::sweep::run(&plan, jobs, &|| progress.inc());
            progress.finish();
            print_out(&sim::sweep::write(&plan, &runs, &out.unwrap_or_else(|| sim::sweep::default_out(&plan)))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Tournament { strategies, domains, seeds, jobs, out, quiet } => {
            let plan = sim::tournament::plan(&strategies, &domains, seeds)?;
            let dir = out.unwrap_or_else(sim::tournament::default_out);
            // A folder that cannot be made is found before the games, not after them.
            std::fs::create_dir_all(&dir)
                .map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
            let jobs = jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |j| j as usize);
            let progress = sim::progress::Progress::new(plan.games() as u64, "tournament", quiet);
            let games = sim::tournament::play(&plan, jobs, &|| progress.inc());
            progress.finish();
            print_out(&sim::tournament::write(&plan, &games, &dir)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Play { scenario, seat, seed, out, listen, idle_timeout, budget } => {
            let mut sc = load_scenario(&scenario)?;
            budget.check(&sc, &scenario)?;
            if let Some(seed) = seed {
                sc.seed = seed;
            }
            let seat = sim::play::seat_of(&sc, &seat)?;
            let dir = out.unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-play", sc.name)));
            let play = sim::play::start(sc, seat, listen, dir)?;
            print_out(&format!("play at {}\n", play.url));
            match play.wait(idle_timeout) {
                sim::play::Ended::Done { report, wrote, note } => {
                    if let Some(note) = note {
                        eprintln!("{note}: the report was written");
                    }
                    let mut out = summary(&report);
                    for path in wrote {
                        out.push_str(&format!("wrote {}\n", path.display()));
                    }
                    print_out(&out);
                    Ok(ExitCode::from(exit::of_run(&report, false)))
                }
                sim::play::Ended::Failed(error) => Err(anyhow::anyhow!(error)),
                sim::play::Ended::Left(why) => {
                    eprintln!("error: {why}");
                    Ok(ExitCode::from(exit::INTERRUPTED))
                }
            }
        }
        Command::Compare { a, b, out } => {
            print_out(&sim::compare::execute(&a, &b, out.as_deref())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What a run may export beside its report, and where.
struct Exports<'a> {
    exposed: &'a testbed_core::exposure::Exposed,
    ufuns: &'a [testbed_core::negotiation::quality::UfunExport],
    export_exposed: Option<PathBuf>,
    export_ufuns: Option<PathBuf>,
}

/// Writes a run's report files (and exports) to `dir`, prints its summary and thresholds, and
/// gives its exit code: `sim run` and `sim merge` end the same way.
fn finish_run(
    sc: &testbed_core::scenario::Scenario,
    report: &testbed_core::report::Report,
    exports: Exports<'_>,
    dir: &std::path::Path,
    interrupted: bool,
) -> anyhow::Result<ExitCode> {
    let mut written = write_reports(dir, report).context("writing reports")?;
    if let Some(path) = exports.export_exposed {
        testbed_report::files::write_atomically(&path, exports.exposed.to_csv(sc).as_bytes())
            .context("writing the exposed-data export")?;
        written.push(path);
    }
    if let Some(path) = exports.export_ufuns {
        let mut json = serde_json::to_string(exports.ufuns).context("writing the utility functions")?;
        json.push('\n');
        testbed_report::files::write_atomically(&path, json.as_bytes()).context("writing the utility functions")?;
        written.push(path);
    }
    let mut out = summary(report);
    if let Some(results) = &report.thresholds {
        out.push_str(&format!("\nThresholds\n{}", testbed_report::terminal::thresholds(results)));
    }
    for path in written {
        out.push_str(&format!("wrote {}\n", path.display()));
    }
    print_out(&out);
    let code = exit::of_run(report, interrupted);
    match code {
        exit::INTERRUPTED => eprintln!("error: interrupted; the report covers the part that ran"),
        exit::THRESHOLDS_BREACHED => {
            let breached = report.thresholds.as_deref().map_or(0, testbed_core::thresholds::breached);
            eprintln!("error: {breached} threshold(s) breached");
        }
        _ => {}
    }
    Ok(ExitCode::from(code))
}

/// `sim run --shard`: runs one shard and writes its shard.json.
fn run_shard(
    path: &std::path::Path,
    text: &str,
    sc: &testbed_core::scenario::Scenario,
    shard: testbed_core::workload::Shard,
    out: Option<PathBuf>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let label = format!("{} shard {}/{}", sc.name, shard.index, shard.count);
    let spinner = sim::progress::Progress::spinner(&label, quiet);
    tracing::info!(scenario = %sc.name, seed = sc.seed, shard = %label, "running one shard in virtual time");
    let file = sim::shards::run(path, text, sc, shard)?;
    spinner.finish();
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-shard-{}-of-{}", sc.name, shard.index, shard.count))
    });
    let written = sim::shards::write(&dir, &file)?;
    let (requests, events) =
        file.parts.as_ref().map_or((0, 0), |p| (p.flows.iter().map(|f| f.requests).sum(), p.events));
    print_out(&format!(
        "shard {}/{} of {} (seed {}): {requests} requests, {events} events\nwrote {}\n",
        shard.index,
        shard.count,
        sc.name,
        sc.seed,
        written.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`sim run … | head`) is not an error worth a panic.
fn print_out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}
