//! The scenario loader on any text: it refuses with an error or gives a scenario the run
//! budget can estimate and check, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_core::budget::{self, Budget, DEFAULT_MAX_MEMORY_MB, DEFAULT_MAX_REQUESTS};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let Ok(scenario) = testbed_core::scenario::parse(text) else { return };
    let estimate = budget::estimate(&scenario);
    let _ = estimate.describe();
    let _ = estimate.check(Budget::for_scenario(&scenario, DEFAULT_MAX_REQUESTS, DEFAULT_MAX_MEMORY_MB));
});
