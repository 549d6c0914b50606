//! How good a deal was: the outcome space of one negotiation seen in the utility plane
//! (platform utility, bank utility), its Pareto frontier and bargaining solutions, and an
//! agreement's distance from them, with the definitions NegMAS uses (`negmas.preferences.ops`:
//! `pareto_frontier`, `nash_points`, `kalai_points`, `ks_points`, `estimate_max_dist`,
//! `calc_outcome_optimality`), so a student's figures compare with the field's tools.
//!
//! - The frontier holds the non-dominated points among the outcomes that break neither side's
//!   clauses and give each side at least its reservation value; equal points count once.
//! - The disagreement point `d` is each side's reservation value (its lowest utility over the
//!   whole space if the reservation is below it); `M` is each side's highest utility over the
//!   whole space.
//! - Nash: the frontier points of greatest product of gains `Π (u_i − d_i)`.
//! - Kalai (NegMAS's `kalai`, the egalitarian solution): greatest smallest gain `min (u_i − d_i)`.
//! - Kalai–Smorodinsky (NegMAS's `ks`): the most nearly equal normalised gains, least
//!   `max a_i − min a_i` with `a_i = (u_i − d_i) / (M_i − d_i)`.
//! - Maximum welfare: the greatest sum of utilities on the frontier.
//! - An agreement's optimality against a solution: `max(0, 1 − distance / D)`, the Euclidean
//!   distance to the nearest of the solution's points over `D`, the diagonal of the utility box
//!   of the whole space; its welfare optimality: its welfare over the maximum welfare.
//!
//! Ties within `EPS` are all kept, as NegMAS keeps them. Pure: utilities in, figures out.

use super::{OutcomeId, Preferences};
use serde::{Deserialize, Serialize};

/// Utilities within this of the best are ties (NegMAS's default `eps`).
pub const EPS: f64 = 1e-12;

/// Cells per unit of utility of the outcome-space picture (`OutcomeSpace::plane`): 0.02 wide,
/// fine enough to show the shape of the space, coarse enough to keep reports small.
pub const PLANE_CELLS: usize = 50;

/// The outcome-space picture's characters: no outcome, only outcomes not both may agree to, an
/// outcome both may agree to.
pub const PLANE_EMPTY: char = '.';
pub const PLANE_OUTCOME: char = '+';
pub const PLANE_AGREEABLE: char = '#';

/// A point of the utility plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub platform: f64,
    pub bank: f64,
}

impl Point {
    fn distance(self, other: Point) -> f64 {
        (self.platform - other.platform).hypot(self.bank - other.bank)
    }

    fn welfare(self) -> f64 {
        self.platform + self.bank
    }

    fn gains(self, d: Point) -> (f64, f64) {
        (self.platform - d.platform, self.bank - d.bank)
    }
}

/// One negotiation's outcome space in the utility plane.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeSpace {
    /// Outcomes in the space, and those both sides may agree to (no clause broken, each at or
    /// above its reservation value).
    pub outcomes: u32,
    pub agreeable: u32,
    /// The Pareto frontier, by platform utility ascending, with one outcome giving each point.
    pub frontier: Vec<(Point, OutcomeId)>,
    /// The disagreement point and each side's best over the whole space.
    pub disagreement: Point,
    pub ideal: Point,
    /// Each side's worst over the whole space.
    pub worst: Point,
    pub nash: Vec<Point>,
    pub kalai: Vec<Point>,
    pub kalai_smorodinsky: Vec<Point>,
    pub max_welfare: f64,
    /// Every outcome in the utility plane, as a picture: `PLANE_CELLS + 1` rows of as many
    /// characters, row 0 at bank utility 1 down to row `PLANE_CELLS` at 0, column `j` at
    /// platform utility `j / PLANE_CELLS` (each utility rounded to the nearest cell);
    /// `PLANE_AGREEABLE` where some outcome there is agreeable, else `PLANE_OUTCOME` where
    /// there is one, else `PLANE_EMPTY`.
    pub plane: Vec<String>,
}

/// An agreement measured against its outcome space (in `report.json` under each agreement's
/// `outcome.quality`, these key names).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementQuality {
    pub pareto_optimality: f64,
    pub nash_optimality: f64,
    pub kalai_optimality: f64,
    pub ks_optimality: f64,
    pub max_welfare_optimality: f64,
    /// Each side's utility above its reservation value.
    pub advantage_platform: f64,
    pub advantage_bank: f64,
}

impl OutcomeSpace {
    /// The outcome space of a negotiation between `platform` and `bank` (same issues).
    pub fn new(platform: &Preferences, bank: &Preferences) -> OutcomeSpace {
        let space = platform.space();
        let point = |o: OutcomeId| Point { platform: platform.utility(o), bank: bank.utility(o) };
        let (mut worst, mut ideal) = (
            Point { platform: f64::INFINITY, bank: f64::INFINITY },
            Point { platform: f64::NEG_INFINITY, bank: f64::NEG_INFINITY },
        );
        let mut rational: Vec<(Point, OutcomeId)> = Vec::new();
        let side = PLANE_CELLS + 1;
        let mut plane = vec![PLANE_EMPTY; side * side];
        let cell = |u: f64| (u.clamp(0.0, 1.0) * PLANE_CELLS as f64).round() as usize;
        for o in space.outcomes() {
            let p = point(o);
            worst = Point { platform: worst.platform.min(p.platform), bank: worst.bank.min(p.bank) };
            ideal = Point { platform: ideal.platform.max(p.platform), bank: ideal.bank.max(p.bank) };
            let agreeable = agreeable(platform, bank, o, p);
            if agreeable {
                rational.push((p, o));
            }
            let at = &mut plane[(PLANE_CELLS - cell(p.bank)) * side + cell(p.platform)];
            if agreeable {
                *at = PLANE_AGREEABLE;
            } else if *at == PLANE_EMPTY {
                *at = PLANE_OUTCOME;
            }
        }
        // The disagreement point: the reservation value, unless it lies below the whole space.
        let floor = |r: f64, lowest: f64| if r.is_finite() && r >= lowest { r } else { lowest };
        let disagreement = Point {
            platform: floor(platform.reservation(), worst.platform),
            bank: floor(bank.reservation(), worst.bank),
        };
        let frontier = frontier(&rational);
        let points: Vec<Point> = frontier.iter().map(|(p, _)| *p).collect();
        let degenerate = ideal.platform - disagreement.platform <= EPS || ideal.bank - disagreement.bank <= EPS;
        let best = |score: &dyn Fn(Point) -> f64| -> Vec<Point> {
            if degenerate {
                return points.clone();
            }
            let top = points.iter().map(|&p| score(p)).fold(f64::NEG_INFINITY, f64::max);
            points.iter().copied().filter(|&p| score(p) >= top - EPS).collect()
        };
        let nash = best(&|p| {
            let (a, b) = p.gains(disagreement);
            a * b
        });
        let kalai = best(&|p| {
            let (a, b) = p.gains(disagreement);
            a.min(b)
        });
        let kalai_smorodinsky = best(&|p| {
            let normalised = |gain: f64, range: f64| if range != 0.0 { gain / range } else { gain };
            let (a, b) = p.gains(disagreement);
            let (a, b) =
                (normalised(a, ideal.platform - disagreement.platform), normalised(b, ideal.bank - disagreement.bank));
            -(a.max(b) - a.min(b))
        });
        OutcomeSpace {
            outcomes: space.len(),
            agreeable: rational.len() as u32,
            max_welfare: points.iter().map(|p| p.welfare()).fold(f64::NEG_INFINITY, f64::max),
            frontier,
            disagreement,
            ideal,
            worst,
            nash,
            kalai,
            kalai_smorodinsky,
            plane: plane.chunks(side).map(|row| row.iter().collect()).collect(),
        }
    }

    /// How good `agreement` (its utilities) is; `None` when no outcome is agreeable to both or
    /// the space has a single utility point (nothing to measure against).
    pub fn quality(&self, agreement: Point) -> Option<AgreementQuality> {
        let diagonal = self.worst.distance(self.ideal);
        if self.frontier.is_empty() || diagonal < EPS {
            return None;
        }
        let optimality = |points: &[Point]| -> f64 {
            let nearest = points.iter().map(|p| agreement.distance(*p)).fold(f64::INFINITY, f64::min);
            (1.0 - nearest / diagonal).max(0.0)
        };
        let frontier: Vec<Point> = self.frontier.iter().map(|(p, _)| *p).collect();
        let welfare =
            if self.max_welfare.abs() < EPS { 0.0 } else { (agreement.welfare() / self.max_welfare).max(0.0) };
        let (advantage_platform, advantage_bank) = agreement.gains(self.disagreement);
        Some(AgreementQuality {
            pareto_optimality: optimality(&frontier),
            nash_optimality: optimality(&self.nash),
            kalai_optimality: optimality(&self.kalai),
            ks_optimality: optimality(&self.kalai_smorodinsky),
            max_welfare_optimality: welfare,
            advantage_platform,
            advantage_bank,
        })
    }
}

/// Whether outcome `o` breaks neither side's clauses.
fn admissible(platform: &Preferences, bank: &Preferences, o: OutcomeId) -> bool {
    platform.violated_clause(o).is_none() && bank.violated_clause(o).is_none()
}

/// Whether both sides may agree to outcome `o` (at `p` in the plane): it is admissible and gives
/// each side at least its reservation value.
fn agreeable(platform: &Preferences, bank: &Preferences, o: OutcomeId, p: Point) -> bool {
    admissible(platform, bank, o) && p.platform >= platform.reservation() && p.bank >= bank.reservation()
}

/// One negotiation's two utility functions written out outcome by outcome (`sim run
/// --export-ufuns`), so that another tool (NegMAS: `crosscheck/negmas_compare.py`) can compute
/// the frontier and the bargaining solutions from the very utilities these figures come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UfunExport {
    pub platform: String,
    pub bank: String,
    /// Each side's reservation value, `[platform, bank]`.
    pub reservation: [f64; 2],
    /// By outcome id: `[platform utility, bank utility, admissible]`, admissible when it breaks
    /// neither side's clauses (clauses are this testbed's; reservation values are not applied
    /// here, so that the other tool's own rationality filter does that part).
    pub outcomes: Vec<(f64, f64, bool)>,
}

impl UfunExport {
    pub fn new(names: (&str, &str), platform: &Preferences, bank: &Preferences) -> UfunExport {
        let outcomes = (platform.space().outcomes())
            .map(|o| (platform.utility(o), bank.utility(o), admissible(platform, bank, o)))
            .collect();
        UfunExport {
            platform: names.0.into(),
            bank: names.1.into(),
            reservation: [platform.reservation(), bank.reservation()],
            outcomes,
        }
    }
}

/// The non-dominated points of `points` (a point is dropped when another is at least as good
/// for both sides), equal points once, by platform utility ascending; each with the lowest
/// outcome id that gives it.
fn frontier(points: &[(Point, OutcomeId)]) -> Vec<(Point, OutcomeId)> {
    let mut sorted = points.to_vec();
    // Best for the platform first; among equals, best for the bank, then the lowest id.
    sorted
        .sort_by(|(a, ao), (b, bo)| b.platform.total_cmp(&a.platform).then(b.bank.total_cmp(&a.bank)).then(ao.cmp(bo)));
    let mut out: Vec<(Point, OutcomeId)> = Vec::new();
    for (p, o) in sorted {
        // Kept only if strictly better for the bank than every point better for the platform.
        if out.last().is_none_or(|(last, _)| p.bank > last.bank) {
            out.push((p, o));
        }
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::{Clause, Issue, IssueSpace, LinearUtility};

    /// One issue of `n` options; the platform's and the bank's value of each option, and their
    /// reservation values.
    fn sides(platform: &[f64], bank: &[f64], reservations: (f64, f64)) -> (Preferences, Preferences) {
        let names: Vec<String> = (0..platform.len()).map(|i| format!("o{i}")).collect();
        let options: Vec<&str> = names.iter().map(String::as_str).collect();
        let space = IssueSpace::new(vec![Issue::new("x", &options)]).unwrap();
        let prefs = |values: &[f64], r: f64| {
            let utility = LinearUtility::new(&space, vec![1.0], vec![values.to_vec()]).unwrap();
            Preferences::new(space.clone(), utility, Vec::new(), r).unwrap()
        };
        (prefs(platform, reservations.0), prefs(bank, reservations.1))
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn pt(platform: f64, bank: f64) -> Point {
        Point { platform, bank }
    }

    #[test]
    fn the_frontier_drops_dominated_and_unacceptable_outcomes_and_counts_equal_points_once() {
        // Outcomes (platform, bank): (1, 0) (0.8, 0.5) (0.8, 0.5) (0.5, 0.4) (0.2, 0.9) (0, 1).
        let (p, b) = sides(&[1.0, 0.8, 0.8, 0.5, 0.2, 0.0], &[0.0, 0.5, 0.5, 0.4, 0.9, 1.0], (0.1, 0.1));
        let space = OutcomeSpace::new(&p, &b);
        // (1, 0) and (0, 1) are below a reservation; (0.5, 0.4) is dominated by (0.8, 0.5).
        let points: Vec<Point> = space.frontier.iter().map(|(p, _)| *p).collect();
        assert_eq!(points, vec![pt(0.2, 0.9), pt(0.8, 0.5)]);
        assert_eq!(space.frontier[1].1, OutcomeId(1), "the lowest outcome id of equal points");
        assert_eq!((space.outcomes, space.agreeable), (6, 4));
        // The picture: (0, 1) and (1, 0) are outcomes only, the rest agreeable, each in its cell.
        let at = |platform: f64, bank: f64| {
            let (row, column) = ((50.0 - bank * 50.0).round() as usize, (platform * 50.0).round() as usize);
            space.plane[row].chars().nth(column).unwrap()
        };
        assert_eq!(space.plane.len(), 51);
        assert!(space.plane.iter().all(|row| row.chars().count() == 51));
        assert_eq!((at(0.0, 1.0), at(1.0, 0.0)), (PLANE_OUTCOME, PLANE_OUTCOME));
        for (p, b) in [(0.2, 0.9), (0.5, 0.4), (0.8, 0.5)] {
            assert_eq!(at(p, b), PLANE_AGREEABLE, "({p}, {b})");
        }
        let marked: usize = space.plane.iter().map(|r| r.chars().filter(|&c| c != PLANE_EMPTY).count()).sum();
        assert_eq!(marked, 5, "the two outcomes at (0.8, 0.5) share a cell");
    }

    #[test]
    fn nash_kalai_and_kalai_smorodinsky_points_match_hand_computed_values() {
        // Reservations 0.1 / 0.1; the space spans 0..1 for both, so d = (0.1, 0.1), M = (1, 1).
        // Frontier: (0.9, 0.2) (0.6, 0.6) (0.35, 0.8).
        // Products of gains: 0.8·0.1 = 0.08, 0.5·0.5 = 0.25, 0.25·0.7 = 0.175: Nash (0.6, 0.6).
        // Smallest gains: 0.1, 0.5, 0.25: Kalai (0.6, 0.6).
        // Normalised gains (÷0.9): spreads 0.7/0.9, 0, 0.45/0.9: KS (0.6, 0.6).
        let (p, b) = sides(&[1.0, 0.9, 0.6, 0.35, 0.0], &[0.0, 0.2, 0.6, 0.8, 1.0], (0.1, 0.1));
        let space = OutcomeSpace::new(&p, &b);
        assert_eq!(space.nash, vec![pt(0.6, 0.6)]);
        assert_eq!(space.kalai, vec![pt(0.6, 0.6)]);
        assert_eq!(space.kalai_smorodinsky, vec![pt(0.6, 0.6)]);
        close(space.max_welfare, 1.2);
        // An agreement at (0.9, 0.2): on the frontier; 0.5 from Nash over the diagonal √2.
        let q = space.quality(pt(0.9, 0.2)).expect("an agreeable outcome exists");
        close(q.pareto_optimality, 1.0);
        close(q.nash_optimality, 1.0 - (0.3f64.hypot(0.4)) / 2f64.sqrt());
        close(q.max_welfare_optimality, 1.1 / 1.2);
        close(q.advantage_platform, 0.8);
        close(q.advantage_bank, 0.1);
        // At the Nash point every optimality is 1.
        let best = space.quality(pt(0.6, 0.6)).unwrap();
        for v in [best.pareto_optimality, best.nash_optimality, best.kalai_optimality, best.ks_optimality] {
            close(v, 1.0);
        }
    }

    #[test]
    fn kalai_smorodinsky_differs_from_nash_when_the_sides_ranges_differ() {
        // The bank's utility spans only 0..0.5, the platform's 0..1; reservations 0.
        // Frontier (1, 0) (0.7, 0.3) (0.4, 0.45) (0, 0.5).
        // Nash: products 0, 0.21, 0.18, 0: (0.7, 0.3).
        // KS: normalised gains (1, 0) (0.7, 0.6) (0.4, 0.9) (0, 1): spreads 1, 0.1, 0.5, 1: (0.7, 0.3).
        // Kalai (smallest raw gain): 0, 0.3, 0.4, 0: (0.4, 0.45).
        let (p, b) = sides(&[1.0, 0.7, 0.4, 0.0], &[0.0, 0.3, 0.45, 0.5], (0.0, 0.0));
        let space = OutcomeSpace::new(&p, &b);
        assert_eq!(space.nash, vec![pt(0.7, 0.3)]);
        assert_eq!(space.kalai_smorodinsky, vec![pt(0.7, 0.3)]);
        assert_eq!(space.kalai, vec![pt(0.4, 0.45)]);
        assert_eq!((space.disagreement, space.ideal), (pt(0.0, 0.0), pt(1.0, 0.5)));
    }

    #[test]
    fn the_disagreement_point_is_the_lowest_utility_when_the_reservation_lies_below_it() {
        // The platform's 0.7 lies within its 0.5..1; the bank's 0 below its 0.1..0.6.
        let (p, b) = sides(&[1.0, 0.5], &[0.1, 0.6], (0.7, 0.0));
        assert_eq!(OutcomeSpace::new(&p, &b).disagreement, pt(0.7, 0.1));
    }

    #[test]
    fn ties_are_all_kept_and_an_outcome_a_clause_forbids_is_not_agreeable() {
        // Two frontier points with equal Nash products: (0.8, 0.5) and (0.5, 0.8), d = (0, 0).
        let (p, b) = sides(&[0.8, 0.5, 0.0], &[0.5, 0.8, 0.0], (0.0, 0.0));
        let space = OutcomeSpace::new(&p, &b);
        assert_eq!(space.nash, vec![pt(0.5, 0.8), pt(0.8, 0.5)]);
        // The bank forbids option o1: the frontier loses (0.5, 0.8).
        let clause = Clause {
            id: "no_o1".into(),
            reason: String::new(),
            issue: 0,
            forbidden: vec![false, true, false],
            patience: 1,
        };
        let space = OutcomeSpace::new(&p, &b.with_clause(clause).unwrap());
        assert_eq!(space.frontier.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![pt(0.8, 0.5)]);
    }

    #[test]
    fn nothing_is_measured_when_no_outcome_is_agreeable() {
        let (p, b) = sides(&[1.0, 0.0], &[0.0, 1.0], (0.9, 0.9));
        let space = OutcomeSpace::new(&p, &b);
        assert!(space.frontier.is_empty());
        assert_eq!(space.quality(pt(1.0, 0.0)), None);
    }
}
