//! The body type of each payload: the one place a [`Payload`] names the type its
//! actions' bodies are parsed into, and what is derived from it (the fields listed, the
//! schema documented).

use super::actions::{
    ActionBody, DeconflictionBody, EmptyBody, FieldSpec, OnwardOutcomeBody, SchemaWithDependencies,
    SignpostBody, ThresholdBody,
};
use super::channel::{
    ConsentBody, ListingBody, PanelDecisionBody, PostExitReviewBody, ReassessmentBody, ReviewBody,
    SupportPlanBody, WithdrawalBody,
};
use super::correction::CorrectionBody;
use super::pathway::{Action, Payload};

/// Something done with the body type of a payload, whichever it is ([`with_body`]).
pub trait WithBody {
    /// What it gives.
    type Output;
    /// Does it with the body type `B`.
    fn with<B: ActionBody>(self) -> Self::Output;
}

/// Does `f` with the body type of `payload`: the one place a payload names its body.
pub fn with_body<F: WithBody>(payload: Payload, f: F) -> F::Output {
    match payload {
        Payload::Nothing => f.with::<EmptyBody>(),
        Payload::Threshold | Payload::Exit => f.with::<ThresholdBody>(),
        Payload::Deconfliction => f.with::<DeconflictionBody>(),
        Payload::Signpost => f.with::<SignpostBody>(),
        Payload::OnwardOutcome => f.with::<OnwardOutcomeBody>(),
        Payload::Listing => f.with::<ListingBody>(),
        Payload::PanelDecision => f.with::<PanelDecisionBody>(),
        Payload::SupportPlan => f.with::<SupportPlanBody>(),
        Payload::Consent => f.with::<ConsentBody>(),
        Payload::Reassessment => f.with::<ReassessmentBody>(),
        Payload::Review => f.with::<ReviewBody>(),
        Payload::Withdrawal => f.with::<WithdrawalBody>(),
        Payload::Correction => f.with::<CorrectionBody>(),
        Payload::PostExitReview => f.with::<PostExitReviewBody>(),
    }
}

/// What the body of `action` (with payload `payload`) must carry.
pub fn fields_of(action: Action, payload: Payload) -> Vec<FieldSpec> {
    struct Fields(Action);
    impl WithBody for Fields {
        type Output = Vec<FieldSpec>;
        fn with<B: ActionBody>(self) -> Vec<FieldSpec> {
            B::fields(self.0)
        }
    }
    with_body(payload, Fields(action))
}

/// The schema of the body of payload `payload`, as its derive gives it.
pub fn schema_of(payload: Payload) -> SchemaWithDependencies {
    struct Derived;
    impl WithBody for Derived {
        type Output = SchemaWithDependencies;
        fn with<B: ActionBody>(self) -> SchemaWithDependencies {
            B::body_schema()
        }
    }
    with_body(payload, Derived)
}
