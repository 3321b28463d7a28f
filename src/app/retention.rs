//! Retention reviews: the list of cases due, and the decisions of the area's records
//! officer (retain, hold, release, erase). One transaction each, audited, refusals too.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{AppError, Committed, audit_context, deny};
use crate::audit::{AuditContext, AuditEvent, ChainKey, Outcome, now};
use crate::domain::Actor;
use crate::domain::access::{View, decides_retention, reads_retention, retention_scope};
use crate::domain::pathway::State;
use crate::domain::retention::{
    ErasureCandidate, ErasureRefusal, RetentionCommand, erasure_set, is_due,
};
use crate::store::cases::{self as cases_store, CaseRow, EventRow};
use crate::store::retention::{self as store, DecisionRow, RetentionChange};
use crate::store::{DbConnection, audit as audit_store, write_transaction};

fn case_event(row: &CaseRow, outcome: Outcome, details: impl serde::Serialize) -> AuditEvent {
    AuditEvent::about_case(&row.id, &row.area, "case.retention", outcome, details)
}

fn state_of(row: &CaseRow) -> Result<State, AppError> {
    State::parse(&row.state)
        .ok_or_else(|| AppError::Corrupt(format!("case {} has unknown state", row.id)))
}

/// The cases due for review at `now` that `actor` may see in the list, after the
/// `after` position; every read is audited with the ids it listed.
pub fn due_list(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
    now: NaiveDateTime,
) -> Result<Vec<(CaseRow, View)>, AppError> {
    if !reads_retention(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let rows = store::due_for_review(c, &retention_scope(actor), now, after, limit)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let event = AuditEvent {
            chain: ChainKey::actor(&actor.sub),
            action: "retention.due.read".into(),
            case_id: None,
            area: actor.area.to_string(),
            outcome: Outcome::Ok,
            details: json!({"case_ids": ids}),
        };
        audit_store::append(c, &ctx, &[event])?;
        // The area's records officer reads the police compartment; an auditor is shown
        // each case as everywhere else.
        Ok(rows
            .into_iter()
            .map(|r| {
                let view = if decides_retention(actor, &r.area) {
                    View::Records
                } else {
                    View::Auditor
                };
                (r, view)
            })
            .collect())
    })
}

/// What a decision did.
#[derive(Debug)]
pub struct Decided {
    /// The case as it is now.
    pub case: CaseRow,
    /// The cases erased (the case itself and its linked cases), when erased.
    pub erased: Vec<String>,
}

/// Records one retention decision on case `id`. Only the records officer of the case's
/// area may; anyone else who may see the case is refused (403), anyone else is answered
/// as if it did not exist. The body was parsed before the case was read; its errors are
/// answered only to those who may decide.
pub fn decide(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
    command: Result<RetentionCommand, AppError>,
) -> Result<Decided, AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Committed<Decided> {
        let Some(row) = cases_store::find_case(c, id, true)? else {
            return Ok(Err(AppError::NotFound));
        };
        let state = state_of(&row)?;
        if !decides_retention(actor, &row.area) {
            let sees = super::Sight::of(c, actor)?
                .view(&cases_store::AccessRow::of(&row))
                .is_some();
            let refusal = if sees {
                AppError::RoleNotAllowed
            } else {
                AppError::NotFound
            };
            return deny(
                c,
                &ctx,
                case_event(&row, Outcome::Denied, json!({})),
                refusal,
            );
        }
        let command = match command {
            Ok(command) => command,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let at = now();
        if let Some((code, detail)) = conflict_of(&row, &command, at) {
            let details = json!({"decision": command.as_str(), "refused": code});
            let entry = case_event(&row, Outcome::Denied, details);
            return deny(c, &ctx, entry, AppError::Conflict { code, detail });
        }
        if let RetentionCommand::Erase(named) = &command {
            return erase(c, actor, &ctx, &row, named, at);
        }
        let (legal_hold, review_due_at) = match &command {
            RetentionCommand::Retain { next_review_on, .. } => {
                (row.legal_hold, next_review_on.and_hms_opt(0, 0, 0))
            }
            RetentionCommand::Hold(_) => (true, row.review_due_at),
            _ => (false, row.review_due_at),
        };
        record(c, actor, &ctx, &row, state, &command, at)?;
        update(c, &row, state, legal_hold, review_due_at)?;
        let case = cases_store::find_case(c, &row.id, false)?.ok_or(AppError::NotFound)?;
        Ok(Ok(Decided {
            case,
            erased: Vec::new(),
        }))
    })?
}

/// Why `command` may not be recorded on the case `row` at `at`, as a stable code and a
/// sentence for a person; `None` when it may.
fn conflict_of(
    row: &CaseRow,
    command: &RetentionCommand,
    at: NaiveDateTime,
) -> Option<(&'static str, &'static str)> {
    if row.erased_at.is_some() {
        return Some((
            "already_erased",
            "The case's personal data has already been erased.",
        ));
    }
    if command.needs_due() && !is_due(row.review_due_at, at) {
        return Some((
            "not_due",
            "The case is not due for a retention review: only a hold or its release may be recorded now.",
        ));
    }
    match command {
        RetentionCommand::Hold(_) if row.legal_hold => {
            Some(("already_held", "The case is already under a legal hold."))
        }
        RetentionCommand::Release(_) if !row.legal_hold => {
            Some(("not_held", "The case is not under a legal hold."))
        }
        // Retaining a held case is allowed: the hold stays.
        _ => None,
    }
}

/// Stores the case's new hold and review date under the lock taken when it was read,
/// counting the decision in its versions (in the shared one unless it is police-only).
fn update(
    conn: &mut DbConnection,
    row: &CaseRow,
    state: State,
    legal_hold: bool,
    review_due_at: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    let change = RetentionChange {
        review_due_at,
        legal_hold,
        version: row.version + 1,
        shared_version: row.shared_version + i64::from(!state.is_police_only()),
    };
    if store::update_retention(conn, &row.id, row.version, &change)? == 0 {
        return Err(AppError::Corrupt(format!(
            "case {} changed under its lock",
            row.id
        )));
    }
    Ok(())
}

/// The code and sentence answering an erasure the rule refuses.
fn erasure_conflict(refusal: ErasureRefusal) -> (&'static str, &'static str) {
    match refusal {
        ErasureRefusal::NotDue => ("not_due", "The case is not due for a retention review."),
        ErasureRefusal::LegalHold => (
            "legal_hold",
            "A legal hold blocks the erasure: release it first.",
        ),
        ErasureRefusal::LinkedCasesNotDue => (
            "linked_cases_not_due",
            "Other cases about the same person are not yet due for review: name every linked case in `case_ids` to erase them together.",
        ),
        ErasureRefusal::NotLinked => (
            "not_linked",
            "`case_ids` names a case that is not a linked case of this one that you may decide on.",
        ),
    }
}

/// The cases linked to `row` that `actor` may decide on, locked like the case itself so
/// that no action or decision changes them meanwhile.
fn lock_linked(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &CaseRow,
) -> Result<Vec<CaseRow>, AppError> {
    let linked_ids: Vec<String> = cases_store::linked_cases(conn, &row.id)?
        .into_iter()
        .filter(|l| decides_retention(actor, &l.area))
        .map(|l| l.id)
        .collect();
    let mut linked_rows = Vec::with_capacity(linked_ids.len());
    for id in &linked_ids {
        linked_rows.extend(cases_store::find_case(conn, id, true)?);
    }
    Ok(linked_rows)
}

/// Stores the decision, its history entry (police-only when the case is) and its audit
/// entry, which carries codes and dates but no free text.
fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &AuditContext,
    row: &CaseRow,
    state: State,
    command: &RetentionCommand,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let (reason_code, text, next) = match command {
        RetentionCommand::Retain {
            reason,
            justification,
            next_review_on,
        } => (
            Some(reason.as_str().to_owned()),
            Some(justification.clone()),
            next_review_on.and_hms_opt(0, 0, 0),
        ),
        RetentionCommand::Hold(why) | RetentionCommand::Release(why) => {
            (None, Some(why.clone()), None)
        }
        RetentionCommand::Erase(_) => (None, None, None),
    };
    store::insert_decision(
        conn,
        &DecisionRow {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: row.id.clone(),
            decision: command.as_str().to_owned(),
            reason_code: reason_code.clone(),
            justification: text.clone(),
            next_review_at: next,
            decided_by: actor.sub.clone(),
            decided_at: at,
            request_id: ctx.request_id.clone(),
        },
    )?;
    let next_review_on = next.map(|t| t.date());
    let seq = cases_store::next_event_seq(conn, &row.id)?;
    cases_store::insert_event(
        conn,
        &EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: row.id.clone(),
            seq,
            action: format!("retention_{}", command.as_str()),
            from_state: Some(row.state.clone()),
            to_state: row.state.clone(),
            actor_sub: actor.sub.clone(),
            actor_roles: actor.roles_list(),
            occurred_at: at,
            request_id: ctx.request_id.clone(),
            reason_code: reason_code.clone(),
            rationale: text,
            details: json!({"decision": command.as_str(), "next_review_on": next_review_on})
                .to_string(),
            police_only: state.is_police_only(),
        },
    )?;
    let details = json!({
        "decision": command.as_str(),
        "reason_code": reason_code,
        "next_review_on": next_review_on,
    });
    audit_store::append(conn, ctx, &[case_event(row, Outcome::Ok, details)])?;
    Ok(())
}

/// Erases the case and its linked cases of the decider's area, in this transaction.
fn erase(
    conn: &mut DbConnection,
    actor: &Actor,
    ctx: &AuditContext,
    row: &CaseRow,
    named: &std::collections::BTreeSet<String>,
    at: NaiveDateTime,
) -> Committed<Decided> {
    let linked_rows = lock_linked(conn, actor, row)?;
    let candidate = |r: &CaseRow| ErasureCandidate {
        id: r.id.clone(),
        due: is_due(r.review_due_at, at),
        legal_hold: r.legal_hold,
    };
    let linked: Vec<ErasureCandidate> = linked_rows
        .iter()
        .filter(|r| r.erased_at.is_none())
        .map(candidate)
        .collect();
    let ids = match erasure_set(&candidate(row), &linked, named) {
        Ok(ids) => ids,
        Err(refusal) => {
            let (code, detail) = erasure_conflict(refusal);
            let details = json!({"decision": "erase", "refused": code});
            let entry = case_event(row, Outcome::Denied, details);
            return deny(conn, ctx, entry, AppError::Conflict { code, detail });
        }
    };
    let mut rows = vec![row.clone()];
    rows.extend(linked_rows.into_iter().filter(|r| ids.contains(&r.id)));
    for r in &rows {
        let state = state_of(r)?;
        record(
            conn,
            actor,
            ctx,
            r,
            state,
            &RetentionCommand::Erase(Default::default()),
            at,
        )?;
        update(conn, r, state, false, None)?;
    }
    store::erase(conn, &ids, at)?;
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|r| case_event(r, Outcome::Ok, json!({"erased": true, "case_ids": ids})))
        .collect();
    audit_store::append(conn, ctx, &events)?;
    let case = cases_store::find_case(conn, &row.id, false)?.ok_or(AppError::NotFound)?;
    Ok(Ok(Decided { case, erased: ids }))
}
