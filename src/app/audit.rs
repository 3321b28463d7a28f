//! Reading and verifying the audit log (auditors only). Every read is itself audited.

use std::collections::BTreeSet;

use serde_json::json;

use super::{AppError, Committed, Sight, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome, VerifyReport, canonical_json};
use crate::domain::access::{View, police_only_audit_actions, redact_audit_details};
use crate::domain::{Actor, Role};
use crate::store::audit::{AuditEntryRow, AuditFilter, Order};
use crate::store::cases as cases_store;
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

/// An audit entry as the caller may see it.
#[derive(Debug, Clone)]
pub struct ShownEntry {
    /// The entry, its details shaped for the caller.
    pub row: AuditEntryRow,
    /// Whether its place in its stream (`seq`, `prev_hash`) is shown. It is not in the
    /// stream of a case seen without the police view: gaps and links would point at
    /// police-only entries.
    pub place_shown: bool,
}

/// Every string in `details` that is a UUID (case ids among them).
fn uuids_in(details: &serde_json::Value, found: &mut BTreeSet<String>) {
    match details {
        serde_json::Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
            found.insert(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| uuids_in(v, found)),
        serde_json::Value::Object(map) => map.values().for_each(|v| uuids_in(v, found)),
        _ => {}
    }
}

/// Lists the audit entries the auditor may see, in `filter.order`, up to `limit`: an entry
/// about a case only when the auditor may see that case's working detail, police-only
/// actions only with the police view, and in every entry the ids of cases the auditor
/// may not see, and police-only names, withheld. A `case_id` filter naming a case the
/// auditor may not see is answered as not found, and the refusal is audited.
pub fn read_log(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    mut filter: AuditFilter,
    limit: i64,
) -> Result<Vec<ShownEntry>, AppError> {
    if !actor.has(Role::Auditor) {
        return Err(refuse(conn, actor, request_id, "audit.read"));
    }
    // The area and the scope are pushed into SQL, so that the scan reads only the
    // entries the rule below admits; the rule still decides each entry.
    filter.areas = (!actor.area.is_national() && !actor.has(Role::PanelMember))
        .then(|| vec![actor.area.to_string()]);
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| -> Committed<_> {
        let sight = Sight::of(c, actor)?;
        if let Some(case_id) = &filter.case_id {
            let facts = cases_store::access_facts(c, std::slice::from_ref(case_id))?;
            let case = facts.first();
            if !case
                .and_then(|f| sight.view(f))
                .is_some_and(View::sees_case_detail)
            {
                if let Some(f) = case {
                    let refused = AuditEvent::about_case(
                        &f.id,
                        &f.area,
                        "audit.read",
                        Outcome::Denied,
                        json!({}),
                    );
                    audit_store::append(c, &ctx, &[refused])?;
                }
                return Ok(Err(AppError::NotFound));
            }
        }
        let police_actions = police_only_audit_actions();
        let mut shown = Vec::new();
        let mut scan = filter.clone();
        scan.seen_by = Some(sight.scope(None));
        'scan: loop {
            let batch = audit_store::list(c, &scan, limit)?;
            let complete = (batch.len() as i64) < limit;
            let mut named = BTreeSet::new();
            for row in &batch {
                named.extend(row.case_id.clone());
                if let Ok(details) = serde_json::from_str(&row.details) {
                    uuids_in(&details, &mut named);
                }
            }
            let named: Vec<String> = named.into_iter().collect();
            let views = sight.views(c, &named)?;
            let hidden = |id: &str| {
                views
                    .get(id)
                    .is_some_and(|v| !v.is_some_and(View::sees_case_detail))
            };
            for mut row in batch {
                scan.after = Some((row.occurred_at, row.id.clone()));
                let police = match &row.case_id {
                    Some(case_id) => match views.get(case_id) {
                        Some(Some(view))
                            if view.sees_case_detail()
                                && (view.sees_police_material()
                                    || !police_actions.contains(&row.action)) =>
                        {
                            view.sees_police_material()
                        }
                        _ => continue,
                    },
                    // An entry about no case is of its area only: a local auditor who also
                    // sits on a panel sees cases of other areas through the panel (so the
                    // SQL scan is not narrowed to the area), but nothing else of them.
                    None if !actor.area.is_national() && row.area != actor.area.as_str() => {
                        continue;
                    }
                    None => actor.has(Role::PreventOfficer) && row.area == actor.area.as_str(),
                };
                if let Ok(mut details) = serde_json::from_str(&row.details) {
                    redact_audit_details(&mut details, police, &hidden);
                    row.details = canonical_json(&details);
                }
                shown.push(ShownEntry {
                    place_shown: police || row.case_id.is_none(),
                    row,
                });
                if shown.len() as i64 >= limit {
                    break 'scan;
                }
            }
            if complete {
                break;
            }
        }
        let details = json!({
            "case_id": filter.case_id, "actor": filter.actor, "action": filter.action,
            "newest_first": filter.order == Order::NewestFirst, "entries": shown.len(),
        });
        audit_store::append(c, &ctx, &[event(actor, "audit.read", Outcome::Ok, details)])?;
        Ok(Ok(shown))
    })?
}

/// Shapes a verifier's report for the caller: a break in the stream of a case the caller
/// may not see names no stream, and a break at an entry the caller may not see (a
/// police-only action, or any entry of such a case) names no entry or position. A stream
/// whose case is gone is named in full. The
/// finding itself, intact or not, and the kind of each break are never withheld.
fn shape_report(
    conn: &mut DbConnection,
    actor: &Actor,
    mut report: VerifyReport,
) -> Result<VerifyReport, AppError> {
    let case_of = |b: &crate::audit::Break| {
        b.chain_key
            .as_deref()
            .and_then(|k| k.strip_prefix("case:"))
            .map(str::to_owned)
    };
    let named: Vec<String> = report
        .breaks
        .iter()
        .chain(report.first_break.iter())
        .filter_map(case_of)
        .collect();
    if named.is_empty() {
        return Ok(report);
    }
    let sight = Sight::of(conn, actor)?;
    let views = sight.views(conn, &named)?;
    let entry_ids: Vec<String> = report
        .breaks
        .iter()
        .chain(report.first_break.iter())
        .filter_map(|b| b.entry_id.clone())
        .collect();
    let police_actions = police_only_audit_actions();
    let police_entries: BTreeSet<String> = audit_store::actions_of(conn, &entry_ids)?
        .into_iter()
        .filter(|(_, action)| police_actions.contains(action))
        .map(|(id, _)| id)
        .collect();
    let shape = |b: &mut crate::audit::Break| {
        let Some(case_id) = case_of(b) else { return };
        // A stream whose case no longer exists is named: there is nothing left to
        // protect, and the auditor must learn where the log was cut.
        let Some(&view) = views.get(&case_id) else {
            return;
        };
        let police_entry = b
            .entry_id
            .as_ref()
            .is_some_and(|e| police_entries.contains(e));
        let sees_entry = view
            .is_some_and(|v| v.sees_case_detail() && (v.sees_police_material() || !police_entry));
        if !sees_entry {
            b.seq = None;
            b.entry_id = None;
        }
        if !view.is_some_and(View::sees_case_detail) {
            b.chain_key = None;
        }
    };
    report.breaks.iter_mut().for_each(shape);
    if let Some(b) = report.first_break.as_mut() {
        shape(b);
    }
    Ok(report)
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
    let report = shape_report(conn, actor, report)?;
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
