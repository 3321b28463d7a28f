//! Personal data at rest: sealed in both databases' files, opened for the API, and
//! readable across a rotation of the master key.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Text};
use pathway::startup::Application;
use pathway::store::schema::{cases, subject_keys};
use serde_json::{Value, json};

use crate::helpers::{
    AREA, OFFICER, TestApp, TestBackend, backend, config_dir, referral_about, signpost_body,
    spawn_app, spawn_app_with, threshold,
};

/// Names that appear nowhere but in this test's referral.
const GIVEN: &str = "Zebedeeqx";
const FAMILY: &str = "Quimbleworthy";
const GUARDIAN: &str = "Ottolinevank";
const REFERRER: &str = "Perpetuafanshawe";
const ORGANISATION: &str = "Xylophonic Trust";
const RATIONALE: &str = "Vexillologist";

fn distinctive_referral() -> Value {
    let mut body = referral_about(GIVEN, FAMILY, "2009-07-21");
    body["guardians"][0]["name"] = format!("{GUARDIAN} {FAMILY}").into();
    body["referrer"]["name"] = format!("{REFERRER} Smith").into();
    body
}

/// Every byte the database holds: the SQLite file and its write-ahead log, or a
/// `pg_dump` of the PostgreSQL database.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    match backend() {
        TestBackend::Sqlite => {
            let mut bytes = std::fs::read(&app.db.url).expect("database file");
            if let Ok(wal) = std::fs::read(format!("{}-wal", app.db.url)) {
                bytes.extend(wal);
            }
            bytes
        }
        TestBackend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&app.db.url)
                .output()
                .expect("pg_dump");
            assert!(out.status.success(), "{out:?}");
            out.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn case_as_officer(app: &TestApp, id: &str) -> Value {
    let response = app
        .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("case")
}

#[tokio::test]
async fn personal_data_is_sealed_in_the_database_and_shown_in_the_clear_by_the_api() {
    let app = spawn_app().await;
    let id = app.file(&distinctive_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let officer = app.officer();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let mut signpost = signpost_body();
    signpost["rationale"] = format!("{RATIONALE} concerns, mental health first.").into();
    signpost["onward_referrals"][0]["organisation"] = ORGANISATION.into();
    app.act_ok(&officer, &id, "signpost", 2, &signpost).await;

    let case = case_as_officer(&app, &id).await;
    assert_eq!(case["referral"]["subject"]["given_name"], GIVEN, "{case}");
    assert_eq!(case["referral"]["subject"]["family_name"], FAMILY);
    assert_eq!(case["onward_referrals"][0]["organisation"], ORGANISATION);
    let history: Value = app
        .get(&format!("/v1/cases/{id}/history"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert!(history.to_string().contains(RATIONALE), "{history}");

    let bytes = database_bytes(&app);
    for name in [GIVEN, FAMILY, GUARDIAN, REFERRER, ORGANISATION, RATIONALE] {
        assert!(
            !contains(&bytes, name),
            "{name} is readable in the database"
        );
    }
    assert!(contains(&bytes, "pv1:"), "sealed values are there");
}

#[tokio::test]
async fn a_repeat_referral_shares_the_subjects_data_key_and_another_person_has_their_own() {
    let app = spawn_app().await;
    let first = app.file(&distinctive_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let repeat = app.file(&distinctive_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app
        .file(&referral_about("Other", "Person", "2001-01-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut conn = app.db.connect();
    let key = |conn: &mut pathway::store::DbConnection, id: &str| -> Option<String> {
        cases::table
            .find(id)
            .select(cases::subject_key_id)
            .first(conn)
            .unwrap()
    };
    let k1 = key(&mut conn, &first).expect("a data key");
    assert_eq!(key(&mut conn, &repeat), Some(k1.clone()));
    assert_ne!(key(&mut conn, &other), Some(k1));
}

#[tokio::test]
async fn a_case_whose_data_key_is_destroyed_reads_without_its_personal_fields() {
    let app = spawn_app().await;
    let id = app.file(&distinctive_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let officer = app.officer();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let mut conn = app.db.connect();
    let destroyed =
        pathway::store::vault::destroy_case_key(&mut conn, &id, pathway::audit::now()).unwrap();
    assert_eq!(destroyed, 1);
    let wrapped: Vec<Option<String>> = subject_keys::table
        .select(subject_keys::wrapped_key)
        .load(&mut conn)
        .unwrap();
    assert_eq!(wrapped, vec![None], "no copy of the key is left");

    let case = case_as_officer(&app, &id).await;
    assert!(case["referral"].is_null(), "{case}");
    assert_eq!(case["state"], "screening");
    let history = app
        .get(&format!("/v1/cases/{id}/history"), Some(&officer))
        .await;
    assert_eq!(history.status().as_u16(), 200);

    // What is recorded afterwards is sealed under a new key, and readable.
    let closed = app
        .act_ok(
            &officer,
            &id,
            "close_no_further_action",
            2,
            &threshold("no_prevent_concern"),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    assert!(closed["referral"].is_null());
    let history: Value = app
        .get(&format!("/v1/cases/{id}/history"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history[0]["details"],
        json!({}),
        "sealed under the destroyed key"
    );
    assert_eq!(
        history[2]["rationale"],
        threshold("no_prevent_concern")["rationale"]
    );
}

fn rotate(app: &TestApp, new_key: &std::path::Path) -> std::process::Output {
    let previous: Vec<String> = app
        .settings
        .vault
        .previous_master_key_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["keys", "rotate", "--new-master-key-file"])
        .arg(new_key)
        .arg("--database-url")
        .arg(&app.db.url)
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env("PATHWAY__LOG__FILTER", "off")
        .envs(app.audit.env())
        .env(
            "PATHWAY__VAULT__PREVIOUS_MASTER_KEY_FILES",
            previous.join(","),
        )
        .output()
        .expect("run pathway keys rotate")
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_case_readable_while_and_after_servers_switch() {
    let keys = tempfile::tempdir().unwrap();
    let new_key = keys.path().join("vault-master-2.key");
    std::fs::write(&new_key, format!("{}\n", "ab".repeat(32))).unwrap();
    // Step 1: the running server can already read keys wrapped by the new master key.
    let next = new_key.clone();
    let app = spawn_app_with(move |s| s.vault.previous_master_key_files = vec![next]).await;
    let mut ids = Vec::new();
    for body in [
        distinctive_referral(),
        distinctive_referral(),
        referral_about("Other", "Person", "2001-01-01"),
    ] {
        ids.push(app.file(&body).await["id"].as_str().unwrap().to_owned());
    }
    app.act_ok(&app.officer(), &ids[0], "begin_screening", 1, &json!({}))
        .await;

    // Step 2: re-wrap every data key, with the server running.
    let out = rotate(&app, &new_key);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 data keys re-wrapped"),
        "{out:?}"
    );
    let new_id = pathway::store::vault::MasterKey::from_bytes([0xab; 32])
        .id()
        .to_owned();
    let masters: Vec<Option<String>> = subject_keys::table
        .select(subject_keys::master_key_id)
        .load(&mut app.db.connect())
        .unwrap();
    assert!(
        masters.iter().all(|m| m.as_deref() == Some(&new_id)),
        "{masters:?}"
    );
    for id in &ids {
        assert!(case_as_officer(&app, id).await["referral"]["subject"].is_object());
    }
    // Again: nothing left to do.
    let again = rotate(&app, &new_key);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 data keys re-wrapped, 2 already"));

    // Step 3: a server switched to the new master key alone reads every case.
    let mut settings = app.settings.clone();
    settings.vault.master_key_file = Some(new_key.clone());
    settings.vault.previous_master_key_files = vec![];
    let switched = Application::build(settings).expect("build with the new master key");
    let address = format!("http://127.0.0.1:{}", switched.port());
    tokio::spawn(switched.run_until_stopped());
    let token = app.token(OFFICER, &["prevent_officer"], crate::helpers::AREA);
    for id in &ids {
        let case: Value = app
            .client
            .get(format!("{address}/v1/cases/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(case["referral"]["subject"].is_object(), "{case}");
    }
}

#[tokio::test]
async fn cases_stored_before_sealing_are_read_as_they_are_and_sealed_by_the_cli() {
    use pathway::store::schema::onward_referrals;
    let app = spawn_app().await;
    let id = app.file(&distinctive_referral()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let officer = app.officer();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let mut signpost = signpost_body();
    signpost["onward_referrals"][0]["organisation"] = ORGANISATION.into();
    app.act_ok(&officer, &id, "signpost", 2, &signpost).await;
    let before = case_as_officer(&app, &id).await;

    // As an earlier release stored it: in the clear, and no data key.
    let mut conn = app.db.connect();
    diesel::update(cases::table.find(&id))
        .set((
            cases::referral.eq(before["referral"].to_string()),
            cases::subject_key_id.eq(None::<String>),
        ))
        .execute(&mut conn)
        .unwrap();
    diesel::update(onward_referrals::table.filter(onward_referrals::case_id.eq(&id)))
        .set(onward_referrals::organisation.eq(ORGANISATION))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(
        case_as_officer(&app, &id).await["referral"],
        before["referral"]
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["keys", "seal", "--database-url"])
        .arg(&app.db.url)
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env("PATHWAY__LOG__FILTER", "off")
        .envs(app.audit.env())
        .output()
        .expect("run pathway keys seal");
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 cases sealed"),
        "{out:?}"
    );

    let referral: String = cases::table
        .find(&id)
        .select(cases::referral)
        .first(&mut conn)
        .unwrap();
    let organisation: String = onward_referrals::table
        .filter(onward_referrals::case_id.eq(&id))
        .select(onward_referrals::organisation)
        .first(&mut conn)
        .unwrap();
    assert!(referral.starts_with("pv1:") && organisation.starts_with("pv1:"));
    let after = case_as_officer(&app, &id).await;
    assert_eq!(after["referral"], before["referral"]);
    assert_eq!(after["onward_referrals"][0]["organisation"], ORGANISATION);
}

/// Every byte the database keeps, live or not: the SQLite file and its write-ahead log
/// (free pages and old frames included), or every page of every table, TOAST table and
/// index of the PostgreSQL database, read raw (dead tuples included).
fn raw_database_bytes(app: &TestApp) -> Vec<u8> {
    match backend() {
        TestBackend::Sqlite => database_bytes(app),
        TestBackend::Postgres => {
            use diesel::connection::SimpleConnection;
            #[derive(QueryableByName)]
            struct Relation {
                #[diesel(sql_type = Text)]
                name: String,
                #[diesel(sql_type = BigInt)]
                pages: i64,
            }
            #[derive(QueryableByName)]
            struct Page {
                #[diesel(sql_type = Binary)]
                page: Vec<u8>,
            }
            let mut conn = app.db.connect();
            conn.batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
                .expect("pageinspect (PostgreSQL contrib)");
            let relations: Vec<Relation> = diesel::sql_query(
                "SELECT c.oid::regclass::text AS name, \
                        pg_relation_size(c.oid) / current_setting('block_size')::bigint AS pages \
                 FROM pg_class c \
                 WHERE c.relkind IN ('r', 't', 'i') AND (c.relnamespace = 'public'::regnamespace \
                    OR c.oid IN (SELECT reltoastrelid FROM pg_class \
                                 WHERE relnamespace = 'public'::regnamespace))",
            )
            .load(&mut conn)
            .unwrap();
            assert!(relations.iter().any(|r| r.name == "notifications"));
            let mut bytes = Vec::new();
            for relation in relations {
                for block in 0..relation.pages {
                    let page: Page = diesel::sql_query("SELECT get_raw_page($1, $2) AS page")
                        .bind::<Text, _>(&relation.name)
                        .bind::<BigInt, _>(block)
                        .get_result(&mut conn)
                        .unwrap();
                    bytes.extend(page.page);
                }
            }
            bytes
        }
    }
}

#[tokio::test]
async fn no_byte_of_the_database_holds_the_referrers_address_before_or_after_erasure() {
    const EMAIL: &str = "perpetua.fanshawe@academy.example";
    let app = spawn_app().await;
    // The acknowledgement goes to the address in the referrer's token.
    let mut claims = app.claims(crate::helpers::REFERRER, &["referrer"], AREA);
    claims.email = EMAIL.into();
    let mut body = distinctive_referral();
    body["referrer"]["email"] = EMAIL.into();
    let filed = app
        .post_json("/v1/referrals", &app.sign(&claims), &body)
        .await;
    assert_eq!(filed.status().as_u16(), 201);
    let id = filed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Read back through the vault: the outbox for its area's admins, the export for the
    // records officer.
    let admin = app.token("admin-1", &["admin"], AREA);
    let outbox: Value = app
        .get("/v1/notifications", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outbox["items"][0]["recipient"], EMAIL, "{outbox}");
    let records = app.token("records-1", &["records_officer"], AREA);
    let export: Value = app
        .post_json("/v1/subject-access", &records, &json!({"case_id": id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        export["cases"][0]["notifications"][0]["recipient"], EMAIL,
        "{export}"
    );
    assert!(
        !contains(&raw_database_bytes(&app), EMAIL),
        "sealed at rest"
    );

    // Closed, due for review and erased: the outbox rows are deleted, and the key that
    // sealed them destroyed.
    let officer = app.officer();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    app.act_ok(
        &officer,
        &id,
        "close_no_further_action",
        2,
        &threshold("no_prevent_concern"),
    )
    .await;
    let yesterday = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    diesel::update(cases::table.find(&id))
        .set(cases::review_due_at.eq(Some(yesterday)))
        .execute(&mut app.db.connect())
        .unwrap();
    let erased = app
        .post_json(
            &format!("/v1/cases/{id}/retention"),
            &records,
            &json!({"decision": "erase"}),
        )
        .await;
    assert_eq!(erased.status().as_u16(), 200);

    let bytes = raw_database_bytes(&app);
    assert!(
        !contains(&bytes, EMAIL),
        "the address is readable after erasure"
    );
    assert!(!contains(&bytes, "perpetua"), "nor any part of it");
}
