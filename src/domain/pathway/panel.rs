//! The Channel panel: listing a case for a meeting, and the panel's decision on it.

use super::State;
use super::decision::{Decision, Details, Facts, Given, Notify, Rejection, Write, invalid};
use super::screening::onward_referrals;
use crate::domain::command::{Decision as Verdict, NextStep, PanelDecision};
use crate::domain::due::DueKind;

const UNKNOWN_MEETING: &str = "No meeting of a panel of this case's area has that id.";

/// `list_for_panel`: on the agenda of a meeting to come of a panel of the case's area,
/// once; the decision is due at the meeting, and the panel's members are told.
pub(super) fn list(
    given: Given,
    facts: &Facts,
    meeting_id: &uuid::Uuid,
) -> Result<Decision, Rejection> {
    // A meeting of another area's panel is answered as one that does not exist.
    let Some(meeting) = facts
        .meeting
        .as_ref()
        .filter(|m| m.id == meeting_id.to_string() && m.panel_area == given.case.area)
    else {
        return Err(invalid("meeting_id", "unknown_meeting", UNKNOWN_MEETING));
    };
    if meeting.scheduled_for.date() < given.now.date() {
        return Err(invalid(
            "meeting_id",
            "meeting_in_past",
            "That meeting has already taken place.",
        ));
    }
    if meeting.lists_case {
        return Err(invalid(
            "meeting_id",
            "already_listed",
            "The case is already on that meeting's agenda.",
        ));
    }
    let mut decision = given.to(State::PanelListed);
    decision.due = Some((DueKind::PanelDecision, meeting.scheduled_for));
    decision.details = Details::Listing {
        meeting_id: meeting.id.clone(),
        panel_id: meeting.panel_id.clone(),
    };
    decision.writes.push(Write::ListOnAgenda {
        meeting_id: meeting.id.clone(),
    });
    decision.notices.push(Notify::PanelMembers {
        panel_id: meeting.panel_id.clone(),
        meeting_at: meeting.scheduled_for,
    });
    Ok(decision)
}

/// `record_panel_decision`: adopted, the case seeks consent; deferred, it waits for
/// another listing; not adopted, it goes where the next step says (onward referrals
/// are made then). The members and the referring officer are told.
pub(super) fn record_decision(given: Given, d: &PanelDecision) -> Decision {
    let next = match (d.decision, d.next_step) {
        (Verdict::Adopt, _) => State::ConsentPending,
        (Verdict::Defer, _) => State::AwaitingPanel,
        (Verdict::NotAdopt, Some(NextStep::OnwardReferral)) => State::OnwardReferral,
        (Verdict::NotAdopt, Some(NextStep::PoliceManaged)) => State::PoliceManaged,
        (Verdict::NotAdopt, _) => State::Closed,
    };
    let mut decision = given
        .to(next)
        .because(&d.threshold)
        .closed_as("not_adopted");
    let mut listed = None;
    if next == State::OnwardReferral {
        let (onward, write) = onward_referrals(&d.onward);
        listed = Some(onward);
        decision.writes.push(write);
    }
    decision.details = Details::PanelDecision {
        decision: d.decision,
        how_reached: d.how_reached,
        next_step: d.next_step,
        assessment: d.assessment.clone(),
        onward_referrals: listed,
    };
    decision.notices.push(Notify::MembersAndOfficer {
        event: "the panel recorded its decision",
    });
    decision
}
