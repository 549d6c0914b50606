//! UK Open Banking (Account and Transaction API v3.1.11) bodies, as `bank-mock serve --api obie`
//! writes and reads them under `/open-banking/v3.1/aisp`: the standard's member names and
//! shapes (`OBReadConsent1`, `OBReadConsentResponse1`, `OBReadAccount6`, `OBReadBalance1`,
//! `OBReadTransaction6`, `OBErrorResponse1`), only the members the mock fills. Optional members
//! are omitted when empty, as the standard marks them optional; nothing here is ours except
//! where a name says `x-testbed`.

use crate::terms::{Field, FieldSet};
use serde::{Deserialize, Serialize};

/// Where the profile's routes live.
pub const BASE: &str = "/open-banking/v3.1/aisp";

/// The standard's permission codes (`OBReadConsent1.Data.Permissions`), all 21.
pub const PERMISSIONS: [&str; 21] = [
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesBasic",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsBasic",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersBasic",
    "ReadStandingOrdersDetail",
    "ReadStatementsBasic",
    "ReadStatementsDetail",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
];

/// `OBRisk2`: always `{}` in this API.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Risk {}

/// `POST /account-access-consents`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConsentRequest {
    pub data: ConsentRequestData,
    pub risk: Risk,
}

/// The dates are strings when present: `null` is refused, as the standard's schema does.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentRequestData {
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub transaction_from_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub transaction_to_date_time: Option<String>,
}

/// A member that, when present, is a string (absent is `None`, by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// `OBReadConsentResponse1`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentResponse {
    pub data: ConsentResponseData,
    pub risk: Risk,
    pub links: Links,
    pub meta: Meta,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ConsentResponseData {
    pub consent_id: String,
    pub creation_date_time: String,
    pub status: String,
    pub status_update_date_time: String,
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_from_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_to_date_time: Option<String>,
}

/// `Links`: absolute URLs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Links {
    #[serde(rename = "Self")]
    pub self_link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_available_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_available_date_time: Option<String>,
}

/// A read: `{"Data": ..., "Links": ..., "Meta": ...}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Read<D> {
    pub data: D,
    pub links: Links,
    pub meta: Meta,
}

/// `OBReadAccount6.Data`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AccountData {
    pub account: Vec<Account>,
}

/// `OBAccount6`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    pub account_id: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account: Vec<CashAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicer: Option<Servicer>,
}

/// `OBCashAccount5`: one identification of an account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CashAccount {
    pub scheme_name: String,
    pub identification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `OBBranchAndFinancialInstitutionIdentification5`: the account's servicer (a US bank's ABA
/// routing number).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Servicer {
    pub scheme_name: String,
    pub identification: String,
}

/// `OBReadBalance1.Data`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct BalanceData {
    pub balance: Vec<Balance>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Balance {
    pub account_id: String,
    pub amount: Amount,
    pub credit_debit_indicator: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub date_time: String,
}

/// `OBActiveOrHistoricCurrencyAndAmount`: unsigned; the sign is the `CreditDebitIndicator`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Amount {
    pub amount: String,
    pub currency: String,
}

/// `OBReadDataTransaction6`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionData {
    pub transaction: Vec<Transaction>,
}

/// `OBTransaction6`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Transaction {
    pub account_id: String,
    pub transaction_id: String,
    pub credit_debit_indicator: String,
    pub status: String,
    pub booking_date_time: String,
    pub amount: Amount,
    /// The merchant category's name, as the narrative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_information: Option<String>,
    /// Where the card was used: the ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_details: Option<MerchantDetails>,
}

/// `OBMerchantDetails1`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MerchantDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_category_code: Option<String>,
}

/// `OBErrorResponse1`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorResponse {
    /// Ours, stable: the testbed's error code (`consent_revoked`, `rate_limited`...).
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub message: String,
    pub errors: Vec<Error>,
}

/// `OBError1`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Error {
    /// The standard's code (`UK.OBIE.Field.Invalid`...).
    pub error_code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The standard's code of `p`; `None` for the testbed's own permissions, which the standard has
/// no code for (the agreed terms still govern them).
pub fn permission_code(p: crate::wire::Permission) -> Option<&'static str> {
    let code = p.as_str();
    PERMISSIONS.contains(&code).then_some(code)
}

// What a record carries, by the members present: how a client counts what it received, and the
// fields the bank counts as sent for it (a test in bank-mock holds the two together). A member
// the standard requires in every record and that can say nothing the client did not ask for
// (`AccountId`, the id it named or of its own accounts) counts only where `agreed` has it.

fn with(set: FieldSet, field: Field, present: bool) -> FieldSet {
    if present { set.union(FieldSet::of(&[field])) } else { set }
}

fn account_id(agreed: FieldSet) -> FieldSet {
    with(FieldSet::EMPTY, Field::AccountId, agreed.contains(Field::AccountId))
}

impl Account {
    /// The fields this account record carries. An identification is the full number (a PAN
    /// under `UK.OBIE.PAN`, else an account number) when it is all digits, else the masked one.
    pub fn fields(&self, agreed: FieldSet) -> FieldSet {
        let mut f = with(account_id(agreed), Field::AccountType, self.account_type.is_some());
        for a in &self.account {
            let full = a.identification.bytes().all(|b| b.is_ascii_digit());
            let number = if a.scheme_name == "UK.OBIE.PAN" { Field::CardPan } else { Field::AccountNumber };
            f = with(f, if full { number } else { Field::MaskedNumber }, true);
            f = with(f, Field::Name, a.name.is_some());
        }
        with(f, Field::RoutingNumber, self.servicer.is_some())
    }
}

impl Balance {
    /// The fields this balance carries: the available or the booked (current) balance.
    pub fn fields(&self, agreed: FieldSet) -> FieldSet {
        let available = self.kind == "InterimAvailable";
        with(account_id(agreed), if available { Field::BalanceAvailable } else { Field::BalanceCurrent }, true)
    }
}

impl Transaction {
    /// The fields this transaction carries: amount, date and status always (the standard
    /// requires them), the category, place and merchant where present.
    pub fn fields(&self, agreed: FieldSet) -> FieldSet {
        let f = account_id(agreed).union(FieldSet::of(&[Field::TxnAmount, Field::TxnDate, Field::TxnStatus]));
        let f = with(f, Field::TxnCategory, self.transaction_information.is_some());
        let f = with(f, Field::TxnPlace, self.address_line.is_some());
        with(f, Field::TxnMerchant, self.merchant_details.as_ref().is_some_and(|m| m.merchant_name.is_some()))
    }
}
