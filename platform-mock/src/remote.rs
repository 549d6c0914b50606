//! The platform's negotiation with bank servers over HTTP: `RemoteBanks` for the core's
//! negotiation session, so that every bank decision is made by its server on the session's
//! schedule (the decision's simulated time travels as `SimTimeMs`). Opens each negotiation with
//! the platform's client token at that bank; keeps the negotiation and agreement tokens.

use crate::client::{ClientError, HttpClient};
use crate::live::ClientTokens;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use testbed_core::SimTime;
use testbed_core::negotiation::review::Verdict;
use testbed_core::negotiation::{Decision, OutcomeId, Withdrawal};
use testbed_core::scenario::{BankId, Scenario};
use testbed_core::session::RemoteBanks;
use testbed_core::wire::{
    self, NegotiationAnswer, OfferBody, OpenBody, Opened, ReviewAnswer, ReviewDecision, TimeBody, WithdrawBody,
};
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
    bank: BankId,
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
    fn post<B: Serialize, R: DeserializeOwned>(&mut self, url: &str, token: &str, body: &B) -> Option<R> {
        match self.rt.block_on(self.client.post(url, Some(token), body)) {
            Ok((_, Ok(answer))) => Some(answer),
            Ok((status, Err(e))) => {
                self.error.get_or_insert(format!("{url}: {status}: {}: {}", e.code, e.message));
                None
            }
            Err(e) => {
                self.error.get_or_insert(e.to_string());
                None
            }
        }
    }

    fn outcome(&self, labels: Option<&wire::Outcome>) -> Option<OutcomeId> {
        let labels = labels?;
        let space = &self.scenario.space;
        let choice: Option<Vec<usize>> = space
            .issues()
            .iter()
            .enumerate()
            .map(|(i, issue)| space.option_index(i, labels.get(&issue.name)?))
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
            let url = format!("{}/negotiations", self.urls[b.index()]);
            let p = self.scenario.platform_index(platform).expect("platform of the scenario");
            let Some(client) = self.client_tokens.get(&(p, b)) else {
                self.error.get_or_insert(format!("no client token for platform `{platform}` at bank `{bank}`"));
                return self.failed();
            };
            let body = OpenBody { platform: platform.to_string(), sim_time_ms: Some(ms(now)) };
            let opened: Opened = match self.rt.block_on(self.client.post(&url, Some(client), &body)) {
                Ok((_, Ok(opened))) => opened,
                Ok((status, Err(e))) if status.as_u16() == 401 || e.code == "forbidden" => {
                    let message = e.message;
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
                Ok((status, Err(e))) => {
                    self.error.get_or_insert(format!("{url}: {status}: {}: {}", e.code, e.message));
                    return self.failed();
                }
                Err(e) => {
                    self.error.get_or_insert(e.to_string());
                    return self.failed();
                }
            };
            let negotiation = RemoteNegotiation { bank: b, id: opened.negotiation_id, token: opened.negotiation_token };
            self.negotiations.insert(pair, negotiation);
            if standing.is_none() {
                // The bank opens: its opening offer came with the negotiation.
                return self.outcome(opened.bank_offer.as_ref()).map_or_else(|| self.failed(), Decision::Offer);
            }
        }
        let n = self.negotiations[&pair].clone();
        let Some(offer) = standing else { return self.failed() };
        let outcome: BTreeMap<String, String> = self.scenario.space.describe(offer).into_iter().collect();
        let url = format!("{}/negotiations/{}/offers", self.urls[n.bank.index()], n.id);
        let Some(answer) =
            self.post::<_, NegotiationAnswer>(&url, &n.token, &OfferBody { outcome, sim_time_ms: Some(ms(now)) })
        else {
            return self.failed();
        };
        match answer.decision {
            wire::Decision::Counter | wire::Decision::Timeout => {
                self.outcome(answer.outcome.as_ref()).map_or_else(|| self.failed(), Decision::Offer)
            }
            wire::Decision::Accept => {
                if let Some(a) = answer.agreement {
                    self.tokens.insert(pair, a.token);
                }
                Decision::Accept
            }
            wire::Decision::Withdraw => Decision::Withdraw(Withdrawal {
                clause: answer.clause.unwrap_or_default(),
                reason: answer.reason.unwrap_or_default(),
            }),
        }
    }

    fn platform_ended(&mut self, pair: usize, decision: &Decision, now: SimTime) {
        let Some(n) = self.negotiations.get(&pair).cloned() else { return };
        match decision {
            Decision::Accept => {
                let url = format!("{}/negotiations/{}/accept", self.urls[n.bank.index()], n.id);
                let body = TimeBody { sim_time_ms: Some(ms(now)), after_incident: false };
                if let Some(NegotiationAnswer { agreement: Some(a), .. }) = self.post(&url, &n.token, &body) {
                    self.tokens.insert(pair, a.token);
                }
            }
            Decision::Withdraw(w) => {
                let url = format!("{}/negotiations/{}/withdraw", self.urls[n.bank.index()], n.id);
                let body =
                    WithdrawBody { clause: w.clause.clone(), reason: w.reason.clone(), sim_time_ms: Some(ms(now)) };
                self.post::<_, NegotiationAnswer>(&url, &n.token, &body);
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
            (format!("{}/negotiations/{}/review", self.urls[n.bank.index()], n.id), n.token)
        } else {
            let url = format!("{}/agreements/{platform}/review", self.urls[n.bank.index()]);
            let Some(token) = self.tokens.get(&pair).cloned() else {
                self.error.get_or_insert(format!("{url}: no agreement token for the review"));
                return Verdict::Continue;
            };
            (url, token)
        };
        let body = TimeBody { sim_time_ms: Some(ms(now)), after_incident };
        let Some(answer) = self.post::<_, ReviewAnswer>(&url, &token, &body) else {
            return Verdict::Continue;
        };
        let w = Withdrawal { clause: answer.clause.unwrap_or_default(), reason: answer.reason.unwrap_or_default() };
        match answer.decision {
            ReviewDecision::Withdraw => Verdict::Withdraw(w),
            ReviewDecision::Revoke => Verdict::Revoke(w),
            ReviewDecision::Continue => Verdict::Continue,
        }
    }
}
