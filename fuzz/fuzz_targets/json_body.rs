//! The JSON request bodies the bank reads (`bank_mock::wire`), parsed as the server parses them
//! (`http::parse_json`, strict), and each one that parses put through the checks the server
//! runs on it before its desk sees it: `SimTimeMs`, an offer's outcome against the default
//! issues (as assistants-2018 has them), a consent's transaction window, a subscription's event
//! types, rate and callback. Every input is tried as every body. A refusal is a 4xx, never a
//! panic.
#![no_main]

use bank_mock::http::{
    Failure, calendar_text, consent_window, parse_json, parse_optional_json, parse_outcome, sim_time_ms,
    subscription_request,
};
use bank_mock::wire::{ConsentBody, OfferBody, OpenBody, SubscriptionBody, TimeBody, WithdrawBody};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};
use testbed_core::scenario::Scenario;

static SCENARIO: LazyLock<Arc<Scenario>> = LazyLock::new(|| {
    let text = include_str!("../../scenarios/assistants-2018.toml");
    Arc::new(testbed_core::scenario::parse(text).expect("assistants-2018.toml parses"))
});

fn refused_as_client_error<T>(checked: Result<T, Failure>) -> Option<T> {
    checked.map_err(|refused| assert!(refused.status().is_client_error(), "{}", refused.status())).ok()
}

fn check_sim_time(ms: Option<u64>) {
    if let Some(ms) = ms {
        refused_as_client_error(sim_time_ms(ms));
    }
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(b) = parse_json::<OpenBody>(bytes) {
        check_sim_time(b.sim_time_ms);
    }
    if let Ok(b) = parse_json::<OfferBody>(bytes) {
        check_sim_time(b.sim_time_ms);
        let space = &SCENARIO.space;
        if let Some(outcome) = refused_as_client_error(parse_outcome(&SCENARIO, &b.outcome)) {
            // An accepted outcome names every issue, and names it as the bank describes it.
            assert_eq!(space.describe(outcome).into_iter().collect::<std::collections::BTreeMap<_, _>>(), b.outcome);
        }
    }
    if let Ok(b) = parse_optional_json::<TimeBody>(bytes) {
        check_sim_time(b.sim_time_ms);
    }
    if let Ok(b) = parse_json::<WithdrawBody>(bytes) {
        check_sim_time(b.sim_time_ms);
    }
    if let Ok(b) = parse_json::<ConsentBody>(bytes)
        && let Some((from, to)) = refused_as_client_error(consent_window(&b.data))
    {
        // The consent's view shows its window's ends.
        for end in [from, to].into_iter().flatten() {
            let _ = calendar_text(end);
        }
    }
    if let Ok(b) = parse_json::<SubscriptionBody>(bytes)
        && let Some((event_types, _)) = refused_as_client_error(subscription_request(&b.data))
    {
        assert!(!event_types.is_empty());
    }
});
