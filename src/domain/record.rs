//! Stored records read back as typed values: what the use cases need of the JSON a case
//! row holds, parsed with serde instead of read by string key.

use chrono::NaiveDate;
use serde::Deserialize;

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

/// What the subject of `referral`, filed on `filed_on`, has their age worked out from.
pub fn subject_age(referral: &Referral, filed_on: NaiveDate) -> SubjectAge {
    let subject = referral.subject();
    SubjectAge {
        date_of_birth: subject.date_of_birth(),
        approximate_age: subject.approximate_age(),
        filed_on,
    }
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
}
