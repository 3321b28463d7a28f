//! Panels, membership and meetings. Chairs and admins manage their own area's panels;
//! every change is audited in the panel's chain. Members read their panels' meetings.

use chrono::NaiveDateTime;
use serde_json::json;

use super::{AppError, audit_context, deny};
use crate::audit::{AuditContext, AuditEvent, ChainKey, Outcome, audit_time, now};
use crate::domain::panel::NewMember;
use crate::domain::pathway::State;
use crate::domain::{Actor, Role};
use crate::notify::{self, Kind, Notice};
use crate::store::panels::{self as store, AgendaEntry, MeetingRow, MemberRow, PanelRow};
use crate::store::{DbConnection, audit as audit_store, write_transaction};

fn manages_panels(actor: &Actor) -> bool {
    actor.has(Role::ChannelChair) || actor.has(Role::Admin)
}

fn panel_event(panel: &PanelRow, action: &str, details: impl serde::Serialize) -> AuditEvent {
    let chain = ChainKey::panel(uuid::Uuid::parse_str(&panel.id).unwrap_or_default());
    AuditEvent::new(chain, action, &panel.area, Outcome::Ok, details)
}

fn member_row(panel_id: &str, m: &NewMember, at: NaiveDateTime) -> MemberRow {
    MemberRow {
        id: uuid::Uuid::now_v7().to_string(),
        panel_id: panel_id.to_owned(),
        name: m.name.clone(),
        agency: m.agency.as_str().to_owned(),
        email: m.email.clone(),
        panel_role: m.panel_role.as_str().to_owned(),
        added_at: at,
        removed_at: None,
    }
}

/// A panel of the actor's area that the actor manages; another area's is not found.
fn managed_panel(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<PanelRow, AppError> {
    if !manages_panels(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    store::find_panel(conn, id)?
        .filter(|p| p.area == actor.area.as_str())
        .ok_or(AppError::NotFound)
}

/// Creates a panel of the actor's area with its members.
pub fn create_panel(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    body: Result<(String, Vec<NewMember>), AppError>,
) -> Result<(PanelRow, Vec<MemberRow>), AppError> {
    if !manages_panels(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    let (name, members) = body?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let at = now();
        let panel = PanelRow {
            id: uuid::Uuid::now_v7().to_string(),
            area: actor.area.to_string(),
            name,
            created_at: at,
            created_by: actor.sub.clone(),
        };
        store::insert_panel(c, &panel)?;
        let mut events = vec![panel_event(&panel, "panel.create", json!({}))];
        let mut rows = Vec::new();
        for m in &members {
            let row = member_row(&panel.id, m, at);
            store::insert_member(c, &row)?;
            events.push(panel_event(
                &panel,
                "panel.member.add",
                json!({"member_id": row.id, "agency": row.agency, "panel_role": row.panel_role}),
            ));
            rows.push(row);
        }
        audit_store::append(c, &ctx, &events)?;
        Ok((panel, rows))
    })
}

/// The panels of the actor's area.
pub fn list_panels(conn: &mut DbConnection, actor: &Actor) -> Result<Vec<PanelRow>, AppError> {
    if !manages_panels(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    Ok(store::panels_of_area(conn, actor.area.as_str())?)
}

/// A panel, its current members and its meetings.
pub fn read_panel(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
) -> Result<(PanelRow, Vec<MemberRow>, Vec<MeetingRow>), AppError> {
    let panel = managed_panel(conn, actor, id)?;
    let members = store::members(conn, &panel.id)?;
    let meetings = store::meetings_of(conn, &panel.id)?;
    Ok((panel, members, meetings))
}

/// Adds a member.
pub fn add_member(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    panel_id: &str,
    member: Result<NewMember, AppError>,
) -> Result<MemberRow, AppError> {
    // The role before the body: a role that may not add members learns nothing from it.
    if !manages_panels(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    let member = member?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let panel = managed_panel(c, actor, panel_id)?;
        if store::membership(c, &panel.id, &member.email)?.is_some() {
            return Err(AppError::Validation(vec![crate::domain::FieldError::new(
                "email",
                "duplicate",
                "already a member of this panel",
            )]));
        }
        let row = member_row(&panel.id, &member, now());
        store::insert_member(c, &row)?;
        let details =
            json!({"member_id": row.id, "agency": row.agency, "panel_role": row.panel_role});
        audit_store::append(c, &ctx, &[panel_event(&panel, "panel.member.add", details)])?;
        Ok(row)
    })
}

/// Removes a member (the row is kept, marked removed).
pub fn remove_member(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    panel_id: &str,
    member_id: &str,
) -> Result<(), AppError> {
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let panel = managed_panel(c, actor, panel_id)?;
        if store::remove_member(c, &panel.id, member_id, now())? == 0 {
            return Err(AppError::NotFound);
        }
        audit_store::append(
            c,
            &ctx,
            &[panel_event(
                &panel,
                "panel.member.remove",
                json!({"member_id": member_id}),
            )],
        )?;
        Ok(())
    })
}

/// Schedules a meeting of a panel.
pub fn create_meeting(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    panel_id: &str,
    meeting: Result<(NaiveDateTime, Option<String>), AppError>,
) -> Result<MeetingRow, AppError> {
    // The role before the body: a role that may not schedule learns nothing from it.
    if !manages_panels(actor) {
        return Err(AppError::RoleNotAllowed);
    }
    let (scheduled_for, location) = meeting?;
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let panel = managed_panel(c, actor, panel_id)?;
        let row = MeetingRow {
            id: uuid::Uuid::now_v7().to_string(),
            panel_id: panel.id.clone(),
            scheduled_for: audit_time(scheduled_for),
            location,
            created_at: now(),
            created_by: actor.sub.clone(),
        };
        store::insert_meeting(c, &row)?;
        audit_store::append(
            c,
            &ctx,
            &[panel_event(
                &panel,
                "meeting.create",
                json!({"meeting_id": row.id}),
            )],
        )?;
        let context = json!({
            "panel_name": panel.name,
            "meeting_date": row.scheduled_for.format("%Y-%m-%d %H:%M UTC").to_string(),
            "path": format!("/v1/meetings/{}", row.id),
        });
        let notices = store::members(c, &panel.id)?
            .into_iter()
            .map(|m| Notice {
                kind: Kind::MeetingScheduled,
                recipient: m.email,
                area: panel.area.clone(),
                case_id: None,
                context: context.clone(),
                dedupe_key: None,
            })
            .collect();
        notify::queue(c, notices, row.created_at)?;
        Ok(row)
    })
}

/// A meeting and its agenda: for the area's chairs and admins, and the panel's members.
/// Reading an agenda reads case references, so it is audited.
pub fn read_meeting(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    id: &str,
) -> Result<(MeetingRow, PanelRow, Vec<AgendaEntry>), AppError> {
    let ctx: AuditContext = audit_context(actor, request_id);
    write_transaction(conn, |c| -> super::Committed<_> {
        let Some((meeting, panel)) = store::find_meeting(c, id)? else {
            return Ok(Err(AppError::NotFound));
        };
        let manager = manages_panels(actor) && panel.area == actor.area.as_str();
        // A member reads their panel's meetings within their own area only.
        let member = actor.has(Role::PanelMember)
            && panel.area == actor.area.as_str()
            && store::membership(c, &panel.id, &actor.email)?.is_some();
        if !manager && !member {
            // Answered as missing, and kept (committed) in the panel's audit chain.
            let entry = panel_event(&panel, "meeting.read", json!({"meeting_id": meeting.id}));
            return deny(c, &ctx, entry, AppError::NotFound);
        }
        let mut agenda = store::agenda(c, &meeting.id)?;
        // Nobody who reads an agenda here reads the police compartment: each case is
        // shown in the state it is shown in everywhere else outside police.
        for entry in &mut agenda {
            if let Some(state) = State::parse(&entry.state) {
                entry.state = state.shared_face().as_str().to_owned();
            }
        }
        let details = json!({"meeting_id": meeting.id, "cases": agenda.len()});
        audit_store::append(c, &ctx, &[panel_event(&panel, "meeting.read", details)])?;
        Ok(Ok((meeting, panel, agenda)))
    })?
}
