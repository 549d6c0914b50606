//! The operational routes, which take no token: `/healthz`, `/openapi.json`, and `/metrics`
//! (Prometheus text: responses by route and status, the service model's queue counters, pushed
//! alerts, subscriptions, and what the bank disclosed and refused, per platform).

use super::{AppState, OPENAPI, Route, STATUS_SLOTS};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(super) async fn healthz() -> Response {
    healthz_response()
}

pub(super) fn healthz_response() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"Status":"ok"}"#).into_response()
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    let bank = &state.scenario.banks[state.bank].name;
    out.push_str(
        "# HELP bank_http_responses_total Responses by route and status.\n# TYPE bank_http_responses_total counter\n",
    );
    for (i, n) in state.responses.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let (route, status) = (Route::ALL[i / STATUS_SLOTS].name(), i % STATUS_SLOTS);
            out.push_str(&format!(
                "bank_http_responses_total{{bank=\"{bank}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_in_flight_requests Data requests being served.\n# TYPE bank_in_flight_requests gauge\n");
    out.push_str(&format!("bank_in_flight_requests{{bank=\"{bank}\"}} {}\n", state.in_flight.load(Ordering::Relaxed)));
    let queue = &state.queue;
    let seconds = |ns: &AtomicU64| ns.load(Ordering::Relaxed) as f64 / 1e9;
    for (name, kind, help, value) in [
        (
            "bank_workers",
            "gauge",
            "Workers of the bank's service model.",
            state.scenario.banks[state.bank].service.workers.to_string(),
        ),
        (
            "bank_requests_admitted_total",
            "counter",
            "Data requests that got a worker (past outages, tokens and the rate limit).",
            queue.admitted.load(Ordering::Relaxed).to_string(),
        ),
        (
            "bank_queue_wait_seconds_total",
            "counter",
            "Time admitted requests waited for a free worker.",
            format!("{:.9}", seconds(&queue.wait_ns)),
        ),
        (
            "bank_worker_busy_seconds_total",
            "counter",
            "Time workers were held by the service time of the bank's service model.",
            format!("{:.9}", seconds(&queue.busy_ns)),
        ),
    ] {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{bank=\"{bank}\"}} {value}\n"));
    }
    let push = &state.push;
    out.push_str("# HELP bank_alerts_sent_total Fraud alerts sent to subscribers' callbacks.\n# TYPE bank_alerts_sent_total counter\n");
    out.push_str(&format!("bank_alerts_sent_total{{bank=\"{bank}\"}} {}\n", push.sent.load(Ordering::Relaxed)));
    out.push_str("# HELP bank_alerts_failed_total Sent alerts the callback did not acknowledge in time.\n# TYPE bank_alerts_failed_total counter\n");
    out.push_str(&format!("bank_alerts_failed_total{{bank=\"{bank}\"}} {}\n", push.failed.load(Ordering::Relaxed)));
    out.push_str("# HELP bank_alerts_dropped_total Alerts not sent: the callback was slow, or over the subscription's rate.\n# TYPE bank_alerts_dropped_total counter\n");
    for (reason, n) in [("slow_callback", &push.dropped_slow_callback), ("max_events_per_second", &push.dropped_rate)] {
        out.push_str(&format!(
            "bank_alerts_dropped_total{{bank=\"{bank}\",reason=\"{reason}\"}} {}\n",
            n.load(Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP bank_event_subscriptions_ended_total Subscriptions the bank ended because their callback kept failing.\n# TYPE bank_event_subscriptions_ended_total counter\n");
    out.push_str(&format!(
        "bank_event_subscriptions_ended_total{{bank=\"{bank}\"}} {}\n",
        push.subscriptions_ended.load(Ordering::Relaxed)
    ));
    let desk = state.desk();
    let spec = desk.population().clone();
    out.push_str(
        "# HELP bank_event_subscriptions Active event subscriptions.\n# TYPE bank_event_subscriptions gauge\n",
    );
    out.push_str(&format!("bank_event_subscriptions{{bank=\"{bank}\"}} {}\n", desk.subscriptions().count()));
    // Each family in one group, as the text format requires, platform by platform within it.
    let summaries: Vec<_> = desk
        .ledgers()
        .iter()
        .map(|(platform, ledger)| {
            (platform.clone(), ledger.summarize(&spec, platform, testbed_core::terms::DEFAULT_SENSITIVITY_WEIGHTS))
        })
        .collect();
    drop(desk);
    out.push_str("# HELP bank_disclosed_field_values_total Field values disclosed, by platform and NIST class.\n# TYPE bank_disclosed_field_values_total counter\n");
    for (platform, s) in &summaries {
        for (class, n) in
            [("low", s.field_values.low), ("moderate", s.field_values.moderate), ("high", s.field_values.high)]
        {
            out.push_str(&format!(
                "bank_disclosed_field_values_total{{bank=\"{bank}\",platform=\"{platform}\",class=\"{class}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_customers_exposed Distinct customers disclosed to the platform.\n# TYPE bank_customers_exposed gauge\n");
    for (platform, s) in &summaries {
        out.push_str(&format!(
            "bank_customers_exposed{{bank=\"{bank}\",platform=\"{platform}\"}} {}\n",
            s.customers_exposed
        ));
    }
    out.push_str("# HELP bank_refused_requests_total Data requests the desk refused, by platform and reason.\n# TYPE bank_refused_requests_total counter\n");
    for (platform, s) in &summaries {
        for (reason, n) in &s.refused {
            out.push_str(&format!(
                "bank_refused_requests_total{{bank=\"{bank}\",platform=\"{platform}\",reason=\"{reason}\"}} {n}\n"
            ));
        }
    }
    out.push_str("# HELP bank_term_violations_total Requests beyond the agreed terms, by platform.\n# TYPE bank_term_violations_total counter\n");
    for (platform, s) in &summaries {
        out.push_str(&format!(
            "bank_term_violations_total{{bank=\"{bank}\",platform=\"{platform}\"}} {}\n",
            s.violations
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
