//! OAuth 2.0 for the standard profiles: `POST /token` (RFC 6749) and the sandbox shortcut
//! `POST /sandbox/consents`. A platform's client is registered out of band (`bank-mock serve`
//! prints `oauth client for PLATFORM: client_id=ID client_secret=SECRET`): its `client_id` is
//! its name, its secret a MAC under the server's key. Clients authenticate with HTTP Basic
//! (`client_secret_basic`) or in the form (`client_secret_post`).
//!
//! The client-credentials grant answers the platform's agreement token: what the standard's
//! consent step is authorised with, and here what the agreed terms are held to. The customer's
//! approval of a consent is the authorization-code flow with PKCE (S256): `GET /authorize`
//! names the consent (`consent_id`, or the request object's `openbanking_intent_id`) and the
//! customer (`login_hint`), the mock decides as the customer headlessly (`Desk::decide_pending`)
//! and redirects with a code or with `error=access_denied`; `/token` exchanges the code for the
//! consent's access token and a refresh token. `/.well-known/openid-configuration` lists it all.

use super::{AppState, Failure, Reply, parse_body};
use crate::api::Permission;
use crate::desk::{Approval, DeskError, TokenKind};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use sha2::Digest as _;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testbed_core::wire::oauth::{OAuthError, SandboxConsentRequest, SandboxConsentResponse, TokenResponse};

/// The one scope of the account-information APIs.
pub const SCOPE: &str = "accounts";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/token", post(token))
        .route("/authorize", get(authorize))
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/sandbox/consents", post(sandbox_consent))
}

/// How long a code can be exchanged (RFC 6749 §4.1.2 recommends at most 10 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Codes issued and not yet exchanged that the server keeps; beyond it the oldest is forgotten.
pub const MAX_CODES: usize = 100_000;

/// An authorization code not yet exchanged.
struct Code {
    platform: String,
    redirect_uri: String,
    challenge: String,
    issued: Instant,
    approved: Approved,
}

/// What a code stands for.
enum Approved {
    /// A consent the customer approved at `/authorize`, and its access token.
    Consent { consent: u64, access: String },
    /// FDX: the customer approved what the agreement allows; the consent is made when the
    /// client, authenticated, exchanges the code, so that no one but the client can make the
    /// bank hold consents.
    Agreement { customer: u64 },
}

/// The codes issued and not yet exchanged, oldest first.
#[derive(Default)]
pub(super) struct Codes {
    by_code: BTreeMap<String, Code>,
    order: VecDeque<String>,
}

impl Codes {
    fn insert(&mut self, code: String, value: Code) {
        if self.order.len() >= MAX_CODES
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_code.remove(&oldest);
        }
        self.order.push_back(code.clone());
        self.by_code.insert(code, value);
    }

    /// Takes `code` out: a code is good once.
    fn take(&mut self, code: &str) -> Option<Code> {
        let value = self.by_code.remove(code)?;
        self.order.retain(|c| c != code);
        Some(value)
    }
}

/// A redirect URI a code can go to: absolute `http` or `https` on loopback (`localhost` or an
/// address `127.d.d.d`), with an optional port, no fragment (RFC 6749 §3.1.2), printable ASCII,
/// at most 2,048 bytes. Clients register no redirect URIs with the mock, so it sends codes only
/// back to the machine it runs on (RFC 9700 §4.11: no open redirector).
pub fn redirect_uri_ok(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://").or_else(|| uri.strip_prefix("https://")) else { return false };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let octets: Vec<&str> = host.split('.').collect();
    let loopback = host == "localhost"
        || (octets.len() == 4
            && octets[0] == "127"
            && octets.iter().all(|o| (1..=3).contains(&o.len()) && o.bytes().all(|b| b.is_ascii_digit())));
    let port_ok = port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    loopback && port_ok && uri.len() <= 2048 && tail.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// `redirect_uri` with `params` added to its query.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{}", query.finish());
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => OAuthFailure::new("invalid_request", "redirect_uri cannot carry the answer").into_response(),
    }
}

/// The consent a request object (an unsecured or signed JWT; the mock reads it without
/// checking a signature) names in `openbanking_intent_id`, as UK Open Banking passes it: at the
/// top, or in `claims.id_token` or `claims.userinfo` (as `{"value": ...}`).
pub fn intent_of_request_object(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let as_text = |v: &serde_json::Value| {
        v.as_str().map(String::from).or_else(|| v.get("value").and_then(|v| v.as_str()).map(String::from))
    };
    let intent = "openbanking_intent_id";
    claims
        .get(intent)
        .and_then(as_text)
        .or_else(|| claims.pointer(&format!("/claims/id_token/{intent}")).and_then(as_text))
        .or_else(|| claims.pointer(&format!("/claims/userinfo/{intent}")).and_then(as_text))
}

/// `GET /authorize`: the customer's approval, played headlessly. Until the client and its
/// redirect URI are known good, errors are answered here (400); after, they go to the redirect
/// URI (RFC 6749 §4.1.2.1).
async fn authorize(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = match form(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(platform) = params.get("client_id").filter(|id| state.client_secret(id).is_some()) else {
        return OAuthFailure::new("invalid_request", "client_id names no client registered at this bank")
            .into_response();
    };
    let Some(redirect_uri) = params.get("redirect_uri").filter(|u| redirect_uri_ok(u)) else {
        return OAuthFailure::new(
            "invalid_request",
            "redirect_uri must be an absolute http(s) URL on loopback (localhost or 127.x.y.z) without a fragment",
        )
        .into_response();
    };
    let state_param = params.get("state").map(String::as_str);
    let fail = |error: &str, description: &str| {
        let mut answer = vec![("error", error), ("error_description", description)];
        answer.extend(state_param.map(|s| ("state", s)));
        redirect(redirect_uri, &answer)
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        return fail("unsupported_response_type", "response_type must be `code`");
    }
    if let Some(scope) = params.get("scope")
        && scope.split(' ').any(|s| !s.is_empty() && s != SCOPE && s != "openid")
    {
        return fail("invalid_scope", "scopes offered: `accounts`, `openid`");
    }
    let challenge = match (params.get("code_challenge"), params.get("code_challenge_method").map(String::as_str)) {
        (Some(c), Some("S256"))
            if c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
        {
            c.clone()
        }
        (Some(_), Some("S256")) => {
            return fail("invalid_request", "code_challenge is not a base64url SHA-256 (43 characters)");
        }
        _ => return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"),
    };
    let Some(customer) = params.get("login_hint").and_then(|h| super::resource_id(h, "customer").ok()) else {
        return fail("invalid_request", "login_hint must name the customer: their index at this bank, e.g. 0");
    };
    let intent =
        params.get("consent_id").cloned().or_else(|| params.get("request").and_then(|r| intent_of_request_object(r)));
    let issue = |approved: Approved| {
        let code = format!("{:032x}", rand::random::<u128>());
        let value = Code {
            platform: platform.clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: challenge.clone(),
            issued: Instant::now(),
            approved,
        };
        state.codes().insert(code.clone(), value);
        let mut answer = vec![("code", code.as_str())];
        answer.extend(state_param.map(|s| ("state", s)));
        redirect(redirect_uri, &answer)
    };
    let consent = match intent.as_deref() {
        Some(id) => match super::resource_id(id, "consent") {
            Ok(id) => id,
            Err(_) => return fail("invalid_request", "no consent of this client awaits authorisation with that id"),
        },
        // FDX names no consent: the customer approves what the agreement allows, if they linked.
        None if state.api() == super::ApiProfile::Fdx => {
            let linked = state
                .desk()
                .agreement(platform)
                .filter(|(_, revoked)| revoked.is_none())
                .map(|(a, _)| a.linked_customers);
            return match linked {
                Some(linked) if customer < linked => issue(Approved::Agreement { customer }),
                Some(_) => fail(
                    "access_denied",
                    &format!(
                        "the customer rejected: customer {customer} has not linked their account to this platform"
                    ),
                ),
                None => fail("access_denied", "the platform has no agreement in force with this bank"),
            };
        }
        None => {
            return fail(
                "invalid_request",
                "name the consent: consent_id, or openbanking_intent_id in the request object",
            );
        }
    };
    let decided = state.desk().decide_pending(platform, consent, customer, state.sim_now());
    match decided {
        Ok(Approval::Approved { access }) => issue(Approved::Consent { consent, access }),
        Ok(Approval::Rejected { why }) => fail("access_denied", &format!("the customer rejected the consent: {why}")),
        Err(DeskError::NotFound(_)) => {
            fail("invalid_request", "no consent of this client awaits authorisation with that id")
        }
        Err(e) => fail("invalid_request", &e.to_string()),
    }
}

/// `GET /.well-known/openid-configuration`: the server's OAuth endpoints and what they take.
async fn discovery(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let issuer = super::obie::origin(&state, &headers);
    let body = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", SCOPE],
        "subject_types_supported": ["public"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "x-testbed-notes": "No ID token is issued; the customer is named by login_hint and decides headlessly, as the scenario's linking says; consent_id names the consent where the request object is not used.",
    });
    Json(body).into_response()
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
                consent_id: None,
            })
        }
        Some("authorization_code") => {
            let (Some(code), Some(verifier)) = (form.get("code"), form.get("code_verifier")) else {
                return Err(OAuthFailure::new("invalid_request", "code and code_verifier are required"));
            };
            let Some(issued) = state.codes().take(code) else {
                return Err(OAuthFailure::new("invalid_grant", "the code is unknown or was used already"));
            };
            if issued.platform != platform {
                return Err(OAuthFailure::new("invalid_grant", "the code was issued to another client"));
            }
            if form.get("redirect_uri") != Some(&issued.redirect_uri) {
                return Err(OAuthFailure::new(
                    "invalid_grant",
                    "redirect_uri differs from the authorization request's",
                ));
            }
            if issued.issued.elapsed() > CODE_LIFETIME {
                return Err(OAuthFailure::new("invalid_grant", "the code expired (it lasts 10 minutes)"));
            }
            let verifier_ok = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let digest = sha2::Sha256::digest(verifier.as_bytes());
            if !verifier_ok || base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != issued.challenge {
                return Err(OAuthFailure::new("invalid_grant", "code_verifier does not match the code_challenge"));
            }
            let now = state.sim_now();
            let (consent, access) = match issued.approved {
                Approved::Consent { consent, access } => (consent, access),
                Approved::Agreement { customer } => {
                    let mut desk = state.desk();
                    let made = desk.create_pending_consent_for(&platform, None, (None, None), None, now);
                    let id =
                        made.map_err(|e| OAuthFailure::new("invalid_grant", e.to_string()))?.id.parse().unwrap_or(0);
                    match desk.decide_pending(&platform, id, customer, now) {
                        Ok(Approval::Approved { access }) => (id, access),
                        Ok(Approval::Rejected { why }) => return Err(OAuthFailure::new("invalid_grant", why)),
                        Err(e) => return Err(OAuthFailure::new("invalid_grant", e.to_string())),
                    }
                }
            };
            // A consent revoked or expired between the approval and the exchange gets no token.
            if !state.desk().consent_in_force(consent, now) {
                return Err(OAuthFailure::new("invalid_grant", "the consent is no longer in force"));
            }
            Ok(TokenResponse {
                access_token: access,
                token_type: "Bearer".into(),
                expires_in: None,
                refresh_token: Some(state.tokens.issue(TokenKind::Refresh, &platform, consent)),
                scope: SCOPE.into(),
                consent_id: Some(consent.to_string()),
            })
        }
        Some("refresh_token") => {
            let refresh = form
                .get("refresh_token")
                .ok_or_else(|| OAuthFailure::new("invalid_request", "refresh_token is required"))?;
            let token = state
                .tokens
                .check(refresh)
                .ok()
                .filter(|t| t.kind() == TokenKind::Refresh && t.platform() == platform)
                .ok_or_else(|| OAuthFailure::new("invalid_grant", "not a refresh token of this client"))?;
            let in_force = state.desk().consent_in_force(token.id(), state.sim_now());
            if !in_force {
                return Err(OAuthFailure::new("invalid_grant", "the consent is no longer in force"));
            }
            Ok(TokenResponse {
                access_token: state.tokens.issue(TokenKind::Access, &platform, token.id()),
                token_type: "Bearer".into(),
                expires_in: None,
                refresh_token: Some(refresh.clone()),
                scope: SCOPE.into(),
                consent_id: Some(token.id().to_string()),
            })
        }
        Some(other) => Err(OAuthFailure::new(
            "unsupported_grant_type",
            format!(
                "grant_type `{other}` is not served (served: client_credentials, authorization_code, refresh_token)"
            ),
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
