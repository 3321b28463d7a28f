//! Onward referrals: the answers of the services a case was referred on to.

use super::State;
use super::decision::{Decision, Details, Facts, Given, Rejection, Write, invalid};
use crate::domain::command::OnwardOutcome;

/// `record_onward_outcome`: of a pending onward referral of the case; the case closes,
/// signposted, once none is pending.
pub(super) fn record_outcome(
    given: Given,
    facts: &Facts,
    id: uuid::Uuid,
    outcome: OnwardOutcome,
    note: &Option<String>,
) -> Result<Decision, Rejection> {
    let id_text = id.to_string();
    if !facts.pending_onward.contains(&id_text) {
        return Err(invalid(
            "onward_referral_id",
            "not_pending",
            "No pending onward referral of this case has that id.",
        ));
    }
    let still_pending = facts.pending_onward.iter().any(|p| *p != id_text);
    let next = if still_pending {
        State::OnwardReferral
    } else {
        State::Closed
    };
    let mut decision = given.to(next).closed_as("signposted");
    decision.writes.push(Write::ResolveOnward {
        id,
        outcome,
        note: note.clone(),
    });
    decision.details = Details::OnwardOutcome {
        onward_referral_id: id,
        outcome,
    };
    decision.rationale = note.clone();
    Ok(decision)
}
