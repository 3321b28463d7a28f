//! What taking an action decides. Each action of the table is one pure function in the
//! module of its stage; `decide` picks it by the row. What it needs beyond the case
//! ([`Facts`]) is read before it runs, and what it decides ([`Decision`]) is stored,
//! audited and sent by the use case afterwards.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use super::State;
use crate::domain::FieldError;
use crate::domain::command::{
    ConsentBy, ConsentDecision, Decision as PanelVerdict, HowReached, NextStep, PostExitReview,
    ReassessOutcome,
};
use crate::domain::command::{DeconflictionResult, OnwardOutcome, OnwardReferral};
use crate::domain::command::{ServiceType, Threshold};
use crate::domain::due::{DueKind, DuePolicy};
use crate::domain::referral::Referral;

/// A case as its actions' rules read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The subject's local authority: a meeting of another area's panel is unknown to it.
    pub area: String,
    /// Where it is.
    pub state: State,
    /// What it waits for, and by when.
    pub due: Option<(DueKind, NaiveDateTime)>,
    /// A support plan is recorded (consent is given to one).
    pub has_support_plan: bool,
    /// When it left Channel.
    pub exited_at: Option<NaiveDateTime>,
}

/// What an action needs to know beyond the case, read before it runs: only what its
/// command asks for is filled in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The acting officer's email: a referral to Channel records who made it.
    pub actor_email: String,
    /// The meeting a listing names, if there is one.
    pub meeting: Option<Meeting>,
    /// The ids of the case's onward referrals still pending.
    pub pending_onward: Vec<String>,
    /// What the subject's age on a day is worked out from.
    pub subject_age: SubjectAge,
    /// The case's stored referral (for a correction), when it is readable.
    pub referral: Option<serde_json::Value>,
}

/// A meeting a listing names, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// Its id.
    pub id: String,
    /// Its panel.
    pub panel_id: String,
    /// The local authority its panel serves.
    pub panel_area: String,
    /// When it meets.
    pub scheduled_for: NaiveDateTime,
    /// The case is already on its agenda.
    pub lists_case: bool,
}

/// What an action decides: where the case goes, what changes, what is recorded of it,
/// what else is written, and who is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state it leads to.
    pub next: State,
    /// What the case waits for next, and by when.
    pub due: Option<(DueKind, NaiveDateTime)>,
    /// The coded reason, of a threshold decision.
    pub reason_code: Option<&'static str>,
    /// Why, in words.
    pub rationale: Option<String>,
    /// The history entry's details.
    pub details: Details,
    /// The case's fields it changes.
    pub changes: Changes,
    /// What is written beside the case.
    pub writes: Vec<Write>,
    /// Who is told.
    pub notices: Vec<Notify>,
    /// How the case closed, when it closes.
    pub outcome: Option<&'static str>,
}

/// The fields of a case an action sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The deconfliction result (police only).
    pub deconfliction: Option<DeconflictionRecord>,
    /// The support plan, as stored.
    pub support_plan: Option<serde_json::Value>,
    /// The latest consent decision, as stored.
    pub consent: Option<serde_json::Value>,
    /// When the case left Channel.
    pub exited_at: Option<NaiveDateTime>,
    /// The officer who referred the case to Channel.
    pub officer_email: Option<String>,
}

/// A deconfliction result as the case keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeconflictionRecord {
    /// The result.
    pub result: DeconflictionResult,
    /// The police-only note.
    pub note: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The details of a history entry, by action; serialised as the entry stores them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// Nothing beyond the entry's own columns: `{}`.
    Nothing {},
    /// A deconfliction's result.
    Deconfliction {
        /// The result.
        result: DeconflictionResult,
    },
    /// The onward referrals a signposting made.
    Signposted {
        /// Each one's id and kind of service.
        onward_referrals: Vec<Onward>,
    },
    /// A service's answer to an onward referral.
    OnwardOutcome {
        /// Which onward referral.
        onward_referral_id: uuid::Uuid,
        /// Its answer.
        outcome: OnwardOutcome,
    },
    /// The meeting a case was listed for.
    Listing {
        /// The meeting.
        meeting_id: String,
        /// Its panel.
        panel_id: String,
    },
    /// The panel's decision.
    PanelDecision {
        /// Adopt, not adopt or defer.
        decision: PanelVerdict,
        /// How it was reached.
        how_reached: HowReached,
        /// What happens to a case not adopted.
        next_step: Option<NextStep>,
        /// The assessment, as stored.
        assessment: Option<serde_json::Value>,
        /// The onward referrals made, when the next step is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        onward_referrals: Option<Vec<Onward>>,
    },
    /// A support plan's size.
    SupportPlan {
        /// How many interventions it has.
        interventions: usize,
    },
    /// A consent decision.
    Consent {
        /// Given or refused.
        decision: ConsentDecision,
        /// Whose.
        given_by: ConsentBy,
    },
    /// A re-assessment's outcome.
    Reassessment {
        /// What next.
        outcome: ReassessOutcome,
    },
    /// A support review.
    Review {
        /// The next review's date, if it set one.
        next_review_on: Option<NaiveDate>,
    },
    /// Consent withdrawn.
    Withdrawal {
        /// The re-assessment's date, if it set one.
        reassess_by: Option<NaiveDate>,
    },
    /// A correction: which fields changed, never their values.
    Correction {
        /// Their paths (`subject.family_name`).
        fields: Vec<String>,
    },
    /// A post-exit review.
    PostExitReview {
        /// Which.
        review: PostExitReview,
        /// A new concern returns the case to the panel.
        new_concern: bool,
    },
}

/// An onward referral as a history entry names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Onward {
    /// Its id.
    pub id: String,
    /// The kind of service.
    pub service_type: ServiceType,
}

/// An onward referral to insert, pending, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOnward {
    /// Its id.
    pub id: String,
    /// The service and why.
    pub referral: OnwardReferral,
}

/// What an action writes beside the case row.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put the case on a meeting's agenda.
    ListOnAgenda {
        /// The meeting.
        meeting_id: String,
    },
    /// Insert onward referrals, pending.
    InsertOnward(Vec<NewOnward>),
    /// Record a service's answer to a pending onward referral.
    ResolveOnward {
        /// Which.
        id: uuid::Uuid,
        /// Its answer.
        outcome: OnwardOutcome,
        /// What the service said.
        note: Option<String>,
    },
    /// Replace the case's referral with the corrected one (and link it anew).
    CorrectReferral(Box<Referral>),
}

/// Who an action tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Notify {
    /// The area's Channel chairs, of a referral to Channel.
    Chairs,
    /// The members of a meeting's panel, of the case's listing.
    PanelMembers {
        /// The panel.
        panel_id: String,
        /// When the meeting is.
        meeting_at: NaiveDateTime,
    },
    /// The members of the panels that listed the case, and its referring officer.
    MembersAndOfficer {
        /// What happened, in words.
        event: &'static str,
    },
}

/// Why a decision was not reached.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The command asks what the case does not allow: the fields at fault (422).
    Invalid(Vec<FieldError>),
    /// The command is not the action's, or leads where its row does not: a fault of
    /// the code, never of the request.
    Inconsistent(String),
}

/// What every action's rule is given besides its command and facts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Given<'a> {
    /// The case.
    pub case: &'a Case,
    /// The time of the action.
    pub now: NaiveDateTime,
    /// How long each wait may last.
    pub policy: &'a DuePolicy,
}

impl Given<'_> {
    /// Leads to `next`, with the due date the policy gives on entering it (keeping the
    /// case's own where the policy says so), and nothing else.
    pub(super) fn to(self, next: State) -> Decision {
        Decision {
            next,
            due: self.policy.on_entering(next, self.now, self.case.due),
            reason_code: None,
            rationale: None,
            details: Details::Nothing {},
            changes: Changes::default(),
            writes: Vec::new(),
            notices: Vec::new(),
            outcome: None,
        }
    }
}

impl Decision {
    /// With a threshold decision's reason code and rationale.
    pub(super) fn because(self, threshold: &Threshold) -> Decision {
        Decision {
            reason_code: Some(threshold.reason_code),
            rationale: Some(threshold.rationale.clone()),
            ..self
        }
    }

    /// Closing with `outcome`, if it leads to closed.
    pub(super) fn closed_as(self, outcome: &'static str) -> Decision {
        Decision {
            outcome: (self.next == State::Closed).then_some(outcome),
            ..self
        }
    }
}

/// The end of day `d`: a date a review or re-assessment is due by.
pub(super) fn day_end(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(23, 59, 59).unwrap_or_default()
}

/// A refusal of one field.
pub(super) fn invalid(field: &str, code: &str, message: &str) -> Rejection {
    Rejection::Invalid(vec![FieldError::new(field, code, message)])
}

pub use crate::domain::referral::SubjectAge;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::actions::ActionBody;
    use crate::domain::command::Command;
    use crate::domain::pathway::{Action, PATHWAY, decide};
    use crate::domain::payload::{WithBody, with_body};
    use Action::*;
    use State::*;

    const MEETING: &str = "0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f";
    const ONWARD: &str = "0196a1c2-7e3b-7c1d-9f00-000000000001";
    const OTHER_ONWARD: &str = "0196a1c2-7e3b-7c1d-9f00-000000000002";

    fn now() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-11-20 10:00", "%Y-%m-%d %H:%M").unwrap()
    }

    /// A case in `state` with a support plan, and the facts every action may ask for:
    /// a meeting of its area next week, two pending onward referrals, an adult subject,
    /// and a stored referral.
    fn arranged(state: State) -> (Case, Facts) {
        let case = Case {
            area: "E08000035".into(),
            state,
            due: None,
            has_support_plan: true,
            exited_at: Some(now()),
        };
        let referral = serde_json::json!({
            "area": "E08000035",
            "subject": {"given_name": "Sam", "family_name": "Taylor", "date_of_birth": "2000-03-14"},
            "referrer": {"name": "Jo Smith", "role": "Teacher", "organisation": "Leeds Academy",
                         "sector": "education", "email": "jo.smith@school.example"},
            "concern": {"narrative": "Shared extreme material in class and talked of harm."},
        });
        let facts = Facts {
            actor_email: "officer.one@police.example".into(),
            meeting: Some(Meeting {
                id: MEETING.into(),
                panel_id: "panel".into(),
                panel_area: "E08000035".into(),
                scheduled_for: now() + chrono::Duration::days(7),
                lists_case: false,
            }),
            pending_onward: vec![ONWARD.into(), OTHER_ONWARD.into()],
            subject_age: SubjectAge {
                date_of_birth: NaiveDate::from_ymd_opt(2000, 3, 14),
                approximate_age: None,
                filed_on: now().date(),
            },
            referral: Some(referral),
        };
        (case, facts)
    }

    /// The command a body asks `action` for, as the API parses it.
    fn command(action: Action, body: &str) -> Command {
        struct Parse(Action, serde_json::Value);
        impl WithBody for Parse {
            type Output = Command;
            fn with<B: ActionBody>(self) -> Command {
                let body: B = serde_json::from_value(self.1).expect("the body parses");
                body.into_command(self.0, now().date())
                    .expect("the body is valid")
            }
        }
        let payload = PATHWAY.iter().find(|t| t.action == action).unwrap().payload;
        with_body(payload, Parse(action, serde_json::from_str(body).unwrap()))
    }

    /// A change to the arranged case or facts that a path needs.
    type Arrange = fn(&mut Case, &mut Facts);
    fn as_arranged(_: &mut Case, _: &mut Facts) {}
    fn six_month_review_due(case: &mut Case, _: &mut Facts) {
        case.due = Some((DueKind::PostExitSixMonth, now()));
    }
    fn twelve_month_review_due(case: &mut Case, _: &mut Facts) {
        case.due = Some((DueKind::PostExitTwelveMonth, now()));
    }
    fn last_pending(_: &mut Case, facts: &mut Facts) {
        facts.pending_onward = vec![ONWARD.into()];
    }

    /// What the bodies of [`PATHS`] write as `$WHY`, `$ONWARD`, `$MEETING` and `$SERVICE`.
    const PLACEHOLDERS: [(&str, &str); 4] = [
        (
            "$WHY",
            r#""rationale": "A rationale of more than ten characters.""#,
        ),
        ("$ONWARD", ONWARD),
        ("$MEETING", MEETING),
        (
            "$SERVICE",
            r#"{"service_type": "mental_health", "organisation": "CAMHS", "reason": "Low mood."}"#,
        ),
    ];

    /// Every path of the table but corrections: a state, an action, a valid body, what
    /// the path needs of the case, and the state it leads to.
    #[rustfmt::skip]
    const PATHS: &[(State, Action, &str, Arrange, State)] = &[
        (Submitted, BeginScreening, "{}", as_arranged, Screening),
        (Screening, RecordDeconfliction, r#"{"result": "clear"}"#, as_arranged, Screening),
        (Screening, CloseNoFurtherAction, r#"{"reason_code": "no_prevent_concern", $WHY}"#, as_arranged, Closed),
        (Screening, Signpost, r#"{"reason_code": "other", $WHY, "onward_referrals": [$SERVICE]}"#, as_arranged, OnwardReferral),
        (Screening, ReferToChannel, r#"{"reason_code": "other", $WHY}"#, as_arranged, AwaitingPanel),
        (Screening, ManageByPolice, r#"{"reason_code": "other", $WHY}"#, as_arranged, PoliceManaged),
        (Screening, TransferToPursue, r#"{"reason_code": "terrorism_risk", $WHY}"#, as_arranged, TransferredToPursue),
        (Screening, Close, r#"{"reason_code": "risk_reduced", $WHY}"#, as_arranged, Closed),
        (PoliceManaged, Close, r#"{"reason_code": "risk_reduced", $WHY}"#, as_arranged, Closed),
        (PoliceManaged, ReferToChannel, r#"{"reason_code": "other", $WHY}"#, as_arranged, AwaitingPanel),
        (AwaitingPanel, ListForPanel, r#"{"meeting_id": "$MEETING"}"#, as_arranged, PanelListed),
        (PanelListed, RecordPanelDecision, r#"{"decision": "adopt", "reason_code": "other", $WHY, "how_reached": "unanimous"}"#, as_arranged, ConsentPending),
        (PanelListed, RecordPanelDecision, r#"{"decision": "defer", "reason_code": "other", $WHY, "how_reached": "unanimous"}"#, as_arranged, AwaitingPanel),
        (PanelListed, RecordPanelDecision, r#"{"decision": "not_adopt", "reason_code": "other", $WHY, "how_reached": "majority",
            "health_or_social_care_considered": true, "next_step": "onward_referral", "onward_referrals": [$SERVICE]}"#, as_arranged, OnwardReferral),
        (PanelListed, RecordPanelDecision, r#"{"decision": "not_adopt", "reason_code": "other", $WHY, "how_reached": "majority",
            "health_or_social_care_considered": true, "next_step": "police_managed"}"#, as_arranged, PoliceManaged),
        (PanelListed, RecordPanelDecision, r#"{"decision": "not_adopt", "reason_code": "other", $WHY, "how_reached": "majority",
            "health_or_social_care_considered": true, "next_step": "closed"}"#, as_arranged, Closed),
        (ConsentPending, RecordSupportPlan, r#"{"interventions": [{"type": "ideological_mentoring", "provider": "Provider", "frequency": "weekly",
            "start_date": "2026-12-01"}]}"#, as_arranged, ConsentPending),
        (ConsentPending, RecordConsent, r#"{"decision": "given", "given_by": "subject", "decided_on": "2026-11-19",
            "how_sought": "in_person"}"#, as_arranged, Support),
        (ConsentPending, RecordConsent, r#"{"decision": "refused", "given_by": "subject", "decided_on": "2026-11-19",
            "how_sought": "in_person"}"#, as_arranged, ConsentRefused),
        (ConsentRefused, Reassess, r#"{"outcome": "seek_consent", "reason_code": "other", $WHY}"#, as_arranged, ConsentPending),
        (ConsentRefused, Reassess, r#"{"outcome": "police_managed", "reason_code": "other", $WHY}"#, as_arranged, PoliceManaged),
        (ConsentRefused, Reassess, r#"{"outcome": "closed", "reason_code": "other", $WHY}"#, as_arranged, Closed),
        (Support, RecordSupportPlan, r#"{"interventions": [{"type": "housing", "provider": "Provider", "frequency": "weekly",
            "start_date": "2026-12-01"}]}"#, as_arranged, Support),
        (Support, RecordReview, r#"{"summary": "Attending mentoring weekly."}"#, as_arranged, Support),
        (Support, WithdrawConsent, r#"{$WHY}"#, as_arranged, ConsentRefused),
        (Support, Exit, r#"{"reason_code": "support_completed", $WHY}"#, as_arranged, Exited),
        (Exited, RecordPostExitReview, r#"{"review": "six_month", "new_concern": false, $WHY}"#, six_month_review_due, Exited),
        (Exited, RecordPostExitReview, r#"{"review": "twelve_month", "new_concern": false, $WHY}"#, twelve_month_review_due, Closed),
        (Exited, RecordPostExitReview, r#"{"review": "six_month", "new_concern": true, $WHY}"#, six_month_review_due, AwaitingPanel),
        (OnwardReferral, RecordOnwardOutcome, r#"{"onward_referral_id": "$ONWARD", "outcome": "acknowledged"}"#, as_arranged, OnwardReferral),
        (OnwardReferral, RecordOnwardOutcome, r#"{"onward_referral_id": "$ONWARD", "outcome": "declined"}"#, last_pending, Closed),
    ];

    /// The body of a path, its placeholders filled in.
    fn body(template: &str) -> String {
        PLACEHOLDERS
            .iter()
            .fold(template.to_owned(), |body, (name, value)| {
                body.replace(name, value)
            })
    }

    /// Every path of the table: [`PATHS`], and a correction in every state it may be
    /// made in, which stays there.
    fn paths() -> Vec<(State, Action, String, Arrange, State)> {
        let correction =
            r#"{"reason": "The school misspelt the name.", "subject": {"family_name": "Tailor"}}"#;
        let corrections = State::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(|s| {
                (
                    s,
                    CorrectDetails,
                    correction.to_owned(),
                    as_arranged as Arrange,
                    s,
                )
            });
        PATHS
            .iter()
            .map(|(from, action, template, arrange, to)| {
                (*from, *action, body(template), *arrange, *to)
            })
            .chain(corrections)
            .collect()
    }

    /// Every row of the table, and every state each may lead to, is taken by a path
    /// with a valid command, and leads where the path says.
    #[test]
    fn every_path_of_the_table_leads_where_it_says() {
        let paths = paths();
        for row in PATHWAY {
            for to in row.to {
                let taken = paths
                    .iter()
                    .any(|p| (p.0, p.1, p.4) == (row.from, row.action, *to));
                assert!(
                    taken,
                    "no path takes {} from {} to {to}",
                    row.action, row.from
                );
            }
        }
        for (from, action, body, arrange, expected) in paths {
            let row = PATHWAY
                .iter()
                .find(|t| t.from == from && t.action == action)
                .unwrap_or_else(|| panic!("{action} from {from} is a row"));
            let (mut case, mut facts) = arranged(from);
            arrange(&mut case, &mut facts);
            let command = command(action, &body);
            let decided = decide(row, &case, &facts, &command, now(), &DuePolicy::default());
            assert_eq!(
                decided.map(|d| d.next),
                Ok(expected),
                "{action} from {from}"
            );
        }
    }

    #[test]
    fn a_command_of_another_action_is_a_fault_of_the_code() {
        let (case, facts) = arranged(Submitted);
        let close = command(Close, &body(r#"{"reason_code": "other", $WHY}"#));
        let decided = decide(
            &PATHWAY[0],
            &case,
            &facts,
            &close,
            now(),
            &DuePolicy::default(),
        );
        assert!(matches!(decided, Err(Rejection::Inconsistent(_))));
    }

    fn another_areas_meeting(_: &mut Case, facts: &mut Facts) {
        if let Some(m) = facts.meeting.as_mut() {
            m.panel_area = "E08000036".into();
        }
    }
    fn a_past_meeting(_: &mut Case, facts: &mut Facts) {
        if let Some(m) = facts.meeting.as_mut() {
            m.scheduled_for = now() - chrono::Duration::days(1);
        }
    }
    fn already_listed(_: &mut Case, facts: &mut Facts) {
        if let Some(m) = facts.meeting.as_mut() {
            m.lists_case = true;
        }
    }
    fn a_child(_: &mut Case, facts: &mut Facts) {
        facts.subject_age.date_of_birth = NaiveDate::from_ymd_opt(2012, 3, 14);
    }
    fn no_plan(case: &mut Case, _: &mut Facts) {
        case.has_support_plan = false;
    }
    fn none_pending(_: &mut Case, facts: &mut Facts) {
        facts.pending_onward.clear();
    }
    fn no_referral_held(_: &mut Case, facts: &mut Facts) {
        facts.referral = None;
    }

    /// The refusals that depend on the case: a state, an action, a valid body, what
    /// makes the case refuse it, and the field and code of the refusal.
    #[rustfmt::skip]
    const REFUSALS: &[(State, Action, &str, Arrange, &str, &str)] = &[
        (AwaitingPanel, ListForPanel, r#"{"meeting_id": "$MEETING"}"#, another_areas_meeting, "meeting_id", "unknown_meeting"),
        (AwaitingPanel, ListForPanel, r#"{"meeting_id": "$ONWARD"}"#, as_arranged, "meeting_id", "unknown_meeting"),
        (AwaitingPanel, ListForPanel, r#"{"meeting_id": "$MEETING"}"#, a_past_meeting, "meeting_id", "meeting_in_past"),
        (AwaitingPanel, ListForPanel, r#"{"meeting_id": "$MEETING"}"#, already_listed, "meeting_id", "already_listed"),
        (ConsentPending, RecordConsent, r#"{"decision": "given", "given_by": "subject", "decided_on": "2026-11-19",
            "how_sought": "in_person"}"#, a_child, "given_by", "guardian_consent_required"),
        (ConsentPending, RecordConsent, r#"{"decision": "given", "given_by": "subject", "decided_on": "2026-11-19",
            "how_sought": "in_person"}"#, no_plan, "decision", "support_plan_required"),
        (Exited, RecordPostExitReview, r#"{"review": "twelve_month", "new_concern": false, $WHY}"#, six_month_review_due, "review", "out_of_order"),
        (Exited, RecordPostExitReview, r#"{"review": "six_month", "new_concern": false, $WHY}"#, as_arranged, "review", "out_of_order"),
        (OnwardReferral, RecordOnwardOutcome, r#"{"onward_referral_id": "$ONWARD", "outcome": "declined"}"#, none_pending, "onward_referral_id", "not_pending"),
        (Support, CorrectDetails, r#"{"reason": "The school misspelt the name.", "subject": {"family_name": "Tailor"}}"#,
            no_referral_held, "subject", "not_held"),
    ];

    #[test]
    fn what_the_case_does_not_allow_is_refused_on_its_field() {
        for (from, action, template, arrange, field, code) in REFUSALS {
            let row = PATHWAY
                .iter()
                .find(|t| t.from == *from && t.action == *action)
                .unwrap_or_else(|| panic!("{action} from {from} is a row"));
            let (mut case, mut facts) = arranged(*from);
            arrange(&mut case, &mut facts);
            let command = command(*action, &body(template));
            let decided = decide(row, &case, &facts, &command, now(), &DuePolicy::default());
            let Err(Rejection::Invalid(errors)) = decided else {
                panic!("{action} from {from} is refused, not {decided:?}");
            };
            let got: Vec<(&str, &str)> = errors
                .iter()
                .map(|e| (e.field.as_str(), e.code.as_str()))
                .collect();
            assert_eq!(got, [(*field, *code)], "{action} from {from}");
        }
    }

    /// The history entry stores the details as they were always stored.
    #[test]
    fn details_serialise_as_stored() {
        let json = |d: &Details| serde_json::to_value(d).unwrap().to_string();
        assert_eq!(json(&Details::Nothing {}), "{}");
        assert_eq!(
            json(&Details::PanelDecision {
                decision: PanelVerdict::NotAdopt,
                how_reached: HowReached::Majority,
                next_step: Some(NextStep::OnwardReferral),
                assessment: None,
                onward_referrals: Some(vec![Onward {
                    id: "x".into(),
                    service_type: ServiceType::Housing
                }]),
            }),
            r#"{"assessment":null,"decision":"not_adopt","how_reached":"majority","next_step":"onward_referral","onward_referrals":[{"id":"x","service_type":"housing"}]}"#
        );
        assert_eq!(
            json(&Details::PanelDecision {
                decision: PanelVerdict::Adopt,
                how_reached: HowReached::Unanimous,
                next_step: None,
                assessment: None,
                onward_referrals: None,
            }),
            r#"{"assessment":null,"decision":"adopt","how_reached":"unanimous","next_step":null}"#
        );
        assert_eq!(
            json(&Details::Review {
                next_review_on: NaiveDate::from_ymd_opt(2026, 12, 1)
            }),
            r#"{"next_review_on":"2026-12-01"}"#
        );
    }
}
