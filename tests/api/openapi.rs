use crate::helpers::spawn_app;

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app().await;
    let served: serde_json::Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        served, committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
    // Byte for byte too: the generator's output is stable, so a diff of the file shows
    // only what changed in the code.
    assert_eq!(
        pathway::http::openapi_json(),
        std::fs::read_to_string(path).unwrap(),
        "openapi/openapi.json is not what `pathway openapi` writes"
    );
    for path in [
        "/healthz",
        "/readyz",
        "/v1/me",
        "/v1/audit",
        "/v1/audit/verify",
    ] {
        assert!(served["paths"][path].is_object(), "{path} documented");
    }
}

#[tokio::test]
async fn docs_page_is_served_without_network() {
    let app = spawn_app().await;
    let response = app.get("/docs/", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "a Swagger UI page");
    let script = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(
        script.status().as_u16(),
        200,
        "the UI's script is vendored, not fetched from a CDN"
    );
}
