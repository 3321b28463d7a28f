//! What a validated action asks for: the [`Command`] each body is parsed into, and the
//! values it carries. The bodies that parse into them are in `actions`, `channel` and
//! `correction`; the rules that apply them are in `pathway`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The result of deconfliction against counter-terrorism investigations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeconflictionResult {
    /// No live investigation.
    Clear,
    /// A live investigation exists.
    LiveInvestigation,
}

/// The kind of service a case is referred on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceType {
    /// Mental-health services.
    MentalHealth,
    /// Children's social care.
    ChildrensSocialCare,
    /// Adult social care.
    AdultSocialCare,
    /// Early help.
    EarlyHelp,
    /// Education.
    Education,
    /// Housing.
    Housing,
    /// Substance misuse services.
    SubstanceMisuse,
    /// Anything else.
    Other,
}

impl ServiceType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::MentalHealth => "mental_health",
            ServiceType::ChildrensSocialCare => "childrens_social_care",
            ServiceType::AdultSocialCare => "adult_social_care",
            ServiceType::EarlyHelp => "early_help",
            ServiceType::Education => "education",
            ServiceType::Housing => "housing",
            ServiceType::SubstanceMisuse => "substance_misuse",
            ServiceType::Other => "other",
        }
    }
}

/// What the receiving service said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnwardOutcome {
    /// Accepted by the service.
    Acknowledged,
    /// Declined by the service.
    Declined,
}

impl OnwardOutcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OnwardOutcome::Acknowledged => "acknowledged",
            OnwardOutcome::Declined => "declined",
        }
    }
}

/// A validated threshold decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// The coded reason.
    pub reason_code: &'static str,
    /// The rationale.
    pub rationale: String,
}

/// A validated onward referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnwardReferral {
    /// The kind of service.
    pub service_type: ServiceType,
    /// The organisation.
    pub organisation: String,
    /// Why.
    pub reason: String,
}

/// A validated action, ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Nothing to carry.
    Nothing,
    /// Deconfliction.
    Deconfliction {
        /// Result.
        result: DeconflictionResult,
        /// Note.
        note: Option<String>,
    },
    /// A threshold decision.
    Threshold(Threshold),
    /// Signposting.
    Signpost {
        /// The decision.
        threshold: Threshold,
        /// The services.
        referrals: Vec<OnwardReferral>,
    },
    /// An onward referral's outcome.
    OnwardOutcome {
        /// Which.
        id: uuid::Uuid,
        /// What.
        outcome: OnwardOutcome,
        /// Note.
        note: Option<String>,
    },
    /// Put on a meeting's agenda.
    Listing {
        /// The meeting.
        meeting_id: uuid::Uuid,
    },
    /// The panel's decision.
    PanelDecision(PanelDecision),
    /// A support plan, as stored.
    SupportPlan(serde_json::Value),
    /// A consent decision.
    Consent(Consent),
    /// A re-assessment.
    Reassessment {
        /// What next.
        outcome: ReassessOutcome,
        /// Reason and rationale.
        threshold: Threshold,
    },
    /// A support review.
    Review {
        /// Progress.
        summary: String,
        /// The next review's date, if set.
        next_review_on: Option<chrono::NaiveDate>,
    },
    /// Consent withdrawn.
    Withdrawal {
        /// Why.
        rationale: String,
        /// Re-assessment date, if set.
        reassess_by: Option<chrono::NaiveDate>,
    },
    /// A correction of the subject's or referrer's details.
    Correction(Correction),
    /// A post-exit review.
    PostExitReview {
        /// Which.
        review: PostExitReview,
        /// A new concern returns the case to the panel.
        new_concern: bool,
        /// What it found.
        rationale: String,
    },
}

/// The panel's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Adopt as a Channel case; consent is sought next.
    Adopt,
    /// Do not adopt; `next_step` says what happens instead.
    NotAdopt,
    /// Decide at a later meeting.
    Defer,
}

/// How the decision was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HowReached {
    /// Every member agreed.
    Unanimous,
    /// A majority agreed.
    Majority,
    /// The chair decided.
    ChairsDecision,
}

/// Where a case not adopted goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Referred to health, social care or other services (`onward_referrals`).
    OnwardReferral,
    /// Back to police management.
    PoliceManaged,
    /// Closed.
    Closed,
}

/// A validated panel decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelDecision {
    /// The decision.
    pub decision: Decision,
    /// Reason and rationale.
    pub threshold: Threshold,
    /// How it was reached.
    pub how_reached: HowReached,
    /// For `not_adopt`.
    pub next_step: Option<NextStep>,
    /// For an onward next step.
    pub onward: Vec<OnwardReferral>,
    /// The assessment, as stored.
    pub assessment: Option<serde_json::Value>,
}

/// Given or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    /// Consent given: support can start.
    Given,
    /// Consent refused.
    Refused,
}

/// Whose consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBy {
    /// The person themself.
    Subject,
    /// A parent or guardian.
    ParentOrGuardian,
}

/// How consent was sought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HowSought {
    /// Face to face.
    InPerson,
    /// By telephone.
    Phone,
    /// By video call.
    Video,
    /// By letter.
    Letter,
    /// Some other way.
    Other,
}

/// A validated consent decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    /// Given or refused.
    pub decision: ConsentDecision,
    /// Whose.
    pub given_by: ConsentBy,
    /// When.
    pub decided_on: NaiveDate,
    /// As stored.
    pub record: serde_json::Value,
}

/// What a re-assessment decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReassessOutcome {
    /// Seek consent again.
    SeekConsent,
    /// Back to police management.
    PoliceManaged,
    /// Close.
    Closed,
}

/// Which post-exit review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostExitReview {
    /// Six months after exit.
    SixMonth,
    /// Twelve months after exit.
    TwelveMonth,
}

/// A validated correction: the reason and the fields given for each part.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// Why.
    pub reason: String,
    /// Subject fields to replace.
    pub subject: Map<String, Value>,
    /// Referrer fields to replace.
    pub referrer: Map<String, Value>,
}
