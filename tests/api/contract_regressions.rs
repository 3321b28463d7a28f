//! Requests Schemathesis found answered with a status the document did not list, replayed
//! as it sent them: the answer is the same, and the served document now lists it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{AREA, TestApp, assert_problem, spawn_app};

/// The id Schemathesis sends for a resource it has not created.
const UNKNOWN: &str = "e3e70682-c209-1cac-a29f-6fbed82c07cd";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// The statuses the served document lists for `method` `template`.
async fn documented(app: &TestApp, method: &str, template: &str) -> Vec<String> {
    let document: Value = app
        .get("/openapi.json", None)
        .await
        .json()
        .await
        .expect("document");
    document["paths"][template][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template} is documented"))
        .keys()
        .cloned()
        .collect()
}

/// A request as Schemathesis sent it: method, path, its template in the document, token,
/// body, and the status and code it gets.
struct Replay<'a>(
    Method,
    String,
    &'a str,
    &'a str,
    Option<Value>,
    u16,
    &'a str,
);

#[tokio::test]
async fn refusals_found_by_schemathesis_are_answered_and_documented() {
    let app = spawn_app().await;
    let referrer = app.referrer();
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let member = json!({"panel_role": "member", "email": "contract-referrer@council.example",
                        "agency": "probation", "name": "Contract referrer"});
    let cases: Vec<Replay> = vec![
        Replay(
            Method::DELETE,
            format!("/v1/directory/{UNKNOWN}"),
            "/v1/directory/{id}",
            &referrer,
            None,
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::DELETE,
            format!("/v1/panels/{UNKNOWN}/members/{UNKNOWN}"),
            "/v1/panels/{id}/members/{member_id}",
            &referrer,
            None,
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::GET,
            format!("/v1/panels/{UNKNOWN}"),
            "/v1/panels/{id}",
            &referrer,
            None,
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::POST,
            format!("/v1/notifications/{UNKNOWN}/retry"),
            "/v1/notifications/{id}/retry",
            &referrer,
            None,
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::POST,
            format!("/v1/panels/{UNKNOWN}/meetings"),
            "/v1/panels/{id}/meetings",
            &referrer,
            Some(json!({"scheduled_for": "2099-01-05T10:00:00Z"})),
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::POST,
            format!("/v1/panels/{UNKNOWN}/members"),
            "/v1/panels/{id}/members",
            &referrer,
            Some(member),
            403,
            "role_not_allowed",
        ),
        Replay(
            Method::GET,
            format!(
                "/v1/audit?case_id={UNKNOWN}&actor=&action=&from=2000-01-01T00%3A00%3A00Z&limit=1&cursor="
            ),
            "/v1/audit",
            &auditor,
            None,
            404,
            "not_found",
        ),
    ];
    for Replay(method, path, template, token, body, status, code) in cases {
        let operation = method.as_str().to_lowercase();
        let response = send(&app, method, &path, token, body).await;
        assert_problem(response, status, code).await;
        assert!(
            documented(&app, &operation, template)
                .await
                .contains(&status.to_string()),
            "{operation} {template} documents {status}"
        );
    }
}
