//! Latency recording: one HdrHistogram per (bank, request kind), in microseconds, fed with the
//! time from a request's *intended* send time to its response, so a slow bank cannot hide its
//! queue by slowing the sender down (no coordinated omission). Mean and its 95% confidence
//! interval come from exact running sums, not from the histogram's buckets.

use crate::workload::{Abandoned, RequestError};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency recorded exactly; larger values are clamped (and counted as such).
const MAX_MICROS: u64 = 24 * 3_600 * 1_000_000;

#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    sum: f64,
    sum_sq: f64,
    errors: BTreeMap<String, u64>,
    /// Attempts that ended in an error but were retried.
    retries: u64,
    abandoned: BTreeMap<&'static str, u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"),
            sum: 0.0,
            sum_sq: 0.0,
            errors: BTreeMap::new(),
            retries: 0,
            abandoned: BTreeMap::new(),
        }
    }
}

impl LatencyRecorder {
    /// A successful response `latency` after its intended send time.
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_secs_f64() * 1e6;
        self.sum += us;
        self.sum_sq += us * us;
        let v = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        self.hist.record(v).expect("value within bounds");
    }

    /// A failed attempt or request.
    pub fn error(&mut self, kind: &RequestError) {
        self.errors_of(kind, 1);
    }

    /// `n` failed requests of one kind (counted elsewhere, say by the bank).
    pub fn errors_of(&mut self, kind: &RequestError, n: u64) {
        if n > 0 {
            *self.errors.entry(kind.to_string()).or_default() += n;
        }
    }

    /// A request that ended with neither an answer nor an error.
    pub fn abandoned(&mut self, why: Abandoned) {
        *self.abandoned.entry(why.as_str()).or_default() += 1;
    }

    pub fn retried(&mut self) {
        self.retries += 1;
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn mean_micros(&self) -> f64 {
        if self.count() == 0 { 0.0 } else { self.sum / self.count() as f64 }
    }

    pub fn merge(&mut self, other: &LatencyRecorder) {
        self.hist.add(&other.hist).expect("same bounds");
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.retries += other.retries;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.abandoned {
            *self.abandoned.entry(k).or_default() += v;
        }
    }

    /// The summary that goes into reports; `active` is the time span the requests covered.
    pub fn summary(&self, active: Duration) -> LatencySummary {
        let n = self.count();
        let ms = |us: f64| us / 1_000.0;
        let q = |p: f64| if n == 0 { 0.0 } else { ms(self.hist.value_at_quantile(p) as f64) };
        let mean = self.mean_micros();
        let var = if n > 1 { ((self.sum_sq - self.sum * mean) / (n - 1) as f64).max(0.0) } else { 0.0 };
        let half = 1.96 * (var / n.max(1) as f64).sqrt();
        LatencySummary {
            ok: n,
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: if n == 0 { 0.0 } else { ms(self.hist.max() as f64) },
            mean_ms: ms(mean),
            mean_ci95_ms: [ms(mean - half), ms(mean + half)],
            throughput_per_s: if active.is_zero() { 0.0 } else { n as f64 / active.as_secs_f64() },
            retries: self.retries,
            errors: self.errors.clone(),
            abandoned: self.abandoned.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Requests that got a successful response.
    pub ok: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// 95% confidence interval of the mean (normal approximation).
    pub mean_ci95_ms: [f64; 2],
    pub throughput_per_s: f64,
    pub retries: u64,
    /// Errors by kind: `timeout`, `rate_limited`, `server_error`, `unavailable`, and refusals
    /// (`refused:<reason>`). Failed attempts that were retried count here and in `retries`.
    pub errors: BTreeMap<String, u64>,
    /// Requests that ended with neither an answer nor an error, by reason (`deadline`,
    /// `client_timeout`, `interrupted`, `in_flight_at_end`, `no_consent`); absent when none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub abandoned: BTreeMap<String, u64>,
}

impl LatencySummary {
    /// Requests whose last attempt failed: every error but the retried ones.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum::<u64>().saturating_sub(self.retries)
    }

    pub fn abandoned_total(&self) -> u64 {
        self.abandoned.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_mean_come_from_what_was_recorded() {
        let mut r = LatencyRecorder::default();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms));
        }
        let s = r.summary(Duration::from_secs(10));
        assert_eq!(s.ok, 100);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert!((s.p50_ms - 50.0).abs() / 50.0 < 0.01);
        assert!((s.p99_ms - 99.0).abs() / 99.0 < 0.01);
        assert!((s.max_ms - 100.0).abs() / 100.0 < 0.01);
        assert!(s.mean_ci95_ms[0] < 50.5 && s.mean_ci95_ms[1] > 50.5);
        assert!((s.throughput_per_s - 10.0).abs() < 1e-9);
    }
}
