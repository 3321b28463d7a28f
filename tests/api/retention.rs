//! Retention reviews and erasure, over HTTP: a closed case comes due, is retained with
//! a justification, comes due again and is erased, leaving only its skeleton.

use std::time::Duration;

use chrono::Timelike;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use pathway::store::DbConnection;
use pathway::store::schema::cases;
use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, SmtpServer, TestApp, add_mailbox, assert_problem, referral_about, spawn_app,
    spawn_app_with, threshold, with_mail,
};

fn records(app: &TestApp) -> String {
    app.token("records-1", &["records_officer"], AREA)
}

fn auditor(app: &TestApp) -> String {
    app.token("auditor-1", &["auditor"], AREA)
}

/// Files a referral about `family` (born 2010-03-14) and closes it with no further
/// action; returns its id.
async fn closed_case(app: &TestApp, family: &str) -> String {
    let receipt = app
        .file(&referral_about("Morgan", family, "2010-03-14"))
        .await;
    let id = receipt["id"].as_str().expect("id").to_owned();
    let officer = app.officer();
    let case = app
        .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let version = case["version"].as_i64().expect("version");
    app.act_ok(
        &officer,
        &id,
        "close_no_further_action",
        version,
        &threshold("no_prevent_concern"),
    )
    .await;
    id
}

/// Brings the case's retention review to yesterday, as time passing would.
fn make_due(app: &TestApp, id: &str) {
    let mut conn = app.db.connect();
    // Whole seconds, as the service stores its own times: list cursors carry microseconds.
    let past = chrono::Utc::now()
        .naive_utc()
        .with_nanosecond(0)
        .expect("a time")
        - chrono::Duration::days(1);
    diesel::update(cases::table.find(id))
        .set(cases::review_due_at.eq(Some(past)))
        .execute(&mut conn)
        .expect("bring the review forward");
}

async fn decide(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/v1/cases/{id}/retention"), token, &body)
        .await
}

async fn decide_ok(app: &TestApp, id: &str, body: Value) -> Value {
    let response = decide(app, &records(app), id, body.clone()).await;
    let status = response.status().as_u16();
    let answer: Value = response.json().await.expect("body");
    assert_eq!(status, 200, "{body}: {answer}");
    answer
}

async fn due_ids(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app
        .get("/v1/retention/due", Some(token))
        .await
        .json()
        .await
        .expect("page");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    t: String,
    #[diesel(sql_type = Text)]
    c: String,
}

/// Every value of every text column of every table.
fn every_text_value(conn: &mut DbConnection) -> Vec<(String, String)> {
    let columns: Vec<TableColumn> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')",
        )
        .load(pg),
        DbConnection::Sqlite(lite) => diesel::sql_query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND upper(p.type) = 'TEXT'",
        )
        .load(lite),
    }
    .expect("the text columns");
    assert!(columns.len() > 40, "every table is read");
    let mut values = Vec::new();
    for col in columns {
        let query = format!("SELECT \"{}\" AS v FROM \"{}\"", col.c, col.t);
        let rows: Vec<TextValue> = match conn {
            DbConnection::Postgres(pg) => diesel::sql_query(query).load(pg),
            DbConnection::Sqlite(lite) => diesel::sql_query(query).load(lite),
        }
        .expect("read a column");
        values.extend(
            rows.into_iter()
                .filter_map(|r| r.v)
                .map(|v| (format!("{}.{}", col.t, col.c), v)),
        );
    }
    values
}

async fn statistics(app: &TestApp) -> Value {
    let mut stats: Value = app
        .get("/v1/stats", Some(&auditor(app)))
        .await
        .json()
        .await
        .expect("stats");
    stats.as_object_mut().expect("stats").remove("to");
    stats
}

#[tokio::test]
async fn a_closed_case_is_reviewed_retained_and_then_erased_leaving_only_its_skeleton() {
    // Arrange: a closed case, filed with an idempotency key.
    let app = spawn_app().await;
    let family = format!("Erasable{}", uuid::Uuid::new_v4().simple());
    let mut body = referral_about("Morgan", &family, "2010-03-14");
    body["concern"]["narrative"] = "Unique narrative about the subject's weekend.".into();
    let receipt: Value = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(app.referrer())
        .header("idempotency-key", "erase-me-1")
        .json(&body)
        .send()
        .await
        .expect("file")
        .json()
        .await
        .expect("receipt");
    let id = receipt["id"].as_str().expect("id").to_owned();
    let officer = app.officer();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let closed = app
        .act_ok(
            &officer,
            &id,
            "close_no_further_action",
            2,
            &threshold("no_prevent_concern"),
        )
        .await;
    let review: chrono::DateTime<chrono::Utc> = closed["review_due_at"]
        .as_str()
        .expect("a review date")
        .parse()
        .expect("a time");
    let years = (review - chrono::Utc::now()).num_days() / 365;
    assert_eq!(years, 3, "no further action: reviewed after 3 years");
    let records = records(&app);

    // Not yet due: listed nowhere, and only a hold could be recorded.
    assert!(due_ids(&app, &records).await.is_empty());
    let retain = |on: &str| {
        json!({"decision": "retain", "reason_code": "ongoing_safeguarding_concern",
            "justification": "Sibling referral still open; review next year.", "next_review_on": on})
    };
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert_problem(
        decide(&app, &records, &id, retain(&tomorrow)).await,
        409,
        "not_due",
    )
    .await;

    // Due: listed to the records officer and the auditor, with no personal data.
    make_due(&app, &id);
    let page: Value = app
        .get("/v1/retention/due", Some(&records))
        .await
        .json()
        .await
        .unwrap();
    let item = &page["items"][0];
    assert_eq!(item["id"], id.as_str(), "{page}");
    assert_eq!(item["outcome"], "no_further_action");
    assert_eq!(item["legal_hold"], false);
    assert!(!page.to_string().contains(&family), "{page}");
    assert_eq!(due_ids(&app, &auditor(&app)).await, vec![id.clone()]);
    // Only the area's records officer decides.
    assert_problem(
        decide(&app, &auditor(&app), &id, retain(&tomorrow)).await,
        403,
        "role_not_allowed",
    )
    .await;
    let elsewhere = app.token("records-9", &["records_officer"], OTHER_AREA);
    assert_problem(
        decide(&app, &elsewhere, &id, retain(&tomorrow)).await,
        404,
        "not_found",
    )
    .await;
    let unknown = json!({"decision": "retain", "reason_code": "other", "justification": "x",
        "next_review_on": tomorrow, "colour": "red"});
    assert_problem(
        decide(&app, &records, &id, unknown).await,
        422,
        "validation_failed",
    )
    .await;

    // Each decision's declared rules name the field and say what is wrong; nothing is
    // recorded (the case stays due below).
    let long = "j".repeat(2001);
    let many: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (body, field, code) in [
        (
            json!({"decision": "retain", "reason_code": "other", "justification": long,
                "next_review_on": tomorrow}),
            "justification",
            "too_long",
        ),
        (
            json!({"decision": "retain", "reason_code": "other", "justification": "",
                "next_review_on": tomorrow}),
            "justification",
            "required",
        ),
        (
            json!({"decision": "hold", "reason": "  "}),
            "reason",
            "required",
        ),
        (
            json!({"decision": "release", "reason": long}),
            "reason",
            "too_long",
        ),
        (
            json!({"decision": "erase", "case_ids": many}),
            "case_ids",
            "too_many",
        ),
    ] {
        let response = decide(&app, &records, &id, body.clone()).await;
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert_eq!(problem["errors"][0]["code"], code, "{problem}");
    }

    // Retained with a justification until tomorrow: no longer due.
    let retained = decide_ok(&app, &id, retain(&tomorrow)).await;
    assert_eq!(retained["case"]["review_due_on"], tomorrow.as_str());
    assert!(due_ids(&app, &records).await.is_empty());
    let history: Value = app
        .get(&format!("/v1/cases/{id}/history"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    let entry = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "retention_retain")
        .expect("the decision is in the history");
    assert_eq!(entry["reason_code"], "ongoing_safeguarding_concern");
    assert_eq!(entry["details"]["next_review_on"], tomorrow.as_str());

    // Due again; a legal hold blocks erasure until released.
    make_due(&app, &id);
    decide_ok(
        &app,
        &id,
        json!({"decision": "hold", "reason": "Civil claim notified."}),
    )
    .await;
    assert_problem(
        decide(&app, &records, &id, json!({"decision": "erase"})).await,
        409,
        "legal_hold",
    )
    .await;
    decide_ok(
        &app,
        &id,
        json!({"decision": "release", "reason": "Claim withdrawn."}),
    )
    .await;
    let before = statistics(&app).await;
    // Before erasure the personal data is there, sealed: the scan reads the columns that
    // hold it, and finds no plaintext in them.
    let values = every_text_value(&mut app.db.connect());
    let sealed: Vec<&str> = values
        .iter()
        .filter(|(_, v)| v.starts_with("pv1:"))
        .map(|(column, _)| column.as_str())
        .collect();
    assert!(
        sealed.contains(&"cases.referral") && sealed.contains(&"retention_decisions.justification"),
        "the scan reads the sealed columns: {sealed:?}"
    );
    assert!(
        !values
            .iter()
            .any(|(_, v)| v.contains(&family) || v.contains("Civil claim notified")),
        "nothing personal in plaintext"
    );
    let key: Option<String> = cases::table
        .find(&id)
        .select(cases::subject_key_id)
        .first(&mut app.db.connect())
        .unwrap();

    // Act: erase.
    let erased = decide_ok(&app, &id, json!({"decision": "erase"})).await;

    // Assert: the skeleton remains, shown as erased.
    assert_eq!(erased["erased_case_ids"], json!([id]));
    let case: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["erased"], true, "{case}");
    assert!(case["erased_at"].is_string());
    assert_eq!(case["referral"], Value::Null);
    assert_eq!(case["state"], "closed");
    assert_eq!(case["outcome"], "no_further_action");
    assert_eq!(case["reference"], receipt["reference"]);
    let actions: Value = app
        .get(&format!("/v1/cases/{id}/actions"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(actions["actions"], json!([]), "{actions}");
    assert_problem(
        decide(&app, &records, &id, json!({"decision": "erase"})).await,
        409,
        "already_erased",
    )
    .await;
    assert_eq!(statistics(&app).await, before, "statistics are unchanged");
    let report: Value = app
        .get("/v1/audit/verify", Some(&auditor(&app)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["intact"], true, "{report}");
    // The subject's data key is destroyed: no copy sealed under it opens again.
    use pathway::store::schema::subject_keys;
    let wrapped: Option<String> = subject_keys::table
        .find(key.expect("a data key"))
        .select(subject_keys::wrapped_key)
        .first(&mut app.db.connect())
        .unwrap();
    assert_eq!(wrapped, None);
    // No personal value of the referral, nor the decisions' free text, anywhere.
    let mut conn = app.db.connect();
    let personal = [
        family.as_str(),
        "Unique narrative",
        "1 High Street",
        "LS1 1AA",
        "Leeds Academy",
        "Alex Taylor",
        "07700900123",
        "jo.smith@school.example",
        "Jo Smith",
        "2010-03-14",
        "Rationale recorded by the assessing officer",
        "Sibling referral still open",
        "Civil claim notified",
        "erase-me-1",
    ];
    for (column, value) in every_text_value(&mut conn) {
        for p in personal {
            assert!(!value.contains(p), "{column} still holds `{p}`: {value}");
        }
    }

    // A subject access request finds nothing personal: by name nobody, by case id the
    // skeleton alone.
    let by_name = app
        .post_json(
            "/v1/subject-access",
            &records,
            &json!({"given_name": "Morgan", "family_name": family, "date_of_birth": "2010-03-14"}),
        )
        .await;
    assert_eq!(by_name.status().as_u16(), 200);
    let by_name: Value = by_name.json().await.unwrap();
    assert_eq!(by_name["cases"], json!([]), "{by_name}");
    let by_id: Value = app
        .post_json("/v1/subject-access", &records, &json!({"case_id": id}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["cases"][0]["id"], id.as_str(), "{by_id}");
    for p in personal {
        assert!(
            !by_id.to_string().contains(p),
            "the export holds `{p}`: {by_id}"
        );
    }

    // A later referral about the same person is not linked to the erased case.
    let later = app
        .file(&referral_about("Morgan", &family, "2010-03-14"))
        .await;
    let later: Value = app
        .get(
            &format!("/v1/cases/{}", later["id"].as_str().unwrap()),
            Some(&officer),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["repeat_referral"], false, "{later}");
    assert_eq!(later["linked_cases"], json!([]));
}

#[tokio::test]
async fn a_person_with_linked_cases_is_erased_whole_or_not_at_all() {
    let app = spawn_app().await;
    let family = format!("Linked{}", uuid::Uuid::new_v4().simple());
    let first = closed_case(&app, &family).await;
    let second = closed_case(&app, &family).await;
    let records = records(&app);
    make_due(&app, &first);

    // The second is not due and not named: refused, naming neither.
    let refused = assert_problem(
        decide(&app, &records, &first, json!({"decision": "erase"})).await,
        409,
        "linked_cases_not_due",
    )
    .await;
    assert!(!refused.to_string().contains(&second), "{refused}");
    // Naming a case that is not linked is refused too.
    let stranger = closed_case(&app, "Unrelated").await;
    assert_problem(
        decide(
            &app,
            &records,
            &first,
            json!({"decision": "erase", "case_ids": [stranger]}),
        )
        .await,
        409,
        "not_linked",
    )
    .await;

    // Naming every linked case erases them all together.
    let erased = decide_ok(
        &app,
        &first,
        json!({"decision": "erase", "case_ids": [second]}),
    )
    .await;
    let ids: std::collections::BTreeSet<&str> = erased["erased_case_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()].into());
    for id in [&first, &second] {
        let case: Value = app
            .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(case["erased"], true, "{case}");
        assert_eq!(case["linked_cases"], json!([]));
    }
    let stranger_case: Value = app
        .get(&format!("/v1/cases/{stranger}"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stranger_case["erased"], false);
}

#[tokio::test]
async fn a_passed_review_date_is_reminded_once_to_the_records_officer() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        with_mail(s, &smtp.url());
        s.retention.no_further_action_years = 0;
        s.mail.reminder_interval_seconds = 1;
    })
    .await;
    add_mailbox(&app, "records_officer", "records@council.example").await;
    let id = closed_case(&app, "Reminded").await;
    let reference: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    let reference = reference["reference"].as_str().unwrap().to_owned();
    let to_records = |m: &crate::helpers::Mail| m.to.to_lowercase() == "records@council.example";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !smtp.messages().iter().any(to_records) {
        assert!(std::time::Instant::now() < deadline, "a reminder is sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let reminders: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| to_records(m))
        .collect();
    assert_eq!(reminders.len(), 1, "once per review date");
    assert!(reminders[0].subject.contains(&reference));
    assert!(reminders[0].raw.contains("retention review"));
    assert!(!reminders[0].raw.contains("Reminded"), "no personal data");
}

#[tokio::test]
async fn erasure_destroys_the_data_key_and_another_areas_linked_case_keeps_its_own() {
    // Arrange: one person, a closed case here and a repeat referral in another area,
    // which shares the first case's data key.
    let app = spawn_app().await;
    let family = format!("Keyed{}", uuid::Uuid::new_v4().simple());
    let here = closed_case(&app, &family).await;
    let mut body = referral_about("Morgan", &family, "2010-03-14");
    body["area"] = json!(OTHER_AREA);
    let there = app.file(&body).await["id"].as_str().unwrap().to_owned();
    let key_of = |id: &str| -> Option<String> {
        cases::table
            .find(id)
            .select(cases::subject_key_id)
            .first(&mut app.db.connect())
            .unwrap()
    };
    let shared = key_of(&here).expect("a data key");
    assert_eq!(key_of(&there).as_deref(), Some(shared.as_str()));
    make_due(&app, &here);

    // Act
    decide_ok(&app, &here, json!({"decision": "erase"})).await;

    // Assert: the key is destroyed; the other area's case moved to a key of its own
    // and reads in full.
    use pathway::store::schema::subject_keys;
    let (wrapped, destroyed): (Option<String>, Option<chrono::NaiveDateTime>) = subject_keys::table
        .find(&shared)
        .select((subject_keys::wrapped_key, subject_keys::destroyed_at))
        .first(&mut app.db.connect())
        .unwrap();
    assert!(wrapped.is_none() && destroyed.is_some());
    let own = key_of(&there).expect("a data key");
    assert_ne!(own, shared);
    let officer_there = app.token("officer-9", &["prevent_officer"], OTHER_AREA);
    let case: Value = app
        .get(&format!("/v1/cases/{there}"), Some(&officer_there))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        case["referral"]["subject"]["family_name"],
        family.as_str(),
        "{case}"
    );
    assert_eq!(case["erased"], false);
}
