//! The audit log: who did what, when, to which case, from which request.
//!
//! # Why per-stream chains anchored in checkpoints
//! A single global hash chain needs the previous entry's hash for every new entry, so
//! every write in the system would queue behind one row lock. Instead each *stream* (one
//! case, one panel, or one user's non-case activity) has its own chain: entry `n` of a
//! stream carries the hash of entry `n - 1`, and appending locks only that stream's head.
//! Writes about different cases never wait for each other. Truncating a stream or
//! dropping a whole stream would not break any remaining link, so a periodic
//! *checkpoint* seals the heads of every stream that moved since the previous checkpoint
//! into a second, global chain. The verifier checks every link, every stream head, and
//! that every sealed head is still present with the same hash.
//!
//! # Threat model: someone holding the service's database credentials
//! Triggers and grants stop casual edits, but whoever can act as the table owner (or has
//! the SQLite file) can disable them and rewrite rows. So the log does not trust the
//! database alone (after CloudTrail's signed digest files and Certificate Transparency's
//! signed tree heads):
//! - entry hashes are HMAC-SHA256 under a key held in a file, never in the database:
//!   an edited entry cannot be given a matching hash, however the chain is recomputed;
//! - each checkpoint is signed with an Ed25519 key (also a file) and written, create-new
//!   and fsynced, to a *witness* outside the database; the public key is published, so
//!   anyone can check the witness, and deleting or forging a checkpoint in the database
//!   no longer matches it;
//! - a stream deleted whole before its first checkpoint needs nothing recomputed, so
//!   the witness also records every new stream (its key and first entry's hash) within
//!   milliseconds of the commit of the transaction that created it (a writer thread
//!   writes everything queued meanwhile as one file), and every case and panel row is
//!   created in the same transaction as its stream's first entry: the verifier reports
//!   a witnessed stream, or a case's or panel's, that is gone.
//!
//! On PostgreSQL the service itself runs as a role that may only SELECT and INSERT
//! audit rows and cannot ALTER the tables (`pathway migrate --app-role`), so its
//! credentials cannot even make the changes above; the owner's can, and the keys and
//! the witness are what catch them. Verifying entries needs the HMAC key (which could
//! also forge them); anyone with only the public key can still check the witness:
//! every file's hash, link and signature.
//!
//! What stays undetectable: changes made with the keys (whoever holds the HMAC and
//! signing keys can rewrite everything not yet in the witness; keep the key files and the
//! witness away from the database host and its credentials); entries appended since the
//! last witnessed checkpoint, cut from the end of their stream with its head moved back
//! (keep the checkpoint interval short: it is that window); a new stream removed in the
//! milliseconds between its commit and its witness file, or lost with the process in
//! them, or whose file failed to be written (logged); and a witness whose newest files
//! are deleted together with the matching database rows (make the witness append-only
//! storage, e.g. object lock).
//!
//! Entries never carry personal data (names, dates of birth, addresses, narratives):
//! the log must outlive the deletion of a case's personal data, and it cannot be edited.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{NaiveDateTime, SubsecRound};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the canonical encoding, hashed into every entry (2: keyed entry hashes).
const ENCODING_VERSION: u32 = 2;

/// What a checkpoint signature covers, before the checkpoint's hash.
pub const SIGNATURE_CONTEXT: &str = "pathway-audit-checkpoint-v1:";

/// The secret that keys entry hashes (HMAC-SHA256). It lives in a file, never in the
/// database, so rows rewritten with database access alone cannot be given valid hashes.
#[derive(Clone)]
pub struct EntryKey([u8; 32]);

impl EntryKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> EntryKey {
        EntryKey(bytes)
    }
}

impl std::fmt::Debug for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryKey(..)")
    }
}

/// The Ed25519 key that signs checkpoints. Its public half is published.
#[derive(Clone)]
pub struct CheckpointKey(SigningKey);

impl CheckpointKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> CheckpointKey {
        CheckpointKey(SigningKey::from_bytes(&seed))
    }

    /// The public half, to verify signatures with.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a checkpoint hash; the signature as base64.
    pub fn sign(&self, checkpoint_hash: &str) -> String {
        let sig = self
            .0
            .sign(format!("{SIGNATURE_CONTEXT}{checkpoint_hash}").as_bytes());
        BASE64.encode(sig.to_bytes())
    }
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey(..)")
    }
}

/// The public key that verifies checkpoint signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The raw 32 bytes, base64.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_bytes())
    }

    /// A short identifier: the first 16 hex digits of the key's SHA-256.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))[..16].to_owned()
    }

    /// Parses the base64 form; `None` when it is not an Ed25519 public key.
    pub fn from_base64(text: &str) -> Option<PublicKey> {
        let bytes: [u8; 32] = BASE64.decode(text.trim()).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok().map(PublicKey)
    }

    /// True when `signature` (base64) signs `checkpoint_hash` under this key.
    pub fn verifies(&self, checkpoint_hash: &str, signature: &str) -> bool {
        let Some(bytes) = BASE64
            .decode(signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0
            .verify_strict(
                format!("{SIGNATURE_CONTEXT}{checkpoint_hash}").as_bytes(),
                &sig,
            )
            .is_ok()
    }
}

/// The stream an entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainKey(String);

impl ChainKey {
    /// The stream of one case.
    pub fn case(id: uuid::Uuid) -> ChainKey {
        ChainKey(format!("case:{id}"))
    }

    /// The stream of one panel.
    pub fn panel(id: uuid::Uuid) -> ChainKey {
        ChainKey(format!("panel:{id}"))
    }

    /// The stream of one user's activity that concerns no single case or panel.
    pub fn actor(sub: &str) -> ChainKey {
        ChainKey(format!("actor:{sub}"))
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who acted, and from which request: the same for every event of one request.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The actor's `sub`.
    pub actor_sub: String,
    /// The actor's roles, comma-separated.
    pub actor_roles: String,
    /// The request id that carried the action.
    pub request_id: Option<String>,
}

/// Whether the recorded attempt succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Refused (for example a forbidden role).
    Denied,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
        }
    }
}

/// One thing to record. `details` must hold no personal data.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The stream it belongs to.
    pub chain: ChainKey,
    /// What was done, dotted: `case.read`, `case.action.begin_screening`, `audit.verify`.
    pub action: String,
    /// The case concerned, if any.
    pub case_id: Option<uuid::Uuid>,
    /// The area the record concerns (the case's area, else the actor's).
    pub area: String,
    /// Whether it succeeded.
    pub outcome: Outcome,
    /// Codes and identifiers only.
    pub details: Value,
}

impl AuditEvent {
    /// An event about no case in the stream `chain`, of `area`.
    pub fn new(
        chain: ChainKey,
        action: &str,
        area: &str,
        outcome: Outcome,
        details: impl serde::Serialize,
    ) -> AuditEvent {
        AuditEvent {
            chain,
            action: action.to_owned(),
            case_id: None,
            area: area.to_owned(),
            outcome,
            details: recorded_details(details),
        }
    }

    /// An event in the stream of the case `case_id`, which is in `area`.
    pub fn about_case(
        case_id: &str,
        area: &str,
        action: &str,
        outcome: Outcome,
        details: impl serde::Serialize,
    ) -> AuditEvent {
        let id = uuid::Uuid::parse_str(case_id).ok();
        AuditEvent {
            chain: ChainKey::case(id.unwrap_or_default()),
            action: action.to_owned(),
            case_id: id,
            area: area.to_owned(),
            outcome,
            details: recorded_details(details),
        }
    }
}

/// `details` as an entry records them. Details are codes and identifiers in structs and
/// maps keyed by name, which always serialise; were one not to, the entry is still
/// written (the action happened), with empty details, and the failure is logged.
fn recorded_details(details: impl serde::Serialize) -> Value {
    serde_json::to_value(details).unwrap_or_else(|e| {
        tracing::error!(error = %e, "audit details could not be serialised");
        Value::Object(Default::default())
    })
}

/// The fields of an entry that its hash covers.
#[derive(Debug, Clone)]
pub struct EntryFields<'a> {
    /// Entry id.
    pub id: &'a str,
    /// Stream.
    pub chain_key: &'a str,
    /// Position in the stream, from 1.
    pub seq: i64,
    /// When, to the microsecond.
    pub occurred_at: NaiveDateTime,
    /// Request id.
    pub request_id: Option<&'a str>,
    /// Actor.
    pub actor_sub: &'a str,
    /// Actor's roles.
    pub actor_roles: &'a str,
    /// Area.
    pub area: &'a str,
    /// Action.
    pub action: &'a str,
    /// Case.
    pub case_id: Option<&'a str>,
    /// Outcome.
    pub outcome: &'a str,
    /// Canonical JSON details, as stored.
    pub details: &'a str,
}

/// Timestamps are stored and hashed to the microsecond: both backends keep that much.
pub fn audit_time(t: NaiveDateTime) -> NaiveDateTime {
    t.trunc_subsecs(6)
}

/// The current time as stored: UTC, to the microsecond.
pub fn now() -> NaiveDateTime {
    audit_time(chrono::Utc::now().naive_utc())
}

fn time_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn sha256_hex(prev_hash: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// The hash of an entry: HMAC-SHA256 under `key` over the previous hash and a canonical
/// JSON array of every field, so that any change to any field, or to the order, changes
/// it, and no one without the key can compute it.
pub fn entry_hash(key: &EntryKey, prev_hash: &str, e: &EntryFields<'_>) -> String {
    EntryHasher::new(key).hash(prev_hash, e)
}

/// [`entry_hash`] for many entries: the key is prepared once, and each entry's fields
/// are encoded straight into the MAC, so verifying a large log costs little more than
/// the hashing itself.
#[derive(Clone)]
pub struct EntryHasher(Option<Hmac<Sha256>>);

/// Feeds what serde_json writes into the MAC, with no intermediate string.
struct MacWriter<'a>(&'a mut Hmac<Sha256>);

impl std::io::Write for MacWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl EntryHasher {
    /// A hasher under `key`.
    pub fn new(key: &EntryKey) -> EntryHasher {
        // HMAC takes a key of any length, so this is never `None` for 32 bytes.
        EntryHasher(<Hmac<Sha256> as Mac>::new_from_slice(&key.0).ok())
    }

    /// The hash of the entry `e` that follows `prev_hash`.
    pub fn hash(&self, prev_hash: &str, e: &EntryFields<'_>) -> String {
        let Some(mut mac) = self.0.clone() else {
            return String::new();
        };
        mac.update(prev_hash.as_bytes());
        mac.update(b"\n");
        // A tuple encodes exactly as the JSON array of its values, compactly.
        let body = (
            ENCODING_VERSION,
            e.id,
            e.chain_key,
            e.seq,
            time_text(e.occurred_at),
            e.request_id,
            e.actor_sub,
            e.actor_roles,
            e.area,
            e.action,
            e.case_id,
            e.outcome,
            e.details,
        );
        // Writing into a MAC cannot fail, and these values always serialise.
        let _ = serde_json::to_writer(MacWriter(&mut mac), &body);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A stream head sealed by a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SealedHead {
    /// The head's position.
    pub seq: i64,
    /// The head's hash.
    pub hash: String,
}

/// The hash of a checkpoint: its position, time and sealed heads, chained to the previous
/// one. Unkeyed, so that anyone with the public key can check the witness; the signature
/// is what makes it unforgeable.
pub fn checkpoint_hash(
    prev_hash: &str,
    seq: i64,
    created_at: NaiveDateTime,
    heads: &str,
) -> String {
    let body = serde_json::json!([ENCODING_VERSION, seq, time_text(created_at), heads]);
    sha256_hex(prev_hash, &body.to_string())
}

/// JSON with object keys sorted at every depth, so equal values always encode equally.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::String(k.clone()));
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// A signed checkpoint, as stored in the database and, one file each, in the witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Position in the checkpoint chain, from 1.
    pub seq: i64,
    /// When (UTC, to the microsecond).
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

impl CheckpointRecord {
    /// Builds and signs the checkpoint that follows `(prev_seq, prev_hash)`.
    pub fn seal(
        key: &CheckpointKey,
        prev_seq: i64,
        prev_hash: String,
        created_at: NaiveDateTime,
        heads: String,
    ) -> CheckpointRecord {
        let seq = prev_seq + 1;
        let hash = checkpoint_hash(&prev_hash, seq, created_at, &heads);
        CheckpointRecord {
            seq,
            created_at,
            signature: key.sign(&hash),
            heads,
            prev_hash,
            hash,
        }
    }
}

/// A stream as the witness records it when it is created: deleting the whole stream,
/// even before a checkpoint seals it, no longer goes unseen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// The stream.
    pub chain_key: String,
    /// The keyed hash of its first entry.
    pub first_hash: String,
    /// When its first entry was written.
    pub created_at: NaiveDateTime,
}

/// What kind of damage the verifier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An entry's fields no longer match its keyed hash (edited, or rehashed without the key).
    EntryAltered,
    /// An entry's `prev_hash` is not its predecessor's hash (entries reordered or replaced).
    ChainLinkBroken,
    /// Entries are missing or out of order within a stream.
    SequenceGap,
    /// A stream's recorded head is not its last entry (entries removed from the end).
    HeadMismatch,
    /// A checkpoint's fields no longer match its hash.
    CheckpointAltered,
    /// A checkpoint's `prev_hash` is not its predecessor's hash, or one is missing.
    CheckpointLinkBroken,
    /// A checkpoint's signature does not verify under the published key (forged).
    CheckpointForged,
    /// The witness holds a checkpoint the database does not (deleted from the database).
    CheckpointMissing,
    /// A database checkpoint older than the witness's newest has no file there.
    CheckpointNotWitnessed,
    /// A database checkpoint, or a stream's first entry, differs from the witness's copy.
    WitnessMismatch,
    /// A checkpoint sealed an entry that is gone or changed.
    SealedEntryMissing,
    /// A stream the witness recorded, or that a case or panel implies, is gone.
    StreamMissing,
}

/// One place where the log is not intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Break {
    /// What is wrong.
    pub kind: BreakKind,
    /// The stream, for entry problems.
    pub chain_key: Option<String>,
    /// The entry's position in its stream.
    pub seq: Option<i64>,
    /// The entry id.
    pub entry_id: Option<String>,
    /// The checkpoint, for checkpoint problems.
    pub checkpoint_seq: Option<i64>,
}

/// The verifier's finding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True when no break was found.
    pub intact: bool,
    /// Entries read.
    pub entries_checked: u64,
    /// Streams read.
    pub chains_checked: u64,
    /// Checkpoints read.
    pub checkpoints_checked: u64,
    /// Witness files compared with the database's checkpoints; `null` without a witness.
    pub witnessed_checked: Option<u64>,
    /// The first break: entries and streams in (stream, position) order, then checkpoints.
    pub first_break: Option<Break>,
    /// Every break found, up to [`MAX_REPORTED_BREAKS`].
    pub breaks: Vec<Break>,
}

/// Breaks listed in one report; the scan still counts everything.
pub const MAX_REPORTED_BREAKS: usize = 100;

/// An entry as the verifier sees it.
pub struct StoredEntry<'a> {
    /// The hashed fields.
    pub fields: EntryFields<'a>,
    /// The stored `prev_hash`.
    pub prev_hash: &'a str,
    /// The stored hash.
    pub hash: &'a str,
}

/// Checks a log streamed in (stream, position) order, one entry at a time, so memory
/// stays bounded by the number of streams rather than the number of entries.
pub struct Verifier {
    key: EntryHasher,
    public: PublicKey,
    heads: BTreeMap<String, SealedHead>,
    /// Heads sealed by checkpoints: (stream, position) → (checkpoint, hash).
    sealed: BTreeMap<(String, i64), (i64, String)>,
    /// Streams that must exist (one per case and panel), removed as they are seen.
    expected: std::collections::BTreeSet<String>,
    /// Streams the witness recorded: key → hash of the first entry.
    witnessed_first: BTreeMap<String, String>,
    current: Option<(String, i64, String)>,
    /// Checkpoint and witness breaks, reported after the entries' and streams'.
    checkpoint_breaks: Vec<Break>,
    report: VerifyReport,
}

impl Verifier {
    /// `heads`: each stream's recorded head; `key` checks entry hashes and `public`
    /// checkpoint signatures.
    pub fn new(heads: BTreeMap<String, SealedHead>, key: EntryKey, public: PublicKey) -> Verifier {
        Verifier {
            key: EntryHasher::new(&key),
            public,
            heads,
            sealed: BTreeMap::new(),
            expected: std::collections::BTreeSet::new(),
            witnessed_first: BTreeMap::new(),
            current: None,
            checkpoint_breaks: Vec::new(),
            report: VerifyReport {
                intact: true,
                entries_checked: 0,
                chains_checked: 0,
                checkpoints_checked: 0,
                witnessed_checked: None,
                first_break: None,
                breaks: Vec::new(),
            },
        }
    }

    fn record(&mut self, b: Break) {
        self.report.intact = false;
        if self.report.first_break.is_none() {
            self.report.first_break = Some(b.clone());
        }
        if self.report.breaks.len() < MAX_REPORTED_BREAKS {
            self.report.breaks.push(b);
        }
    }

    fn entry_break(kind: BreakKind, e: &StoredEntry<'_>) -> Break {
        Break {
            kind,
            chain_key: Some(e.fields.chain_key.to_owned()),
            seq: Some(e.fields.seq),
            entry_id: Some(e.fields.id.to_owned()),
            checkpoint_seq: None,
        }
    }

    fn checkpoint_break(&mut self, kind: BreakKind, seq: i64) {
        self.checkpoint_breaks.push(Break {
            kind,
            chain_key: None,
            seq: None,
            entry_id: None,
            checkpoint_seq: Some(seq),
        });
    }

    /// Streams that must be present, e.g. `case:<id>` for every case row.
    pub fn expect_streams(&mut self, keys: impl IntoIterator<Item = ChainKey>) {
        self.expected.extend(keys.into_iter().map(|k| k.0));
    }

    /// Streams the witness recorded at their creation, before any entry. A stream is
    /// recorded once, but batch files do not make that so: two records of one stream
    /// are fine when identical, and a [`BreakKind::WitnessMismatch`] when their first
    /// entries differ (the first record read is then the one entries are checked with).
    pub fn witnessed_streams(&mut self, records: &[StreamRecord]) {
        let mut conflicting = std::collections::BTreeSet::new();
        for r in records {
            self.expected.insert(r.chain_key.clone());
            match self.witnessed_first.get(&r.chain_key) {
                None => {
                    self.witnessed_first
                        .insert(r.chain_key.clone(), r.first_hash.clone());
                }
                Some(first) if *first == r.first_hash => {}
                Some(_) => {
                    if conflicting.insert(r.chain_key.clone()) {
                        self.record(Break {
                            kind: BreakKind::WitnessMismatch,
                            chain_key: Some(r.chain_key.clone()),
                            seq: None,
                            entry_id: None,
                            checkpoint_seq: None,
                        });
                    }
                }
            }
        }
    }

    /// Feeds the next entry.
    pub fn entry(&mut self, e: &StoredEntry<'_>) {
        self.report.entries_checked += 1;
        let new_chain = self
            .current
            .as_ref()
            .is_none_or(|(key, _, _)| key != e.fields.chain_key);
        if new_chain {
            self.finish_chain();
            self.report.chains_checked += 1;
            self.expected.remove(e.fields.chain_key);
            let witnessed = self.witnessed_first.remove(e.fields.chain_key);
            if witnessed.is_some_and(|h| e.fields.seq == 1 && h != e.hash) {
                self.record(Self::entry_break(BreakKind::WitnessMismatch, e));
            }
        }
        let (expected_seq, expected_prev) = match &self.current {
            Some((_, seq, hash)) if !new_chain => (seq + 1, hash.clone()),
            _ => (1, GENESIS_HASH.to_owned()),
        };
        if e.fields.seq != expected_seq {
            self.record(Self::entry_break(BreakKind::SequenceGap, e));
        } else if e.prev_hash != expected_prev {
            self.record(Self::entry_break(BreakKind::ChainLinkBroken, e));
        }
        let computed = self.key.hash(e.prev_hash, &e.fields);
        if computed != e.hash {
            self.record(Self::entry_break(BreakKind::EntryAltered, e));
        }
        let sealed = self
            .sealed
            .remove(&(e.fields.chain_key.to_owned(), e.fields.seq));
        if sealed.is_some_and(|(_, sealed_hash)| sealed_hash != e.hash) {
            self.record(Self::entry_break(BreakKind::SealedEntryMissing, e));
        }
        self.current = Some((
            e.fields.chain_key.to_owned(),
            e.fields.seq,
            e.hash.to_owned(),
        ));
    }

    fn finish_chain(&mut self) {
        let Some((key, seq, hash)) = self.current.take() else {
            return;
        };
        let recorded = self.heads.remove(&key);
        if recorded.as_ref() != Some(&SealedHead { seq, hash }) {
            self.record(Break {
                kind: BreakKind::HeadMismatch,
                chain_key: Some(key),
                seq: Some(seq),
                entry_id: None,
                checkpoint_seq: None,
            });
        }
    }

    fn seal_heads(&mut self, c: &CheckpointRecord) -> bool {
        let Ok(sealed) = serde_json::from_str::<BTreeMap<String, SealedHead>>(&c.heads) else {
            return false;
        };
        for (key, head) in sealed {
            self.sealed.insert((key, head.seq), (c.seq, head.hash));
        }
        true
    }

    /// Feeds every checkpoint of the database in order, and the witness's copies when
    /// there is a witness, before any entry: checks links, hashes and signatures,
    /// compares the two, and remembers every sealed head so the entry scan can find it.
    pub fn checkpoints(
        &mut self,
        stored: &[CheckpointRecord],
        witness: Option<&[CheckpointRecord]>,
    ) {
        let mut last: Option<(i64, String)> = None;
        for c in stored {
            self.report.checkpoints_checked += 1;
            let (expected_seq, expected_prev) = last
                .clone()
                .map_or((1, GENESIS_HASH.to_owned()), |(s, h)| (s + 1, h));
            if c.seq != expected_seq || c.prev_hash != expected_prev {
                self.checkpoint_break(BreakKind::CheckpointLinkBroken, c.seq);
            }
            let well_formed = self.seal_heads(c);
            if checkpoint_hash(&c.prev_hash, c.seq, c.created_at, &c.heads) != c.hash
                || !well_formed
            {
                self.checkpoint_break(BreakKind::CheckpointAltered, c.seq);
            } else if !self.public.verifies(&c.hash, &c.signature) {
                self.checkpoint_break(BreakKind::CheckpointForged, c.seq);
            }
            last = Some((c.seq, c.hash.clone()));
        }
        let Some(witness) = witness else {
            return;
        };
        self.report.witnessed_checked = Some(witness.len() as u64);
        let in_db: BTreeMap<i64, &CheckpointRecord> = stored.iter().map(|c| (c.seq, c)).collect();
        let witnessed: BTreeMap<i64, &CheckpointRecord> =
            witness.iter().map(|c| (c.seq, c)).collect();
        // The witness is written after the checkpoint commits (and read before the
        // database): checkpoints newer than its newest are not yet witnessed, not lost.
        let newest = witnessed.keys().next_back().copied().unwrap_or(0);
        for c in stored {
            match witnessed.get(&c.seq) {
                Some(w) if *w == c => {}
                Some(_) => self.checkpoint_break(BreakKind::WitnessMismatch, c.seq),
                None if c.seq < newest => {
                    self.checkpoint_break(BreakKind::CheckpointNotWitnessed, c.seq);
                }
                None => {}
            }
        }
        for w in witness {
            if in_db.contains_key(&w.seq) {
                continue;
            }
            let genuine = checkpoint_hash(&w.prev_hash, w.seq, w.created_at, &w.heads) == w.hash
                && self.public.verifies(&w.hash, &w.signature);
            if genuine {
                // A signed checkpoint the database lost: what it sealed must still be there.
                self.seal_heads(w);
                self.checkpoint_break(BreakKind::CheckpointMissing, w.seq);
            } else {
                self.checkpoint_break(BreakKind::WitnessMismatch, w.seq);
            }
        }
    }

    /// Ends the scan: streams whose heads were recorded but that had no entries, sealed
    /// entries never seen, and expected streams never seen are breaks too.
    pub fn finish(mut self) -> VerifyReport {
        self.finish_chain();
        for (key, head) in std::mem::take(&mut self.heads) {
            if head.seq > 0 {
                self.record(Break {
                    kind: BreakKind::HeadMismatch,
                    chain_key: Some(key),
                    seq: Some(head.seq),
                    entry_id: None,
                    checkpoint_seq: None,
                });
            }
        }
        for ((key, seq), (checkpoint, _)) in std::mem::take(&mut self.sealed) {
            self.record(Break {
                kind: BreakKind::SealedEntryMissing,
                chain_key: Some(key),
                seq: Some(seq),
                entry_id: None,
                checkpoint_seq: Some(checkpoint),
            });
        }
        for key in std::mem::take(&mut self.expected) {
            self.record(Break {
                kind: BreakKind::StreamMissing,
                chain_key: Some(key),
                seq: None,
                entry_id: None,
                checkpoint_seq: None,
            });
        }
        for b in std::mem::take(&mut self.checkpoint_breaks) {
            self.record(b);
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00.123456Z")
            .unwrap()
            .naive_utc()
    }

    fn key() -> EntryKey {
        EntryKey::from_bytes([7; 32])
    }

    fn signer() -> CheckpointKey {
        CheckpointKey::from_seed([9; 32])
    }

    fn fields<'a>(seq: i64, details: &'a str) -> EntryFields<'a> {
        EntryFields {
            id: "0193a000-0000-7000-8000-000000000001",
            chain_key: "case:x",
            seq,
            occurred_at: t(),
            request_id: Some("req-1"),
            actor_sub: "officer-1",
            actor_roles: "prevent_officer",
            area: "E08000035",
            action: "case.read",
            case_id: None,
            outcome: "ok",
            details,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_entry_hash() {
        let base = entry_hash(&key(), GENESIS_HASH, &fields(1, "{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            entry_hash(&key(), GENESIS_HASH, &fields(1, "{}")),
            "deterministic"
        );
        assert_ne!(base, entry_hash(&key(), &"1".repeat(64), &fields(1, "{}")));
        assert_ne!(base, entry_hash(&key(), GENESIS_HASH, &fields(2, "{}")));
        assert_ne!(
            base,
            entry_hash(&key(), GENESIS_HASH, &fields(1, r#"{"a":1}"#))
        );
        let mut f = fields(1, "{}");
        f.actor_sub = "officer-2";
        assert_ne!(base, entry_hash(&key(), GENESIS_HASH, &f));
        let mut f = fields(1, "{}");
        f.occurred_at += chrono::Duration::microseconds(1);
        assert_ne!(base, entry_hash(&key(), GENESIS_HASH, &f));
        let mut f = fields(1, "{}");
        f.request_id = None;
        assert_ne!(base, entry_hash(&key(), GENESIS_HASH, &f));
        let other = EntryKey::from_bytes([8; 32]);
        assert_ne!(
            base,
            entry_hash(&other, GENESIS_HASH, &fields(1, "{}")),
            "the key changes it"
        );
    }

    #[test]
    fn the_hasher_encodes_exactly_as_the_json_array_it_replaced() {
        let details = r#"{"note":"quote \" slash \\ tab \t é ✓ \u0001"}"#;
        let mut f = fields(3, details);
        f.case_id = Some("c\"ase");
        for request_id in [Some("req-1"), None] {
            f.request_id = request_id;
            let body = serde_json::json!([
                ENCODING_VERSION,
                f.id,
                f.chain_key,
                f.seq,
                time_text(f.occurred_at),
                f.request_id,
                f.actor_sub,
                f.actor_roles,
                f.area,
                f.action,
                f.case_id,
                f.outcome,
                f.details,
            ]);
            let mut mac = Hmac::<Sha256>::new_from_slice(&key().0).unwrap();
            mac.update(b"prev\n");
            mac.update(body.to_string().as_bytes());
            let expected = hex::encode(mac.finalize().into_bytes());
            assert_eq!(entry_hash(&key(), "prev", &f), expected);
        }
    }

    #[test]
    fn checkpoints_are_signed_and_only_the_key_holder_can_sign() {
        let cp = CheckpointRecord::seal(&signer(), 0, GENESIS_HASH.into(), t(), "{}".into());
        let public = signer().public();
        assert!(public.verifies(&cp.hash, &cp.signature));
        assert!(!public.verifies(&"1".repeat(64), &cp.signature));
        let forged = CheckpointKey::from_seed([1; 32]).sign(&cp.hash);
        assert!(!public.verifies(&cp.hash, &forged));
        assert!(!public.verifies(&cp.hash, "not base64"));
        assert_eq!(PublicKey::from_base64(&public.to_base64()), Some(public));
        assert_eq!(public.key_id().len(), 16);
    }

    fn checkpoint_report(
        stored: &[CheckpointRecord],
        witness: Option<&[CheckpointRecord]>,
    ) -> VerifyReport {
        let mut v = Verifier::new(BTreeMap::new(), key(), signer().public());
        v.checkpoints(stored, witness);
        v.finish()
    }

    #[test]
    fn the_witness_catches_deleted_forged_and_unwitnessed_checkpoints() {
        let heads = "{}".to_owned();
        let one = CheckpointRecord::seal(&signer(), 0, GENESIS_HASH.into(), t(), heads.clone());
        let two = CheckpointRecord::seal(&signer(), 1, one.hash.clone(), t(), heads.clone());
        let both = [one.clone(), two.clone()];
        assert!(checkpoint_report(&both, Some(&both)).intact);
        let kind = |r: VerifyReport| r.first_break.map(|b| (b.kind, b.checkpoint_seq));
        assert_eq!(
            kind(checkpoint_report(&both[..1], Some(&both))),
            Some((BreakKind::CheckpointMissing, Some(2)))
        );
        assert!(
            checkpoint_report(&both, Some(&both[..1])).intact,
            "sealed but not witnessed yet"
        );
        assert_eq!(
            kind(checkpoint_report(&both, Some(&both[1..]))),
            Some((BreakKind::CheckpointNotWitnessed, Some(1)))
        );
        let forged = CheckpointRecord::seal(
            &CheckpointKey::from_seed([1; 32]),
            1,
            one.hash.clone(),
            t(),
            heads,
        );
        assert_eq!(
            kind(checkpoint_report(&[one.clone(), forged], None)),
            Some((BreakKind::CheckpointForged, Some(2)))
        );
        let mut altered = two.clone();
        altered.signature = one.signature.clone();
        assert_eq!(
            kind(checkpoint_report(&[one, altered], Some(&both))),
            Some((BreakKind::CheckpointForged, Some(2)))
        );
    }

    #[test]
    fn a_witnessed_stream_must_be_there_with_the_same_first_entry() {
        let rows = chain(2);
        let head = SealedHead {
            seq: 2,
            hash: rows[1].2.clone(),
        };
        let record = |first_hash: &str| StreamRecord {
            chain_key: "case:x".into(),
            first_hash: first_hash.into(),
            created_at: t(),
        };
        let run = |witnessed: &[StreamRecord], rows: &[(EntryFields<'static>, String, String)]| {
            let heads = BTreeMap::from([("case:x".to_owned(), head.clone())]);
            let mut v = Verifier::new(heads, key(), signer().public());
            v.witnessed_streams(witnessed);
            for (f, prev, hash) in rows {
                v.entry(&StoredEntry {
                    fields: f.clone(),
                    prev_hash: prev,
                    hash,
                });
            }
            v.finish()
        };
        assert!(run(&[record(&rows[0].2)], &rows).intact);
        let b = run(&[record(&"1".repeat(64))], &rows).first_break.unwrap();
        assert_eq!((b.kind, b.seq), (BreakKind::WitnessMismatch, Some(1)));
        let b = run(&[record(&rows[0].2)], &[]).first_break.unwrap();
        assert_eq!(
            b.kind,
            BreakKind::HeadMismatch,
            "the head row is still there"
        );
        let mut v = Verifier::new(BTreeMap::new(), key(), signer().public());
        v.witnessed_streams(&[record(&rows[0].2)]);
        let b = v.finish().first_break.unwrap();
        assert_eq!(
            (b.kind, b.chain_key.as_deref()),
            (BreakKind::StreamMissing, Some("case:x"))
        );
    }

    #[test]
    fn two_witnessed_records_of_one_stream_must_agree() {
        let rows = chain(1);
        let record = |first_hash: &str| StreamRecord {
            chain_key: "case:x".into(),
            first_hash: first_hash.into(),
            created_at: t(),
        };
        let run = |witnessed: &[StreamRecord]| {
            let head = SealedHead {
                seq: 1,
                hash: rows[0].2.clone(),
            };
            let heads = BTreeMap::from([("case:x".to_owned(), head)]);
            let mut v = Verifier::new(heads, key(), signer().public());
            v.witnessed_streams(witnessed);
            let (f, prev, hash) = &rows[0];
            v.entry(&StoredEntry {
                fields: f.clone(),
                prev_hash: prev,
                hash,
            });
            v.finish()
        };
        let same = record(&rows[0].2);
        assert!(
            run(&[same.clone(), same.clone()]).intact,
            "identical is fine"
        );
        let other = record(&"1".repeat(64));
        let report = run(&[same.clone(), other.clone(), other]);
        assert_eq!(report.breaks.len(), 1, "one break per stream: {report:?}");
        let b = report.first_break.unwrap();
        assert_eq!(
            (b.kind, b.chain_key.as_deref(), b.seq),
            (BreakKind::WitnessMismatch, Some("case:x"), None)
        );
    }

    #[test]
    fn a_stream_expected_but_absent_is_reported() {
        let mut v = Verifier::new(BTreeMap::new(), key(), signer().public());
        let id = uuid::Uuid::nil();
        v.expect_streams([ChainKey::case(id)]);
        let b = v.finish().first_break.unwrap();
        assert_eq!(b.kind, BreakKind::StreamMissing);
        assert_eq!(b.chain_key, Some(format!("case:{id}")));
    }

    fn chain(n: i64) -> Vec<(EntryFields<'static>, String, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let f = fields(seq, "{}");
                let h = entry_hash(&key(), &prev, &f);
                let row = (f, prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    fn verify(rows: &[(EntryFields<'static>, String, String)], head: SealedHead) -> VerifyReport {
        let heads = BTreeMap::from([("case:x".to_owned(), head)]);
        let mut v = Verifier::new(heads, key(), signer().public());
        for (f, prev, hash) in rows {
            v.entry(&StoredEntry {
                fields: f.clone(),
                prev_hash: prev,
                hash,
            });
        }
        v.finish()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let rows = chain(5);
        let head = SealedHead {
            seq: 5,
            hash: rows[4].2.clone(),
        };
        let r = verify(&rows, head);
        assert!(r.intact, "{r:?}");
        assert_eq!((r.entries_checked, r.chains_checked), (5, 1));
    }

    #[test]
    fn an_edited_entry_is_reported_at_its_position() {
        let mut rows = chain(5);
        rows[2].0.action = "case.delete";
        let head = SealedHead {
            seq: 5,
            hash: rows[4].2.clone(),
        };
        let r = verify(&rows, head);
        let b = r.first_break.unwrap();
        assert_eq!((b.kind, b.seq), (BreakKind::EntryAltered, Some(3)));
    }

    #[test]
    fn a_removed_entry_and_a_truncated_tail_are_reported() {
        let rows = chain(5);
        let head = SealedHead {
            seq: 5,
            hash: rows[4].2.clone(),
        };
        let mut gap = rows.clone();
        gap.remove(1);
        let b = verify(&gap, head.clone()).first_break.unwrap();
        assert_eq!((b.kind, b.seq), (BreakKind::SequenceGap, Some(3)));
        let b = verify(&rows[..4], head).first_break.unwrap();
        assert_eq!((b.kind, b.seq), (BreakKind::HeadMismatch, Some(4)));
    }
}
