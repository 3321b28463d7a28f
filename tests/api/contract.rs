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
