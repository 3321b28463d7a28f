//! Picks the rule of a row's action: each action of the table is one pure function in
//! the module of its stage.

use chrono::NaiveDateTime;

use super::decision::{Case, Decision, Facts, Given, Rejection};
use super::{Action, Transition};
use super::{consent, correction, exit, onward, panel, screening, support};
use crate::domain::command::Command;
use crate::domain::due::DuePolicy;

/// What taking `row`'s action on `case` with `command` at `now` decides, or why it
/// cannot be taken.
pub fn decide(
    row: &Transition,
    case: &Case,
    facts: &Facts,
    command: &Command,
    now: NaiveDateTime,
    policy: &DuePolicy,
) -> Result<Decision, Rejection> {
    let decision = by_action(row.action, case, facts, command, now, policy)?;
    if !row.to.contains(&decision.next) {
        return Err(Rejection::Inconsistent(format!(
            "{} cannot lead to {}",
            row.action, decision.next
        )));
    }
    Ok(decision)
}

/// The rule of `action`, given its command.
fn by_action(
    action: Action,
    case: &Case,
    facts: &Facts,
    command: &Command,
    now: NaiveDateTime,
    policy: &DuePolicy,
) -> Result<Decision, Rejection> {
    use Action as A;
    use Command as C;
    let given = Given { case, now, policy };
    Ok(match (action, command) {
        (A::BeginScreening, C::Nothing) => screening::begin(given),
        (A::RecordDeconfliction, C::Deconfliction { result, note }) => {
            screening::record_deconfliction(given, *result, note)
        }
        (A::CloseNoFurtherAction, C::Threshold(t)) => screening::close_no_further_action(given, t),
        (
            A::Signpost,
            C::Signpost {
                threshold,
                referrals,
            },
        ) => screening::signpost(given, threshold, referrals),
        (A::ReferToChannel, C::Threshold(t)) => screening::refer_to_channel(given, facts, t),
        (A::ManageByPolice, C::Threshold(t)) => screening::manage_by_police(given, t),
        (A::TransferToPursue, C::Threshold(t)) => screening::transfer_to_pursue(given, t),
        (A::Close, C::Threshold(t)) => screening::close(given, t),
        (A::ListForPanel, C::Listing { meeting_id }) => panel::list(given, facts, meeting_id)?,
        (A::RecordPanelDecision, C::PanelDecision(d)) => panel::record_decision(given, d),
        (A::RecordSupportPlan, C::SupportPlan(plan)) => support::record_plan(given, plan),
        (
            A::RecordReview,
            C::Review {
                summary,
                next_review_on,
            },
        ) => support::record_review(given, summary, *next_review_on),
        (A::RecordConsent, C::Consent(c)) => consent::record(given, facts, c)?,
        (
            A::WithdrawConsent,
            C::Withdrawal {
                rationale,
                reassess_by,
            },
        ) => consent::withdraw(given, rationale, *reassess_by),
        (A::Reassess, C::Reassessment { outcome, threshold }) => {
            consent::reassess(given, *outcome, threshold)
        }
        (A::Exit, C::Threshold(t)) => exit::exit(given, t),
        (
            A::RecordPostExitReview,
            C::PostExitReview {
                review,
                new_concern,
                rationale,
            },
        ) => exit::record_review(given, *review, *new_concern, rationale)?,
        (A::RecordOnwardOutcome, C::OnwardOutcome { id, outcome, note }) => {
            onward::record_outcome(given, facts, *id, *outcome, note)?
        }
        (A::CorrectDetails, C::Correction(c)) => correction::correct(given, facts, c)?,
        (action, _) => {
            return Err(Rejection::Inconsistent(format!(
                "{action} was given another action's command"
            )));
        }
    })
}
