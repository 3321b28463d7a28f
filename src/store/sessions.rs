//! Web console sessions: one row per signed-in browser, found by the SHA-256 of the
//! cookie's session id.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::console_sessions;

/// A console session as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
#[diesel(treat_none_as_default_value = false)]
pub struct SessionRow {
    /// SHA-256 (hex) of the session id the cookie carries.
    pub id_hash: String,
    /// The actor's claims, as JSON.
    pub claims: String,
    /// The synchronizer token every form of this session carries.
    pub csrf_token: String,
    /// Signed in.
    pub created_at: NaiveDateTime,
    /// The last request.
    pub last_seen_at: NaiveDateTime,
    /// The end of its absolute lifetime.
    pub expires_at: NaiveDateTime,
}

/// Stores a new session.
pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<usize> {
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)
}

/// The session whose id hashes to `id_hash`, if any.
pub fn find(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<SessionRow>> {
    console_sessions::table
        .find(id_hash)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

/// Records a request made now in the session.
pub fn touch(conn: &mut DbConnection, id_hash: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(console_sessions::table.find(id_hash))
        .set(console_sessions::last_seen_at.eq(at))
        .execute(conn)
}

/// Ends one session.
pub fn delete(conn: &mut DbConnection, id_hash: &str) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.find(id_hash)).execute(conn)
}

/// Removes the sessions whose absolute lifetime ended before `now`, or that have been
/// idle since before `idle_since`.
pub fn delete_ended(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    idle_since: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        console_sessions::table.filter(
            console_sessions::expires_at
                .lt(now)
                .or(console_sessions::last_seen_at.lt(idle_since)),
        ),
    )
    .execute(conn)
}
