use diesel::connection::SimpleConnection;
use pathway::audit::{AuditContext, AuditEvent, BreakKind, ChainKey, Outcome};
use pathway::store::DbConnection;
use pathway::store::audit as audit_store;
use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, TestBackend, TestDatabase, assert_problem, backend, referral_body, spawn_app,
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

fn append(conn: &mut DbConnection, events: &[AuditEvent]) {
    pathway::store::write_transaction(conn, |c| audit_store::append(c, &ctx("officer-1"), events))
        .unwrap();
}

fn migrated(db: &TestDatabase) -> DbConnection {
    let mut conn = db.connect();
    pathway::store::run_migrations(&mut conn).unwrap();
    conn
}

/// Runs `sql` with the append-only triggers out of the way, as someone with direct
/// database access might, to prove the verifier catches what the triggers would stop.
fn tamper(conn: &mut DbConnection, sql: &str) {
    let wrapped = match conn {
        DbConnection::Postgres(_) => format!(
            "ALTER TABLE audit_log DISABLE TRIGGER USER; {sql}; ALTER TABLE audit_log ENABLE TRIGGER USER;"
        ),
        DbConnection::Sqlite(_) => {
            format!(
                "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; {sql};"
            )
        }
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
    let mut conn = app.db.connect();
    let case: uuid::Uuid = app.file(&referral_body()).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for i in 0..7 {
        let mut e = event(ChainKey::case(case), &format!("case.step_{i}"));
        e.case_id = Some(case);
        append(&mut conn, &[e]);
    }
    append(
        &mut conn,
        &[event(ChainKey::actor("someone-else"), "case.list")],
    );
    let token = app.token("auditor-1", &["auditor"], AREA);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/audit?case_id={case}&limit=3&cursor={c}"),
            None => format!("/v1/audit?case_id={case}&limit=3"),
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
    let mut conn = app.db.connect();
    let case = uuid::Uuid::new_v4();
    for i in 0..4 {
        append(
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
    let db = TestDatabase::fresh();
    let mut conn = migrated(&db);
    append(&mut conn, &[event(ChainKey::actor("a"), "x.y")]);
    audit_store::checkpoint(&mut conn)
        .unwrap()
        .expect("a checkpoint");
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
    assert!(audit_store::verify(&mut conn).unwrap().intact);
}

#[tokio::test]
async fn a_deleted_entry_and_a_truncated_tail_are_found() {
    let db = TestDatabase::fresh();
    let mut conn = migrated(&db);
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for _ in 0..5 {
        append(
            &mut conn,
            &[event(ChainKey::case(a), "a"), event(ChainKey::case(b), "b")],
        );
    }
    tamper(
        &mut conn,
        &format!("DELETE FROM audit_log WHERE chain_key = 'case:{a}' AND seq = 2"),
    );
    let report = audit_store::verify(&mut conn).unwrap();
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
    let report = audit_store::verify(&mut conn).unwrap();
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
    let db = TestDatabase::fresh();
    let mut conn = migrated(&db);
    let case = uuid::Uuid::new_v4();
    assert!(
        audit_store::checkpoint(&mut conn).unwrap().is_none(),
        "nothing to seal yet"
    );
    append(
        &mut conn,
        &[
            event(ChainKey::case(case), "one"),
            event(ChainKey::actor("x"), "two"),
        ],
    );
    let first = audit_store::checkpoint(&mut conn).unwrap().unwrap();
    let sealed: Value = serde_json::from_str(&first.heads).unwrap();
    assert_eq!(sealed.as_object().unwrap().len(), 2);
    assert!(
        audit_store::checkpoint(&mut conn).unwrap().is_none(),
        "no stream moved since"
    );
    append(&mut conn, &[event(ChainKey::case(case), "three")]);
    let second = audit_store::checkpoint(&mut conn).unwrap().unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    let sealed: Value = serde_json::from_str(&second.heads).unwrap();
    assert_eq!(
        sealed.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&format!("case:{case}")]
    );
    let report = audit_store::verify(&mut conn).unwrap();
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
    let report = audit_store::verify(&mut conn).unwrap();
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
    let db = TestDatabase::fresh();
    migrated(&db);
    let shared = uuid::Uuid::new_v4();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let url = db.url.clone();
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
                    append(&mut conn, &events);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut conn = db.connect();
    let report = audit_store::verify(&mut conn).unwrap();
    assert!(report.intact, "{:?}", report.breaks);
    assert_eq!(report.entries_checked, 6 * 25 * 2);
    assert_eq!(report.chains_checked, 7);
}

#[tokio::test]
async fn the_cli_verifies_and_exits_non_zero_on_a_broken_log() {
    let db = TestDatabase::fresh();
    let mut conn = migrated(&db);
    append(
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
    let token = app.token("auditor-1", &["auditor"], AREA);
    app.get("/v1/audit", Some(&token)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let report = audit_store::verify(&mut app.db.connect()).unwrap();
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
