//! The platform's side of one bank's data API: the calls a live data phase makes (link a
//! customer, read a consent back, subscribe to events and unsubscribe, ask for data), in the
//! API's own body types (`testbed_core::wire`), with the bank's answers as values. The live
//! driver (`live`) decides what to ask and when; this module only knows how to ask.

use crate::aggregator::LINK_HEADER;
use crate::client::HttpClient;
use hyper::Method;
use hyper::body::Bytes;
use std::time::Duration;
use testbed_core::terms::Purpose;
use testbed_core::wire::{
    ApiError, ConsentBody, ConsentData, ConsentResponse, SubscriptionBody, SubscriptionData, SubscriptionResponse,
};
use testbed_core::workload::RequestError;

/// One bank's API at `base`.
#[derive(Clone)]
pub struct BankApi {
    client: HttpClient,
    base: String,
}

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
    pub fn new(client: HttpClient, base: impl Into<String>) -> BankApi {
        BankApi { client, base: base.into() }
    }

    /// Creates `customer`'s consent under the agreement `token` stands for; `None` where the
    /// bank refused it or did not answer.
    pub async fn link(&self, token: &str, customer: u64) -> Option<Linked> {
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
        client: &HttpClient,
        url: &str,
        token: &str,
        asking: &Asking<'_>,
        timeout: Duration,
    ) -> Result<Bytes, Failed> {
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
                revoked: serde_json::from_slice::<ApiError>(&answer.body).is_ok_and(|e| e.code == "consent_revoked"),
            },
        })
    }
}
