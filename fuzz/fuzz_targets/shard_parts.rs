//! What a shard writes (`DataParts` in `sim run --shard`'s shard.json), read as `sim merge`
//! reads it: parsed strictly, then merged (with itself: shards of one run have one shape) and
//! summarised as the report does it: latency rows, bank rows. A file that does not parse is
//! refused with an error, and one that does never panics later.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testbed_core::report::{BankTally, DataParts};

fuzz_target!(|bytes: &[u8]| {
    let Ok(parts) = serde_json::from_slice::<DataParts>(bytes) else { return };
    // `sim merge` refuses ledgers whose linked customers are not its scenario's before it
    // merges (`check_shape`); a ledger is as large as they are (up to 100M: 2.8 GB), which
    // the clone below would touch.
    if parts.flows.iter().flat_map(|f| std::iter::once(&f.ledger).chain(&f.relay)).any(|l| l.linked() > 1_000_000) {
        return;
    }
    let mut merged = parts.clone();
    merged.merge(&parts);
    for (_, row) in merged.latency.iter() {
        let summary = row.recorder.summary(row.last.since(row.first));
        assert!(summary.ok >= row.recorder.count() / 2);
    }
    for queue in &merged.queues {
        let tally = BankTally::of(queue);
        assert!(tally.requests_served >= queue.admitted() / 2);
    }
});
