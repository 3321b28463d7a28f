//! Need-to-know over HTTP: who sees which case, how much of it, in the list and in the
//! history, and that every read is audited.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{
    AREA, OFFICER, OTHER_AREA, REFERRER, TestApp, assert_problem, referral_about, signpost_body,
    spawn_app, spawn_app_with, threshold,
};

/// Every state the screening half of the pathway reaches.
const STATES: [&str; 7] = [
    "submitted",
    "screening",
    "closed",
    "onward_referral",
    "awaiting_panel",
    "police_managed",
    "transferred_to_pursue",
];

/// The only keys a referrer ever sees of a case.
const REFERRER_KEYS: [&str; 5] = ["id", "reference", "status", "submitted_at", "updated_at"];

const DECONFLICTION_NOTE: &str = "Deconflicted against operation records.";

/// A case built for a test.
struct Built {
    id: String,
    reference: String,
    version: i64,
}

fn live_investigation() -> Value {
    json!({"result": "live_investigation", "note": DECONFLICTION_NOTE})
}

/// A referral about a fresh person in `area`.
fn referral_in(area: &str) -> Value {
    let family = format!("Subject{}", uuid::Uuid::new_v4().simple());
    let mut body = referral_about("Case", &family, "2009-05-01");
    body["area"] = area.into();
    body
}

/// Files a referral as `referrer_sub` and answers its receipt.
async fn file_as(app: &TestApp, referrer_sub: &str, area: &str) -> Value {
    let token = app.token(referrer_sub, &["referrer"], AREA);
    let response = app
        .post_json("/v1/referrals", &token, &referral_in(area))
        .await;
    assert_eq!(response.status().as_u16(), 201, "filing a referral");
    response.json().await.expect("receipt")
}

/// Files a referral as [`REFERRER`] about someone in `area` and drives it to `state` as
/// that area's officer, recording deconfliction while it is in screening.
async fn case_through(app: &TestApp, area: &str, state: &str) -> Built {
    let receipt = file_as(app, REFERRER, area).await;
    drive(app, area, &receipt, state).await
}

/// Drives the case of `receipt` from submitted to `state`.
async fn drive(app: &TestApp, area: &str, receipt: &Value, state: &str) -> Built {
    let id = receipt["id"].as_str().expect("id").to_owned();
    let reference = receipt["reference"].as_str().expect("reference").to_owned();
    if state == "submitted" {
        return Built {
            id,
            reference,
            version: 1,
        };
    }
    let officer = app.token(OFFICER, &["prevent_officer"], area);
    let case = app
        .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let version = case["version"].as_i64().expect("version");
    let case = app
        .act_ok(
            &officer,
            &id,
            "record_deconfliction",
            version,
            &live_investigation(),
        )
        .await;
    assert_eq!(
        case["deconfliction"]["result"], "live_investigation",
        "{case}"
    );
    let version = case["version"].as_i64().expect("version");
    let (action, body) = match state {
        "screening" => {
            return Built {
                id,
                reference,
                version,
            };
        }
        "closed" => ("close_no_further_action", threshold("no_prevent_concern")),
        "onward_referral" => ("signpost", signpost_body()),
        "awaiting_panel" => (
            "refer_to_channel",
            threshold("vulnerable_to_radicalisation"),
        ),
        "police_managed" => (
            "manage_by_police",
            threshold("risk_requires_police_management"),
        ),
        "transferred_to_pursue" => ("transfer_to_pursue", threshold("terrorism_risk")),
        other => panic!("{other} is not reachable in the screening half"),
    };
    let case = app.act_ok(&officer, &id, action, version, &body).await;
    assert_eq!(case["state"], state, "{case}");
    Built {
        id,
        reference,
        version: case["version"].as_i64().expect("version"),
    }
}

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.expect("json body");
    (status, body)
}

async fn read(app: &TestApp, id: &str, token: &str) -> (u16, Value) {
    status_and_body(app.get(&format!("/v1/cases/{id}"), Some(token)).await).await
}

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn key_set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|k| (*k).to_owned()).collect()
}

/// The actions of a case's history, in order.
async fn history_actions(app: &TestApp, id: &str, token: &str) -> Vec<String> {
    let response = app
        .get(&format!("/v1/cases/{id}/history"), Some(token))
        .await;
    let (status, body) = status_and_body(response).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("history entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

/// The ids of one list page, which must be the last.
async fn listed(app: &TestApp, path: &str, token: &str) -> BTreeSet<String> {
    let (status, page) = status_and_body(app.get(path, Some(token)).await).await;
    assert_eq!(status, 200, "{path}: {page}");
    assert_eq!(page["next_cursor"], Value::Null, "{path}: one page");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_owned())
        .collect()
}

fn ids_of(cases: &[&Built]) -> BTreeSet<String> {
    cases.iter().map(|c| c.id.clone()).collect()
}

/// What a role sees of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sees {
    /// 404, as if the case did not exist.
    Nothing,
    /// The referrer's coarse status.
    Status,
    /// The full case without police-only material.
    Full,
    /// The full case with the deconfliction result.
    Police,
}

impl Sees {
    /// The fields of interest present in a 200 answer.
    fn fields(self) -> BTreeSet<String> {
        key_set(match self {
            Sees::Nothing => &[],
            Sees::Status => &["status"],
            Sees::Full => &["referral", "version", "state"],
            Sees::Police => &["referral", "deconfliction", "version", "state"],
        })
    }
}

const MATRIX_FIELDS: [&str; 5] = ["referral", "deconfliction", "version", "status", "state"];

#[tokio::test]
async fn each_role_sees_each_state_only_as_need_to_know_allows() {
    // Arrange: one case in every state, each deconflicted if it passed through screening.
    let app = spawn_app().await;
    let mut cases = Vec::new();
    for state in STATES {
        cases.push((state, case_through(&app, AREA, state).await));
    }
    let national = "national";
    use Sees::{Full as F, Nothing as N, Police as P, Status as S};
    // Columns follow STATES: submitted, screening, closed, onward_referral,
    // awaiting_panel, police_managed, transferred_to_pursue.
    let matrix: [(&str, String, [Sees; 7]); 11] = [
        ("the referrer who filed it", app.referrer(), [S; 7]),
        (
            "another referrer",
            app.token("teacher-2", &["referrer"], AREA),
            [N; 7],
        ),
        (
            "an officer of the area",
            app.officer(),
            [F, P, P, P, P, P, P],
        ),
        (
            "an officer of another area",
            app.token("officer-2", &["prevent_officer"], OTHER_AREA),
            [N; 7],
        ),
        ("the area's chair", app.chair(), [N, N, N, N, F, N, N]),
        (
            "a chair of another area",
            app.token("chair-2", &["channel_chair"], OTHER_AREA),
            [N; 7],
        ),
        // A transfer to Pursue reads, outside police, as a police-led closure.
        (
            "an auditor of the area",
            app.token("auditor-1", &["auditor"], AREA),
            [F; 7],
        ),
        (
            "a national auditor",
            app.token("auditor-national", &["auditor"], national),
            [F; 7],
        ),
        (
            "an auditor of another area",
            app.token("auditor-2", &["auditor"], OTHER_AREA),
            [N; 7],
        ),
        (
            "a panel member of the area",
            app.token("member-1", &["panel_member"], AREA),
            [N; 7],
        ),
        (
            "an admin of the area",
            app.token("admin-1", &["admin"], AREA),
            [N; 7],
        ),
    ];

    // Act and assert: every cell, reporting every mismatch at once.
    let mut mismatches = Vec::new();
    for (who, token, row) in &matrix {
        for ((state, case), expected) in cases.iter().zip(row) {
            let (status, body) = read(&app, &case.id, token).await;
            let cell = format!("{who} reading a case in {state}");
            if *expected == Sees::Nothing {
                if status != 404 || body["code"] != "not_found" {
                    mismatches.push(format!(
                        "{cell}: expected 404 not_found, got {status} {body}"
                    ));
                }
                continue;
            }
            if status != 200 {
                mismatches.push(format!("{cell}: expected 200, got {status} {body}"));
                continue;
            }
            let present: BTreeSet<String> = MATRIX_FIELDS
                .iter()
                .filter(|f| body.get(**f).is_some())
                .map(|f| (*f).to_owned())
                .collect();
            if present != expected.fields() {
                mismatches.push(format!(
                    "{cell}: expected fields {:?}, got {present:?}",
                    expected.fields()
                ));
            }
            if body["id"] != case.id.as_str() {
                mismatches.push(format!("{cell}: another case answered: {body}"));
            }
            let shown = match (expected, *state) {
                (Sees::Full, "transferred_to_pursue") => "closed",
                (_, state) => state,
            };
            if matches!(expected, Sees::Full | Sees::Police) && body["state"] != shown {
                mismatches.push(format!("{cell}: state {}", body["state"]));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn the_console_case_page_shows_each_state_only_as_need_to_know_allows() {
    // Arrange: one case in every state, each deconflicted if it passed through screening.
    let app = spawn_app().await;
    let mut cases = Vec::new();
    for state in STATES {
        cases.push((state, case_through(&app, AREA, state).await));
    }
    // 200: the page; 404: as if the case did not exist; 403: a role with no case page.
    // Columns follow STATES: submitted, screening, closed, onward_referral,
    // awaiting_panel, police_managed, transferred_to_pursue.
    type Row<'a> = (&'a str, &'a str, &'a [&'a str], &'a str, [u16; 7]);
    let matrix: [Row; 9] = [
        (
            "the referrer who filed it",
            REFERRER,
            &["referrer"],
            AREA,
            [403; 7],
        ),
        (
            "an officer of the area",
            OFFICER,
            &["prevent_officer"],
            AREA,
            [403; 7],
        ),
        (
            "the area's chair",
            "chair-1",
            &["channel_chair"],
            AREA,
            [404, 404, 404, 404, 200, 404, 404],
        ),
        (
            "a chair of another area",
            "chair-2",
            &["channel_chair"],
            OTHER_AREA,
            [404; 7],
        ),
        (
            "an auditor of the area",
            "auditor-1",
            &["auditor"],
            AREA,
            [200; 7],
        ),
        (
            "a national auditor",
            "auditor-national",
            &["auditor"],
            "national",
            [200; 7],
        ),
        (
            "an auditor of another area",
            "auditor-2",
            &["auditor"],
            OTHER_AREA,
            [404; 7],
        ),
        (
            "a panel member of the area",
            "member-1",
            &["panel_member"],
            AREA,
            [404; 7],
        ),
        (
            "an admin of the area",
            "admin-1",
            &["admin"],
            AREA,
            [403; 7],
        ),
    ];

    // Act and assert: every cell, reporting every mismatch at once.
    let mut mismatches = Vec::new();
    for (who, sub, roles, area, row) in &matrix {
        let browser = crate::console::Browser::sign_in(&app, sub, roles, area).await;
        for ((state, case), expected) in cases.iter().zip(row) {
            let (status, html) = browser.page(&format!("/console/cases/{}", case.id)).await;
            let cell = format!("{who} opening the console page of a case in {state}");
            if status != *expected {
                mismatches.push(format!("{cell}: expected {expected}, got {status}"));
            }
            if html.contains(DECONFLICTION_NOTE) || html.contains("live_investigation") {
                mismatches.push(format!("{cell}: police-only material shown"));
            }
            if *expected != 200 && (html.contains(&case.reference) || html.contains(&case.id)) {
                mismatches.push(format!("{cell}: the refusal names the case"));
            }
            if *expected == 200 && !html.contains(&case.reference) {
                mismatches.push(format!("{cell}: the page does not show the case"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn a_referrer_sees_only_a_coarse_status_of_their_own_referrals() {
    // Arrange
    let app = spawn_app().await;
    let expected = [
        ("submitted", "received"),
        ("screening", "being_assessed"),
        ("closed", "closed"),
        ("onward_referral", "being_assessed"),
        ("awaiting_panel", "being_assessed"),
        ("police_managed", "being_assessed"),
        // A transfer to Pursue reads as a police-led closure.
        ("transferred_to_pursue", "closed"),
    ];
    let mut cases = Vec::new();
    for (state, status) in expected {
        cases.push((state, status, case_through(&app, AREA, state).await));
    }
    let other = app.token("teacher-2", &["referrer"], AREA);

    for (state, status, case) in &cases {
        // Act
        let (code, body) = read(&app, &case.id, &app.referrer()).await;

        // Assert
        assert_eq!(code, 200, "own case in {state}: {body}");
        assert_eq!(
            keys(&body),
            key_set(&REFERRER_KEYS),
            "own case in {state}: {body}"
        );
        assert_eq!(body["status"], *status, "own case in {state}");
        assert_eq!(body["id"], case.id.as_str(), "own case in {state}");
        assert_eq!(
            body["reference"],
            case.reference.as_str(),
            "own case in {state}"
        );
        let text = body.to_string();
        for hidden in ["pursue", "deconfliction", "investigation", "Subject"] {
            assert!(
                !text.contains(hidden),
                "own case in {state} shows {hidden}: {text}"
            );
        }
        assert_problem(
            app.get(&format!("/v1/cases/{}", case.id), Some(&other))
                .await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            app.get(
                &format!("/v1/cases/{}/history", case.id),
                Some(&app.referrer()),
            )
            .await,
            403,
            "role_not_allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_hidden_case_answers_exactly_like_a_missing_one() {
    // Arrange
    let app = spawn_app().await;
    let case = case_through(&app, AREA, "screening").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let outsiders = [
        (
            "another referrer",
            app.token("teacher-2", &["referrer"], AREA),
        ),
        (
            "an officer of another area",
            app.token("officer-2", &["prevent_officer"], OTHER_AREA),
        ),
        ("the area's chair", app.chair()),
    ];
    for (who, token) in &outsiders {
        for path in ["", "/history", "/actions"] {
            // Act
            let hidden = assert_problem(
                app.get(&format!("/v1/cases/{}{path}", case.id), Some(token))
                    .await,
                404,
                "not_found",
            )
            .await;
            let absent = assert_problem(
                app.get(&format!("/v1/cases/{missing}{path}"), Some(token))
                    .await,
                404,
                "not_found",
            )
            .await;

            // Assert
            for field in ["type", "title", "status", "detail", "code"] {
                assert_eq!(hidden[field], absent[field], "{who} on {path:?}: {field}");
            }
        }
    }
}

#[tokio::test]
async fn officers_of_the_area_see_police_only_material_and_others_do_not() {
    // Arrange
    let app = spawn_app().await;
    let officer = app.officer();
    let screened = case_through(&app, AREA, "screening").await;
    let pursued = case_through(&app, AREA, "transferred_to_pursue").await;
    let clear = case_through(&app, AREA, "submitted").await;
    let case = app
        .act_ok(
            &officer,
            &clear.id,
            "begin_screening",
            clear.version,
            &json!({}),
        )
        .await;
    let version = case["version"].as_i64().unwrap();
    app.act_ok(
        &officer,
        &clear.id,
        "record_deconfliction",
        version,
        &json!({"result": "clear"}),
    )
    .await;

    // Act
    let (_, screened_body) = read(&app, &screened.id, &officer).await;
    let (_, clear_body) = read(&app, &clear.id, &officer).await;
    let (status, pursued_body) = read(&app, &pursued.id, &officer).await;
    let pursued_history = history_actions(&app, &pursued.id, &officer).await;

    // Assert
    assert_eq!(
        screened_body["deconfliction"]["result"],
        "live_investigation"
    );
    assert_eq!(screened_body["deconfliction"]["note"], DECONFLICTION_NOTE);
    assert_eq!(
        clear_body["deconfliction"]["result"], "clear",
        "{clear_body}"
    );
    assert_eq!(status, 200);
    assert_eq!(pursued_body["state"], "transferred_to_pursue");
    assert_eq!(
        pursued_body["deconfliction"]["result"],
        "live_investigation"
    );
    assert_eq!(
        pursued_history,
        vec![
            "submit_referral",
            "begin_screening",
            "record_deconfliction",
            "transfer_to_pursue"
        ]
    );
    let elsewhere = app.token("officer-2", &["prevent_officer"], OTHER_AREA);
    for case in [&screened, &pursued, &clear] {
        for path in ["", "/history"] {
            assert_problem(
                app.get(&format!("/v1/cases/{}{path}", case.id), Some(&elsewhere))
                    .await,
                404,
                "not_found",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn the_chair_sees_a_referred_case_without_what_police_recorded_before() {
    // Arrange: deconfliction is recorded in screening, before the referral to Channel.
    let app = spawn_app().await;
    let referred = case_through(&app, AREA, "awaiting_panel").await;
    let screening = case_through(&app, AREA, "screening").await;
    let chair = app.chair();

    // Act
    let response = app
        .get(&format!("/v1/cases/{}", referred.id), Some(&chair))
        .await;
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = status_and_body(response).await;
    let chair_history = history_actions(&app, &referred.id, &chair).await;
    let officer_history = history_actions(&app, &referred.id, &app.officer()).await;

    // Assert
    assert_eq!(status, 200, "{body}");
    assert!(body.get("deconfliction").is_none(), "{body}");
    assert!(!body.to_string().contains("live_investigation"), "{body}");
    assert_eq!(body["state"], "awaiting_panel");
    // The chair's version does not count the deconfliction the chair may not see.
    assert_eq!(body["version"], referred.version - 1);
    assert_eq!(body["referral"]["subject"]["given_name"], "Case");
    assert_eq!(etag, Some(format!("\"{}\"", referred.version - 1)));
    assert_eq!(
        chair_history,
        vec!["submit_referral", "begin_screening", "refer_to_channel"],
        "the chair's history"
    );
    assert_eq!(
        officer_history,
        vec![
            "submit_referral",
            "begin_screening",
            "record_deconfliction",
            "refer_to_channel"
        ],
        "the officer's history"
    );
    let seqs = |token: String| {
        let path = format!("/v1/cases/{}/history", referred.id);
        let app = &app;
        async move {
            let body: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
            body.as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        seqs(chair.clone()).await,
        vec![1, 2, 3],
        "no gap where the police-only entry was"
    );
    assert_eq!(seqs(app.officer()).await, vec![1, 2, 3, 4]);
    let refusals = [
        ("the chair, a case in screening", &screening, chair.clone()),
        (
            "a chair of another area, a referred case",
            &referred,
            app.token("chair-2", &["channel_chair"], OTHER_AREA),
        ),
    ];
    for (what, case, token) in &refusals {
        for path in ["", "/history"] {
            let (status, body) = status_and_body(
                app.get(&format!("/v1/cases/{}{path}", case.id), Some(token))
                    .await,
            )
            .await;
            assert_eq!(
                (status, &body["code"]),
                (404, &json!("not_found")),
                "{what} {path:?}"
            );
        }
    }
}

#[tokio::test]
async fn auditors_see_their_area_or_every_area_without_police_only_material() {
    // Arrange
    let app = spawn_app().await;
    let here = case_through(&app, AREA, "screening").await;
    let there = case_through(&app, OTHER_AREA, "screening").await;
    let pursued = case_through(&app, AREA, "transferred_to_pursue").await;
    let auditors = [
        (
            "an auditor of the area",
            app.token("auditor-1", &["auditor"], AREA),
            [200, 404, 200],
        ),
        (
            "an auditor of the other area",
            app.token("auditor-2", &["auditor"], OTHER_AREA),
            [404, 200, 404],
        ),
        (
            "a national auditor",
            app.token("auditor-national", &["auditor"], "national"),
            [200, 200, 200],
        ),
    ];

    for (who, token, expected) in &auditors {
        for (case, status) in [&here, &there, &pursued].into_iter().zip(expected) {
            // Act
            let (code, body) = read(&app, &case.id, token).await;
            let history = app
                .get(&format!("/v1/cases/{}/history", case.id), Some(token))
                .await;

            // Assert
            assert_eq!(code, *status, "{who} reading {}: {body}", case.reference);
            assert_eq!(
                history.status().as_u16(),
                *status,
                "{who}, history of {}",
                case.reference
            );
            if *status == 200 {
                assert!(body.get("deconfliction").is_none(), "{who}: {body}");
                assert!(body.get("referral").is_some(), "{who}: {body}");
                let history: Value = history.json().await.unwrap();
                let actions: Vec<&str> = history
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["action"].as_str().unwrap())
                    .collect();
                // The transfer reads as a police-led closure; deconfliction not at all.
                let (expected_actions, state) = if case.id == pursued.id {
                    (
                        vec!["submit_referral", "begin_screening", "close"],
                        "closed",
                    )
                } else {
                    (vec!["submit_referral", "begin_screening"], "screening")
                };
                assert_eq!(actions, expected_actions, "{who}");
                assert_eq!(body["state"], state, "{who}");
            }
        }
    }
}

#[tokio::test]
async fn the_list_holds_exactly_the_cases_each_role_may_see() {
    // Arrange
    let app = spawn_app().await;
    let mut by_state = Vec::new();
    for state in STATES {
        by_state.push(case_through(&app, AREA, state).await);
    }
    let [
        submitted,
        screening,
        closed,
        onward,
        awaiting,
        managed,
        pursue,
    ] = &by_state[..]
    else {
        unreachable!()
    };
    let other_teacher = drive(
        &app,
        AREA,
        &file_as(&app, "teacher-2", AREA).await,
        "submitted",
    )
    .await;
    let elsewhere = case_through(&app, OTHER_AREA, "awaiting_panel").await;
    let all_here = [
        submitted,
        screening,
        closed,
        onward,
        awaiting,
        managed,
        pursue,
        &other_teacher,
    ];
    // A case transferred to Pursue stays in every list it was in: it reads as closed.
    let mut everything = all_here.to_vec();
    everything.push(&elsewhere);
    let mut own = vec![
        submitted, screening, closed, onward, awaiting, managed, pursue,
    ];
    own.push(&elsewhere);
    let expected: [(&str, String, BTreeSet<String>); 10] = [
        ("the referrer who filed them", app.referrer(), ids_of(&own)),
        (
            "another referrer",
            app.token("teacher-2", &["referrer"], AREA),
            ids_of(&[&other_teacher]),
        ),
        ("an officer of the area", app.officer(), ids_of(&all_here)),
        (
            "an officer of the other area",
            app.token("officer-2", &["prevent_officer"], OTHER_AREA),
            ids_of(&[&elsewhere]),
        ),
        ("the area's chair", app.chair(), ids_of(&[awaiting])),
        (
            "the other area's chair",
            app.token("chair-2", &["channel_chair"], OTHER_AREA),
            ids_of(&[&elsewhere]),
        ),
        (
            "an auditor of the area",
            app.token("auditor-1", &["auditor"], AREA),
            ids_of(&all_here),
        ),
        (
            "an auditor of the other area",
            app.token("auditor-2", &["auditor"], OTHER_AREA),
            ids_of(&[&elsewhere]),
        ),
        (
            "a national auditor",
            app.token("auditor-national", &["auditor"], "national"),
            ids_of(&everything),
        ),
        (
            "a panel member",
            app.token("member-1", &["panel_member"], AREA),
            BTreeSet::new(),
        ),
    ];

    for (who, token, ids) in &expected {
        // Act
        let seen = listed(&app, "/v1/cases?limit=500", token).await;

        // Assert
        assert_eq!(&seen, ids, "{who}");
    }
    let (_, page) = status_and_body(app.get("/v1/cases", Some(&app.referrer())).await).await;
    for item in page["items"].as_array().unwrap() {
        assert_eq!(
            keys(item),
            key_set(&REFERRER_KEYS),
            "a referrer's list item: {item}"
        );
        if item["id"] == pursue.id.as_str() {
            assert_eq!(item["status"], "closed", "{item}");
        }
    }
    let (_, page) = status_and_body(app.get("/v1/cases", Some(&app.chair())).await).await;
    let item = &page["items"][0];
    assert_eq!(item["state"], "awaiting_panel", "{page}");
    assert!(
        item.get("referral").is_none() && item.get("deconfliction").is_none(),
        "{item}"
    );
    let admin = app.token("admin-1", &["admin"], AREA);
    assert_problem(
        app.get("/v1/cases", Some(&admin)).await,
        403,
        "role_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn the_list_filters_by_state_and_reference_and_refuses_an_unknown_state() {
    // Arrange
    let app = spawn_app().await;
    let first = case_through(&app, AREA, "screening").await;
    let second = case_through(&app, AREA, "screening").await;
    let submitted = case_through(&app, AREA, "submitted").await;
    let pursued = case_through(&app, AREA, "transferred_to_pursue").await;
    let officer = app.officer();
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let other = app.token("teacher-2", &["referrer"], AREA);
    let cases = [
        (
            "screening, officer",
            "?state=screening".to_owned(),
            &officer,
            ids_of(&[&first, &second]),
        ),
        (
            "screening, chair",
            "?state=screening".to_owned(),
            &app.chair(),
            BTreeSet::new(),
        ),
        (
            "received, referrer",
            "?state=received".to_owned(),
            &app.referrer(),
            ids_of(&[&submitted]),
        ),
        (
            "a pathway state, referrer: filters only by the status a referrer sees",
            "?state=submitted".to_owned(),
            &app.referrer(),
            BTreeSet::new(),
        ),
        (
            "a Pursue transfer, the referrer who filed it",
            "?state=transferred_to_pursue".to_owned(),
            &app.referrer(),
            BTreeSet::new(),
        ),
        (
            "being assessed, the referrer: a Pursue transfer is not among them",
            "?state=being_assessed".to_owned(),
            &app.referrer(),
            ids_of(&[&first, &second]),
        ),
        (
            "closed, the referrer: a Pursue transfer reads as closed",
            "?state=closed".to_owned(),
            &app.referrer(),
            ids_of(&[&pursued]),
        ),
        (
            "closed, auditor: a Pursue transfer reads as a police-led closure",
            "?state=closed".to_owned(),
            &auditor,
            ids_of(&[&pursued]),
        ),
        (
            "closed, officer: police see the transfer as what it is",
            "?state=closed".to_owned(),
            &officer,
            BTreeSet::new(),
        ),
        (
            "a Pursue transfer, officer",
            "?state=transferred_to_pursue".to_owned(),
            &officer,
            ids_of(&[&pursued]),
        ),
        (
            "a Pursue transfer, auditor",
            "?state=transferred_to_pursue".to_owned(),
            &auditor,
            BTreeSet::new(),
        ),
        (
            "reference, officer",
            format!("?reference={}", second.reference),
            &officer,
            ids_of(&[&second]),
        ),
        (
            "reference of a Pursue transfer, auditor",
            format!("?reference={}", pursued.reference),
            &auditor,
            ids_of(&[&pursued]),
        ),
        (
            "reference, the referrer who filed it",
            format!("?reference={}", first.reference),
            &app.referrer(),
            ids_of(&[&first]),
        ),
        (
            "reference, another referrer",
            format!("?reference={}", first.reference),
            &other,
            BTreeSet::new(),
        ),
        (
            "reference and a state it is not in",
            format!("?reference={}&state=submitted", first.reference),
            &officer,
            BTreeSet::new(),
        ),
    ];

    for (what, query, token, ids) in &cases {
        // Act
        let seen = listed(&app, &format!("/v1/cases{query}"), token).await;

        // Assert
        assert_eq!(&seen, ids, "{what}");
    }
    let problem = assert_problem(
        app.get("/v1/cases?state=bogus", Some(&officer)).await,
        400,
        "invalid_query",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "state", "{problem}");
    assert_eq!(problem["errors"][0]["in"], "query", "{problem}");
}

#[tokio::test]
async fn the_list_pages_every_visible_case_once_oldest_first() {
    // Arrange
    let app = spawn_app().await;
    let mut here = Vec::new();
    for state in [
        "submitted",
        "transferred_to_pursue",
        "screening",
        "awaiting_panel",
        "closed",
    ] {
        here.push(case_through(&app, AREA, state).await);
    }
    let elsewhere = case_through(&app, OTHER_AREA, "submitted").await;
    let ids = |cases: &[&Built]| cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let all: Vec<&Built> = here.iter().collect();
    let mut national = all.clone();
    national.push(&elsewhere);
    let readers = [
        ("an officer", app.officer(), ids(&all)),
        (
            "an auditor",
            app.token("auditor-1", &["auditor"], AREA),
            ids(&all),
        ),
        (
            "a national auditor",
            app.token("auditor-national", &["auditor"], "national"),
            ids(&national),
        ),
    ];

    for (who, token, expected) in &readers {
        // Act
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/cases?limit=2&cursor={c}"),
                None => "/v1/cases?limit=2".to_owned(),
            };
            let (status, page) = status_and_body(app.get(&path, Some(token)).await).await;
            assert_eq!(status, 200, "{who}: {page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2, "{who}: {page}");
            seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            pages += 1;
            assert!(pages <= expected.len(), "{who}: the cursor never ends");
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }

        // Assert
        assert_eq!(&seen, expected, "{who}: every case once, oldest first");
        assert_eq!(pages, expected.len().div_ceil(2), "{who}: pages");
    }
    assert_problem(
        app.get("/v1/cases?cursor=not-a-cursor", Some(&app.officer()))
            .await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn only_cases_past_their_due_date_are_listed_as_overdue() {
    // Arrange: screening due at once, and the default five working days.
    let due_at_once = spawn_app_with(|s| s.pathway.screening_working_days = 0).await;
    let default = spawn_app().await;
    let mut apps = Vec::new();
    for (label, app) in [
        ("due at once", &due_at_once),
        ("five working days", &default),
    ] {
        let mut cases = Vec::new();
        for state in ["submitted", "screening", "awaiting_panel", "closed"] {
            cases.push(case_through(app, AREA, state).await);
        }
        apps.push((label, app, cases));
    }
    // (submitted, screening, awaiting_panel, closed): (due kind, overdue) or no due date.
    let expected = [
        (
            "due at once",
            [
                Some(("screening", true)),
                Some(("screening", true)),
                Some(("panel_listing", false)),
                None,
            ],
        ),
        (
            "five working days",
            [
                Some(("screening", false)),
                Some(("screening", false)),
                Some(("panel_listing", false)),
                None,
            ],
        ),
    ];

    for ((label, app, cases), (_, dues)) in apps.iter().zip(expected) {
        let officer = app.officer();
        // Act
        let overdue = listed(app, "/v1/cases?overdue=true", &officer).await;

        // Assert
        let expected_overdue: BTreeSet<String> = cases
            .iter()
            .zip(dues)
            .filter(|(_, due)| matches!(due, Some((_, true))))
            .map(|(c, _)| c.id.clone())
            .collect();
        assert_eq!(overdue, expected_overdue, "{label}: the overdue list");
        assert_eq!(
            listed(app, "/v1/cases?overdue=false", &officer).await.len(),
            cases.len(),
            "{label}: overdue=false filters nothing"
        );
        for (case, due) in cases.iter().zip(dues) {
            let (status, body) = read(app, &case.id, &officer).await;
            assert_eq!(status, 200, "{label}: {body}");
            match due {
                Some((kind, late)) => {
                    assert_eq!(body["due"]["kind"], kind, "{label}: {body}");
                    assert_eq!(body["due"]["overdue"], late, "{label}: {body}");
                }
                None => assert_eq!(body["due"], Value::Null, "{label}: {body}"),
            }
        }
    }
    let (_, page) = status_and_body(
        due_at_once
            .get("/v1/cases?overdue=true", Some(&due_at_once.officer()))
            .await,
    )
    .await;
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item["due"]["overdue"], true, "{item}");
        assert_eq!(item["due"]["kind"], "screening", "{item}");
    }
    let chair_overdue = listed(&due_at_once, "/v1/cases?overdue=true", &due_at_once.chair()).await;
    assert!(
        chair_overdue.is_empty(),
        "the chair sees no case in screening: {chair_overdue:?}"
    );
}

#[tokio::test]
async fn every_read_is_audited_with_who_read_and_whether_it_was_allowed() {
    // Arrange
    let app = spawn_app().await;
    let case = case_through(&app, AREA, "screening").await;
    let reads = [
        ("an officer of the area", OFFICER, app.officer(), 200, "ok"),
        (
            "an officer of another area",
            "officer-2",
            app.token("officer-2", &["prevent_officer"], OTHER_AREA),
            404,
            "denied",
        ),
        (
            "another referrer",
            "teacher-2",
            app.token("teacher-2", &["referrer"], AREA),
            404,
            "denied",
        ),
        (
            "the referrer who filed it",
            REFERRER,
            app.referrer(),
            200,
            "ok",
        ),
    ];
    for (who, _, token, status, _) in &reads {
        let (code, body) = read(&app, &case.id, token).await;
        assert_eq!(code, *status, "{who}: {body}");
    }
    let auditor = app.token("auditor-1", &["auditor"], AREA);

    // Act
    let (status, page) = status_and_body(
        app.get(
            &format!("/v1/audit?case_id={}&action=case.read&order=asc", case.id),
            Some(&auditor),
        )
        .await,
    )
    .await;

    // Assert
    assert_eq!(status, 200, "{page}");
    let entries: Vec<(&str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["case_id"], case.id.as_str(), "{e}");
            assert_eq!(e["action"], "case.read", "{e}");
            (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap())
        })
        .collect();
    let expected: Vec<(&str, &str)> = reads
        .iter()
        .map(|(_, sub, _, _, outcome)| (*sub, *outcome))
        .collect();
    assert_eq!(entries, expected, "one entry per read, in order: {page}");
}

#[tokio::test]
async fn a_repeat_referral_in_another_area_is_linked_without_showing_either_area_the_others_case() {
    // Arrange: the same person referred in two areas.
    let app = spawn_app().await;
    let mut here = referral_about("Sam", "Twoareas", "2008-03-03");
    here["area"] = AREA.into();
    let mut there = here.clone();
    there["area"] = OTHER_AREA.into();
    let first = app.file(&here).await["id"].as_str().unwrap().to_owned();
    let second = app.file(&there).await["id"].as_str().unwrap().to_owned();

    // Act
    let officer_there = app.token("officer-9", &["prevent_officer"], OTHER_AREA);
    let (status, case) = read(&app, &second, &officer_there).await;
    let auditor_there = app.token("auditor-9", &["auditor"], OTHER_AREA);
    let log: Value = app
        .get("/v1/audit?limit=500", Some(&auditor_there))
        .await
        .json()
        .await
        .unwrap();

    // Assert: linked in the store, each area's entry carries its own case's area.
    assert_eq!(status, 200);
    assert_eq!(case["linked_cases"], json!([]), "{case}");
    assert_eq!(
        app.audit_actions_in_database(&first),
        vec!["case.submit", "case.link"]
    );
    assert!(
        !log.to_string().contains(&first),
        "another area's case id in the audit log: {log}"
    );
    let (_, case_here) = read(&app, &first, &app.officer()).await;
    assert_eq!(case_here["linked_cases"], json!([]), "{case_here}");
    let (_, national) = read(
        &app,
        &first,
        &app.token("auditor-n", &["auditor"], "national"),
    )
    .await;
    assert_eq!(
        national["linked_cases"][0]["id"],
        second.as_str(),
        "{national}"
    );
}
