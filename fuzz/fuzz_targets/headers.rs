//! The headers of a data request: `Authorization: Bearer`, `X-Requested-Fields` and one or more
//! `X-Purpose`. The input is split into lines: the first is the bearer header, the second the
//! fields header (absent if the line is missing), every further line one `X-Purpose` header.
//! Each parser refuses with 4xx or gives exactly what the header names.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bank_mock::api::Asking;
use bank_mock::desk::TokenMint;
use bank_mock::http::{asking_header, bearer, purpose_header};
use libfuzzer_sys::fuzz_target;
use testbed_core::terms::Purpose;

fuzz_target!(|bytes: &[u8]| {
    let mut lines = bytes.split(|&b| b == b'\n');
    let mut headers = HeaderMap::new();
    // A value hyper would not accept (a control byte, say) never reaches the parsers.
    let mut put = |name, line: &[u8]| match HeaderValue::from_bytes(line) {
        Ok(value) => {
            headers.append(name, value);
            true
        }
        Err(_) => false,
    };
    let (Some(authorization), fields) = (lines.next(), lines.next()) else { return };
    if !put(header::AUTHORIZATION, authorization)
        || !fields.is_none_or(|f| put(HeaderName::from_static(Asking::HEADER), f))
    {
        return;
    }
    let purposes: Vec<&[u8]> = lines.collect();
    if !purposes.iter().all(|p| put(HeaderName::from_static("x-purpose"), p)) {
        return;
    }

    match purpose_header(&headers, Purpose::Commerce) {
        Ok(purpose) => match purposes.as_slice() {
            [] => assert_eq!(purpose, Purpose::Commerce),
            [one] => assert_eq!(purpose.as_str().as_bytes(), *one),
            _ => panic!("{} X-Purpose headers accepted", purposes.len()),
        },
        Err(refused) => assert_eq!(refused.status(), 400),
    }

    match asking_header(&headers) {
        Ok(Asking::WithinConsent) => assert!(fields.is_none()),
        Ok(Asking::Everything) => assert_eq!(fields, Some(&b"*"[..])),
        Err(refused) => assert_eq!(refused.status(), 400),
    }

    match bearer(&headers) {
        Ok(token) => {
            assert!(authorization.starts_with(b"Bearer "));
            // Never a random token: only what the mint itself would issue verifies.
            let mint = TokenMint::new(7, "demo-bank");
            if let Ok(verified) = mint.check(token) {
                assert_eq!(token, mint.issue(verified.kind(), verified.platform(), verified.id()));
            }
        }
        Err(refused) => assert_eq!(refused.status(), 401),
    }
});
