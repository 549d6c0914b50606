//! OAuth 2.0 for the standard profiles: `POST /token` (RFC 6749) and the sandbox shortcut
//! `POST /sandbox/consents`. A platform's client is registered out of band (`bank-mock serve`
//! prints `oauth client for PLATFORM: client_id=ID client_secret=SECRET`): its `client_id` is
//! its name, its secret a MAC under the server's key. Clients authenticate with HTTP Basic
//! (`client_secret_basic`) or in the form (`client_secret_post`).
//!
//! The client-credentials grant answers the platform's agreement token: what the standard's
//! consent step is authorised with, and here what the agreed terms are held to.

use super::{AppState, Failure, Reply, parse_body};
use crate::api::Permission;
use crate::desk::DeskError;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use testbed_core::wire::oauth::{OAuthError, SandboxConsentRequest, SandboxConsentResponse, TokenResponse};

/// The one scope of the account-information APIs.
pub const SCOPE: &str = "accounts";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/token", post(token)).route("/sandbox/consents", post(sandbox_consent))
}

/// An OAuth error response (RFC 6749 §5.2): 400, or 401 with a `WWW-Authenticate` challenge for
/// a client that failed to authenticate.
struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthFailure {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthFailure {
        let status = if error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        OAuthFailure { status, error, description: description.into() }
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let body = OAuthError { error: self.error.into(), error_description: self.description };
        let mut r = (self.status, Json(body)).into_response();
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"bank-mock\""));
        }
        r
    }
}

/// The credentials of an HTTP Basic `Authorization` header (RFC 6749 §2.3.1: each part
/// form-urlencoded before encoding): `None` without one, `Err` for one that is malformed.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decode = || -> Option<(String, String)> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (id, secret) = text.split_once(':')?;
        let unescape =
            |s: &str| form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        Some((unescape(id)?, unescape(secret)?))
    };
    Some(decode().ok_or(()))
}

/// The platform a client authenticated as, from `Basic` credentials or the form's
/// `client_id` and `client_secret`.
fn client(state: &AppState, headers: &HeaderMap, form: &BTreeMap<String, String>) -> Result<String, OAuthFailure> {
    let (id, secret) = match basic_credentials(headers) {
        Some(Ok(credentials)) => credentials,
        Some(Err(())) => return Err(OAuthFailure::new("invalid_client", "the Basic credentials cannot be decoded")),
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => {
                return Err(OAuthFailure::new(
                    "invalid_client",
                    "authenticate the client: HTTP Basic, or client_id and client_secret in the form",
                ));
            }
        },
    };
    match state.client_secret(&id) {
        Some(_) if state.tokens.is_client_secret(&id, &secret) => Ok(id),
        _ => Err(OAuthFailure::new("invalid_client", "unknown client or wrong secret")),
    }
}

/// An `application/x-www-form-urlencoded` body: each parameter at most once (RFC 6749 §3.2).
fn form(body: &[u8]) -> Result<BTreeMap<String, String>, OAuthFailure> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(OAuthFailure::new("invalid_request", format!("`{k}` is given more than once")));
        }
    }
    Ok(out)
}

async fn token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match token_grant(&state, &headers, body) {
        Ok(answer) => {
            let mut r = Json(answer).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => e.into_response(),
    }
}

fn token_grant(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<TokenResponse, OAuthFailure> {
    let body = body.map_err(|e| OAuthFailure::new("invalid_request", format!("request body: {e}")))?;
    let form = form(&body)?;
    let platform = client(state, headers, &form)?;
    if let Some(scope) = form.get("scope")
        && scope.split(' ').any(|s| !s.is_empty() && s != SCOPE && s != "openid")
    {
        return Err(OAuthFailure::new("invalid_scope", format!("scopes offered: `{SCOPE}`, `openid`")));
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let desk = state.desk();
            let Some((info, revoked)) = desk.agreement(&platform) else {
                return Err(OAuthFailure::new(
                    "unauthorized_client",
                    format!(
                        "platform `{platform}` has no agreement with this bank: negotiate first (POST /negotiations), or start the bank with --agreed"
                    ),
                ));
            };
            if let Some(w) = revoked {
                return Err(OAuthFailure::new(
                    "unauthorized_client",
                    format!("the agreement was revoked: {}", w.reason),
                ));
            }
            Ok(TokenResponse {
                access_token: info.token.clone(),
                token_type: "Bearer".into(),
                expires_in: None,
                refresh_token: None,
                scope: SCOPE.into(),
            })
        }
        Some(other) => Err(OAuthFailure::new(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not served (served: client_credentials)"),
        )),
        None => Err(OAuthFailure::new("invalid_request", "grant_type is missing")),
    }
}

/// `POST /sandbox/consents`: an authorised consent for a customer, for load tests that do not
/// script the redirect flow. The client authenticates with HTTP Basic; the permissions are the
/// agreement's, or those named (by their codes, the testbed's own among them), within it.
async fn sandbox_consent(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let platform = match basic_credentials(&headers) {
        Some(Ok((id, secret))) if state.client_secret(&id).is_some() && state.tokens.is_client_secret(&id, &secret) => {
            id
        }
        _ => return Err(Failure::from(DeskError::Unauthorized)),
    };
    let request: SandboxConsentRequest = parse_body(body)?;
    let permissions = request
        .permissions
        .map(|codes| {
            codes
                .iter()
                .map(|code| {
                    Permission::ALL.into_iter().find(|p| p.as_str() == code).ok_or_else(|| {
                        let all: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
                        Failure::bad(
                            "invalid_body",
                            format!("unknown permission `{code}` (permissions: {})", all.join(", ")),
                            Some("permissions"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let now = state.sim_now();
    let (consent, access) =
        state.desk().create_consent_for(&platform, request.customer, permissions, (None, None), now)?;
    let body = SandboxConsentResponse { access_token: access, consent_id: consent.id };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
