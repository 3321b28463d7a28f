//! Retention: when a case is reviewed, the decisions a review records, and what an
//! erasure keeps. Pure rules; the use cases are in `app::retention`.

use std::collections::BTreeSet;

use chrono::{Months, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::borrow::Cow;

use validator::{Validate, ValidationError, ValidationErrors};

use super::pathway::State;
use super::{FieldError, rules};

/// How long each kind of closed record is kept before its first review (configurable,
/// `[retention]`; years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// After leaving Channel: exit, or closing after adoption as a Channel case.
    pub left_channel_years: u32,
    /// After closing with no further action.
    pub no_further_action_years: u32,
    /// After closing once every onward referral was answered.
    pub signposted_years: u32,
    /// After a police-led closure, and after a transfer to Pursue: outside police a
    /// transfer reads as a police-led closure, so its review date must not tell the
    /// two apart.
    pub police_closed_years: u32,
    /// After a panel did not adopt the case and closed it.
    pub not_adopted_years: u32,
    /// After any other closing.
    pub other_years: u32,
}

impl Default for RetentionPolicy {
    fn default() -> RetentionPolicy {
        RetentionPolicy {
            left_channel_years: 6,
            no_further_action_years: 3,
            signposted_years: 6,
            police_closed_years: 6,
            not_adopted_years: 6,
            other_years: 6,
        }
    }
}

fn years_after(t: NaiveDateTime, years: u32) -> NaiveDateTime {
    t.checked_add_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(NaiveDateTime::MAX)
}

impl RetentionPolicy {
    /// The review date of a case entering `state` at `now` with `outcome` (set when
    /// closed); `exited_at` is when it left Channel, if it did. `None` while the case is
    /// still open: only terminal states and exit are reviewed.
    pub fn review_date(
        &self,
        state: State,
        outcome: Option<&str>,
        exited_at: Option<NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Option<NaiveDateTime> {
        match state {
            State::Exited => Some(years_after(
                exited_at.unwrap_or(now),
                self.left_channel_years,
            )),
            State::TransferredToPursue => Some(years_after(now, self.police_closed_years)),
            State::Closed => {
                let (from, years) = match outcome {
                    Some("exited_channel") => (exited_at.unwrap_or(now), self.left_channel_years),
                    Some("closed_after_reassessment") => (now, self.left_channel_years),
                    Some("no_further_action") => (now, self.no_further_action_years),
                    Some("signposted") => (now, self.signposted_years),
                    Some("police_closed") => (now, self.police_closed_years),
                    Some("not_adopted") => (now, self.not_adopted_years),
                    _ => (now, self.other_years),
                };
                Some(years_after(from, years))
            }
            _ => None,
        }
    }
}

/// Whether a case with review date `review_due_at` is due for review at `now`.
pub fn is_due(review_due_at: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    review_due_at.is_some_and(|t| t <= now)
}

/// Why a record is kept past its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetainReason {
    /// A safeguarding concern about the person is still live.
    OngoingSafeguardingConcern,
    /// A later referral about the person is still open.
    LinkedCaseOpen,
    /// Proceedings (criminal, civil, family) need the record.
    LegalProceedings,
    /// A complaint or an inquiry needs the record.
    ComplaintOrInquiry,
    /// A statute requires keeping it longer.
    StatutoryRequirement,
    /// Something else, said in the justification.
    Other,
}

impl RetainReason {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RetainReason::OngoingSafeguardingConcern => "ongoing_safeguarding_concern",
            RetainReason::LinkedCaseOpen => "linked_case_open",
            RetainReason::LegalProceedings => "legal_proceedings",
            RetainReason::ComplaintOrInquiry => "complaint_or_inquiry",
            RetainReason::StatutoryRequirement => "statutory_requirement",
            RetainReason::Other => "other",
        }
    }
}

/// The body of `POST /v1/cases/{id}/retention`, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetentionBody {
    /// Keep the record, with a coded reason, a justification and the next review date.
    Retain {
        /// Why, coded.
        reason_code: RetainReason,
        /// Why, in words (1 to 2000 characters).
        #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
        justification: String,
        /// The next review, a day in the future.
        next_review_on: NaiveDate,
    },
    /// Place a legal hold: the record cannot be erased until it is released.
    Hold {
        /// Why (1 to 2000 characters).
        #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
        reason: String,
    },
    /// Release a legal hold.
    Release {
        /// Why (1 to 2000 characters).
        #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
        reason: String,
    },
    /// Erase the personal data of this case and of the other cases named (linked cases
    /// about the same person).
    Erase {
        /// The linked cases erased with it (at most 100).
        #[serde(default)]
        #[schema(max_items = 100)]
        case_ids: Vec<uuid::Uuid>,
    },
}

/// A validated retention decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionCommand {
    /// Keep until `next_review_on`.
    Retain {
        /// Coded reason.
        reason: RetainReason,
        /// Justification.
        justification: String,
        /// Next review.
        next_review_on: NaiveDate,
    },
    /// Place a legal hold.
    Hold(String),
    /// Release a legal hold.
    Release(String),
    /// Erase this case and the named linked ones.
    Erase(BTreeSet<String>),
}

impl RetentionCommand {
    /// The stored spelling of the decision.
    pub fn as_str(&self) -> &'static str {
        match self {
            RetentionCommand::Retain { .. } => "retain",
            RetentionCommand::Hold(_) => "hold",
            RetentionCommand::Release(_) => "release",
            RetentionCommand::Erase(_) => "erase",
        }
    }

    /// Whether the decision needs the case to be due for review (hold and release may
    /// be recorded at any time).
    pub fn needs_due(&self) -> bool {
        matches!(
            self,
            RetentionCommand::Retain { .. } | RetentionCommand::Erase(_)
        )
    }
}

/// Longest justification or reason.
pub const MAX_TEXT: usize = 2000;
/// Most linked cases one erasure may name.
pub const MAX_CASE_IDS: usize = 100;

/// Trimmed; blank once trimmed is `required` (the lengths are the declared rules').
fn text(field: &str, value: String, errors: &mut Vec<FieldError>) -> String {
    let value = value.trim().to_owned();
    if value.is_empty() {
        errors.push(FieldError::new(
            field,
            "required",
            format!("{field} is required"),
        ));
    }
    value
}

/// The declared field rules of each decision, stated as `#[derive(Validate)]` would state
/// them (validator derives for structs only; this body is an internally tagged enum, whose
/// document shape a struct per variant would change), so that their failures map onto
/// `errors[]` in `rules` like every other body's.
impl Validate for RetentionBody {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut length = |field: &'static str, value: serde_json::Value, len: usize, min, max| {
            if len < min || len > max {
                let mut e = ValidationError::new("length");
                e.add_param(Cow::Borrowed("min"), &min);
                e.add_param(Cow::Borrowed("max"), &max);
                e.add_param(Cow::Borrowed("value"), &value);
                errors.add(field, e);
            }
        };
        match self {
            RetentionBody::Retain { justification, .. } => length(
                "justification",
                justification.as_str().into(),
                justification.chars().count(),
                1,
                MAX_TEXT,
            ),
            RetentionBody::Hold { reason } | RetentionBody::Release { reason } => length(
                "reason",
                reason.as_str().into(),
                reason.chars().count(),
                1,
                MAX_TEXT,
            ),
            RetentionBody::Erase { case_ids } => length(
                "case_ids",
                serde_json::json!(case_ids),
                case_ids.len(),
                0,
                MAX_CASE_IDS,
            ),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl RetentionBody {
    /// Checks the values; `today` decides what is in the future.
    pub fn decide(self, today: NaiveDate) -> Result<RetentionCommand, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let command = match self {
            RetentionBody::Retain {
                reason_code,
                justification,
                next_review_on,
            } => {
                let justification = text("justification", justification, &mut errors);
                if next_review_on <= today {
                    errors.push(FieldError::new(
                        "next_review_on",
                        "not_in_future",
                        "The next review must be a day after today.",
                    ));
                }
                RetentionCommand::Retain {
                    reason: reason_code,
                    justification,
                    next_review_on,
                }
            }
            RetentionBody::Hold { reason } => {
                RetentionCommand::Hold(text("reason", reason, &mut errors))
            }
            RetentionBody::Release { reason } => {
                RetentionCommand::Release(text("reason", reason, &mut errors))
            }
            RetentionBody::Erase { case_ids } => {
                RetentionCommand::Erase(case_ids.iter().map(ToString::to_string).collect())
            }
        };
        let errors = rules::merged(errors, declared);
        if errors.is_empty() {
            Ok(command)
        } else {
            Err(errors)
        }
    }
}

/// A case an erasure would cover, as the rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureCandidate {
    /// Id.
    pub id: String,
    /// Due for review now.
    pub due: bool,
    /// Under a legal hold.
    pub legal_hold: bool,
}

/// Why an erasure is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureRefusal {
    /// The case itself is not due for review.
    NotDue,
    /// A case that would be erased is under a legal hold.
    LegalHold,
    /// A linked case is not due for review and the request does not name it.
    LinkedCasesNotDue,
    /// The request names a case that is not linked to this one.
    NotLinked,
}

/// The cases an erasure of `target` removes: itself and every linked case (the
/// linked cases the decider may decide on). Refused unless the target is due, every
/// linked case is due or named, every named case is linked, and none is held.
pub fn erasure_set(
    target: &ErasureCandidate,
    linked: &[ErasureCandidate],
    named: &BTreeSet<String>,
) -> Result<Vec<String>, ErasureRefusal> {
    if !target.due {
        return Err(ErasureRefusal::NotDue);
    }
    if named
        .iter()
        .any(|n| *n != target.id && !linked.iter().any(|l| l.id == *n))
    {
        return Err(ErasureRefusal::NotLinked);
    }
    if linked.iter().any(|l| !l.due && !named.contains(&l.id)) {
        return Err(ErasureRefusal::LinkedCasesNotDue);
    }
    if target.legal_hold || linked.iter().any(|l| l.legal_hold) {
        return Err(ErasureRefusal::LegalHold);
    }
    let mut ids = vec![target.id.clone()];
    ids.extend(linked.iter().map(|l| l.id.clone()));
    Ok(ids)
}

/// The keys of a history entry's details that are coded (kept on erasure); every other
/// key (an assessment, free text) is personal and removed.
pub const CODED_DETAIL_KEYS: [&str; 15] = [
    "decision",
    "how_reached",
    "next_step",
    "result",
    "onward_referrals",
    "onward_referral_id",
    "outcome",
    "meeting_id",
    "panel_id",
    "given_by",
    "interventions",
    "next_review_on",
    "reassess_by",
    "review",
    "new_concern",
];

/// A history entry's details with only the coded keys kept.
pub fn coded_details(details: &Value) -> Value {
    match details {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| CODED_DETAIL_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Object(Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_ending_gets_its_review_date() {
        let p = RetentionPolicy::default();
        let now = at("2026-11-23 09:00");
        let exit = at("2025-11-01 10:00");
        let cases = [
            (
                State::Exited,
                None,
                Some(exit),
                Some(at("2031-11-01 10:00")),
            ),
            (
                State::Closed,
                Some("exited_channel"),
                Some(exit),
                Some(at("2031-11-01 10:00")),
            ),
            (
                State::Closed,
                Some("closed_after_reassessment"),
                None,
                Some(at("2032-11-23 09:00")),
            ),
            (
                State::Closed,
                Some("no_further_action"),
                None,
                Some(at("2029-11-23 09:00")),
            ),
            (
                State::Closed,
                Some("signposted"),
                None,
                Some(at("2032-11-23 09:00")),
            ),
            (
                State::TransferredToPursue,
                None,
                None,
                Some(at("2032-11-23 09:00")),
            ),
            (State::Support, None, None, None),
            (State::Screening, None, None, None),
        ];
        for (state, outcome, exited, expected) in cases {
            assert_eq!(
                p.review_date(state, outcome, exited, now),
                expected,
                "{state} {outcome:?}"
            );
        }
    }

    #[test]
    fn every_period_is_configurable() {
        let p = RetentionPolicy {
            not_adopted_years: 1,
            police_closed_years: 2,
            other_years: 4,
            ..RetentionPolicy::default()
        };
        let now = at("2026-11-23 09:00");
        let review = |o| p.review_date(State::Closed, Some(o), None, now);
        assert_eq!(review("not_adopted"), Some(at("2027-11-23 09:00")));
        assert_eq!(review("police_closed"), Some(at("2028-11-23 09:00")));
        assert_eq!(review("closed"), Some(at("2030-11-23 09:00")));
        // A transfer to Pursue is reviewed as the police-led closure it reads as.
        assert_eq!(
            p.review_date(State::TransferredToPursue, None, None, now),
            review("police_closed")
        );
    }

    #[test]
    fn due_means_the_date_has_come() {
        let now = at("2026-11-23 09:00");
        assert!(is_due(Some(now), now));
        assert!(!is_due(Some(at("2026-11-24 09:00")), now));
        assert!(!is_due(None, now));
    }

    #[test]
    fn bodies_validate_on_parse_and_refuse_unknown_fields() {
        let today = day("2026-11-23");
        let parse = |v: Value| serde_json::from_value::<RetentionBody>(v);
        let ok = parse(
            serde_json::json!({"decision": "retain", "reason_code": "legal_proceedings",
            "justification": " Trial pending. ", "next_review_on": "2027-01-01"}),
        )
        .unwrap()
        .decide(today)
        .unwrap();
        assert_eq!(
            ok,
            RetentionCommand::Retain {
                reason: RetainReason::LegalProceedings,
                justification: "Trial pending.".into(),
                next_review_on: day("2027-01-01"),
            }
        );
        let past = parse(
            serde_json::json!({"decision": "retain", "reason_code": "other",
            "justification": "x", "next_review_on": "2026-11-23"}),
        )
        .unwrap()
        .decide(today)
        .unwrap_err();
        assert_eq!(past[0].code, "not_in_future");
        let empty = parse(serde_json::json!({"decision": "hold", "reason": "  "}))
            .unwrap()
            .decide(today)
            .unwrap_err();
        assert_eq!(empty[0].field, "reason");
        assert!(parse(serde_json::json!({"decision": "hold", "reason": "x", "extra": 1})).is_err());
        assert!(parse(serde_json::json!({"decision": "delete"})).is_err());
        assert!(
            parse(serde_json::json!({"decision": "retain", "reason_code": "because"})).is_err()
        );
        let erase = parse(serde_json::json!({"decision": "erase"}))
            .unwrap()
            .decide(today)
            .unwrap();
        assert_eq!(erase, RetentionCommand::Erase(BTreeSet::new()));
        assert!(erase.needs_due());
        assert!(!RetentionCommand::Hold("x".into()).needs_due());
    }

    fn candidate(id: &str, due: bool, hold: bool) -> ErasureCandidate {
        ErasureCandidate {
            id: id.into(),
            due,
            legal_hold: hold,
        }
    }

    #[test]
    fn an_erasure_covers_every_linked_case_and_waits_for_them() {
        let none = BTreeSet::new();
        let named: BTreeSet<String> = ["b".to_owned()].into();
        let a = candidate("a", true, false);
        assert_eq!(erasure_set(&a, &[], &none), Ok(vec!["a".into()]));
        assert_eq!(
            erasure_set(&candidate("a", false, false), &[], &none),
            Err(ErasureRefusal::NotDue)
        );
        assert_eq!(
            erasure_set(&candidate("a", true, true), &[], &none),
            Err(ErasureRefusal::LegalHold)
        );
        let b_open = candidate("b", false, false);
        assert_eq!(
            erasure_set(&a, std::slice::from_ref(&b_open), &none),
            Err(ErasureRefusal::LinkedCasesNotDue)
        );
        assert_eq!(
            erasure_set(&a, std::slice::from_ref(&b_open), &named),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            erasure_set(&a, &[candidate("b", true, false)], &none),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            erasure_set(&a, &[candidate("b", true, true)], &named),
            Err(ErasureRefusal::LegalHold)
        );
        assert_eq!(erasure_set(&a, &[], &named), Err(ErasureRefusal::NotLinked));
    }

    #[test]
    fn erased_details_keep_only_coded_keys() {
        let details = serde_json::json!({"decision": "adopt", "how_reached": "unanimous",
            "assessment": {"summary": "Personal"}, "next_step": null});
        assert_eq!(
            coded_details(&details),
            serde_json::json!({"decision": "adopt", "how_reached": "unanimous", "next_step": null})
        );
        assert_eq!(coded_details(&Value::Null), serde_json::json!({}));
    }
}
