//! `bank-mock serve --api fdx`: the FDX profile over real HTTP, with tokens from the
//! authorization-code flow and `/sandbox/consents`. Every exchange is checked against
//! `openapi-fdx.json`.

use super::obie::{CALLBACK, bank_speaking, basic, form, location_params, pkce, sandbox_consent};
use super::*;
use bank_mock::http::ApiProfile;

const BASE: &str = "/fdx/v6";

#[track_caller]
fn assert_fdx_error(r: &Resp, status: u16, code: u64, ours: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["code"].as_u64(), Some(code), "{v}");
    let debug = v["debugMessage"].as_str().unwrap_or_default();
    assert!(debug.starts_with(&format!("{ours}: ")), "{v}");
}

/// The FDX authorization request names no consent: the customer approves what the agreement
/// allows, and the code is exchanged for the consent's access token.
async fn authorised(api: &Api, bank: &Bank, customer: u64) -> String {
    let (verifier, challenge) = pkce(9);
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", "wallet")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid accounts")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", &customer.to_string());
    let r = api.get(bank, &format!("/authorize?{}", q.finish())).send().await;
    let code =
        location_params(&r).get("code").cloned().unwrap_or_else(|| panic!("no code: {:?}", r.header("location")));
    let callback = form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>();
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={callback}&code_verifier={verifier}");
    let r = form(api.post(bank, "/token").header("authorization", &basic(bank, "wallet")), &body).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_client_reads_the_customer_accounts_balances_and_every_transaction_page_in_fdx_shapes() {
    // design-direct: quick-bank agrees balances and transaction detail with `wallet`.
    let (bank, _) = bank_speaking("design-direct", "quick-bank", 400, ApiProfile::Fdx).await;
    let api = Api::checked_against(fdx_spec());
    let access = authorised(&api, &bank, 0).await;
    let spec = bank.population();
    let (checking, card) = (population::checking_id(&spec.bank, 0), population::card_id(&spec.bank, 0));

    let r = api.get(&bank, &format!("{BASE}/customers/current")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["customerId"], format!("cust-{}-0", spec.bank));
    let r = api.get(&bank, &format!("{BASE}/accounts")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let ids: Vec<&str> = v["accounts"].as_array().unwrap().iter().map(|a| a["accountId"].as_str().unwrap()).collect();
    assert_eq!(ids, [checking.as_str(), card.as_str()]);
    let r = api.get(&bank, &format!("{BASE}/accounts/{checking}")).bearer(&access).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let balance = r.json()["availableBalance"].as_f64().expect("a deposit account's available balance");
    let day = (bank.state.sim_now().as_millis() / 86_400_000) as u32;
    assert_eq!((balance * 100.0).round() as i64, population::balance_cents(&spec, 0, day));

    // 300 days of card transactions, 40 a page, walked through page.nextPageKey.
    let first = format!(
        "{BASE}/accounts/{card}/transactions?startTime={}&endTime={}&limit=40",
        &calendar(10)[..10],
        &calendar(309)[..10]
    );
    let (mut seen, mut next, mut pages) = (Vec::new(), Some(first.clone()), 0);
    let mut total = None;
    while let Some(t) = next {
        let r = api.get(&bank, &t).bearer(&access).send().await;
        assert_eq!(r.status, 200, "{t}: {}", r.text());
        let v = r.json();
        for t in v["transactions"].as_array().unwrap() {
            assert_ne!(t["description"], "Card transaction", "the merchant, under transaction detail: {t}");
            seen.push(t["transactionId"].as_str().unwrap().to_string());
        }
        total = total.or(v["page"]["totalElements"].as_u64());
        pages += 1;
        next = v["page"]["nextPageKey"].as_str().map(|k| format!("{first}&pageKey={k}"));
    }
    let expected: Vec<String> = booked(&spec, 0, 10, 310)
        .iter()
        .filter(|t| t.on_platform)
        .map(|t| bank_mock::api::transaction_id(&card, t.id))
        .collect();
    assert!(pages > 1, "the window takes more than one page");
    assert_eq!(total, Some(expected.len() as u64));
    assert_eq!(seen, expected, "every on-platform transaction of the window once, in booking order");
    api.check_openapi();
}

#[tokio::test]
async fn terms_without_transaction_detail_never_name_a_merchant_in_fdx() {
    // assistants-2018: jpmorgan-like agrees basic transactions with amazon-alexa.
    let (bank, _) = bank_speaking("assistants-2018", "jpmorgan-like", 40, ApiProfile::Fdx).await;
    let api = Api::checked_against(fdx_spec());
    let spec = bank.population();
    let card = population::card_id(&spec.bank, 2);
    let (_, access) = sandbox_consent(&api, &bank, "amazon-alexa", 2).await;
    let mut seen = 0;
    for asking in [None, Some("*")] {
        let mut call = api
            .get(&bank, &format!("{BASE}/accounts/{card}/transactions"))
            .bearer(&access)
            .header("x-purpose", "balance_display");
        if let Some(a) = asking {
            call = call.header("x-requested-fields", a);
        }
        let r = call.send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        for t in r.json()["transactions"].as_array().unwrap() {
            seen += 1;
            assert_eq!(t["description"], "Card transaction", "{t}");
        }
        let day = bank.state.sim_now().as_millis() / 86_400_000;
        for t in booked(&spec, 2, day.saturating_sub(31), day + 1) {
            let merchant = population::merchant_name(t.merchant);
            assert!(!r.text().contains(&merchant), "merchant {merchant} under basic terms");
        }
    }
    assert!(seen > 0, "the check saw transactions");
    api.check_openapi();
}

#[tokio::test]
async fn fdx_errors_carry_fdx_codes_and_a_revoked_consent_stops_the_next_page() {
    let (bank, _) = bank_speaking("design-direct", "quick-bank", 400, ApiProfile::Fdx).await;
    let api = Api::checked_against(fdx_spec());
    let (consent, access) = sandbox_consent(&api, &bank, "wallet", 1).await;
    let spec = bank.population();
    let (card, other) = (population::card_id(&spec.bank, 1), population::card_id(&spec.bank, 2));
    let r = api.get(&bank, &format!("{BASE}/accounts/{other}")).bearer(&access).send().await;
    assert_fdx_error(&r, 404, 701, "not_found");
    let r = api.get(&bank, &format!("{BASE}/accounts")).send().await;
    assert_fdx_error(&r, 401, 602, "unauthorized");
    let r = api
        .get(&bank, &format!("{BASE}/accounts/{card}/transactions?startTime=2018-13-01"))
        .bearer(&access)
        .send()
        .await;
    assert_fdx_error(&r, 400, 702, "invalid_date");
    let r = api
        .get(&bank, &format!("{BASE}/accounts/{card}/transactions?startTime=2018-03-01&endTime=2018-02-01"))
        .bearer(&access)
        .send()
        .await;
    assert_fdx_error(&r, 400, 703, "invalid_date_range");
    // design-direct's terms grant no identity data: the contact cannot be read.
    let r = api.get(&bank, &format!("{BASE}/accounts/{card}/contact")).bearer(&access).send().await;
    assert_fdx_error(&r, 403, 602, "missing_permission");

    let first = format!("{BASE}/accounts/{card}/transactions?startTime=2018-01-01&endTime=2018-12-31&limit=10");
    let r = api.get(&bank, &first).bearer(&access).send().await;
    let key = r.json()["page"]["nextPageKey"].as_str().expect("more than one page").to_string();
    // The platform revokes the consent (FDX has no consent route; the desk's is every profile's).
    {
        let mut desk = bank.state.desk();
        let agreement = desk.agreement("wallet").unwrap().0.token.clone();
        let mint = desk.tokens().clone();
        let token = mint.check(&agreement).unwrap();
        desk.revoke_consent(token, consent.parse().unwrap(), bank.state.sim_now()).unwrap();
    }
    let r = api.get(&bank, &format!("{first}&pageKey={key}")).bearer(&access).send().await;
    assert_fdx_error(&r, 403, 602, "consent_revoked");
    api.check_openapi();
}

#[tokio::test]
async fn an_fdx_authorization_makes_no_consent_until_the_client_exchanges_its_code() {
    let (bank, _) = bank_speaking("design-direct", "quick-bank", 30, ApiProfile::Fdx).await;
    let api = Api::checked_against(fdx_spec());
    // Nine authorization requests for customer 5, no code exchanged: nothing is held for them,
    // so the customer is not locked out of consents (at most 8 in force).
    let (_, challenge) = pkce(4);
    for _ in 0..9 {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", "wallet")
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", "5");
        let r = api.get(&bank, &format!("/authorize?{}", q.finish())).send().await;
        assert!(location_params(&r).contains_key("code"));
    }
    let (_, access) = sandbox_consent(&api, &bank, "wallet", 5).await;
    // The exchanged flow still reads, and a card's balance is what is owed on it, positive.
    let token = authorised(&api, &bank, 5).await;
    assert_ne!(token, access);
    let card = population::card_id(&bank.population().bank, 5);
    let r = api.get(&bank, &format!("{BASE}/accounts/{card}")).bearer(&token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let day = (bank.state.sim_now().as_millis() / 86_400_000) as u32;
    let owed = -population::card_balance_cents(&bank.population(), 5, day);
    assert_eq!((r.json()["currentBalance"].as_f64().unwrap() * 100.0).round() as i64, owed);
    api.check_openapi();
}
