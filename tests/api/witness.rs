//! The audit witness when it cannot be written, after a crash, and with two instances:
//! readiness says so, and nothing it missed stays missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use pathway::startup::Application;
use pathway::store::schema::audit_checkpoints;
use pathway::store::trust::Witness;
use serde_json::Value;

use crate::helpers::{
    TestAuditFiles, TestBackend, TestDatabase, assert_problem, referral_about, spawn_app,
    test_settings,
};
use crate::process::{Server, cli_token, serve};

/// Puts a regular file where the witness directory was (moving the directory aside):
/// nothing can be created under it, whoever the process runs as.
fn break_witness(dir: &Path) -> PathBuf {
    let aside = dir.with_extension("aside");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::write(dir, "").unwrap();
    aside
}

fn restore_witness(dir: &Path, aside: &Path) {
    std::fs::remove_file(dir).unwrap();
    std::fs::rename(aside, dir).unwrap();
}

/// The keys of the streams the witness directory holds, read from its files.
fn witnessed_streams(dir: &Path) -> Vec<String> {
    Witness::existing(dir)
        .unwrap()
        .read_streams()
        .unwrap()
        .into_iter()
        .map(|r| r.chain_key)
        .collect()
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_the_witness_cannot_be_written_and_what_it_missed_follows() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
    let witness = app.audit.witness_dir();
    let aside = break_witness(&witness);

    let mut streams = Vec::new();
    for i in 0..3 {
        let receipt = app
            .file(&referral_about("Wit", &format!("Nessa{i}"), "2010-01-01"))
            .await;
        streams.push(format!("case:{}", receipt["id"].as_str().unwrap()));
    }
    let response = app.get("/readyz", None).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 503, "service_unavailable").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("audit witness"), "{body}");
    assert!(!detail.contains("/tmp"), "no path in the answer: {body}");

    restore_witness(&witness, &aside);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if app.get("/readyz", None).await.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "ready again once it takes files");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let witnessed = witnessed_streams(&witness);
    for stream in &streams {
        assert!(witnessed.contains(stream), "{stream} witnessed late");
    }
    let trust = app.trust();
    let report = pathway::store::audit::verify(
        &mut app.db.connect(),
        &trust.entry_key,
        &trust.public_key(),
        Some(&trust.witness),
    )
    .unwrap();
    assert!(report.intact, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_whose_records_died_with_the_process_are_witnessed_at_the_next_start() {
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    audit.trust();
    audit.vault();
    let start = || {
        let mut cmd = serve(&db);
        cmd.envs(audit.env())
            .env("PATHWAY__MAIL__WORKER_IN_SERVER", "false");
        Server::start(cmd)
    };
    let mut server = start();
    let witness = audit.witness_dir();
    // The records of the streams filed now wait in the process's memory, to be written
    // once the directory takes files again; the process dies first.
    let aside = break_witness(&witness);
    let token = cli_token(&["referrer"], "teacher-1", "Jo Smith");
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for i in 0..2 {
        let receipt: Value = client
            .post(server.url("/v1/referrals"))
            .bearer_auth(&token)
            .json(&referral_about(
                "Crash",
                &format!("Stream{i}"),
                "2010-01-01",
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        streams.push(format!("case:{}", receipt["id"].as_str().unwrap()));
    }
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "readiness says so");
    server.child.kill().unwrap(); // SIGKILL: no settling, no goodbye
    server.child.wait().unwrap();
    restore_witness(&witness, &aside);
    let before = witnessed_streams(&witness);
    assert!(
        streams.iter().all(|s| !before.contains(s)),
        "lost with the process: {before:?}"
    );

    let server = start();
    wait_until(
        "start-up witnessed the streams from the database",
        Duration::from_secs(10),
        || {
            let now = witnessed_streams(&witness);
            streams.iter().all(|s| now.contains(s))
        },
    )
    .await;
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn a_witness_path_that_is_a_file_stops_the_start_and_stale_temporaries_are_removed() {
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    let settings = test_settings(&db, &audit);
    let witness = audit.witness_dir();
    std::fs::write(&witness, "").unwrap();
    let error = match Application::build(settings.clone()) {
        Ok(_) => panic!("started on a witness path that is a file"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains(&witness.display().to_string()) && error.contains("not a directory"),
        "{error}"
    );

    std::fs::remove_file(&witness).unwrap();
    std::fs::create_dir(&witness).unwrap();
    let (stale, live) = (witness.join(".tmp-crashed"), witness.join(".tmp-writing"));
    std::fs::write(&stale, "half a batch").unwrap();
    std::fs::write(&live, "another instance, writing").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(300))
        .unwrap();
    drop(Application::build(settings).expect("starts"));
    assert!(!stale.exists(), "a crash's leftover is removed");
    assert!(live.exists(), "a file being written now is left alone");
}

/// Checkpoint files the witness directory holds.
fn witnessed_checkpoints(dir: &Path) -> Vec<i64> {
    Witness::existing(dir)
        .unwrap()
        .checkpoint_seqs()
        .unwrap()
        .into_iter()
        .collect()
}

fn checkpoints_in_database(conn: &mut pathway::store::DbConnection) -> Vec<i64> {
    audit_checkpoints::table
        .order(audit_checkpoints::seq)
        .select(audit_checkpoints::seq)
        .load(conn)
        .unwrap()
}

#[tokio::test]
async fn start_up_writes_every_checkpoint_file_the_witness_lacks() {
    let app = spawn_app().await;
    let trust = app.trust();
    let mut conn = app.db.connect();
    for i in 0..3 {
        app.file(&referral_about("Check", &format!("Point{i}"), "2010-01-01"))
            .await;
        pathway::store::audit::checkpoint(&mut conn, &trust)
            .unwrap()
            .expect("a checkpoint");
    }
    let witness = app.audit.witness_dir();
    assert_eq!(witnessed_checkpoints(&witness), vec![1, 2, 3]);
    // Lost below the newest, as when an instance died between its commit and its file.
    std::fs::remove_file(witness.join("checkpoint-000000000001.json")).unwrap();

    drop(Application::build(app.settings.clone()).expect("starts"));

    assert_eq!(witnessed_checkpoints(&witness), vec![1, 2, 3]);
}

#[derive(QueryableByName)]
struct InstanceName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    application_name: String,
}

/// The instances (by their connections' `application_name`) that run `sql`'s condition
/// on `pg_stat_activity` as `a`.
fn instances_where(conn: &mut pathway::store::DbConnection, condition: &str) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT a.application_name FROM pg_stat_activity a \
         WHERE a.application_name LIKE 'pathway_instance_%' AND {condition} ORDER BY 1"
    ))
    .load::<InstanceName>(conn)
    .unwrap()
    .into_iter()
    .map(|h| h.application_name)
    .collect()
}

/// The instances waiting for the checkpoint lock.
fn waiting_for_the_lock(conn: &mut pathway::store::DbConnection) -> Vec<String> {
    instances_where(
        conn,
        "a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'",
    )
}

/// The instances waiting for a row another transaction holds.
fn waiting_for_a_row(conn: &mut pathway::store::DbConnection) -> Vec<String> {
    instances_where(
        conn,
        "a.wait_event_type = 'Lock' AND a.wait_event IN ('transactionid', 'tuple')",
    )
}

/// One of two instances on one database: its address and its own path to the shared
/// witness (a symbolic link, which the test can break for this instance alone).
struct Instance {
    address: String,
    witness_link: PathBuf,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_leave_no_checkpoint_unwitnessed_below_the_newest() {
    crate::helpers::init_tracing();
    let db = TestDatabase::fresh_for(TestBackend::Postgres);
    let audit = TestAuditFiles::new();
    let shared = audit.witness_dir();
    std::fs::create_dir_all(&shared).unwrap();
    let mut instances = std::collections::BTreeMap::new();
    for name in ["pathway_instance_a", "pathway_instance_b"] {
        let link = audit.dir.path().join(format!("{name}-witness"));
        std::os::unix::fs::symlink(&shared, &link).unwrap();
        let mut settings = test_settings(&db, &audit);
        settings.database.url = format!("{}?application_name={name}", db.url).into();
        settings.audit.witness_dir = link.clone();
        settings.audit.checkpoint_interval_seconds = 1;
        let app = Application::build(settings).expect("an instance starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        instances.insert(
            name.to_owned(),
            Instance {
                address,
                witness_link: link,
            },
        );
    }
    let client = reqwest::Client::new();
    let token = {
        let settings = test_settings(&db, &audit);
        let claims = pathway::identity::LocalClaims::new(
            &settings.auth,
            "teacher-1",
            &["referrer"],
            crate::helpers::AREA,
            600,
        );
        pathway::identity::mint_local_token(&settings.auth, &claims).unwrap()
    };
    let file = |address: &str, family: &str| {
        client
            .post(format!("{address}/v1/referrals"))
            .bearer_auth(&token)
            .json(&referral_about("Two", family, "2010-01-01"))
            .send()
    };
    let a = &instances["pathway_instance_a"].address;
    assert_eq!(file(a, "Instances").await.unwrap().status().as_u16(), 201);
    let mut conn = db.connect();
    wait_until(
        "a first checkpoint, witnessed",
        Duration::from_secs(10),
        || {
            let sealed = checkpoints_in_database(&mut conn);
            !sealed.is_empty() && witnessed_checkpoints(&shared) == sealed
        },
    )
    .await;

    // Both checkpointers queue behind the checkpoint lock, each having caught the
    // witness up first; a stream moves meanwhile.
    let mut lock = db.connect();
    lock.batch_execute("BEGIN; SELECT pg_advisory_xact_lock(7274692001);")
        .unwrap();
    assert_eq!(file(a, "Moves").await.unwrap().status().as_u16(), 201);
    wait_until(
        "both instances wait for the lock",
        Duration::from_secs(10),
        || waiting_for_the_lock(&mut conn).len() == 2,
    )
    .await;
    // The first to get the lock is held, after sealing its checkpoint N, at the row
    // lock of the first moved head.
    let mut row = db.connect();
    row.batch_execute(
        "BEGIN; SELECT chain_key FROM audit_chains WHERE head_seq > checkpointed_seq \
         ORDER BY chain_key LIMIT 1 FOR UPDATE;",
    )
    .unwrap();
    let before = checkpoints_in_database(&mut conn).len();
    lock.batch_execute("COMMIT").unwrap();
    let mut first = Vec::new();
    wait_until(
        "one instance has sealed and waits for the row",
        Duration::from_secs(10),
        || {
            first = waiting_for_a_row(&mut conn);
            first.len() == 1
        },
    )
    .await;
    let first = first.remove(0);
    let second = instances.keys().find(|n| **n != first).unwrap().to_owned();
    // It will die, as far as the witness knows, between its commit and its file: its
    // path to the witness stops taking files.
    let link = &instances[&first].witness_link;
    std::fs::remove_file(link).unwrap();
    std::fs::write(link, "").unwrap();
    // A stream it did not read moves, for the second instance's checkpoint N+1.
    assert_eq!(
        file(&instances[&second].address, "After")
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    row.batch_execute("COMMIT").unwrap();
    wait_until(
        "both checkpoints sealed, the newer witnessed",
        Duration::from_secs(10),
        || {
            let sealed = checkpoints_in_database(&mut conn);
            sealed.len() >= before + 2
                && witnessed_checkpoints(&shared).contains(&sealed[before + 1])
        },
    )
    .await;
    let sealed = checkpoints_in_database(&mut conn);
    let (n, n_plus_1) = (sealed[before], sealed[before + 1]);
    assert_eq!(n_plus_1, n + 1);

    // Its path comes back; every checkpoint, N below the newest included, is witnessed.
    std::fs::remove_file(link).unwrap();
    std::os::unix::fs::symlink(&shared, link).unwrap();
    wait_until(
        "checkpoint N witnessed below the newest",
        Duration::from_secs(10),
        || witnessed_checkpoints(&shared).contains(&n),
    )
    .await;
    let trust = {
        let mut settings = test_settings(&db, &audit);
        settings.audit.witness_dir = shared.clone();
        pathway::store::trust::AuditTrust::load(
            &settings,
            pathway::store::trust::KeyGeneration::Refused,
        )
        .unwrap()
    };
    let report = pathway::store::audit::verify(
        &mut conn,
        &trust.entry_key,
        &trust.public_key(),
        Some(&trust.witness),
    )
    .unwrap();
    assert!(report.intact, "{report:?}");
}
