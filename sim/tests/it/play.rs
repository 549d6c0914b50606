//! `sim play` over its HTTP API, as its page uses it: a person's moves decide their side, the
//! agents the rest, and the report says which side a person played.

use serde_json::{Value, json};
use sim::play::{Ended, Play};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use testbed_core::report::{OutcomeKind, Report};

/// One HTTP/1.1 request to the game's page server: the status and the JSON body.
fn call(play: &Play, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let addr = play.url.trim_start_matches("http://").trim_end_matches('/');
    raw(play, method, path, &format!("host: {addr}\r\ncontent-type: application/json"), body)
}

/// A request with the given header lines.
fn raw(play: &Play, method: &str, path: &str, headers: &str, body: Option<Value>) -> (u16, Value) {
    let addr = play.url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).expect("the page server listens");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\n{headers}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Polls `/state` until it is not `waiting`.
fn next_state(play: &Play) -> Value {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, state) = call(play, "GET", "/state", None);
        if state["status"] != "waiting" && state["status"] != "running" {
            return state;
        }
        assert!(Instant::now() < give_up, "the game never came back to the person");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(scenario: &str, seat: &str, out: &Path) -> Play {
    let sc = sim::output::load_scenario(Path::new(scenario)).unwrap();
    let seat = sim::play::seat_of(&sc, seat).unwrap();
    sim::play::start(sc, seat, "127.0.0.1:0".parse().unwrap(), out.to_path_buf()).unwrap()
}

/// Closes a finished game and returns its report, checking it is the one written to `out`.
fn close(play: Play, out: &Path) -> Report {
    let state = next_state(&play);
    assert_eq!(state["status"], "finished", "{state}");
    assert_eq!(call(&play, "POST", "/quit", None).0, 200);
    let Ended::Done { report, wrote, note: None } = play.wait(Duration::from_secs(60)) else {
        panic!("the game did not end done")
    };
    assert!(wrote.iter().any(|p| p.ends_with("report.html")));
    let written = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert_eq!(written, testbed_core::report::render_json(&report));
    Report::clone(&report)
}

#[test]
fn a_bank_played_by_a_person_who_accepts_the_opening_offer_agrees_to_it_and_the_other_negotiations_are_the_agents() {
    let dir = tempfile::tempdir().unwrap();
    let play = start("../scenarios/messenger-2018.toml", "citi-like", dir.path());
    let state = next_state(&play);
    assert_eq!(state["status"], "your_turn", "{state}");
    let turn = &state["turn"];
    assert_eq!(turn["pair"], "messenger→citi-like");
    assert_eq!(turn["side"], "bank");
    let offered = turn["standing"]["terms"].clone();
    assert!(offered.is_object(), "the platform opens: {turn}");
    assert!(turn["best"].as_array().is_some_and(|b| !b.is_empty()));
    assert!(turn["chart"].as_str().is_some_and(|c| c.starts_with("<svg")));
    assert_eq!(call(&play, "POST", "/move", Some(json!({"turn": turn["id"], "action": "accept"}))).0, 200);
    let report = close(play, dir.path());

    let citi = report.negotiations.iter().find(|n| n.bank == "citi-like").unwrap();
    assert_eq!(citi.outcome.kind, OutcomeKind::Agreement);
    assert_eq!(citi.outcome.round, 0);
    assert_eq!(serde_json::to_value(citi.outcome.terms.as_ref().unwrap()).unwrap(), offered);
    assert_eq!(citi.played_by_person, Some(testbed_core::negotiation::Side::Bank));
    // Every other negotiation is the agents' alone, as `sim run` has it.
    let agents = sim::run(&sim::output::load_scenario(Path::new("../scenarios/messenger-2018.toml")).unwrap());
    for (played, run) in report.negotiations.iter().zip(&agents.negotiations).filter(|(n, _)| n.bank != "citi-like") {
        assert_eq!(played.played_by_person, None);
        assert_eq!(played.outcome, run.outcome, "{}", played.pair());
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("the bank's side played by a person (sim play)"));
}

#[test]
fn a_platform_played_by_a_person_who_withdraws_ends_its_negotiation_over_the_clause_it_named() {
    let dir = tempfile::tempdir().unwrap();
    let play = start("../scenarios/live-demo.toml", "demo-platform", dir.path());
    // The platform negotiates with two banks: it walks away from each when its turn comes.
    let reason = "walking away, as a test";
    let mut clauses = Vec::new();
    loop {
        let state = next_state(&play);
        if state["status"] != "your_turn" {
            break;
        }
        let turn = &state["turn"];
        assert_eq!(turn["side"], "platform");
        let clause = turn["clauses"][0]["id"].as_str().unwrap().to_string();
        let answer = json!({"turn": turn["id"], "action": "withdraw", "clause": clause, "reason": reason});
        assert_eq!(call(&play, "POST", "/move", Some(answer)).0, 200);
        clauses.push(clause);
    }
    assert_eq!(clauses.len(), 2);
    let clause = clauses[0].clone();
    let report = close(play, dir.path());
    for n in &report.negotiations {
        assert_eq!(n.outcome.kind, OutcomeKind::Withdrawal);
        assert_eq!(n.outcome.by, Some(testbed_core::negotiation::Side::Platform));
        assert_eq!(n.outcome.clause.as_deref(), Some(clause.as_str()));
        assert_eq!(n.outcome.reason.as_deref(), Some(reason));
        assert_eq!(n.played_by_person, Some(testbed_core::negotiation::Side::Platform));
    }
    assert!(report.data.as_ref().is_none_or(|d| d.flows.is_empty()), "no agreement, no data flows");
}

#[test]
fn moves_out_of_turn_or_naming_what_does_not_exist_are_refused_with_a_line_that_says_what_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let play = start("../scenarios/messenger-2018.toml", "citi-like", dir.path());
    let state = next_state(&play);
    let id = state["turn"]["id"].as_u64().unwrap();
    let refused = |body: Value| call(&play, "POST", "/move", Some(body));

    let (status, body) = refused(json!({"turn": id + 1, "action": "accept"}));
    assert_eq!(status, 409, "{body}");
    let (status, body) = refused(json!({"turn": id, "action": "offer", "terms": {"balances": "sometimes"}}));
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().starts_with("terms."), "{body}");
    let mut terms = state["turn"]["best"][0]["terms"].clone();
    terms["balances"] = json!("sometimes");
    let (status, body) = refused(json!({"turn": id, "action": "offer", "terms": terms}));
    assert_eq!(status, 422);
    assert_eq!(body["error"], "terms.balances: `sometimes` is not an option (allowed: excluded, included)");
    let (status, body) = refused(json!({"turn": id, "action": "withdraw", "clause": "no_such_clause"}));
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().contains("(allowed: customer_opt_in, "), "{body}");
    let (status, body) = refused(json!({"turn": id, "action": "withdraw"}));
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().starts_with("clause: missing"), "{body}");
    let (status, body) =
        refused(json!({"turn": id, "action": "withdraw", "clause": "customer_opt_in", "reason": "one\n# two"}));
    assert_eq!(status, 422);
    assert_eq!(body["error"], "reason: one line of text, without control characters");
    let (status, body) = refused(json!({"turn": id, "action": "accept", "terms": {}}));
    assert_eq!(status, 422);
    assert!(body["error"].as_str().unwrap().starts_with("terms: only an offer"), "{body}");
    let (status, body) = refused(json!({"turn": id + 5, "action": "accept"}));
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (409, &*format!("turn {} has not come; the turn under way is {id}", id + 5))
    );
    // Only this page's own host, and Done only as JSON (no other site's page or form).
    let (status, _) = raw(&play, "GET", "/state", "host: attacker.example:80", None);
    assert_eq!(status, 403);
    let addr = play.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let (status, _) =
        raw(&play, "POST", "/quit", &format!("host: {addr}\r\ncontent-type: application/x-www-form-urlencoded"), None);
    assert_eq!(status, 415);
    let (status, body) = refused(json!({"turn": id, "action": "shrug"}));
    assert_eq!(status, 422, "{body}");
    let (status, body) = refused(json!([id, "accept"]));
    assert_eq!(status, 422, "a move's fields as an array are not a move: {body}");
    assert!(body["error"].as_str().unwrap().starts_with("the body must be a JSON object"), "{body}");
    assert_eq!(call(&play, "POST", "/quit", None).0, 409, "the game is not over");
    assert_eq!(call(&play, "GET", "/report.json", None).0, 404);

    // The turn is still the person's, and a good move is taken.
    let good = json!({"turn": id, "action": "offer", "terms": state["turn"]["best"][0]["terms"]});
    assert_eq!(
        call(&play, "POST", "/evaluate", Some(json!({"terms": good["terms"]}))).1["utility"],
        state["turn"]["best"][0]["utility"]
    );
    assert_eq!(refused(good).0, 200);
    assert_eq!(refused(json!({"turn": id, "action": "accept"})).0, 409, "that turn is over");
}

#[test]
fn a_person_may_walk_away_over_the_policy_clause_their_strategy_names_and_the_report_marks_their_moves() {
    let dir = tempfile::tempdir().unwrap();
    let play = start("../scenarios/messenger-2018.toml", "us-bank-like", dir.path());
    let state = next_state(&play);
    let turn = &state["turn"];
    // The platform's trust is below this bank's floor: its strategy would walk away over it.
    assert!(turn["agent"].as_str().unwrap().starts_with("withdraw over clause `min_platform_trust`"), "{turn}");
    assert!(turn["clauses"].as_array().unwrap().iter().any(|c| c["id"] == "min_platform_trust"));
    assert_eq!(turn["negotiations"][0]["pair"], "messenger→us-bank-like");
    let answer = json!({"turn": turn["id"], "action": "withdraw", "clause": "min_platform_trust"});
    assert_eq!(call(&play, "POST", "/move", Some(answer)).0, 200);
    let report = close(play, dir.path());
    let n = report.negotiations.iter().find(|n| n.bank == "us-bank-like").unwrap();
    assert_eq!(n.outcome.clause.as_deref(), Some("min_platform_trust"));
    let last = n.transcript.last().unwrap();
    assert!(last.by_person && last.assessment.is_none(), "a person's move, without the strategy's reasons");
    assert!(n.transcript.iter().filter(|e| e.side == testbed_core::negotiation::Side::Platform).all(|e| !e.by_person));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("the bank's side played by a person (sim play): 1 of its 1 move theirs"), "{md}");
    assert!(md.contains(
        "A person played the bank us-bank-like's side (sim play), not its strategy, in messenger→us-bank-like."
    ));
}

#[test]
fn a_person_who_accepts_terms_their_own_side_forbids_is_named_for_it_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let play = start("../scenarios/messenger-2018.toml", "us-bank-like", dir.path());
    let state = next_state(&play);
    let turn = &state["turn"];
    // The platform's ask has transaction detail, which this bank's own limits refuse.
    assert_eq!(turn["standing"]["breaks"][0]["clause"], "no_transaction_detail", "{turn}");
    assert_eq!(call(&play, "POST", "/move", Some(json!({"turn": turn["id"], "action": "accept"}))).0, 200);
    let report = close(play, dir.path());
    let n = report.negotiations.iter().find(|n| n.bank == "us-bank-like").unwrap();
    assert_eq!(n.outcome.kind, OutcomeKind::Agreement);
    let accept = n.transcript.last().unwrap();
    assert_eq!(accept.breaks_own_limit.as_deref(), Some("no_transaction_detail"));
    // The agents' moves never carry it.
    assert!(
        report
            .negotiations
            .iter()
            .flat_map(|n| &n.transcript)
            .filter(|e| !e.by_person)
            .all(|e| e.breaks_own_limit.is_none())
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("1 of its 1 move theirs, 1 of them against the bank's own limit `no_transaction_detail`"),
        "{md}"
    );
}
