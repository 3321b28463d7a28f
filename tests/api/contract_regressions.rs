//! Requests Schemathesis found answered with a status the document did not list, replayed
//! as it sent them: the answer is the same, and the served document now lists it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{AREA, TestApp, assert_problem, referral_body, spawn_app};

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

/// The served document.
async fn document(app: &TestApp) -> Value {
    app.get("/openapi.json", None)
        .await
        .json()
        .await
        .expect("document")
}

/// Schema-valid requests Schemathesis sent that break a rule between values or against the
/// server's state: each is refused 422 with the code the operation's description names.
#[tokio::test]
async fn rules_no_schema_can_state_are_refused_and_described() {
    let app = spawn_app().await;
    let officer = app.officer();
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let doc = document(&app).await;
    // Schemathesis's cursors held control characters, which every query refuses first.
    for (path, token) in [
        (
            "/v1/cases?state=screening&overdue=false&cursor=%2Ae%0D",
            &officer,
        ),
        (
            "/v1/audit?cursor=g1%02%C2%90%24%C2%B2B%F2%87%84%8Fn&action=__main__&limit=176",
            &auditor,
        ),
        (
            "/v1/retention/due?cursor=%F1%BF%80%93d%C2%85%C2%AC%F3%8C%AD%99%1A&limit=1",
            &auditor,
        ),
    ] {
        let body = assert_problem(app.get(path, Some(token)).await, 400, "invalid_query").await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{path}: {body}");
        assert_eq!(
            body["errors"][0]["code"], "control_characters",
            "{path}: {body}"
        );
    }
    // A cursor the server did not issue, though it may match the pattern: the same ones
    // without their control characters.
    for (path, template, token) in [
        (
            "/v1/cases?state=screening&overdue=false&cursor=%2Ae",
            "/v1/cases",
            &officer,
        ),
        ("/v1/cases?cursor=AAAA", "/v1/cases", &officer),
        (
            "/v1/audit?cursor=g1%24%C2%B2B%F2%87%84%8Fn&action=__main__&limit=176",
            "/v1/audit",
            &auditor,
        ),
        (
            "/v1/retention/due?cursor=%F1%BF%80%93d%C2%AC%F3%8C%AD%99&limit=1",
            "/v1/retention/due",
            &auditor,
        ),
    ] {
        let body = assert_problem(app.get(path, Some(token)).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{path}: {body}");
        assert_eq!(body["errors"][0]["in"], "query", "{path}: {body}");
        assert_eq!(
            body["errors"][0]["code"], "invalid_cursor",
            "{path}: {body}"
        );
        let operation = &doc["paths"][template]["get"];
        assert!(
            operation["description"]
                .as_str()
                .is_some_and(|d| d.contains("invalid_cursor")),
            "{template} describes its cursor rule"
        );
        let cursor = operation["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "cursor"))
            .expect("cursor parameter");
        assert_eq!(
            cursor["schema"]["pattern"], "^[A-Za-z0-9_-]*$",
            "{template}"
        );
    }
    // A cursor the server issued matches that pattern and reads the next page.
    for n in 0..2 {
        let mut body = referral_body();
        body["subject"]["given_name"] = json!(format!("Page{n}"));
        app.file(&body).await;
    }
    let first: Value = app
        .get("/v1/cases?limit=1", Some(&officer))
        .await
        .json()
        .await
        .expect("page");
    let next = first["next_cursor"].as_str().expect("a next page");
    assert!(
        next.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{next}"
    );
    let second = app
        .get(&format!("/v1/cases?limit=1&cursor={next}"), Some(&officer))
        .await;
    assert_eq!(second.status().as_u16(), 200);

    // `from` after `to` in the statistics.
    let chair = app.chair();
    let body = assert_problem(
        app.get("/v1/stats?to=0937-10-02&from=2026-11-23", Some(&chair))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "after_to", "{body}");
    assert_eq!(body["errors"][0]["in"], "query", "{body}");
    let stats = &doc["paths"]["/v1/stats"]["get"];
    assert!(stats["responses"]["422"].is_object());
    assert!(
        stats["description"]
            .as_str()
            .is_some_and(|d| d.contains("`from` must not be after `to`")),
        "{stats}"
    );

    // A panel without a chair: the schema's description states the rule.
    let admin = app.token("admin-1", &["admin"], AREA);
    let panel = json!({"members": [{"agency": "health", "email": "hana@nhs.example",
                        "name": "Hana Health", "panel_role": "member"}], "name": "0"});
    let body = assert_problem(
        app.post_json("/v1/panels", &chair, &panel).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "one_chair_required", "{body}");
    assert!(
        doc["components"]["schemas"]["PanelBody"]["properties"]["members"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("exactly one chairs it"))
    );

    // A subject access request naming both a case and a person.
    let body = assert_problem(
        app.post_json(
            "/v1/subject-access",
            &auditor,
            &json!({"case_id": UNKNOWN, "given_name": "Sam", "family_name": "Taylor",
                    "date_of_birth": "2010-03-14"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "ambiguous_subject", "{body}");
    assert!(
        doc["paths"]["/v1/subject-access"]["post"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("ambiguous_subject"))
    );

    // The same mailbox for the same role twice: the second is a duplicate.
    let mailbox = json!({"mailbox": "prevent@police.example", "role": "prevent_team"});
    let first = app.post_json("/v1/directory", &admin, &mailbox).await;
    assert_eq!(first.status().as_u16(), 201);
    let body = assert_problem(
        app.post_json("/v1/directory", &admin, &mailbox).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["code"], "duplicate", "{body}");
}

/// `correct_details` with a `reason` holding control characters, as the stateful phase
/// sent it: refused 422, and the document's pattern for `reason` now excludes them.
#[tokio::test]
async fn a_correction_reason_with_control_characters_is_refused_as_documented() {
    let app = spawn_app().await;
    let officer = app.officer();
    let receipt = app.file(&referral_body()).await;
    let id = receipt["id"].as_str().expect("id");
    let response = app
        .act(
            &officer,
            id,
            "correct_details",
            1,
            &json!({"reason": "[\u{1d9d7}T5\u{d0}\u{82}(\u{4}\u{d2}\u{db}\u{e4}4&\u{84}\u{ef}S.Z",
                    "subject": {"family_name": "Tailor"}}),
        )
        .await;
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "reason", "{body}");
    assert_eq!(body["errors"][0]["code"], "control_characters", "{body}");
    let doc = document(&app).await;
    let reason = &doc["components"]["schemas"]["CorrectDetailsRequest"]["properties"]["reason"];
    let pattern = reason["pattern"].as_str().expect("a pattern for reason");
    for excluded in ["\\u0000-\\u0008", "\\u000E-\\u001F", "\\u007F-\\u009F"] {
        assert!(pattern.contains(excluded), "{pattern} excludes {excluded}");
    }
    // The same rule on every required text of an action's body.
    let rationale = &doc["components"]["schemas"]["ReferToChannelRequest"]["properties"]["rationale"]
        ["pattern"];
    assert_eq!(rationale.as_str(), Some(pattern));
    let screening = app
        .act_ok(&officer, id, "begin_screening", 1, &json!({}))
        .await;
    let version = screening["version"].as_i64().expect("version");
    let refused = app
        .act(
            &officer,
            id,
            "refer_to_channel",
            version,
            &json!({"reason_code": "vulnerable_to_radicalisation",
                    "rationale": "Susceptible\u{7} to extremist influence."}),
        )
        .await;
    let body = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "control_characters", "{body}");
    // Tabs and line breaks stay allowed.
    let ok = app
        .act(
            &officer,
            id,
            "correct_details",
            version,
            &json!({"reason": "Misspelt on the form,\n\tas the school confirmed.",
                    "subject": {"family_name": "Tailor"}}),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 200);
}

/// The stateful phase's walk: a receipt's link sends `If-Match: "1"`, right for a filed
/// case, and each action's 200 answer carries the ETag its links send onward.
#[tokio::test]
async fn the_links_of_a_filed_case_complete_actions() {
    let app = spawn_app().await;
    let officer = app.officer();
    let receipt = app.file(&referral_body()).await;
    let id = receipt["id"].as_str().expect("id");
    let read = app.get(&format!("/v1/cases/{id}"), Some(&officer)).await;
    assert_eq!(read.headers()["etag"], "\"1\"");
    let doc = document(&app).await;
    let link =
        &doc["paths"]["/v1/referrals"]["post"]["responses"]["201"]["links"]["begin_screening"];
    assert_eq!(link["parameters"]["header.If-Match"], "\"1\"");
    let screened = app
        .client
        .post(app.url(&format!("/v1/cases/{id}/actions/begin_screening")))
        .bearer_auth(&officer)
        .header("if-match", "\"1\"")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(screened.status().as_u16(), 200);
    let etag = screened.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    let case: Value = screened.json().await.expect("case");
    assert_eq!(etag, format!("\"{}\"", case["version"]));
    let onward = &doc["paths"]["/v1/cases/{id}/actions/begin_screening"]["post"]["responses"]["200"]
        ["links"]["record_deconfliction"];
    assert_eq!(
        onward["parameters"]["header.If-Match"],
        "$response.header.ETag"
    );
    let deconflicted = app
        .client
        .post(app.url(&format!("/v1/cases/{id}/actions/record_deconfliction")))
        .bearer_auth(&officer)
        .header("if-match", &etag)
        .json(&json!({"result": "clear"}))
        .send()
        .await
        .expect("request");
    assert_eq!(deconflicted.status().as_u16(), 200);
}

#[tokio::test]
async fn blank_dates_and_emails_are_refused_not_read_as_absent() {
    // Schemathesis sent `"date_of_birth": ""` beside an approximate age, and a blank email:
    // both were filed, though the document says `format: date` and `format: email`.
    let app = spawn_app().await;
    let teacher = app.token("teacher-1", &["referrer"], AREA);
    for (section, field, code) in [
        ("subject", "date_of_birth", "invalid_date"),
        ("subject", "email", "invalid_email"),
        ("concern", "first_noticed", "invalid_date"),
        ("", "area", "invalid_area"),
    ] {
        let mut body = referral_body();
        body["subject"]["approximate_age"] = json!(15);
        if section.is_empty() {
            body[field] = json!("");
        } else {
            body[section][field] = json!("");
        }
        let answer = send(&app, Method::POST, "/v1/referrals", &teacher, Some(body)).await;
        let problem = assert_problem(answer, 422, "validation_failed").await;
        let at = if section.is_empty() {
            field.to_owned()
        } else {
            format!("{section}.{field}")
        };
        assert!(
            problem["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .any(|e| e["field"] == at.as_str() && e["code"] == code),
            "{at}: {problem}"
        );
    }
    let officer = app.token("officer-1", &["prevent_officer"], AREA);
    let cases: Value = send(&app, Method::GET, "/v1/cases", &officer, None)
        .await
        .json()
        .await
        .expect("cases");
    assert_eq!(cases["items"], json!([]), "nothing was filed");
}

/// Schemathesis's pathway walk sent a deconfliction `note` holding a control character,
/// which the document allowed and the service refused (422 `control_characters`). Every
/// free-text field of every request body now says in its schema what the service takes.
#[tokio::test]
async fn every_free_text_field_of_a_request_body_declares_it_holds_no_control_characters() {
    let app = spawn_app().await;
    let document: Value = app
        .get("/openapi.json", None)
        .await
        .json()
        .await
        .expect("document");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let is_text = |p: &Value| {
        let types: Vec<&str> = match &p["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        types.contains(&"string") && p.get("enum").is_none() && p.get("format").is_none()
    };
    let mut unstated = Vec::new();
    for (name, schema) in schemas.iter().filter(|(n, _)| n.ends_with("Request")) {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if is_text(property)
                && property.get("maxLength").is_some()
                && property.get("pattern").is_none()
            {
                unstated.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        unstated.is_empty(),
        "free text without a pattern: {unstated:?}"
    );
    // And the walk's own request is refused as the document now says.
    let (id, version) = app.case_in("screening").await;
    let response = app
        .act(
            &app.officer(),
            &id,
            "record_deconfliction",
            version,
            &json!({"result": "live_investigation", "note": ">l\u{e}\u{1}"}),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["code"], "control_characters",
        "{problem}"
    );
}
