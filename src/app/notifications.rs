//! The notification directory and the outbox, for admins. Changes are audited.

use serde_json::json;

use super::{AppError, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome};
use crate::domain::{Actor, FieldError, Role};
use crate::store::notifications::{self as store, DirectoryRow, NotificationRow};
use crate::store::{DbConnection, audit as audit_store, write_transaction};

/// The roles a directory mailbox can stand for.
pub const DIRECTORY_ROLES: [&str; 3] = ["prevent_team", "channel_chair", "records_officer"];

fn admin_only(actor: &Actor) -> Result<(), AppError> {
    if actor.has(Role::Admin) {
        Ok(())
    } else {
        Err(AppError::RoleNotAllowed)
    }
}

fn event(actor: &Actor, action: &str, details: impl serde::Serialize) -> AuditEvent {
    let chain = ChainKey::actor(&actor.sub);
    AuditEvent::new(chain, action, actor.area.as_str(), Outcome::Ok, details)
}

/// The admin's area's directory.
pub fn directory(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<DirectoryRow>, AppError> {
    admin_only(actor)?;
    Ok(store::directory_entries(conn, Some(actor.area.as_str()))?)
}

/// Adds a mailbox for `role` in the admin's area.
pub fn add_mailbox(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    entry: Result<(String, String), AppError>,
) -> Result<DirectoryRow, AppError> {
    admin_only(actor)?;
    let (role, mailbox) = entry?;
    let role = role.as_str();
    if !DIRECTORY_ROLES.contains(&role) {
        return Err(AppError::Validation(vec![FieldError::new(
            "role",
            "invalid_value",
            "prevent_team, channel_chair or records_officer",
        )]));
    }
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let existing = store::directory_entries(c, Some(actor.area.as_str()))?;
        if existing
            .iter()
            .any(|e| e.role == role && e.mailbox == mailbox)
        {
            return Err(AppError::Validation(vec![FieldError::new(
                "mailbox",
                "duplicate",
                "already listed for that role",
            )]));
        }
        let row = DirectoryRow {
            id: uuid::Uuid::now_v7().to_string(),
            area: actor.area.to_string(),
            role: role.to_owned(),
            mailbox,
            created_at: crate::audit::now(),
        };
        store::add_directory_entry(c, &row)?;
        audit_store::append(
            c,
            &ctx,
            &[event(
                actor,
                "directory.add",
                json!({"entry_id": row.id, "role": row.role}),
            )],
        )?;
        Ok(row)
    })
}

/// Removes a mailbox of the admin's area.
pub fn remove_mailbox(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<(), AppError> {
    admin_only(actor)?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        if store::remove_directory_entry(c, id, actor.area.as_str())? == 0 {
            return Err(AppError::NotFound);
        }
        audit_store::append(
            c,
            &ctx,
            &[event(actor, "directory.remove", json!({"entry_id": id}))],
        )?;
        Ok(())
    })
}

/// The notifications of the admin's area, optionally with one status. Listing shows
/// recipients and case ids, so it is audited.
pub fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<NotificationRow>, AppError> {
    admin_only(actor)?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let rows = store::list(c, actor.area.as_str(), status, after, limit)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        audit_store::append(
            c,
            &ctx,
            &[event(
                actor,
                "notification.list",
                json!({"status": status, "notification_ids": ids}),
            )],
        )?;
        Ok(rows)
    })
}

/// Puts a failed notification back in the queue.
pub fn retry(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<(), AppError> {
    admin_only(actor)?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        // Another area's notification is answered as missing, like any invisible record.
        if store::retry(c, id, actor.area.as_str(), crate::audit::now())? == 0 {
            return Err(AppError::NotFound);
        }
        audit_store::append(
            c,
            &ctx,
            &[event(
                actor,
                "notification.retry",
                json!({"notification_id": id}),
            )],
        )?;
        Ok(())
    })
}
