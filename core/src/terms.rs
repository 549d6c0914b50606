//! What an agreement means for data: the categories a platform may receive, the purposes it
//! may use them for, and the fields each category discloses with their sensitivity.
//!
//! Categories follow CFPB 1033 / FDX clusters; the Basic vs Detail split follows UK Open
//! Banking permissions; sensitivity classes follow NIST SP 800-122 (Low / Moderate / High),
//! judged field by field as documented on [`Field::sensitivity`].

use crate::negotiation::{IssueSpace, OutcomeId};
use serde::{Deserialize, Serialize};

macro_rules! small_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
            /// This value as one bit of a mask.
            pub const fn bit(self) -> u32 { 1 << (self as u32) }
        }
    };
}

small_enum!(
    /// Data categories a platform can be granted.
    DataCategory {
        Identity = "identity",
        AccountBasic = "account_basic",
        AccountNumbers = "account_numbers",
        Balances = "balances",
        TransactionsBasic = "transactions_basic",
        TransactionsDetail = "transactions_detail",
        OffPlatformTransactions = "off_platform_transactions",
        CardPan = "card_pan",
        DerivedSignals = "derived_signals",
    }
);

small_enum!(
    /// What the platform may use data for.
    Purpose {
        BalanceDisplay = "balance_display",
        FraudAlerts = "fraud_alerts",
        CustomerService = "customer_service",
        Commerce = "commerce",
        Advertising = "advertising",
        Analytics = "analytics",
    }
);

small_enum!(
    /// NIST SP 800-122 confidentiality impact of one field.
    Sensitivity { Low = "low", Moderate = "moderate", High = "high" }
);

small_enum!(
    /// Every field the bank API can disclose.
    Field {
        Name = "name",
        StreetAddress = "street_address",
        Zip5 = "zip5",
        DateOfBirth = "date_of_birth",
        Sex = "sex",
        Email = "email",
        Phone = "phone",
        AccountId = "account_id",
        AccountType = "account_type",
        MaskedNumber = "masked_number",
        AccountNumber = "account_number",
        RoutingNumber = "routing_number",
        BalanceCurrent = "balance_current",
        BalanceAvailable = "balance_available",
        TxnAmount = "txn_amount",
        TxnDate = "txn_date",
        TxnStatus = "txn_status",
        TxnCategory = "txn_category",
        TxnMerchant = "txn_merchant",
        TxnPlace = "txn_place",
        CardPan = "card_pan",
        BalanceBand = "balance_band",
        FraudFlag = "fraud_flag",
    }
);

/// A set of fields as a bit mask (23 fields fit a `u32`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldSet(pub u32);

impl FieldSet {
    pub const EMPTY: FieldSet = FieldSet(0);

    pub fn of(fields: &[Field]) -> FieldSet {
        FieldSet(fields.iter().fold(0, |m, f| m | f.bit()))
    }
    pub fn contains(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }
    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }
    pub fn intersect(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }
    pub fn minus(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> u32 {
        self.0.count_ones()
    }
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.iter().copied().filter(move |f| self.contains(*f))
    }
    /// Number of fields of each sensitivity class: `[low, moderate, high]`.
    pub fn by_sensitivity(self) -> [u32; 3] {
        CLASS_MASKS.map(|m| (self.0 & m).count_ones())
    }
}

impl Field {
    /// NIST SP 800-122 class, judged by identifiability and harm if disclosed:
    /// - High: full account and card numbers (direct fraud);
    /// - Moderate: direct identifiers (name, address, email, phone), date of birth (alone it
    ///   identifies no one, but with ZIP and sex it singles most people out), routing number,
    ///   money amounts and balances, merchant and place (they reveal behaviour and location);
    /// - Low: coarse or bank-internal values (ZIP5, sex, account type, masked number, dates,
    ///   status, merchant category, derived bands and flags).
    pub const fn sensitivity(self) -> Sensitivity {
        use Field::*;
        match self {
            AccountNumber | CardPan => Sensitivity::High,
            Name | StreetAddress | DateOfBirth | Email | Phone | RoutingNumber | BalanceCurrent | BalanceAvailable
            | TxnAmount | TxnMerchant | TxnPlace => Sensitivity::Moderate,
            Zip5 | Sex | AccountId | AccountType | MaskedNumber | TxnDate | TxnStatus | TxnCategory | BalanceBand
            | FraudFlag => Sensitivity::Low,
        }
    }

    pub const fn category(self) -> DataCategory {
        use Field::*;
        match self {
            Name | StreetAddress | Zip5 | DateOfBirth | Sex | Email | Phone => DataCategory::Identity,
            AccountId | AccountType | MaskedNumber => DataCategory::AccountBasic,
            AccountNumber | RoutingNumber => DataCategory::AccountNumbers,
            BalanceCurrent | BalanceAvailable => DataCategory::Balances,
            TxnAmount | TxnDate | TxnStatus | TxnCategory => DataCategory::TransactionsBasic,
            TxnMerchant | TxnPlace => DataCategory::TransactionsDetail,
            CardPan => DataCategory::CardPan,
            BalanceBand | FraudFlag => DataCategory::DerivedSignals,
        }
    }
}

/// Field masks per sensitivity class and per category, computed at compile time: these sit on
/// the per-request path.
const CLASS_MASKS: [u32; 3] = {
    let mut masks = [0u32; 3];
    let mut i = 0;
    while i < Field::ALL.len() {
        masks[Field::ALL[i].sensitivity() as usize] |= Field::ALL[i].bit();
        i += 1;
    }
    masks
};

const CATEGORY_MASKS: [u32; DataCategory::ALL.len()] = {
    let mut masks = [0u32; DataCategory::ALL.len()];
    let mut i = 0;
    while i < Field::ALL.len() {
        masks[Field::ALL[i].category() as usize] |= Field::ALL[i].bit();
        i += 1;
    }
    masks
};

/// The union of the fields of the categories in `mask` (`DataCategory::bit` flags).
pub fn fields_of_categories(mut mask: u32) -> FieldSet {
    let mut fields = 0;
    while mask != 0 {
        fields |= CATEGORY_MASKS[mask.trailing_zeros() as usize];
        mask &= mask - 1;
    }
    FieldSet(fields)
}

impl DataCategory {
    /// The fields a category discloses. Off-platform transactions add no fields of their own:
    /// the category decides which transaction *records* may be returned.
    pub const fn fields(self) -> FieldSet {
        FieldSet(CATEGORY_MASKS[self as usize])
    }
}

/// Default weights of the exposure score per sensitivity class (L, M, H).
pub const DEFAULT_SENSITIVITY_WEIGHTS: [f64; 3] = [1.0, 3.0, 9.0];

impl Purpose {
    /// The fewest fields that serve the purpose (GDPR Art. 5(1)(c) data minimisation); fields
    /// disclosed beyond this set count as minimisation excess.
    pub fn minimal_fields(self) -> FieldSet {
        use Field::*;
        match self {
            Purpose::BalanceDisplay => FieldSet::of(&[AccountId, BalanceAvailable]),
            Purpose::FraudAlerts => FieldSet::of(&[AccountId, TxnAmount, TxnDate, TxnStatus, FraudFlag]),
            Purpose::CustomerService => FieldSet::of(&[AccountId, AccountType, MaskedNumber]),
            Purpose::Commerce => FieldSet::of(&[AccountId, TxnAmount, TxnDate, TxnCategory]),
            Purpose::Advertising | Purpose::Analytics => FieldSet::of(&[AccountId, BalanceBand]),
        }
    }
}

/// A bit set of categories or purposes.
pub fn mask<T: Copy>(items: &[T], bit: impl Fn(T) -> u32) -> u32 {
    items.iter().fold(0, |m, &i| m | bit(i))
}

/// Consent mode agreed for linking accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    OptIn,
    OptOut,
}

/// What an agreement allows, read from its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    /// Granted categories, as `DataCategory::bit` flags.
    pub categories: u32,
    /// Allowed purposes, as `Purpose::bit` flags.
    pub purposes: u32,
    pub retention_days: Option<u32>,
    pub onward_sharing: String,
    pub consent_mode: ConsentMode,
    /// `None`: persistent.
    pub authorisation_days: Option<u32>,
}

impl Terms {
    /// Reads the well-known issues of an agreed outcome (see `vocabulary::DEFAULT_ISSUES`):
    /// `balances`, `transactions` (`basic`/`detail`), `off_platform_transactions`, `purposes`
    /// (`+`-joined purpose names), `retention_days`, `onward_sharing`, `consent_mode`,
    /// `authorisation_days`; and any issue named after a category with option `included`.
    /// Any granted data also grants `account_basic` (accounts must be listed to be read).
    /// Issues the testbed does not know are negotiated but carry no data meaning.
    pub fn from_outcome(space: &IssueSpace, outcome: OutcomeId) -> Terms {
        let mut t = Terms {
            categories: 0,
            purposes: 0,
            retention_days: None,
            onward_sharing: "none".into(),
            consent_mode: ConsentMode::OptIn,
            authorisation_days: None,
        };
        for (issue, option) in space.describe(outcome) {
            match issue.as_str() {
                "transactions" => match option.as_str() {
                    "basic" => t.categories |= DataCategory::TransactionsBasic.bit(),
                    "detail" => {
                        t.categories |= DataCategory::TransactionsBasic.bit() | DataCategory::TransactionsDetail.bit()
                    }
                    _ => {}
                },
                "purposes" => {
                    t.purposes = option.split('+').filter_map(Purpose::parse).fold(0, |m, p| m | p.bit());
                }
                "retention_days" => t.retention_days = option.parse().ok(),
                "onward_sharing" => t.onward_sharing = option,
                "consent_mode" => {
                    t.consent_mode = if option == "opt_out" { ConsentMode::OptOut } else { ConsentMode::OptIn }
                }
                "authorisation_days" => t.authorisation_days = option.parse().ok(),
                name => {
                    if let Some(c) = DataCategory::parse(name)
                        && option == "included"
                    {
                        t.categories |= c.bit();
                    }
                }
            }
        }
        if t.categories != 0 {
            t.categories |= DataCategory::AccountBasic.bit();
        }
        t
    }

    pub fn grants(&self, c: DataCategory) -> bool {
        self.categories & c.bit() != 0
    }

    pub fn allows(&self, p: Purpose) -> bool {
        self.purposes & p.bit() != 0
    }

    /// Every field the terms allow to leave the bank.
    pub fn allowed_fields(&self) -> FieldSet {
        fields_of_categories(self.categories)
    }

    pub fn category_names(&self) -> Vec<&'static str> {
        DataCategory::ALL.iter().filter(|c| self.grants(**c)).map(|c| c.as_str()).collect()
    }

    pub fn purpose_names(&self) -> Vec<&'static str> {
        Purpose::ALL.iter().filter(|p| self.allows(**p)).map(|p| p.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::default_issues;

    #[test]
    fn detail_transactions_grant_basic_too_and_any_data_grants_account_basic() {
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
        let t = pick(&[("transactions", "detail"), ("purposes", "balance_display+fraud_alerts")]);
        assert!(t.grants(DataCategory::TransactionsBasic) && t.grants(DataCategory::TransactionsDetail));
        assert!(t.grants(DataCategory::AccountBasic));
        assert!(!t.grants(DataCategory::Balances) && !t.grants(DataCategory::OffPlatformTransactions));
        assert!(t.allows(Purpose::FraudAlerts) && !t.allows(Purpose::Commerce));
        assert_eq!(t.retention_days, Some(30));
        assert_eq!(t.authorisation_days, Some(90));
        let nothing = pick(&[]);
        assert_eq!(nothing.categories, 0, "no data, not even account_basic");
        assert!(nothing.allowed_fields().is_empty());
    }

    #[test]
    fn every_field_has_one_category_and_sensitivity() {
        let all = DataCategory::ALL.iter().fold(FieldSet::EMPTY, |m, c| m.union(c.fields()));
        assert_eq!(all.len() as usize, Field::ALL.len());
        assert_eq!(FieldSet::of(&[Field::CardPan, Field::Zip5, Field::Name]).by_sensitivity(), [1, 1, 1]);
    }
}
