//! `sim`: runs testbed scenarios. It holds the virtual-time scheduler and runner, the writing of
//! report files, and the `sim` command line.
//!
//! It is not the domain: negotiation, policies, scenarios and the report model live in
//! `testbed-core`, the bank's and platform's behaviour in `bank-mock` and `platform-mock`.
//! Nothing depends on this crate.

pub mod compare;
pub mod exchange;
pub mod jobs;
pub mod live;
pub mod output;
pub mod play;
pub mod progress;
pub mod run;
pub mod shards;
pub mod suite;
pub mod sweep;
pub mod tournament;

pub use run::{VirtualRun, run, run_virtual};
