//! `report.html` is one self-contained page with a chart in every section, rendered from the
//! report alone; the narrated transcript says why a bank refused or walked away.

use crate::*;
use std::process::Command;
use testbed_core::report::{OutcomeKind, render_markdown};
use testbed_report::html::render_html;

/// The part of `html` inside `<section id="{id}">`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<section id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("sections are closed");
    &html[start..start + end]
}

/// Everything that would make a browser reach outside the file.
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for needle in [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "src='//",
        "href='//",
        "<script src",
        "<link",
        "@import",
        "url(",
    ] {
        if lower.contains(needle) {
            found.push(needle.to_string());
        }
    }
    // Any src= or href= must point inside the page.
    for attr in ["src=\"", "href=\""] {
        for (i, _) in lower.match_indices(attr) {
            let value = &lower[i + attr.len()..];
            if !value.starts_with('#') {
                found.push(lower[i..(i + 40).min(lower.len())].to_string());
            }
        }
    }
    found
}

#[test]
fn sim_run_writes_a_self_contained_report_html_with_a_chart_in_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo_root())
        .args(["run", "scenarios/messenger-2018.toml", "--out"])
        .arg(dir.path())
        .output()
        .expect("sim runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html written");
    assert!(!dir.path().join("report.html.tmp").exists(), "written through a temporary file");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80.min(html.len())]);
    assert_eq!(external_references(&html), Vec::<String>::new(), "the page reaches outside itself");
    let report: testbed_core::report::Report =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let negotiations = section(&html, "negotiations");
    assert_eq!(
        negotiations.matches("<svg").count(),
        2 * report.negotiations.len(),
        "a dance and an outcome space per negotiation"
    );
    for id in ["latency", "exposure", "timeline"] {
        assert!(section(&html, id).contains("<svg"), "section {id} holds no chart");
    }
    let summary = section(&html, "summary");
    for n in &report.negotiations {
        assert!(summary.contains(&n.pair()), "summary lacks {}", n.pair());
    }
    assert!(html.contains("withdrawal by the bank in round 2: no_off_platform_data"), "the dance marks the clause");
}

/// The chart whose `aria-label` is `label`.
fn chart<'a>(html: &'a str, label: &str) -> &'a str {
    let start = html.find(&format!("aria-label=\"{label}\"")).unwrap_or_else(|| panic!("no chart {label}"));
    let end = html[start..].find("</svg>").expect("charts are closed");
    &html[start..start + end]
}

#[test]
fn the_outcome_space_chart_draws_every_outcome_cell_each_offer_and_how_each_negotiation_ended() {
    let report = run_table(&negotiation_table("messenger-2018.toml"));
    let html = render_html(&report).unwrap();
    for n in &report.negotiations {
        let space = n.outcome_space.as_ref().expect("every negotiation is measured");
        // The picture of the plane: cells with agreeable outcomes (`#`), with others only (`+`).
        let marked = |c: char| space.plane.iter().map(|r| r.matches(c).count()).sum::<usize>();
        assert!(marked('#') > 0 && marked('+') > 0, "{}", n.pair());
        assert!(marked('#') <= space.agreeable as usize && marked('#') + marked('+') <= space.outcomes as usize);
        let svg = chart(&html, &format!("outcome space of {}", n.pair()));
        // One rectangle per run of marked cells in a row: dark (#80808A) where agreeable, light
        // (#D6D6DB) elsewhere.
        let runs = |c: char| {
            let mut runs = 0;
            for row in &space.plane {
                let mut last = '.';
                for x in row.chars() {
                    runs += usize::from(x == c && last != c);
                    last = x;
                }
            }
            runs
        };
        assert_eq!(svg.matches("fill=\"#80808A\"").count(), runs('#') + 1, "{}: and the legend's box", n.pair());
        assert_eq!(svg.matches("fill=\"#D6D6DB\"").count(), runs('+'), "{}", n.pair());
        // Offers are the dots of radius 3, one per offer made.
        let offers = n.transcript.iter().filter(|e| e.action == testbed_core::report::Action::Offer).count();
        assert_eq!(svg.matches("r=\"3\"").count(), offers, "{}", n.pair());
        let end = match n.outcome.kind {
            OutcomeKind::Agreement => format!("agreement in round {}", n.outcome.round),
            _ => {
                let by = if n.outcome.by == Some(testbed_core::negotiation::Side::Bank) { "bank" } else { "platform" };
                format!("withdrawal by the {by} in round {}: {}", n.outcome.round, n.outcome.clause.as_deref().unwrap())
            }
        };
        assert!(svg.contains(&end), "{}: {end}", n.pair());
    }
}

#[test]
fn the_same_report_renders_to_the_same_bytes() {
    let report = run_committed("messenger-2018.toml");
    assert_eq!(render_html(&report).unwrap(), render_html(&report).unwrap());
}

#[test]
fn a_report_without_a_data_phase_renders_with_negotiation_and_timeline_charts() {
    let report = run_table(&negotiation_table("messenger-2018.toml"));
    assert!(report.data.is_none());
    let html = render_html(&report).unwrap();
    assert!(section(&html, "negotiations").contains("<svg"));
    assert!(section(&html, "timeline").contains("<svg"));
    assert!(section(&html, "latency").contains("no data phase"));
    assert!(section(&html, "exposure").contains("no data phase"));
    assert_eq!(external_references(&html), Vec::<String>::new());
}

#[test]
fn a_negotiation_that_ends_before_any_offer_still_gets_its_chart_and_story() {
    // The bank opens and its trust floor is above the platform's trust: it withdraws at once.
    let mut table = negotiation_table("messenger-2018.toml");
    table["scenario"].as_table_mut().unwrap().insert("opens".into(), "bank".into());
    let report = run_table(&table);
    let usb = negotiation(&report, "messenger", "us-bank-like");
    assert_eq!((usb.outcome.kind, usb.offers, usb.outcome.round), (OutcomeKind::Withdrawal, 0, 0));
    let html = render_html(&report).unwrap();
    let article = section(&html, "negotiations");
    let start = article.find("id=\"pair-messenger-us-bank-like\"").expect("anchored per pair");
    let usb_html = &article[start..];
    assert!(usb_html.contains("<svg"));
    assert!(usb_html.contains("withdrawal by the bank in round 0: min_platform_trust"));
    assert!(usb_html.contains("withdraws over clause <code>min_platform_trust</code>"));
}

#[test]
fn text_from_the_scenario_is_escaped() {
    let mut table = negotiation_table("messenger-2018.toml");
    table["scenario"]
        .as_table_mut()
        .unwrap()
        .insert("description".into(), "<script>alert(\"x\")</script> & <b>bold</b>".into());
    let html = render_html(&run_table(&table)).unwrap();
    assert!(!html.contains("<script"), "no script reached the page");
    assert!(!html.contains("<b>bold"), "no markup reached the page");
    assert!(html.contains("&lt;script&gt;alert(") && html.contains("&amp; &lt;b&gt;bold"), "shown as text");
}

#[test]
fn the_narration_says_which_clause_an_offer_broke_and_when_the_bank_lost_patience() {
    let report = run_table(&negotiation_table("messenger-2018.toml"));
    let md = render_markdown(&report);
    let jpm = &md[md.find("### messenger→jpmorgan-like").unwrap()..];
    let jpm = &jpm[..jpm[4..].find("### ").map_or(jpm.len(), |i| i + 4)];
    assert!(jpm.contains("refused by clause `no_off_platform_data`, strike 1 of 3"), "{jpm}");
    assert!(jpm.contains("strike 2 of 3"), "{jpm}");
    assert!(
        jpm.contains(
            "The bank withdraws: the offer still has `off_platform_transactions=included` (3 offers in a row), \
             refused by clause `no_off_platform_data`"
        ),
        "{jpm}"
    );
    // A refusal without a broken clause is explained by the concession curve.
    let citi = negotiation(&report, "messenger", "citi-like");
    let refusal = citi.transcript.iter().find_map(|e| e.assessment.as_ref().filter(|a| a.broken.is_empty())).unwrap();
    assert!(refusal.utility < refusal.threshold);
    assert!(
        md.contains(&format!("worth {:.3} to it, below the {:.3} it asks for", refusal.utility, refusal.threshold))
    );
    let html = render_html(&report).unwrap();
    assert!(html.contains("refused by clause <code>no_off_platform_data</code>, strike 1 of 3"));
}

#[test]
fn a_stalemate_is_told_as_one_line_for_its_rounds() {
    // Two hardliners repeat themselves until the deadline.
    let mut table = negotiation_table("messenger-2018.toml");
    table.remove("events");
    let platform = entry_mut(&mut table, "platforms", "messenger");
    platform.insert("strategy".into(), "hardliner".into());
    let bank = policy_mut(&mut table, "wells-like");
    bank.insert("strategy".into(), "hardliner".into());
    let report = run_table(&table);
    let wells = negotiation(&report, "messenger", "wells-like");
    assert_eq!(wells.outcome.kind, OutcomeKind::Timeout, "{:?}", wells.outcome);
    let lines = testbed_core::report::narrate(&report, wells);
    assert!(lines.len() < 4, "{lines:#?}");
    assert!(lines.iter().any(|l| l.rounds.starts_with("rounds 1–")), "{lines:#?}");
}
