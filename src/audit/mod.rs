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
//! Entries never carry personal data (names, dates of birth, addresses, narratives):
//! the log must outlive the deletion of a case's personal data, and it cannot be edited.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{NaiveDateTime, SubsecRound};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version of the canonical encoding, hashed into every entry.
const ENCODING_VERSION: u32 = 1;

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

/// The hash of an entry: SHA-256 over the previous hash and a canonical JSON array of
/// every field, so that any change to any field, or to the order, changes it.
pub fn entry_hash(prev_hash: &str, e: &EntryFields<'_>) -> String {
    let body = serde_json::json!([
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
    ]);
    sha256_hex(prev_hash, &body.to_string())
}

/// A stream head sealed by a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SealedHead {
    /// The head's position.
    pub seq: i64,
    /// The head's hash.
    pub hash: String,
}

/// The hash of a checkpoint: its position, time and sealed heads, chained to the previous one.
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

/// What kind of damage the verifier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// An entry's fields no longer match its hash.
    EntryAltered,
    /// An entry's `prev_hash` is not its predecessor's hash.
    ChainLinkBroken,
    /// Entries are missing or out of order within a stream.
    SequenceGap,
    /// A stream's recorded head is not its last entry (entries removed from the end).
    HeadMismatch,
    /// A checkpoint's fields no longer match its hash.
    CheckpointAltered,
    /// A checkpoint's `prev_hash` is not its predecessor's hash, or one is missing.
    CheckpointLinkBroken,
    /// A checkpoint sealed an entry that is gone or changed.
    SealedEntryMissing,
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
    /// The first break in (stream, position) order, then checkpoints.
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
    heads: BTreeMap<String, SealedHead>,
    /// Heads sealed by checkpoints: (stream, position) → (checkpoint, hash).
    sealed: BTreeMap<(String, i64), (i64, String)>,
    current: Option<(String, i64, String)>,
    last_checkpoint: Option<(i64, String)>,
    report: VerifyReport,
}

impl Verifier {
    /// `heads`: each stream's recorded head.
    pub fn new(heads: BTreeMap<String, SealedHead>) -> Verifier {
        Verifier {
            heads,
            sealed: BTreeMap::new(),
            current: None,
            last_checkpoint: None,
            report: VerifyReport {
                intact: true,
                entries_checked: 0,
                chains_checked: 0,
                checkpoints_checked: 0,
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
        let computed = entry_hash(e.prev_hash, &e.fields);
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

    /// Feeds the next checkpoint, in order, before any entry: checks its link and hash,
    /// and remembers the heads it sealed so the entry scan can find them.
    pub fn checkpoint(
        &mut self,
        seq: i64,
        created_at: NaiveDateTime,
        heads: &str,
        prev_hash: &str,
        hash: &str,
    ) {
        self.report.checkpoints_checked += 1;
        let (expected_seq, expected_prev) = self
            .last_checkpoint
            .clone()
            .map_or((1, GENESIS_HASH.to_owned()), |(s, h)| (s + 1, h));
        let brk = |kind| Break {
            kind,
            chain_key: None,
            seq: None,
            entry_id: None,
            checkpoint_seq: Some(seq),
        };
        if seq != expected_seq || prev_hash != expected_prev {
            self.record(brk(BreakKind::CheckpointLinkBroken));
        }
        let sealed: Option<BTreeMap<String, SealedHead>> = serde_json::from_str(heads).ok();
        if checkpoint_hash(prev_hash, seq, created_at, heads) != hash || sealed.is_none() {
            self.record(brk(BreakKind::CheckpointAltered));
        }
        for (key, head) in sealed.unwrap_or_default() {
            self.sealed.insert((key, head.seq), (seq, head.hash));
        }
        self.last_checkpoint = Some((seq, hash.to_owned()));
    }

    /// Ends the scan: streams whose heads were recorded but that had no entries, and
    /// sealed entries never seen, are breaks too.
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
        let base = entry_hash(GENESIS_HASH, &fields(1, "{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            entry_hash(GENESIS_HASH, &fields(1, "{}")),
            "deterministic"
        );
        assert_ne!(base, entry_hash(&"1".repeat(64), &fields(1, "{}")));
        assert_ne!(base, entry_hash(GENESIS_HASH, &fields(2, "{}")));
        assert_ne!(base, entry_hash(GENESIS_HASH, &fields(1, r#"{"a":1}"#)));
        let mut f = fields(1, "{}");
        f.actor_sub = "officer-2";
        assert_ne!(base, entry_hash(GENESIS_HASH, &f));
        let mut f = fields(1, "{}");
        f.occurred_at += chrono::Duration::microseconds(1);
        assert_ne!(base, entry_hash(GENESIS_HASH, &f));
        let mut f = fields(1, "{}");
        f.request_id = None;
        assert_ne!(base, entry_hash(GENESIS_HASH, &f));
    }

    fn chain(n: i64) -> Vec<(EntryFields<'static>, String, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let f = fields(seq, "{}");
                let h = entry_hash(&prev, &f);
                let row = (f, prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    fn verify(rows: &[(EntryFields<'static>, String, String)], head: SealedHead) -> VerifyReport {
        let heads = BTreeMap::from([("case:x".to_owned(), head)]);
        let mut v = Verifier::new(heads);
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
