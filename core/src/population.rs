//! The synthetic population: a bank's customers, their identities, accounts, balances and card
//! transactions, generated on demand from `(seed, bank, customer index)`.
//!
//! # What it is and what it is not
//!
//! It is a deterministic generator of *plausible* records for the data the testbed exposes and
//! counts (identity, account numbers, balances, transactions), shaped so that exposure
//! statistics behave as they do on real data: quasi-identifiers (ZIP5, date of birth, sex) are
//! nearly unique, a few merchants are very common, people shop near home and go back to the
//! same places. It is not a model of any real population, not a ledger (card transactions do
//! not move the checking balance), and not calibrated to any bank's figures. Names, streets and
//! cities come from `fake`; cities do not match ZIP codes and first names do not match sex.
//!
//! # Memory does not grow with the population
//!
//! Nothing is stored: every function is a pure function of its arguments. A customer is
//! rebuilt from `(spec.seed, spec.bank, index)` each time it is asked for, a day of transactions
//! from `(spec.seed, spec.bank, index, day)`, so a population of 100 million costs no more
//! memory than one of ten, and any customer or day can be produced alone, in any order. The
//! values do not depend on `spec.size` (growing a population keeps the existing customers) and
//! a day's transactions depend on no other day. All draws come from keyed generators; none
//! reads a clock or a global.
//!
//! # Random streams
//!
//! Let `bank_hash` = FNV-1a 64 of the bank name (as in [`crate::rng`]). Two kinds of generator
//! are used, both keyed by the seed, the bank and the index:
//!
//! | logical stream | generator |
//! |---|---|
//! | `population/<bank>/<index>/identity` (names, addresses, email, phone; the `fake` draws) | ChaCha8, 256-bit key `(seed, bank_hash, index, "populatn")` little-endian, stream 0 |
//! | `population/<bank>/<index>/day/<day>` (that day's transactions) | the same key, stream `2^32 + day` |
//! | `population/<bank>` (ZIP footprint, routing number, card BIN, account-number permutations) | SplitMix64 counter draws from `bank_key` |
//! | `population/<bank>/<index>/qi`, `/balance`, `/regulars` | SplitMix64 counter draws from a per-customer key |
//!
//! `bank_key = mix(mix(seed) ^ bank_hash)` and a customer key is
//! `mix(mix(bank_key ^ index) ^ purpose)`, where `mix` is the SplitMix64 finaliser (add the
//! golden gamma, then two xor-shift-multiply steps); the `i`-th counter draw of key `k` is
//! `mix(k + i·gamma)`. The counter draws cost ~2 ns each and need no set-up, which keeps
//! [`quasi_identifiers`] cheap: keying a ChaCha8 and filling its first buffer (4 blocks) alone
//! costs ~80 ns. ChaCha (the generator used everywhere else in the testbed) is kept where `fake`
//! and `rand_distr` need an `Rng`. The ChaCha key holds its inputs verbatim, so two customers or two days never
//! share a stream (short of an FNV collision between two bank names). Integer draws from the
//! counter generator use a multiply-shift onto the range (bias below 2^-40 here).
//!
//! # Distributions
//!
//! - **ZIP5**: each bank has a footprint of 3,000 ZIP codes: all ZIP5s of 30 consecutive
//!   three-digit prefixes, in an approximation of the USPS prefix-to-state table (the
//!   footprint spans one to a few neighbouring states, or wraps from Alaska to New England at
//!   the end of the table; some of its ZIP5s do not exist in reality). Popularity is Zipf–Mandelbrot: the ZIP of popularity rank `k` (0-based) is
//!   drawn with probability `∝ ln((k+7)/(k+6))`, about `1/(k+6.5)`: the most popular ZIP holds
//!   ~2.5% of the customers, the top 100 ~46%. Ranks are spread over the footprint by a
//!   bank-specific permutation. `state` is the state of the ZIP.
//! - **Birth date**: uniform over the days 1940-01-01 ..= 2002-12-31. **Sex**: 50/50.
//! - **Transactions per day**: Poisson(`transactions_per_day`) (`rand_distr`), at most 65,536
//!   (the transaction id holds the position in 16 bits); a rate that is zero, negative or not
//!   finite gives no transactions.
//! - **Time of day**: an hour drawn from a fixed diurnal profile (quiet at night, peaks at
//!   lunch and early evening: weights 1 1 1 1 1 2 4 6 8 8 9 11 13 11 9 9 10 11 12 11 9 7 4 2
//!   for hours 0..24), then uniform within the hour.
//! - **Category** (share of transactions) and **merchants** in the catalogue:
//!
//!   | category | share | merchants | median $ | lognormal σ |
//!   |---|---|---|---|---|
//!   | groceries | 24% | 500 | 45 | 0.6 |
//!   | restaurants | 24% | 1,500 | 25 | 0.5 |
//!   | fuel | 12% | 300 | 40 | 0.3 |
//!   | travel | 4% | 400 | 300 | 0.9 |
//!   | entertainment | 8% | 500 | 30 | 0.7 |
//!   | retail | 19% | 1,200 | 60 | 0.9 |
//!   | health | 6% | 400 | 50 | 0.8 |
//!   | utilities | 3% | 200 | 90 | 0.4 |
//!
//!   The catalogue holds [`MERCHANT_COUNT`] = 5,000 merchants, ids grouped by category in the
//!   order above. Within a category, merchant rank `k` (its id minus the category's first id)
//!   is drawn with probability `∝ ln((k+2)/(k+1))` (Zipf, exponent 1): the first grocer takes
//!   ~11% of grocery transactions. Each customer also has two *regulars* per category (drawn
//!   once, from the same Zipf law, from the customer's own key); half of the transactions go
//!   to one of them. This habit and the skew are what make a handful of (merchant, day) points
//!   identify a card holder (de Montjoye et al., Science 2015).
//! - **Amount**: lognormal per category (table above, [`amount_distribution`]), in cents,
//!   rounded, at least 1 cent. All transactions are debits (no refunds).
//! - **Place**: 60% the customer's own ZIP, 20% one of the 100 ZIP5s of its three-digit prefix
//!   (near home), 20% a ZIP5 drawn uniformly over the whole prefix table (elsewhere).
//! - **On platform**: Bernoulli(`on_platform_share`), clamped to 0..=1 (NaN counts as 0).
//! - **Pending**: a flag drawn with probability 5% for every transaction, whatever the day (a
//!   simplification: the generator has no notion of "today").
//! - **Checking balance** at the start of a day: `base × (1.4 − 0.8·t + 0.05·z)` rounded to
//!   cents, where `base` is the customer's lognormal level (median $2,500, σ 1.0),
//!   `t ∈ [0, 1)` is the position in a 14-day pay cycle with a customer-specific phase (payday
//!   tops the account up, spending runs it down linearly) and `z` is a standard normal drawn
//!   for that day alone. O(1), independent of the other days; it can dip below zero rarely.
//! - **Accounts**: checking numbers have a bank-specific length of 10, 11 or 12 digits (no
//!   leading zero); the card PAN is 16 digits, a bank-specific Visa-like BIN (`4xxxxx`), nine
//!   account digits and a Luhn check digit. Both digit blocks are bank-specific affine
//!   permutations of the index, so numbers are unique within a bank for the first 10^9
//!   customers (not random-looking: consecutive indices differ by a constant step). The routing
//!   number is the bank's (one per bank), 9 digits with a valid ABA checksum. Masked forms
//!   show only the last four digits: `••••1234`.
//! - **Identity** (`fake` 5.1, `en` locale, drawn from the identity stream): first and last name,
//!   street name, city, mobile phone; building number (1..=9,999) and an `Apt.` 20% of the
//!   time drawn here; email `first.last`, `firstlast`, `first_last` or `flast`, sometimes
//!   followed by the two digits of the birth year or a number, at `example.com|net|org`
//!   (reserved domains, never real addresses).
//!
//! Every generated value depends on the pinned versions of `fake`, `rand`, `rand_chacha` and
//! `rand_distr`; [`GENERATOR_VERSION`] names the generator and goes into every report.

use crate::rng::SimRng;
use fake::Fake;
use fake::faker::address::raw::{CityName, StreetName};
use fake::faker::name::raw::{FirstName, LastName};
use fake::faker::phone_number::raw::CellNumber;
use fake::locales::{Data, EN};
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson, StandardNormal};
use std::fmt;

/// Bumped whenever generated values change for the same inputs; written into every report.
pub const GENERATOR_VERSION: &str = "population/1 fake=5.1.0 rand=0.10.4 rand_chacha=0.10.0 rand_distr=0.6.0";

/// What a bank's population looks like. Generated values do not depend on `size`.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationSpec {
    pub seed: u64,
    /// Bank name; part of every stream's key.
    pub bank: String,
    /// Customers `0..size`.
    pub size: u64,
    /// Mean card transactions per customer per day (Poisson).
    pub transactions_per_day: f64,
    /// Probability that a transaction is made inside the platform (0..=1).
    pub on_platform_share: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sex {
    Female,
    Male,
}

/// The quasi-identifiers, cheap to draw (no `fake`), identical to the ones inside [`Customer`].
/// `zip5` is a number: format it with `{:05}` (`01001`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuasiIdentifiers {
    pub zip5: u32,
    pub birth_date: Date,
    pub sex: Sex,
}

/// A calendar date (proleptic Gregorian); displays as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One customer of a bank, with a checking account and a card.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub index: u64,
    pub name: String,
    pub street_address: String,
    pub city: String,
    /// USPS abbreviation of the state of `qi.zip5`.
    pub state: String,
    pub qi: QuasiIdentifiers,
    pub email: String,
    pub phone: String,
    pub checking: Account,
    pub card: Account,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Stable API id: `chk-<bank>-<index>` or `card-<bank>-<index>`.
    pub id: String,
    /// The full number (checking: 10–12 digits; card: the 16-digit PAN).
    pub number: String,
    /// `••••` and the last four digits.
    pub masked: String,
    /// The bank's ABA routing number (9 digits), for the checking account only.
    pub routing: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MerchantCategory {
    Groceries,
    Restaurants,
    Fuel,
    Travel,
    Entertainment,
    Retail,
    Health,
    Utilities,
}

impl MerchantCategory {
    /// All categories, in catalogue order.
    pub const fn all() -> [MerchantCategory; 8] {
        use MerchantCategory::*;
        [Groceries, Restaurants, Fuel, Travel, Entertainment, Retail, Health, Utilities]
    }

    /// The snake_case name used in scenarios and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            MerchantCategory::Groceries => "groceries",
            MerchantCategory::Restaurants => "restaurants",
            MerchantCategory::Fuel => "fuel",
            MerchantCategory::Travel => "travel",
            MerchantCategory::Entertainment => "entertainment",
            MerchantCategory::Retail => "retail",
            MerchantCategory::Health => "health",
            MerchantCategory::Utilities => "utilities",
        }
    }
}

impl fmt::Display for MerchantCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One card transaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transaction {
    /// Unique within the customer: `(day << 16) | k`, `k` the position in the day's time order.
    pub id: u64,
    /// Milliseconds since the scenario started, within the day: `day·86_400_000 + ms of day`.
    pub at_ms: u64,
    /// Positive = debit.
    pub amount_cents: i64,
    pub category: MerchantCategory,
    /// Id into the fixed catalogue; [`merchant_name`] gives its name.
    pub merchant: u32,
    /// Where it happened.
    pub place_zip5: u32,
    pub on_platform: bool,
    /// Pending (true) or booked.
    pub pending: bool,
}

/// Merchants in the catalogue; ids are `0..MERCHANT_COUNT`.
pub const MERCHANT_COUNT: u32 = 5_000;

/// Milliseconds in a calendar day.
pub const MS_PER_DAY: u64 = 86_400_000;
const MS_PER_HOUR: u64 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------------------------

/// Customer `index` of the bank: identity (`fake`, pinned), quasi-identifiers, accounts.
/// Costs a few microseconds; use [`quasi_identifiers`] when only those are needed.
pub fn customer(spec: &PopulationSpec, index: u64) -> Customer {
    let bank_hash = fnv1a(spec.bank.as_bytes());
    let bank = BankKey::new(spec.seed, bank_hash);
    let qi = bank.quasi_identifiers(index);
    let mut rng = chacha(spec.seed, bank_hash, index, IDENTITY_STREAM);

    let first: &str = FirstName(EN).fake_with_rng(&mut rng);
    let last: &str = LastName(EN).fake_with_rng(&mut rng);
    let building = rng.random_range(1..10_000u32);
    let street: String = StreetName(EN).fake_with_rng(&mut rng);
    let street_address = if rng.random::<f64>() < 0.2 {
        format!("{building} {street}, Apt. {}", rng.random_range(1..1_000u32))
    } else {
        format!("{building} {street}")
    };
    let city: String = CityName(EN).fake_with_rng(&mut rng);
    let email = email(first, last, qi.birth_date.year, &mut rng);
    let phone: String = CellNumber(EN).fake_with_rng(&mut rng);

    let checking = bank.checking_number(index);
    let pan = bank.card_pan(index);
    Customer {
        index,
        name: format!("{first} {last}"),
        street_address,
        city,
        state: zip_state(qi.zip5).unwrap_or("??").to_string(),
        qi,
        email,
        phone,
        checking: Account {
            id: checking_id(&spec.bank, index),
            masked: masked(&checking),
            number: checking,
            routing: Some(bank.routing_number()),
        },
        card: Account { id: card_id(&spec.bank, index), masked: masked(&pan), number: pan, routing: None },
    }
}

/// The id of customer `index`'s checking account at `bank`: `chk-{bank}-{index}`.
pub fn checking_id(bank: &str, index: u64) -> String {
    format!("chk-{bank}-{index}")
}

/// The id of customer `index`'s card account at `bank`: `card-{bank}-{index}`.
pub fn card_id(bank: &str, index: u64) -> String {
    format!("card-{bank}-{index}")
}

/// The quasi-identifiers of customer `index`, exactly `customer(spec, index).qi`, without
/// `fake` and without a ChaCha set-up (tens of nanoseconds).
pub fn quasi_identifiers(spec: &PopulationSpec, index: u64) -> QuasiIdentifiers {
    BankKey::new(spec.seed, fnv1a(spec.bank.as_bytes())).quasi_identifiers(index)
}

/// The checking balance of customer `index` at the start of `day`, in cents: the customer's
/// level times a 14-day pay cycle plus a normal draw for that day (see the module doc). O(1)
/// and independent of other days; not a ledger of the card transactions.
pub fn balance_cents(spec: &PopulationSpec, index: u64, day: u32) -> i64 {
    let bank = BankKey::new(spec.seed, fnv1a(spec.bank.as_bytes()));
    let key = bank.customer_key(index, PURPOSE_BALANCE);
    let base = BALANCE_MEDIAN_CENTS * (BALANCE_SIGMA * normal(draw_at(key, 0), draw_at(key, 1))).exp();
    let phase = below(draw_at(key, 2), PAY_CYCLE_DAYS);
    let t = ((u64::from(day) + phase) % PAY_CYCLE_DAYS) as f64 / PAY_CYCLE_DAYS as f64;
    let d = 3 + 2 * u64::from(day);
    let z = normal(draw_at(key, d), draw_at(key, d + 1));
    (base * (1.4 - 0.8 * t + BALANCE_DAILY_NOISE * z)).round() as i64
}

/// Days in a card's statement cycle: the card balance counts what was booked since the cycle began.
pub const CARD_CYCLE_DAYS: u32 = 30;

/// Customer `index`'s card balance at the start of `day`: what they owe (a negative balance) for
/// the card transactions booked since their statement cycle began (cycles start on days
/// divisible by `CARD_CYCLE_DAYS`). Unlike the checking balance it follows the spending.
pub fn card_balance_cents(spec: &PopulationSpec, index: u64, day: u32) -> i64 {
    let mut owed = 0i64;
    let mut txns = Vec::new();
    for d in day - day % CARD_CYCLE_DAYS..day {
        txns.clear();
        transactions_on_day(spec, index, d, &mut txns);
        owed = owed.saturating_add(txns.iter().map(|t| t.amount_cents).sum::<i64>());
    }
    -owed
}

/// Appends the card transactions of customer `index` on `day` to `out`, sorted by time (only
/// the appended part is sorted). O(transactions); the day's draws depend on no other day.
pub fn transactions_on_day(spec: &PopulationSpec, index: u64, day: u32, out: &mut Vec<Transaction>) {
    let bank_hash = fnv1a(spec.bank.as_bytes());
    let bank = BankKey::new(spec.seed, bank_hash);
    let mut rng = chacha(spec.seed, bank_hash, index, DAY_STREAM | u64::from(day));
    let count = transaction_count(spec.transactions_per_day, &mut rng);
    if count == 0 {
        return;
    }
    let home = bank.quasi_identifiers(index).zip5;
    let regulars = bank.customer_key(index, PURPOSE_REGULARS);
    let share = if spec.on_platform_share.is_nan() { 0.0 } else { spec.on_platform_share.clamp(0.0, 1.0) };
    let day_start = u64::from(day) * MS_PER_DAY;
    let start = out.len();
    out.reserve(count);
    for _ in 0..count {
        let at_ms = day_start + time_of_day_ms(&mut rng);
        let category = pick_category(rng.random::<f64>());
        let merchant = if rng.random::<f64>() < REGULAR_SHARE {
            regular_merchant(regulars, category, rng.random_range(0..REGULARS_PER_CATEGORY))
        } else {
            CATALOGUE[category as usize].first + zipf_rank(rng.random::<f64>(), CATALOGUE[category as usize].count, 0.0)
        };
        let amount_cents = amount_cents(category, &mut rng);
        let place_zip5 = place(home, &mut rng);
        let on_platform = rng.random::<f64>() < share;
        let pending = rng.random::<f64>() < PENDING_SHARE;
        out.push(Transaction { id: 0, at_ms, amount_cents, category, merchant, place_zip5, on_platform, pending });
    }
    let todays = &mut out[start..];
    todays.sort_by_key(|t| t.at_ms); // stable: ties keep the draw order
    for (k, t) in todays.iter_mut().enumerate() {
        t.id = (u64::from(day) << 16) | k as u64;
    }
}

/// The name of catalogue merchant `merchant` (ids wrap around [`MERCHANT_COUNT`]): a surname
/// from `fake`'s `en` list and a word of its category, unique in the catalogue
/// (`"Kuhn Market"`).
pub fn merchant_name(merchant: u32) -> String {
    let merchant = merchant % MERCHANT_COUNT;
    let category = merchant_category(merchant) as usize;
    let entry = &CATALOGUE[category];
    let surnames = <EN as Data>::NAME_LAST_NAME;
    let pairs = surnames.len() * entry.nouns.len();
    let p = ((merchant - entry.first) as usize * MERCHANT_NAME_STRIDE + category * MERCHANT_NAME_SHIFT) % pairs;
    format!("{} {}", surnames[p % surnames.len()], entry.nouns[p / surnames.len()])
}

/// The category of catalogue merchant `merchant` (ids wrap around [`MERCHANT_COUNT`]).
pub fn merchant_category(merchant: u32) -> MerchantCategory {
    let merchant = merchant % MERCHANT_COUNT;
    let i = CATALOGUE.partition_point(|e| e.first + e.count <= merchant);
    MerchantCategory::all()[i]
}

/// `(median in dollars, σ of the natural log)` of the lognormal amount of a category:
///
/// | category | median $ | σ |
/// |---|---|---|
/// | groceries | 45 | 0.6 |
/// | restaurants | 25 | 0.5 |
/// | fuel | 40 | 0.3 |
/// | travel | 300 | 0.9 |
/// | entertainment | 30 | 0.7 |
/// | retail | 60 | 0.9 |
/// | health | 50 | 0.8 |
/// | utilities | 90 | 0.4 |
pub fn amount_distribution(category: MerchantCategory) -> (f64, f64) {
    let e = &CATALOGUE[category as usize];
    (e.median_dollars, e.sigma)
}

// ---------------------------------------------------------------------------------------------
// Catalogue and tables
// ---------------------------------------------------------------------------------------------

struct CatalogueEntry {
    first: u32,
    count: u32,
    /// Share of transactions, in percent.
    share_pct: u32,
    median_dollars: f64,
    sigma: f64,
    nouns: [&'static str; 8],
}

/// In `MerchantCategory::all()` order; `first` ids are consecutive, counts add up to 5,000.
const CATALOGUE: [CatalogueEntry; 8] = [
    CatalogueEntry {
        first: 0,
        count: 500,
        share_pct: 24,
        median_dollars: 45.0,
        sigma: 0.6,
        nouns: ["Market", "Grocery", "Foods", "Fresh Market", "Supermarket", "Provisions", "Pantry", "Farm Store"],
    },
    CatalogueEntry {
        first: 500,
        count: 1_500,
        share_pct: 24,
        median_dollars: 25.0,
        sigma: 0.5,
        nouns: ["Kitchen", "Diner", "Grill", "Bistro", "Cafe", "Pizzeria", "Taqueria", "Noodle House"],
    },
    CatalogueEntry {
        first: 2_000,
        count: 300,
        share_pct: 12,
        median_dollars: 40.0,
        sigma: 0.3,
        nouns: ["Gas", "Fuel", "Petroleum", "Service Station", "Oil", "Gas & Go", "Fuel Stop", "Energy"],
    },
    CatalogueEntry {
        first: 2_300,
        count: 400,
        share_pct: 4,
        median_dollars: 300.0,
        sigma: 0.9,
        nouns: ["Airlines", "Travel", "Hotels", "Inn", "Car Rental", "Tours", "Lodge", "Air"],
    },
    CatalogueEntry {
        first: 2_700,
        count: 500,
        share_pct: 8,
        median_dollars: 30.0,
        sigma: 0.7,
        nouns: ["Cinema", "Theater", "Arcade", "Bowl", "Music Hall", "Tickets", "Games", "Lanes"],
    },
    CatalogueEntry {
        first: 3_200,
        count: 1_200,
        share_pct: 19,
        median_dollars: 60.0,
        sigma: 0.9,
        nouns: [
            "Outfitters",
            "Department Store",
            "Hardware",
            "Books",
            "Electronics",
            "Boutique",
            "Home Goods",
            "Supply Co",
        ],
    },
    CatalogueEntry {
        first: 4_400,
        count: 400,
        share_pct: 6,
        median_dollars: 50.0,
        sigma: 0.8,
        nouns: ["Pharmacy", "Clinic", "Dental", "Drugstore", "Optical", "Medical", "Health", "Physical Therapy"],
    },
    CatalogueEntry {
        first: 4_800,
        count: 200,
        share_pct: 3,
        median_dollars: 90.0,
        sigma: 0.4,
        nouns: ["Electric", "Water", "Power & Light", "Telecom", "Gas Company", "Wireless", "Broadband", "Energy Co"],
    },
];

/// Spreads consecutive ranks over the (surname, noun) pairs; coprime with 474 × 8.
const MERCHANT_NAME_STRIDE: usize = 1_009;
/// Starts each category at another surname, so the leaders of the categories differ.
const MERCHANT_NAME_SHIFT: usize = 59;
/// Share of transactions that go to one of the customer's regulars in the category.
const REGULAR_SHARE: f64 = 0.5;
const REGULARS_PER_CATEGORY: u32 = 2;
const PENDING_SHARE: f64 = 0.05;
/// Transactions of a day at most: the id keeps the position in 16 bits.
const MAX_TRANSACTIONS_PER_DAY: usize = 1 << 16;

/// Relative weight of each hour of the day.
const HOUR_WEIGHTS: [u32; 24] = [1, 1, 1, 1, 1, 2, 4, 6, 8, 8, 9, 11, 13, 11, 9, 9, 10, 11, 12, 11, 9, 7, 4, 2];
const HOUR_WEIGHT_TOTAL: u32 = {
    let mut total = 0;
    let mut i = 0;
    while i < 24 {
        total += HOUR_WEIGHTS[i];
        i += 1;
    }
    total
};

const BALANCE_MEDIAN_CENTS: f64 = 250_000.0;
const BALANCE_SIGMA: f64 = 1.0;
const BALANCE_DAILY_NOISE: f64 = 0.05;
const PAY_CYCLE_DAYS: u64 = 14;

/// ZIP codes of a bank's footprint: all ZIP5s of `FOOTPRINT_ZIP3S` consecutive prefixes.
const FOOTPRINT_ZIP3S: u64 = 30;
const FOOTPRINT_ZIPS: u64 = FOOTPRINT_ZIP3S * 100;
/// The Mandelbrot offset of the ZIP popularity law (0 would be pure Zipf).
const ZIP_POPULARITY_OFFSET: f64 = 5.0;
/// Multipliers of the rank-to-ZIP permutation: primes above 5, so coprime with 3,000.
const FOOTPRINT_MULTIPLIERS: [u64; 8] = [1_009, 1_013, 1_019, 1_021, 1_031, 1_033, 1_039, 1_049];

/// Birth dates are uniform over these days (days since 1970-01-01), both ends included.
const BIRTH_FIRST_DAY: i64 = days_from_civil(1940, 1, 1);
const BIRTH_LAST_DAY: i64 = days_from_civil(2002, 12, 31);

/// Three-digit ZIP prefixes and their state, after the USPS table (approximate: military,
/// territories and a few unused prefixes are left out). Sorted, non-overlapping.
#[rustfmt::skip]
const ZIP3_RANGES: [(u16, u16, &str); 54] = [
    (10, 27, "MA"), (28, 29, "RI"), (30, 38, "NH"), (39, 49, "ME"), (50, 54, "VT"), (56, 59, "VT"),
    (60, 69, "CT"), (70, 89, "NJ"), (100, 149, "NY"), (150, 196, "PA"), (197, 199, "DE"), (200, 205, "DC"),
    (206, 219, "MD"), (220, 246, "VA"), (247, 268, "WV"), (270, 289, "NC"), (290, 299, "SC"), (300, 319, "GA"),
    (320, 349, "FL"), (350, 369, "AL"), (370, 385, "TN"), (386, 397, "MS"), (398, 399, "GA"), (400, 427, "KY"),
    (430, 459, "OH"), (460, 479, "IN"), (480, 499, "MI"), (500, 528, "IA"), (530, 549, "WI"), (550, 567, "MN"),
    (570, 577, "SD"), (580, 588, "ND"), (590, 599, "MT"), (600, 629, "IL"), (630, 658, "MO"), (660, 679, "KS"),
    (680, 693, "NE"), (700, 714, "LA"), (716, 729, "AR"), (730, 749, "OK"), (750, 799, "TX"), (800, 816, "CO"),
    (820, 831, "WY"), (832, 838, "ID"), (840, 847, "UT"), (850, 865, "AZ"), (870, 884, "NM"), (885, 885, "TX"),
    (889, 898, "NV"), (900, 961, "CA"), (967, 968, "HI"), (970, 979, "OR"), (980, 994, "WA"), (995, 999, "AK"),
];

const ZIP3_COUNT: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < ZIP3_RANGES.len() {
        n += (ZIP3_RANGES[i].1 - ZIP3_RANGES[i].0 + 1) as usize;
        i += 1;
    }
    n
};

/// Every prefix of `ZIP3_RANGES`, in order.
const ZIP3S: [u16; ZIP3_COUNT] = {
    let mut out = [0u16; ZIP3_COUNT];
    let mut n = 0;
    let mut i = 0;
    while i < ZIP3_RANGES.len() {
        let mut z = ZIP3_RANGES[i].0;
        while z <= ZIP3_RANGES[i].1 {
            out[n] = z;
            n += 1;
            z += 1;
        }
        i += 1;
    }
    out
};

/// The state of a ZIP5, if its prefix is in the table.
fn zip_state(zip5: u32) -> Option<&'static str> {
    let zip3 = u16::try_from(zip5 / 100).ok()?;
    let i = ZIP3_RANGES.partition_point(|r| r.1 < zip3);
    ZIP3_RANGES.get(i).filter(|r| r.0 <= zip3).map(|r| r.2)
}

// ---------------------------------------------------------------------------------------------
// Keys and draws
// ---------------------------------------------------------------------------------------------

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
/// The fourth word of the ChaCha key: keeps the population's keys apart from any other use.
const CHACHA_TAG: u64 = u64::from_le_bytes(*b"populatn");
const IDENTITY_STREAM: u64 = 0;
const DAY_STREAM: u64 = 1 << 32;
const PURPOSE_QI: u64 = 1;
const PURPOSE_BALANCE: u64 = 2;
const PURPOSE_REGULARS: u64 = 3;

/// The SplitMix64 output function of state `z` (Steele, Lea, Flood 2014).
const fn mix(z: u64) -> u64 {
    let mut z = z.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `i`-th counter draw of `key`: random access, no state.
const fn draw_at(key: u64, i: u64) -> u64 {
    mix(key.wrapping_add(i.wrapping_mul(GAMMA)))
}

/// A uniform in `[0, 1)` from 53 bits.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `x` mapped onto `0..n` by multiply-shift.
const fn below(x: u64, n: u64) -> u64 {
    ((x as u128 * n as u128) >> 64) as u64
}

/// A standard normal from two draws (Box–Muller).
fn normal(a: u64, b: u64) -> f64 {
    let u1 = 1.0 - unit(a); // (0, 1]
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * unit(b)).cos()
}

use crate::rng::fnv1a;

/// A ChaCha8 keyed by the inputs themselves: `(seed, bank_hash, index, tag)`, then `stream`.
fn chacha(seed: u64, bank_hash: u64, index: u64, stream: u64) -> SimRng {
    let mut key = [0u8; 32];
    for (chunk, word) in key.chunks_exact_mut(8).zip([seed, bank_hash, index, CHACHA_TAG]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let mut rng = SimRng::from_seed(key);
    rng.set_stream(stream);
    rng
}

/// A rank in `0..n`, Zipf–Mandelbrot with exponent 1 and offset `q`, by inverting the
/// continuous law with density `∝ 1/(x+q)` on `[1, n+1)`: `P(k) ∝ ln((k+2+q)/(k+1+q))`.
fn zipf_rank(u: f64, n: u32, q: f64) -> u32 {
    let ratio = (f64::from(n) + 1.0 + q) / (1.0 + q);
    let x = (1.0 + q) * (u * ratio.ln()).exp() - q;
    (x as u32).saturating_sub(1).min(n - 1)
}

/// What is derived from `(seed, bank)` alone.
#[derive(Clone, Copy)]
struct BankKey(u64);

impl BankKey {
    fn new(seed: u64, bank_hash: u64) -> Self {
        BankKey(mix(mix(seed) ^ bank_hash))
    }

    fn customer_key(self, index: u64, purpose: u64) -> u64 {
        mix(mix(self.0 ^ index) ^ purpose)
    }

    /// The ZIP of popularity rank `rank` in the footprint.
    fn footprint_zip(self, rank: u64) -> u32 {
        let first = below(draw_at(self.0, 0), ZIP3_COUNT as u64);
        let multiplier = FOOTPRINT_MULTIPLIERS[below(draw_at(self.0, 1), 8) as usize];
        let offset = below(draw_at(self.0, 2), FOOTPRINT_ZIPS);
        let i = (multiplier * rank + offset) % FOOTPRINT_ZIPS;
        let zip3 = ZIP3S[((first + i / 100) % ZIP3_COUNT as u64) as usize];
        u32::from(zip3) * 100 + (i % 100) as u32
    }

    fn quasi_identifiers(self, index: u64) -> QuasiIdentifiers {
        let key = self.customer_key(index, PURPOSE_QI);
        let rank = zipf_rank(unit(draw_at(key, 0)), FOOTPRINT_ZIPS as u32, ZIP_POPULARITY_OFFSET);
        let days = (BIRTH_LAST_DAY - BIRTH_FIRST_DAY + 1) as u64;
        let birth = BIRTH_FIRST_DAY + below(draw_at(key, 1), days) as i64;
        let sex = if draw_at(key, 2) >> 63 == 0 { Sex::Female } else { Sex::Male };
        QuasiIdentifiers { zip5: self.footprint_zip(u64::from(rank)), birth_date: civil_from_days(birth), sex }
    }

    /// 10, 11 or 12 digits (bank-specific), no leading zero; unique for the first 9·10^9
    /// indices.
    fn checking_number(self, index: u64) -> String {
        let digits = 10 + below(draw_at(self.0, 3), 3) as u32;
        let span = 9 * 10u128.pow(digits - 1);
        let n = 10u128.pow(digits - 1) + affine(index, draw_at(self.0, 4), draw_at(self.0, 5), span);
        n.to_string()
    }

    /// BIN `4xxxxx`, nine account digits (unique for the first 10^9 indices), Luhn digit.
    fn card_pan(self, index: u64) -> String {
        let bin = 400_000 + below(draw_at(self.0, 6), 100_000);
        let account = affine(index, draw_at(self.0, 7), draw_at(self.0, 8), 1_000_000_000);
        let mut pan = format!("{bin:06}{account:09}");
        pan.push(luhn_check_digit(&pan));
        pan
    }

    /// Federal Reserve district prefix 01–12, six digits, ABA check digit.
    fn routing_number(self) -> String {
        let x = draw_at(self.0, 9);
        let district = 1 + below(x, 12);
        let middle = below(mix(x), 1_000_000);
        let mut routing = format!("{district:02}{middle:06}");
        routing.push(aba_check_digit(&routing));
        routing
    }
}

/// `(a·index + b) mod span` with `a` made coprime with 2, 3 and 5 (so with `span`, whose prime
/// factors are among these): a permutation of `0..span`.
fn affine(index: u64, a: u64, b: u64, span: u128) -> u128 {
    let mut a = u128::from(a | 1) % span;
    while a.is_multiple_of(2) || a.is_multiple_of(3) || a.is_multiple_of(5) {
        a += 1;
    }
    (a * (u128::from(index) % span) + u128::from(b)) % span
}

/// The digit that makes `digits` + it pass the Luhn check.
fn luhn_check_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// The ninth digit of an ABA routing number: `3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) ≡ 0 mod 10`.
fn aba_check_digit(first8: &str) -> char {
    let weights = [3, 7, 1, 3, 7, 1, 3, 7];
    let sum: u32 = first8.bytes().zip(weights).map(|(b, w)| u32::from(b - b'0') * w).sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn masked(number: &str) -> String {
    format!("••••{}", &number[number.len().saturating_sub(4)..])
}

fn email(first: &str, last: &str, birth_year: u16, rng: &mut SimRng) -> String {
    let clean = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    let (f, l): (String, String) = (clean(first), clean(last));
    let local = match rng.random_range(0..4u8) {
        0 => format!("{f}.{l}"),
        1 => format!("{f}{l}"),
        2 => format!("{f}_{l}"),
        _ => format!("{}{l}", f.chars().next().unwrap_or('x')),
    };
    let suffix = match rng.random_range(0..10u8) {
        0..=2 => format!("{:02}", birth_year % 100),
        3..=5 => rng.random_range(1..1_000u32).to_string(),
        _ => String::new(),
    };
    let domain = ["example.com", "example.net", "example.org"][rng.random_range(0..3usize)];
    format!("{local}{suffix}@{domain}")
}

// ---------------------------------------------------------------------------------------------
// Transaction parts
// ---------------------------------------------------------------------------------------------

fn transaction_count(rate: f64, rng: &mut SimRng) -> usize {
    match Poisson::new(rate) {
        Ok(poisson) => {
            let n: f64 = poisson.sample(rng);
            (n as usize).min(MAX_TRANSACTIONS_PER_DAY)
        }
        Err(_) => 0, // zero, negative or not finite
    }
}

fn time_of_day_ms(rng: &mut SimRng) -> u64 {
    let mut w = rng.random_range(0..HOUR_WEIGHT_TOTAL);
    let mut hour = 0;
    while w >= HOUR_WEIGHTS[hour] {
        w -= HOUR_WEIGHTS[hour];
        hour += 1;
    }
    hour as u64 * MS_PER_HOUR + rng.random_range(0..MS_PER_HOUR)
}

fn pick_category(u: f64) -> MerchantCategory {
    let mut w = u * 100.0;
    for (entry, category) in CATALOGUE.iter().zip(MerchantCategory::all()) {
        if w < f64::from(entry.share_pct) {
            return category;
        }
        w -= f64::from(entry.share_pct);
    }
    MerchantCategory::Utilities // u rounding to the very top
}

/// The customer's `slot`-th regular merchant in `category`: fixed for the customer.
fn regular_merchant(regulars: u64, category: MerchantCategory, slot: u32) -> u32 {
    let entry = &CATALOGUE[category as usize];
    let u = unit(draw_at(regulars, category as u64 * u64::from(REGULARS_PER_CATEGORY) + u64::from(slot)));
    entry.first + zipf_rank(u, entry.count, 0.0)
}

fn amount_cents(category: MerchantCategory, rng: &mut SimRng) -> i64 {
    let (median, sigma) = amount_distribution(category);
    let z: f64 = StandardNormal.sample(rng);
    ((median * 100.0 * (sigma * z).exp()).round() as i64).max(1)
}

fn place(home: u32, rng: &mut SimRng) -> u32 {
    let u = rng.random::<f64>();
    if u < 0.6 {
        home
    } else if u < 0.8 {
        home / 100 * 100 + rng.random_range(0..100u32)
    } else {
        let i = rng.random_range(0..ZIP3_COUNT as u32 * 100);
        u32::from(ZIP3S[(i / 100) as usize]) * 100 + i % 100
    }
}

// ---------------------------------------------------------------------------------------------
// Calendar (Howard Hinnant's days-from-civil algorithms)
// ---------------------------------------------------------------------------------------------

const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of `days` after 1970-01-01 (Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year: year as u16, month: month as u8, day: day as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn spec(seed: u64, bank: &str) -> PopulationSpec {
        PopulationSpec {
            seed,
            bank: bank.to_string(),
            size: 1_000_000,
            transactions_per_day: 1.5,
            on_platform_share: 0.3,
        }
    }

    fn day(spec: &PopulationSpec, index: u64, d: u32) -> Vec<Transaction> {
        let mut out = Vec::new();
        transactions_on_day(spec, index, d, &mut out);
        out
    }

    /// The customer without the fields that name the bank or the index.
    fn identity(c: &Customer) -> (String, String, String, String, String, QuasiIdentifiers, String, String) {
        (
            c.name.clone(),
            c.street_address.clone(),
            c.city.clone(),
            c.email.clone(),
            c.phone.clone(),
            c.qi,
            c.checking.number.clone(),
            c.card.number.clone(),
        )
    }

    fn luhn_valid(pan: &str) -> bool {
        luhn_check_digit(&pan[..pan.len() - 1]) == pan.chars().last().unwrap()
    }

    #[test]
    fn same_inputs_give_identical_customers_and_transactions() {
        let s = spec(7, "bank-a");
        for index in [0, 1, 999_999, u64::MAX] {
            assert_eq!(customer(&s, index), customer(&s.clone(), index));
            assert_eq!(balance_cents(&s, index, 3), balance_cents(&s, index, 3));
            for d in 0..5 {
                assert_eq!(day(&s, index, d), day(&s.clone(), index, d));
            }
        }
    }

    #[test]
    fn different_index_bank_or_seed_give_different_customers_and_transactions() {
        let base = spec(7, "bank-a");
        let others = [(spec(7, "bank-a"), 1), (spec(7, "bank-b"), 0), (spec(8, "bank-a"), 0)];
        let days = |s: &PopulationSpec, i| (0..20).flat_map(|d| day(s, i, d)).collect::<Vec<_>>();
        let (c0, t0) = (customer(&base, 0), days(&base, 0));
        for (s, i) in &others {
            let c = customer(s, *i);
            let (a, b) = (identity(&c0), identity(&c));
            assert_ne!(a.0, b.0, "{s:?} {i}: name");
            assert_ne!(a.3, b.3, "{s:?} {i}: email");
            assert_ne!(a.5, b.5, "{s:?} {i}: quasi-identifiers");
            assert_ne!(a.6, b.6, "{s:?} {i}: checking number");
            assert_ne!(a.7, b.7, "{s:?} {i}: card number");
            assert_ne!(t0, days(s, *i), "{s:?} {i}: transactions");
            assert_ne!(balance_cents(&base, 0, 0), balance_cents(s, *i, 0), "{s:?} {i}: balance");
        }
        // The bank is in the account ids.
        assert_eq!(c0.checking.id, "chk-bank-a-0");
        assert_eq!(customer(&spec(7, "bank-b"), 0).card.id, "card-bank-b-0");
    }

    #[test]
    fn quasi_identifiers_equal_the_customers_own() {
        let s = spec(11, "bank-a");
        for index in (0..200).chain([u64::MAX - 1]) {
            assert_eq!(quasi_identifiers(&s, index), customer(&s, index).qi);
        }
    }

    #[test]
    fn a_day_does_not_depend_on_call_order_or_other_days_or_the_population_size() {
        let s = spec(3, "bank-a");
        let forward: Vec<_> = (0..30).map(|d| day(&s, 5, d)).collect();
        let backward: Vec<_> = (0..30).rev().map(|d| day(&s, 5, d)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        // Into one shared vector, interleaved with other customers: the same slices.
        let mut shared = Vec::new();
        for d in (0..30).rev() {
            transactions_on_day(&s, 6, d, &mut shared);
            let before = shared.len();
            transactions_on_day(&s, 5, d, &mut shared);
            assert_eq!(&shared[before..], forward[d as usize].as_slice());
        }
        let small = PopulationSpec { size: 10, ..s.clone() };
        assert_eq!(day(&small, 5, 4), forward[4]);
        assert_eq!(customer(&small, 5), customer(&s, 5));
    }

    #[test]
    fn transactions_are_sorted_within_their_day_with_ids_from_day_and_position() {
        let s = PopulationSpec { transactions_per_day: 6.0, ..spec(1, "bank-a") };
        for d in [0, 1, 400] {
            let t = day(&s, 42, d);
            assert!(!t.is_empty());
            for (k, tx) in t.iter().enumerate() {
                assert_eq!(tx.id, (u64::from(d) << 16) | k as u64);
                assert_eq!(tx.at_ms / MS_PER_DAY, u64::from(d));
                assert!(tx.amount_cents > 0);
                assert_eq!(merchant_category(tx.merchant), tx.category);
                assert!(zip_state(tx.place_zip5).is_some(), "{}", tx.place_zip5);
            }
            assert!(t.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        }
    }

    #[test]
    fn a_rate_that_is_zero_negative_or_not_a_number_gives_no_transactions() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let s = PopulationSpec { transactions_per_day: rate, ..spec(1, "bank-a") };
            assert!((0..50).all(|d| day(&s, 0, d).is_empty()), "{rate}");
        }
    }

    #[test]
    fn mean_transactions_per_day_is_within_3_percent_of_the_spec() {
        let s = spec(5, "bank-a");
        let (customers, days) = (4_000u64, 5u32);
        let mut out = Vec::new();
        for i in 0..customers {
            for d in 0..days {
                transactions_on_day(&s, i, d, &mut out);
            }
        }
        let mean = out.len() as f64 / (customers * u64::from(days)) as f64;
        assert!((mean / s.transactions_per_day - 1.0).abs() < 0.03, "mean {mean}");
    }

    #[test]
    fn on_platform_share_is_within_2_points_of_the_spec() {
        for share in [0.0, 0.3, 1.0] {
            let s = PopulationSpec { on_platform_share: share, ..spec(9, "bank-b") };
            let mut out = Vec::new();
            for i in 0..4_000 {
                transactions_on_day(&s, i, 2, &mut out);
                transactions_on_day(&s, i, 3, &mut out);
            }
            let on = out.iter().filter(|t| t.on_platform).count() as f64 / out.len() as f64;
            assert!((on - share).abs() < 0.02, "share {share}: {on}");
        }
    }

    #[test]
    fn amounts_per_category_have_the_documented_median_within_5_percent() {
        let mut rng = SimRng::seed_from_u64(1);
        for category in MerchantCategory::all() {
            let mut amounts: Vec<i64> = (0..20_001).map(|_| amount_cents(category, &mut rng)).collect();
            amounts.sort_unstable();
            let median = amounts[amounts.len() / 2] as f64 / 100.0;
            let (documented, _) = amount_distribution(category);
            assert!((median / documented - 1.0).abs() < 0.05, "{category}: median {median}, documented {documented}");
        }
        assert_eq!(amount_distribution(MerchantCategory::Groceries), (45.0, 0.6));
        assert_eq!(amount_distribution(MerchantCategory::Utilities), (90.0, 0.4));
    }

    #[test]
    fn transactions_follow_the_category_shares_and_a_few_merchants_are_very_common() {
        let s = PopulationSpec { transactions_per_day: 4.0, ..spec(2, "bank-a") };
        let mut out = Vec::new();
        for i in 0..3_000 {
            transactions_on_day(&s, i, 0, &mut out);
        }
        let n = out.len() as f64;
        for (entry, category) in CATALOGUE.iter().zip(MerchantCategory::all()) {
            let share = out.iter().filter(|t| t.category == category).count() as f64 / n;
            assert!((share * 100.0 - f64::from(entry.share_pct)).abs() < 1.5, "{category}: {share}");
        }
        let mut per_merchant: BTreeMap<u32, usize> = BTreeMap::new();
        for t in &out {
            *per_merchant.entry(t.merchant).or_default() += 1;
        }
        let mut counts: Vec<usize> = per_merchant.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top_50: usize = counts.iter().take(50).sum(); // 1% of the catalogue
        assert!(top_50 as f64 / n > 0.25, "top 50 merchants: {}", top_50 as f64 / n);
    }

    #[test]
    fn customers_shop_mostly_near_home_and_at_their_regulars() {
        let s = PopulationSpec { transactions_per_day: 3.0, ..spec(4, "bank-a") };
        let (mut near, mut total, mut at_regulars) = (0, 0, 0);
        for i in 0..300 {
            let home = quasi_identifiers(&s, i).zip5;
            let key = BankKey::new(s.seed, fnv1a(s.bank.as_bytes())).customer_key(i, PURPOSE_REGULARS);
            let regulars: BTreeSet<u32> = MerchantCategory::all()
                .into_iter()
                .flat_map(|c| (0..REGULARS_PER_CATEGORY).map(move |slot| regular_merchant(key, c, slot)))
                .collect();
            let t: Vec<_> = (0..20).flat_map(|d| day(&s, i, d)).collect();
            near += t.iter().filter(|t| t.place_zip5 / 100 == home / 100).count();
            at_regulars += t.iter().filter(|t| regulars.contains(&t.merchant)).count();
            total += t.len();
        }
        let near = near as f64 / total as f64;
        assert!((0.78..0.83).contains(&near), "near home: {near}");
        // Half go to a regular by habit; a few more find one by chance.
        let at_regulars = at_regulars as f64 / total as f64;
        assert!((0.5..0.6).contains(&at_regulars), "at regulars: {at_regulars}");
    }

    #[test]
    fn quasi_identifiers_are_plausible_and_nearly_unique() {
        let s = spec(21, "bank-c");
        let qis: Vec<_> = (0..20_000).map(|i| quasi_identifiers(&s, i)).collect();
        let zips: BTreeSet<u32> = qis.iter().map(|q| q.zip5).collect();
        assert!((2_000..=3_000).contains(&zips.len()), "{} ZIPs", zips.len());
        let zip3s: BTreeSet<u32> = zips.iter().map(|z| z / 100).collect();
        assert!(zip3s.len() <= FOOTPRINT_ZIP3S as usize);
        assert!(zips.iter().all(|&z| zip_state(z).is_some()));
        let first = Date { year: 1940, month: 1, day: 1 };
        let last = Date { year: 2002, month: 12, day: 31 };
        assert!(qis.iter().all(|q| q.birth_date >= first && q.birth_date <= last));
        let females = qis.iter().filter(|q| q.sex == Sex::Female).count() as f64 / qis.len() as f64;
        assert!((females - 0.5).abs() < 0.02, "{females}");
        let mut counts: BTreeMap<QuasiIdentifiers, usize> = BTreeMap::new();
        for q in &qis {
            *counts.entry(*q).or_default() += 1;
        }
        let unique = counts.values().filter(|&&c| c == 1).count() as f64 / qis.len() as f64;
        assert!(unique > 0.9, "unique on (ZIP5, birth date, sex): {unique}");
        let mut per_zip: BTreeMap<u32, usize> = BTreeMap::new();
        for q in &qis {
            *per_zip.entry(q.zip5).or_default() += 1;
        }
        let top = *per_zip.values().max().unwrap() as f64 / qis.len() as f64;
        assert!((0.015..0.04).contains(&top), "most popular ZIP holds {top}");
    }

    #[test]
    fn dates_round_trip_and_display_as_iso() {
        for days in [BIRTH_FIRST_DAY, BIRTH_LAST_DAY, 0, 11_016, days_from_civil(2000, 2, 29)] {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day)), days);
        }
        assert_eq!(civil_from_days(0).to_string(), "1970-01-01");
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)).to_string(), "2000-02-29");
        assert_eq!(civil_from_days(BIRTH_FIRST_DAY).to_string(), "1940-01-01");
    }

    #[test]
    fn card_pan_passes_luhn_and_routing_number_its_checksum() {
        assert_eq!(luhn_check_digit("7992739871"), '3'); // the textbook example
        assert_eq!(aba_check_digit("01100001"), '5'); // 011000015, a published routing number
        let s = spec(13, "bank-a");
        for i in 0..200 {
            let c = customer(&s, i);
            assert_eq!(c.card.number.len(), 16);
            assert!(c.card.number.starts_with('4'));
            assert!(luhn_valid(&c.card.number), "{}", c.card.number);
            let routing = c.checking.routing.as_deref().unwrap();
            assert_eq!(routing.len(), 9);
            assert_eq!(aba_check_digit(&routing[..8]), routing.chars().last().unwrap());
            assert!((10..=12).contains(&c.checking.number.len()));
            assert!(!c.checking.number.starts_with('0'));
            assert_eq!(c.card.routing, None);
        }
    }

    #[test]
    fn masked_numbers_show_only_the_last_four_digits() {
        let c = customer(&spec(13, "bank-a"), 77);
        for account in [&c.checking, &c.card] {
            assert_eq!(account.masked, format!("••••{}", &account.number[account.number.len() - 4..]));
            assert_eq!(account.masked.chars().filter(char::is_ascii_digit).count(), 4);
        }
    }

    #[test]
    fn account_numbers_are_unique_within_a_bank() {
        for bank in ["bank-a", "bank-b", "bank-c", "bank-d"] {
            let bank = BankKey::new(1, fnv1a(bank.as_bytes()));
            let checking: BTreeSet<String> = (0..20_000).map(|i| bank.checking_number(i)).collect();
            let cards: BTreeSet<String> = (0..20_000).map(|i| bank.card_pan(i)).collect();
            assert_eq!((checking.len(), cards.len()), (20_000, 20_000));
        }
    }

    #[test]
    fn identity_fields_look_like_a_person() {
        let s = spec(17, "bank-a");
        for i in 0..100 {
            let c = customer(&s, i);
            assert_eq!(c.name.split(' ').count(), 2, "{}", c.name);
            assert!(c.email.contains('@') && c.email.contains("@example."), "{}", c.email);
            assert!(c.street_address.chars().next().unwrap().is_ascii_digit(), "{}", c.street_address);
            assert!(!c.city.is_empty());
            assert_eq!(Some(c.state.as_str()), zip_state(c.qi.zip5));
            assert!(c.phone.chars().filter(char::is_ascii_digit).count() >= 10, "{}", c.phone);
        }
    }

    #[test]
    fn balances_are_deterministic_plausible_and_follow_a_pay_cycle() {
        let s = spec(19, "bank-a");
        let mut all: Vec<i64> = (0..2_000).map(|i| balance_cents(&s, i, 10)).collect();
        all.sort_unstable();
        let median = all[all.len() / 2] as f64 / 100.0;
        assert!((1_500.0..4_000.0).contains(&median), "median balance {median}");
        // Over a pay cycle a customer's balance rises once (payday) and otherwise falls.
        let series: Vec<i64> = (0..28).map(|d| balance_cents(&s, 3, d)).collect();
        let rises = series.windows(2).filter(|w| w[1] > w[0]).count();
        assert!(rises <= 8, "{series:?}");
        assert_eq!(balance_cents(&s, 3, 1_000), balance_cents(&s, 3, 1_000));
    }

    #[test]
    fn merchant_catalogue_names_are_unique_and_categories_contiguous() {
        assert_eq!(CATALOGUE.iter().map(|e| e.count).sum::<u32>(), MERCHANT_COUNT);
        assert_eq!(CATALOGUE.iter().map(|e| e.share_pct).sum::<u32>(), 100);
        for (i, e) in CATALOGUE.iter().enumerate().skip(1) {
            assert_eq!(e.first, CATALOGUE[i - 1].first + CATALOGUE[i - 1].count);
        }
        let names: BTreeSet<String> = (0..MERCHANT_COUNT).map(merchant_name).collect();
        assert_eq!(names.len(), MERCHANT_COUNT as usize);
        assert_eq!(merchant_category(0), MerchantCategory::Groceries);
        assert_eq!(merchant_category(499), MerchantCategory::Groceries);
        assert_eq!(merchant_category(500), MerchantCategory::Restaurants);
        assert_eq!(merchant_category(MERCHANT_COUNT - 1), MerchantCategory::Utilities);
        assert_eq!(merchant_name(MERCHANT_COUNT + 3), merchant_name(3));
        let strs: BTreeSet<&str> = MerchantCategory::all().iter().map(|c| c.as_str()).collect();
        assert_eq!(strs.len(), 8);
    }

    #[test]
    fn generator_version_names_the_pinned_fake_version() {
        let manifest = include_str!("../Cargo.toml");
        let pin = manifest
            .lines()
            .find(|l| l.starts_with("fake "))
            .and_then(|l| l.split("\"=").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("fake is pinned with an exact version in core/Cargo.toml");
        assert!(GENERATOR_VERSION.contains(&format!("fake={pin}")), "{GENERATOR_VERSION} vs fake {pin}");
        assert!(GENERATOR_VERSION.starts_with("population/"));
    }
}
