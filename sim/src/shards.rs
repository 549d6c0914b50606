//! Sharded runs (issue 13). `sim run --shard I/N` runs the negotiation whole (small and
//! deterministic) and partition I of every bank's API, and writes what it counted
//! ([`DataParts`]) with what a merge needs to check it belongs: the scenario's text, digest and
//! seed, the shard's place, the tool's version. `sim merge` reads the N shards, refuses any
//! that is missing, given twice or of another run, replays the negotiation, merges the parts in
//! shard order (the order a one-process run merges its partitions in) and makes the report the
//! one-process run makes, byte for byte.

use crate::exchange::{self, Audits};
use crate::output::SimError;
use crate::run::{VirtualRun, agreements, report_of};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use testbed_core::report::DataParts;
use testbed_core::scenario::{self, MAX_PARTITIONS, RequestKind, Scenario};
use testbed_core::session::negotiate;
use testbed_core::workload::Shard;

/// The file a shard writes into its `--out` folder.
pub const SHARD_JSON: &str = "shard.json";
/// The shard file's format; a merge refuses any other.
pub const FORMAT: &str = "testbed-shard/2";
/// Environment variables a shard's index may come from (`--shard-count N`): a Kubernetes
/// Indexed Job's, then a Slurm job array's.
pub const INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

/// What one shard writes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    pub format: String,
    /// The `sim` that wrote it: a merge by another version could make another report.
    pub tool_version: String,
    pub scenario: ScenarioOf,
    pub shard: ShardOf,
    /// What the shard's data phase counted; `None` for a scenario without `[data]`.
    pub parts: Option<DataParts>,
}

/// The run a shard belongs to.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioOf {
    pub name: String,
    /// SHA-256 of `text`, in hex.
    pub digest: String,
    /// The seed the run used (the file's, or `--seed`).
    pub seed: u64,
    /// The scenario file as read, so that a merge needs nothing else.
    pub text: String,
}

#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShardOf {
    pub index: u32,
    pub count: u32,
}

/// `--shard I/N`.
pub fn parse_shard(text: &str) -> Result<Shard, String> {
    let allowed = "allowed I/N with 0 <= I < N, e.g. 0/4";
    let (i, n) = text.split_once('/').ok_or_else(|| format!("`{text}` is not I/N; {allowed}"))?;
    let number = |s: &str| {
        s.trim().parse::<u32>().map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow => {
                format!("`{text}`: {s} is too large; {allowed}, N <= {MAX_PARTITIONS}")
            }
            _ => format!("`{text}` is not I/N; {allowed}"),
        })
    };
    let shard = Shard { index: number(i)?, count: number(n)? };
    if shard.count == 0 || shard.index >= shard.count {
        return Err(format!("`{text}`: {allowed}"));
    }
    if shard.count > MAX_PARTITIONS {
        return Err(format!(
            "`{text}`: {} shards; allowed at most {MAX_PARTITIONS} (a bank's most partitions)",
            shard.count
        ));
    }
    Ok(shard)
}

/// Shard `?/count`'s index from the first of [`INDEX_VARIABLES`] that is set (`--shard-count`).
pub fn shard_from_env(count: u32, var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
    let Some((name, value)) = INDEX_VARIABLES.iter().find_map(|name| Some((*name, var(name)?))) else {
        return Err(format!(
            "--shard-count {count}: the shard's index comes from {} or {}, and neither is set; set one, or give --shard I/{count}",
            INDEX_VARIABLES[0], INDEX_VARIABLES[1]
        ));
    };
    match value.trim().parse::<u32>() {
        Ok(index) if index < count => Ok(Shard { index, count }),
        _ => Err(format!("{name}={value}: allowed 0..{count} (--shard-count {count})")),
    }
}

/// The first 12 characters of a digest, as a message shows it (any text: a file may be edited).
fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `shard` of `sc`, read from `path` as `text` (its seed already chosen): the whole
/// negotiation, and the shard's partition of every bank. Refuses a scenario that cannot run in
/// shards, in one line naming the key.
pub fn run(path: &Path, text: &str, sc: &Scenario, shard: Shard) -> Result<ShardFile, SimError> {
    if let Some(why) = shard.refusal(sc) {
        return Err(SimError::Usage(format!("{}: {why}", path.display())));
    }
    let session = negotiate(sc, None);
    let agreements = agreements(&session);
    let parts = match exchange::run_parts(sc, &agreements, Some(shard)) {
        None => None,
        Some((parts, audits)) => {
            // `Shard::refusal` refuses what could revoke; should it miss a way, the merge could
            // not reproduce the revocation, so the shard fails rather than write a wrong part.
            if let Some((revocation, _)) = audits.revoked.iter().flatten().next() {
                return Err(SimError::Usage(format!(
                    "{}: shard {}/{} revoked an agreement by audit ({}), which a merge of shards cannot reproduce; run it in one process",
                    path.display(),
                    shard.index,
                    shard.count,
                    revocation.clause
                )));
            }
            Some(parts)
        }
    };
    Ok(ShardFile {
        format: FORMAT.into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioOf { name: sc.name.clone(), digest: digest(text), seed: sc.seed, text: text.into() },
        shard: ShardOf { index: shard.index, count: shard.count },
        parts,
    })
}

/// Writes `file` as `dir/shard.json`, whole or not at all.
pub fn write(dir: &Path, file: &ShardFile) -> Result<PathBuf, SimError> {
    std::fs::create_dir_all(dir).map_err(|error| SimError::Write { path: dir.display().to_string(), error })?;
    let path = dir.join(SHARD_JSON);
    let mut json = serde_json::to_string(file).expect("a shard file serialises");
    json.push('\n');
    testbed_report::files::write_atomically(&path, json.as_bytes())?;
    Ok(path)
}

/// What a merge checks of a shard before it reads its counts: a shard file's fields but its
/// parts (which serde skips without building them).
#[derive(Deserialize)]
pub struct ShardHead {
    pub format: String,
    pub tool_version: String,
    pub scenario: ScenarioOf,
    pub shard: ShardOf,
}

/// The shard file of `input`: a shard's `--out` folder or its `shard.json`.
fn shard_path(input: &Path) -> PathBuf {
    if input.is_dir() { input.join(SHARD_JSON) } else { input.to_path_buf() }
}

fn read_text(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|error| SimError::Read { path: path.display().to_string(), error })
}

/// Reads what a merge checks of the shard at `input` (see [`shard_path`]).
pub fn read_head(input: &Path) -> Result<(PathBuf, ShardHead), SimError> {
    let path = shard_path(input);
    let shown = path.display().to_string();
    let text = read_text(&path)?;
    // The format first, so that another file gets a clear line, not a missing field.
    #[derive(Deserialize)]
    struct Format {
        format: Option<serde_json::Value>,
    }
    let format = serde_json::from_str::<Format>(&text)
        .map_err(|e| {
            let cut = if e.is_eof() { " (cut short?)" } else { "" };
            SimError::Usage(format!("{shown}: not a whole shard file{cut}: {e}"))
        })?
        .format;
    if format.as_ref().and_then(|f| f.as_str()) != Some(FORMAT) {
        let found = format.map_or_else(|| "no format".to_owned(), |f| format!("format {f}"));
        return Err(SimError::Usage(format!(
            "{shown}: not a shard file ({found}); allowed the {SHARD_JSON} `sim run --shard` writes ({FORMAT})"
        )));
    }
    let head: ShardHead =
        serde_json::from_str(&text).map_err(|e| SimError::Usage(format!("{shown}: not a whole shard file: {e}")))?;
    Ok((path, head))
}

/// Reads the whole shard file at `path` (as [`read_head`] found it).
pub fn read(path: &Path) -> Result<ShardFile, SimError> {
    let shown = path.display().to_string();
    serde_json::from_str(&read_text(path)?)
        .map_err(|e| SimError::Usage(format!("{shown}: not a whole shard file: {e}")))
}

/// Merges the shards read from `inputs` into the report of the one-process run. The shards are
/// checked first from their heads; then read one at a time, in shard order, each merged and
/// dropped before the next (a shard's ledgers are as large as its bank's linked customers).
pub fn merge(inputs: &[PathBuf]) -> Result<(Scenario, VirtualRun), SimError> {
    let mut shards = inputs.iter().map(|i| read_head(i)).collect::<Result<Vec<_>, _>>()?;
    let (first_path, first) = shards.first().map(|(p, f)| (p.display().to_string(), f)).ok_or_else(|| {
        SimError::Usage("sim merge: no shards given; allowed the N folders of one run's shards".into())
    })?;
    let (scenario_of, count, version) = (first.scenario.clone(), first.shard.count, first.tool_version.clone());
    if !(1..=MAX_PARTITIONS).contains(&count) {
        return Err(SimError::Usage(format!("{first_path}: {count} shards; allowed 1..={MAX_PARTITIONS}")));
    }
    for (path, f) in &shards[1..] {
        let foreign = if f.scenario.digest != scenario_of.digest {
            Some(format!("scenario `{}` (digest {}…)", f.scenario.name, short(&f.scenario.digest)))
        } else if f.scenario.seed != scenario_of.seed {
            Some(format!("seed {}", f.scenario.seed))
        } else if f.shard.count != count {
            Some(format!("{} shards", f.shard.count))
        } else if f.tool_version != version {
            Some(format!("sim {}", f.tool_version))
        } else {
            None
        };
        if let Some(what) = foreign {
            return Err(SimError::Usage(format!(
                "{}: a shard of another run ({what}); {first_path} is of scenario `{}` (digest {}…), seed {}, {count} shards, sim {version}",
                path.display(),
                scenario_of.name,
                short(&scenario_of.digest),
                scenario_of.seed,
            )));
        }
    }
    if version != env!("CARGO_PKG_VERSION") {
        return Err(SimError::Usage(format!(
            "{first_path}: written by sim {version}; this is sim {}, whose report could differ: merge with sim {version}",
            env!("CARGO_PKG_VERSION")
        )));
    }
    if let Some((path, f)) = shards.iter().find(|(_, f)| f.shard.index >= count) {
        return Err(SimError::Usage(format!(
            "{}: shard {}/{count}: allowed 0..{count}",
            path.display(),
            f.shard.index
        )));
    }
    shards.sort_by_key(|(_, f)| f.shard.index);
    for pair in shards.windows(2) {
        if pair[0].1.shard.index == pair[1].1.shard.index {
            return Err(SimError::Usage(format!(
                "shard {}/{count} given twice: {} and {}",
                pair[0].1.shard.index,
                pair[0].0.display(),
                pair[1].0.display()
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !shards.iter().any(|(_, f)| f.shard.index == *i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(SimError::Usage(format!(
            "missing shard{} {} of scenario `{}` (seed {}): a merge needs all {count}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            scenario_of.name,
            scenario_of.seed
        )));
    }
    if digest(&scenario_of.text) != scenario_of.digest {
        return Err(SimError::Usage(format!("{first_path}: the scenario's text does not match its digest")));
    }
    let mut sc = scenario::parse(&scenario_of.text)
        .map_err(|error| SimError::Scenario { path: format!("{first_path}: scenario"), error })?;
    sc.seed = scenario_of.seed;
    let shard = Shard { index: 0, count };
    if let Some(why) = shard.refusal(&sc) {
        return Err(SimError::Usage(format!("{first_path}: {why}")));
    }
    let session = negotiate(&sc, None);
    let agreements = agreements(&session);
    let mut merged: Option<DataParts> = None;
    for (path, head) in shards {
        let shown = path.display().to_string();
        let f = read(&path)?;
        if (f.format, f.tool_version, f.scenario, f.shard)
            != (head.format, head.tool_version, head.scenario, head.shard)
        {
            return Err(SimError::Usage(format!("{shown}: changed while the merge read it")));
        }
        match (f.parts, sc.data.is_some()) {
            (Some(parts), true) => {
                check_shape(&sc, &agreements, &parts, f.shard)
                    .map_err(|why| SimError::Usage(format!("{shown}: {why}")))?;
                match &mut merged {
                    Some(m) => m.merge(&parts),
                    None => merged = Some(parts),
                }
            }
            (None, false) => {}
            (parts, _) => {
                let has = if parts.is_some() { "has" } else { "has no" };
                return Err(SimError::Usage(format!("{shown}: {has} data phase, unlike its scenario")));
            }
        }
    }
    let data = merged.map(|parts| exchange::outcome(&sc, &agreements, parts, Audits::none(agreements.len())));
    let run = report_of(&sc, session, data);
    Ok((sc, run))
}

/// Whether `parts` fit the run of `sc` under `agreements`: a flow per agreement with a ledger of
/// its linked customers, a queue per bank with its partitions, latency rows of its banks only.
fn check_shape(
    sc: &Scenario,
    agreements: &[exchange::Agreement],
    parts: &DataParts,
    shard: ShardOf,
) -> Result<(), String> {
    if parts.flows.len() != agreements.len() || parts.queues.len() != sc.banks.len() {
        return Err(format!(
            "{} flows and {} banks; its scenario's negotiation gives {} agreements and {} banks",
            parts.flows.len(),
            parts.queues.len(),
            agreements.len(),
            sc.banks.len()
        ));
    }
    for (fi, (flow, a)) in parts.flows.iter().zip(agreements).enumerate() {
        let linked = sc.linked_customers(a.platform, a.bank, a.terms.consent_mode);
        let relay_fits = flow.relay.as_ref().is_none_or(|r| r.linked() == linked);
        if flow.ledger.linked() != linked || !relay_fits {
            return Err(format!(
                "flows[{fi}]: a ledger of {} customers; the agreement links {linked}",
                flow.ledger.linked()
            ));
        }
        // Each ledger keeps the shard's partition (a file renamed to another index does not).
        let kept = flow.ledger.partition();
        let expected = if shard.count == 1 { (0, 1) } else { (u64::from(shard.index), u64::from(shard.count)) };
        if kept != expected || flow.relay.as_ref().is_some_and(|r| r.partition() != expected) {
            return Err(format!(
                "flows[{fi}]: a ledger of partition {} of {}; shard {}/{} keeps partition {} of {}",
                kept.0, kept.1, shard.index, shard.count, expected.0, expected.1
            ));
        }
    }
    for (bi, (queue, bank)) in parts.queues.iter().zip(&sc.banks).enumerate() {
        if queue.workers != bank.service.workers.max(1) {
            return Err(format!(
                "queues[{bi}]: {} workers; banks[{bi}].service.workers is {}",
                queue.workers, bank.service.workers
            ));
        }
        let elsewhere = (queue.partitions.iter().enumerate())
            .any(|(p, figures)| shard.count > 1 && p as u32 != shard.index && figures.admitted > 0);
        if elsewhere {
            return Err(format!(
                "queues[{bi}]: requests admitted at a partition other than the shard's {}",
                shard.index
            ));
        }
        if queue.partitions.len() != bank.service.partitions as usize {
            return Err(format!(
                "queues[{bi}]: {} partitions; banks[{bi}].service.partitions is {}",
                queue.partitions.len(),
                bank.service.partitions
            ));
        }
    }
    if parts.latency.slots() > sc.banks.len() * RequestKind::ALL.len() {
        return Err(format!("latency: rows beyond its scenario's {} banks", sc.banks.len()));
    }
    Ok(())
}
