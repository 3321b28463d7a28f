//! Subject access: one document of everything held on a person across their linked
//! cases, for an auditor or records officer. Police-only material is included and
//! marked for exemption review. Every export, and every refusal, is audited.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{AppError, Committed, Sight, audit_context, deny, subject_hash};
use crate::audit::{AuditEvent, ChainKey, Outcome, now};
use crate::domain::Actor;
use crate::domain::access::{
    View, made_in_police_compartment, police_only_audit_actions, shape_audit_entry,
};
use crate::domain::record::HeldRecord;
use crate::domain::subject_access::{
    SubjectQuery, export_scope, export_view, needs_exemption_review, state_needs_exemption_review,
};
use crate::store::audit::AuditFilter;
use crate::store::cases::{self as store, AccessRow, CaseRow};
use crate::store::panels as panels_store;
use crate::store::write_transaction;
use crate::store::{DbConnection, audit as audit_store, notifications as notify_store};

/// The audit action of an export.
const AUDIT_ACTION: &str = "subject_access.export";
/// Most audit entries read per case.
const ACCESS_LOG_LIMIT: i64 = 10_000;

/// Everything held on one person.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectAccessExport {
    /// When it was produced.
    pub generated_at: DateTime<Utc>,
    /// How the person was named: `case_id` or `name_and_date_of_birth`.
    pub matched_by: String,
    /// True when any item is marked for exemption review.
    pub exemption_review: bool,
    /// Every case about the person the caller may export, oldest first.
    pub cases: Vec<ExportedCase>,
}

/// One case, whole.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedCase {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Area.
    pub area: String,
    /// State now.
    pub state: String,
    /// How it closed.
    pub outcome: Option<String>,
    /// Filed.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The state itself is police-only material (a transfer to Pursue).
    pub exemption_review: bool,
    /// The referral as held (null once the subject's data key was destroyed).
    #[schema(value_type = Object)]
    pub referral: HeldRecord,
    /// Police-only deconfliction result, `{"exemption_review": true, "record": {...}}`.
    #[schema(value_type = Option<Object>)]
    pub deconfliction: Option<ExportedDeconfliction>,
    /// The support plan.
    #[schema(value_type = Option<Object>)]
    pub support_plan: Option<HeldRecord>,
    /// The latest consent record.
    #[schema(value_type = Option<Object>)]
    pub consent: Option<HeldRecord>,
    /// Linked cases (repeat referrals about the same person).
    pub linked_case_ids: Vec<String>,
    /// Every entry of its history: actions, decisions and their rationales.
    pub history: Vec<ExportedEvent>,
    /// Agencies' notes.
    pub notes: Vec<ExportedNote>,
    /// Referrals to other services.
    pub onward_referrals: Vec<ExportedOnward>,
    /// Notifications sent about it (metadata: they carry no personal details).
    pub notifications: Vec<ExportedNotification>,
    /// Who accessed or changed the records, from the audit log.
    pub access_log: Vec<ExportedAccess>,
}

/// A police-only deconfliction result, marked for exemption review (in a records
/// officer's export).
#[derive(Debug, Serialize)]
pub struct ExportedDeconfliction {
    /// Marked for exemption review before disclosure.
    pub exemption_review: bool,
    /// The result as held.
    pub record: HeldRecord,
}

/// One history entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedEvent {
    /// Position.
    pub seq: i64,
    /// Action.
    pub action: String,
    /// From.
    pub from_state: Option<String>,
    /// To.
    pub to_state: String,
    /// Who.
    pub actor_sub: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Coded reason.
    pub reason_code: Option<String>,
    /// Rationale.
    pub rationale: Option<String>,
    /// The rest of what was recorded.
    #[schema(value_type = Object)]
    pub details: HeldRecord,
    /// Police-only material, for exemption review before disclosure.
    pub exemption_review: bool,
}

/// One note.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedNote {
    /// Agency.
    pub agency: String,
    /// Author.
    pub author_sub: String,
    /// Text.
    pub body: String,
    /// Written.
    pub created_at: DateTime<Utc>,
}

/// One onward referral.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedOnward {
    /// Kind of service.
    pub service_type: String,
    /// Organisation.
    pub organisation: String,
    /// Why.
    pub reason: String,
    /// Status.
    pub status: String,
    /// The service's answer.
    pub note: Option<String>,
    /// Made.
    pub created_at: DateTime<Utc>,
}

/// One notification's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedNotification {
    /// What it told.
    pub kind: String,
    /// To whom (a staff or team mailbox).
    pub recipient: String,
    /// Delivery status.
    pub status: String,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// One audit entry about the case.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAccess {
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who.
    pub actor_sub: String,
    /// Their roles.
    pub actor_roles: String,
    /// What.
    pub action: String,
    /// `ok` or `denied`.
    pub outcome: String,
    /// A police-only action, for exemption review.
    pub exemption_review: bool,
}

/// A stored record of case `case_id` as exported ([`HeldRecord`]); one held but
/// unreadable is an internal error.
fn json_of(case_id: &str, what: &str, text: &str) -> Result<HeldRecord, AppError> {
    HeldRecord::parse(text)
        .map_err(|e| AppError::Corrupt(format!("case {case_id}: stored {what} unreadable: {e}")))
}

/// The cases about the person, each with the view it is exported with: the seed
/// cases and, transitively, every case linked to them; of them, those the actor may
/// export ([`export_view`]), which alone are followed to their links. A request by id
/// for a case the actor may not export finds nothing: the caller answers 404.
fn cases_of_subject(
    conn: &mut DbConnection,
    actor: &Actor,
    sight: &Sight<'_>,
    query: &SubjectQuery,
) -> Result<Vec<(CaseRow, View)>, AppError> {
    let mut pending: Vec<String> = match query {
        SubjectQuery::Case(id) => vec![id.to_string()],
        SubjectQuery::Person(key) => store::cases_with_subject(conn, &subject_hash(key))?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(row) = store::find_case(conn, &id, false)? else {
            continue;
        };
        let Some(view) = export_view(actor, &row.area, sight.view(&AccessRow::of(&row))) else {
            continue;
        };
        pending.extend(store::linked_cases(conn, &id)?.into_iter().map(|l| l.id));
        found.push((row, view));
    }
    found.sort_by(|(a, _), (b, _)| (a.submitted_at, &a.id).cmp(&(b.submitted_at, &b.id)));
    Ok(found)
}

/// One case as `view` is shown it: the same faces, history and audit entries as the
/// case routes and the audit log give that view, and in the police compartment (a
/// records officer's) each police-only item marked for exemption review.
fn export_case(
    conn: &mut DbConnection,
    actor: &Actor,
    sight: &Sight<'_>,
    row: CaseRow,
    view: View,
) -> Result<ExportedCase, AppError> {
    let police = view.in_police_compartment();
    let marked = view == View::Records;
    let face = row
        .compartments()
        .map(|c| view.face(&c))
        .ok_or_else(|| AppError::Corrupt(format!("case {} has unknown state", row.id)))?;
    let history = exported_history(conn, &row.id, view)?;
    let notes = exported_notes(conn, &row.id)?;
    let onward_referrals = exported_onward(conn, &row.id)?;
    let notifications = exported_notifications(conn, &row.id)?;
    let access_log = exported_access_log(conn, &row, view)?;
    // Only the linked cases this caller may export themselves are named.
    let mut linked_case_ids = Vec::new();
    for link in store::linked_cases(conn, &row.id)? {
        if export_view(actor, &link.area, sight.view(&link.access())).is_some() {
            linked_case_ids.push(link.id);
        }
    }
    Ok(ExportedCase {
        exemption_review: marked && state_needs_exemption_review(&row.state),
        referral: json_of(&row.id, "referral", &row.referral)?,
        deconfliction: row
            .deconfliction
            .as_deref()
            .filter(|_| police)
            .map(|d| {
                json_of(&row.id, "deconfliction", d).map(|record| ExportedDeconfliction {
                    exemption_review: marked,
                    record,
                })
            })
            .transpose()?,
        support_plan: (row.support_plan.as_deref())
            .map(|p| json_of(&row.id, "support plan", p))
            .transpose()?,
        consent: (row.consent.as_deref())
            .map(|c| json_of(&row.id, "consent", c))
            .transpose()?,
        submitted_at: row.submitted_at.and_utc(),
        updated_at: face.updated_at.and_utc(),
        id: row.id,
        reference: row.reference,
        area: row.area,
        state: face.state.as_str().to_owned(),
        outcome: face.outcome,
        linked_case_ids,
        history,
        notes,
        onward_referrals,
        notifications,
        access_log,
    })
}

/// The case's history as `view` is shown it.
fn exported_history(
    conn: &mut DbConnection,
    case_id: &str,
    view: View,
) -> Result<Vec<ExportedEvent>, AppError> {
    let marked = view == View::Records;
    let mut history = Vec::new();
    for e in super::cases::shown_events(view, store::events(conn, case_id)?) {
        history.push(ExportedEvent {
            exemption_review: marked && (e.police_only || needs_exemption_review(&e.action)),
            details: json_of(case_id, "history details", &e.details)?,
            seq: e.seq,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            actor_sub: e.actor_sub,
            occurred_at: e.occurred_at.and_utc(),
            reason_code: e.reason_code,
            rationale: e.rationale,
        });
    }
    Ok(history)
}

/// The panel members' notes on the case.
fn exported_notes(conn: &mut DbConnection, case_id: &str) -> Result<Vec<ExportedNote>, AppError> {
    Ok(panels_store::notes(conn, case_id)?
        .into_iter()
        .map(|n| ExportedNote {
            agency: n.agency,
            author_sub: n.author_sub,
            body: n.body,
            created_at: n.created_at.and_utc(),
        })
        .collect())
}

/// The case's onward referrals.
fn exported_onward(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<ExportedOnward>, AppError> {
    Ok(store::onward_for_case(conn, case_id)?
        .into_iter()
        .map(|o| ExportedOnward {
            service_type: o.service_type,
            organisation: o.organisation,
            reason: o.reason,
            status: o.status,
            note: o.note,
            created_at: o.created_at.and_utc(),
        })
        .collect())
}

/// The notifications sent about the case.
fn exported_notifications(
    conn: &mut DbConnection,
    case_id: &str,
) -> Result<Vec<ExportedNotification>, AppError> {
    Ok(notify_store::for_case(conn, case_id)?
        .into_iter()
        .map(|n| ExportedNotification {
            kind: n.kind,
            recipient: n.recipient,
            status: n.status,
            created_at: n.created_at.and_utc(),
            sent_at: n.sent_at.map(|t| t.and_utc()),
        })
        .collect())
}

/// Who accessed the case, as the audit log shows `view`: without the entries' details,
/// so that no other case is named through them.
fn exported_access_log(
    conn: &mut DbConnection,
    row: &CaseRow,
    view: View,
) -> Result<Vec<ExportedAccess>, AppError> {
    let marked = view == View::Records;
    let filter = AuditFilter {
        case_id: Some(row.id.clone()),
        ..AuditFilter::default()
    };
    let police_actions = police_only_audit_actions();
    let entries = audit_store::list(conn, &filter, ACCESS_LOG_LIMIT)?;
    let hidden = |_: &str| false;
    let mut access_log = Vec::new();
    for a in entries {
        let compartment = made_in_police_compartment(
            row.police_only_since,
            a.occurred_at,
            &a.actor_roles,
            (&a.action, &a.outcome),
        );
        // Audit details are never sealed nor erased: always JSON.
        let mut details = serde_json::from_str(&a.details).map_err(|e| {
            AppError::Corrupt(format!("case {}: audit details unreadable: {e}", row.id))
        })?;
        let Some(action) =
            shape_audit_entry(Some(view), &a.action, &mut details, compartment, &hidden)
        else {
            continue;
        };
        access_log.push(ExportedAccess {
            exemption_review: marked && (compartment || police_actions.contains(&a.action)),
            occurred_at: a.occurred_at.and_utc(),
            actor_sub: a.actor_sub,
            actor_roles: a.actor_roles,
            action,
            outcome: a.outcome,
        });
    }
    Ok(access_log)
}

/// Exports everything held on the person `query` names, in one transaction that also
/// records an audit entry in each exported case's stream and one in the caller's. The
/// request was parsed before; a caller who may not export is refused (and audited)
/// before its errors are answered.
pub fn export(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    query: Result<SubjectQuery, AppError>,
) -> Result<SubjectAccessExport, AppError> {
    let ctx = audit_context(actor, request_id);
    let own = |outcome, details| AuditEvent {
        chain: ChainKey::actor(&actor.sub),
        action: AUDIT_ACTION.into(),
        case_id: None,
        area: actor.area.to_string(),
        outcome,
        details,
    };
    if export_scope(actor).is_none() {
        write_transaction(conn, |c| {
            audit_store::append(c, &ctx, &[own(Outcome::Denied, json!({}))])
        })?;
        return Err(AppError::RoleNotAllowed);
    }
    let query = query?;
    write_transaction(conn, |c| -> Committed<SubjectAccessExport> {
        let sight = Sight::of(c, actor)?;
        let rows = cases_of_subject(c, actor, &sight, &query)?;
        if let (SubjectQuery::Case(id), true) = (&query, rows.is_empty()) {
            // As on every route, a case the caller may not see answers as if it did not
            // exist; the attempt is recorded in the case's stream when there is one.
            let id = id.to_string();
            let denied = match store::access_facts(c, std::slice::from_ref(&id))?.first() {
                Some(f) => AuditEvent::about_case(
                    &f.id,
                    &f.area,
                    AUDIT_ACTION,
                    Outcome::Denied,
                    json!({"matched_by": query.kind()}),
                ),
                None => own(Outcome::Denied, json!({"matched_by": query.kind()})),
            };
            return deny(c, &ctx, denied, AppError::NotFound);
        }
        let ids: Vec<String> = rows.iter().map(|(r, _)| r.id.clone()).collect();
        let mut entries: Vec<AuditEvent> = rows
            .iter()
            .map(|(r, _)| {
                AuditEvent::about_case(
                    &r.id,
                    &r.area,
                    AUDIT_ACTION,
                    Outcome::Ok,
                    json!({"matched_by": query.kind()}),
                )
            })
            .collect();
        entries.push(own(
            Outcome::Ok,
            json!({"matched_by": query.kind(), "case_ids": ids}),
        ));
        let cases = rows
            .into_iter()
            .map(|(r, view)| export_case(c, actor, &sight, r, view))
            .collect::<Result<Vec<_>, _>>()?;
        // Appended after reading, so that the export's own entries are not in it.
        audit_store::append(c, &ctx, &entries)?;
        Ok(Ok(SubjectAccessExport {
            generated_at: now().and_utc(),
            matched_by: query.kind().to_owned(),
            exemption_review: cases.iter().any(|k| {
                k.exemption_review
                    || k.deconfliction.is_some()
                    || k.history.iter().any(|e| e.exemption_review)
                    || k.access_log.iter().any(|a| a.exemption_review)
            }),
            cases,
        }))
    })?
}
