//! openapi.json and the server agree on what is well formed: a value the document's schema
//! allows is taken, and one it refuses is refused, for the inputs whose one spelling the
//! document states by a pattern (dates, callback URLs) or a bound (the page number). A
//! schema-driven client such as schemathesis relies on it (`.ci/schemathesis`).

use super::*;

/// The JSON Schema validator of an OpenAPI schema, formats asserted as a fuzzer asserts them.
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft7::options().should_validate_formats(true).build(schema).expect("the schema compiles")
}

fn document() -> Value {
    serde_json::from_str(OPENAPI).unwrap()
}

/// Every byte but letters and digits as `%XX`, so that the query carries `text` unchanged.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

const DATES: [&str; 21] = [
    "2018-01-01T00:00:00Z",
    "2018-03-01T12:34:56.789Z",
    "2018-01-01T00:00:00.123456789Z",
    "2020-02-29T23:59:59Z",
    "9999-12-31T23:59:59Z",
    "2017-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2018-01-01T00:00:00",
    "2018-01-01T00:00:00+00:00",
    "2018-01-01T01:00:00+01:00",
    "2018-01-01t00:00:00z",
    "2018-01-01 00:00:00Z",
    "2018-01-01T00:00:00.Z",
    "2018-01-01T00:00:00.1234567890Z",
    "2018-12-31T23:59:60Z",
    "2019-02-29T00:00:00Z",
    "2018-01-01T24:00:00Z",
    "2018-01-01T00:00:00ZZ",
    "20180101T000000Z",
    "",
];

#[tokio::test]
async fn a_date_is_taken_exactly_when_the_documents_schema_allows_it() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (agreement, _, access) = consented(&api, &bank).await;
    let doc = document();
    let consent_date =
        validator(&doc["components"]["schemas"]["ConsentRequestData"]["properties"]["TransactionFromDateTime"]);
    let params = doc["paths"]["/accounts/{account}/transactions"]["get"]["parameters"].as_array().unwrap();
    let query_date = params.iter().find(|p| p["name"] == "fromBookingDateTime").unwrap();
    let query_date = validator(&query_date["schema"]);
    let mut taken = 0;
    for date in DATES {
        let allowed = query_date.is_valid(&json!(date));
        assert_eq!(allowed, consent_date.is_valid(&json!(date)), "{date}: one spelling for both");
        let encoded = percent_encoded(date);
        let target = format!(
            "/accounts/card-demo-bank-3/transactions?fromBookingDateTime={encoded}&toBookingDateTime={encoded}"
        );
        let r = api.get(&bank, &target).bearer(&access).send().await;
        if allowed {
            assert_eq!(r.status, 200, "{date}: {}", r.text());
            taken += 1;
        } else {
            assert_error(&r, 400, "invalid_date");
        }
        let body = json!({"Data": {"CustomerId": 4, "TransactionFromDateTime": date, "TransactionToDateTime": date}});
        let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
        if allowed {
            assert_eq!(r.status, 201, "{date}: {}", r.text());
        } else {
            let e = assert_error(&r, 400, "invalid_date");
            assert_eq!(e["Path"], "Data.TransactionFromDateTime", "{date}");
        }
    }
    assert_eq!(taken, 7, "the well-formed dates of the list (before 2018 means day 0)");
    api.check_openapi();
}

#[tokio::test]
async fn a_callback_url_is_taken_exactly_when_the_documents_schema_allows_it() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let doc = document();
    let callback =
        validator(&doc["components"]["schemas"]["EventSubscriptionRequestData"]["properties"]["CallbackUrl"]);
    let urls = [
        "http://127.0.0.1:9000/events",
        "http://127.1.2.3",
        "http://[::1]:9/x?y=1",
        "http://127.0.0.1:65535?a=/b?c",
        "http://127.255.255.255/a%2Fb~!$&'()*+,;=:@",
        "http://127.0.0.01/",
        "http://127.256.0.1/",
        "http://127.0.0.1:08/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://127.651.16.85:8/",
        "http://10.0.0.1/",
        "https://127.0.0.1/",
        "http://user@127.0.0.1/",
        "http://127.0.0.1/%zz",
        "http://127.0.0.1/a\"b",
        "http://127.0.0.1/#fragment",
    ];
    let mut taken = 0;
    for url in urls {
        let r = api
            .post(&bank, "/event-subscriptions")
            .bearer(&agreement)
            .json(json!({"Data": {"CallbackUrl": url}}))
            .send()
            .await;
        if callback.is_valid(&json!(url)) {
            assert_eq!(r.status, 201, "{url}: {}", r.text());
            // One subscription per platform: make room for the next.
            let id = r.json()["Data"]["EventSubscriptionId"].as_str().unwrap().to_string();
            let r = api.delete(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
            assert_eq!(r.status, 204, "{}", r.text());
            taken += 1;
        } else {
            let e = assert_error(&r, 400, "invalid_callback_url");
            assert_eq!(e["Path"], "Data.CallbackUrl", "{url}");
        }
    }
    assert_eq!(taken, 5, "the well-formed URLs of the list");
    api.check_openapi();
}

#[tokio::test]
async fn the_highest_page_the_document_allows_is_the_highest_the_server_takes() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let doc = document();
    let params = doc["paths"]["/accounts/{account}/transactions"]["get"]["parameters"].as_array().unwrap();
    let highest = params.iter().find(|p| p["name"] == "page").unwrap()["schema"]["maximum"].as_u64().unwrap();
    let page = |n: u64| format!("/accounts/card-demo-bank-3/transactions?page={n}");
    let r = api.get(&bank, &page(highest)).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.get(&bank, &page(highest + 1)).bearer(&access).send().await;
    let e = assert_error(&r, 400, "invalid_query");
    assert_eq!(e["Path"], "page");
    api.check_openapi();
}

#[tokio::test]
async fn max_events_per_second_is_taken_exactly_in_the_range_the_document_gives() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let doc = document();
    let rate =
        validator(&doc["components"]["schemas"]["EventSubscriptionRequestData"]["properties"]["MaxEventsPerSecond"]);
    for n in [1u64, 2_147_483_647, 2_147_483_648, 4_294_967_295, 0, 4_294_967_296] {
        let body = json!({"Data": {"CallbackUrl": "http://127.0.0.1:9/", "MaxEventsPerSecond": n}});
        let r = api.post(&bank, "/event-subscriptions").bearer(&agreement).json(body).send().await;
        if rate.is_valid(&json!(n)) {
            assert_eq!(r.status, 201, "{n}: {}", r.text());
            let id = r.json()["Data"]["EventSubscriptionId"].as_str().unwrap().to_string();
            let r = api.delete(&bank, &format!("/event-subscriptions/{id}")).bearer(&agreement).send().await;
            assert_eq!(r.status, 204, "{}", r.text());
        } else {
            assert_error(&r, 400, "invalid_body");
        }
    }
    api.check_openapi();
}

#[test]
fn every_integers_bounds_fit_its_format() {
    // MaxEventsPerSecond once said `int32` with a maximum of 2^32 − 1: a fuzzer reading the
    // format sent 2^31 as invalid and got 201.
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                let range = match m.get("format").and_then(Value::as_str) {
                    Some("int32") => Some((i64::from(i32::MIN) as f64, i64::from(i32::MAX) as f64)),
                    Some("int64") => Some((i64::MIN as f64, i64::MAX as f64)),
                    _ => None,
                };
                if let Some((low, high)) = range {
                    let fits = |key: &str| m.get(key).and_then(Value::as_f64).is_none_or(|b| (low..=high).contains(&b));
                    if !fits("minimum") || !fits("maximum") {
                        out.push(at.to_string());
                    }
                }
                for (k, x) in m {
                    walk(x, &format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    let mut misfits = Vec::new();
    walk(&document(), "", &mut misfits);
    assert!(misfits.is_empty(), "bounds outside the format: {misfits:?}");
}
