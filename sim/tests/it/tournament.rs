//! `sim tournament`: every strategy against every strategy in both roles, a leaderboard that is
//! the same bytes for any `--jobs`.

use crate::*;
use std::process::Command;

fn tournament(jobs: &str, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo_root())
        .args(["tournament", "--strategies", "boulware,linear,conceder,micro,aspiration"])
        .args(["--domains", "zero-sum,general", "--seeds", "2", "--quiet", "--jobs", jobs, "--out"])
        .arg(out)
        .output()
        .expect("sim runs")
}

#[test]
fn a_tournament_writes_the_same_leaderboard_with_one_job_or_two() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (jobs, dir) in [("1", &one), ("2", &two)] {
        let out = tournament(jobs, dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("100 games"));
    }
    for file in ["leaderboard.csv", "tournament.json", "tournament.html"] {
        let read = |d: &tempfile::TempDir| std::fs::read(d.path().join(file)).unwrap();
        assert_eq!(read(&one), read(&two), "{file} differs between --jobs 1 and 2");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.path().join("tournament.json")).unwrap()).unwrap();
    let games = json["games"].as_array().unwrap();
    assert_eq!(games.len(), 5 * 5 * 2 * 2);
    // On a zero-sum domain every agreement's utilities add up to 1.
    for g in games.iter().filter(|g| g["domain"] == "zero-sum" && g["agreement"] == true) {
        let sum = g["utility_platform"].as_f64().unwrap() + g["utility_bank"].as_f64().unwrap();
        assert!((sum - 1.0).abs() < 1e-9, "{g}");
    }
    let csv = std::fs::read_to_string(one.path().join("leaderboard.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 6, "{csv}");
    assert!(rows[0].starts_with("strategy,sides_played,agreement_rate,mean_utility,mean_advantage"));
    for row in &rows[1..] {
        // Each strategy plays the five, itself included, in both roles, on 2 domains × 2 seeds.
        assert_eq!(row.split(',').nth(1), Some("40"), "{row}");
    }
    // Best mean advantage first.
    let advantage: Vec<f64> = rows[1..].iter().map(|r| r.split(',').nth(4).unwrap().parse().unwrap()).collect();
    assert!(advantage.windows(2).all(|w| w[0] >= w[1]), "{advantage:?}");
}

#[test]
fn each_platform_bank_pair_of_a_scenario_file_is_a_domain() {
    let strategies = ["linear".to_string()];
    let file = scenario_path("messenger-2018.toml").display().to_string();
    let plan = sim::tournament::plan(&strategies, &[file], 1).unwrap();
    let names: Vec<&str> = plan.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "messenger-2018:messenger/jpmorgan-like",
            "messenger-2018:messenger/citi-like",
            "messenger-2018:messenger/wells-like",
            "messenger-2018:messenger/us-bank-like"
        ]
    );
    let games = sim::tournament::play(&plan, 2, &|| {});
    assert_eq!(games.len(), 4);
    // An agreement gives both sides at least their reservation values; no agreement, exactly them.
    for g in &games {
        if g.agreement {
            assert!(g.advantage_platform >= 0.0 && g.advantage_bank >= 0.0, "{g:?}");
            assert!(g.pareto_optimality.is_some(), "{g:?}");
        } else {
            assert_eq!((g.advantage_platform, g.advantage_bank, g.pareto_optimality), (0.0, 0.0, None), "{g:?}");
        }
    }
}
