//! The official-statistics breakdowns, for auditors and Channel chairs.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{AppError, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome};
use crate::domain::statistics::{Counted, Statistics};
use crate::domain::{Actor, Role};
use crate::store::{DbConnection, audit as audit_store, cases as store, write_transaction};

/// The breakdowns of referrals filed from `from` to `to` (inclusive): a national
/// auditor's over every area, anyone else's over their own.
pub fn statistics(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statistics, AppError> {
    if !actor.has(Role::Auditor) && !actor.has(Role::ChannelChair) {
        return Err(AppError::RoleNotAllowed);
    }
    let national = actor.has(Role::Auditor) && actor.area.is_national();
    let areas = (!national).then(|| vec![actor.area.to_string()]);
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
        let end = to
            .succ_opt()
            .unwrap_or(to)
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        let counted = crate::domain::access::counted_in_statistics();
        let rows = store::for_statistics(c, areas.as_deref(), &counted, start, end)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let (discussed, adopted) = store::panel_journey(c, &ids)?;
        let mut stats = Statistics::new(
            from,
            to,
            areas
                .as_ref()
                .map_or_else(|| "national".to_owned(), |a| a[0].clone()),
        );
        for row in &rows {
            let referral: Value = serde_json::from_str(&row.referral).unwrap_or_default();
            let needs = &referral["vulnerabilities"];
            stats.count(&Counted {
                area: &row.area,
                sector: &row.sector,
                type_of_concern: row.type_of_concern.as_deref(),
                gender: referral["subject"]["gender"].as_str(),
                age: super::subject_age_on(
                    &referral,
                    row.submitted_at.date(),
                    row.submitted_at.date(),
                ),
                mental_health_or_neurodiversity: needs["mental_health"] == true
                    || needs["neurodiversity"] == true,
                discussed: discussed.contains(&row.id),
                adopted: adopted.contains(&row.id),
            });
        }
        let event = AuditEvent {
            chain: ChainKey::actor(&actor.sub),
            action: "stats.read".into(),
            case_id: None,
            area: actor.area.to_string(),
            outcome: Outcome::Ok,
            details: json!({"from": from, "to": to, "referrals": stats.journey.referred}),
        };
        audit_store::append(c, &ctx, &[event])?;
        Ok(stats)
    })
}
