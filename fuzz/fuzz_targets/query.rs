//! What a data request's path and query say: the transactions query (booking window and page),
//! a resource id, an account id. Each refuses with 4xx or gives a value within its bounds, and
//! an accepted window formats into the page's links and reads back the same.
#![no_main]

use bank_mock::desk::account_belongs;
use bank_mock::http::{TransactionsQuery, calendar_text, resource_id};
use libfuzzer_sys::fuzz_target;
use testbed_core::SimTime;
use testbed_core::population::PopulationSpec;

const DAY_MS: u64 = 86_400_000;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };

    match TransactionsQuery::parse(Some(text)) {
        Ok(query) => {
            assert!((1..=bank_mock::http::MAX_PAGE).contains(&query.page));
            // The bank's calendar on day 0, a year on, and at the end of simulated time.
            for now_ms in [0, 400 * DAY_MS, SimTime::MAX.as_millis()] {
                match query.window(now_ms) {
                    Ok((from, to)) => {
                        assert!(from <= to && to - from <= 366 * DAY_MS);
                        for end in [from, to] {
                            let text = calendar_text(end);
                            assert_eq!(testbed_core::time::calendar_ms(&text), Ok(end - end % 1000), "{text}");
                        }
                    }
                    Err(refused) => assert!(refused.status().is_client_error()),
                }
            }
        }
        Err(refused) => assert!(refused.status().is_client_error()),
    }
    // The standard profiles read dates with any offset: refused in 4xx or read into the calendar,
    // and a text that reads without offsets reads the same with them.
    let plain = TransactionsQuery::parse(Some(text));
    match TransactionsQuery::parse_dates_by(Some(text), testbed_core::time::calendar_ms_zone_ignored) {
        Ok(query) => {
            assert!((1..=bank_mock::http::MAX_PAGE).contains(&query.page));
            if let Ok(plain) = plain {
                assert_eq!(plain, query, "{text}");
            }
        }
        Err(refused) => assert!(refused.status().is_client_error()),
    }
    if let Ok(ms) = testbed_core::time::calendar_ms_zone_ignored(text) {
        // Within a day of what the same wall time reads in UTC, when that reads at all.
        if let Some(head) = text.get(..text.len().saturating_sub(6))
            && let Ok(utc) = testbed_core::time::calendar_ms(&format!("{head}Z"))
        {
            assert!(ms.abs_diff(utc) < DAY_MS, "{text}: {ms} against {utc}");
        }
    }

    match resource_id(text, "consent") {
        Ok(id) => assert_eq!(id.to_string(), text, "an id has one spelling"),
        Err(refused) => assert_eq!(refused.status(), 404),
    }

    let spec = PopulationSpec {
        seed: 1,
        bank: "demo-bank".into(),
        size: 1_000,
        transactions_per_day: 3.0,
        on_platform_share: 0.5,
    };
    for customer in [0, 7, 999, u64::MAX] {
        let belongs = account_belongs(&spec, customer, text);
        let own = [format!("chk-demo-bank-{customer}"), format!("card-demo-bank-{customer}")];
        assert_eq!(belongs, own.iter().any(|a| a == text), "{text} of customer {customer}");
    }
});
