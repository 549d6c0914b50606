//! The bank API's meaning, without HTTP: consents in the style of UK Open Banking
//! account-access consents, the decision on each data request, and the records a response
//! carries. The hyper server and the virtual-time runner both call these functions, so a field
//! the terms do not allow cannot leave the bank in either mode.

use serde::{Deserialize, Serialize};
use testbed_core::SimTime;
use testbed_core::population::{self, Customer, PopulationSpec, Transaction};
use testbed_core::scenario::RequestKind;
use testbed_core::terms::{DataCategory, Field, FieldSet, Purpose, Terms};
pub use testbed_core::wire::{
    AccountRecord, BalanceRecord, ConsentStatus, Permission, TransactionRecord, carried_fields, permissions_for,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevocationRecord {
    pub at: SimTime,
    /// `customer`, `bank` or `platform`.
    pub by: String,
    /// The clause of the bank's policy it was revoked over, when the bank revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    pub why: String,
}

/// An account-access consent: what one platform may read, for how long, and its status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub id: String,
    pub platform: String,
    pub permissions: Vec<Permission>,
    pub created_at: SimTime,
    /// `ExpirationDateTime`; `None` for a persistent authorisation.
    pub expiration: Option<SimTime>,
    /// `TransactionFromDateTime` / `TransactionToDateTime`, in ms of simulated time.
    pub transaction_from_ms: Option<u64>,
    pub transaction_to_ms: Option<u64>,
    pub status: ConsentStatus,
    pub revocation: Option<RevocationRecord>,
}

/// Why a request got no data. Refusals are values the runner counts, not errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    ConsentNotAuthorised,
    ConsentRevoked,
    ConsentExpired,
    /// The request's purpose is not one the terms allow.
    PurposeNotAgreed,
    /// No permission of the consent covers the resource.
    MissingPermission,
    /// The transaction window lies outside the consent's window.
    OutsideWindow,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ConsentNotAuthorised => "consent_not_authorised",
            Refusal::ConsentRevoked => "consent_revoked",
            Refusal::ConsentExpired => "consent_expired",
            Refusal::PurposeNotAgreed => "purpose_not_agreed",
            Refusal::MissingPermission => "missing_permission",
            Refusal::OutsideWindow => "outside_window",
        }
    }

    /// One sentence for people reading an error response.
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::ConsentNotAuthorised => "the consent has not been authorised by the customer",
            Refusal::ConsentRevoked => "the consent was revoked; no data flows under it any more",
            Refusal::ConsentExpired => "the consent's authorisation period is over; the customer must consent again",
            Refusal::PurposeNotAgreed => {
                "the request's purpose (X-Purpose header, or the endpoint's default) is not one the agreement allows"
            }
            Refusal::MissingPermission => "the consent has no permission for this resource",
            Refusal::OutsideWindow => "the requested dates lie outside the consent's transaction window",
        }
    }

    /// True when the platform asked for something the terms do not allow (an audit finding),
    /// as opposed to a consent that lapsed or was withdrawn.
    pub fn is_violation(self) -> bool {
        matches!(self, Refusal::PurposeNotAgreed | Refusal::MissingPermission | Refusal::OutsideWindow)
    }
}

impl Consent {
    /// A consent for `terms`, awaiting the customer's authorisation.
    pub fn new(id: String, platform: String, terms: &Terms, now: SimTime) -> Consent {
        let expiration = terms.authorisation_days.map(|d| now + std::time::Duration::from_secs(u64::from(d) * 86_400));
        Consent {
            id,
            platform,
            permissions: permissions_for(terms),
            created_at: now,
            expiration,
            transaction_from_ms: None,
            transaction_to_ms: None,
            status: ConsentStatus::AwaitingAuthorisation,
            revocation: None,
        }
    }

    pub fn authorise(&mut self) {
        if self.status == ConsentStatus::AwaitingAuthorisation {
            self.status = ConsentStatus::Authorised;
        }
    }

    pub fn reject(&mut self) {
        if self.status == ConsentStatus::AwaitingAuthorisation {
            self.status = ConsentStatus::Rejected;
        }
    }

    /// Revokes at `now`; the very next request is refused.
    pub fn revoke(&mut self, now: SimTime, by: &str, why: &str) {
        if self.status != ConsentStatus::Revoked {
            self.status = ConsentStatus::Revoked;
            self.revocation = Some(RevocationRecord { at: now, by: by.into(), clause: None, why: why.into() });
        }
    }

    /// The bank revokes the consent over a clause of its policy (its agreement was revoked).
    pub fn revoke_over(&mut self, now: SimTime, clause: &str, why: &str) {
        if self.status != ConsentStatus::Revoked {
            self.status = ConsentStatus::Revoked;
            let clause = Some(clause.into());
            self.revocation = Some(RevocationRecord { at: now, by: "bank".into(), clause, why: why.into() });
        }
    }

    pub fn has(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// The fields this consent lets out.
    pub fn allowed_fields(&self) -> FieldSet {
        self.permissions.iter().fold(FieldSet::EMPTY, |m, p| m.union(p.category().fields()))
    }

    /// Whether the consent can be used at `now`.
    pub fn check(&self, now: SimTime) -> Result<(), Refusal> {
        match self.status {
            ConsentStatus::Revoked => return Err(Refusal::ConsentRevoked),
            ConsentStatus::AwaitingAuthorisation | ConsentStatus::Rejected => {
                return Err(Refusal::ConsentNotAuthorised);
            }
            ConsentStatus::Authorised => {}
        }
        if self.expiration.is_some_and(|e| now >= e) {
            return Err(Refusal::ConsentExpired);
        }
        Ok(())
    }
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resource {
    Accounts,
    Balances,
    /// Transactions booked in `[from_ms, to_ms)`.
    Transactions {
        from_ms: u64,
        to_ms: u64,
    },
    /// A fraud alert pushed for one new transaction.
    FraudAlert,
    /// An account's holder and how to reach them (FDX's account contact): identity data.
    Contact,
}

impl Resource {
    /// The fields a resource can carry at most: those its records have a member for, so that
    /// what is counted as disclosed is what a response can hold.
    pub fn fields(self) -> FieldSet {
        match self {
            Resource::Accounts => carried_fields(RequestKind::Accounts),
            Resource::Balances => carried_fields(RequestKind::BalanceLookup),
            Resource::Transactions { .. } => carried_fields(RequestKind::TransactionSync),
            Resource::FraudAlert => carried_fields(RequestKind::FraudAlert),
            Resource::Contact => DataCategory::Identity.fields(),
        }
    }

    /// The permission without which the resource is refused.
    pub fn required_permission(self) -> Permission {
        match self {
            Resource::Accounts => Permission::ReadAccountsBasic,
            Resource::Balances => Permission::ReadBalances,
            Resource::Transactions { .. } | Resource::FraudAlert => Permission::ReadTransactionsBasic,
            Resource::Contact => Permission::ReadParty,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRequest {
    pub resource: Resource,
    pub purpose: Purpose,
    /// Fields the platform asks for; anything beyond the consent is blocked and counted.
    pub wants: FieldSet,
    /// Whether the platform asks for transactions made outside it too.
    pub wants_off_platform: bool,
}

/// How much a request asks for. An HTTP request names a resource, not fields: by default it
/// asks for what its consent and the agreement allow, so a platform keeping to its consent is
/// never counted as over-fetching; `X-Requested-Fields: *` asks for every field of the resource
/// (and transactions made outside the platform), as an over-fetching platform does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asking {
    WithinConsent,
    Everything,
}

impl Asking {
    /// The `X-Requested-Fields` header: absent, or `*`.
    pub const HEADER: &'static str = "x-requested-fields";

    pub fn parse(header: Option<&str>) -> Option<Asking> {
        match header {
            None => Some(Asking::WithinConsent),
            Some("*") => Some(Asking::Everything),
            Some(_) => None,
        }
    }
}

/// The fields (and whether off-platform transactions) a request for `resource` asks for, given
/// the fields and off-platform right its consent and terms allow: one rule for both modes.
#[inline]
pub fn wants(resource: Resource, asking: Asking, allowed: FieldSet, off_platform_allowed: bool) -> (FieldSet, bool) {
    match asking {
        Asking::WithinConsent => (resource.fields().intersect(allowed), off_platform_allowed),
        Asking::Everything => (resource.fields(), true),
    }
}

/// How the bank serves a platform under one agreement, given the platform's integration design:
/// the terms its answers are filtered by, the terms its consents are made from, and whether it
/// gets derived signals instead of raw data. One rule for both modes.
#[derive(Clone, Debug, PartialEq)]
pub struct Serving {
    /// What answers may carry.
    pub terms: Terms,
    /// What consents grant (a minimised consent keeps the raw permissions the bank derives its
    /// signals from, and adds `ReadDerivedSignals`).
    pub consent_terms: Terms,
    /// Minimised: balance look-ups get a band, transactions and alerts a fraud flag.
    pub derived: bool,
}

impl Serving {
    pub fn new(design: &testbed_core::scenario::Design, agreed: &Terms) -> Serving {
        match design {
            testbed_core::scenario::Design::Minimised => {
                let terms = minimised_terms(agreed);
                let consent_terms = Terms { categories: agreed.categories | terms.categories, ..agreed.clone() };
                Serving { terms, consent_terms, derived: true }
            }
            _ => Serving { terms: agreed.clone(), consent_terms: agreed.clone(), derived: false },
        }
    }

    /// What a request for `resource` is served as: a minimised flow asking within its consent
    /// gets the derived resource and fields; everything else as asked.
    pub fn resource(&self, resource: Resource, asking: Asking) -> Option<(Resource, FieldSet)> {
        if !self.derived || asking == Asking::Everything {
            return None;
        }
        match resource {
            Resource::Accounts | Resource::Contact => None,
            Resource::Balances => Some((Resource::Balances, FieldSet::of(&[Field::AccountId, Field::BalanceBand]))),
            Resource::Transactions { .. } | Resource::FraudAlert => {
                Some((Resource::FraudAlert, FieldSet::of(&[Field::AccountId, Field::FraudFlag])))
            }
        }
    }
}

/// The terms a bank serves a minimised flow under: the agreed purposes, account listings, and
/// derived signals wherever the raw category they summarise was granted (a band says less than
/// the balance, a flag less than the transactions); no raw balance or transaction field.
pub fn minimised_terms(agreed: &Terms) -> Terms {
    let raw = DataCategory::Balances.bit() | DataCategory::TransactionsBasic.bit();
    let derived = if agreed.categories & raw != 0 { DataCategory::DerivedSignals.bit() } else { 0 };
    Terms { categories: (agreed.categories & DataCategory::AccountBasic.bit()) | derived, ..agreed.clone() }
}

/// The bank's decision on a request it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Fields that will be in the response.
    pub fields: FieldSet,
    /// Fields asked for but not allowed: blocked attempts.
    pub blocked: FieldSet,
    /// Whether transactions made outside the platform may be returned.
    pub off_platform: bool,
    /// Off-platform transactions were asked for but are not allowed: a blocked attempt.
    pub blocked_off_platform: bool,
}

impl Grant {
    /// True when the platform over-fetched: a term violation an audit records.
    pub fn is_violation(&self) -> bool {
        !self.blocked.is_empty() || self.blocked_off_platform
    }
}

/// Decides a request: refuse it, or serve the intersection of what was asked, what the resource
/// carries, what the consent permits and what the terms allow.
pub fn authorize(consent: &Consent, terms: &Terms, request: &DataRequest, now: SimTime) -> Result<Grant, Refusal> {
    let allowed = consent.allowed_fields().intersect(terms.allowed_fields());
    let off_platform_allowed =
        consent.has(Permission::ReadOffPlatformTransactions) && terms.grants(DataCategory::OffPlatformTransactions);
    authorize_within(consent, terms, request, now, (allowed, off_platform_allowed))
}

/// `authorize`, given what the consent and the terms allow together (the fields, and whether
/// transactions made outside the platform), for a caller that worked them out already.
#[inline]
pub fn authorize_within(
    consent: &Consent,
    terms: &Terms,
    request: &DataRequest,
    now: SimTime,
    (allowed, off_platform_allowed): (FieldSet, bool),
) -> Result<Grant, Refusal> {
    consent.check(now)?;
    if !terms.allows(request.purpose) {
        return Err(Refusal::PurposeNotAgreed);
    }
    if !consent.has(request.resource.required_permission()) {
        return Err(Refusal::MissingPermission);
    }
    if let Resource::Transactions { from_ms, to_ms } = request.resource
        && (consent.transaction_from_ms.is_some_and(|f| from_ms < f)
            || consent.transaction_to_ms.is_some_and(|t| to_ms > t))
    {
        return Err(Refusal::OutsideWindow);
    }
    let asked = request.wants.intersect(request.resource.fields());
    let carries_transactions = matches!(request.resource, Resource::Transactions { .. } | Resource::FraudAlert);
    Ok(Grant {
        fields: asked.intersect(allowed),
        blocked: asked.minus(allowed),
        off_platform: request.wants_off_platform && off_platform_allowed,
        blocked_off_platform: carries_transactions && request.wants_off_platform && !off_platform_allowed,
    })
}

/// Cents as a decimal amount, keeping the sign of amounts under one unit (`-0.50`).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// An opaque, stable transaction id: it must not reveal the account or the booking day, which
/// the terms may withhold. A fixed 64-bit mix (SplitMix64 finaliser) of both.
pub fn transaction_id(account_id: &str, id: u64) -> String {
    format!("tx-{:016x}", transaction_id_bits(account_id, id))
}

pub(crate) fn transaction_id_bits(account_id: &str, id: u64) -> u64 {
    let h = testbed_core::rng::fnv1a(account_id.as_bytes());
    let mut z = h ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds the response records for a transaction list: off-platform transactions are dropped
/// unless granted, and each record carries only granted fields.
pub fn transaction_records(grant: &Grant, account_id: &str, transactions: &[Transaction]) -> Vec<TransactionRecord> {
    let has = |f| grant.fields.contains(f);
    transactions
        .iter()
        .filter(|t| t.on_platform || grant.off_platform)
        .map(|t| TransactionRecord {
            transaction_id: transaction_id(account_id, t.id),
            account_id: has(Field::AccountId).then(|| account_id.to_string()),
            amount: has(Field::TxnAmount)
                .then(|| format!("{}.{:02}", t.amount_cents / 100, (t.amount_cents % 100).abs())),
            booking_date_time_ms: has(Field::TxnDate).then_some(t.at_ms),
            status: has(Field::TxnStatus).then(|| if t.pending { "Pending" } else { "Booked" }.to_string()),
            merchant_category: has(Field::TxnCategory).then(|| t.category.as_str().to_string()),
            merchant_name: has(Field::TxnMerchant).then(|| population::merchant_name(t.merchant)),
            place_zip5: has(Field::TxnPlace).then(|| format!("{:05}", t.place_zip5)),
            fraud_flag: has(Field::FraudFlag).then_some(false),
        })
        .collect()
}

/// A transaction record written straight from the transaction: the same JSON bytes as
/// `serde_json` gives for the value of the [`TransactionRecord`] that [`transaction_records`]
/// builds (keys in a JSON value's sorted order), without building its strings. The HTTP data
/// path writes pages with it.
#[derive(Clone, Copy, Debug)]
pub struct TransactionView<'a> {
    pub fields: FieldSet,
    pub account_id: &'a str,
    pub transaction: &'a Transaction,
}

/// The transactions of `transactions` a grant lets out, as views (see [`transaction_records`]).
pub fn transaction_views<'a>(
    grant: &Grant,
    account_id: &'a str,
    transactions: &'a [Transaction],
) -> impl Iterator<Item = TransactionView<'a>> + Clone {
    let (fields, off_platform) = (grant.fields, grant.off_platform);
    transactions.iter().filter(move |t| t.on_platform || off_platform).map(move |transaction| TransactionView {
        fields,
        account_id,
        transaction,
    })
}

impl TransactionView<'_> {
    /// Appends the record's JSON object to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let t = self.transaction;
        let has = |f| self.fields.contains(f);
        out.push(b'{');
        if has(Field::AccountId) {
            out.extend_from_slice(b"\"AccountId\":");
            write_json_str(out, self.account_id);
            out.push(b',');
        }
        if has(Field::TxnAmount) {
            out.extend_from_slice(b"\"Amount\":\"");
            // As `format!("{}.{:02}", cents / 100, (cents % 100).abs())`.
            let units = t.amount_cents / 100;
            if units < 0 {
                out.push(b'-');
            }
            write_decimal(out, units.unsigned_abs(), 1);
            out.push(b'.');
            write_decimal(out, (t.amount_cents % 100).unsigned_abs(), 2);
            out.extend_from_slice(b"\",");
        }
        if has(Field::TxnDate) {
            out.extend_from_slice(b"\"BookingDateTimeMs\":");
            write_decimal(out, t.at_ms, 1);
            out.push(b',');
        }
        if has(Field::FraudFlag) {
            out.extend_from_slice(b"\"FraudFlag\":false,");
        }
        if has(Field::TxnCategory) {
            out.extend_from_slice(b"\"MerchantCategory\":");
            write_json_str(out, t.category.as_str());
            out.push(b',');
        }
        if has(Field::TxnMerchant) {
            out.extend_from_slice(b"\"MerchantName\":");
            write_json_str(out, merchant_name(t.merchant));
            out.push(b',');
        }
        if has(Field::TxnPlace) {
            out.extend_from_slice(b"\"PlaceZip5\":\"");
            write_decimal(out, u64::from(t.place_zip5), 5);
            out.extend_from_slice(b"\",");
        }
        if has(Field::TxnStatus) {
            out.extend_from_slice(if t.pending { b"\"Status\":\"Pending\"," } else { b"\"Status\":\"Booked\"," });
        }
        out.extend_from_slice(b"\"TransactionId\":\"");
        write_transaction_id(out, self.account_id, t.id);
        out.extend_from_slice(b"\"}");
    }
}

/// Appends `transaction_id(account_id, id)` to `out` without allocating.
pub fn write_transaction_id(out: &mut Vec<u8>, account_id: &str, id: u64) {
    out.extend_from_slice(b"tx-");
    let id = transaction_id_bits(account_id, id);
    for shift in (0..16).rev() {
        out.push(b"0123456789abcdef"[(id >> (shift * 4)) as usize & 0xf]);
    }
}

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a string serialises");
    }
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
pub fn write_decimal(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    while n > 0 || digits.len() - i < width {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[i..]);
}

/// The catalogue's merchant names, built once: every page shows some.
pub(crate) fn merchant_name(merchant: u32) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| (0..population::MERCHANT_COUNT).map(population::merchant_name).collect());
    &names[(merchant % population::MERCHANT_COUNT) as usize]
}

/// Accounts each customer holds: a checking account and a card.
pub const ACCOUNTS_PER_CUSTOMER: usize = 2;

/// The customer's checking and card accounts; the card number is masked unless `ReadPAN`.
pub fn account_records(grant: &Grant, customer: &Customer) -> Vec<AccountRecord> {
    let has = |f| grant.fields.contains(f);
    let accounts: [_; ACCOUNTS_PER_CUSTOMER] = [(&customer.checking, "checking"), (&customer.card, "card")];
    accounts
        .into_iter()
        .map(|(a, kind)| AccountRecord {
            account_id: a.id.clone(),
            account_type: has(Field::AccountType).then(|| kind.to_string()),
            masked_number: has(Field::MaskedNumber).then(|| a.masked.clone()),
            account_number: (has(Field::AccountNumber) && kind == "checking").then(|| a.number.clone()),
            routing_number: has(Field::RoutingNumber).then(|| a.routing.clone()).flatten(),
            card_pan: (has(Field::CardPan) && kind == "card").then(|| a.number.clone()),
            holder_name: has(Field::Name).then(|| customer.name.clone()),
        })
        .collect()
}

pub fn balance_record(grant: &Grant, account_id: &str, cents: i64) -> BalanceRecord {
    let has = |f| grant.fields.contains(f);
    BalanceRecord {
        account_id: account_id.to_string(),
        current: has(Field::BalanceCurrent).then(|| money(cents)),
        available: has(Field::BalanceAvailable).then(|| money(cents)),
        band: has(Field::BalanceBand).then(|| {
            match cents {
                ..100_000 => "<1k",
                100_000..1_000_000 => "1k-10k",
                _ => ">=10k",
            }
            .to_string()
        }),
    }
}

/// The customer's checking balance record at the start of `day`.
pub fn balance_for(grant: &Grant, spec: &PopulationSpec, customer: u64, day: u32) -> BalanceRecord {
    let id = population::checking_id(&spec.bank, customer);
    balance_record(grant, &id, population::balance_cents(spec, customer, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_a_resource_counts_as_disclosed_has_a_member_in_its_records() {
        let spec =
            PopulationSpec { seed: 3, bank: "b".into(), size: 10, transactions_per_day: 5.0, on_platform_share: 0.5 };
        let all = |resource: Resource| Grant {
            fields: resource.fields(),
            blocked: FieldSet::EMPTY,
            off_platform: true,
            blocked_off_platform: false,
        };
        // Accounts: the union of what the customer's two account records carry.
        let accounts = account_records(&all(Resource::Accounts), &population::customer(&spec, 4));
        let carried = accounts.iter().fold(FieldSet::EMPTY, |f, a| {
            let present = [
                (Field::AccountId, true),
                (Field::AccountType, a.account_type.is_some()),
                (Field::MaskedNumber, a.masked_number.is_some()),
                (Field::AccountNumber, a.account_number.is_some()),
                (Field::RoutingNumber, a.routing_number.is_some()),
                (Field::CardPan, a.card_pan.is_some()),
                (Field::Name, a.holder_name.is_some()),
            ];
            f.union(FieldSet::of(&present.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect::<Vec<_>>()))
        });
        assert_eq!(carried, Resource::Accounts.fields());
        // Balances: the account, the amounts and the band.
        let b = balance_record(&all(Resource::Balances), "chk-b-4", 12_345);
        let present = [
            (Field::AccountId, true),
            (Field::BalanceCurrent, b.current.is_some()),
            (Field::BalanceAvailable, b.available.is_some()),
            (Field::BalanceBand, b.band.is_some()),
        ];
        let carried = FieldSet::of(&present.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect::<Vec<_>>());
        assert_eq!(carried, Resource::Balances.fields());
        // Transactions: what a record reports it carries.
        let window = Resource::Transactions { from_ms: 0, to_ms: 86_400_000 };
        let mut txns = Vec::new();
        population::transactions_on_day(&spec, 4, 0, &mut txns);
        let records = transaction_records(&all(window), "card-b-4", &txns);
        assert!(!records.is_empty());
        assert!(records.iter().all(|r| r.fields() == window.fields()), "{records:?}");
    }

    #[test]
    fn a_transaction_view_writes_the_json_of_the_record_it_stands_for() {
        let spec =
            PopulationSpec { seed: 3, bank: "b".into(), size: 100, transactions_per_day: 6.0, on_platform_share: 0.5 };
        let mut txns = Vec::new();
        for day in 0..4 {
            population::transactions_on_day(&spec, 9, day, &mut txns);
        }
        txns[0].amount_cents = -7; // a refund under one unit
        txns[1].pending = true;
        txns[2].amount_cents = -12_345;
        txns[3].place_zip5 = 501;
        let all = Resource::FraudAlert.fields();
        let some = FieldSet::of(&[Field::TxnAmount, Field::TxnMerchant, Field::TxnPlace]);
        for (fields, account) in [(all, "card-b-9"), (some, "card-b-9"), (FieldSet::EMPTY, "c"), (all, "card-\"b\\-\n")]
        {
            for off_platform in [false, true] {
                let grant = Grant { fields, blocked: FieldSet::EMPTY, off_platform, blocked_off_platform: false };
                let records = transaction_records(&grant, account, &txns);
                let mut written = Vec::new();
                for (i, view) in transaction_views(&grant, account, &txns).enumerate() {
                    written.extend_from_slice(if i == 0 { b"[" } else { b"," });
                    view.write_json(&mut written);
                }
                written.extend_from_slice(if written.is_empty() { b"[]" } else { b"]" });
                assert_eq!(
                    serde_json::to_string(&serde_json::to_value(&records).unwrap()).unwrap(),
                    String::from_utf8(written).unwrap()
                );
            }
        }
    }
}

#[cfg(test)]
mod serving_tests {
    use super::*;
    use testbed_core::scenario::Design;
    use testbed_core::terms::{ConsentMode, Purpose};

    fn terms(categories: &[DataCategory]) -> Terms {
        Terms {
            categories: categories.iter().fold(0, |m, c| m | c.bit()),
            purposes: Purpose::BalanceDisplay.bit(),
            retention_days: None,
            onward_sharing: "none".into(),
            consent_mode: ConsentMode::OptIn,
            authorisation_days: None,
        }
    }

    #[test]
    fn minimised_terms_swap_raw_categories_for_derived_signals_and_keep_the_purposes() {
        use DataCategory::*;
        let agreed = terms(&[AccountBasic, Balances, TransactionsBasic, TransactionsDetail, OffPlatformTransactions]);
        let m = minimised_terms(&agreed);
        assert_eq!(m.categories, AccountBasic.bit() | DerivedSignals.bit());
        assert_eq!(m.purposes, agreed.purposes);
        assert!(!m.allowed_fields().contains(Field::BalanceCurrent) && m.allowed_fields().contains(Field::BalanceBand));
        // Nothing raw granted, nothing to derive from.
        assert_eq!(minimised_terms(&terms(&[AccountBasic])).categories, AccountBasic.bit());
    }

    #[test]
    fn a_minimised_flow_is_served_derived_signals_unless_it_over_fetches_and_others_as_asked() {
        use DataCategory::*;
        let agreed = terms(&[AccountBasic, Balances, TransactionsBasic]);
        let minimised = Serving::new(&Design::Minimised, &agreed);
        assert!(permissions_for(&minimised.consent_terms).contains(&Permission::ReadDerivedSignals));
        assert!(permissions_for(&minimised.consent_terms).contains(&Permission::ReadBalances));
        let page = Resource::Transactions { from_ms: 0, to_ms: 1 };
        let (resource, fields) = minimised.resource(page, Asking::WithinConsent).expect("derived");
        assert_eq!((resource, fields), (Resource::FraudAlert, FieldSet::of(&[Field::AccountId, Field::FraudFlag])));
        assert_eq!(minimised.resource(Resource::Accounts, Asking::WithinConsent), None);
        assert_eq!(minimised.resource(page, Asking::Everything), None);
        let direct = Serving::new(&Design::Direct, &agreed);
        assert_eq!((direct.terms.clone(), direct.derived), (agreed.clone(), false));
        assert_eq!(direct.resource(Resource::Balances, Asking::WithinConsent), None);
    }
}
