//! The official-statistics breakdowns, for auditors and Channel chairs.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde_json::json;

use super::{AppError, audit_context};
use crate::audit::{AuditEvent, ChainKey, Outcome};
use crate::domain::record::subject_age;
use crate::domain::referral::Referral;
use crate::domain::statistics::{Counted, Period, Statistics, StatisticsPolicy, Tally, YearTally};
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
pub fn counted_facts(referral: &Referral, filed_on: NaiveDate) -> CountedFacts {
    let needs = referral.vulnerabilities();
    CountedFacts {
        age_band: subject_age(referral, filed_on)
            .on(filed_on)
            .map(|age| crate::domain::statistics::age_band(age).to_owned()),
        // Its code as stored, `not_known` and the like.
        gender: referral.subject().gender().and_then(|g| {
            serde_json::to_string(&g)
                .ok()
                .map(|code| code.trim_matches('"').to_owned())
        }),
        needs_recorded: needs.mental_health() || needs.neurodiversity(),
    }
}

/// The days a reader asks the statistics of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A published period: a financial year or a quarter of one.
    Period(Period),
    /// The days `from` to `to`, inclusive: any range for a national auditor, exactly a
    /// published period for anyone else.
    Days {
        /// First day counted.
        from: NaiveDate,
        /// Last day counted.
        to: NaiveDate,
    },
}

/// The breakdowns of the referrals filed in the period asked, in whatever state each is
/// now ([`crate::domain::access::counted_in_statistics`]). A national auditor's are over
/// every area with every count shown, for any range of days. Anyone else's are over their
/// own area, for a published period only ([`AppError::UnpublishedPeriod`] otherwise),
/// with small counts withheld under `policy` as the period is published together with
/// its year and the year's other quarters (see [`crate::domain::statistics`]).
pub fn statistics(
    conn: &mut DbConnection,
    actor: &Actor,
    request_id: Option<String>,
    policy: StatisticsPolicy,
    asked: Asked,
) -> Result<Statistics, AppError> {
    if !actor.has(Role::Auditor) && !actor.has(Role::ChannelChair) {
        return Err(AppError::RoleNotAllowed);
    }
    let national = actor.has(Role::Auditor) && actor.area.is_national();
    let (from, to) = match asked {
        Asked::Period(p) => (p.first_day(), p.last_day()),
        Asked::Days { from, to } => (from, to),
    };
    let period = Period::of_days(from, to);
    // The published period of an area's figures; `None` for a national auditor's. Two
    // overlapping ranges, subtracted, would give the few days between them: only national
    // auditors, who see every count anyway, may ask any range.
    let published = match (national, period) {
        (true, _) => None,
        (false, Some(p)) => Some(p),
        (false, None) => {
            return Err(AppError::UnpublishedPeriod {
                near: Period::year_of(from),
            });
        }
    };
    let threshold = policy.suppression_threshold;
    let area = actor.area.to_string();
    let ctx = audit_context(actor, request_id);
    write_transaction(conn, |c| {
        let (start, end) = days_read(published, from, to);
        let areas = published.is_some().then(|| vec![area.clone()]);
        let counted = crate::domain::access::counted_in_statistics();
        let rows = store::for_statistics(c, areas.as_deref(), &counted, start, end)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let (discussed, adopted) = store::panel_journey(c, &ids)?;
        // Looked up once a case: sets, not the lists.
        let (discussed, adopted): (BTreeSet<String>, BTreeSet<String>) = (
            discussed.into_iter().collect(),
            adopted.into_iter().collect(),
        );
        let counted: Vec<_> = rows
            .iter()
            .map(|row| {
                (
                    row.submitted_at.date(),
                    counted_of(row, &discussed, &adopted),
                )
            })
            .collect();
        let stats = match published {
            None => national_figures(&counted, from, to, threshold),
            Some(p) => area_figures(&counted, p, &area, threshold)?,
        };
        let event = AuditEvent {
            chain: ChainKey::actor(&actor.sub),
            action: "stats.read".into(),
            case_id: None,
            area: actor.area.to_string(),
            outcome: Outcome::Ok,
            details: json!({
                "from": from,
                "to": to,
                "period": period,
                // As published: the audit log is read in the area, so it must not hold
                // the exact figure that was withheld.
                "referrals": stats.journey.referred,
                "suppression_threshold": stats.suppression.applied.then_some(threshold),
            }),
        };
        audit_store::append(c, &ctx, &[event])?;
        Ok(stats)
    })
}

/// The first moment read and the moment after the last: an area's period is published
/// with its whole year, so the year's days are read.
fn days_read(
    published: Option<Period>,
    from: NaiveDate,
    to: NaiveDate,
) -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
    let (first, last) = match published {
        None => (from, to),
        Some(p) => (
            p.financial_year().first_day(),
            p.financial_year().last_day(),
        ),
    };
    let start = first.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = last
        .succ_opt()
        .unwrap_or(last)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    (start, end)
}

/// The national figures of the days `from` to `to`.
fn national_figures(
    counted: &[(NaiveDate, Counted<'_>)],
    from: NaiveDate,
    to: NaiveDate,
    threshold: u64,
) -> Statistics {
    let mut tally = Tally::new(from, to, "national".to_owned());
    for (_, facts) in counted {
        tally.count(facts);
    }
    tally.publish(threshold, false)
}

/// The figures of `area` for the published period `p`, counted over its whole year.
fn area_figures(
    counted: &[(NaiveDate, Counted<'_>)],
    p: Period,
    area: &str,
    threshold: u64,
) -> Result<Statistics, AppError> {
    let mut year = YearTally::new(p, area);
    for (filed_on, facts) in counted {
        year.count(*filed_on, facts);
    }
    year.publish(threshold)
        .of(p)
        .ok_or_else(|| AppError::Corrupt(format!("{p} is not of its year")))
}

/// The facts of `row` that are counted; `discussed` and `adopted` are the ids of the
/// cases that reached those stages.
fn counted_of<'a>(
    row: &'a store::StatisticsRow,
    discussed: &BTreeSet<String>,
    adopted: &BTreeSet<String>,
) -> Counted<'a> {
    Counted {
        area: &row.area,
        sector: &row.sector,
        type_of_concern: row.type_of_concern.as_deref(),
        gender: row.gender.as_deref(),
        age_band: row.age_band.as_deref(),
        mental_health_or_neurodiversity: row.needs_recorded,
        discussed: discussed.contains(&row.id),
        adopted: adopted.contains(&row.id),
    }
}
