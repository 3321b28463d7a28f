//! Screening: the police initial assessment, from submission to its threshold decision.

use super::decision::{Decision, DeconflictionRecord, Details, Facts, Given, NewOnward, Notify};
use super::decision::{Onward, Write};
use super::{POLICE_CLOSED, State};
use crate::domain::command::{DeconflictionResult, OnwardReferral, Threshold};

/// `begin_screening`: the assessment starts, its clock as set at submission.
pub(super) fn begin(given: Given) -> Decision {
    given.to(State::Screening)
}

/// `record_deconfliction`: the result is kept on the case (police only); its note is
/// the entry's rationale.
pub(super) fn record_deconfliction(
    given: Given,
    result: DeconflictionResult,
    note: &Option<String>,
) -> Decision {
    let mut decision = given.to(State::Screening);
    decision.changes.deconfliction = Some(DeconflictionRecord {
        result,
        note: note.clone(),
        recorded_at: given.now.and_utc(),
    });
    decision.details = Details::Deconfliction { result };
    decision.rationale = note.clone();
    decision
}

/// `close_no_further_action`.
pub(super) fn close_no_further_action(given: Given, threshold: &Threshold) -> Decision {
    given
        .to(State::Closed)
        .because(threshold)
        .closed_as("no_further_action")
}

/// `signpost`: the onward referrals are made, pending, and named in the entry.
pub(super) fn signpost(
    given: Given,
    threshold: &Threshold,
    referrals: &[OnwardReferral],
) -> Decision {
    let mut decision = given.to(State::OnwardReferral).because(threshold);
    let (listed, write) = onward_referrals(referrals);
    decision.details = Details::Signposted {
        onward_referrals: listed,
    };
    decision.writes.push(write);
    decision
}

/// `refer_to_channel`: the referring officer is recorded, to be told of the panel's
/// decisions, and the area's chairs are told.
pub(super) fn refer_to_channel(given: Given, facts: &Facts, threshold: &Threshold) -> Decision {
    let mut decision = given.to(State::AwaitingPanel).because(threshold);
    decision.changes.officer_email = Some(facts.actor_email.clone());
    decision.notices.push(Notify::Chairs);
    decision
}

/// `manage_by_police`.
pub(super) fn manage_by_police(given: Given, threshold: &Threshold) -> Decision {
    given.to(State::PoliceManaged).because(threshold)
}

/// `transfer_to_pursue`: outside police it reads as a police-led closure
/// ([`super::Action::shared_as`]), so it records no outcome of its own.
pub(super) fn transfer_to_pursue(given: Given, threshold: &Threshold) -> Decision {
    given.to(State::TransferredToPursue).because(threshold)
}

/// `close`: a police-led closure.
pub(super) fn close(given: Given, threshold: &Threshold) -> Decision {
    given
        .to(State::Closed)
        .because(threshold)
        .closed_as(POLICE_CLOSED)
}

/// New onward referrals, each with a fresh id: as the entry names them, and the write
/// that inserts them.
pub(super) fn onward_referrals(referrals: &[OnwardReferral]) -> (Vec<Onward>, Write) {
    let new: Vec<NewOnward> = referrals
        .iter()
        .map(|r| NewOnward {
            id: uuid::Uuid::now_v7().to_string(),
            referral: r.clone(),
        })
        .collect();
    let listed = new
        .iter()
        .map(|n| Onward {
            id: n.id.clone(),
            service_type: n.referral.service_type,
        })
        .collect();
    (listed, Write::InsertOnward(new))
}
