//! FDX 6.4 bodies (Plaid Core Exchange, `versions/6.4/corex.yaml`), as `bank-mock serve --api
//! fdx` writes them under `/fdx/v6`: the standard's member names and shapes for a customer, the
//! account list and one account (deposit or line of credit), a page of transactions and an
//! account's contact, and the error entity. Optional members are omitted when empty.

use crate::terms::{Field, FieldSet};
use serde::{Deserialize, Serialize};

/// Where the profile's routes live.
pub const BASE: &str = "/fdx/v6";

/// `Customer`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
}

/// `CustomerName`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    pub first: String,
    pub last: String,
}

/// `PageMetadata`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_key: Option<String>,
    pub total_elements: u64,
}

/// `Accounts`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Accounts {
    pub page: Page,
    pub accounts: Vec<Account>,
}

/// An account descriptor (`DepositAccountDescriptor` or `LocAccountDescriptor`), and with its
/// balances one account (`DepositAccount` or `LineOfCreditAccount`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub account_category: String,
    pub account_id: String,
    pub account_type: String,
    pub product_name: String,
    pub status: String,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number_display: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_balance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_balance: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Currency {
    pub currency_code: String,
}

/// `Transactions`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transactions {
    pub page: Page,
    pub transactions: Vec<Transaction>,
}

/// `DepositTransaction` or `LineOfCreditTransaction` (a card's).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    pub account_category: String,
    pub transaction_id: String,
    pub transaction_timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_timestamp: Option<String>,
    pub description: String,
    pub debit_credit_memo: String,
    pub status: String,
    pub amount: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<String>,
}

/// `AccountContact`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub holders: Vec<Holder>,
    pub emails: Vec<String>,
    pub addresses: Vec<Address>,
    pub telephones: Vec<Telephone>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Name,
    pub relationship: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Telephone {
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
    pub country: String,
}

/// The error entity: `code` is the FDX code (which may differ from the HTTP status),
/// `debugMessage` carries the testbed's stable code first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub code: u32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_message: Option<String>,
}

// What a record carries, by the members present: how a client counts what it received, and the
// fields the bank counts as sent for it (a test in bank-mock holds the two together). FDX
// requires members that can say nothing the client did not ask for: the account's id and type
// (named in the path or of the client's own accounts; the id's prefix tells the type) and a
// transaction's `description`, the merchant only under transaction detail. They count only
// where `agreed` has their field.

fn agreed_only(agreed: FieldSet, fields: &[Field]) -> FieldSet {
    agreed.intersect(FieldSet::of(fields))
}

fn with(set: FieldSet, field: Field, present: bool) -> FieldSet {
    if present { set.union(FieldSet::of(&[field])) } else { set }
}

impl Account {
    /// The fields this account carries: its id as agreed, its type as agreed in a listing (a
    /// balance read, the account with its balances, answers for balances only), the masked
    /// number and the balances where present.
    pub fn fields(&self, agreed: FieldSet) -> FieldSet {
        let balance_read = self.current_balance.is_some() || self.available_balance.is_some();
        let listed = if balance_read { &[Field::AccountId][..] } else { &[Field::AccountId, Field::AccountType] };
        let f = agreed_only(agreed, listed);
        let f = with(f, Field::MaskedNumber, self.account_number_display.is_some());
        let f = with(f, Field::BalanceCurrent, self.current_balance.is_some());
        with(f, Field::BalanceAvailable, self.available_balance.is_some())
    }
}

impl Transaction {
    /// The fields this transaction carries: amount, date and status always (FDX requires
    /// them), the account's id and the merchant (`description`) as agreed, the category where
    /// present.
    pub fn fields(&self, agreed: FieldSet) -> FieldSet {
        let f = agreed_only(agreed, &[Field::AccountId, Field::TxnMerchant]).union(FieldSet::of(&[
            Field::TxnAmount,
            Field::TxnDate,
            Field::TxnStatus,
        ]));
        with(f, Field::TxnCategory, self.category.is_some() || self.sub_category.is_some())
    }
}

impl Customer {
    /// The fields the customer record carries: the name where present.
    pub fn fields(&self) -> FieldSet {
        with(FieldSet::EMPTY, Field::Name, self.name.is_some())
    }
}

impl Contact {
    /// The fields the contact carries: FDX requires all of them.
    pub fn fields(&self) -> FieldSet {
        FieldSet::of(&[Field::Name, Field::Email, Field::StreetAddress, Field::Zip5, Field::Phone])
    }
}
