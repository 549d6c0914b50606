//! Negotiation routes: `POST /negotiations` (opened with a platform's client token), the
//! platform's moves (`offers`, `accept`, `withdraw`) and the bank's review of a negotiation,
//! each with that negotiation's own token; and `POST /agreements/{platform}/review`, with the
//! agreement's token.

use super::{AppState, Failure, Reply, authenticate, parse_body, parse_optional_body, path_param, sim_time};
use crate::desk::Answer;
use crate::policy::Verdict;
use crate::wire::{
    self, Decision, NegotiationAnswer, OfferBody, OpenBody, ReviewAnswer, ReviewDecision, TimeBody, WithdrawBody,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::sync::Arc;
use testbed_core::negotiation::OutcomeId;
use testbed_core::scenario::Scenario;

fn outcome_json(scenario: &Scenario, o: OutcomeId) -> BTreeMap<String, String> {
    scenario.space.describe(o).into_iter().collect()
}

/// The outcome of `scenario`'s space an offer's labels name: one option for every issue and no
/// other issue (400 `invalid_outcome` naming the first that is wrong).
pub fn parse_outcome(scenario: &Scenario, labels: &BTreeMap<String, String>) -> Result<OutcomeId, Failure> {
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

fn answer_wire(scenario: &Scenario, answer: Answer) -> NegotiationAnswer {
    let move_of = |decision, round| NegotiationAnswer {
        agreement: None,
        clause: None,
        decision,
        outcome: None,
        reason: None,
        round,
    };
    match answer {
        Answer::Counter { outcome, round } => {
            NegotiationAnswer { outcome: Some(outcome_json(scenario, outcome)), ..move_of(Decision::Counter, round) }
        }
        Answer::Agreed(a) => NegotiationAnswer {
            outcome: Some(outcome_json(scenario, a.outcome)),
            agreement: Some(wire::Agreement {
                categories: a.terms.category_names().into_iter().map(String::from).collect(),
                linked_customers: a.linked_customers,
                permissions: a.permissions,
                platform: a.platform,
                purposes: a.terms.purpose_names().into_iter().map(String::from).collect(),
                token: a.token,
            }),
            ..move_of(Decision::Accept, a.round)
        },
        Answer::Withdrew { withdrawal, round } => NegotiationAnswer {
            clause: Some(withdrawal.clause),
            reason: Some(withdrawal.reason),
            ..move_of(Decision::Withdraw, round)
        },
        Answer::Timeout { rounds, last_offer } => NegotiationAnswer {
            outcome: Some(outcome_json(scenario, last_offer)),
            ..move_of(Decision::Timeout, rounds)
        },
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
    let now = sim_time(&state, b.sim_time_ms)?;
    let opened = state.desk().open_negotiation(client, &b.platform, now)?;
    let sc = &state.scenario;
    let body = wire::Opened {
        bank: sc.banks[state.bank].name.clone(),
        bank_offer: opened.bank_offer.map(|o| outcome_json(sc, o)),
        issues: sc
            .space
            .issues()
            .iter()
            .map(|i| wire::Issue { name: i.name.clone(), options: i.options.clone() })
            .collect(),
        negotiation_id: opened.id.to_string(),
        negotiation_token: opened.token,
        opens: opened.opens.as_str().to_string(),
        platform: b.platform,
        rounds: opened.rounds,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn negotiation_id(id: &str) -> Result<u64, Failure> {
    super::resource_id(id, "negotiation")
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
    let answer = state.desk().platform_offer(access, outcome, sim_time(&state, b.sim_time_ms)?)?;
    Ok(Json(answer_wire(&state.scenario, answer)).into_response())
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
    let answer = state.desk().platform_accept(access, sim_time(&state, b.sim_time_ms)?)?;
    Ok(Json(answer_wire(&state.scenario, answer)).into_response())
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
    let answer = state.desk().platform_withdraw(access, w, sim_time(&state, b.sim_time_ms)?)?;
    Ok(Json(answer_wire(&state.scenario, answer)).into_response())
}

fn verdict_wire(v: Verdict) -> ReviewAnswer {
    let (decision, w) = match v {
        Verdict::Continue => return ReviewAnswer { clause: None, decision: ReviewDecision::Continue, reason: None },
        Verdict::Withdraw(w) => (ReviewDecision::Withdraw, w),
        Verdict::Revoke(w) => (ReviewDecision::Revoke, w),
    };
    ReviewAnswer { clause: Some(w.clause), decision, reason: Some(w.reason) }
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
    let v = state.desk().review_negotiation(access, sim_time(&state, b.sim_time_ms)?, b.after_incident)?;
    Ok(Json(verdict_wire(v)).into_response())
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
    let v = state.desk().review_agreement(access, sim_time(&state, b.sim_time_ms)?, now, b.after_incident)?;
    Ok(Json(verdict_wire(v)).into_response())
}
