//! Panels, their members and meetings, and agencies' notes: request bodies validated on parse.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::FieldError;
use super::actions::text;
use super::referral::Email;
use super::rules;

/// The agency a member represents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Agency {
    /// Children's social care.
    ChildrensSocialCare,
    /// Adult social care.
    AdultSocialCare,
    /// Education.
    Education,
    /// Health.
    Health,
    /// Mental health.
    MentalHealth,
    /// Housing.
    Housing,
    /// Probation.
    Probation,
    /// Youth offending.
    YouthOffending,
    /// Police.
    Police,
    /// The local authority's Prevent or Channel team.
    LocalAuthority,
    /// Anyone else.
    Other,
}

impl Agency {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Agency::ChildrensSocialCare => "childrens_social_care",
            Agency::AdultSocialCare => "adult_social_care",
            Agency::Education => "education",
            Agency::Health => "health",
            Agency::MentalHealth => "mental_health",
            Agency::Housing => "housing",
            Agency::Probation => "probation",
            Agency::YouthOffending => "youth_offending",
            Agency::Police => "police",
            Agency::LocalAuthority => "local_authority",
            Agency::Other => "other",
        }
    }
}

/// A member's role on the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PanelRole {
    /// Chairs the panel.
    Chair,
    /// Coordinates it.
    Coordinator,
    /// Sits on it.
    Member,
}

impl PanelRole {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PanelRole::Chair => "chair",
            PanelRole::Coordinator => "coordinator",
            PanelRole::Member => "member",
        }
    }
}

/// A member, as sent.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Hana Health", "agency": "health", "email": "hana@nhs.example", "panel_role": "member"}))]
pub struct MemberBody {
    /// Name.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = "\\S")]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// Agency.
    pub agency: Agency,
    /// Work email: their token's `email` must match it to see the panel's cases.
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    #[validate(length(max = 254))]
    pub email: String,
    /// Role on the panel.
    pub panel_role: PanelRole,
}

/// A validated member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: Agency,
    /// Email, lower-cased.
    pub email: String,
    /// Role.
    pub panel_role: PanelRole,
}

impl MemberBody {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) -> NewMember {
        let field = |f: &str| {
            if at.is_empty() {
                f.to_owned()
            } else {
                format!("{at}.{f}")
            }
        };
        let email = match Email::parse(&self.email) {
            Ok(e) => e.as_str().to_owned(),
            Err(_) => {
                errors.push(FieldError::new(
                    field("email"),
                    "invalid_email",
                    "not an email address",
                ));
                String::new()
            }
        };
        NewMember {
            name: text(&field("name"), &self.name, errors),
            agency: self.agency,
            email,
            panel_role: self.panel_role,
        }
    }

    /// Validates one member on its own (adding to a panel).
    pub fn into_member(self) -> Result<NewMember, Vec<FieldError>> {
        let mut errors = Vec::new();
        let member = self.validate("", &mut errors);
        let errors = rules::merged(errors, rules::declared(&self));
        if errors.is_empty() {
            Ok(member)
        } else {
            Err(errors)
        }
    }
}

/// `POST /v1/panels`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Leeds Channel Panel", "members": [
    {"name": "Chris Chair", "agency": "local_authority", "email": "chris@la.example", "panel_role": "chair"},
    {"name": "Hana Health", "agency": "health", "email": "hana@nhs.example", "panel_role": "member"}
]}))]
pub struct PanelBody {
    /// The panel's name.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, pattern = "\\S")]
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    /// Its members (at most 50, each email once); exactly one chairs it.
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 50)]
    #[validate(length(min = 1, max = 50), nested)]
    pub members: Vec<MemberBody>,
}

impl PanelBody {
    /// Validates: a name, at most 50 members with distinct emails, exactly one chair.
    pub fn validate(self) -> Result<(String, Vec<NewMember>), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let name = text("name", &self.name, &mut errors);
        let members: Vec<NewMember> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| m.validate(&format!("members[{i}]"), &mut errors))
            .collect();
        if members
            .iter()
            .filter(|m| m.panel_role == PanelRole::Chair)
            .count()
            != 1
        {
            errors.push(FieldError::new(
                "members",
                "one_chair_required",
                "a panel has exactly one chair",
            ));
        }
        for (i, m) in members.iter().enumerate() {
            if !m.email.is_empty() && members[..i].iter().any(|o| o.email == m.email) {
                errors.push(FieldError::new(
                    format!("members[{i}].email"),
                    "duplicate",
                    "a member is listed once",
                ));
            }
        }
        let errors = rules::merged(errors, declared);
        if errors.is_empty() {
            Ok((name, members))
        } else {
            Err(errors)
        }
    }
}

/// How far ahead a meeting may be scheduled: two years. Panels meet monthly or so; a date
/// further out is a typing slip (2062 for 2026) that would leave a case listed for a
/// meeting no one will hold, its panel decision never due.
pub const MEETING_HORIZON_MONTHS: u32 = 24;

/// `POST /v1/panels/{id}/meetings`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scheduled_for": "2027-06-15T10:00:00Z", "location": "Civic Hall, Room 2"}))]
pub struct MeetingBody {
    /// When the panel meets (RFC 3339): today or later, and at most two years ahead.
    pub scheduled_for: DateTime<Utc>,
    /// Where.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub location: Option<String>,
}

impl MeetingBody {
    /// Validates: not in the past, and not more than [`MEETING_HORIZON_MONTHS`] ahead.
    pub fn validate(
        self,
        now: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, Option<String>), Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let day = self.scheduled_for.date_naive();
        let today = now.date_naive();
        let latest = today.checked_add_months(Months::new(MEETING_HORIZON_MONTHS));
        if day < today {
            errors.push(FieldError::new(
                "scheduled_for",
                "date_in_past",
                "a meeting is scheduled for today or later",
            ));
        } else if latest.is_none_or(|latest| day > latest) {
            errors.push(FieldError::new(
                "scheduled_for",
                "date_too_far_ahead",
                "a meeting is scheduled at most two years ahead",
            ));
        }
        let location = self
            .location
            .filter(|l| !l.trim().is_empty())
            .map(|l| text("location", &l, &mut errors));
        let errors = rules::merged(errors, declared);
        if errors.is_empty() {
            Ok((self.scheduled_for, location))
        } else {
            Err(errors)
        }
    }
}

/// `POST /v1/cases/{id}/notes`.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "Known to CAMHS since 2025; attending weekly sessions."}))]
pub struct NoteBody {
    /// The agency's contribution.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 1, max = 10000))]
    pub body: String,
}

impl NoteBody {
    /// Validates.
    pub fn validate(self) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        let body = text("body", &self.body, &mut errors);
        let errors = rules::merged(errors, rules::declared(&self));
        if errors.is_empty() {
            Ok(body)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Refusals = Vec<(String, String)>;

    fn panel(members: serde_json::Value) -> Result<(String, Vec<NewMember>), Refusals> {
        serde_json::from_value::<PanelBody>(
            serde_json::json!({"name": "Leeds Channel Panel", "members": members}),
        )
        .unwrap()
        .validate()
        .map_err(|e| e.into_iter().map(|e| (e.field, e.code)).collect())
    }

    #[test]
    fn a_meeting_is_today_or_later_and_at_most_two_years_ahead() {
        let now = "2026-12-06T21:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let refusal = |when: &str| {
            serde_json::from_value::<MeetingBody>(serde_json::json!({"scheduled_for": when}))
                .unwrap()
                .validate(now)
                .err()
                .map(|e| e.into_iter().map(|e| (e.field, e.code)).collect::<Vec<_>>())
        };
        let refused = |code: &str| Some(vec![("scheduled_for".to_owned(), code.to_owned())]);
        for when in [
            "2026-12-06T08:00:00Z",
            "2026-12-07T10:00:00Z",
            "2028-12-06T23:59:59Z",
        ] {
            assert_eq!(refusal(when), None, "{when}");
        }
        assert_eq!(refusal("2026-12-05T10:00:00Z"), refused("date_in_past"));
        for when in [
            "2028-12-07T00:00:00Z",
            "2062-12-06T10:00:00Z",
            "9999-12-31T10:00:00Z",
        ] {
            assert_eq!(refusal(when), refused("date_too_far_ahead"), "{when}");
        }
    }

    #[test]
    fn a_panel_has_one_chair_and_each_member_once() {
        let chair = serde_json::json!({"name": "Chris Chair", "agency": "local_authority", "email": "Chris@LA.example", "panel_role": "chair"});
        let member = serde_json::json!({"name": "Hana Health", "agency": "health", "email": "hana@nhs.example", "panel_role": "member"});
        let (_, members) = panel(serde_json::json!([chair, member])).unwrap();
        assert_eq!(
            members[0].email, "chris@la.example",
            "emails are matched case-insensitively"
        );
        assert_eq!(
            panel(serde_json::json!([member])).unwrap_err(),
            vec![("members".into(), "one_chair_required".into())]
        );
        assert_eq!(
            panel(serde_json::json!([chair, member, member])).unwrap_err(),
            vec![("members[2].email".into(), "duplicate".into())]
        );
        let bad = serde_json::json!({"name": "", "agency": "health", "email": "nope", "panel_role": "member"});
        assert_eq!(
            panel(serde_json::json!([chair, bad])).unwrap_err(),
            vec![
                ("members[1].email".into(), "invalid_email".into()),
                ("members[1].name".into(), "required".into())
            ]
        );
    }
}
