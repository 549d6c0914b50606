//! Events pushed to a platform's callback, without I/O: event subscriptions (UK Open Banking
//! "Event Subscription" style), which bookings raise which events between two instants for
//! which watched consents (fraud alerts and transactions for the card transactions a consent may
//! see, a balance change for every booking), the callback URLs the bank agrees to call, and the
//! notification body. The desk decides whether a due event may still leave
//! (`Desk::release_alert`); the server (`push.rs`) sends it.

use crate::api::{self, Grant, Resource};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use testbed_core::SimTime;
use testbed_core::population::{self, PopulationSpec, Transaction};
use testbed_core::wire::{EventData, EventNotification};

pub use testbed_core::workload::EventType;

/// What an event carries, as a resource the consent and the terms are checked for.
pub fn event_resource(event: EventType, at_ms: u64) -> Resource {
    match event {
        EventType::FraudAlert => Resource::FraudAlert,
        EventType::BalanceChange => Resource::Balances,
        EventType::Transaction => Resource::Transactions { from_ms: at_ms, to_ms: at_ms + 1 },
    }
}

/// Whether every booking raises `event`, or only the transactions the consent may see.
fn every_booking(event: EventType) -> bool {
    event == EventType::BalanceChange
}

fn bit(event: EventType) -> u8 {
    1 << event as u8
}

/// A set of event types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u8);

impl EventSet {
    pub fn of(events: &[EventType]) -> EventSet {
        EventSet(events.iter().fold(0, |bits, e| bits | bit(*e)))
    }

    pub fn contains(self, event: EventType) -> bool {
        self.0 & bit(event) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL.into_iter().filter(move |e| self.contains(*e))
    }
}

/// A platform's registration for event notifications at its callback.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub id: u64,
    pub platform: String,
    pub callback_url: String,
    pub event_types: Vec<EventType>,
    /// Testbed extension: most notifications per second; beyond, alerts are dropped (counted).
    pub max_events_per_second: Option<u32>,
    pub created_at: SimTime,
}

/// Checks that `url` is an `http://` URL on a loopback address (127.0.0.0/8 or `[::1]`): the
/// bank never sends traffic off the machine. One spelling, the one openapi.json's pattern
/// describes: `http://` then `127.a.b.c` (decimal, no leading zeros) or `[::1]`, an optional
/// `:port` in 1..=65535 (no leading zeros), an optional `/path` and `?query` of RFC 3986
/// characters (`%` only before two hex digits), no user, no fragment. `Ok` is the address it
/// names (port 80 when none is given); `Err` says what is allowed.
pub fn check_callback_url(url: &str) -> Result<SocketAddr, String> {
    let allowed =
        "must be http://127.x.y.z[:port][/path][?query] or http://[::1][:port][/path][?query] (loopback only)";
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}` {allowed}"))?;
    let (authority, path_and_query) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .map(|(h, p)| (&authority[..h.len() + 2], p))
            .ok_or_else(|| format!("`{url}` {allowed}"))?,
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port = check_port(port).map_err(|_| format!("`{url}`: bad port; {allowed}"))?;
    let ip: IpAddr = match host {
        "[::1]" => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        _ => {
            host.parse().map_err(|_| format!("`{url}`: host `{host}` is not an IPv4 address or `[::1]`; {allowed}"))?
        }
    };
    if !ip.is_loopback() {
        return Err(format!("`{url}`: {ip} is not a loopback address; {allowed}"));
    }
    if !is_path_and_query(path_and_query) {
        return Err(format!("`{url}`: path or query has a character outside RFC 3986's; {allowed}"));
    }
    Ok(SocketAddr::new(ip, port))
}

/// `""` (port 80) or `":PORT"` with a port in 1..=65535, in decimal without leading zeros.
fn check_port(port: &str) -> Result<u16, ()> {
    match port.strip_prefix(':') {
        None if port.is_empty() => Ok(80),
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0') => p.parse().map_err(|_| ()),
        _ => Err(()),
    }
}

/// Whether `text` is empty or an RFC 3986 `/path` and/or `?query`.
fn is_path_and_query(text: &str) -> bool {
    let (path, query) = text.split_at(text.find('?').unwrap_or(text.len()));
    (path.is_empty() || path.starts_with('/'))
        && is_rfc3986(path.as_bytes(), b"/")
        && is_rfc3986(query.as_bytes(), b"/?")
}

/// Whether every byte is an RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`, a `%` and two
/// hex digits) or one of `extra`.
fn is_rfc3986(mut bytes: &[u8], extra: &[u8]) -> bool {
    while let Some((&c, rest)) = bytes.split_first() {
        bytes = match (c, rest) {
            (b'%', [a, b, after @ ..]) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => after,
            _ if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&c) || extra.contains(&c) => rest,
            _ => return false,
        };
    }
    true
}

/// Whether a connection to `target` reaches a server listening on `listening`: same port, and
/// the same address or a listener on all addresses (`0.0.0.0` or `[::]`, which take loopback
/// connections too). The bank refuses such a callback: it would be made to `POST` to itself.
pub fn reaches(target: SocketAddr, listening: SocketAddr) -> bool {
    target.port() == listening.port() && (listening.ip().is_unspecified() || listening.ip() == target.ip())
}

/// A consent whose customer's card transactions a subscription turns into alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    pub subscription: u64,
    pub consent: u64,
    pub customer: u64,
    /// Whether transactions made outside the platform may be sent (consent and terms grant them).
    pub off_platform: bool,
    /// Transactions booked at or before this instant raise no alert (the later of the
    /// subscription's and the consent's creation).
    pub since_ms: u64,
    /// The events the subscription asked for that the consent covers.
    pub events: EventSet,
}

/// An event that fell due: one booking of one watched consent.
#[derive(Clone, Debug, PartialEq)]
pub struct DueAlert {
    pub subscription: u64,
    pub consent: u64,
    pub customer: u64,
    pub transaction: Transaction,
    pub event: EventType,
}

impl DueAlert {
    pub fn at(&self) -> SimTime {
        SimTime::from_nanos(self.transaction.at_ms.saturating_mul(1_000_000))
    }
}

const DAY_MS: u64 = 86_400_000;

/// Which transactions fall due when. Keeps the current day's transactions of each watched
/// consent, so a day is generated once per customer rather than once per look.
#[derive(Default)]
pub struct AlertSchedule {
    days: BTreeMap<(u64, u64), (u32, Vec<Transaction>)>,
}

impl AlertSchedule {
    /// The events of bookings in `(from_ms, to_ms]` for `watches`, in booking order (ties by
    /// subscription, consent, transaction id and event). Watches no longer listed are forgotten.
    pub fn due(&mut self, spec: &PopulationSpec, watches: &[Watch], from_ms: u64, to_ms: u64) -> Vec<DueAlert> {
        let mut out = Vec::new();
        if to_ms <= from_ms {
            return out;
        }
        let keys: std::collections::BTreeSet<(u64, u64)> =
            watches.iter().map(|w| (w.subscription, w.consent)).collect();
        self.days.retain(|k, _| keys.contains(k));
        for w in watches {
            let lower = from_ms.max(w.since_ms);
            if to_ms <= lower {
                continue;
            }
            for day in (lower / DAY_MS) as u32..=(to_ms.saturating_sub(1) / DAY_MS) as u32 {
                let (cached_day, txns) = self.days.entry((w.subscription, w.consent)).or_insert((u32::MAX, Vec::new()));
                if *cached_day != day {
                    txns.clear();
                    population::transactions_on_day(spec, w.customer, day, txns);
                    *cached_day = day;
                }
                for t in txns.iter().filter(|t| t.at_ms > lower && t.at_ms <= to_ms) {
                    let visible = t.on_platform || w.off_platform;
                    out.extend(w.events.iter().filter(|e| visible || every_booking(*e)).map(|event| DueAlert {
                        subscription: w.subscription,
                        consent: w.consent,
                        customer: w.customer,
                        transaction: *t,
                        event,
                    }));
                }
            }
        }
        out.sort_by_key(|a| (a.transaction.at_ms, a.subscription, a.consent, a.transaction.id, a.event));
        out
    }
}

/// What one notification carries: the transaction that raised it, or the balance after it.
pub enum Payload<'a> {
    Transaction(&'a Transaction),
    Balance { cents: i64 },
}

/// The JSON body of one notification: an envelope naming the subscription, the consent, the
/// event type and the time of the event, and in `Data.{FraudAlert|Transaction|Balance}` one
/// record carrying only the fields `grant` lets out (built as for a page of the pulled API).
#[allow(clippy::too_many_arguments)]
pub fn notification_body(
    event_id: u64,
    subscription: u64,
    consent: u64,
    event: EventType,
    account_id: &str,
    payload: Payload<'_>,
    grant: &Grant,
    time_of_event_unix_micros: u64,
) -> EventNotification {
    let mut data = EventData::default();
    match (payload, event) {
        (Payload::Balance { cents }, _) => data.balance = Some(vec![api::balance_record(grant, account_id, cents)]),
        (Payload::Transaction(t), EventType::FraudAlert) => {
            data.fraud_alert = Some(api::transaction_records(grant, account_id, std::slice::from_ref(t)));
        }
        (Payload::Transaction(t), EventType::Transaction | EventType::BalanceChange) => {
            data.transaction = Some(api::transaction_records(grant, account_id, std::slice::from_ref(t)));
        }
    }
    EventNotification {
        consent_id: consent.to_string(),
        data,
        event_id: event_id.to_string(),
        event_subscription_id: subscription.to_string(),
        event_type: event,
        time_of_event_unix_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PopulationSpec {
        PopulationSpec { seed: 9, bank: "b".into(), size: 100, transactions_per_day: 4.0, on_platform_share: 0.5 }
    }

    fn watch(consent: u64, customer: u64, off_platform: bool, since_ms: u64) -> Watch {
        Watch {
            subscription: 1,
            consent,
            customer,
            off_platform,
            since_ms,
            events: EventSet::of(&[EventType::FraudAlert]),
        }
    }

    #[test]
    fn a_balance_change_falls_due_for_every_booking_and_transactions_only_for_those_the_consent_may_see() {
        let spec = spec();
        let events = EventSet::of(&[EventType::BalanceChange, EventType::Transaction]);
        let w = Watch { events, ..watch(1, 3, false, 0) };
        let due = AlertSchedule::default().due(&spec, &[w], 0, 3 * DAY_MS);
        let mut bookings = Vec::new();
        for day in 0..3 {
            population::transactions_on_day(&spec, 3, day, &mut bookings);
        }
        let bookings: Vec<&Transaction> = bookings.iter().filter(|t| t.at_ms > 0).collect();
        assert!(bookings.iter().any(|t| !t.on_platform) && bookings.iter().any(|t| t.on_platform));
        let of = |e| due.iter().filter(|d| d.event == e).map(|d| d.transaction.id).collect::<Vec<_>>();
        assert_eq!(of(EventType::BalanceChange), bookings.iter().map(|t| t.id).collect::<Vec<_>>());
        let visible: Vec<u64> = bookings.iter().filter(|t| t.on_platform).map(|t| t.id).collect();
        assert_eq!(of(EventType::Transaction), visible);
        assert!(of(EventType::FraudAlert).is_empty(), "not asked for");
    }

    #[test]
    fn consecutive_windows_raise_each_visible_transaction_once_in_booking_order() {
        let spec = spec();
        let watches = [watch(10, 3, false, 0), watch(11, 4, true, 0)];
        let mut schedule = AlertSchedule::default();
        let mut seen = Vec::new();
        let mut t = 0;
        for step in [7_000_000u64, 50_000_000, 3_600_000, 86_400_000, 1, 200_000_000] {
            let due = schedule.due(&spec, &watches, t, t + step);
            assert!(due.windows(2).all(|w| w[0].transaction.at_ms <= w[1].transaction.at_ms));
            assert!(due.iter().all(|a| a.transaction.at_ms > t && a.transaction.at_ms <= t + step));
            seen.extend(due);
            t += step;
        }
        let mut expected = Vec::new();
        for (consent, customer, off) in [(10, 3, false), (11, 4, true)] {
            let mut all = Vec::new();
            for day in 0..=(t / DAY_MS) as u32 {
                population::transactions_on_day(&spec, customer, day, &mut all);
            }
            expected.extend(
                all.into_iter()
                    .filter(|x| x.at_ms > 0 && x.at_ms <= t && (x.on_platform || off))
                    .map(|x| (consent, x.id)),
            );
        }
        let mut got: Vec<(u64, u64)> = seen.iter().map(|a| (a.consent, a.transaction.id)).collect();
        got.sort();
        expected.sort();
        assert!(!expected.is_empty());
        assert_eq!(got, expected);
        assert!(seen.iter().filter(|a| a.consent == 10).all(|a| a.transaction.on_platform));
        assert!(seen.iter().any(|a| a.consent == 11 && !a.transaction.on_platform));
    }

    #[test]
    fn nothing_booked_before_a_watch_began_falls_due() {
        let since = 2 * DAY_MS + 5;
        let due = AlertSchedule::default().due(&spec(), &[watch(1, 2, true, since)], 0, 4 * DAY_MS);
        assert!(!due.is_empty());
        assert!(due.iter().all(|a| a.transaction.at_ms > since));
    }

    #[test]
    fn only_loopback_http_callbacks_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080/events",
            "http://127.1.2.3",
            "http://[::1]:9/x?y=1",
            "http://127.0.0.1:1",
            "http://127.0.0.1:65535?a=/b?c",
            "http://127.255.255.255/a%2Fb~!$&'()*+,;=:@",
        ] {
            assert!(check_callback_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(check_callback_url("http://127.1.2.3/x"), Ok(SocketAddr::from(([127, 1, 2, 3], 80))));
        assert_eq!(check_callback_url("http://[::1]:9/x"), Ok("[::1]:9".parse().unwrap()));
        for bad in [
            "https://127.0.0.1/",
            "http://10.0.0.1/",
            "http://localhost:80/",
            "http://example.com/",
            "http://[::2]/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:70000/",
            "http://user@127.0.0.1/",
            "ftp://127.0.0.1/",
            "",
        ] {
            let e = check_callback_url(bad).expect_err(bad);
            assert!(e.contains("loopback"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_callback_url_has_the_one_spelling_openapi_json_describes() {
        for bad in [
            "http://127.0.0.01/",
            "http://127.256.0.1/",
            "http://127.0.0.1:08/",
            "http://127.0.0.1:/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[::1/",
            "http://127.0.0.1/a b",
            "http://127.0.0.1/%zz",
            "http://127.0.0.1/%2",
            "http://127.0.0.1/é",
            "http://127.0.0.1/{x}",
            "http://127.0.0.1/#fragment",
        ] {
            let e = check_callback_url(bad).expect_err(bad);
            assert!(e.contains("loopback"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_callback_reaches_the_listener_on_its_address_and_port_or_on_all_addresses() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(reaches(at("127.0.0.1:8080"), at("127.0.0.1:8080")));
        assert!(reaches(at("127.0.0.5:8080"), at("0.0.0.0:8080")));
        assert!(reaches(at("[::1]:8080"), at("[::]:8080")));
        assert!(!reaches(at("127.0.0.1:8081"), at("127.0.0.1:8080")));
        assert!(!reaches(at("127.0.0.2:8080"), at("127.0.0.1:8080")));
        assert!(!reaches(at("[::1]:8080"), at("127.0.0.1:8080")));
    }
}
