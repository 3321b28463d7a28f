//! Reads that write nothing are not held up by a write waiting for the database.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use serde_json::Value;

use crate::helpers::{self, AREA, TestBackend, add_mailbox, referral_body, spawn_app};

#[tokio::test]
async fn a_read_is_answered_while_a_write_waits_for_the_database() {
    let app = spawn_app().await;
    add_mailbox(&app, "prevent_team", "prevent@police.example").await;
    let admin = app.token("admin-1", &["admin"], AREA);
    // Another connection holds the write lock (SQLite) or the cases table (PostgreSQL),
    // so the filing below waits inside the server, holding the server's writer.
    let mut holder = app.db.connect();
    holder
        .batch_execute(match helpers::backend() {
            TestBackend::Sqlite => "BEGIN IMMEDIATE",
            TestBackend::Postgres => "BEGIN; LOCK TABLE cases IN ACCESS EXCLUSIVE MODE",
        })
        .unwrap();
    let token = app.referrer();
    let filing = tokio::spawn({
        let request = app
            .client
            .post(app.url("/v1/referrals"))
            .bearer_auth(&token)
            .json(&referral_body())
            .send();
        async move { request.await.unwrap().status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!filing.is_finished(), "the filing waits for the held lock");

    let started = Instant::now();
    let directory = app.get("/v1/directory", Some(&admin)).await;
    let waited = started.elapsed();
    assert_eq!(directory.status().as_u16(), 200);
    let body: Value = directory.json().await.unwrap();
    assert_eq!(body[0]["mailbox"], "prevent@police.example", "{body}");
    assert!(
        waited < Duration::from_secs(2),
        "the read waited {waited:?} behind the write"
    );
    assert!(!filing.is_finished(), "the write was still waiting");

    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(
        filing.await.unwrap(),
        201,
        "the write goes through afterwards"
    );
}
