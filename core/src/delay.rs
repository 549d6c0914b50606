//! Delay distributions for network hops and decisions, drawn from a seeded stream.

use crate::CoreError;
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Delay {
    Fixed {
        #[serde(with = "crate::serde_duration")]
        value: Duration,
    },
    Exponential {
        #[serde(with = "crate::serde_duration")]
        mean: Duration,
    },
    /// Log-normal with the given median (`e^mu`) and shape `sigma`.
    #[serde(rename = "lognormal")]
    LogNormal {
        #[serde(with = "crate::serde_duration")]
        median: Duration,
        sigma: f64,
    },
    Uniform {
        #[serde(with = "crate::serde_duration")]
        min: Duration,
        #[serde(with = "crate::serde_duration")]
        max: Duration,
    },
    /// Normal, truncated at zero (a negative draw becomes zero).
    Normal {
        #[serde(with = "crate::serde_duration")]
        mean: Duration,
        #[serde(with = "crate::serde_duration")]
        sd: Duration,
    },
}

impl Delay {
    pub const ZERO: Delay = Delay::Fixed { value: Duration::ZERO };

    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: &str| Err(CoreError::InvalidDistribution(m.into()));
        match *self {
            Delay::LogNormal { sigma, .. } if !(sigma.is_finite() && sigma >= 0.0) => {
                bad("sigma must be a finite number >= 0")
            }
            Delay::Uniform { min, max } if min > max => bad("min must not exceed max"),
            _ => Ok(()),
        }
    }

    pub fn mean(&self) -> Duration {
        match *self {
            Delay::Fixed { value } => value,
            Delay::Exponential { mean } | Delay::Normal { mean, .. } => mean,
            Delay::LogNormal { median, sigma } => median.mul_f64((sigma * sigma / 2.0).exp()),
            Delay::Uniform { min, max } => (min + max) / 2,
        }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        // Not `as_nanos() as f64`: the u128 conversion is slow and this is on the hot path.
        let nanos = |d: Duration| d.as_secs() as f64 * 1e9 + f64::from(d.subsec_nanos());
        let x = match *self {
            Delay::Fixed { value } => return value,
            Delay::Exponential { mean } if mean.is_zero() => 0.0,
            Delay::Exponential { mean } => Exp::new(1.0 / nanos(mean)).map(|d| d.sample(rng)).unwrap_or(0.0),
            Delay::LogNormal { median, .. } if median.is_zero() => 0.0,
            Delay::LogNormal { median, sigma } => {
                LogNormal::new(nanos(median).ln(), sigma).map(|d| d.sample(rng)).unwrap_or(0.0)
            }
            Delay::Uniform { min, max } => {
                let u: f64 = rand::RngExt::random(rng);
                nanos(min) + u * (nanos(max) - nanos(min))
            }
            Delay::Normal { mean, sd } => Normal::new(nanos(mean), nanos(sd)).map(|d| d.sample(rng)).unwrap_or(0.0),
        };
        Duration::from_nanos(x.max(0.0).min(u64::MAX as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn sample_means_approach_the_distribution_means() {
        let mut rng = stream(1, "delay-test");
        let ms = Duration::from_millis;
        for d in [
            Delay::Exponential { mean: ms(10) },
            Delay::LogNormal { median: ms(10), sigma: 0.5 },
            Delay::Uniform { min: ms(5), max: ms(15) },
            Delay::Normal { mean: ms(10), sd: ms(1) },
        ] {
            let n = 200_000;
            let total: f64 = (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).sum();
            let mean = total / n as f64;
            let want = d.mean().as_secs_f64();
            assert!((mean - want).abs() / want < 0.02, "{d:?}: sample mean {mean} vs {want}");
        }
    }

    #[test]
    fn fixed_delay_is_exact_and_uniform_bounds_are_checked() {
        let mut rng = stream(1, "delay-test");
        let d = Delay::Fixed { value: Duration::from_millis(3) };
        assert_eq!(d.sample(&mut rng), Duration::from_millis(3));
        assert!(Delay::Uniform { min: Duration::from_secs(2), max: Duration::from_secs(1) }.validate().is_err());
    }
}
