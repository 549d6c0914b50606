//! Latency recording: one HdrHistogram per (bank, request kind), in microseconds, fed with the
//! time from a request's *intended* send time to its response, so a slow bank cannot hide its
//! queue by slowing the sender down (no coordinated omission). The mean comes from an exact
//! running sum, not from the histogram's buckets; its 95% confidence interval from batch means
//! ([`BatchMeans`]), because latencies out of one queue are correlated: a request that waited
//! long is followed by others that wait long, so `1.96·sqrt(var/n)` would be several times too
//! narrow.

use crate::workload::{Abandoned, RequestError};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency recorded exactly; larger values are clamped (and counted as such).
const MAX_MICROS: u64 = 24 * 3_600 * 1_000_000;
/// Most values a recorder read from a shard's file may hold: 2^50, so that the recorders of the
/// most shards a run may have (4,096) sum without overflow.
const MAX_RECORDED: u64 = 1 << 50;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "RecorderState", try_from = "RecorderState")]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    sum: f64,
    batches: BatchMeans,
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
            batches: BatchMeans::default(),
            errors: BTreeMap::new(),
            retries: 0,
            abandoned: BTreeMap::new(),
        }
    }
}

impl LatencyRecorder {
    /// A successful response `latency` after its intended send time. Calls must come in the
    /// order the interval should treat as time order (the driver's order of answers).
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_secs_f64() * 1e6;
        self.sum += us;
        self.batches.record(us);
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

    /// Adds `other`'s values as if they had been recorded after `self`'s (see
    /// [`BatchMeans::merge`] for what that means for the interval).
    pub fn merge(&mut self, other: &LatencyRecorder) {
        self.hist.add(&other.hist).expect("same bounds");
        self.sum += other.sum;
        self.batches.merge(&other.batches);
        self.retries = self.retries.saturating_add(other.retries);
        for (k, v) in &other.errors {
            let n = self.errors.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
        for (k, v) in &other.abandoned {
            let n = self.abandoned.entry(k).or_default();
            *n = n.saturating_add(*v);
        }
    }

    /// The summary that goes into reports; `active` is the time span the requests covered.
    pub fn summary(&self, active: Duration) -> LatencySummary {
        let n = self.count();
        let ms = |us: f64| us / 1_000.0;
        let q = |p: f64| if n == 0 { 0.0 } else { ms(self.hist.value_at_quantile(p) as f64) };
        let mean = self.mean_micros();
        let half = self.batches.half_width();
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

/// Most batches kept: when this many are full, adjacent pairs merge and the batch size doubles,
/// so an interval always rests on `MAX_BATCHES / 2` to `MAX_BATCHES - 1` batches (16 to 31:
/// Schmeiser 1982 finds 10 to 30 batches a good trade between the bias of small batches and
/// the noise of few).
pub const MAX_BATCHES: usize = 32;

/// The 0.975 quantile of Student's t with `df` degrees of freedom, `T975[df - 1]`, for
/// `df = 1..=63` (to six decimals; `df = 1` is tan(0.475π)).
const T975: [f64; 63] = [
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139, 2.200985,
    2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873,
    2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272, 2.039513, 2.036933, 2.034515,
    2.032245, 2.030108, 2.028094, 2.026192, 2.024394, 2.022691, 2.021075, 2.019541, 2.018082, 2.016692, 2.015368,
    2.014103, 2.012896, 2.011741, 2.010635, 2.009575, 2.008559, 2.007584, 2.006647, 2.005746, 2.004879, 2.004045,
    2.003241, 2.002465, 2.001717, 2.000995, 2.000298, 1.999624, 1.998972, 1.998341,
];

/// The confidence interval of a mean of correlated values by the method of batch means (Law &
/// Kelton, *Simulation Modeling and Analysis*, 3rd ed., §9.5.3; Schmeiser, "Batch size effects
/// in the analysis of simulation output", Operations Research 30(3), 1982): values are cut, in
/// recording order, into batches of equal size; when the batches are long enough, their means
/// are nearly independent and normal, so `t(b−1) · s_b / sqrt(b)` over the `b` batch means is an
/// honest 95% half-width even when consecutive values are strongly correlated (a queue).
///
/// Memory is fixed: at most [`MAX_BATCHES`] batch sums. The batch size starts at one value and
/// doubles whenever the batches are all full (adjacent pairs merge), so any number of values
/// works and batches grow with the run, as they must for the interval to stay honest. Values of
/// the batch still being filled count in the mean (kept exactly elsewhere) but not in the
/// interval.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "BatchState", try_from = "BatchState")]
pub struct BatchMeans {
    /// Sums of full batches in recording order; the first `len` are in use.
    sums: [f64; MAX_BATCHES],
    len: usize,
    /// Values in each full batch: a power of two.
    size: u64,
    /// The batch being filled: its sum and number of values (fewer than `size`).
    open_sum: f64,
    open_len: u64,
}

impl Default for BatchMeans {
    fn default() -> Self {
        BatchMeans { sums: [0.0; MAX_BATCHES], len: 0, size: 1, open_sum: 0.0, open_len: 0 }
    }
}

impl BatchMeans {
    pub fn record(&mut self, value: f64) {
        self.open_sum += value;
        self.open_len += 1;
        if self.open_len == self.size {
            let sum = std::mem::take(&mut self.open_sum);
            self.open_len = 0;
            self.push(sum);
        }
    }

    /// Appends a full batch, halving the number of batches once they are all full.
    fn push(&mut self, sum: f64) {
        self.sums[self.len] = sum;
        self.len += 1;
        if self.len == MAX_BATCHES {
            self.double();
        }
    }

    /// Merges adjacent pairs of batches and doubles the batch size. An odd last batch joins the
    /// open batch, which follows it in recording order, so every batch stays consecutive values.
    fn double(&mut self) {
        let pairs = self.len / 2;
        for i in 0..pairs {
            self.sums[i] = self.sums[2 * i] + self.sums[2 * i + 1];
        }
        if self.len % 2 == 1 {
            self.open_sum += self.sums[self.len - 1];
            self.open_len += self.size;
        }
        self.len = pairs;
        self.size *= 2;
    }

    /// Adds `other`'s values as if they came after `self`'s. Both are brought to the larger of
    /// the two batch sizes (merging adjacent pairs, as recording would have), `other`'s full
    /// batches are appended to `self`'s, and `other`'s open batch becomes the open one. The
    /// values of `self`'s open batch are not consecutive with `other`'s first batch, so they
    /// leave the interval (not the mean): at most one batch's worth, a small share once there
    /// are 16 batches. Merging recorders of concurrent senders (the load generator's threads)
    /// treats their answers as if sent one after the other, which makes the interval, if
    /// anything, wider than one of a single sender's correlation would be.
    pub fn merge(&mut self, other: &BatchMeans) {
        let mut other = other.clone();
        while self.size < other.size {
            self.double();
        }
        while other.size < self.size {
            other.double();
        }
        let mut all = [0.0; 2 * MAX_BATCHES];
        let mut len = self.len + other.len;
        all[..self.len].copy_from_slice(&self.sums[..self.len]);
        all[self.len..len].copy_from_slice(&other.sums[..other.len]);
        (self.open_sum, self.open_len) = (other.open_sum, other.open_len);
        while len >= MAX_BATCHES {
            for i in 0..len / 2 {
                all[i] = all[2 * i] + all[2 * i + 1];
            }
            if len % 2 == 1 {
                self.open_sum += all[len - 1];
                self.open_len += self.size;
            }
            len /= 2;
            self.size *= 2;
        }
        self.sums[..len].copy_from_slice(&all[..len]);
        self.len = len;
    }

    /// Full batches: the number of batch means the interval rests on.
    pub fn batches(&self) -> usize {
        self.len
    }

    /// Values in each full batch.
    pub fn batch_size(&self) -> u64 {
        self.size
    }

    /// Half-width of the 95% interval of the mean; 0 with fewer than two full batches (one
    /// value or none: there is no spread to measure).
    pub fn half_width(&self) -> f64 {
        let b = self.len;
        if b < 2 {
            return 0.0;
        }
        let size = self.size as f64;
        let means = || self.sums[..b].iter().map(|s| s / size);
        let mean = means().sum::<f64>() / b as f64;
        let var = means().map(|m| (m - mean) * (m - mean)).sum::<f64>() / (b - 1) as f64;
        T975[b - 2] * (var / b as f64).sqrt()
    }
}

/// A recorder as a shard writes it (issue 13): the histogram in HdrHistogram's V2 serialisation
/// (base64), every float as its bits, so that the recorder read back merges to exactly what the
/// shard held.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecorderState {
    histogram: String,
    sum_bits: u64,
    batches: BatchMeans,
    errors: BTreeMap<String, u64>,
    retries: u64,
    abandoned: BTreeMap<String, u64>,
}

impl From<LatencyRecorder> for RecorderState {
    fn from(r: LatencyRecorder) -> Self {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &r.hist,
            &mut bytes,
        )
        .expect("a histogram serialises into memory");
        RecorderState {
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
            sum_bits: r.sum.to_bits(),
            batches: r.batches,
            errors: r.errors,
            retries: r.retries,
            abandoned: r.abandoned.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }
}

impl TryFrom<RecorderState> for LatencyRecorder {
    type Error = String;

    fn try_from(s: RecorderState) -> Result<Self, String> {
        use base64::Engine as _;
        let bytes = (base64::engine::general_purpose::STANDARD.decode(&s.histogram))
            .map_err(|e| format!("histogram: not base64 ({e})"))?;
        check_v2_counts(&bytes)?;
        let hist: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram: not an HdrHistogram V2 serialisation ({e:?})"))?;
        let ours = LatencyRecorder::default().hist;
        let bounds = |h: &Histogram<u64>| (h.low(), h.high(), h.sigfig());
        if bounds(&hist) != bounds(&ours) {
            return Err(format!(
                "histogram: bounds {:?}; allowed {:?} (lowest, highest, significant digits)",
                bounds(&hist),
                bounds(&ours)
            ));
        }
        // Bounded so that merging up to MAX_PARTITIONS shards cannot overflow a count.
        if hist.len() > MAX_RECORDED {
            return Err(format!("histogram: {} values; allowed at most {MAX_RECORDED}", hist.len()));
        }
        let sum = f64::from_bits(s.sum_bits);
        if !sum.is_finite() || sum < 0.0 {
            return Err("sum_bits: not a finite sum of latencies; allowed a float >= 0".into());
        }
        let abandoned = (s.abandoned.into_iter())
            .map(|(k, v)| match Abandoned::ALL.iter().find(|a| a.as_str() == k) {
                Some(a) => Ok((a.as_str(), v)),
                None => Err(format!(
                    "abandoned: `{k}` is not a reason; allowed {}",
                    Abandoned::ALL.map(Abandoned::as_str).join(", ")
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(LatencyRecorder { hist, sum, batches: s.batches, errors: s.errors, retries: s.retries, abandoned })
    }
}

/// Checks the counts of a V2 serialisation before the `hdrhistogram` crate decodes them: its
/// decoder assumes a well-formed payload and overflows (a panic where overflow is checked) on a
/// run of zeros of 2^63 or on counts whose total exceeds a `u64`, and allocates whatever payload
/// length the header claims. The payload (after the 40-byte
/// header, its length at bytes 4..8) is zig-zag LEB128 numbers, 9 bytes at most, the ninth
/// whole: counts, or runs of zeros as negatives. Anything else wrong is the decoder's to refuse.
fn check_v2_counts(bytes: &[u8]) -> Result<(), String> {
    const HEADER: usize = 40;
    let Some(len) = bytes.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize) else {
        return Ok(());
    };
    // The decoder allocates the length it is told before it reads: a length beyond the bytes
    // would have it allocate gigabytes for a few.
    if HEADER + len > bytes.len() {
        return Err(format!(
            "histogram: a payload of {len} bytes in a serialisation of {}; allowed what it holds",
            bytes.len()
        ));
    }
    let payload = &bytes[HEADER..HEADER + len];
    let (mut i, mut total) = (0, 0u64);
    while i < payload.len() {
        let mut zig_zag = 0u64;
        let mut read = 0;
        while read < 9 && i < payload.len() {
            let b = payload[i];
            i += 1;
            if read == 8 {
                zig_zag |= u64::from(b) << 56;
                break;
            }
            zig_zag |= u64::from(b & 0x7f) << (7 * read);
            read += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let n = ((zig_zag >> 1) as i64) ^ -((zig_zag & 1) as i64);
        if n == i64::MIN {
            return Err("histogram: a run of 2^63 zero counts; allowed runs within the histogram".into());
        }
        if n > 0 {
            total = total.saturating_add(n as u64);
            if total > MAX_RECORDED {
                return Err(format!("histogram: more than {MAX_RECORDED} values; allowed at most {MAX_RECORDED}"));
            }
        }
    }
    Ok(())
}

/// Batch means as a shard writes them: the full batches' sums, and the open batch, as bits.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchState {
    sums_bits: Vec<u64>,
    size: u64,
    open_sum_bits: u64,
    open_len: u64,
}

impl From<BatchMeans> for BatchState {
    fn from(b: BatchMeans) -> Self {
        BatchState {
            sums_bits: b.sums[..b.len].iter().map(|s| s.to_bits()).collect(),
            size: b.size,
            open_sum_bits: b.open_sum.to_bits(),
            open_len: b.open_len,
        }
    }
}

impl TryFrom<BatchState> for BatchMeans {
    type Error = String;

    fn try_from(s: BatchState) -> Result<Self, String> {
        if s.sums_bits.len() >= MAX_BATCHES {
            return Err(format!("batches: {} full batches; allowed fewer than {MAX_BATCHES}", s.sums_bits.len()));
        }
        if !s.size.is_power_of_two() || s.open_len >= s.size {
            return Err(format!(
                "batches: size {} with {} open; allowed a power of two, more than the open values",
                s.size, s.open_len
            ));
        }
        let mut b = BatchMeans {
            size: s.size,
            open_sum: f64::from_bits(s.open_sum_bits),
            open_len: s.open_len,
            ..BatchMeans::default()
        };
        for (slot, bits) in b.sums.iter_mut().zip(&s.sums_bits) {
            *slot = f64::from_bits(*bits);
        }
        b.len = s.sums_bits.len();
        if !b.open_sum.is_finite() || b.sums[..b.len].iter().any(|s| !s.is_finite()) {
            return Err("batches: a sum that is not finite; allowed finite floats".into());
        }
        Ok(b)
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
    /// 95% confidence interval of the mean, by the method of batch means (Student t over 16 to
    /// 31 batches of consecutive answers), which accounts for queued latencies being correlated.
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

    /// An AR(1) series `x' = φx + e`, mean `mu`: strongly correlated for φ near 1.
    fn ar1(seed: u64, n: usize, phi: f64, mu: f64) -> impl Iterator<Item = f64> {
        use rand_distr::{Distribution, Normal};
        let mut rng = crate::rng::stream(seed, "latency-test/ar1");
        let noise = Normal::new(0.0, 1.0).expect("valid");
        let mut x = noise.sample(&mut rng) / (1.0 - phi * phi).sqrt();
        (0..n).map(move |_| {
            x = phi * x + noise.sample(&mut rng);
            mu + x
        })
    }

    #[test]
    fn the_interval_of_strongly_correlated_values_holds_their_mean_in_95_percent_of_runs() {
        // φ = 0.95: the naive interval would be sqrt((1+φ)/(1−φ)) ≈ 6 times too narrow.
        let (runs, mu) = (200, 100.0);
        let mut held = 0;
        let mut naive_held = 0;
        for seed in 0..runs {
            let mut b = BatchMeans::default();
            let (mut sum, mut sum_sq, mut n) = (0.0, 0.0, 0.0);
            for x in ar1(seed, 40_000, 0.95, mu) {
                b.record(x);
                sum += x;
                sum_sq += x * x;
                n += 1.0;
            }
            let mean = sum / n;
            held += u32::from((mean - mu).abs() <= b.half_width());
            let naive = 1.96 * ((sum_sq - sum * mean) / (n - 1.0) / n).sqrt();
            naive_held += u32::from((mean - mu).abs() <= naive);
        }
        let (coverage, naive) = (f64::from(held) / runs as f64, f64::from(naive_held) / runs as f64);
        println!("AR(1) φ = 0.95, {runs} runs of 40,000: batch means held {coverage:.3}, 1.96·sqrt(var/n) {naive:.3}");
        assert!(coverage >= 0.90, "batch means held the mean in {coverage:.3} of runs");
        assert!(naive < 0.6, "the independent-values interval held it in {naive:.3}: the test is too easy");
    }

    #[test]
    fn batches_stay_between_16_and_31_and_cover_every_recorded_value_but_the_open_batch() {
        let mut b = BatchMeans::default();
        for n in 1..=100_000u64 {
            b.record(1.0);
            assert!(b.batches() < MAX_BATCHES);
            if n >= MAX_BATCHES as u64 {
                assert!(b.batches() >= MAX_BATCHES / 2, "{n} values: {} batches", b.batches());
            }
            assert!(b.batch_size().is_power_of_two());
            assert_eq!(b.batches() as u64 * b.batch_size() + b.open_len, n);
            assert!(b.open_len < b.batch_size());
        }
        // Equal values: no spread, no width.
        assert_eq!(b.half_width(), 0.0);
    }

    #[test]
    fn merging_at_a_batch_boundary_equals_recording_one_after_the_other() {
        let values: Vec<f64> = ar1(3, 3_000, 0.5, 10.0).collect();
        let mut whole = BatchMeans::default();
        values.iter().for_each(|&x| whole.record(x));
        // 1,024 values end exactly on a batch boundary at every batch size up to 64.
        let (mut first, mut second) = (BatchMeans::default(), BatchMeans::default());
        values[..1024].iter().for_each(|&x| first.record(x));
        values[1024..].iter().for_each(|&x| second.record(x));
        first.merge(&second);
        assert_eq!((first.batches(), first.batch_size()), (whole.batches(), whole.batch_size()));
        assert!((first.half_width() - whole.half_width()).abs() < 1e-9 * whole.half_width());
    }

    #[test]
    fn merging_recorders_of_different_batch_sizes_keeps_the_exact_mean_and_a_bounded_batch_count() {
        let mut a = LatencyRecorder::default();
        let mut b = LatencyRecorder::default();
        for ms in 1..=10_000u64 {
            a.record(Duration::from_micros(ms));
        }
        for ms in 1..=77u64 {
            b.record(Duration::from_micros(ms));
        }
        let total: u64 = (1..=10_000u64).sum::<u64>() + (1..=77u64).sum::<u64>();
        for (x, y) in [(a.clone(), b.clone()), (b, a)] {
            let mut m = x;
            m.merge(&y);
            assert_eq!(m.count(), 10_077);
            assert!((m.mean_micros() - total as f64 / 10_077.0).abs() < 1e-9);
            assert!((MAX_BATCHES / 2..MAX_BATCHES).contains(&m.batches.batches()), "{}", m.batches.batches());
            let s = m.summary(Duration::from_secs(1));
            assert!(s.mean_ci95_ms[0] < s.mean_ms && s.mean_ms < s.mean_ci95_ms[1]);
        }
    }

    #[test]
    fn the_t_table_starts_at_tan_0_475_pi_and_falls_towards_1_96() {
        assert!((T975[0] - (0.475 * std::f64::consts::PI).tan()).abs() < 1e-5);
        assert!(T975.windows(2).all(|w| w[0] > w[1]));
        // df = 63: 1.96 + 2.4/63 to first order (Cornish–Fisher: z + (z³ + z)/(4·df)).
        let z: f64 = 1.959_964;
        let approx = z + (z.powi(3) + z) / (4.0 * 63.0);
        assert!((T975[62] - approx).abs() < 1e-3, "{} vs {approx}", T975[62]);
    }

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

    #[test]
    fn a_recorder_read_back_from_its_shard_form_merges_and_summarises_as_the_one_written() {
        let mut r = LatencyRecorder::default();
        for x in ar1(7, 5_000, 0.9, 2_000.0) {
            r.record(Duration::from_secs_f64(x.max(1.0) / 1e6));
        }
        r.error(&RequestError::RateLimited);
        r.retried();
        r.abandoned(Abandoned::Deadline);
        let back: LatencyRecorder =
            serde_json::from_str(&serde_json::to_string(&r).expect("serialises")).expect("reads back");
        let active = Duration::from_secs(10);
        assert_eq!(back.summary(active), r.summary(active));
        assert_eq!(back.sum.to_bits(), r.sum.to_bits());
        let (mut a, mut b) = (r.clone(), r.clone());
        a.merge(&r);
        b.merge(&back);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn a_recorder_file_whose_histogram_has_other_bounds_is_refused() {
        use base64::Engine as _;
        let mut json = serde_json::to_value(LatencyRecorder::default()).expect("serialises");
        let other = Histogram::<u64>::new_with_bounds(1, 1_000, 2).expect("bounds");
        let mut bytes = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &other,
            &mut bytes,
        )
        .expect("serialises");
        json["histogram"] = base64::engine::general_purpose::STANDARD.encode(bytes).into();
        let refused = serde_json::from_value::<LatencyRecorder>(json).expect_err("other bounds");
        assert!(refused.to_string().contains("histogram: bounds (1, 1000, 2)"), "{refused}");
    }

    #[test]
    fn the_p99_of_recorders_merged_from_their_files_is_the_p99_of_one_recorder_of_every_sample() {
        // Two shards with different distributions: an average of their p99s would be neither's.
        let (mut fast, mut slow, mut all) =
            (LatencyRecorder::default(), LatencyRecorder::default(), LatencyRecorder::default());
        for (i, x) in ar1(11, 20_000, 0.5, 5_000.0).enumerate() {
            let latency = Duration::from_secs_f64(x.max(1.0) * if i % 3 == 0 { 40.0 } else { 1.0 } / 1e6);
            if i % 3 == 0 {
                slow.record(latency)
            } else {
                fast.record(latency)
            }
            all.record(latency);
        }
        let read = |r: &LatencyRecorder| -> LatencyRecorder {
            serde_json::from_str(&serde_json::to_string(r).expect("serialises")).expect("reads back")
        };
        let mut merged = read(&fast);
        merged.merge(&read(&slow));
        let active = Duration::from_secs(1);
        let (one, two) = (all.summary(active), merged.summary(active));
        assert_eq!(
            (two.ok, two.p50_ms, two.p99_ms, two.p999_ms, two.max_ms),
            (one.ok, one.p50_ms, one.p99_ms, one.p999_ms, one.max_ms)
        );
        let average = (fast.summary(active).p99_ms + slow.summary(active).p99_ms) / 2.0;
        assert!(
            (average - one.p99_ms).abs() > 1.0,
            "the test tells a merge from an average: {average} vs {}",
            one.p99_ms
        );
    }

    #[test]
    fn a_recorder_file_whose_histogram_counts_would_overflow_the_decoder_is_refused() {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &LatencyRecorder::default().hist,
            &mut bytes,
        )
        .expect("serialises");
        bytes.truncate(40);
        let with_payload = |payload: &[u8]| {
            let mut b = bytes.clone();
            b[4..8].copy_from_slice(&(payload.len() as u32).to_be_bytes());
            b.extend_from_slice(payload);
            let mut json = serde_json::to_value(LatencyRecorder::default()).expect("serialises");
            json["histogram"] = base64::engine::general_purpose::STANDARD.encode(b).into();
            serde_json::from_value::<LatencyRecorder>(json).map(|r| r.count()).map_err(|e| e.to_string())
        };
        // A run of 2^63 zeros: zig-zag of u64::MAX, nine bytes.
        let refused = with_payload(&[0xff; 9]).expect_err("a run of 2^63 zeros");
        assert!(refused.contains("a run of 2^63 zero counts"), "{refused}");
        // Counts of 2^62 each (zig-zag 2^63: eight bytes of 0x80, then 0x80 whole).
        let big = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80];
        let refused = with_payload(&[big, big, big].concat()).expect_err("counts beyond a u64");
        assert!(refused.contains("more than"), "{refused}");
        // A small well-formed payload still reads: 3 values at the first index.
        assert_eq!(with_payload(&[0x06]), Ok(3));
        // A header claiming more payload than the bytes hold (the decoder would allocate it).
        let mut b = bytes.clone();
        b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut json = serde_json::to_value(LatencyRecorder::default()).expect("serialises");
        json["histogram"] = base64::engine::general_purpose::STANDARD.encode(b).into();
        let refused = serde_json::from_value::<LatencyRecorder>(json).expect_err("a payload it does not hold");
        assert!(refused.to_string().contains("a payload of 4294967295 bytes in a serialisation of 40"), "{refused}");
    }
}
