//! Account-access consents: `POST /account-access-consents` under an agreement's token (which
//! answers with the consent's access token), `GET` and `DELETE /account-access-consents/{id}`.

use super::{AppState, Failure, Reply, authenticate, calendar_ms, calendar_text, parse_body, path_param};
use crate::api::{self, Permission};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ConsentBody {
    data: ConsentData,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ConsentData {
    customer_id: u64,
    permissions: Option<Vec<Permission>>,
    transaction_from_date_time: Option<String>,
    transaction_to_date_time: Option<String>,
}

fn consent_json(c: &api::Consent, customer: u64) -> serde_json::Value {
    json!({
        "ConsentId": c.id,
        "Status": c.status,
        "Permissions": c.permissions,
        "CustomerId": customer,
        "CreationDateTime": calendar_text(c.created_at.as_millis()),
        "ExpirationDateTime": c.expiration.map(|e| calendar_text(e.as_millis())),
        "TransactionFromDateTime": c.transaction_from_ms.map(calendar_text),
        "TransactionToDateTime": c.transaction_to_ms.map(calendar_text),
        "Revocation": c.revocation.as_ref().map(|r| json!({"By": r.by, "Why": r.why, "At": calendar_text(r.at.as_millis())})),
    })
}

pub(super) async fn create_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    // The token before the body: a caller without one learns nothing about the schema.
    let token = authenticate(&state, &headers)?;
    let b: ConsentBody = parse_body(body)?;
    let from = b
        .data
        .transaction_from_date_time
        .as_deref()
        .map(|t| calendar_ms(t, "Data.TransactionFromDateTime"))
        .transpose()?;
    let to =
        b.data.transaction_to_date_time.as_deref().map(|t| calendar_ms(t, "Data.TransactionToDateTime")).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Failure::bad(
            "invalid_date",
            "TransactionFromDateTime is after TransactionToDateTime",
            Some("Data"),
        ));
    }
    let now = state.sim_now();
    let (consent, access) =
        state.desk().create_consent(token, b.data.customer_id, b.data.permissions, (from, to), now)?;
    let body = json!({"Data": consent_json(&consent, b.data.customer_id), "AccessToken": access});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn consent_id(id: &str) -> Result<u64, Failure> {
    id.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, "not_found", "no consent with that id", None))
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
    Ok(Json(json!({"Data": consent_json(c, customer)})).into_response())
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
