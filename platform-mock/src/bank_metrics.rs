//! What a live run reads from each bank's `/metrics` just before and just after its data phase
//! (the same way for in-process and remote banks): the queue counters of its service model,
//! which give the live queue figures, and the alerts it dropped, which count in the
//! `fraud_alert` row. A server that does not publish them gives `None` (shown as n/a).

use crate::client::HttpClient;
use std::time::Duration;
use testbed_core::report::LatencyTable;
use testbed_core::scenario::{BankId, RequestKind};
use testbed_core::workload::RequestError;

/// Counters a bank publishes at `/metrics` (bank-mock does; another server may not): its
/// service model's queue, and the alerts it dropped rather than send.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BankCounters {
    pub(crate) at: tokio::time::Instant,
    pub(crate) workers: f64,
    pub(crate) admitted: f64,
    pub(crate) wait_s: f64,
    pub(crate) busy_s: f64,
    pub(crate) dropped_slow_callback: f64,
    pub(crate) dropped_over_rate: f64,
    pub(crate) dropped_server_error: f64,
}

/// Every bank's counters, where its `/metrics` has them.
pub(crate) async fn read_counters(client: &HttpClient, urls: &[String]) -> Vec<Option<BankCounters>> {
    let mut readings = Vec::new();
    for base in urls {
        let url = format!("{base}/metrics");
        let answer =
            tokio::time::timeout(Duration::from_secs(2), client.send(hyper::Method::GET, &url, None, &[], None));
        let text = match answer.await {
            Ok(Ok(a)) if a.status.is_success() => String::from_utf8_lossy(&a.body).into_owned(),
            _ => {
                readings.push(None);
                continue;
            }
        };
        readings.push(parse_counters(&text, tokio::time::Instant::now()));
    }
    readings
}

/// A bank's counters in its `/metrics` text, read `at`; `None` unless it has them all.
pub(crate) fn parse_counters(text: &str, at: tokio::time::Instant) -> Option<BankCounters> {
    // One bank per server: the first sample of the family whose labels include `label`.
    let value = |family: &str, label: &str| {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let rest = l.strip_prefix(family)?;
            let (labels, v) = match rest.strip_prefix('{') {
                Some(r) => r.split_once('}')?,
                None => ("", rest),
            };
            if !labels.contains(label) {
                return None;
            }
            v.trim().parse::<f64>().ok()
        })
    };
    Some(BankCounters {
        at,
        workers: value("bank_workers", "")?,
        admitted: value("bank_requests_admitted_total", "")?,
        wait_s: value("bank_queue_wait_seconds_total", "")?,
        busy_s: value("bank_worker_busy_seconds_total", "")?,
        dropped_slow_callback: value("bank_alerts_dropped_total", "reason=\"slow_callback\"")?,
        dropped_over_rate: value("bank_alerts_dropped_total", "reason=\"max_events_per_second\"")?,
        dropped_server_error: value("bank_alerts_dropped_total", "reason=\"server_error\"")?,
    })
}

/// Alerts a bank dropped rather than send never reach the callback: they count in its
/// fraud_alert row as sent and failed, by the bank's own count over the data phase.
pub(crate) fn count_dropped_alerts(table: &mut LatencyTable, counters: &[Option<(BankCounters, BankCounters)>]) {
    for (bank, counters) in counters.iter().enumerate() {
        let (Some((before, after)), Some(row)) = (counters, table.get_mut(BankId::new(bank), RequestKind::FraudAlert))
        else {
            continue;
        };
        for (kind, n) in [
            (RequestError::Dropped("slow_callback"), after.dropped_slow_callback - before.dropped_slow_callback),
            (RequestError::Dropped("max_events_per_second"), after.dropped_over_rate - before.dropped_over_rate),
            // Server errors on every attempt: what the virtual run's row counts as `server_error`.
            (RequestError::ServerError, after.dropped_server_error - before.dropped_server_error),
        ] {
            let n = n.max(0.0) as u64;
            row.requests += n;
            row.recorder.errors_of(&kind, n);
        }
    }
}

/// Mean wait (ms), mean number in system and utilisation between two readings of one bank.
pub(crate) fn queue_figures((before, after): (BankCounters, BankCounters)) -> (f64, f64, f64) {
    let span = (after.at - before.at).as_secs_f64().max(1e-9);
    let admitted = after.admitted - before.admitted;
    let (wait, busy) = (after.wait_s - before.wait_s, after.busy_s - before.busy_s);
    let mean_wait_ms = if admitted > 0.0 { wait / admitted * 1e3 } else { 0.0 };
    // Little's law over the span: time spent in the bank (waiting or served) per unit of time.
    (mean_wait_ms, (wait + busy) / span, busy / (span * after.workers.max(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed_core::SimTime;

    const METRICS: &str = "# HELP bank_workers Workers.\n# TYPE bank_workers gauge\nbank_workers{bank=\"b\"} 8\n\
        bank_requests_admitted_total{bank=\"b\"} 100\nbank_queue_wait_seconds_total{bank=\"b\"} 0.5\n\
        bank_worker_busy_seconds_total{bank=\"b\"} 2.0\n\
        bank_alerts_dropped_total{bank=\"b\",reason=\"slow_callback\"} 3\n\
        bank_alerts_dropped_total{bank=\"b\",reason=\"max_events_per_second\"} 7\n\
        bank_alerts_dropped_total{bank=\"b\",reason=\"server_error\"} 1\n";

    #[test]
    fn a_banks_metrics_give_its_counters_and_a_server_without_them_gives_none() {
        let at = tokio::time::Instant::now();
        let c = parse_counters(METRICS, at).expect("all counters present");
        assert_eq!((c.workers, c.admitted, c.wait_s, c.busy_s), (8.0, 100.0, 0.5, 2.0));
        assert_eq!((c.dropped_slow_callback, c.dropped_over_rate), (3.0, 7.0));
        assert!(parse_counters("# nothing here\nup 1\n", at).is_none());
        let without_queue: String = METRICS.lines().filter(|l| !l.contains("busy")).map(|l| format!("{l}\n")).collect();
        assert!(parse_counters(&without_queue, at).is_none());
    }

    #[test]
    fn alerts_a_bank_dropped_count_in_its_fraud_alert_row_as_sent_and_failed() {
        let at = tokio::time::Instant::now();
        let before = parse_counters(METRICS, at).unwrap();
        let after =
            BankCounters { dropped_slow_callback: 5.0, dropped_over_rate: 17.0, dropped_server_error: 4.0, ..before };
        let mut table = LatencyTable::new(2);
        table.sent(BankId::new(0), RequestKind::FraudAlert, SimTime::ZERO).recorder.record(Duration::from_millis(2));
        // Bank 1 has no fraud_alert row (no subscription): nothing is added for it.
        count_dropped_alerts(&mut table, &[Some((before, after)), Some((before, after))]);
        let row = table.get_mut(BankId::new(0), RequestKind::FraudAlert).expect("bank 0's row");
        assert_eq!(row.requests, 1 + 2 + 10 + 3);
        assert_eq!(row.recorder.summary(Duration::from_secs(1)).errors.get("server_error"), Some(&3));
        let errors = row.recorder.summary(Duration::from_secs(1)).errors;
        assert_eq!(errors.get("dropped:slow_callback"), Some(&2));
        assert_eq!(errors.get("dropped:max_events_per_second"), Some(&10));
        assert_eq!(table.iter().count(), 1);
    }
}
