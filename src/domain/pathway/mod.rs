//! The pathway: every state, every action, who may take it, what it needs, and where
//! it leads. One table, [`PATHWAY`]; everything else about transitions reads from it.
//! What each action decides, given its command, is a pure function in the module of its
//! stage (`screening`, `panel`, `consent`, `support`, `exit`, `onward`, `correction`),
//! reached through [`decide`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Role;
use Action::*;
use State::*;

mod consent;
mod correction;
mod decide;
mod decision;
mod exit;
mod onward;
mod panel;
mod screening;
mod support;
mod table;

pub use decide::decide;
pub use decision::{
    Case, Changes, Decision, DeconflictionRecord, Details, Facts, Meeting, NewOnward, Notify,
    Onward, Rejection, SubjectAge, Write,
};
pub use table::PATHWAY;

/// Where a case is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Received and acknowledged with a reference.
    Submitted,
    /// Police initial assessment and information gathering.
    Screening,
    /// Referred to the local authority's Channel panel.
    AwaitingPanel,
    /// On the agenda of a panel meeting.
    PanelListed,
    /// Adopted; consent being sought.
    ConsentPending,
    /// Consent refused or withdrawn; to be re-assessed by a due date.
    ConsentRefused,
    /// A support plan is in place.
    Support,
    /// Left Channel; reviewed at 6 and 12 months.
    Exited,
    /// Referred to mental-health, social care or other services.
    OnwardReferral,
    /// Managed by police.
    PoliceManaged,
    /// Taken over by a counter-terrorism investigation (police only; terminal).
    TransferredToPursue,
    /// Finished, with an outcome (terminal).
    Closed,
}

/// Something done to a case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Start the police initial assessment.
    BeginScreening,
    /// Record the result of deconfliction against CT investigations (police only).
    RecordDeconfliction,
    /// Close with no further action.
    CloseNoFurtherAction,
    /// Refer to one or more other services instead of Prevent.
    Signpost,
    /// Refer to the local authority's Channel panel.
    ReferToChannel,
    /// Manage within police-led Prevent case management.
    ManageByPolice,
    /// Hand over to a counter-terrorism investigation.
    TransferToPursue,
    /// A police-led closure: at screening, or of a police-managed case. Its reasons are
    /// police material.
    Close,
    /// Put the case on a panel meeting's agenda.
    ListForPanel,
    /// The panel's decision: adopt, not adopt, or defer.
    RecordPanelDecision,
    /// Record, before consent, the support plan that consent is sought for.
    RecordSupportPlan,
    /// Consent given or refused.
    RecordConsent,
    /// Re-assess after consent was refused or withdrawn.
    Reassess,
    /// A support review; sets the next review date.
    RecordReview,
    /// Consent withdrawn during support.
    WithdrawConsent,
    /// Leave Channel.
    Exit,
    /// The 6- or 12-month review after exit.
    RecordPostExitReview,
    /// An onward referral acknowledged or declined.
    RecordOnwardOutcome,
    /// The subject's or referrer's details corrected (rectification), with a reason.
    CorrectDetails,
}

// The document's description names the module of the bodies' fields; spelled with an
// escaped colon, the path is prose, not a use of that module (which uses this one).
#[doc = "What an action's body must carry (its fields are in `crate\u{3a}:domain::actions`)."]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// `{}`.
    Nothing,
    /// Deconfliction result.
    Deconfliction,
    /// A threshold decision: `reason_code` and `rationale`.
    Threshold,
    /// A threshold decision and the onward referrals.
    Signpost,
    /// The meeting to list the case for.
    Listing,
    /// Adopt / not adopt / defer, with how it was reached.
    PanelDecision,
    /// Interventions.
    SupportPlan,
    /// Who gave or refused consent, when and how.
    Consent,
    /// The re-assessment's outcome.
    Reassessment,
    /// A review and the next review date.
    Review,
    /// Why consent was withdrawn.
    Withdrawal,
    /// A threshold decision to leave Channel.
    Exit,
    /// A post-exit review.
    PostExitReview,
    /// Which onward referral, and acknowledged or declined.
    OnwardOutcome,
    /// A reason and the corrected fields of the subject and referrer.
    Correction,
}

/// One row of the pathway.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    /// The state it starts from.
    pub from: State,
    /// The action.
    pub action: Action,
    /// The roles that may take it.
    pub roles: &'static [Role],
    /// What its body carries.
    pub payload: Payload,
    /// The states it may lead to; the payload picks one when there are several.
    pub to: &'static [State],
}

impl State {
    /// Every state.
    pub const ALL: [State; 12] = [
        Submitted,
        Screening,
        AwaitingPanel,
        PanelListed,
        ConsentPending,
        ConsentRefused,
        Support,
        Exited,
        OnwardReferral,
        PoliceManaged,
        TransferredToPursue,
        Closed,
    ];

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Submitted => "submitted",
            Screening => "screening",
            AwaitingPanel => "awaiting_panel",
            PanelListed => "panel_listed",
            ConsentPending => "consent_pending",
            ConsentRefused => "consent_refused",
            Support => "support",
            Exited => "exited",
            OnwardReferral => "onward_referral",
            PoliceManaged => "police_managed",
            TransferredToPursue => "transferred_to_pursue",
            Closed => "closed",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True when no action leads out.
    pub fn is_terminal(self) -> bool {
        !PATHWAY.iter().any(|t| t.from == self)
    }

    /// Only police may know a case is in this state.
    pub fn is_police_only(self) -> bool {
        self == TransferredToPursue
    }

    /// The state readers outside police are shown: a police-only state reads as the
    /// state its cover action leads to ([`Action::shared_as`]), so that a transfer to
    /// Pursue reads as a police-led closure, never as a disappearance.
    pub fn shared_face(self) -> State {
        match self {
            TransferredToPursue => Closed,
            other => other,
        }
    }

    /// The outcome a case in this state is shown with outside police, when its state is
    /// police-only: the outcome of the cover action.
    pub fn shared_outcome(self) -> Option<&'static str> {
        self.is_police_only().then_some(POLICE_CLOSED)
    }

    /// The coarse status a referrer sees, of the state as shown outside police: a
    /// transfer to Pursue reads as closed, as any police-led closure does.
    pub fn referrer_status(self) -> ReferrerStatus {
        match self.shared_face() {
            Submitted => ReferrerStatus::Received,
            Closed => ReferrerStatus::Closed,
            _ => ReferrerStatus::BeingAssessed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The only status a referrer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerStatus {
    /// Received, not yet picked up.
    Received,
    /// Somewhere in assessment or support.
    BeingAssessed,
    /// Finished.
    Closed,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 19] = [
        BeginScreening,
        RecordDeconfliction,
        CloseNoFurtherAction,
        Signpost,
        ReferToChannel,
        ManageByPolice,
        TransferToPursue,
        Close,
        ListForPanel,
        RecordPanelDecision,
        RecordSupportPlan,
        RecordConsent,
        Reassess,
        RecordReview,
        WithdrawConsent,
        Exit,
        RecordPostExitReview,
        RecordOnwardOutcome,
        CorrectDetails,
    ];

    /// The API spelling (the path segment of `POST /v1/cases/{id}/actions/{action}`).
    pub fn as_str(self) -> &'static str {
        match self {
            BeginScreening => "begin_screening",
            RecordDeconfliction => "record_deconfliction",
            CloseNoFurtherAction => "close_no_further_action",
            Signpost => "signpost",
            ReferToChannel => "refer_to_channel",
            ManageByPolice => "manage_by_police",
            TransferToPursue => "transfer_to_pursue",
            Close => "close",
            ListForPanel => "list_for_panel",
            RecordPanelDecision => "record_panel_decision",
            RecordSupportPlan => "record_support_plan",
            RecordConsent => "record_consent",
            Reassess => "reassess",
            RecordReview => "record_review",
            WithdrawConsent => "withdraw_consent",
            Exit => "exit",
            RecordPostExitReview => "record_post_exit_review",
            RecordOnwardOutcome => "record_onward_outcome",
            CorrectDetails => "correct_details",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Its record is police-only material: never shown to other roles as it is.
    pub fn is_police_only(self) -> bool {
        matches!(self, RecordDeconfliction | TransferToPursue)
    }

    /// What the record of this action reads as outside police: itself, the action it
    /// is covered by, or nothing. A transfer to Pursue reads as a police-led closure
    /// from screening (a row of the table in its own right, so the cover is a path any
    /// case may take); deconfliction leaves no trace.
    pub fn shared_as(self) -> Option<Action> {
        match self {
            RecordDeconfliction => None,
            TransferToPursue => Some(Close),
            other => Some(other),
        }
    }

    /// Whether its reason code and rationale are shown outside police. A police-led
    /// closure may rest on police intelligence, so its reasons are police material,
    /// which is also what lets a transfer to Pursue read as one.
    pub fn shares_reasons(self) -> bool {
        self != Close && !self.is_police_only()
    }
}

/// The outcome of a police-led closure.
pub const POLICE_CLOSED: &str = "police_closed";

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an action cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// None of the actor's roles may ever take this action.
    RoleNotAllowed,
    /// Not from this state; these are the actions the actor may take now.
    InvalidTransition {
        /// What the actor may do instead.
        allowed: Vec<Action>,
    },
}

/// The actions `roles` may take from `state`, in table order.
pub fn allowed_actions(state: State, roles: &[Role]) -> Vec<Action> {
    let mut actions: Vec<Action> = PATHWAY
        .iter()
        .filter(|t| t.from == state && t.roles.iter().any(|r| roles.contains(r)))
        .map(|t| t.action)
        .collect();
    actions.dedup();
    actions
}

/// The row that lets `roles` take `action` from `state`, or why not. A role that may
/// take the action elsewhere in the pathway is told the state is wrong (409); a role
/// that may never take it is told so (403).
pub fn transition(
    state: State,
    action: Action,
    roles: &[Role],
) -> Result<&'static Transition, Refusal> {
    let permitted =
        |t: &&Transition| t.action == action && t.roles.iter().any(|r| roles.contains(r));
    if !PATHWAY.iter().any(|t| permitted(&t)) {
        return Err(Refusal::RoleNotAllowed);
    }
    PATHWAY
        .iter()
        .find(|t| t.from == state && permitted(t))
        .ok_or_else(|| Refusal::InvalidTransition {
            allowed: allowed_actions(state, roles),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }

    #[test]
    fn every_state_is_reachable_from_submitted_and_only_two_are_terminal() {
        let mut reached = vec![Submitted];
        let mut i = 0;
        while i < reached.len() {
            let from = reached[i];
            for t in PATHWAY.iter().filter(|t| t.from == from) {
                for to in t.to {
                    if !reached.contains(to) {
                        reached.push(*to);
                    }
                }
            }
            i += 1;
        }
        for s in State::ALL {
            assert!(reached.contains(&s), "{s} unreachable");
        }
        let terminal: Vec<State> = State::ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(terminal, vec![TransferredToPursue, Closed]);
    }

    #[test]
    fn each_state_and_action_appears_once_at_most() {
        for (i, a) in PATHWAY.iter().enumerate() {
            for b in &PATHWAY[i + 1..] {
                assert!(
                    !(a.from == b.from && a.action == b.action),
                    "{} {} twice",
                    a.from,
                    a.action
                );
            }
        }
        for a in Action::ALL {
            assert!(PATHWAY.iter().any(|t| t.action == a), "{a} is in no row");
        }
    }

    /// Every (state, action, role) triple: allowed ones resolve to their row, the rest
    /// are refused with the right reason. The HTTP suite walks the same triples.
    #[test]
    fn every_triple_is_allowed_or_refused_for_the_right_reason() {
        for state in State::ALL {
            for action in Action::ALL {
                for role in Role::ALL {
                    let row = PATHWAY
                        .iter()
                        .find(|t| t.from == state && t.action == action);
                    let got = transition(state, action, &[role]);
                    match row {
                        Some(row) if row.roles.contains(&role) => {
                            assert_eq!(
                                got.map(|t| t.to).ok(),
                                Some(row.to),
                                "{state} {action} {role}"
                            )
                        }
                        _ if !PATHWAY
                            .iter()
                            .any(|t| t.action == action && t.roles.contains(&role)) =>
                        {
                            assert_eq!(
                                got.err(),
                                Some(Refusal::RoleNotAllowed),
                                "{state} {action} {role}"
                            )
                        }
                        _ => assert_eq!(
                            got.err(),
                            Some(Refusal::InvalidTransition {
                                allowed: allowed_actions(state, &[role])
                            }),
                            "{state} {action} {role}"
                        ),
                    }
                }
            }
        }
    }

    #[test]
    fn allowed_actions_follow_the_table() {
        assert_eq!(
            allowed_actions(Submitted, &[Role::PreventOfficer]),
            vec![BeginScreening, CorrectDetails]
        );
        assert_eq!(
            allowed_actions(Screening, &[Role::PreventOfficer]),
            vec![
                RecordDeconfliction,
                CloseNoFurtherAction,
                Signpost,
                ReferToChannel,
                ManageByPolice,
                TransferToPursue,
                Close,
                CorrectDetails
            ]
        );
        assert_eq!(allowed_actions(Screening, &[Role::ChannelChair]), vec![]);
        assert_eq!(
            allowed_actions(OnwardReferral, &[Role::ChannelChair]),
            vec![RecordOnwardOutcome, CorrectDetails]
        );
        for state in State::ALL {
            let officer = allowed_actions(state, &[Role::PreventOfficer]);
            assert_eq!(
                officer.contains(&CorrectDetails),
                !state.is_terminal(),
                "{state}"
            );
            let chair = allowed_actions(state, &[Role::ChannelChair]).contains(&CorrectDetails);
            let in_channel = !matches!(state, Submitted | Screening | PoliceManaged);
            assert_eq!(chair, in_channel && !state.is_terminal(), "{state}");
        }
        assert_eq!(allowed_actions(Closed, &Role::ALL), vec![]);
        for role in [
            Role::Referrer,
            Role::PanelMember,
            Role::Auditor,
            Role::Admin,
        ] {
            for s in State::ALL {
                assert!(
                    allowed_actions(s, &[role]).is_empty(),
                    "{role} acts on no case"
                );
            }
        }
    }

    #[test]
    fn referrers_never_learn_of_a_transfer_to_pursue() {
        assert_eq!(
            TransferredToPursue.referrer_status(),
            ReferrerStatus::Closed
        );
        assert_eq!(
            TransferredToPursue.referrer_status(),
            Closed.referrer_status()
        );
        assert_eq!(Submitted.referrer_status(), ReferrerStatus::Received);
        assert_eq!(Closed.referrer_status(), ReferrerStatus::Closed);
    }

    /// The cover of every police-only action is a row of the table from the same state
    /// to the state shown, so a reader who knows the table sees an ordinary path.
    #[test]
    fn every_police_only_action_reads_outside_police_as_a_path_of_the_table() {
        for row in PATHWAY.iter().filter(|t| t.action.is_police_only()) {
            let Some(cover) = row.action.shared_as() else {
                assert!(
                    row.to.iter().all(|s| *s == row.from),
                    "{} leaves no trace, so it may not move the state",
                    row.action
                );
                continue;
            };
            let covering = transition(row.from, cover, row.roles).expect("a row of the table");
            for to in row.to {
                assert!(covering.to.contains(&to.shared_face()), "{}", row.action);
            }
            assert!(!cover.is_police_only() && !cover.shares_reasons());
        }
        for state in State::ALL {
            assert!(!state.shared_face().is_police_only(), "{state}");
            assert_eq!(
                state.shared_outcome().is_some(),
                state.is_police_only(),
                "{state}"
            );
        }
    }
}
