//! The UK Open Banking profile's routes under `/open-banking/v3.1/aisp` (`serve --api obie`):
//! account-access consents (read and revoked with the client-credentials token `/token` gives),
//! accounts, an account, its balances and its transactions (with a consent's access token).
//! Requests go through the same door (`data::service`) and desk as the testbed profile's;
//! records are shaped by `crate::obie`. One middleware (`shape`) gives every response of the
//! profile its `x-fapi-interaction-id` (echoed, or made) and turns every error into the
//! standard's `OBErrorResponse1`; an unknown or foreign resource id is 403, as the standard
//! declares no 404 on these operations.

use super::data::{self, decide, service, unshapeable};
use super::{AppState, Failure, Reply, authenticate, parse_body, path_param};
use crate::api::{self, Permission, Resource};
use crate::desk::{CONSENTS_NEED, DeskError, Records, TokenKind};
use crate::obie::{self as shapes, Unshapeable};
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use testbed_core::SimTime;
use testbed_core::population;
use testbed_core::terms::Purpose;
use testbed_core::time::calendar_text;
use testbed_core::wire::ApiError;
use testbed_core::wire::obie::{self as wire, BASE};

const INTERACTION: &str = "x-fapi-interaction-id";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(&format!("{BASE}/account-access-consents"), post(create_consent))
        .route(&format!("{BASE}/account-access-consents/{{id}}"), get(get_consent).delete(delete_consent))
        .route(&format!("{BASE}/accounts"), get(accounts))
        .route(&format!("{BASE}/accounts/{{account}}"), get(account))
        .route(&format!("{BASE}/accounts/{{account}}/balances"), get(balances))
        .route(&format!("{BASE}/accounts/{{account}}/transactions"), get(super::standard_transactions))
}

/// The methods `path` takes, if it is one of the profile's routes.
fn methods_of(path: &str) -> Option<&'static [Method]> {
    let rest = path.strip_prefix(BASE)?.strip_prefix('/')?;
    // At most three segments, without collecting them (this runs on every request).
    let mut parts = rest.split('/');
    let segments: [Option<&str>; 4] = std::array::from_fn(|_| parts.next());
    let segments: &[&str] = match segments {
        [Some(a), None, ..] => &[a],
        [Some(a), Some(b), None, _] => &[a, b],
        [Some(a), Some(b), Some(c), None] => &[a, b, c],
        _ => return None,
    };
    match segments {
        ["account-access-consents"] => Some(&[Method::POST]),
        ["account-access-consents", id] if !id.is_empty() => Some(&[Method::GET, Method::HEAD, Method::DELETE]),
        ["accounts"] => Some(&[Method::GET, Method::HEAD]),
        ["accounts", id] | ["accounts", id, "balances" | "transactions"] if !id.is_empty() => {
            Some(&[Method::GET, Method::HEAD])
        }
        _ => None,
    }
}

/// The interaction id of a request: its own when it sent a usable one, else a new UUID.
fn interaction_id(headers: &HeaderMap) -> HeaderValue {
    headers.get(INTERACTION).filter(|v| !v.is_empty() && v.to_str().is_ok()).cloned().unwrap_or_else(|| {
        // A version-4 UUID from the thread's generator: no system call per request.
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes()).expect("a UUID is a header value")
    })
}

/// Every response of the profile: the interaction id on it, and an error (the server's one
/// shape, `ApiError`) rewritten as `OBErrorResponse1` (its `Code` the testbed's stable code,
/// its one `Errors` entry the standard's `ErrorCode`).
/// It wraps the whole router (so that the router's own 404 and 405 under the profile's base are
/// shaped too) and leaves every other path alone.
pub(super) async fn shape(request: Request, next: Next) -> Response {
    shaped(request, |request| next.run(request)).await
}

/// `shape` around `run`: the middleware's work, for the router's routes and the hot path alike.
pub(super) async fn shaped<F: std::future::Future<Output = Response>>(
    request: Request,
    run: impl FnOnce(Request) -> F,
) -> Response {
    if !request.uri().path().starts_with(BASE) {
        return run(request).await;
    }
    let interaction = interaction_id(request.headers());
    let methods = methods_of(request.uri().path());
    let matched = methods.is_some();
    // Headers are checked only for a request the route takes: another method gets its 405.
    let routed = methods.is_some_and(|m| m.contains(request.method()));
    let mut response = match !routed || auth_date_ok(request.headers()) {
        true => run(request).await,
        false => Failure::bad(
            "invalid_header",
            "x-fapi-auth-date is not an HTTP date as the standard writes it, e.g. Sun, 10 Sep 2017 19:43:31 GMT",
            Some("x-fapi-auth-date"),
        )
        .into_response(),
    };
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, super::MAX_BODY).await.unwrap_or_default();
        let ours: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
            code: "server_error".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            path: None,
        });
        // A resource id that is no consent's or account's of the token: 403 in the standard.
        if matched && parts.status == StatusCode::NOT_FOUND {
            parts.status = StatusCode::FORBIDDEN;
        }
        let message: String = match ours.message.as_str() {
            "" => parts.status.to_string(),
            m => m.chars().take(500).collect(),
        };
        let body = wire::ErrorResponse {
            code: ours.code.chars().take(40).collect(),
            id: None,
            message: message.clone(),
            errors: vec![wire::Error {
                error_code: error_code(&ours.code, parts.status),
                message,
                path: ours.path.filter(|p| !p.is_empty()).map(|p| p.chars().take(500).collect()),
            }],
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(serde_json::to_vec(&body).unwrap_or_default()));
    }
    response.headers_mut().insert(INTERACTION, interaction);
    response
}

/// Whether the request's `x-fapi-auth-date`, if it has one, is in the standard's form:
/// `Www, DD Mmm YYYY hh:mm:ss GMT` (or `UTC`).
pub fn auth_date_ok(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get("x-fapi-auth-date") else { return true };
    let Ok(text) = value.to_str() else { return false };
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = text.split(' ').collect();
    let [day, date, month, year, time, zone] = parts.as_slice() else { return false };
    let clock: Vec<&str> = time.split(':').collect();
    day.strip_suffix(',').is_some_and(|d| days.contains(&d))
        && digits(date, 2)
        && months.contains(month)
        && digits(year, 4)
        && clock.len() == 3
        && clock.iter().all(|c| digits(c, 2))
        && matches!(*zone, "GMT" | "UTC")
}

/// The standard's `ErrorCode` for the testbed's `code`: one of `UK.OBIE.*` where one fits,
/// else the testbed's own, marked `x-testbed.`.
fn error_code(code: &str, status: StatusCode) -> String {
    let standard = match code {
        "invalid_date" => "UK.OBIE.Field.InvalidDate",
        "invalid_query" | "invalid_body" | "invalid_path" => "UK.OBIE.Field.Invalid",
        "invalid_header" => "UK.OBIE.Header.Invalid",
        "unauthorized" => "UK.OBIE.Header.Missing",
        "not_found" => "UK.OBIE.Resource.NotFound",
        "consent_not_authorised" | "consent_revoked" | "consent_expired" => "UK.OBIE.Resource.InvalidConsentStatus",
        "missing_permission" | "purpose_not_agreed" | "outside_window" | "forbidden" | "not_in_standard" => {
            "UK.OBIE.Resource.ConsentMismatch"
        }
        "permission_not_agreed" => "UK.OBIE.Field.Unexpected",
        _ if status.is_server_error() && code != "unavailable" => "UK.OBIE.UnexpectedError",
        _ => return format!("x-testbed.{code}"),
    };
    standard.to_string()
}

/// The base of this server's absolute links: the `Host` the client used, when it is a plain
/// host and port, else the address it listens on.
pub(super) fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    match (host, state.listening.get()) {
        (Some(h), _) => format!("http://{h}"),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => "http://127.0.0.1".into(),
    }
}

fn links(state: &AppState, headers: &HeaderMap, path: &str) -> wire::Links {
    wire::Links { self_link: format!("{}{BASE}{path}", origin(state, headers)), ..Default::default() }
}

fn single_page() -> wire::Meta {
    wire::Meta { total_pages: Some(1), ..Default::default() }
}

/// `POST /account-access-consents` with the client-credentials token: a consent awaiting the
/// customer. Its permissions in the standard's codes, within the agreed terms (403
/// `permission_not_agreed` beyond them, 400 for a code the standard does not have); transactions
/// made off the platform come with any transactions permission when the terms grant them, as
/// the standard has no code for them.
async fn create_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    // The token before the body: a caller without one learns nothing about the schema.
    let token = authenticate(&state, &headers)?;
    token.must_be(TokenKind::Agreement, CONSENTS_NEED)?;
    let request: wire::ConsentRequest = parse_body(body)?;
    let data = &request.data;
    if data.permissions.is_empty() {
        return Err(Failure::bad(
            "invalid_body",
            "Permissions needs at least one permission",
            Some("Data.Permissions"),
        ));
    }
    let mut permissions = shapes::parse_permissions(&data.permissions).map_err(|(code, known)| {
        if known {
            Failure::from(DeskError::PermissionNotAgreed(code))
        } else {
            Failure::bad("invalid_body", format!("`{code}` is no permission of the standard"), Some("Data.Permissions"))
        }
    })?;
    let asks_transactions =
        permissions.iter().any(|p| matches!(p, Permission::ReadTransactionsBasic | Permission::ReadTransactionsDetail));
    let off_platform = Permission::ReadOffPlatformTransactions;
    if asks_transactions && state.desk().agreed_permissions(token.platform()).is_some_and(|p| p.contains(&off_platform))
    {
        permissions.push(off_platform);
    }
    let date = |text: &Option<String>, path: &str| {
        text.as_deref()
            .map(|t| super::calendar_ms_by(testbed_core::time::calendar_ms_zone_ignored, t, path))
            .transpose()
    };
    let from = date(&data.transaction_from_date_time, "Data.TransactionFromDateTime")?;
    let to = date(&data.transaction_to_date_time, "Data.TransactionToDateTime")?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Failure::bad(
            "invalid_date",
            "TransactionFromDateTime is after TransactionToDateTime",
            Some("Data"),
        ));
    }
    let expiration = date(&data.expiration_date_time, "Data.ExpirationDateTime")?
        .map(|ms| SimTime::from_nanos(ms.saturating_mul(1_000_000)));
    let now = state.sim_now();
    let consent = state.desk().create_pending_consent(token, permissions, (from, to), expiration, now)?;
    let body = consent_response(&consent, links(&state, &headers, &format!("/account-access-consents/{}", consent.id)));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = super::resource_id(&id, "consent")?;
    let desk = state.desk();
    let c = match desk.consent(token, id) {
        Ok((c, _)) if !deleted(c) => c,
        Ok(_) => return Err(DeskError::NotFound("consent").into()),
        // Awaiting the customer, or rejected: read with the client-credentials token.
        Err(DeskError::NotFound(_)) if token.kind() == TokenKind::Agreement => {
            desk.pending_consent(token.platform(), id)?
        }
        Err(e) => return Err(e.into()),
    };
    let body = consent_response(c, links(&state, &headers, &format!("/account-access-consents/{id}")));
    Ok(Json(body).into_response())
}

/// `OBReadConsentResponse1` of a consent: its permissions in the standard's codes (the testbed's
/// own, such as off-platform transactions, are governed by the terms and not listed).
pub(super) fn consent_response(c: &api::Consent, links: wire::Links) -> wire::ConsentResponse {
    let status_at = c.revocation.as_ref().map_or(c.created_at, |r| r.at);
    wire::ConsentResponse {
        data: wire::ConsentResponseData {
            consent_id: c.id.clone(),
            creation_date_time: calendar_text(c.created_at.as_millis()),
            status: format!("{:?}", c.status),
            status_update_date_time: calendar_text(status_at.as_millis()),
            permissions: c.permissions.iter().filter_map(|p| shapes::permission_code(*p)).map(String::from).collect(),
            expiration_date_time: c.expiration.map(|e| calendar_text(e.as_millis())),
            transaction_from_date_time: c.transaction_from_ms.map(calendar_text),
            transaction_to_date_time: c.transaction_to_ms.map(calendar_text),
        },
        risk: wire::Risk {},
        links,
        meta: wire::Meta::default(),
    }
}

/// Whether the platform deleted the consent (`DELETE`): the standard's consent resource is then
/// gone (403 as an unknown id), while the bank keeps it revoked, so that a data request under it
/// is refused as revoked and counted.
fn deleted(c: &api::Consent) -> bool {
    c.revocation.as_ref().is_some_and(|r| r.by == crate::desk::REVOKED_BY_PLATFORM)
}

async fn delete_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = super::resource_id(&id, "consent")?;
    let mut desk = state.desk();
    match desk.consent(token, id) {
        Ok((c, _)) if deleted(c) => return Err(DeskError::NotFound("consent").into()),
        Ok(_) => desk.revoke_consent(token, id, state.sim_now())?,
        Err(DeskError::NotFound(_)) if token.kind() == TokenKind::Agreement => {
            desk.delete_pending(token.platform(), id)?
        }
        Err(e) => return Err(e.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn accounts(State(state): State<Arc<AppState>>, request: Request) -> Reply {
    let headers = request.headers();
    service(&state, headers, |token| {
        let decided = decide(&state, headers, token, Resource::Accounts, Purpose::CustomerService)?;
        let person = population::customer(&state.spec, decided.served.customer);
        let (records, sent) = shapes::accounts(&decided.served.grant, &person);
        decided.disclose(&state, sent, Records::Other(records.len() as u64));
        let body = wire::Read {
            data: wire::AccountData { account: records },
            links: links(&state, headers, "/accounts"),
            meta: single_page(),
        };
        Ok(Json(body).into_response())
    })
    .await
}

async fn account(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, headers, |token| {
        let decided = decide(&state, headers, token, Resource::Accounts, Purpose::CustomerService)?;
        decided.own_account(&state, &account)?;
        let person = population::customer(&state.spec, decided.served.customer);
        let (records, sent) = shapes::accounts(&decided.served.grant, &person);
        let records: Vec<wire::Account> = records.into_iter().filter(|a| a.account_id == account).collect();
        decided.disclose(&state, sent, Records::Other(records.len() as u64));
        let body = wire::Read {
            data: wire::AccountData { account: records },
            links: links(&state, headers, &format!("/accounts/{account}")),
            meta: single_page(),
        };
        Ok(Json(body).into_response())
    })
    .await
}

async fn balances(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, headers, |token| {
        let decided = decide(&state, headers, token, Resource::Balances, Purpose::BalanceDisplay)?;
        decided.own_account(&state, &account)?;
        let cents = decided.balance_cents(&state, &account);
        let (records, sent) =
            shapes::balances(&decided.served.grant, &account, cents, decided.now.as_millis()).map_err(unshapeable)?;
        decided.disclose(&state, sent, Records::Other(1));
        let body = wire::Read {
            data: wire::BalanceData { balance: records },
            links: links(&state, headers, &format!("/accounts/{account}/balances")),
            meta: single_page(),
        };
        Ok(Json(body).into_response())
    })
    .await
}

/// The booking window of a transactions request, in calendar ms: as asked, 30 days up to now
/// by default. The standard has no error for a reversed or a long window: a reversed one holds
/// nothing, and one longer than 366 days is served its last 366 (what `Meta` says was served).
fn window(query: &data::TransactionsQuery, now_ms: u64) -> (u64, u64) {
    let to = query.to_ms.unwrap_or(now_ms);
    let from = query.from_ms.unwrap_or(to.saturating_sub(30 * 86_400_000));
    let from = from.max(to.saturating_sub(366 * 86_400_000));
    (from.min(to), to)
}

/// A transactions page of `account` in this profile (`super::standard_transactions_reply`).
pub(super) async fn transactions_reply(
    state: &Arc<AppState>,
    account: &str,
    query: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> Reply {
    let account = account.to_string();
    service(state, headers, |token| {
        let query = data::TransactionsQuery::parse_dates_by(query, testbed_core::time::calendar_ms_zone_ignored)?;
        let now_ms = state.sim_now().as_millis();
        let (from, to) = window(&query, now_ms);
        let resource = Resource::Transactions { from_ms: from, to_ms: to };
        let decided = decide(state, headers, token, resource, Purpose::Commerce)?;
        let (customer, grant) = (decided.served.customer, decided.served.grant);
        decided.own_account(state, &account)?;
        if decided.served.resource != resource {
            // A derived signal (a minimised design) has no shape in the standard.
            return Err(unshapeable(Unshapeable(testbed_core::terms::Field::TxnAmount)));
        }
        let mut slice = Vec::new();
        let pages = data::transaction_slice(
            state,
            customer,
            &account,
            (from, to),
            decided.now.as_millis(),
            grant.off_platform,
            query.page,
            &mut slice,
        );
        let sent = shapes::transactions_sent(&grant).map_err(unshapeable)?;
        decided.disclose(state, sent, Records::Transactions(&slice));
        let mut link = format!("{}{BASE}/accounts/{account}/transactions?fromBookingDateTime=", origin(state, headers));
        let mut text = Vec::with_capacity(20);
        testbed_core::time::write_calendar_text(&mut text, from);
        text.extend_from_slice(b"&toBookingDateTime=");
        testbed_core::time::write_calendar_text(&mut text, to);
        text.extend_from_slice(b"&page=");
        link.push_str(std::str::from_utf8(&text).unwrap_or_default());
        let served = (from, to.min(decided.now.as_millis()));
        // `wire::Read<wire::TransactionData>`'s bytes, written straight.
        let visible = slice.iter().filter(|t| t.on_platform || grant.off_platform);
        let write = |out: &mut Vec<u8>, t: &_| shapes::write_transaction(out, grant.fields, &account, t);
        Ok(data::json_page(b"{\"Data\":{\"Transaction\":[", visible, write, |out| {
            out.extend_from_slice(b"]},");
            shapes::write_page_links(out, &link, (query.page, pages), served);
            out.push(b'}');
            Ok(())
        }))
    })
    .await
}
