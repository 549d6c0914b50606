//! One seed, many named streams. Each consumer (a negotiation pair, a bank's service model)
//! draws from its own ChaCha stream derived from the scenario seed and a stable name, so adding
//! a bank does not shift the random numbers another pair sees, and the same seed always gives
//! the same draws.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The random generator used everywhere in the testbed.
pub type SimRng = ChaCha8Rng;

/// The stream named `name` of the scenario seeded with `seed`.
pub fn stream(seed: u64, name: &str) -> SimRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(name.as_bytes()));
    rng
}

/// FNV-1a, 64 bit: stable across platforms and Rust versions (std's hashers are not), for
/// turning names into stream numbers and seeds.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn same_seed_and_name_give_the_same_draws_and_other_names_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, "pair/messenger/bank-a");
                move |_| r.random()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, "pair/messenger/bank-a");
                move |_| r.random()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = stream(7, "pair/messenger/bank-b");
                move |_| r.random()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn fnv1a_matches_the_published_test_vector() {
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
