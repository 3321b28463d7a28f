//! The connection type, on its own so that every store module can name it without
//! reaching back into the module that holds them all.

use diesel::prelude::*;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// Production and CI.
    Postgres(PgConnection),
    /// The embedded default.
    Sqlite(SqliteConnection),
}
