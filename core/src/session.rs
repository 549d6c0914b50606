//! The negotiation session of a scenario: every (platform, bank) pair negotiates at once on one
//! virtual-time event queue. Each move travels through the network and waits out the receiver's
//! decision time, both drawn from the scenario's distributions on the pair's own random stream;
//! scheduled events move trust, add regulations and take banks offline while negotiations are
//! under way.
//!
//! The banks' decisions are made here (virtual mode) or by a [`RemoteBanks`] (live mode: bank
//! servers behind HTTP). The schedule is the same either way, so both modes draw the same delays
//! and reach the same outcomes for the same seed.

use crate::SimTime;
use crate::negotiation::portfolio::{self, Deal, Weighed};
use crate::negotiation::quality::{OutcomeSpace, Point};
use crate::negotiation::review::{Standing, Verdict, review, review_after_incident};
use crate::negotiation::{
    Assessment, Decision, End, IssueSpace, Negotiator, OutcomeId, Preferences, Protocol, Side, Situation, Step,
    Withdrawal,
};
use crate::report::{
    Action, BankInfo, BrokenClause, ClauseInfo, IssueInfo, NegotiationPart, NegotiationReport, OfferAssessment,
    Outcome, OutcomeKind, PlatformInfo, ReservationMove, Revocation, ScenarioInfo, TimelineEntry, TimelineKind,
    TranscriptEntry,
};
use crate::rng::{SimRng, stream};
use crate::scenario::{BankId, EventKind, PlatformId, Scenario};
use crate::scheduler::Scheduler;
use crate::terms::Terms;
use crate::time::format_duration;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The clause a platform that weighs its deals together names when too few banks can still
/// agree.
pub const PORTFOLIO_CLAUSE: &str = "portfolio_min_banks";

/// An agreement the data phase runs under.
#[derive(Clone, Debug)]
pub struct Agreement {
    pub platform: PlatformId,
    pub bank: BankId,
    /// The outcome agreed, and the round it was agreed in: what a bank holding the agreement
    /// reviews it by.
    pub outcome: OutcomeId,
    pub round: u32,
    pub terms: Terms,
    pub at: SimTime,
    /// Revocation decided in the negotiation phase (trust, regulation), if any.
    pub revoked_at: Option<SimTime>,
}

/// What a session ends with: its part of the report (for [`crate::report::assemble`]) and the
/// agreements reached, each with the index of its pair in `negotiation.negotiations`.
pub struct SessionOutcome {
    pub negotiation: NegotiationPart,
    pub agreements: Vec<(usize, Agreement)>,
    /// Each negotiation's (platform, bank) preferences as they stood at its end, in the order
    /// of `negotiation.negotiations`: what its outcome space was measured on.
    pub preferences: Vec<SidesPreferences>,
}

/// A negotiation's (platform, bank) preferences.
pub type SidesPreferences = (Arc<Preferences>, Arc<Preferences>);

enum Ev {
    Start(usize),
    Decide { pair: usize, side: Side },
    Scheduled(usize),
    Review { pair: usize, after_incident: bool },
    Stop,
}

struct Pair {
    platform: PlatformId,
    bank: BankId,
    rng: SimRng,
    protocol: Option<Protocol>,
    platform_agent: Negotiator,
    bank_agent: Negotiator,
    transcript: Vec<TranscriptEntry>,
    revocation: Option<Revocation>,
    /// Offers whose outcome the offering side values exactly as much as another it could have
    /// offered: the tie-break chose it.
    offers_among_ties: u32,
    /// The platform's reservation value here as its portfolio set it (`None`: its own), and
    /// each move of it.
    portfolio_reservation: Option<f64>,
    reservation_moves: Vec<ReservationMove>,
}

impl Pair {
    fn label(&self, sc: &Scenario) -> String {
        format!("{}→{}", sc.platforms[self.platform].name, sc.banks[self.bank].name)
    }

    fn agreed_outcome(&self) -> Option<OutcomeId> {
        match self.protocol.as_ref()?.end()? {
            End::Agreement { outcome, .. } if self.revocation.is_none() => Some(*outcome),
            _ => None,
        }
    }

    /// The agent of `side` at this pair's table.
    fn agent(&self, side: Side) -> &Negotiator {
        match side {
            Side::Platform => &self.platform_agent,
            Side::Bank => &self.bank_agent,
        }
    }

    fn agent_mut(&mut self, side: Side) -> &mut Negotiator {
        match side {
            Side::Platform => &mut self.platform_agent,
            Side::Bank => &mut self.bank_agent,
        }
    }

    /// The seat of `side` at this pair's table.
    fn seat(&self, side: Side) -> Seat {
        match side {
            Side::Platform => Seat::Platform(self.platform),
            Side::Bank => Seat::Bank(self.bank),
        }
    }

    fn is_negotiating(&self) -> bool {
        self.protocol.as_ref().is_some_and(|p| p.end().is_none())
    }
}

/// Where the banks' decisions are made when they are not made in this process: live mode puts
/// them behind HTTP. The virtual-time schedule stays here, so both modes draw the same delays
/// and reach the same outcomes for the same seed.
pub trait RemoteBanks {
    /// The bank of `pair` decides at `now`, given the platform's standing offer.
    fn bank_decides(
        &mut self,
        pair: usize,
        platform: &str,
        bank: &str,
        standing: Option<OutcomeId>,
        now: SimTime,
    ) -> Decision;
    /// The platform of `pair` accepted or withdrew at `now`.
    fn platform_ended(&mut self, pair: usize, decision: &Decision, now: SimTime);
    /// The bank of `pair` reviews the relationship at `now`.
    fn review(&mut self, pair: usize, platform: &str, negotiating: bool, after_incident: bool, now: SimTime)
    -> Verdict;
}

/// One party's side of every negotiation it is in: the seat a [`Player`] takes in place of the
/// scenario's agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seat {
    Platform(PlatformId),
    Bank(BankId),
}

impl Seat {
    /// The side the seat's party takes in each of its negotiations.
    pub fn side(self) -> Side {
        match self {
            Seat::Platform(_) => Side::Platform,
            Seat::Bank(_) => Side::Bank,
        }
    }
}

/// A side decided outside the agents: a person at `sim play`'s page. The schedule, the other
/// side and every other negotiation stay the scenario's, so only the person's moves differ from
/// `sim run`. Reviews after events stay with the bank's policy.
pub trait Player {
    /// The seat's move in `turn`; one that [`PlayerTurn::check`] allows.
    fn decide(&mut self, turn: &PlayerTurn<'_>) -> Decision;
}

/// What the seated side sees at its turn.
pub struct PlayerTurn<'a> {
    /// The negotiation's index in the report.
    pub pair: usize,
    pub platform: &'a str,
    pub bank: &'a str,
    pub side: Side,
    pub round: u32,
    pub n_rounds: u32,
    pub now: SimTime,
    /// The other side's offer on the table, if any.
    pub standing: Option<OutcomeId>,
    /// The seated side's preferences, and the other side's (for the outcome space).
    pub mine: &'a Preferences,
    pub theirs: &'a Preferences,
    /// The negotiation so far.
    pub transcript: &'a [TranscriptEntry],
    /// What the scenario's agent for this side would do now, and how it weighed the standing
    /// offer: its utility, the agent's threshold, the clauses it breaks with their strikes.
    pub agent: &'a Decision,
    pub assessment: Option<&'a OfferAssessment>,
    /// This is the last round and the other side opened it: a counter-offer now ends the
    /// negotiation without agreement (timeout).
    pub last_word: bool,
    /// Every negotiation of the seat (its pair label) and where it stands, in report order.
    pub negotiations: Vec<(String, String)>,
}

impl PlayerTurn<'_> {
    /// Whether the protocol takes `decision` now (see [`check_move`]).
    pub fn check(&self, decision: &Decision) -> Result<(), String> {
        check_move(self.standing, self.mine.space(), decision)
    }
}

/// Whether the protocol takes `decision` from the side whose turn it is, with `standing` on the
/// table: an accept needs an offer there, an offer an outcome of `space`; a withdrawal may name
/// any clause.
pub fn check_move(standing: Option<OutcomeId>, space: &IssueSpace, decision: &Decision) -> Result<(), String> {
    match decision {
        Decision::Accept if standing.is_none() => Err("there is no offer on the table to accept".into()),
        Decision::Offer(o) if o.0 >= space.len() => {
            Err(format!("outcome {} is not in the space of {} outcomes", o.0, space.len()))
        }
        _ => Ok(()),
    }
}

struct World<'a> {
    sc: &'a Scenario,
    remote: Option<&'a mut dyn RemoteBanks>,
    player: Option<(Seat, &'a mut dyn Player)>,
    trust: Vec<f64>,
    platform_prefs: Vec<Arc<Preferences>>,
    bank_prefs: Vec<Arc<Preferences>>,
    outages: Vec<Vec<(SimTime, SimTime)>>,
    pairs: Vec<Pair>,
    timeline: Vec<TimelineEntry>,
    queue: Scheduler<Ev>,
}

fn outcome_map(prefs: &Preferences, o: OutcomeId) -> BTreeMap<String, String> {
    prefs.space().describe(o).into_iter().collect()
}

/// Every negotiation at `seat`'s table and where it stands, for the person at it.
fn seat_negotiations(sc: &Scenario, pairs: &[Pair], seat: Seat) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|p| p.seat(seat.side()) == seat)
        .map(|p| {
            let state = match (p.protocol.as_ref(), &p.revocation) {
                (_, Some(r)) => format!("agreement revoked by the bank over `{}`", r.clause),
                (None, None) => "not started".to_string(),
                (Some(protocol), None) => match protocol.end() {
                    None => format!("negotiating, round {}", protocol.round()),
                    Some(End::Agreement { round, accepted_by, .. }) => {
                        format!("agreement, accepted by the {} in round {round}", accepted_by.as_str())
                    }
                    Some(End::Withdrawal { by, withdrawal, round, .. }) => {
                        format!("withdrawal by the {} in round {round} over `{}`", by.as_str(), withdrawal.clause)
                    }
                    Some(End::Timeout { rounds, .. }) => format!("timeout after {rounds} rounds"),
                },
            };
            (p.label(sc), state)
        })
        .collect()
}

/// Runs the negotiation phase of `scenario`: the banks decide in-process, or through `remote`
/// when one is given.
pub fn negotiate<'a>(scenario: &'a Scenario, remote: Option<&'a mut dyn RemoteBanks>) -> SessionOutcome {
    let mut world = World::new(scenario, remote, None);
    world.run();
    world.outcome()
}

/// Runs the negotiation phase of `scenario` with `player` deciding `seat`'s side of each of its
/// negotiations; the banks otherwise decide in-process.
pub fn negotiate_played(scenario: &Scenario, seat: Seat, player: &mut dyn Player) -> SessionOutcome {
    let mut world = World::new(scenario, None, Some((seat, player)));
    world.run();
    world.outcome()
}

impl<'a> World<'a> {
    fn outcome(self) -> SessionOutcome {
        let world = self;
        let (pairs, agreements) = world.agreements();
        let (negotiation, preferences) = world.into_part();
        SessionOutcome { negotiation, agreements: pairs.into_iter().zip(agreements).collect(), preferences }
    }

    fn run(&mut self) {
        while let Some((now, ev)) = self.queue.pop() {
            match ev {
                Ev::Start(pair) => self.start(now, pair),
                Ev::Decide { pair, side } => self.decide(now, pair, side),
                Ev::Scheduled(i) => self.apply_event(now, i),
                Ev::Review { pair, after_incident } => self.review(now, pair, after_incident),
                Ev::Stop => break,
            }
        }
    }

    fn new(
        sc: &'a Scenario,
        remote: Option<&'a mut dyn RemoteBanks>,
        player: Option<(Seat, &'a mut dyn Player)>,
    ) -> Self {
        let platform_prefs: Vec<_> = sc.platforms.iter().map(|p| p.preferences.clone()).collect();
        let bank_prefs: Vec<_> = sc.banks.iter().map(|b| b.preferences.clone()).collect();
        let mut queue = Scheduler::default();
        let mut pairs = Vec::new();
        for (pi, p) in sc.platforms.iter().enumerate() {
            for &bi in &p.banks {
                let b = &sc.banks[bi];
                queue.schedule(SimTime::from_duration(p.start), Ev::Start(pairs.len()));
                pairs.push(Pair {
                    platform: PlatformId::new(pi),
                    bank: bi,
                    rng: stream(sc.seed, &format!("negotiation/{}/{}", p.name, b.name)),
                    protocol: None,
                    platform_agent: Negotiator::new(platform_prefs[pi].clone(), p.strategy),
                    bank_agent: Negotiator::new(bank_prefs[bi.index()].clone(), b.strategy),
                    transcript: Vec::new(),
                    offers_among_ties: 0,
                    revocation: None,
                    portfolio_reservation: None,
                    reservation_moves: Vec::new(),
                });
            }
        }
        for (i, e) in sc.events.iter().enumerate() {
            queue.schedule(SimTime::from_duration(e.at), Ev::Scheduled(i));
        }
        queue.schedule(SimTime::from_duration(sc.duration), Ev::Stop);
        World {
            sc,
            remote,
            player,
            trust: sc.platforms.iter().map(|p| p.trust).collect(),
            platform_prefs,
            bank_prefs,
            outages: vec![Vec::new(); sc.banks.len()],
            pairs,
            timeline: Vec::new(),
            queue,
        }
    }

    /// The first moment at or after `t` when `bank` is not in an outage.
    fn bank_available_at(&self, bank: BankId, mut t: SimTime) -> SimTime {
        while let Some(&(_, end)) = self.outages[bank.index()].iter().find(|(start, end)| *start <= t && t < *end) {
            t = end;
        }
        t
    }

    /// Sends the turn to `side`: a network hop, a wait while the bank is down, then its
    /// decision time.
    fn schedule_turn(&mut self, now: SimTime, pair: usize, side: Side) {
        let sc = self.sc;
        let p = &mut self.pairs[pair];
        let (platform, bank) = (&sc.platforms[p.platform], &sc.banks[p.bank]);
        let mut arrival = now + sc.network_delay.sample(&mut p.rng);
        let decision = match side {
            Side::Platform => platform.decision_delay.as_ref().unwrap_or(&sc.decision_delay),
            Side::Bank => bank.decision_delay.as_ref().unwrap_or(&sc.decision_delay),
        };
        let think = decision.sample(&mut p.rng);
        if side == Side::Bank {
            arrival = self.bank_available_at(self.pairs[pair].bank, arrival);
        }
        self.queue.schedule(arrival + think, Ev::Decide { pair, side });
    }

    fn start(&mut self, now: SimTime, pair: usize) {
        let sc = self.sc;
        let p = &mut self.pairs[pair];
        let rounds = sc.platforms[p.platform].deadline_rounds.min(sc.banks[p.bank].deadline_rounds);
        p.protocol = Some(Protocol::new(rounds, sc.opens, now).expect("deadlines are validated to be >= 1"));
        self.schedule_turn(now, pair, sc.opens);
        let platform = self.pairs[pair].platform;
        self.weigh_portfolio(now, platform, "its negotiations opened");
    }

    fn decide(&mut self, now: SimTime, pair: usize, side: Side) {
        let p = &mut self.pairs[pair];
        let Some(turn) = p.protocol.as_ref().and_then(Protocol::turn).filter(|t| t.side == side) else {
            return; // the negotiation ended while this side was deliberating
        };
        let trust = match side {
            Side::Bank => self.trust[p.platform.index()],
            Side::Platform => 1.0,
        };
        let situation = Situation {
            round: turn.round,
            n_rounds: turn.n_rounds,
            standing: turn.standing,
            counterparty_trust: trust,
        };
        // The pure agent of this side decides here, or, where a bank behind HTTP or a person
        // decides, says what it would do and why; its word on the offer is kept only when it
        // reached the decision made, and it remembers the move actually made.
        let before = p.agent(side).own_moves();
        let (local, assessment) = p.agent_mut(side).respond_explained(&situation);
        let remote = match (side, self.remote.as_deref_mut()) {
            (Side::Bank, Some(remote)) => {
                let (platform, bank) = (&self.sc.platforms[p.platform].name, &self.sc.banks[p.bank].name);
                Some(remote.bank_decides(pair, platform, bank, turn.standing, now))
            }
            _ => None,
        };
        let assessment = assessment.map(|a| self.report_assessment(pair, side, &a, turn.standing));
        let p = &self.pairs[pair];
        let seated = self.player.as_ref().is_some_and(|(seat, _)| *seat == p.seat(side));
        let decision = match (remote, self.player.as_mut().filter(|_| seated)) {
            (Some(decision), _) => decision,
            (None, Some((seat, player))) => {
                let seen = PlayerTurn {
                    pair,
                    platform: &self.sc.platforms[p.platform].name,
                    bank: &self.sc.banks[p.bank].name,
                    side,
                    round: turn.round,
                    n_rounds: turn.n_rounds,
                    now,
                    standing: turn.standing,
                    mine: p.agent(side).preferences(),
                    theirs: p.agent(side.other()).preferences(),
                    transcript: &p.transcript,
                    agent: &local,
                    assessment: assessment.as_ref(),
                    last_word: turn.round + 1 == turn.n_rounds
                        && side != p.protocol.as_ref().map_or(self.sc.opens, Protocol::first),
                    negotiations: seat_negotiations(self.sc, &self.pairs, *seat),
                };
                let decision = player.decide(&seen);
                seen.check(&decision).expect("a player answers with a move the protocol takes");
                decision
            }
            (None, None) => local.clone(),
        };
        // A person's move carries no word of the agent's (their reasons are their own).
        let assessment = assessment.filter(|_| decision == local && !seated);
        if decision != local {
            self.pairs[pair].agent_mut(side).made_instead(before, &decision);
        }
        if let (Side::Platform, Some(remote), Decision::Accept | Decision::Withdraw(_)) =
            (side, self.remote.as_deref_mut(), &decision)
        {
            remote.platform_ended(pair, &decision, now);
        }
        let mut entry = self.transcript_entry(now, pair, turn.round, side, &decision, turn.standing);
        entry.assessment = assessment;
        entry.by_person = seated;
        let p = &mut self.pairs[pair];
        p.transcript.push(entry);
        if let Decision::Offer(o) = decision {
            p.offers_among_ties += u32::from(p.agent(side).preferences().tied(o));
        }
        let protocol = p.protocol.as_mut().expect("turn came from the protocol");
        match protocol.decide(now, side, decision).expect("the agent answers its own turn") {
            Step::Next(next) => self.schedule_turn(now, pair, next.side),
            Step::Ended(end) => {
                self.record_end(pair, &end);
                self.weigh_after(now, pair);
            }
        }
    }

    /// A negotiation of `pair` ended or its agreement was revoked: its platform weighs its deals
    /// again.
    fn weigh_after(&mut self, now: SimTime, pair: usize) {
        let p = &self.pairs[pair];
        let bank = &self.sc.banks[p.bank].name;
        let what = match (p.protocol.as_ref().and_then(Protocol::end), &p.revocation) {
            (_, Some(_)) => format!("{bank} revoked its agreement"),
            (Some(End::Agreement { .. }), None) => format!("{bank} agreed"),
            (Some(End::Withdrawal { by: Side::Bank, .. }), None) => format!("{bank} withdrew"),
            (Some(End::Withdrawal { by: Side::Platform, .. }), None) => format!("it withdrew from {bank}"),
            (Some(End::Timeout { .. }), None) => format!("its negotiation with {bank} timed out"),
            (None, None) => return,
        };
        self.weigh_portfolio(now, p.platform, &what);
    }

    /// A platform that weighs its deals together (`negotiation::portfolio`) sets its reservation
    /// value in each negotiation still open, or walks away from them all when too few banks can
    /// still agree; `cause` says what changed. Each move is in the timeline and its negotiation.
    fn weigh_portfolio(&mut self, now: SimTime, platform: PlatformId, cause: &str) {
        let sc = self.sc;
        let Some(portfolio) = &sc.platforms[platform].portfolio else { return };
        let pairs: Vec<usize> = (0..self.pairs.len()).filter(|&i| self.pairs[i].platform == platform).collect();
        let base = self.platform_prefs[platform.index()].clone();
        let deals: Vec<Deal> = (pairs.iter().map(|&i| &self.pairs[i]))
            // A negotiation not started yet is still open to it.
            .map(|p| match (p.agreed_outcome(), p.is_negotiating() || p.protocol.is_none()) {
                (Some(o), _) => Deal::Agreed(p.platform_agent.preferences().utility(o)),
                (None, true) => Deal::Open,
                (None, false) => Deal::Gone,
            })
            .collect();
        let name = &sc.platforms[platform].name;
        let needs = format!("{name} needs {} of its {} banks", portfolio.min_banks, pairs.len());
        let saved: f64 =
            (deals.iter().zip(&portfolio.shares)).map(|(d, s)| if let Deal::Agreed(u) = d { s * u } else { 0.0 }).sum();
        match portfolio::weigh(portfolio, base.reservation(), &deals) {
            Weighed::WalkAway { possible } => {
                // (Too few can agree only once some have ended, so every open one has started.)
                let open: Vec<usize> = pairs.into_iter().filter(|&i| self.pairs[i].is_negotiating()).collect();
                let banks: Vec<&str> = open.iter().map(|&i| sc.banks[self.pairs[i].bank].name.as_str()).collect();
                let reason = format!("{cause}; {needs} and only {possible} can still agree");
                self.timeline.push(TimelineEntry {
                    at_ms: now.as_millis(),
                    kind: TimelineKind::Portfolio,
                    subject: name.clone(),
                    detail: if open.is_empty() {
                        format!("{reason}: it keeps the deals it has (only banks revoke them)")
                    } else {
                        format!("{reason}: it walks away from {}", banks.join(", "))
                    },
                });
                let w = Withdrawal { clause: PORTFOLIO_CLAUSE.into(), reason };
                for &pair in &open {
                    let protocol = self.pairs[pair].protocol.as_mut().expect("negotiating");
                    let round = protocol.round();
                    let end = protocol.withdraw(now, Side::Platform, w.clone()).expect("negotiating");
                    let entry =
                        self.transcript_entry(now, pair, round, Side::Platform, &Decision::Withdraw(w.clone()), None);
                    self.pairs[pair].transcript.push(entry);
                    self.record_end(pair, &end);
                    if let Some(remote) = self.remote.as_deref_mut() {
                        remote.platform_ended(pair, &Decision::Withdraw(w.clone()), now);
                    }
                }
            }
            Weighed::Reservations(reservations) => {
                let mut moved = Vec::new();
                for (&pair, r) in pairs.iter().zip(reservations) {
                    let Some(r) = r else { continue };
                    let p = &mut self.pairs[pair];
                    let from = p.portfolio_reservation.unwrap_or(base.reservation());
                    if (r - from).abs() <= 1e-12 {
                        continue;
                    }
                    // What the move does to its concession: the least it accepts in the round
                    // under way, at the old and at the new value.
                    let (round, n_rounds) = p.protocol.as_ref().map_or((0, 1), |pr| (pr.round(), pr.n_rounds()));
                    let accepts_before = p.platform_agent.threshold(round, n_rounds, None);
                    p.portfolio_reservation = Some(r);
                    p.platform_agent.replace_preferences(Arc::new(base.with_reservation(r)));
                    let accepts_after = p.platform_agent.threshold(round, n_rounds, None);
                    let why = if r < from {
                        format!(
                            "without its deal, the deals agreed (worth {saved:.3} to it) are worth nothing, so it asks less here"
                        )
                    } else {
                        format!("the agreed deals its deal here would save are worth less now ({saved:.3})")
                    };
                    let bank = sc.banks[p.bank].name.clone();
                    p.reservation_moves.push(ReservationMove {
                        at_ms: now.as_millis(),
                        from,
                        to: r,
                        reason: format!("{cause}; {needs}: with {bank}, {why}"),
                        round,
                        accepts_before,
                        accepts_after,
                    });
                    moved.push(format!("with {bank} {from:.2} → {r:.2}"));
                }
                if !moved.is_empty() {
                    self.timeline.push(TimelineEntry {
                        at_ms: now.as_millis(),
                        kind: TimelineKind::Portfolio,
                        subject: name.clone(),
                        detail: format!("{cause}; {needs}: reservation value {}", moved.join(", ")),
                    });
                }
            }
        }
    }

    fn transcript_entry(
        &self,
        now: SimTime,
        pair: usize,
        round: u32,
        side: Side,
        decision: &Decision,
        standing: Option<OutcomeId>,
    ) -> TranscriptEntry {
        let p = &self.pairs[pair];
        let (action, outcome, clause, reason) = match decision {
            Decision::Offer(o) => (Action::Offer, Some(*o), None, None),
            Decision::Accept => (Action::Accept, standing, None, None),
            Decision::Withdraw(w) => (Action::Withdraw, None, Some(w.clause.clone()), Some(w.reason.clone())),
        };
        let pp = p.platform_agent.preferences();
        let bp = p.bank_agent.preferences();
        // Only a person does it: the agents never offer or accept what their own limits forbid.
        let breaks_own_limit =
            outcome.and_then(|o| p.agent(side).preferences().violated_clause(o)).map(|c| c.id.clone());
        TranscriptEntry {
            round,
            side,
            action,
            at_ms: now.as_millis(),
            outcome: outcome.map(|o| outcome_map(pp, o)),
            utility_platform: outcome.map(|o| pp.utility(o)),
            utility_bank: outcome.map(|o| bp.utility(o)),
            clause,
            reason,
            assessment: None,
            by_person: false,
            breaks_own_limit,
        }
    }

    fn report_assessment(
        &self,
        pair: usize,
        side: Side,
        a: &Assessment,
        standing: Option<OutcomeId>,
    ) -> OfferAssessment {
        let prefs = self.pairs[pair].agent(side).preferences();
        let space = prefs.space();
        let broken = a
            .broken
            .iter()
            .map(|strike| {
                let clause = &prefs.clauses()[strike.clause];
                let issue = &space.issues()[clause.issue];
                let option =
                    standing.map_or_else(String::new, |o| issue.options[space.option_of(o, clause.issue)].clone());
                BrokenClause {
                    clause: clause.id.clone(),
                    issue: issue.name.clone(),
                    option,
                    strikes: strike.strikes,
                    patience: clause.patience,
                }
            })
            .collect();
        OfferAssessment { utility: a.utility, threshold: a.threshold, broken }
    }

    fn record_end(&mut self, pair: usize, end: &End) {
        let label = self.pairs[pair].label(self.sc);
        let (kind, detail) = match end {
            End::Agreement { round, accepted_by, .. } => {
                (TimelineKind::Agreement, format!("accepted by the {} in round {round}", accepted_by.as_str()))
            }
            End::Withdrawal { by, withdrawal, round, .. } => (
                TimelineKind::Withdrawal,
                format!(
                    "the {} withdrew in round {round} over clause `{}`: {}",
                    by.as_str(),
                    withdrawal.clause,
                    withdrawal.reason
                ),
            ),
            End::Timeout { rounds, .. } => (TimelineKind::Timeout, format!("no agreement within {rounds} rounds")),
        };
        self.timeline.push(TimelineEntry { at_ms: end.at().as_millis(), kind, subject: label, detail });
    }

    fn bank_decision_time(&mut self, now: SimTime, pair: usize) -> SimTime {
        let sc = self.sc;
        let p = &mut self.pairs[pair];
        let bank = &sc.banks[p.bank];
        now + bank.decision_delay.as_ref().unwrap_or(&sc.decision_delay).sample(&mut p.rng)
    }

    fn apply_event(&mut self, now: SimTime, i: usize) {
        let sc = self.sc;
        let event = &sc.events[i];
        let (subject, detail) = match &event.kind {
            EventKind::PrivacyIncident { platform, trust_change } => {
                let before = self.trust[platform.index()];
                let after = (before + trust_change).clamp(0.0, 1.0);
                self.trust[platform.index()] = after;
                for pair in 0..self.pairs.len() {
                    let p = &self.pairs[pair];
                    let reacts = sc.banks[p.bank].on_privacy_incident != crate::scenario::IncidentReaction::Ignore;
                    if p.platform == *platform && reacts && (p.is_negotiating() || p.agreed_outcome().is_some()) {
                        let at = self.bank_decision_time(now, pair);
                        self.queue.schedule(at, Ev::Review { pair, after_incident: true });
                    }
                }
                (sc.platforms[*platform].name.clone(), format!("trust {before:.2} → {after:.2}"))
            }
            EventKind::Regulation { clause } => {
                for prefs in self.platform_prefs.iter_mut().chain(self.bank_prefs.iter_mut()) {
                    *prefs = Arc::new(prefs.with_clause(clause.clone()).expect("clause validated against the space"));
                }
                for pair in 0..self.pairs.len() {
                    let p = &mut self.pairs[pair];
                    // A platform's portfolio keeps the reservation value it set here.
                    let prefs = &self.platform_prefs[p.platform.index()];
                    p.platform_agent.replace_preferences(match p.portfolio_reservation {
                        Some(r) => Arc::new(prefs.with_reservation(r)),
                        None => prefs.clone(),
                    });
                    p.bank_agent.replace_preferences(self.bank_prefs[p.bank.index()].clone());
                    if p.agreed_outcome().is_some() {
                        let at = self.bank_decision_time(now, pair);
                        self.queue.schedule(at, Ev::Review { pair, after_incident: false });
                    }
                }
                ("all parties".into(), format!("clause `{}`: {}", clause.id, clause.reason))
            }
            EventKind::Outage { bank, duration } => {
                self.outages[bank.index()].push((now, now + *duration));
                (sc.banks[*bank].name.clone(), format!("unavailable for {}", format_duration(*duration)))
            }
            EventKind::LoadSpike { platform, duration, factor } => (
                sc.platforms[*platform].name.clone(),
                format!("request rates ×{factor} for {}", format_duration(*duration)),
            ),
        };
        let detail = if event.description.is_empty() { detail } else { format!("{detail} ({})", event.description) };
        self.timeline.push(TimelineEntry { at_ms: now.as_millis(), kind: (&event.kind).into(), subject, detail });
    }

    fn review(&mut self, now: SimTime, pair: usize, after_incident: bool) {
        let sc = self.sc;
        let p = &self.pairs[pair];
        let bank = &sc.banks[p.bank];
        let prefs = &self.bank_prefs[p.bank.index()];
        let trust = self.trust[p.platform.index()];
        let standing = if p.is_negotiating() {
            Standing::Negotiating(&p.bank_agent)
        } else if let Some(outcome) = p.agreed_outcome() {
            Standing::Agreed(outcome)
        } else {
            return;
        };
        let negotiating = matches!(standing, Standing::Negotiating(_));
        let verdict = match self.remote.as_deref_mut() {
            Some(remote) => remote.review(pair, &sc.platforms[p.platform].name, negotiating, after_incident, now),
            None if after_incident => review_after_incident(bank, standing, prefs, trust),
            None => review(standing, prefs, trust),
        };
        match verdict {
            Verdict::Continue => {}
            Verdict::Withdraw(w) => {
                let protocol = self.pairs[pair].protocol.as_mut().expect("negotiating");
                let round = protocol.round();
                let end = protocol.withdraw(now, Side::Bank, w.clone()).expect("negotiating");
                let entry = self.transcript_entry(now, pair, round, Side::Bank, &Decision::Withdraw(w), None);
                self.pairs[pair].transcript.push(entry);
                self.record_end(pair, &end);
                self.weigh_after(now, pair);
            }
            Verdict::Revoke(w) => {
                let label = self.pairs[pair].label(sc);
                self.timeline.push(TimelineEntry {
                    at_ms: now.as_millis(),
                    kind: TimelineKind::Revocation,
                    subject: label,
                    detail: format!("the bank revoked the agreement over clause `{}`: {}", w.clause, w.reason),
                });
                self.pairs[pair].revocation =
                    Some(Revocation { at_ms: now.as_millis(), clause: w.clause, reason: w.reason });
                self.weigh_after(now, pair);
            }
        }
    }

    /// Agreements still worth data, with the pair each came from.
    fn agreements(&self) -> (Vec<usize>, Vec<Agreement>) {
        let mut pairs = Vec::new();
        let mut agreements = Vec::new();
        for (i, p) in self.pairs.iter().enumerate() {
            if let Some(End::Agreement { outcome, round, at, .. }) = p.protocol.as_ref().and_then(Protocol::end) {
                pairs.push(i);
                agreements.push(Agreement {
                    platform: p.platform,
                    bank: p.bank,
                    outcome: *outcome,
                    round: *round,
                    terms: Terms::from_outcome(&self.sc.space, *outcome),
                    at: *at,
                    revoked_at: p.revocation.as_ref().map(|r| SimTime::from_nanos(r.at_ms * 1_000_000)),
                });
            }
        }
        (pairs, agreements)
    }

    fn into_part(mut self) -> (NegotiationPart, Vec<SidesPreferences>) {
        let sc = self.sc;
        let end_of_run = SimTime::from_duration(sc.duration);
        let mut negotiations = Vec::new();
        let mut preferences = Vec::new();
        for i in 0..self.pairs.len() {
            let p = &self.pairs[i];
            let (platform, bank) = (&sc.platforms[p.platform], &sc.banks[p.bank]);
            let protocol = p.protocol.as_ref().expect("every pair starts before the scenario ends");
            let since = |at: SimTime| at.since(protocol.started_at()).as_millis() as u64;
            let mut outcome = Outcome {
                kind: OutcomeKind::Unfinished,
                round: protocol.round(),
                at_ms: end_of_run.as_millis(),
                time_to_outcome_ms: since(end_of_run),
                by: None,
                clause: None,
                reason: None,
                terms: None,
                utility_platform: None,
                utility_bank: None,
                quality: None,
            };
            let space = OutcomeSpace::new(p.platform_agent.preferences(), p.bank_agent.preferences());
            preferences.push((p.platform_agent.preferences().clone(), p.bank_agent.preferences().clone()));
            match protocol.end() {
                None => {
                    self.timeline.push(TimelineEntry {
                        at_ms: end_of_run.as_millis(),
                        kind: TimelineKind::Unfinished,
                        subject: p.label(sc),
                        detail: format!("still negotiating in round {} when the scenario ended", protocol.round()),
                    });
                }
                Some(End::Agreement { outcome: o, round, accepted_by, at }) => {
                    outcome.kind = OutcomeKind::Agreement;
                    outcome.round = *round;
                    outcome.at_ms = at.as_millis();
                    outcome.time_to_outcome_ms = since(*at);
                    outcome.by = Some(*accepted_by);
                    outcome.terms = Some(outcome_map(&sc.platforms[p.platform].preferences, *o));
                    let agreed = Point {
                        platform: p.platform_agent.preferences().utility(*o),
                        bank: p.bank_agent.preferences().utility(*o),
                    };
                    outcome.utility_platform = Some(agreed.platform);
                    outcome.utility_bank = Some(agreed.bank);
                    outcome.quality = space.quality(agreed);
                }
                Some(End::Withdrawal { by, withdrawal, round, at }) => {
                    outcome.kind = OutcomeKind::Withdrawal;
                    outcome.round = *round;
                    outcome.at_ms = at.as_millis();
                    outcome.time_to_outcome_ms = since(*at);
                    outcome.by = Some(*by);
                    outcome.clause = Some(withdrawal.clause.clone());
                    outcome.reason = Some(withdrawal.reason.clone());
                }
                Some(End::Timeout { rounds, at }) => {
                    outcome.kind = OutcomeKind::Timeout;
                    outcome.round = rounds.saturating_sub(1);
                    outcome.at_ms = at.as_millis();
                    outcome.time_to_outcome_ms = since(*at);
                }
            }
            let seat = self.player.as_ref().map(|(seat, _)| *seat);
            let person = seat.filter(|seat| self.pairs[i].seat(seat.side()) == *seat).map(|seat| seat.side());
            negotiations.push(NegotiationReport {
                platform: platform.name.clone(),
                bank: bank.name.clone(),
                opened_by: protocol.first(),
                deadline_rounds: protocol.n_rounds(),
                started_at_ms: protocol.started_at().as_millis(),
                outcome,
                offers: protocol.offers(),
                transcript: std::mem::take(&mut self.pairs[i].transcript),
                revocation: self.pairs[i].revocation.clone(),
                outcome_space: Some((&space).into()),
                offers_among_ties: self.pairs[i].offers_among_ties,
                played_by_person: person,
                reservation_moves: std::mem::take(&mut self.pairs[i].reservation_moves),
            });
        }
        let space = &sc.space;
        let part = NegotiationPart {
            scenario: ScenarioInfo {
                name: sc.name.clone(),
                description: sc.description.clone(),
                seed: sc.seed,
                duration_ms: end_of_run.as_millis(),
            },
            issues: space
                .issues()
                .iter()
                .map(|i| IssueInfo { name: i.name.clone(), options: i.options.clone() })
                .collect(),
            platforms: sc
                .platforms
                .iter()
                .enumerate()
                .map(|(i, p)| PlatformInfo {
                    name: p.name.clone(),
                    initial_trust: p.trust,
                    final_trust: self.trust[i],
                    strategy: p.strategy.label(),
                    reservation: p.preferences.reservation(),
                    deadline_rounds: p.deadline_rounds,
                    ask: outcome_map(&p.preferences, p.ask),
                })
                .collect(),
            banks: sc
                .banks
                .iter()
                .map(|b| {
                    let prefs = &b.preferences;
                    BankInfo {
                        name: b.name.clone(),
                        strategy: b.strategy.label(),
                        reservation: prefs.reservation(),
                        deadline_rounds: b.deadline_rounds,
                        min_platform_trust: prefs.negotiation_trust_floor.as_ref().map(|f| f.min),
                        revoke_below_trust: prefs.agreement_trust_floor.as_ref().map(|f| f.min),
                        clauses: prefs
                            .clauses()
                            .iter()
                            .map(|c| {
                                let issue = &space.issues()[c.issue];
                                ClauseInfo {
                                    id: c.id.clone(),
                                    reason: c.reason.clone(),
                                    issue: issue.name.clone(),
                                    forbidden: issue
                                        .options
                                        .iter()
                                        .zip(&c.forbidden)
                                        .filter(|(_, f)| **f)
                                        .map(|(o, _)| o.clone())
                                        .collect(),
                                    patience: c.patience,
                                }
                            })
                            .collect(),
                    }
                })
                .collect(),
            negotiations,
            timeline: self.timeline,
        };
        (part, preferences)
    }
}
