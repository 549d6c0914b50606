//! The desk's event subscriptions: who may subscribe (the agreement token of a platform whose
//! terms allow fraud alerts; one subscription per platform, as UK Open Banking lets an ASPSP
//! hold one event subscription per TPP), which consents a subscription watches, and the last
//! check before an alert leaves the bank. The ledger counts an alert only once its callback
//! acknowledged it (`Released::disclosure`, recorded by the pusher).

use super::{Desk, DeskError, Disclosure, TokenKind, Verified};
use crate::alerts::{DueAlert, EventType, Subscription, Watch};
use crate::api::{self, DataRequest, Grant, Permission, Resource};
use testbed_core::SimTime;
use testbed_core::terms::{DataCategory, Purpose};

/// A due alert the desk let out: where to send it, what it may carry, and what the ledger is
/// to count under `consent` once the callback acknowledged it (`Desk::record_consent_disclosure`).
#[derive(Clone, Debug, PartialEq)]
pub struct Released {
    pub callback_url: String,
    pub account_id: String,
    pub grant: Grant,
    pub consent: u64,
    pub disclosure: Disclosure,
}

impl Desk {
    /// Registers `callback_url` for `event_types` under the agreement the token stands for. The
    /// URL is checked by the caller (`alerts::check_callback_url`).
    pub fn subscribe(
        &mut self,
        token: Verified<'_>,
        callback_url: &str,
        event_types: Vec<EventType>,
        max_events_per_second: Option<u32>,
        now: SimTime,
    ) -> Result<Subscription, DeskError> {
        if token.kind != TokenKind::Agreement {
            return Err(DeskError::Forbidden("event subscriptions are managed with the agreement token".into()));
        }
        let platform = token.platform;
        let agreement = self.agreements.get(platform).ok_or_else(|| DeskError::NoAgreement(platform.into()))?;
        if let Some(w) = &agreement.revoked {
            return Err(DeskError::Forbidden(format!("the agreement was revoked: {}", w.reason)));
        }
        if !agreement.info.terms.allows(Purpose::FraudAlerts) {
            return Err(DeskError::AlertsNotAgreed);
        }
        // One per platform: a second would send every alert (and count it) twice.
        if let Some(held) = self.subscriptions.values().find(|s| s.platform == platform) {
            return Err(DeskError::SubscriptionExists(held.id));
        }
        let id = self.id();
        let subscription = Subscription {
            id,
            platform: platform.into(),
            callback_url: callback_url.into(),
            event_types,
            max_events_per_second,
            created_at: now,
        };
        self.subscriptions.insert(id, subscription.clone());
        Ok(subscription)
    }

    /// The subscription `id`, if the token is the agreement token of its platform. Another
    /// platform's subscription is `NotFound` like a missing one, so ids cannot be probed.
    pub fn subscription(&self, token: Verified<'_>, id: u64) -> Result<&Subscription, DeskError> {
        if token.kind != TokenKind::Agreement {
            return Err(DeskError::Forbidden("event subscriptions are managed with the agreement token".into()));
        }
        self.subscriptions
            .get(&id)
            .filter(|s| s.platform == token.platform)
            .ok_or(DeskError::NotFound("event subscription"))
    }

    /// Ends subscription `id` on the bank's own decision (its callback kept failing).
    pub fn end_subscription(&mut self, id: u64) {
        self.subscriptions.remove(&id);
    }

    /// Deletes subscription `id`: no alert of it is released afterwards.
    pub fn unsubscribe(&mut self, token: Verified<'_>, id: u64) -> Result<(), DeskError> {
        self.subscription(token, id)?;
        self.subscriptions.remove(&id);
        Ok(())
    }

    /// The active subscriptions, by id.
    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.values()
    }

    /// Every consent an active fraud-alert subscription watches at `now`: consents of its
    /// platform that are usable and cover fraud alerts, under an agreement still in force. Only
    /// the platform's unrevoked alert consents are looked at (`Desk::alert_consents`): the
    /// pusher asks every tick, under the desk's lock.
    pub fn watches(&self, now: SimTime) -> Vec<Watch> {
        let mut out = Vec::new();
        for s in self.subscriptions.values().filter(|s| s.event_types.contains(&EventType::FraudAlert)) {
            let Some(agreement) = self.agreements.get(&s.platform).filter(|a| a.revoked.is_none()) else { continue };
            let Some(ids) = self.alert_consents.get(&s.platform) else { continue };
            let terms = &agreement.info.terms;
            for &id in ids {
                let c = &self.consents[&id];
                debug_assert!(c.platform == s.platform && c.consent.has(Resource::FraudAlert.required_permission()));
                if c.consent.check(now).is_err() {
                    continue;
                }
                out.push(Watch {
                    subscription: s.id,
                    consent: id,
                    customer: c.customer,
                    off_platform: c.consent.has(Permission::ReadOffPlatformTransactions)
                        && terms.grants(DataCategory::OffPlatformTransactions),
                    since_ms: s.created_at.max(c.consent.created_at).as_millis(),
                });
            }
        }
        out
    }

    /// The last check before `due` leaves at `now`: its subscription still exists, and the
    /// consent and the terms allow the alert (`api::authorize`, purpose `fraud_alerts`). Nothing
    /// is counted yet: the sender records `Released::disclosure` once the callback acknowledged it.
    pub fn release_alert(&self, due: &DueAlert, now: SimTime) -> Option<Released> {
        let s = self.subscriptions.get(&due.subscription)?;
        let agreement = self.agreements.get(&s.platform).filter(|a| a.revoked.is_none())?;
        let entry = self.consents.get(&due.consent).filter(|c| c.platform == s.platform)?;
        let terms = &agreement.serving.terms;
        // The consent's transaction window holds for pushed alerts as for pulled pages.
        let at_ms = due.transaction.at_ms;
        let c = &entry.consent;
        if c.transaction_from_ms.is_some_and(|from| at_ms < from) || c.transaction_to_ms.is_some_and(|to| at_ms >= to) {
            return None;
        }
        let off_platform = !due.transaction.on_platform;
        let request = DataRequest {
            resource: Resource::FraudAlert,
            purpose: Purpose::FraudAlerts,
            wants: agreement
                .serving
                .resource(Resource::FraudAlert, api::Asking::WithinConsent)
                .map_or(Resource::FraudAlert.fields(), |(_, derived)| derived)
                .intersect(entry.consent.allowed_fields())
                .intersect(terms.allowed_fields()),
            wants_off_platform: off_platform,
        };
        let grant = api::authorize(&entry.consent, terms, &request, now).ok()?;
        if off_platform && !grant.off_platform {
            return None;
        }
        Some(Released {
            callback_url: s.callback_url.clone(),
            account_id: format!("card-{}-{}", self.spec.bank, entry.customer),
            grant,
            consent: due.consent,
            disclosure: Disclosure {
                customer: entry.customer,
                purpose: Purpose::FraudAlerts,
                fields: grant.fields,
                records: 1,
                off_platform: u64::from(off_platform),
            },
        })
    }
}
