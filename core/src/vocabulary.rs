//! The shared vocabulary of data-sharing terms: the default negotiation issues, their options
//! ordered from least to most the bank gives away, and what each means.

use crate::negotiation::Issue;

/// Which end of an issue's option list a bank prefers by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Favours {
    /// The first option (the usual case: options run from sharing least to sharing most).
    First,
    /// The last option (e.g. what the platform gives the bank in return).
    Last,
}

/// A default issue: its options and which end a bank favours.
pub struct DefaultIssue {
    pub name: &'static str,
    pub options: &'static [&'static str],
    pub bank_favours: Favours,
    pub meaning: &'static str,
}

/// The issues a scenario negotiates over unless it lists its own `[[issues]]`. Option lists
/// follow CFPB 1033 / FDX data clusters and UK Open Banking's Basic vs Detail permissions.
pub const DEFAULT_ISSUES: &[DefaultIssue] = &[
    DefaultIssue {
        name: "balances",
        options: &["excluded", "included"],
        bank_favours: Favours::First,
        meaning: "checking-account balances (FDX ACCOUNT_BASIC balances; OB ReadBalances)",
    },
    DefaultIssue {
        name: "transactions",
        options: &["none", "basic", "detail"],
        bank_favours: Favours::First,
        meaning: "card transactions: basic = amount, date, status, category; detail adds merchant and place",
    },
    DefaultIssue {
        name: "off_platform_transactions",
        options: &["excluded", "included"],
        bank_favours: Favours::First,
        meaning: "transactions made outside the platform's own checkout (where customers shop elsewhere)",
    },
    DefaultIssue {
        name: "purposes",
        options: &[
            "balance_display",
            "balance_display+fraud_alerts",
            "balance_display+fraud_alerts+customer_service",
            "balance_display+fraud_alerts+customer_service+commerce",
            "balance_display+fraud_alerts+customer_service+commerce+advertising",
        ],
        bank_favours: Favours::First,
        meaning: "what the platform may use the data for",
    },
    DefaultIssue {
        name: "retention_days",
        options: &["30", "90", "365", "unlimited"],
        bank_favours: Favours::First,
        meaning: "how long the platform may keep what it receives (GDPR storage limitation)",
    },
    DefaultIssue {
        name: "onward_sharing",
        options: &["none", "processors", "third_parties"],
        bank_favours: Favours::First,
        meaning: "whom the platform may pass the data on to",
    },
    DefaultIssue {
        name: "consent_mode",
        options: &["opt_in", "opt_out"],
        bank_favours: Favours::First,
        meaning: "whether customers must link their accounts explicitly",
    },
    DefaultIssue {
        name: "authorisation_days",
        options: &["90", "365", "persistent"],
        bank_favours: Favours::First,
        meaning: "how long one authorisation lasts before re-consent (FDX TIME_BOUND vs PERSISTENT)",
    },
    DefaultIssue {
        name: "platform_offers",
        options: &["nothing", "referrals", "referrals+fraud_tooling"],
        bank_favours: Favours::Last,
        meaning: "what the platform gives the bank in return: customer referrals, fraud-prevention tooling",
    },
];

pub fn default_issues() -> Vec<Issue> {
    DEFAULT_ISSUES.iter().map(|d| Issue::new(d.name, d.options)).collect()
}

pub fn default_favours(issue: &str) -> Favours {
    DEFAULT_ISSUES.iter().find(|d| d.name == issue).map_or(Favours::First, |d| d.bank_favours)
}
