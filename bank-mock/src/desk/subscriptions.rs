//! The desk's event subscriptions: who may subscribe (the agreement token of a platform whose
//! terms allow every event type it asks for; one subscription per platform, as UK Open Banking
//! lets an ASPSP hold one event subscription per TPP), which consents a subscription watches for
//! which events, and the last check before an event leaves the bank. The ledger counts an event
//! only once its callback acknowledged it (`Released::disclosure`, recorded by the pusher).

use super::{Desk, DeskError, Disclosure, Records, TokenKind, Verified};
use crate::alerts::{DueAlert, EventSet, EventType, Payload, Subscription, Watch};
use crate::api::{self, DataRequest, Grant, Permission};
use testbed_core::SimTime;
use testbed_core::population;
use testbed_core::terms::DataCategory;

/// A due alert the desk let out: where to send it, what it may carry, and what the ledger is
/// to count under `consent` once the callback acknowledged it (`Desk::record_consent_disclosure`).
#[derive(Clone, Debug, PartialEq)]
pub struct Released {
    pub callback_url: String,
    pub account_id: String,
    /// The checking balance after the booking, for a balance change.
    pub balance_cents: Option<i64>,
    pub grant: Grant,
    pub consent: u64,
    pub disclosure: Disclosure<'static>,
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
        token.must_be(TokenKind::Agreement, super::SUBSCRIPTIONS_NEED)?;
        let platform = token.platform;
        let agreement = self.agreements.get(platform).ok_or_else(|| DeskError::NoAgreement(platform.into()))?;
        if let Some(w) = &agreement.revoked {
            return Err(DeskError::Forbidden(format!("the agreement was revoked: {}", w.reason)));
        }
        let consent_terms = &agreement.serving.consent_terms;
        if let Some(&event) = event_types.iter().find(|e| {
            let category = crate::alerts::event_resource(**e, 0).required_permission().category();
            !agreement.info.terms.allows(e.purpose()) || !consent_terms.grants(category)
        }) {
            return Err(DeskError::EventNotAgreed(event));
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
        token.must_be(TokenKind::Agreement, super::SUBSCRIPTIONS_NEED)?;
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

    /// Every consent an active subscription watches at `now`, for the events it asked for that
    /// the consent covers: consents of its platform that are usable, under an agreement still in
    /// force. Only the platform's unrevoked consents that cover some event are looked at
    /// (`Desk::alert_consents`): the pusher asks every tick, under the desk's lock.
    pub fn watches(&self, now: SimTime) -> Vec<Watch> {
        let mut out = Vec::new();
        for s in self.subscriptions.values() {
            let Some(agreement) = self.agreements.get(&s.platform).filter(|a| a.revoked.is_none()) else { continue };
            let Some(ids) = self.alert_consents.get(&s.platform) else { continue };
            let terms = &agreement.info.terms;
            for &id in ids {
                let c = &self.consents[&id];
                let covered: Vec<EventType> = (s.event_types.iter().copied())
                    .filter(|e| c.consent.has(crate::alerts::event_resource(*e, 0).required_permission()))
                    .collect();
                if covered.is_empty() || c.consent.check(now).is_err() {
                    continue;
                }
                out.push(Watch {
                    subscription: s.id,
                    consent: id,
                    customer: c.customer,
                    off_platform: c.consent.has(Permission::ReadOffPlatformTransactions)
                        && terms.grants(DataCategory::OffPlatformTransactions),
                    since_ms: s.created_at.max(c.consent.created_at).as_millis(),
                    events: EventSet::of(&covered),
                });
            }
        }
        out
    }

    /// The last check before `due` leaves at `now`: its subscription still exists, and the
    /// consent and the terms allow the event (`api::authorize`, under the event's purpose).
    /// Nothing is counted yet: the sender records `Released::disclosure` once the callback
    /// acknowledged it.
    pub fn release_alert(&self, due: &DueAlert, now: SimTime) -> Option<Released> {
        let s = self.subscriptions.get(&due.subscription)?;
        let agreement = self.agreements.get(&s.platform).filter(|a| a.revoked.is_none())?;
        let entry = self.consents.get(&due.consent).filter(|c| c.platform == s.platform)?;
        let terms = &agreement.serving.terms;
        let at_ms = due.transaction.at_ms;
        let c = &entry.consent;
        let carries_transaction = due.event != EventType::BalanceChange;
        // The consent's transaction window holds for pushed transactions as for pulled pages.
        if carries_transaction
            && (c.transaction_from_ms.is_some_and(|from| at_ms < from)
                || c.transaction_to_ms.is_some_and(|to| at_ms >= to))
        {
            return None;
        }
        let off_platform = carries_transaction && !due.transaction.on_platform;
        let resource = crate::alerts::event_resource(due.event, at_ms);
        let request = DataRequest {
            resource,
            purpose: due.event.purpose(),
            wants: agreement
                .serving
                .resource(resource, api::Asking::WithinConsent)
                .map_or(resource.fields(), |(_, derived)| derived)
                .intersect(entry.consent.allowed_fields())
                .intersect(terms.allowed_fields()),
            wants_off_platform: off_platform,
        };
        let grant = api::authorize(&entry.consent, terms, &request, now).ok()?;
        if off_platform && !grant.off_platform {
            return None;
        }
        let (account, balance_cents) = match due.event {
            EventType::BalanceChange => {
                let day = (at_ms / 86_400_000) as u32;
                ("chk", Some(population::balance_cents(&self.spec, entry.customer, day)))
            }
            EventType::FraudAlert | EventType::Transaction => ("card", None),
        };
        Some(Released {
            callback_url: s.callback_url.clone(),
            account_id: format!("{account}-{}-{}", self.spec.bank, entry.customer),
            balance_cents,
            grant,
            consent: due.consent,
            disclosure: Disclosure {
                customer: entry.customer,
                purpose: due.event.purpose(),
                fields: grant.fields,
                records: match due.event {
                    EventType::BalanceChange => Records::Other(1),
                    EventType::FraudAlert | EventType::Transaction => Records::Transaction((&due.transaction).into()),
                },
            },
        })
    }

    /// What a released event carries.
    pub fn payload<'a>(due: &'a DueAlert, released: &Released) -> Payload<'a> {
        match released.balance_cents {
            Some(cents) => Payload::Balance { cents },
            None => Payload::Transaction(&due.transaction),
        }
    }
}
