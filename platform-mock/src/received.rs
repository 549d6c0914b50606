//! What the platform (or its aggregator) received in a response, counted as the banks count
//! disclosures: the records of each data list and the fields present in them, read in the shapes
//! of the API profile the bank speaks.

use serde::Deserialize as _;
use std::sync::Mutex;
use testbed_core::exposure::PairLedger;
use testbed_core::terms::{Field, FieldSet, Purpose};
use testbed_core::wire::{ApiProfile, fdx, obie};

/// How a response's records are read: in the shapes of `api`, with the agreed fields deciding
/// the members a standard writes in every record (the account id it named, FDX's account type
/// and transaction description), which count only where agreed, as the bank counts them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shapes {
    pub api: ApiProfile,
    pub agreed: FieldSet,
}

impl Shapes {
    /// The testbed's own shapes: what pushed notifications come in, whatever the profile.
    pub fn testbed(agreed: FieldSet) -> Shapes {
        Shapes { api: ApiProfile::Testbed, agreed }
    }
}

/// The fields a testbed response record carries, by the API's field names; identifiers of the
/// record itself (`TransactionId`) are not customer data.
pub(crate) fn received_fields(record: &serde_json::Map<String, serde_json::Value>) -> FieldSet {
    let field = |name: &str| match name {
        "AccountId" => Some(Field::AccountId),
        "Amount" => Some(Field::TxnAmount),
        "BookingDateTimeMs" => Some(Field::TxnDate),
        "Status" => Some(Field::TxnStatus),
        "MerchantCategory" => Some(Field::TxnCategory),
        "MerchantName" => Some(Field::TxnMerchant),
        "PlaceZip5" => Some(Field::TxnPlace),
        "FraudFlag" => Some(Field::FraudFlag),
        "Current" => Some(Field::BalanceCurrent),
        "Available" => Some(Field::BalanceAvailable),
        "Band" => Some(Field::BalanceBand),
        "AccountType" => Some(Field::AccountType),
        "MaskedNumber" => Some(Field::MaskedNumber),
        "AccountNumber" => Some(Field::AccountNumber),
        "RoutingNumber" => Some(Field::RoutingNumber),
        "CardPan" => Some(Field::CardPan),
        "HolderName" => Some(Field::Name),
        _ => None,
    };
    FieldSet::of(&record.keys().filter_map(|k| field(k)).collect::<Vec<_>>())
}

/// The lists of records a response body carries, each as (fields carried, records); nothing
/// for a body that is not one of the profile's data responses.
pub(crate) fn records(body: &[u8], shapes: Shapes) -> Vec<(FieldSet, u64)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return Vec::new() };
    let agreed = shapes.agreed;
    fn list<T: serde::de::DeserializeOwned>(v: &serde_json::Value, fields: impl Fn(&T) -> FieldSet) -> (FieldSet, u64) {
        let records = Vec::<T>::deserialize(v).unwrap_or_default();
        (records.iter().fold(FieldSet::EMPTY, |f, r| f.union(fields(r))), records.len() as u64)
    }
    match shapes.api {
        ApiProfile::Testbed => {
            let Some(data) = v.get("Data").and_then(|d| d.as_object()) else { return Vec::new() };
            (data.values().filter_map(|r| r.as_array()))
                .map(|records| {
                    let fields = (records.iter().filter_map(|r| r.as_object()))
                        .fold(FieldSet::EMPTY, |f, r| f.union(received_fields(r)));
                    (fields, records.len() as u64)
                })
                .collect()
        }
        ApiProfile::Obie => {
            let Some(data) = v.get("Data") else { return Vec::new() };
            let mut out = Vec::new();
            if let Some(a) = data.get("Account") {
                out.push(list(a, |r: &obie::Account| r.fields(agreed)));
            }
            if let Some(b) = data.get("Balance") {
                // One record per account, as the bank counts a balance look-up: the standard
                // writes its available and booked balances as two entries.
                let balances = Vec::<obie::Balance>::deserialize(b).unwrap_or_default();
                let fields = balances.iter().fold(FieldSet::EMPTY, |f, r| f.union(r.fields(agreed)));
                let accounts: std::collections::BTreeSet<&str> =
                    balances.iter().map(|r| r.account_id.as_str()).collect();
                out.push((fields, accounts.len() as u64));
            }
            if let Some(t) = data.get("Transaction") {
                out.push(list(t, |r: &obie::Transaction| r.fields(agreed)));
            }
            out
        }
        ApiProfile::Fdx => {
            if let Some(t) = v.get("transactions") {
                vec![list(t, |r: &fdx::Transaction| r.fields(agreed))]
            } else if let Some(a) = v.get("accounts") {
                vec![list(a, |r: &fdx::Account| r.fields(agreed))]
            } else if let Ok(account) = fdx::Account::deserialize(&v) {
                vec![(account.fields(agreed), 1)]
            } else if let Ok(contact) = fdx::Contact::deserialize(&v) {
                vec![(contact.fields(), 1)]
            } else if let Ok(customer) = fdx::Customer::deserialize(&v) {
                vec![(customer.fields(), 1)]
            } else {
                Vec::new()
            }
        }
    }
}

/// Counts a successful response's records into the platform's ledger.
pub(crate) fn count_received(
    ledger: &Mutex<PairLedger>,
    body: &[u8],
    at_ms: u64,
    customer: u64,
    purpose: Purpose,
    shapes: Shapes,
) {
    let lists = records(body, shapes);
    let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    for (fields, n) in lists {
        ledger.disclose(at_ms, customer, purpose, fields, n, 0);
    }
}
