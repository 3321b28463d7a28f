//! What the audit log trusts outside the database: the key files and the witness.
//! See [`crate::audit`] for the threat model.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::audit::{CheckpointKey, CheckpointRecord, EntryKey, PublicKey, StreamRecord};
use crate::config::{Environment, Settings};

/// A key file or the witness could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Production runs only with key files it was given.
    #[error("audit key: {0} is not configured (production never generates audit keys)")]
    NotConfigured(&'static str),
    /// The file is missing, unreadable or not 64 hex digits.
    #[error("audit key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The witness directory could not be created, written or read.
    #[error("audit witness {path}: {source}")]
    Witness {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A witness file is not a checkpoint or stream record.
    #[error("audit witness file {0} is not a checkpoint or stream record")]
    WitnessFile(PathBuf),
}

/// The keys and the witness of one running service.
#[derive(Debug, Clone)]
pub struct AuditTrust {
    /// Keys entry hashes.
    pub entry_key: EntryKey,
    /// Signs checkpoints.
    pub checkpoint_key: CheckpointKey,
    /// Receives a copy of every checkpoint.
    pub witness: Witness,
    /// Writes the records of new streams to `witness`, batched across the requests of
    /// this process.
    pub streams: Arc<StreamWitness>,
}

impl AuditTrust {
    /// Loads the key files named in the settings and opens the witness directory. Local
    /// use generates missing keys under their configured paths (mode 0600) when
    /// `generation` allows it, that is over a database that holds nothing made with them.
    pub fn load(settings: &Settings, generation: KeyGeneration) -> Result<AuditTrust, TrustError> {
        let rules = KeyRules::new(settings.environment, generation);
        let audit = &settings.audit;
        let hmac = audit
            .hmac_key_file
            .as_deref()
            .ok_or(TrustError::NotConfigured("audit.hmac_key_file"))?;
        let signing = audit
            .signing_key_file
            .as_deref()
            .ok_or(TrustError::NotConfigured("audit.signing_key_file"))?;
        let entry_key = EntryKey::from_bytes(key_bytes(hmac, rules)?);
        let checkpoint_key = CheckpointKey::from_seed(key_bytes(signing, rules)?);
        let witness = Witness::open(&audit.witness_dir)?;
        Ok(AuditTrust {
            entry_key,
            checkpoint_key,
            streams: Arc::new(StreamWitness::new(witness.clone())),
            witness,
        })
    }

    /// The public key that verifies checkpoint signatures.
    pub fn public_key(&self) -> PublicKey {
        self.checkpoint_key.public()
    }

    /// Why the witness cannot be written now, if it cannot: stream records waiting to be
    /// written again, a checkpoint not yet written, or a test write refused. Blocks for
    /// one small file's creation and removal (no fsync): call it off the async threads.
    pub fn witness_problem(&self) -> Option<String> {
        let waiting = self.streams.unwitnessed();
        if let Err(e) = self.witness.probe() {
            return Some(format!("the audit witness cannot be written: {e}"));
        }
        if waiting > 0 {
            // Written, the directory takes files again: write them now, not at the next
            // retry.
            self.streams.retry_now();
            return Some(format!(
                "the audit witness has {waiting} stream records not yet written"
            ));
        }
        self.witness
            .checkpoint_behind()
            .then(|| "the audit witness lacks a sealed checkpoint".to_owned())
    }
}

/// Whether key files that are missing may be generated (local use only: production
/// never generates keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGeneration {
    /// The database holds nothing made with the keys: generate missing ones.
    Allowed,
    /// The database holds records made with the keys (cases, audit entries, data keys,
    /// checkpoints): a missing key is an error, since a new one cannot read them.
    Refused,
}

/// How key files are read: whether a missing one is generated or why it may not be, and
/// whether one that group or others may open is refused or only warned about.
#[derive(Debug, Clone, Copy)]
pub struct KeyRules {
    generate: bool,
    missing_is_data_loss: bool,
    strict: bool,
}

impl KeyRules {
    /// The rules of `environment` over a database that `generation` describes: local use
    /// generates a missing file when allowed and warns about an open one; production
    /// never generates and refuses an open one.
    pub fn new(environment: Environment, generation: KeyGeneration) -> KeyRules {
        let local = environment == Environment::Local;
        KeyRules {
            generate: local && generation == KeyGeneration::Allowed,
            missing_is_data_loss: local && generation == KeyGeneration::Refused,
            strict: !local,
        }
    }

    /// Files that must exist (a key named on the command line, a previous master key).
    pub fn existing(environment: Environment) -> KeyRules {
        KeyRules {
            generate: false,
            missing_is_data_loss: false,
            strict: environment != Environment::Local,
        }
    }
}

fn key_error(path: &Path, reason: impl Into<String>) -> TrustError {
    TrustError::KeyFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads 32 bytes written as 64 hex digits. When the file is missing: writes fresh random
/// ones first, readable by the owner only, if `rules` allow; else fails, saying why a new
/// key will not do. A file that group or others may open is refused (production) or
/// warned about (local use).
pub(crate) fn key_bytes(path: &Path, rules: KeyRules) -> Result<[u8; 32], TrustError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound && rules.generate => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).map_err(|e| key_error(path, e.to_string()))?;
            let text = hex::encode(bytes);
            match write_new(path, format!("{text}\n").as_bytes(), 0o600) {
                Ok(()) => {
                    tracing::warn!(key.file = %path.display(), "generated a local key file");
                    text
                }
                // Another process generated it first: use theirs.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?
                }
                Err(e) => return Err(key_error(path, e.to_string())),
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound && rules.missing_is_data_loss => {
            return Err(key_error(
                path,
                "missing, and the database already holds records made with it: restore the \
                 file from a backup (a new key cannot read them); keys are generated only \
                 for an empty database",
            ));
        }
        Err(e) => return Err(key_error(path, e.to_string())),
    };
    check_private(path, rules)?;
    let bytes = hex::decode(text.trim()).map_err(|_| key_error(path, "not hex digits"))?;
    bytes
        .try_into()
        .map_err(|_| key_error(path, "not 32 bytes (64 hex digits)"))
}

/// A key file must be the service's alone: group or other permission bits are refused
/// (production) or logged at WARN (local use).
fn check_private(path: &Path, rules: KeyRules) -> Result<(), TrustError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| key_error(path, e.to_string()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let reason = format!("group or others may open it (mode {mode:04o}): chmod 600 it");
    if rules.strict {
        return Err(key_error(path, reason));
    }
    tracing::warn!(key.file = %path.display(), key.mode = %format!("{mode:04o}"), "a key file is open to group or others: chmod 600 it (production refuses to start)");
    Ok(())
}

/// Creates `path` with `data`, never overwriting (`AlreadyExists` if it is there), so
/// that it appears whole: written and synced under a temporary name, then hard-linked to
/// its name, then the directory synced.
fn write_new(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        "{TEMPORARY_PREFIX}{}",
        uuid::Uuid::new_v4().simple()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(data)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    written?;
    File::open(dir)?.sync_all()
}

/// An append-only directory of files, each written once (create-new) and fsynced:
/// checkpoints, `checkpoint-<seq>.json`, and batches of new streams' records,
/// `streams-<id>.json` (older deployments also hold one `stream-<sha256 of its
/// key>.json` per stream, still read). It belongs on storage that the database's users
/// cannot rewrite: another host, or a bucket with object lock.
#[derive(Debug, Clone)]
pub struct Witness {
    dir: PathBuf,
    /// True from a checkpoint write that failed until a catch-up finds none missing.
    behind: Arc<AtomicBool>,
}

/// How old a leftover temporary file must be before start-up removes it: a live writer
/// (another instance sharing the directory) links its own within milliseconds.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(60);

impl Witness {
    /// Opens (creating if needed) the witness directory, and removes the temporary files
    /// a crash left in it. A path that is not a directory is refused, saying so.
    pub fn open(dir: &Path) -> Result<Witness, TrustError> {
        let witness_err = |source| TrustError::Witness {
            path: dir.to_owned(),
            source,
        };
        if dir.exists() && !dir.is_dir() {
            return Err(witness_err(std::io::Error::new(
                ErrorKind::NotADirectory,
                "is a file, not a directory: audit.witness_dir must name a directory",
            )));
        }
        std::fs::create_dir_all(dir).map_err(witness_err)?;
        let witness = Witness {
            dir: dir.to_owned(),
            behind: Arc::default(),
        };
        witness.remove_stale_temporaries().map_err(witness_err)?;
        Ok(witness)
    }

    /// Opens an existing witness directory (for verifying: a mistyped path must not
    /// pass as an empty witness).
    pub fn existing(dir: &Path) -> Result<Witness, TrustError> {
        if !dir.is_dir() {
            return Err(TrustError::Witness {
                path: dir.to_owned(),
                source: std::io::Error::new(ErrorKind::NotFound, "not a directory"),
            });
        }
        Ok(Witness {
            dir: dir.to_owned(),
            behind: Arc::default(),
        })
    }

    /// Removes `.tmp-*` files older than [`STALE_TEMPORARY`]: each is a write a crash cut
    /// short before its file was linked under its name, so it witnesses nothing.
    fn remove_stale_temporaries(&self) -> std::io::Result<()> {
        let now = std::time::SystemTime::now();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let temporary = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TEMPORARY_PREFIX));
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= STALE_TEMPORARY);
            if temporary && stale {
                std::fs::remove_file(entry.path())?;
                tracing::warn!(witness.file = %entry.path().display(), "removed a temporary witness file a crash left");
            }
        }
        Ok(())
    }

    /// Proves the directory takes a file: creates a small one and removes it (not synced,
    /// so it costs no disk flush).
    pub fn probe(&self) -> std::io::Result<()> {
        let path = self.dir.join(format!(
            "{TEMPORARY_PREFIX}probe-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .and_then(|mut f| f.write_all(b"probe\n"));
        let removed = std::fs::remove_file(&path);
        written?;
        removed
    }

    /// True while a sealed checkpoint's file could not be written and no catch-up has
    /// written it since (see [`Witness::caught_up`]).
    pub fn checkpoint_behind(&self) -> bool {
        self.behind.load(Ordering::SeqCst)
    }

    /// Records that a catch-up found no checkpoint missing.
    pub fn caught_up(&self) {
        self.behind.store(false, Ordering::SeqCst);
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, seq: i64) -> PathBuf {
        self.dir.join(format!("{CHECKPOINT_PREFIX}{seq:012}.json"))
    }

    /// Writes one checkpoint, whole, and never replaces an existing file. Writing the
    /// same record again (two processes catching up at once) is not an error; a
    /// different one is.
    pub fn record(&self, c: &CheckpointRecord) -> Result<(), TrustError> {
        let written = self.write_once(&self.path_of(c.seq), c);
        if written.is_err() {
            self.behind.store(true, Ordering::SeqCst);
        }
        written
    }

    /// Writes the records of new streams as one file, `streams-<UUID v7>.json` (a JSON
    /// array), created new and fsynced with its directory. Nothing for no records.
    /// Prefer [`StreamWitness::record`], which shares the file and its fsyncs with
    /// concurrent callers.
    pub fn record_streams(&self, records: &[StreamRecord]) -> Result<(), TrustError> {
        if records.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(format!(
            "{STREAM_BATCH_PREFIX}{}.json",
            uuid::Uuid::now_v7().simple()
        ));
        let body =
            serde_json::to_vec(records).map_err(|_| TrustError::WitnessFile(path.clone()))?;
        write_new(&path, &body, 0o644).map_err(|source| TrustError::Witness { path, source })
    }

    fn write_once<T>(&self, path: &Path, record: &T) -> Result<(), TrustError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
    {
        let witness_err = |source| TrustError::Witness {
            path: path.to_owned(),
            source,
        };
        let body = serde_json::to_vec_pretty(record)
            .map_err(|_| TrustError::WitnessFile(path.to_owned()))?;
        match write_new(path, &body, 0o644) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let existing = std::fs::read(path).map_err(witness_err)?;
                match serde_json::from_slice::<T>(&existing) {
                    Ok(same) if same == *record => Ok(()),
                    _ => Err(witness_err(e)),
                }
            }
            Err(e) => Err(witness_err(e)),
        }
    }

    /// True when the witness holds checkpoint `seq`.
    pub fn has(&self, seq: i64) -> bool {
        self.path_of(seq).exists()
    }

    /// The positions of every checkpoint file, read from the names alone.
    pub fn checkpoint_seqs(&self) -> Result<std::collections::BTreeSet<i64>, TrustError> {
        let io = |source| TrustError::Witness {
            path: self.dir.clone(),
            source,
        };
        let mut seqs = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let seq = name
                .to_str()
                .and_then(|n| n.strip_prefix(CHECKPOINT_PREFIX))
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<i64>().ok());
            seqs.extend(seq);
        }
        Ok(seqs)
    }

    /// Every checkpoint file, in order.
    pub fn read_all(&self) -> Result<Vec<CheckpointRecord>, TrustError> {
        let mut records = Vec::new();
        self.read_json(&[CHECKPOINT_PREFIX], |_, path, text| {
            records.push(parse::<CheckpointRecord>(path, text)?);
            Ok(())
        })?;
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }

    /// Every stream record: those of the batch files and of the older one-record files.
    /// Records this process has queued (see [`StreamWitness`]) are written first.
    pub fn read_streams(&self) -> Result<Vec<StreamRecord>, TrustError> {
        settle_all();
        let mut records = Vec::new();
        self.read_json(
            &[STREAM_BATCH_PREFIX, STREAM_PREFIX],
            |prefix, path, text| {
                if prefix == STREAM_BATCH_PREFIX {
                    records.extend(parse::<Vec<StreamRecord>>(path, text)?);
                } else {
                    records.push(parse(path, text)?);
                }
                Ok(())
            },
        )?;
        Ok(records)
    }

    /// Calls `each` with the prefix, path and contents of every `.json` file whose name
    /// starts with one of `prefixes` (the first that matches), in one pass over the
    /// directory; other files are not read.
    fn read_json(
        &self,
        prefixes: &[&'static str],
        mut each: impl FnMut(&'static str, &Path, &[u8]) -> Result<(), TrustError>,
    ) -> Result<(), TrustError> {
        let io = |source| TrustError::Witness {
            path: self.dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let prefix = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.ends_with(".json"))
                .and_then(|n| prefixes.iter().find(|p| n.starts_with(**p)));
            let Some(prefix) = prefix else {
                continue;
            };
            let text = std::fs::read(&path).map_err(|source| TrustError::Witness {
                path: path.clone(),
                source,
            })?;
            each(prefix, &path, &text)?;
        }
        Ok(())
    }
}

const CHECKPOINT_PREFIX: &str = "checkpoint-";
/// A file being written, linked to its name once whole (see [`write_new`]).
const TEMPORARY_PREFIX: &str = ".tmp-";
/// A batch of stream records: many, written by one caller (see [`StreamWitness`]).
const STREAM_BATCH_PREFIX: &str = "streams-";
/// One stream's record, as older deployments wrote them. Note that "streams-" does not
/// start with "stream-": the two kinds are told apart by their whole prefixes.
const STREAM_PREFIX: &str = "stream-";

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &[u8]) -> Result<T, TrustError> {
    serde_json::from_slice(text).map_err(|_| TrustError::WitnessFile(path.to_owned()))
}

/// Writes new streams' records to the witness off the request's path. Every intake
/// creates a stream, and a witness file costs an inode and two fsyncs: waiting for them
/// doubled an intake's latency. Callers queue their records and return; one writer
/// thread takes everything queued, writes it as one file, and repeats while records
/// keep coming (so under load a file holds many), then stops after a short idle spell.
///
/// A batch that cannot be written (a full disk, a directory gone) is logged, counted by
/// [`StreamWitness::unwitnessed`] (readiness reports it) and kept: the writer tries it
/// again with the next records, and on its own every [`RETRY_INTERVAL`], until it is
/// written. What this gives up is only the window between a commit and its batch
/// reaching the disk (milliseconds, or the length of a witness outage): a crash then
/// loses the queued records from memory, and start-up writes again, from the database,
/// every stream no checkpoint has sealed yet (see `store::audit::unsealed_streams`).
/// [`settle_all`] waits for every record queued in this process to be tried; reading the
/// witness's streams and exiting the process both call it.
#[derive(Debug)]
pub struct StreamWitness {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    witness: Witness,
    queue: Mutex<Queue>,
    /// Signalled when records are queued (the writer waits for them) and when a
    /// batch settles (callers of [`StreamWitness::settle`] wait for that).
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    /// Records not yet taken by the writer.
    pending: Vec<StreamRecord>,
    /// Records whose batch could not be written, to be tried again.
    failed: Vec<StreamRecord>,
    /// Of those, how many the writer has taken and is trying now: they are not written
    /// until its write succeeds.
    retrying: usize,
    /// Records ever queued, and ever settled (tried once: written, or failed and kept).
    queued: u64,
    settled: u64,
    /// True while a writer thread runs.
    writing: bool,
    /// Set to make the writer try the failed records now.
    retry_now: bool,
}

/// How long the writer waits for more records before its thread ends.
const WRITER_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

/// How often the writer tries again records it could not write.
pub const RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The most records one batch file holds (start-up's catch-up can queue many).
const MAX_BATCH: usize = 10_000;

/// Every stream witness of this process, for [`settle_all`].
static STREAM_WITNESSES: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

/// Waits until every record queued in this process so far is written (or has failed,
/// been logged and kept for another try).
pub fn settle_all() {
    let live: Vec<Arc<Shared>> = {
        let mut all = STREAM_WITNESSES
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(std::sync::Weak::upgrade).collect()
    };
    for shared in live {
        shared.settle();
    }
}

impl StreamWitness {
    /// Queues stream records for `witness`.
    pub fn new(witness: Witness) -> StreamWitness {
        let shared = Arc::new(Shared {
            witness,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        STREAM_WITNESSES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&shared));
        StreamWitness { shared }
    }

    /// Queues `records` to be written, with whatever else is queued, by the writer
    /// thread (started if none runs).
    pub fn queue(&self, records: Vec<StreamRecord>) {
        if records.is_empty() {
            return;
        }
        let mut queue = self.shared.queue();
        queue.queued += records.len() as u64;
        queue.pending.extend(records);
        self.shared.start_writer(queue);
    }

    /// Waits until every record queued so far is written (or has failed, been logged and
    /// kept for another try).
    pub fn settle(&self) {
        self.shared.settle();
    }

    /// Records whose batch could not be written and that wait for another try.
    pub fn unwitnessed(&self) -> u64 {
        let queue = self.shared.queue();
        (queue.failed.len() + queue.retrying) as u64
    }

    /// Makes the writer try the records it could not write now, rather than at its next
    /// retry.
    pub fn retry_now(&self) {
        let mut queue = self.shared.queue();
        if queue.failed.is_empty() {
            return;
        }
        queue.retry_now = true;
        self.shared.start_writer(queue);
    }
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Every change under this lock is whole before it is released.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the writer, or starts one if none runs.
    fn start_writer(self: &Arc<Self>, mut queue: std::sync::MutexGuard<'_, Queue>) {
        if queue.writing {
            drop(queue);
            self.changed.notify_all();
            return;
        }
        queue.writing = true;
        drop(queue);
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name("audit-witness".into())
            .spawn(move || shared.write_while_queued());
        if spawned.is_err() {
            // No thread to be had: write here rather than not at all.
            self.write_while_queued();
        }
    }

    fn settle(&self) {
        let mut queue = self.queue();
        let target = queue.queued;
        while queue.settled < target {
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The writer: takes everything queued (and what failed before), writes it as one
    /// batch, and again, until nothing has come for [`WRITER_LINGER`] and nothing failed
    /// is left; failed records are tried again every [`RETRY_INTERVAL`].
    fn write_while_queued(&self) {
        let mut queue = self.queue();
        loop {
            let retry_due = !queue.failed.is_empty() && queue.retry_now;
            if queue.pending.is_empty() && !retry_due {
                let wait = if queue.failed.is_empty() {
                    WRITER_LINGER
                } else {
                    RETRY_INTERVAL
                };
                let (q, waited) = self
                    .changed
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(PoisonError::into_inner);
                queue = q;
                if queue.pending.is_empty() && waited.timed_out() {
                    if queue.failed.is_empty() {
                        queue.writing = false;
                        return;
                    }
                    queue.retry_now = true;
                }
                continue;
            }
            queue.retry_now = false;
            // Older records first, so that a retry is not pushed out by new ones.
            let mut batch = std::mem::take(&mut queue.failed);
            let retried = batch.len();
            queue.retrying = retried;
            let room = MAX_BATCH.saturating_sub(batch.len());
            let take = queue.pending.len().min(room);
            batch.extend(queue.pending.drain(..take));
            let fresh = (batch.len() - retried) as u64;
            drop(queue);
            let written = self.witness.record_streams(&batch);
            if let Err(e) = &written {
                tracing::error!(error = %e, streams = batch.len(), "audit streams not witnessed; will retry");
            } else if retried > 0 {
                tracing::info!(
                    streams = retried,
                    "audit streams witnessed after a failed write"
                );
            }
            queue = self.queue();
            queue.retrying = 0;
            queue.settled += fresh;
            if written.is_err() {
                queue.failed = batch;
            }
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_keys_are_generated_once_owner_only_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let generate = KeyRules::new(Environment::Local, KeyGeneration::Allowed);
        let existing = KeyRules::existing(Environment::Local);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/hmac.key");
        let first = key_bytes(&path, generate).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(key_bytes(&path, generate).unwrap(), first);
        assert!(key_bytes(&dir.path().join("absent"), existing).is_err());
        std::fs::write(dir.path().join("short"), "abcd").unwrap();
        assert!(key_bytes(&dir.path().join("short"), existing).is_err());
    }

    #[test]
    fn a_missing_key_over_a_database_with_records_is_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit-hmac.key");
        let refused = KeyRules::new(Environment::Local, KeyGeneration::Refused);
        let e = key_bytes(&path, refused).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("restore the file"), "{e}");
        assert!(!path.exists(), "nothing generated");
        let production = KeyRules::new(Environment::Production, KeyGeneration::Allowed);
        assert!(
            key_bytes(&path, production).is_err(),
            "production never generates"
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_key_file_open_to_others_is_refused_in_production_and_allowed_locally() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("open.key");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = key_bytes(&path, KeyRules::existing(Environment::Production))
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        assert_eq!(
            key_bytes(&path, KeyRules::existing(Environment::Local)).unwrap(),
            [0xab; 32]
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(key_bytes(&path, KeyRules::existing(Environment::Production)).is_ok());
    }

    #[test]
    fn the_witness_writes_each_checkpoint_once() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(&dir.path().join("w")).unwrap();
        let key = CheckpointKey::from_seed([3; 32]);
        let c = CheckpointRecord::seal(
            &key,
            0,
            crate::audit::GENESIS_HASH.into(),
            crate::audit::now(),
            "{}".into(),
        );
        w.record(&c).unwrap();
        assert!(w.has(1));
        w.record(&c).expect("the same record again is fine");
        let mut other = c.clone();
        other.heads = r#"{"x":{"hash":"00","seq":1}}"#.into();
        assert!(w.record(&other).is_err(), "never overwritten");
        assert_eq!(w.read_all().unwrap(), vec![c]);
        let names: Vec<_> = std::fs::read_dir(w.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["checkpoint-000000000001.json"],
            "no temporary file left"
        );
    }

    fn stream(n: usize) -> StreamRecord {
        StreamRecord {
            chain_key: format!("case:{n}"),
            first_hash: format!("{n:064x}"),
            created_at: chrono::DateTime::from_timestamp(1_795_000_000, 0)
                .unwrap()
                .naive_utc(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The records of the batch files in `dir`, read directly (not through
    /// `read_streams`, which settles queued records first).
    fn batch_records(dir: &Path) -> Vec<StreamRecord> {
        let mut written = Vec::new();
        for name in names(dir) {
            let text = std::fs::read(dir.join(name)).unwrap();
            written.extend(serde_json::from_slice::<Vec<StreamRecord>>(&text).unwrap());
        }
        written
    }

    fn sorted(mut records: Vec<StreamRecord>) -> Vec<StreamRecord> {
        records.sort_by(|a, b| a.chain_key.cmp(&b.chain_key));
        records
    }

    #[test]
    fn a_batch_is_one_file_read_back_with_the_older_one_record_files() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        // As older deployments wrote it: one pretty-printed record per stream.
        let old = stream(0);
        let old_name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&old.chain_key));
        std::fs::write(
            dir.path().join(format!("stream-{old_name}.json")),
            serde_json::to_vec_pretty(&old).unwrap(),
        )
        .unwrap();
        let batch = vec![stream(1), stream(2), stream(3)];
        w.record_streams(&batch).unwrap();
        let names = names(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        let batch_file = names.iter().find(|n| n.starts_with("streams-")).unwrap();
        let id = &batch_file["streams-".len()..batch_file.len() - ".json".len()];
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        assert_eq!(id.len(), 32, "simple form: {id}");
        let written: Vec<StreamRecord> =
            serde_json::from_slice(&std::fs::read(dir.path().join(batch_file)).unwrap()).unwrap();
        assert_eq!(written, batch, "a JSON array, in order");
        let mut all = batch.clone();
        all.push(old);
        assert_eq!(sorted(w.read_streams().unwrap()), sorted(all));
        assert!(
            w.read_all().unwrap().is_empty(),
            "no stream read as a checkpoint"
        );
    }

    #[test]
    fn an_empty_batch_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        w.record_streams(&[]).unwrap();
        let streams = StreamWitness::new(w.clone());
        streams.queue(Vec::new());
        streams.settle();
        assert!(names(dir.path()).is_empty());
        assert!(w.read_streams().unwrap().is_empty());
    }

    /// Queues `callers` records, two each, from as many threads at once; returns them.
    fn queue_concurrently(streams: &Arc<StreamWitness>, callers: usize) -> Vec<StreamRecord> {
        let start = Arc::new(std::sync::Barrier::new(callers));
        let handles: Vec<_> = (0..callers)
            .map(|i| {
                let (streams, start) = (streams.clone(), start.clone());
                std::thread::spawn(move || {
                    let records = vec![stream(2 * i), stream(2 * i + 1)];
                    start.wait();
                    streams.queue(records.clone());
                    records
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    }

    #[test]
    fn queued_records_are_all_written_once_and_settle_waits_for_them() {
        const CALLERS: usize = 16;
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        let streams = Arc::new(StreamWitness::new(w.clone()));
        let queued = queue_concurrently(&streams, CALLERS);
        streams.settle();
        let files = names(dir.path());
        assert!(
            !files.is_empty() && files.len() <= CALLERS,
            "at most one file per caller: {files:?}"
        );
        assert!(files.iter().all(|n| n.starts_with("streams-")), "{files:?}");
        // Read without `read_streams`'s own settling: `settle` alone must suffice.
        assert_eq!(sorted(batch_records(dir.path())), sorted(queued));
        assert_eq!(streams.unwitnessed(), 0);
    }

    /// Pretends a writer runs, so that records queue up without being taken.
    fn hold(streams: &StreamWitness) {
        let mut queue = streams.shared.queue();
        assert!(!queue.writing, "no writer yet");
        queue.writing = true;
    }

    /// Lets the next `queue` call start a writer, which takes everything queued.
    fn release(streams: &StreamWitness) {
        streams.shared.queue().writing = false;
    }

    #[test]
    fn records_queued_while_the_writer_is_busy_share_one_file() {
        const CALLERS: usize = 16;
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        let streams = Arc::new(StreamWitness::new(w.clone()));
        hold(&streams);
        let mut queued = queue_concurrently(&streams, CALLERS);
        assert!(names(dir.path()).is_empty(), "nothing written while held");
        release(&streams);
        queued.push(stream(100));
        streams.queue(vec![stream(100)]);
        streams.settle();
        let files = names(dir.path());
        assert_eq!(files.len(), 1, "one file, one pair of fsyncs: {files:?}");
        assert_eq!(sorted(w.read_streams().unwrap()), sorted(queued));
    }

    #[test]
    fn a_batch_that_cannot_be_written_is_kept_and_written_once_the_directory_takes_files() {
        let dir = tempfile::tempdir().unwrap();
        // A directory under a regular file cannot be created or written, even by root.
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let streams = StreamWitness::new(Witness {
            dir: file.join("witness"),
            behind: Arc::default(),
        });
        hold(&streams);
        streams.queue(vec![stream(1), stream(2)]);
        release(&streams);
        streams.queue(vec![stream(3)]);
        streams.settle();
        assert_eq!(streams.unwitnessed(), 3, "one failed batch of three, kept");
        // Once the directory can be written, the kept records are written with the next.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("witness")).unwrap();
        streams.queue(vec![stream(4)]);
        streams.settle();
        let w = Witness::existing(&file.join("witness")).unwrap();
        let deadline = std::time::Instant::now() + 3 * RETRY_INTERVAL;
        while streams.unwitnessed() > 0 {
            assert!(std::time::Instant::now() < deadline, "retried");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            sorted(w.read_streams().unwrap()),
            sorted(vec![stream(1), stream(2), stream(3), stream(4)])
        );
    }

    #[test]
    fn kept_records_are_retried_on_their_own_and_at_once_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("witness");
        std::fs::write(&path, "").unwrap();
        let streams = StreamWitness::new(Witness {
            dir: path.clone(),
            behind: Arc::default(),
        });
        streams.queue(vec![stream(1)]);
        streams.settle();
        assert_eq!(streams.unwitnessed(), 1);
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        // No new record comes: the writer tries again by itself.
        let deadline = std::time::Instant::now() + 3 * RETRY_INTERVAL;
        while streams.unwitnessed() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "retried within its interval"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(batch_records(&path), vec![stream(1)]);

        // Asked, it tries at once.
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        streams.queue(vec![stream(2)]);
        streams.settle();
        assert_eq!(streams.unwitnessed(), 1);
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let asked = std::time::Instant::now();
        streams.retry_now();
        while streams.unwitnessed() > 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            asked.elapsed() < RETRY_INTERVAL / 2,
            "{:?}",
            asked.elapsed()
        );
    }

    #[test]
    fn opening_refuses_a_file_and_removes_only_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("witness-file");
        std::fs::write(&file, "").unwrap();
        let refused = Witness::open(&file).unwrap_err().to_string();
        assert!(refused.contains("not a directory"), "{refused}");

        let w = dir.path().join("witness");
        std::fs::create_dir(&w).unwrap();
        let stale = w.join(".tmp-0123");
        let live = w.join(".tmp-4567");
        for path in [&stale, &live] {
            std::fs::write(path, "half").unwrap();
        }
        let old = std::time::SystemTime::now() - 2 * STALE_TEMPORARY;
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let opened = Witness::open(&w).unwrap();
        assert_eq!(names(&w), vec![".tmp-4567"], "a live writer's file stays");
        opened.probe().unwrap();
        assert_eq!(names(&w), vec![".tmp-4567"], "the probe leaves nothing");
    }

    #[test]
    fn settle_all_waits_for_every_witness_of_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let streams = [
            StreamWitness::new(Witness::open(&a).unwrap()),
            StreamWitness::new(Witness::open(&b).unwrap()),
        ];
        for (i, s) in streams.iter().enumerate() {
            s.queue((0..50).map(|n| stream(100 * i + n)).collect());
        }
        settle_all();
        for (i, d) in [a, b].iter().enumerate() {
            assert_eq!(batch_records(d).len(), 50, "witness {i}");
        }
    }
}
