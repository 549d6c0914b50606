//! What the UK Open Banking profile (`serve --api obie`) sends, without I/O: the bank's records
//! under a grant, in the standard's shapes (`testbed_core::wire::obie`), each with the fields
//! it actually carries, which is what the exposure ledger counts. One grant, one field filter
//! (`api`), whatever the profile: a field outside the terms never leaves the bank, and a field
//! the standard has no place for is not sent and not counted.
//!
//! The standard requires some members the terms may not grant. `AccountId` is always written:
//! it is the id the request itself named (in the path, or of the customer's own accounts), so it
//! tells the client nothing it did not send, and it is counted only when granted. A transaction
//! needs its amount, date and status (`TransactionsBasic`, which every transactions consent
//! holds); a response that could not carry them is refused instead (`Unshapeable`).

use crate::api::{
    Grant, Permission, merchant_name, transaction_id, write_decimal, write_json_str, write_transaction_id,
};
use testbed_core::population::{self, Customer, MerchantCategory, Transaction};
use testbed_core::terms::{Field, FieldSet};
use testbed_core::time::{calendar_text, write_calendar_text};
use testbed_core::wire::obie;

/// The currency of every amount: the scenario's banks are US banks.
pub const CURRENCY: &str = "USD";

/// A response the grant leaves without a member the standard requires: the field missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unshapeable(pub Field);

/// `Err` naming the first of `fields` the grant leaves out: a member the standard requires.
pub fn require(grant: &Grant, fields: &[Field]) -> Result<(), Unshapeable> {
    fields.iter().find(|f| !grant.fields.contains(**f)).map_or(Ok(()), |f| Err(Unshapeable(*f)))
}

pub use testbed_core::wire::obie::permission_code;

/// Permissions asked for in the standard's codes, as the standard reads them: a Detail
/// permission includes its Basic one, and `ReadTransactionsCredits` / `ReadTransactionsDebits`
/// are filters on the transactions a transactions permission reads, not data of their own (the
/// mock serves credits and debits alike). `Err` with the first code the standard has that the
/// testbed never grants (`known`), or that is no code of the standard at all.
pub fn parse_permissions(codes: &[String]) -> Result<Vec<Permission>, (String, bool)> {
    let mut out: Vec<Permission> = Vec::new();
    let mut add = |p: Permission| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for code in codes {
        match code.as_str() {
            "ReadTransactionsCredits" | "ReadTransactionsDebits" => continue,
            "ReadAccountsDetail" => add(Permission::ReadAccountsBasic),
            "ReadTransactionsDetail" => add(Permission::ReadTransactionsBasic),
            _ => {}
        }
        let p = Permission::ALL
            .into_iter()
            .find(|p| permission_code(*p) == Some(code.as_str()))
            .ok_or_else(|| (code.clone(), obie::PERMISSIONS.contains(&code.as_str())))?;
        add(p);
    }
    Ok(out)
}

/// A merchant category as an ISO 18245 merchant category code (a representative one).
pub fn merchant_category_code(c: MerchantCategory) -> &'static str {
    match c {
        MerchantCategory::Groceries => "5411",
        MerchantCategory::Restaurants => "5812",
        MerchantCategory::Fuel => "5541",
        MerchantCategory::Travel => "4722",
        MerchantCategory::Entertainment => "7832",
        MerchantCategory::Retail => "5311",
        MerchantCategory::Health => "8011",
        MerchantCategory::Utilities => "4900",
    }
}

/// Cents as the standard's unsigned amount and its indicator: `debit_when_positive` says which
/// sign is a debit (a transaction's positive amount is money out; a balance's is money held).
fn amount(cents: i64, debit_when_positive: bool) -> (obie::Amount, &'static str) {
    let abs = cents.unsigned_abs();
    let debit = (cents > 0) == debit_when_positive && cents != 0;
    let indicator = if debit { "Debit" } else { "Credit" };
    (obie::Amount { amount: format!("{}.{:02}", abs / 100, abs % 100), currency: CURRENCY.into() }, indicator)
}

/// The customer's two accounts (`OBAccount6`) under `grant`, and the fields they carry.
pub fn accounts(grant: &Grant, customer: &Customer) -> (Vec<obie::Account>, FieldSet) {
    let has = |f| grant.fields.contains(f);
    let mut sent = FieldSet::EMPTY;
    let mut put = |f: Field| sent = sent.union(FieldSet::of(&[f]));
    if has(Field::AccountId) {
        put(Field::AccountId);
    }
    let mut out = Vec::new();
    for (account, card) in [(&customer.checking, false), (&customer.card, true)] {
        let (number_field, scheme) =
            if card { (Field::CardPan, "UK.OBIE.PAN") } else { (Field::AccountNumber, "US.AccountNumber") };
        // The full number when granted, else the masked one when that is, else no identification.
        let identification = if has(number_field) {
            put(number_field);
            Some(account.number.clone())
        } else if has(Field::MaskedNumber) {
            put(Field::MaskedNumber);
            Some(account.masked.clone())
        } else {
            None
        };
        // The holder's name rides on an identification; without one the standard has no place for it.
        let name = (identification.is_some() && has(Field::Name)).then(|| {
            put(Field::Name);
            customer.name.clone()
        });
        let kind = has(Field::AccountType).then(|| {
            put(Field::AccountType);
            ("Personal".to_string(), if card { "CreditCard" } else { "CurrentAccount" }.to_string())
        });
        let servicer = (has(Field::RoutingNumber) && !card).then(|| account.routing.clone()).flatten().map(|r| {
            put(Field::RoutingNumber);
            obie::Servicer { scheme_name: "US.ABA".into(), identification: r }
        });
        out.push(obie::Account {
            account_id: account.id.clone(),
            currency: CURRENCY.into(),
            account_type: kind.as_ref().map(|k| k.0.clone()),
            account_sub_type: kind.map(|k| k.1),
            account: identification
                .map(|identification| obie::CashAccount { scheme_name: scheme.into(), identification, name })
                .into_iter()
                .collect(),
            servicer,
        });
    }
    (out, sent)
}

/// An account's balances (`OBReadBalance1.Data.Balance`) at `at_ms`: the available one
/// (`InterimAvailable`) and the booked one (`InterimBooked`) as granted. A negative balance (a
/// card's is what is owed on it, as `population::card_balance_cents` has it) is a debit.
/// `Err` when neither is granted: the standard needs one.
pub fn balances(
    grant: &Grant,
    account_id: &str,
    cents: i64,
    at_ms: u64,
) -> Result<(Vec<obie::Balance>, FieldSet), Unshapeable> {
    let mut sent =
        if grant.fields.contains(Field::AccountId) { FieldSet::of(&[Field::AccountId]) } else { FieldSet::EMPTY };
    let mut out = Vec::new();
    for (field, kind) in [(Field::BalanceAvailable, "InterimAvailable"), (Field::BalanceCurrent, "InterimBooked")] {
        if grant.fields.contains(field) {
            sent = sent.union(FieldSet::of(&[field]));
            let (amount, indicator) = amount(cents, false);
            out.push(obie::Balance {
                account_id: account_id.into(),
                amount,
                credit_debit_indicator: indicator.into(),
                kind: kind.into(),
                date_time: calendar_text(at_ms),
            });
        }
    }
    if out.is_empty() {
        return Err(Unshapeable(Field::BalanceAvailable));
    }
    Ok((out, sent))
}

/// Transactions (`OBTransaction6`) under `grant`, off-platform ones dropped unless granted, and
/// the fields they carry. The merchant (`MerchantDetails`) and the place (`AddressLine`) are
/// transaction detail; the category is the narrative (`TransactionInformation`) and, with the
/// detail, the merchant's category code too.
pub fn transactions(
    grant: &Grant,
    account_id: &str,
    transactions: &[Transaction],
) -> Result<(Vec<obie::Transaction>, FieldSet), Unshapeable> {
    let has = |f| grant.fields.contains(f);
    let sent = transactions_sent(grant)?;
    let visible = transactions.iter().filter(|t| t.on_platform || grant.off_platform);
    let out = visible
        .into_iter()
        .map(|t| {
            let (amount, indicator) = amount(t.amount_cents, true);
            let merchant_name = has(Field::TxnMerchant).then(|| population::merchant_name(t.merchant));
            let code = (has(Field::TxnMerchant) && has(Field::TxnCategory))
                .then(|| merchant_category_code(t.category).to_string());
            obie::Transaction {
                account_id: account_id.into(),
                transaction_id: transaction_id(account_id, t.id),
                credit_debit_indicator: indicator.into(),
                status: if t.pending { "Pending" } else { "Booked" }.into(),
                booking_date_time: calendar_text(t.at_ms),
                amount,
                transaction_information: has(Field::TxnCategory).then(|| t.category.as_str().to_string()),
                address_line: has(Field::TxnPlace).then(|| format!("{:05}", t.place_zip5)),
                merchant_details: (merchant_name.is_some() || code.is_some())
                    .then_some(obie::MerchantDetails { merchant_name, merchant_category_code: code }),
            }
        })
        .collect();
    Ok((out, sent))
}

/// The fields a page of transactions under `grant` carries, or the member the standard requires
/// that the grant leaves out.
pub fn transactions_sent(grant: &Grant) -> Result<FieldSet, Unshapeable> {
    // Every transaction field has a member here (the derived fraud flag has none).
    transaction_fields(grant, FieldSet::of(&[Field::TxnCategory, Field::TxnMerchant, Field::TxnPlace]))
}

/// The fields a page of transactions carries under `grant` in a standard whose records have a
/// member for the account's id, the amount, date and status (which it requires), and for the
/// fields of `optional`; or the required member the grant leaves out.
pub fn transaction_fields(grant: &Grant, optional: FieldSet) -> Result<FieldSet, Unshapeable> {
    require(grant, &[Field::TxnAmount, Field::TxnDate, Field::TxnStatus])?;
    let carried = FieldSet::of(&[Field::AccountId, Field::TxnAmount, Field::TxnDate, Field::TxnStatus]);
    Ok(grant.fields.intersect(carried.union(optional)))
}

/// Appends the JSON `serde_json` writes for the record `transactions` makes of `t` (one its
/// off-platform filter keeps) under `fields`, without making it: the page's hot path (a test
/// holds the two together).
pub fn write_transaction(out: &mut Vec<u8>, fields: FieldSet, account_id: &str, t: &Transaction) {
    let has = |f| fields.contains(f);
    out.extend_from_slice(b"{\"AccountId\":");
    write_json_str(out, account_id);
    out.extend_from_slice(b",\"TransactionId\":\"");
    write_transaction_id(out, account_id, t.id);
    out.extend_from_slice(if t.amount_cents > 0 {
        b"\",\"CreditDebitIndicator\":\"Debit\""
    } else {
        b"\",\"CreditDebitIndicator\":\"Credit\""
    });
    out.extend_from_slice(if t.pending { b",\"Status\":\"Pending\"" } else { b",\"Status\":\"Booked\"" });
    out.extend_from_slice(b",\"BookingDateTime\":\"");
    write_calendar_text(out, t.at_ms);
    out.extend_from_slice(b"\",\"Amount\":{\"Amount\":\"");
    let abs = t.amount_cents.unsigned_abs();
    write_decimal(out, abs / 100, 1);
    out.push(b'.');
    write_decimal(out, abs % 100, 2);
    out.extend_from_slice(b"\",\"Currency\":\"");
    out.extend_from_slice(CURRENCY.as_bytes());
    out.extend_from_slice(b"\"}");
    if has(Field::TxnCategory) {
        out.extend_from_slice(b",\"TransactionInformation\":");
        write_json_str(out, t.category.as_str());
    }
    if has(Field::TxnPlace) {
        out.extend_from_slice(b",\"AddressLine\":\"");
        write_decimal(out, u64::from(t.place_zip5), 5);
        out.push(b'"');
    }
    let (merchant, code) = (has(Field::TxnMerchant), has(Field::TxnMerchant) && has(Field::TxnCategory));
    if merchant {
        out.extend_from_slice(b",\"MerchantDetails\":{\"MerchantName\":");
        write_json_str(out, merchant_name(t.merchant));
        if code {
            out.extend_from_slice(b",\"MerchantCategoryCode\":\"");
            out.extend_from_slice(merchant_category_code(t.category).as_bytes());
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Appends `"Links":{..},"Meta":{..}` of page `page` of `pages` as `serde_json` writes the
/// `obie::Links` and `obie::Meta` of a transactions page (a test holds the two together): each
/// link is `link` (which ends in `page=`) and its page; the window's first date and the last
/// one served are `first_ms` and `last_ms` on the calendar.
pub fn write_page_links(out: &mut Vec<u8>, link: &str, (page, pages): (usize, usize), (first_ms, last_ms): (u64, u64)) {
    let mut quoted = Vec::with_capacity(link.len() + 2);
    write_json_str(&mut quoted, link);
    quoted.pop(); // the closing quote: the page number goes before it
    let put = |out: &mut Vec<u8>, name: &[u8], n: usize| {
        out.extend_from_slice(name);
        out.extend_from_slice(&quoted);
        write_decimal(out, n as u64, 1);
        out.push(b'"');
    };
    put(out, b"\"Links\":{\"Self\":", page);
    put(out, b",\"First\":", 1);
    if page > 1 {
        put(out, b",\"Prev\":", (page - 1).min(pages));
    }
    if page < pages {
        put(out, b",\"Next\":", page + 1);
    }
    put(out, b",\"Last\":", pages);
    out.extend_from_slice(b"},\"Meta\":{\"TotalPages\":");
    write_decimal(out, pages.min(u32::MAX as usize) as u64, 1);
    out.extend_from_slice(b",\"FirstAvailableDateTime\":\"");
    write_calendar_text(out, first_ms);
    out.extend_from_slice(b"\",\"LastAvailableDateTime\":\"");
    write_calendar_text(out, last_ms);
    out.extend_from_slice(b"\"}");
}

#[cfg(test)]
mod tests {
    use testbed_core::time::calendar_text;
    use testbed_core::wire::obie;

    #[test]
    fn a_pages_links_and_meta_are_written_as_serde_writes_them() {
        let link = "http://127.0.0.1:8080/open-banking/v3.1/aisp/accounts/card-b-1/transactions?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-08T00:00:00Z&page=";
        for (page, pages) in [(1, 1), (1, 3), (2, 3), (3, 3), (5, 3), (12, 40)] {
            let (first, last) = (86_400_000 * 3, 86_400_000 * 9 + 1_234);
            let at = |n: usize| Some(format!("{link}{n}"));
            let links = obie::Links {
                self_link: format!("{link}{page}"),
                first: at(1),
                prev: (page > 1).then(|| format!("{link}{}", (page - 1).min(pages))),
                next: (page < pages).then(|| format!("{link}{}", page + 1)),
                last: at(pages),
            };
            let meta = obie::Meta {
                total_pages: Some(pages as u32),
                first_available_date_time: Some(calendar_text(first)),
                last_available_date_time: Some(calendar_text(last)),
            };
            let expected = format!(
                "\"Links\":{},\"Meta\":{}",
                serde_json::to_string(&links).unwrap(),
                serde_json::to_string(&meta).unwrap()
            );
            let mut out = Vec::new();
            super::write_page_links(&mut out, link, (page, pages), (first, last));
            assert_eq!(String::from_utf8(out).unwrap(), expected, "page {page} of {pages}");
        }
    }
}
