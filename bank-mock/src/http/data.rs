//! The data routes (`GET /accounts`, `/accounts/{account}/balances`,
//! `/accounts/{account}/transactions`) and the service model in real time in front of them
//! (`service`: outage, token, rate limit, a worker, injected latency and errors; `Serving`: the
//! in-flight gauge and busy time), with the cache of generated transaction days.

use super::{AppState, Failure, MAX_PAGE, Reply, authenticate, calendar_time, path_param};
use crate::api::{self, Asking, Resource};
use crate::desk::{DeskError, Disclosure, Records, Served, Verified, account_belongs};
use crate::serve::{Ask, Entry, transactions_page as page_of};
use crate::wire::{
    AccountList, AccountsResponse, BalanceList, BalancesResponse, FraudSignal, FraudSignalList, FraudSignalResponse,
};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use testbed_core::SimTime;
use testbed_core::population::{self, PopulationSpec};
use testbed_core::terms::{Field, FieldSet, Purpose};

/// The purpose a data request is made for (`X-Purpose`), or the route's `default` without the
/// header: 400 for an unknown purpose or a second header.
pub fn purpose_header(headers: &HeaderMap, default: Purpose) -> Result<Purpose, Failure> {
    if headers.get_all("x-purpose").iter().nth(1).is_some() {
        return Err(Failure::bad(
            "invalid_header",
            "X-Purpose is given more than once; give one purpose",
            Some("X-Purpose"),
        ));
    }
    match headers.get("x-purpose") {
        None => Ok(default),
        Some(v) => {
            let text = v.to_str().unwrap_or_default();
            Purpose::parse(text).ok_or_else(|| {
                let all: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
                Failure::bad(
                    "invalid_header",
                    format!("unknown purpose `{text}` (purposes: {})", all.join(", ")),
                    Some("X-Purpose"),
                )
            })
        }
    }
}

/// How much the request asks for (`X-Requested-Fields`): absent, or `*` for every field.
pub fn asking_header(headers: &HeaderMap) -> Result<Asking, Failure> {
    let value = headers.get(Asking::HEADER).map(|v| v.to_str().unwrap_or("\u{fffd}"));
    Asking::parse(value).ok_or_else(|| {
        Failure::bad(
            "invalid_header",
            format!("`{}` is not a field selection (allowed: `*`, or no header)", value.unwrap_or_default()),
            Some("X-Requested-Fields"),
        )
    })
}

/// The bank's door in real time for a data request (`serve::Door`: outage, rate limit, a
/// worker's service, an injected error), then `work` with the request's checked token.
///
/// The token is checked (a MAC, no lock) before the door is: requests with no valid token get
/// 401 (or 403 for another bank's) without draining the bucket the bank's legitimate platforms
/// share. A served request holds its worker until the finish the door answers, on the wall
/// clock; a client that gives up before then leaves the worker busy until that finish, as a
/// bank's worker finishes what it started.
pub(super) async fn service<'h, T>(
    state: &AppState,
    headers: &'h HeaderMap,
    work: impl FnOnce(Verified<'h>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let token = authenticate(state, headers)?;
    let (entry, fail) = state.knock(state.routed_customer(&token));
    match entry {
        Entry::Unavailable { .. } => {
            return Err(Failure::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the bank is in an outage", None));
        }
        Entry::RateLimited { retry_after } => {
            let mut f =
                Failure::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "rate limit exceeded; retry later", None);
            f.retry_after = Some(retry_after);
            return Err(f);
        }
        Entry::Served { finish, .. } => {
            // Counted on drop: a client that gives up mid-service (its handler is dropped at
            // the await) still leaves the in-flight gauge right.
            let _serving = InFlight::start(state);
            let until = state.on_service_clock(finish);
            if until > Instant::now() {
                tokio::time::sleep_until(until.into()).await;
            }
        }
    }
    if fail {
        return Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "injected server error", None));
    }
    work(token)
}

/// A request being served: in the in-flight gauge until it is dropped.
struct InFlight<'s> {
    state: &'s AppState,
}

impl<'s> InFlight<'s> {
    fn start(state: &'s AppState) -> InFlight<'s> {
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { state }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A JSON body already serialised.
fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A page of records as a JSON response: `head`, the records written by `write` separated by
/// commas, then what `finish` writes, in a buffer of about the size it will take. The standard
/// profiles' transactions pages, written straight from the transactions.
pub(super) fn json_page<'a, T: 'a>(
    head: &[u8],
    records: impl Iterator<Item = &'a T>,
    mut write: impl FnMut(&mut Vec<u8>, &T),
    finish: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> Response {
    let mut out = Vec::with_capacity(1024 + 400 * records.size_hint().1.unwrap_or(0));
    out.extend_from_slice(head);
    for (i, record) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(&mut out, record);
    }
    match finish(&mut out) {
        Ok(()) => json_response(out),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

pub(super) async fn accounts(State(state): State<Arc<AppState>>, request: Request) -> Reply {
    let headers = request.headers();
    service(&state, headers, |token| {
        let purpose = purpose_header(headers, Purpose::CustomerService)?;
        let asking = asking_header(headers)?;
        let now = state.sim_now();
        let served = state.desk().serve_consent(token, Ask { resource: Resource::Accounts, purpose, asking }, now)?;
        let person = population::customer(&state.spec, served.customer);
        let records = api::account_records(&served.grant, &person);
        let disclosure = Disclosure {
            customer: served.customer,
            purpose,
            fields: served.grant.fields,
            records: Records::Other(records.len() as u64),
        };
        state.desk().record_consent_disclosure(served.consent, &disclosure, now);
        Ok(Json(AccountsResponse { data: AccountList { account: records } }).into_response())
    })
    .await
}

pub(super) async fn balances(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, headers, |token| {
        let purpose = purpose_header(headers, Purpose::BalanceDisplay)?;
        let asking = asking_header(headers)?;
        let now = state.sim_now();
        let served = state.desk().serve_consent(token, Ask { resource: Resource::Balances, purpose, asking }, now)?;
        if !account_belongs(&state.spec, served.customer, &account) {
            return Err(DeskError::NotFound("account").into());
        }
        let cents = balance_cents(&state.spec, served.customer, &account, now);
        let record = api::balance_record(&served.grant, &account, cents);
        let records = Records::Other(1);
        let disclosure = Disclosure { customer: served.customer, purpose, fields: served.grant.fields, records };
        state.desk().record_consent_disclosure(served.consent, &disclosure, now);
        Ok(Json(BalancesResponse { data: BalanceList { balance: vec![record] } }).into_response())
    })
    .await
}

pub(super) async fn transactions(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Reply {
    let account = path_param(path)?;
    let headers = request.headers();
    service(&state, headers, |token| transactions_page(&state, &account, query.as_deref(), headers, token)).await
}

/// `GET /accounts/{account}/transactions` once the service model let the request in.
pub(super) fn transactions_page(
    state: &AppState,
    account: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    token: Verified<'_>,
) -> Reply {
    let purpose = purpose_header(headers, Purpose::Commerce)?;
    let query = TransactionsQuery::parse(query)?;
    let page = query.page;
    let nowt = state.sim_now();
    let (from, to) = query.window(nowt.as_millis())?;
    let ask =
        Ask { resource: Resource::Transactions { from_ms: from, to_ms: to }, purpose, asking: asking_header(headers)? };
    // The desk is locked twice, briefly: to decide (and count refusals), and to count what
    // was served; the page is built between and serialised after, unlocked.
    let served = state.desk().serve_consent(token, ask, nowt)?;
    let (customer, grant) = (served.customer, served.grant);
    if !account_belongs(&state.spec, customer, account) {
        return Err(DeskError::NotFound("account").into());
    }
    if served.resource == Resource::FraudAlert {
        // A minimised design: one derived signal over the window, one record.
        let has = |f| grant.fields.contains(f);
        let signal = FraudSignal {
            account_id: has(Field::AccountId).then(|| account.to_string()),
            fraud_flag: has(Field::FraudFlag).then_some(false),
        };
        let disclosure = Disclosure { customer, purpose, fields: grant.fields, records: Records::Other(1) };
        state.desk().record_consent_disclosure(served.consent, &disclosure, nowt);
        return Ok(Json(FraudSignalResponse { data: FraudSignalList { fraud_signal: vec![signal] } }).into_response());
    }
    let mut slice: Vec<population::Transaction> = Vec::new();
    let pages =
        transaction_slice(state, customer, account, (from, to), nowt.as_millis(), grant.off_platform, page, &mut slice);
    let records = Records::Transactions(&slice);
    let disclosure = Disclosure { customer, purpose, fields: grant.fields, records };
    state.desk().record_consent_disclosure(served.consent, &disclosure, nowt);
    let mut out = Vec::with_capacity(320 + 320 * slice.len());
    write_transaction_page(&mut out, api::transaction_views(&grant, account, &slice), account, (from, to), page, pages);
    Ok(json_response(out))
}

/// Page `page` of the transactions of `customer`'s `account` booked in `window` up to `now_ms`
/// into `out` (off-platform ones only if `off_platform`): the number of pages. A checking
/// account has no card transactions.
#[allow(clippy::too_many_arguments)]
pub(super) fn transaction_slice(
    state: &AppState,
    customer: u64,
    account: &str,
    window: (u64, u64),
    now_ms: u64,
    off_platform: bool,
    page: usize,
    out: &mut Vec<population::Transaction>,
) -> usize {
    if !account.starts_with("card-") {
        out.clear();
        return 1;
    }
    let day = |d, out: &mut Vec<_>| state.days.transactions_on_day(&state.spec, customer, d, out);
    page_of(day, window, now_ms, off_platform, page, out)
}

/// Every transaction of `customer`'s `account` a response about `window` may carry
/// (`serve::visible_transactions`), into `out`; none for a checking account.
pub(super) fn visible_transactions(
    state: &AppState,
    customer: u64,
    account: &str,
    window: (u64, u64),
    now_ms: u64,
    off_platform: bool,
    out: &mut Vec<population::Transaction>,
) {
    out.clear();
    if account.starts_with("card-") {
        let day = |d, out: &mut Vec<_>| state.days.transactions_on_day(&state.spec, customer, d, out);
        crate::serve::visible_transactions(day, window, now_ms, off_platform, out);
    }
}

/// A 403 for a response the terms leave without a member a standard profile requires.
pub(super) fn unshapeable(crate::obie::Unshapeable(field): crate::obie::Unshapeable) -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        "not_in_standard",
        format!("the agreed terms do not grant `{}`, which this response needs under the standard", field.as_str()),
        None,
    )
}

/// A data request of a standard profile decided by the desk: what it granted, for which
/// purpose, when.
pub(super) struct Decided {
    pub(super) served: Served,
    pub(super) purpose: Purpose,
    pub(super) now: SimTime,
}

/// The desk's decision on a request for `resource` made with `token`. Its purpose is the one
/// `X-Purpose` names; without the header (a standard client knows no such header), the route's
/// `default` if the platform's agreement allows it, else the first purpose the agreement allows:
/// the platform agreed its purposes in the terms, and a standard request cannot say which.
pub(super) fn decide(
    state: &AppState,
    headers: &HeaderMap,
    token: Verified<'_>,
    resource: Resource,
    default: Purpose,
) -> Result<Decided, Failure> {
    let purpose = match headers.get("x-purpose") {
        Some(_) => purpose_header(headers, default)?,
        None => state.desk().agreed_purpose(token.platform(), default),
    };
    let asking = asking_header(headers)?;
    let now = state.sim_now();
    let served = state.desk().serve_consent(token, Ask { resource, purpose, asking }, now)?;
    Ok(Decided { served, purpose, now })
}

impl Decided {
    /// Counts what the response carries in the platform's ledger.
    pub(super) fn disclose(&self, state: &AppState, fields: FieldSet, records: Records<'_>) {
        let d = Disclosure { customer: self.served.customer, purpose: self.purpose, fields, records };
        state.desk().record_consent_disclosure(self.served.consent, &d, self.now);
    }

    /// 404 `not_found` unless `account` is one of the consent's customer's own.
    pub(super) fn own_account(&self, state: &AppState, account: &str) -> Result<(), Failure> {
        if account_belongs(&state.spec, self.served.customer, account) {
            Ok(())
        } else {
            Err(DeskError::NotFound("account").into())
        }
    }

    /// The balance of the customer's `account` on today's date of the bank's calendar.
    pub(super) fn balance_cents(&self, state: &AppState, account: &str) -> i64 {
        balance_cents(&state.spec, self.served.customer, account, self.now)
    }
}

/// The balance of `customer`'s `account` at `now` on the bank's calendar: a card's is what was
/// spent since its cycle began, a checking account's what it holds.
pub(super) fn balance_cents(spec: &PopulationSpec, customer: u64, account: &str, now: SimTime) -> i64 {
    let day = (now.as_millis() / 86_400_000) as u32;
    if account.starts_with("card-") {
        population::card_balance_cents(spec, customer, day)
    } else {
        population::balance_cents(spec, customer, day)
    }
}

/// The query of `GET /accounts/{account}/transactions`: the booking window's ends as given
/// (calendar ms) and the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionsQuery {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub page: usize,
}

impl TransactionsQuery {
    /// Parses a raw query: `fromBookingDateTime` and `toBookingDateTime` (RFC 3339) and `page`
    /// (1 unless given); 400 for anything else or a value out of its range.
    pub fn parse(query: Option<&str>) -> Result<TransactionsQuery, Failure> {
        TransactionsQuery::parse_dates_by(query, testbed_core::time::calendar_ms)
    }

    /// `parse`, reading dates with `read` (the standard profiles take any offset).
    pub fn parse_dates_by(
        query: Option<&str>,
        read: fn(&str) -> Result<u64, testbed_core::time::CalendarError>,
    ) -> Result<TransactionsQuery, Failure> {
        let calendar_ms = |text: &str, path: &str| super::calendar_ms_by(read, text, path);
        let mut parsed = TransactionsQuery { from_ms: None, to_ms: None, page: 1 };
        // application/x-www-form-urlencoded: names and values fully percent-decoded (and `+` is
        // a space); borrowed, not copied, when there is nothing to decode.
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "fromBookingDateTime" => parsed.from_ms = Some(calendar_ms(&v, "fromBookingDateTime")?),
                "toBookingDateTime" => parsed.to_ms = Some(calendar_ms(&v, "toBookingDateTime")?),
                "page" => {
                    parsed.page = v.parse().ok().filter(|p| (1..=MAX_PAGE).contains(p)).ok_or_else(|| {
                        Failure::bad(
                            "invalid_query",
                            format!("page `{v}` is not a whole number in 1..={MAX_PAGE}"),
                            Some("page"),
                        )
                    })?
                }
                other => {
                    return Err(Failure::bad(
                        "invalid_query",
                        format!(
                            "unknown query parameter `{other}` (allowed: fromBookingDateTime, toBookingDateTime, page)"
                        ),
                        Some(other),
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// The window `(from, to)` in calendar ms: ending `now_ms` and 30 days long unless the
    /// query says otherwise; 400 if it ends before it starts or spans more than 366 days.
    pub fn window(&self, now_ms: u64) -> Result<(u64, u64), Failure> {
        let to = self.to_ms.unwrap_or(now_ms);
        let from = self.from_ms.unwrap_or(to.saturating_sub(30 * 86_400_000));
        if from > to {
            return Err(Failure::bad(
                "invalid_query",
                "fromBookingDateTime is after toBookingDateTime",
                Some("fromBookingDateTime"),
            ));
        }
        if to - from > 366 * 86_400_000 {
            return Err(Failure::bad(
                "invalid_query",
                "the window may span at most 366 days",
                Some("toBookingDateTime"),
            ));
        }
        Ok((from, to))
    }
}

/// Writes a transactions page: the bytes `serde_json` gives for the value
/// `{"Data": {"Transaction": [..]}, "Links": {"Next": .., "Self": ..}, "Meta": {"TotalPages": ..}}`
/// (a JSON value's keys are sorted), without building the value.
fn write_transaction_page<'a>(
    out: &mut Vec<u8>,
    records: impl Iterator<Item = api::TransactionView<'a>>,
    account: &str,
    window_ms: (u64, u64),
    page: usize,
    pages: usize,
) {
    out.extend_from_slice(b"{\"Data\":{\"Transaction\":[");
    for (i, record) in records.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        record.write_json(out);
    }
    out.extend_from_slice(b"]},\"Links\":{\"Next\":");
    let (from, to) = (calendar_time(window_ms.0), calendar_time(window_ms.1));
    let link = |out: &mut Vec<u8>, page: usize| {
        let text =
            format!("/accounts/{account}/transactions?fromBookingDateTime={from}&toBookingDateTime={to}&page={page}");
        api::write_json_str(out, &text);
    };
    if page < pages {
        link(out, page + 1);
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"Self\":");
    link(out, page);
    out.extend_from_slice(b"},\"Meta\":{\"TotalPages\":");
    api::write_decimal(out, pages as u64, 1);
    out.extend_from_slice(b"}}");
}

/// The generated transactions of recently served (customer, day) pairs: the pages of a window
/// repeat the same days, and generating a day costs more than serving it. Direct-mapped and of
/// fixed size; the population is a pure function of (seed, bank, customer, day), so a cached
/// day equals a regenerated one.
pub(super) struct DayCache {
    slots: Box<[Mutex<Option<CachedDay>>]>,
}

struct CachedDay {
    customer: u64,
    day: u32,
    transactions: Vec<population::Transaction>,
}

impl DayCache {
    const SLOTS: usize = 4096;

    pub(super) fn new() -> DayCache {
        DayCache { slots: (0..Self::SLOTS).map(|_| Mutex::new(None)).collect() }
    }

    /// Appends `population::transactions_on_day(spec, customer, day)` to `out`.
    pub(super) fn transactions_on_day(
        &self,
        spec: &PopulationSpec,
        customer: u64,
        day: u32,
        out: &mut Vec<population::Transaction>,
    ) {
        let h = customer.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(day).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let slot = &self.slots[(h >> 32) as usize % Self::SLOTS];
        if let Some(c) = &*slot.lock().unwrap_or_else(|e| e.into_inner())
            && c.customer == customer
            && c.day == day
        {
            out.extend_from_slice(&c.transactions);
            return;
        }
        let start = out.len();
        population::transactions_on_day(spec, customer, day, out);
        let cached = CachedDay { customer, day, transactions: out[start..].to_vec() };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(cached);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Grant;
    use crate::http::calendar_text;
    use crate::wire;
    use serde_json::json;

    #[test]
    fn a_transactions_page_serialises_to_the_bytes_of_its_json_value() {
        let spec =
            PopulationSpec { seed: 5, bank: "b".into(), size: 10, transactions_per_day: 5.0, on_platform_share: 0.5 };
        let mut txns = Vec::new();
        for day in 0..3 {
            population::transactions_on_day(&spec, 4, day, &mut txns);
        }
        let grant = Grant {
            fields: Resource::Transactions { from_ms: 0, to_ms: 1 }.fields(),
            blocked: testbed_core::terms::FieldSet::EMPTY,
            off_platform: false,
            blocked_off_platform: false,
        };
        let (account, from, to) = ("card-b-4", 0, 3 * 86_400_000);
        for (page, pages) in [(1, 2), (2, 2)] {
            let mut fast = Vec::new();
            write_transaction_page(
                &mut fast,
                api::transaction_views(&grant, account, &txns),
                account,
                (from, to),
                page,
                pages,
            );
            let text = |p: usize| {
                format!(
                    "/accounts/{account}/transactions?fromBookingDateTime={}&toBookingDateTime={}&page={p}",
                    calendar_text(from),
                    calendar_text(to)
                )
            };
            let value = json!({
                "Data": {"Transaction": api::transaction_records(&grant, account, &txns)},
                "Links": {"Self": text(page), "Next": (page < pages).then(|| text(page + 1))},
                "Meta": {"TotalPages": pages},
            });
            let typed = wire::TransactionPage {
                data: wire::TransactionList { transaction: api::transaction_records(&grant, account, &txns) },
                links: wire::PageLinks { next: (page < pages).then(|| text(page + 1)), self_link: text(page) },
                meta: wire::PageMeta { total_pages: pages },
            };
            assert_eq!(String::from_utf8(fast.clone()).unwrap(), serde_json::to_string(&typed).unwrap());
            assert_eq!(String::from_utf8(fast).unwrap(), serde_json::to_string(&value).unwrap());
        }
    }
}
