//! `sim run --live`: one bank-mock server per bank on 127.0.0.1:0 in this process, driven by the
//! platform's live driver (`platform_mock::live`) over real HTTP. Running the banks here lets the
//! report count exposure in the banks' own ledgers.

use bank_mock::http::{AppState, Limits, LiveClock, serve};
use platform_mock::bank_api::OAuthClient;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use testbed_core::SimTime;
use testbed_core::exposure::PairLedger;
use testbed_core::report::{Report, Tool};
use testbed_core::scenario::{BankId, Scenario};

pub use platform_mock::live::LiveOptions;

/// Runs `scenario` live. `stop` ends the data phase early (Ctrl-C); the report then says it is
/// incomplete.
pub fn run_live(scenario: Arc<Scenario>, opts: &LiveOptions, stop: Arc<AtomicBool>) -> Result<Report, String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    // One random token key for all the banks of the run: a bank recognises the others' tokens
    // (and refuses them as another bank's).
    let secret: u64 = rand::random();
    let mut urls = Vec::new();
    let mut states = Vec::new();
    let mut shutdowns = Vec::new();
    for b in scenario.bank_ids() {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        urls.push(format!("http://{addr}"));
        let clock = LiveClock::new(SimTime::ZERO, 1.0);
        let state = AppState::speaking(scenario.clone(), b, secret, clock, Limits::default(), opts.api);
        states.push(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        shutdowns.push(tx);
        rt.spawn(serve(listener, state, async move {
            let _ = rx.await;
        }));
    }
    // The banks are ours, so the platforms' client registrations are made here: the client
    // token that opens a negotiation, and the OAuth client of a standard profile.
    let mut client_tokens = platform_mock::live::ClientTokens::new();
    let mut opts = opts.clone();
    for (p, platform) in scenario.platforms_by_id() {
        for &b in &platform.banks {
            if let Some(token) = states[b.index()].client_token(&platform.name) {
                client_tokens.insert((p, b), token);
            }
            if let Some(secret) = states[b.index()].client_secret(&platform.name) {
                opts.oauth_clients.insert((p, b), OAuthClient { id: platform.name.clone(), secret });
            }
        }
    }
    let banks = Banks { states };
    let report = platform_mock::live::run(
        scenario.clone(),
        &urls,
        &client_tokens,
        &opts,
        stop,
        Some(&banks),
        Tool::new("sim", env!("CARGO_PKG_VERSION")),
    );
    for tx in shutdowns {
        let _ = tx.send(());
    }
    rt.shutdown_timeout(opts.drain);
    report.map_err(|e| e.to_string())
}

/// The bank servers of this process, seen from inside.
struct Banks {
    states: Vec<Arc<AppState>>,
}

impl platform_mock::live::InProcessBanks for Banks {
    fn ledger(&self, bank: BankId, platform: &str) -> Option<PairLedger> {
        self.states[bank.index()].desk().ledgers().get(platform).cloned()
    }

    fn start_data_phase(&self, bank: BankId, origin: SimTime, scale: f64) {
        self.states[bank.index()].set_clock(LiveClock::new(origin, scale));
    }
}
