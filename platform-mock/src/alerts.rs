//! The platform's callback for fraud alerts in live mode: a small hyper server on 127.0.0.1:0
//! that banks `POST` event notifications to (one path per route, `/alerts/{route}`), hands each
//! body to the live driver and answers 202, as UK Open Banking asks of an event-notification
//! endpoint. It stops when told, dropping connections still open.

use crate::loopback::{LoopbackServer, read_body, status};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;

/// What the driver does with a notification: the route it came in on and its body.
pub type OnNotification = Arc<dyn Fn(usize, &[u8]) + Send + Sync>;

pub struct CallbackServer {
    server: LoopbackServer,
}

impl CallbackServer {
    /// Listens on 127.0.0.1:0 and passes every `POST /alerts/{route}` body to `on_notification`.
    pub async fn start(on_notification: OnNotification) -> std::io::Result<CallbackServer> {
        let server = LoopbackServer::start(move |request: Request<Incoming>| {
            let on_notification = on_notification.clone();
            async move { answer(request, &on_notification).await }
        })
        .await?;
        Ok(CallbackServer { server })
    }

    /// The callback URL for `route`.
    pub fn url(&self, route: usize) -> String {
        format!("{}/alerts/{route}", self.server.base())
    }

    /// Stops accepting and drops open connections.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn answer(request: Request<Incoming>, on_notification: &OnNotification) -> Response<Full<Bytes>> {
    let route = request.uri().path().strip_prefix("/alerts/").and_then(|r| r.parse::<usize>().ok());
    let Some(route) = route.filter(|_| request.method() == hyper::Method::POST) else {
        return status(StatusCode::NOT_FOUND);
    };
    match read_body(request).await {
        Some(body) => {
            on_notification(route, &body);
            status(StatusCode::ACCEPTED)
        }
        None => status(StatusCode::BAD_REQUEST),
    }
}
