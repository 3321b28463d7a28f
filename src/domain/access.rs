//! Need-to-know: who may see a case, and how much of it.

use chrono::NaiveDateTime;
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

    /// Reads the police compartment as it is: police, and a records officer, who must
    /// know what is held to answer a request for it (marked for exemption review).
    /// Every other view is shown the shared face of the case ([`View::face`]).
    pub fn in_police_compartment(self) -> bool {
        matches!(self, View::Police | View::Records)
    }

    /// Sees the referral and the case's working detail.
    pub fn sees_case_detail(self) -> bool {
        self != View::Referrer
    }

    /// The version this view is shown (its `ETag`, and what its `If-Match` is compared
    /// with): police count every action; other views count only the actions they may
    /// see (`shared`), so a police-only action leaves their version unchanged; a
    /// referrer is shown none.
    pub fn version(self, all: i64, shared: i64) -> Option<i64> {
        match self {
            View::Police | View::Records => Some(all),
            View::Referrer => None,
            _ => Some(shared),
        }
    }

    /// What this view is shown of the facts a police-only action may move. Every field
    /// of every answer about a case (its body, a list entry, a linked case, the actions
    /// list, an export) that carries them takes them from here.
    pub fn face(self, case: &Compartments<'_>) -> Face {
        if self.in_police_compartment() {
            return Face {
                state: case.state,
                outcome: case.outcome.map(str::to_owned),
                version: self.version(case.version, case.shared_version),
                updated_at: case.updated_at,
                due: case.due.map(|(kind, at)| (kind.to_owned(), at)),
            };
        }
        let police_only = case.state.is_police_only();
        Face {
            state: self.state_shown(case.state),
            outcome: self.outcome_shown(case.state, case.outcome),
            version: self.version(case.version, case.shared_version),
            updated_at: case.shared_updated_at,
            due: case
                .due
                .filter(|_| !police_only)
                .map(|(kind, at)| (kind.to_owned(), at)),
        }
    }

    /// The state this view is shown of a case stored in `state`.
    pub fn state_shown(self, state: State) -> State {
        if self.in_police_compartment() {
            state
        } else {
            state.shared_face()
        }
    }

    /// The outcome this view is shown of a case stored in `state` with `outcome`.
    pub fn outcome_shown(self, state: State, outcome: Option<&str>) -> Option<String> {
        if self.in_police_compartment() {
            outcome.map(str::to_owned)
        } else {
            state.shared_outcome().or(outcome).map(str::to_owned)
        }
    }

    /// How this view is shown an entry of a case's history recorded as `action` (a
    /// pathway action, or `None` for another record such as a retention decision)
    /// from `from` to `to`, stored `police_only` or not; `None` when it is not shown.
    pub fn event(
        self,
        action: Option<Action>,
        from: Option<State>,
        to: State,
        police_only: bool,
    ) -> Option<EventFace> {
        if self.in_police_compartment() {
            return Some(EventFace {
                action,
                from,
                to,
                reasons: true,
            });
        }
        let shown = match action {
            Some(a) => Some(a.shared_as()?),
            None if police_only => return None,
            None => None,
        };
        Some(EventFace {
            action: shown,
            from: from.map(State::shared_face),
            to: to.shared_face(),
            reasons: shown.is_none_or(Action::shares_reasons),
        })
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

/// The facts of a case that police-only actions may move, as stored: the police
/// compartment's, and the shared ones every other reader is shown.
#[derive(Debug, Clone, Copy)]
pub struct Compartments<'a> {
    /// The state.
    pub state: State,
    /// How it closed.
    pub outcome: Option<&'a str>,
    /// Counts every action.
    pub version: i64,
    /// Counts the actions shown outside police (a cover counts as its action).
    pub shared_version: i64,
    /// The last action.
    pub updated_at: NaiveDateTime,
    /// The last action shown outside police.
    pub shared_updated_at: NaiveDateTime,
    /// What is waited for, and by when.
    pub due: Option<(&'a str, NaiveDateTime)>,
}

/// A case's moving facts as one reader is shown them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Face {
    /// The state.
    pub state: State,
    /// How it closed.
    pub outcome: Option<String>,
    /// The version (`ETag`); none for a referrer.
    pub version: Option<i64>,
    /// The last change.
    pub updated_at: NaiveDateTime,
    /// What is waited for, and by when.
    pub due: Option<(String, NaiveDateTime)>,
}

/// A history entry as one reader is shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFace {
    /// The action it reads as (`None` for a record that is not a pathway action).
    pub action: Option<Action>,
    /// From.
    pub from: Option<State>,
    /// To.
    pub to: State,
    /// Whether its reason code and rationale are shown.
    pub reasons: bool,
}

/// The roles that work inside the police compartment: police, and records officers
/// (who review what is held there for exemption).
pub const COMPARTMENT_ROLES: [Role; 2] = [Role::PreventOfficer, Role::RecordsOfficer];

/// Whether an audit entry about a case was made inside the police compartment: by a
/// role of [`COMPARTMENT_ROLES`], after the case became police-only (`police_only_since`,
/// the moment of the action that made it so, whose own entry reads as its cover).
/// What is done with a case handed to an investigation is police material, and would
/// otherwise show a closed case still being worked. The audit store states the same
/// rule in SQL (the audit store's `visible_entries`).
pub fn made_in_police_compartment(
    police_only_since: Option<NaiveDateTime>,
    occurred_at: NaiveDateTime,
    actor_roles: &str,
    (action, outcome): (&str, &str),
) -> bool {
    // The entry of the action that made the case police-only is written a moment
    // after it; it is what everyone else is shown of the move, as its cover.
    let the_move = outcome == "ok" && covered_audit_actions().iter().any(|a| a == action);
    !the_move
        && police_only_since.is_some_and(|since| occurred_at > since)
        && actor_roles
            .split(',')
            .any(|r| COMPARTMENT_ROLES.iter().any(|c| c.as_str() == r))
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

/// Who a grant is given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    /// Holders of this role.
    Role(Role),
    /// Every signed-in user.
    Anyone,
}

/// Which cases a grant covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cases {
    /// Every case of the actor's area.
    OwnArea,
    /// The actor's area's cases once referred to Channel.
    OwnAreaOnceReferredToChannel,
    /// The actor's area's cases, or every case when the actor is national.
    OwnAreaOrEveryWhenNational,
    /// Cases on an agenda of a panel the actor sits on, in the actor's area (a case is
    /// listed only by a panel of its area).
    OnOwnAgendaInOwnArea,
    /// The cases the actor filed.
    FiledByThem,
}

/// One row of a grant table: holders of `.0` see the cases `.1` with view `.2`.
pub type Grant = (Grantee, Cases, View);

use Cases::*;
use Grantee::Anyone;

/// Who sees which cases through the case routes, richest view first: a case is seen
/// with the view of the first row that grants it. Who may see a case does not depend
/// on its state: a case in a police-only state is shown to everyone but police as its
/// shared face ([`View::face`]), so that a case someone could see never vanishes from
/// their sight.
pub const CASE_GRANTS: [Grant; 5] = [
    (Grantee::Role(Role::PreventOfficer), OwnArea, View::Police),
    (
        Grantee::Role(Role::ChannelChair),
        OwnAreaOnceReferredToChannel,
        View::Channel,
    ),
    (
        Grantee::Role(Role::Auditor),
        OwnAreaOrEveryWhenNational,
        View::Auditor,
    ),
    (
        Grantee::Role(Role::PanelMember),
        OnOwnAgendaInOwnArea,
        View::Panel,
    ),
    (Anyone, FiledByThem, View::Referrer),
];

/// Who sees which cases in the retention review list (before the review dates are
/// considered): a records officer those of their area, police-only ones included (each
/// marked for exemption review, see [`needs_exemption_review`]); an auditor those of
/// their area, or of every area when national, each as its shared face.
pub const RETENTION_GRANTS: [Grant; 2] = [
    (Grantee::Role(Role::RecordsOfficer), OwnArea, View::Records),
    (
        Grantee::Role(Role::Auditor),
        OwnAreaOrEveryWhenNational,
        View::Auditor,
    ),
];

/// The rows of `grants` given to `actor`.
fn granted<'g>(actor: &'g Actor, grants: &'g [Grant]) -> impl Iterator<Item = (Cases, View)> + 'g {
    grants
        .iter()
        .filter_map(move |(grantee, cases, view)| match grantee {
            Grantee::Role(role) if !actor.has(*role) => None,
            _ => Some((*cases, *view)),
        })
}

impl Cases {
    /// Whether the case described by `case` is one of these for `actor`.
    fn hold(self, actor: &Actor, case: &CaseAccess<'_>) -> bool {
        match self {
            OwnArea => same_area(actor, case.area),
            OwnAreaOnceReferredToChannel => same_area(actor, case.area) && case.referred_to_channel,
            OwnAreaOrEveryWhenNational => actor.area.is_national() || same_area(actor, case.area),
            OnOwnAgendaInOwnArea => case.on_actors_agenda && same_area(actor, case.area),
            FiledByThem => actor.sub == case.referrer_sub,
        }
    }

    /// These cases as a set the store turns into SQL; `agenda_cases` are those on the
    /// agendas of the actor's panels, already of the actor's area. `None` when empty.
    fn set(self, actor: &Actor, agenda_cases: &[String]) -> Option<CaseSet> {
        let area = || vec![actor.area.to_string()];
        Some(match self {
            OwnArea => CaseSet::Areas(area()),
            OwnAreaOnceReferredToChannel => CaseSet::ReferredToChannelIn(area()),
            OwnAreaOrEveryWhenNational if actor.area.is_national() => CaseSet::EveryArea,
            OwnAreaOrEveryWhenNational => CaseSet::Areas(area()),
            OnOwnAgendaInOwnArea if agenda_cases.is_empty() => return None,
            OnOwnAgendaInOwnArea => CaseSet::Ids(agenda_cases.to_vec()),
            FiledByThem => CaseSet::FiledBy(actor.sub.clone()),
        })
    }
}

/// The richest view `actor` has of the case, or `None` (answered as 404): the first
/// row of [`CASE_GRANTS`] that grants it.
pub fn view_of(actor: &Actor, case: &CaseAccess<'_>) -> Option<View> {
    granted(actor, &CASE_GRANTS).find_map(|(cases, view)| cases.hold(actor, case).then_some(view))
}

/// The scope `grants` give `actor`, each part admitting the states `filter` admits as
/// its view shows them.
fn scope_of(
    actor: &Actor,
    grants: &[Grant],
    filter: Option<StatusFilter>,
    agenda_cases: &[String],
) -> ListScope {
    let branches = granted(actor, grants)
        .filter_map(|(cases, view)| {
            Some(ScopeBranch {
                states: State::ALL
                    .into_iter()
                    .filter(|s| filter.is_none_or(|f| f.admits(view, *s)))
                    .collect(),
                cases: cases.set(actor, agenda_cases)?,
                view,
            })
        })
        .filter(|b| !b.states.is_empty())
        .collect();
    ListScope { branches }
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

    /// Whether a case stored in `state`, seen with `view`, matches: the filter tests
    /// the state as that view is shown it.
    pub fn admits(self, view: View, state: State) -> bool {
        match view {
            View::Referrer => self.status == Some(state.referrer_status()),
            _ if view.in_police_compartment() => self.state == Some(state),
            _ => self.state == Some(state.shared_face()),
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
    /// The states admitted, as stored: those the filter admits as this view shows
    /// them (a police-only state as its shared face).
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
        scope_of(actor, &CASE_GRANTS, filter, &agenda_cases)
    }

    /// Only the parts that show a case's working detail (its history and audit trail).
    pub fn with_case_detail(mut self) -> ListScope {
        self.branches.retain(|b| b.view.sees_case_detail());
        self
    }
}

/// The cases `actor` is shown in the retention review list: [`RETENTION_GRANTS`], every
/// state (the answer shapes a shared face with [`View::face`]'s rules).
pub fn retention_scope(actor: &Actor) -> ListScope {
    scope_of(actor, &RETENTION_GRANTS, None, &[])
}

/// Whether `actor` may read the retention review list at all.
pub fn reads_retention(actor: &Actor) -> bool {
    granted(actor, &RETENTION_GRANTS).next().is_some()
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

/// The audit actions whose entries no reader outside police is shown in any form (the
/// other police-only actions are shown as their cover).
pub fn hidden_audit_actions() -> Vec<String> {
    Action::ALL
        .into_iter()
        .filter(|a| a.shared_as().is_none())
        .map(|a| format!("case.action.{a}"))
        .collect()
}

/// The audit actions of police-only actions that are shown outside police as their
/// cover.
pub fn covered_audit_actions() -> Vec<String> {
    Action::ALL
        .into_iter()
        .filter(|a| a.is_police_only() && a.shared_as().is_some())
        .map(|a| format!("case.action.{a}"))
        .collect()
}

/// The stored audit actions a reader outside police is shown as `shown`: itself, and
/// the police-only actions it covers; none when `shown` is itself police-only.
pub fn audit_actions_shown_as(shown: &str) -> Vec<String> {
    let Some(name) = shown.strip_prefix("case.action.") else {
        return vec![shown.to_owned()];
    };
    match Action::parse(name) {
        Some(a) if a.is_police_only() => Vec::new(),
        Some(a) => Action::ALL
            .into_iter()
            .filter(|b| b.shared_as() == Some(a))
            .map(|b| format!("case.action.{b}"))
            .collect(),
        None => vec![shown.to_owned()],
    }
}

/// Shapes an audit entry for a reader with `view` of its case (`None` for an entry
/// about no case): the action it is shown as, or `None` when it is police-only for
/// them. Outside the police compartment an action entry reads as its cover, its
/// states as their shared faces, a police-led closure without its reason, and the
/// police count of versions is withheld; then [`redact_audit_details`] withholds
/// hidden cases and police-only names.
pub fn shape_audit_entry(
    view: Option<View>,
    action: &str,
    details: &mut Value,
    in_police_compartment: bool,
    hidden_case: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let police = view.is_some_and(View::in_police_compartment);
    if police {
        redact_audit_details(details, true, hidden_case);
        return Some(action.to_owned());
    }
    if in_police_compartment {
        return None;
    }
    let shown = match action.strip_prefix("case.action.").and_then(Action::parse) {
        Some(a) => {
            let cover = a.shared_as()?;
            if let Value::Object(map) = details {
                for key in ["from", "to"] {
                    let face = map
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(State::parse)
                        .map(State::shared_face);
                    if let Some(face) = face {
                        map.insert(key.to_owned(), Value::from(face.as_str()));
                    }
                }
                if !cover.shares_reasons() && map.contains_key("reason_code") {
                    map.insert("reason_code".to_owned(), Value::Null);
                }
            }
            format!("case.action.{cover}")
        }
        None => action.to_owned(),
    };
    redact_audit_details(details, false, hidden_case);
    Some(shown)
}

/// Whether a word names police-only material: a police-only state or action.
fn names_police_material(s: &str) -> bool {
    State::parse(s).is_some_and(State::is_police_only)
        || Action::parse(s).is_some_and(Action::is_police_only)
        || police_only_audit_actions().iter().any(|a| a == s)
}

/// Every string in an audit entry's `details` that is a UUID (the ids of the cases it
/// names among them), for the caller to learn whether each may be shown.
pub fn ids_named_in(details: &Value, found: &mut std::collections::BTreeSet<String>) {
    match details {
        Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
            found.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| ids_named_in(v, found)),
        Value::Object(map) => map.values().for_each(|v| ids_named_in(v, found)),
        _ => {}
    }
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

    /// Whether `set`, as the store's SQL reads it, holds the case `c` with id "c".
    fn set_holds(set: &CaseSet, c: &CaseAccess<'_>) -> bool {
        match set {
            CaseSet::FiledBy(sub) => sub == c.referrer_sub,
            CaseSet::Areas(areas) => areas.iter().any(|a| a == c.area),
            CaseSet::ReferredToChannelIn(areas) => {
                c.referred_to_channel && areas.iter().any(|a| a == c.area)
            }
            CaseSet::EveryArea => true,
            CaseSet::Ids(ids) => ids.iter().any(|id| id == "c"),
        }
    }

    /// The view of the first row of `grants` that, read in its own words, grants `c`.
    fn by_table(grants: &[Grant], a: &Actor, c: &CaseAccess<'_>) -> Option<View> {
        let here = a.area.as_str() == c.area;
        grants.iter().find_map(|(grantee, cases, view)| {
            let holder = match grantee {
                Grantee::Role(role) => a.roles.contains(role),
                Grantee::Anyone => true,
            };
            let covered = match cases {
                Cases::OwnArea => here,
                Cases::OwnAreaOnceReferredToChannel => here && c.referred_to_channel,
                Cases::OwnAreaOrEveryWhenNational => here || a.area.is_national(),
                Cases::OnOwnAgendaInOwnArea => here && c.on_actors_agenda,
                Cases::FiledByThem => c.referrer_sub == a.sub,
            };
            (holder && covered).then_some(*view)
        })
    }

    #[test]
    fn the_case_check_the_list_scope_and_the_retention_scope_follow_the_grant_tables() {
        let areas = ["E08000035", "E08000025", "national"];
        for mask in 0..(1u32 << Role::ALL.len()) {
            let roles: Vec<Role> = (0..Role::ALL.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| Role::ALL[i])
                .collect();
            for area in areas {
                let a = actor(&roles, area);
                for bits in 0..8u8 {
                    for state in State::ALL {
                        let mut c =
                            case(state, bits & 1 != 0, if bits & 2 != 0 { "me" } else { "x" });
                        // The store lists only agendas of the actor's own area.
                        c.on_actors_agenda = bits & 4 != 0 && area == c.area;
                        let agenda: Vec<String> = c
                            .on_actors_agenda
                            .then(|| "c".to_owned())
                            .into_iter()
                            .collect();
                        let expected = by_table(&CASE_GRANTS, &a, &c);
                        assert_eq!(view_of(&a, &c), expected, "{roles:?} {area} {c:?}");
                        let listed = ListScope::of(&a, None, agenda)
                            .branches
                            .into_iter()
                            .find(|b| b.states.contains(&state) && set_holds(&b.cases, &c))
                            .map(|b| b.view);
                        assert_eq!(listed, expected, "list: {roles:?} {area} {c:?}");
                        let retained = retention_scope(&a)
                            .branches
                            .into_iter()
                            .find(|b| b.states.contains(&state) && set_holds(&b.cases, &c))
                            .map(|b| b.view);
                        assert_eq!(
                            retained,
                            by_table(&RETENTION_GRANTS, &a, &c),
                            "retention: {roles:?} {area} {c:?}"
                        );
                    }
                }
            }
        }
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
            // Seen as its shared face: a police-led closure.
            (
                actor(&[Role::Auditor], here),
                case(State::TransferredToPursue, false, "x"),
                Some(View::Auditor),
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
            // A member's token of another area sees nothing of this area's agendas.
            (
                actor(&[Role::PanelMember], there),
                on_agenda(case(State::Support, true, "x")),
                None,
            ),
            (
                actor(&[Role::PanelMember], here),
                on_agenda(case(State::Support, true, "x")),
                Some(View::Panel),
            ),
            (
                actor(&[Role::PanelMember], here),
                on_agenda(case(State::TransferredToPursue, true, "x")),
                Some(View::Panel),
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
        assert!(!assessed.admits(View::Referrer, State::TransferredToPursue));
        assert!(!assessed.admits(View::Auditor, State::Screening));
        // Outside police a filter tests the shared face: a transfer reads as closed.
        let closed_state = StatusFilter::parse("closed").unwrap();
        assert!(closed_state.admits(View::Referrer, State::TransferredToPursue));
        for view in [View::Auditor, View::Channel, View::Panel] {
            assert!(
                closed_state.admits(view, State::TransferredToPursue),
                "{view:?}"
            );
            assert!(!pursue.admits(view, State::TransferredToPursue), "{view:?}");
        }
        assert!(!closed_state.admits(View::Police, State::TransferredToPursue));
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
    fn no_scope_admits_a_police_only_state_by_its_own_name_outside_police() {
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
        let filtered = ListScope::of(
            &everyone,
            StatusFilter::parse("transferred_to_pursue"),
            vec!["x".into()],
        );
        assert!(filtered.branches.is_empty(), "{filtered:?}");
        // Asked for closed cases, every view outside police finds the transferred ones
        // too: they read as closed.
        let closed = ListScope::of(&everyone, StatusFilter::parse("closed"), vec!["x".into()]);
        assert_eq!(closed.branches.len(), 4);
        for b in &closed.branches {
            assert_eq!(
                b.states,
                vec![State::TransferredToPursue, State::Closed],
                "{b:?}"
            );
        }
        let officer = ListScope::of(&actor(&[Role::PreventOfficer], "E08000035"), None, vec![]);
        assert!(
            officer
                .branches
                .iter()
                .any(|b| b.view == View::Police && b.states.contains(&State::TransferredToPursue))
        );
        let officer_closed = ListScope::of(
            &actor(&[Role::PreventOfficer], "E08000035"),
            StatusFilter::parse("closed"),
            vec![],
        );
        assert!(
            officer_closed
                .branches
                .iter()
                .filter(|b| b.view == View::Police)
                .all(|b| b.states == vec![State::Closed])
        );
        assert!(
            officer
                .with_case_detail()
                .branches
                .iter()
                .all(|b| b.view != View::Referrer)
        );
    }

    fn compartments(state: State) -> Compartments<'static> {
        let at = |h| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        Compartments {
            state,
            outcome: None,
            version: 4,
            shared_version: 3,
            updated_at: at(12),
            shared_updated_at: at(10),
            due: Some(("police_assessment", at(20))),
        }
    }

    #[test]
    fn outside_police_a_case_is_shown_its_shared_face() {
        let pursue = compartments(State::TransferredToPursue);
        for view in [View::Auditor, View::Channel, View::Panel, View::Referrer] {
            let face = view.face(&pursue);
            assert_eq!(face.state, State::Closed, "{view:?}");
            assert_eq!(face.outcome.as_deref(), Some("police_closed"), "{view:?}");
            assert_eq!(face.updated_at, pursue.shared_updated_at, "{view:?}");
            assert_eq!(face.due, None, "{view:?}");
        }
        for view in [View::Police, View::Records] {
            let face = view.face(&pursue);
            assert_eq!(face.state, State::TransferredToPursue);
            assert_eq!(face.outcome, None);
            assert_eq!(face.updated_at, pursue.updated_at);
            assert_eq!(face.version, Some(4));
        }
        let screening = compartments(State::Screening);
        assert_eq!(View::Auditor.face(&screening).version, Some(3));
        assert_eq!(View::Referrer.face(&screening).version, None);
        assert_eq!(
            View::Auditor.face(&screening).due,
            Some(("police_assessment".to_owned(), screening.due.unwrap().1))
        );
    }

    #[test]
    fn outside_police_a_police_only_entry_is_left_out_or_read_as_its_cover() {
        let s = State::Screening;
        assert_eq!(
            View::Auditor.event(Some(Action::RecordDeconfliction), Some(s), s, true),
            None
        );
        let cover = View::Auditor
            .event(
                Some(Action::TransferToPursue),
                Some(s),
                State::TransferredToPursue,
                true,
            )
            .unwrap();
        let close = View::Auditor
            .event(Some(Action::Close), Some(s), State::Closed, false)
            .unwrap();
        assert_eq!(cover, close);
        assert_eq!(close.action, Some(Action::Close));
        assert!(!close.reasons);
        assert!(
            View::Police
                .event(Some(Action::Close), Some(s), State::Closed, false)
                .unwrap()
                .reasons
        );
        assert_eq!(View::Auditor.event(None, Some(s), s, true), None);
        assert!(View::Auditor.event(None, Some(s), s, false).is_some());

        let hidden = |_: &str| false;
        let mut transfer = serde_json::json!({"from": "screening", "to": "transferred_to_pursue",
            "version": 4, "shared_version": 3, "reason_code": "terrorism_risk"});
        let mut closure = serde_json::json!({"from": "screening", "to": "closed",
            "version": 3, "shared_version": 3, "reason_code": "police_led"});
        let a = shape_audit_entry(
            Some(View::Auditor),
            "case.action.transfer_to_pursue",
            &mut transfer,
            false,
            &hidden,
        );
        let b = shape_audit_entry(
            Some(View::Auditor),
            "case.action.close",
            &mut closure,
            false,
            &hidden,
        );
        assert_eq!(a.as_deref(), Some("case.action.close"));
        assert_eq!((a, transfer), (b, closure));
        let mut any = serde_json::json!({});
        assert_eq!(
            shape_audit_entry(
                Some(View::Auditor),
                "case.action.record_deconfliction",
                &mut any,
                false,
                &hidden
            ),
            None
        );
        assert_eq!(
            shape_audit_entry(Some(View::Auditor), "case.read", &mut any, true, &hidden),
            None
        );
        assert_eq!(
            shape_audit_entry(Some(View::Police), "case.read", &mut any, true, &hidden).as_deref(),
            Some("case.read")
        );
        assert_eq!(
            audit_actions_shown_as("case.action.close"),
            vec!["case.action.transfer_to_pursue", "case.action.close"]
        );
        assert!(audit_actions_shown_as("case.action.transfer_to_pursue").is_empty());
    }

    #[test]
    fn entries_are_police_only_when_police_or_records_made_them_once_the_case_was() {
        let t = |h| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let read = ("case.read", "ok");
        let officer = "prevent_officer";
        assert!(!made_in_police_compartment(
            Some(t(10)),
            t(10),
            officer,
            read
        ));
        assert!(made_in_police_compartment(
            Some(t(10)),
            t(11),
            officer,
            read
        ));
        assert!(made_in_police_compartment(
            Some(t(10)),
            t(11),
            "auditor,records_officer",
            read
        ));
        assert!(!made_in_police_compartment(
            Some(t(10)),
            t(9),
            officer,
            read
        ));
        assert!(!made_in_police_compartment(
            Some(t(10)),
            t(11),
            "auditor",
            read
        ));
        assert!(!made_in_police_compartment(None, t(11), officer, read));
        // The transfer's own entry, written a moment after the move, is its cover.
        let transfer = ("case.action.transfer_to_pursue", "ok");
        assert!(!made_in_police_compartment(
            Some(t(10)),
            t(11),
            officer,
            transfer
        ));
        let attempt = ("case.action.transfer_to_pursue", "denied");
        assert!(made_in_police_compartment(
            Some(t(10)),
            t(11),
            officer,
            attempt
        ));
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
        assert_eq!(national.branches[0].view, View::Auditor);
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
