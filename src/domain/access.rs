//! Need-to-know: who may see a case, and how much of it.

use super::pathway::State;
use super::{Actor, Role};

/// How much of a case a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    /// The person who filed it: reference, coarse status and dates only.
    Referrer,
    /// Read-only oversight: everything but police-only material.
    Auditor,
    /// A member of a panel whose agenda held the case: everything but police-only material.
    Panel,
    /// The area's Channel chair, once referred to Channel: everything but police-only material.
    Channel,
    /// The area's Prevent officers: everything, police-only material included.
    Police,
}

impl View {
    /// May see deconfliction results and other police-only material.
    pub fn sees_police_material(self) -> bool {
        self == View::Police
    }

    /// Sees the referral and the case's working detail.
    pub fn sees_case_detail(self) -> bool {
        self != View::Referrer
    }
}

/// The facts about a case that decide who may see it.
#[derive(Debug, Clone, Copy)]
pub struct CaseAccess<'a> {
    /// The case's area.
    pub area: &'a str,
    /// Its state.
    pub state: State,
    /// Who filed it.
    pub referrer_sub: &'a str,
    /// Whether it has ever been referred to Channel.
    pub referred_to_channel: bool,
    /// Whether it was on an agenda of a panel the actor sits on (past or present meetings).
    pub on_actors_agenda: bool,
}

fn same_area(actor: &Actor, area: &str) -> bool {
    actor.area.as_str() == area
}

/// The richest view `actor` has of the case, or `None` (answered as 404).
pub fn view_of(actor: &Actor, case: &CaseAccess<'_>) -> Option<View> {
    let police_only = case.state.is_police_only();
    if actor.has(Role::PreventOfficer) && same_area(actor, case.area) {
        return Some(View::Police);
    }
    if actor.has(Role::ChannelChair)
        && same_area(actor, case.area)
        && case.referred_to_channel
        && !police_only
    {
        return Some(View::Channel);
    }
    if actor.has(Role::Auditor)
        && (actor.area.is_national() || same_area(actor, case.area))
        && !police_only
    {
        return Some(View::Auditor);
    }
    if actor.has(Role::PanelMember) && case.on_actors_agenda && !police_only {
        return Some(View::Panel);
    }
    (actor.sub == case.referrer_sub).then_some(View::Referrer)
}

/// The roles `actor` may act in on a case seen with `view`: acting needs both the role
/// and the visibility that role grants.
pub fn acting_roles(actor: &Actor, view: Option<View>) -> Vec<Role> {
    let mut roles = Vec::new();
    if view == Some(View::Police) {
        roles.push(Role::PreventOfficer);
    }
    if matches!(view, Some(View::Police | View::Channel)) && actor.has(Role::ChannelChair) {
        roles.push(Role::ChannelChair);
    }
    roles
}

/// Which cases a list may return for `actor`, as a filter the store turns into SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListScope {
    /// Every case of these areas (Prevent officers).
    pub police_areas: Vec<String>,
    /// Cases of these areas referred to Channel and not police-only (chairs).
    pub channel_areas: Vec<String>,
    /// Cases of these areas that are not police-only (auditors); `None` inside means all areas.
    pub auditor_areas: Option<Option<Vec<String>>>,
    /// Cases filed by this subject id.
    pub filed_by: String,
    /// Cases on agendas of the actor's panels (panel members), not police-only.
    pub agenda_cases: Vec<String>,
}

impl ListScope {
    /// The scope of `actor`.
    pub fn of(actor: &Actor) -> ListScope {
        let area = || vec![actor.area.to_string()];
        ListScope {
            police_areas: if actor.has(Role::PreventOfficer) {
                area()
            } else {
                vec![]
            },
            channel_areas: if actor.has(Role::ChannelChair) {
                area()
            } else {
                vec![]
            },
            auditor_areas: actor
                .has(Role::Auditor)
                .then(|| (!actor.area.is_national()).then(area)),
            filed_by: actor.sub.clone(),
            agenda_cases: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Area;
    use std::collections::BTreeSet;

    fn actor(roles: &[Role], area: &str) -> Actor {
        Actor {
            sub: "me".into(),
            name: "Me".into(),
            email: "me@example.org".into(),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
            area: Area::parse(area).unwrap(),
            org: None,
        }
    }

    fn case(state: State, referred: bool, filed_by: &str) -> CaseAccess<'static> {
        let referrer_sub: &'static str = if filed_by == "me" { "me" } else { "someone" };
        CaseAccess {
            area: "E08000035",
            state,
            referrer_sub,
            referred_to_channel: referred,
            on_actors_agenda: false,
        }
    }

    fn on_agenda(mut c: CaseAccess<'static>) -> CaseAccess<'static> {
        c.on_actors_agenda = true;
        c
    }

    #[test]
    fn who_sees_what() {
        let here = "E08000035";
        let there = "E08000025";
        let cases = [
            (
                actor(&[Role::PreventOfficer], here),
                case(State::Screening, false, "x"),
                Some(View::Police),
            ),
            (
                actor(&[Role::PreventOfficer], there),
                case(State::Screening, false, "x"),
                None,
            ),
            (
                actor(&[Role::PreventOfficer], here),
                case(State::TransferredToPursue, false, "x"),
                Some(View::Police),
            ),
            (
                actor(&[Role::ChannelChair], here),
                case(State::Screening, false, "x"),
                None,
            ),
            (
                actor(&[Role::ChannelChair], here),
                case(State::PoliceManaged, false, "x"),
                None,
            ),
            (
                actor(&[Role::ChannelChair], here),
                case(State::AwaitingPanel, true, "x"),
                Some(View::Channel),
            ),
            (
                actor(&[Role::ChannelChair], here),
                case(State::Closed, true, "x"),
                Some(View::Channel),
            ),
            (
                actor(&[Role::ChannelChair], there),
                case(State::AwaitingPanel, true, "x"),
                None,
            ),
            (
                actor(&[Role::Auditor], here),
                case(State::Screening, false, "x"),
                Some(View::Auditor),
            ),
            (
                actor(&[Role::Auditor], "national"),
                case(State::Screening, false, "x"),
                Some(View::Auditor),
            ),
            (
                actor(&[Role::Auditor], here),
                case(State::TransferredToPursue, false, "x"),
                None,
            ),
            (
                actor(&[Role::Referrer], here),
                case(State::Screening, false, "x"),
                None,
            ),
            (
                actor(&[Role::Referrer], there),
                case(State::Screening, false, "me"),
                Some(View::Referrer),
            ),
            (
                actor(&[Role::Referrer], here),
                case(State::TransferredToPursue, false, "me"),
                Some(View::Referrer),
            ),
            (
                actor(&[Role::PanelMember], here),
                case(State::AwaitingPanel, true, "x"),
                None,
            ),
            (
                actor(&[Role::Admin], here),
                case(State::Screening, false, "x"),
                None,
            ),
            (
                actor(&[Role::PanelMember], there),
                on_agenda(case(State::Support, true, "x")),
                Some(View::Panel),
            ),
            (
                actor(&[Role::PanelMember], here),
                on_agenda(case(State::TransferredToPursue, true, "x")),
                None,
            ),
            (
                actor(&[Role::Auditor], there),
                on_agenda(case(State::Support, true, "x")),
                None,
            ),
            (
                actor(&[Role::Referrer, Role::PreventOfficer], here),
                case(State::Submitted, false, "me"),
                Some(View::Police),
            ),
        ];
        for (a, c, expected) in cases {
            assert_eq!(view_of(&a, &c), expected, "{:?} on {:?}", a.roles, c);
        }
    }

    #[test]
    fn acting_needs_the_role_and_its_visibility() {
        let chair_officer = actor(&[Role::ChannelChair, Role::PreventOfficer], "E08000035");
        assert_eq!(
            acting_roles(&chair_officer, Some(View::Police)),
            vec![Role::PreventOfficer, Role::ChannelChair]
        );
        let referrer = actor(&[Role::Referrer, Role::ChannelChair], "E08000035");
        assert_eq!(acting_roles(&referrer, Some(View::Referrer)), vec![]);
        assert_eq!(
            acting_roles(&referrer, Some(View::Channel)),
            vec![Role::ChannelChair]
        );
        assert_eq!(
            acting_roles(&actor(&[Role::Auditor], "E08000035"), Some(View::Auditor)),
            vec![]
        );
    }
}
