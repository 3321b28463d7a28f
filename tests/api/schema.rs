//! Both backends must end with the same tables and columns. Each run checks its backend
//! against one committed listing, `tests/snapshots/schema.txt`, so the SQLite run and the
//! PostgreSQL run together prove the two agree. `UPDATE_SCHEMA_SNAPSHOT=1` rewrites it.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use pathway::store::DbConnection;

use crate::helpers::TestDatabase;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

/// `table.column [null]` lines, sorted.
fn schema_of(conn: &mut DbConnection) -> String {
    let columns: Vec<Column> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             is_nullable = 'YES' AS nullable \
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .load(pg),
        DbConnection::Sqlite(lite) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" = 0 AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .load(lite),
    }
    .expect("read the schema");
    let mut lines: Vec<String> = columns
        .into_iter()
        .map(|c| {
            let null = if c.nullable { " null" } else { "" };
            format!("{}.{}{null}", c.table_name, c.column_name)
        })
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

#[test]
fn this_backend_has_exactly_the_committed_tables_and_columns() {
    let db = TestDatabase::fresh();
    let mut conn = db.connect();
    pathway::store::run_migrations(&mut conn).unwrap();
    let actual = schema_of(&mut conn);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/schema.txt");
    if std::env::var_os("UPDATE_SCHEMA_SNAPSHOT").is_some() {
        std::fs::write(path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(path).expect("tests/snapshots/schema.txt");
    assert_eq!(
        actual, expected,
        "the schema differs from tests/snapshots/schema.txt"
    );
}

#[test]
fn every_migration_runs_down_and_up_again() {
    let db = TestDatabase::fresh();
    let mut conn = db.connect();
    let applied = pathway::store::run_migrations(&mut conn).unwrap();
    let before = schema_of(&mut conn);
    assert_eq!(
        pathway::store::revert_all_migrations(&mut conn).unwrap(),
        applied
    );
    assert!(!pathway::store::migrations_current(&mut conn).unwrap());
    assert_eq!(pathway::store::run_migrations(&mut conn).unwrap(), applied);
    assert_eq!(schema_of(&mut conn), before);
}
