//! The bodies of actions, validated on parse into commands the use cases apply. The
//! screening half's bodies are here, the Channel half's in `channel` and a correction's
//! in `correction`; each says with [`ActionBody`] what it lists and what it asks for.

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use validator::Validate;

use super::FieldError;
pub use super::command::{
    Command, DeconflictionResult, OnwardOutcome, OnwardReferral, ServiceType, Threshold,
};
use super::pathway::Action;
use super::rules;

/// The coded reasons each threshold decision accepts, for statistics and review.
pub fn reason_codes(action: Action) -> &'static [&'static str] {
    match action {
        Action::CloseNoFurtherAction => &[
            "no_prevent_concern",
            "no_vulnerability_identified",
            "concern_resolved",
            "supported_elsewhere",
            "insufficient_information",
            "other",
        ],
        Action::Signpost => &[
            "other_needs_primary",
            "no_prevent_concern",
            "supported_elsewhere",
            "other",
        ],
        Action::ReferToChannel => &["vulnerable_to_radicalisation", "repeat_concern", "other"],
        Action::ManageByPolice => &[
            "risk_requires_police_management",
            "channel_not_appropriate",
            "other",
        ],
        Action::TransferToPursue => &["terrorism_risk", "live_investigation", "other"],
        Action::Close => &[
            "risk_reduced",
            "no_further_concern",
            "moved_out_of_area",
            "other",
        ],
        Action::RecordPanelDecision => &[
            "vulnerability_identified",
            "no_vulnerability_identified",
            "needs_met_by_other_services",
            "more_information_needed",
            "other",
        ],
        Action::Reassess => &[
            "consent_now_likely",
            "risk_increased",
            "risk_reduced",
            "other",
        ],
        Action::Exit => &[
            "support_completed",
            "risk_reduced",
            "moved_out_of_area",
            "other",
        ],
        _ => &[],
    }
}

/// `{}`: an action that needs nothing.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct EmptyBody {}

/// A threshold decision.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason_code": "other", "rationale": "Discussed with the referrer; see the notes of the call."}))]
pub struct ThresholdBody {
    /// One of the action's reason codes (see `GET /v1/cases/{id}/actions`).
    #[serde(default)]
    #[schema(required = true)]
    pub reason_code: String,
    /// Why, in words (10 to 5,000 characters).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 10, max = 5000))]
    pub rationale: String,
}

/// `record_deconfliction`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"result": "clear", "note": "Checked with the regional CT unit."}))]
pub struct DeconflictionBody {
    /// The result.
    pub result: DeconflictionResult,
    /// Police-only note.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub note: Option<String>,
}

/// One referral to another service.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"service_type": "mental_health", "organisation": "CAMHS Leeds", "reason": "Low mood and isolation."}))]
pub struct OnwardReferralBody {
    /// The kind of service.
    pub service_type: ServiceType,
    /// The organisation referred to.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub organisation: String,
    /// Why this service.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 5000))]
    pub reason: String,
}

/// `signpost`: a threshold decision and the services referred to.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "reason_code": "other_needs_primary",
    "rationale": "Needs are mental health, not ideology.",
    "onward_referrals": [{"service_type": "mental_health", "organisation": "CAMHS Leeds", "reason": "Low mood and isolation."}]
}))]
pub struct SignpostBody {
    /// One of the action's reason codes.
    #[serde(default)]
    #[schema(required = true)]
    pub reason_code: String,
    /// Why, in words (10 to 5,000 characters).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 10, max = 5000))]
    pub rationale: String,
    /// One to ten onward referrals.
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 10)]
    #[validate(length(min = 1, max = 10), nested)]
    pub onward_referrals: Vec<OnwardReferralBody>,
}

/// `record_onward_outcome`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"onward_referral_id": "0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f", "outcome": "acknowledged", "note": "Seen within two weeks."}))]
pub struct OnwardOutcomeBody {
    /// The onward referral (its `id` in the case).
    pub onward_referral_id: uuid::Uuid,
    /// Acknowledged or declined.
    pub outcome: OnwardOutcome,
    /// What the service said.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub note: Option<String>,
}

/// Trimmed text without control characters (bar line breaks and tabs). Its length is
/// a declared rule of the body (`#[validate(length)]`); what is left here is what
/// `validator` cannot say: blank after trimming, and control characters.
pub(crate) fn text(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    let v = value.trim();
    if v.is_empty() {
        errors.push(FieldError::new(
            field,
            "required",
            format!("{field} is required"),
        ));
    } else if v
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        errors.push(FieldError::new(
            field,
            "control_characters",
            format!("{field} has control characters"),
        ));
    }
    v.to_owned()
}

/// Optional text: absent or blank is none.
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| text(field, v, errors))
}

/// A coded reason from `action`'s list and a rationale.
pub(crate) fn threshold(
    action: Action,
    reason_code: &str,
    rationale: &str,
    errors: &mut Vec<FieldError>,
) -> Threshold {
    let codes = reason_codes(action);
    let code = codes.iter().copied().find(|c| *c == reason_code.trim());
    if code.is_none() {
        let (c, m) = if reason_code.trim().is_empty() {
            ("required", "reason_code is required".to_owned())
        } else {
            (
                "invalid_value",
                format!("reason_code must be one of: {}", codes.join(", ")),
            )
        };
        errors.push(FieldError::new("reason_code", c, m));
    }
    Threshold {
        reason_code: code.unwrap_or("other"),
        rationale: text("rationale", rationale, errors),
    }
}

fn finish(
    command: Command,
    parsed: Vec<FieldError>,
    declared: Vec<FieldError>,
) -> Result<Command, Vec<FieldError>> {
    let errors = rules::merged(parsed, declared);
    if errors.is_empty() {
        Ok(command)
    } else {
        Err(errors)
    }
}

impl ThresholdBody {
    /// Validates for `action`.
    pub fn validate(self, action: Action) -> Result<Command, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let t = threshold(action, &self.reason_code, &self.rationale, &mut errors);
        finish(Command::Threshold(t), errors, declared)
    }
}

impl DeconflictionBody {
    /// Validates.
    pub fn validate(self) -> Result<Command, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let note = optional_text("note", self.note.as_deref(), &mut errors);
        finish(
            Command::Deconfliction {
                result: self.result,
                note,
            },
            errors,
            declared,
        )
    }
}

impl SignpostBody {
    /// Validates: a threshold decision and one to ten onward referrals (the count is a
    /// declared rule).
    pub fn validate(self) -> Result<Command, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let t = threshold(
            Action::Signpost,
            &self.reason_code,
            &self.rationale,
            &mut errors,
        );
        let referrals = onward_referrals(&self.onward_referrals, &mut errors);
        finish(
            Command::Signpost {
                threshold: t,
                referrals,
            },
            errors,
            declared,
        )
    }
}

/// The onward referrals, each trimmed (how many, and how long each field may be, are
/// declared rules of the bodies that carry them).
pub(crate) fn onward_referrals(
    bodies: &[OnwardReferralBody],
    errors: &mut Vec<FieldError>,
) -> Vec<OnwardReferral> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, r)| OnwardReferral {
            service_type: r.service_type,
            organisation: text(
                &format!("onward_referrals[{i}].organisation"),
                &r.organisation,
                errors,
            ),
            reason: text(&format!("onward_referrals[{i}].reason"), &r.reason, errors),
        })
        .collect()
}

impl OnwardOutcomeBody {
    /// Validates.
    pub fn validate(self) -> Result<Command, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let note = optional_text("note", self.note.as_deref(), &mut errors);
        finish(
            Command::OnwardOutcome {
                id: self.onward_referral_id,
                outcome: self.outcome,
                note,
            },
            errors,
            declared,
        )
    }
}

/// A field an action's body carries, as `GET /v1/cases/{id}/actions` describes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldSpec {
    /// The field name.
    pub name: &'static str,
    /// `string`, `text`, `enum`, `array`, `object`, `boolean`, `date`, `uuid`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Must be given.
    pub required: bool,
    /// The accepted values, for enums and reason codes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<&'static str>,
}

/// A field of a body's listing.
pub(crate) fn field(
    name: &'static str,
    kind: &'static str,
    required: bool,
    values: &[&'static str],
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required,
        values: values.to_vec(),
    }
}

/// The fields of a threshold decision for `action`: its reason codes and a rationale.
pub(crate) fn threshold_fields(action: Action) -> [FieldSpec; 2] {
    [
        field("reason_code", "enum", true, reason_codes(action)),
        field("rationale", "text", true, &[]),
    ]
}

/// A schema and the schemas it refers to, as the document's components take them.
pub type SchemaWithDependencies = (RefOr<Schema>, Vec<(String, RefOr<Schema>)>);

/// The body of the actions of one payload: what it is parsed into, which fields it
/// lists, and the schema it is documented with. Each body type says all three once.
pub trait ActionBody: DeserializeOwned + ToSchema {
    /// The fields `GET /v1/cases/{id}/actions` lists for `action`'s body.
    fn fields(action: Action) -> Vec<FieldSpec>;

    /// The command the body asks `action` for, validated; `today` bounds its dates.
    fn into_command(self, action: Action, today: NaiveDate) -> Result<Command, Vec<FieldError>>;

    /// The schema the body's derive gives, and the schemas it refers to.
    fn body_schema() -> SchemaWithDependencies {
        let mut dependencies = Vec::new();
        <Self as ToSchema>::schemas(&mut dependencies);
        (<Self as utoipa::PartialSchema>::schema(), dependencies)
    }
}

impl ActionBody for EmptyBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        Ok(Command::Nothing)
    }
}

impl ActionBody for ThresholdBody {
    fn fields(action: Action) -> Vec<FieldSpec> {
        threshold_fields(action).into()
    }

    fn into_command(self, action: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate(action)
    }
}

impl ActionBody for DeconflictionBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("result", "enum", true, &["clear", "live_investigation"]),
            field("note", "text", false, &[]),
        ]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate()
    }
}

impl ActionBody for SignpostBody {
    fn fields(action: Action) -> Vec<FieldSpec> {
        let mut fields = Vec::from(threshold_fields(action));
        fields.push(field("onward_referrals", "array", true, &[]));
        fields
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate()
    }
}

impl ActionBody for OnwardOutcomeBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("onward_referral_id", "uuid", true, &[]),
            field("outcome", "enum", true, &["acknowledged", "declined"]),
            field("note", "text", false, &[]),
        ]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(reason: &str, rationale: &str) -> ThresholdBody {
        ThresholdBody {
            reason_code: reason.into(),
            rationale: rationale.into(),
        }
    }

    fn codes(r: Result<Command, Vec<FieldError>>) -> Vec<(String, String)> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_threshold_decision_needs_a_listed_code_and_a_rationale() {
        let ok = body(
            "no_prevent_concern",
            "No ideological element; needs met by school.",
        )
        .validate(Action::CloseNoFurtherAction);
        assert!(matches!(
            ok,
            Ok(Command::Threshold(Threshold {
                reason_code: "no_prevent_concern",
                ..
            }))
        ));
        let cases = [
            (
                body("", "A sufficient rationale."),
                vec![("reason_code", "required")],
            ),
            (
                body("made_up", "A sufficient rationale."),
                vec![("reason_code", "invalid_value")],
            ),
            (
                body("no_prevent_concern", ""),
                vec![("rationale", "required")],
            ),
            (
                body("no_prevent_concern", "   "),
                vec![("rationale", "required")],
            ),
            (
                body("no_prevent_concern", "too short"),
                vec![("rationale", "too_short")],
            ),
            (
                body("no_prevent_concern", &"x".repeat(5_001)),
                vec![("rationale", "too_long")],
            ),
            (
                body("no_prevent_concern", "bell\u{7} in the rationale"),
                vec![("rationale", "control_characters")],
            ),
            (
                body("", ""),
                vec![("reason_code", "required"), ("rationale", "required")],
            ),
        ];
        for (b, expected) in cases {
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(f, c)| (f.to_owned(), c.to_owned()))
                .collect();
            assert_eq!(codes(b.validate(Action::CloseNoFurtherAction)), expected);
        }
    }

    #[test]
    fn reason_codes_belong_to_their_action() {
        let b = body("terrorism_risk", "Live risk of attack planning identified.");
        assert!(b.clone().validate(Action::TransferToPursue).is_ok());
        assert_eq!(
            codes(b.validate(Action::CloseNoFurtherAction)),
            vec![("reason_code".into(), "invalid_value".into())]
        );
    }

    #[test]
    fn signposting_needs_one_to_ten_complete_onward_referrals() {
        let referral = |org: &str| OnwardReferralBody {
            service_type: ServiceType::MentalHealth,
            organisation: org.into(),
            reason: "Low mood and isolation.".into(),
        };
        let signpost = |refs: Vec<OnwardReferralBody>| SignpostBody {
            reason_code: "other_needs_primary".into(),
            rationale: "Needs are mental health, not ideology.".into(),
            onward_referrals: refs,
        };
        assert!(signpost(vec![referral("CAMHS Leeds")]).validate().is_ok());
        assert_eq!(
            codes(signpost(vec![]).validate()),
            vec![("onward_referrals".into(), "required".into())]
        );
        assert_eq!(
            codes(signpost((0..11).map(|_| referral("x")).collect()).validate()),
            vec![("onward_referrals".into(), "too_many".into())]
        );
        assert_eq!(
            codes(signpost(vec![referral("CAMHS"), referral(" ")]).validate()),
            vec![("onward_referrals[1].organisation".into(), "required".into())]
        );
    }

    #[test]
    fn every_threshold_action_has_reason_codes_and_other() {
        for a in [
            Action::CloseNoFurtherAction,
            Action::Signpost,
            Action::ReferToChannel,
            Action::ManageByPolice,
            Action::TransferToPursue,
            Action::Close,
        ] {
            assert!(reason_codes(a).contains(&"other"), "{a}");
        }
    }
}
