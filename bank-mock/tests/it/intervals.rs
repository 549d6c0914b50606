//! The mean latency's 95% interval (`LatencyRecorder`, batch means) holds the true mean sojourn
//! time of exact M/M/1 and M/M/c queues (`BankQueue`) in at least 90% of seeded runs, where the
//! interval for independent values held it in 9 of 60 (issue 12).

use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::delay::Delay;
use testbed_core::latency::LatencyRecorder;
use testbed_core::queue::{Admission, BankQueue, mmc_mean_wait};
use testbed_core::rng::stream;

/// One queue to check: `workers` servers, utilisation `rho`, service rate 1000/s (1 ms mean).
struct Case {
    name: &'static str,
    workers: u32,
    rho: f64,
    /// Requests recorded per run, after `warm_up` requests that are not (the queue starts
    /// empty); batches must be long beside the queue's relaxation time, which grows as
    /// 1/(1−√ρ)², so runs grow with ρ.
    requests: u64,
    warm_up: u64,
    /// Seeded runs: at least 60; more where runs are cheap, so the share is not luck.
    runs: u64,
}

const MU: f64 = 1_000.0;

impl Case {
    fn lambda(&self) -> f64 {
        self.rho * MU * f64::from(self.workers)
    }

    /// Mean sojourn time in ms: M/M/1 1/(μ−λ), M/M/c Erlang C wait + 1/μ.
    fn true_mean_ms(&self) -> f64 {
        let s = if self.workers == 1 {
            1.0 / (MU - self.lambda())
        } else {
            mmc_mean_wait(self.workers, self.lambda(), MU) + 1.0 / MU
        };
        s * 1e3
    }

    /// One seeded run: Poisson arrivals, exponential service, FIFO; the recorder gets each
    /// request's time in the system in arrival order. Also the half-width, in ms, of the
    /// interval for independent values (`1.96·sqrt(var/n)`, the one batch means replaced).
    fn run(&self, seed: u64) -> (LatencyRecorder, f64) {
        let mut rng = stream(seed, &format!("intervals/{}", self.name));
        let gap = Delay::Exponential { mean: Duration::from_secs_f64(1.0 / self.lambda()) };
        let service = Delay::Exponential { mean: Duration::from_secs_f64(1.0 / MU) };
        let mut queue = BankQueue::new(self.workers, None);
        let mut recorder = LatencyRecorder::default();
        let mut now = SimTime::ZERO;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for i in 0..self.warm_up + self.requests {
            now = now + gap.sample(&mut rng);
            let Admission::Served { finish, .. } = queue.admit(now, service.sample(&mut rng)) else {
                unreachable!("no rate limit")
            };
            if i >= self.warm_up {
                recorder.record(finish.since(now));
                let ms = finish.since(now).as_secs_f64() * 1e3;
                (sum, sum_sq) = (sum + ms, sum_sq + ms * ms);
            }
        }
        let n = self.requests as f64;
        let var = (sum_sq - sum * sum / n) / (n - 1.0);
        (recorder, 1.96 * (var / n).sqrt())
    }

    /// How many of the seeded runs `seeds` have intervals that hold the true mean: batch means,
    /// and the interval for independent values.
    fn held(&self, seeds: impl Iterator<Item = u64>) -> (u64, u64) {
        let truth = self.true_mean_ms();
        let (mut held, mut naive) = (0, 0);
        for seed in seeds {
            let (recorder, naive_half) = self.run(seed);
            let s = recorder.summary(Duration::from_secs(1));
            held += u64::from(s.mean_ci95_ms[0] <= truth && truth <= s.mean_ci95_ms[1]);
            naive += u64::from((s.mean_ms - truth).abs() <= naive_half);
        }
        (held, naive)
    }
}

const CASES: [Case; 4] = [
    Case { name: "M/M/1 rho 0.5", workers: 1, rho: 0.5, requests: 100_000, warm_up: 2_000, runs: 300 },
    Case { name: "M/M/1 rho 0.9", workers: 1, rho: 0.9, requests: 800_000, warm_up: 20_000, runs: 100 },
    Case { name: "M/M/1 rho 0.95", workers: 1, rho: 0.95, requests: 2_000_000, warm_up: 50_000, runs: 100 },
    Case { name: "M/M/4 rho 0.85", workers: 4, rho: 0.85, requests: 400_000, warm_up: 10_000, runs: 200 },
];

/// Prints each case's coverage (RELIABILITY.md quotes these lines) and fails below 90%.
#[test]
fn the_mean_latency_interval_holds_the_true_mean_sojourn_in_90_percent_of_seeded_queue_runs() {
    // Each case's seeds in four interleaved shares, so the long cases do not run alone.
    const SHARES: u64 = 4;
    let held: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<Vec<_>> = CASES
            .iter()
            .map(|c| (0..SHARES).map(|k| s.spawn(move || c.held((k..c.runs).step_by(SHARES as usize)))).collect())
            .collect();
        handles
            .into_iter()
            .map(|h| h.into_iter().map(|h| h.join().expect("no panic")).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)))
            .collect()
    });
    for (c, (held, naive)) in CASES.iter().zip(&held) {
        println!(
            "{}: {} requests after {} warm-up; the 95% interval held the true mean {:.4} ms in {held} of {} runs \
             ({:.1}%); 1.96·sqrt(var/n) would have held it in {naive} ({:.1}%)",
            c.name,
            c.requests,
            c.warm_up,
            c.true_mean_ms(),
            c.runs,
            100.0 * *held as f64 / c.runs as f64,
            100.0 * *naive as f64 / c.runs as f64
        );
    }
    for (c, (held, _)) in CASES.iter().zip(held) {
        let share = held as f64 / c.runs as f64;
        assert!(
            c.runs >= 60 && share >= 0.90,
            "{}: the interval held the true mean in only {held} of {} runs",
            c.name,
            c.runs
        );
    }
}
