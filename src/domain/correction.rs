//! Rectification: a correction of the subject's or referrer's details, validated on
//! parse, applied to a stored referral by the referral's own rules, and described by
//! the paths of the fields it changed (never their values).

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use validator::Validate;

use super::FieldError;
use super::actions::{ActionBody, FieldSpec, field, text};
use super::command::Command;
pub use super::command::Correction;
use super::pathway::Action;
use super::referral::{Referral, ReferralRequest, ReferrerRequest, SubjectRequest};
use super::rules;

/// The body of `correct_details`: why, and the fields to replace. Each part takes the
/// fields of the referral's `subject` or `referrer`, with the same types and rules.
///
/// At least one of `subject` and `referrer` names a field, and the referral with the
/// correction applied must still satisfy every rule of a referral (a subject's date of
/// birth or approximate age, an email's format, ...): those rules are checked against the
/// case's stored referral, so they answer 422 with the field's path and cannot be stated
/// by this schema alone.
#[derive(Debug, Clone, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The school sent the wrong spelling of the family name.", "subject": {"family_name": "Tailor"}}))]
pub struct CorrectionBody {
    /// Why the details are corrected (10 to 5,000 characters, not blank, no control
    /// characters but tab and line breaks).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(min = 10, max = 5000))]
    pub reason: String,
    /// Subject fields to replace (as in the referral's `subject`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub subject: Option<Map<String, Value>>,
    /// Referrer fields to replace (as in the referral's `referrer`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub referrer: Option<Map<String, Value>>,
}

/// Checks that `fields` are fields of `T` with values of the right types.
fn check_part<T: serde::de::DeserializeOwned>(
    part: &str,
    fields: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) {
    let deserializer = Value::Object(fields.clone());
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(deserializer) {
        let inner = e.path().to_string();
        let message = e.inner().to_string();
        let (field, code) = if message.starts_with("unknown field") {
            let name = message.split('`').nth(1).unwrap_or_default();
            (format!("{part}.{name}"), "unknown_field")
        } else {
            (format!("{part}.{inner}"), "invalid_value")
        };
        errors.push(FieldError::new(field, code, message));
    }
}

impl CorrectionBody {
    /// Validates the reason and the shape of each part (types, unknown fields). The
    /// values' rules are applied with the stored referral, in [`apply`].
    pub fn validate(self) -> Result<Correction, Vec<FieldError>> {
        let declared = rules::declared(&self);
        let mut errors = Vec::new();
        let reason = text("reason", &self.reason, &mut errors);
        let subject = self.subject.unwrap_or_default();
        let referrer = self.referrer.unwrap_or_default();
        if subject.is_empty() && referrer.is_empty() {
            errors.push(FieldError::new(
                "subject",
                "required",
                "Give the subject or referrer fields to correct.",
            ));
        }
        check_part::<SubjectRequest>("subject", &subject, &mut errors);
        check_part::<ReferrerRequest>("referrer", &referrer, &mut errors);
        let errors = rules::merged(errors, declared);
        if errors.is_empty() {
            Ok(Correction {
                reason,
                subject,
                referrer,
            })
        } else {
            Err(errors)
        }
    }
}

impl ActionBody for CorrectionBody {
    fn fields(_: Action) -> Vec<FieldSpec> {
        vec![
            field("reason", "text", true, &[]),
            field("subject", "object", false, &[]),
            field("referrer", "object", false, &[]),
        ]
    }

    fn into_command(self, _: Action, _: NaiveDate) -> Result<Command, Vec<FieldError>> {
        self.validate().map(Command::Correction)
    }
}

/// The stored referral with `correction` applied and validated again as a whole, and
/// the paths of the fields whose stored values changed (`subject.family_name`).
pub fn apply(
    stored: &Value,
    correction: &Correction,
    today: NaiveDate,
) -> Result<(Referral, Vec<String>), Vec<FieldError>> {
    let mut request = stored.clone();
    for (part, fields) in [
        ("subject", &correction.subject),
        ("referrer", &correction.referrer),
    ] {
        let Some(target) = request.get_mut(part).and_then(Value::as_object_mut) else {
            return Err(vec![FieldError::new(
                part,
                "not_held",
                "The case holds no details to correct.",
            )]);
        };
        for (k, v) in fields {
            target.insert(k.clone(), v.clone());
        }
    }
    let request: ReferralRequest = serde_json::from_value(request)
        .map_err(|e| vec![FieldError::new("", "invalid_value", e.to_string())])?;
    let referral = request.validate(today)?;
    let after = serde_json::to_value(&referral)
        .map_err(|e| vec![FieldError::new("", "invalid_value", e.to_string())])?;
    let mut changed = Vec::new();
    for part in ["subject", "referrer"] {
        let empty = Map::new();
        let before = stored[part].as_object().unwrap_or(&empty);
        let now = after[part].as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = before.keys().chain(now.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let old = before.get(k).unwrap_or(&Value::Null);
            if old != now.get(k).unwrap_or(&Value::Null) {
                changed.push(format!("{part}.{k}"));
            }
        }
    }
    if changed.is_empty() {
        return Err(vec![FieldError::new(
            "subject",
            "no_change",
            "The correction changes nothing that is held.",
        )]);
    }
    Ok((referral, changed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        let body = json!({
            "subject": {"given_name": "Sam", "family_name": "Taylor", "date_of_birth": "2010-03-14"},
            "referrer": {"name": "Jo Smith", "role": "DSL", "organisation": "School", "sector": "education"},
            "concern": {"narrative": "Shared extreme material in class and talked about hurting people."}
        });
        let r: ReferralRequest = serde_json::from_value(body).unwrap();
        serde_json::to_value(r.validate(today()).unwrap()).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn body(v: Value) -> Result<Correction, Vec<FieldError>> {
        serde_json::from_value::<CorrectionBody>(v)
            .unwrap()
            .validate()
    }

    #[test]
    fn a_correction_names_the_fields_it_changed_and_not_their_values() {
        let c = body(json!({"reason": "Family name misspelt on the form.",
                            "subject": {"family_name": "Tailor"}, "referrer": {"role": "DSL"}}))
        .unwrap();
        let (referral, changed) = apply(&stored(), &c, today()).unwrap();
        assert_eq!(changed, vec!["subject.family_name"]);
        assert_eq!(referral.subject().family_name(), "Tailor");
    }

    #[test]
    fn bad_corrections_are_refused_on_parse_or_by_the_referral_rules() {
        let codes = |r: Result<Correction, Vec<FieldError>>| -> Vec<(String, String)> {
            r.unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect()
        };
        assert_eq!(
            codes(body(
                json!({"reason": "Because it was wrong.", "subject": {"shoe_size": 9}})
            )),
            vec![("subject.shoe_size".into(), "unknown_field".into())]
        );
        assert_eq!(
            codes(body(
                json!({"reason": "Because it was wrong.", "subject": {"family_name": 9}})
            )),
            vec![("subject.family_name".into(), "invalid_value".into())]
        );
        assert_eq!(
            codes(body(
                json!({"reason": "short", "subject": {"family_name": "X"}})
            ))[0]
                .1,
            "too_short"
        );
        assert_eq!(
            codes(body(json!({"reason": "Because it was wrong."})))[0].1,
            "required"
        );
        assert!(
            serde_json::from_value::<CorrectionBody>(json!({"reason": "x", "other": {}})).is_err()
        );
        let dob = body(
            json!({"reason": "Because it was wrong.", "subject": {"date_of_birth": "2010-02-30"}}),
        )
        .unwrap();
        assert_eq!(
            apply(&stored(), &dob, today()).unwrap_err()[0].field,
            "subject.date_of_birth"
        );
        let same =
            body(json!({"reason": "Because it was wrong.", "subject": {"family_name": "Taylor"}}))
                .unwrap();
        assert_eq!(
            apply(&stored(), &same, today()).unwrap_err()[0].code,
            "no_change"
        );
    }
}
