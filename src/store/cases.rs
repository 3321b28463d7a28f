//! Case persistence: cases, their history, links, onward referrals, idempotency keys
//! and reference numbers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::conn::{DbConnection, MultiBackend};
use super::schema::{
    case_events, case_links, cases, idempotency_keys, onward_referrals, reference_counters,
};
use super::vault::{self, open_opt, open_or_empty, seal, seal_opt};
use crate::domain::access::{CaseSet, ListScope};
use crate::domain::pathway::State;

/// A case as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cases)]
#[diesel(treat_none_as_default_value = false)]
pub struct CaseRow {
    /// Id.
    pub id: String,
    /// `PRV-<year>-<number>`.
    pub reference: String,
    /// The subject's local authority.
    pub area: String,
    /// The pathway state.
    pub state: String,
    /// Bumped by every action; the `ETag`.
    pub version: i64,
    /// Who filed it.
    pub referrer_sub: String,
    /// When it was filed.
    pub submitted_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// What is waited for.
    pub due_kind: Option<String>,
    /// By when.
    pub due_at: Option<NaiveDateTime>,
    /// How it closed.
    pub outcome: Option<String>,
    /// When it was first referred to Channel.
    pub referred_to_channel_at: Option<NaiveDateTime>,
    /// Hash of the subject's normalised names and date of birth, for repeat referrals.
    pub subject_key: Option<String>,
    /// The validated referral, as JSON.
    pub referral: String,
    /// Police-only: the deconfliction result, as JSON.
    pub deconfliction: Option<String>,
    /// Whether the referrer reported an immediate risk.
    pub immediate_risk: bool,
    /// The referrer's sector (statistics).
    pub sector: String,
    /// The type of concern, where known (statistics).
    pub type_of_concern: Option<String>,
    /// The current support plan, as JSON.
    pub support_plan: Option<String>,
    /// The latest consent decision, as JSON.
    pub consent: Option<String>,
    /// When the case left Channel.
    pub exited_at: Option<NaiveDateTime>,
    /// The officer who referred it to Channel (told of the panel's decisions).
    pub officer_email: Option<String>,
    /// Bumped only by actions that are not police-only: the version other roles see.
    pub shared_version: i64,
    /// The subject's age band at referral (statistics; kept on erasure).
    pub age_band: Option<String>,
    /// The subject's gender as given (statistics; kept on erasure).
    pub gender: Option<String>,
    /// A mental-health or neurodiversity need was recorded (statistics; kept on erasure).
    pub needs_recorded: bool,
    /// When the case is next due for a retention review.
    pub review_due_at: Option<NaiveDateTime>,
    /// A legal hold blocks erasure.
    pub legal_hold: bool,
    /// When its personal data was erased.
    pub erased_at: Option<NaiveDateTime>,
    /// The last change shown outside police (a police-only action leaves it).
    pub shared_updated_at: NaiveDateTime,
    /// When it entered a police-only state, if it did.
    pub police_only_since: Option<NaiveDateTime>,
}

impl CaseRow {
    /// Its facts in both compartments, for [`crate::domain::access::View::face`].
    pub fn compartments(&self) -> Option<crate::domain::access::Compartments<'_>> {
        Some(crate::domain::access::Compartments {
            state: State::parse(&self.state)?,
            outcome: self.outcome.as_deref(),
            version: self.version,
            shared_version: self.shared_version,
            updated_at: self.updated_at,
            shared_updated_at: self.shared_updated_at,
            due: self.due_kind.as_deref().zip(self.due_at),
        })
    }
}

/// A case linked to another as a repeat referral about the same person.
#[derive(Debug, Clone, Queryable)]
pub struct LinkedCase {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Area.
    pub area: String,
    /// State.
    pub state: String,
    /// Outcome.
    pub outcome: Option<String>,
    /// Filed.
    pub submitted_at: NaiveDateTime,
    /// Who filed it (decides who may see it).
    pub referrer_sub: String,
    /// When it was first referred to Channel (decides who may see it).
    pub referred_to_channel_at: Option<NaiveDateTime>,
    /// When it entered a police-only state, if it did.
    pub police_only_since: Option<NaiveDateTime>,
}

impl LinkedCase {
    /// The facts that decide who may see it.
    pub fn access(&self) -> AccessRow {
        AccessRow {
            id: self.id.clone(),
            area: self.area.clone(),
            state: self.state.clone(),
            referrer_sub: self.referrer_sub.clone(),
            referred_to_channel_at: self.referred_to_channel_at,
            police_only_since: self.police_only_since,
        }
    }
}

/// The facts of a case that decide who may see it.
#[derive(Debug, Clone, Queryable)]
pub struct AccessRow {
    /// Id.
    pub id: String,
    /// Area.
    pub area: String,
    /// State.
    pub state: String,
    /// Who filed it.
    pub referrer_sub: String,
    /// When it was first referred to Channel.
    pub referred_to_channel_at: Option<NaiveDateTime>,
    /// When it entered a police-only state, if it did.
    pub police_only_since: Option<NaiveDateTime>,
}

impl AccessRow {
    /// The facts of a loaded case.
    pub fn of(row: &CaseRow) -> AccessRow {
        AccessRow {
            id: row.id.clone(),
            area: row.area.clone(),
            state: row.state.clone(),
            referrer_sub: row.referrer_sub.clone(),
            referred_to_channel_at: row.referred_to_channel_at,
            police_only_since: row.police_only_since,
        }
    }
}

/// One entry of a case's history.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_events)]
#[diesel(treat_none_as_default_value = false)]
pub struct EventRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// Position, from 1.
    pub seq: i64,
    /// The action.
    pub action: String,
    /// State before (none for the submission).
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Who.
    pub actor_sub: String,
    /// Their roles.
    pub actor_roles: String,
    /// When.
    pub occurred_at: NaiveDateTime,
    /// Request.
    pub request_id: Option<String>,
    /// Coded reason of a threshold decision.
    pub reason_code: Option<String>,
    /// Written rationale.
    pub rationale: Option<String>,
    /// The rest of the payload, as JSON.
    pub details: String,
    /// Shown to police only.
    pub police_only: bool,
}

/// A referral to another service.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = onward_referrals)]
#[diesel(treat_none_as_default_value = false)]
pub struct OnwardRow {
    /// Id.
    pub id: String,
    /// Case.
    pub case_id: String,
    /// Kind of service.
    pub service_type: String,
    /// Organisation.
    pub organisation: String,
    /// Why.
    pub reason: String,
    /// `pending`, `acknowledged` or `declined`.
    pub status: String,
    /// What the service said.
    pub note: Option<String>,
    /// Made.
    pub created_at: NaiveDateTime,
    /// Answered.
    pub resolved_at: Option<NaiveDateTime>,
}

/// A stored answer to an idempotent submission.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
#[diesel(treat_none_as_default_value = false)]
pub struct IdempotencyRow {
    /// Who submitted.
    pub actor_sub: String,
    /// Their key.
    pub key: String,
    /// SHA-256 of the body.
    pub request_hash: String,
    /// The case created.
    pub case_id: String,
    /// The answer given, as JSON.
    pub response: String,
    /// When.
    pub created_at: NaiveDateTime,
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// The PostgreSQL function of the migration `reference_sequences`.
    #[sql_name = "next_reference_number"]
    fn take_reference_number(year: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Takes the next reference number of `year`.
///
/// PostgreSQL: from the year's sequence (see the migration `reference_sequences`), which
/// holds no lock until commit, so intakes do not queue behind each other; a number
/// taken by an intake that fails is not reused (a gap). SQLite: the year's counter row,
/// in the intake's own transaction; it has one writer, so nothing waits on it longer.
pub fn next_reference_number(conn: &mut DbConnection, year: i64) -> QueryResult<i64> {
    match conn {
        DbConnection::Postgres(pg) => {
            // A typed call, not `sql_query`: diesel keeps it prepared.
            diesel::select(take_reference_number(year)).get_result(pg)
        }
        DbConnection::Sqlite(lite) => diesel::insert_into(reference_counters::table)
            .values((
                reference_counters::year.eq(year),
                reference_counters::last.eq(1_i64),
            ))
            .on_conflict(reference_counters::year)
            .do_update()
            .set(reference_counters::last.eq(reference_counters::last + 1_i64))
            .returning(reference_counters::last)
            .get_result(lite),
    }
}

/// Stores a new case, its personal columns sealed under its subject's data key (the
/// key of an earlier case about the same person, or a new one).
pub fn insert_case(conn: &mut DbConnection, row: &CaseRow) -> QueryResult<()> {
    let key = vault::key_for_subject(conn, row.subject_key.as_deref(), row.submitted_at)?;
    let id = row.id.as_str();
    let sealed = CaseRow {
        referral: seal(conn, &key, "cases", "referral", id, &row.referral)?,
        deconfliction: seal_opt(
            conn,
            &key,
            "cases",
            "deconfliction",
            id,
            row.deconfliction.as_deref(),
        )?,
        support_plan: seal_opt(
            conn,
            &key,
            "cases",
            "support_plan",
            id,
            row.support_plan.as_deref(),
        )?,
        consent: seal_opt(conn, &key, "cases", "consent", id, row.consent.as_deref())?,
        officer_email: seal_opt(
            conn,
            &key,
            "cases",
            "officer_email",
            id,
            row.officer_email.as_deref(),
        )?,
        ..row.clone()
    };
    diesel::insert_into(cases::table)
        .values((&sealed, cases::subject_key_id.eq(Some(&key))))
        .execute(conn)?;
    // Its first event is sealed next, under the same key: no need to read it back.
    vault::remember_case_key(id, &key);
    Ok(())
}

/// A stored case with its personal columns opened (empty once its key was destroyed).
fn open_case(conn: &mut DbConnection, row: CaseRow) -> QueryResult<CaseRow> {
    let id = row.id.clone();
    let id = id.as_str();
    Ok(CaseRow {
        referral: open_or_empty(conn, "cases", "referral", id, &row.referral)?,
        deconfliction: open_opt(
            conn,
            "cases",
            "deconfliction",
            id,
            row.deconfliction.as_deref(),
        )?,
        support_plan: open_opt(
            conn,
            "cases",
            "support_plan",
            id,
            row.support_plan.as_deref(),
        )?,
        consent: open_opt(conn, "cases", "consent", id, row.consent.as_deref())?,
        officer_email: open_opt(
            conn,
            "cases",
            "officer_email",
            id,
            row.officer_email.as_deref(),
        )?,
        ..row
    })
}

fn open_cases(conn: &mut DbConnection, rows: Vec<CaseRow>) -> QueryResult<Vec<CaseRow>> {
    rows.into_iter().map(|r| open_case(conn, r)).collect()
}

/// An event with its rationale and details opened (empty once its key was destroyed).
fn open_event(conn: &mut DbConnection, row: EventRow) -> QueryResult<EventRow> {
    let id = row.id.clone();
    let details = match vault::open(conn, "case_events", "details", &id, &row.details)? {
        Some(d) => d,
        None => "{}".to_owned(),
    };
    Ok(EventRow {
        rationale: open_opt(
            conn,
            "case_events",
            "rationale",
            &id,
            row.rationale.as_deref(),
        )?,
        details,
        ..row
    })
}

/// An onward referral with its organisation, reason and note opened.
fn open_onward(conn: &mut DbConnection, row: OnwardRow) -> QueryResult<OnwardRow> {
    let id = row.id.clone();
    let t = "onward_referrals";
    Ok(OnwardRow {
        organisation: open_or_empty(conn, t, "organisation", &id, &row.organisation)?,
        reason: open_or_empty(conn, t, "reason", &id, &row.reason)?,
        note: open_opt(conn, t, "note", &id, row.note.as_deref())?,
        ..row
    })
}

/// The case with `id`, locked for update on PostgreSQL when `lock`.
pub fn find_case(conn: &mut DbConnection, id: &str, lock: bool) -> QueryResult<Option<CaseRow>> {
    let found = match conn {
        DbConnection::Postgres(pg) if lock => cases::table
            .find(id)
            .select(CaseRow::as_select())
            .for_update()
            .first(pg)
            .optional(),
        _ => cases::table
            .find(id)
            .select(CaseRow::as_select())
            .first(conn)
            .optional(),
    }?;
    found.map(|row| open_case(conn, row)).transpose()
}

/// Earlier cases about the same subject: id and area.
pub fn cases_with_subject(
    conn: &mut DbConnection,
    subject_key: &str,
) -> QueryResult<Vec<(String, String)>> {
    cases::table
        .filter(cases::subject_key.eq(subject_key))
        .order(cases::submitted_at)
        .select((cases::id, cases::area))
        .load(conn)
}

/// Links two cases both ways.
pub fn link_cases(
    conn: &mut DbConnection,
    a: &str,
    b: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    for (x, y) in [(a, b), (b, a)] {
        diesel::insert_into(case_links::table)
            .values((
                case_links::case_id.eq(x),
                case_links::linked_case_id.eq(y),
                case_links::reason.eq(reason),
                case_links::created_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes every link of `id`, both ways; the ids it was linked to.
pub fn unlink_case(conn: &mut DbConnection, id: &str) -> QueryResult<Vec<String>> {
    let linked: Vec<String> = case_links::table
        .filter(case_links::case_id.eq(id))
        .select(case_links::linked_case_id)
        .load(conn)?;
    diesel::delete(
        case_links::table.filter(
            case_links::case_id
                .eq(id)
                .or(case_links::linked_case_id.eq(id)),
        ),
    )
    .execute(conn)?;
    Ok(linked)
}

/// Replaces a case's referral and the columns derived from it. When the correction
/// makes it about another person, its personal values move to that person's data key
/// (or to a key of its own), so that destroying one person's key never erases another.
pub fn update_referral(
    conn: &mut DbConnection,
    id: &str,
    referral: &str,
    subject_key: Option<&str>,
    sector: &str,
    type_of_concern: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let key = vault::key_after_correction(conn, id, subject_key, at)?;
    vault::rekey_case(conn, id, &key)?;
    let sealed = seal(conn, &key, "cases", "referral", id, referral)?;
    diesel::update(cases::table.find(id))
        .set((
            cases::referral.eq(sealed),
            cases::subject_key.eq(subject_key),
            cases::sector.eq(sector),
            cases::type_of_concern.eq(type_of_concern),
        ))
        .execute(conn)
}

/// The cases linked to `id`, oldest first.
pub fn linked_cases(conn: &mut DbConnection, id: &str) -> QueryResult<Vec<LinkedCase>> {
    case_links::table
        .inner_join(cases::table.on(cases::id.eq(case_links::linked_case_id)))
        .filter(case_links::case_id.eq(id))
        .order(cases::submitted_at)
        .select((
            cases::id,
            cases::reference,
            cases::area,
            cases::state,
            cases::outcome,
            cases::submitted_at,
            cases::referrer_sub,
            cases::referred_to_channel_at,
            cases::police_only_since,
        ))
        .load(conn)
}

/// Of `ids`, the cases that exist, with the facts that decide who may see them.
pub fn access_facts(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<AccessRow>> {
    let mut found = Vec::new();
    // Chunks keep the IN lists within every backend's bound-parameter limit.
    for chunk in ids.chunks(500) {
        found.extend(
            cases::table
                .filter(cases::id.eq_any(chunk.to_vec()))
                .select((
                    cases::id,
                    cases::area,
                    cases::state,
                    cases::referrer_sub,
                    cases::referred_to_channel_at,
                    cases::police_only_since,
                ))
                .load::<AccessRow>(conn)?,
        );
    }
    Ok(found)
}

/// What an action changes on the case row.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = cases, treat_none_as_null = true)]
pub struct CaseChange {
    /// New state.
    pub state: String,
    /// New version.
    pub version: i64,
    /// Now.
    pub updated_at: NaiveDateTime,
    /// New due kind.
    pub due_kind: Option<String>,
    /// New due date.
    pub due_at: Option<NaiveDateTime>,
    /// Outcome once closed.
    pub outcome: Option<String>,
    /// Kept once set.
    pub referred_to_channel_at: Option<NaiveDateTime>,
    /// Police-only deconfliction.
    pub deconfliction: Option<String>,
    /// Support plan.
    pub support_plan: Option<String>,
    /// Latest consent.
    pub consent: Option<String>,
    /// Exit time.
    pub exited_at: Option<NaiveDateTime>,
    /// Referring officer's email.
    pub officer_email: Option<String>,
    /// New shared version.
    pub shared_version: i64,
    /// The last change shown outside police.
    pub shared_updated_at: NaiveDateTime,
    /// When it entered a police-only state (kept once set).
    pub police_only_since: Option<NaiveDateTime>,
    /// The retention review date the new state gets.
    pub review_due_at: Option<NaiveDateTime>,
}

/// Applies `change` if the case is still at `version`; the number of rows changed.
pub fn update_case(
    conn: &mut DbConnection,
    id: &str,
    version: i64,
    change: &CaseChange,
) -> QueryResult<usize> {
    let key = vault::key_of_case(conn, id)?;
    let sealed = CaseChange {
        deconfliction: seal_opt(
            conn,
            &key,
            "cases",
            "deconfliction",
            id,
            change.deconfliction.as_deref(),
        )?,
        support_plan: seal_opt(
            conn,
            &key,
            "cases",
            "support_plan",
            id,
            change.support_plan.as_deref(),
        )?,
        consent: seal_opt(
            conn,
            &key,
            "cases",
            "consent",
            id,
            change.consent.as_deref(),
        )?,
        officer_email: seal_opt(
            conn,
            &key,
            "cases",
            "officer_email",
            id,
            change.officer_email.as_deref(),
        )?,
        ..change.clone()
    };
    diesel::update(
        cases::table
            .filter(cases::id.eq(id))
            .filter(cases::version.eq(version)),
    )
    .set(&sealed)
    .execute(conn)
}

/// Appends to a case's history.
pub fn insert_event(conn: &mut DbConnection, row: &EventRow) -> QueryResult<()> {
    let key = vault::key_of_case(conn, &row.case_id)?;
    let id = row.id.as_str();
    let sealed = EventRow {
        rationale: seal_opt(
            conn,
            &key,
            "case_events",
            "rationale",
            id,
            row.rationale.as_deref(),
        )?,
        details: seal(conn, &key, "case_events", "details", id, &row.details)?,
        ..row.clone()
    };
    diesel::insert_into(case_events::table)
        .values(&sealed)
        .execute(conn)
        .map(|_| ())
}

/// A case's history, in order.
pub fn events(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<EventRow>> {
    let rows = case_events::table
        .filter(case_events::case_id.eq(case_id))
        .order(case_events::seq)
        .select(EventRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|r| open_event(conn, r)).collect()
}

/// The next history position of a case.
pub fn next_event_seq(conn: &mut DbConnection, case_id: &str) -> QueryResult<i64> {
    let max: Option<i64> = case_events::table
        .filter(case_events::case_id.eq(case_id))
        .select(diesel::dsl::max(case_events::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

/// Stores an onward referral.
pub fn insert_onward(conn: &mut DbConnection, row: &OnwardRow) -> QueryResult<()> {
    let key = vault::key_of_case(conn, &row.case_id)?;
    let (t, id) = ("onward_referrals", row.id.as_str());
    let sealed = OnwardRow {
        organisation: seal(conn, &key, t, "organisation", id, &row.organisation)?,
        reason: seal(conn, &key, t, "reason", id, &row.reason)?,
        note: seal_opt(conn, &key, t, "note", id, row.note.as_deref())?,
        ..row.clone()
    };
    diesel::insert_into(onward_referrals::table)
        .values(&sealed)
        .execute(conn)
        .map(|_| ())
}

/// A case's onward referrals, oldest first.
pub fn onward_for_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<OnwardRow>> {
    let rows = onward_referrals::table
        .filter(onward_referrals::case_id.eq(case_id))
        .order((onward_referrals::created_at, onward_referrals::id))
        .select(OnwardRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|r| open_onward(conn, r)).collect()
}

/// Records a service's answer to a pending onward referral; rows changed.
pub fn resolve_onward(
    conn: &mut DbConnection,
    id: &str,
    case_id: &str,
    status: &str,
    note: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let key = vault::key_of_case(conn, case_id)?;
    let note = seal_opt(conn, &key, "onward_referrals", "note", id, note)?;
    diesel::update(
        onward_referrals::table
            .filter(onward_referrals::id.eq(id))
            .filter(onward_referrals::case_id.eq(case_id))
            .filter(onward_referrals::status.eq("pending")),
    )
    .set((
        onward_referrals::status.eq(status),
        onward_referrals::note.eq(note),
        onward_referrals::resolved_at.eq(Some(at)),
    ))
    .execute(conn)
}

/// The stored answer for an idempotency key.
pub fn find_idempotency(
    conn: &mut DbConnection,
    actor_sub: &str,
    key: &str,
) -> QueryResult<Option<IdempotencyRow>> {
    idempotency_keys::table
        .find((actor_sub, key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()
}

/// Stores the answer for an idempotency key.
pub fn insert_idempotency(conn: &mut DbConnection, row: &IdempotencyRow) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Filters of `GET /v1/cases`.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this reference.
    pub reference: Option<String>,
    /// Only cases due before this time, ordered by due date.
    pub due_before: Option<NaiveDateTime>,
    /// Strictly after this (sort key, id) position.
    pub after: Option<(NaiveDateTime, String)>,
}

/// A condition on `cases` that holds for exactly the cases of `scope`.
pub type CaseCondition =
    Box<dyn BoxableExpression<cases::table, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// The SQL form of a scope: the union of its branches, each its set of cases in the
/// states it admits. An empty scope matches nothing.
pub fn visible_cases(scope: &ListScope) -> CaseCondition {
    let mut visible: CaseCondition = Box::new(cases::id.ne(cases::id));
    for branch in &scope.branches {
        let states: Vec<&str> = branch.states.iter().map(|s| s.as_str()).collect();
        let in_states = cases::state.eq_any(states);
        let part: CaseCondition = match &branch.cases {
            CaseSet::FiledBy(sub) => Box::new(cases::referrer_sub.eq(sub.clone()).and(in_states)),
            CaseSet::Areas(areas) => Box::new(cases::area.eq_any(areas.clone()).and(in_states)),
            CaseSet::ReferredToChannelIn(areas) => Box::new(
                cases::area
                    .eq_any(areas.clone())
                    .and(cases::referred_to_channel_at.is_not_null())
                    .and(in_states),
            ),
            CaseSet::EveryArea => Box::new(in_states),
            CaseSet::Ids(ids) => Box::new(cases::id.eq_any(ids.clone()).and(in_states)),
        };
        visible = Box::new(visible.or(part));
    }
    visible
}

/// Visible cases, oldest first (by due date when listing overdue work).
pub fn list_cases(
    conn: &mut DbConnection,
    scope: &ListScope,
    f: &CaseFilter,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    let mut q = cases::table
        .filter(visible_cases(scope))
        .select(CaseRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(r) = &f.reference {
        q = q.filter(cases::reference.eq(r.clone()));
    }
    match f.due_before {
        Some(t) => {
            q = q
                .filter(cases::due_at.lt(t))
                .order((cases::due_at, cases::id));
            if let Some((at, id)) = &f.after {
                q = q.filter(
                    cases::due_at
                        .gt(*at)
                        .or(cases::due_at.eq(*at).and(cases::id.gt(id.clone()))),
                );
            }
        }
        None => {
            q = q.order((cases::submitted_at, cases::id));
            if let Some((at, id)) = &f.after {
                q = q.filter(
                    cases::submitted_at
                        .gt(*at)
                        .or(cases::submitted_at.eq(*at).and(cases::id.gt(id.clone()))),
                );
            }
        }
    }
    let rows = q.load(conn)?;
    open_cases(conn, rows)
}

/// Cases past their due date at `now`, oldest due first.
pub fn overdue(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    let rows = cases::table
        .filter(cases::due_at.lt(now))
        .order((cases::due_at, cases::id))
        .limit(limit)
        .select(CaseRow::as_select())
        .load(conn)?;
    open_cases(conn, rows)
}

/// The facts of one case that the official statistics count.
#[derive(Debug, Clone, Queryable)]
pub struct StatisticsRow {
    /// Id.
    pub id: String,
    /// Area.
    pub area: String,
    /// Referrer's sector.
    pub sector: String,
    /// Type of concern.
    pub type_of_concern: Option<String>,
    /// Age band at referral.
    pub age_band: Option<String>,
    /// Gender.
    pub gender: Option<String>,
    /// A mental-health or neurodiversity need was recorded.
    pub needs_recorded: bool,
    /// When it was filed: the period it is counted in.
    pub submitted_at: NaiveDateTime,
}

/// The cases filed in `[from, to)` in `areas` (`None`: every area) that are now in one of
/// `states`, for the statistics.
pub fn for_statistics(
    conn: &mut DbConnection,
    areas: Option<&[String]>,
    states: &[State],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<StatisticsRow>> {
    let states: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let mut q = cases::table
        .filter(cases::submitted_at.ge(from))
        .filter(cases::submitted_at.lt(to))
        .filter(cases::state.eq_any(states))
        .select((
            cases::id,
            cases::area,
            cases::sector,
            cases::type_of_concern,
            cases::age_band,
            cases::gender,
            cases::needs_recorded,
            cases::submitted_at,
        ))
        .into_boxed();
    if let Some(areas) = areas {
        q = q.filter(cases::area.eq_any(areas.to_vec()));
    }
    // The statistical columns are not personal data: nothing here is sealed.
    q.load(conn)
}

/// Of `ids`, the cases ever discussed at a panel (on an agenda) and ever adopted.
pub fn panel_journey(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<(Vec<String>, Vec<String>)> {
    use super::schema::agenda_items;
    let mut discussed = Vec::new();
    let mut adopted = Vec::new();
    // Chunks keep the IN lists within every backend's bound-parameter limit.
    for chunk in ids.chunks(500) {
        discussed.extend(
            agenda_items::table
                .filter(agenda_items::case_id.eq_any(chunk.to_vec()))
                .select(agenda_items::case_id)
                .distinct()
                .load::<String>(conn)?,
        );
        let decisions: Vec<(String, String, String)> = case_events::table
            .filter(case_events::case_id.eq_any(chunk.to_vec()))
            .filter(case_events::action.eq("record_panel_decision"))
            .select((case_events::case_id, case_events::id, case_events::details))
            .load(conn)?;
        for (case_id, id, details) in decisions {
            let opened = vault::open(conn, "case_events", "details", &id, &details)?;
            let adopt = opened
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
                .is_some_and(|d| d["decision"] == "adopt");
            if adopt && !adopted.contains(&case_id) {
                adopted.push(case_id);
            }
        }
    }
    Ok((discussed, adopted))
}
