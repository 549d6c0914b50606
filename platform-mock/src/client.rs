//! A small JSON-over-HTTP/1.1 client on hyper, with connection pooling, for talking to banks.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid request to {url}: {message}")]
    Request { url: String, message: String },
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url}: answered {status} with a body that is not the expected JSON: {message}")]
    Body { url: String, status: u16, message: String },
    #[error("live run: {0}")]
    Live(String),
    #[error("{url}: bank `{bank}` refused platform `{platform}`'s client token ({status}: {message})")]
    ClientTokenRefused { url: String, platform: String, bank: String, status: hyper::StatusCode, message: String },
}

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        HttpClient { inner: Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector) }
    }
}

/// A response: status, `Retry-After` in seconds if any, and the body.
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<u64>,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self, url: &str) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Body {
            url: url.into(),
            status: self.status.as_u16(),
            message: e.to_string(),
        })
    }
}

impl HttpClient {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ClientError> {
        let mut req = Request::builder().method(method).uri(url);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let bytes = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(b).expect("JSON values serialise"))
            }
            None => Bytes::new(),
        };
        let req =
            req.body(Full::new(bytes)).map_err(|e| ClientError::Request { url: url.into(), message: e.to_string() })?;
        let resp = self
            .inner
            .request(req)
            .await
            .map_err(|e| ClientError::Transport { url: url.into(), message: e.to_string() })?;
        let status = resp.status();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport { url: url.into(), message: e.to_string() })?
            .to_bytes();
        Ok(Answer { status, retry_after, body })
    }

    /// POST a JSON body and parse the JSON answer.
    pub async fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<(StatusCode, serde_json::Value), ClientError> {
        let a = self.send(Method::POST, url, token, &[], Some(body)).await?;
        Ok((a.status, a.json(url)?))
    }
}
