//! Event subscriptions: `POST /event-subscriptions` (a platform's callback for the fraud alerts
//! the pusher in `push.rs` sends), `GET` and `DELETE /event-subscriptions/{id}` (a delete answers
//! once the subscription's alerts on their way were answered).

use super::{AppState, Failure, Reply, authenticate, calendar_text, parse_body, path_param};
use crate::alerts::{self, EventType, Subscription, check_callback_url};
use crate::desk::{SUBSCRIPTIONS_NEED, TokenKind};
use crate::wire::{SelfLink, SubscriptionBody, SubscriptionData, SubscriptionResponse, SubscriptionView};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::Arc;

fn subscription_wire(s: &Subscription) -> SubscriptionResponse {
    SubscriptionResponse {
        data: SubscriptionView {
            callback_url: s.callback_url.clone(),
            creation_date_time: calendar_text(s.created_at.as_millis()),
            event_subscription_id: s.id.to_string(),
            event_types: s.event_types.clone(),
            max_events_per_second: s.max_events_per_second,
        },
        links: SelfLink { self_link: format!("/event-subscriptions/{}", s.id) },
    }
}

/// What a subscription request asks for, checked before the desk sees it: its event types
/// (`fraud_alert` when omitted, never none), a rate of at least 1 if any, and the loopback
/// address of its callback; 400 naming the member otherwise.
pub fn subscription_request(data: &SubscriptionData) -> Result<(Vec<EventType>, SocketAddr), Failure> {
    let event_types = data.event_types.clone().unwrap_or_else(|| vec![EventType::FraudAlert]);
    if event_types.is_empty() {
        return Err(Failure::bad(
            "invalid_body",
            "EventTypes is empty; omit it or name at least one of: fraud_alert, balance_change, transaction",
            Some("Data.EventTypes"),
        ));
    }
    if data.max_events_per_second == Some(0) {
        return Err(Failure::bad(
            "invalid_body",
            "MaxEventsPerSecond must be at least 1 (omit it for no limit)",
            Some("Data.MaxEventsPerSecond"),
        ));
    }
    let target = check_callback_url(&data.callback_url).map_err(|e| bad_callback_url(format!("CallbackUrl {e}")))?;
    Ok((event_types, target))
}

fn bad_callback_url(message: String) -> Failure {
    Failure::bad("invalid_callback_url", message, Some("Data.CallbackUrl"))
}

fn subscription_id(id: &str) -> Result<u64, Failure> {
    super::resource_id(id, "event subscription")
}

pub(super) async fn create_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    // The token before the body: a caller without one learns nothing about the schema.
    let token = authenticate(&state, &headers)?;
    token.must_be(TokenKind::Agreement, SUBSCRIPTIONS_NEED)?;
    let b: SubscriptionBody = parse_body(body)?;
    let (event_types, target) = subscription_request(&b.data)?;
    if let Some(&own) = state.listening.get()
        && alerts::reaches(target, own)
    {
        return Err(bad_callback_url(format!(
            "CallbackUrl `{}` is this bank's own address ({own}); the bank does not send notifications to itself",
            b.data.callback_url
        )));
    }
    let now = state.sim_now();
    let s = state.desk().subscribe(token, &b.data.callback_url, event_types, b.data.max_events_per_second, now)?;
    Ok((StatusCode::CREATED, Json(subscription_wire(&s))).into_response())
}

pub(super) async fn get_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = subscription_id(&id)?;
    let desk = state.desk();
    Ok(Json(subscription_wire(desk.subscription(token, id)?)).into_response())
}

pub(super) async fn delete_subscription(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = path_param(path)?;
    let token = authenticate(&state, &headers)?;
    let id = subscription_id(&id)?;
    state.desk().unsubscribe(token, id)?;
    // Answered once the alerts already on their way were answered (or timed out): nothing of
    // the subscription arrives after the 204, and the ledger holds every one acknowledged.
    state.open_sends().settled(id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
