//! Bearer tokens (`kind.bank.platform.id.mac`): `TokenMint::check` on any text never panics and
//! never verifies a token the mint would not issue; it says "another bank's" only of a genuine
//! token of another bank under the same key. Tokens the mint issues for names taken from the
//! input verify as what they were issued for.
#![no_main]

use bank_mock::desk::{DeskError, TokenKind, TokenMint};
use libfuzzer_sys::fuzz_target;

const SECRET: u64 = 0x5eed;
const BANK: &str = "demo-bank";

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let mint = TokenMint::new(SECRET, BANK);

    match mint.check(text) {
        Ok(verified) => assert_eq!(text, mint.issue(verified.kind(), verified.platform(), verified.id())),
        Err(DeskError::Unauthorized) => {}
        Err(DeskError::Forbidden(_)) => {
            let bank = text.split('.').nth(1).expect("a token of five parts");
            assert_ne!(bank, BANK);
            assert!(TokenMint::new(SECRET, bank).check(text).is_ok(), "{text} is not a genuine token of {bank}");
        }
        Err(other) => panic!("check answered {other:?}"),
    }

    // Names cannot hold the separator; the id comes from the input's length.
    if !text.contains('.') {
        let id = text.len() as u64 * 0x9e37_79b9;
        for kind in [TokenKind::Client, TokenKind::Negotiation, TokenKind::Agreement, TokenKind::Access] {
            let token = mint.issue(kind, text, id);
            let verified = mint.check(&token).expect("an issued token verifies");
            assert_eq!((verified.kind(), verified.platform(), verified.id()), (kind, text, id));
            assert!(TokenMint::new(SECRET ^ 1, BANK).check(&token).is_err(), "another key verified {token}");
        }
    }
});
