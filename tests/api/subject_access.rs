//! `POST /v1/subject-access`: everything held on a person, for auditors and records
//! officers of the area, every export audited.

use diesel::prelude::*;
use pathway::store::schema::audit_log;
use serde_json::{Value, json};

use crate::helpers::{AREA, OTHER_AREA, TestApp, assert_problem, referral_about, spawn_app};

const PERSON: (&str, &str, &str) = ("Marigold", "Ashworthy", "2009-02-03");

async fn file_twice(app: &TestApp) -> (String, String) {
    let body = referral_about(PERSON.0, PERSON.1, PERSON.2);
    let first = app.file(&body).await["id"].as_str().unwrap().to_owned();
    let second = app.file(&body).await["id"].as_str().unwrap().to_owned();
    (first, second)
}

fn by_name() -> Value {
    json!({"given_name": PERSON.0, "family_name": PERSON.1, "date_of_birth": PERSON.2})
}

async fn export(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.post_json("/v1/subject-access", token, body).await
}

#[tokio::test]
async fn a_person_with_two_linked_cases_gets_both_with_who_accessed_them() {
    let app = spawn_app().await;
    let (first, second) = file_twice(&app).await;
    let officer = app.officer();
    app.act_ok(&officer, &first, "begin_screening", 1, &json!({}))
        .await;
    app.get(&format!("/v1/cases/{second}"), Some(&officer))
        .await;
    let records = app.token("records-1", &["records_officer"], AREA);

    for body in [by_name(), json!({"case_id": second})] {
        let response = export(&app, &records, &body).await;
        assert_eq!(response.status().as_u16(), 200);
        let doc: Value = response.json().await.unwrap();
        let ids: Vec<&str> = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![first.as_str(), second.as_str()], "{body}");
        let one = &doc["cases"][0];
        assert_eq!(one["referral"]["subject"]["family_name"], PERSON.1);
        assert_eq!(one["linked_case_ids"], json!([second]));
        let actions: Vec<&str> = one["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, vec!["submit_referral", "begin_screening"]);
        let accessed: Vec<(&str, &str)> = doc["cases"][1]["access_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["actor_sub"].as_str().unwrap(),
                    a["action"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(
            accessed.contains(&("officer-1", "case.read")),
            "{accessed:?}"
        );
        assert!(
            one["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["kind"].is_string())
        );
        assert_eq!(doc["exemption_review"], false);
    }
    for id in [&first, &second] {
        let exported = app
            .audit_actions_in_database(id)
            .iter()
            .filter(|a| *a == "subject_access.export")
            .count();
        assert_eq!(exported, 2, "one entry per case per export");
    }
}

#[tokio::test]
async fn a_caller_of_another_area_finds_nothing_of_this_area() {
    let app = spawn_app().await;
    let (first, _) = file_twice(&app).await;
    for (sub, role) in [("records-9", "records_officer"), ("auditor-9", "auditor")] {
        let token = app.token(sub, &[role], OTHER_AREA);
        let response = export(&app, &token, &by_name()).await;
        assert_eq!(response.status().as_u16(), 200);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["cases"], json!([]), "{role}: {doc}");
        // Named by id, a case the caller may not see answers as if it did not exist.
        let response = export(&app, &token, &json!({"case_id": first})).await;
        assert_eq!(response.status().as_u16(), 404, "{role}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "not_found", "{role}: {problem}");
    }
    let national = app.token("auditor-n", &["auditor"], "national");
    let doc: Value = export(&app, &national, &by_name())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["cases"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn referrers_chairs_and_officers_are_refused_and_the_refusal_is_audited() {
    let app = spawn_app().await;
    file_twice(&app).await;
    for (sub, token) in [
        ("teacher-1", app.referrer()),
        ("chair-1", app.chair()),
        ("officer-1", app.officer()),
    ] {
        assert_problem(
            export(&app, &token, &by_name()).await,
            403,
            "role_not_allowed",
        )
        .await;
        // Whatever the body.
        assert_problem(
            export(&app, &token, &json!({})).await,
            403,
            "role_not_allowed",
        )
        .await;
        let refusals: Vec<String> = audit_log::table
            .filter(audit_log::actor_sub.eq(sub))
            .filter(audit_log::action.eq("subject_access.export"))
            .select(audit_log::outcome)
            .load(&mut app.db.connect())
            .unwrap();
        assert_eq!(refusals, vec!["denied".to_owned(); 2], "{sub}");
    }
}

#[tokio::test]
async fn a_request_names_one_person_one_way_and_nothing_else() {
    let app = spawn_app().await;
    let records = app.token("records-1", &["records_officer"], AREA);
    let long = "n".repeat(101);
    // (body, the field named, its code): the declared rules, then the parse's.
    for (body, field, code) in [
        (json!({}), "given_name", "missing_field"),
        (
            json!({"given_name": "A", "family_name": "B"}),
            "date_of_birth",
            "missing_field",
        ),
        (
            json!({"case_id": uuid::Uuid::new_v4(), "given_name": "A"}),
            "case_id",
            "ambiguous_subject",
        ),
        (
            json!({"given_name": long, "family_name": "B", "date_of_birth": "2010-03-14"}),
            "given_name",
            "too_long",
        ),
        (
            json!({"given_name": "", "family_name": "B", "date_of_birth": "2010-03-14"}),
            "given_name",
            "required",
        ),
        (
            json!({"given_name": "A", "family_name": "   ", "date_of_birth": "2010-03-14"}),
            "family_name",
            "required",
        ),
        (
            json!({"given_name": "A", "family_name": "B", "date_of_birth": "2010-02-30"}),
            "date_of_birth",
            "invalid_date",
        ),
    ] {
        let response = export(&app, &records, &body).await;
        assert_eq!(response.status().as_u16(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "validation_failed", "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["code"], code, "{body}: {problem}");
    }
    let response = export(&app, &records, &json!({"surname": "B"})).await;
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["code"], "unknown_field", "{problem}");
}

#[tokio::test]
async fn an_export_names_no_linked_case_the_caller_may_not_export() {
    // Arrange: the person was referred here and, later, in another area: the two cases
    // are linked, and each area may see only its own.
    let app = spawn_app().await;
    let here = app
        .file(&referral_about(PERSON.0, PERSON.1, PERSON.2))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = referral_about(PERSON.0, PERSON.1, PERSON.2);
    body["area"] = json!(OTHER_AREA);
    let there: Value = app
        .post_json("/v1/referrals", &app.referrer(), &body)
        .await
        .json()
        .await
        .unwrap();
    let there = there["id"].as_str().unwrap().to_owned();

    for (sub, role) in [("auditor-1", "auditor"), ("records-1", "records_officer")] {
        // Act
        let token = app.token(sub, &[role], AREA);
        for request in [by_name(), json!({"case_id": here})] {
            let doc: Value = export(&app, &token, &request).await.json().await.unwrap();

            // Assert
            let cases = doc["cases"].as_array().unwrap();
            assert_eq!(cases.len(), 1, "{role}: {doc}");
            assert_eq!(cases[0]["id"], here.as_str());
            assert_eq!(cases[0]["linked_case_ids"], json!([]), "{role}: {doc}");
            assert!(!doc.to_string().contains(&there), "{role}: {doc}");
        }
    }
    // The national auditor may export both, and is told they are linked.
    let national = app.token("auditor-n", &["auditor"], "national");
    let doc: Value = export(&app, &national, &by_name())
        .await
        .json()
        .await
        .unwrap();
    let linked: Vec<&Value> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["linked_case_ids"])
        .collect();
    assert_eq!(linked, vec![&json!([there]), &json!([here])], "{doc}");
}
