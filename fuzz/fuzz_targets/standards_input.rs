//! What the standard profiles read from a request that the testbed API does not: a redirect
//! URI and a request object at `/authorize`, an `x-fapi-auth-date` header, FDX's paging query,
//! and a date-time with an offset. Each refuses or gives a value within its bounds; none panics.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use bank_mock::http::{FdxPaging, auth_date_ok, intent_of_request_object, redirect_uri_ok};
use libfuzzer_sys::fuzz_target;

const DAY_MS: u64 = 86_400_000;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };

    if redirect_uri_ok(text) {
        assert!(text.starts_with("http://") || text.starts_with("https://"), "{text}");
        assert!(text.len() <= 2048 && text.bytes().all(|b| b.is_ascii_graphic()) && !text.contains('#'), "{text}");
        // A redirect built on it is a header value.
        assert!(HeaderValue::from_str(&format!("{text}?code=x")).is_ok());
    }

    if let Some(intent) = intent_of_request_object(text) {
        assert!(intent.len() <= text.len(), "an intent comes out of the request object: {intent}");
    }

    if let Ok(value) = HeaderValue::from_bytes(bytes) {
        let mut headers = HeaderMap::new();
        headers.insert("x-fapi-auth-date", value);
        if auth_date_ok(&headers) {
            assert_eq!(text.len(), 29, "Www, DD Mmm YYYY hh:mm:ss GMT: {text}");
        }
    }

    match FdxPaging::parse(Some(text)) {
        Ok(paging) => {
            assert!(paging.offset <= 100_000_000);
            assert!(paging.limit.is_none_or(|l| (1..=1000).contains(&l)));
            for now_ms in [0, 400 * DAY_MS, u64::MAX / 2] {
                match paging.window(now_ms) {
                    Ok((from, to)) => assert!(from <= to && to - from <= 366 * DAY_MS),
                    Err(refused) => assert_eq!(refused.status(), 400),
                }
            }
        }
        Err(refused) => assert_eq!(refused.status(), 400),
    }

    if let Ok(ms) = testbed_core::time::calendar_ms_zone_ignored(text) {
        assert!(ms < u64::MAX / 2, "{text}");
    }
});
