//! Need-to-know: who may see a case, and how much of it.

use serde_json::Value;

use super::pathway::{Action, ReferrerStatus, State};
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
    /// The area's records officer, in retention reviews only: police-only cases
    /// included, marked for exemption review; never through the case routes.
    Records,
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

    /// May see a case while it is in `state`. A referrer sees their own case in every
    /// state, since the coarse status never names a police-only one.
    pub fn sees_state(self, state: State) -> bool {
        matches!(self, View::Police | View::Referrer | View::Records) || !state.is_police_only()
    }

    /// Sees the record of `action` (its history entry and audit entries).
    pub fn sees_action(self, action: Action) -> bool {
        self.sees_case_detail() && (self.sees_police_material() || !action.is_police_only())
    }

    /// The version this view is shown (its `ETag`, and what its `If-Match` is compared
    /// with): police count every action; other views count only the actions they may
    /// see (`shared`), so a police-only action leaves their version unchanged; a
    /// referrer is shown none.
    pub fn version(self, all: i64, shared: i64) -> Option<i64> {
        match self {
            View::Police => Some(all),
            View::Referrer => None,
            _ => Some(shared),
        }
    }

    /// The stored spelling, for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Referrer => "referrer",
            View::Auditor => "auditor",
            View::Channel => "channel",
            View::Panel => "panel",
            View::Police => "police",
            View::Records => "records",
        }
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

/// A `state` filter as a caller writes it: a pathway state, or the coarse status a
/// referrer sees (`received`, `being_assessed`, `closed`). Each part of a list applies
/// the spelling its view shows, so a referrer's filter never tests the real state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusFilter {
    state: Option<State>,
    status: Option<ReferrerStatus>,
}

impl StatusFilter {
    /// Parses a filter value; `None` when it names neither a state nor a status.
    pub fn parse(s: &str) -> Option<StatusFilter> {
        let state = State::parse(s);
        let status = match s {
            "received" => Some(ReferrerStatus::Received),
            "being_assessed" => Some(ReferrerStatus::BeingAssessed),
            "closed" => Some(ReferrerStatus::Closed),
            _ => None,
        };
        (state.is_some() || status.is_some()).then_some(StatusFilter { state, status })
    }

    /// The spelling it was parsed from.
    pub fn as_str(self) -> &'static str {
        match (self.state, self.status) {
            (Some(state), _) => state.as_str(),
            (None, Some(ReferrerStatus::Received)) => "received",
            (None, Some(ReferrerStatus::BeingAssessed)) => "being_assessed",
            (None, _) => "closed",
        }
    }

    /// Whether a case in `state`, seen with `view`, matches.
    pub fn admits(self, view: View, state: State) -> bool {
        match view {
            View::Referrer => self.status == Some(state.referrer_status()),
            _ => self.state == Some(state),
        }
    }
}

/// A set of cases one role grants, before states are considered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseSet {
    /// Cases filed by this subject id.
    FiledBy(String),
    /// Every case of these areas.
    Areas(Vec<String>),
    /// Cases of these areas once referred to Channel.
    ReferredToChannelIn(Vec<String>),
    /// Every case.
    EveryArea,
    /// These cases (those on agendas of the actor's panels).
    Ids(Vec<String>),
}

/// One part of a scope: a set of cases, the view it grants, and the states it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeBranch {
    /// Which cases.
    pub cases: CaseSet,
    /// The view of them this part grants.
    pub view: View,
    /// The states admitted: those the view may see a case in ([`View::sees_state`]),
    /// and of them only those the filter admits as this view shows them.
    pub states: Vec<State>,
}

/// Which cases `actor` may see, as a filter the store turns into SQL: the union of its
/// branches. Lists, the audit log and every other query over many cases are built from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListScope {
    /// The parts, each granted by one of the actor's roles.
    pub branches: Vec<ScopeBranch>,
}

impl ListScope {
    /// The scope of `actor`, narrowed by `filter`; `agenda_cases` are the cases on the
    /// agendas of the panels the actor sits on (read by the caller from the store).
    pub fn of(actor: &Actor, filter: Option<StatusFilter>, agenda_cases: Vec<String>) -> ListScope {
        let area = || vec![actor.area.to_string()];
        let mut parts = vec![(CaseSet::FiledBy(actor.sub.clone()), View::Referrer)];
        if actor.has(Role::PreventOfficer) {
            parts.push((CaseSet::Areas(area()), View::Police));
        }
        if actor.has(Role::ChannelChair) {
            parts.push((CaseSet::ReferredToChannelIn(area()), View::Channel));
        }
        if actor.has(Role::Auditor) {
            let set = if actor.area.is_national() {
                CaseSet::EveryArea
            } else {
                CaseSet::Areas(area())
            };
            parts.push((set, View::Auditor));
        }
        if actor.has(Role::PanelMember) && !agenda_cases.is_empty() {
            parts.push((CaseSet::Ids(agenda_cases), View::Panel));
        }
        let branches = parts
            .into_iter()
            .map(|(cases, view)| ScopeBranch {
                states: State::ALL
                    .into_iter()
                    .filter(|s| view.sees_state(*s))
                    .filter(|s| filter.is_none_or(|f| f.admits(view, *s)))
                    .collect(),
                cases,
                view,
            })
            .filter(|b| !b.states.is_empty())
            .collect();
        ListScope { branches }
    }

    /// Only the parts that show a case's working detail (its history and audit trail).
    pub fn with_case_detail(mut self) -> ListScope {
        self.branches.retain(|b| b.view.sees_case_detail());
        self
    }
}

/// The cases `actor` is shown in the retention review list (before the review dates
/// are considered): a records officer those of their area, police-only ones included
/// (each marked for exemption review, see [`needs_exemption_review`]); an auditor those
/// of their area, or of every area when national, never a police-only one. Other
/// roles: none.
pub fn retention_scope(actor: &Actor) -> ListScope {
    let area = || vec![actor.area.to_string()];
    let mut parts = Vec::new();
    if actor.has(Role::RecordsOfficer) {
        parts.push((CaseSet::Areas(area()), View::Records));
    }
    if actor.has(Role::Auditor) {
        let set = if actor.area.is_national() {
            CaseSet::EveryArea
        } else {
            CaseSet::Areas(area())
        };
        parts.push((set, View::Auditor));
    }
    let branches = parts
        .into_iter()
        .map(|(cases, view)| ScopeBranch {
            states: State::ALL
                .into_iter()
                .filter(|s| view.sees_state(*s))
                .collect(),
            cases,
            view,
        })
        .collect();
    ListScope { branches }
}

/// Whether `actor` may read the retention review list at all.
pub fn reads_retention(actor: &Actor) -> bool {
    actor.has(Role::RecordsOfficer) || actor.has(Role::Auditor)
}

/// Whether `actor` may record retention decisions (retain, hold, release, erase) on a
/// case of `area`: the area's records officer only; auditors are read-only.
pub fn decides_retention(actor: &Actor, area: &str) -> bool {
    actor.has(Role::RecordsOfficer) && same_area(actor, area)
}

/// Whether a case in `state`, shown in a retention review, holds police-only material
/// that must be reviewed for exemption before any disclosure.
pub fn needs_exemption_review(state: State) -> bool {
    state.is_police_only()
}

/// The states whose cases the official-statistics breakdowns count: every one. A
/// referral stays a referral of its period whatever becomes of it, so a total never drops
/// when a case moves into a police-only state (which would tell a reader that it did);
/// nothing in the statistics is broken down by state, so nothing shows which it is in.
pub fn counted_in_statistics() -> Vec<State> {
    State::ALL.to_vec()
}

/// The audit actions whose entries are police-only material, whatever their outcome.
pub fn police_only_audit_actions() -> Vec<String> {
    Action::ALL
        .into_iter()
        .filter(|a| a.is_police_only())
        .map(|a| format!("case.action.{a}"))
        .collect()
}

/// Whether a word names police-only material: a police-only state or action.
fn names_police_material(s: &str) -> bool {
    State::parse(s).is_some_and(State::is_police_only)
        || Action::parse(s).is_some_and(Action::is_police_only)
        || police_only_audit_actions().iter().any(|a| a == s)
}

/// Shapes an audit entry's details for a caller: ids of cases the caller may not see
/// (`hidden_case`) are withheld, and outside the police view so are the names of
/// police-only states and actions and case versions (which count police-only actions).
pub fn redact_audit_details(details: &mut Value, police: bool, hidden_case: &dyn Fn(&str) -> bool) {
    let withheld = |s: &str| hidden_case(s) || (!police && names_police_material(s));
    match details {
        Value::Object(map) => {
            if !police {
                map.remove("version");
            }
            for value in map.values_mut() {
                if value.as_str().is_some_and(withheld) {
                    *value = Value::Null;
                } else {
                    redact_audit_details(value, police, hidden_case);
                }
            }
        }
        Value::Array(items) => {
            items.retain(|v| !v.as_str().is_some_and(withheld));
            for item in items {
                redact_audit_details(item, police, hidden_case);
            }
        }
        _ => {}
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

    #[test]
    fn a_referrers_filter_tests_the_status_they_see_never_the_state() {
        let pursue = StatusFilter::parse("transferred_to_pursue").unwrap();
        assert!(!pursue.admits(View::Referrer, State::TransferredToPursue));
        assert!(pursue.admits(View::Police, State::TransferredToPursue));
        let assessed = StatusFilter::parse("being_assessed").unwrap();
        assert!(assessed.admits(View::Referrer, State::TransferredToPursue));
        assert!(!assessed.admits(View::Auditor, State::Screening));
        let closed = StatusFilter::parse("closed").unwrap();
        assert!(
            closed.admits(View::Referrer, State::Closed)
                && closed.admits(View::Channel, State::Closed)
        );
        assert_eq!(StatusFilter::parse("bogus"), None);
        for s in ["received", "being_assessed", "closed", "screening"] {
            assert_eq!(StatusFilter::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn no_scope_admits_a_police_only_state_outside_the_police_and_referrer_views() {
        let everyone = actor(
            &[
                Role::Referrer,
                Role::ChannelChair,
                Role::Auditor,
                Role::PanelMember,
            ],
            "E08000035",
        );
        let scope = ListScope::of(&everyone, None, vec!["x".into()]);
        assert_eq!(scope.branches.len(), 4);
        for b in &scope.branches {
            let pursue = b.states.contains(&State::TransferredToPursue);
            assert_eq!(pursue, b.view == View::Referrer, "{b:?}");
        }
        let officer = ListScope::of(&actor(&[Role::PreventOfficer], "E08000035"), None, vec![]);
        assert!(
            officer
                .branches
                .iter()
                .any(|b| b.view == View::Police && b.states.contains(&State::TransferredToPursue))
        );
        assert!(
            officer
                .with_case_detail()
                .branches
                .iter()
                .all(|b| b.view != View::Referrer)
        );
        let filtered = ListScope::of(
            &everyone,
            StatusFilter::parse("transferred_to_pursue"),
            vec![],
        );
        assert!(filtered.branches.is_empty(), "{filtered:?}");
    }

    #[test]
    fn retention_reviews_show_police_only_cases_to_records_officers_only() {
        let records = retention_scope(&actor(&[Role::RecordsOfficer], "E08000035"));
        assert_eq!(records.branches.len(), 1);
        assert!(
            records.branches[0]
                .states
                .contains(&State::TransferredToPursue)
        );
        assert_eq!(
            records.branches[0].cases,
            CaseSet::Areas(vec!["E08000035".into()])
        );
        let national = retention_scope(&actor(&[Role::Auditor], "national"));
        assert_eq!(national.branches[0].cases, CaseSet::EveryArea);
        assert!(
            !national.branches[0]
                .states
                .contains(&State::TransferredToPursue)
        );
        for role in [
            Role::PreventOfficer,
            Role::ChannelChair,
            Role::Admin,
            Role::Referrer,
        ] {
            let who = actor(&[role], "E08000035");
            assert!(retention_scope(&who).branches.is_empty(), "{role:?}");
            assert!(!reads_retention(&who), "{role:?}");
            assert!(!decides_retention(&who, "E08000035"), "{role:?}");
        }
        let officer = actor(&[Role::RecordsOfficer], "E08000035");
        assert!(decides_retention(&officer, "E08000035"));
        assert!(!decides_retention(&officer, "E08000025"));
        assert!(!decides_retention(
            &actor(&[Role::Auditor], "E08000035"),
            "E08000035"
        ));
        assert!(needs_exemption_review(State::TransferredToPursue));
        assert!(!needs_exemption_review(State::Closed));
    }

    #[test]
    fn each_view_is_shown_its_own_version() {
        assert_eq!(View::Police.version(5, 4), Some(5));
        for v in [View::Channel, View::Auditor, View::Panel] {
            assert_eq!(v.version(5, 4), Some(4));
        }
        assert_eq!(View::Referrer.version(5, 4), None);
    }

    #[test]
    fn audit_details_withhold_hidden_cases_and_police_names() {
        let mut details = serde_json::json!({
            "case_ids": ["seen", "hidden"], "linked_case_id": "hidden", "state": "transferred_to_pursue",
            "to": "screening", "version": 4, "nested": [{"action": "record_deconfliction"}],
        });
        redact_audit_details(&mut details, false, &|id| id == "hidden");
        assert_eq!(
            details,
            serde_json::json!({"case_ids": ["seen"], "linked_case_id": null, "state": null,
                               "to": "screening", "nested": [{"action": null}]})
        );
        let mut police =
            serde_json::json!({"state": "transferred_to_pursue", "version": 4, "id": "hidden"});
        redact_audit_details(&mut police, true, &|id| id == "hidden");
        assert_eq!(
            police,
            serde_json::json!({"state": "transferred_to_pursue", "version": 4, "id": null})
        );
    }
}
