//! The bank's front desk, without I/O: the negotiations it holds with platforms, the agreements
//! they led to, the consents and tokens issued under them, and the data requests served, with
//! every disclosure going into the exposure ledger. The HTTP layer (`http/`) only translates
//! requests into these calls and their results into JSON.
//!
//! Time is passed in: `sim_now` for decisions that depend on the scenario's calendar (trust
//! after incidents, regulations in force), `now` for consent lifetimes.

use crate::api::{self, Consent, Grant, Permission, Refusal};
use crate::policy::{self, Standing, Verdict};
use crate::serve::{self, Ask};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use testbed_core::exposure::PairLedger;
use testbed_core::negotiation::{
    Decision, End, Negotiator, OutcomeId, Preferences, Protocol, Situation, Step, Withdrawal,
};
use testbed_core::population::PopulationSpec;
use testbed_core::scenario::{BankId, PlatformId, Scenario};
use testbed_core::terms::Terms;
use testbed_core::{CoreError, SimTime};
use thiserror::Error;

mod pending;
mod subscriptions;
pub use pending::{Approval, MAX_PENDING_CONSENTS};
pub use subscriptions::Released;

/// Consents one customer may hold with one platform at a time (an app on a phone and one on
/// the web, re-linking after a lost device...); consents no longer in force make room for new
/// ones. Bounds what a platform can make the desk hold.
pub const MAX_CONSENTS_PER_CUSTOMER: usize = 8;

/// Why the desk refused a call. Each maps to one HTTP status and one stable error code.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DeskError {
    #[error("no platform named `{0}` in the scenario")]
    UnknownPlatform(String),
    #[error("platform `{0}` does not negotiate with this bank in the scenario")]
    NotAskedBank(String),
    #[error("no {0} with that id")]
    NotFound(&'static str),
    #[error("{0}")]
    Protocol(String),
    #[error("invalid outcome: {0}")]
    InvalidOutcome(String),
    #[error("platform `{0}` has no agreement with this bank")]
    NoAgreement(String),
    #[error("permissions beyond the agreement: {0}")]
    PermissionNotAgreed(String),
    #[error("customer {0} has not linked their account to this platform")]
    CustomerNotLinked(u64),
    #[error("missing or malformed bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{}", .0.explain())]
    Refused(Refusal),
    #[error("the agreement does not allow {} events: they need the {} purpose and the data they carry", .0.as_str(), .0.purpose().as_str())]
    EventNotAgreed(crate::alerts::EventType),
    #[error("the platform already holds event subscription {0}; delete it before subscribing again (one per platform)")]
    SubscriptionExists(u64),
    #[error(
        "customer {0} already has {MAX_CONSENTS_PER_CUSTOMER} consents in force with this platform; revoke one (DELETE /account-access-consents/{{id}}) before making another"
    )]
    TooManyConsents(u64),
}

impl DeskError {
    /// The stable error code clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            DeskError::UnknownPlatform(_) => "unknown_platform",
            DeskError::NotAskedBank(_) => "not_in_scenario",
            DeskError::NotFound(_) => "not_found",
            DeskError::Protocol(_) => "protocol_violation",
            DeskError::InvalidOutcome(_) => "invalid_outcome",
            DeskError::NoAgreement(_) => "no_agreement",
            DeskError::PermissionNotAgreed(_) => "permission_not_agreed",
            DeskError::CustomerNotLinked(_) => "customer_not_linked",
            DeskError::Unauthorized => "unauthorized",
            DeskError::Forbidden(_) => "forbidden",
            DeskError::Refused(r) => r.as_str(),
            DeskError::EventNotAgreed(_) => "purpose_not_agreed",
            DeskError::SubscriptionExists(_) => "subscription_exists",
            DeskError::TooManyConsents(_) => "too_many_consents",
        }
    }
}

impl From<CoreError> for DeskError {
    fn from(e: CoreError) -> Self {
        DeskError::Protocol(e.to_string())
    }
}

pub use testbed_core::exposure::{Disclosure, Records};

/// What the bank answered to a platform's move.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Counter {
        outcome: OutcomeId,
        round: u32,
    },
    Agreed(AgreementInfo),
    Withdrew {
        withdrawal: Withdrawal,
        round: u32,
    },
    /// The bank's last counter-offer ran into the deadline.
    Timeout {
        rounds: u32,
        last_offer: OutcomeId,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgreementInfo {
    pub platform: String,
    pub outcome: OutcomeId,
    pub round: u32,
    pub terms: Terms,
    pub permissions: Vec<Permission>,
    /// The platform's credential for creating consents under this agreement.
    pub token: String,
    pub linked_customers: u64,
}

pub struct Opened {
    pub id: u64,
    /// The platform's credential for every later move in this negotiation.
    pub token: String,
    pub rounds: u32,
    pub opens: testbed_core::negotiation::Side,
    /// The bank's opening offer, when the bank opens.
    pub bank_offer: Option<OutcomeId>,
}

struct Negotiation {
    platform: PlatformId,
    protocol: Protocol,
    agent: Negotiator,
    regulations_applied: usize,
}

struct Agreement {
    info: AgreementInfo,
    /// How the platform's design has the bank serve it.
    serving: api::Serving,
    revoked: Option<Withdrawal>,
}

struct ConsentEntry {
    consent: Consent,
    platform: String,
    customer: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A platform's client credential at this bank, issued out of band (printed by `bank-mock
    /// serve`), as UK Open Banking registers a TPP's client: opens negotiations in that
    /// platform's name only. Its id is always 0.
    Client,
    /// Issued when a negotiation opens: lets the platform move in that negotiation only.
    Negotiation,
    /// Issued with an agreement: lets the platform create consents and ask for reviews.
    Agreement,
    /// Issued with a consent: lets the platform read that consent's data.
    Access,
    /// Issued with a consent's access token at the OAuth token endpoint: gets that access token
    /// again (`grant_type=refresh_token`) while the consent is in force. Reads nothing itself.
    Refresh,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Client => "cli",
            TokenKind::Negotiation => "neg",
            TokenKind::Agreement => "agr",
            TokenKind::Access => "acc",
            TokenKind::Refresh => "ref",
        }
    }
}

/// Issues and checks one bank's bearer tokens: `kind.bank.platform.id.mac`, the MAC a keyed
/// SipHash-2-4 (a pseudo-random function: no token reveals the key or lets another be made).
/// The key comes from the secret the server is started with: random unless the operator fixes
/// it. Cloned out of the desk by the HTTP layer so a request is authenticated without locking
/// the desk.
#[derive(Clone, Debug)]
pub struct TokenMint {
    keys: (u64, u64),
    bank: String,
}

/// A token whose MAC checked out and that this bank issued, borrowed from the request: made only
/// by `TokenMint::check`, the one way every route checks a bearer token. Tokens are
/// `kind.bank.platform.id.mac`: self-describing so a bank can tell a token of another bank,
/// platform, negotiation or consent (403) from garbage (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified<'t> {
    kind: TokenKind,
    platform: &'t str,
    id: u64,
}

impl Verified<'_> {
    /// The token must be of `kind`, the one `used_for` takes (`Forbidden` naming it otherwise):
    /// checked before a request's body is read, and again by the desk.
    pub fn must_be(&self, kind: TokenKind, used_for: &str) -> Result<(), DeskError> {
        if self.kind == kind { Ok(()) } else { Err(DeskError::Forbidden(used_for.to_string())) }
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    pub fn platform(&self) -> &str {
        self.platform
    }

    /// The negotiation (negotiation and agreement tokens) or consent (access tokens) it is for;
    /// 0 for client tokens.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<'t> Verified<'t> {
    /// Leave to open negotiations in the token's platform's name, if it is a client token:
    /// `Forbidden` for any other kind. Needs no desk, so it is checked before the body is read.
    pub fn client_access(self) -> Result<ClientAccess<'t>, DeskError> {
        if self.kind != TokenKind::Client {
            return Err(DeskError::Forbidden("negotiations are opened with the platform's client token".into()));
        }
        Ok(ClientAccess { platform: self.platform })
    }
}

/// Leave to open negotiations in one platform's name, from that platform's client token: made
/// only by `Verified::client_access`, taken by `Desk::open_negotiation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAccess<'t> {
    platform: &'t str,
}

impl ClientAccess<'_> {
    pub fn platform(&self) -> &str {
        self.platform
    }
}

/// Leave to move in one negotiation, from that negotiation's own token: made only by
/// `Desk::negotiation_access`, taken by every negotiation move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegotiationAccess {
    id: u64,
}

impl NegotiationAccess {
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Leave to ask for a review of one platform's agreement, from that platform's agreement token:
/// made only by `Desk::agreement_access`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgreementAccess {
    platform: PlatformId,
}

impl TokenMint {
    pub fn new(secret: u64, bank: &str) -> TokenMint {
        // Two key halves from one secret; SplitMix64 so that neither is the secret itself.
        let split = |x: u64| {
            let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        TokenMint { keys: (split(secret), split(secret ^ 0x5851_f42d_4c95_7f2d)), bank: bank.into() }
    }

    /// SipHash-2-4 under the mint's key of `tag|bank|platform|id`, written piece by piece (no
    /// string is built: this runs on every request). `|` cannot occur in names or tags, so the
    /// pieces cannot be shifted into one another.
    fn mac(&self, kind: TokenKind, platform: &str, id: u64, bank: &str) -> u64 {
        self.mac_tagged(kind.tag(), platform, id, bank)
    }

    fn mac_tagged(&self, tag: &str, platform: &str, id: u64, bank: &str) -> u64 {
        use std::hash::Hasher as _;
        let mut h = siphasher::sip::SipHasher24::new_with_keys(self.keys.0, self.keys.1);
        for part in [tag, bank, platform] {
            h.write(part.as_bytes());
            h.write(b"|");
        }
        h.write(&id.to_le_bytes());
        h.finish()
    }

    /// The client credential of `platform` at this bank (`TokenKind::Client`, id 0).
    pub fn client_token(&self, platform: &str) -> String {
        self.issue(TokenKind::Client, platform, 0)
    }

    /// A token of this bank for `platform` and `id`.
    /// `platform`'s OAuth client secret at this bank (its `client_id` is its name): two MACs
    /// under a tag no token has, so a secret is no bearer token and no token is a secret.
    pub fn client_secret(&self, platform: &str) -> String {
        let bank = &self.bank;
        let (a, b) = (self.mac_tagged("sec", platform, 0, bank), self.mac_tagged("sec", platform, 1, bank));
        format!("{a:016x}{b:016x}")
    }

    /// Whether `secret` is `platform`'s client secret, compared in time independent of where
    /// it differs.
    pub fn is_client_secret(&self, platform: &str, secret: &str) -> bool {
        let want = self.client_secret(platform);
        want.len() == secret.len() && want.bytes().zip(secret.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }

    pub fn issue(&self, kind: TokenKind, platform: &str, id: u64) -> String {
        let (tag, bank) = (kind.tag(), &self.bank);
        format!("{tag}.{bank}.{platform}.{id}.{:016x}", self.mac(kind, platform, id, bank))
    }

    /// Checks a bearer token's form and MAC without allocating: `Unauthorized` for garbage,
    /// `Forbidden` for a genuine token of another bank.
    pub fn check<'t>(&self, token: &'t str) -> Result<Verified<'t>, DeskError> {
        let mut parts = token.split('.');
        let (Some(tag), Some(bank), Some(platform), Some(id), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DeskError::Unauthorized);
        };
        let kind = match tag {
            "cli" => TokenKind::Client,
            "neg" => TokenKind::Negotiation,
            "agr" => TokenKind::Agreement,
            "acc" => TokenKind::Access,
            "ref" => TokenKind::Refresh,
            _ => return Err(DeskError::Unauthorized),
        };
        // One spelling per token: the id in plain decimal, the MAC as 16 lower-case hex digits.
        let canonical_id =
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
        let canonical_mac = mac.len() == 16 && mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !canonical_id || !canonical_mac {
            return Err(DeskError::Unauthorized);
        }
        let id: u64 = id.parse().map_err(|_| DeskError::Unauthorized)?;
        let mac = u64::from_str_radix(mac, 16).map_err(|_| DeskError::Unauthorized)?;
        // Another bank's genuine token (a bank of the same run shares the key) is refused as
        // such; one this key does not verify, whatever bank it names, is no token at all.
        if bank != self.bank {
            if mac == self.mac(kind, platform, id, bank) {
                return Err(DeskError::Forbidden(format!("the token was issued by bank `{bank}`, not this one")));
            }
            return Err(DeskError::Unauthorized);
        }
        if mac != self.mac(kind, platform, id, bank) {
            return Err(DeskError::Unauthorized);
        }
        Ok(Verified { kind, platform, id })
    }
}

/// What a consent is created with.
pub const CONSENTS_NEED: &str = "consents are created with the agreement token";
/// What event subscriptions are managed with.
pub const SUBSCRIPTIONS_NEED: &str = "event subscriptions are managed with the agreement token";

/// Who revoked a consent the platform revoked through the API (`Consent::revocation.by`).
pub const REVOKED_BY_PLATFORM: &str = "platform";

pub struct Desk {
    scenario: Arc<Scenario>,
    bank: BankId,
    mint: TokenMint,
    spec: PopulationSpec,
    next_id: u64,
    negotiations: BTreeMap<u64, Negotiation>,
    agreements: BTreeMap<String, Agreement>,
    consents: BTreeMap<u64, ConsentEntry>,
    ledgers: BTreeMap<String, PairLedger>,
    subscriptions: BTreeMap<u64, crate::alerts::Subscription>,
    /// By (platform, customer), the consents kept, oldest first: at most
    /// `MAX_CONSENTS_PER_CUSTOMER`, so that what the desk holds is bounded by the population.
    customer_consents: BTreeMap<(String, u64), VecDeque<u64>>,
    /// By platform, the consents that can raise fraud alerts: unrevoked, with the permission.
    /// The pusher's look each tick walks these, not every consent ever made.
    alert_consents: BTreeMap<String, BTreeSet<u64>>,
    /// Consents created in the standard's two steps, not yet authorised by a customer (or
    /// rejected), oldest first: at most `MAX_PENDING_CONSENTS`.
    pending: pending::Pending,
}

impl Desk {
    /// The desk of bank `bank` of `scenario`. `secret` keys the token MACs; banks of one run
    /// share it.
    pub fn new(scenario: Arc<Scenario>, bank: BankId, secret: u64) -> Desk {
        let spec = scenario.population_spec(bank);
        let mint = TokenMint::new(secret, &scenario.banks[bank].name);
        Desk {
            scenario,
            bank,
            mint,
            spec,
            next_id: 1,
            negotiations: BTreeMap::new(),
            agreements: BTreeMap::new(),
            consents: BTreeMap::new(),
            customer_consents: BTreeMap::new(),
            ledgers: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            alert_consents: BTreeMap::new(),
            pending: pending::Pending::default(),
        }
    }

    pub fn bank_name(&self) -> &str {
        &self.scenario.banks[self.bank].name
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn population(&self) -> &PopulationSpec {
        &self.spec
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The bank's token mint: to authenticate requests before they reach the desk.
    pub fn tokens(&self) -> &TokenMint {
        &self.mint
    }

    /// The client credential of `platform`, if the scenario has it negotiate with this bank:
    /// the bank registers those platforms, and no others.
    pub fn client_token(&self, platform: &str) -> Option<String> {
        let p = self.scenario.platform_index(platform)?;
        self.scenario.platforms[p].banks.contains(&self.bank).then(|| self.mint.client_token(platform))
    }

    /// Leave to move in negotiation `id`, if `token` is that negotiation's own token: `Forbidden`
    /// for a token of another kind, negotiation or platform, `NotFound` when there is no such
    /// negotiation. The id alone grants nothing.
    pub fn negotiation_access(&self, token: Verified<'_>, id: u64) -> Result<NegotiationAccess, DeskError> {
        if token.kind != TokenKind::Negotiation {
            return Err(DeskError::Forbidden("negotiation moves are made with the negotiation's own token".into()));
        }
        if token.id != id {
            return Err(DeskError::Forbidden(format!("the token is for negotiation {}, not {id}", token.id)));
        }
        let n = self.negotiations.get(&id).ok_or(DeskError::NotFound("negotiation"))?;
        // A token of an earlier run with the same secret may name an id reused for another platform.
        if self.scenario.platforms[n.platform].name != token.platform {
            return Err(DeskError::Forbidden("the token belongs to another platform".into()));
        }
        Ok(NegotiationAccess { id })
    }

    /// The bank's preferences with the regulations in force at `sim_now`.
    fn preferences_at(&self, sim_now: SimTime, applied: usize) -> Option<(Arc<Preferences>, usize)> {
        let t = Duration::from_nanos(sim_now.as_nanos());
        let regulations: Vec<_> = self.scenario.regulations_at(t).collect();
        if regulations.len() == applied {
            return None;
        }
        let mut prefs = (*self.scenario.banks[self.bank].preferences).clone();
        for clause in &regulations {
            prefs = prefs.with_clause((*clause).clone()).expect("regulations are validated");
        }
        Some((Arc::new(prefs), regulations.len()))
    }

    /// Opens a negotiation with `platform`, which must be the platform of the client token
    /// (`Forbidden` otherwise: nobody opens negotiations in another platform's name).
    pub fn open_negotiation(
        &mut self,
        client: ClientAccess<'_>,
        platform: &str,
        sim_now: SimTime,
    ) -> Result<Opened, DeskError> {
        if client.platform != platform {
            return Err(DeskError::Forbidden(format!(
                "the client token is platform `{}`'s; a platform opens negotiations only in its own name, not `{platform}`'s",
                client.platform
            )));
        }
        let sc = self.scenario.clone();
        // Reached only with a token of an earlier run under the same secret and another scenario.
        let p = sc.platform_index(platform).ok_or_else(|| DeskError::UnknownPlatform(platform.into()))?;
        if !sc.platforms[p].banks.contains(&self.bank) {
            return Err(DeskError::NotAskedBank(platform.into()));
        }
        // A new negotiation must not replace the platform's standing agreement (nor reset what
        // the bank has counted under it).
        if self.agreements.get(platform).is_some_and(|a| a.revoked.is_none()) {
            return Err(DeskError::Protocol(format!(
                "an agreement with `{platform}` is in force; a new negotiation opens only after it ends"
            )));
        }
        // Nor may two run at once: both could agree, and the second replace the first.
        if self.negotiations.values().any(|n| n.platform == p && n.protocol.end().is_none()) {
            return Err(DeskError::Protocol(format!(
                "a negotiation with `{platform}` is open; a second opens only after it ends"
            )));
        }
        let bank = &sc.banks[self.bank];
        let rounds = sc.platforms[p].deadline_rounds.min(bank.deadline_rounds);
        let protocol = Protocol::new(rounds, sc.opens, sim_now)?;
        let agent = policy::negotiator(bank, bank.preferences.clone());
        let id = self.id();
        self.negotiations.insert(id, Negotiation { platform: p, protocol, agent, regulations_applied: 0 });
        let bank_offer = match self.bank_turn(id, sim_now)? {
            Some(Answer::Counter { outcome, .. }) => Some(outcome),
            _ => None,
        };
        let token = self.mint.issue(TokenKind::Negotiation, platform, id);
        Ok(Opened { id, token, rounds, opens: sc.opens, bank_offer })
    }

    /// If it is the bank's turn in negotiation `id`, the bank decides at `sim_now`.
    fn bank_turn(&mut self, id: u64, sim_now: SimTime) -> Result<Option<Answer>, DeskError> {
        let (prefs, platform) = {
            let n = self.negotiations.get(&id).ok_or(DeskError::NotFound("negotiation"))?;
            (self.preferences_at(sim_now, n.regulations_applied), n.platform)
        };
        let trust = self.scenario.trust_at(platform, Duration::from_nanos(sim_now.as_nanos()));
        let n = self.negotiations.get_mut(&id).expect("checked above");
        if let Some((prefs, applied)) = prefs {
            n.agent.replace_preferences(prefs);
            n.regulations_applied = applied;
        }
        let Some(turn) = n.protocol.turn().filter(|t| t.side == testbed_core::negotiation::Side::Bank) else {
            return Ok(None);
        };
        let decision = n.agent.respond(&Situation {
            round: turn.round,
            n_rounds: turn.n_rounds,
            standing: turn.standing,
            counterparty_trust: trust,
        });
        let step = n.protocol.decide(sim_now, testbed_core::negotiation::Side::Bank, decision.clone())?;
        Ok(Some(self.answer(id, step)?))
    }

    fn answer(&mut self, id: u64, step: Step) -> Result<Answer, DeskError> {
        Ok(match step {
            Step::Next(turn) => {
                Answer::Counter { outcome: turn.standing.expect("a counter-offer stands"), round: turn.round }
            }
            Step::Ended(End::Agreement { outcome, round, .. }) => Answer::Agreed(self.agree(id, outcome, round)),
            Step::Ended(End::Withdrawal { withdrawal, round, .. }) => Answer::Withdrew { withdrawal, round },
            Step::Ended(End::Timeout { rounds, .. }) => Answer::Timeout {
                rounds,
                last_offer: self.negotiations[&id].protocol.standing().expect("a timeout follows an offer"),
            },
        })
    }

    fn agree(&mut self, id: u64, outcome: OutcomeId, round: u32) -> AgreementInfo {
        let platform = self.negotiations[&id].platform;
        self.agree_with(platform, id, outcome, round)
    }

    /// Holds an agreement reached elsewhere: the scenario's own negotiation, run in virtual time
    /// before the server starts (`bank-mock serve --agreed`). `revoked` is a revocation decided
    /// in that negotiation phase, which the agreement then starts under. The agreement token in
    /// the answer is the platform's, as if it had negotiated here.
    pub fn install_agreement(
        &mut self,
        platform: PlatformId,
        outcome: OutcomeId,
        round: u32,
        revoked: Option<Withdrawal>,
    ) -> AgreementInfo {
        let id = self.id();
        let info = self.agree_with(platform, id, outcome, round);
        if let Some(why) = revoked {
            self.revoke_agreement(&info.platform, why, SimTime::ZERO);
        }
        info
    }

    /// The agreement of `platform` on `outcome`, its token numbered `id`.
    fn agree_with(&mut self, platform: PlatformId, id: u64, outcome: OutcomeId, round: u32) -> AgreementInfo {
        let sc = self.scenario.clone();
        let terms = Terms::from_outcome(&sc.space, outcome);
        let name = sc.platforms[platform].name.clone();
        let linked_customers = sc.linked_customers(platform, self.bank, terms.consent_mode);
        let serving = api::Serving::new(&sc.platforms[platform].design, &terms);
        let info = AgreementInfo {
            platform: name.clone(),
            outcome,
            round,
            permissions: api::permissions_for(&serving.consent_terms),
            terms,
            token: self.mint.issue(TokenKind::Agreement, &name, id),
            linked_customers,
        };
        // What the bank counted under an earlier (revoked) agreement with the platform stays: a
        // ledger is the platform's, kept across its agreements.
        self.ledgers.entry(name.clone()).or_insert_with(|| PairLedger::new(0)).widen(info.linked_customers);
        self.agreements.insert(name, Agreement { info: info.clone(), serving, revoked: None });
        info
    }

    /// The platform offers `outcome` in the negotiation; the bank answers at `sim_now`.
    pub fn platform_offer(
        &mut self,
        access: NegotiationAccess,
        outcome: OutcomeId,
        sim_now: SimTime,
    ) -> Result<Answer, DeskError> {
        let id = access.id;
        if outcome.0 >= self.scenario.space.len() {
            return Err(DeskError::InvalidOutcome("outside the outcome space".into()));
        }
        let n = self.negotiations.get_mut(&id).ok_or(DeskError::NotFound("negotiation"))?;
        let step = n.protocol.decide(sim_now, testbed_core::negotiation::Side::Platform, Decision::Offer(outcome))?;
        match step {
            Step::Ended(end) => self.answer(id, Step::Ended(end)),
            Step::Next(_) => {
                self.bank_turn(id, sim_now)?.ok_or_else(|| DeskError::Protocol("not the bank's turn".into()))
            }
        }
    }

    /// The platform accepts the bank's standing offer.
    pub fn platform_accept(&mut self, access: NegotiationAccess, sim_now: SimTime) -> Result<Answer, DeskError> {
        let id = access.id;
        let n = self.negotiations.get_mut(&id).ok_or(DeskError::NotFound("negotiation"))?;
        let step = n.protocol.decide(sim_now, testbed_core::negotiation::Side::Platform, Decision::Accept)?;
        self.answer(id, step)
    }

    pub fn platform_withdraw(
        &mut self,
        access: NegotiationAccess,
        withdrawal: Withdrawal,
        sim_now: SimTime,
    ) -> Result<Answer, DeskError> {
        let id = access.id;
        let n = self.negotiations.get_mut(&id).ok_or(DeskError::NotFound("negotiation"))?;
        let platform = testbed_core::negotiation::Side::Platform;
        // In its turn, or out of it (a platform that weighs its deals together walks away when
        // another bank does, whoever's turn it is).
        let step = match n.protocol.turn() {
            Some(turn) if turn.side == platform => {
                n.protocol.decide(sim_now, platform, Decision::Withdraw(withdrawal))?
            }
            _ => testbed_core::negotiation::Step::Ended(n.protocol.withdraw(sim_now, platform, withdrawal)?),
        };
        self.answer(id, step)
    }

    /// The bank reviews the negotiation at `sim_now` (after an incident): it may withdraw.
    pub fn review_negotiation(
        &mut self,
        access: NegotiationAccess,
        sim_now: SimTime,
        after_incident: bool,
    ) -> Result<Verdict, DeskError> {
        let id = access.id;
        let n = self.negotiations.get(&id).ok_or(DeskError::NotFound("negotiation"))?;
        if n.protocol.end().is_some() {
            return Ok(Verdict::Continue);
        }
        let trust = self.scenario.trust_at(n.platform, Duration::from_nanos(sim_now.as_nanos()));
        let bank = &self.scenario.banks[self.bank];
        let verdict = if after_incident {
            policy::review_after_incident(bank, Standing::Negotiating(&n.agent), n.agent.preferences(), trust)
        } else {
            policy::review(Standing::Negotiating(&n.agent), n.agent.preferences(), trust)
        };
        if let Verdict::Withdraw(w) = &verdict {
            let n = self.negotiations.get_mut(&id).expect("checked");
            n.protocol.withdraw(sim_now, testbed_core::negotiation::Side::Bank, w.clone())?;
        }
        Ok(verdict)
    }

    /// Leave to ask for a review of `platform`'s agreement, if `token` is an agreement token of
    /// that platform: `Forbidden` for a token of another kind or platform.
    pub fn agreement_access(&self, token: Verified<'_>, platform: &str) -> Result<AgreementAccess, DeskError> {
        if token.kind != TokenKind::Agreement {
            return Err(DeskError::Forbidden("reviews of an agreement are asked with its agreement token".into()));
        }
        if token.platform != platform {
            return Err(DeskError::Forbidden(format!(
                "the token belongs to platform `{}`, not `{platform}`",
                token.platform
            )));
        }
        let p = self.scenario.platform_index(platform).ok_or_else(|| DeskError::UnknownPlatform(platform.into()))?;
        Ok(AgreementAccess { platform: p })
    }

    /// The bank reviews its agreement with the platform at `sim_now`: it may revoke, which
    /// revokes every consent under it at once.
    pub fn review_agreement(
        &mut self,
        access: AgreementAccess,
        sim_now: SimTime,
        now: SimTime,
        after_incident: bool,
    ) -> Result<Verdict, DeskError> {
        let p = access.platform;
        let sc = self.scenario.clone();
        let platform = sc.platforms[p].name.as_str();
        let a = self.agreements.get(platform).ok_or_else(|| DeskError::NoAgreement(platform.into()))?;
        if a.revoked.is_some() {
            return Ok(Verdict::Continue);
        }
        let trust = self.scenario.trust_at(p, Duration::from_nanos(sim_now.as_nanos()));
        let prefs =
            self.preferences_at(sim_now, 0).map_or_else(|| self.scenario.banks[self.bank].preferences.clone(), |p| p.0);
        let bank = &self.scenario.banks[self.bank];
        let standing = Standing::Agreed(a.info.outcome);
        let verdict = if after_incident {
            policy::review_after_incident(bank, standing, &prefs, trust)
        } else {
            policy::review(standing, &prefs, trust)
        };
        if let Verdict::Revoke(w) = &verdict {
            self.revoke_agreement(platform, w.clone(), now);
        }
        Ok(verdict)
    }

    fn revoke_agreement(&mut self, platform: &str, why: Withdrawal, now: SimTime) {
        if let Some(a) = self.agreements.get_mut(platform) {
            a.revoked = Some(why.clone());
        }
        for c in self.consents.values_mut().filter(|c| c.platform == platform) {
            c.consent.revoke_over(now, &why.clause, &why.reason);
        }
        self.alert_consents.remove(platform);
    }

    /// `preferred` if `platform`'s agreement allows it, else the first purpose it allows
    /// (`preferred` without an agreement, for the desk to refuse).
    pub fn agreed_purpose(
        &self,
        platform: &str,
        preferred: testbed_core::terms::Purpose,
    ) -> testbed_core::terms::Purpose {
        let Some(a) = self.agreements.get(platform) else { return preferred };
        if a.info.terms.allows(preferred) {
            return preferred;
        }
        testbed_core::terms::Purpose::ALL.iter().copied().find(|p| a.info.terms.allows(*p)).unwrap_or(preferred)
    }

    /// The permissions `platform`'s consents can hold under its agreement (none without one).
    pub fn agreed_permissions(&self, platform: &str) -> Option<Vec<Permission>> {
        self.agreements.get(platform).map(|a| api::permissions_for(&a.serving.consent_terms))
    }

    pub fn agreement(&self, platform: &str) -> Option<(&AgreementInfo, Option<&Withdrawal>)> {
        self.agreements.get(platform).map(|a| (&a.info, a.revoked.as_ref()))
    }

    /// Creates a consent for `customer` under the agreement the token stands for; it is
    /// authorised at once (the mock plays the customer, who linked on the platform).
    /// The token is checked by the caller (`TokenMint::check`), before it reads the body.
    pub fn create_consent(
        &mut self,
        token: Verified<'_>,
        customer: u64,
        permissions: Option<Vec<Permission>>,
        window_ms: (Option<u64>, Option<u64>),
        now: SimTime,
    ) -> Result<(Consent, String), DeskError> {
        token.must_be(TokenKind::Agreement, CONSENTS_NEED)?;
        self.create_consent_for(token.platform, customer, permissions, window_ms, now)
    }

    /// `create_consent` for `platform`, whose credentials the caller checked (its agreement
    /// token, or its OAuth client secret on the sandbox route).
    pub fn create_consent_for(
        &mut self,
        platform: &str,
        customer: u64,
        permissions: Option<Vec<Permission>>,
        window_ms: (Option<u64>, Option<u64>),
        now: SimTime,
    ) -> Result<(Consent, String), DeskError> {
        let consent = self.consent_under(platform, permissions, window_ms, now)?;
        self.hold_consent(platform, customer, consent, now)
    }

    /// A consent of `platform` under its agreement, awaiting authorisation: the agreement's
    /// permissions, or `permissions` if given (within them), and the transaction window.
    fn consent_under(
        &self,
        platform: &str,
        permissions: Option<Vec<Permission>>,
        window_ms: (Option<u64>, Option<u64>),
        now: SimTime,
    ) -> Result<Consent, DeskError> {
        let agreement = self.agreements.get(platform).ok_or_else(|| DeskError::NoAgreement(platform.into()))?;
        if let Some(w) = &agreement.revoked {
            return Err(DeskError::Forbidden(format!("the agreement was revoked: {}", w.reason)));
        }
        let mut consent = Consent::new(String::new(), platform.into(), &agreement.serving.consent_terms, now);
        if let Some(asked) = permissions {
            let beyond: Vec<String> =
                asked.iter().filter(|p| !consent.permissions.contains(p)).map(|p| format!("{p:?}")).collect();
            if !beyond.is_empty() {
                return Err(DeskError::PermissionNotAgreed(beyond.join(", ")));
            }
            consent.permissions = asked;
        }
        consent.transaction_from_ms = window_ms.0;
        consent.transaction_to_ms = window_ms.1;
        Ok(consent)
    }

    /// Authorises `consent` for `customer` and holds it (numbered now unless it has its id):
    /// `CustomerNotLinked` for a customer who has not linked on the platform.
    fn hold_consent(
        &mut self,
        platform: &str,
        customer: u64,
        mut consent: Consent,
        now: SimTime,
    ) -> Result<(Consent, String), DeskError> {
        let agreement = self.agreements.get(platform).ok_or_else(|| DeskError::NoAgreement(platform.into()))?;
        if let Some(w) = &agreement.revoked {
            return Err(DeskError::Forbidden(format!("the agreement was revoked: {}", w.reason)));
        }
        if customer >= agreement.info.linked_customers {
            return Err(DeskError::CustomerNotLinked(customer));
        }
        consent.authorise();
        let platform = platform.to_string();
        self.make_room_for_consent(&platform, customer, now)?;
        let id = match consent.id.parse() {
            Ok(id) => id,
            Err(_) => self.id(),
        };
        consent.id = format!("{id}");
        let access = self.mint.issue(TokenKind::Access, &platform, id);
        if crate::alerts::EventType::ALL
            .iter()
            .any(|e| consent.has(crate::alerts::event_resource(*e, 0).required_permission()))
        {
            self.alert_consents.entry(platform.clone()).or_default().insert(id);
        }
        self.customer_consents.entry((platform.clone(), customer)).or_default().push_back(id);
        self.consents.insert(id, ConsentEntry { consent: consent.clone(), platform, customer });
        Ok((consent, access))
    }

    /// Makes room for one more consent of `customer` with `platform`: at the limit, the oldest
    /// consent no longer in force (revoked or expired) is forgotten; if all are in force, the
    /// new one is refused.
    fn make_room_for_consent(&mut self, platform: &str, customer: u64, now: SimTime) -> Result<(), DeskError> {
        let Some(kept) = self.customer_consents.get_mut(&(platform.to_string(), customer)) else { return Ok(()) };
        if kept.len() < MAX_CONSENTS_PER_CUSTOMER {
            return Ok(());
        }
        let consents = &self.consents;
        let spent = kept.iter().position(|id| consents.get(id).is_none_or(|c| c.consent.check(now).is_err()));
        let id = spent.and_then(|at| kept.remove(at)).ok_or(DeskError::TooManyConsents(customer))?;
        self.consents.remove(&id);
        if let Some(ids) = self.alert_consents.get_mut(platform) {
            ids.remove(&id);
        }
        Ok(())
    }

    /// The consent `id`, if the token may see it (the agreement token of its platform, or its
    /// own access token).
    pub fn consent(&self, token: Verified<'_>, id: u64) -> Result<(&Consent, u64), DeskError> {
        let entry = self.consents.get(&id).ok_or(DeskError::NotFound("consent"))?;
        let allowed = match token.kind {
            TokenKind::Client | TokenKind::Negotiation | TokenKind::Refresh => false,
            TokenKind::Agreement => token.platform == entry.platform,
            TokenKind::Access => token.id == id,
        };
        if !allowed {
            return Err(DeskError::Forbidden("the token does not cover this consent".into()));
        }
        Ok((&entry.consent, entry.customer))
    }

    /// Whether consent `id` exists and can be used at `now`.
    pub fn consent_in_force(&self, id: u64, now: SimTime) -> bool {
        self.consents.get(&id).is_some_and(|c| c.consent.check(now).is_ok())
    }

    /// The customer of consent `id`, if it exists: where the bank's router sends its requests.
    pub fn consent_customer(&self, id: u64) -> Option<u64> {
        self.consents.get(&id).map(|entry| entry.customer)
    }

    pub fn revoke_consent(&mut self, token: Verified<'_>, id: u64, now: SimTime) -> Result<(), DeskError> {
        self.consent(token, id)?;
        let entry = self.consents.get_mut(&id).expect("checked");
        entry.consent.revoke(now, REVOKED_BY_PLATFORM, "revoked through the API");
        if let Some(ids) = self.alert_consents.get_mut(&entry.platform) {
            ids.remove(&id);
        }
        Ok(())
    }

    /// Serves a data request made with a consent's access token (checked already,
    /// `TokenMint::check`): the consent's customer and the bank's decision (`serve::decide`),
    /// refusals counted before they are returned; the consent id in the answer stands for the
    /// platform in `record_consent_disclosure`.
    pub fn serve_consent(&mut self, token: Verified<'_>, ask: Ask, now: SimTime) -> Result<Served, DeskError> {
        let Verified { kind, platform, id } = token;
        if kind != TokenKind::Access {
            return Err(DeskError::Forbidden("data is read with a consent's access token".into()));
        }
        let entry = self.consents.get(&id).ok_or(DeskError::NotFound("consent"))?;
        if entry.platform != platform {
            return Err(DeskError::Forbidden("the token belongs to another platform".into()));
        }
        let agreement =
            self.agreements.get(&entry.platform).ok_or_else(|| DeskError::NoAgreement(entry.platform.clone()))?;
        let customer = entry.customer;
        let ledger = self.ledgers.get_mut(&entry.platform).expect("ledger made with the agreement");
        let bank = &self.scenario.banks[self.bank];
        let basis = serve::Basis::new(&entry.consent, &agreement.serving);
        let decision = serve::decide(basis, ask, now, ledger, bank, agreement.revoked.is_some());
        if let Some(why) = decision.revoke {
            let platform = entry.platform.clone();
            self.revoke_agreement(&platform, why, now);
        }
        let grant = decision.answer.map_err(DeskError::Refused)?;
        Ok(Served { consent: id, customer, grant, resource: decision.resource })
    }

    /// Records what a response served to `platform` (as `serve` returned it) carried.
    pub fn record_disclosure(&mut self, platform: &str, d: &Disclosure<'_>, now: SimTime) {
        if let Some(l) = self.ledgers.get_mut(platform) {
            l.count(now.as_millis(), d);
        }
    }

    /// Records what a response served under `consent` (as `serve_consent` returned it) carried.
    pub fn record_consent_disclosure(&mut self, consent: u64, d: &Disclosure<'_>, now: SimTime) {
        if let Some(entry) = self.consents.get(&consent)
            && let Some(l) = self.ledgers.get_mut(&entry.platform)
        {
            l.count(now.as_millis(), d);
        }
    }

    pub fn ledgers(&self) -> &BTreeMap<String, PairLedger> {
        &self.ledgers
    }

    pub fn resource_for_account(&self, customer: u64, account_id: &str) -> Result<(), DeskError> {
        if account_belongs(&self.spec, customer, account_id) { Ok(()) } else { Err(DeskError::NotFound("account")) }
    }
}

/// Whether `account_id` is one of `customer`'s two accounts (`chk-{bank}-{customer}` or
/// `card-{bank}-{customer}`), checked without building the ids.
pub fn account_belongs(spec: &PopulationSpec, customer: u64, account_id: &str) -> bool {
    let Some(rest) = account_id.strip_prefix("chk-").or_else(|| account_id.strip_prefix("card-")) else {
        return false;
    };
    let mut digits = [0u8; 20];
    rest.strip_prefix(spec.bank.as_str())
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|n| n.as_bytes() == decimal(customer, &mut digits))
}

/// What `Desk::serve_consent` granted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Served {
    pub consent: u64,
    pub customer: u64,
    pub grant: Grant,
    /// What was served: the resource asked for, or a derived one (minimised designs).
    pub resource: api::Resource,
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OTHER_PLATFORM: &str = r#"
[[platforms]]
name = "other-platform"
trust = 0.8
strategy = "linear"
reservation = 0.0
ask = { balances = "included" }
"#;

    /// live-demo with a second platform, so tokens of another platform exist.
    fn two_platform_scenario() -> Arc<Scenario> {
        let mut text = include_str!("../../scenarios/live-demo.toml").to_string();
        text.push_str(OTHER_PLATFORM);
        Arc::new(testbed_core::scenario::parse(&text).expect("live-demo with another platform parses"))
    }

    /// Opens a negotiation as `platform` does: with its client token.
    fn open(desk: &mut Desk, platform: &str, now: SimTime) -> Result<Opened, DeskError> {
        let token = desk.tokens().client_token(platform);
        let client = desk.tokens().check(&token)?.client_access()?;
        desk.open_negotiation(client, platform, now)
    }

    proptest! {
        #[test]
        fn a_negotiation_token_is_good_only_for_its_bank_platform_and_negotiation(
            secret in any::<u64>(),
            bank in "[a-z][a-z-]{0,11}",
            other_bank in "[a-z][a-z-]{0,11}",
            platform in "[a-z][a-z-]{0,11}",
            id in 0u64..u64::MAX,
        ) {
            prop_assume!(bank != other_bank);
            let (mint, other) = (TokenMint::new(secret, &bank), TokenMint::new(secret, &other_bank));
            let token = mint.issue(TokenKind::Negotiation, &platform, id);
            prop_assert_eq!(mint.check(&token), Ok(Verified { kind: TokenKind::Negotiation, platform: &platform, id }));
            // Genuine, but another bank's: refused as such, never taken for its own.
            prop_assert!(matches!(other.check(&token), Err(DeskError::Forbidden(_))));
            // Naming another negotiation, bank, platform or kind in it breaks the MAC.
            let mac = token.rsplit('.').next().unwrap();
            for forged in [
                format!("neg.{bank}.{platform}.{}.{mac}", id + 1),
                format!("neg.{other_bank}.{platform}.{id}.{mac}"),
                format!("neg.{bank}.{platform}x.{id}.{mac}"),
                format!("agr.{bank}.{platform}.{id}.{mac}"),
                format!("acc.{bank}.{platform}.{id}.{mac}"),
                format!("cli.{bank}.{platform}.{id}.{mac}"),
            ] {
                // Whatever bank it names: a token the key does not verify is no token (401).
                prop_assert_eq!(mint.check(&forged), Err(DeskError::Unauthorized), "{}", forged);
                // The other bank refuses it too: as another bank's, or as forged when it names itself.
                prop_assert!(other.check(&forged).is_err(), "{}", forged);
            }
        }
    }

    #[test]
    fn a_negotiation_moves_only_with_its_own_token() {
        let sc = two_platform_scenario();
        let (mut a, mut b) =
            (Desk::new(sc.clone(), BankId::new(0), sc.seed), Desk::new(sc.clone(), BankId::new(1), sc.seed));
        let first = open(&mut a, "demo-platform", SimTime::ZERO).unwrap();
        // One negotiation with a platform at a time: the first ends before the second opens.
        let why = Withdrawal { clause: "test".into(), reason: "test".into() };
        a.platform_withdraw(NegotiationAccess { id: first.id }, why, SimTime::ZERO).unwrap();
        let second = open(&mut a, "demo-platform", SimTime::ZERO).unwrap();
        let others = open(&mut a, "other-platform", SimTime::ZERO).unwrap();
        let at_b = open(&mut b, "demo-platform", SimTime::ZERO).unwrap();
        assert_eq!(first.id, at_b.id, "both banks number their negotiations from 1");
        let access = |desk: &Desk, token: &str, id: u64| {
            let verified = desk.tokens().check(token)?;
            desk.negotiation_access(verified, id)
        };
        assert_eq!(access(&a, &first.token, first.id).map(|x| x.id()), Ok(first.id));
        let forbidden = |r: Result<NegotiationAccess, DeskError>| matches!(r, Err(DeskError::Forbidden(_)));
        assert!(forbidden(access(&a, &first.token, second.id)), "another negotiation of the same platform");
        assert!(forbidden(access(&a, &others.token, first.id)), "another platform's negotiation");
        assert!(forbidden(access(&a, &at_b.token, first.id)), "bank B's token for the same id");
        assert!(forbidden(access(&b, &first.token, at_b.id)), "bank A's token at bank B");
        // An agreement token is no negotiation token, even for its own negotiation.
        let outcome = OutcomeId(0);
        let Ok(Answer::Agreed(agreed)) = a.platform_offer(NegotiationAccess { id: second.id }, outcome, SimTime::ZERO)
        else {
            panic!("live-demo's one outcome is accepted")
        };
        assert!(forbidden(access(&a, &agreed.token, second.id)));
        let verified = a.tokens().check(&second.token).unwrap();
        assert!(matches!(a.agreement_access(verified, "demo-platform"), Err(DeskError::Forbidden(_))));
        let verified = a.tokens().check(&agreed.token).unwrap();
        assert!(a.agreement_access(verified, "demo-platform").is_ok());
        assert!(matches!(a.agreement_access(verified, "other-platform"), Err(DeskError::Forbidden(_))));
    }

    #[test]
    fn a_negotiation_opens_only_with_the_client_token_of_the_platform_it_names() {
        let sc = two_platform_scenario();
        let (mut a, b) =
            (Desk::new(sc.clone(), BankId::new(0), sc.seed), Desk::new(sc.clone(), BankId::new(1), sc.seed));
        let forbidden = |r: Result<Opened, DeskError>| matches!(r, Err(DeskError::Forbidden(_)));
        let ours = a.client_token("demo-platform").expect("demo-platform negotiates with bank 0");
        assert!(ours.starts_with(&format!("cli.{}.demo-platform.0.", a.bank_name())), "{ours}");
        let client = a.tokens().check(&ours).unwrap().client_access().unwrap();
        assert!(forbidden(a.open_negotiation(client, "other-platform", SimTime::ZERO)), "in another's name");
        assert!(a.open_negotiation(client, "demo-platform", SimTime::ZERO).is_ok());
        // Another bank's client token for the same platform is refused before its MAC is checked.
        let theirs = b.client_token("demo-platform").unwrap();
        assert!(matches!(a.tokens().check(&theirs), Err(DeskError::Forbidden(_))));
        // No other kind of token opens a negotiation, even the platform's own.
        let opened = open(&mut a, "other-platform", SimTime::ZERO).unwrap();
        assert!(matches!(a.tokens().check(&opened.token).unwrap().client_access(), Err(DeskError::Forbidden(_))));
        // A platform the scenario does not pair with the bank gets no credential there.
        let mut text = include_str!("../../scenarios/live-demo.toml").to_string();
        text.push_str(&OTHER_PLATFORM.replace("trust = 0.8", "trust = 0.8\nbanks = [\"limited-bank\"]"));
        let sc = Arc::new(testbed_core::scenario::parse(&text).expect("parses"));
        let demo = Desk::new(sc.clone(), sc.bank_index("demo-bank").unwrap(), sc.seed);
        assert_eq!(demo.client_token("other-platform"), None);
        assert_eq!(demo.client_token("no-such-platform"), None);
    }

    #[test]
    fn a_second_negotiation_with_a_platform_is_refused_while_the_first_is_open() {
        let sc = two_platform_scenario();
        let mut desk = Desk::new(sc.clone(), BankId::new(0), sc.seed);
        let now = SimTime::ZERO;
        let first = open(&mut desk, "demo-platform", now).expect("the first opens");
        let Err(second) = open(&mut desk, "demo-platform", now) else {
            panic!("both could agree, the second replacing the first")
        };
        assert!(matches!(&second, DeskError::Protocol(m) if m.contains("is open")), "{second:?}");
        // Another platform is not held up.
        open(&mut desk, "other-platform", now).expect("another platform opens");
        // Once the first ended in an agreement, the agreement in force is what refuses.
        desk.platform_offer(NegotiationAccess { id: first.id }, OutcomeId(0), now).expect("accepted");
        let Err(third) = open(&mut desk, "demo-platform", now) else { panic!("an agreement is in force") };
        assert!(matches!(&third, DeskError::Protocol(m) if m.contains("in force")), "{third:?}");
    }

    #[test]
    fn what_the_bank_counted_under_a_revoked_agreement_survives_the_next_agreement() {
        let sc = two_platform_scenario();
        let mut desk = Desk::new(sc.clone(), BankId::new(0), sc.seed);
        let now = SimTime::ZERO;
        let agree = |desk: &mut Desk| {
            let opened = open(desk, "demo-platform", now).unwrap();
            desk.platform_offer(NegotiationAccess { id: opened.id }, OutcomeId(0), now).unwrap()
        };
        agree(&mut desk);
        let fields = testbed_core::terms::FieldSet::of(&[testbed_core::terms::Field::BalanceCurrent]);
        let d = Disclosure {
            customer: 3,
            purpose: testbed_core::terms::Purpose::BalanceDisplay,
            fields,
            records: Records::Other(1),
        };
        desk.record_disclosure("demo-platform", &d, now);
        let counted =
            |desk: &Desk| desk.ledgers()["demo-platform"].counts_of(3).expect("customer 3").iter().sum::<u32>();
        assert_eq!(counted(&desk), 1);
        desk.revoke_agreement("demo-platform", Withdrawal { clause: "test".into(), reason: "test".into() }, now);
        agree(&mut desk);
        assert_eq!(counted(&desk), 1, "the new agreement keeps the earlier record");
    }

    /// `watches` as a scan of every consent would give it: the reference the index must match.
    fn watches_by_full_scan(desk: &Desk, now: SimTime) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for s in desk.subscriptions() {
            if desk.agreements.get(&s.platform).is_none_or(|a| a.revoked.is_some()) {
                continue;
            }
            for (&id, c) in desk.consents.iter().filter(|(_, c)| c.platform == s.platform) {
                let covers = s
                    .event_types
                    .iter()
                    .any(|e| c.consent.has(crate::alerts::event_resource(*e, 0).required_permission()));
                if c.consent.check(now).is_ok() && covers {
                    out.push((s.id, id));
                }
            }
        }
        out
    }

    #[test]
    fn the_alert_look_walks_only_unrevoked_alert_consents_and_finds_what_a_full_scan_finds() {
        let sc = two_platform_scenario();
        let mut desk = Desk::new(sc.clone(), BankId::new(0), sc.seed);
        let now = SimTime::ZERO;
        let mut agreement = BTreeMap::new();
        for platform in ["demo-platform", "other-platform"] {
            let opened = open(&mut desk, platform, now).unwrap();
            let Ok(Answer::Agreed(a)) = desk.platform_offer(NegotiationAccess { id: opened.id }, OutcomeId(0), now)
            else {
                panic!("live-demo's one outcome is accepted")
            };
            agreement.insert(platform, a.token);
        }
        let mut made = BTreeMap::<&str, Vec<u64>>::new();
        for platform in ["demo-platform", "other-platform"] {
            for customer in 0..6 {
                let token = desk.tokens().check(&agreement[platform]).unwrap();
                let (c, _) = desk.create_consent(token, customer, None, (None, None), now).unwrap();
                made.entry(platform).or_default().push(c.id.parse().unwrap());
            }
            // A consent without the transactions permission raises no alert (balance changes only).
            let token = desk.tokens().check(&agreement[platform]).unwrap();
            let (c, _) =
                desk.create_consent(token, 7, Some(vec![Permission::ReadBalances]), (None, None), now).unwrap();
            assert!(!c.has(api::Resource::FraudAlert.required_permission()));
            made.entry(platform).or_default().push(c.id.parse().unwrap());
        }
        let token = desk.tokens().check(&agreement["demo-platform"]).unwrap();
        desk.subscribe(token, "http://127.0.0.1:9/", vec![crate::alerts::EventType::FraudAlert], None, now).unwrap();
        for &id in &made["demo-platform"][..3] {
            let token = desk.tokens().check(&agreement["demo-platform"]).unwrap();
            desk.revoke_consent(token, id, now).unwrap();
        }
        let look = |desk: &Desk| desk.watches(now).iter().map(|w| (w.subscription, w.consent)).collect::<Vec<_>>();
        assert_eq!(look(&desk), watches_by_full_scan(&desk, now));
        assert_eq!(
            look(&desk).len(),
            3,
            "the demo platform's three unrevoked consents with the transactions permission"
        );
        // The look walks the unrevoked consents of each platform that cover some event, and no others.
        let indexed: Vec<u64> = desk.alert_consents["demo-platform"].iter().copied().collect();
        assert_eq!(indexed, made["demo-platform"][3..]);
        assert_eq!(desk.alert_consents["other-platform"].len(), 7);
        // The bank revoking the agreement empties the platform's share.
        let why = Withdrawal { clause: "test".into(), reason: "test".into() };
        desk.revoke_agreement("demo-platform", why, now);
        assert!(!desk.alert_consents.contains_key("demo-platform"));
        assert_eq!(look(&desk), watches_by_full_scan(&desk, now));
        assert!(look(&desk).is_empty());
    }

    #[test]
    fn a_token_is_good_only_under_the_key_it_was_made_with() {
        let (mint, other_key) = (TokenMint::new(7, "bank-a"), TokenMint::new(8, "bank-a"));
        let token = mint.issue(TokenKind::Access, "platform-b", 42);
        assert!(mint.check(&token).is_ok());
        assert!(matches!(other_key.check(&token), Err(DeskError::Unauthorized)));
        // Neighbouring inputs give unrelated MACs: no bit of one predicts the other's.
        let next = mint.issue(TokenKind::Access, "platform-b", 43);
        assert_ne!(token.rsplit('.').next(), next.rsplit('.').next());
    }

    #[test]
    fn a_token_is_accepted_in_its_one_spelling_only() {
        let mint = TokenMint::new(7, "bank-a");
        for (kind, id) in [(TokenKind::Client, 0), (TokenKind::Access, 42)] {
            let token = mint.issue(kind, "platform-b", id);
            assert!(mint.check(&token).is_ok(), "{token}");
            let (head, mac) = token.rsplit_once('.').unwrap();
            let (prefix, id_text) = head.rsplit_once('.').unwrap();
            for variant in [
                format!("{head}.{}", mac.to_uppercase()),
                format!("{prefix}.0{id_text}.{mac}"),
                format!("{prefix}.+{id_text}.{mac}"),
                format!("{head}.0{mac}"),
                format!("{head}.{}", &mac[1..]),
            ]
            .into_iter()
            .filter(|v| *v != token)
            {
                assert_eq!(mint.check(&variant), Err(DeskError::Unauthorized), "{variant}");
            }
        }
    }

    #[test]
    fn only_the_customers_own_two_accounts_belong_to_them() {
        let spec = PopulationSpec {
            seed: 1,
            bank: "b-1".into(),
            size: 100,
            transactions_per_day: 1.0,
            on_platform_share: 0.5,
        };
        assert!(account_belongs(&spec, 42, "chk-b-1-42"));
        assert!(account_belongs(&spec, 42, "card-b-1-42"));
        for other in ["chk-b-1-4", "chk-b-1-420", "card-b-2-42", "sav-b-1-42", "chk-b-1-", "card-b-1-042", ""] {
            assert!(!account_belongs(&spec, 42, other), "{other}");
        }
        assert!(account_belongs(&spec, 0, "card-b-1-0"));
    }
}
