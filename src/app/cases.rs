//! Referral intake and the case pathway's use cases. Each runs in one transaction that
//! also writes its audit entry; refusals of visibility or role are audited too.

use chrono::{Datelike, NaiveDateTime};
use serde::Serialize;
use serde_json::json;

use super::{AppError, Committed, Sight, audit_context, deny};
use crate::audit::{AuditContext, AuditEvent, ChainKey, Outcome, now};
use crate::domain::access::{CaseAccess, StatusFilter, View, acting_roles, view_of};
use crate::domain::actions::Command;
use crate::domain::due::{DueKind, DuePolicy};
use crate::domain::pathway::{
    self, Action, Decision, Facts, Meeting, NewOnward, Notify, Refusal, Rejection, State,
    Transition, Write,
};
use crate::domain::record::StoredReferral;
use crate::domain::referral::Referral;
use crate::domain::retention::RetentionPolicy;
use crate::domain::{Actor, Role};
use crate::notify::{self, Kind, Notice};
use crate::store::cases::{
    self as store, CaseChange, CaseFilter, CaseRow, EventRow, IdempotencyRow, OnwardRow,
};
use crate::store::notifications as notify_store;
use crate::store::panels::{self as panels_store, MeetingRow, NoteRow};
use crate::store::{DbConnection, audit as audit_store, write_transaction};

/// What a referrer is told on filing (and what a retry with the same key is told again).
/// It holds no personal data, so it can be kept with the idempotency key.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Receipt {
    /// The case id.
    pub id: String,
    /// The reference to quote.
    pub reference: String,
    /// `received`.
    #[schema(value_type = pathway::ReferrerStatus)]
    pub status: pathway::ReferrerStatus,
    /// When it was received (RFC 3339, UTC).
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    /// The referrer said someone is at immediate risk.
    pub immediate_risk: bool,
    /// What to do now, when there is an immediate risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// The advice given whenever a referral reports an immediate risk.
pub const IMMEDIATE_RISK_ADVICE: &str = "You reported an immediate risk. A referral is not an emergency \
response: if anyone is in immediate danger, call 999 now. If there is no immediate danger but you \
need police advice urgently, call 101.";

/// The result of filing.
#[derive(Debug)]
pub struct Filed {
    /// What to answer.
    pub receipt: Receipt,
    /// True when this answered a retry with the same key and body.
    pub replayed: bool,
}

/// A case and what the actor may see of it.
#[derive(Debug)]
pub struct CaseDetail {
    /// The row.
    pub case: CaseRow,
    /// How much the actor sees.
    pub view: View,
    /// Repeat referrals about the same person (empty for referrers).
    pub links: Vec<store::LinkedCase>,
    /// Onward referrals (empty for referrers).
    pub onward: Vec<OnwardRow>,
    /// Agencies' notes (empty for referrers).
    pub notes: Vec<NoteRow>,
    /// The panel meetings it was listed for (empty for referrers).
    pub meetings: Vec<MeetingRow>,
}

impl CaseDetail {
    /// The version the actor is shown (its `ETag`); none for a referrer.
    pub fn version(&self) -> Option<i64> {
        self.view
            .version(self.case.version, self.case.shared_version)
    }
}

/// An idempotency key and the hash of the body it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The client's key.
    pub key: String,
    /// SHA-256 of the canonical body.
    pub body_hash: String,
}

fn state_of(row: &CaseRow) -> Result<State, AppError> {
    State::parse(&row.state)
        .ok_or_else(|| AppError::Corrupt(format!("case {} has unknown state", row.id)))
}

fn access(row: &CaseRow, state: State, on_actors_agenda: bool) -> CaseAccess<'_> {
    CaseAccess {
        area: &row.area,
        state,
        referrer_sub: &row.referrer_sub,
        referred_to_channel: row.referred_to_channel_at.is_some(),
        on_actors_agenda,
    }
}

/// Whether the case was on an agenda of a panel the actor sits on.
fn on_agenda(conn: &mut DbConnection, actor: &Actor, case_id: &str) -> Result<bool, AppError> {
    if !actor.has(Role::PanelMember) {
        return Ok(false);
    }
    Ok(!panels_store::member_agencies_for_case(conn, case_id, &actor.email)?.is_empty())
}

fn case_event(
    row: &CaseRow,
    action: &str,
    outcome: Outcome,
    details: impl Serialize,
) -> AuditEvent {
    AuditEvent::about_case(&row.id, &row.area, action, outcome, details)
}

/// Loads a case and decides the actor's view. A case the actor may not see is answered
/// as not found, and the attempt is recorded (committed) in the case's audit chain.
fn load_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &AuditContext,
    id: &str,
    audit_action: &str,
    lock: bool,
) -> Committed<(CaseRow, State, View)> {
    let Some(row) = store::find_case(conn, id, lock)? else {
        return Ok(Err(AppError::NotFound));
    };
    let state = state_of(&row)?;
    let agenda = on_agenda(conn, actor, &row.id)?;
    match view_of(actor, &access(&row, state, agenda)) {
        Some(view) => Ok(Ok((row, state, view))),
        None => deny(
            conn,
            ctx,
            case_event(&row, audit_action, Outcome::Denied, json!({})),
            AppError::NotFound,
        ),
    }
}

fn detail(
    conn: &mut DbConnection,
    actor: &Actor,
    case: CaseRow,
    view: View,
) -> Result<CaseDetail, AppError> {
    if !view.sees_case_detail() {
        return Ok(CaseDetail {
            case,
            view,
            links: vec![],
            onward: vec![],
            notes: vec![],
            meetings: vec![],
        });
    }
    // A linked case is shown only to those who may see it themselves.
    let sight = Sight::of(conn, actor)?;
    let mut links = store::linked_cases(conn, &case.id)?;
    let mut shown = Vec::with_capacity(links.len());
    for mut link in links.drain(..) {
        let Some(view) = sight.view(&link.access()).filter(|v| v.sees_case_detail()) else {
            continue;
        };
        // Each linked case as this reader is shown it, not as the case it links from.
        if let Some(state) = State::parse(&link.state) {
            link.outcome = view.outcome_shown(state, link.outcome.as_deref());
            link.state = view.state_shown(state).as_str().to_owned();
        }
        shown.push(link);
    }
    let links = shown;
    Ok(CaseDetail {
        onward: store::onward_for_case(conn, &case.id)?,
        notes: panels_store::notes(conn, &case.id)?,
        meetings: panels_store::meetings_of_case(conn, &case.id)?,
        case,
        view,
        links,
    })
}

fn subject_key(referral: &Referral) -> Option<String> {
    referral
        .subject_match_key()
        .map(|k| super::subject_hash(&k))
}

/// Files a referral: allocates a reference, links earlier referrals about the same
/// person, and stores the receipt under the idempotency key, all in one transaction.
pub fn file_referral(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    idempotency: Option<Idempotency>,
    referral: Referral,
    policy: &DuePolicy,
) -> Result<Filed, AppError> {
    let ctx = audit_context(actor, request_id);
    // A concurrent retry with the same key loses the race on the key's primary key;
    // its second attempt then finds and replays the stored receipt.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = write_transaction(conn, |c| {
            file_once(c, actor, &ctx, idempotency.as_ref(), &referral, policy)
        });
        match result {
            Err(AppError::Store(crate::store::StoreError::Query(
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ),
            ))) if attempt < 3 && idempotency.is_some() => continue,
            other => return other,
        }
    }
}

fn file_once(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &AuditContext,
    idempotency: Option<&Idempotency>,
    referral: &Referral,
    policy: &DuePolicy,
) -> Result<Filed, AppError> {
    if let Some(filed) = replayed(conn, actor, idempotency)? {
        return Ok(filed);
    }
    let at = now();
    let row = new_case(conn, actor, referral, policy, at)?;
    let earlier = match &row.subject_key {
        Some(k) => store::cases_with_subject(conn, k)?,
        None => Vec::new(),
    };
    store::insert_case(conn, &row)?;
    let audit = link_earlier(conn, &row, &earlier, at)?;
    store::insert_event(
        conn,
        &EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: row.id.clone(),
            seq: 1,
            action: "submit_referral".into(),
            from_state: None,
            to_state: row.state.clone(),
            actor_sub: actor.sub.clone(),
            actor_roles: actor.roles_list(),
            occurred_at: at,
            request_id: ctx.request_id.clone(),
            reason_code: None,
            rationale: None,
            // Not the number of linked cases: some may be hidden from those who read it.
            details: json!({}).to_string(),
            police_only: false,
        },
    )?;
    let receipt = Receipt {
        id: row.id.clone(),
        reference: row.reference.clone(),
        status: pathway::ReferrerStatus::Received,
        submitted_at: at.and_utc(),
        immediate_risk: row.immediate_risk,
        advice: row.immediate_risk.then(|| IMMEDIATE_RISK_ADVICE.to_owned()),
    };
    if let Some(idem) = idempotency {
        keep_receipt(conn, actor, idem, &receipt, at)?;
    }
    audit_store::append(conn, ctx, &audit)?;
    let notices = filing_notices(conn, actor, &row, policy)?;
    notify::queue(conn, notices, at)?;
    Ok(Filed {
        receipt,
        replayed: false,
    })
}

/// The receipt stored under the idempotency key, when this is a retry with the same
/// key and body; a retry with another body is refused.
fn replayed(
    conn: &mut DbConnection,
    actor: &Actor,
    idempotency: Option<&Idempotency>,
) -> Result<Option<Filed>, AppError> {
    let Some(idem) = idempotency else {
        return Ok(None);
    };
    let Some(stored) = store::find_idempotency(conn, &actor.sub, &idem.key)? else {
        return Ok(None);
    };
    if stored.request_hash != idem.body_hash {
        return Err(AppError::IdempotencyKeyReused);
    }
    let receipt: Receipt =
        serde_json::from_str(&stored.response).map_err(|e| AppError::Corrupt(e.to_string()))?;
    Ok(Some(Filed {
        receipt,
        replayed: true,
    }))
}

/// The row of a case filed now: its reference allocated, its screening due, and the
/// facts statistics count kept beside the referral.
fn new_case(
    conn: &mut DbConnection,
    actor: &Actor,
    referral: &Referral,
    policy: &DuePolicy,
    at: NaiveDateTime,
) -> Result<CaseRow, AppError> {
    let area = referral
        .area()
        .map_or_else(|| actor.area.to_string(), ToString::to_string);
    let number = store::next_reference_number(conn, i64::from(at.year()))?;
    let due = policy.on_entering(State::Submitted, at, None);
    let counted = super::statistics::counted_facts(referral, at.date());
    Ok(CaseRow {
        id: uuid::Uuid::now_v7().to_string(),
        reference: format!("PRV-{}-{number:06}", at.year()),
        area,
        state: State::Submitted.as_str().to_owned(),
        version: 1,
        referrer_sub: actor.sub.clone(),
        submitted_at: at,
        updated_at: at,
        due_kind: due.map(|(k, _)| k.as_str().to_owned()),
        due_at: due.map(|(_, t)| t),
        outcome: None,
        referred_to_channel_at: None,
        subject_key: subject_key(referral),
        referral: stored(referral)?,
        deconfliction: None,
        immediate_risk: referral.immediate_risk(),
        sector: referral.referrer_sector().as_str().to_owned(),
        type_of_concern: referral.type_of_concern().map(|t| t.as_str().to_owned()),
        support_plan: None,
        consent: None,
        exited_at: None,
        officer_email: None,
        shared_version: 1,
        age_band: counted.age_band,
        gender: counted.gender,
        needs_recorded: counted.needs_recorded,
        review_due_at: None,
        legal_hold: false,
        erased_at: None,
        shared_updated_at: at,
        police_only_since: None,
    })
}

/// Links the new case to the earlier cases about the same person; the audit entries of
/// its submission and of each link.
fn link_earlier(
    conn: &mut DbConnection,
    row: &CaseRow,
    earlier: &[(String, String)],
    at: NaiveDateTime,
) -> Result<Vec<AuditEvent>, AppError> {
    let repeat_of: Vec<&str> = earlier.iter().map(|(id, _)| id.as_str()).collect();
    let mut audit = vec![case_event(
        row,
        "case.submit",
        Outcome::Ok,
        json!({"reference": row.reference, "repeat_of": repeat_of}),
    )];
    for (other, other_area) in earlier {
        store::link_cases(conn, &row.id, other, "subject_match", at)?;
        // The entry belongs to the earlier case, so it carries that case's area: the
        // new case's area would show its auditors an id they may not see.
        audit.push(AuditEvent::about_case(
            other,
            other_area,
            "case.link",
            Outcome::Ok,
            json!({"linked_case_id": row.id, "reason": "subject_match"}),
        ));
    }
    Ok(audit)
}

/// Keeps the receipt under the idempotency key, for a retry to be told again.
fn keep_receipt(
    conn: &mut DbConnection,
    actor: &Actor,
    idem: &Idempotency,
    receipt: &Receipt,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let response = serde_json::to_string(receipt).map_err(|e| AppError::Corrupt(e.to_string()))?;
    store::insert_idempotency(
        conn,
        &IdempotencyRow {
            actor_sub: actor.sub.clone(),
            key: idem.key.clone(),
            request_hash: idem.body_hash.clone(),
            case_id: receipt.id.clone(),
            response,
            created_at: at,
        },
    )?;
    Ok(())
}

/// Who is told of a filing: the area's Prevent team, and the referrer, acknowledged.
fn filing_notices(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &CaseRow,
    policy: &DuePolicy,
) -> Result<Vec<Notice>, AppError> {
    let extra = json!({"immediate_risk": row.immediate_risk, "screening_days": policy.screening_working_days});
    let notice =
        |kind, to: &str| Notice::about_case(kind, to, &row.area, &row.id, &row.reference, &extra);
    let mut notices: Vec<Notice> = notify_store::mailboxes(conn, &row.area, "prevent_team")?
        .iter()
        .map(|m| notice(Kind::ReferralReceived, m))
        .collect();
    notices.push(notice(Kind::ReferralAcknowledged, &actor.email));
    Ok(notices)
}

/// A case as the actor may see it.
pub fn read_case(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<CaseDetail, AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Committed<CaseDetail> {
        let (row, _, view) = match load_visible(c, actor, &ctx, id, "case.read", false)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        audit_store::append(
            c,
            &ctx,
            &[case_event(
                &row,
                "case.read",
                Outcome::Ok,
                json!({"view": view.as_str()}),
            )],
        )?;
        Ok(Ok(detail(c, actor, row, view)?))
    })?
}

/// The visible cases matching `status` (as each case's view shows it) and `filter`.
pub fn list_cases(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    status: Option<StatusFilter>,
    filter: CaseFilter,
    limit: i64,
) -> Result<Vec<(CaseRow, View)>, AppError> {
    if actor.roles.iter().all(|r| *r == Role::Admin) {
        return Err(AppError::RoleNotAllowed);
    }
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Result<_, AppError> {
        let sight = Sight::of(c, actor)?;
        let rows = store::list_cases(c, &sight.scope(status), &filter, limit)?;
        let mut seen = Vec::with_capacity(rows.len());
        for row in rows {
            // The SQL scope and the rule agree; the rule still decides each row's view.
            if let Some(view) = sight.view(&store::AccessRow::of(&row)) {
                seen.push((row, view));
            }
        }
        let ids: Vec<&str> = seen.iter().map(|(r, _)| r.id.as_str()).collect();
        let event = AuditEvent {
            chain: ChainKey::actor(&actor.sub),
            action: "case.list".into(),
            case_id: None,
            area: actor.area.to_string(),
            outcome: Outcome::Ok,
            details: json!({"state": status.map(StatusFilter::as_str), "overdue": filter.due_before.is_some(), "case_ids": ids}),
        };
        audit_store::append(c, &ctx, &[event])?;
        Ok(seen)
    })
}

/// The history of a case as the actor may see it; police-only entries only for police.
pub fn case_history(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<(CaseRow, Vec<EventRow>), AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Committed<(CaseRow, Vec<EventRow>)> {
        let (row, _, view) = match load_visible(c, actor, &ctx, id, "case.history.read", false)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !view.sees_case_detail() {
            let entry = case_event(&row, "case.history.read", Outcome::Denied, json!({}));
            return deny(c, &ctx, entry, AppError::RoleNotAllowed);
        }
        let events = shown_events(view, store::events(c, &row.id)?);
        audit_store::append(
            c,
            &ctx,
            &[case_event(
                &row,
                "case.history.read",
                Outcome::Ok,
                json!({"view": view.as_str()}),
            )],
        )?;
        Ok(Ok((row, events)))
    })?
}

/// A case's history as `view` is shown it ([`View::event`]): police-only entries
/// left out or read as their cover, and outside the police compartment renumbered,
/// so that gaps do not hint at what was left out.
pub fn shown_events(view: View, events: Vec<EventRow>) -> Vec<EventRow> {
    let police = view.in_police_compartment();
    let mut shown = Vec::with_capacity(events.len());
    for mut e in events {
        let action = Action::parse(&e.action);
        let to = State::parse(&e.to_state).unwrap_or(State::Submitted);
        let from = e.from_state.as_deref().and_then(State::parse);
        let Some(face) = view.event(action, from, to, e.police_only) else {
            continue;
        };
        if !police {
            if let Some(a) = face.action {
                e.action = a.as_str().to_owned();
            }
            e.from_state = face.from.map(|s| s.as_str().to_owned());
            e.to_state = face.to.as_str().to_owned();
            if !face.reasons {
                e.reason_code = None;
                e.rationale = None;
            }
            e.seq = shown.len() as i64 + 1;
        }
        shown.push(e);
    }
    shown
}

/// What the actor may do to a case now, and the case as they see it. A referrer, who
/// sees only a coarse status, is refused: the answer names the state.
pub fn available_actions(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<(CaseDetail, Vec<&'static Transition>), AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(
        conn,
        |c| -> Committed<(CaseDetail, Vec<&'static Transition>)> {
            let (row, state, view) =
                match load_visible(c, actor, &ctx, id, "case.actions.read", false)? {
                    Ok(found) => found,
                    Err(refusal) => return Ok(Err(refusal)),
                };
            if !view.sees_case_detail() {
                let entry = case_event(&row, "case.actions.read", Outcome::Denied, json!({}));
                return deny(c, &ctx, entry, AppError::RoleNotAllowed);
            }
            // An erased case keeps only its skeleton: nothing more is done to it.
            let roles = if row.erased_at.is_some() {
                Vec::new()
            } else {
                acting_roles(actor, Some(view))
            };
            let rows: Vec<&'static Transition> = pathway::allowed_actions(state, &roles)
                .into_iter()
                .filter_map(|a| pathway::transition(state, a, &roles).ok())
                .collect();
            audit_store::append(
                c,
                &ctx,
                &[case_event(
                    &row,
                    "case.actions.read",
                    Outcome::Ok,
                    json!({}),
                )],
            )?;
            let case = CaseDetail {
                case: row,
                view,
                links: vec![],
                onward: vec![],
                notes: vec![],
                meetings: vec![],
            };
            Ok(Ok((case, rows)))
        },
    )?
}

/// Adds an agency's contribution: for members of a panel whose agenda held the case,
/// in the name of the agency they sit for.
pub fn add_note(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
    body: Result<String, AppError>,
) -> Result<NoteRow, AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Committed<NoteRow> {
        let (row, _, _) = match load_visible(c, actor, &ctx, id, "case.note.add", true)? {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let agencies = if actor.has(Role::PanelMember) {
            panels_store::member_agencies_for_case(c, &row.id, &actor.email)?
        } else {
            Vec::new()
        };
        let Some(agency) = agencies.into_iter().next() else {
            let entry = case_event(&row, "case.note.add", Outcome::Denied, json!({}));
            return deny(c, &ctx, entry, AppError::RoleNotAllowed);
        };
        // Read only now: one who may not add notes learns nothing from the body.
        let body = match body {
            Ok(body) => body,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let note = NoteRow {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: row.id.clone(),
            author_sub: actor.sub.clone(),
            agency,
            body,
            created_at: now(),
        };
        panels_store::insert_note(c, &note)?;
        let details = json!({"note_id": note.id, "agency": note.agency});
        audit_store::append(
            c,
            &ctx,
            &[case_event(&row, "case.note.add", Outcome::Ok, details)],
        )?;
        Ok(Ok(note))
    })?
}

/// The check of a requested action against the pathway, before its body is parsed.
pub fn check_action(
    state: State,
    action: Action,
    roles: &[Role],
) -> Result<&'static Transition, AppError> {
    pathway::transition(state, action, roles).map_err(|r| match r {
        Refusal::RoleNotAllowed => AppError::RoleNotAllowed,
        Refusal::InvalidTransition { allowed } => AppError::InvalidTransition { state, allowed },
    })
}

/// Performs `action` on the case at `version`. The body was parsed before the case was
/// read; its errors are answered only once the state, role and version allow the action.
/// The steps: load, authorise, load the facts, decide, store, audit, notify.
#[expect(
    clippy::too_many_arguments,
    reason = "one use case, one call site: a struct would only rename them"
)]
pub fn perform_action(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
    action: Action,
    version: i64,
    command: Result<Command, AppError>,
    policy: &DuePolicy,
    retention: &RetentionPolicy,
) -> Result<CaseDetail, AppError> {
    let ctx = audit_context(actor, request_id);
    let asked = Asked {
        actor,
        ctx: &ctx,
        action,
        audit_action: format!("case.action.{action}"),
        version,
    };
    write_transaction(conn, |c| -> Committed<CaseDetail> {
        let (row, state, view) = match load_visible(c, actor, &ctx, id, &asked.audit_action, true)?
        {
            Ok(found) => found,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let loaded = Loaded { row, state, view };
        let transition = match authorise(c, &asked, &loaded)? {
            Ok(transition) => transition,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let command = match command {
            Ok(command) => command,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let at = now();
        let facts = load_facts(c, actor, &loaded.row, &command)?;
        let case = case_of(&loaded);
        let decision = match pathway::decide(transition, &case, &facts, &command, at, policy) {
            Ok(decision) => decision,
            Err(Rejection::Invalid(errors)) => return Ok(Err(AppError::Validation(errors))),
            Err(Rejection::Inconsistent(why)) => return Err(AppError::Corrupt(why)),
        };
        let others = write_beside(c, actor, &loaded.row, &decision.writes, at)?;
        let change = change_of(&asked, &loaded.row, &decision, at, retention)?;
        if store::update_case(c, &loaded.row.id, loaded.row.version, &change)? == 0 {
            // Cannot happen under the row lock; answered as a stale version all the same.
            return Ok(Err(AppError::VersionMismatch {
                current: shown_version(&loaded),
            }));
        }
        record(c, &asked, &loaded, &decision, &change, others)?;
        let updated = store::find_case(c, &loaded.row.id, false)?.ok_or(AppError::NotFound)?;
        let notices = notices_of(c, &updated, &decision.notices, policy)?;
        notify::queue(c, notices, at)?;
        let agenda = on_agenda(c, actor, &updated.id)?;
        let view = view_of(actor, &access(&updated, state_of(&updated)?, agenda));
        Ok(Ok(detail(c, actor, updated, view.unwrap_or(loaded.view))?))
    })?
}

/// An action asked of a case, as the steps of [`perform_action`] share it.
struct Asked<'a> {
    actor: &'a Actor,
    ctx: &'a AuditContext,
    action: Action,
    /// Its audit entries' action: `case.action.<action>`.
    audit_action: String,
    /// The version the actor holds.
    version: i64,
}

/// A case loaded for an action, locked, and the actor's view of it.
struct Loaded {
    row: CaseRow,
    state: State,
    view: View,
}

/// The version the actor is shown (its `ETag`).
fn shown_version(loaded: &Loaded) -> i64 {
    let row = &loaded.row;
    loaded
        .view
        .version(row.version, row.shared_version)
        .unwrap_or_default()
}

/// The row that lets the actor take the action now, by role and state, then by version
/// (the version is only for those who may act on the case). A refusal of role or state
/// is audited.
fn authorise(
    conn: &mut DbConnection,
    asked: &Asked,
    loaded: &Loaded,
) -> Committed<&'static Transition> {
    let (row, state, view) = (&loaded.row, loaded.state, loaded.view);
    let checked = if row.erased_at.is_some() {
        // An erased case keeps only its skeleton: nothing more is done to it.
        Err(AppError::InvalidTransition {
            state,
            allowed: Vec::new(),
        })
    } else {
        check_action(state, asked.action, &acting_roles(asked.actor, Some(view)))
    }
    .map_err(|refusal| match refusal {
        // The state is named as this reader is shown it.
        AppError::InvalidTransition { state, allowed } => AppError::InvalidTransition {
            state: view.state_shown(state),
            allowed,
        },
        other => other,
    });
    let current = view.version(row.version, row.shared_version) == Some(asked.version);
    match checked {
        Ok(_) | Err(AppError::InvalidTransition { .. }) if !current => {
            Ok(Err(AppError::VersionMismatch {
                current: shown_version(loaded),
            }))
        }
        Ok(transition) => Ok(Ok(transition)),
        Err(refusal) => {
            let details = json!({"from": state.as_str(), "refused": refusal.code()});
            let entry = case_event(row, &asked.audit_action, Outcome::Denied, details);
            deny(conn, asked.ctx, entry, refusal)
        }
    }
}

/// What the command's rules need to know beyond the case, read under the case's lock.
fn load_facts(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &CaseRow,
    command: &Command,
) -> Result<Facts, AppError> {
    let mut facts = Facts {
        actor_email: actor.email.clone(),
        ..Facts::default()
    };
    match command {
        Command::Listing { meeting_id } => facts.meeting = meeting_facts(conn, row, meeting_id)?,
        Command::OnwardOutcome { .. } => {
            facts.pending_onward = store::onward_for_case(conn, &row.id)?
                .into_iter()
                .filter(|o| o.status == "pending")
                .map(|o| o.id)
                .collect();
        }
        Command::Consent(_) => {
            // An unreadable referral leaves the age unknown, which is read as a child's.
            match StoredReferral::parse(&row.referral) {
                Ok(referral) => facts.subject_age = referral.subject_age(row.submitted_at.date()),
                Err(e) => {
                    tracing::error!(case_id = %row.id, error = %e, "stored referral unreadable")
                }
            }
        }
        Command::Correction(_) => facts.referral = serde_json::from_str(&row.referral).ok(),
        _ => {}
    }
    Ok(facts)
}

/// The meeting a listing names, with its panel's area, and whether the case is on its
/// agenda already.
fn meeting_facts(
    conn: &mut DbConnection,
    row: &CaseRow,
    meeting_id: &uuid::Uuid,
) -> Result<Option<Meeting>, AppError> {
    let Some((meeting, panel)) = panels_store::find_meeting(conn, &meeting_id.to_string())? else {
        return Ok(None);
    };
    let lists_case = panels_store::agenda(conn, &meeting.id)?
        .iter()
        .any(|a| a.case_id == row.id);
    Ok(Some(Meeting {
        id: meeting.id,
        panel_id: panel.id,
        panel_area: panel.area,
        scheduled_for: meeting.scheduled_for,
        lists_case,
    }))
}

/// What the case is waiting for, and by when.
fn due_of(row: &CaseRow) -> Option<(DueKind, NaiveDateTime)> {
    row.due_kind
        .as_deref()
        .and_then(DueKind::parse)
        .zip(row.due_at)
}

/// The case as the pathway's rules read it.
fn case_of(loaded: &Loaded) -> pathway::Case {
    let row = &loaded.row;
    pathway::Case {
        area: row.area.clone(),
        state: loaded.state,
        due: due_of(row),
        has_support_plan: row.support_plan.is_some(),
        exited_at: row.exited_at,
    }
}

/// A record as stored: JSON text with its keys sorted (made through a JSON tree), as every
/// record has always been written.
fn stored<T: Serialize>(record: &T) -> Result<String, AppError> {
    serde_json::to_value(record)
        .map(|v| v.to_string())
        .map_err(|e| AppError::Corrupt(e.to_string()))
}

/// A field as the decision leaves it: its new record, else what it held.
fn changed<T: Serialize>(
    record: Option<&T>,
    held: &Option<String>,
) -> Result<Option<String>, AppError> {
    Ok(match record {
        Some(record) => Some(stored(record)?),
        None => held.clone(),
    })
}

/// The case row as the decision leaves it: the fields it changes, and what every action
/// moves (the versions, the first referral to Channel, the retention review, the day it
/// became police-only).
fn change_of(
    asked: &Asked,
    row: &CaseRow,
    decision: &Decision,
    at: NaiveDateTime,
    retention: &RetentionPolicy,
) -> Result<CaseChange, AppError> {
    let changes = &decision.changes;
    let next = decision.next;
    let outcome = decision
        .outcome
        .map(str::to_owned)
        .or_else(|| row.outcome.clone());
    let exited_at = changes.exited_at.or(row.exited_at);
    // Moves what readers outside police are shown when they are shown the action, as
    // itself or as its cover.
    let shown_outside = asked.action.shared_as().is_some();
    let referred = match (row.referred_to_channel_at, next) {
        (None, State::AwaitingPanel) => Some(at),
        (kept, _) => kept,
    };
    Ok(CaseChange {
        state: next.as_str().to_owned(),
        version: row.version + 1,
        updated_at: at,
        due_kind: decision.due.map(|(k, _)| k.as_str().to_owned()),
        due_at: decision.due.map(|(_, t)| t),
        review_due_at: retention.review_date(next, outcome.as_deref(), exited_at, at),
        outcome,
        referred_to_channel_at: referred,
        deconfliction: changed(changes.deconfliction.as_ref(), &row.deconfliction)?,
        support_plan: changed(changes.support_plan.as_ref(), &row.support_plan)?,
        consent: changed(changes.consent.as_ref(), &row.consent)?,
        exited_at,
        officer_email: changes
            .officer_email
            .clone()
            .or_else(|| row.officer_email.clone()),
        shared_version: row.shared_version + i64::from(shown_outside),
        shared_updated_at: if shown_outside {
            at
        } else {
            row.shared_updated_at
        },
        police_only_since: row
            .police_only_since
            .or(next.is_police_only().then_some(at)),
    })
}

/// Makes the writes a decision asks for beside the case row, before the row changes (a
/// correction may move the case to another data key, which the row's sealed fields then
/// use). The audit entries of other cases they touch.
fn write_beside(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &CaseRow,
    writes: &[Write],
    at: NaiveDateTime,
) -> Result<Vec<AuditEvent>, AppError> {
    let mut others = Vec::new();
    for write in writes {
        match write {
            Write::ListOnAgenda { meeting_id } => {
                panels_store::list_on_agenda(conn, meeting_id, &row.id, &actor.sub, at)?;
            }
            Write::InsertOnward(new) => insert_onward(conn, &row.id, new, at)?,
            Write::ResolveOnward { id, outcome, note } => {
                let (id, status) = (id.to_string(), outcome.as_str());
                if store::resolve_onward(conn, &id, &row.id, status, note.as_deref(), at)? == 0 {
                    // It was read as pending under the case's lock.
                    return Err(AppError::Corrupt(format!(
                        "onward referral {id} was pending and is not"
                    )));
                }
            }
            Write::CorrectReferral(referral) => {
                others.extend(correct_referral(conn, row, referral, at)?);
            }
        }
    }
    Ok(others)
}

fn insert_onward(
    conn: &mut DbConnection,
    case_id: &str,
    new: &[NewOnward],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    for n in new {
        store::insert_onward(
            conn,
            &OnwardRow {
                id: n.id.clone(),
                case_id: case_id.to_owned(),
                service_type: n.referral.service_type.as_str().to_owned(),
                organisation: n.referral.organisation.clone(),
                reason: n.referral.reason.clone(),
                status: "pending".into(),
                note: None,
                created_at: at,
                resolved_at: None,
            },
        )?;
    }
    Ok(())
}

/// The action's entry in the case's history, and its audit entries: the case's, then
/// those of the other cases it touched.
fn record(
    conn: &mut DbConnection,
    asked: &Asked,
    loaded: &Loaded,
    decision: &Decision,
    change: &CaseChange,
    others: Vec<AuditEvent>,
) -> Result<(), AppError> {
    let (row, action) = (&loaded.row, asked.action);
    let seq = store::next_event_seq(conn, &row.id)?;
    store::insert_event(
        conn,
        &EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: row.id.clone(),
            seq,
            action: action.as_str().to_owned(),
            from_state: Some(loaded.state.as_str().to_owned()),
            to_state: change.state.clone(),
            actor_sub: asked.actor.sub.clone(),
            actor_roles: asked.actor.roles_list(),
            occurred_at: change.updated_at,
            request_id: asked.ctx.request_id.clone(),
            reason_code: decision.reason_code.map(str::to_owned),
            rationale: decision.rationale.clone(),
            details: stored(&decision.details)?,
            police_only: action.is_police_only(),
        },
    )?;
    let details = json!({
        "from": loaded.state.as_str(),
        "to": change.state,
        "version": change.version,
        "shared_version": change.shared_version,
        "reason_code": decision.reason_code,
    });
    let mut entries = vec![case_event(row, &asked.audit_action, Outcome::Ok, details)];
    entries.extend(others);
    audit_store::append(conn, asked.ctx, &entries)?;
    Ok(())
}

/// The notices a decision asks for, addressed: the area's chairs of a referral to
/// Channel, a panel's members of a listing, and the members and the referring officer
/// of the panel's decision, consent and exit. `case` is the case as it is now.
fn notices_of(
    conn: &mut DbConnection,
    case: &CaseRow,
    asked_for: &[Notify],
    policy: &DuePolicy,
) -> Result<Vec<Notice>, AppError> {
    let notice = |kind, to: &str, extra| {
        Notice::about_case(kind, to, &case.area, &case.id, &case.reference, extra)
    };
    let mut notices = Vec::new();
    for n in asked_for {
        match n {
            Notify::Chairs => {
                let extra = json!({"listing_days": policy.panel_listing_days});
                for m in notify_store::mailboxes(conn, &case.area, "channel_chair")? {
                    notices.push(notice(Kind::ReferredToChannel, &m, extra.clone()));
                }
            }
            Notify::PanelMembers {
                panel_id,
                meeting_at,
            } => {
                let date = meeting_at.format("%Y-%m-%d %H:%M UTC").to_string();
                let extra = json!({"meeting_date": date});
                for m in panels_store::members(conn, panel_id)? {
                    notices.push(notice(Kind::ListedForPanel, &m.email, extra.clone()));
                }
            }
            Notify::MembersAndOfficer { event } => {
                let extra = json!({"event": event, "state": case.state.replace('_', " ")});
                let mut to = panels_store::member_emails_for_case(conn, &case.id)?;
                to.extend(case.officer_email.clone());
                for m in &to {
                    notices.push(notice(Kind::CaseUpdate, m, extra.clone()));
                }
            }
        }
    }
    Ok(notices)
}

/// Replaces the case's referral with `referral` and recomputes its repeat-referral
/// links: links that no longer match go, new matches are linked. The entries for the
/// other cases, each in its own stream and area.
fn correct_referral(
    conn: &mut DbConnection,
    row: &CaseRow,
    referral: &Referral,
    at: NaiveDateTime,
) -> Result<Vec<AuditEvent>, AppError> {
    let key = subject_key(referral);
    let json = serde_json::to_string(referral).map_err(|e| AppError::Corrupt(e.to_string()))?;
    store::update_referral(
        conn,
        &row.id,
        &json,
        key.as_deref(),
        referral.referrer_sector().as_str(),
        referral.type_of_concern().map(|t| t.as_str()),
        at,
    )?;
    let before: Vec<String> = store::unlink_case(conn, &row.id)?;
    let matching: Vec<(String, String)> = match &key {
        Some(k) => store::cases_with_subject(conn, k)?
            .into_iter()
            .filter(|(id, _)| *id != row.id)
            .collect(),
        None => Vec::new(),
    };
    let mut others = Vec::new();
    let entry = |other: &str, area: &str, action: &str| {
        AuditEvent::about_case(
            other,
            area,
            action,
            Outcome::Ok,
            json!({"linked_case_id": row.id, "reason": "subject_match"}),
        )
    };
    for (other, area) in &matching {
        store::link_cases(conn, &row.id, other, "subject_match", at)?;
        if !before.contains(other) {
            others.push(entry(other, area, "case.link"));
        }
    }
    let gone: Vec<String> = before
        .into_iter()
        .filter(|b| !matching.iter().any(|(m, _)| m == b))
        .collect();
    for facts in store::access_facts(conn, &gone)? {
        others.push(entry(&facts.id, &facts.area, "case.unlink"));
    }
    Ok(others)
}
