use diesel::connection::SimpleConnection;
use pathway::audit::{AuditContext, AuditEvent, BreakKind, ChainKey, Outcome, VerifyReport};
use pathway::store::DbConnection;
use pathway::store::audit as audit_store;
use pathway::store::trust::AuditTrust;
use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, TestAuditFiles, TestBackend, TestDatabase, assert_problem, backend,
    referral_body, spawn_app,
};

fn ctx(sub: &str) -> AuditContext {
    AuditContext {
        actor_sub: sub.into(),
        actor_roles: "prevent_officer".into(),
        request_id: Some("req".into()),
    }
}

fn event(chain: ChainKey, action: &str) -> AuditEvent {
    AuditEvent {
        chain,
        action: action.into(),
        case_id: None,
        area: AREA.into(),
        outcome: Outcome::Ok,
        details: json!({"n": 1}),
    }
}

fn append(trust: &AuditTrust, conn: &mut DbConnection, events: &[AuditEvent]) {
    audit_store::with_entry_key(&trust.entry_key, || {
        pathway::store::write_transaction(conn, |c| {
            audit_store::append(c, &ctx("officer-1"), events)
        })
    })
    .unwrap();
}

fn verify(trust: &AuditTrust, conn: &mut DbConnection) -> VerifyReport {
    audit_store::verify(
        conn,
        &trust.entry_key,
        &trust.public_key(),
        Some(&trust.witness),
    )
    .unwrap()
}

fn checkpoint(trust: &AuditTrust, conn: &mut DbConnection) -> Option<audit_store::CheckpointRow> {
    audit_store::checkpoint(conn, trust).unwrap()
}

fn migrated(db: &TestDatabase) -> DbConnection {
    let mut conn = db.connect();
    pathway::store::run_migrations(&mut conn).unwrap();
    conn
}

/// A migrated database with its own audit keys and witness.
fn fixture() -> (TestDatabase, TestAuditFiles, AuditTrust, DbConnection) {
    let db = TestDatabase::fresh();
    let files = TestAuditFiles::new();
    let trust = files.trust();
    let conn = migrated(&db);
    (db, files, trust, conn)
}

/// Runs `sql` with the append-only triggers out of the way, as someone with direct
/// database access might, to prove the verifier catches what the triggers would stop.
fn tamper(conn: &mut DbConnection, sql: &str) {
    let wrapped = match conn {
        DbConnection::Postgres(_) => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER USER; \
             ALTER TABLE audit_checkpoints DISABLE TRIGGER USER; {sql}; \
             ALTER TABLE audit_log ENABLE TRIGGER USER; \
             ALTER TABLE audit_checkpoints ENABLE TRIGGER USER;"
        ),
        DbConnection::Sqlite(_) => format!(
            "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; \
             DROP TRIGGER IF EXISTS audit_checkpoints_no_update; \
             DROP TRIGGER IF EXISTS audit_checkpoints_no_delete; {sql};"
        ),
    };
    conn.batch_execute(&wrapped).unwrap();
}

#[tokio::test]
async fn reads_of_the_audit_log_are_themselves_audited() {
    let app = spawn_app().await;
    let token = app.token("auditor-1", &["auditor"], AREA);
    let first = app.get("/v1/audit", Some(&token)).await;
    let first_id = first.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["items"], json!([]));
    let second: Value = app
        .get("/v1/audit", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let items = second["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{second}");
    let entry = &items[0];
    assert_eq!(entry["action"], "audit.read");
    assert_eq!(entry["actor"], "auditor-1");
    assert_eq!(entry["actor_roles"], json!(["auditor"]));
    assert_eq!(entry["request_id"], first_id.as_str());
    assert_eq!(entry["outcome"], "ok");
    assert_eq!(entry["chain"], "actor:auditor-1");
    assert_eq!(entry["seq"], 1);
    assert_eq!(entry["hash"].as_str().unwrap().len(), 64);
    chrono::DateTime::parse_from_rfc3339(entry["occurred_at"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn only_auditors_read_the_log_and_refusals_are_recorded() {
    let app = spawn_app().await;
    for role in [
        "referrer",
        "prevent_officer",
        "channel_chair",
        "panel_member",
        "admin",
    ] {
        let token = app.token(&format!("{role}-1"), &[role], AREA);
        assert_problem(
            app.get("/v1/audit", Some(&token)).await,
            403,
            "role_not_allowed",
        )
        .await;
        assert_problem(
            app.get("/v1/audit/verify", Some(&token)).await,
            403,
            "role_not_allowed",
        )
        .await;
    }
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    // An unknown filter is refused rather than silently ignored.
    assert_problem(
        app.get("/v1/audit?outcome=denied", Some(&auditor)).await,
        400,
        "invalid_query",
    )
    .await;
    let page: Value = app
        .get("/v1/audit?action=audit.read", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    let denied: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 5, "{page}");
    let page: Value = app
        .get("/v1/audit?action=audit.verify", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn auditors_see_their_own_area_and_national_auditors_see_all() {
    let app = spawn_app().await;
    let here = app.token("auditor-here", &["auditor"], AREA);
    let there = app.token("auditor-there", &["auditor"], OTHER_AREA);
    let national = app.token("auditor-national", &["auditor"], "national");
    app.get("/v1/audit", Some(&here)).await;
    app.get("/v1/audit", Some(&there)).await;
    let areas = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["area"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen_here = areas(
        app.get("/v1/audit", Some(&here))
            .await
            .json()
            .await
            .unwrap(),
    );
    assert!(
        !seen_here.is_empty() && seen_here.iter().all(|a| a == AREA),
        "{seen_here:?}"
    );
    // An auditor who also sits on a panel may see cases of other areas through the panel,
    // but no entry of another area that is about no case (the other auditor's reads).
    let member = app.token("auditor-member", &["auditor", "panel_member"], AREA);
    let seen_by_member = areas(
        app.get("/v1/audit?limit=200", Some(&member))
            .await
            .json()
            .await
            .unwrap(),
    );
    assert!(
        !seen_by_member.is_empty() && seen_by_member.iter().all(|a| a == AREA),
        "{seen_by_member:?}"
    );
    let seen = areas(
        app.get("/v1/audit", Some(&national))
            .await
            .json()
            .await
            .unwrap(),
    );
    assert!(
        seen.iter().any(|a| a == AREA) && seen.iter().any(|a| a == OTHER_AREA),
        "{seen:?}"
    );
}

#[tokio::test]
async fn the_log_pages_with_a_cursor_and_filters() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let case: uuid::Uuid = app.file(&referral_body()).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for i in 0..7 {
        let mut e = event(ChainKey::case(case), &format!("case.step_{i}"));
        e.case_id = Some(case);
        append(&trust, &mut conn, &[e]);
    }
    append(
        &trust,
        &mut conn,
        &[event(ChainKey::actor("someone-else"), "case.list")],
    );
    let token = app.token("auditor-1", &["auditor"], AREA);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit?case_id={case}&limit=3&order=asc&cursor={c}"),
            None => format!("/v1/audit?case_id={case}&limit=3&order=asc"),
        };
        let page: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|e| e["action"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.retain(|a| a.starts_with("case.step_"));
    let expected: Vec<String> = (0..7).map(|i| format!("case.step_{i}")).collect();
    assert_eq!(seen, expected, "every entry once, oldest first");
    let by_actor: Value = app
        .get("/v1/audit?actor=officer-1&action=case.list", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 1);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let later: Value = app
        .get(&format!("/v1/audit?from={future}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["items"], json!([]));
}

#[tokio::test]
async fn verify_reports_an_intact_log_and_then_the_first_altered_entry() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let case = uuid::Uuid::new_v4();
    for i in 0..4 {
        append(
            &trust,
            &mut conn,
            &[event(ChainKey::case(case), &format!("case.step_{i}"))],
        );
    }
    let token = app.token("auditor-1", &["auditor"], AREA);
    let report: Value = app
        .get("/v1/audit/verify", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["entries_checked"], 4);
    assert_eq!(report["first_break"], Value::Null);

    tamper(
        &mut conn,
        &format!(
            "UPDATE audit_log SET action = 'case.nothing' WHERE chain_key = 'case:{case}' AND seq = 3"
        ),
    );
    let report: Value = app
        .get("/v1/audit/verify", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["intact"], false, "{report}");
    let first = &report["first_break"];
    assert_eq!(first["kind"], "entry_altered");
    assert_eq!(first["chain_key"], format!("case:{case}"));
    assert_eq!(first["seq"], 3);
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_records() {
    let (_db, _files, trust, mut conn) = fixture();
    append(&trust, &mut conn, &[event(ChainKey::actor("a"), "x.y")]);
    checkpoint(&trust, &mut conn).expect("a checkpoint");
    for sql in [
        "UPDATE audit_log SET action = 'other'",
        "DELETE FROM audit_log",
        "UPDATE audit_checkpoints SET heads = '{}'",
        "DELETE FROM audit_checkpoints",
    ] {
        let err = conn.batch_execute(sql).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if backend() == TestBackend::Postgres {
        let err = conn
            .batch_execute("TRUNCATE audit_log")
            .expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert!(verify(&trust, &mut conn).intact);
}

#[tokio::test]
async fn a_deleted_entry_and_a_truncated_tail_are_found() {
    let (_db, _files, trust, mut conn) = fixture();
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for _ in 0..5 {
        append(
            &trust,
            &mut conn,
            &[event(ChainKey::case(a), "a"), event(ChainKey::case(b), "b")],
        );
    }
    tamper(
        &mut conn,
        &format!("DELETE FROM audit_log WHERE chain_key = 'case:{a}' AND seq = 2"),
    );
    let report = verify(&trust, &mut conn);
    let first = report.first_break.unwrap();
    assert_eq!(
        (first.kind, first.seq),
        (BreakKind::SequenceGap, Some(3)),
        "{:?}",
        report.breaks
    );

    tamper(
        &mut conn,
        &format!("DELETE FROM audit_log WHERE chain_key = 'case:{b}' AND seq = 5"),
    );
    let report = verify(&trust, &mut conn);
    assert!(
        report
            .breaks
            .iter()
            .any(|br| br.kind == BreakKind::HeadMismatch
                && br.chain_key.as_deref() == Some(&format!("case:{b}"))),
        "{:?}",
        report.breaks
    );
}

#[tokio::test]
async fn checkpoints_seal_moved_heads_and_catch_a_rewritten_tail() {
    let (_db, _files, trust, mut conn) = fixture();
    let case = uuid::Uuid::new_v4();
    assert!(
        checkpoint(&trust, &mut conn).is_none(),
        "nothing to seal yet"
    );
    append(
        &trust,
        &mut conn,
        &[
            event(ChainKey::case(case), "one"),
            event(ChainKey::actor("x"), "two"),
        ],
    );
    let first = checkpoint(&trust, &mut conn).unwrap();
    let sealed: Value = serde_json::from_str(&first.heads).unwrap();
    assert_eq!(sealed.as_object().unwrap().len(), 2);
    assert!(
        checkpoint(&trust, &mut conn).is_none(),
        "no stream moved since"
    );
    append(&trust, &mut conn, &[event(ChainKey::case(case), "three")]);
    let second = checkpoint(&trust, &mut conn).unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    let sealed: Value = serde_json::from_str(&second.heads).unwrap();
    assert_eq!(
        sealed.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&format!("case:{case}")]
    );
    let report = verify(&trust, &mut conn);
    assert!(report.intact, "{report:?}");
    assert_eq!(report.checkpoints_checked, 2);

    // Remove the sealed last entry and move the head back so the stream looks whole:
    // only the checkpoint can tell.
    tamper(
        &mut conn,
        &format!(
            "DELETE FROM audit_log WHERE chain_key = 'case:{case}' AND seq = 2; \
             UPDATE audit_chains SET head_seq = 1, head_hash = (SELECT hash FROM audit_log WHERE chain_key = 'case:{case}' AND seq = 1) WHERE chain_key = 'case:{case}'"
        ),
    );
    let report = verify(&trust, &mut conn);
    let first = report.first_break.unwrap();
    assert_eq!(
        first.kind,
        BreakKind::SealedEntryMissing,
        "{:?}",
        report.breaks
    );
    assert_eq!(first.checkpoint_seq, Some(2));
}

#[tokio::test]
async fn concurrent_appends_to_many_and_to_shared_streams_stay_chained() {
    let (db, _files, trust, _conn) = fixture();
    let shared = uuid::Uuid::new_v4();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let url = db.url.clone();
            let trust = trust.clone();
            std::thread::spawn(move || {
                let mut conn = {
                    use diesel::Connection;
                    DbConnection::establish(&url).unwrap()
                };
                if let DbConnection::Sqlite(_) = conn {
                    conn.batch_execute("PRAGMA busy_timeout = 20000").unwrap();
                }
                let own = uuid::Uuid::new_v4();
                for i in 0..25 {
                    let events = [
                        event(ChainKey::case(own), &format!("own_{i}")),
                        event(ChainKey::case(shared), &format!("shared_{w}_{i}")),
                    ];
                    append(&trust, &mut conn, &events);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut conn = db.connect();
    let report = verify(&trust, &mut conn);
    assert!(report.intact, "{:?}", report.breaks);
    assert_eq!(report.entries_checked, 6 * 25 * 2);
    assert_eq!(report.chains_checked, 7);
}

#[tokio::test]
async fn the_cli_verifies_and_exits_non_zero_on_a_broken_log() {
    let (db, files, trust, mut conn) = fixture();
    append(
        &trust,
        &mut conn,
        &[
            event(ChainKey::actor("a"), "x.y"),
            event(ChainKey::actor("a"), "x.z"),
        ],
    );
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
            .args(args)
            .arg("--database-url")
            .arg(&db.url)
            .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
            .env("PATHWAY__LOG__FILTER", "off")
            .envs(files.env())
            .output()
            .unwrap()
    };
    let ok = run(&["audit", "checkpoint"]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("checkpoint 1 sealed"));
    let ok = run(&["audit", "verify"]);
    assert!(ok.status.success(), "{ok:?}");
    let report: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["intact"], true);
    tamper(
        &mut conn,
        "UPDATE audit_log SET actor_sub = 'someone-else' WHERE seq = 1",
    );
    let broken = run(&["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(report["first_break"]["kind"], "entry_altered");
}

#[tokio::test]
async fn the_server_seals_checkpoints_on_its_timer() {
    let app = crate::helpers::spawn_app_with(|s| s.audit.checkpoint_interval_seconds = 1).await;
    let trust = app.trust();
    let token = app.token("auditor-1", &["auditor"], AREA);
    app.get("/v1/audit", Some(&token)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let report = verify(&trust, &mut app.db.connect());
        assert!(report.intact, "{report:?}");
        if report.checkpoints_checked >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint sealed within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

// --- Tampering by someone with the database's own credentials -------------------------

/// `pathway audit verify --witness DIR` against the app's database and keys.
fn cli_verify(app: &crate::helpers::TestApp) -> (Option<i32>, Value) {
    // The server (in this process) witnesses new streams from a writer thread.
    pathway::store::trust::settle_all();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["audit", "verify", "--witness"])
        .arg(app.audit.witness_dir())
        .arg("--database-url")
        .arg(&app.db.url)
        .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
        .env("PATHWAY__LOG__FILTER", "off")
        .envs(app.audit.env())
        // The flag, not the configured directory, is what is compared.
        .env("PATHWAY__AUDIT__WITNESS_DIR", "/nonexistent-witness")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

/// Verifies through the HTTP endpoint and the CLI, and returns the HTTP report.
async fn verify_both(app: &crate::helpers::TestApp) -> Value {
    let (code, cli) = cli_verify(app);
    let token = app.token("auditor-1", &["auditor"], AREA);
    let http: Value = app
        .get("/v1/audit/verify", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cli["intact"], http["intact"], "CLI {cli}\nHTTP {http}");
    assert_eq!(
        cli["first_break"], http["first_break"],
        "CLI {cli}\nHTTP {http}"
    );
    assert_eq!(code, Some(if http["intact"] == true { 0 } else { 1 }));
    http
}

async fn assert_broken(app: &crate::helpers::TestApp, kind: &str) -> Value {
    let report = verify_both(app).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_break"]["kind"], kind, "{report}");
    report
}

/// A filed case whose stream has `reads + 1` entries.
async fn case_with_entries(app: &crate::helpers::TestApp, reads: usize) -> String {
    let id = app.file(&crate::helpers::referral_body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..reads {
        let r = app
            .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
            .await;
        assert_eq!(r.status().as_u16(), 200);
    }
    id
}

/// The unkeyed SHA-256 an attacker without the key can compute (the former scheme).
fn unkeyed_hash(prev: &str, row: &audit_store::AuditEntryRow) -> String {
    use sha2::{Digest, Sha256};
    let body = json!([
        2,
        row.id,
        row.chain_key,
        row.seq,
        row.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        row.request_id,
        row.actor_sub,
        row.actor_roles,
        row.area,
        row.action,
        row.case_id,
        row.outcome,
        row.details,
    ]);
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn stream(conn: &mut DbConnection, key: &str) -> Vec<audit_store::AuditEntryRow> {
    use diesel::prelude::*;
    use pathway::store::schema::audit_log;
    audit_log::table
        .filter(audit_log::chain_key.eq(key))
        .order(audit_log::seq)
        .select(audit_store::AuditEntryRow::as_select())
        .load(conn)
        .unwrap()
}

#[tokio::test]
async fn an_untouched_log_verifies_intact_by_cli_and_http() {
    let app = spawn_app().await;
    let trust = app.trust();
    case_with_entries(&app, 2).await;
    checkpoint(&trust, &mut app.db.connect()).expect("sealed");
    case_with_entries(&app, 1).await;
    let report = verify_both(&app).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["witnessed_checked"], 1);
    assert_eq!(report["checkpoints_checked"], 1);
    let trust = app.trust();
    assert_eq!(
        trust.witness.read_all().unwrap().len(),
        1,
        "one file per checkpoint"
    );
    let streams: Vec<String> = trust
        .witness
        .read_streams()
        .unwrap()
        .into_iter()
        .map(|s| s.chain_key)
        .collect();
    assert!(
        streams.iter().filter(|k| k.starts_with("case:")).count() == 2
            && streams.iter().any(|k| k == "actor:auditor-1"),
        "each new stream witnessed as it is created: {streams:?}"
    );
}

#[tokio::test]
async fn an_edit_with_the_unkeyed_chain_recomputed_is_found() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let id = case_with_entries(&app, 3).await;
    checkpoint(&trust, &mut conn).expect("sealed");
    let key = format!("case:{id}");
    // Change a detail of entry 2, then rehash it and every later entry, and the head,
    // as anyone can who knows the encoding but not the key.
    let mut rows = stream(&mut conn, &key);
    rows[1].details = r#"{"view":"nothing_to_see"}"#.into();
    let mut prev = rows[0].hash.clone();
    let mut sql = String::new();
    for row in rows.iter_mut().skip(1) {
        row.prev_hash = prev.clone();
        row.hash = unkeyed_hash(&prev, row);
        prev = row.hash.clone();
        sql += &format!(
            "UPDATE audit_log SET details = '{}', prev_hash = '{}', hash = '{}' WHERE id = '{}'; ",
            row.details, row.prev_hash, row.hash, row.id
        );
    }
    sql += &format!("UPDATE audit_chains SET head_hash = '{prev}' WHERE chain_key = '{key}'");
    tamper(&mut conn, &sql);
    let report = assert_broken(&app, "entry_altered").await;
    assert_eq!(report["first_break"]["chain_key"], key);
    assert_eq!(report["first_break"]["seq"], 2);
    assert!(
        report["breaks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "sealed_entry_missing"),
        "the checkpoint sealed the old head: {report}"
    );
}

#[tokio::test]
async fn a_deleted_tail_and_its_checkpoint_are_found_through_the_witness() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let id = case_with_entries(&app, 0).await;
    checkpoint(&trust, &mut conn).expect("first");
    app.get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await;
    app.get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await;
    let second = checkpoint(&trust, &mut conn).expect("second");
    let key = format!("case:{id}");
    let first_hash = stream(&mut conn, &key)[0].hash.clone();
    // The database is consistent afterwards: tail, head and checkpoint all agree.
    tamper(
        &mut conn,
        &format!(
            "DELETE FROM audit_log WHERE chain_key = '{key}' AND seq > 1; \
             UPDATE audit_chains SET head_seq = 1, checkpointed_seq = 1, head_hash = '{first_hash}' \
             WHERE chain_key = '{key}'; \
             DELETE FROM audit_checkpoints WHERE seq = {}",
            second.seq
        ),
    );
    let report = assert_broken(&app, "sealed_entry_missing").await;
    assert_eq!(report["first_break"]["chain_key"], key);
    assert_eq!(report["first_break"]["checkpoint_seq"], second.seq);
    assert!(
        report["breaks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "checkpoint_missing" && b["checkpoint_seq"] == second.seq),
        "{report}"
    );
}

#[tokio::test]
async fn a_whole_fresh_stream_deleted_before_any_checkpoint_is_found() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    case_with_entries(&app, 1).await;
    let id = case_with_entries(&app, 1).await;
    let key = format!("case:{id}");
    tamper(
        &mut conn,
        &format!(
            "DELETE FROM audit_log WHERE chain_key = '{key}'; \
             DELETE FROM audit_chains WHERE chain_key = '{key}'"
        ),
    );
    let report = assert_broken(&app, "stream_missing").await;
    assert_eq!(report["first_break"]["chain_key"], key);
}

#[tokio::test]
async fn a_deleted_latest_checkpoint_is_found_through_the_witness() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    case_with_entries(&app, 1).await;
    checkpoint(&trust, &mut conn).expect("first");
    case_with_entries(&app, 1).await;
    let second = checkpoint(&trust, &mut conn).expect("second");
    tamper(
        &mut conn,
        &format!("DELETE FROM audit_checkpoints WHERE seq = {}", second.seq),
    );
    let report = assert_broken(&app, "checkpoint_missing").await;
    assert_eq!(report["first_break"]["checkpoint_seq"], second.seq);
}

#[tokio::test]
async fn a_forged_checkpoint_is_found() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    case_with_entries(&app, 1).await;
    let first = checkpoint(&trust, &mut conn).expect("first");
    // A well-linked, well-hashed checkpoint signed with a key that is not the service's.
    let forger = pathway::audit::CheckpointKey::from_seed([42; 32]);
    let forged = pathway::audit::CheckpointRecord::seal(
        &forger,
        first.seq,
        first.hash.clone(),
        pathway::audit::now(),
        "{}".into(),
    );
    tamper(
        &mut conn,
        &format!(
            "INSERT INTO audit_checkpoints (seq, created_at, heads, prev_hash, hash, signature) \
             VALUES ({}, '{}', '{}', '{}', '{}', '{}')",
            forged.seq,
            forged.created_at.format("%Y-%m-%d %H:%M:%S%.6f"),
            forged.heads,
            forged.prev_hash,
            forged.hash,
            forged.signature
        ),
    );
    let report = assert_broken(&app, "checkpoint_forged").await;
    assert_eq!(report["first_break"]["checkpoint_seq"], forged.seq);
}

#[tokio::test]
async fn reordered_entries_are_found() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    let id = case_with_entries(&app, 3).await;
    let key = format!("case:{id}");
    tamper(
        &mut conn,
        &format!(
            "UPDATE audit_log SET seq = -2 WHERE chain_key = '{key}' AND seq = 2; \
             UPDATE audit_log SET seq = 2 WHERE chain_key = '{key}' AND seq = 3; \
             UPDATE audit_log SET seq = 3 WHERE chain_key = '{key}' AND seq = -2"
        ),
    );
    let report = assert_broken(&app, "chain_link_broken").await;
    assert_eq!(report["first_break"]["chain_key"], key);
    assert_eq!(report["first_break"]["seq"], 2);
}

#[tokio::test]
async fn the_public_key_is_published_and_verifies_the_witness() {
    let app = spawn_app().await;
    let trust = app.trust();
    case_with_entries(&app, 0).await;
    checkpoint(&trust, &mut app.db.connect()).expect("sealed");
    let key: Value = app.get("/v1/audit/key", None).await.json().await.unwrap();
    assert_eq!(key["algorithm"], "Ed25519");
    let public = pathway::audit::PublicKey::from_base64(key["public_key"].as_str().unwrap())
        .expect("an Ed25519 key");
    assert_eq!(key["key_id"], public.key_id());
    let witnessed = trust.witness.read_all().unwrap();
    assert_eq!(witnessed.len(), 1);
    assert!(public.verifies(&witnessed[0].hash, &witnessed[0].signature));
}

// --- Least privilege ------------------------------------------------------------------

/// A PostgreSQL login role for one test (roles are cluster-wide), dropped afterwards.
struct TestRole(String);

impl TestRole {
    fn create() -> TestRole {
        use diesel::Connection;
        let name = format!("pathway_app_{}", uuid::Uuid::new_v4().simple());
        let mut admin = DbConnection::establish(&admin_url()).unwrap();
        admin
            .batch_execute(&format!("CREATE ROLE {name} LOGIN"))
            .unwrap();
        TestRole(name)
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        use diesel::Connection;
        // The test's database (and with it the role's privileges) is dropped first.
        if let Ok(mut admin) = DbConnection::establish(&admin_url()) {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {}", self.0));
        }
    }
}

fn admin_url() -> String {
    std::env::var("PATHWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with `user` in place of its user name.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

fn refused(conn: &mut DbConnection, sql: &str, because: &[&str]) {
    let err = conn.batch_execute(sql).expect_err(sql).to_string();
    assert!(
        because.iter().any(|b| err.contains(b)),
        "{sql}: refused for the wrong reason: {err}"
    );
}

#[tokio::test]
async fn the_service_runs_as_a_role_that_cannot_rewrite_the_log() {
    match backend() {
        TestBackend::Postgres => the_postgres_app_role_serves_but_cannot_rewrite().await,
        TestBackend::Sqlite => sqlite_refuses_rewrites_through_the_service_connection().await,
    }
}

async fn the_postgres_app_role_serves_but_cannot_rewrite() {
    let role = TestRole::create();
    let role_name = role.0.clone();
    let app = crate::helpers::spawn_app_with(|s| {
        use secrecy::ExposeSecret;
        // The owner migrates and grants, with the documented command; the server then
        // connects as the application role, which cannot run DDL.
        let owner_url = s.database.url.expose_secret().to_owned();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
            .args([
                "migrate",
                "--database-url",
                &owner_url,
                "--app-role",
                &role_name,
            ])
            .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
            .env("PATHWAY__LOG__FILTER", "off")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        s.database.url = secrecy::SecretString::from(as_user(&owner_url, &role_name));
        s.audit.checkpoint_interval_seconds = 1;
    })
    .await;

    // Real work as the application role: filing, reading, auditing, checkpointing.
    let id = case_with_entries(&app, 2).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.trust().witness.read_all().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint witnessed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 200);
    let report = verify_both(&app).await;
    assert_eq!(report["intact"], true, "{report}");
    assert!(report["checkpoints_checked"].as_u64().unwrap() >= 1);

    let mut conn = {
        use diesel::Connection;
        DbConnection::establish(&as_user(&app.db.url, &app_role_of(&app))).unwrap()
    };
    let owner_only = ["must be owner"];
    let denied = ["permission denied"];
    for table in ["audit_log", "audit_checkpoints"] {
        refused(
            &mut conn,
            &format!("ALTER TABLE {table} DISABLE TRIGGER ALL"),
            &owner_only,
        );
        refused(
            &mut conn,
            &format!("ALTER TABLE {table} DISABLE TRIGGER USER"),
            &owner_only,
        );
        refused(
            &mut conn,
            &format!("UPDATE {table} SET hash = hash"),
            &denied,
        );
        refused(&mut conn, &format!("DELETE FROM {table}"), &denied);
        refused(&mut conn, &format!("TRUNCATE {table}"), &denied);
        refused(&mut conn, &format!("DROP TABLE {table}"), &owner_only);
    }
    refused(&mut conn, "DELETE FROM audit_chains", &denied);
    refused(&mut conn, "TRUNCATE audit_chains", &denied);
    refused(&mut conn, "DELETE FROM __diesel_schema_migrations", &denied);
    let case_rows = stream(&mut conn, &format!("case:{id}"));
    assert_eq!(case_rows.len(), 3, "the role reads the log");
}

fn app_role_of(app: &crate::helpers::TestApp) -> String {
    use secrecy::ExposeSecret;
    let url = app.settings.database.url.expose_secret();
    let rest = url.split_once("://").unwrap().1;
    rest.split_once('@').unwrap().0.to_owned()
}

/// SQLite has no roles: whoever can open the file can rewrite it (the keys and the
/// witness are what catch that). What it does guarantee is that the service's own
/// connection is refused every change to the log, and there is no role to grant.
async fn sqlite_refuses_rewrites_through_the_service_connection() {
    let app = spawn_app().await;
    case_with_entries(&app, 1).await;
    checkpoint(&app.trust(), &mut app.db.connect()).expect("sealed");
    let mut conn = app.db.connect();
    let append_only = ["append-only"];
    for table in ["audit_log", "audit_checkpoints"] {
        refused(
            &mut conn,
            &format!("UPDATE {table} SET hash = hash"),
            &append_only,
        );
        refused(&mut conn, &format!("DELETE FROM {table}"), &append_only);
    }
    let err = pathway::store::grant_app_role(&mut conn, "pathway_app").unwrap_err();
    assert!(err.to_string().contains("SQLite has no roles"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args([
            "migrate",
            "--database-url",
            &app.db.url,
            "--app-role",
            "pathway_app",
        ])
        .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
        .env("PATHWAY__LOG__FILTER", "off")
        .output()
        .unwrap();
    assert!(!out.status.success(), "no roles to grant on SQLite");
    assert!(verify_both(&app).await["intact"] == true);
}

#[tokio::test]
async fn a_checkpoint_the_witness_missed_is_written_at_the_next_checkpoint() {
    let (_db, _files, trust, mut conn) = fixture();
    append(&trust, &mut conn, &[event(ChainKey::actor("a"), "x.y")]);
    let first = checkpoint(&trust, &mut conn).expect("first");
    // As if the process had stopped between the commit and the witness write.
    let file = trust.witness.dir().join("checkpoint-000000000001.json");
    std::fs::remove_file(&file).unwrap();
    append(&trust, &mut conn, &[event(ChainKey::actor("a"), "x.z")]);
    let second = checkpoint(&trust, &mut conn).expect("second");
    let witnessed: Vec<i64> = trust
        .witness
        .read_all()
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(witnessed, vec![first.seq, second.seq]);
    assert!(verify(&trust, &mut conn).intact);
}

#[tokio::test]
async fn an_actor_stream_deleted_before_any_checkpoint_is_found_through_the_witness() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    // A user's first action creates their stream; nothing seals it yet.
    let snoop = app.token("auditor-2", &["auditor"], AREA);
    assert_eq!(
        app.get("/v1/audit", Some(&snoop)).await.status().as_u16(),
        200
    );
    let key = "actor:auditor-2";
    assert_eq!(stream(&mut conn, key).len(), 1);
    tamper(
        &mut conn,
        &format!(
            "DELETE FROM audit_log WHERE chain_key = '{key}'; \
             DELETE FROM audit_chains WHERE chain_key = '{key}'"
        ),
    );
    let report = assert_broken(&app, "stream_missing").await;
    assert_eq!(report["first_break"]["chain_key"], key);
}

#[tokio::test]
async fn a_break_at_a_police_only_entry_is_reported_to_auditors_without_naming_it() {
    let app = spawn_app().await;
    let (pursued, _) = app.case_in("transferred_to_pursue").await;
    // Police go on working the case inside their compartment: an entry no auditor sees.
    let officer = app.officer();
    assert_eq!(
        app.get(&format!("/v1/cases/{pursued}"), Some(&officer))
            .await
            .status()
            .as_u16(),
        200
    );
    let mut conn = app.db.connect();
    let police_read: String = {
        use diesel::prelude::*;
        use pathway::store::schema::audit_log::dsl as a;
        a::audit_log
            .filter(a::case_id.eq(&pursued))
            .filter(a::action.eq("case.read"))
            .filter(a::actor_roles.eq("prevent_officer"))
            .select(a::id)
            .order(a::occurred_at.desc())
            .first(&mut conn)
            .unwrap()
    };
    tamper(
        &mut conn,
        &format!("UPDATE audit_log SET details = '{{}}' WHERE id = '{police_read}'"),
    );

    let (code, cli) = cli_verify(&app);
    for auditor in [
        app.token("auditor-1", &["auditor"], AREA),
        app.token("auditor-n", &["auditor"], "national"),
    ] {
        let http: Value = app
            .get("/v1/audit/verify", Some(&auditor))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(http["intact"], false, "{http}");
        assert_eq!(http["first_break"]["kind"], "entry_altered", "{http}");
        // The case is one the auditor sees (as a police-led closure); the entry is not.
        assert_eq!(http["first_break"]["chain_key"], format!("case:{pursued}"));
        for field in ["seq", "entry_id"] {
            assert!(http["first_break"][field].is_null(), "{field}: {http}");
        }
        assert!(!http.to_string().contains(&police_read), "{http}");
    }
    // The operator's verifier, run with the keys, names it.
    assert_eq!(code, Some(1));
    assert_eq!(cli["first_break"]["entry_id"], police_read.as_str());
}

/// Every page of `query` as the auditor `token`, following cursors: the ids in order.
async fn all_pages(app: &crate::helpers::TestApp, query: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit?{query}&cursor={c}"),
            None => format!("/v1/audit?{query}"),
        };
        let response = app.get(&path, Some(token)).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn pages_are_exact_in_both_orders_among_entries_of_equal_time() {
    use diesel::prelude::*;
    use pathway::store::schema::audit_log;
    // Arrange: entries about one case, most of them written by one request and so
    // sharing one time to the microsecond, some with the action filtered on.
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let case: uuid::Uuid = app.file(&referral_body()).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let about = |action: &str| {
        let mut e = event(ChainKey::case(case), action);
        e.case_id = Some(case);
        e
    };
    let same_time: Vec<AuditEvent> = (0..9)
        .map(|i| about(if i % 3 == 0 { "case.note" } else { "case.read" }))
        .collect();
    append(&trust, &mut conn, &same_time);
    append(&trust, &mut conn, &[about("case.read"), about("case.note")]);
    append(&trust, &mut conn, &same_time[..4]);
    let stored = |action: Option<&str>| -> Vec<String> {
        let mut q = audit_log::table
            .filter(audit_log::case_id.eq(case.to_string()))
            .order((audit_log::occurred_at, audit_log::id))
            .select(audit_log::id)
            .into_boxed();
        if let Some(a) = action {
            q = q.filter(audit_log::action.eq(a.to_owned()));
        }
        q.load(&mut app.db.connect()).unwrap()
    };
    let token = app.token("auditor-1", &["auditor"], AREA);
    for (filter, action) in [("", None), ("&action=case.note", Some("case.note"))] {
        let oldest_first = stored(action);
        assert!(oldest_first.len() >= 5, "{oldest_first:?}");
        let mut newest_first = oldest_first.clone();
        newest_first.reverse();
        for limit in [1, 2, 3, 500] {
            // Act
            let base = format!("case_id={case}{filter}&limit={limit}");
            let desc = all_pages(&app, &base, &token).await;
            let asc = all_pages(&app, &format!("{base}&order=asc"), &token).await;
            let explicit_desc = all_pages(&app, &format!("{base}&order=desc"), &token).await;
            // Assert: every entry once, in the order asked for (newest first by default).
            assert_eq!(asc, oldest_first, "asc, limit {limit}{filter}");
            assert_eq!(desc, newest_first, "default, limit {limit}{filter}");
            assert_eq!(explicit_desc, newest_first, "desc, limit {limit}{filter}");
        }
    }
}

#[tokio::test]
async fn a_cursor_carries_its_order() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let events: Vec<AuditEvent> = (0..4)
        .map(|_| event(ChainKey::actor("officer-1"), "case.list"))
        .collect();
    append(&trust, &mut conn, &events);
    let token = app.token("auditor-1", &["auditor"], AREA);
    let first: Value = app
        .get("/v1/audit?action=case.list&limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // Without `order`, the cursor goes on the way it was made: newest first.
    let next: Value = app
        .get(
            &format!("/v1/audit?action=case.list&limit=3&cursor={cursor}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = std::iter::once(&first)
        .chain(std::iter::once(&next))
        .flat_map(|p| p["items"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{next}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // The other order with that cursor is refused, not silently mixed.
    assert_problem(
        app.get(
            &format!("/v1/audit?action=case.list&order=asc&cursor={cursor}"),
            Some(&token),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get("/v1/audit?order=sideways", Some(&token)).await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn a_page_is_full_of_visible_entries_however_many_are_hidden_before_it() {
    // Arrange: many recent entries about a police-only case, a few older ones about a
    // case the auditor may see, and a police-only action on that visible case.
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    let (seen, _) = app.case_in("screening").await;
    let (hidden, _) = app.case_in("transferred_to_pursue").await;
    let about = |id: &str, action: &str| {
        let id: uuid::Uuid = id.parse().unwrap();
        let mut e = event(ChainKey::case(id), action);
        e.case_id = Some(id);
        e
    };
    append(
        &trust,
        &mut conn,
        &[about(&seen, "case.note"), about(&seen, "case.note")],
    );
    append(
        &trust,
        &mut conn,
        &[about(&seen, "case.action.record_deconfliction")],
    );
    let many: Vec<AuditEvent> = (0..60).map(|_| about(&hidden, "case.note")).collect();
    append(&trust, &mut conn, &many);
    // Act
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let page: Value = app
        .get("/v1/audit?action=case.note&limit=2", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    // Assert: the first page holds the two visible entries, nothing about the hidden case.
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert!(
        items.iter().all(|e| e["case_id"] == seen.as_str()),
        "{page}"
    );
    let all = all_pages(&app, "limit=500", &auditor).await;
    let officer_auditor = app.token("officer-auditor", &["auditor", "prevent_officer"], AREA);
    let police: Value = app
        .get(
            "/v1/audit?action=case.action.record_deconfliction&limit=500",
            Some(&officer_auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let police_ids: Vec<&str> = police["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(
        !police_ids.is_empty(),
        "police see police-only actions: {police}"
    );
    assert!(
        police_ids.iter().all(|id| !all.iter().any(|a| a == id)),
        "an auditor without the police view never sees them"
    );
}
