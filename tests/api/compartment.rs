//! The police compartment seen from outside it. A police-only action moves nothing any
//! other reader is shown, byte for byte, on any route; and a case transferred to Pursue
//! reads, on every route, exactly as an ordinary police-led closure does.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{AREA, OTHER_AREA, REFERRER, TestApp, referral_about, spawn_app};

/// Readers outside the police compartment: who filed it, auditors, the area's chair and
/// admin, a panel member, a chair of another area.
fn outsiders(app: &TestApp) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("the referrer who filed it", REFERRER, app.referrer()),
        (
            "an auditor of the area",
            "auditor-1",
            app.token("auditor-1", &["auditor"], AREA),
        ),
        (
            "a national auditor",
            "auditor-n",
            app.token("auditor-n", &["auditor"], "national"),
        ),
        ("the area's chair", "chair-1", app.chair()),
        (
            "a chair of another area",
            "chair-9",
            app.token("chair-9", &["channel_chair"], OTHER_AREA),
        ),
        (
            "a panel member",
            "member-1",
            app.token("member-1", &["panel_member"], AREA),
        ),
        (
            "the area's admin",
            "admin-1",
            app.token("admin-1", &["admin"], AREA),
        ),
    ]
}

/// Drops, from a body that lists audit entries (the audit log, or a subject access
/// export's access log), the entries made by the test's own readers: reading is itself
/// audited, and the point is what everyone else did.
fn without_readers(mut body: Value, readers: &[&str]) -> Value {
    let made_by_reader = |e: &Value| {
        ["actor", "actor_sub"]
            .iter()
            .any(|k| e[*k].as_str().is_some_and(|a| readers.contains(&a)))
    };
    if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
        items.retain(|e| !made_by_reader(e));
    }
    if let Some(cases) = body.get_mut("cases").and_then(Value::as_array_mut) {
        for case in cases {
            if let Some(log) = case.get_mut("access_log").and_then(Value::as_array_mut) {
                log.retain(|e| !made_by_reader(e));
            }
        }
    }
    if let Some(map) = body.as_object_mut() {
        // A problem names the request it answers.
        map.remove("request_id");
        map.remove("generated_at");
        map.remove("next_cursor");
    }
    body
}

/// Everything `token` is answered about the case `id` (reference `reference`), route by
/// route: status and body, with the entries of the test's own readers left out.
async fn everything_about(
    app: &TestApp,
    token: &str,
    id: &str,
    reference: &str,
    family_name: &str,
    readers: &[&str],
) -> BTreeMap<String, String> {
    let gets = [
        format!("/v1/cases/{id}"),
        format!("/v1/cases/{id}/history"),
        format!("/v1/cases/{id}/actions"),
        format!("/v1/cases?reference={reference}"),
        format!("/v1/cases?reference={reference}&state=screening"),
        format!("/v1/cases?reference={reference}&state=closed"),
        format!("/v1/cases?reference={reference}&state=being_assessed"),
        format!("/v1/audit?case_id={id}&limit=500"),
        "/v1/retention/due".to_owned(),
        "/v1/stats".to_owned(),
    ];
    let mut seen = BTreeMap::new();
    for path in gets {
        let response = app.get(&path, Some(token)).await;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let body = without_readers(body, readers);
        seen.insert(path, format!("{status} {etag:?} {body}"));
    }
    for request in [
        json!({"case_id": id}),
        json!({"given_name": "Compartment", "family_name": family_name, "date_of_birth": "2010-02-03"}),
    ] {
        let response = app.post_json("/v1/subject-access", token, &request).await;
        let status = response.status().as_u16();
        let body = without_readers(response.json().await.unwrap_or(Value::Null), readers);
        seen.insert(
            format!("subject access {request}"),
            format!("{status} {body}"),
        );
    }
    seen
}

#[tokio::test]
async fn a_police_only_action_leaves_every_other_readers_answers_byte_identical() {
    // Arrange: a case in screening. The officer takes the version from the answer to
    // their own action, so that no read of theirs lands in the log between the two looks.
    let app = spawn_app().await;
    let receipt = app
        .file(&referral_about("Compartment", "Subject", "2010-02-03"))
        .await;
    let id = receipt["id"].as_str().unwrap().to_owned();
    let reference = receipt["reference"].as_str().unwrap().to_owned();
    let officer = app.officer();
    let screening = app
        .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let version = screening["version"].as_i64().unwrap();
    let readers = outsiders(&app);
    let subs: Vec<&str> = readers.iter().map(|(_, sub, _)| *sub).collect();
    let mut before = Vec::new();
    for (_, _, token) in &readers {
        before.push(everything_about(&app, token, &id, &reference, "Subject", &subs).await);
    }

    // Act: the police-only action, a second later so that any moved time would show.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let deconflicted = app
        .act_ok(
            &officer,
            &id,
            "record_deconfliction",
            version,
            &json!({"result": "live_investigation", "note": "Operation Kestrel is live"}),
        )
        .await;
    assert_eq!(deconflicted["version"], version + 1, "police count it");

    // Assert: every route, every body, every reader: as before.
    for ((who, _, token), before) in readers.iter().zip(&before) {
        let after = everything_about(&app, token, &id, &reference, "Subject", &subs).await;
        for (route, answer) in before {
            assert_eq!(
                Some(answer),
                after.get(route),
                "{who}: {route} changed when police recorded deconfliction"
            );
        }
    }
}

/// Replaces, in `text`, everything that differs between two cases by nature rather than
/// by what happened to them: ids, references, names, times, hashes.
fn normalised(text: &str, names: &[&str]) -> String {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        .expect("regex");
    let time = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z").expect("regex");
    let day = regex::Regex::new(r"\d{4}-\d{2}-\d{2}").expect("regex");
    let reference = regex::Regex::new(r"PRV-\d{4}-\d+").expect("regex");
    let hash = regex::Regex::new(r"[0-9a-f]{64}").expect("regex");
    let mut text = uuid.replace_all(text, "<id>").into_owned();
    text = time.replace_all(&text, "<time>").into_owned();
    text = day.replace_all(&text, "<day>").into_owned();
    text = reference.replace_all(&text, "<reference>").into_owned();
    text = hash.replace_all(&text, "<hash>").into_owned();
    for name in names {
        text = text.replace(name, "<name>");
    }
    text
}

#[tokio::test]
async fn a_transfer_to_pursue_reads_outside_police_exactly_as_a_police_led_closure() {
    // Arrange: two people, two referrals, each screened and deconflicted by the same
    // officer; one is handed to a counter-terrorism investigation, the other closed by
    // police at screening. Police then go on working the first.
    let app = spawn_app().await;
    let officer = app.officer();
    let mut cases = Vec::new();
    for (family, action, reason) in [
        ("Pursuedperson", "transfer_to_pursue", "live_investigation"),
        ("Closedperson", "close", "other"),
    ] {
        let receipt = app
            .file(&referral_about("Compartment", family, "2010-02-03"))
            .await;
        let id = receipt["id"].as_str().unwrap().to_owned();
        let screening = app
            .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
            .await;
        let v = screening["version"].as_i64().unwrap();
        let body = json!({"result": "clear", "note": format!("Checked {family}")});
        let v = app
            .act_ok(&officer, &id, "record_deconfliction", v, &body)
            .await["version"]
            .as_i64()
            .unwrap();
        let rationale =
            json!({"reason_code": reason, "rationale": format!("Police reasons for {family}")});
        let closed = app.act_ok(&officer, &id, action, v, &rationale).await;
        cases.push((
            id,
            receipt["reference"].as_str().unwrap().to_owned(),
            family,
            closed,
        ));
    }
    let (pursued, closed) = (&cases[0], &cases[1]);
    assert_eq!(pursued.3["state"], "transferred_to_pursue", "police see it");
    assert_eq!(closed.3["state"], "closed");
    for _ in 0..3 {
        let read = app
            .get(&format!("/v1/cases/{}", pursued.0), Some(&officer))
            .await;
        assert_eq!(read.status().as_u16(), 200);
    }
    let records = app.token("records-1", &["records_officer"], AREA);
    let export = app
        .post_json(
            "/v1/subject-access",
            &records,
            &json!({"case_id": pursued.0}),
        )
        .await;
    let export: Value = export.json().await.unwrap();
    assert_eq!(
        export["cases"][0]["state"], "transferred_to_pursue",
        "{export}"
    );
    assert_eq!(export["cases"][0]["exemption_review"], true, "{export}");

    // Act and assert: every reader outside police is answered the same about both.
    let readers = outsiders(&app);
    let subs: Vec<&str> = readers.iter().map(|(_, sub, _)| *sub).collect();
    let names = ["Pursuedperson", "Closedperson"];
    for (who, _, token) in &readers {
        let a = everything_about(&app, token, &pursued.0, &pursued.1, pursued.2, &subs).await;
        let b = everything_about(&app, token, &closed.0, &closed.1, closed.2, &subs).await;
        for (route, answer) in &a {
            let route_b = route
                .replace(&pursued.0, &closed.0)
                .replace(&pursued.1, &closed.1)
                .replace("Pursuedperson", "Closedperson");
            let other = b.get(&route_b).unwrap_or_else(|| panic!("{route_b} asked"));
            // Each case's own answers may name the other (every list is shared), so
            // each is normalised the same way.
            assert_eq!(
                normalised(answer, &names),
                normalised(other, &names),
                "{who}: {route} tells a transfer to Pursue from a police-led closure"
            );
            for needle in [
                "transferred_to_pursue",
                "transfer_to_pursue",
                "live_investigation",
                "Police reasons",
                "record_deconfliction",
            ] {
                assert!(
                    !answer.contains(needle),
                    "{who}: {route} shows {needle}: {answer}"
                );
            }
        }
    }
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let case: Value = app
        .get(&format!("/v1/cases/{}", pursued.0), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["state"], "closed", "{case}");
    assert_eq!(case["outcome"], "police_closed", "{case}");
}

#[tokio::test]
async fn verifying_the_log_counts_only_what_the_caller_may_see() {
    let app = spawn_app().await;
    let receipt = app
        .file(&referral_about("Counted", "Subject", "2011-01-01"))
        .await;
    let id = receipt["id"].as_str().unwrap().to_owned();
    let officer = app.officer();
    let v = app
        .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await["version"]
        .as_i64()
        .unwrap();
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let verify = |token: String| {
        let app = &app;
        async move {
            let report: Value = app
                .get("/v1/audit/verify", Some(&token))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(report["intact"], true, "{report}");
            (
                report["entries_checked"].as_u64().unwrap(),
                report["chains_checked"].as_u64().unwrap(),
            )
        }
    };
    // The first verification opens the auditor's own stream; count from the second.
    verify(auditor.clone()).await;
    let (first, streams) = verify(auditor.clone()).await;
    // Each verification records itself: the next one counts that entry, nothing else.
    app.act_ok(
        &officer,
        &id,
        "record_deconfliction",
        v,
        &json!({"result": "clear", "note": "Nothing held"}),
    )
    .await;
    let (second, streams_after) = verify(auditor.clone()).await;
    assert_eq!(second, first + 1, "the deconfliction entry is not counted");
    assert_eq!(streams_after, streams);
    // An auditor who is also the area's officer reads the compartment, and counts it.
    let police = app.token("officer-auditor", &["auditor", "prevent_officer"], AREA);
    let (police_first, _) = verify(police.clone()).await;
    let (police_second, _) = verify(police).await;
    assert_eq!(police_second, police_first + 1);
    assert!(police_first > second, "police count deconfliction too");
}
