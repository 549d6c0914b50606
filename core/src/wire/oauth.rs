//! OAuth 2.0 bodies of the standard profiles (`bank-mock serve --api obie|fdx`): the token
//! endpoint's answers and errors (RFC 6749 §5), and the sandbox shortcut that hands a load test
//! an authorised consent's token without the redirect flow (as Plaid Sandbox does).

use serde::{Deserialize, Serialize};

/// `POST /token` answered (RFC 6749 §5.1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Omitted: the mock's tokens last as long as what they stand for (an agreement, a consent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// The consent the access token stands for (an addition of ours, as RFC 6749 §5.1 allows:
    /// FDX's authorization makes the consent, and its client learns the id here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
}

/// An OAuth error (RFC 6749 §5.2): `invalid_request`, `invalid_client`, `invalid_grant`,
/// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `access_denied`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

/// `POST /sandbox/consents`: an authorised consent for `customer`, with the agreement's
/// permissions or the `permissions` given (within the agreed terms).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SandboxConsentRequest {
    pub customer: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SandboxConsentResponse {
    pub access_token: String,
    pub consent_id: String,
}
