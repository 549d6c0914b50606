//! Finds, for every party of a scenario, weights within 2% of its round figures (each weight
//! rounded to the nearest 0.5) under which no two outcomes the party may agree to are worth
//! exactly the same to it: the search that nudged the committed story scenarios (lesson 1b in
//! scenarios/README.md). Prints each party's weights as the table to paste into the file.
//!
//!   cargo run --release -p sim --example tie_free_weights -- SCENARIO [SEED] [TRIES]
//!
//! Each try draws every non-zero weight uniformly within ±2% of its round figure, to 4 decimals,
//! from a xorshift stream started at SEED (default 0x9e3779b97f4a7c15) for each party; of the
//! tries, the one with the fewest ties and then the smallest total relative change is kept
//! (TRIES default 20000). The committed nudges are this program's output with the defaults.

use std::collections::HashMap;
use testbed_core::negotiation::{LinearUtility, Preferences};

const SPREAD: f64 = 0.02;
const DECIMALS: i32 = 4;

/// Admissible outcomes of `prefs` whose utility under `utility` another admissible one shares.
fn tied(prefs: &Preferences, utility: &LinearUtility) -> u32 {
    let mut by_utility: HashMap<u64, u32> = HashMap::new();
    for o in prefs.space().outcomes().filter(|&o| prefs.violated_clause(o).is_none()) {
        *by_utility.entry(utility.utility(prefs.space(), o).to_bits()).or_default() += 1;
    }
    by_utility.values().filter(|&&n| n > 1).sum()
}

struct XorShift(u64);

impl XorShift {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The weights the scenario file gives `table` (or the loader's defaults), rounded to 0.5.
fn round_figures(prefs: &Preferences, table: Option<&toml::Value>, default: impl Fn(usize) -> f64) -> Vec<f64> {
    (prefs.space().issues().iter().enumerate())
        .map(|(i, issue)| {
            let given = table.and_then(|t| t.get(&issue.name)).and_then(toml::Value::as_float);
            (given.unwrap_or_else(|| default(i)) * 2.0).round() / 2.0
        })
        .collect()
}

fn search(prefs: &Preferences, round: &[f64], seed: u64, tries: u32) -> (u32, f64, Vec<f64>) {
    let values = prefs.linear_utility().values().to_vec();
    let scale = 10f64.powi(DECIMALS);
    let mut rng = XorShift(seed);
    let mut best: Option<(u32, f64, Vec<f64>)> = None;
    for _ in 0..tries {
        let w: Vec<f64> = (round.iter())
            .map(
                |&b| if b == 0.0 { 0.0 } else { ((b + (rng.unit() * 2.0 - 1.0) * SPREAD * b) * scale).round() / scale },
            )
            .collect();
        let utility = LinearUtility::new(prefs.space(), w.clone(), values.clone()).expect("weights near valid ones");
        let t = tied(prefs, &utility);
        let change: f64 = w.iter().zip(round).map(|(a, b)| if *b > 0.0 { (a - b).abs() / b } else { 0.0 }).sum();
        if best.as_ref().is_none_or(|(bt, bc, _)| (t, change) < (*bt, *bc)) {
            best = Some((t, change, w));
        }
    }
    best.expect("at least one try")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().ok_or_else(|| anyhow::anyhow!("usage: tie_free_weights SCENARIO [SEED] [TRIES]"))?;
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    let seed = args.get(1).map_or(Ok(0x9e37_79b9_7f4a_7c15), |s| number(s))?;
    let tries: u32 = args.get(2).map_or(Ok(20_000), |s| s.parse())?;
    let text = std::fs::read_to_string(path)?;
    let scenario = testbed_core::scenario::parse(&text)?;
    let file: toml::Table = toml::from_str(&text)?;
    let entry = |list: &str, name: &str| -> Option<toml::Value> {
        file.get(list)?.as_array()?.iter().find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name)).cloned()
    };
    let mut parties = Vec::new();
    for p in &scenario.platforms {
        let ask = entry("platforms", &p.name).and_then(|e| e.get("ask").cloned());
        let table = entry("platforms", &p.name).and_then(|e| e.get("weights").cloned());
        let issues = p.preferences.space().issues().to_vec();
        let asked = |i: usize| ask.as_ref().is_some_and(|a| a.get(&issues[i].name).is_some());
        let round = round_figures(&p.preferences, table.as_ref(), |i| if asked(i) { 1.0 } else { 0.0 });
        parties.push((p.name.clone(), "[platforms.weights]", p.preferences.clone(), round));
    }
    for b in &scenario.banks {
        let table = entry("banks", &b.name).and_then(|e| e.get("policy")?.get("weights").cloned());
        let round = round_figures(&b.preferences, table.as_ref(), |_| 1.0);
        parties.push((b.name.clone(), "[banks.policy.weights]", b.preferences.clone(), round));
    }
    for (name, header, prefs, round) in parties {
        let (ties, change, weights) = search(&prefs, &round, seed, tries);
        println!("# {name}: {ties} tied admissible outcomes, total relative change {change:.4}");
        println!("{header}");
        for (issue, w) in prefs.space().issues().iter().zip(weights) {
            if w > 0.0 {
                println!("{} = {w}", issue.name);
            }
        }
        println!();
    }
    Ok(())
}
