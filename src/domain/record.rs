//! Stored records read back as typed values: what the use cases need of the JSON a case
//! row holds, parsed with serde instead of read by string key.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::pathway::SubjectAge;
use super::referral::Referral;

/// What the pathway needs of a stored referral: the facts its subject's age is worked
/// out from. The stored form is a [`Referral`] serialised; other fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StoredReferral {
    /// The subject; absent once the case's personal data is erased.
    #[serde(default)]
    subject: StoredSubject,
}

/// The age facts of a stored referral's subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct StoredSubject {
    #[serde(default)]
    date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    approximate_age: Option<u32>,
}

impl StoredReferral {
    /// Reads a stored referral's text.
    pub fn parse(text: &str) -> Result<StoredReferral, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// What the subject's age is worked out from, for a referral filed on `filed_on`.
    pub fn subject_age(&self, filed_on: NaiveDate) -> SubjectAge {
        SubjectAge {
            date_of_birth: self.subject.date_of_birth,
            approximate_age: self.subject.approximate_age,
            filed_on,
        }
    }
}

/// A stored record exported as it is held (a subject access export shows every field of
/// it): `null` when nothing is held, because the case was erased or its data key
/// destroyed, which leaves the stored text empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct HeldRecord(serde_json::Value);

impl HeldRecord {
    /// Reads a stored record's text; an empty text is a record no longer held. Text that
    /// is held but is not JSON is an error, never shown as if nothing were held.
    pub fn parse(text: &str) -> Result<HeldRecord, serde_json::Error> {
        if text.is_empty() {
            return Ok(HeldRecord(serde_json::Value::Null));
        }
        serde_json::from_str(text).map(HeldRecord)
    }
}

/// What the subject of `referral`, filed on `filed_on`, has their age worked out from.
pub fn subject_age(referral: &Referral, filed_on: NaiveDate) -> SubjectAge {
    referral.subject().age(filed_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_referral_gives_its_subjects_age_facts_and_an_erased_one_none() {
        let on = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let stored = StoredReferral::parse(
            r#"{"area":null,"subject":{"given_name":"A","date_of_birth":"2012-03-14","approximate_age":null}}"#,
        )
        .unwrap();
        assert_eq!(stored.subject_age(on).on(on), Some(14));
        let aged = StoredReferral::parse(r#"{"subject":{"approximate_age":15}}"#).unwrap();
        assert_eq!(aged.subject_age(on).on(on), Some(15));
        assert_eq!(
            StoredReferral::parse("{}").unwrap().subject_age(on).on(on),
            None
        );
        assert!(StoredReferral::parse("not json").is_err());
    }

    #[test]
    fn a_held_record_is_exported_as_it_is_and_an_empty_one_as_null() {
        let held = HeldRecord::parse(r#"{"a":1,"b":[true]}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            r#"{"a":1,"b":[true]}"#
        );
        let gone = HeldRecord::parse("").unwrap();
        assert_eq!(serde_json::to_string(&gone).unwrap(), "null");
        assert!(HeldRecord::parse("pv1:sealed").is_err());
    }
}
