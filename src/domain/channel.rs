//! The Channel panel's action bodies (ss.36-37 Counter-Terrorism and Security Act 2015),
//! validated on parse. The checks that need the case (the subject's age at consent, an
//! existing support plan) are made by the use case with [`consent_problem`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::FieldError;
use super::actions::{
    ActionBody, FieldSpec, OnwardReferralBody, field, onward_referrals, optional_text, text,
    threshold, threshold_fields,
};
use super::command::{Command, Threshold};
pub use super::command::{
    Consent, ConsentBy, ConsentDecision, Decision, HowReached, HowSought, NextStep, PanelDecision,
    PostExitReview, ReassessOutcome,
};
use super::pathway::Action;
use super::rules;

fn date(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok();
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "invalid_date",
            format!("{field} must be a date, YYYY-MM-DD"),
        ));
    }
    parsed
}

/// An optional date that must be after `today` (the next review, a re-assessment):
/// `not_in_future` with `message` when it is not.
fn later_date(
    (field, value): (&str, Option<&str>),
    today: NaiveDate,
    message: &str,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let day = value.and_then(|d| date(field, d, errors));
    if day.is_some_and(|d| d <= today) {
        errors.push(FieldError::new(field, "not_in_future", message));
    }
    day
}

fn finish<T>(
    value: T,
    parsed: Vec<FieldError>,
    declared: Vec<FieldError>,
) -> Result<T, Vec<FieldError>> {
    let errors = rules::merged(parsed, declared);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

/// `list_for_panel`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"meeting_id": "0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f"}))]
pub struct ListingBody {
    /// The meeting whose agenda the case joins (a meeting of a panel of the case's area).
    pub meeting_id: uuid::Uuid,
}

impl ActionBody for ListingBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![field("meeting_id", "uuid", true, &[])]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        Ok(Command::Listing {
            meeting_id: self.meeting_id,
        })
    }
}

/// One factor of an assessment.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct FactorBody {
    /// The framework's dimension (for `vaf_2012`: engagement, intent or capability).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 40))]
    pub dimension: String,
    /// The factor.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub factor: String,
    /// The rating given.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 40))]
    pub rating: String,
    /// Why.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub note: Option<String>,
}

/// An assessment, kept as data so that a new framework needs no migration.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AssessmentBody {
    /// `vaf_2012`, `paf_2024`, or another framework's code.
    #[serde(default)]
    #[schema(required = true, pattern = "^[a-z0-9_]{1,40}$")]
    pub framework: String,
    /// The factors assessed (at most 60).
    #[serde(default)]
    #[schema(max_items = 60)]
    #[validate(length(max = 60), nested)]
    pub factors: Vec<FactorBody>,
    /// The overall summary.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 5000))]
    pub summary: String,
}

/// The 2012 Vulnerability Assessment Framework's three dimensions.
pub const VAF_2012_DIMENSIONS: [&str; 3] = ["engagement", "intent", "capability"];

fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl AssessmentBody {
    fn validate(&self, errors: &mut Vec<FieldError>) -> serde_json::Value {
        let framework = self.framework.trim();
        if !is_code(framework) {
            errors.push(FieldError::new(
                "assessment.framework",
                "invalid_value",
                "a framework code such as vaf_2012",
            ));
        }
        for (i, f) in self.factors.iter().enumerate() {
            let at = |name: &str| format!("assessment.factors[{i}].{name}");
            text(&at("dimension"), &f.dimension, errors);
            text(&at("factor"), &f.factor, errors);
            text(&at("rating"), &f.rating, errors);
            optional_text(&at("note"), f.note.as_deref(), errors);
            if framework == "vaf_2012" && !VAF_2012_DIMENSIONS.contains(&f.dimension.trim()) {
                errors.push(FieldError::new(
                    at("dimension"),
                    "invalid_value",
                    "the 2012 framework's dimensions are engagement, intent and capability",
                ));
            }
        }
        text("assessment.summary", &self.summary, errors);
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// `record_panel_decision`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "decision": "adopt", "reason_code": "vulnerability_identified",
    "rationale": "Vulnerable to radicalisation; support through Channel is appropriate.",
    "how_reached": "unanimous",
    "assessment": {
        "framework": "vaf_2012",
        "factors": [{"dimension": "engagement", "factor": "Need for identity", "rating": "medium", "note": "Isolated at school."}],
        "summary": "Engaged with extremist material online; no capability."
    }
}))]
pub struct PanelDecisionBody {
    /// Adopt, not adopt, or defer.
    pub decision: Decision,
    /// A coded reason.
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
    /// How the decision was reached.
    pub how_reached: HowReached,
    /// For `not_adopt`: the panel considered referral to health or social care (s.36(4)); must be true.
    #[serde(default)]
    pub health_or_social_care_considered: Option<bool>,
    /// For `not_adopt`: what happens instead.
    #[serde(default)]
    pub next_step: Option<NextStep>,
    /// For `not_adopt` with `next_step` `onward_referral`: one to ten services.
    #[serde(default)]
    #[schema(max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub onward_referrals: Vec<OnwardReferralBody>,
    /// An assessment, if one was made.
    #[serde(default)]
    #[validate(nested)]
    pub assessment: Option<AssessmentBody>,
}

impl PanelDecisionBody {
    /// Validates: a `not_adopt` must record that health or social care was considered
    /// and name the next step.
    pub fn validate(self) -> Result<PanelDecision, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let t = threshold(
            Action::RecordPanelDecision,
            &self.reason_code,
            &self.rationale,
            &mut errors,
        );
        let assessment = self.assessment.as_ref().map(|a| a.validate(&mut errors));
        let mut onward = Vec::new();
        match self.decision {
            Decision::NotAdopt => {
                if self.health_or_social_care_considered != Some(true) {
                    errors.push(FieldError::new(
                        "health_or_social_care_considered",
                        "required",
                        "a panel that does not adopt must consider referral to health or social care",
                    ));
                }
                match self.next_step {
                    None => errors.push(FieldError::new(
                        "next_step",
                        "required",
                        "name the next step",
                    )),
                    Some(NextStep::OnwardReferral) if self.onward_referrals.is_empty() => errors
                        .push(FieldError::new(
                            "onward_referrals",
                            "required",
                            "name at least one onward referral",
                        )),
                    Some(NextStep::OnwardReferral) => {
                        onward = onward_referrals(&self.onward_referrals, &mut errors)
                    }
                    Some(_) if !self.onward_referrals.is_empty() => errors.push(FieldError::new(
                        "onward_referrals",
                        "not_allowed",
                        "onward referrals go with next_step onward_referral",
                    )),
                    Some(_) => {}
                }
            }
            _ => {
                if self.next_step.is_some() {
                    errors.push(FieldError::new(
                        "next_step",
                        "not_allowed",
                        "only a not_adopt decision has a next step",
                    ));
                }
                if !self.onward_referrals.is_empty() {
                    errors.push(FieldError::new(
                        "onward_referrals",
                        "not_allowed",
                        "only with not_adopt",
                    ));
                }
            }
        }
        finish(
            PanelDecision {
                decision: self.decision,
                threshold: t,
                how_reached: self.how_reached,
                next_step: self.next_step,
                onward,
                assessment,
            },
            errors,
            declared,
        )
    }
}

impl ActionBody for PanelDecisionBody {
    fn fields(action: Action) -> Vec<FieldSpec> {
        let mut fields = vec![field(
            "decision",
            "enum",
            true,
            &["adopt", "not_adopt", "defer"],
        )];
        fields.extend(threshold_fields(action));
        fields.extend([
            field(
                "how_reached",
                "enum",
                true,
                &["unanimous", "majority", "chairs_decision"],
            ),
            field("health_or_social_care_considered", "boolean", false, &[]),
            field(
                "next_step",
                "enum",
                false,
                &["onward_referral", "police_managed", "closed"],
            ),
            field("onward_referrals", "array", false, &[]),
            field("assessment", "object", false, &[]),
        ]);
        fields
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate().map(Command::PanelDecision)
    }
}

/// The kind of support an intervention gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterventionType {
    /// Ideological mentoring by a Home Office-approved intervention provider.
    IdeologicalMentoring,
    /// Mental health.
    MentalHealth,
    /// Education.
    Education,
    /// Employment.
    Employment,
    /// Housing.
    Housing,
    /// Family support.
    FamilySupport,
    /// Diversionary activity.
    Diversionary,
    /// Anything else.
    Other,
}

/// One intervention of a support plan.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct InterventionBody {
    /// The kind of support.
    #[serde(rename = "type")]
    pub intervention_type: InterventionType,
    /// Who provides it.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 200))]
    pub provider: String,
    /// How often, e.g. "weekly".
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 100))]
    pub frequency: String,
    /// When it starts, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub start_date: String,
}

/// `record_support_plan`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "interventions": [{"type": "ideological_mentoring", "provider": "Approved intervention provider", "frequency": "weekly", "start_date": "2026-12-01"}],
    "summary": "Mentoring and a return to college."
}))]
pub struct SupportPlanBody {
    /// One to twenty interventions.
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 20)]
    #[validate(length(min = 1, max = 20), nested)]
    pub interventions: Vec<InterventionBody>,
    /// What the plan is for.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub summary: Option<String>,
}

impl SupportPlanBody {
    /// Validates; the plan is stored as given, normalised.
    pub fn validate(self) -> Result<serde_json::Value, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let interventions: Vec<serde_json::Value> = self
            .interventions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let at = |name: &str| format!("interventions[{i}].{name}");
                serde_json::json!({
                    "type": v.intervention_type,
                    "provider": text(&at("provider"), &v.provider, &mut errors),
                    "frequency": text(&at("frequency"), &v.frequency, &mut errors),
                    "start_date": date(&at("start_date"), &v.start_date, &mut errors),
                })
            })
            .collect();
        let summary = optional_text("summary", self.summary.as_deref(), &mut errors);
        finish(
            serde_json::json!({"interventions": interventions, "summary": summary}),
            errors,
            declared,
        )
    }
}

impl ActionBody for SupportPlanBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("interventions", "array", true, &[]),
            field("summary", "text", false, &[]),
        ]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate().map(Command::SupportPlan)
    }
}

/// `record_consent`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "guardian_named", skip_on_field_errors = false))]
#[schema(example = json!({
    "decision": "given", "given_by": "parent_or_guardian", "given_by_name": "Alex Taylor",
    "decided_on": "2026-11-02", "how_sought": "in_person", "note": "Met at home with the family."
}))]
pub struct ConsentBody {
    /// Given or refused.
    pub decision: ConsentDecision,
    /// Whose decision it is.
    pub given_by: ConsentBy,
    /// The parent's or guardian's name, required when it is theirs.
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 100))]
    pub given_by_name: Option<String>,
    /// The date of the decision, `YYYY-MM-DD`, not in the future.
    #[serde(default)]
    #[schema(required = true, format = Date)]
    pub decided_on: String,
    /// How consent was sought.
    pub how_sought: HowSought,
    /// Anything else.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub note: Option<String>,
}

impl ConsentBody {
    /// Validates what needs no case: the date, the guardian's name.
    pub fn validate(self, today: NaiveDate) -> Result<Consent, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let decided_on = date("decided_on", &self.decided_on, &mut errors);
        if decided_on.is_some_and(|d| d > today) {
            errors.push(FieldError::new(
                "decided_on",
                "date_in_future",
                "decided_on is in the future",
            ));
        }
        let name = optional_text("given_by_name", self.given_by_name.as_deref(), &mut errors);
        let note = optional_text("note", self.note.as_deref(), &mut errors);
        let record = serde_json::json!({
            "decision": self.decision, "given_by": self.given_by, "given_by_name": name,
            "decided_on": decided_on, "how_sought": self.how_sought, "note": note,
        });
        finish(
            Consent {
                decision: self.decision,
                given_by: self.given_by,
                decided_on: decided_on.unwrap_or(today),
                record,
            },
            errors,
            declared,
        )
    }
}

impl ActionBody for ConsentBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("decision", "enum", true, &["given", "refused"]),
            field("given_by", "enum", true, &["subject", "parent_or_guardian"]),
            field("given_by_name", "string", false, &[]),
            field("decided_on", "date", true, &[]),
            field(
                "how_sought",
                "enum",
                true,
                &["in_person", "phone", "video", "letter", "other"],
            ),
            field("note", "text", false, &[]),
        ]
    }

    fn into_command(self, _: Action, today: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate(today).map(Command::Consent)
    }
}

/// A parent's or guardian's consent names them.
fn guardian_named(body: &ConsentBody) -> Result<(), ValidationError> {
    let named = body
        .given_by_name
        .as_deref()
        .is_some_and(|n| !n.trim().is_empty());
    if body.given_by == ConsentBy::ParentOrGuardian && !named {
        return Err(rules::failure(
            "given_by_name",
            "required",
            "name the parent or guardian",
        ));
    }
    Ok(())
}

/// The case-dependent check of a consent decision: a person under 18 on the date of
/// consent cannot give it alone; a parent's or guardian's is needed. `age` is the
/// subject's age on that date (from the date of birth, else the approximate age).
pub fn consent_problem(consent: &Consent, age: Option<u32>) -> Option<FieldError> {
    let child = age.is_none_or(|a| a < 18);
    (consent.decision == ConsentDecision::Given && consent.given_by == ConsentBy::Subject && child)
        .then(|| {
            FieldError::new(
                "given_by",
                "guardian_consent_required",
                "the person was under 18 on that date: a parent's or guardian's consent is needed",
            )
        })
}

/// `reassess`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "seek_consent", "reason_code": "consent_now_likely", "rationale": "The family now wants support after a second meeting."}))]
pub struct ReassessmentBody {
    /// What happens next.
    pub outcome: ReassessOutcome,
    /// A coded reason.
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

impl ReassessmentBody {
    /// Validates.
    pub fn validate(self) -> Result<(ReassessOutcome, Threshold), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let t = threshold(
            Action::Reassess,
            &self.reason_code,
            &self.rationale,
            &mut errors,
        );
        finish((self.outcome, t), errors, declared)
    }
}

impl ActionBody for ReassessmentBody {
    fn fields(action: Action) -> Vec<FieldSpec> {
        let mut fields = vec![field(
            "outcome",
            "enum",
            true,
            &["seek_consent", "police_managed", "closed"],
        )];
        fields.extend(threshold_fields(action));
        fields
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate()
            .map(|(outcome, threshold)| Command::Reassessment { outcome, threshold })
    }
}

/// `record_review`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"summary": "Attending mentoring weekly; engaging well.", "next_review_on": "2099-01-15"}))]
pub struct ReviewBody {
    /// Progress since the last review (10 to 5,000 characters).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 10, max = 5000))]
    pub summary: String,
    /// The next review's date, `YYYY-MM-DD`, after today (default: the configured period).
    #[serde(default)]
    #[schema(format = Date)]
    pub next_review_on: Option<String>,
}

impl ReviewBody {
    /// Validates: the next review is after today.
    pub fn validate(
        self,
        today: NaiveDate,
    ) -> Result<(String, Option<NaiveDate>), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let summary = text("summary", &self.summary, &mut errors);
        let next = later_date(
            ("next_review_on", self.next_review_on.as_deref()),
            today,
            "the next review must be after today",
            &mut errors,
        );
        finish((summary, next), errors, declared)
    }
}

impl ActionBody for ReviewBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("summary", "text", true, &[]),
            field("next_review_on", "date", false, &[]),
        ]
    }

    fn into_command(self, _: Action, today: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate(today)
            .map(|(summary, next_review_on)| Command::Review {
                summary,
                next_review_on,
            })
    }
}

/// `withdraw_consent`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rationale": "The subject's parent withdrew consent by phone.", "reassess_by": "2099-01-15"}))]
pub struct WithdrawalBody {
    /// What was said and by whom (10 to 5,000 characters).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 10, max = 5000))]
    pub rationale: String,
    /// When the panel re-assesses, `YYYY-MM-DD`, after today (default: the configured period).
    #[serde(default)]
    #[schema(format = Date)]
    pub reassess_by: Option<String>,
}

impl WithdrawalBody {
    /// Validates.
    pub fn validate(
        self,
        today: NaiveDate,
    ) -> Result<(String, Option<NaiveDate>), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let rationale = text("rationale", &self.rationale, &mut errors);
        let by = later_date(
            ("reassess_by", self.reassess_by.as_deref()),
            today,
            "the re-assessment must be after today",
            &mut errors,
        );
        finish((rationale, by), errors, declared)
    }
}

impl ActionBody for WithdrawalBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("rationale", "text", true, &[]),
            field("reassess_by", "date", false, &[]),
        ]
    }

    fn into_command(self, _: Action, today: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate(today)
            .map(|(rationale, reassess_by)| Command::Withdrawal {
                rationale,
                reassess_by,
            })
    }
}

/// `record_post_exit_review`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"review": "six_month", "new_concern": false, "rationale": "Settled at college; no new concern."}))]
pub struct PostExitReviewBody {
    /// Which review.
    pub review: PostExitReview,
    /// A new concern: the case returns to the panel.
    pub new_concern: bool,
    /// What the review found (10 to 5,000 characters).
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

impl PostExitReviewBody {
    /// Validates.
    pub fn validate(self) -> Result<(PostExitReview, bool, String), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let rationale = text("rationale", &self.rationale, &mut errors);
        finish((self.review, self.new_concern, rationale), errors, declared)
    }
}

impl ActionBody for PostExitReviewBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("review", "enum", true, &["six_month", "twelve_month"]),
            field("new_concern", "boolean", true, &[]),
            field("rationale", "text", true, &[]),
        ]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate()
            .map(|(review, new_concern, rationale)| Command::PostExitReview {
                review,
                new_concern,
                rationale,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<(String, String)> {
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn decision(value: serde_json::Value) -> Result<PanelDecision, Vec<(String, String)>> {
        serde_json::from_value::<PanelDecisionBody>(value)
            .unwrap()
            .validate()
            .map_err(fields)
    }

    #[test]
    fn a_not_adopt_decision_must_consider_health_and_social_care_and_name_the_next_step() {
        let base = serde_json::json!({
            "decision": "not_adopt", "reason_code": "needs_met_by_other_services",
            "rationale": "Needs are primarily mental health.", "how_reached": "unanimous",
        });
        let with = |extra: serde_json::Value| {
            let mut v = base.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        };
        let missing = decision(base.clone()).unwrap_err();
        assert_eq!(
            missing,
            vec![
                ("health_or_social_care_considered".into(), "required".into()),
                ("next_step".into(), "required".into())
            ]
        );
        let not_considered = decision(with(
            serde_json::json!({"health_or_social_care_considered": false, "next_step": "closed"}),
        ));
        assert_eq!(
            not_considered.unwrap_err(),
            vec![("health_or_social_care_considered".into(), "required".into())]
        );
        let closed = decision(with(
            serde_json::json!({"health_or_social_care_considered": true, "next_step": "closed"}),
        ))
        .unwrap();
        assert_eq!(closed.next_step, Some(NextStep::Closed));
        let onward_without_services = decision(with(
            serde_json::json!({"health_or_social_care_considered": true, "next_step": "onward_referral"}),
        ));
        assert_eq!(
            onward_without_services.unwrap_err(),
            vec![("onward_referrals".into(), "required".into())]
        );
        let adopt_with_step = decision(serde_json::json!({
            "decision": "adopt", "reason_code": "vulnerability_identified", "rationale": "Clear vulnerability.",
            "how_reached": "majority", "next_step": "closed"
        }));
        assert_eq!(
            adopt_with_step.unwrap_err(),
            vec![("next_step".into(), "not_allowed".into())]
        );
    }

    #[test]
    fn the_2012_framework_has_three_dimensions_and_other_frameworks_are_data() {
        let body = |framework: &str, dimension: &str| {
            serde_json::json!({
                "decision": "adopt", "reason_code": "vulnerability_identified", "rationale": "Clear vulnerability.",
                "how_reached": "unanimous",
                "assessment": {"framework": framework, "summary": "Engaged with online material.",
                               "factors": [{"dimension": dimension, "factor": "need_for_identity", "rating": "high"}]}
            })
        };
        assert!(decision(body("vaf_2012", "engagement")).is_ok());
        assert_eq!(
            decision(body("vaf_2012", "ideology")).unwrap_err(),
            vec![(
                "assessment.factors[0].dimension".into(),
                "invalid_value".into()
            )]
        );
        assert!(
            decision(body("paf_2024", "ideology")).is_ok(),
            "a newer framework's dimensions are its own"
        );
        assert_eq!(
            decision(body("VAF 2012", "engagement")).unwrap_err(),
            vec![("assessment.framework".into(), "invalid_value".into())]
        );
    }

    fn consent(
        decision: &str,
        by: &str,
        name: Option<&str>,
        on: &str,
    ) -> Result<Consent, Vec<(String, String)>> {
        serde_json::from_value::<ConsentBody>(serde_json::json!({
            "decision": decision, "given_by": by, "given_by_name": name, "decided_on": on, "how_sought": "in_person"
        }))
        .unwrap()
        .validate(day("2026-11-22"))
        .map_err(fields)
    }

    #[test]
    fn a_child_cannot_consent_alone_but_may_refuse() {
        let own = consent("given", "subject", None, "2026-11-20").unwrap();
        assert_eq!(
            consent_problem(&own, Some(16)).map(|e| e.code),
            Some("guardian_consent_required".into())
        );
        assert_eq!(
            consent_problem(&own, Some(18)),
            None,
            "an adult consents for themself"
        );
        assert!(
            consent_problem(&own, None).is_some(),
            "an unknown age is treated as a child's"
        );
        let parent = consent(
            "given",
            "parent_or_guardian",
            Some("Alex Taylor"),
            "2026-11-20",
        )
        .unwrap();
        assert_eq!(consent_problem(&parent, Some(16)), None);
        let refusal = consent("refused", "subject", None, "2026-11-20").unwrap();
        assert_eq!(
            consent_problem(&refusal, Some(15)),
            None,
            "Channel is voluntary: a child's refusal stands"
        );
        assert_eq!(
            consent("given", "parent_or_guardian", None, "2026-11-20").unwrap_err(),
            vec![("given_by_name".into(), "required".into())]
        );
        assert_eq!(
            consent("given", "subject", None, "2026-12-01").unwrap_err(),
            vec![("decided_on".into(), "date_in_future".into())]
        );
        assert_eq!(
            consent("given", "subject", None, "01/12/2026").unwrap_err(),
            vec![("decided_on".into(), "invalid_date".into())]
        );
    }

    #[test]
    fn a_support_plan_needs_complete_interventions() {
        let plan = |interventions: serde_json::Value| {
            serde_json::from_value::<SupportPlanBody>(
                serde_json::json!({"interventions": interventions}),
            )
            .unwrap()
            .validate()
            .map_err(fields)
        };
        assert!(plan(serde_json::json!([{"type": "ideological_mentoring", "provider": "Approved provider",
                                         "frequency": "weekly", "start_date": "2026-12-01"}])).is_ok());
        assert_eq!(
            plan(serde_json::json!([])).unwrap_err(),
            vec![("interventions".into(), "required".into())]
        );
        assert_eq!(
            plan(serde_json::json!([{"type": "housing", "provider": "", "frequency": "monthly", "start_date": "soon"}])).unwrap_err(),
            vec![("interventions[0].provider".into(), "required".into()), ("interventions[0].start_date".into(), "invalid_date".into())]
        );
    }

    #[test]
    fn reviews_and_reassessments_look_forward() {
        let today = day("2026-11-22");
        let review = |next: &str| {
            serde_json::from_value::<ReviewBody>(serde_json::json!({"summary": "Attending mentoring weekly.", "next_review_on": next}))
                .unwrap()
                .validate(today)
                .map_err(fields)
        };
        assert_eq!(review("2026-12-22").unwrap().1, Some(day("2026-12-22")));
        assert_eq!(
            review("2026-11-22").unwrap_err(),
            vec![("next_review_on".into(), "not_in_future".into())]
        );
    }
}
