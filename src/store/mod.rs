//! Persistence: the one place that speaks diesel. One connection type serves SQLite
//! and PostgreSQL; the backend is chosen by the database URL.

pub mod audit;
pub mod cases;
pub mod notifications;
pub mod panels;
pub mod schema;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// Production and CI.
    Postgres(PgConnection),
    /// The embedded default.
    Sqlite(SqliteConnection),
}

/// A pool of connections to the configured backend.
pub type DbPool = Pool<ConnectionManager<DbConnection>>;

/// A connection taken from the pool.
pub type PooledDb = PooledConnection<ConnectionManager<DbConnection>>;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Backend {
    /// PostgreSQL for `postgres://` and `postgresql://` URLs, SQLite for anything else.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// A failure of the store, kept apart from HTTP concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had.
    #[error("database connection unavailable: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// Schema migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The SQLite directory could not be created.
    #[error("database file directory: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking task was cancelled or panicked.
    #[error("database task did not complete")]
    Task,
}

/// Per-connection SQLite settings: foreign keys on, wait for locks, WAL, and a full
/// fsync at commit so that an acknowledged referral survives a power cut.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// The SQLite file path of a URL (`sqlite://data/x.db`, `sqlite:data/x.db` or `data/x.db`).
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Opens a pool to the configured database, creating a SQLite file's directory if needed.
pub fn connect(settings: &DatabaseSettings) -> Result<DbPool, StoreError> {
    let url = settings.url.expose_secret();
    let backend = Backend::of_url(url);
    let url = match backend {
        Backend::Postgres => url.to_owned(),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            path.to_owned()
        }
    };
    // SQLite has a single writer and every request here writes (at least its audit
    // entry): one connection makes requests queue in the pool, in order, instead of
    // sleep-polling for the write lock, which gave second-long tail latencies.
    let size = match backend {
        Backend::Postgres => settings.pool_size,
        Backend::Sqlite => 1,
    };
    let pool = Pool::builder()
        .max_size(size)
        .connection_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(ConnectionManager::<DbConnection>::new(url))?;
    Ok(pool)
}

/// Applies every pending migration of the connection's backend.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.len())
}

/// Reverts every migration (used to prove each migration runs down and up again).
pub fn revert_all_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let reverted = match conn {
        DbConnection::Postgres(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(reverted.len())
}

/// True when every embedded migration has been applied.
pub fn migrations_current(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let pending = match conn {
        DbConnection::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(!pending)
}

/// True when the database answers a trivial query.
pub fn ping(conn: &mut DbConnection) -> Result<(), StoreError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// Runs `f` in one write transaction: committed when it returns `Ok`, rolled back otherwise.
///
/// SQLite takes the write lock up front (`BEGIN IMMEDIATE`): a deferred transaction that
/// reads first and writes later fails with `SQLITE_BUSY` under concurrency instead of
/// waiting. PostgreSQL uses an ordinary transaction with row locks where needed.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Postgres(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE")?;
            let mut guard = RollbackOnDrop(Some(conn));
            let conn = guard
                .0
                .as_deref_mut()
                .ok_or(diesel::result::Error::NotFound)?;
            let value = f(conn)?;
            conn.batch_execute("COMMIT")?;
            guard.0 = None;
            Ok(value)
        }
    }
}

/// Rolls a manual SQLite transaction back on error or panic.
struct RollbackOnDrop<'a>(Option<&'a mut DbConnection>);

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.0.take().map(|conn| conn.batch_execute("ROLLBACK")) {
            tracing::error!(error = %e, "rollback of a SQLite transaction failed");
        }
    }
}

/// The pool, shared by handlers, with diesel's blocking work moved off the async threads.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    backend: Backend,
}

impl Store {
    /// Wraps a pool.
    pub fn new(pool: DbPool, backend: Backend) -> Store {
        Store { pool, backend }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool (for metrics).
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Runs `f` with a connection on the blocking pool, inside the caller's tracing span.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::rt::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = pool.get().map_err(StoreError::from)?;
                f(&mut conn)
            })
        })
        .await
        .map_err(|_| E::from(StoreError::Task))?
    }
}
