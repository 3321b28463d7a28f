//! Referral intake: the body of `POST /v1/referrals` as sent ([`ReferralRequest`]) and the
//! validated [`Referral`] it becomes. Validation reports every invalid field at once, so a
//! referrer can put a whole form right in one round trip.

use std::fmt;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::name::{invisible_character, match_form};
use crate::domain::{Area, FieldError};

const NAME_MAX: usize = 100;
const SHORT_TEXT_MAX: usize = 200;
const LONG_TEXT_MAX: usize = 5_000;
const NARRATIVE_MAX: usize = 20_000;
const EMAIL_MAX: usize = 254;
const PHONE_DIGITS_MIN: usize = 10;
const PHONE_DIGITS_MAX: usize = 15;
/// An older date of birth or age is a typing error, not a person.
const MAX_AGE_YEARS: u32 = 120;
const ALIASES_MAX: usize = 20;
const HANDLES_MAX: usize = 20;
const GUARDIANS_MAX: usize = 10;
const INCIDENT_DATES_MAX: usize = 50;
const LIST_MAX: usize = 20;

// ---------------------------------------------------------------------------------------------
// Coded values (shared by the request body and the validated referral)
// ---------------------------------------------------------------------------------------------

/// The subject's gender, as the referrer records it (one of the official-statistics breakdowns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Another gender.
    Other,
    /// The referrer does not know.
    NotKnown,
}

/// How a guardian is related to the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// Mother or father.
    Parent,
    /// Step-mother or step-father.
    StepParent,
    /// Legal guardian.
    Guardian,
    /// Carer, including a foster carer.
    Carer,
    /// Another relative, such as a grandparent or an older sibling.
    OtherRelative,
    /// Anyone else.
    Other,
}

/// The sector the referrer works in (the official statistics' "sector of referral").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sector {
    /// Schools, colleges and universities.
    Education,
    /// Police.
    Police,
    /// Local authority services other than education.
    LocalAuthority,
    /// Health services, including mental health.
    Health,
    /// Community organisations.
    Community,
    /// Friends or family of the subject.
    FriendsFamily,
    /// Prisons and probation.
    PrisonProbation,
    /// Any other sector.
    Other,
}

impl Sector {
    /// Every sector, in a stable order (for statistics breakdowns).
    pub const ALL: [Sector; 8] = [
        Sector::Education,
        Sector::Police,
        Sector::LocalAuthority,
        Sector::Health,
        Sector::Community,
        Sector::FriendsFamily,
        Sector::PrisonProbation,
        Sector::Other,
    ];

    /// The API spelling of this sector.
    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Education => "education",
            Sector::Police => "police",
            Sector::LocalAuthority => "local_authority",
            Sector::Health => "health",
            Sector::Community => "community",
            Sector::FriendsFamily => "friends_family",
            Sector::PrisonProbation => "prison_probation",
            Sector::Other => "other",
        }
    }
}

impl fmt::Display for Sector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of concern, where the referrer can say (the official statistics' categories).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TypeOfConcern {
    /// Islamist extremism.
    Islamist,
    /// Extreme right-wing.
    ExtremeRightWing,
    /// Left-wing, anarchist or single-issue extremism.
    LeftWingAnarchistSingleIssue,
    /// A mixed, unclear or unstable ideology.
    MixedUnclearUnstable,
    /// A fixation on violence without an ideology.
    ViolenceFixation,
    /// No ideology.
    NoIdeology,
    /// Anything else.
    Other,
}

impl TypeOfConcern {
    /// Every type of concern, in a stable order (for statistics breakdowns).
    pub const ALL: [TypeOfConcern; 7] = [
        TypeOfConcern::Islamist,
        TypeOfConcern::ExtremeRightWing,
        TypeOfConcern::LeftWingAnarchistSingleIssue,
        TypeOfConcern::MixedUnclearUnstable,
        TypeOfConcern::ViolenceFixation,
        TypeOfConcern::NoIdeology,
        TypeOfConcern::Other,
    ];

    /// The API spelling of this type of concern.
    pub fn as_str(self) -> &'static str {
        match self {
            TypeOfConcern::Islamist => "islamist",
            TypeOfConcern::ExtremeRightWing => "extreme_right_wing",
            TypeOfConcern::LeftWingAnarchistSingleIssue => "left_wing_anarchist_single_issue",
            TypeOfConcern::MixedUnclearUnstable => "mixed_unclear_unstable",
            TypeOfConcern::ViolenceFixation => "violence_fixation",
            TypeOfConcern::NoIdeology => "no_ideology",
            TypeOfConcern::Other => "other",
        }
    }
}

impl fmt::Display for TypeOfConcern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the referrer saw that raised the concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    /// Worrying activity online.
    OnlineActivity,
    /// Possessing or sharing extremist material.
    ExtremistMaterial,
    /// Said they intend to harm someone.
    ExpressedIntentToHarm,
    /// A change in behaviour, appearance or friends.
    ChangeInBehaviour,
    /// Withdrawn or isolated.
    Isolation,
    /// In contact with extremists.
    ContactWithExtremists,
    /// An interest in weapons or violence.
    InterestInWeaponsOrViolence,
    /// Anything else (describe it in the narrative).
    Other,
}

/// Another agency already involved with the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Agency {
    /// Children's social care.
    ChildrensSocialCare,
    /// Adult social care.
    AdultSocialCare,
    /// Mental-health services.
    MentalHealth,
    /// Other health services.
    Health,
    /// A school, college or university.
    Education,
    /// Police.
    Police,
    /// Probation.
    Probation,
    /// A youth offending team.
    YouthOffending,
    /// Housing.
    Housing,
    /// Early help.
    EarlyHelp,
    /// Any other agency.
    Other,
}

// ---------------------------------------------------------------------------------------------
// The request body, as sent
// ---------------------------------------------------------------------------------------------

/// The body of `POST /v1/referrals`: a referral as sent, before validation.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "area": "E08000035",
    "subject": {
        "given_name": "Sam", "family_name": "Taylor", "aliases": ["Sammy"],
        "date_of_birth": "2010-03-14", "gender": "male",
        "address": {"line1": "1 High Street", "line2": "Hyde Park", "town": "Leeds", "postcode": "LS1 1AA"},
        "nationality": "British", "first_language": "English", "interpreter_needed": false,
        "school_or_employer": "Leeds Academy",
        "phone": "07700900456", "email": "sam.taylor@mail.example",
        "social_media_handles": ["@samt on a video site"]
    },
    "guardians": [{"name": "Alex Taylor", "relationship": "parent", "phone": "07700900123", "email": "alex.taylor@mail.example"}],
    "referrer": {
        "name": "Jo Smith", "role": "Designated Safeguarding Lead", "organisation": "Leeds Academy",
        "sector": "education", "email": "jo.smith@school.example", "phone": "01130000000"
    },
    "concern": {
        "narrative": "Shared extreme right-wing material in class and talked about hurting people.",
        "type_of_concern": "extreme_right_wing",
        "indicators": ["online_activity", "expressed_intent_to_harm"],
        "first_noticed": "2026-11-01",
        "incident_dates": ["2026-11-01"],
        "online_activity": "Shares videos from an extreme right-wing channel.",
        "threats_or_intent": "Said people like that should be hurt."
    },
    "vulnerabilities": {"send": false, "mental_health": false, "neurodiversity": true, "notes": "Has an EHCP."},
    "subject_aware": false, "guardians_informed": true, "discussed_with_safeguarding_lead": true,
    "other_agencies_involved": ["childrens_social_care"],
    "immediate_risk": false
}))]
pub struct ReferralRequest {
    /// The local authority where the subject lives, as a GSS code. When left out, the
    /// referrer's own area is used.
    #[serde(default)]
    #[schema(pattern = "^[EWSN][0-9]{8}$", example = "E08000035")]
    pub area: Option<String>,
    /// The person the concern is about.
    #[validate(nested)]
    pub subject: SubjectRequest,
    /// Parents, guardians or carers, where the subject is under 18.
    #[serde(default)]
    #[schema(max_items = 10)]
    #[validate(length(max = 10), nested)]
    pub guardians: Vec<GuardianRequest>,
    /// The person making the referral.
    #[validate(nested)]
    pub referrer: ReferrerRequest,
    /// What happened and why it is worrying.
    #[validate(nested)]
    pub concern: ConcernRequest,
    /// The subject's vulnerabilities, as far as the referrer knows.
    #[serde(default)]
    #[validate(nested)]
    pub vulnerabilities: VulnerabilitiesRequest,
    /// Whether the subject knows about the referral; null when not known.
    #[serde(default)]
    pub subject_aware: Option<bool>,
    /// Whether the subject's parents or guardians have been told; null when not known.
    #[serde(default)]
    pub guardians_informed: Option<bool>,
    /// Whether the referrer discussed the concern with their safeguarding lead; null when not known.
    #[serde(default)]
    pub discussed_with_safeguarding_lead: Option<bool>,
    /// Other agencies already involved with the subject.
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(length(max = 20))]
    pub other_agencies_involved: Vec<Agency>,
    /// True when someone is in immediate danger. That is a 999 call, not a referral: the
    /// referral is still recorded, and the response says so.
    #[serde(default)]
    pub immediate_risk: bool,
}

/// The subject of a referral, as sent. Give `date_of_birth` or `approximate_age` (at
/// least one): without either the referral is refused (`subject.date_of_birth`,
/// `required`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "born_or_aged", skip_on_field_errors = false))]
pub struct SubjectRequest {
    /// Given name. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = "\\S")]
    #[validate(length(min = 1, max = 100))]
    pub given_name: String,
    /// Family name. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = "\\S")]
    #[validate(length(min = 1, max = 100))]
    pub family_name: String,
    /// Other names the subject uses or is known by.
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(length(max = 20))]
    pub aliases: Vec<String>,
    /// Date of birth, `YYYY-MM-DD`. Give this or `approximate_age`.
    #[serde(default)]
    #[schema(value_type = Option<chrono::NaiveDate>, example = "2010-03-14")]
    pub date_of_birth: Option<String>,
    /// Approximate age in years, when the date of birth is not known.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 120)]
    #[validate(range(min = 0, max = 120))]
    pub approximate_age: Option<i64>,
    /// Gender.
    #[serde(default)]
    pub gender: Option<Gender>,
    /// Home address.
    #[serde(default)]
    #[validate(nested)]
    pub address: Option<AddressRequest>,
    /// Nationality.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub nationality: Option<String>,
    /// First language.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub first_language: Option<String>,
    /// Whether the subject needs an interpreter; null when not known.
    #[serde(default)]
    pub interpreter_needed: Option<bool>,
    /// The subject's school, college or employer.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub school_or_employer: Option<String>,
    /// The subject's phone number.
    #[serde(default)]
    #[schema(example = "07700900123")]
    pub phone: Option<String>,
    /// The subject's email address.
    #[serde(default)]
    #[schema(format = Email, max_length = 254)]
    #[validate(custom(function = "super::rules::email"), length(max = 254))]
    pub email: Option<String>,
    /// The subject's social-media handles, each with its platform where known.
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(length(max = 20))]
    pub social_media_handles: Vec<String>,
    /// Ethnicity (special-category data): optional, never required.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub ethnicity: Option<String>,
    /// Religion (special-category data): optional, never required.
    #[serde(default)]
    #[schema(max_length = 200)]
    #[validate(length(max = 200))]
    pub religion: Option<String>,
}

/// A UK postal address, as sent.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    /// First line of the address. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, pattern = "\\S")]
    #[validate(length(min = 1, max = 200))]
    pub line1: String,
    /// Second line of the address.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 200))]
    pub line2: Option<String>,
    /// Town or city.
    #[serde(default)]
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 200))]
    pub town: Option<String>,
    /// UK postcode; stored in upper case with one space, e.g. `LS1 1AA`.
    #[serde(default)]
    #[schema(example = "LS1 1AA")]
    pub postcode: Option<String>,
}

/// A parent, guardian or carer of the subject, as sent.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct GuardianRequest {
    /// Full name. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = "\\S")]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// How they are related to the subject.
    #[serde(default)]
    pub relationship: Option<Relationship>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default)]
    #[schema(format = Email, max_length = 254)]
    #[validate(custom(function = "super::rules::email"), length(max = 254))]
    pub email: Option<String>,
}

/// The person making the referral, as sent.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReferrerRequest {
    /// Full name. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = "\\S")]
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// Job title or role, e.g. `Designated Safeguarding Lead`. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, pattern = "\\S")]
    #[validate(length(min = 1, max = 200))]
    pub role: String,
    /// Organisation. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200, pattern = "\\S")]
    #[validate(length(min = 1, max = 200))]
    pub organisation: String,
    /// The sector the referrer works in. Required.
    #[serde(default)]
    #[schema(required = true, value_type = Sector)]
    #[validate(required(message = "this is required"))]
    pub sector: Option<Sector>,
    /// Work email address.
    #[serde(default)]
    #[schema(format = Email, max_length = 254)]
    #[validate(custom(function = "super::rules::email"), length(max = 254))]
    pub email: Option<String>,
    /// Work phone number.
    #[serde(default)]
    pub phone: Option<String>,
}

/// The concern, as sent.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ConcernRequest {
    /// What happened and why you are worried, in your own words. Required.
    #[serde(default)]
    #[schema(required = true, min_length = 10, max_length = 20000, pattern = "\\S")]
    #[validate(length(min = 10, max = 20000))]
    pub narrative: String,
    /// The type of concern, where known.
    #[serde(default)]
    pub type_of_concern: Option<TypeOfConcern>,
    /// What was seen or heard.
    #[serde(default)]
    #[schema(max_items = 20)]
    #[validate(length(max = 20))]
    pub indicators: Vec<Indicator>,
    /// When the concern was first noticed, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(value_type = Option<chrono::NaiveDate>, example = "2026-11-01")]
    pub first_noticed: Option<String>,
    /// Dates of particular incidents, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(value_type = Vec<chrono::NaiveDate>, max_items = 50)]
    #[validate(length(max = 50))]
    pub incident_dates: Vec<String>,
    /// Worrying online activity: what, where, under which handles.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub online_activity: Option<String>,
    /// Any threats or expressions of intent to harm, as near word for word as possible.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub threats_or_intent: Option<String>,
}

/// The subject's vulnerabilities, as sent; each is false unless said.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct VulnerabilitiesRequest {
    /// Special educational needs and disabilities.
    #[serde(default)]
    pub send: bool,
    /// A mental-health need.
    #[serde(default)]
    pub mental_health: bool,
    /// Neurodiversity, such as autism or ADHD.
    #[serde(default)]
    pub neurodiversity: bool,
    /// Other safeguarding concerns, such as exploitation or neglect.
    #[serde(default)]
    pub other_safeguarding: bool,
    /// Anything more about these needs.
    #[serde(default)]
    #[schema(
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    #[validate(length(max = 5000))]
    pub notes: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validated values
// ---------------------------------------------------------------------------------------------

/// A UK postcode, in upper case with one space before the inward code, e.g. `LS1 1AA`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Postcode(String);

/// Why a string is not a [`Postcode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a UK postcode such as LS1 1AA")]
pub struct InvalidPostcode;

impl Postcode {
    /// Parses a UK postcode in any case and spacing, e.g. `ls11aa`, into `LS1 1AA`.
    pub fn parse(raw: &str) -> Result<Postcode, InvalidPostcode> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if compact == "GIR0AA" {
            return Ok(Postcode("GIR 0AA".to_owned()));
        }
        if !compact.is_ascii() || !(5..=7).contains(&compact.len()) {
            return Err(InvalidPostcode);
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let outward_ok = matches!(
            shape(outward).as_str(),
            "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A"
        );
        if outward_ok && shape(inward) == "9AA" {
            Ok(Postcode(format!("{outward} {inward}")))
        } else {
            Err(InvalidPostcode)
        }
    }

    /// The postcode as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `A` for each letter and `9` for each digit: `LS1` becomes `AA9`.
fn shape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'A'..='Z' => 'A',
            '0'..='9' => '9',
            _ => '?',
        })
        .collect()
}

/// An email address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    /// Longer than 254 characters.
    #[error("an email address is at most 254 characters")]
    TooLong,
    /// Not of the form `name@example.org`.
    #[error("an email address such as name@example.org")]
    Malformed,
}

impl Email {
    /// Parses an address of the form `local@domain.tld` (ASCII; quoted local parts and IP
    /// literals are refused: no referral needs them).
    pub fn parse(raw: &str) -> Result<Email, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > EMAIL_MAX {
            return Err(InvalidEmail::TooLong);
        }
        let (local, domain) = email.rsplit_once('@').ok_or(InvalidEmail::Malformed)?;
        if is_local_part(local) && is_domain(domain) {
            Ok(Email(email))
        } else {
            Err(InvalidEmail::Malformed)
        }
    }

    /// The address as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An RFC 5322 dot-atom: ASCII letters, digits and the usual specials, with single inner dots.
fn is_local_part(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

/// Two or more DNS labels, the last not all digits (so not an IP address).
fn is_domain(domain: &str) -> bool {
    let is_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| is_label(label))
        && labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()))
}

/// A phone number: digits, with a leading `+` for an international number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Why a string is not a [`Phone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a phone number of 10 to 15 digits, such as 0113 496 0000 or +44 113 496 0000")]
pub struct InvalidPhone;

impl Phone {
    /// Parses a number written with spaces, hyphens or brackets, e.g. `(0113) 496-0000`.
    pub fn parse(raw: &str) -> Result<Phone, InvalidPhone> {
        let raw = raw.trim();
        let (international, rest) = match raw.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        // In `+44 (0)113 ...` the bracketed trunk zero is not dialled from abroad.
        let rest = if international {
            rest.replacen("(0)", "", 1)
        } else {
            rest.to_owned()
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '(' | ')' => {}
                _ => return Err(InvalidPhone),
            }
        }
        if !(PHONE_DIGITS_MIN..=PHONE_DIGITS_MAX).contains(&digits.len()) {
            return Err(InvalidPhone);
        }
        Ok(Phone(if international {
            format!("+{digits}")
        } else {
            digits
        }))
    }

    /// The number as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated referral: only [`ReferralRequest::validate`] makes one.
///
/// It serialises in the shape of [`ReferralRequest`], normalised, so a stored referral can be
/// read back as a request and validated again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    area: Option<Area>,
    subject: Subject,
    guardians: Vec<Guardian>,
    referrer: Referrer,
    concern: Concern,
    vulnerabilities: Vulnerabilities,
    subject_aware: Option<bool>,
    guardians_informed: Option<bool>,
    discussed_with_safeguarding_lead: Option<bool>,
    other_agencies_involved: Vec<Agency>,
    immediate_risk: bool,
}

/// The validated subject of a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    given_name: String,
    family_name: String,
    aliases: Vec<String>,
    date_of_birth: Option<NaiveDate>,
    approximate_age: Option<u32>,
    gender: Option<Gender>,
    address: Option<Address>,
    nationality: Option<String>,
    first_language: Option<String>,
    interpreter_needed: Option<bool>,
    school_or_employer: Option<String>,
    phone: Option<Phone>,
    email: Option<Email>,
    social_media_handles: Vec<String>,
    ethnicity: Option<String>,
    religion: Option<String>,
}

/// A validated UK postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    line1: String,
    line2: Option<String>,
    town: Option<String>,
    postcode: Option<Postcode>,
}

/// A validated parent, guardian or carer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guardian {
    name: String,
    relationship: Option<Relationship>,
    phone: Option<Phone>,
    email: Option<Email>,
}

/// The validated referrer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrer {
    name: String,
    role: String,
    organisation: String,
    sector: Sector,
    email: Option<Email>,
    phone: Option<Phone>,
}

/// The validated concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Concern {
    narrative: String,
    type_of_concern: Option<TypeOfConcern>,
    indicators: Vec<Indicator>,
    first_noticed: Option<NaiveDate>,
    incident_dates: Vec<NaiveDate>,
    online_activity: Option<String>,
    threats_or_intent: Option<String>,
}

/// The validated vulnerabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vulnerabilities {
    send: bool,
    mental_health: bool,
    neurodiversity: bool,
    other_safeguarding: bool,
    notes: Option<String>,
}

impl Referral {
    /// The subject's local authority, when the referrer gave one (never `national`).
    pub fn area(&self) -> Option<&Area> {
        self.area.as_ref()
    }

    /// This referral with `fallback` (the referrer's own area) as its area when none was
    /// given. A national fallback is refused: a case belongs to one local authority.
    pub fn with_default_area(mut self, fallback: &Area) -> Result<Referral, FieldError> {
        if self.area.is_none() {
            if fallback.is_national() {
                return Err(FieldError::new(
                    "area",
                    "required",
                    "give the local authority where the subject lives: your own area is national",
                ));
            }
            self.area = Some(fallback.clone());
        }
        Ok(self)
    }

    /// The person the concern is about.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// Parents, guardians or carers.
    pub fn guardians(&self) -> &[Guardian] {
        &self.guardians
    }

    /// The person who made the referral.
    pub fn referrer(&self) -> &Referrer {
        &self.referrer
    }

    /// The referrer's sector (for the statistics' sector of referral).
    pub fn referrer_sector(&self) -> Sector {
        self.referrer.sector
    }

    /// The concern.
    pub fn concern(&self) -> &Concern {
        &self.concern
    }

    /// The type of concern, where the referrer said.
    pub fn type_of_concern(&self) -> Option<TypeOfConcern> {
        self.concern.type_of_concern
    }

    /// The subject's vulnerabilities.
    pub fn vulnerabilities(&self) -> &Vulnerabilities {
        &self.vulnerabilities
    }

    /// Whether the subject knows about the referral; `None` when not known.
    pub fn subject_aware(&self) -> Option<bool> {
        self.subject_aware
    }

    /// Whether the subject's guardians have been told; `None` when not known.
    pub fn guardians_informed(&self) -> Option<bool> {
        self.guardians_informed
    }

    /// Whether the referrer discussed it with their safeguarding lead; `None` when not known.
    pub fn discussed_with_safeguarding_lead(&self) -> Option<bool> {
        self.discussed_with_safeguarding_lead
    }

    /// Other agencies already involved, each once.
    pub fn other_agencies_involved(&self) -> &[Agency] {
        &self.other_agencies_involved
    }

    /// True when the referrer reported an immediate risk (which calls for 999).
    pub fn immediate_risk(&self) -> bool {
        self.immediate_risk
    }

    /// The key that links repeat referrals about one person: the family and given names in
    /// their compared form (see [`match_form`]) and the date of birth, as
    /// `family|given|YYYY-MM-DD`. `None` without a date of birth.
    pub fn subject_match_key(&self) -> Option<String> {
        match_key(
            &self.subject.given_name,
            &self.subject.family_name,
            self.subject.date_of_birth?,
        )
    }
}

/// The repeat-referral match key of a person: `family|given|YYYY-MM-DD`, the names in
/// their compared form (see [`match_form`]). `None` when a name has nothing to compare.
pub fn match_key(given_name: &str, family_name: &str, date_of_birth: NaiveDate) -> Option<String> {
    let family = match_form(family_name);
    let given = match_form(given_name);
    // A name of nothing but punctuation would link unrelated people.
    if family.is_empty() || given.is_empty() {
        return None;
    }
    Some(format!(
        "{family}|{given}|{}",
        date_of_birth.format("%Y-%m-%d")
    ))
}

impl Subject {
    /// Given name.
    pub fn given_name(&self) -> &str {
        &self.given_name
    }

    /// Family name.
    pub fn family_name(&self) -> &str {
        &self.family_name
    }

    /// Other names the subject uses.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// Date of birth, when known.
    pub fn date_of_birth(&self) -> Option<NaiveDate> {
        self.date_of_birth
    }

    /// Approximate age in years as the referrer gave it, when known.
    pub fn approximate_age(&self) -> Option<u32> {
        self.approximate_age
    }

    /// What this subject's age is worked out from, for a referral filed on `filed_on`.
    pub fn age(&self, filed_on: NaiveDate) -> SubjectAge {
        SubjectAge {
            date_of_birth: self.date_of_birth,
            approximate_age: self.approximate_age,
            filed_on,
        }
    }

    /// Gender, when given.
    pub fn gender(&self) -> Option<Gender> {
        self.gender
    }

    /// Home address, when given.
    pub fn address(&self) -> Option<&Address> {
        self.address.as_ref()
    }

    /// Nationality.
    pub fn nationality(&self) -> Option<&str> {
        self.nationality.as_deref()
    }

    /// First language.
    pub fn first_language(&self) -> Option<&str> {
        self.first_language.as_deref()
    }

    /// Whether an interpreter is needed; `None` when not known.
    pub fn interpreter_needed(&self) -> Option<bool> {
        self.interpreter_needed
    }

    /// School, college or employer.
    pub fn school_or_employer(&self) -> Option<&str> {
        self.school_or_employer.as_deref()
    }

    /// Phone number.
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref()
    }

    /// Email address.
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }

    /// Social-media handles.
    pub fn social_media_handles(&self) -> &[String] {
        &self.social_media_handles
    }

    /// Ethnicity (special-category data).
    pub fn ethnicity(&self) -> Option<&str> {
        self.ethnicity.as_deref()
    }

    /// Religion (special-category data).
    pub fn religion(&self) -> Option<&str> {
        self.religion.as_deref()
    }
}

impl Address {
    /// First line.
    pub fn line1(&self) -> &str {
        &self.line1
    }

    /// Second line.
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }

    /// Town or city.
    pub fn town(&self) -> Option<&str> {
        self.town.as_deref()
    }

    /// Postcode, normalised.
    pub fn postcode(&self) -> Option<&Postcode> {
        self.postcode.as_ref()
    }
}

impl Guardian {
    /// Full name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Relationship to the subject.
    pub fn relationship(&self) -> Option<Relationship> {
        self.relationship
    }

    /// Phone number.
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref()
    }

    /// Email address.
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }
}

impl Referrer {
    /// Full name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Job title or role.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Organisation.
    pub fn organisation(&self) -> &str {
        &self.organisation
    }

    /// Sector.
    pub fn sector(&self) -> Sector {
        self.sector
    }

    /// Work email address.
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }

    /// Work phone number.
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref()
    }
}

impl Concern {
    /// What happened and why the referrer is worried.
    pub fn narrative(&self) -> &str {
        &self.narrative
    }

    /// The type of concern, where known.
    pub fn type_of_concern(&self) -> Option<TypeOfConcern> {
        self.type_of_concern
    }

    /// What was seen or heard, each once.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// When the concern was first noticed.
    pub fn first_noticed(&self) -> Option<NaiveDate> {
        self.first_noticed
    }

    /// Dates of particular incidents.
    pub fn incident_dates(&self) -> &[NaiveDate] {
        &self.incident_dates
    }

    /// Worrying online activity.
    pub fn online_activity(&self) -> Option<&str> {
        self.online_activity.as_deref()
    }

    /// Threats or expressions of intent to harm.
    pub fn threats_or_intent(&self) -> Option<&str> {
        self.threats_or_intent.as_deref()
    }
}

impl Vulnerabilities {
    /// Special educational needs and disabilities.
    pub fn send(&self) -> bool {
        self.send
    }

    /// A mental-health need.
    pub fn mental_health(&self) -> bool {
        self.mental_health
    }

    /// Neurodiversity.
    pub fn neurodiversity(&self) -> bool {
        self.neurodiversity
    }

    /// Other safeguarding concerns.
    pub fn other_safeguarding(&self) -> bool {
        self.other_safeguarding
    }

    /// Notes on these needs.
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }
}

/// What a subject's age on a day is worked out from: the one age rule of the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubjectAge {
    /// The date of birth, when known.
    pub date_of_birth: Option<NaiveDate>,
    /// The approximate age given, when there is no date of birth.
    pub approximate_age: Option<u32>,
    /// The day the referral was filed, when the approximate age was true.
    pub filed_on: NaiveDate,
}

impl SubjectAge {
    /// The age in whole years on `on` (a 29 February birthday comes on 1 March in other
    /// years): from the date of birth, else the approximate age given when the referral
    /// was filed plus the years since. `None` when neither is known or `on` is before
    /// the birth.
    pub fn on(&self, on: NaiveDate) -> Option<u32> {
        if let Some(dob) = self.date_of_birth {
            return on.years_since(dob);
        }
        Some(self.approximate_age? + on.years_since(self.filed_on).unwrap_or(0))
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

impl ReferralRequest {
    /// Validates and normalises the whole body against `today`, reporting every invalid
    /// field (with its dotted path and a stable code), not only the first.
    pub fn validate(self, today: NaiveDate) -> Result<Referral, Vec<FieldError>> {
        let declared = super::rules::declared(&self);
        let mut f = Failures::default();
        // Blank is not an area: leave `area` out to file in your own.
        let area = self
            .area
            .as_deref()
            .and_then(|raw| match Area::parse(raw.trim()) {
                Ok(area) if !area.is_national() => Some(area),
                _ => {
                    f.add(
                        "area",
                        "invalid_area",
                        "a local authority's GSS code, such as E08000035",
                    );
                    None
                }
            });
        // Checked in the order of the body, so the failures are listed in that order too.
        let subject = self.subject.check(&mut f, today);
        let guardians = if self.guardians.len() <= GUARDIANS_MAX {
            self.guardians
                .iter()
                .enumerate()
                .map(|(i, guardian)| guardian.check(&mut f, &format!("guardians[{i}]")))
                .collect()
        } else {
            Vec::new()
        };
        let referral = Referral {
            area,
            subject,
            guardians,
            referrer: self.referrer.check(&mut f),
            concern: self.concern.check(&mut f, today),
            vulnerabilities: self.vulnerabilities.check(&mut f),
            subject_aware: self.subject_aware,
            guardians_informed: self.guardians_informed,
            discussed_with_safeguarding_lead: self.discussed_with_safeguarding_lead,
            other_agencies_involved: distinct(&self.other_agencies_involved, LIST_MAX),
            immediate_risk: self.immediate_risk,
        };
        let mut errors = super::rules::merged(f.0, declared);
        // Listed in the order of the body's sections, so a form can show them top to bottom.
        errors.sort_by_key(|e| section(&e.field));
        if errors.is_empty() {
            Ok(referral)
        } else {
            Err(errors)
        }
    }
}

/// The position in the body of the section `field` belongs to.
fn section(field: &str) -> usize {
    const SECTIONS: [&str; 7] = [
        "area",
        "subject",
        "guardians",
        "referrer",
        "concern",
        "vulnerabilities",
        "other_agencies_involved",
    ];
    let head = field.split(['.', '[']).next().unwrap_or_default();
    SECTIONS
        .iter()
        .position(|s| *s == head)
        .unwrap_or(SECTIONS.len())
}

/// A subject has a date of birth or, when it is not known, an approximate age.
fn born_or_aged(subject: &SubjectRequest) -> Result<(), validator::ValidationError> {
    if non_empty(subject.date_of_birth.as_deref()).is_none() && subject.approximate_age.is_none() {
        return Err(super::rules::failure(
            "date_of_birth",
            "required",
            "give a date of birth, or an approximate age when it is not known",
        ));
    }
    Ok(())
}

impl SubjectRequest {
    fn check(&self, f: &mut Failures, today: NaiveDate) -> Subject {
        let given_name = f.required_text("subject.given_name", &self.given_name, Text::Name);
        let family_name = f.required_text("subject.family_name", &self.family_name, Text::Name);
        let aliases = f.text_list("subject.aliases", &self.aliases, Text::Name, ALIASES_MAX);
        // A blank date is not a date: the document says `format: date`, and a client that
        // does not know it leaves the field out or sends null.
        let date_of_birth_given = self.date_of_birth.as_deref();
        let date_of_birth = date_of_birth_given.and_then(|raw| {
            let born = f.past_date("subject.date_of_birth", raw, today)?;
            // `None` only at the very start of chrono's calendar, where nothing is too old.
            let earliest = today.checked_sub_months(Months::new(MAX_AGE_YEARS * 12));
            if earliest.is_some_and(|earliest| born < earliest) {
                f.add(
                    "subject.date_of_birth",
                    "implausible_date_of_birth",
                    format!("a date of birth at most {MAX_AGE_YEARS} years ago"),
                );
                return None;
            }
            Some(born)
        });
        // Its range is a declared rule; out of range, it is refused there.
        let approximate_age = self
            .approximate_age
            .and_then(|age| u32::try_from(age).ok())
            .filter(|age| *age <= MAX_AGE_YEARS);
        Subject {
            given_name,
            family_name,
            aliases,
            date_of_birth,
            approximate_age,
            gender: self.gender,
            address: self
                .address
                .as_ref()
                .map(|address| address.check(f, "subject.address")),
            nationality: f.optional_text(
                "subject.nationality",
                self.nationality.as_deref(),
                Text::Short,
            ),
            first_language: f.optional_text(
                "subject.first_language",
                self.first_language.as_deref(),
                Text::Short,
            ),
            interpreter_needed: self.interpreter_needed,
            school_or_employer: f.optional_text(
                "subject.school_or_employer",
                self.school_or_employer.as_deref(),
                Text::Short,
            ),
            phone: f.phone("subject.phone", self.phone.as_deref()),
            email: f.email("subject.email", self.email.as_deref()),
            social_media_handles: f.text_list(
                "subject.social_media_handles",
                &self.social_media_handles,
                Text::Short,
                HANDLES_MAX,
            ),
            ethnicity: f.optional_text("subject.ethnicity", self.ethnicity.as_deref(), Text::Short),
            religion: f.optional_text("subject.religion", self.religion.as_deref(), Text::Short),
        }
    }
}

impl AddressRequest {
    fn check(&self, f: &mut Failures, at: &str) -> Address {
        let postcode = non_empty(self.postcode.as_deref()).and_then(|raw| {
            Postcode::parse(raw)
                .map_err(|e| f.add(&format!("{at}.postcode"), "invalid_postcode", e.to_string()))
                .ok()
        });
        Address {
            line1: f.required_text(&format!("{at}.line1"), &self.line1, Text::Short),
            line2: f.optional_text(&format!("{at}.line2"), self.line2.as_deref(), Text::Short),
            town: f.optional_text(&format!("{at}.town"), self.town.as_deref(), Text::Short),
            postcode,
        }
    }
}

impl GuardianRequest {
    fn check(&self, f: &mut Failures, at: &str) -> Guardian {
        Guardian {
            name: f.required_text(&format!("{at}.name"), &self.name, Text::Name),
            relationship: self.relationship,
            phone: f.phone(&format!("{at}.phone"), self.phone.as_deref()),
            email: f.email(&format!("{at}.email"), self.email.as_deref()),
        }
    }
}

impl ReferrerRequest {
    fn check(&self, f: &mut Failures) -> Referrer {
        let name = f.required_text("referrer.name", &self.name, Text::Name);
        let role = f.required_text("referrer.role", &self.role, Text::Short);
        let organisation =
            f.required_text("referrer.organisation", &self.organisation, Text::Short);
        // Required by a declared rule: without one, the errors are returned, never this value.
        let sector = self.sector.unwrap_or(Sector::Other);
        Referrer {
            name,
            role,
            organisation,
            sector,
            email: f.email("referrer.email", self.email.as_deref()),
            phone: f.phone("referrer.phone", self.phone.as_deref()),
        }
    }
}

impl ConcernRequest {
    fn check(&self, f: &mut Failures, today: NaiveDate) -> Concern {
        let narrative = f.required_text("concern.narrative", &self.narrative, Text::Narrative);
        let indicators = distinct(&self.indicators, LIST_MAX);
        let first_noticed = self
            .first_noticed
            .as_deref()
            .and_then(|raw| f.past_date("concern.first_noticed", raw, today));
        let incident_dates = if self.incident_dates.len() <= INCIDENT_DATES_MAX {
            self.incident_dates
                .iter()
                .enumerate()
                .filter_map(|(i, raw)| {
                    let field = format!("concern.incident_dates[{i}]");
                    if raw.trim().is_empty() {
                        f.add(&field, "required", "this is required");
                        return None;
                    }
                    f.past_date(&field, raw, today)
                })
                .collect()
        } else {
            Vec::new()
        };
        Concern {
            narrative,
            type_of_concern: self.type_of_concern,
            indicators,
            first_noticed,
            incident_dates,
            online_activity: f.optional_text(
                "concern.online_activity",
                self.online_activity.as_deref(),
                Text::Long,
            ),
            threats_or_intent: f.optional_text(
                "concern.threats_or_intent",
                self.threats_or_intent.as_deref(),
                Text::Long,
            ),
        }
    }
}

impl VulnerabilitiesRequest {
    fn check(&self, f: &mut Failures) -> Vulnerabilities {
        Vulnerabilities {
            send: self.send,
            mental_health: self.mental_health,
            neurodiversity: self.neurodiversity,
            other_safeguarding: self.other_safeguarding,
            notes: f.optional_text("vulnerabilities.notes", self.notes.as_deref(), Text::Long),
        }
    }
}

/// The kinds of free text, each with its length limits and whether it may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Name,
    Short,
    Long,
    Narrative,
}

impl Text {
    fn max_chars(self) -> usize {
        match self {
            Text::Name => NAME_MAX,
            Text::Short => SHORT_TEXT_MAX,
            Text::Long => LONG_TEXT_MAX,
            Text::Narrative => NARRATIVE_MAX,
        }
    }

    fn multiline(self) -> bool {
        matches!(self, Text::Long | Text::Narrative)
    }
}

/// One field's failure: a stable code and a message for a person.
struct Invalid {
    code: &'static str,
    message: String,
}

/// `raw` trimmed and checked against `kind`; `Ok("")` when nothing is left. A field's
/// length is a declared rule of its body; what is left here is what `validator` cannot
/// say (trimming, control and invisible characters).
fn clean_text(raw: &str, kind: Text) -> Result<String, Invalid> {
    let text = if kind.multiline() {
        // Browsers send the line breaks of a text area as CRLF.
        raw.trim().replace("\r\n", "\n")
    } else {
        raw.trim().to_owned()
    };
    let allowed = |c: char| !c.is_control() || (kind.multiline() && matches!(c, '\n' | '\t'));
    if !text.chars().all(allowed) {
        let message = if kind.multiline() {
            "no control characters other than line breaks and tabs"
        } else {
            "no control characters, line breaks or tabs"
        };
        return Err(Invalid {
            code: "control_characters",
            message: message.to_owned(),
        });
    }
    // An invisible character in a name hides it from repeat-referral linking and from the
    // officer reading it; the name is refused, not cleaned, so what is stored is what was sent.
    if kind == Text::Name
        && let Some(c) = invisible_character(&text)
    {
        return Err(Invalid {
            code: "invisible_character",
            message: format!(
                "no invisible or formatting characters in a name (found U+{:04X})",
                u32::from(c)
            ),
        });
    }
    Ok(text)
}

/// Parses exactly `YYYY-MM-DD`; chrono alone would also take `2010-3-14` or a signed year.
fn parse_iso_date(s: &str) -> Option<NaiveDate> {
    let bytes = s.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if shaped {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    } else {
        None
    }
}

/// A list of coded values, each kept once, in the order first given; empty when over
/// `max` (the declared rule refuses it).
fn distinct<T: Copy + PartialEq>(raw: &[T], max: usize) -> Vec<T> {
    if raw.len() > max {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for item in raw {
        if !out.contains(item) {
            out.push(*item);
        }
    }
    out
}

/// `raw` trimmed, or `None` when absent or blank: blank optional fields count as not given.
fn non_empty(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// The failures of one request, collected so that all are reported together.
#[derive(Default)]
struct Failures(Vec<FieldError>);

impl Failures {
    fn add(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    fn required_text(&mut self, field: &str, raw: &str, kind: Text) -> String {
        match clean_text(raw, kind) {
            Ok(text) if text.is_empty() => {
                self.add(field, "required", "this is required");
                text
            }
            Ok(text) => text,
            Err(invalid) => {
                self.add(field, invalid.code, invalid.message);
                String::new()
            }
        }
    }

    fn optional_text(&mut self, field: &str, raw: Option<&str>, kind: Text) -> Option<String> {
        match clean_text(raw?, kind) {
            Ok(text) if text.is_empty() => None,
            Ok(text) => Some(text),
            Err(invalid) => {
                self.add(field, invalid.code, invalid.message);
                None
            }
        }
    }

    /// A list of texts, each required: an empty entry says nothing. The list's count is a
    /// declared rule; over it, the items are not checked one by one (that could report
    /// thousands of failures). `validator` cannot bound a string inside a list, so each
    /// item's length is checked here.
    fn text_list(&mut self, field: &str, raw: &[String], kind: Text, max: usize) -> Vec<String> {
        if raw.len() > max {
            return Vec::new();
        }
        raw.iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{field}[{i}]");
                let text = self.required_text(&at, item, kind);
                if text.chars().count() > kind.max_chars() {
                    let message = format!("at most {} characters", kind.max_chars());
                    self.add(&at, "too_long", message);
                }
                text
            })
            .collect()
    }

    /// A date that has happened by `today`.
    fn past_date(&mut self, field: &str, raw: &str, today: NaiveDate) -> Option<NaiveDate> {
        let Some(date) = parse_iso_date(raw.trim()) else {
            self.add(field, "invalid_date", "a real date written YYYY-MM-DD");
            return None;
        };
        if date > today {
            self.add(field, "date_in_future", "a date no later than today");
            return None;
        }
        Some(date)
    }

    fn email(&mut self, field: &str, raw: Option<&str>) -> Option<Email> {
        let raw = non_empty(raw)?;
        match Email::parse(raw) {
            Ok(email) => Some(email),
            Err(e) => {
                let code = match e {
                    InvalidEmail::TooLong => "too_long",
                    InvalidEmail::Malformed => "invalid_email",
                };
                self.add(field, code, e.to_string());
                None
            }
        }
    }

    fn phone(&mut self, field: &str, raw: Option<&str>) -> Option<Phone> {
        let raw = non_empty(raw)?;
        Phone::parse(raw)
            .map_err(|e| self.add(field, "invalid_phone", e.to_string()))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The example body of the API contract.
    const EXAMPLE: &str = r#"{
      "area": "E08000035",
      "subject": {
        "given_name": "Sam", "family_name": "Taylor", "aliases": [],
        "date_of_birth": "2010-03-14", "gender": "male",
        "address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"},
        "first_language": "English", "interpreter_needed": false,
        "school_or_employer": "Leeds Academy"
      },
      "guardians": [{"name": "Alex Taylor", "relationship": "parent", "phone": "07700900123"}],
      "referrer": {
        "name": "Jo Smith", "role": "Designated Safeguarding Lead", "organisation": "Leeds Academy",
        "sector": "education", "email": "jo.smith@school.example", "phone": "01130000000"
      },
      "concern": {
        "narrative": "Shared extreme right-wing material in class and talked about hurting people.",
        "type_of_concern": "extreme_right_wing",
        "indicators": ["online_activity", "expressed_intent_to_harm"],
        "first_noticed": "2026-11-01"
      },
      "vulnerabilities": {"send": false, "mental_health": false, "neurodiversity": true},
      "subject_aware": false, "guardians_informed": true, "discussed_with_safeguarding_lead": true,
      "other_agencies_involved": ["childrens_social_care"],
      "immediate_risk": false
    }"#;

    /// A change to the example body.
    type Edit = fn(&mut Value);

    fn today() -> NaiveDate {
        date("2026-12-01")
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test dates are valid")
    }

    fn example() -> Value {
        serde_json::from_str(EXAMPLE).expect("the example is JSON")
    }

    /// Sets the value at a JSON pointer, creating the last key or appending at the last index.
    fn set(body: &mut Value, pointer: &str, value: Value) {
        let (parent, last) = pointer.rsplit_once('/').expect("a pointer has a slash");
        let parent = body.pointer_mut(parent).expect("the parent exists");
        match parent {
            Value::Object(map) => {
                map.insert(last.to_owned(), value);
            }
            Value::Array(items) => {
                let i: usize = last.parse().expect("an array index");
                if i == items.len() {
                    items.push(value);
                } else {
                    items[i] = value;
                }
            }
            _ => panic!("{pointer} does not point into an object or array"),
        }
    }

    fn remove(body: &mut Value, pointer: &str) {
        let (parent, last) = pointer.rsplit_once('/').expect("a pointer has a slash");
        body.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("the parent is an object")
            .remove(last);
    }

    fn validate(body: Value) -> Result<Referral, Vec<FieldError>> {
        serde_json::from_value::<ReferralRequest>(body)
            .expect("the body deserialises")
            .validate(today())
    }

    fn failures(body: Value) -> Vec<(String, String)> {
        match validate(body) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(field, code)| ((*field).to_owned(), (*code).to_owned()))
            .collect()
    }

    #[test]
    fn the_api_example_parses_and_validates() {
        let referral = validate(example()).expect("the example is valid");
        assert_eq!(referral.area().map(Area::as_str), Some("E08000035"));
        assert_eq!(referral.subject().given_name(), "Sam");
        assert_eq!(referral.subject().family_name(), "Taylor");
        assert_eq!(referral.subject().date_of_birth(), Some(date("2010-03-14")));
        assert_eq!(referral.subject().gender(), Some(Gender::Male));
        let postcode = referral.subject().address().and_then(Address::postcode);
        assert_eq!(postcode.map(Postcode::as_str), Some("LS1 1AA"));
        assert_eq!(referral.guardians().len(), 1);
        assert_eq!(
            referral.guardians()[0].relationship(),
            Some(Relationship::Parent)
        );
        assert_eq!(referral.referrer_sector(), Sector::Education);
        assert_eq!(
            referral.type_of_concern(),
            Some(TypeOfConcern::ExtremeRightWing)
        );
        assert_eq!(
            referral.concern().indicators(),
            [Indicator::OnlineActivity, Indicator::ExpressedIntentToHarm]
        );
        assert_eq!(referral.concern().first_noticed(), Some(date("2026-11-01")));
        assert!(referral.vulnerabilities().neurodiversity());
        assert!(!referral.vulnerabilities().mental_health());
        assert_eq!(referral.subject_aware(), Some(false));
        assert_eq!(referral.guardians_informed(), Some(true));
        assert_eq!(
            referral.other_agencies_involved(),
            [Agency::ChildrensSocialCare]
        );
        assert!(!referral.immediate_risk());
        assert_eq!(referral.subject().age(today()).on(today()), Some(16));
    }

    #[test]
    fn values_are_trimmed_and_normalised() {
        let mut body = example();
        set(&mut body, "/subject/given_name", json!("  Sam \t"));
        set(&mut body, "/subject/address/postcode", json!(" ls11aa "));
        set(
            &mut body,
            "/referrer/email",
            json!(" Jo.Smith@School.Example "),
        );
        set(&mut body, "/referrer/phone", json!("+44 (0)113 496-0000"));
        set(&mut body, "/guardians/0/phone", json!("(0113) 496 0000"));
        set(&mut body, "/subject/nationality", json!("   "));
        set(
            &mut body,
            "/concern/online_activity",
            json!("Posts on a forum.\r\nShares videos.\t(nightly)"),
        );
        let referral = validate(body).expect("valid after normalising");
        assert_eq!(referral.subject().given_name(), "Sam");
        assert_eq!(
            referral.subject().address().and_then(Address::postcode),
            Postcode::parse("LS1 1AA").ok().as_ref()
        );
        assert_eq!(
            referral.referrer().email().map(Email::as_str),
            Some("jo.smith@school.example")
        );
        assert_eq!(
            referral.referrer().phone().map(Phone::as_str),
            Some("+441134960000")
        );
        assert_eq!(
            referral.guardians()[0].phone().map(Phone::as_str),
            Some("01134960000")
        );
        assert_eq!(
            referral.subject().nationality(),
            None,
            "a blank optional field is not given"
        );
        assert_eq!(
            referral.concern().online_activity(),
            Some("Posts on a forum.\nShares videos.\t(nightly)")
        );
    }

    #[test]
    fn each_bad_input_is_reported_against_its_field_with_its_code() {
        let cases: &[(&str, Edit, &str, &str)] = &[
            (
                "a blank given name",
                |b| set(b, "/subject/given_name", json!("   ")),
                "subject.given_name",
                "required",
            ),
            (
                "a missing family name",
                |b| remove(b, "/subject/family_name"),
                "subject.family_name",
                "required",
            ),
            (
                "a family name of 101 characters",
                |b| set(b, "/subject/family_name", json!("x".repeat(101))),
                "subject.family_name",
                "too_long",
            ),
            (
                "a line break in a name",
                |b| set(b, "/subject/given_name", json!("Sam\nTaylor")),
                "subject.given_name",
                "control_characters",
            ),
            (
                "a tab in short text",
                |b| set(b, "/subject/school_or_employer", json!("Leeds\tAcademy")),
                "subject.school_or_employer",
                "control_characters",
            ),
            (
                "30 February",
                |b| set(b, "/subject/date_of_birth", json!("2010-02-30")),
                "subject.date_of_birth",
                "invalid_date",
            ),
            (
                "a date written day first",
                |b| set(b, "/subject/date_of_birth", json!("14/03/2010")),
                "subject.date_of_birth",
                "invalid_date",
            ),
            (
                "a date without zero padding",
                |b| set(b, "/subject/date_of_birth", json!("2010-3-14")),
                "subject.date_of_birth",
                "invalid_date",
            ),
            (
                "a date of birth tomorrow",
                |b| set(b, "/subject/date_of_birth", json!("2026-12-02")),
                "subject.date_of_birth",
                "date_in_future",
            ),
            (
                "a date of birth a day more than 120 years ago",
                |b| set(b, "/subject/date_of_birth", json!("1906-11-30")),
                "subject.date_of_birth",
                "implausible_date_of_birth",
            ),
            (
                "neither a date of birth nor an approximate age",
                |b| remove(b, "/subject/date_of_birth"),
                "subject.date_of_birth",
                "required",
            ),
            (
                "an approximate age over 120",
                |b| {
                    set(b, "/subject/date_of_birth", Value::Null);
                    set(b, "/subject/approximate_age", json!(121));
                },
                "subject.approximate_age",
                "out_of_range",
            ),
            (
                "a negative approximate age",
                |b| {
                    set(b, "/subject/date_of_birth", Value::Null);
                    set(b, "/subject/approximate_age", json!(-1));
                },
                "subject.approximate_age",
                "out_of_range",
            ),
            (
                "a postcode missing a letter",
                |b| set(b, "/subject/address/postcode", json!("LS1 1A")),
                "subject.address.postcode",
                "invalid_postcode",
            ),
            (
                "an empty first address line",
                |b| set(b, "/subject/address/line1", json!("")),
                "subject.address.line1",
                "required",
            ),
            (
                "an email without a domain",
                |b| set(b, "/subject/email", json!("sam@")),
                "subject.email",
                "invalid_email",
            ),
            (
                "an email of 255 characters",
                |b| {
                    let long = format!("{}@example.org", "a".repeat(243));
                    set(b, "/referrer/email", json!(long));
                },
                "referrer.email",
                "too_long",
            ),
            (
                "a phone number of 7 digits",
                |b| set(b, "/referrer/phone", json!("0113 000")),
                "referrer.phone",
                "invalid_phone",
            ),
            (
                "a phone number with letters",
                |b| set(b, "/guardians/0/phone", json!("07700 CALL ME")),
                "guardians[0].phone",
                "invalid_phone",
            ),
            (
                "a second guardian without a name",
                |b| {
                    set(
                        b,
                        "/guardians/1",
                        json!({"name": " ", "relationship": "carer"}),
                    )
                },
                "guardians[1].name",
                "required",
            ),
            (
                "a guardian with a bad email",
                |b| set(b, "/guardians/0/email", json!("alex@@example.org")),
                "guardians[0].email",
                "invalid_email",
            ),
            (
                "an area of eight characters",
                |b| set(b, "/area", json!("E0800003")),
                "area",
                "invalid_area",
            ),
            (
                "the national pseudo-area",
                |b| set(b, "/area", json!("national")),
                "area",
                "invalid_area",
            ),
            (
                "an empty referrer role",
                |b| set(b, "/referrer/role", json!("")),
                "referrer.role",
                "required",
            ),
            (
                "an organisation of 201 characters",
                |b| set(b, "/referrer/organisation", json!("o".repeat(201))),
                "referrer.organisation",
                "too_long",
            ),
            (
                "no referrer sector",
                |b| remove(b, "/referrer/sector"),
                "referrer.sector",
                "required",
            ),
            (
                "a narrative of 9 characters",
                |b| set(b, "/concern/narrative", json!("Too short")),
                "concern.narrative",
                "too_short",
            ),
            (
                "a narrative of 20,001 characters",
                |b| set(b, "/concern/narrative", json!("n".repeat(20_001))),
                "concern.narrative",
                "too_long",
            ),
            (
                "a bell character in the narrative",
                |b| {
                    set(
                        b,
                        "/concern/narrative",
                        json!("Said \u{7}something worrying."),
                    )
                },
                "concern.narrative",
                "control_characters",
            ),
            (
                "first noticed tomorrow",
                |b| set(b, "/concern/first_noticed", json!("2026-12-02")),
                "concern.first_noticed",
                "date_in_future",
            ),
            (
                "an incident date that is not a date",
                |b| {
                    set(
                        b,
                        "/concern/incident_dates",
                        json!(["2026-01-01", "last week"]),
                    )
                },
                "concern.incident_dates[1]",
                "invalid_date",
            ),
            (
                "an incident date in the future",
                |b| set(b, "/concern/incident_dates", json!(["2027-01-01"])),
                "concern.incident_dates[0]",
                "date_in_future",
            ),
            (
                "51 incident dates",
                |b| set(b, "/concern/incident_dates", json!(vec!["2026-01-01"; 51])),
                "concern.incident_dates",
                "too_many",
            ),
            (
                "21 aliases",
                |b| set(b, "/subject/aliases", json!(vec!["Sammy"; 21])),
                "subject.aliases",
                "too_many",
            ),
            (
                "a blank alias",
                |b| set(b, "/subject/aliases", json!(["Sammy", "  "])),
                "subject.aliases[1]",
                "required",
            ),
            (
                "a social-media handle of 201 characters",
                |b| set(b, "/subject/social_media_handles", json!(["h".repeat(201)])),
                "subject.social_media_handles[0]",
                "too_long",
            ),
            (
                "21 social-media handles",
                |b| set(b, "/subject/social_media_handles", json!(vec!["@sam"; 21])),
                "subject.social_media_handles",
                "too_many",
            ),
            (
                "11 guardians",
                |b| set(b, "/guardians", json!(vec![json!({"name": "Alex"}); 11])),
                "guardians",
                "too_many",
            ),
            (
                "21 indicators",
                |b| set(b, "/concern/indicators", json!(vec!["isolation"; 21])),
                "concern.indicators",
                "too_many",
            ),
            (
                "21 other agencies",
                |b| set(b, "/other_agencies_involved", json!(vec!["police"; 21])),
                "other_agencies_involved",
                "too_many",
            ),
            (
                "online activity of 5,001 characters",
                |b| set(b, "/concern/online_activity", json!("o".repeat(5_001))),
                "concern.online_activity",
                "too_long",
            ),
            (
                "threats of 5,001 characters",
                |b| set(b, "/concern/threats_or_intent", json!("t".repeat(5_001))),
                "concern.threats_or_intent",
                "too_long",
            ),
            (
                "a NUL in the vulnerability notes",
                |b| set(b, "/vulnerabilities/notes", json!("Has an\u{0}EHCP")),
                "vulnerabilities.notes",
                "control_characters",
            ),
        ];
        for (what, edit, field, code) in cases {
            let mut body = example();
            edit(&mut body);
            assert_eq!(failures(body), pairs(&[(field, code)]), "{what}");
        }
    }

    #[test]
    fn boundary_values_are_accepted() {
        let cases: &[(&str, Edit)] = &[
            ("a date of birth exactly 120 years ago", |b| {
                set(b, "/subject/date_of_birth", json!("1906-12-01"))
            }),
            ("a date of birth today", |b| {
                set(b, "/subject/date_of_birth", json!("2026-12-01"))
            }),
            ("an approximate age of 120 without a date of birth", |b| {
                remove(b, "/subject/date_of_birth");
                set(b, "/subject/approximate_age", json!(120));
            }),
            ("a name of 100 characters", |b| {
                set(b, "/subject/family_name", json!("é".repeat(100)))
            }),
            ("a narrative of exactly 10 characters", |b| {
                set(b, "/concern/narrative", json!("0123456789"))
            }),
            ("a narrative with line breaks and tabs", |b| {
                set(b, "/concern/narrative", json!("Line one.\n\tLine two."))
            }),
            ("ten guardians", |b| {
                set(b, "/guardians", json!(vec![json!({"name": "Alex"}); 10]))
            }),
            ("50 incident dates", |b| {
                set(b, "/concern/incident_dates", json!(vec!["2026-12-01"; 50]))
            }),
            ("no area (the referrer's is used)", |b| remove(b, "/area")),
            ("no guardians, vulnerabilities or flags", |b| {
                for key in [
                    "/guardians",
                    "/vulnerabilities",
                    "/subject_aware",
                    "/immediate_risk",
                ] {
                    remove(b, key);
                }
            }),
        ];
        for (what, edit) in cases {
            let mut body = example();
            edit(&mut body);
            assert_eq!(failures(body), pairs(&[]), "{what}");
        }
    }

    #[test]
    fn every_failure_is_reported_at_once() {
        let mut body = example();
        set(&mut body, "/area", json!("X1"));
        set(&mut body, "/subject/given_name", json!(""));
        set(&mut body, "/subject/date_of_birth", json!("2030-01-01"));
        set(&mut body, "/subject/address/postcode", json!("LEEDS"));
        set(&mut body, "/guardians/0/name", json!(""));
        set(&mut body, "/referrer/email", json!("jo"));
        set(&mut body, "/concern/narrative", json!(""));
        set(&mut body, "/concern/incident_dates", json!(["2026-13-01"]));
        assert_eq!(
            failures(body),
            pairs(&[
                ("area", "invalid_area"),
                ("subject.given_name", "required"),
                ("subject.date_of_birth", "date_in_future"),
                ("subject.address.postcode", "invalid_postcode"),
                ("guardians[0].name", "required"),
                ("referrer.email", "invalid_email"),
                ("concern.narrative", "required"),
                ("concern.incident_dates[0]", "invalid_date"),
            ])
        );
    }

    #[test]
    fn missing_required_values_are_all_reported_by_the_validator() {
        let body = json!({"subject": {}, "referrer": {}, "concern": {}});
        assert_eq!(
            failures(body),
            pairs(&[
                ("subject.given_name", "required"),
                ("subject.family_name", "required"),
                ("subject.date_of_birth", "required"),
                ("referrer.name", "required"),
                ("referrer.role", "required"),
                ("referrer.organisation", "required"),
                ("referrer.sector", "required"),
                ("concern.narrative", "required"),
            ])
        );
    }

    #[test]
    fn unknown_fields_and_values_are_refused_by_serde() {
        let cases = [
            ("/priority", json!("high"), "priority"),
            ("/subject/nickname", json!("S"), "nickname"),
            ("/subject/address/county", json!("West Yorkshire"), "county"),
            ("/guardians/0/age", json!(40), "age"),
            ("/referrer/team", json!("Pastoral"), "team"),
            ("/concern/severity", json!("high"), "severity"),
            ("/vulnerabilities/autism", json!(true), "autism"),
            ("/referrer/sector", json!("army"), "army"),
            (
                "/concern/indicators/0",
                json!("radical_views"),
                "radical_views",
            ),
            ("/guardians/0/relationship", json!("uncle"), "uncle"),
            ("/subject/gender", json!("Male"), "Male"),
        ];
        for (pointer, value, named) in cases {
            let mut body = example();
            set(&mut body, pointer, value);
            let text = body.to_string();
            let Err(err) = serde_json::from_str::<ReferralRequest>(&text) else {
                panic!("{pointer} should be refused");
            };
            assert!(
                err.to_string().contains(named),
                "{pointer}: the error names `{named}`: {err}"
            );
        }
    }

    #[test]
    fn postcodes_are_normalised_or_refused() {
        let good = [
            ("ls11aa", "LS1 1AA"),
            ("LS1 1AA", "LS1 1AA"),
            (" m1  1ae ", "M1 1AE"),
            ("B338TH", "B33 8TH"),
            ("CR2 6XH", "CR2 6XH"),
            ("dn551pt", "DN55 1PT"),
            ("W1A 1HQ", "W1A 1HQ"),
            ("ec1a1bb", "EC1A 1BB"),
            ("gir0aa", "GIR 0AA"),
        ];
        for (raw, normalised) in good {
            assert_eq!(
                Postcode::parse(raw).as_ref().map(Postcode::as_str),
                Ok(normalised),
                "{raw:?}"
            );
        }
        let bad = [
            "",
            "LS1",
            "LS1 1A",
            "LS1 1AAA",
            "1S1 1AA",
            "LS1 AAA",
            "LSS1 1AA",
            "L1SS 1AA",
            "EC1A1 1BB",
            "LS1-1AA",
            "ŁS1 1AA",
            "GIR 0AB",
        ];
        for raw in bad {
            assert_eq!(Postcode::parse(raw), Err(InvalidPostcode), "{raw:?}");
        }
    }

    #[test]
    fn emails_are_lower_cased_or_refused() {
        assert_eq!(
            Email::parse(" Jo.O'Neil+prevent@Leeds.Gov.UK ").map(|e| e.as_str().to_owned()),
            Ok("jo.o'neil+prevent@leeds.gov.uk".to_owned())
        );
        for bad in [
            "jo",
            "jo@",
            "@leeds.gov.uk",
            "jo@leeds",
            "jo@@leeds.gov.uk",
            "jo..smith@leeds.gov.uk",
            ".jo@leeds.gov.uk",
            "jo smith@leeds.gov.uk",
            "jo@-leeds.gov.uk",
            "jo@leeds..gov.uk",
            "jo@192.168.0.1",
            "jö@leeds.gov.uk",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail::Malformed), "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(242));
        assert_eq!(long.len(), 254);
        assert!(
            Email::parse(&long).is_err(),
            "a 242-character local part is still over 64"
        );
        let long_domain = format!("jo@{}.org", vec!["a".repeat(60); 5].join("."));
        assert_eq!(Email::parse(&long_domain), Err(InvalidEmail::TooLong));
    }

    #[test]
    fn phone_numbers_are_reduced_to_digits_or_refused() {
        let good = [
            ("07700 900123", "07700900123"),
            ("0113-496-0000", "01134960000"),
            ("(0113) 496 0000", "01134960000"),
            ("+44 7700 900123", "+447700900123"),
            ("+44 (0)113 496 0000", "+441134960000"),
            ("+1 202 555 0100", "+12025550100"),
        ];
        for (raw, normalised) in good {
            assert_eq!(
                Phone::parse(raw).as_ref().map(Phone::as_str),
                Ok(normalised),
                "{raw:?}"
            );
        }
        for bad in [
            "",
            "0113 496",
            "0113 496 0000 0000 0",
            "0113.496.0000",
            "07700 9001 23 ext 4",
            "44+7700900123",
            "++447700900123",
        ] {
            assert_eq!(Phone::parse(bad), Err(InvalidPhone), "{bad:?}");
        }
    }

    fn with_subject(given: &str, family: &str, date_of_birth: Option<&str>) -> Referral {
        let mut body = example();
        set(&mut body, "/subject/given_name", json!(given));
        set(&mut body, "/subject/family_name", json!(family));
        match date_of_birth {
            Some(d) => set(&mut body, "/subject/date_of_birth", json!(d)),
            None => {
                set(&mut body, "/subject/date_of_birth", Value::Null);
                set(&mut body, "/subject/approximate_age", json!(15));
            }
        }
        validate(body).expect("valid")
    }

    #[test]
    fn the_match_key_normalises_names_and_needs_a_date_of_birth() {
        let key = |given, family, dob| with_subject(given, family, dob).subject_match_key();
        assert_eq!(
            key(" Sam ", "O'Neil-Smith", Some("2010-03-14")),
            Some(format!(
                "{}|{}|2010-03-14",
                match_form("oneilsmith"),
                match_form("sam")
            ))
        );
        let same = [
            (
                "SAM",
                "o\u{2019}neil smith",
                "case, curly apostrophes and spaces",
            ),
            ("Ｓａｍ", "Ｏ'Ｎｅｉｌ-Ｓｍｉｔｈ", "full-width letters"),
            ("\u{0405}am", "O'N\u{0435}il-Smith", "Cyrillic look-alikes"),
            ("sam", "ONEIL-SMITH", "capitals"),
        ];
        for (given, family, what) in same {
            assert_eq!(
                key(given, family, Some("2010-03-14")),
                key("Sam", "O'Neil-Smith", Some("2010-03-14")),
                "{what}"
            );
        }
        assert_eq!(
            key("Zoë", "Brontë", Some("2010-03-14")),
            key("Zoe", "Bronte", Some("2010-03-14")),
        );
        assert_eq!(
            key("Zoe\u{308}", "St. John", Some("2010-03-14")),
            key("zoe", "stjohn", Some("2010-03-14")),
            "decomposed diacritics and dots"
        );
        assert_ne!(
            key("Sam", "Taylor", Some("2010-03-14")),
            key("Sam", "Taylor", Some("2010-03-15")),
        );
        assert_ne!(
            key("Sam", "Taylor", Some("2010-03-14")),
            key("Sam", "Tailor", Some("2010-03-14")),
        );
        assert_eq!(key("Sam", "Taylor", None), None);
        assert_eq!(key("Sam", "-", Some("2010-03-14")), None);
    }

    #[test]
    fn invisible_characters_in_names_are_refused_with_the_field_named() {
        let fields = [
            ("/subject/given_name", "subject.given_name"),
            ("/subject/family_name", "subject.family_name"),
            ("/subject/aliases/0", "subject.aliases[0]"),
            ("/guardians/0/name", "guardians[0].name"),
            ("/referrer/name", "referrer.name"),
        ];
        for c in [
            '\u{200B}', '\u{00AD}', '\u{2060}', '\u{200E}', '\u{202E}', '\u{FEFF}',
        ] {
            for (pointer, field) in fields {
                let mut body = example();
                set(&mut body, pointer, json!(format!("Am{c}ir")));
                assert_eq!(
                    failures(body),
                    pairs(&[(field, "invisible_character")]),
                    "U+{:04X} in {field}",
                    u32::from(c)
                );
            }
        }
        let mut body = example();
        set(&mut body, "/subject/given_name", json!("Sam\u{200B}"));
        assert_eq!(
            failures(body),
            pairs(&[("subject.given_name", "invisible_character")]),
            "not trimmed away at the end"
        );
    }

    #[test]
    fn full_width_and_other_scripts_are_stored_as_typed() {
        let mut body = example();
        set(&mut body, "/subject/given_name", json!("Ａｍｉｒ"));
        set(
            &mut body,
            "/subject/family_name",
            json!("ابراهیم\u{200C}زاده"),
        );
        set(&mut body, "/referrer/name", json!("Дмитрий Петров"));
        let referral = validate(body).expect("valid");
        assert_eq!(referral.subject().given_name(), "Ａｍｉｒ");
        assert_eq!(referral.subject().family_name(), "ابراهیم\u{200C}زاده");
        assert_eq!(referral.referrer().name(), "Дмитрий Петров");
    }

    #[test]
    fn age_is_counted_in_whole_years_around_the_birthday() {
        let referral = with_subject("Sam", "Taylor", Some("2010-03-14"));
        assert_eq!(
            referral.subject().age(today()).on(date("2026-03-13")),
            Some(15)
        );
        assert_eq!(
            referral.subject().age(today()).on(date("2026-03-14")),
            Some(16)
        );
        assert_eq!(
            referral.subject().age(today()).on(date("2026-03-15")),
            Some(16)
        );
        assert_eq!(
            referral.subject().age(today()).on(date("2010-03-14")),
            Some(0)
        );
        assert_eq!(
            referral.subject().age(today()).on(date("2010-03-13")),
            None,
            "before birth"
        );

        let leap = with_subject("Sam", "Taylor", Some("2008-02-29"));
        assert_eq!(leap.subject().age(today()).on(date("2026-02-28")), Some(17));
        assert_eq!(leap.subject().age(today()).on(date("2026-03-01")), Some(18));
        assert_eq!(leap.subject().age(today()).on(date("2028-02-29")), Some(20));

        let approximate = with_subject("Sam", "Taylor", None);
        assert_eq!(approximate.subject().date_of_birth(), None);
        assert_eq!(approximate.subject().age(today()).on(today()), Some(15));
    }

    #[test]
    fn duplicate_coded_values_are_kept_once_in_order() {
        let mut body = example();
        set(
            &mut body,
            "/concern/indicators",
            json!(["isolation", "online_activity", "isolation"]),
        );
        let referral = validate(body).expect("valid");
        assert_eq!(
            referral.concern().indicators(),
            [Indicator::Isolation, Indicator::OnlineActivity]
        );
    }

    #[test]
    fn the_referrers_area_fills_in_only_when_none_was_given() {
        let given = validate(example()).expect("valid");
        let leeds = Area::parse("E08000035").expect("an area");
        let bradford = Area::parse("E08000032").expect("an area");
        let kept = given
            .with_default_area(&bradford)
            .expect("an area was given");
        assert_eq!(kept.area(), Some(&leeds));

        let mut body = example();
        remove(&mut body, "/area");
        let without = validate(body).expect("valid");
        assert_eq!(without.area(), None);
        let filled = without
            .clone()
            .with_default_area(&bradford)
            .expect("a local fallback");
        assert_eq!(filled.area(), Some(&bradford));

        let national = Area::parse("national").expect("an area");
        let refused = without
            .with_default_area(&national)
            .expect_err("a national referrer must name the area");
        assert_eq!(
            (refused.field.as_str(), refused.code.as_str()),
            ("area", "required")
        );
    }

    #[test]
    fn a_stored_referral_reads_back_as_the_same_referral() {
        let mut body = example();
        set(&mut body, "/subject/address/postcode", json!("ls11aa"));
        set(&mut body, "/concern/incident_dates", json!(["2026-10-30"]));
        set(&mut body, "/vulnerabilities/notes", json!("EHCP in place"));
        let referral = validate(body).expect("valid");
        let stored = serde_json::to_value(&referral).expect("serialises");
        assert_eq!(stored["subject"]["address"]["postcode"], json!("LS1 1AA"));
        assert_eq!(stored["subject"]["date_of_birth"], json!("2010-03-14"));
        assert_eq!(stored["concern"]["incident_dates"], json!(["2026-10-30"]));
        assert_eq!(stored["referrer"]["sector"], json!("education"));
        let again = validate(stored).expect("the stored form is a valid request");
        assert_eq!(again, referral);
    }

    #[test]
    fn coded_values_are_spelled_as_in_the_api() {
        for sector in Sector::ALL {
            assert_eq!(
                serde_json::to_value(sector).ok(),
                Some(json!(sector.as_str()))
            );
        }
        for concern in TypeOfConcern::ALL {
            assert_eq!(
                serde_json::to_value(concern).ok(),
                Some(json!(concern.as_str()))
            );
        }
    }
}
