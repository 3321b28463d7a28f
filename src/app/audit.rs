//! Reading and verifying the audit log (auditors only). Every read is itself audited.

use serde_json::json;

use super::{AppError, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome, VerifyReport};
use crate::domain::{Actor, Role};
use crate::store::audit::{AuditEntryRow, AuditFilter};
use crate::store::trust::AuditTrust;
use crate::store::{DbConnection, audit as audit_store, write_transaction};

fn event(actor: &Actor, action: &str, outcome: Outcome, details: serde_json::Value) -> AuditEvent {
    AuditEvent {
        chain: ChainKey::actor(&actor.sub),
        action: action.to_owned(),
        case_id: None,
        area: actor.area.to_string(),
        outcome,
        details,
    }
}

/// Records a refused attempt in its own transaction, then reports the refusal.
fn refuse(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    action: &str,
) -> AppError {
    let ctx = audit_context(actor, request_id);
    let recorded = write_transaction(conn, |c| {
        audit_store::append(c, &ctx, &[event(actor, action, Outcome::Denied, json!({}))])
    });
    match recorded {
        Ok(_) => AppError::RoleNotAllowed,
        Err(e) => e.into(),
    }
}

/// Lists audit entries of the auditor's area (all areas for a national auditor).
pub fn read_log(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    mut filter: AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEntryRow>, AppError> {
    if !actor.has(Role::Auditor) {
        return Err(refuse(conn, actor, request_id, "audit.read"));
    }
    filter.areas = (!actor.area.is_national()).then(|| vec![actor.area.to_string()]);
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let rows = audit_store::list(c, &filter, limit)?;
        let details = json!({
            "case_id": filter.case_id, "actor": filter.actor, "action": filter.action,
            "entries": rows.len(),
        });
        audit_store::append(c, &ctx, &[event(actor, "audit.read", Outcome::Ok, details)])?;
        Ok(rows)
    })
}

/// Verifies the whole audit log, against the witness too, then records that it was
/// verified and what was found.
pub fn verify_log(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    trust: &AuditTrust,
) -> Result<VerifyReport, AppError> {
    if !actor.has(Role::Auditor) {
        return Err(refuse(conn, actor, request_id, "audit.verify"));
    }
    let report = audit_store::verify(
        conn,
        &trust.entry_key,
        &trust.public_key(),
        Some(&trust.witness),
    )?;
    let ctx = audit_context(actor, request_id);
    let details = json!({
        "intact": report.intact,
        "entries_checked": report.entries_checked,
        "first_break": report.first_break.as_ref().map(|b| b.kind),
    });
    write_transaction(conn, |c| {
        audit_store::append(
            c,
            &ctx,
            &[event(actor, "audit.verify", Outcome::Ok, details)],
        )
    })?;
    Ok(report)
}
