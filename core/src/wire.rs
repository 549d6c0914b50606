//! The bank API's JSON bodies as types: every request body the server reads and every response
//! body it writes, for the server (`http`) and for clients (platform-mock's) alike.
//!
//! Request bodies are strict (`deny_unknown_fields`; a missing optional member means "none"), and
//! read exactly as before they were shared: no `#[serde(default)]` where there was none (it would
//! also let a JSON array with too few elements through as the struct).
//! Response bodies serialise to the very bytes the server wrote when it built
//! `serde_json::Value`s, whose keys come out sorted: so every response struct declares its
//! fields in the alphabetical order of their JSON names, and an absent value is `null` unless
//! the member is documented as omitted. A transactions page is written by hand on the hot path
//! (`http::data`); `TransactionPage` is its shape, to read it (a test checks the two agree).
//!
//! This is the boundary only: the server converts these to and from domain values (`Desk`
//! answers) explicitly, and builds the records from its population under a grant.
//! Pure data, like the rest of the core: no HTTP here.

pub mod fdx;
pub mod oauth;
pub mod obie;

use crate::population::{card_id, checking_id};
use crate::scenario::{BankId, DesignKind, RequestKind, Scenario};
use crate::terms::{DataCategory, Field, FieldSet, Terms};
use crate::time::calendar_text;
use crate::workload::EventType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The data API a bank server speaks. The negotiation and event-subscription routes (ours: no
/// standard negotiates terms) and the operational ones are served in every profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiProfile {
    /// The testbed's own API (`openapi.json`).
    #[default]
    Testbed,
    /// UK Open Banking's Account and Transaction API v3.1.11 under `/open-banking/v3.1/aisp`,
    /// with OAuth 2.0 (`/token`) and the sandbox shortcut (`/sandbox/consents`).
    Obie,
    /// FDX 6.4 (Plaid Core Exchange) under `/fdx/v6`, with the same OAuth 2.0 and sandbox.
    Fdx,
}

impl ApiProfile {
    pub const ALL: [ApiProfile; 3] = [ApiProfile::Testbed, ApiProfile::Obie, ApiProfile::Fdx];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiProfile::Testbed => "testbed",
            ApiProfile::Obie => "obie",
            ApiProfile::Fdx => "fdx",
        }
    }

    /// The API's name in a sentence.
    pub fn title(self) -> &'static str {
        match self {
            ApiProfile::Testbed => "the testbed's own API",
            ApiProfile::Obie => "UK Open Banking v3.1.11",
            ApiProfile::Fdx => "FDX 6.4",
        }
    }

    /// Whether this is a published standard (with OAuth 2.0), not the testbed's own API.
    pub fn is_standard(self) -> bool {
        self != ApiProfile::Testbed
    }

    /// Why `scenario` cannot be served in this profile at the banks `serves` picks, as one line
    /// naming the key: a minimised design's derived signals (a balance band, a fraud flag) have
    /// no shape in the standards.
    pub fn refusal(self, scenario: &Scenario, serves: impl Fn(BankId) -> bool) -> Option<String> {
        if !self.is_standard() {
            return None;
        }
        let p = (scenario.platforms.iter())
            .find(|p| p.banks.iter().any(|b| serves(*b)) && p.design.kind() == DesignKind::Minimised)?;
        Some(format!(
            "--api {}: platform `{}` has design kind = \"minimised\" ([platforms.design]), whose derived signals the standard has no shape for; use --api testbed",
            self.as_str(),
            p.name
        ))
    }
}

impl std::str::FromStr for ApiProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ApiProfile::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = ApiProfile::ALL.iter().map(|a| a.as_str()).collect();
            format!("`{s}` is no API profile (allowed: {})", all.join(", "))
        })
    }
}

const DAY_MS: u64 = 86_400_000;

/// The most days an FDX transactions window spans (`bank-mock` answers 703 beyond).
pub const FDX_MAX_DAYS: u64 = 366;

/// The path (with its query) a data request of `kind` about `customer` takes at `bank` in the
/// profile `api`, sent `at_ms` into the bank's calendar: a transactions request asks for the
/// `window` up to then (and the phase's first `window` before that much time has passed). FDX
/// names whole days, so its window starts at the midnight before and runs to now, and spans at
/// most `FDX_MAX_DAYS`.
pub fn data_path(
    api: ApiProfile,
    kind: RequestKind,
    bank: &str,
    customer: u64,
    window: Duration,
    at_ms: u64,
) -> String {
    let base = match api {
        ApiProfile::Testbed => "",
        ApiProfile::Obie => obie::BASE,
        ApiProfile::Fdx => fdx::BASE,
    };
    match (kind, api) {
        (RequestKind::BalanceLookup, ApiProfile::Fdx) => format!("{base}/accounts/{}", checking_id(bank, customer)),
        (RequestKind::BalanceLookup, _) => format!("{base}/accounts/{}/balances", checking_id(bank, customer)),
        (RequestKind::Accounts, _) => format!("{base}/accounts"),
        (RequestKind::TransactionSync | RequestKind::Commerce | RequestKind::FraudAlert, _) => {
            let window = window.as_millis() as u64;
            let to = at_ms.max(window);
            let card = card_id(bank, customer);
            match api {
                ApiProfile::Fdx => {
                    // Whole days, the end day included, at most the days a provider serves.
                    let (first, last) = ((to - window) / DAY_MS, to / DAY_MS);
                    let first = first.max(last.saturating_sub(FDX_MAX_DAYS - 1));
                    let (from, to) = (calendar_text(first * DAY_MS), calendar_text(last * DAY_MS));
                    format!("{base}/accounts/{card}/transactions?startTime={}&endTime={}", &from[..10], &to[..10])
                }
                _ => {
                    let (from, to) = (calendar_text(to - window), calendar_text(to));
                    format!("{base}/accounts/{card}/transactions?fromBookingDateTime={from}&toBookingDateTime={to}")
                }
            }
        }
    }
}

/// The fields a response to a request of `kind` can carry at most: those its records have a
/// member for, so that what is counted as disclosed is what a response can hold.
pub fn carried_fields(kind: RequestKind) -> FieldSet {
    use DataCategory::*;
    let of = |cats: &[DataCategory]| cats.iter().fold(FieldSet::EMPTY, |m, c| m.union(c.fields()));
    match kind {
        // An account record names its holder; no other identity field is in it.
        RequestKind::Accounts => of(&[AccountBasic, AccountNumbers, CardPan]).union(FieldSet::of(&[Field::Name])),
        // A balance record: the account, the amounts, the band.
        RequestKind::BalanceLookup => of(&[Balances]).union(FieldSet::of(&[Field::AccountId, Field::BalanceBand])),
        RequestKind::TransactionSync | RequestKind::Commerce => {
            of(&[TransactionsBasic, TransactionsDetail]).union(FieldSet::of(&[Field::AccountId]))
        }
        RequestKind::FraudAlert => {
            of(&[TransactionsBasic, TransactionsDetail]).union(FieldSet::of(&[Field::AccountId, Field::FraudFlag]))
        }
    }
}

/// The permissions an agreement supports: one per granted category.
pub fn permissions_for(terms: &Terms) -> Vec<Permission> {
    Permission::ALL.into_iter().filter(|p| terms.grants(p.category())).collect()
}

/// An outcome of the negotiation space: issue name → option label.
pub type Outcome = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------
// Permissions, consent status and the records a response carries

/// UK Open Banking permission codes, plus `ReadOffPlatformTransactions` for the one thing OB
/// has no code for: transactions made outside the platform asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    ReadAccountsBasic,
    ReadAccountsDetail,
    ReadBalances,
    ReadTransactionsBasic,
    ReadTransactionsDetail,
    ReadOffPlatformTransactions,
    ReadPAN,
    ReadParty,
    /// Testbed extension for minimised designs: derived signals (balance band, fraud flag)
    /// instead of raw data.
    ReadDerivedSignals,
}

impl Permission {
    /// The category a permission opens.
    pub fn category(self) -> DataCategory {
        match self {
            Permission::ReadAccountsBasic => DataCategory::AccountBasic,
            Permission::ReadAccountsDetail => DataCategory::AccountNumbers,
            Permission::ReadBalances => DataCategory::Balances,
            Permission::ReadTransactionsBasic => DataCategory::TransactionsBasic,
            Permission::ReadTransactionsDetail => DataCategory::TransactionsDetail,
            Permission::ReadOffPlatformTransactions => DataCategory::OffPlatformTransactions,
            Permission::ReadPAN => DataCategory::CardPan,
            Permission::ReadParty => DataCategory::Identity,
            Permission::ReadDerivedSignals => DataCategory::DerivedSignals,
        }
    }

    /// The permission's code, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadAccountsBasic => "ReadAccountsBasic",
            Permission::ReadAccountsDetail => "ReadAccountsDetail",
            Permission::ReadBalances => "ReadBalances",
            Permission::ReadTransactionsBasic => "ReadTransactionsBasic",
            Permission::ReadTransactionsDetail => "ReadTransactionsDetail",
            Permission::ReadOffPlatformTransactions => "ReadOffPlatformTransactions",
            Permission::ReadPAN => "ReadPAN",
            Permission::ReadParty => "ReadParty",
            Permission::ReadDerivedSignals => "ReadDerivedSignals",
        }
    }

    pub const ALL: [Permission; 9] = [
        Permission::ReadAccountsBasic,
        Permission::ReadAccountsDetail,
        Permission::ReadBalances,
        Permission::ReadTransactionsBasic,
        Permission::ReadTransactionsDetail,
        Permission::ReadOffPlatformTransactions,
        Permission::ReadPAN,
        Permission::ReadParty,
        Permission::ReadDerivedSignals,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentStatus {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
    Revoked,
}

/// A transaction as the API returns it: every field optional, present only when granted.
/// Fields in the alphabetical order of their JSON names, as a `serde_json::Value` writes them
/// (so the typed and the value serialisation give the same bytes; see `wire`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_date_time_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud_flag: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_zip5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub transaction_id: String,
}

impl TransactionRecord {
    /// The fields this record actually carries.
    pub fn fields(&self) -> FieldSet {
        let mut f = FieldSet::EMPTY;
        let mut add = |present: bool, field| {
            if present {
                f = f.union(FieldSet::of(&[field]));
            }
        };
        add(self.account_id.is_some(), Field::AccountId);
        add(self.amount.is_some(), Field::TxnAmount);
        add(self.booking_date_time_ms.is_some(), Field::TxnDate);
        add(self.status.is_some(), Field::TxnStatus);
        add(self.merchant_category.is_some(), Field::TxnCategory);
        add(self.merchant_name.is_some(), Field::TxnMerchant);
        add(self.place_zip5.is_some(), Field::TxnPlace);
        add(self.fraud_flag.is_some(), Field::FraudFlag);
        f
    }
}

/// An account as the API returns it (fields in the alphabetical order of their JSON names).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountRecord {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_pan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_number: Option<String>,
}

/// A balance as the API returns it (fields in the alphabetical order of their JSON names).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceRecord {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<String>,
    /// A derived signal for minimised designs: `<1k`, `1k-10k`, `>=10k`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Errors and health

/// The one error shape of the API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `GET /healthz`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
}

// ---------------------------------------------------------------------------------------------
// Negotiation

/// `POST /negotiations`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OpenBody {
    pub platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_time_ms: Option<u64>,
}

/// `POST /negotiations/{id}/offers`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct OfferBody {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_time_ms: Option<u64>,
}

/// `POST /negotiations/{id}/accept`, `/negotiations/{id}/review` and
/// `/agreements/{platform}/review` (an empty body is `{}`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TimeBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_time_ms: Option<u64>,
    /// Reviews only: the review follows an incident.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_incident: bool,
}

/// `POST /negotiations/{id}/withdraw`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WithdrawBody {
    pub clause: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_time_ms: Option<u64>,
}

/// One issue of the negotiation space, as `POST /negotiations` lists them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Issue {
    pub name: String,
    pub options: Vec<String>,
}

/// The answer to `POST /negotiations` (201).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Opened {
    pub bank: String,
    /// The bank's opening offer when the bank opens; `null` otherwise.
    pub bank_offer: Option<Outcome>,
    pub issues: Vec<Issue>,
    pub negotiation_id: String,
    pub negotiation_token: String,
    /// `platform` or `bank`: who makes the first move.
    pub opens: String,
    pub platform: String,
    pub rounds: u32,
}

/// What the bank decided on a platform's move.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Counter,
    Accept,
    Withdraw,
    Timeout,
}

/// The bank's answer to an offer, an accept or a withdrawal. Members that a decision does not
/// carry are omitted: `counter` and `timeout` carry `Outcome`; `accept` carries `Outcome` and
/// `Agreement`; `withdraw` carries `Clause` and `Reason`. `Round` is the round of the decision
/// (for a timeout, the rounds played).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NegotiationAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub round: u32,
}

/// An agreement reached: what the platform may ask consents for, and its agreement token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Agreement {
    pub categories: Vec<String>,
    pub linked_customers: u64,
    pub permissions: Vec<Permission>,
    pub platform: String,
    pub purposes: Vec<String>,
    pub token: String,
}

/// What the bank decided on reviewing a negotiation or an agreement.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Continue,
    Withdraw,
    Revoke,
}

/// The answer to a review; `Clause` and `Reason` are omitted for `continue`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReviewAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    pub decision: ReviewDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Consents

/// `POST /account-access-consents`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConsentBody {
    pub data: ConsentData,
}

/// The `Data` of a consent request; omitted permissions mean all the agreement supports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConsentData {
    pub customer_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_from_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_to_date_time: Option<String>,
}

/// A consent as the bank shows it: the answer to `GET /account-access-consents/{id}`, and with
/// the consent's access token to `POST /account-access-consents` (201).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentResponse {
    /// The bearer token of data requests under this consent; only when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub data: ConsentView,
}

/// A consent's members; date-times are RFC 3339 on the mock calendar, `null` when unset.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentView {
    pub consent_id: String,
    pub creation_date_time: String,
    pub customer_id: u64,
    pub expiration_date_time: Option<String>,
    pub permissions: Vec<Permission>,
    pub revocation: Option<Revocation>,
    pub status: ConsentStatus,
    pub transaction_from_date_time: Option<String>,
    pub transaction_to_date_time: Option<String>,
}

/// Who revoked a consent, why and when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Revocation {
    pub at: String,
    /// `customer`, `bank` or `platform`.
    pub by: String,
    /// The clause of the bank's policy it revoked over; absent unless the bank revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    pub why: String,
}

// ---------------------------------------------------------------------------------------------
// Event subscriptions

/// `POST /event-subscriptions`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SubscriptionBody {
    pub data: SubscriptionData,
}

/// The `Data` of a subscription request; omitted event types mean `fraud_alert`, an omitted
/// rate no limit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SubscriptionData {
    pub callback_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventType>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_events_per_second: Option<u32>,
}

/// An event subscription: the answer to `POST /event-subscriptions` (201) and to
/// `GET /event-subscriptions/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionResponse {
    pub data: SubscriptionView,
    pub links: SelfLink,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionView {
    pub callback_url: String,
    pub creation_date_time: String,
    pub event_subscription_id: String,
    pub event_types: Vec<EventType>,
    /// `null` for no limit.
    pub max_events_per_second: Option<u32>,
}

/// The body of one event notification the bank `POST`s to a subscription's callback (members
/// in the alphabetical order of their JSON names).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventNotification {
    pub consent_id: String,
    pub data: EventData,
    pub event_id: String,
    pub event_subscription_id: String,
    pub event_type: EventType,
    /// When the booking that raised the event was made, on the machine's clock (bank and
    /// platform share it: callbacks are on loopback), for the platform to time the delivery.
    pub time_of_event_unix_micros: u64,
}

/// What an event carries: one list, named after the event (`FraudAlert`, `Balance` or
/// `Transaction`), of one record with the fields the terms let out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Vec<BalanceRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraud_alert: Option<Vec<TransactionRecord>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<Vec<TransactionRecord>>,
}

/// `{"Self": "/..."}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SelfLink {
    #[serde(rename = "Self")]
    pub self_link: String,
}

// ---------------------------------------------------------------------------------------------
// Data

/// `GET /accounts`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AccountsResponse {
    pub data: AccountList,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AccountList {
    pub account: Vec<AccountRecord>,
}

/// `GET /accounts/{account}/balances`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BalancesResponse {
    pub data: BalanceList,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceList {
    pub balance: Vec<BalanceRecord>,
}

/// `GET /accounts/{account}/transactions` for a platform whose design is minimised: one
/// derived signal over the window instead of the transactions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FraudSignalResponse {
    pub data: FraudSignalList,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FraudSignalList {
    pub fraud_signal: Vec<FraudSignal>,
}

/// Only the fields the grant allows are present.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct FraudSignal {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud_flag: Option<bool>,
}

/// `GET /accounts/{account}/transactions`: one page of the window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionPage {
    pub data: TransactionList,
    pub links: PageLinks,
    pub meta: PageMeta,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionList {
    pub transaction: Vec<TransactionRecord>,
}

/// The next page (`null` on the last) and this one, with the window spelled out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PageLinks {
    #[serde(rename = "Next")]
    pub next: Option<String>,
    #[serde(rename = "Self")]
    pub self_link: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct PageMeta {
    pub total_pages: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of `value` serialised as it is, and through a `serde_json::Value` (which sorts
    /// keys, as the server's bodies were built before these types): equal when the fields are
    /// declared in the order of their JSON names.
    fn assert_value_order<T: Serialize>(value: &T) {
        let typed = serde_json::to_string(value).unwrap();
        let through_value = serde_json::to_string(&serde_json::to_value(value).unwrap()).unwrap();
        assert_eq!(typed, through_value);
    }

    fn outcome() -> Outcome {
        [("b".to_string(), "y".to_string()), ("a".to_string(), "x".to_string())].into()
    }

    #[test]
    fn every_response_serialises_to_the_bytes_of_its_json_value() {
        assert_value_order(&ApiError { code: "c".into(), message: "m".into(), path: Some("p".into()) });
        assert_value_order(&ApiError { code: "c".into(), message: "m".into(), path: None });
        assert_value_order(&Health { status: "ok".into() });
        for bank_offer in [None, Some(outcome())] {
            assert_value_order(&Opened {
                bank: "b".into(),
                bank_offer,
                issues: vec![Issue { name: "n".into(), options: vec!["o".into()] }],
                negotiation_id: "1".into(),
                negotiation_token: "t".into(),
                opens: "platform".into(),
                platform: "p".into(),
                rounds: 3,
            });
        }
        let agreement = Agreement {
            categories: vec!["balances".into()],
            linked_customers: 4,
            permissions: vec![Permission::ReadBalances],
            platform: "p".into(),
            purposes: vec!["commerce".into()],
            token: "t".into(),
        };
        let bare = NegotiationAnswer {
            agreement: None,
            clause: None,
            decision: Decision::Counter,
            outcome: None,
            reason: None,
            round: 2,
        };
        for answer in [
            NegotiationAnswer { outcome: Some(outcome()), ..bare.clone() },
            NegotiationAnswer {
                agreement: Some(agreement),
                outcome: Some(outcome()),
                decision: Decision::Accept,
                ..bare.clone()
            },
            NegotiationAnswer {
                clause: Some("c".into()),
                reason: Some("r".into()),
                decision: Decision::Withdraw,
                ..bare.clone()
            },
        ] {
            assert_value_order(&answer);
        }
        assert_value_order(&ReviewAnswer { clause: None, decision: ReviewDecision::Continue, reason: None });
        assert_value_order(&ReviewAnswer {
            clause: Some("c".into()),
            decision: ReviewDecision::Revoke,
            reason: Some("r".into()),
        });
        let view = ConsentView {
            consent_id: "1".into(),
            creation_date_time: "2018-01-01T00:00:00Z".into(),
            customer_id: 3,
            expiration_date_time: None,
            permissions: vec![Permission::ReadAccountsBasic],
            revocation: None,
            status: ConsentStatus::Authorised,
            transaction_from_date_time: None,
            transaction_to_date_time: Some("2018-02-01T00:00:00Z".into()),
        };
        assert_value_order(&ConsentResponse { access_token: Some("a".into()), data: view.clone() });
        assert_value_order(&ConsentResponse {
            access_token: None,
            data: ConsentView {
                revocation: Some(Revocation { at: "x".into(), by: "customer".into(), clause: None, why: "w".into() }),
                ..view
            },
        });
        assert_value_order(&SubscriptionResponse {
            data: SubscriptionView {
                callback_url: "http://127.0.0.1:1/a".into(),
                creation_date_time: "2018-01-01T00:00:00Z".into(),
                event_subscription_id: "1".into(),
                event_types: vec![EventType::FraudAlert],
                max_events_per_second: None,
            },
            links: SelfLink { self_link: "/event-subscriptions/1".into() },
        });
        let s = || Some("s".to_string());
        assert_value_order(&AccountsResponse {
            data: AccountList {
                account: vec![AccountRecord {
                    account_id: "a".into(),
                    account_number: s(),
                    account_type: s(),
                    card_pan: s(),
                    holder_name: s(),
                    masked_number: s(),
                    routing_number: s(),
                }],
            },
        });
        assert_value_order(&BalancesResponse {
            data: BalanceList {
                balance: vec![BalanceRecord { account_id: "a".into(), available: s(), band: s(), current: s() }],
            },
        });
        assert_value_order(&TransactionPage {
            data: TransactionList {
                transaction: vec![TransactionRecord {
                    account_id: s(),
                    amount: s(),
                    booking_date_time_ms: Some(1),
                    fraud_flag: Some(false),
                    merchant_category: s(),
                    merchant_name: s(),
                    place_zip5: s(),
                    status: s(),
                    transaction_id: "t".into(),
                }],
            },
            links: PageLinks { next: None, self_link: "/x".into() },
            meta: PageMeta { total_pages: 1 },
        });
    }

    #[test]
    fn request_bodies_a_client_writes_are_the_ones_the_server_reads() {
        let open = OpenBody { platform: "p".into(), sim_time_ms: None };
        assert_eq!(serde_json::to_string(&open).unwrap(), r#"{"Platform":"p"}"#);
        let time: TimeBody = serde_json::from_str("{}").unwrap();
        assert_eq!(time, TimeBody::default());
        assert_eq!(serde_json::to_string(&time).unwrap(), "{}");
        let consent = ConsentBody {
            data: ConsentData {
                customer_id: 3,
                permissions: Some(vec![Permission::ReadBalances]),
                transaction_from_date_time: None,
                transaction_to_date_time: None,
            },
        };
        let text = serde_json::to_string(&consent).unwrap();
        assert_eq!(text, r#"{"Data":{"CustomerId":3,"Permissions":["ReadBalances"]}}"#);
        assert_eq!(serde_json::from_str::<ConsentBody>(&text).unwrap(), consent);
        assert!(serde_json::from_str::<OpenBody>(r#"{"Platform":"p","Extra":1}"#).is_err(), "unknown members refused");
    }
}
