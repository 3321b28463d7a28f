//! What the audit log trusts outside the database: the key files and the witness.
//! See [`crate::audit`] for the threat model.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

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
    /// A witness file is not a checkpoint record.
    #[error("audit witness file {0} is not a checkpoint record")]
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
        Ok(AuditTrust {
            entry_key: EntryKey::from_bytes(key_bytes(hmac, generate)?),
            checkpoint_key: CheckpointKey::from_seed(key_bytes(signing, generate)?),
            witness: Witness::open(&audit.witness_dir)?,
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

/// An append-only directory of checkpoint files, `checkpoint-<seq>.json`, each written
/// once (create-new) and fsynced. It belongs on storage that the database's users cannot
/// rewrite: another host, or a bucket with object lock.
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
        self.dir.join(format!("checkpoint-{seq:012}.json"))
    }

    /// Writes one checkpoint, whole, and never replaces an existing file. Writing the
    /// same record again (two processes catching up at once) is not an error; a
    /// different one is.
    pub fn record(&self, c: &CheckpointRecord) -> Result<(), TrustError> {
        self.write_once(&self.path_of(c.seq), c)
    }

    /// Writes the record of a new stream, `stream-<SHA-256 of its key>.json`, on the
    /// same terms as [`Witness::record`].
    pub fn record_stream(&self, s: &StreamRecord) -> Result<(), TrustError> {
        let name = hex::encode(sha2::Sha256::digest(s.chain_key.as_bytes()));
        self.write_once(&self.dir.join(format!("stream-{name}.json")), s)
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
        let mut records: Vec<CheckpointRecord> = self.read_prefixed("checkpoint-")?;
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }

    /// Every stream file.
    pub fn read_streams(&self) -> Result<Vec<StreamRecord>, TrustError> {
        self.read_prefixed("stream-")
    }

    fn read_prefixed<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, TrustError> {
        let io = |source| TrustError::Witness {
            path: self.dir.clone(),
            source,
        };
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let wanted = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"));
            if !wanted {
                continue;
            }
            let text = std::fs::read(&path).map_err(|source| TrustError::Witness {
                path: path.clone(),
                source,
            })?;
            records.push(
                serde_json::from_slice(&text).map_err(|_| TrustError::WitnessFile(path.clone()))?,
            );
        }
        Ok(records)
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
}
