//! The platform's side of one bank's data API: the calls a live data phase makes (link a
//! customer, read a consent back, subscribe to events and unsubscribe, ask for data), in the
//! body types of the profile the bank speaks (`testbed_core::wire` and its `obie`, `fdx` and
//! `oauth`), with the bank's answers as values. The live driver (`live`) decides what to ask and
//! when; this module only knows how to ask.
//!
//! Under a standard profile a customer links as the standard has it: UK Open Banking makes an
//! account-access consent with the client-credentials token and has the customer approve it at
//! `/authorize`; FDX has the customer approve at `/authorize` directly; both exchange the code
//! for the consent's access token at `/token` with PKCE (S256). Reading a consent back (its
//! revocation, its permissions by the testbed's names) and event subscriptions stay the
//! testbed's own routes, which every profile serves: the standards have no clause or reason.

use crate::aggregator::LINK_HEADER;
use crate::client::HttpClient;
use base64::Engine as _;
use hyper::Method;
use hyper::body::Bytes;
use std::time::Duration;
use testbed_core::scenario::RequestKind;
use testbed_core::terms::Purpose;
use testbed_core::wire::oauth::{OAuthError, TokenResponse};
use testbed_core::wire::{
    ApiError, ApiProfile, ConsentBody, ConsentData, ConsentResponse, Permission, SubscriptionBody, SubscriptionData,
    SubscriptionResponse, data_path, fdx, obie,
};
use testbed_core::workload::RequestError;

/// One bank's API at `base`, in the profile it speaks, with the platform's OAuth client there
/// (needed by the standard profiles).
#[derive(Clone)]
pub struct BankApi {
    client: HttpClient,
    base: String,
    api: ApiProfile,
    oauth: Option<OAuthClient>,
}

/// A platform's OAuth client at a bank, as `bank-mock serve` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: String,
    pub secret: String,
}

/// Where the bank sends the customer back: never followed (the code is read from the
/// redirect's `Location`), and on loopback as the bank requires.
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A customer linked: the consent's access token and id, and the permissions the bank granted.
pub struct Linked {
    pub access_token: String,
    pub consent_id: String,
    pub permissions: Vec<String>,
}

/// A revocation the bank recorded on a consent: when (ms on its calendar), over which clause,
/// why.
pub type Revoked = (u64, String, String);

/// How a data request asks: for what purpose, for every field beyond the consent
/// (`X-Requested-Fields: *`), and through an aggregator for which customer link.
pub struct Asking<'a> {
    pub purpose: Purpose,
    pub over_fetch: bool,
    pub link: Option<&'a str>,
}

/// Why a data request got no data: the error it counts as, the wait the bank named (429's
/// `Retry-After`), and whether the bank said the consent was revoked.
pub struct Failed {
    pub error: RequestError,
    pub retry_after: Option<Duration>,
    pub revoked: bool,
}

impl BankApi {
    /// The bank at `base` speaking the testbed's own API.
    pub fn new(client: HttpClient, base: impl Into<String>) -> BankApi {
        BankApi { client, base: base.into(), api: ApiProfile::Testbed, oauth: None }
    }

    /// The bank at `base` speaking `api`, where the platform's OAuth client is `oauth`.
    pub fn speaking(
        client: HttpClient,
        base: impl Into<String>,
        api: ApiProfile,
        oauth: Option<OAuthClient>,
    ) -> BankApi {
        BankApi { client, base: base.into(), api, oauth }
    }

    /// Links `customer` under the agreement `token` stands for, as the bank's profile has it;
    /// `None` where the bank refused (or the customer rejected) or did not answer. A standard
    /// profile asks for every permission of `terms` it has a code for.
    pub async fn link(&self, token: &str, customer: u64, permissions: &[Permission]) -> Option<Linked> {
        match self.api {
            ApiProfile::Testbed => self.link_testbed(token, customer).await,
            ApiProfile::Obie => {
                let codes: Vec<String> =
                    permissions.iter().filter_map(|p| obie::permission_code(*p)).map(String::from).collect();
                let url = format!("{}{}/account-access-consents", self.base, obie::BASE);
                let body = obie::ConsentRequest {
                    data: obie::ConsentRequestData {
                        permissions: codes,
                        expiration_date_time: None,
                        transaction_from_date_time: None,
                        transaction_to_date_time: None,
                    },
                    risk: obie::Risk {},
                };
                let bytes = Bytes::from(serde_json::to_vec(&body).ok()?);
                let answer = self.client.send(Method::POST, &url, Some(token), &[], Some(bytes)).await.ok()?;
                if !answer.status.is_success() {
                    return None;
                }
                let consent: obie::ConsentResponse = serde_json::from_slice(&answer.body).ok()?;
                self.approve(customer, Some(&consent.data.consent_id)).await
            }
            ApiProfile::Fdx => self.approve(customer, None).await,
        }
    }

    async fn link_testbed(&self, token: &str, customer: u64) -> Option<Linked> {
        let url = format!("{}/account-access-consents", self.base);
        let body = ConsentBody {
            data: ConsentData {
                customer_id: customer,
                permissions: None,
                transaction_from_date_time: None,
                transaction_to_date_time: None,
            },
        };
        let Ok((_, Ok(ConsentResponse { access_token: Some(access_token), data }))) =
            self.client.post::<_, ConsentResponse>(&url, Some(token), &body).await
        else {
            return None;
        };
        let permissions = data.permissions.iter().map(|p| p.as_str().to_string()).collect();
        Some(Linked { access_token, consent_id: data.consent_id, permissions })
    }

    /// The customer's approval at `/authorize` (of consent `consent`, or under FDX of what the
    /// agreement allows) and the code exchanged at `/token`, with PKCE: the consent's access
    /// token and id. `None` where the customer rejected or the bank refused.
    async fn approve(&self, customer: u64, consent: Option<&str>) -> Option<Linked> {
        let oauth = self.oauth.as_ref()?;
        let (verifier, challenge) = pkce();
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &oauth.id)
                .append_pair("redirect_uri", REDIRECT_URI)
                .append_pair("scope", "accounts")
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("login_hint", &customer.to_string());
            if let Some(id) = consent {
                query.append_pair("consent_id", id);
            }
            query.finish()
        };
        let url = format!("{}/authorize?{query}", self.base);
        let answer = self.client.send(Method::GET, &url, None, &[], None).await.ok()?;
        // The redirect carries the code, or the customer's rejection (`error=access_denied`).
        let location = answer.location.filter(|_| answer.status.is_redirection())?;
        let (_, query) = location.split_once('?')?;
        let code = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "code")?.1.into_owned();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("code_verifier", &verifier)
            .finish();
        let token: TokenResponse = self.token(form).await?;
        let consent_id = token.consent_id?;
        Some(Linked { access_token: token.access_token, consent_id, permissions: Vec::new() })
    }

    /// `POST /token` with the client's credentials (HTTP Basic) and `form`.
    async fn token(&self, form: String) -> Option<TokenResponse> {
        let answer = self.token_answer(form).await?;
        answer.status.is_success().then(|| serde_json::from_slice(&answer.body).ok()).flatten()
    }

    async fn token_answer(&self, form: String) -> Option<crate::client::Answer> {
        let oauth = self.oauth.as_ref()?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", oauth.id, oauth.secret));
        let auth = format!("Basic {basic}");
        let headers = [("authorization", auth.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let url = format!("{}/token", self.base);
        self.client.send(Method::POST, &url, None, &headers, Some(Bytes::from(form))).await.ok()
    }

    /// Whether the bank speaks this profile: its account list is a route there (asked without a
    /// token: 401, not 404). `None` when it does not answer.
    pub async fn speaks_profile(&self) -> Option<bool> {
        let url = format!("{}{}", self.base, data_path(self.api, RequestKind::Accounts, "", 0, Duration::ZERO, 0));
        let answer = self.client.send(Method::GET, &url, None, &[], None).await.ok()?;
        Some(answer.status != hyper::StatusCode::NOT_FOUND)
    }

    /// Whether the bank takes `token` as one of its own (`GET /account-access-consents/x`, no
    /// consent's id, authenticates the token first and changes nothing): not 401 or 403.
    /// `None` when it does not answer.
    pub async fn knows_token(&self, token: &str) -> Option<bool> {
        let url = format!("{}/account-access-consents/x", self.base);
        let answer = self.client.send(Method::GET, &url, Some(token), &[], None).await.ok()?;
        Some(!matches!(answer.status.as_u16(), 401 | 403))
    }

    /// Whether the bank knows the OAuth client: its `/token` does not answer `invalid_client`
    /// (it may refuse the grant itself before an agreement exists). `None` when it does not
    /// answer.
    pub async fn knows_client(&self) -> Option<bool> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", "accounts")
            .finish();
        let answer = self.token_answer(form).await?;
        let refused = serde_json::from_slice::<OAuthError>(&answer.body).is_ok_and(|e| e.error == "invalid_client");
        Some(!refused)
    }

    /// The client-credentials grant: the token the standard's consent step is authorised with
    /// (the agreement's), or why the bank gave none (its `error_description`).
    pub async fn client_credentials(&self) -> Result<String, String> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", "accounts")
            .finish();
        let answer = self.token_answer(form).await.ok_or("the bank did not answer POST /token")?;
        if answer.status.is_success()
            && let Ok(token) = serde_json::from_slice::<TokenResponse>(&answer.body)
        {
            return Ok(token.access_token);
        }
        Err(match serde_json::from_slice::<OAuthError>(&answer.body) {
            Ok(e) => format!("{}: {}", e.error, e.error_description),
            Err(_) => format!("POST /token answered {}", answer.status),
        })
    }

    /// The permissions consent `id` holds, by the testbed's names (`GET
    /// /account-access-consents/{id}`, which every profile serves).
    pub async fn permissions(&self, id: &str, token: &str) -> Option<Vec<String>> {
        let url = format!("{}/account-access-consents/{id}", self.base);
        let Ok((_, Ok(consent))) = self.client.get::<ConsentResponse>(&url, Some(token)).await else { return None };
        Some(consent.data.permissions.iter().map(|p| p.as_str().to_string()).collect())
    }

    /// The revocation recorded on consent `id` (`GET /account-access-consents/{id}`), if any;
    /// `None` too when the bank does not answer within `within`.
    pub async fn revocation(&self, id: &str, token: &str, within: Duration) -> Option<Revoked> {
        let url = format!("{}/account-access-consents/{id}", self.base);
        let answer = tokio::time::timeout(within, self.client.get::<ConsentResponse>(&url, Some(token))).await;
        let Ok(Ok((_, Ok(consent)))) = answer else { return None };
        let r = consent.data.revocation?;
        Some((testbed_core::time::calendar_ms(&r.at).ok()?, r.clause?, r.why))
    }

    /// Subscribes a callback under the agreement `token` stands for; the subscription's URL (to
    /// delete it), or the error the refusal counts as.
    pub async fn subscribe(&self, token: &str, data: SubscriptionData) -> Result<String, RequestError> {
        let url = format!("{}/event-subscriptions", self.base);
        match self.client.post::<_, SubscriptionResponse>(&url, Some(token), &SubscriptionBody { data }).await {
            Ok((_, Ok(subscription))) => Ok(format!("{url}/{}", subscription.data.event_subscription_id)),
            Ok((status, Err(_))) => Err(RequestError::Refused(status.as_u16().to_string())),
            Err(_) => Err(RequestError::Transport),
        }
    }

    /// Deletes the subscription at `url`, waiting at most `within` for the answer.
    pub async fn unsubscribe(client: &HttpClient, url: &str, token: &str, within: Duration) {
        let _ = tokio::time::timeout(within, client.send(Method::DELETE, url, Some(token), &[], None)).await;
    }

    /// One data request (`path_and_query` on `base`, which may be an aggregator's route instead
    /// of the bank's), given up after `timeout`: the body of a 2xx, or why there was none.
    pub async fn data(
        api: ApiProfile,
        client: &HttpClient,
        url: &str,
        token: &str,
        asking: &Asking<'_>,
        timeout: Duration,
    ) -> Result<Bytes, Failed> {
        // Sent in every profile: the standards have no purpose header, and the bank holds one
        // sent to the terms as it does its own API's.
        let mut headers = vec![("x-purpose", asking.purpose.as_str())];
        if asking.over_fetch {
            headers.push(("x-requested-fields", "*"));
        }
        if let Some(link) = asking.link {
            headers.push((LINK_HEADER, link));
        }
        let failed = |error, retry_after| Failed { error, retry_after, revoked: false };
        let answer =
            match tokio::time::timeout(timeout, client.send(Method::GET, url, Some(token), &headers, None)).await {
                Err(_) => return Err(failed(RequestError::Timeout, None)),
                Ok(Err(_)) => return Err(failed(RequestError::Transport, None)),
                Ok(Ok(answer)) => answer,
            };
        let status = answer.status;
        Err(match status.as_u16() {
            _ if status.is_success() => return Ok(answer.body),
            429 => failed(RequestError::RateLimited, Some(Duration::from_secs(answer.retry_after.unwrap_or(1)))),
            503 => failed(RequestError::Unavailable, None),
            _ if status.is_server_error() => failed(RequestError::ServerError, None),
            code => Failed {
                error: RequestError::Refused(code.to_string()),
                retry_after: None,
                revoked: error_code(api, &answer.body).is_some_and(|c| c == "consent_revoked"),
            },
        })
    }
}

/// The testbed's stable code of an error body in profile `api`: the testbed's own `code`, UK
/// Open Banking's `Code`, or the code FDX's `debugMessage` starts with.
fn error_code(api: ApiProfile, body: &[u8]) -> Option<String> {
    match api {
        ApiProfile::Testbed => serde_json::from_slice::<ApiError>(body).ok().map(|e| e.code),
        ApiProfile::Obie => serde_json::from_slice::<obie::ErrorResponse>(body).ok().map(|e| e.code),
        ApiProfile::Fdx => {
            let e = serde_json::from_slice::<fdx::Error>(body).ok()?;
            Some(e.debug_message?.split(':').next()?.to_string())
        }
    }
}

/// A PKCE verifier (32 random bytes, base64url: 43 characters) and its S256 challenge.
fn pkce() -> (String, String) {
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verifier = b64.encode(rand::random::<[u8; 32]>());
    let challenge = b64.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
