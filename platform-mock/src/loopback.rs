//! A small hyper HTTP/1.1 server on loopback for the platform's own endpoints (the alert
//! callback and the aggregator's relay in live mode, on 127.0.0.1:0; `platform-mock receive`, on
//! the address it is given): one task a connection, stopped when told, dropping connections
//! still open. Bounded as bank-mock's server is: a client has
//! `HEADER_READ_TIMEOUT` to send a request head (and an idle keep-alive connection is closed
//! after it), and at most `MAX_CONNECTIONS` are open at once (one more is closed at once).

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Time a client has to send a request's head; also the longest an idle connection is kept.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// Time a client has to send a request's whole body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body taken (a notification is well under 1 KB).
pub const MAX_BODY: usize = 64 * 1024;

/// A request's whole body, if it arrives within `BODY_READ_TIMEOUT` and `MAX_BODY`.
pub async fn read_body(request: Request<Incoming>) -> Option<Bytes> {
    use http_body_util::BodyExt;
    let body = http_body_util::Limited::new(request.into_body(), MAX_BODY).collect();
    Some(tokio::time::timeout(BODY_READ_TIMEOUT, body).await.ok()?.ok()?.to_bytes())
}

pub struct LoopbackServer {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl LoopbackServer {
    /// Listens on 127.0.0.1:0 and answers every request with `handler`.
    pub async fn start<H, F>(handler: H) -> std::io::Result<LoopbackServer>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        LoopbackServer::listen(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await
    }

    /// Listens on `addr` (the caller keeps it on loopback) and answers every request with
    /// `handler`.
    pub async fn listen<H, F>(addr: SocketAddr, handler: H) -> std::io::Result<LoopbackServer>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
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
                if connections.len() >= MAX_CONNECTIONS {
                    continue; // dropped: closed at once
                }
                let handler = handler.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let answer = handler(request);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            connections.abort_all();
        });
        Ok(LoopbackServer { base, stop, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Stops accepting and drops open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// An empty response with `status`.
pub fn status(status: hyper::StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}
