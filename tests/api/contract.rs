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

/// Where and as whom one request for an operation is sent, fresh enough that its
/// example is accepted (an accepted action moves the case on, so it is made anew).
struct Context {
    url: String,
    token: String,
    if_match: Option<i64>,
    /// Values the example names that must be real here (a meeting, an onward referral, a
    /// meeting's date).
    ids: serde_json::Map<String, Value>,
}

/// The operations with a body that this test drives, and how to make a context.
/// `decide` (retention) needs a case whose review is due, which takes years of
/// simulated time: its body is checked by the retention tests instead.
const NOT_DRIVEN: &[&str] = &["decide"];

async fn context(app: &crate::helpers::TestApp, id: &str) -> Context {
    use pathway::domain::Role;
    use pathway::domain::pathway::{Action, PATHWAY};
    let plain = |url: &str, token: String| Context {
        url: app.url(url),
        token,
        if_match: None,
        ids: serde_json::Map::new(),
    };
    let panel = || async {
        let panel: Value = app
            .post_json(
                "/v1/panels",
                &app.chair(),
                &json!({"name": "Contract Panel", "members": [
                    {"name": "Chris Chair", "agency": "local_authority", "email": "chair-1@example.org", "panel_role": "chair"}]}),
            )
            .await
            .json()
            .await
            .unwrap();
        panel["id"].as_str().unwrap().to_owned()
    };
    match id {
        "file_referral" => plain("/v1/referrals", app.referrer()),
        "create_panel" => plain("/v1/panels", app.chair()),
        "add_member" => plain(
            &format!("/v1/panels/{}/members", panel().await),
            app.chair(),
        ),
        "create_meeting" => {
            // The example's date is a fixed day; a meeting is from today to two years ahead.
            let mut ctx = plain(
                &format!("/v1/panels/{}/meetings", panel().await),
                app.chair(),
            );
            let next_month = chrono::Utc::now() + chrono::Duration::days(30);
            ctx.ids.insert(
                "scheduled_for".into(),
                next_month.format("%Y-%m-%dT10:00:00Z").to_string().into(),
            );
            ctx
        }
        "add_mailbox" => plain(
            "/v1/directory",
            app.token("admin-1", &["admin"], crate::helpers::AREA),
        ),
        "subject_access" => plain(
            "/v1/subject-access",
            app.token("records-1", &["records_officer"], crate::helpers::AREA),
        ),
        "add_note" => {
            // The chair of the test panel that listed the case, as a member of it.
            let (case, _) = app.case_in("panel_listed").await;
            let mut claims = app.claims("member-1", &["panel_member"], crate::helpers::AREA);
            claims.email = "chair-1@example.org".into();
            plain(&format!("/v1/cases/{case}/notes"), app.sign(&claims))
        }
        name => {
            let action = Action::parse(name).unwrap_or_else(|| panic!("{name}: no context"));
            let row = PATHWAY.iter().find(|t| t.action == action).unwrap();
            let (case, mut version) = app.case_in(row.from.as_str()).await;
            let token = if row.roles[0] == Role::ChannelChair {
                app.chair()
            } else {
                app.officer()
            };
            if action == Action::RecordConsent {
                // Consent is sought for a recorded support plan.
                let plan = json!({"interventions": [{"type": "mental_health", "provider": "CAMHS",
                    "frequency": "weekly", "start_date": "2026-12-01"}]});
                let case = app
                    .act_ok(&token, &case, "record_support_plan", version, &plan)
                    .await;
                version = case["version"].as_i64().unwrap();
            }
            let mut ids = serde_json::Map::new();
            if action == Action::ListForPanel {
                ids.insert("meeting_id".into(), app.meeting().await.into());
            }
            if action == Action::RecordOnwardOutcome {
                let read: Value = app
                    .get(&format!("/v1/cases/{case}"), Some(&token))
                    .await
                    .json()
                    .await
                    .unwrap();
                ids.insert(
                    "onward_referral_id".into(),
                    read["onward_referrals"][0]["id"].clone(),
                );
            }
            Context {
                url: app.url(&format!("/v1/cases/{case}/actions/{name}")),
                token,
                if_match: Some(version),
                ids,
            }
        }
    }
}

/// A step into a body: a property or an array index.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn set(body: &mut Value, path: &[Step], value: Value) {
    let mut at = body;
    for step in path {
        at = match step {
            Step::Key(k) => &mut at[k.as_str()],
            Step::Index(i) => &mut at[*i],
        };
    }
    *at = value;
}

/// One boundary to send: `value` at `path`, accepted or refused.
#[derive(Debug)]
struct Probe {
    path: Vec<Step>,
    value: Value,
    accepted: bool,
    why: String,
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => document
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} resolves")),
        None => schema,
    }
}

/// An email address of exactly `len` characters, when one can be that long.
fn email_of(len: usize) -> Option<String> {
    if !(6..=254).contains(&len) {
        return None;
    }
    let local = "a".repeat((len - 6).clamp(1, 64));
    let mut left = len - local.len() - 1 - 4;
    let mut labels = Vec::new();
    while left > 0 {
        let mut take = left.min(63);
        if left - take == 1 {
            take -= 1;
        }
        labels.push("e".repeat(take));
        left -= take;
        left = left.saturating_sub(1);
    }
    let address = format!("{local}@{}.org", labels.join("."));
    (address.len() == len).then_some(address)
}

fn text_of(len: usize, format: Option<&str>) -> Option<Value> {
    match format {
        Some("email") => email_of(len).map(Value::from),
        Some(_) => None,
        None => Some("x".repeat(len).into()),
    }
}

/// `n` items: the example's first (a panel's chair), then copies of its last, each
/// email made distinct.
fn copies(example: &[Value], n: usize) -> Value {
    let last = example.last().cloned().unwrap_or(Value::Null);
    Value::Array(
        (0..n)
            .map(|i| {
                let mut item = if i == 0 {
                    example[0].clone()
                } else {
                    last.clone()
                };
                if let Some(object) = item.as_object_mut() {
                    for v in object.values_mut() {
                        if let Some(s) = v.as_str().filter(|s| s.contains('@') && i > 0) {
                            *v = format!("n{i}.{s}").into();
                        }
                    }
                }
                item
            })
            .collect(),
    )
}

/// The boundaries of every constrained property the example carries, found by walking
/// the schema beside the example.
fn probes(document: &Value, schema: &Value, example: &Value, path: &[Step], out: &mut Vec<Probe>) {
    let schema = resolve(document, schema);
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let Some(value) = example.get(name) else {
            continue;
        };
        let mut at = path.to_vec();
        at.push(Step::Key(name.clone()));
        let property = resolve(document, property);
        let number = |k: &str| property[k].as_u64().map(|n| n as usize);
        let format = property["format"].as_str();
        let mut add = |value: Value, accepted: bool, why: String| {
            out.push(Probe {
                path: at.clone(),
                value,
                accepted,
                why,
            })
        };
        if let Some(min) = number("minLength") {
            if let Some(v) = text_of(min, format) {
                add(v, true, format!("minLength {min}"));
            }
            if min > 0 {
                add(
                    "x".repeat(min - 1).into(),
                    false,
                    format!("minLength {min} - 1"),
                );
            }
            if min > 0 && format.is_none() {
                // The server trims: spaces alone are nothing, and the document must say so.
                let spaces = " ".repeat(min);
                let says = property["pattern"]
                    .as_str()
                    .and_then(|p| regex::Regex::new(p).ok())
                    .is_some_and(|re| !re.is_match(&spaces) && re.is_match(&"x".repeat(min)));
                assert!(
                    says,
                    "{}: the document lets {min} spaces through",
                    dotted(&at)
                );
                add(spaces.into(), false, format!("minLength {min} of spaces"));
            }
        }
        if let Some(max) = number("maxLength") {
            if let Some(v) = text_of(max, format) {
                add(v, true, format!("maxLength {max}"));
            }
            if let Some(v) = text_of(max + 1, format).or_else(|| text_of(max + 1, None)) {
                add(v, false, format!("maxLength {max} + 1"));
            }
        }
        if let Some(min) = property["minimum"].as_i64() {
            add(min.into(), true, format!("minimum {min}"));
            add((min - 1).into(), false, format!("minimum {min} - 1"));
        }
        if let Some(max) = property["maximum"].as_i64() {
            add(max.into(), true, format!("maximum {max}"));
            add((max + 1).into(), false, format!("maximum {max} + 1"));
        }
        if property["enum"].is_array() {
            add("not_a_listed_value".into(), false, "enum".into());
        }
        match format {
            Some("date") => add("2026-02-30".into(), false, "format date".into()),
            Some("date-time") => add("not a time".into(), false, "format date-time".into()),
            Some("uuid") => add("not-a-uuid".into(), false, "format uuid".into()),
            Some("email") => add("not an email".into(), false, "format email".into()),
            _ => {}
        }
        if let Some(items) = value.as_array().filter(|a| !a.is_empty()) {
            if let Some(min) = number("minItems") {
                add(copies(items, min), true, format!("minItems {min}"));
                if min > 0 {
                    add(copies(items, min - 1), false, format!("minItems {min} - 1"));
                }
            }
            if let Some(max) = number("maxItems") {
                add(copies(items, max), true, format!("maxItems {max}"));
                add(copies(items, max + 1), false, format!("maxItems {max} + 1"));
            }
            let mut first = at.clone();
            first.push(Step::Index(0));
            probes(document, &property["items"], &items[0], &first, out);
        } else if value.is_object() {
            probes(document, property, value, &at, out);
        }
    }
}

async fn send(
    app: &crate::helpers::TestApp,
    method: &str,
    ctx: &Context,
    body: &Value,
) -> (u16, Value) {
    let mut body = body.clone();
    // Real ids and dates where the example's stand-ins are (a probe of the value itself
    // is kept).
    for (k, v) in &ctx.ids {
        let stand_in = body[k.as_str()].as_str().is_some_and(|s| {
            uuid::Uuid::parse_str(s).is_ok() || chrono::DateTime::parse_from_rfc3339(s).is_ok()
        });
        if stand_in {
            body[k.as_str()] = v.clone();
        }
    }
    let request = match method {
        "post" => app.client.post(&ctx.url),
        other => panic!("no {other} with a body"),
    };
    let request = match ctx.if_match {
        Some(v) => request.header("if-match", format!("\"{v}\"")),
        None => request,
    };
    let response = request
        .bearer_auth(&ctx.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_request_example_is_accepted_and_every_documented_bound_holds() {
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut failures = Vec::new();
    let mut driven = 0;
    let mut probed = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|_| &op["requestBody"]["content"]["application/json"]["schema"])
            else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap();
            if NOT_DRIVEN.contains(&id) {
                continue;
            }
            driven += 1;
            let resolved = resolve(&document, schema);
            let example = resolved["example"].clone();
            assert!(
                example.is_object(),
                "{id} ({path}): its schema has an example"
            );
            let mut ctx = Some(context(&app, id).await);
            let (status, answer) = send(&app, method, ctx.as_ref().unwrap(), &example).await;
            if !(200..300).contains(&status) {
                failures.push(format!("{id}: the example is refused: {status} {answer}"));
                continue;
            }
            ctx = None;
            let mut found = Vec::new();
            probes(&document, schema, &example, &[], &mut found);
            probed += found.len();
            for probe in found {
                let mut body = example.clone();
                set(&mut body, &probe.path, probe.value.clone());
                if ctx.is_none() {
                    ctx = Some(context(&app, id).await);
                }
                let (status, answer) = send(&app, method, ctx.as_ref().unwrap(), &body).await;
                let field = dotted(&probe.path);
                let what = format!("{id}: {field} at {}", probe.why);
                if probe.accepted {
                    if !(200..300).contains(&status) {
                        failures.push(format!("{what} is refused: {status} {answer}"));
                    }
                    ctx = None;
                } else if status != 422 {
                    failures.push(format!("{what} is not refused with 422: {status} {answer}"));
                    ctx = None;
                } else {
                    let pointer = format!("/{}", field.replace(['.', '['], "/").replace(']', ""));
                    let named =
                        answer["errors"].as_array().into_iter().flatten().any(|e| {
                            e["field"] == field.as_str() || e["pointer"] == pointer.as_str()
                        });
                    if !named {
                        failures.push(format!("{what}: the 422 does not name it: {answer}"));
                    }
                }
            }
        }
    }
    assert!(driven > 20, "the actions and the other bodies are driven");
    assert!(probed > 150, "{probed} boundaries sent");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every role, one at a time.
const ROLES: &[&str] = &[
    "referrer",
    "prevent_officer",
    "channel_chair",
    "panel_member",
    "auditor",
    "admin",
    "records_officer",
];

#[tokio::test]
async fn a_refused_role_is_refused_before_its_body_is_read() {
    // A role that may not call an operation learns nothing from validation: an invalid
    // body is 403, as a valid one is. A role is refused when the example body is 403.
    let app = spawn_app().await;
    let document: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut failures = Vec::new();
    let mut refusals = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if !body.is_object() || !op["responses"]["403"].is_object() {
                continue;
            }
            let id = op["operationId"].as_str().unwrap();
            if NOT_DRIVEN.contains(&id) {
                continue;
            }
            let example = resolve(&document, body)["example"].clone();
            let mut unknown = example.clone();
            unknown["not_a_field"] = json!(true);
            let invalid = [json!(["not", "an", "object"]), unknown];
            let mut refused_here = 0;
            let mut ctx = context(&app, id).await;
            for role in ROLES {
                ctx.token = app.token(&format!("{role}-x"), &[role], crate::helpers::AREA);
                for bad in &invalid {
                    let (status, answer) = send(&app, method, &ctx, bad).await;
                    if status == 403 {
                        continue;
                    }
                    let (valid, _) = send(&app, method, &ctx, &example).await;
                    if valid == 403 {
                        failures.push(format!(
                            "{id} ({path}) as {role}: an invalid body is {status} {answer}, \
                             a valid one 403"
                        ));
                    }
                    if (200..300).contains(&valid) {
                        // The example moved things on: a fresh context for the next role.
                        let token = ctx.token.clone();
                        ctx = context(&app, id).await;
                        ctx.token = token;
                    }
                    break;
                }
                let (status, _) = send(&app, method, &ctx, &invalid[0]).await;
                if status == 403 {
                    refused_here += 1;
                }
            }
            if refused_here == 0 {
                failures.push(format!("{id} ({path}): documents 403 but refused no role"));
            }
            refusals += refused_here;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(refusals > 30, "{refusals} refusals seen");
}
