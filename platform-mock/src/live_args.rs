//! The live run's command-line flags, parsed once for both front ends (`sim run --live` and
//! `platform-mock run`), and checked into [`LiveOptions`] with one line per bad value.

use crate::live::LiveOptions;
use clap::Args;
use std::time::Duration;
use testbed_core::wire::ApiProfile;

#[derive(Args, Clone, Debug)]
pub struct LiveArgs {
    /// Live: wall-clock length of the data phase, e.g. 10s. Each bank's data phase is compressed
    /// into it, as far as `--max-rate` and the bank's rate limit allow.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Live: ceiling on the total request rate, per second.
    #[arg(long, default_value_t = 20_000.0)]
    pub max_rate: f64,
    /// Live: compress each bank's phase into `--duration` even beyond 80% of the bank's rate
    /// limit and half its capacity (an overload test: expect 429s, queues and abandoned requests).
    #[arg(long)]
    pub ignore_rate_limits: bool,
    /// Live: most customers an agreement may link (one consent each, made before the data
    /// phase); a scenario linking more is refused.
    #[arg(long, default_value_t = LiveOptions::default().max_customers)]
    pub max_customers: u64,
    /// Live: most requests in flight at once (the platform's connections); a request that waits
    /// for one longer than the platform's timeout is abandoned (`client_timeout`).
    #[arg(long, default_value_t = LiveOptions::default().max_in_flight)]
    pub max_in_flight: usize,
    /// Live: the data API the banks speak: `testbed` (ours), `obie` (UK Open Banking v3.1.11)
    /// or `fdx` (FDX 6.4), as `bank-mock serve --api` serves it. Under a standard, customers
    /// link through OAuth 2.0 (authorization code with PKCE) and data is read in its shapes.
    #[arg(long, default_value = "testbed", value_parser = str::parse::<ApiProfile>)]
    pub api: ApiProfile,
}

/// `1ms` to `1h`, in the scenario files' duration syntax.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = testbed_core::serde_duration::parse(text)?;
    if d.is_zero() || d > Duration::from_secs(3600) { Err("allowed from 1ms to 1h".into()) } else { Ok(d) }
}

impl LiveArgs {
    /// The options these flags give, or one line naming the flag at fault and what it allows.
    pub fn options(&self) -> Result<LiveOptions, String> {
        if !(self.max_rate.is_finite() && (0.001..=10_000_000.0).contains(&self.max_rate)) {
            return Err(format!("--max-rate: {:?} is not a number from 0.001 to 10000000", self.max_rate));
        }
        if !(1..=10_000_000).contains(&self.max_customers) {
            return Err(format!("--max-customers: {} is not a whole number from 1 to 10000000", self.max_customers));
        }
        if !(1..=65_536).contains(&self.max_in_flight) {
            return Err(format!("--max-in-flight: {} is not a whole number from 1 to 65536", self.max_in_flight));
        }
        Ok(LiveOptions {
            duration: self.duration,
            max_rate: self.max_rate,
            ignore_rate_limits: self.ignore_rate_limits,
            max_customers: self.max_customers,
            max_in_flight: self.max_in_flight,
            api: self.api,
            ..LiveOptions::default()
        })
    }
}
