//! Consents made in the standards' two steps: the platform asks (`POST
//! /account-access-consents` with its client-credentials token) and the consent awaits the
//! customer, who approves or rejects it at `/authorize`. The mock plays the customer headlessly,
//! as the scenario's linking says: a customer who linked on the platform approves, any other
//! rejects. Approved, the consent is held like any other (`Desk::hold_consent`); rejected, it
//! stays here, `Rejected`, for the platform to read.

use super::{Consent, Desk, DeskError, TokenKind, Verified};
use crate::api::{ConsentStatus, Permission};
use std::collections::{BTreeMap, VecDeque};
use testbed_core::SimTime;

/// Consents awaiting a customer (or rejected) the desk keeps, all platforms together; beyond
/// it the oldest is forgotten (and its authorisation then fails as an unknown consent).
pub const MAX_PENDING_CONSENTS: usize = 100_000;

#[derive(Default)]
pub(super) struct Pending {
    consents: BTreeMap<u64, Consent>,
    order: VecDeque<u64>,
}

/// What the customer decided at `/authorize`.
#[derive(Clone, Debug, PartialEq)]
pub enum Approval {
    /// Approved: the consent is in force; its access token.
    Approved { access: String },
    /// Rejected: the customer has not linked on the platform (or the agreement ended).
    Rejected { why: String },
}

impl Desk {
    /// A consent `platform` asks for with its agreement token, awaiting a customer.
    pub fn create_pending_consent(
        &mut self,
        token: Verified<'_>,
        permissions: Vec<Permission>,
        window_ms: (Option<u64>, Option<u64>),
        expiration: Option<SimTime>,
        now: SimTime,
    ) -> Result<Consent, DeskError> {
        token.must_be(TokenKind::Agreement, super::CONSENTS_NEED)?;
        self.create_pending_consent_for(token.platform, Some(permissions), window_ms, expiration, now)
    }

    /// `create_pending_consent` for `platform`, whose credentials the caller checked; the
    /// agreement's permissions when none are named (the FDX authorization request, which names
    /// no consent: the customer approves what the agreement allows).
    pub fn create_pending_consent_for(
        &mut self,
        platform: &str,
        permissions: Option<Vec<Permission>>,
        window_ms: (Option<u64>, Option<u64>),
        expiration: Option<SimTime>,
        now: SimTime,
    ) -> Result<Consent, DeskError> {
        let mut consent = self.consent_under(platform, permissions, window_ms, now)?;
        // The terms bound the authorisation period; a platform may ask for less.
        if let Some(asked) = expiration {
            consent.expiration = Some(consent.expiration.map_or(asked, |e| e.min(asked)));
        }
        let id = self.id();
        consent.id = format!("{id}");
        if self.pending.order.len() >= MAX_PENDING_CONSENTS
            && let Some(oldest) = self.pending.order.pop_front()
        {
            self.pending.consents.remove(&oldest);
        }
        self.pending.order.push_back(id);
        self.pending.consents.insert(id, consent.clone());
        Ok(consent)
    }

    /// The consent `id` of `platform` awaiting a customer, or rejected: `NotFound` otherwise.
    pub fn pending_consent(&self, platform: &str, id: u64) -> Result<&Consent, DeskError> {
        self.pending.consents.get(&id).filter(|c| c.platform == platform).ok_or(DeskError::NotFound("consent"))
    }

    /// The customer `customer` decides on consent `id` of `platform` at `now`: approves if they
    /// linked on the platform (and the agreement stands), else rejects. `NotFound` for no such
    /// consent awaiting a customer; `Protocol` for one already decided.
    pub fn decide_pending(
        &mut self,
        platform: &str,
        id: u64,
        customer: u64,
        now: SimTime,
    ) -> Result<Approval, DeskError> {
        let consent = self.pending_consent(platform, id)?;
        if consent.status != ConsentStatus::AwaitingAuthorisation {
            return Err(DeskError::Protocol(format!("consent {id} was already {:?}", consent.status)));
        }
        let consent = consent.clone();
        match self.hold_consent(platform, customer, consent, now) {
            Ok((_, access)) => {
                self.pending.consents.remove(&id);
                self.pending.order.retain(|p| *p != id);
                Ok(Approval::Approved { access })
            }
            Err(
                e @ (DeskError::CustomerNotLinked(_)
                | DeskError::TooManyConsents(_)
                | DeskError::NoAgreement(_)
                | DeskError::Forbidden(_)),
            ) => {
                if let Some(c) = self.pending.consents.get_mut(&id) {
                    c.reject();
                }
                Ok(Approval::Rejected { why: e.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    /// Forgets consent `id` of `platform` awaiting a customer (the platform deleted it).
    pub fn delete_pending(&mut self, platform: &str, id: u64) -> Result<(), DeskError> {
        self.pending_consent(platform, id)?;
        self.pending.consents.remove(&id);
        self.pending.order.retain(|p| *p != id);
        Ok(())
    }
}
