//! The notification outbox and the directory of team mailboxes.
//!
//! The recipient of a notification about a case (the referrer, the referring officer, a
//! panel member) is sealed under the case's data key, like every personal column of the
//! case (see [`super::vault`]): when erasure destroys the key, no copy of the address
//! left in free pages, the write-ahead log or dead tuples can be read. Notifications
//! about no case go to panel members and team mailboxes, whose addresses the panels and
//! the directory hold as they are.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::DbConnection;
use super::schema::{directory, notifications};
use super::vault;

/// The table and column a recipient is sealed for.
const TABLE: &str = "notifications";
const RECIPIENT: &str = "recipient";

/// A notification waiting, sending, sent or failed.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = notifications)]
#[diesel(treat_none_as_default_value = false)]
pub struct NotificationRow {
    /// Id.
    pub id: String,
    /// What it tells (`referral_received`, `listed_for_panel`, ...): names its template.
    pub kind: String,
    /// The case it is about.
    pub case_id: Option<String>,
    /// The address it goes to (in the database, sealed when it is about a case).
    pub recipient: String,
    /// The template's values: reference, link, dates; never personal data.
    pub context: String,
    /// `Message-ID`, the same on every attempt.
    pub message_id: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: NaiveDateTime,
    /// A worker's claim, until.
    pub claimed_until: Option<NaiveDateTime>,
    /// The last failure (an SMTP code and text, never an address).
    pub last_error: Option<String>,
    /// Makes a reminder once per due date.
    pub dedupe_key: Option<String>,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// Delivered to the relay.
    pub sent_at: Option<NaiveDateTime>,
    /// The area whose admins may see and re-send it.
    pub area: String,
}

/// A directory entry: a team mailbox of an area.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = directory)]
#[diesel(treat_none_as_default_value = false)]
pub struct DirectoryRow {
    /// Id.
    pub id: String,
    /// Area.
    pub area: String,
    /// `prevent_team` or `channel_chair`.
    pub role: String,
    /// The mailbox.
    pub mailbox: String,
    /// Added.
    pub created_at: NaiveDateTime,
}

/// The row as stored: its recipient sealed under its case's data key.
fn sealed(conn: &mut DbConnection, row: &NotificationRow) -> QueryResult<NotificationRow> {
    let mut row = row.clone();
    if let Some(case_id) = &row.case_id {
        let key = vault::key_of_case(conn, case_id)?;
        row.recipient = vault::seal(conn, &key, TABLE, RECIPIENT, &row.id, &row.recipient)?;
    }
    Ok(row)
}

/// The row as read: its recipient opened (empty once the case's data key is destroyed).
fn opened(conn: &mut DbConnection, mut row: NotificationRow) -> QueryResult<NotificationRow> {
    if row.case_id.is_some() {
        row.recipient = vault::open_or_empty(conn, TABLE, RECIPIENT, &row.id, &row.recipient)?;
    }
    Ok(row)
}

fn all_opened(
    conn: &mut DbConnection,
    rows: Vec<NotificationRow>,
) -> QueryResult<Vec<NotificationRow>> {
    rows.into_iter().map(|r| opened(conn, r)).collect()
}

/// Queues notifications; a duplicate `dedupe_key` is skipped. Returns how many were queued.
pub fn enqueue(conn: &mut DbConnection, rows: &[NotificationRow]) -> QueryResult<usize> {
    let mut queued = 0;
    for row in rows {
        let row = sealed(conn, row)?;
        queued += match conn {
            DbConnection::Postgres(pg) => diesel::insert_into(notifications::table)
                .values(&row)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_or_ignore_into(notifications::table)
                .values(&row)
                .execute(lite)?,
        };
    }
    Ok(queued)
}

const CLAIM_POSTGRES: &str = "UPDATE notifications SET status = 'sending', claimed_until = $1, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM notifications \
                  WHERE (status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND claimed_until < $2) \
                  ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";
// SQLite numbers `?` after the highest number seen: lease is ?1, now ?2, limit ?3.
const CLAIM_SQLITE: &str = "UPDATE notifications SET status = 'sending', claimed_until = ?, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM notifications \
                  WHERE (status = 'pending' AND next_attempt_at <= ?2) OR (status = 'sending' AND claimed_until < ?2) \
                  ORDER BY next_attempt_at, id LIMIT ?) \
     RETURNING *";

/// Claims up to `limit` due notifications until `lease_until`. Rows locked by another
/// worker are skipped (PostgreSQL) or cannot exist (SQLite's single writer), so two
/// workers never hold the same row; a claim that outlives its lease (a crashed worker)
/// is taken again.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    super::write_transaction(conn, |c| {
        let rows = match c {
            DbConnection::Postgres(pg) => diesel::sql_query(CLAIM_POSTGRES)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(pg)?,
            DbConnection::Sqlite(lite) => diesel::sql_query(CLAIM_SQLITE)
                .bind::<Timestamp, _>(lease_until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(lite)?,
        };
        all_opened(c, rows)
    })
}

/// Records delivery.
pub fn mark_sent(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::status.eq("sending")),
    )
    .set((
        notifications::status.eq("sent"),
        notifications::sent_at.eq(Some(at)),
        notifications::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
}

/// Records a failed attempt: back to `pending` at `retry_at`, or `failed` when `None`.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    let status = if retry_at.is_some() {
        "pending"
    } else {
        "failed"
    };
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::status.eq("sending")),
    )
    .set((
        notifications::status.eq(status),
        notifications::last_error.eq(Some(error)),
        notifications::claimed_until.eq(None::<NaiveDateTime>),
        notifications::next_attempt_at
            .eq(retry_at.unwrap_or_else(|| chrono::Utc::now().naive_utc())),
    ))
    .execute(conn)
}

/// Notifications with `status`, oldest first, after an id.
pub fn list(
    conn: &mut DbConnection,
    area: &str,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut q = notifications::table
        .filter(notifications::area.eq(area.to_owned()))
        .select(NotificationRow::as_select())
        .order(notifications::id)
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(notifications::status.eq(s.to_owned()));
    }
    if let Some(a) = after {
        q = q.filter(notifications::id.gt(a.to_owned()));
    }
    let rows = q.load(conn)?;
    all_opened(conn, rows)
}

/// Puts a failed notification of `area` back in the queue now; rows changed.
pub fn retry(
    conn: &mut DbConnection,
    id: &str,
    area: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .find(id)
            .filter(notifications::area.eq(area))
            .filter(notifications::status.eq("failed")),
    )
    .set((
        notifications::status.eq("pending"),
        notifications::attempts.eq(0_i64),
        notifications::next_attempt_at.eq(now),
    ))
    .execute(conn)
}

/// The mailboxes of `role` in `area`.
pub fn mailboxes(conn: &mut DbConnection, area: &str, role: &str) -> QueryResult<Vec<String>> {
    directory::table
        .filter(directory::area.eq(area))
        .filter(directory::role.eq(role))
        .order(directory::mailbox)
        .select(directory::mailbox)
        .load(conn)
}

/// The directory, optionally of one area.
pub fn directory_entries(
    conn: &mut DbConnection,
    area: Option<&str>,
) -> QueryResult<Vec<DirectoryRow>> {
    let mut q = directory::table
        .select(DirectoryRow::as_select())
        .order((directory::area, directory::role, directory::mailbox))
        .into_boxed();
    if let Some(a) = area {
        q = q.filter(directory::area.eq(a.to_owned()));
    }
    q.load(conn)
}

/// Adds a directory entry.
pub fn add_directory_entry(conn: &mut DbConnection, row: &DirectoryRow) -> QueryResult<()> {
    diesel::insert_into(directory::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Removes a directory entry of `area`; rows changed.
pub fn remove_directory_entry(conn: &mut DbConnection, id: &str, area: &str) -> QueryResult<usize> {
    diesel::delete(
        directory::table
            .filter(directory::id.eq(id))
            .filter(directory::area.eq(area)),
    )
    .execute(conn)
}

/// The notifications about a case, oldest first.
pub fn for_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<NotificationRow>> {
    let rows = notifications::table
        .filter(notifications::case_id.eq(case_id))
        .order((notifications::created_at, notifications::id))
        .select(NotificationRow::as_select())
        .load(conn)?;
    all_opened(conn, rows)
}
