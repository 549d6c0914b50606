//! The live bank over real HTTP (`bank_mock::http`): each test starts the server in-process on
//! 127.0.0.1:0 with the `live-demo` scenario and talks to it with a hyper client. Every response
//! of every test is logged and, at the end of the test, checked against `openapi.json`: its
//! status must be documented for the route, its declared headers present and its body valid
//! against the response schema (with `$ref`s resolved into `components`). Request bodies answered
//! 2xx must match the documented request schema, and bodies refused as `invalid_body` must not.

use bank_mock::api;
use bank_mock::http::{AppState, Limits, LiveClock, MAX_BODY, OPENAPI, PAGE_SIZE, serve};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use testbed_core::SimTime;
use testbed_core::delay::Delay;
use testbed_core::population::{self, PopulationSpec, Transaction};
use testbed_core::scenario::Scenario;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod agreed;
mod alerts;
mod fdx;
mod obie;
mod spelling;
mod tls;

const PLATFORM: &str = "demo-platform";

// ---------------------------------------------------------------------------------------------
// A bank served in-process.
// ---------------------------------------------------------------------------------------------

fn live_demo_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/live-demo.toml");
    std::fs::read_to_string(path).expect("read live-demo.toml")
}

fn scenario() -> Arc<Scenario> {
    static SCENARIO: OnceLock<Arc<Scenario>> = OnceLock::new();
    SCENARIO
        .get_or_init(|| Arc::new(testbed_core::scenario::parse(&live_demo_text()).expect("live-demo.toml parses")))
        .clone()
}

const OTHER_PLATFORM: &str = "other-platform";

/// live-demo with a second platform, so that another platform's tokens exist.
fn two_platform_scenario() -> Arc<Scenario> {
    let text = format!(
        "{}\n[[platforms]]\nname = \"{OTHER_PLATFORM}\"\ntrust = 0.8\nstrategy = \"linear\"\nreservation = 0.0\nask = {{ balances = \"included\" }}\n",
        live_demo_text()
    );
    Arc::new(testbed_core::scenario::parse(&text).expect("live-demo with a second platform parses"))
}

/// One bank of `live-demo` listening on a free loopback port; stops when dropped.
struct Bank {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
}

impl Bank {
    /// Built as `bank-mock serve` builds it: the secret is the scenario's seed.
    async fn start(name: &'static str) -> Bank {
        Bank::start_in(scenario(), name).await
    }

    async fn start_in(sc: Arc<Scenario>, name: &'static str) -> Bank {
        Bank::start_at(sc, name, 1.0).await
    }

    /// `name` of `sc` on a free loopback port, its calendar running `scale` times real time.
    async fn start_at(sc: Arc<Scenario>, name: &str, scale: f64) -> Bank {
        Bank::start_from(sc, name, SimTime::ZERO, scale).await
    }

    /// A live-demo bank whose calendar starts on day `day` (at real time).
    async fn start_on_day(name: &'static str, day: u64) -> Bank {
        Bank::start_from(scenario(), name, SimTime::ZERO + Duration::from_secs(day * 86_400), 1.0).await
    }

    async fn start_from(sc: Arc<Scenario>, name: &str, offset: SimTime, scale: f64) -> Bank {
        Bank::start_limited(sc, name, LiveClock::new(offset, scale), Limits::default()).await
    }

    /// A live-demo bank holding clients to `limits`.
    async fn start_with(limits: Limits) -> Bank {
        Bank::start_limited(scenario(), "demo-bank", LiveClock::new(SimTime::ZERO, 1.0), limits).await
    }

    async fn start_limited(sc: Arc<Scenario>, name: &str, clock: LiveClock, limits: Limits) -> Bank {
        Bank::start_speaking(sc, name, clock, limits, bank_mock::http::ApiProfile::Testbed).await
    }

    async fn start_speaking(
        sc: Arc<Scenario>,
        name: &str,
        clock: LiveClock,
        limits: Limits,
        api: bank_mock::http::ApiProfile,
    ) -> Bank {
        let index = sc.bank_index(name).expect("bank in the scenario");
        let state = AppState::speaking(sc.clone(), index, sc.seed, clock, limits, api);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Bank { addr, state, stop: Some(stop) }
    }

    fn population(&self) -> PopulationSpec {
        self.state.desk().population().clone()
    }
}

impl Drop for Bank {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A client that logs every exchange.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Exchange {
    method: Method,
    /// Path and query as sent.
    target: String,
    request_body: Option<Vec<u8>>,
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Debug)]
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {:?}", self.status, self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Api {
    client: Client<HttpConnector, Full<Bytes>>,
    log: Mutex<Vec<Exchange>>,
    /// The document the exchanges are checked against.
    spec: &'static Spec,
}

struct Call<'a> {
    api: &'a Api,
    bank: &'a Bank,
    method: Method,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Api {
    fn new() -> Api {
        Api::checked_against(spec())
    }

    fn checked_against(spec: &'static Spec) -> Api {
        Api { client: Client::builder(TokioExecutor::new()).build_http(), log: Mutex::new(Vec::new()), spec }
    }

    fn call<'a>(&'a self, bank: &'a Bank, method: Method, target: &str) -> Call<'a> {
        Call { api: self, bank, method, target: target.to_string(), headers: Vec::new(), body: None }
    }

    fn get<'a>(&'a self, bank: &'a Bank, target: &str) -> Call<'a> {
        self.call(bank, Method::GET, target)
    }

    fn post<'a>(&'a self, bank: &'a Bank, target: &str) -> Call<'a> {
        self.call(bank, Method::POST, target)
    }

    fn delete<'a>(&'a self, bank: &'a Bank, target: &str) -> Call<'a> {
        self.call(bank, Method::DELETE, target)
    }

    /// Checks every logged exchange against `openapi.json`; panics listing every mismatch.
    fn check_openapi(&self) {
        let log = self.log.lock().unwrap();
        assert!(!log.is_empty(), "no exchange to check");
        let problems: Vec<String> = log.iter().filter_map(|x| check_exchange(x, self.spec).err()).collect();
        assert!(
            problems.is_empty(),
            "{} of {} responses do not match openapi.json:\n{}",
            problems.len(),
            log.len(),
            problems.join("\n")
        );
    }
}

impl Call<'_> {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    fn json(self, body: Value) -> Self {
        self.header("content-type", "application/json").raw(body.to_string().into_bytes())
    }

    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request; `Err` when no response came back (connection dropped or timeout).
    async fn try_send(self) -> Result<Resp, String> {
        let mut req =
            Request::builder().method(self.method.clone()).uri(format!("http://{}{}", self.bank.addr, self.target));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(Bytes::from(self.body.clone().unwrap_or_default()))).expect("request");
        let what = format!("{} {}", self.method, self.target);
        let exchange = async {
            let resp = self.api.client.request(req).await.map_err(|e| format!("{what}: no response: {e:?}"))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.map_err(|e| format!("{what}: body: {e}"))?.to_bytes();
            Ok::<_, String>(Resp { status, headers, body })
        };
        let resp = tokio::time::timeout(Duration::from_secs(5), exchange)
            .await
            .map_err(|_| format!("{what}: no response within 5 s"))??;
        self.api.log.lock().unwrap().push(Exchange {
            method: self.method,
            target: self.target,
            request_body: self.body,
            status: resp.status,
            headers: resp.headers.clone(),
            body: resp.body.clone(),
        });
        Ok(resp)
    }

    async fn send(self) -> Resp {
        self.try_send().await.unwrap_or_else(|e| panic!("{e} (did the handler panic?)"))
    }
}

/// Asserts the one error shape: exactly `Code`, `Message` and optionally `Path`, all strings.
#[track_caller]
fn assert_error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "status; body: {}", r.text());
    assert!(
        r.header("content-type").is_some_and(|c| c.starts_with("application/json")),
        "error content-type {:?}; body {:?}",
        r.header("content-type"),
        r.text()
    );
    let v = r.json();
    let obj = v.as_object().unwrap_or_else(|| panic!("error body is not an object: {v}"));
    assert!(obj.keys().all(|k| ["Code", "Message", "Path"].contains(&k.as_str())), "unexpected members: {v}");
    assert!(obj.get("Message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "no Message: {v}");
    assert!(obj.get("Path").is_none_or(Value::is_string), "Path not a string: {v}");
    assert_eq!(v["Code"], code, "code; body: {v}");
    v
}

// ---------------------------------------------------------------------------------------------
// openapi.json as a validator.
// ---------------------------------------------------------------------------------------------

struct Spec {
    /// The schema of an error on a route the document does not have.
    error_schema: &'static str,
    doc: Value,
    /// `components.schemas` with OpenAPI's `nullable` rewritten for JSON Schema.
    schemas: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::of(OPENAPI, "Error"))
}

/// The FDX profile's document.
fn fdx_spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::of(bank_mock::http::OPENAPI_FDX, "Error"))
}

/// The UK Open Banking profile's document.
fn obie_spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::of(bank_mock::http::OPENAPI_OBIE, "OBErrorResponse1"))
}

/// OpenAPI 3.0 `nullable: true` → `anyOf: [schema, {type: null}]`, recursively.
fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let nullable = m.get("nullable") == Some(&Value::Bool(true));
            let out: Map<String, Value> =
                m.iter().filter(|(k, _)| *k != "nullable").map(|(k, x)| (k.clone(), to_json_schema(x))).collect();
            if nullable { json!({"anyOf": [Value::Object(out), {"type": "null"}]}) } else { Value::Object(out) }
        }
        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

impl Spec {
    fn of(text: &str, error_schema: &'static str) -> Spec {
        let doc: Value = serde_json::from_str(text).expect("an OpenAPI document is JSON");
        let schemas = to_json_schema(&doc["components"]["schemas"]);
        Spec { error_schema, doc, schemas, validators: Mutex::new(HashMap::new()) }
    }

    /// Follows a `$ref` (`#/components/...`) within the document.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let target = self.doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
                self.resolve(target)
            }
            None => v,
        }
    }

    /// The path template of the document that matches `path`, if any.
    fn template(&self, path: &str) -> Option<&str> {
        let segs: Vec<&str> = path.split('/').collect();
        self.doc["paths"].as_object().unwrap().keys().map(String::as_str).find(|t| {
            let tsegs: Vec<&str> = t.split('/').collect();
            tsegs.len() == segs.len()
                && tsegs.iter().zip(&segs).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                let root = json!({"allOf": [to_json_schema(schema)], "components": {"schemas": self.schemas}});
                Arc::new(
                    jsonschema::draft7::options()
                        .should_validate_formats(true)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("schema of {key} does not compile: {e}")),
                )
            })
            .clone()
    }

    fn errors(&self, key: &str, schema: &Value, instance: &Value) -> Vec<String> {
        self.validator(key, schema).iter_errors(instance).map(|e| format!("at `{}`: {e}", e.instance_path())).collect()
    }
}

fn check_exchange(x: &Exchange, spec: &Spec) -> Result<(), String> {
    let path = x.target.split('?').next().unwrap();
    let what = format!("{} {} → {}", x.method, x.target, x.status);
    let body_text = String::from_utf8_lossy(&x.body);
    let json_body = || -> Result<Value, String> {
        serde_json::from_slice(&x.body).map_err(|e| format!("{what}: body is not JSON ({e}): {body_text:?}"))
    };
    let method = x.method.as_str().to_ascii_lowercase();
    let op = spec.template(path).and_then(|t| spec.doc["paths"][t].get(&method).map(|op| (t, op)));
    let Some((template, op)) = op else {
        // No such route or method: the router's own answer must still be the one error shape.
        let schema = json!({"$ref": format!("#/components/schemas/{}", spec.error_schema)});
        let errs = spec.errors(spec.error_schema, &schema, &json_body()?);
        return if errs.is_empty() && [404, 405].contains(&x.status) {
            Ok(())
        } else {
            Err(format!("{what}: undocumented route answered {} with {body_text:?} {errs:?}", x.status))
        };
    };
    let key = format!("{method} {template} {}", x.status);
    let response = op["responses"]
        .get(x.status.to_string())
        .map(|r| spec.resolve(r))
        .ok_or_else(|| format!("{what}: status {} not documented for {method} {template}", x.status))?;
    // Declared headers.
    for (name, h) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let value = x.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if h["required"] == true && value.is_none() {
            return Err(format!("{what}: required header {name} missing"));
        }
        if let (Some(value), "integer") = (value, h["schema"]["type"].as_str().unwrap_or_default()) {
            let min = h["schema"]["minimum"].as_i64().unwrap_or(i64::MIN);
            if value.parse::<i64>().map_or(true, |n| n < min) {
                return Err(format!("{what}: header {name}: {value:?} is not an integer >= {min}"));
            }
        }
    }
    // Body.
    let content_type = x.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return if x.body.is_empty() { Ok(()) } else { Err(format!("{what}: body where none is documented")) };
    };
    if let Some(media) = content.get("application/json") {
        if !content_type.starts_with("application/json") {
            return Err(format!("{what}: content-type {content_type:?}, documented application/json"));
        }
        let errs = spec.errors(&key, &media["schema"], &json_body()?);
        if !errs.is_empty() {
            return Err(format!("{what}: {}\n    body: {body_text}", errs.join("; ")));
        }
    } else if content.contains_key("text/plain") {
        if !content_type.starts_with("text/plain") {
            return Err(format!("{what}: content-type {content_type:?}, documented text/plain"));
        }
    } else {
        return Err(format!("{what}: no media type the checker knows"));
    }
    check_request_body(x, &method, template, op, spec)
}

/// A request body answered 2xx matches the documented request schema; one refused as
/// `invalid_body` (and still JSON) does not: the document is as strict as the server.
fn check_request_body(x: &Exchange, method: &str, template: &str, op: &Value, spec: &Spec) -> Result<(), String> {
    let Some(media) = op.get("requestBody").and_then(|b| b["content"].get("application/json")) else { return Ok(()) };
    let raw = x.request_body.clone().unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    let value = if text.trim().is_empty() { Some(json!({})) } else { serde_json::from_str::<Value>(&text).ok() };
    let Some(value) = value else { return Ok(()) };
    let key = format!("{method} {template} request");
    let errs = spec.errors(&key, &media["schema"], &value);
    let refused_as_invalid =
        x.status == 400 && serde_json::from_slice::<Value>(&x.body).is_ok_and(|b| b["Code"] == "invalid_body");
    let what = format!("{} {} → {}", x.method, x.target, x.status);
    if (200..300).contains(&x.status) && !errs.is_empty() {
        return Err(format!("{what}: the server accepted a request body the document rejects: {text} {errs:?}"));
    }
    if refused_as_invalid && errs.is_empty() {
        return Err(format!("{what}: the server refused a request body the document allows: {text}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Flows.
// ---------------------------------------------------------------------------------------------

/// `platform`'s client token at `bank`, as `bank-mock serve` prints it.
fn client(bank: &Bank, platform: &str) -> String {
    bank.state.client_token(platform).unwrap_or_else(|| panic!("{platform} negotiates with the bank"))
}

/// Opens a negotiation for `platform`, with its client token: `(the answer, its id, its token)`.
async fn open(api: &Api, bank: &Bank, platform: &str) -> (Value, String, String) {
    let r = api
        .post(bank, "/negotiations")
        .bearer(&client(bank, platform))
        .json(json!({"Platform": platform}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let opened = r.json();
    let id = opened["NegotiationId"].as_str().expect("NegotiationId is a string").to_string();
    let token = opened["NegotiationToken"].as_str().expect("NegotiationToken is a string").to_string();
    (opened, id, token)
}

/// Opens a negotiation for `platform`, offers the one outcome of live-demo, and returns the
/// bank's acceptance.
async fn agree(api: &Api, bank: &Bank, platform: &str) -> Value {
    let (opened, id, token) = open(api, bank, platform).await;
    let outcome = only_outcome(&opened);
    let r = api
        .post(bank, &format!("/negotiations/{id}/offers"))
        .bearer(&token)
        .json(json!({"Outcome": outcome}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// `{issue: its first option}` from the `Issues` of an opened negotiation.
fn only_outcome(opened: &Value) -> Value {
    let issues = opened["Issues"].as_array().expect("Issues");
    Value::Object(issues.iter().map(|i| (i["Name"].as_str().unwrap().to_string(), i["Options"][0].clone())).collect())
}

async fn agreement_token(api: &Api, bank: &Bank) -> String {
    let a = agree(api, bank, PLATFORM).await;
    assert_eq!(a["Decision"], "accept", "{a}");
    a["Agreement"]["Token"].as_str().unwrap().to_string()
}

/// Creates a consent for `customer`: `(ConsentId, AccessToken)`.
async fn consent(api: &Api, bank: &Bank, agreement: &str, customer: u64) -> (String, String) {
    let r = api
        .post(bank, "/account-access-consents")
        .bearer(agreement)
        .json(json!({"Data": {"CustomerId": customer}}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    (v["Data"]["ConsentId"].as_str().unwrap().to_string(), v["AccessToken"].as_str().unwrap().to_string())
}

/// A bank with an agreement and a consent for customer 3: `(agreement token, consent id, access token)`.
async fn consented(api: &Api, bank: &Bank) -> (String, String, String) {
    let agreement = agreement_token(api, bank).await;
    let (id, access) = consent(api, bank, &agreement, 3).await;
    (agreement, id, access)
}

/// Midnight (UTC) of day `day` of the mock calendar, in RFC 3339: `2018-01-01T00:00:00Z` for day 0.
fn calendar(day: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(bank_mock::http::EPOCH_UNIX + day * 86_400);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Customer `customer`'s transactions booked in days `[from_day, to_day)`.
fn booked(spec: &PopulationSpec, customer: u64, from_day: u64, to_day: u64) -> Vec<Transaction> {
    let mut out = Vec::new();
    for day in from_day..to_day {
        population::transactions_on_day(spec, customer, day as u32, &mut out);
    }
    out
}

fn transaction_ids(page: &Value) -> Vec<String> {
    page["Data"]["Transaction"]
        .as_array()
        .expect("Data.Transaction")
        .iter()
        .map(|t| t["TransactionId"].as_str().unwrap().to_string())
        .collect()
}

/// The value of the sample `name{labels}` in a Prometheus text body.
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Operations routes and the document itself.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn health_and_the_openapi_document_are_served() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let r = api.get(&bank, "/healthz").send().await;
    assert_eq!((r.status, r.json()), (200, json!({"Status": "ok"})));

    let r = api.get(&bank, "/openapi.json").send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    let mut served = r.json();
    assert_eq!(served["openapi"], "3.0.3");
    // The file, with `Outcome` narrowed to the scenario: each issue required, with its options.
    let outcome = served["components"]["schemas"]["Outcome"].take();
    let issues = scenario().space.issues().to_vec();
    let names: Vec<&str> = issues.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(outcome["required"], json!(names));
    assert_eq!(outcome["additionalProperties"], false);
    for issue in &issues {
        assert_eq!(outcome["properties"][&issue.name], json!({"type": "string", "enum": issue.options}));
    }
    let mut on_disk: Value = serde_json::from_str(OPENAPI).unwrap();
    on_disk["components"]["schemas"]["Outcome"].take();
    assert_eq!(served, on_disk, "apart from Outcome, the served document is the file");
    api.check_openapi();
}

#[test]
fn the_openapi_document_describes_every_route_and_only_those() {
    // The router of http/mod.rs, route by route.
    let routes = [
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("post", "/negotiations"),
        ("post", "/negotiations/{id}/offers"),
        ("post", "/negotiations/{id}/accept"),
        ("post", "/negotiations/{id}/withdraw"),
        ("post", "/negotiations/{id}/review"),
        ("post", "/agreements/{platform}/review"),
        ("post", "/account-access-consents"),
        ("get", "/account-access-consents/{id}"),
        ("delete", "/account-access-consents/{id}"),
        ("get", "/accounts"),
        ("get", "/accounts/{account}/balances"),
        ("get", "/accounts/{account}/transactions"),
        ("post", "/event-subscriptions"),
        ("get", "/event-subscriptions/{id}"),
        ("delete", "/event-subscriptions/{id}"),
    ];
    let spec = spec();
    let mut documented = BTreeSet::new();
    for (path, item) in spec.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            // Every response of every operation resolves and its schema compiles.
            for (status, r) in op["responses"].as_object().unwrap() {
                let r = spec.resolve(r);
                assert!(r["description"].is_string(), "{method} {path} {status}: no description");
                if let Some(s) = r.pointer("/content/application~1json/schema") {
                    spec.validator(&format!("{method} {path} {status}"), s);
                }
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r.pointer("/content/application~1json/schema/$ref"),
                        Some(&json!("#/components/schemas/Error")),
                        "{method} {path} {status} is not the error shape"
                    );
                }
            }
        }
    }
    let expected: BTreeSet<_> = routes.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected);
    // Every $ref anywhere resolves.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec.doc, &mut all);
    assert!(all.len() > 20);
    for r in all {
        assert!(spec.doc.pointer(r.trim_start_matches('#')).is_some(), "dangling {r}");
    }
    // 429 carries Retry-After; the data routes need a bearer token.
    let limited = spec.resolve(&spec.doc["paths"]["/accounts"]["get"]["responses"]["429"]);
    assert_eq!(limited["headers"]["Retry-After"]["required"], true);
    assert_eq!(spec.doc["paths"]["/accounts"]["get"]["security"], json!([{"bearerAuth": []}]));
    // Opening a negotiation takes the platform's client token; its answer carries the negotiation's.
    let open = &spec.doc["paths"]["/negotiations"]["post"];
    assert_eq!(open["security"], json!([{"clientAuth": []}]));
    for status in ["401", "403"] {
        assert!(open["responses"].get(status).is_some(), "POST /negotiations does not document {status}");
    }
    let opened = spec.resolve(&spec.doc["components"]["schemas"]["NegotiationOpened"]);
    assert!(opened["required"].as_array().unwrap().contains(&json!("NegotiationToken")));
    for path in [
        "/negotiations/{id}/offers",
        "/negotiations/{id}/accept",
        "/negotiations/{id}/withdraw",
        "/negotiations/{id}/review",
        "/agreements/{platform}/review",
    ] {
        let op = &spec.doc["paths"][path]["post"];
        assert_eq!(op["security"], json!([{"bearerAuth": []}]), "{path}");
        for status in ["401", "403"] {
            assert!(op["responses"].get(status).is_some(), "{path} does not document {status}");
        }
    }
}

#[test]
fn the_openapi_checker_rejects_what_the_document_does_not_allow() {
    let exchange = |method: Method, target: &str, status: u16, headers: &[(&str, &str)], body: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        for (k, v) in headers {
            h.insert(header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        Exchange {
            method,
            target: target.into(),
            request_body: None,
            status,
            headers: h,
            body: Bytes::from(body.to_string()),
        }
    };
    let ok = |x: Exchange| check_exchange(&x, spec());
    let error = r#"{"Code":"rate_limited","Message":"slow down"}"#;
    assert_eq!(ok(exchange(Method::GET, "/accounts", 429, &[("retry-after", "1")], error)), Ok(()));
    let consent = json!({"Data": {
        "ConsentId": "2", "Status": "Authorised", "Permissions": ["ReadBalances"], "CustomerId": 3,
        "CreationDateTime": "2018-01-01T00:00:00Z", "ExpirationDateTime": null,
        "TransactionFromDateTime": null, "TransactionToDateTime": null, "Revocation": null,
    }});
    assert_eq!(ok(exchange(Method::GET, "/account-access-consents/2", 200, &[], &consent.to_string())), Ok(()));
    // 429 without Retry-After; an undocumented status; an unknown error code; a null Path.
    let mut bad = vec![
        exchange(Method::GET, "/accounts", 429, &[], error),
        exchange(Method::GET, "/healthz", 500, &[], error),
        exchange(Method::GET, "/accounts", 400, &[], r#"{"Code":"oops","Message":"m"}"#),
        exchange(Method::GET, "/accounts", 400, &[], r#"{"Code":"invalid_query","Message":"m","Path":null}"#),
    ];
    // A leaked field, a missing member, a wrong date, an unmasked card number.
    let mut leaked = consent.clone();
    leaked["Data"]["Platform"] = json!("demo-platform");
    let mut missing = consent.clone();
    missing["Data"].as_object_mut().unwrap().remove("Revocation");
    let mut date = consent.clone();
    date["Data"]["CreationDateTime"] = json!("day 0");
    for c in [leaked, missing, date] {
        bad.push(exchange(Method::GET, "/account-access-consents/2", 200, &[], &c.to_string()));
    }
    let unmasked =
        json!({"Data": {"Account": [{"AccountId": "card-demo-bank-3", "MaskedNumber": "4111111111111111"}]}});
    bad.push(exchange(Method::GET, "/accounts", 200, &[], &unmasked.to_string()));
    // An undocumented route answering in text; a 204 with a body.
    bad.push(exchange(Method::GET, "/nowhere", 404, &[], "not found"));
    bad.push(exchange(Method::DELETE, "/account-access-consents/2", 204, &[], "{}"));
    for x in bad {
        assert!(check_exchange(&x, spec()).is_err(), "accepted: {} {} {} {:?}", x.method, x.target, x.status, x.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Client credentials: who may open a negotiation.
// ---------------------------------------------------------------------------------------------

/// Asserts that no negotiation was opened at `bank` so far: the next one, opened properly, is
/// number 1.
async fn assert_none_opened(api: &Api, bank: &Bank) {
    let (_, id, token) = open(api, bank, PLATFORM).await;
    assert_eq!(id, "1", "an earlier attempt opened a negotiation");
    withdraw(api, bank, &id, &token).await;
}

/// The platform withdraws from negotiation `id`, so that it may open another.
async fn withdraw(api: &Api, bank: &Bank, id: &str, token: &str) {
    let body = json!({"Clause": "test", "Reason": "done"});
    let r = api.post(bank, &format!("/negotiations/{id}/withdraw")).bearer(token).json(body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn opening_a_negotiation_without_a_client_token_gets_401_and_opens_nothing() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let r = api.post(&bank, "/negotiations").json(json!({"Platform": PLATFORM})).send().await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let client = client(&bank, PLATFORM);
    let r = api
        .post(&bank, "/negotiations")
        .header("authorization", &format!("Basic {client}"))
        .json(json!({"Platform": PLATFORM}))
        .send()
        .await;
    assert_error(&r, 401, "unauthorized");
    assert_none_opened(&api, &bank).await;
    api.check_openapi();
}

#[tokio::test]
async fn a_forged_client_token_gets_401_and_opens_nothing() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let client = client(&bank, PLATFORM);
    let (claims, mac) = client.rsplit_once('.').unwrap();
    let flipped = format!("{claims}.{:016x}", u64::from_str_radix(mac, 16).unwrap() ^ 1);
    // Under another key (another secret), and the real MAC moved to another platform.
    let other_key = bank_mock::desk::TokenMint::new(scenario().seed ^ 1, "demo-bank").client_token(PLATFORM);
    let moved = format!("cli.demo-bank.{OTHER_PLATFORM}.0.{mac}");
    for forged in [flipped, other_key, moved, claims.to_string()] {
        let body = json!({"Platform": forged.split('.').nth(2).unwrap()});
        let r = api.post(&bank, "/negotiations").bearer(&forged).json(body).send().await;
        assert_error(&r, 401, "unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{forged}");
    }
    assert_none_opened(&api, &bank).await;
    api.check_openapi();
}

#[tokio::test]
async fn another_platforms_client_token_gets_403_for_the_platform_in_the_body() {
    let bank = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let api = Api::new();
    let impostor = client(&bank, OTHER_PLATFORM);
    let r = api.post(&bank, "/negotiations").bearer(&impostor).json(json!({"Platform": PLATFORM})).send().await;
    let e = assert_error(&r, 403, "forbidden");
    let message = e["Message"].as_str().unwrap();
    assert!(message.contains(OTHER_PLATFORM) && message.contains("only in its own name"), "{message}");
    // The impostor did not pre-empt the platform: its own negotiation is the first, and agrees.
    assert_none_opened(&api, &bank).await;
    let a = agree(&api, &bank, PLATFORM).await;
    assert_eq!(a["Decision"], "accept", "{a}");
    api.check_openapi();
}

#[tokio::test]
async fn a_negotiation_agreement_or_access_token_does_not_open_a_negotiation() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, id, negotiation) = open(&api, &bank, PLATFORM).await;
    withdraw(&api, &bank, &id, &negotiation).await;
    let (agreement, _, access) = consented(&api, &bank).await;
    for token in [negotiation, agreement, access] {
        let r = api.post(&bank, "/negotiations").bearer(&token).json(json!({"Platform": PLATFORM})).send().await;
        let e = assert_error(&r, 403, "forbidden");
        assert!(e["Message"].as_str().unwrap().contains("client token"), "{e}");
    }
    api.check_openapi();
}

#[tokio::test]
async fn another_banks_client_token_gets_403() {
    let (bank, other) = (Bank::start("demo-bank").await, Bank::start("limited-bank").await);
    let api = Api::new();
    let theirs = client(&other, PLATFORM);
    let r = api.post(&bank, "/negotiations").bearer(&theirs).json(json!({"Platform": PLATFORM})).send().await;
    let e = assert_error(&r, 403, "forbidden");
    assert!(e["Message"].as_str().unwrap().contains("limited-bank"), "{e}");
    // Even when it names the bank, another bank's MAC does not check out here.
    let (_, mac) = theirs.rsplit_once('.').unwrap();
    let renamed = format!("cli.demo-bank.{PLATFORM}.0.{mac}");
    let r = api.post(&bank, "/negotiations").bearer(&renamed).json(json!({"Platform": PLATFORM})).send().await;
    assert_error(&r, 401, "unauthorized");
    assert_none_opened(&api, &bank).await;
    api.check_openapi();
}

#[tokio::test]
async fn the_platforms_own_client_token_opens_a_negotiation() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let token = client(&bank, PLATFORM);
    assert!(token.starts_with("cli.demo-bank.demo-platform.0."), "{token}");
    let r = api.post(&bank, "/negotiations").bearer(&token).json(json!({"Platform": PLATFORM})).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Platform"], PLATFORM);
    // One negotiation with a platform at a time: a second while the first is open gets 409 (both
    // could agree, and the second replace the first).
    let first = r.json();
    let again = api.post(&bank, "/negotiations").bearer(&token).json(json!({"Platform": PLATFORM})).send().await;
    let e = assert_error(&again, 409, "protocol_violation");
    assert!(e["Message"].as_str().unwrap().contains("is open"), "{e}");
    // A credential, not a one-time ticket: once the first ended, it opens the next.
    let (id, negotiation) = (first["NegotiationId"].as_str().unwrap(), first["NegotiationToken"].as_str().unwrap());
    withdraw(&api, &bank, id, negotiation).await;
    let r = api.post(&bank, "/negotiations").bearer(&token).json(json!({"Platform": PLATFORM})).send().await;
    assert_eq!((r.status, r.json()["NegotiationId"].clone()), (201, json!("2")));
    api.check_openapi();
}

#[tokio::test]
async fn an_open_request_without_a_valid_token_gets_401_before_its_body_is_read() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let client = client(&bank, PLATFORM);
    let forged = format!("{}x", &client[..client.len() - 1]);
    for body in ["{\"Platform\": ", "not json", "", "{\"Colour\": 1}"] {
        let r = api.post(&bank, "/negotiations").header("content-type", "application/json").raw(body).send().await;
        assert_error(&r, 401, "unauthorized");
        let r = api
            .post(&bank, "/negotiations")
            .bearer(&forged)
            .header("content-type", "application/json")
            .raw(body)
            .send()
            .await;
        assert_error(&r, 401, "unauthorized");
        // With the real token the body is read, and refused.
        let r = api
            .post(&bank, "/negotiations")
            .bearer(&client)
            .header("content-type", "application/json")
            .raw(body)
            .send()
            .await;
        assert_error(&r, 400, "invalid_body");
    }
    // Nor is the body's size looked at first.
    let big = json!({"Platform": "x".repeat(MAX_BODY + 1)});
    let r = api.post(&bank, "/negotiations").json(big).send().await;
    assert_error(&r, 401, "unauthorized");
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Negotiation.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_one_can_open_a_negotiation_over_a_platforms_agreement_in_force() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (agreement, _, access) = consented(&api, &bank).await;
    let r = api
        .post(&bank, "/negotiations")
        .bearer(&client(&bank, PLATFORM))
        .json(json!({"Platform": PLATFORM}))
        .send()
        .await;
    assert_error(&r, 409, "protocol_violation");
    // The standing agreement and the data flowing under it are untouched.
    let r = api.get(&bank, "/accounts/chk-demo-bank-3/balances").bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.post(&bank, &format!("/agreements/{PLATFORM}/review")).bearer(&agreement).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    api.check_openapi();
}

#[tokio::test]
async fn a_take_it_or_leave_it_offer_is_accepted_with_an_agreement_token() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let r = api
        .post(&bank, "/negotiations")
        .bearer(&client(&bank, PLATFORM))
        .json(json!({"Platform": PLATFORM}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let opened = r.json();
    assert_eq!(
        (&opened["Platform"], &opened["Bank"], &opened["Opens"]),
        (&json!(PLATFORM), &json!("demo-bank"), &json!("platform"))
    );
    assert_eq!(opened["BankOffer"], Value::Null, "the platform opens");
    assert_eq!(opened["Issues"].as_array().unwrap().len(), 5);
    let outcome = only_outcome(&opened);
    let id = opened["NegotiationId"].as_str().unwrap();
    let token = opened["NegotiationToken"].as_str().unwrap();
    assert!(token.starts_with(&format!("neg.demo-bank.demo-platform.{id}.")), "{token}");

    let r = api
        .post(&bank, &format!("/negotiations/{id}/offers"))
        .bearer(token)
        .json(json!({"Outcome": outcome}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    assert_eq!(a["Decision"], "accept", "{a}");
    assert_eq!(a["Outcome"], outcome);
    let agreement = &a["Agreement"];
    assert_eq!(agreement["Platform"], PLATFORM);
    assert!(agreement["Token"].as_str().unwrap().starts_with("agr.demo-bank.demo-platform."), "{agreement}");
    assert_eq!(agreement["LinkedCustomers"], 1000, "overlap 1.0 × opt-in 1.0 × 1000 customers");
    let permissions: Vec<&str> =
        agreement["Permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(
        permissions.contains(&"ReadBalances") && permissions.contains(&"ReadTransactionsDetail"),
        "{permissions:?}"
    );
    assert!(!permissions.contains(&"ReadOffPlatformTransactions") && !permissions.contains(&"ReadPAN"));
    api.check_openapi();
}

#[tokio::test]
async fn an_unknown_platform_gets_400_in_the_error_shape() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    // A genuine client token for a platform the scenario lacks: one of a run under the same
    // secret with another scenario.
    let stray = bank.state.desk().tokens().client_token("no-such-platform");
    let r = api.post(&bank, "/negotiations").bearer(&stray).json(json!({"Platform": "no-such-platform"})).send().await;
    let e = assert_error(&r, 400, "unknown_platform");
    assert!(e["Message"].as_str().unwrap().contains("no-such-platform"), "{e}");
    api.check_openapi();
}

#[tokio::test]
async fn moves_after_the_end_of_a_negotiation_get_409() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (opened, id, token) = open(&api, &bank, PLATFORM).await;
    let outcome = only_outcome(&opened);
    let offers = format!("/negotiations/{id}/offers");
    let r = api.post(&bank, &offers).bearer(&token).json(json!({"Outcome": outcome})).send().await;
    assert_eq!(r.json()["Decision"], "accept");

    let r = api.post(&bank, &offers).bearer(&token).json(json!({"Outcome": outcome})).send().await;
    assert_error(&r, 409, "protocol_violation");
    let r = api.post(&bank, &format!("/negotiations/{id}/accept")).bearer(&token).send().await;
    assert_error(&r, 409, "protocol_violation");
    let r = api
        .post(&bank, &format!("/negotiations/{id}/withdraw"))
        .bearer(&token)
        .json(json!({"Clause": "c", "Reason": "too late"}))
        .send()
        .await;
    assert_error(&r, 409, "protocol_violation");
    // A review of an ended negotiation is a no-op.
    let r = api.post(&bank, &format!("/negotiations/{id}/review")).bearer(&token).send().await;
    assert_eq!((r.status, r.json()), (200, json!({"Decision": "continue"})));
    // Ids that are not numbers name no negotiation: 404 once the token is checked.
    for id in ["abc", "-1"] {
        let r = api
            .post(&bank, &format!("/negotiations/{id}/offers"))
            .bearer(&token)
            .json(json!({"Outcome": outcome}))
            .send()
            .await;
        assert_error(&r, 404, "not_found");
    }
    api.check_openapi();
}

#[tokio::test]
async fn offers_naming_issues_or_options_that_do_not_exist_get_400_invalid_outcome() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (opened, id, token) = open(&api, &bank, PLATFORM).await;
    let outcome = only_outcome(&opened);
    let offers = format!("/negotiations/{id}/offers");
    let mut missing = outcome.clone();
    missing.as_object_mut().unwrap().remove("balances");
    let mut bad_option = outcome.clone();
    bad_option["balances"] = json!("everything");
    let mut extra = outcome.clone();
    extra["colour"] = json!("blue");
    for (o, path) in [(missing, "Outcome.balances"), (bad_option, "Outcome.balances"), (extra, "Outcome.colour")] {
        let r = api.post(&bank, &offers).bearer(&token).json(json!({"Outcome": o})).send().await;
        let e = assert_error(&r, 400, "invalid_outcome");
        assert_eq!(e["Path"], path);
    }
    // Still the platform's turn: the right offer is accepted.
    let r = api.post(&bank, &offers).bearer(&token).json(json!({"Outcome": outcome})).send().await;
    assert_eq!(r.json()["Decision"], "accept");
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Negotiation credentials.
// ---------------------------------------------------------------------------------------------

/// The four moves on negotiation `id`, each with a body it would take.
fn negotiation_moves(id: &str, outcome: &Value) -> [(String, Value); 4] {
    [
        (format!("/negotiations/{id}/offers"), json!({"Outcome": outcome})),
        (format!("/negotiations/{id}/accept"), json!({})),
        (format!("/negotiations/{id}/withdraw"), json!({"Clause": "c", "Reason": "someone else's move"})),
        (format!("/negotiations/{id}/review"), json!({"AfterIncident": true})),
    ]
}

/// The negotiation still stands untouched: its own token's offer is accepted.
async fn assert_still_open(api: &Api, bank: &Bank, opened: &Value, id: &str, token: &str) -> String {
    let r = api
        .post(bank, &format!("/negotiations/{id}/offers"))
        .bearer(token)
        .json(json!({"Outcome": only_outcome(opened)}))
        .send()
        .await;
    assert_eq!((r.status, &r.json()["Decision"]), (200, &json!("accept")), "{}", r.text());
    r.json()["Agreement"]["Token"].as_str().expect("an agreement token").to_string()
}

#[tokio::test]
async fn a_negotiation_move_without_a_valid_token_gets_401_and_changes_nothing() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (opened, id, token) = open(&api, &bank, PLATFORM).await;
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    // The id of the path in a token signed for it: still forged.
    let renamed = token.replacen(&format!(".{id}."), &format!(".{}.", id.parse::<u64>().unwrap() + 1), 1);
    let cut = token.rsplit_once('.').unwrap().0.to_string();
    for (target, body) in negotiation_moves(&id, &only_outcome(&opened)) {
        for auth in [
            None,
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {renamed}")),
            Some(format!("Bearer {cut}")),
            Some(format!("Basic {token}")),
            Some("Bearer ".to_string()),
            Some(format!("Bearer {id}")),
        ] {
            let mut call = api.post(&bank, &target);
            if let Some(a) = &auth {
                call = call.header("authorization", a);
            }
            let r = call.json(body.clone()).send().await;
            assert_error(&r, 401, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{target} with {auth:?}");
        }
        // The credential is checked before the body is read: a bad body without a token is 401.
        let r = api.post(&bank, &target).header("content-type", "application/json").raw("{not json").send().await;
        assert_error(&r, 401, "unauthorized");
    }
    assert_still_open(&api, &bank, &opened, &id, &token).await;
    api.check_openapi();
}

#[tokio::test]
async fn another_negotiations_token_gets_403_and_changes_nothing() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    // An ended negotiation's token, against the platform's open one.
    let (_, other_id, other_token) = open(&api, &bank, PLATFORM).await;
    withdraw(&api, &bank, &other_id, &other_token).await;
    let (opened, id, token) = open(&api, &bank, PLATFORM).await;
    assert_ne!(id, other_id);
    for (target, body) in negotiation_moves(&id, &only_outcome(&opened)) {
        let r = api.post(&bank, &target).bearer(&other_token).json(body).send().await;
        let e = assert_error(&r, 403, "forbidden");
        assert!(e["Message"].as_str().unwrap().contains("negotiation"), "{e}");
    }
    // Nor does a token of a negotiation reach one that does not exist.
    let r = api.post(&bank, "/negotiations/999/offers").bearer(&token).json(json!({"Outcome": {}})).send().await;
    assert_error(&r, 403, "forbidden");
    assert_still_open(&api, &bank, &opened, &id, &token).await;
    api.check_openapi();
}

#[tokio::test]
async fn an_agreement_or_access_token_does_not_move_a_negotiation() {
    let bank = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let api = Api::new();
    // Another platform's negotiation left open, then the platform's that agrees.
    let (opened, id, token) = open(&api, &bank, OTHER_PLATFORM).await;
    let (agreement, consent_id, access) = consented(&api, &bank).await;
    // The agreement token and the access token name ids too.
    for credential in [&agreement, &access] {
        for (target, body) in negotiation_moves(&id, &only_outcome(&opened)) {
            let r = api.post(&bank, &target).bearer(credential).json(body).send().await;
            assert_error(&r, 403, "forbidden");
        }
    }
    // …and a negotiation token reads no consent and no data.
    let r = api.get(&bank, &format!("/account-access-consents/{consent_id}")).bearer(&token).send().await;
    assert_error(&r, 403, "forbidden");
    let r = api.get(&bank, "/accounts").bearer(&token).header("x-purpose", "commerce").send().await;
    assert_error(&r, 403, "forbidden");
    let r = api
        .post(&bank, "/account-access-consents")
        .bearer(&token)
        .json(json!({"Data": {"CustomerId": 3}}))
        .send()
        .await;
    assert_error(&r, 403, "forbidden");
    assert_still_open(&api, &bank, &opened, &id, &token).await;
    api.check_openapi();
}

#[tokio::test]
async fn another_platforms_tokens_get_403_on_its_negotiation_and_its_agreement_review() {
    let bank = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let api = Api::new();
    let (opened, id, token) = open(&api, &bank, PLATFORM).await;
    let (other_opened, other_id, other_token) = open(&api, &bank, OTHER_PLATFORM).await;
    for (target, body) in negotiation_moves(&id, &only_outcome(&opened)) {
        let r = api.post(&bank, &target).bearer(&other_token).json(body).send().await;
        assert_error(&r, 403, "forbidden");
    }
    let agreement = assert_still_open(&api, &bank, &opened, &id, &token).await;
    let r = api
        .post(&bank, &format!("/negotiations/{other_id}/offers"))
        .bearer(&other_token)
        .json(json!({"Outcome": only_outcome(&other_opened)}))
        .send()
        .await;
    let other_agreement = r.json()["Agreement"]["Token"].as_str().expect("the other platform agreed").to_string();
    // Each platform may ask for a review of its own agreement only.
    let r = api.post(&bank, "/agreements/demo-platform/review").bearer(&other_agreement).send().await;
    let e = assert_error(&r, 403, "forbidden");
    assert!(e["Message"].as_str().unwrap().contains(OTHER_PLATFORM), "{e}");
    let r = api.post(&bank, &format!("/agreements/{OTHER_PLATFORM}/review")).bearer(&agreement).send().await;
    assert_error(&r, 403, "forbidden");
    for (platform, own) in [(PLATFORM, &agreement), (OTHER_PLATFORM, &other_agreement)] {
        let r = api.post(&bank, &format!("/agreements/{platform}/review")).bearer(own).send().await;
        assert_eq!((r.status, r.json()), (200, json!({"Decision": "continue"})), "{platform}");
    }
    api.check_openapi();
}

#[tokio::test]
async fn another_banks_token_for_the_same_negotiation_id_gets_403() {
    let (demo, limited) = (Bank::start("demo-bank").await, Bank::start("limited-bank").await);
    let api = Api::new();
    let (opened, id, token) = open(&api, &demo, PLATFORM).await;
    let (_, limited_id, limited_token) = open(&api, &limited, PLATFORM).await;
    assert_eq!(id, limited_id, "both banks number their negotiations alike");
    for (target, body) in negotiation_moves(&id, &only_outcome(&opened)) {
        let r = api.post(&demo, &target).bearer(&limited_token).json(body).send().await;
        let e = assert_error(&r, 403, "forbidden");
        assert!(e["Message"].as_str().unwrap().contains("limited-bank"), "{e}");
    }
    assert_still_open(&api, &demo, &opened, &id, &token).await;
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Consents.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_consent_is_created_read_and_revoked_and_the_next_request_is_refused() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let r = api
        .post(&bank, "/account-access-consents")
        .bearer(&agreement)
        .json(json!({"Data": {"CustomerId": 3}}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    let data = &created["Data"];
    assert_eq!(
        (&data["Status"], &data["CustomerId"], &data["Revocation"]),
        (&json!("Authorised"), &json!(3), &Value::Null)
    );
    let id = data["ConsentId"].as_str().unwrap();
    let access = created["AccessToken"].as_str().unwrap();
    assert!(access.starts_with(&format!("acc.demo-bank.demo-platform.{id}.")), "{access}");

    let path = format!("/account-access-consents/{id}");
    for token in [access, agreement.as_str()] {
        let r = api.get(&bank, &path).bearer(token).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["Data"], *data, "read back as created");
    }
    assert_eq!(api.get(&bank, "/accounts").bearer(access).header("x-purpose", "commerce").send().await.status, 200);

    let r = api.delete(&bank, &path).bearer(access).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());

    let r = api.get(&bank, "/accounts").bearer(access).header("x-purpose", "commerce").send().await;
    assert_error(&r, 403, "consent_revoked");
    let r = api.get(&bank, &path).bearer(&agreement).send().await;
    let after = r.json();
    assert_eq!(after["Data"]["Status"], "Revoked");
    assert_eq!(after["Data"]["Revocation"]["By"], "platform");
    // Revoking twice is no error.
    assert_eq!(api.delete(&bank, &path).bearer(&agreement).send().await.status, 204);
    // Unknown consents are 404.
    for id in ["999", "abc"] {
        let r = api.get(&bank, &format!("/account-access-consents/{id}")).bearer(&agreement).send().await;
        assert_error(&r, 404, "not_found");
    }
    api.check_openapi();
}

#[tokio::test]
async fn a_customer_who_has_not_linked_gets_403_customer_not_linked() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    for customer in [1000u64, u64::MAX] {
        let r = api
            .post(&bank, "/account-access-consents")
            .bearer(&agreement)
            .json(json!({"Data": {"CustomerId": customer}}))
            .send()
            .await;
        assert_error(&r, 403, "customer_not_linked");
    }
    let r = api
        .post(&bank, "/account-access-consents")
        .bearer(&agreement)
        .json(json!({"Data": {"CustomerId": 3, "Permissions": ["ReadPAN"]}}))
        .send()
        .await;
    assert_error(&r, 403, "permission_not_agreed");
    api.check_openapi();
}

#[tokio::test]
async fn a_customer_holds_at_most_eight_consents_in_force_and_a_revoked_one_makes_room() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let mut ids = Vec::new();
    for _ in 0..bank_mock::desk::MAX_CONSENTS_PER_CUSTOMER {
        ids.push(consent(&api, &bank, &agreement, 3).await.0);
    }
    let more =
        || api.post(&bank, "/account-access-consents").bearer(&agreement).json(json!({"Data": {"CustomerId": 3}}));
    let e = assert_error(&more().send().await, 409, "too_many_consents");
    assert!(e["Message"].as_str().unwrap().contains("customer 3"), "{e}");
    // Another customer is not held to customer 3's consents.
    consent(&api, &bank, &agreement, 4).await;
    // Revoking one makes room: the new consent replaces the revoked one, which is forgotten.
    let r = api.delete(&bank, &format!("/account-access-consents/{}", ids[2])).bearer(&agreement).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(more().send().await.status, 201);
    let r = api.get(&bank, &format!("/account-access-consents/{}", ids[2])).bearer(&agreement).send().await;
    assert_error(&r, 404, "not_found");
    let r = api.get(&bank, &format!("/account-access-consents/{}", ids[3])).bearer(&agreement).send().await;
    assert_eq!(r.status, 200, "the consents in force are kept");
    assert_error(&more().send().await, 409, "too_many_consents");
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Data, filtered by the terms.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn accounts_show_the_card_number_masked_only() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let person = population::customer(&bank.population(), 3);
    let r = api.get(&bank, "/accounts").bearer(&access).header("x-purpose", "commerce").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(!body.contains(&person.card.number), "the full card number leaked: {body}");
    assert!(!body.contains(&person.checking.number), "the full checking account number leaked: {body}");
    let accounts = r.json()["Data"]["Account"].as_array().unwrap().clone();
    let ids: Vec<&str> = accounts.iter().map(|a| a["AccountId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["chk-demo-bank-3", "card-demo-bank-3"]);
    let card = &accounts[1];
    assert_eq!(card["MaskedNumber"], person.card.masked.as_str());
    for a in &accounts {
        for hidden in ["CardPan", "AccountNumber", "RoutingNumber", "HolderName"] {
            assert!(a.get(hidden).is_none(), "{hidden} is not granted: {a}");
        }
    }
    api.check_openapi();
}

#[tokio::test]
async fn balances_of_the_checking_account_carry_the_granted_amounts() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let r = api.get(&bank, "/accounts/chk-demo-bank-3/balances").bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    let balance = &b["Data"]["Balance"][0];
    let cents = population::balance_cents(&bank.population(), 3, 0);
    assert_eq!(balance["AccountId"], "chk-demo-bank-3");
    assert_eq!(balance["Current"], api::money(cents).as_str());
    assert!(balance.get("Band").is_none(), "derived signals are not granted: {balance}");
    // Another customer's account is not the consent's.
    let r = api.get(&bank, "/accounts/chk-demo-bank-4/balances").bearer(&access).send().await;
    assert_error(&r, 404, "not_found");
    api.check_openapi();
}

#[tokio::test]
async fn nothing_booked_after_the_banks_own_clock_is_served_or_counted() {
    let bank = Bank::start_on_day("demo-bank", 10).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let page = |from: u64, to: u64| {
        format!(
            "/accounts/card-demo-bank-3/transactions?fromBookingDateTime={}&toBookingDateTime={}",
            calendar(from),
            calendar(to)
        )
    };
    // June 2018, on day 10: the window is valid, and nothing in it has happened yet.
    let r = api.get(&bank, &page(151, 181)).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(transaction_ids(&r.json()).is_empty(), "{}", r.text());
    // Records counted for customer 3 (each counts once in every category it carries).
    let counted =
        || bank.state.desk().ledgers()[PLATFORM].counts_of(3).expect("customer 3").iter().copied().max().unwrap_or(0);
    assert_eq!(counted(), 0, "nothing was disclosed");
    // A window reaching past the clock holds what was booked until now, and no later booking.
    let r = api.get(&bank, &page(0, 40)).bearer(&access).send().await;
    let returned = transaction_ids(&r.json());
    let now_ms = bank.state.sim_now().as_millis();
    let expected: Vec<String> = booked(&bank.population(), 3, 0, 11)
        .iter()
        .filter(|t| t.on_platform && t.at_ms < now_ms)
        .map(|t| api::transaction_id("card-demo-bank-3", t.id))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(returned, expected[..returned.len()], "booked before the clock, in order");
    assert!(returned.len() >= expected.len().min(PAGE_SIZE) - 1, "{} of {}", returned.len(), expected.len());
    assert_eq!(counted() as usize, returned.len());
    api.check_openapi();
}

#[tokio::test]
async fn a_card_balance_is_what_was_spent_since_its_cycle_began_not_the_checking_balance() {
    let bank = Bank::start_on_day("demo-bank", 40).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let current = |account: &'static str| {
        let (api, bank, access) = (&api, &bank, &access);
        async move {
            let r = api.get(bank, &format!("/accounts/{account}/balances")).bearer(access).send().await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["Data"]["Balance"][0]["Current"].as_str().unwrap().to_string()
        }
    };
    let (checking, card) = (current("chk-demo-bank-3").await, current("card-demo-bank-3").await);
    assert_eq!(checking, api::money(population::balance_cents(&bank.population(), 3, 40)));
    // Day 40 is 10 days into the cycle that began on day 30: what was spent since is owed.
    let spent: i64 = booked(&bank.population(), 3, 30, 40).iter().map(|t| t.amount_cents).sum();
    assert!(spent > 0);
    assert_eq!(card, api::money(-spent));
    assert_ne!(card, checking);
    api.check_openapi();
}

#[tokio::test]
async fn transactions_made_off_the_platform_are_not_served() {
    let bank = Bank::start_on_day("demo-bank", 30).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let account = "card-demo-bank-3";
    let r = api
        .get(
            &bank,
            &format!(
                "/accounts/{account}/transactions?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-20T00:00:00Z"
            ),
        )
        .bearer(&access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    let input = booked(&bank.population(), 3, 0, 19);
    let off = input.iter().filter(|t| !t.on_platform).count();
    assert!(off > 0 && off < input.len(), "the window must hold both kinds ({off} off of {})", input.len());
    let by_id: BTreeMap<String, &Transaction> = input.iter().map(|t| (api::transaction_id(account, t.id), t)).collect();
    let returned = transaction_ids(&page);
    for id in &returned {
        let t = by_id.get(id).unwrap_or_else(|| panic!("{id} is no transaction of customer 3 in the window"));
        assert!(t.on_platform, "off-platform transaction {id} leaked");
    }
    let expected: BTreeSet<String> =
        input.iter().filter(|t| t.on_platform).map(|t| api::transaction_id(account, t.id)).collect();
    assert_eq!(returned.iter().cloned().collect::<BTreeSet<_>>(), expected, "every on-platform transaction, once");
    assert_eq!(returned.len(), expected.len());
    // Each record carries what the terms grant (transactions detail), with exact values.
    for rec in page["Data"]["Transaction"].as_array().unwrap() {
        let t = by_id[rec["TransactionId"].as_str().unwrap()];
        assert_eq!(rec["Amount"], api::money(t.amount_cents).as_str(), "{rec}");
        assert_eq!(rec["BookingDateTimeMs"], t.at_ms, "{rec}");
    }
    assert_eq!(page["Links"]["Next"], Value::Null);
    assert_eq!(page["Meta"]["TotalPages"], 1);
    api.check_openapi();
}

#[tokio::test]
async fn transactions_are_paginated_and_links_next_walks_every_page() {
    let bank = Bank::start_on_day("demo-bank", 200).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let account = "card-demo-bank-3";
    let days = 120;
    let expected: Vec<String> = booked(&bank.population(), 3, 0, days)
        .iter()
        .filter(|t| t.on_platform)
        .map(|t| api::transaction_id(account, t.id))
        .collect();
    assert!(expected.len() > 2 * PAGE_SIZE, "need more than two pages, have {}", expected.len());
    let mut next = Some(format!(
        "/accounts/{account}/transactions?fromBookingDateTime={}&toBookingDateTime={}",
        calendar(0),
        calendar(days)
    ));
    let (mut seen, mut pages, mut total_pages) = (Vec::new(), 0, None);
    while let Some(target) = next {
        let r = api.get(&bank, &target).bearer(&access).send().await;
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        let page = r.json();
        let ids = transaction_ids(&page);
        assert!(ids.len() <= PAGE_SIZE);
        pages += 1;
        assert!(pages <= 10, "Links.Next does not end");
        total_pages.get_or_insert(page["Meta"]["TotalPages"].as_u64().unwrap());
        next = page["Links"]["Next"].as_str().map(String::from);
        if next.is_some() {
            assert_eq!(ids.len(), PAGE_SIZE, "only the last page is short");
        }
        seen.extend(ids);
    }
    assert_eq!(Some(pages), total_pages);
    assert_eq!(pages as usize, expected.len().div_ceil(PAGE_SIZE));
    assert_eq!(seen, expected, "every on-platform transaction exactly once, in booking order");
    // A page past the end is empty, not an error.
    let past = format!(
        "/accounts/{account}/transactions?fromBookingDateTime={}&toBookingDateTime={}&page={}",
        calendar(0),
        calendar(days),
        pages + 1
    );
    let r = api.get(&bank, &past).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(transaction_ids(&r.json()).is_empty());
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Tokens.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_issued_by_another_bank_gets_403() {
    let (demo, limited) = (Bank::start("demo-bank").await, Bank::start("limited-bank").await);
    let api = Api::new();
    let (agreement, id, access) = consented(&api, &limited).await;
    assert!(access.starts_with("acc.limited-bank."), "{access}");
    let _ = agreement_token(&api, &demo).await;

    let r = api.get(&demo, "/accounts").bearer(&access).header("x-purpose", "commerce").send().await;
    assert_error(&r, 403, "forbidden");
    let r = api.get(&demo, "/accounts/card-limited-bank-3/transactions").bearer(&access).send().await;
    assert_error(&r, 403, "forbidden");
    let r = api.get(&demo, &format!("/account-access-consents/{id}")).bearer(&access).send().await;
    assert_error(&r, 403, "forbidden");
    let r = api
        .post(&demo, "/account-access-consents")
        .bearer(&agreement)
        .json(json!({"Data": {"CustomerId": 3}}))
        .send()
        .await;
    assert_error(&r, 403, "forbidden");
    // …and it still works where it was issued.
    assert_eq!(api.get(&limited, "/accounts").bearer(&access).header("x-purpose", "commerce").send().await.status, 200);
    api.check_openapi();
}

#[tokio::test]
async fn an_access_token_cannot_read_or_revoke_another_consent() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let (_a, access_a) = consent(&api, &bank, &agreement, 3).await;
    let (b, _access_b) = consent(&api, &bank, &agreement, 4).await;
    let other = format!("/account-access-consents/{b}");
    let r = api.get(&bank, &other).bearer(&access_a).send().await;
    assert_error(&r, 403, "forbidden");
    let r = api.delete(&bank, &other).bearer(&access_a).send().await;
    assert_error(&r, 403, "forbidden");
    let r = api.get(&bank, &other).bearer(&agreement).send().await;
    assert_eq!(r.json()["Data"]["Status"], "Authorised", "consent B survived the attempt");
    // Customer 4's account is not reachable with customer 3's token.
    let r = api.get(&bank, "/accounts/card-demo-bank-4/transactions").bearer(&access_a).send().await;
    assert_error(&r, 404, "not_found");
    // The agreement token creates consents; it does not read data.
    let r = api.get(&bank, "/accounts").bearer(&agreement).header("x-purpose", "commerce").send().await;
    assert_error(&r, 403, "forbidden");
    // An access token does not create consents.
    let r = api
        .post(&bank, "/account-access-consents")
        .bearer(&access_a)
        .json(json!({"Data": {"CustomerId": 5}}))
        .send()
        .await;
    assert_error(&r, 403, "forbidden");
    api.check_openapi();
}

#[tokio::test]
async fn a_garbage_or_missing_token_gets_401() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (agreement, id, access) = consented(&api, &bank).await;
    // A forged MAC, a token cut short, another scheme, garbage.
    let mut forged = access.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let cut = access.rsplit_once('.').unwrap().0.to_string();
    let consent_path = format!("/account-access-consents/{id}");
    let targets: [(Method, &str); 4] = [
        (Method::GET, "/accounts"),
        (Method::GET, "/accounts/card-demo-bank-3/transactions"),
        (Method::GET, &consent_path),
        (Method::DELETE, &consent_path),
    ];
    for (method, target) in &targets {
        for auth in [
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {cut}")),
            Some(format!("Basic {access}")),
            Some("Bearer garbage".to_string()),
            Some("Bearer ".to_string()),
            None,
        ] {
            let mut call = api.call(&bank, method.clone(), target);
            if let Some(a) = &auth {
                call = call.header("authorization", a);
            }
            let r = call.send().await;
            assert_error(&r, 401, "unauthorized");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{method} {target} with {auth:?}");
        }
    }
    let r = api.post(&bank, "/account-access-consents").json(json!({"Data": {"CustomerId": 3}})).send().await;
    assert_error(&r, 401, "unauthorized");
    // Nothing was revoked by the attempts.
    assert_eq!(api.get(&bank, &consent_path).bearer(&agreement).send().await.json()["Data"]["Status"], "Authorised");
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: 4xx in the one shape, never 500.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_consent_request_without_a_valid_token_gets_401_before_its_body_is_read() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let last = if agreement.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &agreement[..agreement.len() - 1]);
    for body in [json!({"Data": {"CustomerId": "3"}}), json!({"Data": {}}), json!(["not", "an", "object"])] {
        let r = api.post(&bank, "/account-access-consents").json(body.clone()).send().await;
        assert_error(&r, 401, "unauthorized");
        let r = api.post(&bank, "/account-access-consents").bearer(&forged).json(body.clone()).send().await;
        assert_error(&r, 401, "unauthorized");
        // With the real token the body is read, and refused.
        let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
        assert_error(&r, 400, "invalid_body");
    }
    api.check_openapi();
}

#[tokio::test]
async fn malformed_bodies_get_400_invalid_body() {
    let bank = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let api = Api::new();
    let (_, nid, negotiation) = open(&api, &bank, OTHER_PLATFORM).await;
    let agreement = agreement_token(&api, &bank).await;
    let bodies: [(&str, &str); 10] = [
        ("/negotiations", "{\"Platform\": "),
        ("/negotiations", "not json"),
        ("/negotiations", ""),
        ("/negotiations", "{\"Platform\": 5}"),
        ("/negotiations", "{\"Platform\": \"demo-platform\", \"Colour\": 1}"),
        ("/negotiations", "{\"platform\": \"demo-platform\"}"),
        ("/negotiations", "{\"Platform\": \"demo-platform\"} trailing"),
        ("/negotiations", "{\"Platform\": \"demo-platform\", \"SimTimeMs\": -1}"),
        ("/negotiations", "[\"demo-platform\"]"),
        ("/negotiations", "{\"Platform\": \"demo-platform\", \"SimTimeMs\": \"soon\"}"),
    ];
    let client = client(&bank, PLATFORM);
    for (target, body) in bodies {
        let r =
            api.post(&bank, target).bearer(&client).header("content-type", "application/json").raw(body).send().await;
        assert_error(&r, 400, "invalid_body");
    }
    let offers = format!("/negotiations/{nid}/offers");
    let withdraw = format!("/negotiations/{nid}/withdraw");
    let review = format!("/negotiations/{nid}/review");
    // A bad body with a good token is still 400.
    let more: Vec<(&str, &str, Value)> = vec![
        (&offers, &negotiation, json!({"Outcome": ["included"]})),
        (&offers, &negotiation, json!({"Outcome": {"balances": 1}})),
        (&offers, &negotiation, json!({})),
        (&withdraw, &negotiation, json!({"Clause": "c"})),
        (&withdraw, &negotiation, json!({"Clause": "c", "Reason": "r", "Why": "x"})),
        (&review, &negotiation, json!({"AfterIncident": "yes"})),
        ("/agreements/demo-platform/review", &agreement, json!({"Unknown": true})),
    ];
    for (target, token, body) in more {
        let r = api.post(&bank, target).bearer(token).json(body).send().await;
        assert_error(&r, 400, "invalid_body");
    }
    let consents: [Value; 6] = [
        json!({"CustomerId": 3}),
        json!({"Data": {"CustomerId": "3"}}),
        json!({"Data": {"CustomerId": -3}}),
        json!({"Data": {"CustomerId": 3, "Extra": 1}}),
        json!({"Data": {"CustomerId": 3, "Permissions": ["ReadEverything"]}}),
        json!({"Data": {"CustomerId": 3.5}}),
    ];
    for body in consents {
        let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
        assert_error(&r, 400, "invalid_body");
    }
    for (from, to) in [("yesterday", "2018-02-01T00:00:00Z"), ("2018-02-30T00:00:00Z", "2018-02-01T00:00:00Z")] {
        let body = json!({"Data": {"CustomerId": 3, "TransactionFromDateTime": from, "TransactionToDateTime": to}});
        let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
        let e = assert_error(&r, 400, "invalid_date");
        assert_eq!(e["Path"], "Data.TransactionFromDateTime");
    }
    api.check_openapi();
}

#[tokio::test]
async fn a_window_reaching_back_before_2018_holds_what_was_booked_from_day_0() {
    let bank = Bank::start_on_day("demo-bank", 10).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let page = |from: &str| {
        let target = format!(
            "/accounts/card-demo-bank-3/transactions?fromBookingDateTime={from}&toBookingDateTime={}",
            calendar(7)
        );
        api.get(&bank, &target).bearer(&access).send()
    };
    let from_day_0 = page(&calendar(0)).await;
    assert_eq!(from_day_0.status, 200, "{}", from_day_0.text());
    assert!(!transaction_ids(&from_day_0.json()).is_empty(), "customer 3 booked in the first week");
    // RFC 3339 years from 0000 on, as openapi.json's date-time allows.
    for from in ["2017-06-01T00:00:00Z", "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "1600-02-29T00:00:00Z"] {
        let r = page(from).await;
        assert_eq!(r.status, 200, "{from}: {}", r.text());
        assert_eq!(transaction_ids(&r.json()), transaction_ids(&from_day_0.json()), "{from}");
    }
    // Still a date: 1900 was no leap year.
    assert_error(&page("1900-02-29T00:00:00Z").await, 400, "invalid_date");
    api.check_openapi();
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_error_shape() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let agreement = agreement_token(&api, &bank).await;
    let big = json!({"Platform": "x".repeat(MAX_BODY + 1)});
    let r = api.post(&bank, "/negotiations").bearer(&client(&bank, PLATFORM)).json(big.clone()).send().await;
    assert_error(&r, 413, "payload_too_large");
    let r = api
        .post(&bank, "/account-access-consents")
        .bearer(&agreement)
        .json(json!({"Data": {"CustomerId": 3, "Pad": "x".repeat(MAX_BODY + 1)}}))
        .send()
        .await;
    assert_error(&r, 413, "payload_too_large");
    // The server is still up.
    assert_eq!(api.get(&bank, "/healthz").send().await.status, 200);
    api.check_openapi();
}

#[tokio::test]
async fn bad_query_dates_unknown_parameters_and_unknown_purposes_get_400() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let base = "/accounts/card-demo-bank-3/transactions";
    let cases = [
        ("?fromBookingDateTime=2018-13-01T00:00:00Z", "invalid_date", "fromBookingDateTime"),
        ("?fromBookingDateTime=yesterday", "invalid_date", "fromBookingDateTime"),
        ("?toBookingDateTime=1900-02-29T00:00:00Z", "invalid_date", "toBookingDateTime"),
        ("?fromBookingDateTime=", "invalid_date", "fromBookingDateTime"),
        (
            "?fromBookingDateTime=2018-02-01T00:00:00Z&toBookingDateTime=2018-01-01T00:00:00Z",
            "invalid_query",
            "fromBookingDateTime",
        ),
        (
            "?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2019-06-01T00:00:00Z",
            "invalid_query",
            "toBookingDateTime",
        ),
        ("?page=0", "invalid_query", "page"),
        ("?page=two", "invalid_query", "page"),
        ("?limit=10", "invalid_query", "limit"),
        ("?fromBookingDateTime=2018-01-01T00:00:00Z&sort=desc", "invalid_query", "sort"),
    ];
    for (query, code, path) in cases {
        let r = api.get(&bank, &format!("{base}{query}")).bearer(&access).send().await;
        let e = assert_error(&r, 400, code);
        assert_eq!(e["Path"], path, "{query}");
    }
    for target in ["/accounts", "/accounts/chk-demo-bank-3/balances", base] {
        let r = api.get(&bank, target).bearer(&access).header("x-purpose", "world_domination").send().await;
        let e = assert_error(&r, 400, "invalid_header");
        assert_eq!(e["Path"], "X-Purpose");
        // A known purpose the terms do not allow is refused, not malformed.
        let r = api.get(&bank, target).bearer(&access).header("x-purpose", "advertising").send().await;
        assert_error(&r, 403, "purpose_not_agreed");
    }
    api.check_openapi();
}

/// Every byte of `text` as `%XX`, as a client that escapes everything sends it.
fn percent_encode_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn fully_percent_encoded_query_names_and_date_times_are_decoded() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let base = "/accounts/card-demo-bank-3/transactions";
    let plain = api
        .get(&bank, &format!("{base}?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-20T00:00:00Z"))
        .bearer(&access)
        .send()
        .await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    let (from, to) = (percent_encode_all("2018-01-01T00:00:00Z"), percent_encode_all("2018-01-20T00:00:00Z"));
    assert!(from.starts_with("%32%30%31%38"));
    for query in [
        format!("fromBookingDateTime={from}&toBookingDateTime={to}"),
        format!(
            "{}={from}&{}={to}",
            percent_encode_all("fromBookingDateTime"),
            percent_encode_all("toBookingDateTime")
        ),
        // The escapes clients commonly use, lower case too.
        "fromBookingDateTime=2018-01-01T00%3a00%3A00Z&toBookingDateTime=2018-01-20T00%3A00%3a00Z".to_string(),
    ] {
        let r = api.get(&bank, &format!("{base}?{query}")).bearer(&access).send().await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(transaction_ids(&r.json()), transaction_ids(&plain.json()), "{query}");
        assert_eq!(r.json()["Links"], plain.json()["Links"], "{query}");
    }
    // A bad value is reported decoded.
    let r = api.get(&bank, &format!("{base}?page=%74%77%6F")).bearer(&access).send().await;
    let e = assert_error(&r, 400, "invalid_query");
    assert_eq!(e["Message"], format!("page `two` is not a whole number in 1..={}", bank_mock::http::MAX_PAGE));
    api.check_openapi();
}

#[tokio::test]
async fn a_huge_page_number_gets_an_empty_page_or_400_not_a_dropped_connection() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let window = "fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-20T00:00:00Z";
    // usize::MAX, and 2^63 + 1, for which (page - 1) × 50 wraps to exactly 0.
    for page in [usize::MAX, (1usize << 63) + 1] {
        let target = format!("/accounts/card-demo-bank-3/transactions?{window}&page={page}");
        let r = api.get(&bank, &target).bearer(&access).try_send().await;
        let r =
            r.unwrap_or_else(|e| panic!("page {page}: the server dropped the connection instead of answering: {e}"));
        assert!(r.status == 200 || r.status == 400, "page {page}: status {}: {}", r.status, r.text());
        if r.status == 200 {
            assert!(transaction_ids(&r.json()).is_empty(), "page {page} is far past the end, yet not empty");
        }
    }
    api.check_openapi();
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_gets_the_error_shape() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    // An unknown route is the fallback's 404, in the shape.
    let r = api.get(&bank, "/no-such-route").send().await;
    assert_error(&r, 404, "not_found");
    // A known route with a method it does not serve.
    let r = api.get(&bank, "/negotiations").send().await;
    assert!(r.status == 405 || r.status == 404, "status {}", r.status);
    let code = if r.status == 405 { "method_not_allowed" } else { "not_found" };
    assert!(!r.body.is_empty(), "{} with an empty body, not the error shape", r.status);
    assert_error(&r, r.status, code);
    api.check_openapi();
}

#[tokio::test]
async fn an_undecodable_path_segment_gets_the_error_shape() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    // %FF is not UTF-8: the path parameter cannot be a string.
    let r = api.post(&bank, "/negotiations/%FF/offers").json(json!({"Outcome": {}})).send().await;
    assert!(r.status == 400 || r.status == 404, "status {}: {}", r.status, r.text());
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_ok(),
        "{} answered in text, not the error shape: {:?} (content-type {:?})",
        r.status,
        r.text(),
        r.header("content-type")
    );
    assert_error(&r, r.status, if r.status == 404 { "not_found" } else { "invalid_path" });
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Service model and metrics.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn data_requests_beyond_the_rate_limit_get_429_with_retry_after() {
    let bank = Bank::start("limited-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = api.get(&bank, "/accounts").bearer(&access).header("x-purpose", "commerce").send().await;
        if r.status == 429 {
            assert_error(&r, 429, "rate_limited");
            let wait: u64 = r.header("retry-after").expect("Retry-After").parse().expect("whole seconds");
            assert!(wait >= 1);
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
        }
        statuses.push(r.status);
    }
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!((5..20).contains(&(20 - limited)) && limited >= 10, "statuses {statuses:?}");
    api.check_openapi();
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_without_draining_the_rate_limit() {
    let bank = Bank::start("limited-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let mut forged = access.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    // Far more junk than the bucket holds (burst 5), on the routed and the hot data routes.
    for target in ["/accounts", "/accounts/card-limited-bank-3/transactions"] {
        for auth in [None, Some("Bearer nonsense".to_string()), Some(format!("Bearer {forged}"))] {
            for _ in 0..5 {
                let mut call = api.get(&bank, target);
                if let Some(a) = &auth {
                    call = call.header("authorization", a);
                }
                assert_error(&call.send().await, 401, "unauthorized");
            }
        }
    }
    // The bucket is still full for the platform that holds a token.
    let r = api.get(&bank, "/accounts").bearer(&access).header("x-purpose", "commerce").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    api.check_openapi();
}

/// One call to each data route of customer 3, with a purpose the live-demo terms allow.
const WELL_BEHAVED: [(&str, &str); 3] = [
    ("/accounts", "commerce"),
    ("/accounts/chk-demo-bank-3/balances", "balance_display"),
    (
        "/accounts/card-demo-bank-3/transactions?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-20T00:00:00Z",
        "commerce",
    ),
];

#[tokio::test]
async fn metrics_count_responses_and_disclosed_field_values() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    for (target, purpose) in WELL_BEHAVED {
        assert_eq!(api.get(&bank, target).bearer(&access).header("x-purpose", purpose).send().await.status, 200);
    }
    assert_eq!(api.get(&bank, "/accounts").send().await.status, 401);
    let r = api.get(&bank, "/metrics").send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain")));
    let m = r.text();
    assert!(m.contains("# TYPE bank_http_responses_total counter"), "{m}");
    assert_eq!(
        sample(&m, r#"bank_http_responses_total{bank="demo-bank",route="accounts",status="200"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"bank_http_responses_total{bank="demo-bank",route="accounts",status="401"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, r#"bank_http_responses_total{bank="demo-bank",route="consents",status="201"}"#),
        Some(1.0),
        "{m}"
    );
    assert!(m.contains("# TYPE bank_disclosed_field_values_total counter"), "{m}");
    let low = sample(&m, r#"bank_disclosed_field_values_total{bank="demo-bank",platform="demo-platform",class="low"}"#);
    assert!(low.is_some_and(|n| n > 0.0), "{m}");
    api.check_openapi();
}

/// Checks the Prometheus text format: every sample's family has its HELP and TYPE lines before
/// it, and the lines of a family form one group (a family never comes back after another).
fn assert_well_formed_exposition(m: &str) {
    let mut done: Vec<&str> = Vec::new();
    let mut current: Option<&str> = None;
    let mut described: (Option<&str>, Option<&str>) = (None, None);
    for line in m.lines() {
        let (family, kind) = if let Some(rest) = line.strip_prefix("# HELP ") {
            (rest.split(' ').next().unwrap(), "help")
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            (rest.split(' ').next().unwrap(), "type")
        } else {
            (line.split(['{', ' ']).next().unwrap(), "sample")
        };
        if current != Some(family) {
            assert!(!done.contains(&family), "family {family} comes back in a second group:\n{m}");
            if let Some(c) = current {
                done.push(c);
            }
            current = Some(family);
            described = (None, None);
        }
        match kind {
            "help" => described.0 = Some(family),
            "type" => described.1 = Some(family),
            _ => assert!(
                described == (Some(family), Some(family)),
                "sample `{line}` without HELP and TYPE before it:\n{m}"
            ),
        }
    }
}

#[tokio::test]
async fn metrics_are_well_formed_prometheus_text_with_each_family_in_one_group() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    for (target, purpose) in WELL_BEHAVED {
        assert_eq!(api.get(&bank, target).bearer(&access).header("x-purpose", purpose).send().await.status, 200);
    }
    let m = api.get(&bank, "/metrics").send().await.text();
    assert!(m.contains("bank_customers_exposed{"), "{m}");
    assert_well_formed_exposition(&m);
}

/// demo-bank with one worker that takes `service` over every data request.
async fn one_worker_bank(service: Duration) -> Bank {
    let mut sc = (*scenario()).clone();
    let b = sc.bank_index("demo-bank").unwrap();
    sc.banks[b].service.workers = 1;
    sc.banks[b].service.service_time = Delay::Fixed { value: service };
    Bank::start_in(Arc::new(sc), "demo-bank").await
}

#[tokio::test]
async fn a_client_that_gives_up_mid_service_leaves_the_in_flight_gauge_and_busy_time_right() {
    let bank = one_worker_bank(Duration::from_secs(2)).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let get = api.get(&bank, "/accounts").bearer(&access).header("x-purpose", "commerce").send();
    assert!(tokio::time::timeout(Duration::from_millis(300), get).await.is_err(), "the client gave up");
    // The bank notices the closed connection and drops the request; within the 2 s it would
    // have taken, the gauge is back to 0 and the time it held the worker is counted.
    let gauge = r#"bank_in_flight_requests{bank="demo-bank"}"#;
    let busy = r#"bank_worker_busy_seconds_total{bank="demo-bank"}"#;
    let mut m = api.get(&bank, "/metrics").send().await.text();
    for _ in 0..150 {
        if sample(&m, gauge) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        m = api.get(&bank, "/metrics").send().await.text();
    }
    assert_eq!(sample(&m, gauge), Some(0.0), "{m}");
    // Held from when the bank got the request until the client's 300 ms ran out (less the
    // time the request took to arrive): well above zero, which is what a lost count reads.
    assert!(sample(&m, busy).is_some_and(|s| s >= 0.1), "{m}");
}

#[tokio::test]
async fn metrics_count_the_time_requests_wait_for_a_worker_and_the_time_workers_serve() {
    // One worker and 500 ms of service: of three requests sent at once, two wait their turn.
    let bank = one_worker_bank(Duration::from_millis(500)).await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let before = api.get(&bank, "/metrics").send().await.text();
    let get = || api.get(&bank, "/accounts").bearer(&access).header("x-purpose", "commerce").send();
    let (a, b2, c) = tokio::join!(get(), get(), get());
    assert_eq!([a.status, b2.status, c.status], [200, 200, 200]);
    let after = api.get(&bank, "/metrics").send().await.text();
    let delta = |name: &str| {
        let key = format!("{name}{{bank=\"demo-bank\"}}");
        sample(&after, &key).unwrap_or_else(|| panic!("{key} in\n{after}")) - sample(&before, &key).unwrap_or(0.0)
    };
    assert_eq!(sample(&after, r#"bank_workers{bank="demo-bank"}"#), Some(1.0));
    assert_eq!(delta("bank_requests_admitted_total"), 3.0);
    // Each request holds the worker for at least its 500 ms; the second waits what is left of
    // the first's service, the third of two (at least 500 ms in all, even if the requests left
    // up to half a second apart on a busy machine).
    assert!(delta("bank_worker_busy_seconds_total") >= 1.5, "{after}");
    assert!(delta("bank_queue_wait_seconds_total") >= 0.5, "{after}");
    assert_well_formed_exposition(&after);
}

#[tokio::test]
async fn data_calls_within_the_terms_are_not_counted_as_term_violations() {
    // A platform that only calls the routes it was granted, with agreed purposes, asks for
    // nothing beyond its terms: the exposure ledger must not record it as over-fetching.
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    let mut found = Vec::new();
    for (target, purpose) in WELL_BEHAVED {
        assert_eq!(api.get(&bank, target).bearer(&access).header("x-purpose", purpose).send().await.status, 200);
        let m = api.get(&bank, "/metrics").send().await.text();
        let v = sample(&m, r#"bank_term_violations_total{bank="demo-bank",platform="demo-platform"}"#);
        found.push((target.split('?').next().unwrap().to_string(), v));
    }
    assert!(
        found.iter().all(|(_, v)| *v == Some(0.0)),
        "bank_term_violations_total after each well-behaved call: {found:?}"
    );
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Every route, in its documented shape.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_route_answers_in_its_documented_shape() {
    let (bank, limited) = (Bank::start("demo-bank").await, Bank::start("limited-bank").await);
    let api = Api::new();
    for target in ["/healthz", "/metrics", "/openapi.json"] {
        assert_eq!(api.get(&bank, target).send().await.status, 200);
    }
    // No agreement yet, so no agreement token: a review cannot be asked for.
    let r = api.post(&bank, "/agreements/demo-platform/review").send().await;
    assert_error(&r, 401, "unauthorized");

    // A negotiation the platform withdraws from; its review then continues.
    let opened = api
        .post(&bank, "/negotiations")
        .bearer(&client(&bank, PLATFORM))
        .json(json!({"Platform": PLATFORM, "SimTimeMs": 0}))
        .send()
        .await
        .json();
    let id = opened["NegotiationId"].as_str().unwrap().to_string();
    let token = opened["NegotiationToken"].as_str().unwrap().to_string();
    let r = api.post(&bank, "/agreements/demo-platform/review").bearer(&token).send().await;
    assert_error(&r, 403, "forbidden"); // a negotiation token is not an agreement token
    let r = api
        .post(&bank, &format!("/negotiations/{id}/review"))
        .bearer(&token)
        .json(json!({"SimTimeMs": 1000, "AfterIncident": true}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api
        .post(&bank, &format!("/negotiations/{id}/accept"))
        .bearer(&token)
        .json(json!({"SimTimeMs": null}))
        .send()
        .await;
    assert_error(&r, 409, "protocol_violation"); // no standing offer to accept
    let r = api
        .post(&bank, &format!("/negotiations/{id}/withdraw"))
        .bearer(&token)
        .json(json!({"Clause": "price", "Reason": "changed our mind", "SimTimeMs": 2000}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Decision"], "withdraw");
    assert_eq!(r.json()["Clause"], "price");

    // Agreement, review, consent with a window, data inside and outside the window.
    let agreement = agreement_token(&api, &bank).await;
    let r = api.post(&bank, "/agreements/demo-platform/review").bearer(&agreement).json(json!({})).send().await;
    assert_eq!((r.status, r.json()["Decision"].clone()), (200, json!("continue")));
    let r = api.post(&bank, "/agreements/nobody/review").bearer(&agreement).send().await;
    assert_error(&r, 403, "forbidden");
    let body = json!({"Data": {
        "CustomerId": 7,
        "Permissions": ["ReadAccountsBasic", "ReadTransactionsBasic"],
        "TransactionFromDateTime": "2018-01-05T00:00:00Z",
        "TransactionToDateTime": "2018-02-01T00:00:00Z",
    }});
    let r = api.post(&bank, "/account-access-consents").bearer(&agreement).json(body).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    assert_eq!(c["Data"]["TransactionFromDateTime"], "2018-01-05T00:00:00Z");
    assert_eq!(c["Data"]["Permissions"], json!(["ReadAccountsBasic", "ReadTransactionsBasic"]));
    let access = c["AccessToken"].as_str().unwrap();
    let txns = "/accounts/card-demo-bank-7/transactions";
    let r = api
        .get(&bank, &format!("{txns}?fromBookingDateTime=2018-01-05T00:00:00Z&toBookingDateTime=2018-01-10T00:00:00Z"))
        .bearer(access)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api
        .get(&bank, &format!("{txns}?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-10T00:00:00Z"))
        .bearer(access)
        .send()
        .await;
    assert_error(&r, 403, "outside_window");
    let r = api.get(&bank, "/accounts/chk-demo-bank-7/balances").bearer(access).send().await;
    assert_error(&r, 403, "missing_permission");
    let r = api.get(&bank, "/accounts/chk-demo-bank-7/transactions?fromBookingDateTime=2018-01-05T00:00:00Z&toBookingDateTime=2018-01-10T00:00:00Z").bearer(access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.get(&bank, "/accounts").bearer(access).header("x-purpose", "commerce").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.get(&bank, "/accounts").bearer(access).header("x-purpose", "analytics").send().await;
    assert_error(&r, 403, "purpose_not_agreed");
    let r = api
        .get(&bank, &format!("/account-access-consents/{}", c["Data"]["ConsentId"].as_str().unwrap()))
        .bearer(access)
        .send()
        .await;
    assert_eq!(r.status, 200);

    // The other bank: this bank's agreement token is not its own, and its rate limit.
    let r = api
        .post(&limited, "/agreements/demo-platform/review")
        .bearer(&agreement)
        .json(json!({"AfterIncident": false}))
        .send()
        .await;
    assert_error(&r, 403, "forbidden");
    let (_, _, limited_access) = consented(&api, &limited).await;
    let mut got_429 = false;
    for _ in 0..12 {
        got_429 |=
            api.get(&limited, "/accounts").bearer(&limited_access).header("x-purpose", "commerce").send().await.status
                == 429;
    }
    assert!(got_429);
    assert_eq!(api.get(&bank, "/metrics").send().await.status, 200);
    api.check_openapi();
}

// ---------------------------------------------------------------------------------------------
// Bounded: what one client can hold of the server.
// ---------------------------------------------------------------------------------------------

/// Reads from `stream` until the server closes it or `within` passes: what arrived, and whether
/// it was closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_slow_header_and_an_idle_keep_alive_connection_are_closed_after_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let limits = Limits { header_read: Duration::from_millis(300), ..Limits::default() };
    let bank = Bank::start_with(limits).await;
    // Half a request head, then nothing.
    let mut slow = tokio::net::TcpStream::connect(bank.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(closed, "a slow header holds the connection past the timeout");
    // A whole request answered, then an idle keep-alive connection.
    let mut idle = tokio::net::TcpStream::connect(bank.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let started = tokio::time::Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed && started.elapsed() >= Duration::from_millis(250), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_in_the_error_shape() {
    use tokio::io::AsyncWriteExt;
    let limits = Limits { body_read: Duration::from_millis(300), ..Limits::default() };
    let bank = Bank::start_with(limits).await;
    let client = client(&bank, PLATFORM);
    let mut stream = tokio::net::TcpStream::connect(bank.addr).await.unwrap();
    let head = format!(
        "POST /negotiations HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {client}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"Platform\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["Code"], "body_timeout", "{body}");
    // Nothing was opened by the request that did not arrive.
    let api = Api::new();
    let (_, id, _) = open(&api, &bank, PLATFORM).await;
    assert_eq!(id, "1");
}

#[tokio::test]
async fn a_connection_beyond_the_limit_gets_503_in_the_error_shape_and_the_others_are_served() {
    use tokio::io::AsyncWriteExt;
    let limits = Limits { max_connections: 2, ..Limits::default() };
    let bank = Bank::start_with(limits).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(bank.addr).await.unwrap());
    }
    // The two held connections are accepted before the third arrives.
    for s in &mut held {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::io::AsyncReadExt::read(s, &mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    let mut third = tokio::net::TcpStream::connect(bank.addr).await.unwrap();
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(3)).await;
    assert!(closed && answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["Code"], "too_many_connections", "{body}");
    // Once one closes, a new connection is served.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = tokio::net::TcpStream::connect(bank.addr).await.unwrap();
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_until_closed(&mut fourth, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_token_of_the_wrong_kind_gets_403_before_a_malformed_body_is_read() {
    let bank = Bank::start("demo-bank").await;
    let api = Api::new();
    let (_, _, access) = consented(&api, &bank).await;
    for target in ["/account-access-consents", "/event-subscriptions"] {
        let r = api
            .post(&bank, target)
            .bearer(&access)
            .header("content-type", "application/json")
            .raw("not json")
            .send()
            .await;
        let e = assert_error(&r, 403, "forbidden");
        assert!(e["Message"].as_str().unwrap().contains("agreement token"), "{target}: {e}");
    }
    api.check_openapi();
}

#[tokio::test]
async fn a_forged_token_naming_another_bank_gets_401_and_a_genuine_one_403() {
    let (bank, other) = (Bank::start("demo-bank").await, Bank::start("limited-bank").await);
    let api = Api::new();
    let theirs = client(&other, PLATFORM);
    // Genuine, from a bank of the same key: refused as another bank's.
    let r = api.post(&bank, "/negotiations").bearer(&theirs).json(json!({"Platform": PLATFORM})).send().await;
    assert_error(&r, 403, "forbidden");
    // This bank's MAC under another bank's name: forged, so no token at all.
    let ours = client(&bank, PLATFORM);
    let forged = ours.replacen("demo-bank", "limited-bank", 1);
    let r = api.post(&bank, "/negotiations").bearer(&forged).json(json!({"Platform": PLATFORM})).send().await;
    assert_error(&r, 401, "unauthorized");
    api.check_openapi();
}

#[tokio::test]
async fn ids_dates_purposes_and_sim_times_are_taken_in_their_one_spelling_only() {
    let bank = Bank::start_on_day("demo-bank", 30).await;
    let api = Api::new();
    let (agreement, consent_id, access) = consented(&api, &bank).await;
    // An id with a leading zero or a sign names no consent.
    for id in [format!("0{consent_id}"), format!("+{consent_id}"), format!("%20{consent_id}")] {
        let r = api.get(&bank, &format!("/account-access-consents/{id}")).bearer(&agreement).send().await;
        assert_error(&r, 404, "not_found");
    }
    let r = api.get(&bank, &format!("/account-access-consents/{consent_id}")).bearer(&agreement).send().await;
    assert_eq!(r.status, 200);
    // A second X-Purpose header is refused, not resolved silently.
    let r = api
        .get(&bank, "/accounts/chk-demo-bank-3/balances")
        .bearer(&access)
        .header("x-purpose", "balance_display")
        .header("x-purpose", "advertising")
        .send()
        .await;
    let e = assert_error(&r, 400, "invalid_header");
    assert_eq!(e["Path"], "X-Purpose");
    // A date with trailing junk is not a date.
    let r = api
        .get(&bank, "/accounts/card-demo-bank-3/transactions?fromBookingDateTime=2018-01-01T00:00:00ZZZ")
        .bearer(&access)
        .header("x-purpose", "commerce")
        .send()
        .await;
    assert_error(&r, 400, "invalid_date");
    // SimTimeMs is int64.
    let body = json!({"Platform": OTHER_PLATFORM, "SimTimeMs": 9_223_372_036_854_775_808u64});
    let other = Bank::start_in(two_platform_scenario(), "demo-bank").await;
    let r = api.post(&other, "/negotiations").bearer(&client(&other, OTHER_PLATFORM)).json(body).send().await;
    let e = assert_error(&r, 400, "invalid_body");
    assert_eq!(e["Path"], "SimTimeMs");
    api.check_openapi();
}
