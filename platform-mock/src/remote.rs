//! The platform's negotiation with bank servers over HTTP: `RemoteBanks` for the core's
//! negotiation session, so that every bank decision is made by its server on the session's
//! schedule (the decision's simulated time travels as `SimTimeMs`). Opens each negotiation with
//! the platform's client token at that bank; keeps the negotiation and agreement tokens.

use crate::client::{ClientError, HttpClient};
use crate::live::ClientTokens;
use serde_json::json;
use std::collections::BTreeMap;
use testbed_core::SimTime;
use testbed_core::negotiation::review::Verdict;
use testbed_core::negotiation::{Decision, OutcomeId, Withdrawal};
use testbed_core::scenario::Scenario;
use testbed_core::session::RemoteBanks;
use tokio::runtime::Runtime;

/// The banks of a scenario behind their base URLs, as the negotiation session sees them.
pub(crate) struct HttpBanks<'a> {
    pub(crate) rt: &'a Runtime,
    pub(crate) client: HttpClient,
    pub(crate) scenario: &'a Scenario,
    pub(crate) urls: Vec<String>,
    pub(crate) client_tokens: &'a ClientTokens,
    /// Per pair: the bank, the negotiation's id and its token (the credential for every move).
    negotiations: BTreeMap<usize, RemoteNegotiation>,
    /// Per pair: the agreement token.
    pub(crate) tokens: BTreeMap<usize, String>,
    pub(crate) error: Option<String>,
    /// A bank that refused a platform's client token: the run cannot negotiate there at all.
    pub(crate) refused: Option<ClientError>,
}

#[derive(Clone)]
struct RemoteNegotiation {
    bank: usize,
    id: String,
    token: String,
}

impl<'a> HttpBanks<'a> {
    pub(crate) fn new(
        rt: &'a Runtime,
        scenario: &'a Scenario,
        urls: &[String],
        client_tokens: &'a ClientTokens,
    ) -> HttpBanks<'a> {
        HttpBanks {
            rt,
            client: HttpClient::default(),
            scenario,
            urls: urls.to_vec(),
            client_tokens,
            negotiations: BTreeMap::new(),
            tokens: BTreeMap::new(),
            error: None,
            refused: None,
        }
    }
}

impl HttpBanks<'_> {
    /// A negotiation move or review, with the token that covers it.
    fn post(&mut self, url: &str, token: &str, body: serde_json::Value) -> Option<serde_json::Value> {
        match self.rt.block_on(self.client.post_json(url, Some(token), &body)) {
            Ok((status, v)) if status.is_success() => Some(v),
            Ok((status, v)) => {
                self.error.get_or_insert(format!("{url}: {status}: {v}"));
                None
            }
            Err(e) => {
                self.error.get_or_insert(e.to_string());
                None
            }
        }
    }

    fn outcome(&self, v: &serde_json::Value) -> Option<OutcomeId> {
        let labels = v.as_object()?;
        let space = &self.scenario.space;
        let choice: Option<Vec<usize>> = space
            .issues()
            .iter()
            .enumerate()
            .map(|(i, issue)| space.option_index(i, labels.get(&issue.name)?.as_str()?))
            .collect();
        space.outcome(&choice?).ok()
    }

    fn failed(&self) -> Decision {
        Decision::Withdraw(Withdrawal {
            clause: "transport_error".into(),
            reason: self.error.clone().unwrap_or_default(),
        })
    }
}

fn ms(t: SimTime) -> u64 {
    t.as_millis()
}

impl RemoteBanks for HttpBanks<'_> {
    fn bank_decides(
        &mut self,
        pair: usize,
        platform: &str,
        bank: &str,
        standing: Option<OutcomeId>,
        now: SimTime,
    ) -> Decision {
        let b = self.scenario.bank_index(bank).expect("bank of the scenario");
        if !self.negotiations.contains_key(&pair) {
            let url = format!("{}/negotiations", self.urls[b]);
            let p = self.scenario.platform_index(platform).expect("platform of the scenario");
            let Some(client) = self.client_tokens.get(&(p, b)) else {
                self.error.get_or_insert(format!("no client token for platform `{platform}` at bank `{bank}`"));
                return self.failed();
            };
            let body = json!({"Platform": platform, "SimTimeMs": ms(now)});
            let v = match self.rt.block_on(self.client.post_json(&url, Some(client), &body)) {
                Ok((status, v)) if status.is_success() => v,
                Ok((status, v)) if status.as_u16() == 401 || v["Code"] == "forbidden" => {
                    let message = v["Message"].as_str().unwrap_or_default().to_string();
                    let (platform, bank) = (platform.to_string(), bank.to_string());
                    self.refused.get_or_insert(ClientError::ClientTokenRefused {
                        url,
                        platform,
                        bank,
                        status,
                        message,
                    });
                    self.error.get_or_insert_with(|| "client token refused".into());
                    return self.failed();
                }
                Ok((status, v)) => {
                    self.error.get_or_insert(format!("{url}: {status}: {v}"));
                    return self.failed();
                }
                Err(e) => {
                    self.error.get_or_insert(e.to_string());
                    return self.failed();
                }
            };
            let (Some(id), Some(token)) = (v["NegotiationId"].as_str(), v["NegotiationToken"].as_str()) else {
                self.error.get_or_insert(format!("{url}: no NegotiationId and NegotiationToken in {v}"));
                return self.failed();
            };
            self.negotiations.insert(pair, RemoteNegotiation { bank: b, id: id.into(), token: token.into() });
            if standing.is_none() {
                // The bank opens: its opening offer came with the negotiation.
                return v.get("BankOffer").and_then(|o| self.outcome(o)).map_or_else(|| self.failed(), Decision::Offer);
            }
        }
        let n = self.negotiations[&pair].clone();
        let Some(offer) = standing else { return self.failed() };
        let labels: BTreeMap<String, String> = self.scenario.space.describe(offer).into_iter().collect();
        let url = format!("{}/negotiations/{}/offers", self.urls[n.bank], n.id);
        let Some(v) = self.post(&url, &n.token, json!({"Outcome": labels, "SimTimeMs": ms(now)})) else {
            return self.failed();
        };
        match v["Decision"].as_str() {
            Some("counter") | Some("timeout") => {
                v.get("Outcome").and_then(|o| self.outcome(o)).map_or_else(|| self.failed(), Decision::Offer)
            }
            Some("accept") => {
                if let Some(t) = v["Agreement"]["Token"].as_str() {
                    self.tokens.insert(pair, t.to_string());
                }
                Decision::Accept
            }
            Some("withdraw") => Decision::Withdraw(Withdrawal {
                clause: v["Clause"].as_str().unwrap_or_default().into(),
                reason: v["Reason"].as_str().unwrap_or_default().into(),
            }),
            _ => {
                self.error.get_or_insert(format!("{url}: unexpected answer {v}"));
                self.failed()
            }
        }
    }

    fn platform_ended(&mut self, pair: usize, decision: &Decision, now: SimTime) {
        let Some(n) = self.negotiations.get(&pair).cloned() else { return };
        match decision {
            Decision::Accept => {
                let url = format!("{}/negotiations/{}/accept", self.urls[n.bank], n.id);
                if let Some(v) = self.post(&url, &n.token, json!({"SimTimeMs": ms(now)}))
                    && let Some(t) = v["Agreement"]["Token"].as_str()
                {
                    self.tokens.insert(pair, t.to_string());
                }
            }
            Decision::Withdraw(w) => {
                let url = format!("{}/negotiations/{}/withdraw", self.urls[n.bank], n.id);
                let body = json!({"Clause": w.clause, "Reason": w.reason, "SimTimeMs": ms(now)});
                self.post(&url, &n.token, body);
            }
            Decision::Offer(_) => {}
        }
    }

    fn review(
        &mut self,
        pair: usize,
        platform: &str,
        negotiating: bool,
        after_incident: bool,
        now: SimTime,
    ) -> Verdict {
        let Some(n) = self.negotiations.get(&pair).cloned() else { return Verdict::Continue };
        // A running negotiation is reviewed with its token, an agreement with the agreement's.
        let (url, token) = if negotiating {
            (format!("{}/negotiations/{}/review", self.urls[n.bank], n.id), n.token)
        } else {
            let url = format!("{}/agreements/{platform}/review", self.urls[n.bank]);
            let Some(token) = self.tokens.get(&pair).cloned() else {
                self.error.get_or_insert(format!("{url}: no agreement token for the review"));
                return Verdict::Continue;
            };
            (url, token)
        };
        let body = json!({"SimTimeMs": ms(now), "AfterIncident": after_incident});
        let Some(v) = self.post(&url, &token, body) else {
            return Verdict::Continue;
        };
        let w = || Withdrawal {
            clause: v["Clause"].as_str().unwrap_or_default().into(),
            reason: v["Reason"].as_str().unwrap_or_default().into(),
        };
        match v["Decision"].as_str() {
            Some("withdraw") => Verdict::Withdraw(w()),
            Some("revoke") => Verdict::Revoke(w()),
            _ => Verdict::Continue,
        }
    }
}
