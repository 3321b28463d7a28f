//! Persistence: the one place that speaks diesel. One connection type serves SQLite
//! and PostgreSQL; the backend is chosen by the database URL.
//!
//! Statements keep one SQL shape per call site so that PostgreSQL runs them as
//! prepared statements from diesel's cache instead of parsing and planning each one:
//! every `Insertable` row says `treat_none_as_default_value = false` (`None` is `NULL`,
//! never `DEFAULT`; no nullable column here has another default), and rows are inserted
//! one statement each.

pub mod audit;
pub mod cases;
pub mod conn;
pub mod counters;
pub mod notifications;
pub mod panels;
pub mod retention;
pub mod schema;
pub mod sessions;
pub mod trust;
pub mod vault;

use std::path::Path;
use std::time::Duration;

use diesel::ConnectionError;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use secrecy::ExposeSecret;

pub use conn::{DbConnection, MultiBackend};

use crate::config::DatabaseSettings;
use counters::SqliteTransaction;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

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
    /// An audit key file or the witness could not be used.
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// The SQLite directory could not be created.
    #[error("database file directory: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking task was cancelled or panicked.
    #[error("database task did not complete")]
    Task,
    /// The PostgreSQL server could not be reached.
    #[error("cannot reach PostgreSQL at {host}:{port}: {reason}")]
    Unreachable {
        /// Host as given in the URL.
        host: String,
        /// Port as given in the URL (5432 when none).
        port: u16,
        /// What libpq said.
        reason: String,
    },
    /// The server refused the user.
    #[error(
        "PostgreSQL refused the user \"{user}\" (authentication failed, or no such role): {reason}"
    )]
    AuthenticationFailed {
        /// The user named in the URL.
        user: String,
        /// What libpq said.
        reason: String,
    },
    /// The server has no such database.
    #[error(
        "the PostgreSQL database \"{name}\" does not exist: create it with `pathway migrate` (which creates a missing database and applies the migrations) or `CREATE DATABASE`"
    )]
    DatabaseMissing {
        /// The database named in the URL.
        name: String,
    },
    /// Any other failure to connect.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(String),
    /// The database answers but cannot take a write now.
    #[error("the database cannot accept writes: {0}")]
    NotWritable(&'static str),
    /// The database was seen to be down a moment ago: answered at once, without
    /// waiting for a connection, until the next probe (see [`Circuit`]).
    #[error("the database was unreachable moments ago; retry after {retry_after_seconds} s")]
    CircuitOpen {
        /// When to try again.
        retry_after_seconds: u64,
    },
}

/// What a failed store call means for the client, when it is not a plain bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No connection, or the database refuses writes (disk full, read-only file, I/O
    /// error): nothing was done; retry later.
    Unavailable(&'static str),
    /// The connection was lost after the request was sent: the transaction may or may
    /// not have committed.
    OutcomeUnknown,
}

impl StoreError {
    /// Sorts a failure into an outage the client can act on, or `None` for a bug.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            StoreError::Pool(_)
            | StoreError::CircuitOpen { .. }
            | StoreError::Unreachable { .. }
            | StoreError::Connect(_) => Some(Outage::Unavailable("the database is not reachable")),
            StoreError::Query(e) => query_outage(e),
            StoreError::NotWritable(why) => Some(Outage::Unavailable(why)),
            _ => None,
        }
    }

    /// Seconds a client should wait before retrying, for an outage.
    pub fn retry_after_seconds(&self) -> u64 {
        match self {
            StoreError::CircuitOpen {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => 1,
        }
    }

    /// True when waiting may cure it (the server is starting, or not reachable yet);
    /// false when it needs a person (a wrong user or password, a missing database, a
    /// bad URL).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Pool(_) => true,
            StoreError::Connect(reason) => !reason.starts_with("the database URL is not valid"),
            _ => false,
        }
    }
}

/// Sorts a query error: a lost connection (PostgreSQL restarted, the backend
/// terminated, the socket closed) leaves the outcome unknown; SQLite's refusals to
/// write (full disk, read-only file, I/O error) and PostgreSQL's read-only or
/// shutting-down server are outages; anything else is a bug.
fn query_outage(e: &diesel::result::Error) -> Option<Outage> {
    use diesel::result::{DatabaseErrorKind, Error};
    let message = match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::BrokenTransactionManager => return Some(Outage::OutcomeUnknown),
        Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => {
            return Some(Outage::Unavailable("the database refuses writes"));
        }
        Error::DatabaseError(_, info) => info.message().to_lowercase(),
        _ => return None,
    };
    let lost = [
        "server closed the connection",
        "terminating connection",
        "connection to server was lost",
        "no connection to the server",
        "could not receive data from server",
        "could not send data to server",
        "ssl connection has been closed",
        "connection reset",
        "broken pipe",
    ];
    let refused = [
        ("database or disk is full", "the database's disk is full"),
        ("disk i/o error", "the database's disk failed to write"),
        ("readonly database", "the database file is read-only"),
        ("read-only", "the database refuses writes"),
        (
            "unable to open database file",
            "the database file cannot be opened",
        ),
        (
            "database is locked",
            "the database is locked by another writer",
        ),
        (
            "the database system is",
            "the database server is starting or stopping",
        ),
        ("could not extend file", "the database's disk is full"),
        ("during recovery", "the database is a read-only standby"),
        ("no space left on device", "the database's disk is full"),
    ];
    if lost.iter().any(|l| message.contains(l)) {
        Some(Outage::OutcomeUnknown)
    } else {
        refused
            .iter()
            .find(|(m, _)| message.contains(m))
            .map(|(_, why)| Outage::Unavailable(why))
    }
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

/// What a PostgreSQL URL names: where, as whom, which database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PgTarget {
    host: String,
    port: u16,
    user: String,
    database: String,
}

impl PgTarget {
    /// Reads a `postgres://user:password@host:port/database` URL; libpq's defaults
    /// (localhost, 5432, the user's own name as database) fill what it leaves out.
    fn of(url: &str) -> Result<PgTarget, StoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::Connect(format!("the database URL is not valid: {e}")))?;
        let user = match parsed.username() {
            "" => std::env::var("USER").unwrap_or_else(|_| "postgres".into()),
            u => percent_decode(u),
        };
        let database = match parsed.path().trim_start_matches('/') {
            "" => user.clone(),
            d => percent_decode(d),
        };
        Ok(PgTarget {
            host: parsed.host_str().unwrap_or("localhost").to_owned(),
            port: parsed.port().unwrap_or(5432),
            user,
            database,
        })
    }

    /// Sorts libpq's message into what an operator can act on.
    fn explain(&self, error: ConnectionError) -> StoreError {
        let reason = error.to_string().trim().replace('\n', " ");
        let lower = reason.to_lowercase();
        if lower.contains("database \"") && lower.contains("does not exist") {
            StoreError::DatabaseMissing {
                name: self.database.clone(),
            }
        } else if lower.contains("authentication failed")
            || (lower.contains("role \"") && lower.contains("does not exist"))
            || lower.contains("no password supplied")
            || lower.contains("no pg_hba.conf entry")
        {
            StoreError::AuthenticationFailed {
                user: self.user.clone(),
                reason,
            }
        } else if lower.contains("connection refused")
            || lower.contains("could not translate host name")
            || lower.contains("could not connect")
            || lower.contains("timeout expired")
            || lower.contains("no route to host")
            || lower.contains("network is unreachable")
        {
            StoreError::Unreachable {
                host: self.host.clone(),
                port: self.port,
                reason,
            }
        } else {
            StoreError::Connect(reason)
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Connects once, straight to PostgreSQL, to report why a connection fails: the
/// pool's own error (through the two-backend connection) loses the cause.
fn check_postgres(url: &str) -> Result<(), StoreError> {
    let target = PgTarget::of(url)?;
    PgConnection::establish(&with_connect_timeout(url))
        .map(drop)
        .map_err(|e| target.explain(e))
}

/// The URL with libpq's `connect_timeout` (10 s) unless it sets one: without it, a host
/// that drops packets keeps the command waiting for minutes instead of being named.
fn with_connect_timeout(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.query_pairs().any(|(k, _)| k == "connect_timeout") => {
            parsed
                .query_pairs_mut()
                .append_pair("connect_timeout", "10");
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

/// PostgreSQL: creates the URL's database when the server has none of that name, by
/// way of the server's `postgres` maintenance database. The name of the database it
/// created, if it did.
pub fn create_database_if_missing(url: &str, wait: Duration) -> Result<Option<String>, StoreError> {
    if Backend::of_url(url) != Backend::Postgres {
        return Ok(None);
    }
    match check_postgres_waiting(url, wait) {
        Ok(()) => return Ok(None),
        Err(StoreError::DatabaseMissing { .. }) => {}
        Err(other) => return Err(other),
    }
    let target = PgTarget::of(url)?;
    let mut maintenance = url::Url::parse(url)
        .map_err(|e| StoreError::Connect(format!("the database URL is not valid: {e}")))?;
    maintenance.set_path("/postgres");
    let mut conn = PgConnection::establish(&with_connect_timeout(maintenance.as_str()))
        .map_err(|e| target.explain(e))?;
    // An identifier cannot be a bind parameter: quote it, doubling any quote inside.
    let quoted = format!("\"{}\"", target.database.replace('"', "\"\""));
    conn.batch_execute(&format!("CREATE DATABASE {quoted}"))?;
    Ok(Some(target.database))
}

/// Opens a pool to the configured database, creating a SQLite file's directory if needed.
pub fn connect(settings: &DatabaseSettings) -> Result<DbPool, StoreError> {
    counters::install();
    let url = settings.url.expose_secret();
    let backend = Backend::of_url(url);
    let url = match backend {
        Backend::Postgres => {
            check_postgres_waiting(url, Duration::from_secs(settings.startup_wait_seconds))?;
            url.to_owned()
        }
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
        .connection_timeout(2 * RECONNECT_PAUSE)
        .connection_customizer(Box::new(SqlitePragmas))
        .build_unchecked(ConnectionManager::<DbConnection>::new(url));
    first_connection(&pool, settings)?;
    Ok(pool)
}

/// The longest a pool waits between attempts to connect to a database that went away.
/// r2d2 backs off up to half of its own connection timeout, so pools are built with
/// twice this and every caller waits with a timeout of its own ([`Store::connection`],
/// the circuit's probes). With the acquire timeout (5 s) there, a pool tried every
/// 2.5 s, and with the circuit's window on top serving resumed up to 4.5 s after
/// PostgreSQL came back, not within the 2 s retry that 503s announce.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// Waits for a new pool's first connection (the rest are made in the background), so a
/// database that cannot be opened fails the start with its cause.
fn first_connection(pool: &DbPool, settings: &DatabaseSettings) -> Result<(), StoreError> {
    pool.get_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .map(drop)
        .map_err(StoreError::from)
}

/// SQLite: a pool of read-only connections beside the single writer, so that reads
/// need not queue behind writes (WAL lets them read the last commit meanwhile). `None`
/// for PostgreSQL, whose pool serves reads and writes alike. Open it after migrating:
/// `query_only` readers cannot switch the file to WAL themselves.
pub fn connect_readers(settings: &DatabaseSettings) -> Result<Option<DbPool>, StoreError> {
    let url = settings.url.expose_secret();
    if Backend::of_url(url) != Backend::Sqlite {
        return Ok(None);
    }
    let pool = Pool::builder()
        .max_size(settings.pool_size.clamp(1, 4))
        .connection_timeout(2 * RECONNECT_PAUSE)
        .connection_customizer(Box::new(SqliteReader))
        .build_unchecked(ConnectionManager::<DbConnection>::new(sqlite_path(url)));
    first_connection(&pool, settings)?;
    Ok(Some(pool))
}

/// Per-connection settings of a SQLite reader: it refuses to write, so a use case sent
/// to a reader by mistake fails instead of contending with the writer.
#[derive(Debug, Clone, Copy)]
struct SqliteReader;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqliteReader {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA query_only = ON; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Applies every pending migration of the connection's backend. When none is pending
/// it changes nothing, so a role without DDL rights (the application role on
/// PostgreSQL) can start against a database its owner has migrated.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    if pending_migrations(conn)? == Some(0) {
        return Ok(0);
    }
    let applied = match conn {
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.len())
}

#[derive(QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// How many embedded migrations are not applied; `None` when the database has no
/// migration table yet. Reads only: diesel's own check first creates its table,
/// which needs rights the application role does not have.
fn pending_migrations(conn: &mut DbConnection) -> Result<Option<usize>, StoreError> {
    let applied: Vec<AppliedVersion> =
        match diesel::sql_query("SELECT version FROM __diesel_schema_migrations").load(conn) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
    let embedded: Vec<String> = match conn {
        DbConnection::Postgres(_) => {
            MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
                .map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
        }
        DbConnection::Sqlite(_) => {
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
                .map(|m| m.iter().map(|m| m.name().version().to_string()).collect())
        }
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(Some(
        embedded
            .iter()
            .filter(|v| !applied.iter().any(|a| &a.version == *v))
            .count(),
    ))
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
    Ok(pending_migrations(conn)? == Some(0))
}

/// Grants an existing PostgreSQL role what `serve` and `worker` need, run by the owner
/// of the tables after migrating: reading and writing the case tables, reading the
/// migration table, and on the audit log and its checkpoints only SELECT and INSERT.
/// Not being the owner, the role cannot ALTER (so cannot disable the append-only
/// triggers), and it has no UPDATE, DELETE or TRUNCATE on the audit records.
pub fn grant_app_role(conn: &mut DbConnection, role: &str) -> Result<(), StoreError> {
    let DbConnection::Postgres(pg) = conn else {
        return Err(StoreError::Migration(
            "SQLite has no roles: protect the database file's permissions instead".into(),
        ));
    };
    let valid = role
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && role.len() <= 63
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(StoreError::Migration(format!(
            "role name {role:?}: use lowercase letters, digits and underscores"
        )));
    }
    let audit = "audit_log, audit_checkpoints";
    pg.transaction(|pg| {
        pg.batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO \"{role}\";
             REVOKE ALL ON ALL TABLES IN SCHEMA public FROM \"{role}\";
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\";
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";
             REVOKE ALL ON {audit}, audit_chains, __diesel_schema_migrations FROM \"{role}\";
             GRANT SELECT, INSERT ON {audit} TO \"{role}\";
             GRANT SELECT, INSERT, UPDATE ON audit_chains TO \"{role}\";
             GRANT SELECT ON __diesel_schema_migrations TO \"{role}\";"
        ))
    })?;
    Ok(())
}

#[derive(QueryableByName)]
struct UserVersion {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    user_version: i32,
}

#[derive(QueryableByName)]
struct WriteProbe {
    #[diesel(sql_type = diesel::sql_types::Text)]
    read_only: String,
}

/// Proves the database takes a write, without growing it.
///
/// SQLite: rewrites the header's `user_version` with its own value and commits, so a
/// page really goes through the journal to the file: a full disk, a read-only file or
/// an I/O error fail here as a filing would (`SELECT 1`, or `BEGIN IMMEDIATE` alone,
/// succeed on a file that cannot be written). PostgreSQL: a committed transaction that
/// takes a transaction id, which a standby or a read-only server refuses, and whose
/// commit is flushed to the WAL.
pub fn check_writable(conn: &mut DbConnection) -> Result<(), StoreError> {
    match conn {
        DbConnection::Sqlite(_) => write_transaction(conn, |c| {
            let v: UserVersion = diesel::sql_query("PRAGMA user_version").get_result(c)?;
            c.batch_execute(&format!("PRAGMA user_version = {}", v.user_version))?;
            Ok::<_, StoreError>(())
        }),
        DbConnection::Postgres(_) => conn.transaction(|c| {
            let probe: WriteProbe = diesel::sql_query(
                "SELECT current_setting('transaction_read_only') AS read_only, \
                 pg_current_xact_id()::text AS xid",
            )
            .get_result(c)?;
            if probe.read_only == "on" {
                return Err(StoreError::NotWritable("the database refuses writes"));
            }
            Ok(())
        }),
    }
}

/// True when the database holds anything made with the key files: a case, an audit
/// entry or checkpoint, or a subject data key. Missing local keys are generated only
/// when it holds none (see [`trust::KeyGeneration`]): a new key cannot read them.
pub fn holds_records(conn: &mut DbConnection) -> QueryResult<bool> {
    use diesel::dsl::exists;
    use schema::{audit_checkpoints, audit_log, cases, subject_keys};
    Ok(
        diesel::select(exists(audit_log::table.select(audit_log::id))).get_result(conn)?
            || diesel::select(exists(cases::table.select(cases::id))).get_result(conn)?
            || diesel::select(exists(subject_keys::table.select(subject_keys::id)))
                .get_result(conn)?
            || diesel::select(exists(
                audit_checkpoints::table.select(audit_checkpoints::seq),
            ))
            .get_result(conn)?,
    )
}

/// Connects once to PostgreSQL, and while the cause is one that waiting may cure
/// (refused, unreachable, starting up), again with exponential back-off until `wait`
/// has passed. Each failed attempt is logged at WARN with its cause; a wrong user or
/// password and a missing database are returned at once, since they need a person.
fn check_postgres_waiting(url: &str, wait: Duration) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + wait;
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        let error = match check_postgres(url) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let now = std::time::Instant::now();
        if !error.is_transient() || now >= deadline {
            return Err(error);
        }
        let pause = delay.min(deadline - now);
        tracing::warn!(
            attempt,
            retry_in_ms = pause.as_millis() as u64,
            error = %error,
            "database not available yet; retrying"
        );
        std::thread::sleep(pause);
        delay = (delay * 2).min(Duration::from_secs(5));
        attempt += 1;
    }
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
    // The audit streams the transaction creates are witnessed only if it commits.
    audit::transaction_began();
    let result = match conn {
        DbConnection::Postgres(_) => conn.transaction(f),
        DbConnection::Sqlite(_) => sqlite_write_transaction(conn, f),
    };
    audit::transaction_ended(result.is_ok());
    result
}

fn sqlite_write_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.batch_execute("BEGIN IMMEDIATE")?;
    counters::sqlite_transaction(SqliteTransaction::Begun);
    let mut guard = RollbackOnDrop(Some(conn));
    let conn = guard
        .0
        .as_deref_mut()
        .ok_or(diesel::result::Error::NotFound)?;
    let value = f(conn)?;
    conn.batch_execute("COMMIT")?;
    counters::sqlite_transaction(SqliteTransaction::Committed);
    guard.0 = None;
    Ok(value)
}

/// Rolls a manual SQLite transaction back on error or panic.
struct RollbackOnDrop<'a>(Option<&'a mut DbConnection>);

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.0.take() else { return };
        counters::sqlite_transaction(SqliteTransaction::RolledBack);
        match conn.batch_execute("ROLLBACK") {
            Ok(()) => {}
            // SQLite rolls the whole transaction back by itself on SQLITE_FULL, IOERR,
            // BUSY and NOMEM (https://sqlite.org/lang_transaction.html): nothing is
            // left to undo, and the failure itself was reported where it happened.
            Err(e) if e.to_string().contains("no transaction is active") => {
                tracing::debug!("SQLite had already rolled the transaction back");
            }
            Err(e) => tracing::error!(error = %e, "rollback of a SQLite transaction failed"),
        }
    }
}

/// The pool, shared by handlers, with diesel's blocking work moved off the async threads.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
    /// SQLite's read-only connections (see [`connect_readers`]); `None` on PostgreSQL.
    readers: Option<DbPool>,
    backend: Backend,
    audit: Option<std::sync::Arc<trust::AuditTrust>>,
    vault: Option<std::sync::Arc<vault::Vault>>,
    circuit: std::sync::Arc<Circuit>,
}

impl Store {
    /// Wraps a pool.
    pub fn new(pool: DbPool, backend: Backend) -> Store {
        Store {
            pool,
            readers: None,
            backend,
            audit: None,
            vault: None,
            circuit: std::sync::Arc::new(Circuit::new(
                Duration::from_secs(2),
                Duration::from_millis(500),
                Duration::from_secs(5),
            )),
        }
    }

    /// The same store, waiting at most `acquire_timeout` for a connection, failing fast
    /// for `open_for` after the database was found unreachable, and probing it with
    /// connections that wait at most `probe_timeout`.
    pub fn with_outage_policy(
        self,
        open_for: Duration,
        probe_timeout: Duration,
        acquire_timeout: Duration,
    ) -> Store {
        Store {
            circuit: std::sync::Arc::new(Circuit::new(open_for, probe_timeout, acquire_timeout)),
            ..self
        }
    }

    /// A connection from the pool, for work outside a request (start-up, the command
    /// line), waiting at most the acquire timeout.
    pub fn connection(&self) -> Result<PooledDb, StoreError> {
        self.pool
            .get_timeout(self.circuit.acquire_timeout)
            .map_err(StoreError::from)
    }

    /// Runs `f` like [`Store::run`], but as a probe: it waits at most the probe timeout
    /// for a connection, so that a readiness check answers within it.
    pub async fn probe<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let circuit = self.circuit.clone();
        let span = tracing::Span::current();
        actix_web::rt::task::spawn_blocking(move || {
            span.in_scope(|| {
                let mut conn = circuit.connection(&pool, true)?;
                f(&mut conn)
            })
        })
        .await
        .map_err(|_| E::from(StoreError::Task))?
    }

    /// The same store, sealing and opening personal columns with `vault` in every
    /// [`Store::run`].
    pub fn with_vault(self, vault: vault::Vault) -> Store {
        Store {
            vault: Some(std::sync::Arc::new(vault)),
            ..self
        }
    }

    /// The same store, answering [`Store::read`] from `readers` when given.
    pub fn with_readers(self, readers: Option<DbPool>) -> Store {
        Store { readers, ..self }
    }

    /// The same store, keying the audit entries appended through [`Store::run`].
    pub fn with_audit(self, trust: trust::AuditTrust) -> Store {
        Store {
            audit: Some(std::sync::Arc::new(trust)),
            ..self
        }
    }

    /// The audit keys and witness, when set.
    pub fn audit(&self) -> Option<&trust::AuditTrust> {
        self.audit.as_deref()
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
        self.run_on(self.pool.clone(), f).await
    }

    /// Runs a use case that never writes, not even an audit entry: on SQLite with a
    /// reader connection, so it does not wait for the writer; on PostgreSQL as
    /// [`Store::run`]. Reads of cases, lists, history, statistics, meetings and the
    /// audit log append an audit entry, so they write: only the panel list, a panel and
    /// the directory qualify (`/metrics` and the OpenAPI document use no connection;
    /// `/readyz` checks the writer).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run_on(self.readers.as_ref().unwrap_or(&self.pool).clone(), f)
            .await
    }

    async fn run_on<T, E, F>(&self, pool: DbPool, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let audit = self.audit.clone();
        let vault = self.vault.clone();
        let circuit = self.circuit.clone();
        let span = tracing::Span::current();
        actix_web::rt::task::spawn_blocking(move || {
            span.in_scope(|| {
                let conn = circuit.connection(&pool, false)?;
                match &vault {
                    Some(v) => vault::with_vault(v, || run_unit(conn, audit.as_deref(), f)),
                    None => run_unit(conn, audit.as_deref(), f),
                }
            })
        })
        .await
        .map_err(|_| E::from(StoreError::Task))?
    }
}

/// One [`Store::run`] call on the blocking thread: `f` with a connection, its audit
/// entries keyed, and new audit streams witnessed after the commit.
fn run_unit<T, E, F>(mut conn: PooledDb, audit: Option<&trust::AuditTrust>, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError>,
{
    let Some(t) = audit else {
        return f(&mut conn);
    };
    let (out, created) = audit::in_unit(&t.entry_key, || f(&mut conn));
    if created.is_empty() {
        return out;
    }
    // After the commit: only streams that exist now are witnessed (those created in
    // a transaction that committed, and those created outside one that the database
    // still holds). They are queued for the witness's writer thread: the request has
    // succeeded already and does not wait for the fsyncs; a failure is logged there.
    let records = if created.untracked.is_empty() {
        Ok(created.committed)
    } else {
        audit::new_stream_records(&mut conn, &created.untracked).map(|mut looked_up| {
            looked_up.extend(created.committed);
            looked_up
        })
    };
    drop(conn);
    match records {
        Ok(records) => t.streams.queue(records),
        Err(e) => tracing::error!(error = %e, "audit streams not witnessed"),
    }
    out
}

/// A circuit breaker over the pool. Once a connection could not be had, every call
/// fails at once with [`StoreError::CircuitOpen`] for `open_for`, instead of each
/// waiting the pool's whole acquire timeout; then, or as soon as the pool has
/// reconnected, one call at a time probes the database with a short timeout, and the
/// first that gets a connection closes it.
struct Circuit {
    open_until: std::sync::Mutex<Option<std::time::Instant>>,
    probing: std::sync::atomic::AtomicBool,
    open_for: Duration,
    probe_timeout: Duration,
    acquire_timeout: Duration,
}

impl Circuit {
    fn new(open_for: Duration, probe_timeout: Duration, acquire_timeout: Duration) -> Circuit {
        Circuit {
            open_until: std::sync::Mutex::new(None),
            probing: std::sync::atomic::AtomicBool::new(false),
            open_for,
            probe_timeout,
            acquire_timeout,
        }
    }

    fn open_until(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection, or at once an error while the circuit is open. `probe` asks for
    /// the short timeout even when the circuit is closed (readiness checks).
    fn connection(&self, pool: &DbPool, probe: bool) -> Result<PooledDb, StoreError> {
        use std::sync::atomic::Ordering;
        let now = std::time::Instant::now();
        let half_open = match *self.open_until() {
            None => false,
            // The pool keeps reconnecting (every RECONNECT_PAUSE at most): once it holds a
            // connection again the database is back, and waiting out the window would only
            // delay serving by up to `open_for`.
            Some(until) if now < until && pool.state().idle_connections == 0 => {
                return Err(StoreError::CircuitOpen {
                    retry_after_seconds: (until - now).as_secs_f64().ceil().max(1.0) as u64,
                });
            }
            Some(_) => true,
        };
        if half_open && self.probing.swap(true, Ordering::AcqRel) {
            return Err(StoreError::CircuitOpen {
                retry_after_seconds: 1,
            });
        }
        let got = if probe || half_open {
            pool.get_timeout(self.probe_timeout)
        } else {
            pool.get_timeout(self.acquire_timeout)
        };
        let mut open_until = self.open_until();
        match &got {
            Ok(_) if half_open => {
                *open_until = None;
                tracing::info!("database reachable again");
            }
            Ok(_) => {}
            Err(e) => {
                if open_until.is_none() {
                    tracing::warn!(error = %e, "database unreachable: failing fast while it is down");
                }
                *open_until = Some(std::time::Instant::now() + self.open_for);
            }
        }
        if half_open {
            self.probing.store(false, Ordering::Release);
        }
        got.map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_insertable_row_inserts_none_as_null_so_its_statement_stays_prepared() {
        let sources = [
            ("audit.rs", include_str!("audit.rs")),
            ("cases.rs", include_str!("cases.rs")),
            ("notifications.rs", include_str!("notifications.rs")),
            ("panels.rs", include_str!("panels.rs")),
            ("retention.rs", include_str!("retention.rs")),
            ("sessions.rs", include_str!("sessions.rs")),
            ("vault.rs", include_str!("vault.rs")),
            ("trust.rs", include_str!("trust.rs")),
        ];
        let mut rows = 0;
        for (file, text) in sources {
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.starts_with("#[derive(") && line.contains("Insertable") {
                    rows += 1;
                    let attributes = lines[i + 1..].iter().take_while(|l| l.starts_with("#["));
                    assert!(
                        attributes
                            .into_iter()
                            .any(|l| l.contains("treat_none_as_default_value = false")),
                        "{file}:{}: an Insertable row without treat_none_as_default_value = false",
                        i + 1
                    );
                }
            }
        }
        assert!(rows >= 14, "found only {rows} Insertable rows");
    }

    #[test]
    fn a_postgres_url_names_its_host_port_user_and_database() {
        let t = PgTarget::of("postgres://app%40x:secret@db.example:6543/pathway%20demo").unwrap();
        assert_eq!(
            t,
            PgTarget {
                host: "db.example".into(),
                port: 6543,
                user: "app@x".into(),
                database: "pathway demo".into(),
            }
        );
        let t = PgTarget::of("postgresql://postgres@127.0.0.1").unwrap();
        assert_eq!((t.port, t.database.as_str()), (5432, "postgres"));
    }

    #[test]
    fn the_check_waits_at_most_its_connect_timeout_unless_the_url_sets_one() {
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=disable"),
            "postgres://u@h/db?sslmode=disable&connect_timeout=10"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=3"),
            "postgres://u@h/db?connect_timeout=3"
        );
    }

    #[test]
    fn query_errors_are_sorted_into_outages_or_bugs() {
        use diesel::result::{DatabaseErrorKind, Error};
        let said = |kind, m: &str| {
            StoreError::Query(Error::DatabaseError(kind, Box::new(m.to_owned()))).outage()
        };
        let unknown = DatabaseErrorKind::Unknown;
        assert_eq!(
            said(DatabaseErrorKind::ClosedConnection, "anything"),
            Some(Outage::OutcomeUnknown)
        );
        assert_eq!(
            said(
                unknown,
                "terminating connection due to administrator command\nserver closed the connection unexpectedly"
            ),
            Some(Outage::OutcomeUnknown)
        );
        for (message, why) in [
            ("database or disk is full", "the database's disk is full"),
            (
                "attempt to write a readonly database",
                "the database file is read-only",
            ),
            ("disk I/O error", "the database's disk failed to write"),
            (
                "cannot assign TransactionIds during recovery",
                "the database is a read-only standby",
            ),
        ] {
            assert_eq!(
                said(unknown, message),
                Some(Outage::Unavailable(why)),
                "{message}"
            );
        }
        assert_eq!(
            said(DatabaseErrorKind::UniqueViolation, "duplicate key value"),
            None,
            "a bug stays a 500"
        );
        assert_eq!(StoreError::Query(Error::NotFound).outage(), None);
    }

    #[test]
    fn libpq_errors_are_sorted_into_what_an_operator_can_act_on() {
        let t = PgTarget::of("postgres://alice@127.0.0.1:5433/cases").unwrap();
        let said = |m: &str| t.explain(ConnectionError::BadConnection(m.into()));
        let missing = said(
            "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  database \"cases\" does not exist",
        );
        assert!(matches!(missing, StoreError::DatabaseMissing { ref name } if name == "cases"));
        assert!(missing.to_string().contains("pathway migrate"));
        let role = said(
            "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  role \"alice\" does not exist",
        );
        assert!(role.to_string().contains("\"alice\""), "{role}");
        let password = said("FATAL:  password authentication failed for user \"alice\"");
        assert!(matches!(password, StoreError::AuthenticationFailed { .. }));
        let refused = said(
            "connection to server at \"127.0.0.1\", port 5433 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        );
        assert!(
            refused
                .to_string()
                .starts_with("cannot reach PostgreSQL at 127.0.0.1:5433"),
            "{refused}"
        );
    }
}
