//! `correct_details`: rectification of the subject's or referrer's details, recorded in
//! history by field name only, and the repeat-referral links recomputed.

use diesel::prelude::*;
use pathway::store::schema::cases;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, referral_about, spawn_app};

async fn history(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let body: Value = app
        .get(&format!("/v1/cases/{id}/history"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    body.as_array().cloned().unwrap_or_default()
}

async fn linked(app: &TestApp, id: &str) -> Vec<String> {
    let case: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    case["linked_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn data_key(app: &TestApp, id: &str) -> Option<String> {
    cases::table
        .find(id)
        .select(cases::subject_key_id)
        .first(&mut app.db.connect())
        .unwrap()
}

fn correction(family_name: &str) -> Value {
    json!({"reason": "The family name was misspelt on the referral form.",
           "subject": {"family_name": family_name}})
}

#[tokio::test]
async fn a_correction_is_in_history_by_field_name_and_changes_linking() {
    let app = spawn_app().await;
    let officer = app.officer();
    let earlier = app
        .file(&referral_about("Rowan", "Pemberley", "2008-06-09"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = app
        .file(&referral_about("Rowan", "Pembury", "2008-06-09"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(linked(&app, &later).await.is_empty());
    assert_ne!(data_key(&app, &earlier), data_key(&app, &later));
    app.act_ok(&officer, &later, "begin_screening", 1, &json!({}))
        .await;

    let case = app
        .act_ok(
            &officer,
            &later,
            "correct_details",
            2,
            &correction("Pemberley"),
        )
        .await;
    assert_eq!(case["state"], "screening");
    assert_eq!(case["referral"]["subject"]["family_name"], "Pemberley");
    assert_eq!(linked(&app, &later).await, vec![earlier.clone()]);
    assert_eq!(linked(&app, &earlier).await, vec![later.clone()]);
    // Now about the same person: sealed under that person's data key.
    assert_eq!(data_key(&app, &earlier), data_key(&app, &later));

    let entries = history(&app, &officer, &later).await;
    let last = entries.last().unwrap();
    assert_eq!(last["action"], "correct_details");
    assert_eq!(last["details"]["fields"], json!(["subject.family_name"]));
    let text = last.to_string();
    assert!(
        !text.contains("Pemberley") && !text.contains("Pembury"),
        "{text}"
    );
    assert!(
        app.audit_actions_in_database(&earlier)
            .contains(&"case.link".to_owned())
    );

    // Corrected back: the link no longer matches and goes.
    app.act_ok(
        &officer,
        &later,
        "correct_details",
        3,
        &correction("Pembury"),
    )
    .await;
    assert!(linked(&app, &later).await.is_empty());
    assert!(linked(&app, &earlier).await.is_empty());
    assert!(
        app.audit_actions_in_database(&earlier)
            .contains(&"case.unlink".to_owned())
    );
    // About someone else again: a data key of its own, and every entry still opens.
    assert_ne!(data_key(&app, &earlier), data_key(&app, &later));
    let entries = history(&app, &officer, &later).await;
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[2]["rationale"],
        "The family name was misspelt on the referral form."
    );
    let case: Value = app
        .get(&format!("/v1/cases/{earlier}"), Some(&officer))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["referral"]["subject"]["family_name"], "Pemberley");
}

#[tokio::test]
async fn the_chair_corrects_once_the_case_is_in_channel_and_bad_bodies_are_refused() {
    let app = spawn_app().await;
    let (screening, version) = app.case_in("screening").await;
    let chair = app.chair();
    let response = app
        .act(
            &chair,
            &screening,
            "correct_details",
            version,
            &correction("Other"),
        )
        .await;
    assert_problem(response, 404, "not_found").await;

    let (id, version) = app.case_in("awaiting_panel").await;
    for (body, field, code) in [
        (
            json!({"reason": "A reason long enough.", "subject": {"shoe_size": 9}}),
            "subject.shoe_size",
            "unknown_field",
        ),
        (
            json!({"reason": "A reason long enough.", "subject": {"date_of_birth": "2009-02-30"}}),
            "subject.date_of_birth",
            "invalid_date",
        ),
        (
            json!({"reason": "A reason long enough."}),
            "subject",
            "required",
        ),
        (
            json!({"reason": "short", "referrer": {"name": "Jo Bloggs"}}),
            "reason",
            "too_short",
        ),
    ] {
        let problem = assert_problem(
            app.act(&chair, &id, "correct_details", version, &body)
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            (
                problem["errors"][0]["field"].as_str(),
                problem["errors"][0]["code"].as_str()
            ),
            (Some(field), Some(code)),
            "{body}: {problem}"
        );
    }
    let case = app
        .act_ok(
            &chair,
            &id,
            "correct_details",
            version,
            &json!({
            "reason": "The referrer's name was recorded wrongly.",
            "referrer": {"name": "Jo Bloggs"}}),
        )
        .await;
    assert_eq!(case["referral"]["referrer"]["name"], "Jo Bloggs");
    assert_eq!(case["state"], "awaiting_panel");
    let (closed, version) = app.case_in("closed").await;
    let response = app
        .act(
            &app.officer(),
            &closed,
            "correct_details",
            version,
            &correction("X"),
        )
        .await;
    assert_problem(response, 409, "invalid_transition").await;
}
