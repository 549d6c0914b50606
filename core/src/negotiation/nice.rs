//! NegMAS's nice tit-for-tat (`NiceTitForTatNegotiator`: the `NiceTitForTatOfferingPolicy`
//! bidding strategy with the `ACCombi` acceptance condition), after Baarslag, Hindriks and
//! Jonker, "A Tit for Tat Negotiation Strategy for Real-Time Bilateral Negotiations" (2013).
//!
//! Each turn, in this side's utility normalised over its admissible outcomes (`na`, worst 0,
//! best 1; the reservation value normalised the same way, `r`):
//!
//! 1. **Opponent model** (NegMAS's `FrequencyLinearUFunModel`): the other side's utility of an
//!    outcome is the weighted mean over issues of how often it offered that option, over the
//!    count of its most offered option; an issue weighs `1 − H / ln(k)`, `H` the entropy of its
//!    offered options and `k` how many distinct ones it offered (1 when it offered one). Before
//!    any offer, every outcome is worth 0.5.
//! 2. **Nash estimate**: the Pareto frontier of `(na, model)` over the admissible outcomes, in
//!    NegMAS's order (welfare descending, equal welfare highest outcome id first, as its sort
//!    leaves small spaces); among its points with `na ≥ r`, the first of greatest
//!    `(na − d₁)(model − d₂)`, `d` each side's reservation or, below its frontier range, the
//!    range's low end (`nash_points` with the frontier's ranges); the whole frontier ties when a
//!    range is empty. `my_nash = clamp(p · max(0, 1.4 − 0.6 · gap), max(0.5, r), 1)`, `p` the
//!    point's `na` and `gap = 1 − first`, `first` the other side's first offer measured above
//!    the reservation value (`(na − r) / (1 − r)` when `r > 0`, NegMAS's `eval_normalized`; 1
//!    before it made one).
//! 3. **Reciprocity**: `factor = clamp((best − first) / (my_nash − first), 0, 1)` (0 when the
//!    denominator is ≤ 1e-9), `best` the best the other side has offered, measured as `first`
//!    is (NegMAS mixes the two scales, and so do we); target
//!    `1 − factor · (1 − my_nash)`, then lowered by `bonus · (target − my_nash)⁺` with `bonus =
//!    max(0.1, min(1, 20 · (t − 0.91)⁺))` (0.85 instead of 0.91 above 3,000 outcomes; 0.1 is
//!    `0.5 − 0.4 · δ` with no discounting, `δ = 1`), and kept within `[r, 1]`.
//! 4. **Offer**: among the frontier's points with `na ≥ target`, the one the model rates
//!    highest; but the other side's best admissible offer so far instead when it is worth at
//!    least as much to this side (`makeAppropriate`).
//! 5. **Accept** (`ACCombi`, a = 1, b = 0, t = 0.98): an offer worth at least the offer it would
//!    make next, or from relative time 0.98 on, any offer worth its reservation value.
//!
//! Where our model differs from NegMAS's, the choice: an offer breaking this side's hard limits
//! is worth 0 (`na`) to it and is never offered back by `makeAppropriate`; outcomes breaking
//! its limits are not in its frontier; the frontier is exact (every outcome, no sampling), and
//! equal welfare is ordered by outcome id on any space (NegMAS's sort keeps that order only on
//! small ones).

use super::preferences::Preferences;
use super::space::{IssueSpace, OutcomeId};
use super::strategy::relative_time;

/// The floor of the Nash estimate (NegMAS's `nash_min`).
pub const NASH_FLOOR: f64 = 0.5;
/// `my_nash = p · (1.4 − 0.6 · gap)` (`nash_multiplier_base`, `nash_multiplier_gap_weight`).
pub const NASH_MULTIPLIER_BASE: f64 = 1.4;
pub const NASH_MULTIPLIER_GAP_WEIGHT: f64 = 0.6;
/// The constant concession bonus: `discount_bonus_base − discount_bonus_weight · δ` with no
/// discounting (`0.5 − 0.4 · 1`).
pub const STEADY_BONUS: f64 = 0.5 - 0.4;
/// From this relative time the bonus ramps up at `BONUS_RAMP` per unit of time
/// (`bonus_start_time`, `bonus_start_time_big_domain` above `BIG_DOMAIN` outcomes).
pub const BONUS_START: f64 = 0.91;
pub const BONUS_START_BIG_DOMAIN: f64 = 0.85;
pub const BIG_DOMAIN: u32 = 3000;
pub const BONUS_RAMP: f64 = 20.0;
/// From this relative time any offer worth the reservation value is accepted (ACCombi's `t`).
pub const ACCEPT_ANY_FROM: f64 = 0.98;
/// The Nash estimate when there is none (NegMAS's `default_nash_utility`).
const DEFAULT_NASH: f64 = 0.7;
/// NegMAS's `eps` for ties among bargaining points.
const EPS: f64 = 1e-12;

/// What nice tit-for-tat remembers of the other side's offers.
#[derive(Clone, Debug, Default)]
pub struct NiceTitForTat {
    /// Per issue, how many offers of the other side picked each option.
    counts: Vec<Vec<u32>>,
    offers: u32,
    /// Its first offer and its best so far, measured above this side's reservation value.
    first: Option<f64>,
    best: Option<f64>,
    /// Its admissible offer best for this side (the earliest among equals), with its `na`.
    best_offer: Option<(f64, OutcomeId)>,
}

/// What nice tit-for-tat does in a round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Its target, normalised (`na`).
    pub target: f64,
    /// The offer it makes if it does not accept.
    pub offer: OutcomeId,
    /// The least utility (not normalised) it accepts.
    pub threshold: f64,
}

/// A side's utilities normalised over its admissible outcomes.
struct Normalised {
    low: f64,
    range: f64,
}

impl Normalised {
    fn of(prefs: &Preferences) -> Option<Normalised> {
        let (low, high) = (prefs.lowest_admissible_utility()?, prefs.max_utility()?);
        Some(Normalised { low, range: high - low })
    }

    fn at(&self, u: f64) -> f64 {
        if self.range > 0.0 { (u - self.low) / self.range } else { 1.0 }
    }
}

impl NiceTitForTat {
    /// Learns from an offer of the other side.
    pub fn observe(&mut self, prefs: &Preferences, offer: OutcomeId) {
        let space = prefs.space();
        if self.counts.is_empty() {
            self.counts = space.issues().iter().map(|i| vec![0; i.options.len()]).collect();
        }
        for (issue, counts) in self.counts.iter_mut().enumerate() {
            counts[space.option_of(offer, issue)] += 1;
        }
        self.offers += 1;
        let Some(norm) = Normalised::of(prefs) else { return };
        let admissible = prefs.violated_clause(offer).is_none();
        let na = if admissible { norm.at(prefs.utility(offer)) } else { 0.0 };
        // As NegMAS's `eval_normalized` (above the reserve): 0 at the reservation value.
        let above = above_reserve(na, norm.at(prefs.reservation()));
        self.first.get_or_insert(above);
        if self.best.is_none_or(|b| above > b) {
            self.best = Some(above);
        }
        if admissible && self.best_offer.is_none_or(|(b, _)| na > b) {
            self.best_offer = Some((na, offer));
        }
    }

    /// The issue weights of the frequency model, `1 − H / ln(k)`.
    fn weights(&self) -> Vec<f64> {
        (self.counts.iter())
            .map(|counts| {
                let total: u32 = counts.iter().sum();
                let seen = counts.iter().filter(|&&c| c > 0).count();
                let entropy: f64 = (counts.iter().filter(|&&c| c > 0))
                    .map(|&c| {
                        let p = f64::from(c) / f64::from(total);
                        -p * p.ln()
                    })
                    .sum();
                1.0 - if seen > 1 { entropy / (seen as f64).ln() } else { entropy }
            })
            .collect()
    }

    /// The other side's utility of `outcome` as the frequency model estimates it, in `[0, 1]`.
    pub fn opponent_utility(&self, space: &IssueSpace, outcome: OutcomeId) -> f64 {
        self.modelled(space, &self.weights(), outcome)
    }

    fn modelled(&self, space: &IssueSpace, weights: &[f64], outcome: OutcomeId) -> f64 {
        if self.offers == 0 {
            return 0.5;
        }
        let (mut weighted, mut plain, mut sum) = (0.0, 0.0, 0.0);
        for (issue, (counts, w)) in self.counts.iter().zip(weights).enumerate() {
            let most = counts.iter().copied().max().unwrap_or(0);
            let score =
                if most > 0 { f64::from(counts[space.option_of(outcome, issue)]) / f64::from(most) } else { 0.0 };
            weighted += score * w;
            plain += score;
            sum += w;
        }
        if sum > 0.0 { weighted / sum } else { plain / self.counts.len() as f64 }
    }

    /// The Pareto frontier of `(na, model)` over the admissible outcomes, in NegMAS's order
    /// (`pareto_frontier_numpy`): by welfare `na + model` descending, equal welfare highest
    /// outcome id first; equal points count once (the first in that order).
    fn frontier(&self, prefs: &Preferences, norm: &Normalised, weights: &[f64]) -> Vec<(f64, f64, OutcomeId)> {
        let space = prefs.space();
        let mut points: Vec<(f64, f64, OutcomeId)> =
            prefs.best_first().map(|(u, o)| (norm.at(u), self.modelled(space, weights, o), o)).collect();
        // Best for this side first, then for the other, then highest id: a point is on the
        // frontier when the other side rates it above every point before it (a sweep, n log n
        // on spaces of up to a million outcomes); of equal points the highest id stays.
        points.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)).then(b.2.cmp(&a.2)));
        let mut frontier: Vec<(f64, f64, OutcomeId)> = Vec::new();
        for p in points {
            if frontier.last().is_none_or(|q| p.1 > q.1) {
                frontier.push(p);
            }
        }
        frontier.sort_by(|a, b| (b.0 + b.1).total_cmp(&(a.0 + a.1)).then(b.2.cmp(&a.2)));
        frontier
    }

    /// This side's `na` at the estimated Nash point of `frontier` (NegMAS's `nash_points` over
    /// the points worth each side's reservation value, with their ranges).
    fn nash_estimate(frontier: &[(f64, f64, OutcomeId)], reserved: f64) -> Option<f64> {
        // The model's reservation value is 0, which every point reaches.
        let rational: Vec<(f64, f64)> = frontier.iter().filter(|p| p.0 >= reserved).map(|p| (p.0, p.1)).collect();
        let range = |f: fn(&(f64, f64)) -> f64| {
            rational.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
        };
        let (mine, theirs) = (range(|p| p.0), range(|p| p.1));
        let first = rational.first()?;
        if mine.1 - mine.0 <= EPS || theirs.1 - theirs.0 <= EPS {
            return Some(first.0);
        }
        // A reservation value below a range counts as the range's low end; the model's, 0,
        // never lies above its range.
        let d = (if reserved >= mine.0 { reserved } else { mine.0 }, theirs.0);
        let product = |p: &(f64, f64)| (p.0 - d.0) * (p.1 - d.1);
        let top = rational.iter().map(product).fold(f64::NEG_INFINITY, f64::max);
        rational.iter().find(|p| product(p) >= top - EPS).map(|p| p.0)
    }

    /// What it does in `round` of `n_rounds`, after the offers it has observed; `None` when no
    /// outcome breaks none of its clauses.
    pub fn plan(&self, prefs: &Preferences, round: u32, n_rounds: u32) -> Option<Plan> {
        let norm = Normalised::of(prefs)?;
        let t = relative_time(round, n_rounds);
        let reserved = norm.at(prefs.reservation());
        let frontier = self.frontier(prefs, &norm, &self.weights());
        let p = Self::nash_estimate(&frontier, reserved).unwrap_or(DEFAULT_NASH);
        let first = self.first.unwrap_or(1.0);
        let best = self.best.unwrap_or(first);
        let multiplier = (NASH_MULTIPLIER_BASE - NASH_MULTIPLIER_GAP_WEIGHT * (1.0 - first)).max(0.0);
        let my_nash = (p * multiplier).max(NASH_FLOOR).max(reserved).min(1.0);
        let denominator = my_nash - first;
        let factor = if denominator > 1e-9 { ((best - first) / denominator).clamp(0.0, 1.0) } else { 0.0 };
        let mut target = 1.0 - factor * (1.0 - my_nash);
        target -= bonus(t, prefs.space().len()) * (target - my_nash).max(0.0);
        let target = target.max(reserved).min(1.0);
        // The frontier point best for the other side among those reaching the target (one per
        // value of the model: a second would be dominated).
        let planned =
            (frontier.iter().filter(|p| p.0 >= target)).fold(None, |best: Option<&(f64, f64, OutcomeId)>, p| {
                if best.is_none_or(|b| p.1 > b.1) { Some(p) } else { best }
            })?;
        // Still within its limits: a regulation may have added one since that offer.
        let offer = match self.best_offer {
            Some((na, theirs)) if na >= planned.0 && prefs.violated_clause(theirs).is_none() => theirs,
            _ => planned.2,
        };
        let next = prefs.utility(offer);
        let threshold = if t >= ACCEPT_ANY_FROM { next.min(prefs.reservation()) } else { next };
        Some(Plan { target, offer, threshold })
    }
}

/// `na` rescaled so that the reservation value `reserved` (normalised) reads 0 and the best 1,
/// when the reservation lies above the worst (NegMAS's `eval_normalized(above_reserve=True)`;
/// 1 when the reservation leaves no range).
fn above_reserve(na: f64, reserved: f64) -> f64 {
    let low = reserved.max(0.0);
    if 1.0 - low < 1e-5 { 1.0 } else { (na - low) / (1.0 - low) }
}

/// The concession bonus at relative time `t` in a space of `outcomes` outcomes.
pub fn bonus(t: f64, outcomes: u32) -> f64 {
    let start = if outcomes > BIG_DOMAIN { BONUS_START_BIG_DOMAIN } else { BONUS_START };
    let ramp = if t > start { (BONUS_RAMP * (t - start)).min(1.0) } else { 0.0 };
    STEADY_BONUS.max(ramp).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::{Clause, Issue, LinearUtility};

    /// One issue of five options worth 1, 0.75, 0.5, 0.25 and 0 to this side (exact in binary,
    /// so `na` is the utility itself).
    fn falling(reservation: f64, clauses: Vec<Clause>) -> Preferences {
        let space = IssueSpace::new(vec![Issue::new("scope", &["s0", "s1", "s2", "s3", "s4"])]).unwrap();
        let utility = LinearUtility::new(&space, vec![1.0], vec![vec![1.0, 0.75, 0.5, 0.25, 0.0]]).unwrap();
        Preferences::new(space, utility, clauses, reservation).unwrap()
    }

    fn o(j: u32) -> OutcomeId {
        OutcomeId(j)
    }

    fn seen(prefs: &Preferences, offers: &[u32]) -> NiceTitForTat {
        let mut nice = NiceTitForTat::default();
        for &j in offers {
            nice.observe(prefs, o(j));
        }
        nice
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn before_any_offer_it_rates_every_outcome_one_half_and_offers_its_best() {
        let prefs = falling(0.0, vec![]);
        let nice = NiceTitForTat::default();
        assert!(close(nice.opponent_utility(prefs.space(), o(3)), 0.5));
        // Flat model: the frontier is the best outcome alone, p = 1, my_nash = min(1, 1.4) = 1,
        // no concession, target 1.
        let plan = nice.plan(&prefs, 0, 10).unwrap();
        assert!(close(plan.target, 1.0));
        assert_eq!(plan.offer, o(0));
        assert!(close(plan.threshold, 1.0));
    }

    #[test]
    fn the_frequency_model_weighs_issues_by_how_concentrated_the_offers_were() {
        // Two issues; offers (a1, b1) and (a0, b1): issue a's offers split evenly (entropy
        // ln 2 over ln 2: weight 0), issue b's all alike (weight 1).
        let space = IssueSpace::new(vec![Issue::new("a", &["a0", "a1"]), Issue::new("b", &["b0", "b1"])]).unwrap();
        let utility = LinearUtility::new(&space, vec![0.6, 0.4], vec![vec![1.0, 0.0], vec![1.0, 0.0]]).unwrap();
        let prefs = Preferences::new(space.clone(), utility, vec![], 0.0).unwrap();
        let mut nice = NiceTitForTat::default();
        nice.observe(&prefs, space.outcome(&[1, 1]).unwrap());
        // One offer: both issues weigh 1; (a0, b1) matches it on one issue of two.
        assert!(close(nice.opponent_utility(&space, space.outcome(&[0, 1]).unwrap()), 0.5));
        nice.observe(&prefs, space.outcome(&[0, 1]).unwrap());
        let w = nice.weights();
        assert!(close(w[0], 0.0) && close(w[1], 1.0));
        assert!(close(nice.opponent_utility(&space, space.outcome(&[0, 1]).unwrap()), 1.0));
        assert!(close(nice.opponent_utility(&space, space.outcome(&[1, 0]).unwrap()), 0.0));
    }

    #[test]
    fn it_lowers_its_target_by_the_steady_bonus_before_the_other_side_concedes() {
        let prefs = falling(0.0, vec![]);
        // The other side offered s4, worth 0 here: the model rates s4 1, the rest 0. Frontier
        // (0, 1) and (1, 0), equal welfare, highest id first; from its low ends d = (0, 0) both
        // products are 0: the first point, p = 0. my_nash = max(0.5, 0 · 0.8) = 0.5; no
        // concession seen: target 1, less 0.1 · (1 − 0.5) = 0.95: only s0 reaches it.
        let nice = seen(&prefs, &[4]);
        let plan = nice.plan(&prefs, 0, 10).unwrap();
        assert!(close(plan.target, 0.95), "{plan:?}");
        assert_eq!(plan.offer, o(0));
    }

    #[test]
    fn it_reciprocates_a_concession_and_offers_back_the_other_sides_best_offer_when_that_beats_its_plan() {
        let prefs = falling(0.0, vec![]);
        // Offers s4, s1, s2, s2, s4, s4: counts s4 3, s2 2, s1 1, so the model rates s4 1, s2 2/3,
        // s1 1/3. Frontier (1, 0) s0, (0.75, 1/3) s1, (0.5, 2/3) s2, (0, 1) s4; products over
        // d = (0, 0): 0, 0.25, 1/3, 0: p = 0.5. first = 0, gap 1: my_nash = max(0.5, 0.4) = 0.5.
        // best = 0.75: factor = min(1, 0.75 / 0.5) = 1, target = 0.5. Within it the model
        // prefers s2; but s1, offered by the other side, is worth 0.75 >= 0.5 here: offer s1,
        // accept what is worth 0.75.
        let nice = seen(&prefs, &[4, 1, 2, 2, 4, 4]);
        assert!(close(nice.opponent_utility(prefs.space(), o(2)), 2.0 / 3.0));
        let plan = nice.plan(&prefs, 2, 10).unwrap();
        assert!(close(plan.target, 0.5), "{plan:?}");
        assert_eq!(plan.offer, o(1));
        assert!(close(plan.threshold, 0.75));
    }

    #[test]
    fn near_the_deadline_the_bonus_ramps_and_any_offer_worth_the_reservation_is_accepted() {
        // t = 20/21: 20 · (20/21 − 0.91) = 0.847619…; above 3,000 outcomes it starts at 0.85.
        assert!(close(bonus(20.0 / 21.0, 5), 20.0 * (20.0 / 21.0 - 0.91)));
        assert!(close(bonus(0.5, 5), 0.1));
        assert!(close(bonus(0.9, 5000), 1.0));
        let prefs = falling(0.3, vec![]);
        let nice = seen(&prefs, &[4]);
        // Round 48 of 49: t = 49/50 = 0.98, ACtime.
        let plan = nice.plan(&prefs, 48, 49).unwrap();
        assert!(close(plan.threshold, 0.3));
        assert!(nice.plan(&prefs, 47, 49).unwrap().threshold > 0.3);
    }

    #[test]
    fn an_offer_that_a_limit_added_later_forbids_is_not_offered_back() {
        let prefs = falling(0.0, vec![]);
        // As in the reciprocity test, it would offer back s1; a regulation then forbids s1.
        let nice = seen(&prefs, &[4, 1, 2, 2, 4, 4]);
        let forbid_s1 = Clause {
            id: "no_s1".into(),
            reason: "regulation".into(),
            issue: 0,
            forbidden: vec![false, true, false, false, false],
            patience: 3,
        };
        let regulated = prefs.with_clause(forbid_s1).unwrap();
        assert_ne!(nice.plan(&regulated, 2, 10).unwrap().offer, o(1));
    }

    #[test]
    fn an_offer_breaking_its_limits_is_worth_nothing_to_it_and_never_offered_back() {
        let forbid_s0 = Clause {
            id: "no_s0".into(),
            reason: "never s0".into(),
            issue: 0,
            forbidden: vec![true, false, false, false, false],
            patience: 3,
        };
        // Admissible s1..s4, worth 0.75..0 here: `na` is u / 0.75.
        let prefs = falling(0.0, vec![forbid_s0]);
        let nice = seen(&prefs, &[0]);
        assert_eq!(nice.first, Some(0.0));
        assert_eq!(nice.best_offer, None);
        assert_eq!(nice.plan(&prefs, 0, 10).unwrap().offer, o(1));
    }

    /// Plays `script` (the other side's offers, one a round, as letters per issue) against nice
    /// tit-for-tat answering each one; its offers and the offer it accepted.
    fn against_script(prefs: Preferences, script: &[&str], n: u32) -> (Vec<String>, Option<String>) {
        use crate::negotiation::{Decision, Negotiator, Situation, Strategy};
        let space = prefs.space().clone();
        let name = |o: OutcomeId| space.describe(o).into_iter().map(|(_, option)| option).collect::<String>();
        let parse = |s: &str| {
            let choice: Vec<usize> = (s.as_bytes().chunks(2)).map(|c| usize::from(c[1] - b'0')).collect();
            space.outcome(&choice).unwrap()
        };
        let mut me = Negotiator::new(std::sync::Arc::new(prefs), Strategy::NiceTitForTat);
        let mut mine = Vec::new();
        for round in 0..n {
            let theirs = parse(script[(round as usize).min(script.len() - 1)]);
            let s = Situation { round, n_rounds: n, standing: Some(theirs), counterparty_trust: 1.0 };
            match me.respond(&s) {
                Decision::Accept => return (mine, Some(name(theirs))),
                Decision::Offer(o) => mine.push(name(o)),
                Decision::Withdraw(w) => panic!("withdrew over {}", w.clause),
            }
        }
        (mine, None)
    }

    #[test]
    fn it_plays_offer_for_offer_as_negmas_against_scripted_offers() {
        // Expected: NegMAS 0.16.0's NiceTitForTatNegotiator, second in an SAOMechanism of n steps
        // with the same utility function, against a negotiator offering the script and
        // rejecting everything (`crosscheck/negmas_nice_tit_for_tat.py` prints them).
        let repeat = |head: &[&'static str], tail: &'static str, n: usize| {
            let mut v = head.to_vec();
            v.resize(n, tail);
            v
        };
        let s0 = |k: usize| vec!["s0".to_string(); k];
        assert_eq!(against_script(falling(0.0, vec![]), &["s4"], 20), (s0(20), None));
        let conceding = repeat(&["s4", "s3", "s4", "s3", "s3", "s2"], "s3", 20);
        assert_eq!(against_script(falling(0.0, vec![]), &conceding, 20), (s0(5), Some("s2".into())));
        assert_eq!(against_script(falling(0.3, vec![]), &["s4"], 50), (s0(50), None));
        let two = |reservation| {
            let space =
                IssueSpace::new(vec![Issue::new("a", &["a0", "a1", "a2"]), Issue::new("b", &["b0", "b1", "b2"])])
                    .unwrap();
            let values = vec![vec![1.0, 0.5, 0.0], vec![0.0, 0.25, 1.0]];
            let utility = LinearUtility::new(&space, vec![0.75, 0.25], values).unwrap();
            Preferences::new(space, utility, vec![], reservation).unwrap()
        };
        let wandering = repeat(&["a2b0", "a2b1", "a1b0", "a2b0", "a1b1", "a2b2"], "a2b0", 20);
        let mut expected: Vec<String> = ["a0b2", "a0b2"].map(String::from).to_vec();
        expected.resize(20, "a0b0".into());
        assert_eq!(against_script(two(0.0), &wandering, 20), (expected, None));
        // Above a reservation value of 0.3 the other side's concession from s3 (0.25, below it)
        // to s2 (0.5) is small: no agreement.
        let late = repeat(&["s3"; 10], "s2", 20);
        assert_eq!(against_script(falling(0.3, vec![]), &late, 20), (s0(20), None));
        let giving_in = repeat(&["a2b0", "a2b0", "a2b0", "a1b0", "a1b0", "a1b0"], "a0b0", 20);
        let expected = ["a0b2", "a0b2", "a0b2", "a0b0", "a0b0", "a0b0"].map(String::from).to_vec();
        assert_eq!(against_script(two(0.2), &giving_in, 20), (expected, Some("a0b0".into())));
    }
}
