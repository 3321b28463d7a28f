//! Personal data at rest: every column that identifies or describes a subject, their
//! guardians or the referrer is stored sealed (AES-256-GCM) under a data key of that
//! subject, and each data key is stored wrapped by a master key kept outside the
//! database. Destroying a subject's data key makes every copy sealed under it unreadable.
//!
//! Sealed values are `pv1:<data key id>:<base64 of nonce, ciphertext and tag>`; the
//! associated data binds each one to its table, column, row and data key, so a value
//! moved to another row or column does not open. Wrapped keys are `kw1:<base64>` and
//! record which master key wrapped them, so that two master keys can be read while
//! `pathway keys rotate` re-wraps every data key under a new one.
//!
//! The vault is lent to store code for one [`crate::store::Store::run`] call, like the
//! audit entry key: sealing and opening happen inside the store functions, and the
//! application layer sees plaintext rows only.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::conn::DbConnection;
use super::schema::{
    case_events, case_notes, cases, notifications, onward_referrals, subject_keys,
};
use super::trust::{KeyGeneration, KeyRules, TrustError, key_bytes};
use crate::config::Settings;

/// The prefix of a sealed value (version 1 of the format).
const SEALED_V1: &str = "pv1:";
/// The prefix of a wrapped data key (version 1 of the format).
const WRAPPED_V1: &str = "kw1:";
/// Nonce length of AES-GCM.
const NONCE_LEN: usize = 12;

/// A master key: wraps data keys. Its id is derived from the key, so it needs no
/// separate record and never reveals the key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    /// The master key of these 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> MasterKey {
        let mut h = Sha256::new();
        h.update(b"pathway vault master key id v1\0");
        h.update(key);
        MasterKey {
            id: hex::encode(&h.finalize()[..8]),
            key,
        }
    }

    /// Reads a master key file (64 hex digits); when it is missing and `rules` allow,
    /// creates one readable by the owner only.
    pub fn from_file(path: &std::path::Path, rules: KeyRules) -> Result<MasterKey, VaultError> {
        match key_bytes(path, rules) {
            Ok(bytes) => Ok(MasterKey::from_bytes(bytes)),
            Err(TrustError::KeyFile { path, reason }) => Err(VaultError::KeyFile { path, reason }),
            Err(other) => Err(VaultError::KeyFile {
                path: path.to_owned(),
                reason: other.to_string(),
            }),
        }
    }

    /// Its id, as recorded beside every data key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The master keys of a running service: the current one wraps new data keys; the
/// previous ones are only read (during and after a rotation).
#[derive(Debug, Clone)]
pub struct Vault {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

/// A vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Production runs only with a master key file it was given.
    #[error("vault: vault.master_key_file is not configured (production never generates it)")]
    NotConfigured,
    /// A master key file is missing, unreadable or not 64 hex digits.
    #[error("vault master key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong (never the key itself).
        reason: String,
    },
}

impl Vault {
    /// Loads the master key files named in the settings; local use generates a missing
    /// current key (mode 0600) when `generation` allows it (over a database that holds
    /// no data key), production refuses to start without one.
    pub fn load(settings: &Settings, generation: KeyGeneration) -> Result<Vault, VaultError> {
        let current = settings
            .vault
            .master_key_file
            .as_deref()
            .ok_or(VaultError::NotConfigured)?;
        let previous = settings
            .vault
            .previous_master_key_files
            .iter()
            .map(|p| MasterKey::from_file(p, KeyRules::existing(settings.environment)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Vault::new(
            MasterKey::from_file(current, KeyRules::new(settings.environment, generation))?,
            previous,
        ))
    }

    /// A vault of `current` and the read-only `previous` keys.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Vault {
        Vault { current, previous }
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    fn master(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|m| m.id == id)
    }
}

fn wrap_aad(key_id: &str) -> String {
    format!("pathway/subject-key/v1/{key_id}")
}

fn seal_aad(table: &str, column: &str, row_id: &str, key_id: &str) -> String {
    format!("pathway/v1/{table}.{column}/{row_id}/{key_id}")
}

fn corrupt(what: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.to_owned().into())
}

fn encrypt(key: &[u8; 32], msg: &[u8], aad: &[u8]) -> QueryResult<String> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce)
        .map_err(|_| diesel::result::Error::QueryBuilderError("no randomness".into()))?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg, aad })
        .map_err(|_| diesel::result::Error::QueryBuilderError("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(B64.encode(out))
}

fn decrypt(key: &[u8; 32], text: &str, aad: &[u8]) -> QueryResult<Vec<u8>> {
    let bytes = B64
        .decode(text)
        .map_err(|_| corrupt("a sealed value is not base64"))?;
    if bytes.len() < NONCE_LEN {
        return Err(corrupt("a sealed value is too short"));
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| corrupt("a sealed value has no nonce"))?;
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
        .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad })
        .map_err(|_| corrupt("a sealed value does not open under its key and place"))
}

/// Wraps a data key under `master`.
fn wrap(master: &MasterKey, key_id: &str, data_key: &[u8; 32]) -> QueryResult<String> {
    Ok(format!(
        "{WRAPPED_V1}{}",
        encrypt(&master.key, data_key, wrap_aad(key_id).as_bytes())?
    ))
}

/// Unwraps a data key with the master key of `master_id`.
fn unwrap_key(
    vault: &Vault,
    key_id: &str,
    master_id: &str,
    wrapped: &str,
) -> QueryResult<[u8; 32]> {
    let master = vault.master(master_id).ok_or_else(|| {
        diesel::result::Error::QueryBuilderError(
            format!("data keys wrapped by master key {master_id}: that key is not configured")
                .into(),
        )
    })?;
    let body = wrapped
        .strip_prefix(WRAPPED_V1)
        .ok_or_else(|| corrupt("a wrapped key has an unknown format"))?;
    decrypt(&master.key, body, wrap_aad(key_id).as_bytes())?
        .try_into()
        .map_err(|_| corrupt("a wrapped key is not 32 bytes"))
}

/// The vault lent to this thread, and the data keys opened so far.
struct Unit {
    vault: Arc<Vault>,
    keys: HashMap<String, Option<[u8; 32]>>,
    case_keys: HashMap<String, String>,
}

thread_local! {
    static UNIT: RefCell<Option<Unit>> = const { RefCell::new(None) };
}

/// Runs `f` with `vault` lent to the store functions it calls on this thread.
pub fn with_vault<T>(vault: &Arc<Vault>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Unit>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            UNIT.with(|u| *u.borrow_mut() = previous);
        }
    }
    let fresh = Unit {
        vault: vault.clone(),
        keys: HashMap::new(),
        case_keys: HashMap::new(),
    };
    let _restore = Restore(UNIT.with(|u| u.borrow_mut().replace(fresh)));
    f()
}

fn current_vault() -> QueryResult<Arc<Vault>> {
    UNIT.with(|u| u.borrow().as_ref().map(|u| u.vault.clone()))
        .ok_or_else(|| diesel::result::Error::QueryBuilderError("no vault on this thread".into()))
}

fn cached_key(key_id: &str) -> Option<Option<[u8; 32]>> {
    UNIT.with(|u| {
        u.borrow()
            .as_ref()
            .and_then(|u| u.keys.get(key_id).copied())
    })
}

fn cache_key(key_id: &str, key: Option<[u8; 32]>) {
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            u.keys.insert(key_id.to_owned(), key);
        }
    });
}

/// The data key of `key_id`; `None` once destroyed.
fn data_key(conn: &mut DbConnection, key_id: &str) -> QueryResult<Option<[u8; 32]>> {
    if let Some(found) = cached_key(key_id) {
        return Ok(found);
    }
    let vault = current_vault()?;
    let row: Option<(Option<String>, Option<String>)> = subject_keys::table
        .find(key_id)
        .select((subject_keys::wrapped_key, subject_keys::master_key_id))
        .first(conn)
        .optional()?;
    let key = match row {
        Some((Some(wrapped), Some(master))) => Some(unwrap_key(&vault, key_id, &master, &wrapped)?),
        Some(_) => None,
        None => return Err(corrupt("a sealed value names an unknown data key")),
    };
    cache_key(key_id, key);
    Ok(key)
}

/// Creates a new subject data key, wrapped under the current master key; its id.
pub fn create_subject_key(conn: &mut DbConnection, at: NaiveDateTime) -> QueryResult<String> {
    let vault = current_vault()?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key)
        .map_err(|_| diesel::result::Error::QueryBuilderError("no randomness".into()))?;
    diesel::insert_into(subject_keys::table)
        .values((
            subject_keys::id.eq(&id),
            subject_keys::wrapped_key.eq(Some(wrap(vault.current(), &id, &key)?)),
            subject_keys::master_key_id.eq(Some(vault.current().id())),
            subject_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    cache_key(&id, Some(key));
    Ok(id)
}

/// The data key a new case about the subject of `subject_key` is sealed under: the key
/// of the earliest case about the same person whose key still exists, else a new one.
pub fn key_for_subject(
    conn: &mut DbConnection,
    subject_key: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<String> {
    if let Some(sk) = subject_key {
        let shared: Option<String> = cases::table
            .inner_join(
                subject_keys::table.on(cases::subject_key_id.eq(subject_keys::id.nullable())),
            )
            .filter(cases::subject_key.eq(sk))
            .filter(subject_keys::destroyed_at.is_null())
            .order(cases::submitted_at)
            .select(subject_keys::id)
            .first(conn)
            .optional()?;
        if let Some(id) = shared {
            return Ok(id);
        }
    }
    create_subject_key(conn, at)
}

/// The data key id of a case; a case stored before keys existed, or whose key was
/// destroyed, gets a new one now.
pub fn key_of_case(conn: &mut DbConnection, case_id: &str) -> QueryResult<String> {
    let cached = UNIT.with(|u| {
        u.borrow()
            .as_ref()
            .and_then(|u| u.case_keys.get(case_id).cloned())
    });
    if let Some(id) = cached {
        return Ok(id);
    }
    let found: Option<String> = cases::table
        .find(case_id)
        .select(cases::subject_key_id)
        .first(conn)?;
    // A destroyed key seals nothing new: what is written after it gets a key of its own.
    let live = match found {
        Some(id) if data_key(conn, &id)?.is_some() => Some(id),
        _ => None,
    };
    let id = match live {
        Some(id) => id,
        None => {
            let id = create_subject_key(conn, crate::audit::now())?;
            diesel::update(cases::table.find(case_id))
                .set(cases::subject_key_id.eq(Some(&id)))
                .execute(conn)?;
            id
        }
    };
    remember_case_key(case_id, &id);
    Ok(id)
}

/// Notes, for the rest of this unit of work, that `case_id` is sealed under `key_id`.
pub fn remember_case_key(case_id: &str, key_id: &str) {
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            u.case_keys.insert(case_id.to_owned(), key_id.to_owned());
        }
    });
}

/// The data key a case should be sealed under once its subject's match key is
/// `subject_key`: the key of the earliest other case about the same person; else its
/// own key, unless that key is shared with cases about someone else, when a new one.
pub fn key_after_correction(
    conn: &mut DbConnection,
    case_id: &str,
    subject_key: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<String> {
    let own = key_of_case(conn, case_id)?;
    if let Some(sk) = subject_key {
        let shared: Option<String> = cases::table
            .inner_join(
                subject_keys::table.on(cases::subject_key_id.eq(subject_keys::id.nullable())),
            )
            .filter(cases::subject_key.eq(sk))
            .filter(cases::id.ne(case_id))
            .filter(subject_keys::destroyed_at.is_null())
            .order(cases::submitted_at)
            .select(subject_keys::id)
            .first(conn)
            .optional()?;
        if let Some(id) = shared {
            return Ok(id);
        }
    }
    let others: i64 = cases::table
        .filter(cases::subject_key_id.eq(&own))
        .filter(cases::id.ne(case_id))
        .count()
        .get_result(conn)?;
    if others == 0 {
        Ok(own)
    } else {
        create_subject_key(conn, at)
    }
}

/// Moves every personal value of a case (its row, history, notes, onward referrals
/// and notification recipients) from its data key to `new_key`, and records the new key on the case.
pub fn rekey_case(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    let old = key_of_case(conn, case_id)?;
    if old == new_key {
        return Ok(());
    }
    reseal_case(conn, case_id, new_key)?;
    // A key no case uses any more seals nothing that is needed: it goes.
    let still_used: i64 = cases::table
        .filter(cases::subject_key_id.eq(&old))
        .count()
        .get_result(conn)?;
    if still_used == 0 {
        destroy_subject_key(conn, &old, crate::audit::now())?;
    }
    Ok(())
}

/// Opens a personal value of `table.column` of row `id` (sealed or, from before
/// sealing, plain) and seals it again under `new_key`.
fn reseal(
    conn: &mut DbConnection,
    new_key: &str,
    (table, column): (&str, &str),
    id: &str,
    value: Option<&str>,
) -> QueryResult<Option<String>> {
    match value {
        Some(v) => {
            let plain = open_or_empty(conn, table, column, id, v)?;
            seal(conn, new_key, table, column, id, &plain).map(Some)
        }
        None => Ok(None),
    }
}

/// Opens every personal value of a case (sealed or, from before sealing, plain) and
/// seals it again under `new_key`, which becomes the case's key.
fn reseal_case(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    reseal_case_row(conn, case_id, new_key)?;
    reseal_events(conn, case_id, new_key)?;
    reseal_notes(conn, case_id, new_key)?;
    reseal_onward(conn, case_id, new_key)?;
    reseal_recipients(conn, case_id, new_key)?;
    UNIT.with(|u| {
        if let Some(u) = u.borrow_mut().as_mut() {
            u.case_keys.insert(case_id.to_owned(), new_key.to_owned());
        }
    });
    Ok(())
}

/// The case row's own personal values, and its key.
fn reseal_case_row(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    type CaseCols = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (referral, deconfliction, plan, consent, email): CaseCols = cases::table
        .find(case_id)
        .select((
            cases::referral,
            cases::deconfliction,
            cases::support_plan,
            cases::consent,
            cases::officer_email,
        ))
        .first(conn)?;
    let mut reseal =
        |column, value: Option<&str>| reseal(conn, new_key, ("cases", column), case_id, value);
    let referral = reseal("referral", Some(&referral))?;
    let deconfliction = reseal("deconfliction", deconfliction.as_deref())?;
    let plan = reseal("support_plan", plan.as_deref())?;
    let consent = reseal("consent", consent.as_deref())?;
    let email = reseal("officer_email", email.as_deref())?;
    diesel::update(cases::table.find(case_id))
        .set((
            cases::referral.eq(referral.unwrap_or_default()),
            cases::deconfliction.eq(deconfliction),
            cases::support_plan.eq(plan),
            cases::consent.eq(consent),
            cases::officer_email.eq(email),
            cases::subject_key_id.eq(Some(new_key)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The rationale and details of each of the case's history entries.
fn reseal_events(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    let events: Vec<(String, Option<String>, String)> = case_events::table
        .filter(case_events::case_id.eq(case_id))
        .select((
            case_events::id,
            case_events::rationale,
            case_events::details,
        ))
        .load(conn)?;
    for (id, rationale, details) in events {
        let t = "case_events";
        let rationale = reseal(conn, new_key, (t, "rationale"), &id, rationale.as_deref())?;
        let details = reseal(conn, new_key, (t, "details"), &id, Some(&details))?;
        diesel::update(case_events::table.find(&id))
            .set((
                case_events::rationale.eq(rationale),
                case_events::details.eq(details.unwrap_or_default()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The body of each of the case's notes.
fn reseal_notes(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    let notes: Vec<(String, String)> = case_notes::table
        .filter(case_notes::case_id.eq(case_id))
        .select((case_notes::id, case_notes::body))
        .load(conn)?;
    for (id, body) in notes {
        let body = reseal(conn, new_key, ("case_notes", "body"), &id, Some(&body))?;
        diesel::update(case_notes::table.find(&id))
            .set(case_notes::body.eq(body.unwrap_or_default()))
            .execute(conn)?;
    }
    Ok(())
}

/// The organisation, reason and note of each of the case's onward referrals.
fn reseal_onward(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    type OnwardCols = (String, String, String, Option<String>);
    let onward: Vec<OnwardCols> = onward_referrals::table
        .filter(onward_referrals::case_id.eq(case_id))
        .select((
            onward_referrals::id,
            onward_referrals::organisation,
            onward_referrals::reason,
            onward_referrals::note,
        ))
        .load(conn)?;
    for (id, organisation, reason, note) in onward {
        let t = "onward_referrals";
        let organisation = reseal(conn, new_key, (t, "organisation"), &id, Some(&organisation))?;
        let reason = reseal(conn, new_key, (t, "reason"), &id, Some(&reason))?;
        let note = reseal(conn, new_key, (t, "note"), &id, note.as_deref())?;
        diesel::update(onward_referrals::table.find(&id))
            .set((
                onward_referrals::organisation.eq(organisation.unwrap_or_default()),
                onward_referrals::reason.eq(reason.unwrap_or_default()),
                onward_referrals::note.eq(note),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The recipient of each notification about the case.
fn reseal_recipients(conn: &mut DbConnection, case_id: &str, new_key: &str) -> QueryResult<()> {
    let recipients: Vec<(String, String)> = notifications::table
        .filter(notifications::case_id.eq(case_id))
        .select((notifications::id, notifications::recipient))
        .load(conn)?;
    for (id, recipient) in recipients {
        let t = ("notifications", "recipient");
        let recipient = reseal(conn, new_key, t, &id, Some(&recipient))?;
        diesel::update(notifications::table.find(&id))
            .set(notifications::recipient.eq(recipient.unwrap_or_default()))
            .execute(conn)?;
    }
    Ok(())
}

/// The cases holding a personal value stored before sealing (no `pv1:` prefix).
fn cases_with_plain_values(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let sealed = format!("{SEALED_V1}%");
    let mut ids: Vec<String> = cases::table
        .filter(
            cases::referral
                .not_like(&sealed)
                .or(cases::deconfliction.not_like(&sealed))
                .or(cases::support_plan.not_like(&sealed))
                .or(cases::consent.not_like(&sealed))
                .or(cases::officer_email.not_like(&sealed)),
        )
        .select(cases::id)
        .load(conn)?;
    ids.extend(
        case_events::table
            .filter(
                case_events::details
                    .not_like(&sealed)
                    .or(case_events::rationale.not_like(&sealed)),
            )
            .select(case_events::case_id)
            .load::<String>(conn)?,
    );
    ids.extend(
        case_notes::table
            .filter(case_notes::body.not_like(&sealed))
            .select(case_notes::case_id)
            .load::<String>(conn)?,
    );
    ids.extend(
        onward_referrals::table
            .filter(
                onward_referrals::organisation
                    .not_like(&sealed)
                    .or(onward_referrals::reason.not_like(&sealed))
                    .or(onward_referrals::note.not_like(&sealed)),
            )
            .select(onward_referrals::case_id)
            .load::<String>(conn)?,
    );
    ids.extend(
        notifications::table
            .filter(notifications::recipient.not_like(&sealed))
            .select(notifications::case_id)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten(),
    );
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Seals every personal value stored before sealing existed, case by case (each in
/// its own transaction), under the case's key or, for a case without one, the key of
/// the earliest case about the same person. The number of cases sealed.
pub fn seal_existing(conn: &mut DbConnection) -> QueryResult<usize> {
    let mut ids = cases_with_plain_values(conn)?;
    // Oldest first, so that a later case about the same person takes the earlier's key.
    let order: Vec<(String, NaiveDateTime)> = cases::table
        .filter(cases::id.eq_any(&ids))
        .select((cases::id, cases::submitted_at))
        .load(conn)?;
    ids.sort_by_key(|id| order.iter().find(|(i, _)| i == id).map(|(_, t)| *t));
    for id in &ids {
        super::write_transaction(conn, |c| -> QueryResult<()> {
            let (own, subject_key, at): (Option<String>, Option<String>, NaiveDateTime) =
                cases::table
                    .find(id)
                    .select((
                        cases::subject_key_id,
                        cases::subject_key,
                        cases::submitted_at,
                    ))
                    .first(c)?;
            let key = match own {
                Some(k) => k,
                None => key_for_subject(c, subject_key.as_deref(), at)?,
            };
            reseal_case(c, id, &key)
        })?;
    }
    Ok(ids.len())
}

/// Seals `plain` for `table.column` of row `row_id` under data key `key_id`.
pub fn seal(
    conn: &mut DbConnection,
    key_id: &str,
    table: &str,
    column: &str,
    row_id: &str,
    plain: &str,
) -> QueryResult<String> {
    let key = data_key(conn, key_id)?.ok_or_else(|| {
        diesel::result::Error::QueryBuilderError("the subject's data key was destroyed".into())
    })?;
    let aad = seal_aad(table, column, row_id, key_id);
    Ok(format!(
        "{SEALED_V1}{key_id}:{}",
        encrypt(&key, plain.as_bytes(), aad.as_bytes())?
    ))
}

/// Seals an optional value.
pub fn seal_opt(
    conn: &mut DbConnection,
    key_id: &str,
    table: &str,
    column: &str,
    row_id: &str,
    plain: Option<&str>,
) -> QueryResult<Option<String>> {
    plain
        .map(|p| seal(conn, key_id, table, column, row_id, p))
        .transpose()
}

/// Opens a value of `table.column` of row `row_id`: `None` when its data key was
/// destroyed. A value stored before encryption (no `pv1:` prefix) is returned as it is.
pub fn open(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
    row_id: &str,
    stored: &str,
) -> QueryResult<Option<String>> {
    let Some(rest) = stored.strip_prefix(SEALED_V1) else {
        return Ok(Some(stored.to_owned()));
    };
    let (key_id, body) = rest
        .split_once(':')
        .ok_or_else(|| corrupt("a sealed value has no key id"))?;
    let Some(key) = data_key(conn, key_id)? else {
        return Ok(None);
    };
    let aad = seal_aad(table, column, row_id, key_id);
    let plain = decrypt(&key, body, aad.as_bytes())?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| corrupt("a sealed value is not text"))
}

/// Opens a value that must be present: empty once its key was destroyed.
pub fn open_or_empty(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
    row_id: &str,
    stored: &str,
) -> QueryResult<String> {
    Ok(open(conn, table, column, row_id, stored)?.unwrap_or_default())
}

/// Opens an optional value: none once its key was destroyed.
pub fn open_opt(
    conn: &mut DbConnection,
    table: &str,
    column: &str,
    row_id: &str,
    stored: Option<&str>,
) -> QueryResult<Option<String>> {
    Ok(match stored {
        Some(s) => open(conn, table, column, row_id, s)?,
        None => None,
    })
}

/// Destroys a data key: its wrapped copy is removed and the time recorded, so that
/// nothing sealed under it can be opened again. Rows changed (0 when already gone).
pub fn destroy_subject_key(
    conn: &mut DbConnection,
    key_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let changed = diesel::update(
        subject_keys::table
            .filter(subject_keys::id.eq(key_id))
            .filter(subject_keys::destroyed_at.is_null()),
    )
    .set((
        subject_keys::wrapped_key.eq(None::<String>),
        subject_keys::master_key_id.eq(None::<String>),
        subject_keys::destroyed_at.eq(Some(at)),
    ))
    .execute(conn)?;
    cache_key(key_id, None);
    Ok(changed)
}

/// Destroys the data key of a case's subject (shared by the cases linked to it);
/// rows changed.
pub fn destroy_case_key(
    conn: &mut DbConnection,
    case_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let key: Option<String> = cases::table
        .find(case_id)
        .select(cases::subject_key_id)
        .first(conn)?;
    match key {
        Some(k) => destroy_subject_key(conn, &k, at),
        None => Ok(0),
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Data keys re-wrapped under the new master key.
    pub rewrapped: usize,
    /// Data keys already under it.
    pub already: usize,
    /// Destroyed data keys (nothing to re-wrap).
    pub destroyed: usize,
}

/// Re-wraps every data key under `new`, reading the old wrapping with `vault`. Each key
/// is changed by a conditional update of its own, so servers keep running: a server
/// that can read both the old and the new master key reads every key at every moment.
pub fn rotate(conn: &mut DbConnection, vault: &Vault, new: &MasterKey) -> QueryResult<Rotation> {
    type KeyRow = (String, Option<String>, Option<String>);
    let rows: Vec<KeyRow> = subject_keys::table
        .order(subject_keys::id)
        .select((
            subject_keys::id,
            subject_keys::wrapped_key,
            subject_keys::master_key_id,
        ))
        .load(conn)?;
    let mut report = Rotation::default();
    for (id, wrapped, master) in rows {
        let (Some(wrapped), Some(master)) = (wrapped, master) else {
            report.destroyed += 1;
            continue;
        };
        if master == new.id() {
            report.already += 1;
            continue;
        }
        let key = unwrap_key(vault, &id, &master, &wrapped)?;
        let changed = diesel::update(
            subject_keys::table
                .filter(subject_keys::id.eq(&id))
                .filter(subject_keys::master_key_id.eq(&master))
                .filter(subject_keys::wrapped_key.eq(&wrapped)),
        )
        .set((
            subject_keys::wrapped_key.eq(Some(wrap(new, &id, &key)?)),
            subject_keys::master_key_id.eq(Some(new.id())),
        ))
        .execute(conn)?;
        // 0: destroyed meanwhile, which is not an error.
        report.rewrapped += changed;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_in_its_place_and_under_its_key() {
        let key = [7u8; 32];
        let aad = seal_aad("cases", "referral", "row-1", "k1");
        let sealed = encrypt(&key, b"Sam Taylor", aad.as_bytes()).unwrap();
        assert!(!sealed.contains("Sam"));
        assert_eq!(
            decrypt(&key, &sealed, aad.as_bytes()).unwrap(),
            b"Sam Taylor"
        );
        let moved = seal_aad("cases", "referral", "row-2", "k1");
        assert!(
            decrypt(&key, &sealed, moved.as_bytes()).is_err(),
            "other row"
        );
        let column = seal_aad("cases", "consent", "row-1", "k1");
        assert!(
            decrypt(&key, &sealed, column.as_bytes()).is_err(),
            "other column"
        );
        assert!(
            decrypt(&[8u8; 32], &sealed, aad.as_bytes()).is_err(),
            "other key"
        );
    }

    #[test]
    fn a_data_key_unwraps_under_the_master_key_that_wrapped_it() {
        let old = MasterKey::from_bytes([1; 32]);
        let new = MasterKey::from_bytes([2; 32]);
        assert_ne!(old.id(), new.id());
        let wrapped = wrap(&old, "k1", &[9; 32]).unwrap();
        let both = Vault::new(new.clone(), vec![old.clone()]);
        assert_eq!(
            unwrap_key(&both, "k1", old.id(), &wrapped).unwrap(),
            [9; 32]
        );
        assert!(
            unwrap_key(&both, "k2", old.id(), &wrapped).is_err(),
            "bound to its id"
        );
        let only_new = Vault::new(new.clone(), vec![]);
        assert!(unwrap_key(&only_new, "k1", old.id(), &wrapped).is_err());
        assert!(!format!("{old:?}").contains("0101"), "Debug shows no key");
    }
}
