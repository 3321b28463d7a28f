//! Support: the plan consent is sought for, and its reviews.

use chrono::NaiveDate;

use super::State;
use super::decision::{Decision, Details, Given, day_end};
use crate::domain::due::DueKind;

/// `record_support_plan`: before consent, or during support, where the review already
/// due stays due.
pub(super) fn record_plan(given: Given, plan: &serde_json::Value) -> Decision {
    let state = given.case.state;
    let mut decision = given.to(state);
    if state == State::Support {
        decision.due = given.case.due;
    }
    decision.changes.support_plan = Some(plan.clone());
    decision.details = Details::SupportPlan {
        interventions: plan["interventions"].as_array().map_or(0, Vec::len),
    };
    decision
}

/// `record_review`: the next review is due by the date it sets, else after the
/// configured period.
pub(super) fn record_review(
    given: Given,
    summary: &str,
    next_review_on: Option<NaiveDate>,
) -> Decision {
    let mut decision = given.to(State::Support);
    if let Some(d) = next_review_on {
        decision.due = Some((DueKind::SupportReview, day_end(d)));
    }
    decision.rationale = Some(summary.to_owned());
    decision.details = Details::Review { next_review_on };
    decision
}
