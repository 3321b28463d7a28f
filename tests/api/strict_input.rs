//! Bad input, generated from the served OpenAPI document: every operation with a body
//! gets bodies of the wrong shape, every query parameter a value of the wrong type, every
//! checked header a bad value, every id segment a malformed id. Each answer must be a
//! 4xx problem naming the place (`errors[]` with `in` and `pointer`), never a 2xx or a
//! 5xx, and no message may name a Rust type. A new route or parameter is covered without
//! editing this file.

use std::collections::HashMap;

use pathway::domain::pathway::{Action, PATHWAY};
use serde_json::{Value, json};

use crate::helpers::{AREA, TestApp, spawn_app};

/// One operation of the document.
struct Operation {
    method: String,
    path: String,
    spec: Value,
}

async fn document(app: &TestApp) -> Value {
    app.get("/openapi.json", None).await.json().await.unwrap()
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, spec) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push(Operation {
                    method: method.clone(),
                    path: path.clone(),
                    spec: spec.clone(),
                });
            }
        }
    }
    out
}

/// Follows a `$ref` into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(
            doc,
            &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        ),
        None => schema,
    }
}

/// The alternative of a `oneOf`/`anyOf` that is not `null`.
fn non_null<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            let chosen = alternatives
                .iter()
                .find(|a| a["type"] != "null")
                .unwrap_or(&alternatives[0]);
            return non_null(doc, chosen);
        }
    }
    schema
}

fn type_of(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(t) => t,
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "",
    }
}

/// A value of `schema`, every property filled (so that each nested object is present).
fn example_of(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = non_null(doc, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if depth > 8 {
        return Value::Null;
    }
    match type_of(schema) {
        "object" => Value::Object(
            schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, s)| (k.clone(), example_of(doc, s, depth + 1)))
                .collect(),
        ),
        "array" => json!([example_of(doc, &schema["items"], depth + 1)]),
        "integer" | "number" => schema["minimum"].clone().max_or(json!(1)),
        "boolean" => json!(false),
        "string" => match schema["format"].as_str() {
            Some("date") => json!("2026-01-15"),
            Some("date-time") => json!("2026-01-15T10:00:00Z"),
            Some("uuid") => json!("0195b7a4-7c1e-7000-8000-000000000001"),
            Some("email") => json!("someone@example.org"),
            _ => json!("x".repeat(schema["minLength"].as_u64().unwrap_or(1).max(1) as usize)),
        },
        _ => Value::Null,
    }
}

trait MaxOr {
    fn max_or(self, default: Value) -> Value;
}

impl MaxOr for Value {
    fn max_or(self, default: Value) -> Value {
        if self.is_null() { default } else { self }
    }
}

/// The JSON pointers of every object in `value` that `schema` describes as a struct
/// (an object with properties), below the top level.
fn struct_positions(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = non_null(doc, schema);
    match value {
        Value::Object(map) => {
            // A tagged enum: the alternative whose properties hold every key sent.
            let schema = ["oneOf", "anyOf"]
                .iter()
                .filter_map(|k| schema[k].as_array())
                .flatten()
                .map(|s| resolve(doc, s))
                .find(|s| map.keys().all(|k| s["properties"].get(k).is_some()))
                .unwrap_or(schema);
            if !schema["properties"].is_object() {
                return;
            }
            if !at.is_empty() {
                out.push(at.to_owned());
            }
            for (k, v) in map {
                struct_positions(doc, &schema["properties"][k], v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                struct_positions(doc, &schema["items"], v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The operation's example body: the document's, else one made from its schema.
fn example_body(doc: &Value, op: &Operation) -> (Value, Value) {
    let content = &op.spec["requestBody"]["content"]["application/json"];
    let schema = content["schema"].clone();
    let example = content
        .get("example")
        .cloned()
        .or_else(|| {
            content["examples"]
                .as_object()
                .and_then(|e| e.values().next())
                .map(|e| e["value"].clone())
        })
        .unwrap_or_else(|| example_of(doc, &schema, 0));
    (schema, example)
}

/// CamelCase names of the document's schemas, none of which an answer may mention.
fn type_names(doc: &Value) -> Vec<String> {
    doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.chars().skip(1).any(char::is_uppercase))
        .cloned()
        .collect()
}

/// Asserts no message of `problem` names a Rust type.
fn assert_plain_words(problem: &Value, names: &[String], what: &str) {
    let mut messages = vec![problem["detail"].as_str().unwrap_or_default().to_owned()];
    for e in problem["errors"].as_array().into_iter().flatten() {
        messages.push(e["message"].as_str().unwrap_or_default().to_owned());
    }
    for m in messages {
        for bad in ["struct ", "enum ", "::"] {
            assert!(!m.contains(bad), "{what}: {m:?} names a Rust item");
        }
        for name in names {
            let word = m.split(|c: char| !c.is_alphanumeric()).any(|w| w == name);
            assert!(!word, "{what}: {m:?} names the type {name}");
        }
    }
}

/// Sends and returns (status, problem body), asserting a problem+json 4xx.
async fn send(request: reqwest::RequestBuilder, what: &str) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!((400..500).contains(&status), "{what}: {status} {body}");
    assert_eq!(content_type, "application/problem+json", "{what}");
    (status, body)
}

fn has_error(problem: &Value, location: &str, field: &str, pointer: Option<&str>) -> bool {
    problem["errors"].as_array().into_iter().flatten().any(|e| {
        e["in"] == location && e["field"] == field && pointer.is_none_or(|p| e["pointer"] == p)
    })
}

/// A token that passes every role check.
fn everyone(app: &TestApp) -> String {
    let mut claims = app.claims(
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
    );
    // The chair of the test panel, so a member of the panel a listed case is on.
    claims.email = "chair-1@example.org".into();
    app.sign(&claims)
}

/// The concrete requests an operation stands for: its path with every segment filled,
/// the If-Match to send, and a label. A case action needs a case in a state it may be
/// taken from, and the case's version; a note needs a case whose panel the caller sits
/// on (who may add one is decided before the body is read); other ids are parsed after
/// the body.
async fn targets(
    app: &TestApp,
    op: &Operation,
    cases: &mut HashMap<String, (String, i64)>,
) -> Vec<(String, Option<i64>, String, Option<String>)> {
    let actions: Vec<String> = if op.path.contains("{action}") {
        Action::ALL.iter().map(|a| a.as_str().to_owned()).collect()
    } else if let Some(name) = op.path.strip_prefix("/v1/cases/{id}/actions/") {
        vec![name.to_owned()]
    } else {
        vec![]
    };
    let fresh = uuid::Uuid::new_v4().to_string();
    if actions.is_empty() {
        let id = match op.path.as_str() {
            "/v1/cases/{id}/retention" => case(app, cases, "closed").await.0,
            "/v1/cases/{id}/notes" => case(app, cases, "panel_listed").await.0,
            _ => fresh.clone(),
        };
        let path = op.path.replace("{id}", &id).replace("{member_id}", &fresh);
        return vec![(path, None, format!("{} {}", op.method, op.path), None)];
    }
    let mut out = Vec::new();
    for name in actions {
        let action = Action::parse(&name).unwrap();
        let from = PATHWAY.iter().find(|t| t.action == action).unwrap().from;
        let (id, version) = case(app, cases, from.as_str()).await;
        let path = format!("/v1/cases/{id}/actions/{name}");
        out.push((
            path,
            Some(version),
            format!("{} {name}", op.method),
            Some(name),
        ));
    }
    out
}

async fn case(
    app: &TestApp,
    cases: &mut HashMap<String, (String, i64)>,
    state: &str,
) -> (String, i64) {
    if let Some(c) = cases.get(state) {
        return c.clone();
    }
    let c = app.case_in(state).await;
    cases.insert(state.to_owned(), c.clone());
    c
}

#[tokio::test]
async fn no_body_of_the_wrong_shape_is_accepted_and_every_refusal_names_its_place() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let names = type_names(&doc);
    let token = everyone(&app);
    let mut cases = HashMap::new();
    let (mut sent, mut wrapped) = (0, 0);
    for op in operations(&doc) {
        if op.spec.get("requestBody").is_none() {
            continue;
        }
        let (schema, example) = example_body(&doc, &op);
        let mut positions = Vec::new();
        struct_positions(&doc, &schema, &example, "", &mut positions);
        for (path, version, label, action) in targets(&app, &op, &mut cases).await {
            // The generic action operation documents no fields: hand-made bodies there.
            let (example, positions) = match action.as_deref().filter(|_| positions.is_empty()) {
                Some(name) => hand_made(name),
                None => (example.clone(), positions.clone()),
            };
            let request = |body: &Value| {
                let mut r = app
                    .client
                    .request(op.method.to_uppercase().parse().unwrap(), app.url(&path))
                    .bearer_auth(&token)
                    .json(body);
                if let Some(v) = version {
                    r = r.header("if-match", format!("\"{v}\""));
                }
                r
            };
            // Not JSON: the header is named.
            let what = format!("{label} sent as text/plain");
            let plain = app
                .client
                .request(op.method.to_uppercase().parse().unwrap(), app.url(&path))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("{}");
            let (status, problem) = send(plain, &what).await;
            assert_eq!(status, 415, "{what}: {problem}");
            assert!(
                has_error(&problem, "header", "Content-Type", Some("")),
                "{what}: {problem}"
            );
            // Not objects at all: the whole body is refused.
            for body in [
                json!([]),
                json!(["a", 1]),
                json!("text"),
                json!(1),
                json!(null),
            ] {
                let what = format!("{label} with {body}");
                let (status, problem) = send(request(&body), &what).await;
                assert_eq!(status, 422, "{what}: {problem}");
                assert!(
                    has_error(&problem, "body", "", Some("")),
                    "{what}: {problem}"
                );
                assert_plain_words(&problem, &names, &what);
                sent += 1;
            }
            // The example with one nested object wrapped in an array.
            for at in &positions {
                let mut body = example.clone();
                let inner = body.pointer(at).unwrap().clone();
                *body.pointer_mut(at).unwrap() = json!([inner]);
                let what = format!("{label} with {at} wrapped in an array");
                let (status, problem) = send(request(&body), &what).await;
                assert_eq!(status, 422, "{what}: {problem}");
                let at_place = problem["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["pointer"] == at.as_str() && e["code"] == "invalid_type");
                assert!(at_place, "{what}: {problem}");
                assert_plain_words(&problem, &names, &what);
                sent += 1;
                wrapped += 1;
            }
        }
    }
    assert!(sent > 100, "only {sent} bad bodies were sent");
    assert!(wrapped >= 5, "only {wrapped} nested objects were wrapped");
}

/// Bodies with nested objects for actions the document gives no schema for, and the
/// places of those objects.
fn hand_made(action: &str) -> (Value, Vec<String>) {
    let positions = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect();
    match action {
        "record_support_plan" => (
            json!({"interventions": [{"type": "ideological_mentoring", "provider": "Approved provider",
                                      "frequency": "weekly", "start_date": "2026-01-15"}]}),
            positions(&["/interventions/0"]),
        ),
        "signpost" => (
            crate::helpers::signpost_body(),
            positions(&["/onward_referrals/0"]),
        ),
        "record_panel_decision" => (
            json!({"decision": "adopt", "reason_code": "vulnerability_identified",
                   "rationale": "Vulnerable to radicalisation.", "how_reached": "unanimous",
                   "assessment": {"framework": "vaf", "summary": "Assessed.",
                                  "factors": [{"dimension": "engagement", "factor": "f", "rating": "high"}]}}),
            positions(&["/assessment", "/assessment/factors/0"]),
        ),
        _ => (json!({}), vec![]),
    }
}

/// A value of the wrong type or format for a query parameter's schema; `None` where any
/// text is of the right type (such a parameter is sent twice instead).
fn wrong_value(doc: &Value, schema: &Value) -> Option<&'static str> {
    let schema = non_null(doc, schema);
    if schema["enum"].is_array() {
        return Some("not_a_documented_value");
    }
    match (type_of(schema), schema["format"].as_str()) {
        ("integer" | "number", _) => Some("abc"),
        ("boolean", _) => Some("maybe"),
        (_, Some("date")) => Some("2026-13-01"),
        (_, Some("date-time")) => Some("yesterday"),
        (_, Some("uuid")) => Some("42"),
        _ => None,
    }
}

#[tokio::test]
async fn every_query_parameter_header_and_id_names_itself_when_it_is_wrong() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let names = type_names(&doc);
    let token = everyone(&app);
    let any_action = Action::ALL[0].as_str();
    let (mut queries, mut headers, mut segments) = (0, 0, 0);
    for op in operations(&doc) {
        let path = op.path.replace("{action}", any_action);
        let params = op.spec["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let request = |url: &str| {
            let r = app
                .client
                .request(op.method.to_uppercase().parse().unwrap(), app.url(url))
                .bearer_auth(&token);
            if op.spec.get("requestBody").is_some() {
                r.json(&json!({}))
            } else {
                r
            }
        };
        let filled = path
            .replace("{id}", &uuid::Uuid::new_v4().to_string())
            .replace("{member_id}", &uuid::Uuid::new_v4().to_string());
        // An operation without query parameters refuses any, as the others refuse unknown ones.
        if !params.iter().any(|p| p["in"] == "query") {
            let what = format!("{} {}?unexpected=1", op.method, op.path);
            let (status, problem) = send(request(&format!("{filled}?unexpected=1")), &what).await;
            assert_eq!(status, 400, "{what}: {problem}");
            assert!(
                has_error(&problem, "query", "unexpected", Some("")),
                "{what}: {problem}"
            );
            queries += 1;
        }
        for p in &params {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "query" => {
                    let query = match wrong_value(&doc, &p["schema"]) {
                        Some(bad) => format!("{name}={bad}"),
                        None => format!("{name}=a&{name}=b"),
                    };
                    let what = format!("{} {}?{query}", op.method, op.path);
                    let (status, problem) =
                        send(request(&format!("{filled}?{query}")), &what).await;
                    assert_eq!(status, 400, "{what}: {problem}");
                    assert_eq!(problem["code"], "invalid_query", "{what}");
                    assert!(
                        has_error(&problem, "query", name, Some("")),
                        "{what}: {problem}"
                    );
                    assert_plain_words(&problem, &names, &what);
                    queries += 1;
                }
                "header" => {
                    let bad = if name.eq_ignore_ascii_case("if-match") {
                        "W/\"x\""
                    } else {
                        ""
                    };
                    let what = format!("{} {} with {name}: {bad:?}", op.method, op.path);
                    let (status, problem) = send(request(&filled).header(name, bad), &what).await;
                    assert_eq!(status, 400, "{what}: {problem}");
                    assert!(
                        has_error(&problem, "header", name, Some("")),
                        "{what}: {problem}"
                    );
                    assert_plain_words(&problem, &names, &what);
                    headers += 1;
                }
                "path" if resolve(&doc, &p["schema"])["format"] == "uuid" => {
                    let url = path.replace(&format!("{{{name}}}"), "not-a-uuid");
                    let url = url
                        .replace("{id}", &uuid::Uuid::new_v4().to_string())
                        .replace("{member_id}", &uuid::Uuid::new_v4().to_string());
                    let what = format!("{} {url}", op.method);
                    let mut r = request(&url);
                    if op.path.contains("/actions/") && op.method == "post" {
                        r = r.header("if-match", "\"1\"");
                    }
                    let (status, problem) = send(r, &what).await;
                    assert_eq!(status, 404, "{what}: {problem}");
                    assert!(
                        has_error(&problem, "path", name, Some("")),
                        "{what}: {problem}"
                    );
                    segments += 1;
                }
                _ => {}
            }
        }
    }
    // An unknown action is a 404 naming the segment, as an unknown route is.
    let url = format!("/v1/cases/{}/actions/no_such_action", uuid::Uuid::new_v4());
    let (status, problem) = send(
        app.client
            .post(app.url(&url))
            .bearer_auth(&token)
            .header("if-match", "\"1\"")
            .json(&json!({})),
        "an unknown action",
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    assert!(has_error(&problem, "path", "action", Some("")), "{problem}");
    assert!(
        queries >= 10 && headers >= 2 && segments >= 10,
        "{queries} {headers} {segments}"
    );
}
