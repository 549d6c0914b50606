//! A load generator on the platform's HTTP client, for load tests against any URL on loopback.
//! Open model: requests leave at their scheduled times (a fixed rate, or Poisson), whatever the
//! server does, and latency counts from the intended send time. Closed model: `connections`
//! loops, each sending its next request when the previous one returns (for the maximum rate).
//! Bounded in time and stops by itself.

use crate::client::HttpClient;
use hyper::Method;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use testbed_core::latency::{LatencyRecorder, LatencySummary};
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub enum Model {
    /// Evenly spaced requests at `rate` per second.
    Open { rate: f64 },
    /// `connections` concurrent request loops.
    Closed { connections: usize },
}

#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub url: String,
    pub token: Option<String>,
    pub model: Model,
    pub duration: Duration,
    /// Open model: most requests in flight; beyond it, requests wait (their latency still
    /// counts from the intended time).
    pub max_in_flight: usize,
}

#[derive(Clone, Debug)]
pub struct LoadResult {
    pub scheduled: u64,
    pub completed: u64,
    pub elapsed: Duration,
    pub latency: LatencySummary,
    /// Open model: how late requests left compared with their schedule (mean, max).
    pub lag_mean: Duration,
    pub lag_max: Duration,
}

pub async fn run(spec: LoadSpec) -> LoadResult {
    let client = HttpClient::default();
    let recorder = Arc::new(Mutex::new(LatencyRecorder::default()));
    let completed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + spec.duration;
    let mut scheduled = 0u64;
    let (mut lag_sum, mut lag_max) = (Duration::ZERO, Duration::ZERO);
    match spec.model {
        Model::Closed { connections } => {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..connections.max(1) {
                let (client, recorder, completed, url, token) =
                    (client.clone(), recorder.clone(), completed.clone(), spec.url.clone(), spec.token.clone());
                tasks.spawn(async move {
                    let mut local = LatencyRecorder::default();
                    let mut n = 0u64;
                    while Instant::now() < end {
                        let t0 = Instant::now();
                        match client.send(Method::GET, &url, token.as_deref(), &[], None).await {
                            Ok(a) if a.status.is_success() => local.record(t0.elapsed()),
                            Ok(a) => local.error(&format!("status_{}", a.status.as_u16())),
                            Err(_) => local.error("transport"),
                        }
                        n += 1;
                    }
                    completed.fetch_add(n, Ordering::Relaxed);
                    recorder.lock().await.merge(&local);
                    n
                });
            }
            while let Some(n) = tasks.join_next().await {
                scheduled += n.unwrap_or(0);
            }
        }
        Model::Open { rate } => {
            let slots = Arc::new(tokio::sync::Semaphore::new(spec.max_in_flight.max(1)));
            let interval = Duration::from_secs_f64(1.0 / rate.max(1e-9));
            let mut tasks = tokio::task::JoinSet::new();
            let mut next = start;
            while next < end {
                tokio::time::sleep_until(next).await;
                // Send everything that is due: timers tick by the millisecond.
                let now = Instant::now();
                while next <= now && next < end {
                    let lag = now - next;
                    lag_sum += lag;
                    lag_max = lag_max.max(lag);
                    scheduled += 1;
                    let (client, recorder, completed, url, token, slots) = (
                        client.clone(),
                        recorder.clone(),
                        completed.clone(),
                        spec.url.clone(),
                        spec.token.clone(),
                        slots.clone(),
                    );
                    let intended = next;
                    tasks.spawn(async move {
                        let _slot = slots.acquire().await;
                        let r = client.send(Method::GET, &url, token.as_deref(), &[], None).await;
                        let mut rec = recorder.lock().await;
                        match r {
                            Ok(a) if a.status.is_success() => rec.record(intended.elapsed()),
                            Ok(a) => rec.error(&format!("status_{}", a.status.as_u16())),
                            Err(_) => rec.error("transport"),
                        }
                        completed.fetch_add(1, Ordering::Relaxed);
                    });
                    next += interval;
                }
                while tasks.try_join_next().is_some() {}
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} })
                .await;
        }
    }
    let elapsed = start.elapsed();
    let latency = recorder.lock().await.summary(elapsed);
    LoadResult {
        scheduled,
        completed: completed.load(Ordering::Relaxed),
        elapsed,
        latency,
        lag_mean: if scheduled == 0 { Duration::ZERO } else { lag_sum / scheduled as u32 },
        lag_max,
    }
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat` (Linux).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}
