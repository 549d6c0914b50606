//! `platform-mock receive`: a callback receiver for a bank's pushed notifications when you drive
//! a `bank-mock serve` by hand (the README's fraud-alert walk-through). It takes every request on
//! its loopback address, answers 202 (as UK Open Banking asks of an event-notification endpoint,
//! and as the live mode's callback does: a 2xx is what makes the bank count a delivery as
//! disclosed) and hands it on in arrival order; the `receive` command prints one line each.
//! Bounded as the other loopback servers are (`loopback`), and by `max` when one is given.

use crate::loopback::{LoopbackServer, read_body, status};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Notifications taken but not yet handed on; beyond, a sender waits for its answer (the bank
/// drops what a slow callback cannot take, and counts it).
const BACKLOG: usize = 1024;

/// One request the receiver took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub body: Bytes,
}

impl Notification {
    /// One line: method, target and body, with line breaks and other control characters of the
    /// body escaped so that a notification is never more than one line.
    pub fn line(&self) -> String {
        let mut line = format!("{} {}", self.method, self.target);
        if !self.body.is_empty() {
            line.push(' ');
        }
        for c in String::from_utf8_lossy(&self.body).chars() {
            if c.is_control() { line.extend(c.escape_default()) } else { line.push(c) }
        }
        line
    }
}

pub struct Receiver {
    server: LoopbackServer,
    notifications: mpsc::Receiver<Notification>,
}

impl Receiver {
    /// Listens on `addr` (the caller keeps it on loopback). With `max`, takes that many
    /// notifications and answers any after them 503.
    pub async fn start(addr: SocketAddr, max: Option<u64>) -> std::io::Result<Receiver> {
        let (sender, notifications) = mpsc::channel(BACKLOG);
        let taken = Arc::new(AtomicU64::new(0));
        let server = LoopbackServer::listen(addr, move |request: Request<Incoming>| {
            let (sender, taken) = (sender.clone(), taken.clone());
            async move { answer(request, &sender, &taken, max).await }
        })
        .await?;
        Ok(Receiver { server, notifications })
    }

    /// `http://ADDRESS:PORT`.
    pub fn base(&self) -> &str {
        self.server.base()
    }

    /// The next notification, in arrival order (never `None` while the server runs).
    pub async fn next(&mut self) -> Option<Notification> {
        self.notifications.recv().await
    }

    /// Stops accepting and drops open connections.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn answer(
    request: Request<Incoming>,
    sender: &mpsc::Sender<Notification>,
    taken: &AtomicU64,
    max: Option<u64>,
) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let target = request.uri().path_and_query().map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
    let Some(body) = read_body(request).await else { return status(StatusCode::BAD_REQUEST) };
    if max.is_some_and(|max| taken.fetch_add(1, Ordering::Relaxed) >= max) {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    match sender.send(Notification { method, target, body }).await {
        Ok(()) => status(StatusCode::ACCEPTED),
        Err(_) => status(StatusCode::SERVICE_UNAVAILABLE), // the receiver is stopping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_is_one_line_with_its_control_characters_escaped() {
        let n = Notification {
            method: "POST".into(),
            target: "/alerts?x=1".into(),
            body: Bytes::from_static(b"{\"Data\":\n {\"A\":\"\xc3\xa9\"}}\r"),
        };
        assert_eq!(n.line(), "POST /alerts?x=1 {\"Data\":\\n {\"A\":\"é\"}}\\r");
    }
}
