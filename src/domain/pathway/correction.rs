//! Rectification: the subject's or referrer's details corrected, in any state but the
//! terminal ones.

use super::decision::{Decision, Details, Facts, Given, Rejection, Write, invalid};
use crate::domain::correction::{Correction, apply};

/// `correct_details`: the stored referral with the correction applied must still be a
/// valid referral. The state and its due date stay as they are; the entry names the
/// fields changed, never their values.
pub(super) fn correct(given: Given, facts: &Facts, c: &Correction) -> Result<Decision, Rejection> {
    let Some(stored) = facts.referral.as_ref() else {
        return Err(invalid(
            "subject",
            "not_held",
            "The case holds no details to correct.",
        ));
    };
    let (referral, changed) = apply(stored, c, given.now.date()).map_err(Rejection::Invalid)?;
    let mut decision = given.to(given.case.state);
    decision.due = given.case.due;
    decision
        .writes
        .push(Write::CorrectReferral(Box::new(referral)));
    decision.rationale = Some(c.reason.clone());
    decision.details = Details::Correction { fields: changed };
    Ok(decision)
}
