//! The document is a contract: each action its own operation and schema, and what the
//! document says about a parameter or a field is what the server does.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn each_available_action_points_at_its_schema_in_the_served_document() {
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let (id, _) = app.case_in("screening").await;
    let body: Value = app
        .get(&format!("/v1/cases/{id}/actions"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    let actions = body["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    for a in actions {
        let name = a["action"].as_str().unwrap();
        let pointer = a["schema"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has a schema"))
            .strip_prefix("/openapi.json#")
            .unwrap_or_else(|| panic!("{name}: a pointer into /openapi.json"));
        let schema = document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{name}: {pointer} is in the document"));
        let operation = &document["paths"][format!("/v1/cases/{{id}}/actions/{name}")]["post"];
        assert_eq!(operation["operationId"], name);
        assert_eq!(
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#{pointer}"),
            "{name}: the operation's body is the schema the actions list names"
        );
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }
}

#[tokio::test]
async fn if_match_is_accepted_exactly_as_its_documented_pattern_says() {
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let pattern = document["paths"]["/v1/cases/{id}/actions/begin_screening"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "If-Match")
        .map(|p| p["schema"]["pattern"].clone())
        .unwrap();
    assert_eq!(pattern, json!(r#"^("[0-9]{1,18}"|[0-9]{1,18})$"#));
    let (id, _) = app.case_in("submitted").await;
    let url = app.url(&format!("/v1/cases/{id}/actions/begin_screening"));
    let officer = app.officer();
    let send = |value: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&officer)
            .header("if-match", value)
            .json(&json!({}))
            .send()
    };
    // Well-formed, but not the case's version (1): the format was accepted.
    for well_formed in ["\"7\"", "7", "\"000000000000000007\"", "999999999999999999"] {
        let response = send(well_formed).await.unwrap();
        assert_problem(response, 412, "version_mismatch").await;
    }
    for malformed in [
        "*",
        "W/\"1\"",
        "\"1",
        "1\"",
        "\"\"1\"\"",
        "+1",
        "-1",
        "\"\"",
        "1,2",
        "1 2",
        "1000000000000000000",
        "x",
    ] {
        let response = send(malformed).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "If-Match: {malformed}");
        assert_problem(response, 400, "invalid_if_match").await;
    }
}

/// The operations whose use case refuses some roles with 403 `role_not_allowed`
/// (besides every action, which the pathway table restricts).
const ROLE_CHECKED: &[&str] = &[
    "list_cases",
    "history",
    "available_actions",
    "add_note",
    "create_panel",
    "list_panels",
    "read_panel",
    "add_member",
    "remove_member",
    "create_meeting",
    "directory",
    "add_mailbox",
    "remove_mailbox",
    "list_notifications",
    "retry",
    "statistics",
    "subject_access",
    "due",
    "decide",
    "list_audit_entries",
    "verify",
];

#[tokio::test]
async fn every_operation_has_a_unique_id_and_documents_what_it_can_answer() {
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut role_checked_seen = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{what} has an operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            let documents = |status: &str| op["responses"][status].is_object();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(documents("401"), "{what}: 401");
            }
            if op["requestBody"].is_object() {
                for status in ["400", "413", "415", "422"] {
                    assert!(documents(status), "{what}: {status}");
                }
            }
            if path.contains("{id}") {
                assert!(documents("404"), "{what}: 404");
            }
            let action = path.starts_with("/v1/cases/{id}/actions/");
            if action {
                for status in ["409", "412", "428"] {
                    assert!(documents(status), "{what}: {status}");
                }
            }
            if action || ROLE_CHECKED.contains(&id) {
                role_checked_seen.push(id.to_owned());
                let description = op["responses"]["403"]["description"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: 403"));
                assert!(
                    description.contains("role_not_allowed"),
                    "{what}: the 403 names its code"
                );
            }
        }
    }
    for id in ROLE_CHECKED {
        assert!(
            role_checked_seen.iter().any(|s| s == id),
            "{id} is an operation of the document"
        );
    }
}

#[tokio::test]
async fn the_operations_that_check_roles_answer_403_as_documented() {
    // A sample of the six that did not document it: the panel's own operations, refused
    // to a referrer, and the admin-only outbox retry.
    let app = spawn_app().await;
    let referrer = app.referrer();
    let id = uuid_like();
    let member = json!({"name": "Hana Health", "agency": "health", "email": "hana@nhs.example", "panel_role": "member"});
    let meeting = json!({"scheduled_for": "2099-01-15T10:00:00Z"});
    for (method, path, body) in [
        ("GET", format!("/v1/panels/{id}"), None),
        ("POST", format!("/v1/panels/{id}/members"), Some(member)),
        ("DELETE", format!("/v1/panels/{id}/members/{id}"), None),
        ("POST", format!("/v1/panels/{id}/meetings"), Some(meeting)),
        ("DELETE", format!("/v1/directory/{id}"), None),
        ("POST", format!("/v1/notifications/{id}/retry"), None),
    ] {
        let request = match (method, body) {
            ("GET", _) => app.client.get(app.url(&path)),
            ("DELETE", _) => app.client.delete(app.url(&path)),
            (_, Some(body)) => app.client.post(app.url(&path)).json(&body),
            (_, None) => app.client.post(app.url(&path)),
        };
        let response = request.bearer_auth(&referrer).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{method} {path}");
        assert_problem(response, 403, "role_not_allowed").await;
    }
}

fn uuid_like() -> &'static str {
    "0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f"
}
