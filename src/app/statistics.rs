//! The official-statistics breakdowns, for auditors and Channel chairs.

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::{AppError, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome};
use crate::domain::statistics::{Counted, Statistics, StatisticsPolicy, Tally};
use crate::domain::{Actor, Role};
use crate::store::{DbConnection, audit as audit_store, cases as store, write_transaction};

/// The statistical facts of a referral, worked out at intake and kept on its case when
/// its personal data is erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedFacts {
    /// The official age band at referral, if an age was given.
    pub age_band: Option<String>,
    /// The subject's gender, as given.
    pub gender: Option<String>,
    /// A mental-health or neurodiversity need was recorded.
    pub needs_recorded: bool,
}

/// The facts counted of a stored `referral` filed on `filed_on`.
pub fn counted_facts(referral: &Value, filed_on: NaiveDate) -> CountedFacts {
    let needs = &referral["vulnerabilities"];
    CountedFacts {
        age_band: super::subject_age_on(referral, filed_on, filed_on)
            .map(|age| crate::domain::statistics::age_band(age).to_owned()),
        gender: referral["subject"]["gender"].as_str().map(str::to_owned),
        needs_recorded: needs["mental_health"] == true || needs["neurodiversity"] == true,
    }
}

/// The breakdowns of referrals filed from `from` to `to` (inclusive): a national
/// auditor's over every area with every count shown; anyone else's over their own area,
/// small counts withheld under `policy` (see [`crate::domain::statistics`]).
pub fn statistics(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    policy: StatisticsPolicy,
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
        let mut tally = Tally::new(
            from,
            to,
            areas
                .as_ref()
                .map_or_else(|| "national".to_owned(), |a| a[0].clone()),
        );
        for row in &rows {
            tally.count(&Counted {
                area: &row.area,
                sector: &row.sector,
                type_of_concern: row.type_of_concern.as_deref(),
                gender: row.gender.as_deref(),
                age_band: row.age_band.as_deref(),
                mental_health_or_neurodiversity: row.needs_recorded,
                discussed: discussed.contains(&row.id),
                adopted: adopted.contains(&row.id),
            });
        }
        let stats = tally.publish(policy.suppression_threshold, !national);
        let event = AuditEvent {
            chain: ChainKey::actor(&actor.sub),
            action: "stats.read".into(),
            case_id: None,
            area: actor.area.to_string(),
            outcome: Outcome::Ok,
            details: json!({
                "from": from,
                "to": to,
                // As published: the audit log is read in the area, so it must not hold
                // the exact figure that was withheld.
                "referrals": stats.journey.referred,
                "suppression_threshold": stats.suppression.applied.then_some(policy.suppression_threshold),
            }),
        };
        audit_store::append(c, &ctx, &[event])?;
        Ok(stats)
    })
}
