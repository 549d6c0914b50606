//! Concession strategies. The time-based one follows the NegMAS convention exactly so runs can
//! be compared offer for offer with that reference tool:
//!
//! - relative time in round `k` (0-based) of `N`: `t = (k + 1) / (N + 1)`;
//! - aspiration `a(t) = 1 - t^x` (`x > 1` Boulware, `x = 1` linear, `x < 1` Conceder);
//! - threshold `clamp(umin + (umax - umin) · a(t) - 1e-4, umin, umax)`;
//! - offer the lowest-utility outcome at or above the threshold;
//! - accept an offer whose utility reaches the threshold of the same round.

use serde::Serialize;

/// Slack NegMAS subtracts from the threshold so an outcome exactly at the aspiration counts.
pub const THRESHOLD_SLACK: f64 = 1e-4;

/// Named exponents of the time-based curve.
pub const BOULWARE_EXPONENT: f64 = 4.0;
pub const LINEAR_EXPONENT: f64 = 1.0;
pub const CONCEDER_EXPONENT: f64 = 0.25;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Concede along `a(t) = 1 - t^exponent`.
    TimeBased { exponent: f64 },
    /// Never concede: aspiration stays at 1.
    Hardliner,
    /// Concede exactly as much as the other side has conceded so far, measured in own utility
    /// between the other side's first and latest offers.
    TitForTat,
    /// Time-based with separate curves for what it offers and what it accepts (NegMAS's
    /// `TimeBasedConcedingNegotiator`: `offering_curve`, `accepting_curve`): offers at the
    /// threshold of `a(t) = 1 - t^offering`, accepts what reaches that of `1 - t^accepting`.
    Aspiration { offering: f64, accepting: f64 },
    /// MiCRO (de Jonge, "An Analysis of the Linear Bilateral ANAC Domains Using the MiCRO
    /// Benchmark Strategy", IJCAI 2022; NegMAS's `MiCRONegotiator`): offers its acceptable
    /// outcomes from best to worst, one new outcome only while it has made no more distinct
    /// offers than it has received, and accepts an offer at least as good as the next outcome it
    /// would offer.
    Micro,
    /// NegMAS's nice tit-for-tat (`NiceTitForTatNegotiator`, after Baarslag, Hindriks and
    /// Jonker 2013; `negotiation::nice`): reciprocates the other side's concession in its own
    /// utility towards an estimated Nash point, offers what a frequency model of the other side
    /// rates highest within its target, and accepts an offer worth its next one.
    NiceTitForTat,
}

impl Strategy {
    pub fn boulware() -> Self {
        Strategy::TimeBased { exponent: BOULWARE_EXPONENT }
    }
    pub fn linear() -> Self {
        Strategy::TimeBased { exponent: LINEAR_EXPONENT }
    }
    pub fn conceder() -> Self {
        Strategy::TimeBased { exponent: CONCEDER_EXPONENT }
    }

    pub fn label(&self) -> String {
        match self {
            Strategy::TimeBased { exponent } => format!("time_based(x={exponent})"),
            Strategy::Hardliner => "hardliner".into(),
            Strategy::TitForTat => "tit_for_tat".into(),
            Strategy::Aspiration { offering, accepting } => {
                format!("aspiration(offering x={offering}, accepting x={accepting})")
            }
            Strategy::Micro => "micro".into(),
            Strategy::NiceTitForTat => "nice_tit_for_tat".into(),
        }
    }
}

/// `t = (k + 1) / (N + 1)` for round `k` (0-based) of `n_rounds`.
#[inline]
pub fn relative_time(round: u32, n_rounds: u32) -> f64 {
    f64::from(round + 1) / f64::from(n_rounds + 1)
}

/// `a(t) = 1 - t^exponent`.
#[inline]
pub fn aspiration(t: f64, exponent: f64) -> f64 {
    1.0 - t.powf(exponent)
}

/// `clamp(umin + (umax - umin) · a - 1e-4, umin, umax)`.
#[inline]
pub fn threshold(umin: f64, umax: f64, aspiration: f64) -> f64 {
    (umin + (umax - umin) * aspiration - THRESHOLD_SLACK).clamp(umin, umax)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn relative_time_never_reaches_zero_or_one() {
        assert!(close(relative_time(0, 20), 1.0 / 21.0));
        assert!(close(relative_time(19, 20), 20.0 / 21.0));
    }

    #[test]
    fn boulware_holds_high_while_conceder_drops_early() {
        // Hand-computed: t = 1/2, 1 - 0.5^4 = 0.9375; 1 - 0.5^0.25 = 1 - 0.840896... = 0.159103...
        assert!(close(aspiration(0.5, BOULWARE_EXPONENT), 0.9375));
        assert!(close(aspiration(0.5, LINEAR_EXPONENT), 0.5));
        assert!((aspiration(0.5, CONCEDER_EXPONENT) - 0.159_103_584_746_285_5).abs() < 1e-12);
    }

    #[test]
    fn threshold_subtracts_slack_and_clamps_to_range() {
        // umin 0.2, umax 0.8, a 0.5: 0.2 + 0.3 - 0.0001 = 0.4999
        assert!(close(threshold(0.2, 0.8, 0.5), 0.4999));
        // a = 1 gives umax - slack; a = 0 clamps up to umin.
        assert!(close(threshold(0.2, 0.8, 1.0), 0.7999));
        assert!(close(threshold(0.2, 0.8, 0.0), 0.2));
    }
}
