//! Reading and verifying the audit log (auditors only). Every read is itself audited.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::{AppError, Committed, Sight, audit_context, deny};
use crate::audit::{AuditEvent, ChainKey, Outcome, VerifyReport, canonical_json};
use crate::domain::access::{
    View, audit_actions_shown_as, hidden_audit_actions, ids_named_in, made_in_police_compartment,
    shape_audit_entry,
};
use crate::domain::{Actor, Role};
use crate::store::audit::{AuditEntryRow, AuditFilter, Order};
use crate::store::cases::{self as cases_store, AccessRow};
use crate::store::trust::AuditTrust;
use crate::store::{DbConnection, audit as audit_store, write_transaction};

fn event(
    actor: &Actor,
    action: &str,
    outcome: Outcome,
    details: impl serde::Serialize,
) -> AuditEvent {
    let chain = ChainKey::actor(&actor.sub);
    AuditEvent::new(chain, action, actor.area.as_str(), outcome, details)
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

/// Refuses, as not found and audited in its stream, a `case_id` filter naming a case
/// whose working detail the caller may not see.
fn deny_unseen_case(
    conn: &mut DbConnection,
    ctx: &crate::audit::AuditContext,
    sight: &Sight<'_>,
    case_id: &str,
) -> Committed<()> {
    let facts = cases_store::access_facts(conn, &[case_id.to_owned()])?;
    let case = facts.first();
    if case
        .and_then(|f| sight.view(f))
        .is_some_and(View::sees_case_detail)
    {
        return Ok(Ok(()));
    }
    let Some(f) = case else {
        return Ok(Err(AppError::NotFound));
    };
    let entry = AuditEvent::about_case(&f.id, &f.area, "audit.read", Outcome::Denied, json!({}));
    deny(conn, ctx, entry, AppError::NotFound)
}

/// The stored actions an entry shown as `asked` may have: itself, and those it covers.
fn stored_actions(asked: &str) -> Vec<String> {
    let mut stored = audit_actions_shown_as(asked);
    stored.push(asked.to_owned());
    stored.sort();
    stored.dedup();
    stored
}

/// What the caller may see of the cases one batch of entries names.
struct BatchSight {
    facts: HashMap<String, AccessRow>,
    views: HashMap<String, Option<View>>,
}

impl BatchSight {
    /// Reads the cases `batch` names, in its entries' case ids and details.
    fn of(
        conn: &mut DbConnection,
        sight: &Sight<'_>,
        batch: &[AuditEntryRow],
    ) -> Result<BatchSight, AppError> {
        let mut named = BTreeSet::new();
        for row in batch {
            named.extend(row.case_id.clone());
            if let Ok(details) = serde_json::from_str(&row.details) {
                ids_named_in(&details, &mut named);
            }
        }
        let named: Vec<String> = named.into_iter().collect();
        let facts: HashMap<String, AccessRow> = cases_store::access_facts(conn, &named)?
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect();
        let views = facts
            .iter()
            .map(|(id, f)| (id.clone(), sight.view(f)))
            .collect();
        Ok(BatchSight { facts, views })
    }

    /// Whether `id` names a case whose working detail the caller may not see.
    fn hidden(&self, id: &str) -> bool {
        self.views
            .get(id)
            .is_some_and(|v| !v.is_some_and(View::sees_case_detail))
    }

    /// The entry `row` as `actor` may see it, or `None`; with `asked`, only when it is
    /// shown as that action.
    fn shown(
        &self,
        actor: &Actor,
        mut row: AuditEntryRow,
        asked: Option<&str>,
    ) -> Option<ShownEntry> {
        let (view, compartment) = match &row.case_id {
            Some(case_id) => match (self.views.get(case_id.as_str()), self.facts.get(case_id)) {
                (Some(Some(view)), Some(f)) if view.sees_case_detail() => (
                    Some(*view),
                    made_in_police_compartment(
                        f.police_only_since,
                        row.occurred_at,
                        &row.actor_roles,
                        (&row.action, &row.outcome),
                    ),
                ),
                _ => return None,
            },
            // An entry about no case is of its area only: a local auditor who also
            // sits on a panel sees cases of other areas through the panel (so the
            // SQL scan is not narrowed to the area), but nothing else of them.
            None if !actor.area.is_national() && row.area != actor.area.as_str() => {
                return None;
            }
            None if actor.has(Role::PreventOfficer) && row.area == actor.area.as_str() => {
                (Some(View::Police), false)
            }
            None => (None, false),
        };
        let mut details = serde_json::from_str(&row.details).ok()?;
        let hidden = |id: &str| self.hidden(id);
        let action = shape_audit_entry(view, &row.action, &mut details, compartment, &hidden)?;
        if asked.is_some_and(|a| a != action) {
            return None;
        }
        let police = view.is_some_and(View::in_police_compartment);
        row.action = action;
        row.details = canonical_json(&details);
        Some(ShownEntry {
            place_shown: police || row.case_id.is_none(),
            row,
        })
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
        if let Some(case_id) = &filter.case_id
            && let Err(refusal) = deny_unseen_case(c, &ctx, &sight, case_id)?
        {
            return Ok(Err(refusal));
        }
        // The action asked for is the action as shown: outside police, a cover is
        // found under the name it reads as, and a police-only name finds nothing.
        let asked = filter.actions.as_ref().and_then(|a| a.first().cloned());
        let mut shown = Vec::new();
        let mut scan = filter.clone();
        scan.seen_by = Some(sight.scope(None));
        if let Some(asked) = &asked {
            scan.actions = Some(stored_actions(asked));
        }
        'scan: loop {
            let batch = audit_store::list(c, &scan, limit)?;
            let complete = (batch.len() as i64) < limit;
            let seen = BatchSight::of(c, &sight, &batch)?;
            for row in batch {
                scan.after = Some((row.occurred_at, row.id.clone()));
                let Some(entry) = seen.shown(actor, row, asked.as_deref()) else {
                    continue;
                };
                shown.push(entry);
                if shown.len() as i64 >= limit {
                    break 'scan;
                }
            }
            if complete {
                break;
            }
        }
        let details = json!({
            "case_id": filter.case_id, "actor": filter.actor, "action": asked,
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
    let facts: HashMap<String, AccessRow> = cases_store::access_facts(conn, &named)?
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    let entry_ids: Vec<String> = report
        .breaks
        .iter()
        .chain(report.first_break.iter())
        .filter_map(|b| b.entry_id.clone())
        .collect();
    let entries: HashMap<String, audit_store::EntryFacts> =
        audit_store::actions_of(conn, &entry_ids)?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
    let hidden_actions = hidden_audit_actions();
    let shape = |b: &mut crate::audit::Break| {
        let Some(case_id) = case_of(b) else { return };
        // A stream whose case no longer exists is named: there is nothing left to
        // protect, and the auditor must learn where the log was cut.
        let Some(case) = facts.get(&case_id) else {
            return;
        };
        let view = sight.view(case);
        // The entry as the reader would be shown it in the log: not at all when it is
        // police-only for them.
        let police_entry = b
            .entry_id
            .as_ref()
            .and_then(|e| entries.get(e))
            .is_some_and(|e| {
                hidden_actions.contains(&e.action)
                    || made_in_police_compartment(
                        case.police_only_since,
                        e.occurred_at,
                        &e.actor_roles,
                        (&e.action, &e.outcome),
                    )
            });
        let sees_entry = view
            .is_some_and(|v| v.sees_case_detail() && (v.in_police_compartment() || !police_entry));
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

/// The entries and streams of the log `actor` may see, as `read_log` shows them: a
/// verification reports these counts, so that counting twice tells no one of an entry
/// they may not see.
fn visible_counts(conn: &mut DbConnection, actor: &Actor) -> Result<(u64, u64), AppError> {
    let sight = Sight::of(conn, actor)?;
    let filter = AuditFilter {
        areas: (!actor.area.is_national() && !actor.has(Role::PanelMember))
            .then(|| vec![actor.area.to_string()]),
        seen_by: Some(sight.scope(None)),
        ..AuditFilter::default()
    };
    let (entries, streams) = audit_store::count(conn, &filter)?;
    Ok((
        u64::try_from(entries).unwrap_or_default(),
        u64::try_from(streams).unwrap_or_default(),
    ))
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
    let mut report = shape_report(conn, actor, report)?;
    (report.entries_checked, report.chains_checked) = visible_counts(conn, actor)?;
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
