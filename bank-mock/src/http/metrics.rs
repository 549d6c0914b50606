//! The operational routes, which take no token: `/healthz`, `/openapi.json`, and `/metrics`
//! (Prometheus text: responses by route and status, the service model's queue counters, pushed
//! alerts, subscriptions, and what the bank disclosed and refused, per platform).
//!
//! `/metrics` reads the server's atomics and the desk's ledgers into one `Scrape` and has
//! prometheus-client write it in the Prometheus text format (0.0.4: no `# EOF`, a counter's
//! `_total` on its HELP, TYPE and samples alike). The counters stay the server's own atomics,
//! read at scrape time through a `Collector`: a labelled `Family` of the crate would take a lock
//! and hash the labels on every counted request, the hot path included.

use super::{ApiProfile, AppState, OPENAPI, Route, STATUS_SLOTS};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use testbed_core::scenario::{BankId, Scenario};

pub(super) async fn healthz() -> Response {
    healthz_response()
}

pub(super) fn healthz_response() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"Status":"ok"}"#).into_response()
}

pub(super) async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi.clone()).into_response()
}

/// The OpenAPI document a server of `scenario` serves: `OPENAPI` with `Outcome` narrowed to the
/// scenario's issues and their options, so that a client (or a schema-driven fuzzer) can tell a
/// well-formed offer from the document alone. Members come out in sorted order.
///
/// The UK Open Banking profile's document has its `/authorize` `client_id` narrowed to the
/// clients registered at this bank (the platforms the scenario pairs with it) instead.
pub(super) fn openapi_document(scenario: &Scenario, bank: BankId, api: ApiProfile) -> String {
    let source = match api {
        ApiProfile::Testbed => OPENAPI,
        ApiProfile::Obie => super::OPENAPI_OBIE,
        ApiProfile::Fdx => super::OPENAPI_FDX,
    };
    let mut doc: serde_json::Value = serde_json::from_str(source).expect("an OpenAPI document is JSON");
    if api != ApiProfile::Testbed {
        let clients: Vec<&str> =
            scenario.platforms.iter().filter(|p| p.banks.contains(&bank)).map(|p| p.name.as_str()).collect();
        if let Some(params) = doc["paths"]["/authorize"]["get"]["parameters"].as_array_mut() {
            for p in params.iter_mut().filter(|p| p["name"] == "client_id") {
                p["schema"] = json!({"type": "string", "enum": clients});
            }
        }
        return serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    }
    let issues = scenario.space.issues();
    let properties: serde_json::Map<String, serde_json::Value> =
        issues.iter().map(|i| (i.name.clone(), json!({"type": "string", "enum": i.options}))).collect();
    let example: serde_json::Map<String, serde_json::Value> =
        issues.iter().map(|i| (i.name.clone(), json!(i.options[0]))).collect();
    doc["components"]["schemas"]["Outcome"] = json!({
        "type": "object",
        "description": "One option label per issue of this server's scenario: every issue must be named, and nothing else.",
        "properties": properties,
        "required": issues.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        "additionalProperties": false,
        "example": example,
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape::read(&state)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).expect("writing to a String");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// One reading of everything `/metrics` shows, in the order it shows it.
#[derive(Debug)]
struct Scrape {
    bank: String,
    /// (route, status, responses), for the pairs that occurred.
    responses: Vec<(&'static str, String, u64)>,
    in_flight: u64,
    workers: u32,
    admitted: u64,
    wait_seconds: f64,
    busy_seconds: f64,
    alerts_sent: u64,
    alerts_failed: u64,
    dropped_slow_callback: u64,
    dropped_over_rate: u64,
    dropped_server_error: u64,
    subscriptions_ended: u64,
    subscriptions: u64,
    platforms: Vec<PlatformExposure>,
}

/// What the bank's ledger holds for one platform.
#[derive(Debug)]
struct PlatformExposure {
    platform: String,
    /// Field values disclosed by NIST class: low, moderate, high.
    field_values: [(&'static str, u64); 3],
    customers_exposed: u64,
    refused: Vec<(String, u64)>,
    violations: u64,
}

impl Scrape {
    fn read(state: &AppState) -> Scrape {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let responses = (state.responses.iter().enumerate())
            .filter(|(_, n)| load(n) > 0)
            .map(|(i, n)| (Route::ALL[i / STATUS_SLOTS].name(), (i % STATUS_SLOTS).to_string(), load(n)))
            .collect();
        let push = &state.push;
        let (admitted, wait, busy, workers) = state.door_figures();
        let desk = state.desk();
        let spec = desk.population().clone();
        let subscriptions = desk.subscriptions().count() as u64;
        let platforms = (desk.ledgers().iter())
            .map(|(platform, ledger)| {
                let s = ledger.summarize(&spec, platform, testbed_core::terms::DEFAULT_SENSITIVITY_WEIGHTS);
                PlatformExposure {
                    platform: platform.clone(),
                    field_values: [
                        ("low", s.field_values.low),
                        ("moderate", s.field_values.moderate),
                        ("high", s.field_values.high),
                    ],
                    customers_exposed: s.customers_exposed,
                    refused: s.refused.into_iter().collect(),
                    violations: s.violations,
                }
            })
            .collect();
        drop(desk);
        Scrape {
            bank: state.scenario.banks[state.bank].name.clone(),
            responses,
            in_flight: load(&state.in_flight),
            workers,
            admitted,
            wait_seconds: wait.as_secs_f64(),
            busy_seconds: busy,
            alerts_sent: load(&push.sent),
            alerts_failed: load(&push.failed),
            dropped_slow_callback: load(&push.dropped_slow_callback),
            dropped_over_rate: load(&push.dropped_rate),
            dropped_server_error: load(&push.dropped_server_error),
            subscriptions_ended: load(&push.subscriptions_ended),
            subscriptions,
            platforms,
        }
    }
}

/// One family: its HELP and TYPE lines, then `samples` writes each of its samples. `name` is
/// without a counter's `_total`, which the encoder adds.
fn family<'e>(
    encoder: &'e mut DescriptorEncoder<'_>,
    name: &'e str,
    help: &str,
    kind: MetricType,
    samples: impl FnOnce(&mut MetricEncoder<'e>) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    samples(&mut metric)
}

/// Writes one sample with `labels` into a family.
fn sample(
    family: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    value: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    value.encode(family.encode_family(labels)?)
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let bank = self.bank.as_str();
        let b = [("bank", bank)];
        let e = &mut encoder;
        family(e, "bank_http_responses", "Responses by route and status.", Counter, |f| {
            for (route, status, n) in &self.responses {
                sample(f, &[("bank", bank), ("route", route), ("status", status)], &ConstCounter::new(*n))?;
            }
            Ok(())
        })?;
        family(e, "bank_in_flight_requests", "Data requests being served.", Gauge, |f| {
            sample(f, &b, &ConstGauge::new(self.in_flight))
        })?;
        family(e, "bank_workers", "Workers of the bank's service model.", Gauge, |f| {
            sample(f, &b, &ConstGauge::new(self.workers))
        })?;
        let help = "Data requests that got a worker (past outages, tokens and the rate limit).";
        family(e, "bank_requests_admitted", help, Counter, |f| sample(f, &b, &ConstCounter::new(self.admitted)))?;
        let help = "Time admitted requests waited for a free worker.";
        family(e, "bank_queue_wait_seconds", help, Counter, |f| sample(f, &b, &ConstCounter::new(self.wait_seconds)))?;
        let help = "Time workers were held by the service time of the bank's service model.";
        family(e, "bank_worker_busy_seconds", help, Counter, |f| sample(f, &b, &ConstCounter::new(self.busy_seconds)))?;
        let help = "Fraud alerts sent to subscribers' callbacks.";
        family(e, "bank_alerts_sent", help, Counter, |f| sample(f, &b, &ConstCounter::new(self.alerts_sent)))?;
        let help = "Sent alerts the callback did not acknowledge in time.";
        family(e, "bank_alerts_failed", help, Counter, |f| sample(f, &b, &ConstCounter::new(self.alerts_failed)))?;
        let help =
            "Alerts not sent: the callback was slow, over the subscription's rate, or server errors to the last retry.";
        family(e, "bank_alerts_dropped", help, Counter, |f| {
            for (reason, n) in [
                ("slow_callback", self.dropped_slow_callback),
                ("max_events_per_second", self.dropped_over_rate),
                ("server_error", self.dropped_server_error),
            ] {
                sample(f, &[("bank", bank), ("reason", reason)], &ConstCounter::new(n))?;
            }
            Ok(())
        })?;
        let help = "Subscriptions the bank ended because their callback kept failing.";
        family(e, "bank_event_subscriptions_ended", help, Counter, |f| {
            sample(f, &b, &ConstCounter::new(self.subscriptions_ended))
        })?;
        family(e, "bank_event_subscriptions", "Active event subscriptions.", Gauge, |f| {
            sample(f, &b, &ConstGauge::new(self.subscriptions))
        })?;
        // Each family in one group, as the text format requires, platform by platform within it.
        let help = "Field values disclosed, by platform and NIST class.";
        family(e, "bank_disclosed_field_values", help, Counter, |f| {
            for p in &self.platforms {
                for (class, n) in p.field_values {
                    let labels = [("bank", bank), ("platform", p.platform.as_str()), ("class", class)];
                    sample(f, &labels, &ConstCounter::new(n))?;
                }
            }
            Ok(())
        })?;
        let help = "Distinct customers disclosed to the platform.";
        family(e, "bank_customers_exposed", help, Gauge, |f| {
            for p in &self.platforms {
                sample(f, &[("bank", bank), ("platform", p.platform.as_str())], &ConstGauge::new(p.customers_exposed))?;
            }
            Ok(())
        })?;
        let help = "Data requests the desk refused, by platform and reason.";
        family(e, "bank_refused_requests", help, Counter, |f| {
            for p in &self.platforms {
                for (reason, n) in &p.refused {
                    let labels = [("bank", bank), ("platform", p.platform.as_str()), ("reason", reason.as_str())];
                    sample(f, &labels, &ConstCounter::new(*n))?;
                }
            }
            Ok(())
        })?;
        let help = "Requests beyond the agreed terms, by platform.";
        family(e, "bank_term_violations", help, Counter, |f| {
            for p in &self.platforms {
                sample(f, &[("bank", bank), ("platform", p.platform.as_str())], &ConstCounter::new(p.violations))?;
            }
            Ok(())
        })
    }
}
