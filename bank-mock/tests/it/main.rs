//! Behaviours of the bank API (`bank_mock::api`): consents, the decision on each request, and
//! the records a response carries.

use bank_mock::api::{
    self, AccountRecord, BalanceRecord, Consent, ConsentStatus, DataRequest, Grant, Permission, Refusal, Resource,
    RevocationRecord,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::negotiation::IssueSpace;
use testbed_core::population::{self, Customer, PopulationSpec, Transaction};
use testbed_core::terms::{ConsentMode, DataCategory, Field, FieldSet, Purpose, Terms};
use testbed_core::vocabulary::default_issues;
mod http;
mod intervals;

const DAY: Duration = Duration::from_secs(86_400);
const DAY_MS: u64 = 86_400_000;
/// Every one of the 23 fields.
const ALL_FIELDS: u32 = (1 << 23) - 1;

fn terms(categories: &[DataCategory], purposes: &[Purpose], authorisation_days: Option<u32>) -> Terms {
    Terms {
        categories: categories.iter().fold(0, |m, c| m | c.bit()),
        purposes: purposes.iter().fold(0, |m, p| m | p.bit()),
        retention_days: Some(30),
        onward_sharing: "none".into(),
        consent_mode: ConsentMode::OptIn,
        authorisation_days,
    }
}

/// A consent for `terms` created at `at` and authorised by the customer.
fn authorised(terms: &Terms, at: SimTime) -> Consent {
    let mut c = Consent::new("consent-1".into(), "platform-a".into(), terms, at);
    c.authorise();
    c
}

fn spec(seed: u64, bank: &str, on_platform_share: f64) -> PopulationSpec {
    PopulationSpec { seed, bank: bank.into(), size: 10_000, transactions_per_day: 2.0, on_platform_share }
}

fn transactions(spec: &PopulationSpec, customer: u64, days: std::ops::Range<u32>) -> Vec<Transaction> {
    let mut out = Vec::new();
    for day in days {
        population::transactions_on_day(spec, customer, day, &mut out);
    }
    out
}

/// `<account>-<id>` of each input transaction, and whether it was made on the platform.
fn on_platform_by_record_id(account_id: &str, txns: &[Transaction]) -> BTreeMap<String, bool> {
    txns.iter().map(|t| (api::transaction_id(account_id, t.id), t.on_platform)).collect()
}

fn fields(list: &[Field]) -> FieldSet {
    FieldSet::of(list)
}

/// The fields an account record carries, read from its optional members.
fn account_record_fields(r: &AccountRecord) -> FieldSet {
    let pairs = [
        (r.account_type.is_some(), Field::AccountType),
        (r.masked_number.is_some(), Field::MaskedNumber),
        (r.account_number.is_some(), Field::AccountNumber),
        (r.routing_number.is_some(), Field::RoutingNumber),
        (r.card_pan.is_some(), Field::CardPan),
        (r.holder_name.is_some(), Field::Name),
    ];
    pairs.iter().filter(|(present, _)| *present).fold(FieldSet::EMPTY, |m, (_, f)| m.union(fields(&[*f])))
}

/// The fields a balance record carries, read from its optional members.
fn balance_record_fields(r: &BalanceRecord) -> FieldSet {
    let pairs = [
        (r.current.is_some(), Field::BalanceCurrent),
        (r.available.is_some(), Field::BalanceAvailable),
        (r.band.is_some(), Field::BalanceBand),
    ];
    pairs.iter().filter(|(present, _)| *present).fold(FieldSet::EMPTY, |m, (_, f)| m.union(fields(&[*f])))
}

/// Every string an account record carries.
fn account_record_strings(r: &AccountRecord) -> Vec<&str> {
    let optional =
        [&r.account_type, &r.masked_number, &r.account_number, &r.routing_number, &r.card_pan, &r.holder_name];
    std::iter::once(r.account_id.as_str()).chain(optional.into_iter().filter_map(|o| o.as_deref())).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The property: whatever is asked, only what the grant allows leaves the bank.
// ---------------------------------------------------------------------------------------------

fn arb_terms() -> impl Strategy<Value = Terms> {
    (
        0u32..(1 << DataCategory::ALL.len()),
        0u32..(1 << Purpose::ALL.len()),
        prop::option::of(1u32..=400),
        prop::bool::ANY,
        prop::option::of(1u32..=365),
    )
        .prop_map(|(categories, purposes, authorisation_days, opt_out, retention_days)| Terms {
            categories,
            purposes,
            retention_days,
            onward_sharing: "none".into(),
            consent_mode: if opt_out { ConsentMode::OptOut } else { ConsentMode::OptIn },
            authorisation_days,
        })
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        Just(Resource::Accounts),
        Just(Resource::Balances),
        (0u64..90 * DAY_MS, 0u64..30 * DAY_MS)
            .prop_map(|(from_ms, len)| Resource::Transactions { from_ms, to_ms: from_ms + len }),
        Just(Resource::FraudAlert),
        Just(Resource::Contact),
    ]
}

/// The permission category each resource needs, written out independently of the API.
fn required_category(resource: Resource) -> DataCategory {
    match resource {
        Resource::Accounts => DataCategory::AccountBasic,
        Resource::Balances => DataCategory::Balances,
        Resource::Transactions { .. } | Resource::FraudAlert => DataCategory::TransactionsBasic,
        Resource::Contact => DataCategory::Identity,
    }
}

#[derive(Debug, Clone)]
struct Case {
    terms: Terms,
    resource: Resource,
    purpose: Purpose,
    wants: FieldSet,
    wants_off_platform: bool,
    seed: u64,
    bank: &'static str,
    customer: u64,
    day: u32,
    on_platform_share: f64,
    created_ms: u64,
    /// Fraction of the authorisation period elapsed at the request, in `[0, 1)`.
    elapsed: f64,
}

fn arb_case() -> impl Strategy<Value = Case> {
    let customer = (any::<u64>(), prop::sample::select(vec!["bank-a", "northwind", "b"]), 0u64..10_000, 0u32..365);
    (
        arb_terms(),
        arb_resource(),
        0..Purpose::ALL.len(),
        (any::<u32>(), any::<bool>()),
        customer,
        0.0f64..=1.0,
        (0u64..1_000 * DAY_MS, 0.0f64..1.0),
        0u8..4,
    )
        .prop_map(
            |(mut terms, resource, purpose, (mask, wants_off_platform), who, share, (created_ms, elapsed), serve)| {
                // Three cases in four are steered towards being served (purpose agreed, resource
                // permitted), so the record checks see plenty of grants; the rest stay as drawn.
                let mut purpose = Purpose::ALL[purpose];
                if serve < 3 {
                    terms.categories |= required_category(resource).bit();
                    let agreed: Vec<Purpose> = Purpose::ALL.iter().copied().filter(|p| terms.allows(*p)).collect();
                    if !agreed.is_empty() && !terms.allows(purpose) {
                        purpose = agreed[purpose as usize % agreed.len()];
                    }
                }
                let (seed, bank, customer, day) = who;
                Case {
                    terms,
                    resource,
                    purpose,
                    wants: FieldSet(mask & ALL_FIELDS),
                    wants_off_platform,
                    seed,
                    bank,
                    customer,
                    day,
                    on_platform_share: share,
                    created_ms,
                    elapsed,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn only_granted_fields_and_transactions_leave_the_bank_whatever_is_asked(case in arb_case()) {
        check_only_granted_data_leaves(case)?;
    }
}

/// The body of the property, outside the macro so that rustfmt and clippy see it.
fn check_only_granted_data_leaves(case: Case) -> Result<(), TestCaseError> {
    let Case {
        terms,
        resource,
        purpose,
        wants,
        wants_off_platform,
        seed,
        bank,
        customer,
        day,
        on_platform_share,
        created_ms,
        elapsed,
    } = case;
    let created = SimTime::from_nanos(created_ms * 1_000_000);
    let consent = authorised(&terms, created);
    // A moment inside the authorisation period (or up to ten years on for a persistent one).
    let period_ms = terms.authorisation_days.map_or(3_650 * DAY_MS, |d| u64::from(d) * DAY_MS);
    let now = SimTime::from_nanos((created_ms + (elapsed * period_ms as f64) as u64) * 1_000_000);
    prop_assert_eq!(consent.check(now), Ok(()));

    let request = DataRequest { resource, purpose, wants, wants_off_platform };
    let outcome = api::authorize(&consent, &terms, &request, now);

    // (e) and the other refusals: exactly the ones the terms call for, in order.
    let expected = if !terms.allows(purpose) {
        Some(Refusal::PurposeNotAgreed)
    } else if !terms.grants(required_category(resource)) {
        Some(Refusal::MissingPermission)
    } else {
        None
    };
    match (expected, outcome) {
        (Some(refusal), got) => {
            prop_assert_eq!(got, Err(refusal));
            return Ok(());
        }
        (None, Err(refusal)) => {
            return Err(TestCaseError::fail(format!("refused with {refusal:?} though the terms allow the request")));
        }
        (None, Ok(_)) => {}
    }
    let grant: Grant = outcome.unwrap();

    // (a) Granted fields are allowed by the terms, by the consent, and were asked for.
    let allowed = terms.allowed_fields().intersect(consent.allowed_fields()).intersect(wants);
    prop_assert_eq!(grant.fields.minus(allowed), FieldSet::EMPTY, "grant exceeds terms ∩ consent ∩ wants");
    prop_assert_eq!(grant.fields.minus(resource.fields()), FieldSet::EMPTY, "grant exceeds the resource");
    // What was asked of the resource is either served or blocked, never both.
    prop_assert_eq!(grant.fields.intersect(grant.blocked), FieldSet::EMPTY);
    prop_assert_eq!(grant.fields.union(grant.blocked), wants.intersect(resource.fields()));
    prop_assert_eq!(
        grant.blocked.intersect(terms.allowed_fields()).intersect(consent.allowed_fields()),
        FieldSet::EMPTY,
        "an allowed field was blocked"
    );
    // Off-platform records: served only when asked for and granted, flagged when asked for
    // without the grant on a resource that carries transactions.
    let off_granted = terms.grants(DataCategory::OffPlatformTransactions);
    let carries_transactions = matches!(resource, Resource::Transactions { .. } | Resource::FraudAlert);
    prop_assert_eq!(grant.off_platform, wants_off_platform && off_granted);
    prop_assert_eq!(grant.blocked_off_platform, carries_transactions && wants_off_platform && !off_granted);
    prop_assert_eq!(grant.is_violation(), !grant.blocked.is_empty() || grant.blocked_off_platform);

    // (b) Every record built from the grant carries only granted fields.
    let spec = spec(seed, bank, on_platform_share);
    let person: Customer = population::customer(&spec, customer);
    let txns = transactions(&spec, customer, day..day + 3);
    let records = api::transaction_records(&grant, &person.card.id, &txns);
    for r in &records {
        prop_assert_eq!(r.fields().minus(grant.fields), FieldSet::EMPTY, "transaction record {:?}", r);
    }
    let accounts = api::account_records(&grant, &person);
    prop_assert_eq!(accounts.len(), 2);
    for r in &accounts {
        prop_assert_eq!(account_record_fields(r).minus(grant.fields), FieldSet::EMPTY, "account record {:?}", r);
    }
    let balances = [
        api::balance_for(&grant, &spec, customer, day),
        api::balance_record(&grant, &person.checking.id, population::balance_cents(&spec, customer, day)),
    ];
    for r in &balances {
        prop_assert_eq!(balance_record_fields(r).minus(grant.fields), FieldSet::EMPTY, "balance record {:?}", r);
    }

    // (c) Off-platform transactions appear only when the terms grant them (and the platform asked).
    let by_id = on_platform_by_record_id(&person.card.id, &txns);
    for r in &records {
        let on = by_id.get(&r.transaction_id).copied();
        prop_assert!(on.is_some(), "record {} matches no input transaction", r.transaction_id);
        prop_assert!(on == Some(true) || grant.off_platform, "off-platform transaction {} leaked", r.transaction_id);
    }
    let on_count = txns.iter().filter(|t| t.on_platform).count();
    prop_assert_eq!(records.len(), if grant.off_platform { txns.len() } else { on_count });

    // (d) The full card number is shown only with CardPan; otherwise only the masked form.
    let pan = person.card.number.as_str();
    let pan_granted = grant.fields.contains(Field::CardPan);
    for r in &accounts {
        for s in account_record_strings(r) {
            prop_assert!(pan_granted || !s.contains(pan), "card number in {:?} without CardPan", r);
        }
    }
    let card = accounts.iter().find(|r| r.account_id == person.card.id).expect("card account listed");
    prop_assert_eq!(card.card_pan.as_deref(), pan_granted.then_some(pan));
    if grant.fields.contains(Field::MaskedNumber) {
        let masked = card.masked_number.as_deref().expect("masked number granted");
        prop_assert_eq!(masked, person.card.masked.as_str());
        prop_assert!(masked.ends_with(&pan[pan.len() - 4..]));
        prop_assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 4);
    }
    // Likewise the full checking account number only with AccountNumber.
    if !grant.fields.contains(Field::AccountNumber) {
        for r in &accounts {
            for s in account_record_strings(r) {
                prop_assert!(!s.contains(&person.checking.number), "account number in {:?}", r);
            }
        }
    }

    // (f) The UK Open Banking profile shapes the same grant: what its records carry is granted,
    // no merchant or place member appears without transaction detail in the terms, the same
    // transactions leave, and the full numbers only with their fields.
    if let Ok((shaped, sent)) = bank_mock::obie::transactions(&grant, &person.card.id, &txns) {
        prop_assert_eq!(sent.minus(grant.fields), FieldSet::EMPTY);
        prop_assert_eq!(shaped.len(), records.len());
        let text = serde_json::to_string(&shaped).unwrap();
        if !terms.grants(DataCategory::TransactionsDetail) {
            for word in ["Merchant", "AddressLine"] {
                prop_assert!(!text.contains(word), "{} without transaction detail: {}", word, text);
            }
        }
    }
    let (shaped, sent) = bank_mock::obie::accounts(&grant, &person);
    prop_assert_eq!(sent.minus(grant.fields), FieldSet::EMPTY);
    let text = serde_json::to_string(&shaped).unwrap();
    prop_assert!(pan_granted || !text.contains(pan), "card number without CardPan: {}", text);
    prop_assert!(
        grant.fields.contains(Field::AccountNumber) || !text.contains(&person.checking.number),
        "account number without AccountNumber: {}",
        text
    );
    prop_assert!(grant.fields.contains(Field::Name) || !text.contains(&person.name), "name without Name: {}", text);

    // (g) The FDX profile likewise: no merchant's name without transaction detail (FDX has no
    // merchant member; the description names it only under detail), only granted fields counted.
    if let Ok((shaped, sent)) = bank_mock::fdx::transactions(&grant, &person.card.id, &txns) {
        prop_assert_eq!(sent.minus(grant.fields), FieldSet::EMPTY);
        prop_assert_eq!(shaped.len(), records.len());
        if !grant.fields.contains(Field::TxnMerchant) {
            let merchants: Vec<String> = txns.iter().map(|t| population::merchant_name(t.merchant)).collect();
            for record in &shaped {
                let text = serde_json::to_string(record).unwrap();
                prop_assert!(!merchants.iter().any(|m| text.contains(m)), "merchant without detail: {}", text);
            }
        }
    }
    let (_, sent) = bank_mock::fdx::accounts(&grant, &person);
    prop_assert_eq!(sent.minus(grant.fields), FieldSet::EMPTY);
    if let Ok((contact, sent)) = bank_mock::fdx::contact(&grant, &person) {
        prop_assert_eq!(sent.minus(grant.fields), FieldSet::EMPTY, "{:?}", contact);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Consent lifecycle.
// ---------------------------------------------------------------------------------------------

fn balance_request() -> DataRequest {
    DataRequest {
        resource: Resource::Balances,
        purpose: Purpose::BalanceDisplay,
        wants: fields(&[Field::AccountId, Field::BalanceAvailable]),
        wants_off_platform: false,
    }
}

fn balance_terms(days: Option<u32>) -> Terms {
    terms(&[DataCategory::AccountBasic, DataCategory::Balances], &[Purpose::BalanceDisplay], days)
}

#[test]
fn a_new_consent_awaits_authorisation_and_serves_nothing() {
    let t = balance_terms(Some(90));
    let at = SimTime::from_duration(3 * DAY);
    let c = Consent::new("c-1".into(), "platform-a".into(), &t, at);
    assert_eq!(c.status, ConsentStatus::AwaitingAuthorisation);
    assert_eq!(c.created_at, at);
    assert_eq!(c.revocation, None);
    assert_eq!(c.check(at), Err(Refusal::ConsentNotAuthorised));
    assert_eq!(api::authorize(&c, &t, &balance_request(), at + DAY), Err(Refusal::ConsentNotAuthorised));
    assert!(!Refusal::ConsentNotAuthorised.is_violation(), "an unauthorised consent is no audit finding");
}

#[test]
fn an_authorised_consent_serves_requests() {
    let t = balance_terms(Some(90));
    let mut c = Consent::new("c-1".into(), "platform-a".into(), &t, SimTime::ZERO);
    c.authorise();
    assert_eq!(c.status, ConsentStatus::Authorised);
    let grant = api::authorize(&c, &t, &balance_request(), SimTime::from_duration(DAY)).expect("served");
    assert_eq!(grant.fields, fields(&[Field::AccountId, Field::BalanceAvailable]));
    assert!(!grant.is_violation());
}

#[test]
fn a_revoked_consent_refuses_the_very_next_request_and_records_who_and_why() {
    let t = balance_terms(None);
    let mut c = authorised(&t, SimTime::ZERO);
    let revoked_at = SimTime::from_duration(10 * DAY + Duration::from_millis(1));
    let just_before = SimTime::from_duration(10 * DAY);
    assert!(api::authorize(&c, &t, &balance_request(), just_before).is_ok());

    c.revoke(revoked_at, "customer", "changed my mind");
    assert_eq!(c.status, ConsentStatus::Revoked);
    assert_eq!(
        c.revocation,
        Some(RevocationRecord { at: revoked_at, by: "customer".into(), clause: None, why: "changed my mind".into() })
    );
    assert_eq!(api::authorize(&c, &t, &balance_request(), revoked_at), Err(Refusal::ConsentRevoked));
    assert_eq!(api::authorize(&c, &t, &balance_request(), revoked_at + DAY), Err(Refusal::ConsentRevoked));

    // Revocation is final: a second revocation keeps the first record, authorising again does nothing.
    c.revoke(revoked_at + DAY, "bank", "audit finding");
    c.authorise();
    assert_eq!(c.status, ConsentStatus::Revoked);
    assert_eq!(c.revocation.as_ref().map(|r| (r.at, r.by.as_str())), Some((revoked_at, "customer")));
    assert_eq!(c.check(revoked_at + 2 * DAY), Err(Refusal::ConsentRevoked));
}

#[test]
fn a_ninety_day_consent_expires_at_exactly_ninety_days_and_not_a_millisecond_before() {
    let t = balance_terms(Some(90));
    let created = SimTime::from_duration(7 * DAY + Duration::from_millis(123));
    let c = authorised(&t, created);
    let expiry = created + 90 * DAY;
    assert_eq!(c.expiration, Some(expiry));
    let one_ms_before = SimTime::from_nanos(expiry.as_nanos() - 1_000_000);
    assert_eq!(c.check(one_ms_before), Ok(()));
    assert!(api::authorize(&c, &t, &balance_request(), one_ms_before).is_ok());
    assert_eq!(c.check(expiry), Err(Refusal::ConsentExpired));
    assert_eq!(api::authorize(&c, &t, &balance_request(), expiry), Err(Refusal::ConsentExpired));
    assert_eq!(api::authorize(&c, &t, &balance_request(), expiry + DAY), Err(Refusal::ConsentExpired));
}

#[test]
fn a_persistent_consent_never_expires() {
    let t = balance_terms(None);
    let c = authorised(&t, SimTime::ZERO);
    assert_eq!(c.expiration, None);
    assert_eq!(c.check(SimTime::from_duration(100 * 365 * DAY)), Ok(()));
}

#[test]
fn a_rejected_consent_stays_rejected_and_serves_nothing() {
    let t = balance_terms(Some(90));
    let mut c = Consent::new("c-1".into(), "platform-a".into(), &t, SimTime::ZERO);
    c.reject();
    assert_eq!(c.status, ConsentStatus::Rejected);
    c.authorise();
    assert_eq!(c.status, ConsentStatus::Rejected, "a rejected consent cannot be authorised later");
    assert_eq!(api::authorize(&c, &t, &balance_request(), SimTime::ZERO), Err(Refusal::ConsentNotAuthorised));
}

#[test]
fn a_transaction_request_outside_the_consent_window_is_refused_as_a_violation() {
    let t = terms(&[DataCategory::AccountBasic, DataCategory::TransactionsBasic], &[Purpose::Commerce], None);
    let mut c = authorised(&t, SimTime::ZERO);
    c.transaction_from_ms = Some(10 * DAY_MS);
    c.transaction_to_ms = Some(20 * DAY_MS);
    let ask = |from_ms, to_ms| DataRequest {
        resource: Resource::Transactions { from_ms, to_ms },
        purpose: Purpose::Commerce,
        wants: fields(&[Field::TxnAmount]),
        wants_off_platform: false,
    };
    let now = SimTime::from_duration(30 * DAY);
    assert!(api::authorize(&c, &t, &ask(10 * DAY_MS, 20 * DAY_MS), now).is_ok());
    assert_eq!(api::authorize(&c, &t, &ask(10 * DAY_MS - 1, 20 * DAY_MS), now), Err(Refusal::OutsideWindow));
    assert_eq!(api::authorize(&c, &t, &ask(10 * DAY_MS, 20 * DAY_MS + 1), now), Err(Refusal::OutsideWindow));
    assert!(Refusal::OutsideWindow.is_violation());
}

#[test]
fn a_purpose_outside_the_terms_is_refused_as_a_violation_before_permissions_are_checked() {
    // The platform lacks the Transactions permission too; the purpose is what the bank names.
    let t = balance_terms(None);
    let c = authorised(&t, SimTime::ZERO);
    let request = DataRequest {
        resource: Resource::Transactions { from_ms: 0, to_ms: DAY_MS },
        purpose: Purpose::Advertising,
        wants: FieldSet(ALL_FIELDS),
        wants_off_platform: false,
    };
    assert_eq!(api::authorize(&c, &t, &request, SimTime::ZERO), Err(Refusal::PurposeNotAgreed));
    assert!(Refusal::PurposeNotAgreed.is_violation());
    let allowed_purpose = DataRequest { purpose: Purpose::BalanceDisplay, ..request };
    assert_eq!(api::authorize(&c, &t, &allowed_purpose, SimTime::ZERO), Err(Refusal::MissingPermission));
}

// ---------------------------------------------------------------------------------------------
// 3. Off-platform transactions.
// ---------------------------------------------------------------------------------------------

fn thirty_days_of_transactions() -> (PopulationSpec, Customer, Vec<Transaction>) {
    let spec = spec(2018, "bank-a", 0.3);
    let person = population::customer(&spec, 42);
    let txns = transactions(&spec, 42, 0..30);
    (spec, person, txns)
}

fn transaction_grant(extra: &[DataCategory], wants_off_platform: bool) -> Grant {
    let mut cats = vec![DataCategory::AccountBasic, DataCategory::TransactionsBasic, DataCategory::TransactionsDetail];
    cats.extend_from_slice(extra);
    let t = terms(&cats, &[Purpose::Commerce], Some(365));
    let c = authorised(&t, SimTime::ZERO);
    let request = DataRequest {
        resource: Resource::Transactions { from_ms: 0, to_ms: 30 * DAY_MS },
        purpose: Purpose::Commerce,
        wants: FieldSet(ALL_FIELDS),
        wants_off_platform,
    };
    api::authorize(&c, &t, &request, SimTime::from_duration(30 * DAY)).expect("served")
}

#[test]
fn transactions_made_off_the_platform_are_dropped_unless_the_terms_grant_them() {
    let (_, person, txns) = thirty_days_of_transactions();
    let off_in_input = txns.iter().filter(|t| !t.on_platform).count();
    let on_in_input = txns.len() - off_in_input;
    assert!(off_in_input > 0, "the input must hold off-platform transactions ({} in all)", txns.len());
    assert!(on_in_input > 0, "the input must hold on-platform transactions ({} in all)", txns.len());
    let by_id = on_platform_by_record_id(&person.card.id, &txns);

    // Excluded by the terms: only on-platform records, whether or not the platform asks for more;
    // asking for more is a blocked attempt.
    for asks in [false, true] {
        let grant = transaction_grant(&[], asks);
        assert!(!grant.off_platform);
        assert_eq!((grant.blocked_off_platform, grant.is_violation()), (asks, asks), "asks for off-platform: {asks}");
        let records = api::transaction_records(&grant, &person.card.id, &txns);
        assert_eq!(records.len(), on_in_input);
        assert!(records.iter().all(|r| by_id.get(&r.transaction_id) == Some(&true)), "an off-platform record leaked");
    }

    // Granted and asked for: every transaction, the off-platform ones included.
    let grant = transaction_grant(&[DataCategory::OffPlatformTransactions], true);
    assert!(grant.off_platform && !grant.is_violation());
    let records = api::transaction_records(&grant, &person.card.id, &txns);
    assert_eq!(records.len(), txns.len());
    let off_out = records.iter().filter(|r| by_id.get(&r.transaction_id) == Some(&false)).count();
    assert_eq!(off_out, off_in_input);

    // Granted but not asked for: the platform gets only its own transactions.
    let grant = transaction_grant(&[DataCategory::OffPlatformTransactions], false);
    assert!(!grant.off_platform && !grant.is_violation());
    assert_eq!(api::transaction_records(&grant, &person.card.id, &txns).len(), on_in_input);
}

#[test]
fn off_platform_permission_alone_needs_the_terms_to_grant_it_too() {
    // A consent carrying ReadOffPlatformTransactions does not outlive terms renegotiated without it.
    let with_off = terms(
        &[DataCategory::AccountBasic, DataCategory::TransactionsBasic, DataCategory::OffPlatformTransactions],
        &[Purpose::Commerce],
        None,
    );
    let mut without_off = with_off.clone();
    without_off.categories &= !DataCategory::OffPlatformTransactions.bit();
    let c = authorised(&with_off, SimTime::ZERO);
    assert!(c.has(Permission::ReadOffPlatformTransactions));
    let request = DataRequest {
        resource: Resource::Transactions { from_ms: 0, to_ms: DAY_MS },
        purpose: Purpose::Commerce,
        wants: fields(&[Field::TxnAmount]),
        wants_off_platform: true,
    };
    let g = api::authorize(&c, &without_off, &request, SimTime::ZERO).unwrap();
    assert!(!g.off_platform && g.blocked_off_platform);
    assert!(api::authorize(&c, &with_off, &request, SimTime::ZERO).unwrap().off_platform);
}

// ---------------------------------------------------------------------------------------------
// 4. Over-fetching.
// ---------------------------------------------------------------------------------------------

fn basic_terms() -> Terms {
    terms(
        &[DataCategory::AccountBasic, DataCategory::Balances, DataCategory::TransactionsBasic],
        &[Purpose::CustomerService, Purpose::Commerce],
        Some(90),
    )
}

#[test]
fn over_fetching_card_pan_account_number_and_merchant_is_blocked_and_flagged() {
    let t = basic_terms();
    let c = authorised(&t, SimTime::ZERO);
    let now = SimTime::from_duration(DAY);
    let spec = spec(7, "bank-a", 0.5);
    let person = population::customer(&spec, 3);

    let accounts = DataRequest {
        resource: Resource::Accounts,
        purpose: Purpose::CustomerService,
        wants: fields(&[
            Field::AccountId,
            Field::AccountType,
            Field::MaskedNumber,
            Field::CardPan,
            Field::AccountNumber,
        ]),
        wants_off_platform: false,
    };
    let g = api::authorize(&c, &t, &accounts, now).expect("served, minus the blocked fields");
    assert_eq!(g.blocked, fields(&[Field::CardPan, Field::AccountNumber]));
    assert_eq!(g.fields, fields(&[Field::AccountId, Field::AccountType, Field::MaskedNumber]));
    assert!(g.is_violation());
    let records = api::account_records(&g, &person);
    assert!(records.iter().all(|r| r.card_pan.is_none() && r.account_number.is_none()));
    let card = records.iter().find(|r| r.account_id == person.card.id).unwrap();
    assert_eq!(card.masked_number.as_deref(), Some(person.card.masked.as_str()));

    let txns = DataRequest {
        resource: Resource::Transactions { from_ms: 0, to_ms: DAY_MS },
        purpose: Purpose::Commerce,
        wants: fields(&[Field::AccountId, Field::TxnAmount, Field::TxnDate, Field::TxnMerchant]),
        wants_off_platform: false,
    };
    let h = api::authorize(&c, &t, &txns, now).expect("served, minus the blocked fields");
    assert_eq!(h.blocked, fields(&[Field::TxnMerchant]));
    assert!(h.is_violation());
    let input = transactions(&spec, 3, 0..5);
    assert!(!input.is_empty());
    assert!(api::transaction_records(&h, &person.card.id, &input).iter().all(|r| r.merchant_name.is_none()));

    assert_eq!(g.blocked.union(h.blocked), fields(&[Field::CardPan, Field::AccountNumber, Field::TxnMerchant]));
}

#[test]
fn a_request_for_allowed_fields_only_is_no_violation() {
    let t = basic_terms();
    let c = authorised(&t, SimTime::ZERO);
    let wants = fields(&[Field::AccountId, Field::AccountType, Field::MaskedNumber]);
    let request = DataRequest {
        resource: Resource::Accounts,
        purpose: Purpose::CustomerService,
        wants,
        wants_off_platform: false,
    };
    let g = api::authorize(&c, &t, &request, SimTime::ZERO).unwrap();
    assert_eq!(g.fields, wants);
    assert!(g.blocked.is_empty());
    assert!(!g.is_violation());
}

#[test]
fn fields_a_resource_cannot_carry_are_neither_served_nor_flagged() {
    // Asking /accounts for a merchant name discloses nothing, and is not counted as over-fetching.
    let t = basic_terms();
    let c = authorised(&t, SimTime::ZERO);
    let request = DataRequest {
        resource: Resource::Accounts,
        purpose: Purpose::CustomerService,
        wants: fields(&[Field::AccountId, Field::TxnMerchant, Field::BalanceCurrent]),
        wants_off_platform: false,
    };
    let g = api::authorize(&c, &t, &request, SimTime::ZERO).unwrap();
    assert_eq!(g.fields, fields(&[Field::AccountId]));
    assert_eq!(g.blocked, FieldSet::EMPTY);
}

// ---------------------------------------------------------------------------------------------
// 5. Permission codes.
// ---------------------------------------------------------------------------------------------

#[test]
fn each_category_maps_to_its_open_banking_permission() {
    let table = [
        (DataCategory::Identity, Permission::ReadParty),
        (DataCategory::AccountBasic, Permission::ReadAccountsBasic),
        (DataCategory::AccountNumbers, Permission::ReadAccountsDetail),
        (DataCategory::Balances, Permission::ReadBalances),
        (DataCategory::TransactionsBasic, Permission::ReadTransactionsBasic),
        (DataCategory::TransactionsDetail, Permission::ReadTransactionsDetail),
        (DataCategory::OffPlatformTransactions, Permission::ReadOffPlatformTransactions),
        (DataCategory::CardPan, Permission::ReadPAN),
    ];
    for (category, permission) in table {
        assert_eq!(api::permissions_for(&terms(&[category], &[], None)), vec![permission], "{category:?}");
        assert_eq!(permission.category(), category);
    }
    assert!(api::permissions_for(&terms(&[], &[Purpose::Commerce], None)).is_empty());
    let everything = terms(DataCategory::ALL, Purpose::ALL, None);
    assert_eq!(api::permissions_for(&everything), Permission::ALL.to_vec());
}

#[test]
fn negotiated_detail_transactions_give_read_transactions_detail_and_no_read_pan() {
    let space = IssueSpace::new(default_issues()).unwrap();
    let pick = |pairs: &[(&str, &str)]| {
        let choice: Vec<usize> = space
            .issues()
            .iter()
            .enumerate()
            .map(|(i, issue)| {
                pairs.iter().find(|(n, _)| *n == issue.name).map_or(0, |(_, o)| space.option_index(i, o).unwrap())
            })
            .collect();
        Terms::from_outcome(&space, space.outcome(&choice).unwrap())
    };
    let t = pick(&[("transactions", "detail"), ("balances", "included"), ("purposes", "balance_display+fraud_alerts")]);
    let p = api::permissions_for(&t);
    assert_eq!(
        p,
        vec![
            Permission::ReadAccountsBasic,
            Permission::ReadBalances,
            Permission::ReadTransactionsBasic,
            Permission::ReadTransactionsDetail
        ]
    );
    assert!(!p.contains(&Permission::ReadPAN));
    assert!(!p.contains(&Permission::ReadOffPlatformTransactions));
    let c = Consent::new("c".into(), "p".into(), &t, SimTime::ZERO);
    assert_eq!(c.permissions, p);
    assert!(!c.allowed_fields().contains(Field::CardPan));

    let basic = pick(&[("transactions", "basic"), ("off_platform_transactions", "included")]);
    let p = api::permissions_for(&basic);
    assert!(p.contains(&Permission::ReadTransactionsBasic) && p.contains(&Permission::ReadOffPlatformTransactions));
    assert!(!p.contains(&Permission::ReadTransactionsDetail));
}

// ---------------------------------------------------------------------------------------------
// Record values.
// ---------------------------------------------------------------------------------------------

#[test]
fn balance_bands_split_at_one_thousand_and_ten_thousand() {
    let g = Grant {
        fields: fields(&[Field::BalanceBand]),
        blocked: FieldSet::EMPTY,
        off_platform: false,
        blocked_off_platform: false,
    };
    let band = |cents| api::balance_record(&g, "chk", cents).band.unwrap();
    assert_eq!(band(99_999), "<1k");
    assert_eq!(band(100_000), "1k-10k");
    assert_eq!(band(999_999), "1k-10k");
    assert_eq!(band(1_000_000), ">=10k");
    assert_eq!(api::balance_record(&g, "chk", 1_000_000).current, None);
}

#[test]
fn money_is_written_with_two_decimals() {
    let g = Grant {
        fields: fields(&[Field::BalanceCurrent, Field::BalanceAvailable]),
        blocked: FieldSet::EMPTY,
        off_platform: false,
        blocked_off_platform: false,
    };
    let r = api::balance_record(&g, "chk", 123_405);
    assert_eq!((r.current.as_deref(), r.available.as_deref()), (Some("1234.05"), Some("1234.05")));
    assert_eq!(api::balance_record(&g, "chk", -12_345).current.as_deref(), Some("-123.45"));
}

// ---------------------------------------------------------------------------------------------
// Known bugs: these state the intended behaviour and fail today.
// ---------------------------------------------------------------------------------------------

fn derived_signal_request() -> (Terms, Consent, DataRequest) {
    let t = terms(
        &[DataCategory::AccountBasic, DataCategory::Balances, DataCategory::DerivedSignals],
        &[Purpose::Advertising],
        None,
    );
    let c = authorised(&t, SimTime::ZERO);
    // Exactly the minimal fields of the purpose (account id and balance band), all within the terms.
    let wants = Purpose::Advertising.minimal_fields();
    assert_eq!(wants.minus(t.allowed_fields()), FieldSet::EMPTY);
    (
        t,
        c,
        DataRequest { resource: Resource::Balances, purpose: Purpose::Advertising, wants, wants_off_platform: false },
    )
}

#[test]
fn derived_signals_leave_the_bank_only_when_the_terms_grant_them() {
    let (t, c, request) = derived_signal_request();
    assert!(c.has(Permission::ReadDerivedSignals));
    let g = api::authorize(&c, &t, &request, SimTime::ZERO).unwrap();
    assert!(g.fields.contains(Field::BalanceBand));
    assert_eq!(api::balance_record(&g, "chk-bank-a-1", 250_000).band.as_deref(), Some("1k-10k"));
    // Without the category, no permission opens them and the band stays home.
    let mut t2 = t.clone();
    t2.categories &= !DataCategory::DerivedSignals.bit();
    let c2 = Consent::new("c2".into(), "p".into(), &t2, SimTime::ZERO);
    assert!(!c2.has(Permission::ReadDerivedSignals));
    assert!(!c2.allowed_fields().contains(Field::BalanceBand) && !c2.allowed_fields().contains(Field::FraudFlag));
}

#[test]
fn asking_for_derived_signals_the_terms_grant_is_not_flagged_as_over_fetching() {
    // sim's well-behaved platforms ask for `resource.fields() ∩ terms.allowed_fields()`, which
    // holds BalanceBand (balances) or FraudFlag (fraud alerts) once `derived_signals` is agreed.
    let (t, c, request) = derived_signal_request();
    let g = api::authorize(&c, &t, &request, SimTime::ZERO).unwrap();
    assert_eq!(g.blocked, FieldSet::EMPTY, "blocked {:?}", g.blocked.iter().collect::<Vec<_>>());
    assert!(!g.is_violation());
}

#[test]
fn small_negative_balances_keep_their_sign() {
    let g = Grant {
        fields: fields(&[Field::BalanceCurrent]),
        blocked: FieldSet::EMPTY,
        off_platform: false,
        blocked_off_platform: false,
    };
    assert_eq!(api::balance_record(&g, "chk", -50).current.as_deref(), Some("-0.50"));
}

#[test]
fn transaction_ids_reveal_neither_the_account_nor_the_day_unless_granted() {
    let spec = spec(11, "bank-a", 1.0);
    let person = population::customer(&spec, 5);
    let txns = transactions(&spec, 5, 17..20);
    assert!(!txns.is_empty());
    let g = Grant {
        fields: fields(&[Field::TxnAmount]),
        blocked: FieldSet::EMPTY,
        off_platform: false,
        blocked_off_platform: false,
    };
    for (r, t) in api::transaction_records(&g, &person.card.id, &txns).iter().zip(&txns) {
        assert_eq!(r.fields(), fields(&[Field::TxnAmount]));
        assert!(!r.transaction_id.contains(&person.card.id), "account id in {}", r.transaction_id);
        let day = t.at_ms / DAY_MS;
        let suffix: Option<u64> = r.transaction_id.rsplit('-').next().and_then(|s| s.parse().ok());
        assert_ne!(suffix.map(|id| id >> 16), Some(day), "booking day readable from {}", r.transaction_id);
    }
}
