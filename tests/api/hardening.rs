//! Hardening: look-alike names of other scripts, control characters in query parameters
//! and token claims, the security headers, `/metrics` access and meeting dates.

use pathway::identity::LocalClaims;
use serde_json::{Value, json};

use crate::console::Browser;
use chrono::Datelike as _;

use crate::helpers::{
    AREA, TestApp, assert_problem, referral_about, referral_body, spawn_app, spawn_app_with,
};

/// The ids of the cases `case` is linked to as a repeat referral.
fn linked(case: &Value) -> Vec<String> {
    case["linked_cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|link| link["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_name_written_in_greek_look_alike_capitals_is_linked_to_the_latin_spelling() {
    let app = spawn_app().await;
    let officer = app.officer();
    let first = app
        .file(&referral_about("Ben", "Mehta", "2009-06-01"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let variants = [
        // Β Ε Ν and Μ Ε Η Τ Α: Greek capitals alone, as typed on a Greek keyboard.
        (
            "\u{0392}\u{0395}\u{039D}",
            "\u{039C}\u{0395}\u{0397}\u{03A4}\u{0391}",
            "Greek capitals alone",
        ),
        // Β and Μ, Η among Latin letters.
        (
            "\u{0392}en",
            "\u{039C}e\u{0397}ta",
            "Greek capitals among Latin",
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
        assert!(linked(&case).contains(&first), "{why}: {case}");
        assert_eq!(
            case["referral"]["subject"]["family_name"],
            json!(family),
            "{why}: stored as typed"
        );
    }
    let someone_else = app
        .file(&referral_about("Ken", "Mehta", "2009-06-01"))
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

/// Every role of the pathway in one token of [`AREA`], so that each route gets as far as
/// reading its parameters.
fn every_role(app: &TestApp) -> String {
    app.token(
        "everyone-1",
        &[
            "referrer",
            "prevent_officer",
            "channel_chair",
            "panel_member",
            "auditor",
            "admin",
            "records_officer",
        ],
        AREA,
    )
}

/// The text query parameters of every operation of the served document: method, path
/// and name.
async fn string_query_parameters(app: &TestApp) -> Vec<(String, String, String)> {
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let mut schema = p["schema"].clone();
                if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                    schema = document["components"]["schemas"][name].clone();
                }
                if p["in"] == "query" && schema["type"] == "string" {
                    let name = p["name"].as_str().unwrap().to_owned();
                    out.push((method.to_ascii_uppercase(), path.clone(), name));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn a_control_character_in_any_text_query_parameter_of_any_route_is_a_400_problem() {
    let app = spawn_app().await;
    // Something to find, so that each query reaches the database.
    app.file(&referral_body()).await;
    let token = every_role(&app);
    let parameters = string_query_parameters(&app).await;
    for (path, name) in [("/v1/cases", "reference"), ("/v1/audit", "actor")] {
        assert!(
            parameters.iter().any(|(_, p, n)| p == path && n == name),
            "{path}?{name} is among the parameters generated"
        );
    }
    assert!(parameters.len() >= 12, "{parameters:?}");
    for (method, path, name) in &parameters {
        assert_eq!(method, "GET", "{path}: query parameters are read by GETs");
        for value in ["PRV%00", "x%00y", "%00", "a%1B%5B31mb", "a%0Ab", "a%C2%85b"] {
            let url = format!("{path}?{name}={value}");
            let response = app.get(&url, Some(&token)).await;
            let problem = assert_problem(response, 400, "invalid_query").await;
            assert_eq!(
                problem["errors"],
                json!([{
                    "field": name,
                    "pointer": "",
                    "in": "query",
                    "code": "control_characters",
                    "message": format!("{name} must hold no control characters"),
                }]),
                "{url}"
            );
        }
    }
    // Beside a good parameter, and in a route that takes none.
    let response = app
        .get("/v1/audit?action=read_case&actor=x%00y", Some(&token))
        .await;
    let problem = assert_problem(response, 400, "invalid_query").await;
    assert_eq!(problem["errors"][0]["field"], "actor", "{problem}");
    let response = app.get("/v1/me?verbose=x%00y", Some(&token)).await;
    assert_problem(response, 400, "invalid_query").await;
}

#[tokio::test]
async fn a_control_character_in_a_console_query_is_a_400_page() {
    let app = spawn_app().await;
    app.file(&referral_body()).await;
    let browser = Browser::sign_in(&app, "auditor-1", &["auditor", "records_officer"], AREA).await;
    let pages = [
        (
            "/console/audit",
            &["actor", "action", "cursor", "case_id", "limit"][..],
        ),
        ("/console/statistics", &["from", "to"]),
        ("/console/statistics.csv", &["from", "to"]),
        ("/console/retention", &["cursor"]),
    ];
    for (page, names) in pages {
        for name in names {
            let url = format!("{page}?{name}=x%00y");
            let response = browser.get(&url).await;
            assert_eq!(response.status().as_u16(), 400, "{url}");
            assert_eq!(
                response.headers()["content-type"],
                "text/html; charset=utf-8",
                "{url}"
            );
            let html = response.text().await.unwrap();
            assert!(
                html.contains("There is a problem with your request"),
                "{url}: {html}"
            );
        }
    }
}

#[tokio::test]
async fn a_control_character_in_a_string_claim_is_a_401_problem() {
    let app = spawn_app().await;
    type Spoil = fn(&mut LocalClaims, &str);
    let claims: [(&str, Spoil); 5] = [
        ("sub", |c, bad| c.sub = format!("officer{bad}1")),
        ("name", |c, bad| c.name = format!("Oli{bad}Officer")),
        ("org", |c, bad| c.org = Some(format!("West{bad}Yorkshire"))),
        ("area", |c, bad| c.area = format!("E0800{bad}0035")),
        ("roles", |c, bad| c.roles.push(format!("auditor{bad}"))),
    ];
    for bad in ["\0", "\u{1b}", "\n", "\u{85}"] {
        for (claim, spoil) in claims {
            let mut c = app.claims("officer-1", &["prevent_officer"], AREA);
            spoil(&mut c, bad);
            let token = app.sign(&c);
            for path in ["/v1/me", "/v1/cases", "/v1/audit"] {
                let response = app.get(path, Some(&token)).await;
                let what = format!("{claim} holding {bad:?}, at {path}");
                assert_eq!(response.status().as_u16(), 401, "{what}");
                let problem = assert_problem(response, 401, "token_claim_invalid").await;
                assert!(
                    problem["detail"].as_str().unwrap().contains(claim),
                    "{what}: {problem}"
                );
            }
        }
    }
    let mut c = app.claims("officer-1", &["prevent_officer"], AREA);
    c.email = "oli\0@police.example".into();
    let response = app.get("/v1/me", Some(&app.sign(&c))).await;
    assert_problem(response, 401, "token_email_invalid").await;
}

/// The value of header `name`, or `None`.
fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn every_api_answer_and_console_page_is_marked_not_to_be_stored() {
    let app = spawn_app().await;
    let officer = app.officer();
    let filed = app
        .client
        .post(app.url("/v1/referrals"))
        .bearer_auth(app.referrer())
        .json(&referral_body())
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status().as_u16(), 201);
    assert_eq!(header(&filed, "cache-control").as_deref(), Some("no-store"));
    let id = filed.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unknown = "0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f";
    let answers = [
        (format!("/v1/cases/{id}"), Some(officer.clone()), 200),
        (
            format!("/v1/cases/{id}/history"),
            Some(officer.clone()),
            200,
        ),
        ("/v1/cases".to_owned(), Some(officer.clone()), 200),
        ("/v1/me".to_owned(), Some(officer.clone()), 200),
        (format!("/v1/cases/{unknown}"), Some(officer.clone()), 404),
        ("/v1/cases?stat=x".to_owned(), Some(officer.clone()), 400),
        ("/v1/cases".to_owned(), None, 401),
        ("/v1/audit".to_owned(), Some(officer.clone()), 403),
        ("/v1/no-such-thing".to_owned(), None, 404),
    ];
    for (path, token, status) in answers {
        let response = app.get(&path, token.as_deref()).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
    let browser = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    for page in ["/console/", "/console/audit", "/console/no-such-page"] {
        let response = browser.get(page).await;
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{page}"
        );
    }
    // What holds no personal data may be kept.
    for path in ["/healthz", "/openapi.json", "/docs/swagger-ui.css"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(header(&response, "cache-control"), None, "{path}");
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https_and_only_then() {
    let local = spawn_app().await;
    for path in ["/healthz", "/v1/me", "/docs/"] {
        let response = local.get(path, None).await;
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{path} over local http"
        );
    }
    let public =
        spawn_app_with(|s| s.server.public_url = Some("https://pathway.example".into())).await;
    let token = public.officer();
    for (path, token) in [
        ("/healthz", None),
        ("/v1/me", Some(token.as_str())),
        ("/v1/me", None),
        ("/docs/", None),
        ("/console/sign-in", None),
        ("/no-such-thing", None),
    ] {
        let response = public.get(path, token).await;
        assert_eq!(
            header(&response, "strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_docs_page_has_a_content_security_policy_and_cannot_be_framed() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let app = spawn_app().await;
    for path in [
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
        "/docs/swagger-ui.css",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let csp = header(&response, "content-security-policy").unwrap_or_default();
        assert_eq!(csp, pathway::http::headers::DOCS_CSP, "{path}");
        assert_eq!(
            header(&response, "x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
    }
    let csp = pathway::http::headers::DOCS_CSP;
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive}");
    }
    assert!(!csp.contains("unsafe"), "no unsafe-inline or unsafe-eval");

    // The page's own scripts are files, none inline, and it asks no validator elsewhere.
    let html = app.get("/docs/", None).await.text().await.unwrap();
    let scripts = regex::Regex::new(r"<script([^>]*)>").unwrap();
    assert!(scripts.captures_iter(&html).count() >= 3, "{html}");
    for tag in scripts.captures_iter(&html) {
        assert!(
            tag[1].contains("src=\"./"),
            "a script of its own: {}",
            &tag[0]
        );
    }
    let initializer = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
    // The one inline style the policy allows is the one the top bar inserts (its logo's),
    // by its hash: a new Swagger UI with another style fails here, not silently.
    let preset = app
        .get("/docs/swagger-ui-standalone-preset.js", None)
        .await
        .text()
        .await
        .unwrap();
    let logo = ".logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}";
    assert!(preset.contains(logo), "the top bar's logo style");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(logo));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
}

#[tokio::test]
async fn metrics_are_open_locally_and_need_the_token_once_one_is_set() {
    let open = spawn_app().await;
    assert_eq!(open.get("/metrics", None).await.status().as_u16(), 200);

    let token = "a-metrics-token-of-at-least-32-characters";
    let guarded =
        spawn_app_with(|s| s.metrics.token = Some(secrecy::SecretString::from(token))).await;
    let scrape = |authorization: Option<String>| {
        let mut request = guarded.client.get(guarded.url("/metrics"));
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        request.send()
    };
    let response = scrape(None).await.unwrap();
    assert!(
        header(&response, "www-authenticate").is_some_and(|h| h.starts_with("Bearer")),
        "a challenge"
    );
    let problem = assert_problem(response, 401, "token_missing").await;
    assert_eq!(problem["instance"], "/metrics", "{problem}");
    for wrong in [
        format!("Bearer {token}x"),
        format!("Basic {token}"),
        format!("Bearer {}", guarded.officer()),
    ] {
        let response = scrape(Some(wrong.clone())).await.unwrap();
        let body = assert_problem(response, 401, "metrics_token_invalid").await;
        assert!(!body.to_string().contains(token), "{wrong}: {body}");
    }
    let response = scrape(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("pathway_db_pool_connections"), "{text}");
    // The rest of the service is as before.
    assert_eq!(guarded.get("/healthz", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn a_meeting_is_scheduled_at_most_two_years_ahead() {
    let app = spawn_app().await;
    let chair = app.chair();
    let panel: Value = app
        .post_json(
            "/v1/panels",
            &chair,
            &json!({"name": "Leeds Channel Panel", "members": [
                {"name": "Chris Chair", "agency": "local_authority",
                 "email": "chair-1@example.org", "panel_role": "chair"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let meetings = format!("/v1/panels/{}/meetings", panel["id"].as_str().unwrap());
    let today = chrono::Utc::now().date_naive();
    let in_two_years = today.checked_add_months(chrono::Months::new(24)).unwrap();
    let at_ten = |day: chrono::NaiveDate| format!("{day}T10:00:00Z");
    for day in [in_two_years, today + chrono::Duration::days(700)] {
        let response = app
            .post_json(&meetings, &chair, &json!({"scheduled_for": at_ten(day)}))
            .await;
        assert_eq!(response.status().as_u16(), 201, "{day}");
    }
    for when in [
        at_ten(in_two_years + chrono::Duration::days(1)),
        at_ten(today.with_year(today.year() + 36).unwrap_or(in_two_years)),
        "9999-12-31T10:00:00Z".to_owned(),
    ] {
        let response = app
            .post_json(&meetings, &chair, &json!({"scheduled_for": when}))
            .await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"],
            json!([{
                "field": "scheduled_for",
                "pointer": "/scheduled_for",
                "in": "body",
                "code": "date_too_far_ahead",
                "message": "a meeting is scheduled at most two years ahead",
            }]),
            "{when}"
        );
    }
}
