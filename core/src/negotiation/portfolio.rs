//! A platform that weighs its deals together, as ANL 2025's centre agent does: its deals are
//! worth anything only when at least `min_banks` banks agree, and then each bank's deal counts by
//! its share. Pure: given where each of its negotiations stands, [`weigh`] says what the platform
//! now takes from each one still open.
//!
//! The rule, with shares `s_b` summing to 1 and the platform's reservation value `r` (what each
//! deal must be worth to it on its own):
//! - fewer than `min_banks` banks can still agree (agreed + still negotiating): no deal is worth
//!   anything, so it walks away from the open ones;
//! - a bank whose deal is needed to reach `min_banks` (it is *pivotal*) holds the deals already
//!   agreed hostage: without it they are worth nothing. So a deal with it is worth its own
//!   `s_b·u` plus the `A = Σ s_a·u_a` of the agreed deals it saves, and the platform takes from it
//!   any `u` with `s_b·u + A ≥ s_b·r`: its reservation value there is `r − A / s_b`, at least 0.
//!   Deals still open count for nothing here (they may yet fail): counting them would let two
//!   pivotal banks each justify a discount with the other's deal;
//! - a bank that is not pivotal adds `s_b·u` to a set that stands without it: the reservation
//!   value stays `r`.

/// How a platform values its deals together (`[platforms.portfolio]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Portfolio {
    pub min_banks: u32,
    /// Each asked bank's share of the combined value, in the order of the platform's banks;
    /// they sum to 1.
    pub shares: Vec<f64>,
}

/// Where one of the platform's negotiations stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Deal {
    /// Agreed (and not revoked), worth this utility to the platform.
    Agreed(f64),
    /// Still negotiating.
    Open,
    /// Ended without a deal, or revoked.
    Gone,
}

/// What the platform does about its open negotiations.
#[derive(Clone, Debug, PartialEq)]
pub enum Weighed {
    /// Too few banks can still agree: it walks away from every open negotiation.
    WalkAway { possible: u32 },
    /// Its reservation value in each negotiation (`None` where it is not open).
    Reservations(Vec<Option<f64>>),
}

/// `A`: what the deals agreed are worth to the platform together (each its utility times its
/// share).
pub fn agreed_worth(portfolio: &Portfolio, deals: &[Deal]) -> f64 {
    (deals.iter().zip(&portfolio.shares)).map(|(d, s)| if let Deal::Agreed(u) = d { s * u } else { 0.0 }).sum()
}

/// The platform's move given where its negotiations stand (`deals` in the order of `shares`) and
/// its reservation value `r`.
pub fn weigh(portfolio: &Portfolio, r: f64, deals: &[Deal]) -> Weighed {
    let possible = deals.iter().filter(|d| !matches!(d, Deal::Gone)).count() as u32;
    if possible < portfolio.min_banks {
        return Weighed::WalkAway { possible };
    }
    let agreed: f64 =
        (deals.iter().zip(&portfolio.shares)).map(|(d, s)| if let Deal::Agreed(u) = d { s * u } else { 0.0 }).sum();
    let pivotal = possible - 1 < portfolio.min_banks;
    Weighed::Reservations(
        (deals.iter().zip(&portfolio.shares))
            .map(|(d, &s)| match d {
                Deal::Open if pivotal && s > 0.0 => Some((r - agreed / s).clamp(0.0, 1.0)),
                Deal::Open => Some(r),
                _ => None,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equal(n: usize, min_banks: u32) -> Portfolio {
        Portfolio { min_banks, shares: vec![1.0 / n as f64; n] }
    }

    #[test]
    fn with_room_to_lose_a_bank_every_open_negotiation_keeps_the_reservation_value() {
        let w = weigh(&equal(4, 2), 0.3, &[Deal::Open, Deal::Gone, Deal::Open, Deal::Agreed(0.9)]);
        assert_eq!(w, Weighed::Reservations(vec![Some(0.3), None, Some(0.3), None]));
    }

    #[test]
    fn a_pivotal_bank_is_asked_for_less_by_what_the_agreed_deals_it_saves_are_worth() {
        // Needs 2 of 3 with bank 2 gone: bank 1 is pivotal. Bank 0 agreed at 0.6 (share 0.3);
        // for bank 1 (share 0.5): 0.4 − 0.3·0.6 / 0.5 = 0.4 − 0.36 = 0.04.
        let p = Portfolio { min_banks: 2, shares: vec![0.3, 0.5, 0.2] };
        let w = weigh(&p, 0.4, &[Deal::Agreed(0.6), Deal::Open, Deal::Gone]);
        let Weighed::Reservations(r) = w else { panic!("{w:?}") };
        assert_eq!((r[0], r[2]), (None, None));
        assert!((r[1].unwrap() - 0.04).abs() < 1e-12, "{r:?}");
        // A bigger agreed deal saves more than the pivotal one's own floor: 0.
        let w = weigh(&p, 0.4, &[Deal::Agreed(1.0), Deal::Open, Deal::Gone]);
        assert_eq!(w, Weighed::Reservations(vec![None, Some(0.0), None]));
    }

    #[test]
    fn pivotal_banks_with_nothing_agreed_yet_keep_the_reservation_value_as_open_deals_save_nothing() {
        // Both needed from the start, neither agreed: neither discounts on the other's account.
        let p = Portfolio { min_banks: 2, shares: vec![0.5, 0.5] };
        assert_eq!(weigh(&p, 0.3, &[Deal::Open, Deal::Open]), Weighed::Reservations(vec![Some(0.3), Some(0.3)]));
        // Unequal shares change nothing either while nothing is agreed.
        let p = Portfolio { min_banks: 2, shares: vec![0.1, 0.9] };
        assert_eq!(weigh(&p, 0.3, &[Deal::Open, Deal::Open]), Weighed::Reservations(vec![Some(0.3), Some(0.3)]));
        // Once the big one agrees at 0.5, the small one saves 0.45: 0.3 − 0.45 / 0.1 < 0, so 0.
        assert_eq!(weigh(&p, 0.3, &[Deal::Open, Deal::Agreed(0.5)]), Weighed::Reservations(vec![Some(0.0), None]));
        // And the small one agreeing at 0.5 saves 0.05 for the big one: 0.3 − 0.05 / 0.9.
        let Weighed::Reservations(r) = weigh(&p, 0.3, &[Deal::Agreed(0.5), Deal::Open]) else { panic!() };
        assert!((r[1].unwrap() - (0.3 - 0.05 / 0.9)).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn when_too_few_banks_can_still_agree_the_platform_walks_away() {
        let w = weigh(&equal(4, 3), 0.3, &[Deal::Gone, Deal::Gone, Deal::Open, Deal::Agreed(0.8)]);
        assert_eq!(w, Weighed::WalkAway { possible: 2 });
    }
}
