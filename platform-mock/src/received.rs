//! What the platform (or its aggregator) received in a response, counted as the banks count
//! disclosures: the records of each data list and the fields present in them.

use std::sync::Mutex;
use testbed_core::exposure::PairLedger;
use testbed_core::terms::{Field, FieldSet, Purpose};

/// The fields a response record carries, by the API's field names; identifiers of the record
/// itself (`TransactionId`) are not customer data.
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

/// Counts a successful response's records into the platform's ledger.
pub(crate) fn count_received(ledger: &Mutex<PairLedger>, body: &[u8], at_ms: u64, customer: u64, purpose: Purpose) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let Some(data) = v.get("Data").and_then(|d| d.as_object()) else { return };
    let mut ledger = ledger.lock().unwrap_or_else(|e| e.into_inner());
    for records in data.values().filter_map(|r| r.as_array()) {
        let fields =
            records.iter().filter_map(|r| r.as_object()).fold(FieldSet::EMPTY, |f, r| f.union(received_fields(r)));
        ledger.disclose(at_ms, customer, purpose, fields, records.len() as u64, 0);
    }
}
