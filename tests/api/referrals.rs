//! `POST /v1/referrals`: intake, validation, idempotency, references, repeat referrals.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{
    self, AREA, OTHER_AREA, REFERRER, assert_problem, referral_about, referral_body, spawn_app,
    threshold,
};

#[tokio::test]
async fn a_teacher_files_the_contract_example_and_gets_a_reference() {
    let app = spawn_app().await;
    let response = app
        .post_json("/v1/referrals", &app.referrer(), &referral_body())
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["idempotent-replayed"], "false");
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/cases/{}", receipt["id"].as_str().unwrap())
    );
    let reference = receipt["reference"].as_str().unwrap();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(reference, format!("PRV-{year}-000001"));
    assert_eq!(receipt["status"], "received");
    assert_eq!(receipt["immediate_risk"], false);
    assert!(receipt.get("advice").is_none());

    let case: Value = app
        .get(&location, Some(&app.referrer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["reference"], reference);
    assert_eq!(case["status"], "received");
    let officer: Value = app
        .get(&location, Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(officer["state"], "submitted");
    assert_eq!(officer["area"], AREA);
    assert_eq!(officer["referral"]["subject"]["family_name"], "Taylor");
    assert_eq!(
        officer["referral"]["subject"]["address"]["postcode"],
        "LS1 1AA"
    );
    assert_eq!(officer["due"]["kind"], "screening");
}

#[tokio::test]
async fn an_immediate_risk_is_accepted_and_the_referrer_told_to_call_999() {
    let app = spawn_app().await;
    let mut body = referral_body();
    body["immediate_risk"] = json!(true);
    let receipt = app.file(&body).await;
    assert_eq!(receipt["immediate_risk"], true);
    assert!(
        receipt["advice"].as_str().unwrap().contains("999"),
        "{receipt}"
    );
}

#[tokio::test]
async fn the_area_defaults_to_the_referrers_own() {
    let app = spawn_app().await;
    let mut body = referral_body();
    body.as_object_mut().unwrap().remove("area");
    let token = app.token("teacher-elsewhere", &["referrer"], OTHER_AREA);
    let response = app.post_json("/v1/referrals", &token, &body).await;
    assert_eq!(response.status().as_u16(), 201);
    let receipt: Value = response.json().await.unwrap();
    let path = format!("/v1/cases/{}", receipt["id"].as_str().unwrap());
    let there = app.token("officer-there", &["prevent_officer"], OTHER_AREA);
    let case: Value = app.get(&path, Some(&there)).await.json().await.unwrap();
    assert_eq!(case["area"], OTHER_AREA);
    assert_eq!(
        app.get(&path, Some(&app.officer())).await.status().as_u16(),
        404,
        "not this area's case"
    );
}

/// Applies `change` to the contract example.
fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut body = referral_body();
    change(&mut body);
    body
}

#[tokio::test]
async fn each_invalid_field_is_named_with_its_code() {
    let app = spawn_app().await;
    let token = app.referrer();
    let future = (chrono::Utc::now() + chrono::Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            with(|b| b["surprise"] = json!(1)),
            "surprise",
            "unknown_field",
            "unknown top-level field",
        ),
        (
            with(|b| b["subject"]["nickname"] = json!("S")),
            "subject.nickname",
            "unknown_field",
            "unknown nested field",
        ),
        (
            with(|b| b["subject"]["family_name"] = json!("  ")),
            "subject.family_name",
            "required",
            "blank name",
        ),
        (
            with(|b| {
                b["subject"].as_object_mut().unwrap().remove("given_name");
            }),
            "subject.given_name",
            "required",
            "missing name",
        ),
        (
            with(|b| b["subject"]["family_name"] = json!("x".repeat(101))),
            "subject.family_name",
            "too_long",
            "long name",
        ),
        (
            with(|b| b["subject"]["date_of_birth"] = json!("14/03/2010")),
            "subject.date_of_birth",
            "invalid_date",
            "not ISO",
        ),
        (
            with(|b| b["subject"]["date_of_birth"] = json!("2010-02-30")),
            "subject.date_of_birth",
            "invalid_date",
            "no such day",
        ),
        (
            with(|b| b["subject"]["date_of_birth"] = json!(future.clone())),
            "subject.date_of_birth",
            "date_in_future",
            "born tomorrow",
        ),
        (
            with(|b| b["subject"]["date_of_birth"] = json!("1880-01-01")),
            "subject.date_of_birth",
            "implausible_date_of_birth",
            "too old",
        ),
        (
            with(|b| b["subject"]["address"]["postcode"] = json!("LS1")),
            "subject.address.postcode",
            "invalid_postcode",
            "postcode",
        ),
        (
            with(|b| b["referrer"]["email"] = json!("jo.smith")),
            "referrer.email",
            "invalid_email",
            "email",
        ),
        (
            with(|b| b["referrer"]["phone"] = json!("123")),
            "referrer.phone",
            "invalid_phone",
            "phone",
        ),
        (
            with(|b| b["referrer"]["sector"] = json!("clergy")),
            "referrer.sector",
            "invalid_value",
            "unknown sector",
        ),
        (
            with(|b| b["concern"]["type_of_concern"] = json!("anarchism")),
            "concern.type_of_concern",
            "invalid_value",
            "unknown type of concern",
        ),
        (
            with(|b| b["concern"]["narrative"] = json!("")),
            "concern.narrative",
            "required",
            "no narrative",
        ),
        (
            with(|b| b["concern"]["narrative"] = json!("x".repeat(20_001))),
            "concern.narrative",
            "too_long",
            "long narrative",
        ),
        (
            with(|b| b["concern"]["first_noticed"] = json!(future.clone())),
            "concern.first_noticed",
            "date_in_future",
            "noticed tomorrow",
        ),
        (
            with(|b| b["area"] = json!("Leeds")),
            "area",
            "invalid_area",
            "area not a GSS code",
        ),
        (
            with(|b| b["immediate_risk"] = json!("yes")),
            "immediate_risk",
            "invalid_type",
            "string for a boolean",
        ),
        (
            with(|b| b["guardians"][0]["name"] = json!("")),
            "guardians[0].name",
            "required",
            "unnamed guardian",
        ),
        (
            with(|b| {
                b.as_object_mut().unwrap().remove("concern");
            }),
            "concern",
            "missing_field",
            "no concern at all",
        ),
    ];
    for (body, field, code, why) in cases {
        let problem = assert_problem(
            app.post_json("/v1/referrals", &token, &body).await,
            422,
            "validation_failed",
        )
        .await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{why}: expected {field}/{code} in {problem}"
        );
    }
    let listed: Value = app
        .get("/v1/cases", Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]), "nothing refused was stored");
}

#[tokio::test]
async fn every_failure_of_one_body_is_reported_at_once() {
    let app = spawn_app().await;
    let body = with(|b| {
        b["subject"]["family_name"] = json!("");
        b["subject"]["address"]["postcode"] = json!("nope");
        b["referrer"]["email"] = json!("bad");
        b["concern"]["narrative"] = json!("");
    });
    let problem = assert_problem(
        app.post_json("/v1/referrals", &app.referrer(), &body).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: HashSet<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    let expected: HashSet<&str> = [
        "subject.family_name",
        "subject.address.postcode",
        "referrer.email",
        "concern.narrative",
    ]
    .into();
    assert_eq!(fields, expected);
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_are_refused() {
    let app = spawn_app().await;
    let url = app.url("/v1/referrals");
    let token = app.referrer();
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut req = app.client.post(&url).bearer_auth(&token).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    assert_problem(
        send(b"{\"subject\":".to_vec(), Some("application/json"))
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(Vec::new(), Some("application/json")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        send(b"[1,2]".to_vec(), Some("application/json"))
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        send(b"{}".to_vec(), Some("text/plain")).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_problem(
        send(b"{}".to_vec(), None).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let mut big = referral_body();
    big["concern"]["narrative"] = json!("x".repeat(300 * 1024));
    let big = serde_json::to_vec(&big).unwrap();
    let problem = assert_problem(
        send(big.clone(), Some("application/json")).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("262144"),
        "{problem}"
    );
    // Without a Content-Length the limit is enforced while reading.
    let stream = futures_util::stream::iter(
        big.chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(chunked, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_original_answer() {
    let app = spawn_app().await;
    let token = app.referrer();
    let send = |key: &'static str, body: Value, token: String| {
        app.client
            .post(app.url("/v1/referrals"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send("key-1", referral_body(), token.clone()).await.unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    // The same body with its keys in another order is the same body.
    let reordered: Value = serde_json::from_str(&{
        let mut pairs: Vec<(String, Value)> = referral_body()
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .collect();
        pairs.reverse();
        let map: serde_json::Map<String, Value> = pairs.into_iter().collect();
        serde_json::to_string(&map).unwrap()
    })
    .unwrap();
    let again = send("key-1", reordered, token.clone()).await.unwrap();
    assert_eq!(again.status().as_u16(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        first,
        "the original answer"
    );

    let changed =
        with(|b| b["concern"]["narrative"] = json!("A different account of the concern entirely."));
    assert_problem(
        send("key-1", changed, token.clone()).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;

    let other_key: Value = send("key-2", referral_body(), token)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(other_key["id"], first["id"]);
    let someone_else = app.token("teacher-2", &["referrer"], AREA);
    let theirs: Value = send("key-1", referral_body(), someone_else)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        theirs["id"], first["id"],
        "keys belong to the user who sent them"
    );

    assert_problem(
        app.client
            .post(app.url("/v1/referrals"))
            .bearer_auth(app.referrer())
            .header("idempotency-key", "")
            .json(&referral_body())
            .send()
            .await
            .unwrap(),
        400,
        "invalid_idempotency_key",
    )
    .await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_case() {
    let app = spawn_app().await;
    let token = app.referrer();
    let retries = (0..8).map(|_| {
        app.client
            .post(app.url("/v1/referrals"))
            .bearer_auth(&token)
            .header("idempotency-key", "burst-key")
            .json(&referral_body())
            .send()
    });
    let responses = futures_util::future::join_all(retries).await;
    let mut ids = HashSet::new();
    for r in responses {
        let r = r.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        ids.insert(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(ids.len(), 1, "every retry answered with the one case");
    let listed: Value = app
        .get("/v1/cases", Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "one case stored"
    );
}

/// The number of a `PRV-<this year>-NNNNNN` reference; fails on any other shape.
fn reference_number(reference: &str) -> u32 {
    let year = chrono::Utc::now().format("%Y").to_string();
    let number = reference
        .strip_prefix(&format!("PRV-{year}-"))
        .unwrap_or_else(|| panic!("{reference} is not PRV-{year}-NNNNNN"));
    assert!(
        number.len() == 6 && number.bytes().all(|b| b.is_ascii_digit()),
        "{reference} is not PRV-{year}-NNNNNN"
    );
    number.parse().unwrap()
}

#[tokio::test]
async fn references_stay_unique_and_gapless_under_concurrent_filing() {
    let app = spawn_app().await;
    let token = app.referrer();
    // 8 clients filing 4 each, all at once.
    let clients = (0..8).map(|client| {
        let (app, token) = (&app, &token);
        async move {
            let mut references = Vec::new();
            for i in 0..4 {
                let body = referral_about("Pat", &format!("Person{client}x{i}"), "2008-01-01");
                let r = app.post_json("/v1/referrals", token, &body).await;
                assert_eq!(r.status().as_u16(), 201);
                let receipt: Value = r.json().await.unwrap();
                references.push(receipt["reference"].as_str().unwrap().to_owned());
            }
            references
        }
    });
    let references: Vec<String> = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut numbers: Vec<u32> = references.iter().map(|r| reference_number(r)).collect();
    numbers.sort_unstable();
    // No filing failed, so no number was lost either.
    assert_eq!(numbers, (1..=32).collect::<Vec<u32>>(), "{references:?}");
}

#[tokio::test]
async fn a_failed_intake_does_not_give_its_reference_to_another() {
    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;
    let app = spawn_app().await;
    let first = app
        .file(&referral_about("Ann", "First", "2008-01-01"))
        .await;
    let first_number = reference_number(first["reference"].as_str().unwrap());
    // Another request's uncommitted row holds the key the intake below will use: on
    // PostgreSQL the intake takes its number, stores its case, then waits on the key
    // and fails when that row commits (on SQLite it waits before it starts).
    let mut holder = app.db.connect();
    let begin = match helpers::backend() {
        helpers::TestBackend::Postgres => "BEGIN",
        helpers::TestBackend::Sqlite => "BEGIN IMMEDIATE",
    };
    holder.batch_execute(begin).unwrap();
    holder
        .batch_execute(&format!(
            "INSERT INTO idempotency_keys (actor_sub, key, request_hash, case_id, response, created_at) \
             VALUES ('{REFERRER}', 'held-key', 'another body', '{}', '{{}}', '2026-01-01 00:00:00')",
            first["id"].as_str().unwrap()
        ))
        .unwrap();
    let token = app.referrer();
    let failing = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(&token)
        .header("idempotency-key", "held-key")
        .json(&referral_about("Bo", "Failed", "2008-01-01"))
        .send();
    let commit_when_waited_on = async {
        if helpers::backend() == helpers::TestBackend::Postgres {
            let mut watcher = app.db.connect();
            for _ in 0..200 {
                let waiting: Vec<Waiting> = diesel::sql_query(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .load(&mut watcher)
                .unwrap();
                if waiting[0].n > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        holder.batch_execute("COMMIT").unwrap();
    };
    let (failed, ()) = tokio::join!(failing, commit_when_waited_on);
    assert_problem(failed.unwrap(), 422, "idempotency_key_reused").await;
    let next = app.file(&referral_about("Cy", "Next", "2008-01-01")).await;
    let next_number = reference_number(next["reference"].as_str().unwrap());
    let listed: Value = app
        .get("/v1/cases", Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "the failed intake stored nothing"
    );
    match helpers::backend() {
        // The failed intake took the next number from the sequence: it is a gap now.
        helpers::TestBackend::Postgres => assert_eq!(next_number, first_number + 2),
        // One writer: the failed intake never began, so it took no number.
        helpers::TestBackend::Sqlite => assert_eq!(next_number, first_number + 1),
    }
}

#[derive(diesel::QueryableByName)]
struct Waiting {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn a_repeat_referral_is_linked_both_ways_and_shown_with_the_earlier_outcome() {
    let app = spawn_app().await;
    let officer = app.officer();
    let first = app.file(&referral_body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.act_ok(&officer, &first, "begin_screening", 1, &json!({}))
        .await;
    app.act_ok(
        &officer,
        &first,
        "close_no_further_action",
        2,
        &threshold("no_prevent_concern"),
    )
    .await;

    // The same person written differently: case, spacing and punctuation do not matter.
    let mut again = referral_body();
    again["subject"]["given_name"] = json!(" SAM ");
    again["subject"]["family_name"] = json!("taylor");
    let receipt = app.file(&again).await;
    assert!(
        receipt.get("linked_cases").is_none() && receipt.get("repeat_referral").is_none(),
        "referrers are not told"
    );
    let second = receipt["id"].as_str().unwrap().to_owned();
    let unrelated = app
        .file(&referral_about("Sam", "Taylor", "2011-03-14"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let case: Value = app
        .get(&format!("/v1/cases/{second}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["repeat_referral"], true);
    let links = case["linked_cases"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{case}");
    assert_eq!(links[0]["id"], first.as_str());
    assert_eq!(links[0]["state"], "closed");
    assert_eq!(links[0]["outcome"], "no_further_action");

    let earlier: Value = app
        .get(&format!("/v1/cases/{first}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        earlier["linked_cases"][0]["id"],
        second.as_str(),
        "linked both ways"
    );
    let other: Value = app
        .get(&format!("/v1/cases/{unrelated}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        other["repeat_referral"], false,
        "another date of birth is another person"
    );
}

#[tokio::test]
async fn names_that_only_look_different_are_linked_to_the_earlier_referral() {
    let app = spawn_app().await;
    let officer = app.officer();
    let first = app
        .file(&referral_about("Amir", "Khan", "2009-06-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let variants = [
        ("Ａｍｉｒ", "Ｋｈａｎ", "full-width letters"),
        ("ＡＭＩＲ", "ＫＨＡＮ", "full-width capitals"),
        ("aMIR", "KHAN", "another case"),
        (
            "\u{0410}m\u{0456}r",
            "\u{041A}h\u{0430}n",
            "Cyrillic А, і, К and а",
        ),
    ];
    for (given, family, why) in variants {
        let id = app.file(&referral_about(given, family, "2009-06-01")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let case: Value = app
            .get(&format!("/v1/cases/{id}"), Some(&officer))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(case["repeat_referral"], true, "{why}: {case}");
        let linked: Vec<&str> = case["linked_cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|link| link["id"].as_str().unwrap())
            .collect();
        assert!(linked.contains(&first.as_str()), "{why}: {case}");
        assert_eq!(
            case["referral"]["subject"]["given_name"], given,
            "{why}: stored as typed"
        );
    }
    let someone_else = app
        .file(&referral_about("Amit", "Khan", "2009-06-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let case: Value = app
        .get(&format!("/v1/cases/{someone_else}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["repeat_referral"], false, "another name: {case}");
}

/// Puts a name into one place of a referral body.
type PlaceName = fn(&mut Value, &str);

#[tokio::test]
async fn invisible_characters_in_names_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    let token = app.referrer();
    let places: [(&str, PlaceName); 5] = [
        ("subject.given_name", |b, name| {
            b["subject"]["given_name"] = json!(name)
        }),
        ("subject.family_name", |b, name| {
            b["subject"]["family_name"] = json!(name)
        }),
        ("subject.aliases[0]", |b, name| {
            b["subject"]["aliases"] = json!([name])
        }),
        ("guardians[0].name", |b, name| {
            b["guardians"][0]["name"] = json!(name)
        }),
        ("referrer.name", |b, name| {
            b["referrer"]["name"] = json!(name)
        }),
    ];
    let invisible = [
        ('\u{200B}', "zero width space"),
        ('\u{00AD}', "soft hyphen"),
        ('\u{2060}', "word joiner"),
        ('\u{200E}', "left-to-right mark"),
        ('\u{202E}', "right-to-left override"),
    ];
    for (c, what) in invisible {
        for (field, place) in places {
            let mut body = referral_body();
            place(&mut body, &format!("Am{c}ir Khan"));
            let problem = assert_problem(
                app.post_json("/v1/referrals", &token, &body).await,
                422,
                "validation_failed",
            )
            .await;
            let errors = problem["errors"].as_array().unwrap();
            assert!(
                errors
                    .iter()
                    .any(|e| e["field"] == field && e["code"] == "invisible_character"),
                "{what} in {field}: {problem}"
            );
        }
    }
    let listed: Value = app
        .get("/v1/cases", Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]), "nothing refused was stored");
}
