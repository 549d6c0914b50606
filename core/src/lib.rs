//! `testbed-core`: the domain of the bank/platform data-sharing testbed.
//!
//! It holds the vocabulary (issues, terms, policies, strategies), the negotiation agents and
//! the stacked-alternating-offers protocol, delay distributions, seeded random streams, the
//! scenario format, the report model, and the bank API's JSON bodies as types (`wire`), which
//! the bank's server and the platform's client both speak. Everything here is a pure function or a state machine
//! that takes simulated time as an argument.
//!
//! The negotiation session (`session`) runs every (platform, bank) pair of a scenario on one
//! virtual-time event queue (`scheduler`); the banks' decisions are made in-process or, in
//! live mode, by a remote bank behind HTTP, so both modes share one schedule and one outcome.
//!
//! It is not a runtime: no tokio, no hyper, no files, no `Instant::now()`. `sim` (virtual time)
//! and the hyper services in `bank-mock`/`platform-mock` (live) drive it.

mod error;

pub mod budget;
pub mod delay;
pub mod exposure;
pub mod ids;
pub mod latency;
pub mod negotiation;
pub mod pace;
pub mod population;
pub mod queue;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod scheduler;
pub mod serde_bits;
pub mod serde_duration;
pub mod session;
pub mod terms;
pub mod thresholds;
pub mod time;
pub mod vocabulary;
pub mod wire;
pub mod workload;

pub use error::CoreError;
pub use time::SimTime;
