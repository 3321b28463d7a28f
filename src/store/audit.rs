//! Audit log persistence: append, checkpoint, verify, list. See [`crate::audit`] for the design.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::cases::visible_cases;
use super::schema::{audit_chains, audit_checkpoints, audit_log, cases, panels};
use super::trust::{AuditTrust, Witness};
use super::{DbConnection, MultiBackend, StoreError, write_transaction};
use crate::audit::{
    AuditContext, AuditEvent, ChainKey, CheckpointRecord, EntryFields, EntryKey, GENESIS_HASH,
    PublicKey, SealedHead, StoredEntry, StreamRecord, Verifier, VerifyReport, canonical_json,
    entry_hash,
};
use crate::domain::access::{
    COMPARTMENT_ROLES, ListScope, ScopeBranch, covered_audit_actions, hidden_audit_actions,
};

/// One unit of work's audit state: the entry key, and the streams it created.
struct Unit {
    key: EntryKey,
    /// Open [`write_transaction`]s on this thread, outermost first: how many of
    /// `pending` each found when it began.
    transactions: Vec<usize>,
    /// Streams created in the open transactions, with their first entries.
    pending: Vec<StreamRecord>,
    /// Streams whose creating transaction committed.
    committed: Vec<StreamRecord>,
    /// Streams created outside any [`write_transaction`]: whether they exist is
    /// asked of the database afterwards.
    untracked: Vec<String>,
}

thread_local! {
    /// The audit unit of this thread, set for the duration of [`in_unit`] (the store
    /// sets it around every unit of work).
    static UNIT: RefCell<Option<Unit>> = const { RefCell::new(None) };
}

/// Runs `f` with `key` as the key of every entry appended on this thread meanwhile.
/// Appending without a key fails rather than write an unkeyed entry.
pub fn with_entry_key<T>(key: &EntryKey, f: impl FnOnce() -> T) -> T {
    in_unit(key, f).0
}

/// The streams a unit of work created: those whose transaction committed, with their
/// records, and those created outside [`write_transaction`], for
/// [`new_stream_records`] to look up.
#[derive(Debug, Default)]
pub struct CreatedStreams {
    /// Committed, with the hash of their first entry.
    pub committed: Vec<StreamRecord>,
    /// To be looked up (their transaction was not one this module saw end).
    pub untracked: Vec<String>,
}

impl CreatedStreams {
    /// True when the unit created no stream.
    pub fn is_empty(&self) -> bool {
        self.committed.is_empty() && self.untracked.is_empty()
    }
}

/// Like [`with_entry_key`], and also returns the streams that `f` created.
pub fn in_unit<T>(key: &EntryKey, f: impl FnOnce() -> T) -> (T, CreatedStreams) {
    struct Restore(Option<Unit>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            UNIT.with(|u| *u.borrow_mut() = previous);
        }
    }
    let fresh = Unit {
        key: key.clone(),
        transactions: Vec::new(),
        pending: Vec::new(),
        committed: Vec::new(),
        untracked: Vec::new(),
    };
    let restore = Restore(UNIT.with(|u| u.borrow_mut().replace(fresh)));
    let out = f();
    let created = UNIT.with(|u| {
        u.borrow_mut()
            .as_mut()
            .map(|u| CreatedStreams {
                committed: std::mem::take(&mut u.committed),
                untracked: std::mem::take(&mut u.untracked),
            })
            .unwrap_or_default()
    });
    drop(restore);
    (out, created)
}

/// Called by [`write_transaction`] as it begins a transaction.
pub(super) fn transaction_began() {
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            u.transactions.push(u.pending.len());
        }
    });
}

/// Called by [`write_transaction`] as its transaction ends: the streams it created
/// are committed once the outermost transaction commits, and forgotten when it rolls
/// back (a stream that does not exist must not be witnessed).
pub(super) fn transaction_ended(committed: bool) {
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            let Some(mark) = u.transactions.pop() else {
                return;
            };
            if !committed {
                u.pending.truncate(mark);
            } else if u.transactions.is_empty() {
                let done = std::mem::take(&mut u.pending);
                u.committed.extend(done);
            }
        }
    });
}

fn current_entry_key() -> QueryResult<EntryKey> {
    UNIT.with(|u| u.borrow().as_ref().map(|u| u.key.clone()))
        .ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("no audit entry key on this thread".into())
        })
}

fn note_new_stream(record: StreamRecord) {
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            if u.transactions.is_empty() {
                u.untracked.push(record.chain_key);
            } else {
                u.pending.push(record);
            }
        }
    });
}

/// The witness records of those of `keys` that now exist (their transaction
/// committed): each stream with the hash of its first entry. Written to the witness
/// (after the connection is released), deleting a whole stream before any checkpoint
/// seals it is still found.
pub fn new_stream_records(
    conn: &mut DbConnection,
    keys: &[String],
) -> QueryResult<Vec<StreamRecord>> {
    let mut records = Vec::with_capacity(keys.len());
    for key in keys {
        let first: Option<(String, NaiveDateTime)> = audit_log::table
            .filter(audit_log::chain_key.eq(key))
            .filter(audit_log::seq.eq(1_i64))
            .select((audit_log::hash, audit_log::occurred_at))
            .first(conn)
            .optional()?;
        if let Some((first_hash, created_at)) = first {
            records.push(StreamRecord {
                chain_key: key.clone(),
                first_hash,
                created_at,
            });
        }
    }
    Ok(records)
}

/// An audit entry as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
#[diesel(treat_none_as_default_value = false)]
pub struct AuditEntryRow {
    /// Entry id (UUID v7: time-ordered).
    pub id: String,
    /// Stream.
    pub chain_key: String,
    /// Position in the stream, from 1.
    pub seq: i64,
    /// When (UTC).
    pub occurred_at: NaiveDateTime,
    /// The request that carried it.
    pub request_id: Option<String>,
    /// Who.
    pub actor_sub: String,
    /// Their roles.
    pub actor_roles: String,
    /// The area concerned.
    pub area: String,
    /// What.
    pub action: String,
    /// The case concerned.
    pub case_id: Option<String>,
    /// `ok` or `denied`.
    pub outcome: String,
    /// Canonical JSON, no personal data.
    pub details: String,
    /// The previous entry's hash in this stream.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntryRow {
    fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            id: &self.id,
            chain_key: &self.chain_key,
            seq: self.seq,
            occurred_at: self.occurred_at,
            request_id: self.request_id.as_deref(),
            actor_sub: &self.actor_sub,
            actor_roles: &self.actor_roles,
            area: &self.area,
            action: &self.action,
            case_id: self.case_id.as_deref(),
            outcome: &self.outcome,
            details: &self.details,
        }
    }
}

/// A checkpoint as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_checkpoints)]
#[diesel(treat_none_as_default_value = false)]
pub struct CheckpointRow {
    /// Position in the checkpoint chain, from 1.
    pub seq: i64,
    /// When.
    pub created_at: NaiveDateTime,
    /// Canonical JSON: stream → {seq, hash} for each stream that moved.
    pub heads: String,
    /// The previous checkpoint's hash.
    pub prev_hash: String,
    /// This checkpoint's hash.
    pub hash: String,
    /// Ed25519 signature of the hash, base64.
    pub signature: String,
}

impl From<CheckpointRow> for CheckpointRecord {
    fn from(r: CheckpointRow) -> CheckpointRecord {
        CheckpointRecord {
            seq: r.seq,
            created_at: r.created_at,
            heads: r.heads,
            prev_hash: r.prev_hash,
            hash: r.hash,
            signature: r.signature,
        }
    }
}

impl From<CheckpointRecord> for CheckpointRow {
    fn from(r: CheckpointRecord) -> CheckpointRow {
        CheckpointRow {
            seq: r.seq,
            created_at: r.created_at,
            heads: r.heads,
            prev_hash: r.prev_hash,
            hash: r.hash,
            signature: r.signature,
        }
    }
}

/// The entries of `events`, chained onto `heads` (each stream's last seq and hash),
/// which move to the new heads.
/// Chaining is deterministic for given `ids`, so a stream's entries come out the same
/// each time they are chained from the same head.
fn chain_entries(
    entry_key: &EntryKey,
    ctx: &AuditContext,
    (events, ids): (&[AuditEvent], &[String]),
    now: NaiveDateTime,
    heads: &mut BTreeMap<String, (i64, String)>,
) -> QueryResult<Vec<AuditEntryRow>> {
    let mut rows = Vec::with_capacity(events.len());
    for (event, id) in events.iter().zip(ids) {
        let Some((seq, prev)) = heads.get_mut(event.chain.as_str()) else {
            return Err(diesel::result::Error::NotFound);
        };
        let mut row = AuditEntryRow {
            id: id.clone(),
            chain_key: event.chain.as_str().to_owned(),
            seq: *seq + 1,
            occurred_at: now,
            request_id: ctx.request_id.clone(),
            actor_sub: ctx.actor_sub.clone(),
            actor_roles: ctx.actor_roles.clone(),
            area: event.area.clone(),
            action: event.action.clone(),
            case_id: event.case_id.map(|id| id.to_string()),
            outcome: event.outcome.as_str().to_owned(),
            details: canonical_json(&event.details),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        row.hash = entry_hash(entry_key, &row.prev_hash, &row.fields());
        *seq = row.seq;
        *prev = row.hash.clone();
        rows.push(row);
    }
    Ok(rows)
}

/// Creates the head of each of `keys` that does not exist yet, already at its final
/// position in `heads` (the streams' entries chained from the start); the keys that
/// did exist. A created head is the creating transaction's until it commits, so a
/// concurrent creator of the same stream waits and then finds it existing.
fn create_heads(
    conn: &mut DbConnection,
    keys: &[&str],
    heads: &BTreeMap<String, (i64, String)>,
    first_hashes: &BTreeMap<&str, &str>,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let mut existing = Vec::new();
    for key in keys {
        let (seq, hash) = &heads[*key];
        let head = (
            audit_chains::chain_key.eq(*key),
            audit_chains::head_seq.eq(*seq),
            audit_chains::head_hash.eq(hash),
            audit_chains::updated_at.eq(now),
        );
        let created = match conn {
            DbConnection::Postgres(pg) => diesel::insert_into(audit_chains::table)
                .values(head)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConnection::Sqlite(lite) => diesel::insert_or_ignore_into(audit_chains::table)
                .values(head)
                .execute(lite)?,
        };
        if created == 1 {
            note_new_stream(StreamRecord {
                chain_key: (*key).to_owned(),
                first_hash: first_hashes[*key].to_owned(),
                created_at: now,
            });
        } else {
            existing.push((*key).to_owned());
        }
    }
    Ok(existing)
}

/// Locks (PostgreSQL) and reads the heads of existing streams, in key order so that
/// two transactions touching the same streams cannot deadlock.
fn lock_heads(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Vec<(String, i64, String)>> {
    let query = audit_chains::table
        .filter(audit_chains::chain_key.eq_any(keys))
        .order(audit_chains::chain_key)
        .select((
            audit_chains::chain_key,
            audit_chains::head_seq,
            audit_chains::head_hash,
        ));
    match conn {
        DbConnection::Postgres(pg) => query.for_update().load(pg),
        // The enclosing BEGIN IMMEDIATE already holds SQLite's single write lock.
        DbConnection::Sqlite(lite) => query.load(lite),
    }
}

/// Appends `events` to their streams inside the caller's transaction, hashed with the
/// entry key of [`with_entry_key`].
///
/// Every stream is first taken to be new: its entries are chained from the start and
/// its head is created at its final position, which for a new case's stream (every
/// intake) is one statement. Streams that already existed are then locked, chained
/// from their heads, and their heads moved.
pub fn append(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    events: &[AuditEvent],
) -> QueryResult<Vec<AuditEntryRow>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let entry_key = current_entry_key()?;
    let now = crate::audit::now();
    let keys: Vec<&str> = {
        let mut k: Vec<&str> = events.iter().map(|e| e.chain.as_str()).collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    let genesis = || -> BTreeMap<String, (i64, String)> {
        keys.iter()
            .map(|k| ((*k).to_owned(), (0, GENESIS_HASH.to_owned())))
            .collect()
    };
    let ids: Vec<String> = events
        .iter()
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let mut heads = genesis();
    let mut rows = chain_entries(&entry_key, ctx, (events, &ids), now, &mut heads)?;
    let first_hashes: BTreeMap<&str, &str> = rows
        .iter()
        .filter(|r| r.seq == 1)
        .map(|r| (r.chain_key.as_str(), r.hash.as_str()))
        .collect();
    let existing = create_heads(conn, &keys, &heads, &first_hashes, now)?;
    if !existing.is_empty() {
        let mut heads = genesis();
        let locked = lock_heads(conn, &existing)?;
        if locked.len() != existing.len() {
            return Err(diesel::result::Error::NotFound);
        }
        for (key, seq, hash) in locked {
            heads.insert(key, (seq, hash));
        }
        // Streams created above start from the start again and come out the same.
        rows = chain_entries(&entry_key, ctx, (events, &ids), now, &mut heads)?;
        for key in &existing {
            let (seq, hash) = &heads[key];
            diesel::update(audit_chains::table.find(key))
                .set((
                    audit_chains::head_seq.eq(seq),
                    audit_chains::head_hash.eq(hash),
                    audit_chains::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    // One statement per entry: batch inserts do not pass through the two-backend
    // connection, and a single row keeps one prepared statement.
    for row in &rows {
        diesel::insert_into(audit_log::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(rows)
}

/// Seals the heads of every stream that moved since the last checkpoint into a new
/// signed checkpoint, in its own transaction, then writes it to the witness (first
/// catching up any of the recent checkpoints the witness lacks). `None` when nothing
/// moved.
pub fn checkpoint(
    conn: &mut DbConnection,
    trust: &AuditTrust,
) -> Result<Option<CheckpointRow>, StoreError> {
    witness_pending(conn, &trust.witness, &trust.public_key(), CatchUp::Recent)?;
    let sealed = write_transaction(conn, |conn| -> QueryResult<Option<CheckpointRow>> {
        let moved = audit_chains::table
            .filter(audit_chains::head_seq.gt(audit_chains::checkpointed_seq))
            .order(audit_chains::chain_key)
            .select((
                audit_chains::chain_key,
                audit_chains::head_seq,
                audit_chains::head_hash,
            ));
        let moved: Vec<(String, i64, String)> = match conn {
            DbConnection::Postgres(pg) => {
                // One checkpoint writer at a time; appenders are not blocked by this lock.
                diesel::sql_query("SELECT pg_advisory_xact_lock(7274692001)").execute(pg)?;
                // Read without locking: a head that moves meanwhile was committed after
                // this read and is sealed by the next checkpoint. Locking every moved head
                // here held the streams of busy actors through the whole checkpoint, and
                // stalled intake every checkpoint interval.
                moved.load(pg)?
            }
            DbConnection::Sqlite(lite) => moved.load(lite)?,
        };
        if moved.is_empty() {
            return Ok(None);
        }
        let last: Option<(i64, String)> = audit_checkpoints::table
            .order(audit_checkpoints::seq.desc())
            .select((audit_checkpoints::seq, audit_checkpoints::hash))
            .first(conn)
            .optional()?;
        let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_owned()));
        let sealed: BTreeMap<&str, SealedHead> = moved
            .iter()
            .map(|(k, seq, hash)| {
                (
                    k.as_str(),
                    SealedHead {
                        seq: *seq,
                        hash: hash.clone(),
                    },
                )
            })
            .collect();
        let heads = canonical_json(
            &serde_json::to_value(&sealed)
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
        );
        let record = CheckpointRecord::seal(
            &trust.checkpoint_key,
            prev_seq,
            prev_hash,
            crate::audit::now(),
            heads,
        );
        let row = CheckpointRow::from(record);
        diesel::insert_into(audit_checkpoints::table)
            .values(&row)
            .execute(conn)?;
        mark_checkpointed(conn, &moved)?;
        Ok(Some(row))
    })?;
    if let Some(row) = &sealed {
        trust.witness.record(&row.clone().into())?;
    }
    Ok(sealed)
}

/// Records that the streams' heads up to the sealed positions are checkpointed. Only the
/// checkpoint writer (one at a time) changes `checkpointed_seq`, so it never goes back.
fn mark_checkpointed(conn: &mut DbConnection, sealed: &[(String, i64, String)]) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(pg) => {
            use diesel::sql_types::{Array, BigInt, Text};
            let keys: Vec<&str> = sealed.iter().map(|(k, _, _)| k.as_str()).collect();
            let seqs: Vec<i64> = sealed.iter().map(|(_, s, _)| *s).collect();
            // In key order, as appenders lock heads, so that the two cannot deadlock; the
            // rows stay locked only for one statement and the commit, not the whole
            // checkpoint, and one statement replaces a round trip per stream.
            diesel::sql_query(
                "SELECT 1 FROM audit_chains WHERE chain_key = ANY($1) \
                 ORDER BY chain_key FOR UPDATE",
            )
            .bind::<Array<Text>, _>(&keys)
            .execute(pg)?;
            diesel::sql_query(
                "UPDATE audit_chains AS c SET checkpointed_seq = v.seq \
                 FROM unnest($1::text[], $2::bigint[]) AS v(chain_key, seq) \
                 WHERE c.chain_key = v.chain_key",
            )
            .bind::<Array<Text>, _>(&keys)
            .bind::<Array<BigInt>, _>(&seqs)
            .execute(pg)?;
        }
        // SQLite: in process, under the transaction's single write lock.
        DbConnection::Sqlite(lite) => {
            for (key, seq, _) in sealed {
                diesel::update(audit_chains::table.find(key))
                    .set(audit_chains::checkpointed_seq.eq(seq))
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// Checkpoints looked at, newest first, when a checkpoint catches the witness up.
const WITNESS_CATCH_UP: i64 = 100;

/// How far back [`witness_pending`] looks for checkpoints the witness lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatchUp {
    /// The newest [`WITNESS_CATCH_UP`] (each checkpoint: a file lookup each).
    Recent,
    /// Every checkpoint (start-up: one listing of the directory).
    All,
}

/// Writes to the witness every checkpoint it lacks among those `scope` looks at, below
/// the newest file as well as above it: an instance that died between its commit and its
/// witness write leaves a gap that another instance's later checkpoint does not fill.
/// Only checkpoints signed with our key are written: a forged row is left for the
/// verifier to report. When none is left missing, the witness is recorded as caught up.
fn witness_pending(
    conn: &mut DbConnection,
    witness: &Witness,
    public: &PublicKey,
    scope: CatchUp,
) -> Result<(), StoreError> {
    let mut seqs = audit_checkpoints::table
        .order(audit_checkpoints::seq.desc())
        .select(audit_checkpoints::seq)
        .into_boxed();
    if scope == CatchUp::Recent {
        seqs = seqs.limit(WITNESS_CATCH_UP);
    }
    let seqs: Vec<i64> = seqs.load(conn)?;
    let missing: Vec<i64> = match scope {
        CatchUp::Recent => seqs.into_iter().filter(|seq| !witness.has(*seq)).collect(),
        CatchUp::All => {
            let present = witness.checkpoint_seqs()?;
            seqs.into_iter()
                .filter(|seq| !present.contains(seq))
                .collect()
        }
    };
    for chunk in missing.chunks(500) {
        let mut rows: Vec<CheckpointRow> = audit_checkpoints::table
            .filter(audit_checkpoints::seq.eq_any(chunk.to_vec()))
            .select(CheckpointRow::as_select())
            .load(conn)?;
        rows.sort_by_key(|r| r.seq);
        for record in rows.into_iter().map(CheckpointRecord::from) {
            if !public.verifies(&record.hash, &record.signature) {
                tracing::warn!(
                    checkpoint.seq = record.seq,
                    "a checkpoint the witness lacks is not signed with our key: not witnessed"
                );
                continue;
            }
            witness.record(&record)?;
            tracing::warn!(
                checkpoint.seq = record.seq,
                "audit checkpoint witnessed late"
            );
        }
    }
    witness.caught_up();
    Ok(())
}

/// Start-up's catch-up: writes every checkpoint the witness lacks, and queues again the
/// record of every stream no checkpoint has sealed yet (its first witness file may have
/// been lost with a crash or a failed write; a stream written twice is no harm). The
/// number of stream records queued.
pub fn catch_up_witness(conn: &mut DbConnection, trust: &AuditTrust) -> Result<usize, StoreError> {
    let streams = unsealed_streams(conn)?;
    let queued = streams.len();
    trust.streams.queue(streams);
    witness_pending(conn, &trust.witness, &trust.public_key(), CatchUp::All)?;
    Ok(queued)
}

/// The witness records of every stream whose head no checkpoint has sealed yet, that is
/// every stream created since the last checkpoint (more when checkpoints are off).
pub fn unsealed_streams(conn: &mut DbConnection) -> QueryResult<Vec<StreamRecord>> {
    let keys: Vec<String> = audit_chains::table
        .filter(audit_chains::checkpointed_seq.eq(0_i64))
        .select(audit_chains::chain_key)
        .load(conn)?;
    let mut records = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let firsts: Vec<(String, String, NaiveDateTime)> = audit_log::table
            .filter(audit_log::chain_key.eq_any(chunk.to_vec()))
            .filter(audit_log::seq.eq(1_i64))
            .select((
                audit_log::chain_key,
                audit_log::hash,
                audit_log::occurred_at,
            ))
            .load(conn)?;
        records.extend(
            firsts
                .into_iter()
                .map(|(chain_key, first_hash, created_at)| StreamRecord {
                    chain_key,
                    first_hash,
                    created_at,
                }),
        );
    }
    Ok(records)
}

/// Entries read per query while verifying.
const VERIFY_BATCH: i64 = 10_000;

/// Verifies the whole log against one consistent snapshot, streaming it in batches:
/// entry hashes under `entry_key`, checkpoint signatures under `public`, every
/// checkpoint against the `witness` when given, and a stream for every case and panel.
pub fn verify(
    conn: &mut DbConnection,
    entry_key: &EntryKey,
    public: &PublicKey,
    witness: Option<&Witness>,
) -> Result<VerifyReport, StoreError> {
    // Read the witness first: a checkpoint sealed meanwhile is then in the database
    // snapshot but not yet in this listing, never the other way round.
    let witnessed = witness.map(Witness::read_all).transpose()?;
    let witnessed_streams = witness.map(Witness::read_streams).transpose()?;
    let report = conn.transaction(|conn| {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(pg)?;
        }
        let mut verifier = Verifier::new(sealed_heads(conn)?, entry_key.clone(), *public);
        let checkpoints = checkpoint_records(conn)?;
        verifier.checkpoints(&checkpoints, witnessed.as_deref());
        verifier.expect_streams(stream_owners(conn)?);
        if let Some(streams) = &witnessed_streams {
            verifier.witnessed_streams(streams);
        }
        // Reading and checking overlap: this thread reads the next batch while another
        // checks the last. The channel holds at most one batch waiting, so memory stays
        // flat however long the log.
        std::thread::scope(|scope| {
            let (send, receive) = std::sync::mpsc::sync_channel::<Vec<AuditEntryRow>>(1);
            let checker = scope.spawn(move || {
                for batch in receive {
                    for row in &batch {
                        verifier.entry(&StoredEntry {
                            fields: row.fields(),
                            prev_hash: &row.prev_hash,
                            hash: &row.hash,
                        });
                    }
                }
                verifier
            });
            let mut after: Option<(String, i64)> = None;
            let read = loop {
                let batch = match entries_after(conn, after.as_ref()) {
                    Ok(batch) => batch,
                    Err(e) => break Err(e),
                };
                let full = batch.len() as i64 == VERIFY_BATCH;
                after = batch.last().map(|last| (last.chain_key.clone(), last.seq));
                if send.send(batch).is_err() || !full {
                    break Ok(());
                }
            };
            drop(send);
            let verifier = checker.join().map_err(|_| {
                diesel::result::Error::QueryBuilderError("the audit checker stopped".into())
            })?;
            read.map(|()| verifier)
        })
        .map(Verifier::finish)
    })?;
    Ok(report)
}

/// The sealed head of every stream, by stream key.
fn sealed_heads(conn: &mut DbConnection) -> QueryResult<BTreeMap<String, SealedHead>> {
    Ok(audit_chains::table
        .select((
            audit_chains::chain_key,
            audit_chains::head_seq,
            audit_chains::head_hash,
        ))
        .load::<(String, i64, String)>(conn)?
        .into_iter()
        .map(|(k, seq, hash)| (k, SealedHead { seq, hash }))
        .collect())
}

/// Every checkpoint, oldest first.
fn checkpoint_records(conn: &mut DbConnection) -> QueryResult<Vec<CheckpointRecord>> {
    Ok(audit_checkpoints::table
        .order(audit_checkpoints::seq)
        .select(CheckpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(CheckpointRecord::from)
        .collect())
}

/// The next batch of entries in (stream, position) order, after `after` when given.
fn entries_after(
    conn: &mut DbConnection,
    after: Option<&(String, i64)>,
) -> QueryResult<Vec<AuditEntryRow>> {
    let mut query = audit_log::table
        .select(AuditEntryRow::as_select())
        .order((audit_log::chain_key, audit_log::seq))
        .limit(VERIFY_BATCH)
        .into_boxed();
    if let Some((key, seq)) = after {
        // The first bound lets the (chain_key, seq) index seek to the position.
        query = query.filter(
            audit_log::chain_key.ge(key.clone()).and(
                audit_log::chain_key
                    .gt(key.clone())
                    .or(audit_log::seq.gt(*seq)),
            ),
        );
    }
    query.load(conn)
}

/// The streams that must exist: each case's and each panel's, whose first entry is
/// written in the transaction that creates the row.
fn stream_owners(conn: &mut DbConnection) -> QueryResult<Vec<ChainKey>> {
    let case_ids: Vec<String> = cases::table.select(cases::id).load(conn)?;
    let panel_ids: Vec<String> = panels::table.select(panels::id).load(conn)?;
    let parse = |id: &str| uuid::Uuid::parse_str(id).unwrap_or_default();
    Ok(case_ids
        .iter()
        .map(|id| ChainKey::case(parse(id)))
        .chain(panel_ids.iter().map(|id| ChainKey::panel(parse(id))))
        .collect())
}

/// The action of each of the entries `ids` that exists: (id, action).
pub fn actions_of(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<EntryFacts>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        found.extend(
            audit_log::table
                .filter(audit_log::id.eq_any(chunk.to_vec()))
                .select((
                    audit_log::id,
                    audit_log::action,
                    audit_log::occurred_at,
                    audit_log::actor_roles,
                    audit_log::outcome,
                ))
                .load::<EntryFacts>(conn)?,
        );
    }
    Ok(found)
}

/// What decides who may see an entry, beside its case.
#[derive(Debug, Clone, Queryable)]
pub struct EntryFacts {
    /// Entry id.
    pub id: String,
    /// Action.
    pub action: String,
    /// When.
    pub occurred_at: NaiveDateTime,
    /// The actor's roles.
    pub actor_roles: String,
    /// `ok` or `denied`.
    pub outcome: String,
}

/// Which way a listing runs: by time, then id (UUID v7) among entries of equal time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    OldestFirst,
    /// Newest first.
    NewestFirst,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries of these areas; `None` for every area.
    pub areas: Option<Vec<String>>,
    /// Only entries a caller with this scope may see ([`visible_entries`]); `None`
    /// for every entry.
    pub seen_by: Option<ListScope>,
    /// Only this case.
    pub case_id: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only these stored actions.
    pub actions: Option<Vec<String>>,
    /// At or after.
    pub from: Option<NaiveDateTime>,
    /// Before.
    pub to: Option<NaiveDateTime>,
    /// Strictly beyond this (time, id) position, in `order`.
    pub after: Option<(NaiveDateTime, String)>,
    /// Which way to list.
    pub order: Order,
}

/// A condition on `audit_log`.
pub type EntryCondition =
    Box<dyn BoxableExpression<audit_log::table, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// The SQL form of the entries a caller with `scope` (its parts that show case detail)
/// may see: every entry about no case, and an entry about a case when a part of the
/// scope holds the case, a police-only action only through a part with the police
/// view. Built from the scope as [`super::cases::visible_cases`] builds case lists, so
/// the rule stays in [`crate::domain::access`]; the caller still decides each entry.
pub fn visible_entries(scope: &ListScope) -> EntryCondition {
    let (police, other): (Vec<ScopeBranch>, Vec<ScopeBranch>) = scope
        .clone()
        .with_case_detail()
        .branches
        .into_iter()
        .partition(|b| b.view.in_police_compartment());
    let about = |branches: Vec<ScopeBranch>, shared_only| AboutCases {
        cases: visible_cases(&ListScope { branches }),
        shared_only,
    };
    let mut visible: EntryCondition = Box::new(audit_log::case_id.is_null());
    if !police.is_empty() {
        visible = Box::new(visible.or(about(police, false)));
    }
    if !other.is_empty() {
        let shown = audit_log::action.ne_all(hidden_audit_actions());
        visible = Box::new(visible.or(about(other, true).and(shown)));
    }
    visible
}

/// `EXISTS (SELECT 1 FROM cases WHERE cases.id = audit_log.case_id AND <condition>)`. Diesel's own
/// subselect cannot carry a condition boxed for the two-backend connection, so this
/// writes the same SQL around it. With `shared_only`, the entries made inside the
/// police compartment are left out too, as
/// [`crate::domain::access::made_in_police_compartment`] says.
struct AboutCases {
    cases: super::cases::CaseCondition,
    shared_only: bool,
}

impl diesel::query_builder::QueryId for AboutCases {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Expression for AboutCases {
    type SqlType = diesel::sql_types::Bool;
}

impl AppearsOnTable<audit_log::table> for AboutCases {}

impl SelectableExpression<audit_log::table> for AboutCases {}

impl diesel::expression::ValidGrouping<()> for AboutCases {
    type IsAggregate = diesel::expression::is_aggregate::No;
}

impl diesel::query_builder::QueryFragment<MultiBackend> for AboutCases {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, MultiBackend>,
    ) -> QueryResult<()> {
        // EXISTS, not IN: SQLite builds the whole IN list (every case the caller may see,
        // for a national auditor every case) before reading the first entry, which took
        // a second per page at a million entries; a correlated EXISTS looks up only the
        // cases of the entries read, and stops with the page. PostgreSQL plans both as
        // the same semi-join.
        out.push_sql(
            r#"EXISTS (SELECT 1 FROM "cases" WHERE "cases"."id" = "audit_log"."case_id" AND ("#,
        );
        self.cases.walk_ast(out.reborrow())?;
        out.push_sql(")");
        if self.shared_only {
            out.push_sql(
                r#" AND ("cases"."police_only_since" IS NULL OR "audit_log"."occurred_at" <= "cases"."police_only_since""#,
            );
            for action in covered_audit_actions() {
                // Names of the pathway's own actions: no quoting is needed.
                out.push_sql(&format!(
                    r#" OR ("audit_log"."action" = '{action}' AND "audit_log"."outcome" = 'ok')"#
                ));
            }
            out.push_sql(" OR NOT (");
            // The roles are stored comma-separated; each is matched whole.
            for (i, role) in COMPARTMENT_ROLES.iter().enumerate() {
                if i > 0 {
                    out.push_sql(" OR ");
                }
                out.push_sql(&format!(
                    r#"(',' || "audit_log"."actor_roles" || ',') LIKE '%,{},%'"#,
                    role.as_str()
                ));
            }
            out.push_sql("))");
        }
        out.push_sql(")");
        Ok(())
    }
}

/// The entries `f` admits, but for its position (`after`) and order.
fn admitted(f: &AuditFilter) -> EntryCondition {
    let mut c: EntryCondition = Box::new(audit_log::id.eq(audit_log::id));
    if let Some(areas) = &f.areas {
        c = match areas.as_slice() {
            // `=` rather than `IN (…)` lets every planner seek the (area, …) indexes.
            [one] => Box::new(c.and(audit_log::area.eq(one.clone()))),
            _ => Box::new(c.and(audit_log::area.eq_any(areas.clone()))),
        };
    }
    if let Some(scope) = &f.seen_by {
        c = Box::new(c.and(visible_entries(scope)));
    }
    if let Some(v) = &f.case_id {
        c = Box::new(c.and(audit_log::case_id.eq(v.clone()).assume_not_null()));
    }
    if let Some(v) = &f.actor {
        c = Box::new(c.and(audit_log::actor_sub.eq(v.clone())));
    }
    if let Some(v) = &f.actions {
        c = match v.as_slice() {
            [one] => Box::new(c.and(audit_log::action.eq(one.clone()))),
            _ => Box::new(c.and(audit_log::action.eq_any(v.clone()))),
        };
    }
    if let Some(v) = f.from {
        c = Box::new(c.and(audit_log::occurred_at.ge(v)));
    }
    if let Some(v) = f.to {
        c = Box::new(c.and(audit_log::occurred_at.lt(v)));
    }
    c
}

/// How many entries `f` admits, and in how many streams.
pub fn count(conn: &mut DbConnection, f: &AuditFilter) -> QueryResult<(i64, i64)> {
    audit_log::table
        .filter(admitted(f))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::count(audit_log::chain_key).aggregate_distinct(),
        ))
        .first(conn)
}

/// Lists entries in `f.order`, up to `limit`, reading only the entries the filter
/// admits (the indexes of migration 000030 match these shapes). Who may see each
/// entry is still decided by the caller (the audit log use case).
pub fn list(
    conn: &mut DbConnection,
    f: &AuditFilter,
    limit: i64,
) -> QueryResult<Vec<AuditEntryRow>> {
    let mut q = audit_log::table
        .select(AuditEntryRow::as_select())
        .filter(admitted(f))
        .limit(limit)
        .into_boxed();
    q = match f.order {
        Order::OldestFirst => q.order((audit_log::occurred_at.asc(), audit_log::id.asc())),
        Order::NewestFirst => q.order((audit_log::occurred_at.desc(), audit_log::id.desc())),
    };
    // The first bound alone is what lets an index seek to the cursor rather than walk
    // up to it; the second makes it exact among entries of equal time.
    if let Some((t, id)) = &f.after {
        q = match f.order {
            Order::OldestFirst => q.filter(
                audit_log::occurred_at.ge(*t).and(
                    audit_log::occurred_at
                        .gt(*t)
                        .or(audit_log::id.gt(id.clone())),
                ),
            ),
            Order::NewestFirst => q.filter(
                audit_log::occurred_at.le(*t).and(
                    audit_log::occurred_at
                        .lt(*t)
                        .or(audit_log::id.lt(id.clone())),
                ),
            ),
        };
    }
    q.load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;
    use serde_json::json;

    fn migrated(dir: &std::path::Path) -> DbConnection {
        let path = dir.join("audit.db");
        let mut conn = DbConnection::establish(path.to_str().unwrap()).unwrap();
        crate::store::run_migrations(&mut conn).unwrap();
        conn
    }

    fn ctx() -> AuditContext {
        AuditContext {
            actor_sub: "officer-1".into(),
            actor_roles: "prevent_officer".into(),
            request_id: None,
        }
    }

    fn about(case: &uuid::Uuid, action: &str) -> AuditEvent {
        AuditEvent::about_case(
            &case.to_string(),
            "E08000035",
            action,
            Outcome::Ok,
            json!({}),
        )
    }

    fn stored(conn: &mut DbConnection, key: &str) -> Vec<(i64, String, String)> {
        audit_log::table
            .filter(audit_log::chain_key.eq(key))
            .order(audit_log::seq)
            .select((audit_log::seq, audit_log::prev_hash, audit_log::hash))
            .load(conn)
            .unwrap()
    }

    fn head(conn: &mut DbConnection, key: &str) -> (i64, String) {
        audit_chains::table
            .find(key)
            .select((audit_chains::head_seq, audit_chains::head_hash))
            .first(conn)
            .unwrap()
    }

    #[test]
    fn a_stream_is_reported_as_created_only_when_its_transaction_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = migrated(dir.path());
        let key = EntryKey::from_bytes([7; 32]);
        let (kept, gone, inner) = (
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
        );
        let (_, created) = in_unit(&key, || {
            write_transaction(&mut conn, |c| {
                append(c, &ctx(), &[about(&kept, "case.submit")])
            })
            .unwrap();
            let refused: QueryResult<()> = write_transaction(&mut conn, |c| {
                append(c, &ctx(), &[about(&gone, "case.submit")])?;
                Err(diesel::result::Error::RollbackTransaction)
            });
            assert!(refused.is_err());
            // A later commit in the same unit does not bring it back.
            write_transaction(&mut conn, |c| {
                append(c, &ctx(), &[about(&kept, "case.read")])
            })
            .unwrap();
        });
        assert!(created.untracked.is_empty(), "{created:?}");
        let keys: Vec<&str> = created
            .committed
            .iter()
            .map(|r| r.chain_key.as_str())
            .collect();
        assert_eq!(
            keys,
            [format!("case:{kept}")],
            "the rolled-back stream is not reported"
        );
        let first = &stored(&mut conn, keys[0])[0];
        assert_eq!(
            created.committed[0].first_hash, first.2,
            "the first entry's hash as stored"
        );
        assert!(stored(&mut conn, &format!("case:{gone}")).is_empty());

        // PostgreSQL nests write transactions as savepoints: a stream created in an
        // inner one waits for the outermost commit.
        let (_, created) = in_unit(&key, || {
            transaction_began();
            transaction_began();
            note_new_stream(StreamRecord {
                chain_key: format!("case:{inner}"),
                first_hash: "h".into(),
                created_at: crate::audit::now(),
            });
            transaction_ended(true);
            transaction_ended(false);
            transaction_began();
            transaction_ended(true);
        });
        assert!(
            created.is_empty(),
            "the outer rollback undoes the inner commit"
        );
    }

    #[test]
    fn entries_chain_the_same_onto_new_and_existing_streams_in_one_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = migrated(dir.path());
        let key = EntryKey::from_bytes([9; 32]);
        let (old, new) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        with_entry_key(&key, || {
            write_transaction(&mut conn, |c| {
                append(c, &ctx(), &[about(&old, "case.submit")])
            })
            .unwrap();
            // One append touching an existing stream and creating another, twice each.
            write_transaction(&mut conn, |c| {
                append(
                    c,
                    &ctx(),
                    &[
                        about(&new, "case.submit"),
                        about(&old, "case.link"),
                        about(&new, "case.read"),
                        about(&old, "case.read"),
                    ],
                )
            })
            .unwrap();
        });
        for case in [old, new] {
            let chain = format!("case:{case}");
            let entries = stored(&mut conn, &chain);
            let mut prev = GENESIS_HASH.to_owned();
            for (i, (seq, prev_hash, hash)) in entries.iter().enumerate() {
                assert_eq!(*seq, i as i64 + 1, "{chain}");
                assert_eq!(*prev_hash, prev, "{chain} seq {seq}");
                prev = hash.clone();
            }
            assert_eq!(
                head(&mut conn, &chain),
                (entries.len() as i64, prev),
                "{chain}"
            );
        }
        let public = crate::audit::CheckpointKey::from_seed([3; 32]).public();
        let report = verify(&mut conn, &key, &public, None).unwrap();
        assert!(report.intact, "{report:?}");
    }
}
