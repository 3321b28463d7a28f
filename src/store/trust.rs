//! What the audit log trusts outside the database: the key files and the witness.
//! See [`crate::audit`] for the threat model.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

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
    /// The batch of stream records that held this caller's was not written (another
    /// caller wrote it; this is its error).
    #[error("audit witness: batch of stream records not written: {0}")]
    StreamBatch(String),
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
    /// Loads the key files named in the settings (local use generates missing ones under
    /// their configured paths, mode 0600) and opens the witness directory.
    pub fn load(settings: &Settings) -> Result<AuditTrust, TrustError> {
        let generate = settings.environment == Environment::Local;
        let audit = &settings.audit;
        let hmac = audit
            .hmac_key_file
            .as_deref()
            .ok_or(TrustError::NotConfigured("audit.hmac_key_file"))?;
        let signing = audit
            .signing_key_file
            .as_deref()
            .ok_or(TrustError::NotConfigured("audit.signing_key_file"))?;
        let witness = Witness::open(&audit.witness_dir)?;
        Ok(AuditTrust {
            entry_key: EntryKey::from_bytes(key_bytes(hmac, generate)?),
            checkpoint_key: CheckpointKey::from_seed(key_bytes(signing, generate)?),
            streams: Arc::new(StreamWitness::new(witness.clone())),
            witness,
        })
    }

    /// The public key that verifies checkpoint signatures.
    pub fn public_key(&self) -> PublicKey {
        self.checkpoint_key.public()
    }
}

fn key_error(path: &Path, reason: impl Into<String>) -> TrustError {
    TrustError::KeyFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads 32 bytes written as 64 hex digits; when `generate` and the file is missing,
/// writes fresh random ones first, readable by the owner only.
pub(crate) fn key_bytes(path: &Path, generate: bool) -> Result<[u8; 32], TrustError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound && generate => {
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
        Err(e) => return Err(key_error(path, e.to_string())),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| key_error(path, "not hex digits"))?;
    bytes
        .try_into()
        .map_err(|_| key_error(path, "not 32 bytes (64 hex digits)"))
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
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
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
}

impl Witness {
    /// Opens (creating if needed) the witness directory.
    pub fn open(dir: &Path) -> Result<Witness, TrustError> {
        std::fs::create_dir_all(dir).map_err(|source| TrustError::Witness {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Witness {
            dir: dir.to_owned(),
        })
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
        })
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
        self.write_once(&self.path_of(c.seq), c)
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
    pub fn read_streams(&self) -> Result<Vec<StreamRecord>, TrustError> {
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
/// A batch of stream records: many, written by one caller (see [`StreamWitness`]).
const STREAM_BATCH_PREFIX: &str = "streams-";
/// One stream's record, as older deployments wrote them. Note that "streams-" does not
/// start with "stream-": the two kinds are told apart by their whole prefixes.
const STREAM_PREFIX: &str = "stream-";

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &[u8]) -> Result<T, TrustError> {
    serde_json::from_slice(text).map_err(|_| TrustError::WitnessFile(path.to_owned()))
}

/// Group commit of new streams' records. Every intake creates a stream, and a witness
/// file costs two fsyncs and an inode, so concurrent callers share one: a caller adds
/// its records to the `pending` batch; if no batch is being written it becomes the
/// leader, takes everything pending and writes it as one file outside the lock, while
/// callers arriving meanwhile queue up for the next batch. Each caller returns once the
/// batch holding its records is durable, with that batch's outcome. There is no timer
/// and no background thread: a lone caller writes at once, as it would alone.
#[derive(Debug)]
pub struct StreamWitness {
    witness: Witness,
    batches: Mutex<Batches>,
    /// Signalled when a batch has been written (or has failed).
    batch_written: Condvar,
}

/// The outcome of one batch, shared by the callers whose records are in it. Each batch
/// has its own, so a later batch's success never hides an earlier one's failure.
type BatchOutcome = Arc<OnceLock<Result<(), String>>>;

#[derive(Debug, Default)]
struct Batches {
    /// Records waiting for the next batch.
    pending: Vec<StreamRecord>,
    /// Where the outcome of the batch `pending` goes into will be published.
    pending_outcome: BatchOutcome,
    /// True while a leader writes a batch (outside the lock): one at a time, so that
    /// callers arriving meanwhile gather into the next.
    writing: bool,
}

impl StreamWitness {
    /// Batches the stream records written to `witness`.
    pub fn new(witness: Witness) -> StreamWitness {
        StreamWitness {
            witness,
            batches: Mutex::new(Batches::default()),
            batch_written: Condvar::new(),
        }
    }

    fn batches(&self) -> std::sync::MutexGuard<'_, Batches> {
        // Every change under this lock is whole before it is released, and a leader
        // that panics still publishes its batch's outcome (see `BatchLeader`).
        self.batches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `records` to the witness, in one file with those of concurrent callers,
    /// and returns once they are durable (or their batch failed).
    pub fn record(&self, records: &[StreamRecord]) -> Result<(), TrustError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut batches = self.batches();
        batches.pending.extend_from_slice(records);
        let outcome = batches.pending_outcome.clone();
        // Wait while another caller writes. Its batch is either ours (then the outcome
        // is published when it is done) or an earlier one (then ours is still pending
        // when it is done, and we lead the next).
        while batches.writing {
            batches = self
                .batch_written
                .wait(batches)
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(result) = outcome.get() {
                return result.clone().map_err(TrustError::StreamBatch);
            }
        }
        // Not written, and nobody writing: our records are still pending. Lead.
        batches.writing = true;
        let batch = std::mem::take(&mut batches.pending);
        let leader = BatchLeader {
            streams: self,
            outcome: std::mem::take(&mut batches.pending_outcome),
        };
        drop(batches);
        let written = self.witness.record_streams(&batch);
        leader.done(written.as_ref().map(|_| ()).map_err(ToString::to_string));
        written
    }
}

/// The caller writing a batch. Dropped, it publishes the batch's outcome and lets the
/// next batch be written; if it never got to [`BatchLeader::done`] (a panic), the
/// outcome is a failure, so that no caller waits for ever.
struct BatchLeader<'a> {
    streams: &'a StreamWitness,
    outcome: BatchOutcome,
}

impl BatchLeader<'_> {
    fn done(self, result: Result<(), String>) {
        let _ = self.outcome.set(result);
    }
}

impl Drop for BatchLeader<'_> {
    fn drop(&mut self) {
        let mut batches = self.streams.batches();
        let _ = self
            .outcome
            .set(Err("the caller writing the batch panicked".into()));
        batches.writing = false;
        drop(batches);
        self.streams.batch_written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_keys_are_generated_once_owner_only_and_then_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/hmac.key");
        let first = key_bytes(&path, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(key_bytes(&path, true).unwrap(), first);
        assert!(key_bytes(&dir.path().join("absent"), false).is_err());
        std::fs::write(dir.path().join("short"), "abcd").unwrap();
        assert!(key_bytes(&dir.path().join("short"), false).is_err());
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
        StreamWitness::new(w.clone()).record(&[]).unwrap();
        assert!(names(dir.path()).is_empty());
        assert!(w.read_streams().unwrap().is_empty());
    }

    /// A caller's result and the records it submitted.
    type Submitted = (Result<(), TrustError>, Vec<StreamRecord>);

    /// Submits `callers` records, two each, from as many threads at once.
    fn submit_concurrently(
        streams: &Arc<StreamWitness>,
        callers: usize,
    ) -> Vec<std::thread::JoinHandle<Submitted>> {
        let start = Arc::new(std::sync::Barrier::new(callers));
        (0..callers)
            .map(|i| {
                let (streams, start) = (streams.clone(), start.clone());
                std::thread::spawn(move || {
                    let records = vec![stream(2 * i), stream(2 * i + 1)];
                    start.wait();
                    (streams.record(&records), records)
                })
            })
            .collect()
    }

    #[test]
    fn concurrent_callers_share_batch_files_and_every_record_is_written_once() {
        const CALLERS: usize = 16;
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        let streams = Arc::new(StreamWitness::new(w.clone()));
        let mut submitted = Vec::new();
        for h in submit_concurrently(&streams, CALLERS) {
            let (result, records) = h.join().unwrap();
            result.expect("durable");
            submitted.extend(records);
        }
        let files = names(dir.path());
        assert!(
            !files.is_empty() && files.len() <= CALLERS,
            "at most one file per caller: {files:?}"
        );
        assert!(files.iter().all(|n| n.starts_with("streams-")), "{files:?}");
        assert_eq!(sorted(w.read_streams().unwrap()), sorted(submitted));
    }

    /// Marks a batch as being written, as if a leader were writing it, so that callers
    /// from now on queue up in `pending`.
    fn hold(streams: &StreamWitness) {
        let mut batches = streams.batches();
        assert!(!batches.writing);
        batches.writing = true;
    }

    /// Once all `callers` (two records each) have queued, ends the held batch: they must
    /// then share the next one.
    fn release_when_queued(streams: &StreamWitness, callers: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while streams.batches().pending.len() < 2 * callers {
            // Before panicking, let the callers go, so that a failure does not hang.
            if std::time::Instant::now() > deadline {
                streams.batches().writing = false;
                streams.batch_written.notify_all();
                panic!("callers did not queue behind a batch being written");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        streams.batches().writing = false;
        streams.batch_written.notify_all();
    }

    #[test]
    fn callers_queued_behind_a_batch_being_written_share_the_next_one() {
        const CALLERS: usize = 16;
        let dir = tempfile::tempdir().unwrap();
        let w = Witness::open(dir.path()).unwrap();
        let streams = Arc::new(StreamWitness::new(w.clone()));
        hold(&streams);
        let handles = submit_concurrently(&streams, CALLERS);
        release_when_queued(&streams, CALLERS);
        let mut submitted = Vec::new();
        for h in handles {
            let (result, records) = h.join().unwrap();
            result.expect("durable");
            submitted.extend(records);
        }
        let files = names(dir.path());
        assert_eq!(files.len(), 1, "one file, one pair of fsyncs: {files:?}");
        assert_eq!(sorted(w.read_streams().unwrap()), sorted(submitted));
        streams
            .record(&[stream(100)])
            .expect("a lone caller after them");
        assert_eq!(names(dir.path()).len(), 2);
    }

    #[test]
    fn a_failed_batch_fails_every_caller_in_it() {
        const CALLERS: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        // A directory under a regular file cannot be created or written, even by root.
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let w = Witness {
            dir: file.join("witness"),
        };
        let streams = Arc::new(StreamWitness::new(w));
        hold(&streams);
        let handles = submit_concurrently(&streams, CALLERS);
        release_when_queued(&streams, CALLERS);
        let (mut led, mut followed) = (0, 0);
        for h in handles {
            match h.join().unwrap().0 {
                Err(TrustError::Witness { .. }) => led += 1,
                Err(TrustError::StreamBatch(e)) => {
                    assert!(e.contains("witness"), "the leader's error: {e}");
                    followed += 1;
                }
                other => panic!("every caller in the batch hears of it: {other:?}"),
            }
        }
        assert_eq!((led, followed), (1, CALLERS - 1), "one batch, one writer");
        let err = streams.record(&[stream(100)]).unwrap_err();
        assert!(matches!(err, TrustError::Witness { .. }), "{err}");
        // Once the directory can be written, the next batch is, and only its record.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("witness")).unwrap();
        streams.record(&[stream(101)]).unwrap();
        let w = Witness::existing(&file.join("witness")).unwrap();
        assert_eq!(w.read_streams().unwrap(), vec![stream(101)]);
    }
}
