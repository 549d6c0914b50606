//! `bank-mock serve --api obie`: the UK Open Banking profile over real HTTP, with tokens from
//! `/token` and `/sandbox/consents`. Every exchange is checked against `openapi-obie.json`.

use super::*;
use bank_mock::agreed::{Held, install};
use bank_mock::http::ApiProfile;
use base64::Engine as _;

const BASE: &str = "/open-banking/v3.1/aisp";

fn committed(name: &str) -> Arc<Scenario> {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Arc::new(testbed_core::scenario::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `name` of the committed scenario `scenario`, speaking obie, holding its agreements, its
/// calendar `day` days after the earliest of them.
async fn obie_bank(scenario: &str, name: &str, day: u64) -> (Bank, Vec<Held>) {
    bank_speaking(scenario, name, day, ApiProfile::Obie).await
}

/// `obie_bank`, speaking `api`.
pub(super) async fn bank_speaking(scenario: &str, name: &str, day: u64, api: ApiProfile) -> (Bank, Vec<Held>) {
    let sc = committed(scenario);
    let bank = Bank::start_speaking(sc.clone(), name, LiveClock::new(SimTime::ZERO, 1.0), Limits::default(), api).await;
    let (held, origin) = install(&sc, sc.bank_index(name).unwrap(), &mut bank.state.desk());
    bank.state.set_clock(LiveClock::new(origin + Duration::from_secs(day * 86_400), 1.0));
    (bank, held)
}

pub(super) fn basic(bank: &Bank, platform: &str) -> String {
    let secret = bank.state.client_secret(platform).expect("a registered client");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{platform}:{secret}")))
}

/// The client-credentials token of `platform`.
pub(super) async fn tpp_token(api: &Api, bank: &Bank, platform: &str) -> String {
    let r = api
        .post(bank, "/token")
        .header("authorization", &basic(bank, platform))
        .header("content-type", "application/x-www-form-urlencoded")
        .raw("grant_type=client_credentials&scope=accounts")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// An authorised consent of `platform` for `customer` from the sandbox: `(consent id, access token)`.
pub(super) async fn sandbox_consent(api: &Api, bank: &Bank, platform: &str, customer: u64) -> (String, String) {
    let r = api
        .post(bank, "/sandbox/consents")
        .header("authorization", &basic(bank, platform))
        .json(json!({"customer": customer}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    (v["consent_id"].as_str().unwrap().to_string(), v["access_token"].as_str().unwrap().to_string())
}

/// The path and query of one of the server's absolute links.
fn target(link: &Value) -> String {
    let url = link.as_str().unwrap_or_else(|| panic!("a link: {link}"));
    let rest = url.strip_prefix("http://").expect("an absolute http URL");
    rest[rest.find('/').expect("a path")..].to_string()
}

#[track_caller]
fn assert_obie_error(r: &Resp, status: u16, code: &str, error_code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Code"], code, "{v}");
    assert_eq!(v["Errors"][0]["ErrorCode"], error_code, "{v}");
    assert!(r.header("x-fapi-interaction-id").is_some_and(|h| !h.is_empty()));
}

#[tokio::test]
async fn a_client_reads_accounts_balances_and_every_transaction_page_in_the_standards_shapes() {
    // design-direct: quick-bank agrees to balances and transaction detail with `wallet`.
    let (bank, _) = obie_bank("design-direct", "quick-bank", 400).await;
    let api = Api::checked_against(obie_spec());
    let (_, access) = sandbox_consent(&api, &bank, "wallet", 0).await;
    let spec = bank.population();
    let (checking, card) = (population::checking_id(&spec.bank, 0), population::card_id(&spec.bank, 0));

    let r = api
        .get(&bank, &format!("{BASE}/accounts"))
        .bearer(&access)
        .header("x-fapi-interaction-id", "trace-7")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fapi-interaction-id"), Some("trace-7"), "echoed");
    let accounts = r.json()["Data"]["Account"].clone();
    let ids: Vec<&str> = accounts.as_array().unwrap().iter().map(|a| a["AccountId"].as_str().unwrap()).collect();
    assert_eq!(ids, [checking.as_str(), card.as_str()]);
    let r = api.get(&bank, &format!("{BASE}/accounts/{card}")).bearer(&access).send().await;
    assert_eq!(r.json()["Data"]["Account"].as_array().unwrap().len(), 1);

    let r = api.get(&bank, &format!("{BASE}/accounts/{checking}/balances")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let types: Vec<&str> =
        v["Data"]["Balance"].as_array().unwrap().iter().map(|b| b["Type"].as_str().unwrap()).collect();
    assert_eq!(types, ["InterimAvailable", "InterimBooked"]);

    // 300 days of card transactions, walked page by page through Links.Next.
    let mut next = Some(format!(
        "{BASE}/accounts/{card}/transactions?fromBookingDateTime={}&toBookingDateTime={}",
        calendar(10),
        calendar(310)
    ));
    let (mut seen, mut pages, mut total) = (Vec::new(), 0, None);
    while let Some(t) = next {
        let r = api.get(&bank, &t).bearer(&access).send().await;
        assert_eq!(r.status, 200, "{t}: {}", r.text());
        let v = r.json();
        for t in v["Data"]["Transaction"].as_array().unwrap() {
            assert!(t["MerchantDetails"]["MerchantName"].is_string(), "detail granted: {t}");
            seen.push(t["TransactionId"].as_str().unwrap().to_string());
        }
        pages += 1;
        total = total.or(v["Meta"]["TotalPages"].as_u64());
        assert_eq!(v["Meta"]["TotalPages"].as_u64(), total, "every page counts the same pages");
        next = v["Links"].get("Next").map(target);
    }
    assert_eq!(Some(pages), total, "Next walks every page");
    let expected: Vec<String> = booked(&spec, 0, 10, 310)
        .iter()
        .filter(|t| t.on_platform)
        .map(|t| bank_mock::api::transaction_id(&card, t.id))
        .collect();
    assert!(pages > 1, "the window takes more than one page");
    assert_eq!(seen, expected, "every on-platform transaction of the window once, in booking order");
    api.check_openapi();
}

#[tokio::test]
async fn terms_without_transaction_detail_never_put_a_merchant_on_the_wire_whatever_is_asked() {
    // assistants-2018: jpmorgan-like agrees basic transactions (balance display only) with amazon-alexa.
    let (bank, _) = obie_bank("assistants-2018", "jpmorgan-like", 40).await;
    let api = Api::checked_against(obie_spec());
    let card = population::card_id(&bank.population().bank, 2);
    let (_, access) = sandbox_consent(&api, &bank, "amazon-alexa", 2).await;
    // A standard client sends no X-Purpose: the request is taken for a purpose the agreement
    // allows (here only balance_display), not refused for the route's default.
    let r = api.get(&bank, &format!("{BASE}/accounts")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.get(&bank, &format!("{BASE}/accounts")).bearer(&access).header("x-purpose", "commerce").send().await;
    assert_obie_error(&r, 403, "purpose_not_agreed", "UK.OBIE.Resource.ConsentMismatch");
    let mut transactions = 0;
    for asking in [None, Some("*")] {
        let mut call = api.get(&bank, &format!("{BASE}/accounts/{card}/transactions")).bearer(&access);
        if let Some(a) = asking {
            call = call.header("x-requested-fields", a);
        }
        let r = call.send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        transactions += r.json()["Data"]["Transaction"].as_array().unwrap().len();
        for word in ["Merchant", "AddressLine"] {
            assert!(!r.text().contains(word), "{word} under basic terms: {}", r.text());
        }
    }
    assert!(transactions > 0, "the check saw transactions");
    api.check_openapi();
}

#[tokio::test]
async fn a_revoked_consent_gets_the_standards_error_on_the_very_next_request_even_the_next_page() {
    let (bank, _) = obie_bank("design-direct", "quick-bank", 400).await;
    let api = Api::checked_against(obie_spec());
    let tpp = tpp_token(&api, &bank, "wallet").await;
    let (id, access) = sandbox_consent(&api, &bank, "wallet", 1).await;
    let card = population::card_id(&bank.population().bank, 1);
    let first = format!(
        "{BASE}/accounts/{card}/transactions?fromBookingDateTime={}&toBookingDateTime={}",
        calendar(0),
        calendar(300)
    );
    let r = api.get(&bank, &first).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let next = target(&r.json()["Links"]["Next"]);

    let r = api.get(&bank, &format!("{BASE}/account-access-consents/{id}")).bearer(&tpp).send().await;
    assert_eq!(r.json()["Data"]["Status"], "Authorised", "{}", r.text());
    let r = api.delete(&bank, &format!("{BASE}/account-access-consents/{id}")).bearer(&tpp).send().await;
    assert_eq!(r.status, 204, "{}", r.text());

    let r = api.get(&bank, &next).bearer(&access).send().await;
    assert_obie_error(&r, 403, "consent_revoked", "UK.OBIE.Resource.InvalidConsentStatus");
    // The platform deleted the consent resource: gone for it, as an unknown id is.
    let r = api.get(&bank, &format!("{BASE}/account-access-consents/{id}")).bearer(&tpp).send().await;
    assert_obie_error(&r, 403, "not_found", "UK.OBIE.Resource.NotFound");
    let r = api.delete(&bank, &format!("{BASE}/account-access-consents/{id}")).bearer(&tpp).send().await;
    assert_obie_error(&r, 403, "not_found", "UK.OBIE.Resource.NotFound");
    api.check_openapi();
}

#[tokio::test]
async fn errors_are_the_standards_and_unknown_ids_are_forbidden_not_missing() {
    let (bank, _) = obie_bank("design-direct", "quick-bank", 5).await;
    let api = Api::checked_against(obie_spec());
    let (_, access) = sandbox_consent(&api, &bank, "wallet", 1).await;
    let other = population::card_id(&bank.population().bank, 2);
    let r = api.get(&bank, &format!("{BASE}/accounts/{other}/balances")).bearer(&access).send().await;
    assert_obie_error(&r, 403, "not_found", "UK.OBIE.Resource.NotFound");
    let doc = api.get(&bank, "/openapi.json").send().await.json();
    assert_eq!(doc["info"]["title"], "bank-mock: UK Open Banking profile", "the profile's own document");
    // /metrics counts what the client got.
    let m = api.get(&bank, "/metrics").send().await.text();
    let forbidden = r#"bank_http_responses_total{bank="quick-bank",route="obie_balances",status="403"}"#;
    assert_eq!(sample(&m, forbidden), Some(1.0), "{m}");
    let r = api.get(&bank, &format!("{BASE}/accounts")).send().await;
    assert_obie_error(&r, 401, "unauthorized", "UK.OBIE.Header.Missing");
    let r = api
        .get(&bank, &format!("{BASE}/accounts/{other}/transactions?fromBookingDateTime=yesterday"))
        .bearer(&access)
        .send()
        .await;
    assert_obie_error(&r, 400, "invalid_date", "UK.OBIE.Field.InvalidDate");
    // The transactions page (served off the router, on the server's hot path) too: another's
    // account is forbidden, and both answers are counted under the route.
    let r = api.get(&bank, &format!("{BASE}/accounts/{other}/transactions")).bearer(&access).send().await;
    assert_obie_error(&r, 403, "not_found", "UK.OBIE.Resource.NotFound");
    let m = api.get(&bank, "/metrics").send().await.text();
    for status in [400, 403] {
        let counted =
            format!(r#"bank_http_responses_total{{bank="quick-bank",route="obie_transactions",status="{status}"}}"#);
        assert_eq!(sample(&m, &counted), Some(1.0), "{status}: {m}");
    }
    let r = api.post(&bank, &format!("{BASE}/accounts")).bearer(&access).send().await;
    assert_obie_error(&r, 405, "method_not_allowed", "x-testbed.method_not_allowed");
    assert!(r.header("allow").is_some());
    // x-fapi-auth-date in the standard's form, or 400; another method still gets its 405 first.
    let accounts = format!("{BASE}/accounts");
    let r = api
        .get(&bank, &accounts)
        .bearer(&access)
        .header("x-fapi-auth-date", "Sun, 10 Sep 2017 19:43:31 GMT")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = api.get(&bank, &accounts).bearer(&access).header("x-fapi-auth-date", "2017-09-10").send().await;
    assert_obie_error(&r, 400, "invalid_header", "UK.OBIE.Header.Invalid");
    let r = api.delete(&bank, &accounts).bearer(&access).header("x-fapi-auth-date", "0").send().await;
    assert_obie_error(&r, 405, "method_not_allowed", "x-testbed.method_not_allowed");
    // The transactions page, served on the server's hot path, holds the headers alike.
    let card = population::card_id(&bank.population().bank, 1);
    let page = format!("{BASE}/accounts/{card}/transactions");
    let r = api.get(&bank, &page).bearer(&access).header("x-fapi-auth-date", "2017-09-10").send().await;
    assert_obie_error(&r, 400, "invalid_header", "UK.OBIE.Header.Invalid");
    let r = api.get(&bank, &page).bearer(&access).header("x-fapi-interaction-id", "trace-9").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fapi-interaction-id"), Some("trace-9"), "echoed");
    // A consent's dates are strings when present: null is refused, as the standard's schema does.
    let tpp = tpp_token(&api, &bank, "wallet").await;
    let r = api
        .post(&bank, &format!("{BASE}/account-access-consents"))
        .bearer(&tpp)
        .json(json!({"Data": {"Permissions": ["ReadBalances"], "TransactionToDateTime": null}, "Risk": {}}))
        .send()
        .await;
    assert_obie_error(&r, 400, "invalid_body", "UK.OBIE.Field.Invalid");
    // A date's zone is ignored and its time optional, as the standard has it.
    let card = population::card_id(&bank.population().bank, 1);
    for (from, read) in [
        ("2018-01-01T01:00:00%2B01:00", "2018-01-01T01:00:00Z"),
        ("2018-01-01T01:00:00", "2018-01-01T01:00:00Z"),
        ("2018-01-02", "2018-01-02T00:00:00Z"),
    ] {
        let target = format!("{BASE}/accounts/{card}/transactions?fromBookingDateTime={from}");
        let r = api.get(&bank, &target).bearer(&access).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["Meta"]["FirstAvailableDateTime"], read, "{from}");
    }
    api.check_openapi();
}

pub(super) fn form<'a>(call: Call<'a>, body: &str) -> Call<'a> {
    call.header("content-type", "application/x-www-form-urlencoded").raw(body.to_string())
}

#[tokio::test]
async fn the_token_endpoint_answers_as_rfc_6749_says() {
    let (bank, _) = obie_bank("design-direct", "quick-bank", 0).await;
    let api = Api::checked_against(obie_spec());
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("wallet:not-the-secret"));
    let r =
        form(api.post(&bank, "/token").header("authorization", &wrong), "grant_type=client_credentials").send().await;
    assert_eq!((r.status, r.json()["error"].as_str()), (401, Some("invalid_client")), "{}", r.text());
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")));
    let wallet = basic(&bank, "wallet");
    for (body, error) in [
        ("grant_type=password", "unsupported_grant_type"),
        ("scope=accounts", "invalid_request"),
        ("grant_type=client_credentials&scope=payments", "invalid_scope"),
        ("grant_type=client_credentials&grant_type=client_credentials", "invalid_request"),
    ] {
        let r = form(api.post(&bank, "/token").header("authorization", &wallet), body).send().await;
        assert_eq!((r.status, r.json()["error"].as_str()), (400, Some(error)), "{body}: {}", r.text());
    }
    // The secret in the form (client_secret_post) does as well as Basic.
    let secret = bank.state.client_secret("wallet").unwrap();
    let r = form(
        api.post(&bank, "/token"),
        &format!("grant_type=client_credentials&client_id=wallet&client_secret={secret}"),
    )
    .send()
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["access_token"].as_str().map(|t| t.starts_with("agr.quick-bank.wallet.")), Some(true));
    // The sandbox wants the client too.
    let r = api.post(&bank, "/sandbox/consents").json(json!({"customer": 0})).send().await;
    assert_eq!(r.status, 401, "{}", r.text());
    api.check_openapi();

    // A platform the bank walked away from has no agreement to take a token under.
    let (bank, _) = obie_bank("messenger-2018", "jpmorgan-like", 0).await;
    let r = form(
        api.post(&bank, "/token").header("authorization", &basic(&bank, "messenger")),
        "grant_type=client_credentials",
    )
    .send()
    .await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("unauthorized_client")), "{}", r.text());
}

/// A PKCE pair: a verifier of 64 unreserved characters and its S256 challenge.
pub(super) fn pkce(seed: u8) -> (String, String) {
    use sha2::Digest as _;
    let verifier: String =
        (0..64).map(|i| (b'a' + (i as u8).wrapping_mul(7).wrapping_add(seed) % 26) as char).collect();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a redirect's `Location`.
pub(super) fn location_params(r: &Resp) -> BTreeMap<String, String> {
    assert_eq!(r.status, 302, "{}", r.text());
    let location = r.header("location").expect("a Location");
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

pub(super) const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// A consent of `wallet` awaiting the customer: its id.
async fn asked_consent(api: &Api, bank: &Bank, tpp: &str, permissions: Value) -> String {
    let r = api
        .post(bank, &format!("{BASE}/account-access-consents"))
        .bearer(tpp)
        .json(json!({"Data": {"Permissions": permissions}, "Risk": {}}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["Data"]["Status"], "AwaitingAuthorisation");
    v["Data"]["ConsentId"].as_str().unwrap().to_string()
}

fn authorize_target(consent: &str, customer: u64, challenge: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", "wallet")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid accounts")
        .append_pair("state", "s-42")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", &customer.to_string())
        .append_pair("consent_id", consent);
    format!("/authorize?{}", q.finish())
}

#[tokio::test]
async fn the_authorization_code_flow_with_pkce_gives_a_token_that_reads_transactions() {
    let (bank, _) = obie_bank("design-direct", "quick-bank", 30).await;
    let api = Api::checked_against(obie_spec());
    let tpp = tpp_token(&api, &bank, "wallet").await;
    let consent = asked_consent(
        &api,
        &bank,
        &tpp,
        json!(["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsDetail"]),
    )
    .await;
    let (verifier, challenge) = pkce(3);

    // The customer (4, who linked on the wallet) approves: the code comes back with the state.
    let r = api.get(&bank, &authorize_target(&consent, 4, &challenge)).send().await;
    let answer = location_params(&r);
    assert_eq!(answer.get("state").map(String::as_str), Some("s-42"));
    assert!(r.header("location").unwrap().starts_with(CALLBACK));
    let code = answer.get("code").expect("a code").clone();

    let exchange = |code: &str, verifier: &str| {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
            form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
        )
    };
    let wallet = basic(&bank, "wallet");
    let r = form(api.post(&bank, "/token").header("authorization", &wallet), &exchange(&code, &verifier)).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let tokens = r.json();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    // A code is good once.
    let r = form(api.post(&bank, "/token").header("authorization", &wallet), &exchange(&code, &verifier)).send().await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")));

    let r = api.get(&bank, &format!("{BASE}/account-access-consents/{consent}")).bearer(&tpp).send().await;
    assert_eq!(r.json()["Data"]["Status"], "Authorised", "{}", r.text());
    let card = population::card_id(&bank.population().bank, 4);
    let r = api.get(&bank, &format!("{BASE}/accounts/{card}/transactions")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.json()["Data"]["Transaction"].as_array().unwrap().is_empty(), "30 days of a card's bookings");
    // Another customer's account is not this consent's.
    let other = population::card_id(&bank.population().bank, 5);
    let r = api.get(&bank, &format!("{BASE}/accounts/{other}/transactions")).bearer(&access).send().await;
    assert_obie_error(&r, 403, "not_found", "UK.OBIE.Resource.NotFound");

    // The refresh token gets the access token again while the consent is in force.
    let r = form(
        api.post(&bank, "/token").header("authorization", &wallet),
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .send()
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["access_token"], access.as_str());
    api.check_openapi();
}

#[tokio::test]
async fn a_wrong_verifier_or_a_rejected_approval_gets_the_standards_error() {
    let (bank, held) = obie_bank("design-direct", "quick-bank", 30).await;
    let api = Api::checked_against(obie_spec());
    let tpp = tpp_token(&api, &bank, "wallet").await;
    let wallet = basic(&bank, "wallet");

    // A verifier that is not the challenge's: no token.
    let consent = asked_consent(&api, &bank, &tpp, json!(["ReadBalances"])).await;
    let (_, challenge) = pkce(1);
    let (other_verifier, _) = pkce(2);
    let code =
        location_params(&api.get(&bank, &authorize_target(&consent, 1, &challenge)).send().await)["code"].clone();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={other_verifier}",
        form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
    );
    let r = form(api.post(&bank, "/token").header("authorization", &wallet), &body).send().await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", r.text());

    // A customer who never linked on the wallet rejects: access_denied, and the consent says so.
    let linked = held
        .iter()
        .find_map(|h| match h {
            Held::Agreed { info, .. } => Some(info.linked_customers),
            Held::NotAgreed { .. } => None,
        })
        .unwrap();
    let consent = asked_consent(&api, &bank, &tpp, json!(["ReadBalances"])).await;
    let answer = location_params(&api.get(&bank, &authorize_target(&consent, linked, &challenge)).send().await);
    assert_eq!(answer.get("error").map(String::as_str), Some("access_denied"), "{answer:?}");
    assert_eq!(answer.get("state").map(String::as_str), Some("s-42"));
    assert!(!answer.contains_key("code"));
    let r = api.get(&bank, &format!("{BASE}/account-access-consents/{consent}")).bearer(&tpp).send().await;
    assert_eq!(r.json()["Data"]["Status"], "Rejected", "{}", r.text());
    // Decided once: asking again is refused, not approved.
    let again = location_params(&api.get(&bank, &authorize_target(&consent, 1, &challenge)).send().await);
    assert_eq!(again.get("error").map(String::as_str), Some("invalid_request"), "{again:?}");

    // Permissions beyond the agreed terms are refused when the consent is asked for.
    let r = api
        .post(&bank, &format!("{BASE}/account-access-consents"))
        .bearer(&tpp)
        .json(json!({"Data": {"Permissions": ["ReadPAN"]}, "Risk": {}}))
        .send()
        .await;
    assert_obie_error(&r, 403, "permission_not_agreed", "UK.OBIE.Field.Unexpected");

    // The consent named in a request object (an unsecured JWT), as UK Open Banking passes it.
    let consent = asked_consent(&api, &bank, &tpp, json!(["ReadBalances"])).await;
    let claims = json!({"claims": {"id_token": {"openbanking_intent_id": {"value": consent, "essential": true}}}});
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    let target = authorize_target("", 2, &challenge).replace("&consent_id=", &format!("&request={jwt}"));
    assert!(location_params(&api.get(&bank, &target).send().await).contains_key("code"));
    api.check_openapi();
}

#[tokio::test]
async fn the_standards_own_readings_hold_and_codes_go_only_to_loopback() {
    let (bank, _) = obie_bank("design-direct", "quick-bank", 30).await;
    let api = Api::checked_against(obie_spec());
    let tpp = tpp_token(&api, &bank, "wallet").await;
    let (_, challenge) = pkce(5);

    // Codes go back to the machine only: another host gets no redirect at all.
    let away = authorize_target("2", 1, &challenge).replace("127.0.0.1%3A9", "evil.example");
    let r = api.get(&bank, &away).send().await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_request")), "{}", r.text());
    assert!(r.header("location").is_none());

    // The standard's usual set: credits and debits are filters, a Detail permission holds its Basic one.
    let asked =
        json!(["ReadAccountsBasic", "ReadTransactionsCredits", "ReadTransactionsDebits", "ReadTransactionsDetail"]);
    let consent = asked_consent(&api, &bank, &tpp, asked).await;
    let r = api.get(&bank, &format!("{BASE}/account-access-consents/{consent}")).bearer(&tpp).send().await;
    let held: Vec<String> =
        r.json()["Data"]["Permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    assert_eq!(held, ["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsDetail"]);

    // A consent deleted between the approval and the exchange gets no token.
    let (verifier, challenge) = pkce(6);
    let code =
        location_params(&api.get(&bank, &authorize_target(&consent, 3, &challenge)).send().await)["code"].clone();
    let r = api.delete(&bank, &format!("{BASE}/account-access-consents/{consent}")).bearer(&tpp).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let callback = form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>();
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={callback}&code_verifier={verifier}");
    let r = form(api.post(&bank, "/token").header("authorization", &basic(&bank, "wallet")), &body).send().await;
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("invalid_grant")), "{}", r.text());

    // What is owed on a card is a debit.
    let (_, access) = sandbox_consent(&api, &bank, "wallet", 3).await;
    let card = population::card_id(&bank.population().bank, 3);
    let r = api.get(&bank, &format!("{BASE}/accounts/{card}/balances")).bearer(&access).send().await;
    let day = (bank.state.sim_now().as_millis() / 86_400_000) as u32;
    let owed = -population::card_balance_cents(&bank.population(), 3, day);
    assert!(owed > 0, "the card was used this cycle");
    assert_eq!(r.json()["Data"]["Balance"][0]["CreditDebitIndicator"], "Debit", "{}", r.text());
    api.check_openapi();
}
