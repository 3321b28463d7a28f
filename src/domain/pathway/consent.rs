//! Consent: given or refused, withdrawn, and the re-assessment that follows a refusal.

use chrono::NaiveDate;

use super::State;
use super::decision::{Decision, Details, Facts, Given, Notify, Rejection, day_end, invalid};
use crate::domain::channel::consent_problem;
use crate::domain::command::Threshold;
use crate::domain::command::{Consent, ConsentDecision, ReassessOutcome};
use crate::domain::due::DueKind;

/// `record_consent`: a child's own consent is not enough, and consent is to a support
/// plan already recorded. The members and the referring officer are told.
pub(super) fn record(given: Given, facts: &Facts, c: &Consent) -> Result<Decision, Rejection> {
    if let Some(problem) = consent_problem(c, facts.subject_age.on(c.decided_on)) {
        return Err(Rejection::Invalid(vec![problem]));
    }
    if c.decision == ConsentDecision::Given && !given.case.has_support_plan {
        return Err(invalid(
            "decision",
            "support_plan_required",
            "Record the support plan (record_support_plan) before consent to it.",
        ));
    }
    let mut decision = given.to(match c.decision {
        ConsentDecision::Given => State::Support,
        ConsentDecision::Refused => State::ConsentRefused,
    });
    decision.changes.consent = Some(c.record.clone());
    decision.details = Details::Consent {
        decision: c.decision,
        given_by: c.given_by,
    };
    decision.notices.push(Notify::MembersAndOfficer {
        event: "consent was recorded",
    });
    Ok(decision)
}

/// `withdraw_consent`: the re-assessment is due by the date it sets, else after the
/// configured period.
pub(super) fn withdraw(given: Given, rationale: &str, reassess_by: Option<NaiveDate>) -> Decision {
    let mut decision = given.to(State::ConsentRefused);
    if let Some(d) = reassess_by {
        decision.due = Some((DueKind::Reassessment, day_end(d)));
    }
    decision.rationale = Some(rationale.to_owned());
    decision.details = Details::Withdrawal { reassess_by };
    decision
}

/// `reassess`: seek consent again, return to police management, or close.
pub(super) fn reassess(given: Given, outcome: ReassessOutcome, threshold: &Threshold) -> Decision {
    let next = match outcome {
        ReassessOutcome::SeekConsent => State::ConsentPending,
        ReassessOutcome::PoliceManaged => State::PoliceManaged,
        ReassessOutcome::Closed => State::Closed,
    };
    let mut decision = given
        .to(next)
        .because(threshold)
        .closed_as("closed_after_reassessment");
    decision.details = Details::Reassessment { outcome };
    decision
}
