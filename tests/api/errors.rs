use crate::helpers::{AREA, assert_problem, spawn_app};

#[tokio::test]
async fn unknown_routes_answer_a_not_found_problem() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/v1/nope",
        "/v1/cases/not-a-uuid/whatever",
        "/v2/me",
    ] {
        let body = assert_problem(app.get(path, None).await, 404, "not_found").await;
        assert_eq!(body["instance"], path);
    }
}

#[tokio::test]
async fn wrong_methods_answer_method_not_allowed_with_the_allowed_ones() {
    let app = spawn_app().await;
    for (method, path) in [
        ("POST", "/healthz"),
        ("DELETE", "/v1/me"),
        ("PUT", "/v1/audit"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("allow").unwrap(),
            "GET",
            "{method} {path}"
        );
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn every_answer_carries_a_distinct_request_id() {
    let app = spawn_app().await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        let response = app.get("/healthz", None).await;
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn bad_query_parameters_are_problems_not_server_errors() {
    let app = spawn_app().await;
    let token = app.token("auditor-1", &["auditor"], AREA);
    let cases = [
        (
            "/v1/audit?limit=abc",
            400,
            "invalid_query",
            "limit is not a number",
        ),
        (
            "/v1/audit?surprise=1",
            400,
            "invalid_query",
            "unknown parameter",
        ),
        (
            "/v1/audit?from=yesterday",
            400,
            "invalid_query",
            "not an RFC 3339 time",
        ),
        ("/v1/audit?case_id=42", 400, "invalid_query", "not a UUID"),
        (
            "/v1/audit?limit=0",
            422,
            "validation_failed",
            "limit below 1",
        ),
        (
            "/v1/audit?limit=501",
            422,
            "validation_failed",
            "limit above 500",
        ),
        (
            "/v1/audit?cursor=garbage",
            422,
            "validation_failed",
            "a cursor not from this list",
        ),
    ];
    for path in ["/v1/audit?cursor=", "/v1/cases?cursor="] {
        let response = app.get(path, Some(&token)).await;
        assert_eq!(
            response.status().as_u16(),
            200,
            "an empty cursor is the first page: {path}"
        );
    }
    for (path, status, code, why) in cases {
        let response = app.get(path, Some(&token)).await;
        assert_eq!(response.status().as_u16(), status, "{why}: {path}");
        assert_problem(response, status, code).await;
    }
}
