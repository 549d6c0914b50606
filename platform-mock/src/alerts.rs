//! The platform's callback for fraud alerts in live mode: a small hyper server on 127.0.0.1:0
//! that banks `POST` event notifications to (one path per route, `/alerts/{route}`), hands each
//! body to the live driver and answers 202, as UK Open Banking asks of an event-notification
//! endpoint. It stops when told, dropping connections still open.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest notification body accepted.
const MAX_NOTIFICATION: usize = 64 * 1024;

/// What the driver does with a notification: the route it came in on and its body.
pub type OnNotification = Arc<dyn Fn(usize, &[u8]) + Send + Sync>;

pub struct CallbackServer {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl CallbackServer {
    /// Listens on 127.0.0.1:0 and passes every `POST /alerts/{route}` body to `on_notification`.
    pub async fn start(on_notification: OnNotification) -> std::io::Result<CallbackServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let stream = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                while connections.try_join_next().is_some() {}
                let on_notification = on_notification.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let on_notification = on_notification.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(request, &on_notification).await) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            connections.abort_all();
        });
        Ok(CallbackServer { base, stop, task })
    }

    /// The callback URL for `route`.
    pub fn url(&self, route: usize) -> String {
        format!("{}/alerts/{route}", self.base)
    }

    /// Stops accepting and drops open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn answer(request: Request<Incoming>, on_notification: &OnNotification) -> Response<Full<Bytes>> {
    let status = |s: StatusCode| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = s;
        r
    };
    let route = request.uri().path().strip_prefix("/alerts/").and_then(|r| r.parse::<usize>().ok());
    let Some(route) = route.filter(|_| request.method() == hyper::Method::POST) else {
        return status(StatusCode::NOT_FOUND);
    };
    match Limited::new(request.into_body(), MAX_NOTIFICATION).collect().await {
        Ok(body) => {
            on_notification(route, &body.to_bytes());
            status(StatusCode::ACCEPTED)
        }
        Err(_) => status(StatusCode::BAD_REQUEST),
    }
}
