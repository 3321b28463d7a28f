//! Subject access: who may export everything held on a person, and how the person is
//! named in the request.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::access::View;
use super::pathway::{Action, State};
use super::referral::match_key;
use super::{Actor, FieldError, Role, rules};
use validator::{Validate, ValidationError};

/// The body of `POST /v1/subject-access`: a case id, or the person's names and date of
/// birth (matched as repeat referrals are).
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "named_once", skip_on_field_errors = false))]
#[schema(example = json!({"given_name": "Sam", "family_name": "Taylor", "date_of_birth": "2010-03-14"}))]
pub struct SubjectAccessRequest {
    /// A case about the person; its linked cases are included.
    #[serde(default)]
    pub case_id: Option<uuid::Uuid>,
    /// Given name (with `family_name` and `date_of_birth`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    #[validate(length(min = 1, max = 100))]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    #[validate(length(min = 1, max = 100))]
    pub family_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(value_type = Option<chrono::NaiveDate>, example = "2010-03-14")]
    pub date_of_birth: Option<String>,
}

/// The person is named once: by a case id, or by both names and a date of birth.
fn named_once(r: &SubjectAccessRequest) -> Result<(), ValidationError> {
    let named = r.given_name.is_some() || r.family_name.is_some() || r.date_of_birth.is_some();
    if r.case_id.is_some() && named {
        return Err(rules::failure(
            "case_id",
            "ambiguous_subject",
            "Give a case id, or names and a date of birth, not both.",
        ));
    }
    let missing = [
        ("given_name", r.given_name.is_none()),
        ("family_name", r.family_name.is_none()),
        ("date_of_birth", r.date_of_birth.is_none()),
    ];
    match missing.iter().find(|(_, absent)| *absent) {
        Some((field, _)) if r.case_id.is_none() => Err(rules::failure(
            field,
            "missing_field",
            "Give the case id, or given_name, family_name and date_of_birth.",
        )),
        _ => Ok(()),
    }
}

/// Whom a subject access request is about, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectQuery {
    /// The subject of this case.
    Case(uuid::Uuid),
    /// The person whose repeat-referral match key this is.
    Person(String),
}

impl SubjectQuery {
    /// How the request named the person, for the audit log (never the names).
    pub fn kind(&self) -> &'static str {
        match self {
            SubjectQuery::Case(_) => "case_id",
            SubjectQuery::Person(_) => "name_and_date_of_birth",
        }
    }
}

impl TryFrom<SubjectAccessRequest> for SubjectQuery {
    type Error = Vec<FieldError>;

    /// The declared rules (lengths, one way of naming the person), then what they cannot
    /// say: names that are not blank once trimmed, a real date, letters to match on.
    fn try_from(r: SubjectAccessRequest) -> Result<SubjectQuery, Vec<FieldError>> {
        let declared = rules::declared(&r);
        if !declared.is_empty() {
            return Err(declared);
        }
        if let Some(id) = r.case_id {
            return Ok(SubjectQuery::Case(id));
        }
        let mut errors = Vec::new();
        let mut text = |field: &str, v: &Option<String>| {
            let t = v.as_deref().map(str::trim).unwrap_or_default();
            if t.is_empty() {
                errors.push(FieldError::new(
                    field,
                    "required",
                    format!("{field} is required"),
                ));
            }
            t.to_owned()
        };
        let given = text("given_name", &r.given_name);
        let family = text("family_name", &r.family_name);
        let born = r
            .date_of_birth
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok());
        if born.is_none() {
            errors.push(FieldError::new(
                "date_of_birth",
                "invalid_date",
                "A date of birth as YYYY-MM-DD.",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        born.and_then(|b| match_key(&given, &family, b))
            .map(SubjectQuery::Person)
            .ok_or_else(|| {
                vec![FieldError::new(
                    "family_name",
                    "invalid_value",
                    "The names have no letters to match on.",
                )]
            })
    }
}

/// The areas whose records an actor may export on a subject access request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportScope {
    /// Every area (a national auditor).
    Everywhere,
    /// One area (an auditor or records officer of it).
    Area(String),
}

impl ExportScope {
    /// Whether a case of `area` is within the scope.
    pub fn covers(&self, area: &str) -> bool {
        match self {
            ExportScope::Everywhere => true,
            ExportScope::Area(a) => a == area,
        }
    }
}

/// Who may export: an auditor or records officer of the area; a national auditor
/// everywhere. `None` for everyone else.
pub fn export_scope(actor: &Actor) -> Option<ExportScope> {
    if actor.has(Role::Auditor) && actor.area.is_national() {
        return Some(ExportScope::Everywhere);
    }
    (actor.has(Role::Auditor) || actor.has(Role::RecordsOfficer))
        .then(|| ExportScope::Area(actor.area.to_string()))
}

/// The view a case is exported with for `actor`, who sees it with `seen` on the case
/// routes: the area's records officer reads the police compartment (each police-only
/// item marked for exemption review); an auditor exports exactly what they are shown
/// elsewhere, so never police-only material. `None`: not exported, and a request
/// naming that case by id is answered as not found.
pub fn export_view(actor: &Actor, case_area: &str, seen: Option<View>) -> Option<View> {
    if actor.has(Role::RecordsOfficer) && actor.area.as_str() == case_area {
        return Some(View::Records);
    }
    if !actor.has(Role::Auditor) {
        return None;
    }
    seen.filter(|v| v.sees_case_detail())
}

/// Whether a history entry of `action` is police-only material, held for exemption
/// review before disclosure rather than left out.
pub fn needs_exemption_review(action: &str) -> bool {
    Action::parse(action).is_some_and(Action::is_police_only)
}

/// Whether a case in `state` (or having passed through one) is itself police-only
/// material.
pub fn state_needs_exemption_review(state: &str) -> bool {
    State::parse(state).is_some_and(State::is_police_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: serde_json::Value) -> Result<SubjectQuery, Vec<FieldError>> {
        SubjectQuery::try_from(serde_json::from_value::<SubjectAccessRequest>(v).unwrap())
    }

    #[test]
    fn a_person_is_named_by_names_and_date_of_birth_or_by_a_case() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            request(serde_json::json!({"case_id": id})),
            Ok(SubjectQuery::Case(id))
        );
        let by_name = request(
            serde_json::json!({"given_name": "Sam", "family_name": "Taylor", "date_of_birth": "2010-03-14"}),
        );
        assert_eq!(
            by_name,
            Ok(SubjectQuery::Person(
                match_key(
                    "Sam",
                    "Taylor",
                    NaiveDate::from_ymd_opt(2010, 3, 14).unwrap()
                )
                .unwrap()
            ))
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"given_name": "Sam", "family_name": "Taylor"}),
            serde_json::json!({"given_name": "Sam", "family_name": "Taylor", "date_of_birth": "14/03/2010"}),
            serde_json::json!({"case_id": id, "given_name": "Sam"}),
        ] {
            assert!(request(bad.clone()).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<SubjectAccessRequest>(serde_json::json!({"name": "x"}))
                .is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn only_auditors_and_records_officers_export() {
        let actor = |roles: &[Role], area: &str| Actor {
            sub: "u".into(),
            name: "U".into(),
            email: "u@example.org".into(),
            roles: roles.iter().copied().collect(),
            area: crate::domain::Area::parse(area).unwrap(),
            org: None,
        };
        assert_eq!(
            export_scope(&actor(&[Role::Auditor], "national")),
            Some(ExportScope::Everywhere)
        );
        assert_eq!(
            export_scope(&actor(&[Role::RecordsOfficer], "E08000035")),
            Some(ExportScope::Area("E08000035".into()))
        );
        for role in [
            Role::Referrer,
            Role::ChannelChair,
            Role::PreventOfficer,
            Role::Admin,
        ] {
            assert_eq!(export_scope(&actor(&[role], "E08000035")), None, "{role:?}");
        }
        assert!(needs_exemption_review("transfer_to_pursue"));
        assert!(!needs_exemption_review("begin_screening"));
    }
}
