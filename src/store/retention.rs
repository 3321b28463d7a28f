//! Retention persistence: the review list, decisions, and erasure of a case's personal
//! data (the one place that says which columns are personal).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::{CaseRow, visible_cases};
use super::conn::DbConnection;
use super::schema::{
    case_events, case_links, case_notes, cases, idempotency_keys, notifications, onward_referrals,
    retention_decisions,
};
use super::vault;
use crate::domain::access::ListScope;

/// One retention decision as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = retention_decisions)]
#[diesel(treat_none_as_default_value = false)]
pub struct DecisionRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// `retain`, `hold`, `release` or `erase`.
    pub decision: String,
    /// Coded reason (retain).
    pub reason_code: Option<String>,
    /// Free-text justification or reason (personal: removed on erasure).
    pub justification: Option<String>,
    /// The next review (retain).
    pub next_review_at: Option<NaiveDateTime>,
    /// Who decided (`sub`).
    pub decided_by: String,
    /// When.
    pub decided_at: NaiveDateTime,
    /// Request.
    pub request_id: Option<String>,
}

/// Cases of `scope` whose review date is at or before `now` and that are not erased,
/// by review date, strictly after the `after` (review date, id) position.
pub fn due_for_review(
    conn: &mut DbConnection,
    scope: &ListScope,
    now: NaiveDateTime,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    let mut q = cases::table
        .filter(visible_cases(scope))
        .filter(cases::review_due_at.le(now))
        .filter(cases::erased_at.is_null())
        .order((cases::review_due_at, cases::id))
        .limit(limit)
        .select(CaseRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(
            cases::review_due_at
                .gt(at)
                .or(cases::review_due_at.eq(at).and(cases::id.gt(id))),
        );
    }
    q.load(conn)
}

/// Every case, of any area, due for review at `now` and not erased (for reminders).
pub fn all_due_for_review(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    cases::table
        .filter(cases::review_due_at.le(now))
        .filter(cases::erased_at.is_null())
        .order((cases::review_due_at, cases::id))
        .limit(limit)
        .select(CaseRow::as_select())
        .load(conn)
}

/// Stores a decision, its free text sealed under the case's data key.
pub fn insert_decision(conn: &mut DbConnection, row: &DecisionRow) -> QueryResult<()> {
    let key = vault::key_of_case(conn, &row.case_id)?;
    let sealed = DecisionRow {
        justification: vault::seal_opt(
            conn,
            &key,
            "retention_decisions",
            "justification",
            &row.id,
            row.justification.as_deref(),
        )?,
        ..row.clone()
    };
    diesel::insert_into(retention_decisions::table)
        .values(&sealed)
        .execute(conn)
        .map(|_| ())
}

/// What a decision changes on the case row.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = cases, treat_none_as_null = true)]
pub struct RetentionChange {
    /// The next review.
    pub review_due_at: Option<NaiveDateTime>,
    /// The legal hold.
    pub legal_hold: bool,
    /// New version.
    pub version: i64,
    /// New shared version.
    pub shared_version: i64,
}

/// Applies `change` to the case if it is still at `version`; rows changed.
pub fn update_retention(
    conn: &mut DbConnection,
    id: &str,
    version: i64,
    change: &RetentionChange,
) -> QueryResult<usize> {
    diesel::update(
        cases::table
            .filter(cases::id.eq(id))
            .filter(cases::version.eq(version)),
    )
    .set(change)
    .execute(conn)
}

/// Erases the personal data of the cases `ids` at `at`, leaving their skeleton.
///
/// Personal (removed): the referral body, the subject match key, the deconfliction
/// record, the support plan, the consent record, the referring officer's email, the
/// rationale of every history entry and every uncoded key of its details, the
/// organisation, reason and note of onward referrals, agencies' notes, the
/// justifications of retention decisions; and whole rows that only serve the person:
/// idempotency receipts, outbox notifications and the links to other cases.
///
/// Then the subjects' data keys are destroyed (see [`destroy_keys`]).
///
/// Kept (the skeleton): ids, references, areas, states and dates, outcomes and reason
/// codes, the statistical fields (sector, type of concern, age band, gender, needs),
/// coded history details, agenda listings, and the audit log.
pub fn erase(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> QueryResult<()> {
    let erased = ids.to_vec();
    let ids = ids.to_vec();
    diesel::update(cases::table.filter(cases::id.eq_any(ids.clone())))
        .set((
            cases::referral.eq(""),
            cases::subject_key.eq(None::<String>),
            cases::deconfliction.eq(None::<String>),
            cases::support_plan.eq(None::<String>),
            cases::consent.eq(None::<String>),
            cases::officer_email.eq(None::<String>),
            cases::due_kind.eq(None::<String>),
            cases::due_at.eq(None::<NaiveDateTime>),
            cases::review_due_at.eq(None::<NaiveDateTime>),
            cases::erased_at.eq(Some(at)),
        ))
        .execute(conn)?;
    let events: Vec<(String, String)> = case_events::table
        .filter(case_events::case_id.eq_any(ids.clone()))
        .select((case_events::id, case_events::details))
        .load(conn)?;
    for (id, details) in events {
        let details = vault::open_or_empty(conn, "case_events", "details", &id, &details)?;
        let value = serde_json::from_str(&details).unwrap_or_default();
        let coded = crate::domain::retention::coded_details(&value).to_string();
        diesel::update(case_events::table.find(id))
            .set((
                case_events::rationale.eq(None::<String>),
                case_events::details.eq(coded),
            ))
            .execute(conn)?;
    }
    diesel::update(onward_referrals::table.filter(onward_referrals::case_id.eq_any(ids.clone())))
        .set((
            onward_referrals::organisation.eq(""),
            onward_referrals::reason.eq(""),
            onward_referrals::note.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::update(case_notes::table.filter(case_notes::case_id.eq_any(ids.clone())))
        .set(case_notes::body.eq(""))
        .execute(conn)?;
    diesel::update(
        retention_decisions::table.filter(retention_decisions::case_id.eq_any(ids.clone())),
    )
    .set(retention_decisions::justification.eq(None::<String>))
    .execute(conn)?;
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::case_id.eq_any(ids.clone())))
        .execute(conn)?;
    diesel::delete(notifications::table.filter(notifications::case_id.eq_any(ids.clone())))
        .execute(conn)?;
    diesel::delete(
        case_links::table.filter(
            case_links::case_id
                .eq_any(ids.clone())
                .or(case_links::linked_case_id.eq_any(ids)),
        ),
    )
    .execute(conn)?;
    destroy_keys(conn, &erased, at)
}

/// Destroys the data keys of the erased cases `ids`, so that no copy sealed under them
/// (a backup, a replica, free pages) can be opened again. A case that shares a key
/// but is not erased (another area's repeat referral) first moves to a key of its own.
fn destroy_keys(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> QueryResult<()> {
    let keys: Vec<Option<String>> = cases::table
        .filter(cases::id.eq_any(ids.to_vec()))
        .select(cases::subject_key_id)
        .load(conn)?;
    for key in keys.into_iter().flatten() {
        let sharing: Vec<String> = cases::table
            .filter(cases::subject_key_id.eq(&key))
            .filter(cases::id.ne_all(ids.to_vec()))
            .select(cases::id)
            .load(conn)?;
        if !sharing.is_empty() {
            let own = vault::create_subject_key(conn, at)?;
            for other in &sharing {
                vault::rekey_case(conn, other, &own)?;
            }
        }
        vault::destroy_subject_key(conn, &key, at)?;
    }
    Ok(())
}
