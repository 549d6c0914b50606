//! The FDX profile's routes under `/fdx/v6` (`serve --api fdx`): the customer, the account list,
//! one account with its balances, its transactions a page at a time, and its contact, read with a
//! consent's access token (from the authorization-code flow or the sandbox). Requests go through
//! the same door (`data::service`) and desk as every profile's; records are shaped by
//! `crate::fdx`. One middleware (`shape`) turns every error of the profile into FDX's error
//! entity: `code` the FDX code, `debugMessage` starting with the testbed's stable code.

use super::data::{self, decide, service, unshapeable};
use super::{AppState, Failure, Reply, path_param};
use crate::api::Resource;
use crate::desk::Records;
use crate::fdx as shapes;
use crate::obie::Unshapeable;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use testbed_core::population;
use testbed_core::terms::Purpose;
use testbed_core::wire::ApiError;
use testbed_core::wire::fdx::{self as wire, BASE};

const DAY_MS: u64 = 86_400_000;
/// The transactions a page holds when the client asks for no `limit` (or 0), and the most a
/// page holds whatever it asks.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(&format!("{BASE}/customers/current"), get(customer))
        .route(&format!("{BASE}/accounts"), get(accounts))
        .route(&format!("{BASE}/accounts/{{account}}"), get(account))
        .route(&format!("{BASE}/accounts/{{account}}/transactions"), get(super::standard_transactions))
        .route(&format!("{BASE}/accounts/{{account}}/contact"), get(contact))
}

/// Every error under the profile's base as FDX's error entity, the HTTP status kept.
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
    let response = run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, super::MAX_BODY).await.unwrap_or_default();
    let ours: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiError {
        code: "server_error".into(),
        message: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        path: None,
    });
    let (code, message) = fdx_code(&ours, parts.status);
    let body =
        wire::Error { code, message: message.into(), debug_message: Some(format!("{}: {}", ours.code, ours.message)) };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(serde_json::to_vec(&body).unwrap_or_default()))
}

/// FDX's code and message for the testbed's `code` at `status`.
fn fdx_code(error: &ApiError, status: StatusCode) -> (u32, &'static str) {
    let account = error.message.contains("account");
    match (error.code.as_str(), status.as_u16()) {
        ("invalid_date_range", _) => (703, "Invalid date range"),
        ("invalid_date", _) => (702, "Invalid start or end date"),
        (_, 400) => (401, "Invalid input"),
        (_, 401 | 403) => (602, "Customer not authorized"),
        ("not_found", 404) if account => (701, "Account not found"),
        (_, 404) => (404, "Not found"),
        (_, 405) => (405, "Method not allowed"),
        (_, 429) => (429, "Too many requests"),
        (_, 503) => (503, "Service unavailable"),
        _ => (500, "Internal server error"),
    }
}

async fn customer(State(state): State<Arc<AppState>>, request: Request) -> Reply {
    let headers = request.headers();
    service(&state, headers, |token| {
        let decided = decide(&state, headers, token, Resource::Accounts, Purpose::CustomerService)?;
        let index = decided.served.customer;
        let person = population::customer(&state.spec, index);
        let (body, sent) =
            shapes::customer(&decided.served.grant, &person, format!("cust-{}-{index}", state.spec.bank));
        decided.disclose(&state, sent, Records::Other(1));
        Ok(Json(body).into_response())
    })
    .await
}

/// `GET /accounts`: both of the customer's accounts on one page (`offset`, `pageKey` and
/// `limit` are read and change nothing: there are two).
async fn accounts(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery, request: Request) -> Reply {
    let headers = request.headers();
    service(&state, headers, |token| {
        let _ = Paging::parse(query.as_deref())?;
        let decided = decide(&state, headers, token, Resource::Accounts, Purpose::CustomerService)?;
        let person = population::customer(&state.spec, decided.served.customer);
        let (records, sent) = shapes::accounts(&decided.served.grant, &person);
        decided.disclose(&state, sent, Records::Other(records.len() as u64));
        let page = wire::Page { total_elements: records.len() as u64, ..Default::default() };
        Ok(Json(wire::Accounts { page, accounts: records }).into_response())
    })
    .await
}

/// `GET /accounts/{accountId}`: the account with its balances (a balance look-up).
async fn account(
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
        let (body, sent) = shapes::account(&decided.served.grant, &account, cents).map_err(unshapeable)?;
        decided.disclose(&state, sent, Records::Other(1));
        Ok(Json(body).into_response())
    })
    .await
}

async fn contact(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, headers, |token| {
        let decided = decide(&state, headers, token, Resource::Contact, Purpose::CustomerService)?;
        decided.own_account(&state, &account)?;
        let person = population::customer(&state.spec, decided.served.customer);
        let (body, sent) = shapes::contact(&decided.served.grant, &person).map_err(unshapeable)?;
        decided.disclose(&state, sent, Records::Other(1));
        Ok(Json(body).into_response())
    })
    .await
}

/// The query of the FDX list routes: where a page starts (`pageKey`, or the deprecated
/// `offset`: the position of its first element, as `page.nextPageKey` gives it), how many it
/// holds (`limit`), and the booking window's dates (`startTime`, or `startDate`; `endTime`, or
/// `endDate`: `YYYY-MM-DD`, the end day included). Where both names of a pair are given, the
/// first named here wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paging {
    pub offset: usize,
    pub limit: Option<usize>,
    pub start_day: Option<u64>,
    pub end_day: Option<u64>,
}

impl Paging {
    /// Parses a raw query: 400 for an unknown parameter or a value out of its range.
    pub fn parse(query: Option<&str>) -> Result<Paging, Failure> {
        let (mut page_key, mut offset, mut limit) = (None, None, None);
        let (mut start_time, mut start_date, mut end_time, mut end_date) = (None, None, None, None);
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let bad = |what: String| Failure::bad("invalid_query", what, Some(&k));
            match &*k {
                "pageKey" | "offset" => {
                    let at: usize =
                        v.parse().ok().filter(|o| *o <= 100_000_000).ok_or_else(|| {
                            bad(format!("{k} `{v}` is not one this server gave (a page's nextPageKey)"))
                        })?;
                    *(if k == "pageKey" { &mut page_key } else { &mut offset }) = Some(at);
                }
                // FDX leaves the default and the maximum to the provider: 0 asks for the
                // default, and more than the maximum gets the maximum.
                "limit" => {
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad(format!("limit `{v}` is not a whole number from 0")));
                    }
                    let asked = v.parse::<u64>().unwrap_or(u64::MAX);
                    limit = (asked > 0).then(|| asked.min(MAX_LIMIT as u64) as usize);
                }
                "startTime" => start_time = Some(day_of(&v, &k)?),
                "startDate" => start_date = Some(day_of(&v, &k)?),
                "endTime" => end_time = Some(day_of(&v, &k)?),
                "endDate" => end_date = Some(day_of(&v, &k)?),
                other => {
                    return Err(bad(format!(
                        "unknown query parameter `{other}` (allowed: offset, pageKey, limit, startTime, endTime, startDate, endDate)"
                    )));
                }
            }
        }
        Ok(Paging {
            offset: page_key.or(offset).unwrap_or(0),
            limit,
            start_day: start_time.or(start_date),
            end_day: end_time.or(end_date),
        })
    }

    /// The window `[from, to)` in calendar ms: the start day's midnight to the midnight after
    /// the end day; 30 days up to now by default. 400 `invalid_date_range` (FDX 703) when it
    /// ends before it starts or spans more than 366 days.
    pub fn window(&self, now_ms: u64) -> Result<(u64, u64), Failure> {
        let to = self.end_day.map_or(now_ms, |d| (d + 1).saturating_mul(DAY_MS));
        let from = self.start_day.map_or(to.saturating_sub(30 * DAY_MS), |d| d.saturating_mul(DAY_MS));
        if from > to || to - from > testbed_core::wire::FDX_MAX_DAYS * DAY_MS {
            return Err(Failure::bad(
                "invalid_date_range",
                "the window must run forwards and span at most 366 days",
                Some("startTime"),
            ));
        }
        Ok((from, to))
    }
}

/// The calendar day of `YYYY-MM-DD` (day 0 = 2018-01-01; earlier dates are day 0).
fn day_of(text: &str, name: &str) -> Result<u64, Failure> {
    if text.len() != 10 {
        return Err(Failure::bad("invalid_date", format!("`{text}` is not a date YYYY-MM-DD"), Some(name)));
    }
    let ms = super::calendar_ms(&format!("{text}T00:00:00Z"), name)
        .map_err(|_| Failure::bad("invalid_date", format!("`{text}` is not a date YYYY-MM-DD"), Some(name)))?;
    Ok(ms / DAY_MS)
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
        let paging = Paging::parse(query)?;
        let (from, to) = paging.window(state.sim_now().as_millis())?;
        let resource = Resource::Transactions { from_ms: from, to_ms: to };
        let decided = decide(state, headers, token, resource, Purpose::Commerce)?;
        decided.own_account(state, &account)?;
        if decided.served.resource != resource {
            return Err(unshapeable(Unshapeable(testbed_core::terms::Field::TxnAmount)));
        }
        let grant = decided.served.grant;
        let mut all = Vec::new();
        let now_ms = decided.now.as_millis();
        data::visible_transactions(
            state,
            decided.served.customer,
            &account,
            (from, to),
            now_ms,
            grant.off_platform,
            &mut all,
        );
        let total = all.len();
        let limit = paging.limit.unwrap_or(DEFAULT_LIMIT);
        let start = paging.offset.min(total);
        let end = start.saturating_add(limit).min(total);
        let slice = &all[start..end];
        let sent = shapes::transactions_sent(&grant).map_err(unshapeable)?;
        decided.disclose(state, sent, Records::Transactions(slice));
        let next = (end < total).then(|| end.to_string());
        let page = wire::Page { next_offset: next.clone(), next_page_key: next, total_elements: total as u64 };
        // `wire::Transactions`'s bytes, the records written straight.
        let mut head = b"{\"page\":".to_vec();
        serde_json::to_writer(&mut head, &page).expect("a page serialises");
        head.extend_from_slice(b",\"transactions\":[");
        let visible = slice.iter().filter(|t| t.on_platform || grant.off_platform);
        let write = |out: &mut Vec<u8>, t: &_| shapes::write_transaction(out, grant.fields, &account, t);
        Ok(data::json_page(&head, visible, write, |out| {
            out.extend_from_slice(b"]}");
            Ok(())
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::Paging;
    use std::time::Duration;
    use testbed_core::scenario::RequestKind;
    use testbed_core::wire::{ApiProfile, data_path};

    #[test]
    fn every_window_a_scenario_may_ask_is_one_fdx_serves_in_whole_days() {
        const DAY: u64 = 86_400_000;
        for window_days in [0.5, 1.0, 7.0, 30.0, 365.0, 365.5, 366.0] {
            let window = Duration::from_secs_f64(window_days * 86_400.0);
            for at_ms in [0, 3_600_000, DAY - 1, 400 * DAY + 12_345, 800 * DAY] {
                let path = data_path(ApiProfile::Fdx, RequestKind::TransactionSync, "b", 3, window, at_ms);
                let query = path.split_once('?').map(|(_, q)| q);
                let paging = Paging::parse(query).unwrap_or_else(|_| panic!("{path}"));
                let (from, to) = paging.window(at_ms).unwrap_or_else(|_| panic!("{window_days} days: {path}"));
                // The days asked cover the window up to now, as far as 366 days reach.
                let asked_to = at_ms.max(window.as_millis() as u64);
                assert!(to > asked_to, "{path}");
                let reach = (window.as_millis() as u64).min(365 * DAY);
                assert!(from <= asked_to - reach, "{path}");
            }
        }
    }
}
