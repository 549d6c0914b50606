//! A small JSON-over-HTTP/1.1 client on hyper, with connection pooling, for talking to banks
//! in the API's own body types (`testbed_core::wire`, which the bank's server writes too).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use testbed_core::wire::ApiError;
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
    #[error("bank `{bank}` refused platform `{platform}`'s OAuth client (POST /token, grant_type=client_credentials)")]
    OAuthClientRefused { platform: String, bank: String },
    #[error("{0}")]
    AgreementTokens(String),
    #[error("bank `{bank}` gave platform `{platform}` no agreement token (POST /token, client_credentials): {why}")]
    GrantRefused { platform: String, bank: String, why: String },
    #[error(
        "bank `{bank}` at {url} does not speak --api {api} (its account list there is no route); start it with `bank-mock serve --api {api}`, or run with the --api it speaks"
    )]
    ProfileNotSpoken { bank: String, url: String, api: &'static str },
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

/// A response: status, `Retry-After` in seconds if any, `Location` if any, and the body.
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<u64>,
    pub location: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The body as `R` for a 2xx, else as the API's one error shape.
    pub fn typed<R: DeserializeOwned>(&self, url: &str) -> Result<Result<R, ApiError>, ClientError> {
        let body = |e: serde_json::Error| ClientError::Body {
            url: url.into(),
            status: self.status.as_u16(),
            message: e.to_string(),
        };
        if self.status.is_success() {
            serde_json::from_slice(&self.body).map(Ok).map_err(body)
        } else {
            serde_json::from_slice(&self.body).map(Err).map_err(body)
        }
    }
}

impl HttpClient {
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
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
                // JSON unless the caller named the body's type.
                if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                    req = req.header("content-type", "application/json");
                }
                b
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
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(String::from);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport { url: url.into(), message: e.to_string() })?
            .to_bytes();
        Ok(Answer { status, retry_after, location, body })
    }

    /// POSTs `body` and reads the answer: `R` for a 2xx, else the API's error.
    pub async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<(StatusCode, Result<R, ApiError>), ClientError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| ClientError::Request { url: url.into(), message: e.to_string() })?;
        let a = self.send(Method::POST, url, token, &[], Some(Bytes::from(bytes))).await?;
        Ok((a.status, a.typed(url)?))
    }

    /// GETs `url` and reads the answer: `R` for a 2xx, else the API's error.
    pub async fn get<R: DeserializeOwned>(
        &self,
        url: &str,
        token: Option<&str>,
    ) -> Result<(StatusCode, Result<R, ApiError>), ClientError> {
        let a = self.send(Method::GET, url, token, &[], None).await?;
        Ok((a.status, a.typed(url)?))
    }
}
