//! Negotiation routes: `POST /negotiations` (opened with a platform's client token), the
//! platform's moves (`offers`, `accept`, `withdraw`) and the bank's review of a negotiation,
//! each with that negotiation's own token; and `POST /agreements/{platform}/review`, with the
//! agreement's token.

use super::{AppState, Failure, Reply, authenticate, parse_body, parse_optional_body, path_param, sim_time};
use crate::desk::Answer;
use crate::policy::Verdict;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use testbed_core::negotiation::OutcomeId;
use testbed_core::scenario::Scenario;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OpenBody {
    platform: String,
    sim_time_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OfferBody {
    outcome: BTreeMap<String, String>,
    sim_time_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TimeBody {
    sim_time_ms: Option<u64>,
    #[serde(default)]
    after_incident: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WithdrawBody {
    clause: String,
    reason: String,
    sim_time_ms: Option<u64>,
}

fn outcome_json(scenario: &Scenario, o: OutcomeId) -> BTreeMap<String, String> {
    scenario.space.describe(o).into_iter().collect()
}

fn parse_outcome(scenario: &Scenario, labels: &BTreeMap<String, String>) -> Result<OutcomeId, Failure> {
    let space = &scenario.space;
    let mut choice = Vec::new();
    for (i, issue) in space.issues().iter().enumerate() {
        let path = format!("Outcome.{}", issue.name);
        let option = labels
            .get(&issue.name)
            .ok_or_else(|| Failure::bad("invalid_outcome", format!("missing issue `{}`", issue.name), Some(&path)))?;
        choice.push(space.option_index(i, option).ok_or_else(|| {
            Failure::bad(
                "invalid_outcome",
                format!("issue `{}` has no option `{option}` (options: {})", issue.name, issue.options.join(", ")),
                Some(&path),
            )
        })?);
    }
    if let Some(extra) = labels.keys().find(|k| space.issue_index(k).is_none()) {
        return Err(Failure::bad(
            "invalid_outcome",
            format!("unknown issue `{extra}`"),
            Some(&format!("Outcome.{extra}")),
        ));
    }
    space.outcome(&choice).map_err(|e| Failure::bad("invalid_outcome", e.to_string(), Some("Outcome")))
}

fn answer_json(scenario: &Scenario, answer: Answer) -> serde_json::Value {
    match answer {
        Answer::Counter { outcome, round } => {
            json!({"Decision": "counter", "Round": round, "Outcome": outcome_json(scenario, outcome)})
        }
        Answer::Agreed(a) => json!({
            "Decision": "accept",
            "Round": a.round,
            "Outcome": outcome_json(scenario, a.outcome),
            "Agreement": {
                "Platform": a.platform,
                "Categories": a.terms.category_names(),
                "Purposes": a.terms.purpose_names(),
                "Permissions": a.permissions,
                "LinkedCustomers": a.linked_customers,
                "Token": a.token,
            }
        }),
        Answer::Withdrew { withdrawal, round } => {
            json!({"Decision": "withdraw", "Round": round, "Clause": withdrawal.clause, "Reason": withdrawal.reason})
        }
        Answer::Timeout { rounds, last_offer } => {
            json!({"Decision": "timeout", "Round": rounds, "Outcome": outcome_json(scenario, last_offer)})
        }
    }
}

/// Opens a negotiation for the platform of the client token (401 without a valid one, 403 for
/// another kind of token or another bank's), checked before the body is read; the body's
/// `Platform` must be the token's (403 otherwise).
pub(super) async fn open_negotiation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let client = authenticate(&state, &headers)?.client_access()?;
    let b: OpenBody = parse_body(body)?;
    let now = sim_time(&state, b.sim_time_ms);
    let opened = state.desk().open_negotiation(client, &b.platform, now)?;
    let sc = &state.scenario;
    let issues: Vec<_> = sc.space.issues().iter().map(|i| json!({"Name": i.name, "Options": i.options})).collect();
    let body = json!({
        "NegotiationId": opened.id.to_string(),
        "NegotiationToken": opened.token,
        "Platform": b.platform,
        "Bank": sc.banks[state.bank].name,
        "Rounds": opened.rounds,
        "Opens": opened.opens.as_str(),
        "Issues": issues,
        "BankOffer": opened.bank_offer.map(|o| outcome_json(sc, o)),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn negotiation_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, "not_found", "no negotiation with that id", None))
}

/// Leave to move in the negotiation of the path: the bearer token must be that negotiation's own
/// (401 without a valid one, 403 for another's), checked before the body is read.
fn negotiation_access(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
) -> Result<crate::desk::NegotiationAccess, Failure> {
    let token = authenticate(state, headers)?;
    let id = negotiation_id(id)?;
    Ok(state.desk().negotiation_access(token, id)?)
}

pub(super) async fn offer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    let access = negotiation_access(&state, &headers, &id)?;
    let b: OfferBody = parse_body(body)?;
    let outcome = parse_outcome(&state.scenario, &b.outcome)?;
    let answer = state.desk().platform_offer(access, outcome, sim_time(&state, b.sim_time_ms))?;
    Ok(Json(answer_json(&state.scenario, answer)).into_response())
}

pub(super) async fn accept(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    let access = negotiation_access(&state, &headers, &id)?;
    let b: TimeBody = parse_optional_body(body)?;
    let answer = state.desk().platform_accept(access, sim_time(&state, b.sim_time_ms))?;
    Ok(Json(answer_json(&state.scenario, answer)).into_response())
}

pub(super) async fn withdraw(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    let access = negotiation_access(&state, &headers, &id)?;
    let b: WithdrawBody = parse_body(body)?;
    let w = testbed_core::negotiation::Withdrawal { clause: b.clause, reason: b.reason };
    let answer = state.desk().platform_withdraw(access, w, sim_time(&state, b.sim_time_ms))?;
    Ok(Json(answer_json(&state.scenario, answer)).into_response())
}

fn verdict_json(v: Verdict) -> serde_json::Value {
    match v {
        Verdict::Continue => json!({"Decision": "continue"}),
        Verdict::Withdraw(w) => json!({"Decision": "withdraw", "Clause": w.clause, "Reason": w.reason}),
        Verdict::Revoke(w) => json!({"Decision": "revoke", "Clause": w.clause, "Reason": w.reason}),
    }
}

pub(super) async fn review_negotiation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let id = path_param(path)?;
    let access = negotiation_access(&state, &headers, &id)?;
    let b: TimeBody = parse_optional_body(body)?;
    let v = state.desk().review_negotiation(access, sim_time(&state, b.sim_time_ms), b.after_incident)?;
    Ok(Json(verdict_json(v)).into_response())
}

pub(super) async fn review_agreement(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let platform = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let access = state.desk().agreement_access(token, &platform)?;
    let b: TimeBody = parse_optional_body(body)?;
    let now = state.sim_now();
    let v = state.desk().review_agreement(access, sim_time(&state, b.sim_time_ms), now, b.after_incident)?;
    Ok(Json(verdict_json(v)).into_response())
}
