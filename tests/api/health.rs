use crate::helpers::{AREA, spawn_app};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_answers_ready_once_migrated() {
    let app = spawn_app().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn readyz_is_unavailable_while_migrations_are_pending() {
    let app = spawn_app().await;
    let mut conn = app.db.connect();
    let reverted = pathway::store::revert_all_migrations(&mut conn).expect("revert");
    assert!(reverted > 0);
    let body =
        crate::helpers::assert_problem(app.get("/readyz", None).await, 503, "service_unavailable")
            .await;
    assert!(
        body["detail"].as_str().unwrap().contains("migrations"),
        "{body}"
    );
    pathway::store::run_migrations(&mut conn).expect("migrate again");
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_report_the_pool() {
    let app = spawn_app().await;
    let token = app.token("auditor-1", &["auditor"], AREA);
    app.get("/healthz", None).await;
    app.get("/healthz", None).await;
    app.get("/v1/audit", Some(&token)).await;
    app.get("/v1/no-such-thing", None).await;
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    let has = |needle: &str| text.lines().any(|l| l.starts_with(needle));
    assert!(
        has(r#"pathway_http_requests_total{endpoint="/healthz",method="GET",status="200"} 2"#),
        "{text}"
    );
    assert!(has(
        r#"pathway_http_requests_total{endpoint="/v1/audit",method="GET",status="200"} 1"#
    ));
    // Unknown paths share one label, so a scanner cannot blow up the series count.
    assert!(has(
        r#"pathway_http_requests_total{endpoint="unmatched",method="GET",status="404"} 1"#
    ));
    assert!(has("pathway_http_requests_duration_seconds_bucket{"));
    // The configured 4 on PostgreSQL; SQLite always pools one connection.
    let max = match crate::helpers::backend() {
        crate::helpers::TestBackend::Postgres => 4,
        crate::helpers::TestBackend::Sqlite => 1,
    };
    let line = format!(r#"pathway_db_pool_connections{{state="max"}} {max}"#);
    assert!(has(&line), "{text}");
    assert!(has(r#"pathway_db_pool_connections{state="in_use"}"#));

    // The database work counters grow with a request that writes (an audited read: its
    // statements inside one committed transaction). They count for the whole process, and
    // other servers of this test binary share it, so only growth is asserted.
    let counter = |text: &str, series: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    };
    let sent = r#"pathway_db_statements_total{kind="sent"}"#;
    let committed = r#"pathway_db_transactions_total{outcome="committed"}"#;
    let before = app.get("/metrics", None).await.text().await.unwrap();
    app.get("/v1/audit", Some(&token)).await;
    let after = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        counter(&after, sent) >= counter(&before, sent) + 3,
        "{after}"
    );
    assert!(
        counter(&after, committed) > counter(&before, committed),
        "{before}\n----\n{after}"
    );
    assert!(
        has(r#"pathway_db_statements_total{kind="prepared"}"#),
        "{text}"
    );
}
