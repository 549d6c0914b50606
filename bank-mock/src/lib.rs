//! `bank-mock`: a simulated bank. It holds what a bank *means*, without I/O: its negotiating
//! agent and its reactions to events (`policy`), the API semantics of consents, permissions and
//! field filtering (`api`), its serving path in both modes: the door (outages, rate limit,
//! workers on `testbed_core::queue`, injected errors) and the data decision (`serve`); the desk that holds negotiations, agreements, consents and event
//! subscriptions (`desk`), and the agreements it can start with (`agreed`: the scenario's own
//! negotiation, for `serve --agreed`); which fraud alerts fall due and what they carry (`alerts`); and the
//! hyper server (axum routes) that puts the desk behind HTTP (`http`), with the task that pushes
//! alerts to subscribers' callbacks (`push`); the API's JSON bodies as types, for the server and
//! its clients (`wire`).
//!
//! It is not a scheduler and owns no clock: callers (the virtual-time runner in `sim`, later
//! the HTTP server) pass the time in and act on what it answers.

pub mod agreed;
pub mod alerts;
pub mod api;
pub mod desk;
pub mod fdx;
pub mod http;
pub mod obie;
pub mod policy;
pub mod push;
pub mod serve;
pub mod tls;
pub use testbed_core::wire;

pub use policy::{Standing, Verdict, negotiator, review, review_after_incident};
