//! Panel persistence: panels, members, meetings, agendas, and agencies' case notes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::conn::DbConnection;
use super::schema::{agenda_items, case_notes, cases, meetings, panel_members, panels};

/// A panel.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = panels)]
#[diesel(treat_none_as_default_value = false)]
pub struct PanelRow {
    /// Id.
    pub id: String,
    /// The local authority it serves.
    pub area: String,
    /// Its name.
    pub name: String,
    /// Made.
    pub created_at: NaiveDateTime,
    /// By whom.
    pub created_by: String,
}

/// A member of a panel.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = panel_members)]
#[diesel(treat_none_as_default_value = false)]
pub struct MemberRow {
    /// Id.
    pub id: String,
    /// The panel.
    pub panel_id: String,
    /// Name.
    pub name: String,
    /// Agency (children's social care, health, ...).
    pub agency: String,
    /// Work email, lower-cased: matched against the token's `email`.
    pub email: String,
    /// `chair`, `coordinator` or `member`.
    pub panel_role: String,
    /// Joined.
    pub added_at: NaiveDateTime,
    /// Left.
    pub removed_at: Option<NaiveDateTime>,
}

/// A meeting.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = meetings)]
#[diesel(treat_none_as_default_value = false)]
pub struct MeetingRow {
    /// Id.
    pub id: String,
    /// The panel.
    pub panel_id: String,
    /// When.
    pub scheduled_for: NaiveDateTime,
    /// Where.
    pub location: Option<String>,
    /// Made.
    pub created_at: NaiveDateTime,
    /// By whom.
    pub created_by: String,
}

/// A case on an agenda.
#[derive(Debug, Clone, Queryable)]
pub struct AgendaEntry {
    /// The case.
    pub case_id: String,
    /// Its reference.
    pub reference: String,
    /// Its state now.
    pub state: String,
    /// When it was listed.
    pub listed_at: NaiveDateTime,
}

/// An agency's note on a case.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = case_notes)]
#[diesel(treat_none_as_default_value = false)]
pub struct NoteRow {
    /// Id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// Who wrote it.
    pub author_sub: String,
    /// In the name of which agency.
    pub agency: String,
    /// The contribution.
    pub body: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Stores a panel.
pub fn insert_panel(conn: &mut DbConnection, row: &PanelRow) -> QueryResult<()> {
    diesel::insert_into(panels::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A panel by id.
pub fn find_panel(conn: &mut DbConnection, id: &str) -> QueryResult<Option<PanelRow>> {
    panels::table
        .find(id)
        .select(PanelRow::as_select())
        .first(conn)
        .optional()
}

/// The panels of `area`, by name.
pub fn panels_of_area(conn: &mut DbConnection, area: &str) -> QueryResult<Vec<PanelRow>> {
    panels::table
        .filter(panels::area.eq(area))
        .order((panels::name, panels::id))
        .select(PanelRow::as_select())
        .load(conn)
}

/// Stores a member.
pub fn insert_member(conn: &mut DbConnection, row: &MemberRow) -> QueryResult<()> {
    diesel::insert_into(panel_members::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The current members of a panel.
pub fn members(conn: &mut DbConnection, panel_id: &str) -> QueryResult<Vec<MemberRow>> {
    panel_members::table
        .filter(panel_members::panel_id.eq(panel_id))
        .filter(panel_members::removed_at.is_null())
        .order((panel_members::added_at, panel_members::id))
        .select(MemberRow::as_select())
        .load(conn)
}

/// Marks a current member as removed; rows changed.
pub fn remove_member(
    conn: &mut DbConnection,
    panel_id: &str,
    member_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        panel_members::table
            .filter(panel_members::id.eq(member_id))
            .filter(panel_members::panel_id.eq(panel_id))
            .filter(panel_members::removed_at.is_null()),
    )
    .set(panel_members::removed_at.eq(Some(at)))
    .execute(conn)
}

/// The current membership of `email` in `panel_id`.
pub fn membership(
    conn: &mut DbConnection,
    panel_id: &str,
    email: &str,
) -> QueryResult<Option<MemberRow>> {
    panel_members::table
        .filter(panel_members::panel_id.eq(panel_id))
        .filter(panel_members::email.eq(email))
        .filter(panel_members::removed_at.is_null())
        .select(MemberRow::as_select())
        .first(conn)
        .optional()
}

/// Stores a meeting.
pub fn insert_meeting(conn: &mut DbConnection, row: &MeetingRow) -> QueryResult<()> {
    diesel::insert_into(meetings::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A meeting and its panel.
pub fn find_meeting(
    conn: &mut DbConnection,
    id: &str,
) -> QueryResult<Option<(MeetingRow, PanelRow)>> {
    meetings::table
        .inner_join(panels::table)
        .filter(meetings::id.eq(id))
        .select((MeetingRow::as_select(), PanelRow::as_select()))
        .first(conn)
        .optional()
}

/// The meetings of a panel, by date.
pub fn meetings_of(conn: &mut DbConnection, panel_id: &str) -> QueryResult<Vec<MeetingRow>> {
    meetings::table
        .filter(meetings::panel_id.eq(panel_id))
        .order((meetings::scheduled_for, meetings::id))
        .select(MeetingRow::as_select())
        .load(conn)
}

/// Puts a case on a meeting's agenda.
pub fn list_on_agenda(
    conn: &mut DbConnection,
    meeting_id: &str,
    case_id: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(agenda_items::table)
        .values((
            agenda_items::meeting_id.eq(meeting_id),
            agenda_items::case_id.eq(case_id),
            agenda_items::listed_at.eq(at),
            agenda_items::listed_by.eq(by),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A meeting's agenda.
pub fn agenda(conn: &mut DbConnection, meeting_id: &str) -> QueryResult<Vec<AgendaEntry>> {
    agenda_items::table
        .inner_join(cases::table)
        .filter(agenda_items::meeting_id.eq(meeting_id))
        .order((agenda_items::listed_at, agenda_items::case_id))
        .select((
            agenda_items::case_id,
            cases::reference,
            cases::state,
            agenda_items::listed_at,
        ))
        .load(conn)
}

/// The agencies under which `email` sat on the panels whose agendas held `case_id`;
/// empty when the case was on none of their panels' agendas.
pub fn member_agencies_for_case(
    conn: &mut DbConnection,
    case_id: &str,
    email: &str,
) -> QueryResult<Vec<String>> {
    agenda_items::table
        .inner_join(meetings::table.inner_join(panels::table.inner_join(panel_members::table)))
        .filter(agenda_items::case_id.eq(case_id))
        .filter(panel_members::email.eq(email))
        .filter(panel_members::removed_at.is_null())
        .select(panel_members::agency)
        .distinct()
        .load(conn)
}

/// Every case on an agenda of a panel of `area` that `email` currently sits on.
pub fn cases_on_agendas_of(
    conn: &mut DbConnection,
    email: &str,
    area: &str,
) -> QueryResult<Vec<String>> {
    agenda_items::table
        .inner_join(meetings::table.inner_join(panels::table.inner_join(panel_members::table)))
        .filter(panel_members::email.eq(email))
        .filter(panels::area.eq(area))
        .filter(panel_members::removed_at.is_null())
        .select(agenda_items::case_id)
        .distinct()
        .load(conn)
}

/// Stores a note.
pub fn insert_note(conn: &mut DbConnection, row: &NoteRow) -> QueryResult<()> {
    let key = super::vault::key_of_case(conn, &row.case_id)?;
    let sealed = NoteRow {
        body: super::vault::seal(conn, &key, "case_notes", "body", &row.id, &row.body)?,
        ..row.clone()
    };
    diesel::insert_into(case_notes::table)
        .values(&sealed)
        .execute(conn)
        .map(|_| ())
}

/// A case's notes, oldest first.
pub fn notes(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<NoteRow>> {
    let rows: Vec<NoteRow> = case_notes::table
        .filter(case_notes::case_id.eq(case_id))
        .order((case_notes::created_at, case_notes::id))
        .select(NoteRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let body = super::vault::open_or_empty(conn, "case_notes", "body", &r.id, &r.body)?;
            Ok(NoteRow { body, ..r })
        })
        .collect()
}

/// The meetings whose agendas hold a case, with their panels.
pub fn meetings_of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<MeetingRow>> {
    agenda_items::table
        .inner_join(meetings::table)
        .filter(agenda_items::case_id.eq(case_id))
        .order(meetings::scheduled_for)
        .select(MeetingRow::as_select())
        .load(conn)
}

/// The current members' emails of every panel whose agendas held `case_id`.
pub fn member_emails_for_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<String>> {
    agenda_items::table
        .inner_join(meetings::table.inner_join(panels::table.inner_join(panel_members::table)))
        .filter(agenda_items::case_id.eq(case_id))
        .filter(panel_members::removed_at.is_null())
        .select(panel_members::email)
        .distinct()
        .load(conn)
}
