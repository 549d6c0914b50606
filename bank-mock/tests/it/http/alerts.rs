//! Fraud alerts over real HTTP: event subscriptions at the bank, and a test receiver on
//! 127.0.0.1:0 standing in for the platform's callback. The bank's calendar runs fast (a
//! simulated day per wall second or more) so transactions fall due while the test waits; waits
//! are bounded liveness checks, never assertions on speed.

use super::*;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// A day of the calendar per wall-clock second.
const FAST: f64 = 86_400.0;

/// A callback on 127.0.0.1:0 that keeps every notification body and answers 202 (or the status
/// it was started with, after the delay it was started with).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::answering(hyper::StatusCode::ACCEPTED, Duration::ZERO).await
    }

    async fn answering(status: hyper::StatusCode, delay: Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = got.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let sink = sink.clone();
                    async move {
                        let body = request.into_body().collect().await?.to_bytes();
                        sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        tokio::time::sleep(delay).await;
                        let mut answer = hyper::Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = status;
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Receiver { url, got }
    }

    fn alerts(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

/// Polls `done` every 10 ms; panics naming `what` if it does not hold within 60 s.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("waited 60 s for {what}");
}

fn booked_ms(alert: &Value) -> u64 {
    alert["Data"]["FraudAlert"][0]["BookingDateTimeMs"].as_u64().expect("BookingDateTimeMs granted in live-demo")
}

/// Consents for `customers`: ConsentId → customer.
async fn consents(api: &Api, bank: &Bank, agreement: &str, customers: std::ops::Range<u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in customers {
        out.insert(consent(api, bank, agreement, c).await.0, c);
    }
    out
}

async fn subscribe(api: &Api, bank: &Bank, agreement: &str, body: Value) -> Resp {
    api.post(bank, "/event-subscriptions").bearer(agreement).json(body).send().await
}

/// The agreement token of `platform` at `bank`.
async fn agreement_of(api: &Api, bank: &Bank, platform: &str) -> String {
    let a = agree(api, bank, platform).await;
    a["Agreement"]["Token"].as_str().unwrap_or_else(|| panic!("{platform} agreed: {a}")).to_string()
}

/// Fraud-alert records the bank's ledger counts as disclosed to `platform`.
fn alert_records_counted(bank: &Bank, platform: &str) -> u64 {
    let desk = bank.state.desk();
    let ledger = desk.ledgers()[platform].summarize(desk.population(), platform, [1.0, 3.0, 9.0]);
    ledger.by_purpose.get("fraud_alerts").map_or(0, |p| p.records)
}

/// `token` with the last digit of its MAC changed: well-formed, but not made by the bank.
fn forged(token: &str) -> String {
    let last = if token.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &token[..token.len() - 1])
}

async fn subscribed(api: &Api, bank: &Bank, agreement: &str, callback: &str) -> String {
    let r = subscribe(api, bank, agreement, json!({"Data": {"CallbackUrl": callback}})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["Data"]["EventSubscriptionId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_subscription_is_refused_with_403_when_the_terms_leave_out_fraud_alerts() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/live-demo.toml")).unwrap();
    let text = text.replace("\"balance_display+fraud_alerts+commerce\"", "\"balance_display+commerce\"");
    let sc = Arc::new(testbed_core::scenario::parse(&text).unwrap());
    let bank = Bank::start_at(sc, "demo-bank", 1.0).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let body = json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/events"}});
    let r = subscribe(&api, &bank, &agreement, body.clone()).await;
    let e = assert_error(&r, 403, "purpose_not_agreed");
    assert!(e["Message"].as_str().unwrap().contains("fraud_alerts"), "{e}");
    // Other credentials: an access token is the wrong kind, garbage is no token at all.
    let (_, access) = consent(&api, &bank, &agreement, 1).await;
    assert_error(&subscribe(&api, &bank, &access, body.clone()).await, 403, "forbidden");
    assert_error(&subscribe(&api, &bank, "garbage", body).await, 401, "unauthorized");
    api.check_openapi();
}

#[tokio::test]
async fn a_second_subscription_of_a_platform_gets_409_while_its_first_is_active() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let first = subscribed(&api, &bank, &agreement, "http://127.0.0.1:9/events").await;
    let r = subscribe(&api, &bank, &agreement, json!({"Data": {"CallbackUrl": "http://127.0.0.1:10/other"}})).await;
    let e = assert_error(&r, 409, "subscription_exists");
    assert!(e["Message"].as_str().unwrap().contains(&format!("subscription {first}")), "{e}");
    // The first is untouched; once it is deleted the platform may subscribe again.
    let target = format!("/event-subscriptions/{first}");
    let r = api.get(&bank, &target).bearer(&agreement).send().await;
    assert_eq!((r.status, &r.json()["Data"]["CallbackUrl"]), (200, &json!("http://127.0.0.1:9/events")));
    assert_eq!(api.delete(&bank, &target).bearer(&agreement).send().await.status, 204);
    subscribed(&api, &bank, &agreement, "http://127.0.0.1:10/other").await;
    api.check_openapi();
}

#[tokio::test]
async fn another_platforms_subscription_id_gets_the_same_404_as_a_missing_one() {
    let bank = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let api = Api::new();
    let agreement = agreement_of(&api, &bank, PLATFORM).await;
    let other = agreement_of(&api, &bank, OTHER_PLATFORM).await;
    let id: u64 = subscribed(&api, &bank, &agreement, "http://127.0.0.1:9/events").await.parse().unwrap();
    let (theirs, missing) = (format!("/event-subscriptions/{id}"), format!("/event-subscriptions/{}", id + 100));
    let missing_get = api.get(&bank, &missing).bearer(&other).send().await;
    assert_error(&missing_get, 404, "not_found");
    let r = api.get(&bank, &theirs).bearer(&other).send().await;
    assert_eq!((r.status, r.json()), (404, missing_get.json()), "GET of another platform's subscription");
    let missing_delete = api.delete(&bank, &missing).bearer(&other).send().await;
    let r = api.delete(&bank, &theirs).bearer(&other).send().await;
    assert_eq!((r.status, r.json()), (404, missing_delete.json()), "DELETE of another platform's subscription");
    // Its own platform still has it; a forged token is still no token.
    assert_eq!(api.get(&bank, &theirs).bearer(&agreement).send().await.status, 200);
    let forged = forged(&agreement);
    assert_error(&api.get(&bank, &theirs).bearer(&forged).send().await, 401, "unauthorized");
    assert_error(&api.delete(&bank, &theirs).bearer(&forged).send().await, 401, "unauthorized");
    api.check_openapi();
}

#[tokio::test]
async fn a_subscription_request_without_a_valid_token_gets_401_before_its_body_is_read() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let forged = forged(&agreement);
    for body in [json!({"Data": {"CallbackUrl": 9}}), json!({"Data": {}}), json!(["not", "an", "object"])] {
        let r = api.post(&bank, "/event-subscriptions").json(body.clone()).send().await;
        assert_error(&r, 401, "unauthorized");
        assert_error(&subscribe(&api, &bank, &forged, body.clone()).await, 401, "unauthorized");
        // With the real token the body is read, and refused.
        assert_error(&subscribe(&api, &bank, &agreement, body).await, 400, "invalid_body");
    }
    api.check_openapi();
}

#[tokio::test]
async fn a_callback_at_the_banks_own_address_gets_400() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    for url in [format!("http://{}/accounts", bank.addr), format!("http://{}", bank.addr)] {
        let r = subscribe(&api, &bank, &agreement, json!({"Data": {"CallbackUrl": url}})).await;
        let e = assert_error(&r, 400, "invalid_callback_url");
        assert_eq!(e["Path"], "Data.CallbackUrl", "{url}: {e}");
        assert!(e["Message"].as_str().unwrap().contains("this bank's own address"), "{url}: {e}");
    }
    // Another port on the same address is somebody else's.
    let elsewhere = format!("http://127.0.0.1:{}/events", if bank.addr.port() == 9 { 10 } else { 9 });
    subscribed(&api, &bank, &agreement, &elsewhere).await;
    api.check_openapi();
}

#[tokio::test]
async fn callbacks_off_loopback_or_not_plain_http_get_400_naming_the_field() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    for url in [
        "http://10.1.2.3:80/x",
        "https://127.0.0.1:9/",
        "http://localhost:9/",
        "http://example.com/",
        "http://[::2]:9/",
        "http://127.0.0.1:0/",
    ] {
        let r = subscribe(&api, &bank, &agreement, json!({"Data": {"CallbackUrl": url}})).await;
        let e = assert_error(&r, 400, "invalid_callback_url");
        assert_eq!(e["Path"], "Data.CallbackUrl", "{url}: {e}");
        assert!(e["Message"].as_str().unwrap().contains("loopback"), "{url}: {e}");
    }
    // Strict bodies: unknown members, wrong types, unknown event types, empty lists, a zero rate.
    for body in [
        json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "Version": "1.0"}}),
        json!({"Data": {"CallbackUrl": 9}}),
        json!({"Data": {}}),
        json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "EventTypes": ["balance_changed"]}}),
        json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "EventTypes": []}}),
        json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "MaxEventsPerSecond": 0}}),
        json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "MaxEventsPerSecond": 1.5}}),
    ] {
        assert_error(&subscribe(&api, &bank, &agreement, body).await, 400, "invalid_body");
    }
    // Both loopback forms are fine, and a subscription reads back as created.
    for url in ["http://127.0.0.1:9/events", "http://[::1]:9/events?platform=demo"] {
        let body = json!({"Data": {"CallbackUrl": url, "EventTypes": ["fraud_alert"], "MaxEventsPerSecond": 5}});
        let r = subscribe(&api, &bank, &agreement, body).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["Data"]["EventSubscriptionId"].as_str().unwrap().to_string();
        let got = api.get(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
        assert_eq!((got.status, &got.json()["Data"]["CallbackUrl"]), (200, &json!(url)));
        assert_eq!(got.json()["Data"]["MaxEventsPerSecond"], 5);
        let r = api.delete(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
        assert_eq!(r.status, 204);
    }
    api.check_openapi();
}

#[tokio::test]
async fn alerts_reach_the_callback_with_only_the_fields_the_terms_allow_and_the_bank_counts_them() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let customers = consents(&api, &bank, &agreement, 0..20).await;
    let receiver = Receiver::start().await;
    let id = subscribed(&api, &bank, &agreement, &receiver.url).await;
    wait_for("10 alerts", || receiver.alerts().len() >= 10).await;
    let r = api.delete(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
    assert_eq!(r.status, 204);
    let alerts = receiver.alerts();
    let spec = bank.population();
    // live-demo grants detailed on-platform transactions and no derived signals: no fraud flag.
    let allowed: BTreeSet<&str> = [
        "TransactionId",
        "AccountId",
        "Amount",
        "BookingDateTimeMs",
        "Status",
        "MerchantCategory",
        "MerchantName",
        "PlaceZip5",
    ]
    .into();
    let mut ids = BTreeSet::new();
    for alert in &alerts {
        let errors = spec_errors_of_notification(alert);
        assert!(errors.is_empty(), "{alert}: {errors:?}");
        assert_eq!(alert["EventType"], "fraud_alert");
        assert_eq!(alert["EventSubscriptionId"], id.as_str());
        assert!(ids.insert(alert["EventId"].as_str().unwrap().to_string()), "EventId repeats: {alert}");
        let record = alert["Data"]["FraudAlert"][0].as_object().unwrap();
        assert!(record.keys().all(|k| allowed.contains(k.as_str())), "{record:?}");
        // The record is the customer's own on-platform transaction, booked when it says.
        let customer = customers[alert["ConsentId"].as_str().unwrap()];
        assert_eq!(record["AccountId"], format!("card-demo-bank-{customer}"));
        let at = booked_ms(alert);
        let day = booked(&spec, customer, at / 86_400_000, at / 86_400_000 + 1);
        let t = day.iter().find(|t| t.at_ms == at).unwrap_or_else(|| panic!("no transaction at {at}: {alert}"));
        assert!(t.on_platform, "off-platform transaction sent: {alert}");
        assert_eq!(record["TransactionId"], api::transaction_id(&format!("card-demo-bank-{customer}"), t.id));
    }
    // Every alert acknowledged was counted by the bank, one record each, under fraud_alerts (the
    // DELETE was answered once the alerts on their way were).
    assert_eq!(alert_records_counted(&bank, PLATFORM), alerts.len() as u64);
    let metrics = api.get(&bank, "/metrics").send().await.text();
    let sent = sample(&metrics, "bank_alerts_sent_total{bank=\"demo-bank\"}").unwrap();
    assert!(sent >= alerts.len() as f64, "sent {sent}, received {}", alerts.len());
    let desk = bank.state.desk();
    let ledger = desk.ledgers()[PLATFORM].summarize(desk.population(), PLATFORM, [1.0, 3.0, 9.0]);
    let exposed: BTreeSet<u64> = alerts.iter().map(|a| customers[a["ConsentId"].as_str().unwrap()]).collect();
    assert!(ledger.customers_exposed >= exposed.len() as u64);
    drop(desk);
    api.check_openapi();
}

#[tokio::test]
async fn alerts_pass_the_banks_door_so_an_outage_holds_them_until_the_bank_is_back() {
    // live-demo's demo-bank, down for the first 12 hours of its calendar (half a wall second).
    let mut sc = (*scenario()).clone();
    let bank_index = sc.bank_index("demo-bank").unwrap();
    let outage = Duration::from_secs(12 * 3600);
    sc.events.push(testbed_core::scenario::ScheduledEvent {
        at: Duration::ZERO,
        description: "down".into(),
        kind: testbed_core::scenario::EventKind::Outage { bank: bank_index, duration: outage },
    });
    let bank = Bank::start_at(Arc::new(sc), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    consents(&api, &bank, &agreement, 0..20).await;
    let receiver = Receiver::start().await;
    subscribed(&api, &bank, &agreement, &receiver.url).await;
    let back = SimTime::ZERO + outage;
    // Nothing arrives while the bank is down: what was received is read before the calendar, so
    // a calendar still in the outage means nothing could have left when it was read.
    loop {
        let received = receiver.alerts().len();
        if bank.state.sim_now() >= back {
            break;
        }
        assert_eq!(received, 0, "an alert left during the outage");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The alerts booked during the outage were held, not lost: they come once the bank is back.
    let held = || receiver.alerts().iter().filter(|a| booked_ms(a) < back.as_millis()).count();
    wait_for("an alert booked during the outage", || held() > 0).await;
    // Each alert took a worker of the bank, as a data request does (no data request was made).
    let metrics = api.get(&bank, "/metrics").send().await.text();
    let admitted = sample(&metrics, "bank_requests_admitted_total{bank=\"demo-bank\"}").unwrap();
    assert!(admitted >= receiver.alerts().len() as f64, "{admitted} admitted, {} alerts", receiver.alerts().len());
}

#[tokio::test]
async fn an_alert_the_callback_did_not_acknowledge_is_not_counted_as_disclosed() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    consents(&api, &bank, &agreement, 0..20).await;
    // The callback gets every notification but answers 500: none is acknowledged.
    let refusing = Receiver::answering(hyper::StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    subscribed(&api, &bank, &agreement, &refusing.url).await;
    let failed = || async {
        let metrics = api.get(&bank, "/metrics").send().await.text();
        sample(&metrics, "bank_alerts_failed_total{bank=\"demo-bank\"}").unwrap_or(0.0)
    };
    let mut waited = 0;
    while failed().await < 5.0 {
        waited += 1;
        assert!(waited < 6_000, "fewer than 5 failed sends after 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refusing.alerts().len() >= 5, "the refusing callback saw the sends");
    assert_eq!(alert_records_counted(&bank, PLATFORM), 0, "unacknowledged alerts were counted as disclosed");
    api.check_openapi();
}

/// `FraudAlertNotification` of openapi.json (the callback's request body) against `alert`.
fn spec_errors_of_notification(alert: &Value) -> Vec<String> {
    let schema = json!({"$ref": "#/components/schemas/FraudAlertNotification"});
    let callback = &spec().doc["paths"]["/event-subscriptions"]["post"]["callbacks"]["fraudAlert"];
    let documented =
        &callback["{$request.body#/Data/CallbackUrl}"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(documented, &schema, "the callback documents the notification schema");
    spec().errors("callback FraudAlertNotification", &schema, alert)
}

/// Booking times of the alerts about the consents `ids`.
fn bookings_about(ids: &BTreeMap<String, u64>, alerts: &[Value]) -> Vec<u64> {
    alerts.iter().filter(|a| ids.contains_key(a["ConsentId"].as_str().unwrap())).map(booked_ms).collect()
}

#[tokio::test]
async fn no_alert_is_pushed_about_a_transaction_outside_the_consents_window() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    // Customers 0..10 consent to their transactions of 2018-01-01 only; 10..20 to all.
    let until_ms = 86_400_000;
    let mut windowed = BTreeMap::new();
    for c in 0..10 {
        let body = json!({"Data": {"CustomerId": c, "TransactionToDateTime": "2018-01-02T00:00:00Z"}});
        let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
        assert_eq!(r.status, 201, "{}", r.text());
        windowed.insert(r.json()["Data"]["ConsentId"].as_str().unwrap().to_string(), c);
    }
    let open = consents(&api, &bank, &agreement, 10..20).await;
    let receiver = Receiver::start().await;
    subscribed(&api, &bank, &agreement, &receiver.url).await;
    let later = until_ms + 2 * 86_400_000;
    wait_for("alerts two days after the window closed", || {
        bookings_about(&open, &receiver.alerts()).iter().any(|&t| t > later)
    })
    .await;
    let outside: Vec<u64> =
        bookings_about(&windowed, &receiver.alerts()).into_iter().filter(|&t| t >= until_ms).collect();
    assert!(outside.is_empty(), "alerts booked after the consents' window closed at {until_ms}: {outside:?}");
    api.check_openapi();
}

#[tokio::test]
async fn the_bank_ends_a_subscription_whose_callback_keeps_failing() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    consents(&api, &bank, &agreement, 0..20).await;
    // A loopback port nobody listens on any more: every send is refused.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/events", listener.local_addr().unwrap())
    };
    let id = subscribed(&api, &bank, &agreement, &dead).await;
    let mut ended = false;
    for _ in 0..600 {
        let r = api.get(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
        if r.status == 404 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the subscription to a dead callback was still there after 60 s");
    let metrics = api.get(&bank, "/metrics").send().await.text();
    assert!(metrics.contains("bank_event_subscriptions_ended_total{bank=\"demo-bank\"} 1"), "{metrics}");
    api.check_openapi();
}

#[tokio::test]
async fn no_alert_about_a_customer_is_sent_once_their_consent_is_revoked() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let revoked = consents(&api, &bank, &agreement, 0..10).await;
    let kept = consents(&api, &bank, &agreement, 10..20).await;
    let receiver = Receiver::start().await;
    subscribed(&api, &bank, &agreement, &receiver.url).await;
    let of_revoked = |alerts: &[Value]| bookings_about(&revoked, alerts);
    let of_kept = |alerts: &[Value]| bookings_about(&kept, alerts);
    wait_for("an alert about a customer to revoke", || !of_revoked(&receiver.alerts()).is_empty()).await;
    for id in revoked.keys() {
        let r = api.delete(&bank, &format!("/account-access-consents/{id}")).bearer(&agreement).send().await;
        assert_eq!(r.status, 204);
    }
    let revoked_at = bank.state.sim_now().as_millis();
    // Two simulated days later for the customers still linked...
    let later = revoked_at + 2 * 86_400_000;
    wait_for("alerts two days after the revocation", || of_kept(&receiver.alerts()).iter().any(|&t| t > later)).await;
    // ...the revoked customers had on-platform transactions, but no alert about them came.
    let spec = bank.population();
    let missed: usize = revoked
        .values()
        .map(|&c| {
            booked(&spec, c, revoked_at / 86_400_000, later / 86_400_000 + 1)
                .iter()
                .filter(|t| t.on_platform && t.at_ms > revoked_at && t.at_ms <= later)
                .count()
        })
        .sum();
    assert!(missed > 0, "the revoked customers booked nothing on the platform in two days");
    let after: Vec<u64> = of_revoked(&receiver.alerts()).into_iter().filter(|&t| t > revoked_at).collect();
    assert!(after.is_empty(), "alerts booked after the revocation at {revoked_at}: {after:?}");
    api.check_openapi();
}

#[tokio::test]
async fn deleting_a_subscription_stops_its_alerts_and_leaves_the_others_running() {
    let bank = Bank::start_at(two_platform_scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_of(&api, &bank, PLATFORM).await;
    let other = agreement_of(&api, &bank, OTHER_PLATFORM).await;
    consents(&api, &bank, &agreement, 0..20).await;
    consents(&api, &bank, &other, 0..20).await;
    let (gone, staying) = (Receiver::start().await, Receiver::start().await);
    let gone_id = subscribed(&api, &bank, &agreement, &gone.url).await;
    subscribed(&api, &bank, &other, &staying.url).await;
    wait_for("an alert at the callback to unsubscribe", || !gone.alerts().is_empty()).await;
    let r = api.delete(&bank, &format!("/event-subscriptions/{gone_id}")).bearer(&agreement).send().await;
    assert_eq!(r.status, 204);
    let deleted_at = bank.state.sim_now().as_millis();
    let later = deleted_at + 2 * 86_400_000;
    wait_for("alerts two days after the DELETE", || staying.alerts().iter().any(|a| booked_ms(a) > later)).await;
    let after: Vec<u64> = gone.alerts().iter().map(booked_ms).filter(|&t| t > deleted_at).collect();
    assert!(after.is_empty(), "alerts booked after the DELETE at {deleted_at}: {after:?}");
    let target = format!("/event-subscriptions/{gone_id}");
    assert_error(&api.get(&bank, &target).bearer(&agreement).send().await, 404, "not_found");
    assert_error(&api.delete(&bank, &target).bearer(&agreement).send().await, 404, "not_found");
    api.check_openapi();
}

#[tokio::test]
async fn once_a_delete_is_answered_every_alert_its_callback_acknowledged_is_counted() {
    let bank = Bank::start_at(scenario(), "demo-bank", FAST).await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    consents(&api, &bank, &agreement, 0..20).await;
    // A callback that keeps each notification at once and acknowledges it a second later.
    let slow = Receiver::answering(hyper::StatusCode::ACCEPTED, Duration::from_secs(1)).await;
    let id = subscribed(&api, &bank, &agreement, &slow.url).await;
    wait_for("an alert at the callback", || !slow.alerts().is_empty()).await;
    // The alert just received is still unacknowledged: the DELETE's answer waits for it.
    let r = api.delete(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
    assert_eq!(r.status, 204);
    let received = slow.alerts().len() as u64;
    assert_eq!(alert_records_counted(&bank, PLATFORM), received, "counted when the DELETE was answered");
    api.check_openapi();
}

#[tokio::test]
async fn a_slow_callback_gets_alerts_dropped_and_counted_not_queued() {
    // Ten simulated days per second: over a hundred alerts a second for 20 customers.
    let bank = Bank::start_at(two_platform_scenario(), "demo-bank", 10.0 * FAST).await;
    let api = Api::new();
    let agreement = agreement_of(&api, &bank, PLATFORM).await;
    let other = agreement_of(&api, &bank, OTHER_PLATFORM).await;
    consents(&api, &bank, &agreement, 0..20).await;
    consents(&api, &bank, &other, 0..20).await;
    // A callback that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/events", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    subscribed(&api, &bank, &agreement, &silent_url).await;
    // And, for the other platform, one that answers but wants at most one alert a second.
    let receiver = Receiver::start().await;
    let body = json!({"Data": {"CallbackUrl": receiver.url, "MaxEventsPerSecond": 1}});
    assert_eq!(subscribe(&api, &bank, &other, body).await.status, 201);
    let dropped = |reason: &str| {
        let api = &api;
        let bank = &bank;
        let name = format!("bank_alerts_dropped_total{{bank=\"demo-bank\",reason=\"{reason}\"}}");
        async move { sample(&api.get(bank, "/metrics").send().await.text(), &name).unwrap_or(0.0) }
    };
    let mut waited = 0;
    while dropped("slow_callback").await < 1.0 || dropped("max_events_per_second").await < 1.0 {
        waited += 1;
        assert!(waited < 6_000, "no drops counted after 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The bank keeps serving data meanwhile.
    let (_, access) = consent(&api, &bank, &agreement, 30).await;
    let r = api.get(&bank, "/accounts/chk-demo-bank-30/balances").bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}
