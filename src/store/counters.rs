//! How much the service asks of its database: statements sent, statements prepared (a
//! miss in a connection's prepared-statement cache), and transactions begun, committed and
//! rolled back, counted for the whole process by diesel's instrumentation hook and served
//! on `/metrics`. The load benchmark reads them around its intake run to report
//! statements per intake and whether the cache holds every intake statement.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// Statements sent (each `StartQuery`, including `BEGIN` and `COMMIT`).
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
/// Statements prepared and put in a connection's cache.
static PREPARED: AtomicU64 = AtomicU64::new(0);
/// Outermost transactions begun.
static BEGUN: AtomicU64 = AtomicU64::new(0);
/// Outermost transactions committed.
static COMMITTED: AtomicU64 = AtomicU64::new(0);
/// Transactions (or savepoints) rolled back.
static ROLLED_BACK: AtomicU64 = AtomicU64::new(0);

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatabaseWork {
    /// Statements sent.
    pub statements: u64,
    /// Statements prepared (cache misses).
    pub prepared: u64,
    /// Transactions begun.
    pub transactions_begun: u64,
    /// Transactions committed.
    pub transactions_committed: u64,
    /// Transactions or savepoints rolled back.
    pub rolled_back: u64,
}

/// Reads the counters.
pub fn read() -> DatabaseWork {
    DatabaseWork {
        statements: STATEMENTS.load(Ordering::Relaxed),
        prepared: PREPARED.load(Ordering::Relaxed),
        transactions_begun: BEGUN.load(Ordering::Relaxed),
        transactions_committed: COMMITTED.load(Ordering::Relaxed),
        rolled_back: ROLLED_BACK.load(Ordering::Relaxed),
    }
}

/// Counts; sees no SQL text or bind values beyond the event's kind.
struct Counting;

impl Instrumentation for Counting {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let counter = match event {
            InstrumentationEvent::StartQuery { .. } => &STATEMENTS,
            InstrumentationEvent::CacheQuery { .. } => &PREPARED,
            InstrumentationEvent::BeginTransaction { depth, .. } if depth.get() == 1 => &BEGUN,
            InstrumentationEvent::CommitTransaction { depth, .. } if depth.get() == 1 => &COMMITTED,
            InstrumentationEvent::RollbackTransaction { .. } => &ROLLED_BACK,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// SQLite's write transactions are opened by hand (`BEGIN IMMEDIATE`, which diesel's
/// transaction manager does not issue), so they are counted where they are opened and
/// ended.
pub(super) fn sqlite_transaction(outcome: SqliteTransaction) {
    let counter = match outcome {
        SqliteTransaction::Begun => &BEGUN,
        SqliteTransaction::Committed => &COMMITTED,
        SqliteTransaction::RolledBack => &ROLLED_BACK,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A step of a hand-opened SQLite transaction.
pub(super) enum SqliteTransaction {
    Begun,
    Committed,
    RolledBack,
}

fn counting() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(Counting))
}

/// Makes every connection opened from now on count its work.
pub fn install() {
    // Only fails when the lock is poisoned, which a plain function store cannot cause.
    let _ = diesel::connection::set_default_instrumentation(counting);
}
