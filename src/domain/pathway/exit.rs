//! Leaving Channel, and the reviews at six and twelve months after.

use super::State;
use super::decision::{Decision, Details, Given, Notify, Rejection, invalid};
use crate::domain::command::PostExitReview;
use crate::domain::command::Threshold;
use crate::domain::due::DueKind;

/// `exit`: the time of leaving is kept (the reviews count from it), and the members
/// and the referring officer are told.
pub(super) fn exit(given: Given, threshold: &Threshold) -> Decision {
    let mut decision = given.to(State::Exited).because(threshold);
    decision.changes.exited_at = Some(given.now);
    decision.notices.push(Notify::MembersAndOfficer {
        event: "the person left Channel",
    });
    decision
}

/// `record_post_exit_review`: the six-month review first, then the twelve-month one,
/// each once. A new concern returns the case to the panel; else the six-month review
/// sets the second's date, and the twelve-month one closes the case.
pub(super) fn record_review(
    given: Given,
    review: PostExitReview,
    new_concern: bool,
    rationale: &str,
) -> Result<Decision, Rejection> {
    let expected = match review {
        PostExitReview::SixMonth => DueKind::PostExitSixMonth,
        PostExitReview::TwelveMonth => DueKind::PostExitTwelveMonth,
    };
    if given.case.due.map(|(kind, _)| kind) != Some(expected) {
        return Err(invalid(
            "review",
            "out_of_order",
            "The six-month review comes first, and each is recorded once.",
        ));
    }
    let next = match (new_concern, review) {
        (true, _) => State::AwaitingPanel,
        (false, PostExitReview::SixMonth) => State::Exited,
        (false, PostExitReview::TwelveMonth) => State::Closed,
    };
    let mut decision = given.to(next).closed_as("exited_channel");
    if next == State::Exited {
        let (policy, exited) = (given.policy, given.case.exited_at.unwrap_or(given.now));
        let when = policy.post_exit(exited, policy.post_exit_second_review_months);
        decision.due = Some((DueKind::PostExitTwelveMonth, when));
    }
    decision.rationale = Some(rationale.to_owned());
    decision.details = Details::PostExitReview {
        review,
        new_concern,
    };
    Ok(decision)
}
