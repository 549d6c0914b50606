//! What the FDX profile (`serve --api fdx`) sends, without I/O: the bank's records under a
//! grant in FDX 6.4's shapes (`testbed_core::wire::fdx`), each with the fields it actually
//! carries, which is what the exposure ledger counts. The rules are `crate::obie`'s: a field
//! outside the terms never leaves the bank, a field FDX has no place for is not sent and not
//! counted, and a response that cannot carry a member FDX requires is refused (`Unshapeable`).
//!
//! FDX requires some members that say nothing the request did not: the account's id (named in
//! the path or the customer's own), its category and type (the id's `chk-`/`card-` prefix tells
//! them), a product name and status (the same for every account here), and a transaction's
//! `description`, which is the merchant only when transaction detail is granted and otherwise
//! the fixed `Card transaction`. They are written always and counted only when granted. FDX 6.4
//! has no merchant member and no place; the merchant category is `category` (its ISO 18245
//! code) with the category's name as `subCategory`.

use crate::api::{Grant, merchant_name, transaction_id, write_json_str, write_transaction_id};
use crate::obie::{Unshapeable, merchant_category_code, require};
use testbed_core::population::{self, Customer, Transaction};
use testbed_core::terms::{Field, FieldSet};
use testbed_core::time::{calendar_text, write_calendar_text};
use testbed_core::wire::fdx;

const CURRENCY: &str = "USD";

fn put(sent: &mut FieldSet, f: Field) {
    *sent = sent.union(FieldSet::of(&[f]));
}

/// `(accountCategory, accountType, productName)` of one of a customer's accounts.
fn kind(card: bool) -> (&'static str, &'static str, &'static str) {
    if card { ("LOC_ACCOUNT", "CREDITCARD", "Credit card") } else { ("DEPOSIT_ACCOUNT", "CHECKING", "Checking") }
}

fn descriptor(id: &str, card: bool) -> fdx::Account {
    let (category, account_type, product) = kind(card);
    fdx::Account {
        account_category: category.into(),
        account_id: id.into(),
        account_type: account_type.into(),
        product_name: product.into(),
        status: "OPEN".into(),
        currency: fdx::Currency { currency_code: CURRENCY.into() },
        account_number_display: None,
        current_balance: None,
        available_balance: None,
    }
}

/// The customer's two account descriptors under `grant`, and the fields they carry.
pub fn accounts(grant: &Grant, customer: &Customer) -> (Vec<fdx::Account>, FieldSet) {
    let has = |f| grant.fields.contains(f);
    let mut sent = FieldSet::EMPTY;
    for f in [Field::AccountId, Field::AccountType] {
        if has(f) {
            put(&mut sent, f);
        }
    }
    let out = [(&customer.checking, false), (&customer.card, true)]
        .into_iter()
        .map(|(account, card)| {
            let mut d = descriptor(&account.id, card);
            if has(Field::MaskedNumber) {
                put(&mut sent, Field::MaskedNumber);
                d.account_number_display = Some(account.masked.clone());
            }
            d
        })
        .collect();
    (out, sent)
}

/// One account with its balances (`DepositAccount` needs the current and the available one, a
/// line of credit the current one: what is owed on it, positive as FDX writes it), and the
/// fields it carries.
pub fn account(grant: &Grant, account_id: &str, cents: i64) -> Result<(fdx::Account, FieldSet), Unshapeable> {
    let has = |f| grant.fields.contains(f);
    let card = account_id.starts_with("card-");
    let needed: &[Field] =
        if card { &[Field::BalanceCurrent] } else { &[Field::BalanceCurrent, Field::BalanceAvailable] };
    require(grant, needed)?;
    let mut sent = FieldSet::of(needed);
    if has(Field::AccountId) {
        put(&mut sent, Field::AccountId);
    }
    // A card's balance is negative when owed (`population::card_balance_cents`).
    let amount = if card { -cents } else { cents } as f64 / 100.0;
    let mut d = descriptor(account_id, card);
    d.current_balance = Some(amount);
    d.available_balance = (!card).then_some(amount);
    Ok((d, sent))
}

/// Transactions (`LineOfCreditTransaction`s of a card) under `grant`, off-platform ones
/// dropped unless granted, and the fields they carry.
pub fn transactions(
    grant: &Grant,
    account_id: &str,
    transactions: &[Transaction],
) -> Result<(Vec<fdx::Transaction>, FieldSet), Unshapeable> {
    let has = |f| grant.fields.contains(f);
    let sent = transactions_sent(grant)?;
    let out = transactions
        .iter()
        .filter(|t| t.on_platform || grant.off_platform)
        .map(|t| {
            let at = calendar_text(t.at_ms);
            fdx::Transaction {
                account_category: "LOC_ACCOUNT".into(),
                transaction_id: transaction_id(account_id, t.id),
                transaction_timestamp: at.clone(),
                posted_timestamp: (!t.pending).then_some(at),
                description: if has(Field::TxnMerchant) {
                    population::merchant_name(t.merchant)
                } else {
                    "Card transaction".into()
                },
                debit_credit_memo: if t.amount_cents >= 0 { "DEBIT" } else { "CREDIT" }.into(),
                status: if t.pending { "PENDING" } else { "POSTED" }.into(),
                amount: t.amount_cents.unsigned_abs() as f64 / 100.0,
                category: has(Field::TxnCategory).then(|| merchant_category_code(t.category).to_string()),
                sub_category: has(Field::TxnCategory).then(|| t.category.as_str().to_string()),
                transaction_type: Some(if t.amount_cents >= 0 { "PURCHASE" } else { "PAYMENT" }.into()),
            }
        })
        .collect();
    Ok((out, sent))
}

/// The customer (`Customer`): their id, and their name when granted.
pub fn customer(grant: &Grant, customer: &Customer, customer_id: String) -> (fdx::Customer, FieldSet) {
    let name = grant.fields.contains(Field::Name).then(|| split_name(&customer.name));
    let sent = if name.is_some() { FieldSet::of(&[Field::Name]) } else { FieldSet::EMPTY };
    (fdx::Customer { customer_id, name }, sent)
}

fn split_name(full: &str) -> fdx::Name {
    let (first, last) = full.rsplit_once(' ').unwrap_or((full, full));
    fdx::Name { first: first.into(), last: last.into() }
}

/// The account's contact (`AccountContact`): FDX requires a holder, an email, an address and a
/// telephone, so all of name, email, street address, ZIP code and phone must be granted.
pub fn contact(grant: &Grant, customer: &Customer) -> Result<(fdx::Contact, FieldSet), Unshapeable> {
    let needed = [Field::Name, Field::Email, Field::StreetAddress, Field::Zip5, Field::Phone];
    require(grant, &needed)?;
    let contact = fdx::Contact {
        holders: vec![fdx::Holder {
            kind: "CONSUMER".into(),
            name: split_name(&customer.name),
            relationship: "PRIMARY".into(),
        }],
        emails: vec![customer.email.clone()],
        addresses: vec![fdx::Address {
            line1: customer.street_address.chars().take(64).collect(),
            city: customer.city.chars().take(64).collect(),
            region: customer.state.clone(),
            postal_code: format!("{:05}", customer.qi.zip5),
            country: "US".into(),
        }],
        telephones: vec![fdx::Telephone {
            kind: "HOME".into(),
            number: customer.phone.chars().filter(char::is_ascii_digit).take(15).collect(),
            country: "1".into(),
        }],
    };
    Ok((contact, FieldSet::of(&needed)))
}

/// The fields a page of transactions under `grant` carries (FDX has no place member), or the
/// member FDX requires that the grant leaves out.
pub fn transactions_sent(grant: &Grant) -> Result<FieldSet, Unshapeable> {
    crate::obie::transaction_fields(grant, FieldSet::of(&[Field::TxnCategory, Field::TxnMerchant]))
}

/// Appends the JSON `serde_json` writes for the record `transactions` makes of `t` (one its
/// off-platform filter keeps) under `fields`, without making it: the page's hot path (a test
/// holds the two together).
pub fn write_transaction(out: &mut Vec<u8>, fields: FieldSet, account_id: &str, t: &Transaction) {
    out.extend_from_slice(b"{\"accountCategory\":\"LOC_ACCOUNT\",\"transactionId\":\"");
    write_transaction_id(out, account_id, t.id);
    out.extend_from_slice(b"\",\"transactionTimestamp\":\"");
    write_calendar_text(out, t.at_ms);
    if !t.pending {
        out.extend_from_slice(b"\",\"postedTimestamp\":\"");
        write_calendar_text(out, t.at_ms);
    }
    out.extend_from_slice(b"\",\"description\":");
    write_json_str(
        out,
        if fields.contains(Field::TxnMerchant) { merchant_name(t.merchant) } else { "Card transaction" },
    );
    let purchase = t.amount_cents >= 0;
    out.extend_from_slice(if purchase {
        b",\"debitCreditMemo\":\"DEBIT\""
    } else {
        b",\"debitCreditMemo\":\"CREDIT\""
    });
    out.extend_from_slice(if t.pending { b",\"status\":\"PENDING\"" } else { b",\"status\":\"POSTED\"" });
    out.extend_from_slice(b",\"amount\":");
    out.extend_from_slice(ryu::Buffer::new().format_finite(t.amount_cents.unsigned_abs() as f64 / 100.0).as_bytes());
    if fields.contains(Field::TxnCategory) {
        out.extend_from_slice(b",\"category\":\"");
        out.extend_from_slice(merchant_category_code(t.category).as_bytes());
        out.extend_from_slice(b"\",\"subCategory\":");
        write_json_str(out, t.category.as_str());
    }
    out.extend_from_slice(if purchase {
        b",\"transactionType\":\"PURCHASE\"}"
    } else {
        b",\"transactionType\":\"PAYMENT\"}"
    });
}

#[cfg(test)]
mod tests {
    //! The fields the bank counts as sent for a response are the fields its records carry as
    //! a client counts them (`testbed_core::wire::{obie, fdx}`'s `fields`), for any grant: the
    //! bank's ledger and a platform's count of what it received cannot drift apart.

    use crate::api::Grant;
    use proptest::prelude::*;
    use testbed_core::population::{self, PopulationSpec};
    use testbed_core::terms::{Field, FieldSet};

    fn grant(bits: u32, off_platform: bool) -> Grant {
        let all = Field::ALL.iter().fold(0u32, |m, f| m | FieldSet::of(&[*f]).0);
        Grant { fields: FieldSet(bits & all), blocked: FieldSet::EMPTY, off_platform, blocked_off_platform: false }
    }

    fn union<T>(records: &[T], fields: impl Fn(&T) -> FieldSet) -> FieldSet {
        records.iter().fold(FieldSet::EMPTY, |f, r| f.union(fields(r)))
    }

    proptest! {
        #[test]
        fn what_the_bank_counts_as_sent_is_what_a_client_counts_as_received(
            bits in any::<u32>(), off_platform in any::<bool>(), index in 0u64..200, day in 0u32..30,
        ) {
            let spec = PopulationSpec {
                seed: 7, bank: "b".into(), size: 200, transactions_per_day: 6.0, on_platform_share: 0.5,
            };
            let g = grant(bits, off_platform);
            let person = population::customer(&spec, index);
            let mut txns = Vec::new();
            population::transactions_on_day(&spec, index, day, &mut txns);
            let card = person.card.id.clone();

            let (accounts, sent) = crate::obie::accounts(&g, &person);
            prop_assert_eq!(union(&accounts, |a| a.fields(g.fields)), sent);
            if let Ok((balances, sent)) = crate::obie::balances(&g, &person.checking.id, 12_345, 0) {
                prop_assert_eq!(union(&balances, |b| b.fields(g.fields)), sent);
            }
            if let Ok((records, sent)) = crate::obie::transactions(&g, &card, &txns) {
                for r in &records {
                    prop_assert_eq!(r.fields(g.fields), sent);
                }
                let visible = txns.iter().filter(|t| t.on_platform || g.off_platform);
                for (r, t) in records.iter().zip(visible) {
                    let mut out = Vec::new();
                    crate::obie::write_transaction(&mut out, g.fields, &card, t);
                    prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(r).unwrap());
                }
            }

            let (accounts, sent) = super::accounts(&g, &person);
            prop_assert_eq!(union(&accounts, |a| a.fields(g.fields)), sent);
            for id in [&person.checking.id, &card] {
                if let Ok((account, sent)) = super::account(&g, id, -4_200) {
                    prop_assert_eq!(account.fields(g.fields), sent);
                }
            }
            if let Ok((records, sent)) = super::transactions(&g, &card, &txns) {
                for r in &records {
                    prop_assert_eq!(r.fields(g.fields), sent);
                }
                // The hot path writes the very bytes serde writes for the records.
                let visible = txns.iter().filter(|t| t.on_platform || g.off_platform);
                for (r, t) in records.iter().zip(visible) {
                    let mut out = Vec::new();
                    super::write_transaction(&mut out, g.fields, &card, t);
                    prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(r).unwrap());
                }
            }
            let (customer, sent) = super::customer(&g, &person, "cust-b-0".into());
            prop_assert_eq!(customer.fields(), sent);
            if let Ok((contact, sent)) = super::contact(&g, &person) {
                prop_assert_eq!(contact.fields(), sent);
            }
        }
    }
}
