//! The need-to-know matrix, generated from the pathway table and the route table: a
//! case in every state of `PATHWAY` (police-only ones included, each with deconfliction
//! recorded), all about one person so that every case is linked to every other, and a
//! case of another area about the same person; then every route of the served OpenAPI
//! document, asked by every kind of user (in area, out of area, national, a current and
//! a removed panel member, an admin), must answer what that user may see and nothing of
//! the police-only compartment they may not. A new state, action or route joins the
//! matrix by itself; a route the matrix does not know how to ask fails it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::Timelike;
use diesel::prelude::*;
use pathway::domain::pathway::{Action, PATHWAY, State};
use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, REFERRER, TestApp, referral_about, signpost_body, spawn_app, threshold,
};

/// What a user may see of a case, as the domain brief states it (written out here, not
/// taken from the code under test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sees {
    Nothing,
    /// The referrer who filed it: reference, coarse status, dates.
    Status,
    /// Working detail without police-only material.
    Detail,
    /// Everything.
    Police,
}

/// A user of the matrix.
struct Who {
    label: &'static str,
    sub: &'static str,
    roles: &'static [&'static str],
    area: &'static str,
    /// Sits on the test panel now (a removed member does not).
    current_member: bool,
}

impl Who {
    fn has(&self, role: &str) -> bool {
        self.roles.contains(&role)
    }
}

const USERS: &[Who] = &[
    Who {
        label: "the referrer who filed every case",
        sub: REFERRER,
        roles: &["referrer"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "another referrer",
        sub: "teacher-2",
        roles: &["referrer"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "officer in area",
        sub: "officer-1",
        roles: &["prevent_officer"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "officer of another area",
        sub: "officer-9",
        roles: &["prevent_officer"],
        area: OTHER_AREA,
        current_member: false,
    },
    Who {
        label: "chair in area",
        sub: "chair-1",
        roles: &["channel_chair"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "chair of another area",
        sub: "chair-9",
        roles: &["channel_chair"],
        area: OTHER_AREA,
        current_member: false,
    },
    Who {
        label: "auditor in area",
        sub: "auditor-1",
        roles: &["auditor"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "auditor of another area",
        sub: "auditor-9",
        roles: &["auditor"],
        area: OTHER_AREA,
        current_member: false,
    },
    Who {
        label: "national auditor",
        sub: "auditor-n",
        roles: &["auditor"],
        area: "national",
        current_member: false,
    },
    Who {
        label: "panel member",
        sub: "member-1",
        roles: &["panel_member"],
        area: AREA,
        current_member: true,
    },
    Who {
        label: "panel member with a token of another area",
        sub: "member-1",
        roles: &["panel_member"],
        area: OTHER_AREA,
        current_member: true,
    },
    Who {
        label: "removed panel member",
        sub: "member-2",
        roles: &["panel_member"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "admin in area",
        sub: "admin-1",
        roles: &["admin"],
        area: AREA,
        current_member: false,
    },
    Who {
        label: "records officer in area",
        sub: "records-1",
        roles: &["records_officer"],
        area: AREA,
        current_member: false,
    },
];

/// A case of the matrix and the facts of its path.
struct Case {
    id: String,
    reference: String,
    state: State,
    area: &'static str,
    referred_to_channel: bool,
    on_agenda: bool,
    /// The deconfliction note recorded on it: police-only text.
    note: String,
}

/// The domain brief's need-to-know table. Who may see a case does not turn on its
/// state: outside police a case in a police-only state reads as a police-led closure
/// ([`shown_state`]), so that it never vanishes from anyone's sight.
fn expected(who: &Who, case: &Case) -> Sees {
    let same_area = who.area == case.area;
    if who.has("prevent_officer") && same_area {
        return Sees::Police;
    }
    if who.has("channel_chair") && same_area && case.referred_to_channel {
        return Sees::Detail;
    }
    if who.has("auditor") && (who.area == "national" || same_area) {
        return Sees::Detail;
    }
    if who.has("panel_member") && who.current_member && case.on_agenda && same_area {
        return Sees::Detail;
    }
    if who.sub == REFERRER {
        return Sees::Status;
    }
    Sees::Nothing
}

/// The state a user who `sees` a case is shown: outside police, a transfer to Pursue
/// reads as closed.
fn shown_state(sees: Sees, case: &Case) -> &'static str {
    match (sees, case.state) {
        (Sees::Police, state) => state.as_str(),
        (_, State::TransferredToPursue) => "closed",
        (_, state) => state.as_str(),
    }
}

/// The coarse status a referrer is shown.
fn shown_status(case: &Case) -> &'static str {
    match shown_state(Sees::Status, case) {
        "submitted" => "received",
        "closed" => "closed",
        _ => "being_assessed",
    }
}

/// Whether `who` reads the police compartment of `case`: its area's officers, and its
/// area's records officer (who answers requests for what is held).
fn reads_compartment(who: &Who, case: &Case) -> bool {
    who.area == case.area && (who.has("prevent_officer") || who.has("records_officer"))
}

/// The shortest path through `PATHWAY` from `submitted` to every state: (action, state).
fn paths() -> BTreeMap<State, Vec<(Action, State)>> {
    let mut found: BTreeMap<State, Vec<(Action, State)>> = BTreeMap::new();
    found.insert(State::Submitted, vec![]);
    let mut queue = VecDeque::from([State::Submitted]);
    while let Some(from) = queue.pop_front() {
        for t in PATHWAY.iter().filter(|t| t.from == from) {
            for &to in t.to {
                if found.contains_key(&to) {
                    continue;
                }
                let mut path = found[&from].clone();
                path.push((t.action, to));
                found.insert(to, path);
                queue.push_back(to);
            }
        }
    }
    for state in State::ALL {
        assert!(found.contains_key(&state), "{state} cannot be reached");
    }
    found
}

/// The rationale of every transfer to Pursue: police-only text.
const PURSUE_RATIONALE: &str = "Operation Nightjar has taken this over";

/// A body that takes `action` to `to`. A new action or branch must be added here.
fn body_for(action: Action, to: State, meeting: &str) -> Value {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    match (action, to) {
        (Action::BeginScreening, _) => json!({}),
        (Action::CloseNoFurtherAction, _) => threshold("no_prevent_concern"),
        (Action::Signpost, _) => signpost_body(),
        (Action::ReferToChannel, _) => threshold("vulnerable_to_radicalisation"),
        (Action::ManageByPolice, _) => threshold("risk_requires_police_management"),
        (Action::TransferToPursue, _) => {
            json!({"reason_code": "terrorism_risk", "rationale": PURSUE_RATIONALE})
        }
        (Action::ListForPanel, _) => json!({"meeting_id": meeting}),
        (Action::RecordPanelDecision, State::ConsentPending) => json!({"decision": "adopt",
            "reason_code": "vulnerability_identified", "rationale": "Vulnerable to radicalisation.",
            "how_reached": "unanimous"}),
        (Action::RecordConsent, State::Support) => json!({"decision": "given",
            "given_by": "parent_or_guardian", "given_by_name": "Alex Taylor", "decided_on": today,
            "how_sought": "in_person"}),
        (Action::RecordConsent, State::ConsentRefused) => json!({"decision": "refused",
            "given_by": "subject", "decided_on": today, "how_sought": "in_person"}),
        (Action::RecordSupportPlan, _) => {
            json!({"interventions": [{"type": "ideological_mentoring",
            "provider": "Approved provider", "frequency": "weekly", "start_date": today}]})
        }
        (Action::Exit, _) => threshold("support_completed"),
        (action, to) => panic!("the matrix needs a body for {action} leading to {to}"),
    }
}

/// The role's user who takes `action` in `area`.
fn actor_for(app: &TestApp, action: Action, area: &str) -> String {
    let row = PATHWAY
        .iter()
        .find(|t| t.action == action)
        .expect("in the table");
    match row.roles.first() {
        Some(pathway::domain::Role::ChannelChair) => app.token(
            if area == AREA { "chair-1" } else { "chair-9" },
            &["channel_chair"],
            area,
        ),
        _ => app.token(
            if area == AREA {
                "officer-1"
            } else {
                "officer-9"
            },
            &["prevent_officer"],
            area,
        ),
    }
}

async fn json_of(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    (
        status,
        etag,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The version `token` is shown of `id` now.
async fn version_seen(app: &TestApp, id: &str, token: &str) -> i64 {
    let (status, _, body) = json_of(app.get(&format!("/v1/cases/{id}"), Some(token)).await).await;
    assert_eq!(status, 200, "{body}");
    body["version"].as_i64().expect("version")
}

/// Acts as the role that takes `action`, at the version that user sees.
async fn step(app: &TestApp, case: &Case, action: Action, body: &Value) {
    let token = actor_for(app, action, case.area);
    let version = version_seen(app, &case.id, &token).await;
    app.act_ok(&token, &case.id, action.as_str(), version, body)
        .await;
}

/// Files a referral about the matrix's one subject in `area` and drives it to `state`,
/// recording deconfliction as soon as it is in screening.
async fn build_case(
    app: &TestApp,
    state: State,
    area: &'static str,
    path: &[(Action, State)],
    meeting: &str,
) -> Case {
    let mut body = referral_about("Jordan", "Matrixsubject", "2009-05-01");
    body["area"] = area.into();
    let receipt = app.file(&body).await;
    let mut case = Case {
        id: receipt["id"].as_str().expect("id").to_owned(),
        reference: receipt["reference"].as_str().expect("reference").to_owned(),
        state,
        area,
        referred_to_channel: false,
        on_agenda: false,
        note: format!("Deconfliction note {}", uuid::Uuid::new_v4().simple()),
    };
    for &(action, to) in path {
        if action == Action::RecordConsent && to == State::Support {
            let plan = body_for(Action::RecordSupportPlan, to, meeting);
            step(app, &case, Action::RecordSupportPlan, &plan).await;
        }
        step(app, &case, action, &body_for(action, to, meeting)).await;
        case.referred_to_channel |= to == State::AwaitingPanel;
        case.on_agenda |= action == Action::ListForPanel;
        if action == Action::BeginScreening {
            let deconfliction = json!({"result": "live_investigation", "note": case.note});
            step(app, &case, Action::RecordDeconfliction, &deconfliction).await;
        }
    }
    case
}

/// One panel of [`AREA`] with the chair, a member and a member removed later, and a
/// meeting tomorrow; answers (panel id, meeting id, removed member id).
async fn panel(app: &TestApp) -> (String, String, String) {
    let chair = app.chair();
    let (_, _, panel) = json_of(
        app.post_json("/v1/panels", &chair, &json!({"name": "Matrix Panel", "members": [
            {"name": "Chris Chair", "agency": "local_authority", "email": "chair-1@example.org", "panel_role": "chair"},
            {"name": "Hana Health", "agency": "mental_health", "email": "member-1@example.org", "panel_role": "member"},
            {"name": "Rory Removed", "agency": "housing", "email": "member-2@example.org", "panel_role": "member"}]}))
            .await,
    )
    .await;
    let panel_id = panel["id"].as_str().expect("panel id").to_owned();
    let removed = panel["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == "member-2@example.org")
        .expect("member-2")["id"]
        .as_str()
        .expect("member id")
        .to_owned();
    let when = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (_, _, meeting) = json_of(
        app.post_json(
            &format!("/v1/panels/{panel_id}/meetings"),
            &chair,
            &json!({"scheduled_for": when}),
        )
        .await,
    )
    .await;
    (
        panel_id,
        meeting["id"].as_str().expect("meeting id").to_owned(),
        removed,
    )
}

/// The strings that must not appear in anything `who` is answered, on any route, in
/// any body: one rule, not one per route. Whoever does not read a case's police
/// compartment ([`reads_compartment`]) is never shown its police-only material: its
/// deconfliction note, the Pursue transfer's reason and rationale, the names of
/// police-only states and actions, and the ids of its police-only audit entries and
/// history entries. And nobody is shown the id or reference of a case they may not see
/// (but an admin or records officer, in the records of their area they manage).
fn forbidden(who: &Who, cases: &[Case], police_ids: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut words = Vec::new();
    if !who.has("prevent_officer") && !who.has("records_officer") {
        words.extend(
            [
                "transferred_to_pursue",
                "transfer_to_pursue",
                "record_deconfliction",
                "live_investigation",
                "terrorism_risk",
                PURSUE_RATIONALE,
            ]
            .map(String::from),
        );
    }
    for case in cases {
        if !reads_compartment(who, case) {
            words.push(case.note.clone());
            words.extend(police_ids.get(&case.id).cloned().unwrap_or_default());
        }
        // An admin of the area manages its meetings and mail, which name cases by
        // reference (and nothing more of them); its records officer reviews every case
        // of the area for retention and subject access.
        let manages = who.area == case.area && (who.has("admin") || who.has("records_officer"));
        if expected(who, case) == Sees::Nothing && !manages {
            words.push(case.id.clone());
            words.push(case.reference.clone());
        }
    }
    words
}

/// Of each case, the ids of the records that are police-only material: its audit
/// entries of police-only actions and those made inside its compartment, and its
/// police-only history entries.
fn police_only_ids(app: &TestApp, cases: &[Case]) -> BTreeMap<String, Vec<String>> {
    use pathway::store::schema::{audit_log, case_events};
    let mut conn = app.db.connect();
    let mut found = BTreeMap::new();
    for case in cases {
        // When the case was handed to Pursue, if it was: from then on what police and
        // records officers do with it is police-only too.
        let transferred: Option<chrono::NaiveDateTime> = audit_log::table
            .filter(audit_log::case_id.eq(&case.id))
            .filter(audit_log::action.eq("case.action.transfer_to_pursue"))
            .filter(audit_log::outcome.eq("ok"))
            .select(audit_log::occurred_at)
            .first(&mut conn)
            .optional()
            .expect("transfer");
        let entries: Vec<(String, String, chrono::NaiveDateTime, String)> = audit_log::table
            .filter(audit_log::case_id.eq(&case.id))
            .select((
                audit_log::id,
                audit_log::action,
                audit_log::occurred_at,
                audit_log::actor_roles,
            ))
            .load(&mut conn)
            .expect("audit entries");
        let mut ids: Vec<String> = entries
            .into_iter()
            .filter(|(_, action, at, roles)| {
                action == "case.action.record_deconfliction"
                    || transferred.is_some_and(|t| {
                        *at > t
                            && (roles.contains("prevent_officer")
                                || roles.contains("records_officer"))
                    })
            })
            .map(|(id, ..)| id)
            .collect();
        ids.extend(
            case_events::table
                .filter(case_events::case_id.eq(&case.id))
                .filter(case_events::police_only.eq(true))
                .filter(case_events::action.ne("transfer_to_pursue"))
                .select(case_events::id)
                .load::<String>(&mut conn)
                .expect("events"),
        );
        found.insert(case.id.clone(), ids);
    }
    found
}

fn assert_clean(who: &Who, what: &str, body: &Value, words: &[String]) {
    // A problem's `instance` echoes the path the caller wrote itself.
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("instance");
    }
    let text = body.to_string();
    for word in words {
        if let Some(at) = text.find(word.as_str()) {
            let from = text.floor_char_boundary(at.saturating_sub(300));
            let to = text.ceil_char_boundary((at + 300).min(text.len()));
            panic!(
                "{} was shown `{word}` by {what}: …{}…",
                who.label,
                &text[from..to]
            );
        }
    }
}

/// How the matrix asks a route of the served document.
enum Probe {
    /// `GET` about one case.
    CaseRead,
    /// `POST` an action (the path names it, or `{action}` stands for every one).
    CaseAction(Option<Action>),
    /// `POST` a note.
    CaseNote,
    /// `GET /v1/cases`.
    CaseList,
    /// `GET /v1/audit`.
    AuditList,
    /// `GET /v1/meetings/{id}`.
    Meeting,
    /// `GET /v1/panels/{id}`.
    Panel,
    /// `POST /v1/subject-access`.
    SubjectAccess,
    /// `GET /v1/retention/due`.
    RetentionDue,
    /// `POST /v1/cases/{id}/retention`.
    RetentionDecision,
    /// Any other `GET` without parameters in the path.
    Plain,
    /// Writes that concern no case (filing, panels, the directory, the outbox): their
    /// own tests cover who may make them; nothing in them names a case.
    NoCase,
}

fn probe_for(method: &str, path: &str) -> Probe {
    if path == "/openapi.json" || path.starts_with("/docs") {
        return Probe::NoCase;
    }
    match (method, path) {
        ("get", "/v1/cases/{id}" | "/v1/cases/{id}/history" | "/v1/cases/{id}/actions") => {
            Probe::CaseRead
        }
        ("post", "/v1/cases/{id}/actions/{action}") => Probe::CaseAction(None),
        ("post", p) if p.starts_with("/v1/cases/{id}/actions/") => {
            let name = p.rsplit('/').next().unwrap_or_default();
            Probe::CaseAction(Some(
                Action::parse(name).unwrap_or_else(|| panic!("{p} names no action")),
            ))
        }
        ("post", "/v1/cases/{id}/notes") => Probe::CaseNote,
        ("get", "/v1/cases") => Probe::CaseList,
        ("get", "/v1/audit") => Probe::AuditList,
        ("get", "/v1/meetings/{id}") => Probe::Meeting,
        ("get", "/v1/panels/{id}") => Probe::Panel,
        ("post", "/v1/subject-access") => Probe::SubjectAccess,
        ("get", "/v1/retention/due") => Probe::RetentionDue,
        ("post", "/v1/cases/{id}/retention") => Probe::RetentionDecision,
        ("get", p) if !p.contains('{') => Probe::Plain,
        (
            "post" | "delete",
            "/v1/referrals"
            | "/v1/panels"
            | "/v1/panels/{id}/members"
            | "/v1/panels/{id}/members/{member_id}"
            | "/v1/panels/{id}/meetings"
            | "/v1/directory"
            | "/v1/directory/{id}"
            | "/v1/notifications/{id}/retry",
        ) => Probe::NoCase,
        (method, path) => {
            panic!("the need-to-know matrix does not know how to ask {method} {path}: add it")
        }
    }
}

/// The ids a user is listed, over every page of `limit`.
async fn listed(
    app: &TestApp,
    query: &str,
    token: &str,
    limit: usize,
) -> (u16, BTreeSet<String>, Vec<Value>) {
    let mut ids = BTreeSet::new();
    let mut bodies = Vec::new();
    let mut cursor = String::new();
    loop {
        let sep = if query.contains('?') { '&' } else { '?' };
        let (status, _, body) = json_of(
            app.get(
                &format!("{query}{sep}limit={limit}&cursor={cursor}"),
                Some(token),
            )
            .await,
        )
        .await;
        if status != 200 {
            return (status, ids, vec![body]);
        }
        ids.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].as_str().expect("id").to_owned()),
        );
        let next = body["next_cursor"].as_str().map(str::to_owned);
        bodies.push(body);
        match next {
            Some(c) => cursor = c,
            None => return (status, ids, bodies),
        }
    }
}

/// May `who`, seeing a case with `sees`, take `action` there in some state?
fn may_take(who: &Who, sees: Sees, action: Action) -> bool {
    let acting: Vec<pathway::domain::Role> = match sees {
        Sees::Police if who.has("channel_chair") => vec![
            pathway::domain::Role::PreventOfficer,
            pathway::domain::Role::ChannelChair,
        ],
        Sees::Police => vec![pathway::domain::Role::PreventOfficer],
        Sees::Detail if who.has("channel_chair") => vec![pathway::domain::Role::ChannelChair],
        _ => vec![],
    };
    PATHWAY
        .iter()
        .any(|t| t.action == action && t.roles.iter().any(|r| acting.contains(r)))
}

#[tokio::test]
async fn every_route_answers_every_user_only_what_they_need_to_know() {
    // Arrange: a case in every state, all about one person, and one in another area.
    let app = spawn_app().await;
    let (panel_id, meeting, removed_member) = panel(&app).await;
    let paths = paths();
    let mut cases = Vec::new();
    for state in State::ALL {
        cases.push(build_case(&app, state, AREA, &paths[&state], &meeting).await);
    }
    cases.push(
        build_case(
            &app,
            State::Screening,
            OTHER_AREA,
            &paths[&State::Screening],
            &meeting,
        )
        .await,
    );
    let (status, _, _) = json_of(
        app.client
            .delete(app.url(&format!("/v1/panels/{panel_id}/members/{removed_member}")))
            .bearer_auth(app.chair())
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 204, "the member is removed");
    // Every ended case comes due for its retention review.
    {
        use pathway::store::schema::cases as cases_table;
        let mut conn = app.db.connect();
        // Whole seconds, as the service stores its own times: list cursors carry microseconds.
        let past = chrono::Utc::now()
            .naive_utc()
            .with_nanosecond(0)
            .expect("a time")
            - chrono::Duration::days(1);
        diesel::update(cases_table::table.filter(cases_table::review_due_at.is_not_null()))
            .set(cases_table::review_due_at.eq(Some(past)))
            .execute(&mut conn)
            .expect("bring reviews forward");
    }
    let (_, _, document) = json_of(app.get("/openapi.json", None).await).await;
    let routes: Vec<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert!(routes.len() >= 20, "the route table is read: {routes:?}");
    let mut refused: Vec<(&'static str, String)> = Vec::new();
    let mut refused_agendas: Vec<&'static str> = Vec::new();

    // Act and assert: the audit log last, so that it holds every other probe.
    let order = |p: &Probe| matches!(p, Probe::AuditList);
    let mut probes: Vec<(String, String, Probe)> = routes
        .into_iter()
        .map(|(m, p)| {
            let probe = probe_for(&m, &p);
            (m, p, probe)
        })
        .collect();
    probes.sort_by_key(|(_, _, p)| order(p));
    for who in USERS {
        let token = app.token(who.sub, who.roles, who.area);
        let words = forbidden(who, &cases, &police_only_ids(&app, &cases));
        let seen_ids: BTreeSet<String> = cases
            .iter()
            .filter(|c| matches!(expected(who, c), Sees::Detail | Sees::Police | Sees::Status))
            .map(|c| c.id.clone())
            .collect();
        let detail_ids: BTreeSet<String> = cases
            .iter()
            .filter(|c| matches!(expected(who, c), Sees::Detail | Sees::Police))
            .map(|c| c.id.clone())
            .collect();
        for (method, path, probe) in &probes {
            match probe {
                Probe::NoCase => {}
                Probe::Plain => {
                    let (_, _, body) = json_of(app.get(path, Some(&token)).await).await;
                    assert_clean(who, path, &body, &words);
                }
                Probe::CaseRead => {
                    for case in &cases {
                        let url = path.replace("{id}", &case.id);
                        let (status, etag, body) = json_of(app.get(&url, Some(&token)).await).await;
                        let what = format!("GET {url} ({:?} case)", case.state);
                        assert_clean(who, &what, &body, &words);
                        match (expected(who, case), path.as_str()) {
                            (Sees::Nothing, _) => {
                                assert_eq!(
                                    (status, body["code"].as_str()),
                                    (404, Some("not_found")),
                                    "{}: {what}",
                                    who.label
                                );
                                refused.push((who.sub, case.id.clone()));
                            }
                            (Sees::Status, "/v1/cases/{id}") => {
                                assert_eq!(status, 200, "{}: {what}: {body}", who.label);
                                let keys: BTreeSet<&str> = body
                                    .as_object()
                                    .expect("object")
                                    .keys()
                                    .map(String::as_str)
                                    .collect();
                                assert_eq!(
                                    keys,
                                    BTreeSet::from([
                                        "id",
                                        "reference",
                                        "status",
                                        "submitted_at",
                                        "updated_at"
                                    ]),
                                    "{what}"
                                );
                                assert_eq!(body["status"], shown_status(case), "{what}");
                                assert!(etag.is_none(), "a referrer is shown no version: {what}");
                            }
                            (Sees::Status, _) => assert_eq!(
                                (status, body["code"].as_str()),
                                (403, Some("role_not_allowed")),
                                "{}: {what}: {body}",
                                who.label
                            ),
                            (sees, _) => {
                                assert_eq!(status, 200, "{}: {what}: {body}", who.label);
                                if path == "/v1/cases/{id}" {
                                    assert_eq!(body["state"], shown_state(sees, case), "{what}");
                                    assert_eq!(
                                        body.get("deconfliction").is_some(),
                                        sees == Sees::Police && case.state != State::Submitted,
                                        "{what}"
                                    );
                                    for link in body["linked_cases"].as_array().expect("links") {
                                        let id = link["id"].as_str().expect("id");
                                        assert!(
                                            detail_ids.contains(id),
                                            "{} is shown a linked case it may not see: {what}",
                                            who.label
                                        );
                                    }
                                    let linked: BTreeSet<String> = body["linked_cases"]
                                        .as_array()
                                        .expect("links")
                                        .iter()
                                        .map(|l| l["id"].as_str().unwrap_or_default().to_owned())
                                        .collect();
                                    let mut others = detail_ids.clone();
                                    others.remove(&case.id);
                                    assert_eq!(
                                        linked, others,
                                        "{} sees every linked case it may see: {what}",
                                        who.label
                                    );
                                    // The version counts exactly the history this user is shown.
                                    let (_, _, history) = json_of(
                                        app.get(&format!("{url}/history"), Some(&token)).await,
                                    )
                                    .await;
                                    let entries = history.as_array().expect("history").len() as i64;
                                    assert_eq!(
                                        body["version"].as_i64(),
                                        Some(entries),
                                        "{what}: {history}"
                                    );
                                    assert_eq!(etag, Some(format!("\"{entries}\"")), "{what}");
                                }
                            }
                        }
                    }
                }
                Probe::CaseAction(named) => {
                    let actions: Vec<Action> = match named {
                        Some(a) => vec![*a],
                        None => Action::ALL.to_vec(),
                    };
                    for case in &cases {
                        let sees = expected(who, case);
                        let shown = if matches!(sees, Sees::Detail | Sees::Police) {
                            Some(version_seen(&app, &case.id, &token).await)
                        } else {
                            None
                        };
                        for &action in &actions {
                            let url = path
                                .replace("{id}", &case.id)
                                .replace("{action}", action.as_str());
                            // A stale version: whoever may act is told so, and nobody else learns the version.
                            let response = app
                                .client
                                .post(app.url(&url))
                                .bearer_auth(&token)
                                .header("if-match", "\"999\"")
                                .json(&json!({}))
                                .send()
                                .await
                                .expect("request");
                            let (status, _, body) = json_of(response).await;
                            let what = format!("POST {url} ({:?} case)", case.state);
                            assert_clean(who, &what, &body, &words);
                            let want = match sees {
                                Sees::Nothing => (404, "not_found"),
                                _ if may_take(who, sees, action) => (412, "version_mismatch"),
                                _ => (403, "role_not_allowed"),
                            };
                            assert_eq!(
                                (status, body["code"].as_str().unwrap_or_default()),
                                want,
                                "{}: {what}: {body}",
                                who.label
                            );
                            if status == 412 {
                                assert_eq!(body["current_version"].as_i64(), shown, "{what}");
                            } else {
                                assert!(body.get("current_version").is_none(), "{what}: {body}");
                            }
                            if sees == Sees::Nothing {
                                refused.push((who.sub, case.id.clone()));
                            }
                        }
                    }
                }
                Probe::CaseNote => {
                    for case in cases.iter().filter(|c| expected(who, c) == Sees::Nothing) {
                        let url = path.replace("{id}", &case.id);
                        let (status, _, body) = json_of(
                            app.post_json(&url, &token, &json!({"body": "A contribution."}))
                                .await,
                        )
                        .await;
                        assert_eq!(status, 404, "{}: POST {url}: {body}", who.label);
                        assert_clean(who, &url, &body, &words);
                        refused.push((who.sub, case.id.clone()));
                    }
                }
                Probe::CaseList => {
                    let (status, ids, bodies) = listed(&app, path, &token, 5).await;
                    for body in &bodies {
                        assert_clean(who, path, body, &words);
                    }
                    if who.roles == ["admin"] {
                        assert_eq!(status, 403, "{}", who.label);
                        continue;
                    }
                    assert_eq!(ids, seen_ids, "{} lists exactly what it may see", who.label);
                    let filters = State::ALL.iter().map(|s| s.as_str()).chain([
                        "received",
                        "being_assessed",
                        "closed",
                    ]);
                    for filter in filters {
                        let query = format!("{path}?state={filter}");
                        let (status, ids, bodies) = listed(&app, &query, &token, 5).await;
                        assert_eq!(status, 200, "{query}");
                        for body in &bodies {
                            assert_clean(who, &query, body, &words);
                        }
                        let expect: BTreeSet<String> = cases
                            .iter()
                            .filter(|c| match expected(who, c) {
                                Sees::Nothing => false,
                                Sees::Status => filter == shown_status(c),
                                sees => filter == shown_state(sees, c),
                            })
                            .map(|c| c.id.clone())
                            .collect();
                        assert_eq!(ids, expect, "{}: {query}", who.label);
                    }
                }
                Probe::Meeting => {
                    let (status, _, body) =
                        json_of(app.get(&path.replace("{id}", &meeting), Some(&token)).await).await;
                    assert_clean(who, path, &body, &words);
                    let member_or_manager = (who.has("panel_member") && who.current_member
                        || who.has("channel_chair")
                        || who.has("admin"))
                        && who.area == AREA;
                    assert_eq!(status == 200, member_or_manager, "{}: {body}", who.label);
                    if !member_or_manager {
                        assert_eq!(body["code"], "not_found", "{}: {body}", who.label);
                        refused_agendas.push(who.sub);
                    }
                }
                Probe::SubjectAccess => {
                    // An auditor exports what they see everywhere else; the area's records
                    // officer reads the compartment, each police-only item marked.
                    let exports = who.has("auditor") || who.has("records_officer");
                    let exportable = |c: &Case| {
                        (who.has("records_officer") && who.area == c.area)
                            || (who.has("auditor") && expected(who, c) == Sees::Detail)
                    };
                    for case in &cases {
                        let (status, _, body) = json_of(
                            app.post_json(path, &token, &json!({"case_id": case.id}))
                                .await,
                        )
                        .await;
                        assert_clean(who, path, &body, &words);
                        if !exports {
                            assert_eq!(
                                (status, body["code"].as_str()),
                                (403, Some("role_not_allowed")),
                                "{}: {body}",
                                who.label
                            );
                            continue;
                        }
                        if !exportable(case) {
                            assert_eq!(
                                (status, body["code"].as_str()),
                                (404, Some("not_found")),
                                "{}: {body}",
                                who.label
                            );
                            refused.push((who.sub, case.id.clone()));
                            continue;
                        }
                        assert_eq!(status, 200, "{}: {body}", who.label);
                        let ids: BTreeSet<&str> = body["cases"]
                            .as_array()
                            .expect("cases")
                            .iter()
                            .map(|c| c["id"].as_str().expect("id"))
                            .collect();
                        let expect: BTreeSet<&str> = cases
                            .iter()
                            .filter(|c| exportable(c))
                            .map(|c| c.id.as_str())
                            .collect();
                        assert_eq!(
                            ids, expect,
                            "{}: every linked case it may export",
                            who.label
                        );
                        for exported in body["cases"].as_array().into_iter().flatten() {
                            let case = cases
                                .iter()
                                .find(|c| exported["id"] == c.id.as_str())
                                .expect("a case of the matrix");
                            let records = reads_compartment(who, case);
                            for id in exported["linked_case_ids"].as_array().into_iter().flatten() {
                                assert!(ids.contains(id.as_str().expect("id")), "{exported}");
                            }
                            if !records {
                                assert_eq!(
                                    exported["state"],
                                    shown_state(Sees::Detail, case),
                                    "{exported}"
                                );
                            }
                            for e in exported["history"].as_array().into_iter().flatten() {
                                let police = Action::parse(e["action"].as_str().unwrap())
                                    .is_some_and(Action::is_police_only);
                                assert_eq!(e["exemption_review"], records && police, "{e}");
                            }
                            if !exported["deconfliction"].is_null() {
                                assert!(records, "{exported}");
                                assert_eq!(exported["deconfliction"]["exemption_review"], true);
                            }
                        }
                    }
                }
                Probe::Panel => {
                    let (_, _, body) = json_of(
                        app.get(&path.replace("{id}", &panel_id), Some(&token))
                            .await,
                    )
                    .await;
                    assert_clean(who, path, &body, &words);
                }
                Probe::RetentionDue => {
                    let (status, ids, bodies) = listed(&app, path, &token, 2).await;
                    let records = who.has("records_officer");
                    for body in &bodies {
                        assert_clean(who, path, body, &words);
                    }
                    if !records && !who.has("auditor") {
                        assert_eq!(status, 403, "{}: {bodies:?}", who.label);
                        assert_eq!(bodies[0]["code"], "role_not_allowed", "{}", who.label);
                        continue;
                    }
                    assert_eq!(status, 200, "{}: {bodies:?}", who.label);
                    let ended = |c: &Case| {
                        matches!(
                            c.state,
                            State::Closed | State::Exited | State::TransferredToPursue
                        )
                    };
                    let expect: BTreeSet<String> = cases
                        .iter()
                        .filter(|c| ended(c))
                        .filter(|c| {
                            let in_area = c.area == who.area;
                            (records && in_area)
                                || (who.has("auditor") && (in_area || who.area == "national"))
                        })
                        .map(|c| c.id.clone())
                        .collect();
                    assert_eq!(ids, expect, "{} is listed exactly its due cases", who.label);
                    for item in bodies
                        .iter()
                        .flat_map(|b| b["items"].as_array().cloned().unwrap_or_default())
                    {
                        let keys: BTreeSet<&str> = item
                            .as_object()
                            .expect("item")
                            .keys()
                            .map(String::as_str)
                            .collect();
                        assert!(!keys.contains("referral"), "{item}");
                        let case = cases
                            .iter()
                            .find(|c| item["id"] == c.id.as_str())
                            .expect("a case of the matrix");
                        let marked = reads_compartment(who, case)
                            && case.state == State::TransferredToPursue;
                        assert_eq!(item["exemption_review"], marked, "{item}");
                        if !reads_compartment(who, case) {
                            assert_eq!(item["state"], shown_state(Sees::Detail, case), "{item}");
                        }
                    }
                }
                Probe::RetentionDecision => {
                    // A decision with a past review date: refused for its value only to the
                    // one who may decide, so nothing is recorded.
                    let body = json!({"decision": "retain", "reason_code": "other",
                        "justification": "Probe.", "next_review_on": "2000-01-01"});
                    for case in &cases {
                        let url = path.replace("{id}", &case.id);
                        let (status, _, answer) =
                            json_of(app.post_json(&url, &token, &body).await).await;
                        assert_clean(who, &url, &answer, &words);
                        let decides = who.has("records_officer") && who.area == case.area;
                        let want = if decides {
                            (422, "validation_failed")
                        } else if expected(who, case) == Sees::Nothing {
                            refused.push((who.sub, case.id.clone()));
                            (404, "not_found")
                        } else {
                            (403, "role_not_allowed")
                        };
                        assert_eq!(
                            (status, answer["code"].as_str().unwrap_or_default()),
                            want,
                            "{}: POST {url} ({:?} case): {answer}",
                            who.label,
                            case.state
                        );
                    }
                }
                Probe::AuditList => {
                    let (status, _, bodies) = listed(&app, path, &token, 500).await;
                    for body in &bodies {
                        assert_clean(who, path, body, &words);
                        for entry in body["items"].as_array().into_iter().flatten() {
                            if let Some(case) =
                                cases.iter().find(|c| entry["case_id"] == c.id.as_str())
                            {
                                // Its place in the case's stream would count hidden entries.
                                let placed =
                                    !entry["seq"].is_null() || !entry["prev_hash"].is_null();
                                assert_eq!(
                                    placed,
                                    expected(who, case) == Sees::Police,
                                    "{}: {entry}",
                                    who.label
                                );
                            }
                            if let Some(id) = entry["case_id"].as_str() {
                                assert!(
                                    detail_ids.contains(id),
                                    "{} is shown an entry about a case it may not see: {entry}",
                                    who.label
                                );
                            }
                        }
                    }
                    assert_eq!(status == 200, who.has("auditor"), "{}", who.label);
                    if !who.has("auditor") {
                        continue;
                    }
                    for case in &cases {
                        let query = format!("{path}?case_id={}", case.id);
                        let (status, _, bodies) = listed(&app, &query, &token, 500).await;
                        for body in &bodies {
                            assert_clean(who, &query, body, &words);
                        }
                        if detail_ids.contains(&case.id) {
                            assert_eq!(status, 200, "{}: {query}", who.label);
                            let entries = bodies
                                .iter()
                                .flat_map(|b| b["items"].as_array().cloned().unwrap_or_default())
                                .count();
                            assert!(entries > 0, "{}: {query}", who.label);
                        } else {
                            assert_eq!(status, 404, "{}: {query}", who.label);
                            refused.push((who.sub, case.id.clone()));
                        }
                    }
                }
            }
            let _ = method;
        }

        // The console, signed in as the same user: its case page answers as the API's
        // read does (404 for a case not to be seen, 403 for a role with no case page),
        // and no page shows a word the API would not.
        let browser = crate::console::Browser::sign_in(&app, who.sub, who.roles, who.area).await;
        let case_page = who.has("channel_chair") || who.has("panel_member") || who.has("auditor");
        for case in &cases {
            let url = format!("/console/cases/{}", case.id);
            let (status, html) = browser.page(&url).await;
            assert_clean(who, &url, &Value::String(html), &words);
            let want = match (case_page, expected(who, case)) {
                (false, _) => 403,
                (true, Sees::Detail | Sees::Police) => 200,
                (true, _) => 404,
            };
            assert_eq!(
                status, want,
                "{}: GET {url} ({:?} case)",
                who.label, case.state
            );
            if want == 404 {
                refused.push((who.sub, case.id.clone()));
            }
        }
        for url in crate::console::pages(&cases[0].id, &meeting) {
            let (status, html) = browser.page(&url).await;
            assert!(
                [200, 403, 404].contains(&status),
                "{}: GET {url}: {status}",
                who.label
            );
            assert_clean(who, &url, &Value::String(html), &words);
        }
    }

    // Every refusal of an invisible case is in the audit log, under the case.
    use pathway::store::schema::audit_log;
    let mut conn = app.db.connect();
    let denied: BTreeSet<(String, String)> = audit_log::table
        .filter(audit_log::outcome.eq("denied"))
        .select((audit_log::actor_sub, audit_log::case_id.assume_not_null()))
        .filter(audit_log::case_id.is_not_null())
        .load::<(String, String)>(&mut conn)
        .expect("denied entries")
        .into_iter()
        .collect();
    for (sub, case_id) in refused {
        assert!(
            denied.contains(&(sub.to_owned(), case_id.clone())),
            "the refusal of {case_id} to {sub} is audited"
        );
    }
    // So is every refusal of an agenda, under the panel.
    let agenda_refusals: BTreeSet<String> = audit_log::table
        .filter(audit_log::outcome.eq("denied"))
        .filter(audit_log::action.eq("meeting.read"))
        .filter(audit_log::chain_key.eq(format!("panel:{panel_id}")))
        .select(audit_log::actor_sub)
        .load::<String>(&mut conn)
        .expect("denied agenda reads")
        .into_iter()
        .collect();
    assert!(!refused_agendas.is_empty());
    for sub in refused_agendas {
        assert!(
            agenda_refusals.contains(sub),
            "the agenda refused to {sub} is audited"
        );
    }
}
