//! Account-access consents: `POST /account-access-consents` under an agreement's token (which
//! answers with the consent's access token), `GET` and `DELETE /account-access-consents/{id}`.

use super::{AppState, Failure, Reply, authenticate, calendar_ms, calendar_text, parse_body, path_param};
use crate::api;
use crate::desk::{CONSENTS_NEED, TokenKind};
use crate::wire::{ConsentBody, ConsentData, ConsentResponse, ConsentView, Revocation};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;

fn consent_wire(c: &api::Consent, customer: u64) -> ConsentView {
    ConsentView {
        consent_id: c.id.clone(),
        creation_date_time: calendar_text(c.created_at.as_millis()),
        customer_id: customer,
        expiration_date_time: c.expiration.map(|e| calendar_text(e.as_millis())),
        permissions: c.permissions.clone(),
        revocation: c.revocation.as_ref().map(|r| Revocation {
            at: calendar_text(r.at.as_millis()),
            by: r.by.clone(),
            clause: r.clause.clone(),
            why: r.why.clone(),
        }),
        status: c.status,
        transaction_from_date_time: c.transaction_from_ms.map(calendar_text),
        transaction_to_date_time: c.transaction_to_ms.map(calendar_text),
    }
}

pub(super) async fn create_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    // The token before the body: a caller without one learns nothing about the schema.
    let token = authenticate(&state, &headers)?;
    // The token's kind too: a wrong token gets 403 whatever the body.
    token.must_be(TokenKind::Agreement, CONSENTS_NEED)?;
    let b: ConsentBody = parse_body(body)?;
    let (from, to) = consent_window(&b.data)?;
    let now = state.sim_now();
    let (consent, access) =
        state.desk().create_consent(token, b.data.customer_id, b.data.permissions, (from, to), now)?;
    let body = ConsentResponse { access_token: Some(access), data: consent_wire(&consent, b.data.customer_id) };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The transaction window a consent request asks for, in calendar ms (either end open): 400
/// for a date that is not RFC 3339 or is before day 0, or a window ending before it starts.
pub fn consent_window(data: &ConsentData) -> Result<(Option<u64>, Option<u64>), Failure> {
    let from = data
        .transaction_from_date_time
        .as_deref()
        .map(|t| calendar_ms(t, "Data.TransactionFromDateTime"))
        .transpose()?;
    let to =
        data.transaction_to_date_time.as_deref().map(|t| calendar_ms(t, "Data.TransactionToDateTime")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Failure::bad(
            "invalid_date",
            "TransactionFromDateTime is after TransactionToDateTime",
            Some("Data"),
        ));
    }
    Ok((from, to))
}

fn consent_id(id: &str) -> Result<u64, Failure> {
    super::resource_id(id, "consent")
}

pub(super) async fn get_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = consent_id(&id)?;
    let desk = state.desk();
    let (c, customer) = desk.consent(token, id)?;
    Ok(Json(ConsentResponse { access_token: None, data: consent_wire(c, customer) }).into_response())
}

pub(super) async fn delete_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = consent_id(&id)?;
    state.desk().revoke_consent(token, id, state.sim_now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
