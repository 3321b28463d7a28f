//! The pathway table: from which state, which action, who may take it, what its body
//! carries, and where it may lead. One row a line, so that the whole pathway reads on
//! one screen.

use super::{Action, Payload, State, Transition};
use crate::domain::Role;
use Action::*;
use Payload as P;
use Role::{ChannelChair as Chair, PreventOfficer as Officer};
use State::*;

const fn t(
    from: State,
    action: Action,
    roles: &'static [Role],
    payload: Payload,
    to: &'static [State],
) -> Transition {
    Transition {
        from,
        action,
        roles,
        payload,
        to,
    }
}

const OFFICER: &[Role] = &[Officer];
const CHAIR: &[Role] = &[Chair];
const OFFICER_OR_CHAIR: &[Role] = &[Officer, Chair];

/// The pathway. Anything not in this table is refused.
#[rustfmt::skip]
pub const PATHWAY: &[Transition] = &[
    //  from                 action                  roles             payload             to
    t(Submitted,       BeginScreening,       OFFICER,          P::Nothing,        &[Screening]),
    t(Screening,       RecordDeconfliction,  OFFICER,          P::Deconfliction,  &[Screening]),
    t(Screening,       CloseNoFurtherAction, OFFICER,          P::Threshold,      &[Closed]),
    t(Screening,       Signpost,             OFFICER,          P::Signpost,       &[OnwardReferral]),
    t(Screening,       ReferToChannel,       OFFICER,          P::Threshold,      &[AwaitingPanel]),
    t(Screening,       ManageByPolice,       OFFICER,          P::Threshold,      &[PoliceManaged]),
    t(Screening,       TransferToPursue,     OFFICER,          P::Threshold,      &[TransferredToPursue]),
    t(Screening,       Close,                OFFICER,          P::Threshold,      &[Closed]),
    t(PoliceManaged,   Close,                OFFICER,          P::Threshold,      &[Closed]),
    t(PoliceManaged,   ReferToChannel,       OFFICER,          P::Threshold,      &[AwaitingPanel]),
    t(AwaitingPanel,   ListForPanel,         CHAIR,            P::Listing,        &[PanelListed]),
    t(PanelListed,     RecordPanelDecision,  CHAIR,            P::PanelDecision,  &[ConsentPending, OnwardReferral, PoliceManaged, Closed, AwaitingPanel]),
    t(ConsentPending,  RecordSupportPlan,    CHAIR,            P::SupportPlan,    &[ConsentPending]),
    t(ConsentPending,  RecordConsent,        CHAIR,            P::Consent,        &[Support, ConsentRefused]),
    t(ConsentRefused,  Reassess,             CHAIR,            P::Reassessment,   &[ConsentPending, PoliceManaged, Closed]),
    t(Support,         RecordSupportPlan,    CHAIR,            P::SupportPlan,    &[Support]),
    t(Support,         RecordReview,         CHAIR,            P::Review,         &[Support]),
    t(Support,         WithdrawConsent,      CHAIR,            P::Withdrawal,     &[ConsentRefused]),
    t(Support,         Exit,                 CHAIR,            P::Exit,           &[Exited]),
    t(Exited,          RecordPostExitReview, CHAIR,            P::PostExitReview, &[Exited, Closed, AwaitingPanel]),
    t(OnwardReferral,  RecordOnwardOutcome,  OFFICER_OR_CHAIR, P::OnwardOutcome,  &[OnwardReferral, Closed]),
    // Rectification, in every state but the terminal ones: the officer throughout, the
    // chair once the case is in Channel (who may act is also bounded by who sees it).
    t(Submitted,       CorrectDetails,       OFFICER,          P::Correction,     &[Submitted]),
    t(Screening,       CorrectDetails,       OFFICER,          P::Correction,     &[Screening]),
    t(PoliceManaged,   CorrectDetails,       OFFICER,          P::Correction,     &[PoliceManaged]),
    t(AwaitingPanel,   CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[AwaitingPanel]),
    t(PanelListed,     CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[PanelListed]),
    t(ConsentPending,  CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[ConsentPending]),
    t(ConsentRefused,  CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[ConsentRefused]),
    t(Support,         CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[Support]),
    t(Exited,          CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[Exited]),
    t(OnwardReferral,  CorrectDetails,       OFFICER_OR_CHAIR, P::Correction,     &[OnwardReferral]),
];
