//! The Channel panel half of the pathway over HTTP: panels, members and meetings; the
//! panel's decision; consent, support, exit and the post-exit reviews; and what panel
//! members see of the cases on their agendas.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    AREA, CHAIR, OTHER_AREA, TestApp, assert_problem, referral_about, referral_body, signpost_body,
    spawn_app, spawn_app_with, threshold,
};

/// The chair's membership email on the test panels.
const CHAIR_EMAIL: &str = "chris.chair@la.example";
/// A health member.
const HEALTH_EMAIL: &str = "hana@nhs.example";
/// An education member.
const EDUCATION_EMAIL: &str = "eddie@school.example";
/// A probation member of a second panel.
const PROBATION_EMAIL: &str = "olly@probation.example";

/// The date `days` from today, `YYYY-MM-DD`.
fn day(days: i64) -> String {
    (Utc::now() + Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// 10:00 UTC on the date `days` from today, RFC 3339.
fn ten_am(days: i64) -> String {
    format!("{}T10:00:00Z", day(days))
}

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("{value} is not an RFC 3339 time"))
}

fn member(name: &str, agency: &str, email: &str, panel_role: &str) -> Value {
    json!({"name": name, "agency": agency, "email": email, "panel_role": panel_role})
}

/// A panel chaired by the test chair with a health and an education member.
fn panel_body(name: &str) -> Value {
    json!({"name": name, "members": [
        member("Chris Chair", "local_authority", CHAIR_EMAIL, "chair"),
        member("Hana Health", "health", HEALTH_EMAIL, "member"),
        member("Eddie Education", "education", EDUCATION_EMAIL, "member"),
    ]})
}

/// Creates a panel as `token`; answers it.
async fn create_panel(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post_json("/v1/panels", token, body).await;
    let status = response.status().as_u16();
    let panel: Value = response.json().await.expect("panel");
    assert_eq!(status, 201, "creating a panel: {panel}");
    panel
}

/// Schedules a meeting of `panel_id` at `when` as `token`; answers it.
async fn schedule(app: &TestApp, token: &str, panel_id: &str, when: &str) -> Value {
    let response = app
        .post_json(
            &format!("/v1/panels/{panel_id}/meetings"),
            token,
            &json!({"scheduled_for": when, "location": "Civic Hall, Room 2"}),
        )
        .await;
    let status = response.status().as_u16();
    let meeting: Value = response.json().await.expect("meeting");
    assert_eq!(status, 201, "scheduling a meeting: {meeting}");
    meeting
}

/// A panel of [`AREA`] and a meeting of it a week ahead; answers (panel id, meeting id).
async fn panel_with_meeting(app: &TestApp) -> (String, String) {
    let chair = app.chair();
    let panel = create_panel(app, &chair, &panel_body("Leeds Channel Panel")).await;
    let panel_id = panel["id"].as_str().expect("panel id").to_owned();
    let meeting = schedule(app, &chair, &panel_id, &ten_am(7)).await;
    (
        panel_id,
        meeting["id"].as_str().expect("meeting id").to_owned(),
    )
}

/// A panel member's token whose `email` is `email`.
fn member_token(app: &TestApp, sub: &str, email: &str) -> String {
    let mut claims = app.claims(sub, &["panel_member"], AREA);
    claims.email = email.into();
    app.sign(&claims)
}

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn read(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    status_and_body(app.get(path, Some(token)).await).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// (action, from, to) of every history entry, in order.
async fn steps(app: &TestApp, token: &str, id: &str) -> Vec<(String, Option<String>, String)> {
    let (status, body) = read(app, &format!("/v1/cases/{id}/history"), token).await;
    assert_eq!(status, 200, "history: {body}");
    body.as_array()
        .expect("history entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["from_state"].as_str().map(str::to_owned),
                e["to_state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn step(action: &str, from: Option<&str>, to: &str) -> (String, Option<String>, String) {
    (action.to_owned(), from.map(str::to_owned), to.to_owned())
}

/// The ids of a page of cases, in order.
async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let (status, page) = read(app, path, token).await;
    assert_eq!(status, 200, "{path}: {page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Files a referral about a fresh adult (born 1990) and refers it to Channel, with
/// deconfliction recorded in screening; answers (case id, version).
async fn adult_awaiting_panel(app: &TestApp) -> (String, i64) {
    let family = format!("Adult{}", uuid::Uuid::new_v4().simple());
    referred(app, &referral_about("Pat", &family, "1990-01-01")).await
}

/// Files `body`, screens it (recording deconfliction) and refers it to Channel.
async fn referred(app: &TestApp, body: &Value) -> (String, i64) {
    let officer = app.officer();
    let id = app.file(body).await["id"].as_str().unwrap().to_owned();
    app.act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    app.act_ok(
        &officer,
        &id,
        "record_deconfliction",
        2,
        &json!({"result": "clear", "note": "Checked against operation records."}),
    )
    .await;
    let case = app
        .act_ok(
            &officer,
            &id,
            "refer_to_channel",
            3,
            &threshold("vulnerable_to_radicalisation"),
        )
        .await;
    assert_eq!(case["state"], "awaiting_panel", "{case}");
    // The chair's version counts only what the chair may see: not the deconfliction.
    let seen: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.chair()))
        .await
        .json()
        .await
        .unwrap();
    let version = seen["version"].as_i64().unwrap();
    assert_eq!(version, case["version"].as_i64().unwrap() - 1, "{seen}");
    (id, version)
}

/// Lists the case for `meeting_id` as the chair; answers the case.
async fn list(app: &TestApp, id: &str, version: i64, meeting_id: &str) -> Value {
    app.act_ok(
        &app.chair(),
        id,
        "list_for_panel",
        version,
        &json!({"meeting_id": meeting_id}),
    )
    .await
}

fn adopt() -> Value {
    json!({"decision": "adopt", "reason_code": "vulnerability_identified",
           "rationale": "Vulnerable to radicalisation; needs support.", "how_reached": "unanimous"})
}

fn defer() -> Value {
    json!({"decision": "defer", "reason_code": "more_information_needed",
           "rationale": "Waiting for the school's report.", "how_reached": "chairs_decision"})
}

fn not_adopt(next_step: &str) -> Value {
    json!({"decision": "not_adopt", "reason_code": "needs_met_by_other_services",
           "rationale": "Needs are primarily mental health.", "how_reached": "majority",
           "health_or_social_care_considered": true, "next_step": next_step})
}

fn support_plan() -> Value {
    json!({"interventions": [{"type": "ideological_mentoring", "provider": "Approved intervention provider",
                              "frequency": "weekly", "start_date": day(7)}],
           "summary": "Mentoring and a college place."})
}

fn consent(decision: &str, given_by: &str, name: Option<&str>) -> Value {
    json!({"decision": decision, "given_by": given_by, "given_by_name": name,
           "decided_on": day(0), "how_sought": "in_person"})
}

fn post_exit(review: &str) -> Value {
    json!({"review": review, "new_concern": false, "rationale": "No new concern at this review."})
}

/// A listed case adopted by the panel: (id, version) in `consent_pending`.
async fn adopted(app: &TestApp, id: &str, version: i64) -> i64 {
    let (_, meeting) = panel_with_meeting(app).await;
    let listed = list(app, id, version, &meeting).await;
    let v = listed["version"].as_i64().unwrap();
    let case = app
        .act_ok(&app.chair(), id, "record_panel_decision", v, &adopt())
        .await;
    assert_eq!(case["state"], "consent_pending", "{case}");
    case["version"].as_i64().unwrap()
}

#[tokio::test]
async fn chairs_manage_their_areas_panels_and_every_membership_change_is_audited() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let mut body = panel_body("Leeds Channel Panel");
    body["members"][0]["email"] = "Chris.Chair@LA.example".into();

    // Act: create, list, add a member, schedule, remove a member.
    let response = app.post_json("/v1/panels", &chair, &body).await;
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, created) = status_and_body(response).await;
    assert_eq!(status, 201, "create: {created}");
    let panel_id = created["id"].as_str().unwrap().to_owned();
    let list: Value = app
        .get("/v1/panels", Some(&chair))
        .await
        .json()
        .await
        .unwrap();
    let added = app
        .post_json(
            &format!("/v1/panels/{panel_id}/members"),
            &chair,
            &member("Pia Probation", "probation", PROBATION_EMAIL, "member"),
        )
        .await;
    let (added_status, added) = status_and_body(added).await;
    let meeting = schedule(&app, &chair, &panel_id, &ten_am(14)).await;
    let health_id = created["members"][1]["id"].as_str().unwrap().to_owned();
    let removed = delete(
        &app,
        &format!("/v1/panels/{panel_id}/members/{health_id}"),
        &chair,
    )
    .await;
    let removed_status = removed.status().as_u16();
    let again = delete(
        &app,
        &format!("/v1/panels/{panel_id}/members/{health_id}"),
        &chair,
    )
    .await;
    let (read_status, panel) = read(&app, &format!("/v1/panels/{panel_id}"), &chair).await;

    // Assert
    assert_eq!(location, Some(format!("/v1/panels/{panel_id}")), "Location");
    assert_eq!(created["area"], AREA, "a panel serves its creator's area");
    assert_eq!(created["name"], "Leeds Channel Panel");
    assert_eq!(
        created["members"][0]["email"], CHAIR_EMAIL,
        "emails are stored lower-cased: {created}"
    );
    assert_eq!(created["members"].as_array().unwrap().len(), 3, "{created}");
    let listed: Vec<&str> = list
        .as_array()
        .expect("a list of panels")
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![panel_id.as_str()], "the area's panels: {list}");
    assert_eq!(added_status, 201, "add member: {added}");
    assert_eq!(added["agency"], "probation", "{added}");
    assert_eq!(removed_status, 204, "remove member");
    assert_problem(again, 404, "not_found").await;
    assert_eq!(read_status, 200, "read: {panel}");
    let emails: Vec<&str> = panel["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        vec![CHAIR_EMAIL, EDUCATION_EMAIL, PROBATION_EMAIL],
        "current members, the removed one absent: {panel}"
    );
    let meetings: Vec<&str> = panel["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(meetings, vec![meeting["id"].as_str().unwrap()], "{panel}");
    assert_eq!(panel["meetings"][0]["location"], "Civic Hall, Room 2");

    // Every membership change is in the audit log, in the panel's chain.
    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let member_ids = |from: &Value| -> BTreeSet<String> {
        from.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut every_member = member_ids(&created["members"]);
    every_member.insert(added["id"].as_str().unwrap().to_owned());
    for (action, expected) in [
        ("panel.member.add", every_member),
        ("panel.member.remove", BTreeSet::from([health_id.clone()])),
    ] {
        let (status, page) = read(&app, &format!("/v1/audit?action={action}"), &auditor).await;
        assert_eq!(status, 200, "{action}: {page}");
        let items = page["items"].as_array().unwrap();
        let audited: BTreeSet<String> = items
            .iter()
            .map(|e| e["details"]["member_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(audited, expected, "{action}: {page}");
        assert_eq!(items.len(), expected.len(), "{action}: one entry each");
        for e in items {
            assert_eq!(e["chain"], format!("panel:{panel_id}"), "{action}: {e}");
            assert_eq!(e["actor"], CHAIR, "{action}: {e}");
            assert_eq!(e["area"], AREA, "{action}: {e}");
        }
    }
}

#[tokio::test]
async fn a_panel_has_exactly_one_chair() {
    let app = spawn_app().await;
    let chair = app.chair();
    let cases = [
        (
            "no chair",
            vec![member("Hana Health", "health", HEALTH_EMAIL, "member")],
        ),
        (
            "two chairs",
            vec![
                member("Chris Chair", "local_authority", CHAIR_EMAIL, "chair"),
                member("Hana Health", "health", HEALTH_EMAIL, "chair"),
            ],
        ),
        ("no members", vec![]),
    ];
    for (label, members) in cases {
        // Act
        let response = app
            .post_json(
                "/v1/panels",
                &chair,
                &json!({"name": "Leeds Channel Panel", "members": members}),
            )
            .await;

        // Assert
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"][0]["field"], "members",
            "{label}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["code"], "one_chair_required",
            "{label}: {problem}"
        );
    }
    let list: Value = app
        .get("/v1/panels", Some(&chair))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "no panel was created");
}

#[tokio::test]
async fn panels_are_seen_only_by_their_areas_chairs() {
    // Arrange
    let app = spawn_app().await;
    let (panel_id, _) = panel_with_meeting(&app).await;
    let other_chair = app.token("chair-2", &["channel_chair"], OTHER_AREA);
    let panel_path = format!("/v1/panels/{panel_id}");

    // Another area's chair: the panel does not exist for them.
    let (status, list) = read(&app, "/v1/panels", &other_chair).await;
    assert_eq!((status, list), (200, json!([])), "another area's list");
    assert_problem(
        app.get(&panel_path, Some(&other_chair)).await,
        404,
        "not_found",
    )
    .await;
    let adding = app
        .post_json(
            &format!("{panel_path}/members"),
            &other_chair,
            &member("Pia Probation", "probation", PROBATION_EMAIL, "member"),
        )
        .await;
    assert_problem(adding, 404, "not_found").await;
    let scheduling = app
        .post_json(
            &format!("{panel_path}/meetings"),
            &other_chair,
            &json!({"scheduled_for": ten_am(3)}),
        )
        .await;
    assert_problem(scheduling, 404, "not_found").await;

    // Referrers and officers do not manage panels.
    for (label, token) in [("referrer", app.referrer()), ("officer", app.officer())] {
        let creating = app
            .post_json("/v1/panels", &token, &panel_body("Not theirs"))
            .await;
        assert_eq!(creating.status().as_u16(), 403, "{label}: POST /v1/panels");
        assert_problem(creating, 403, "role_not_allowed").await;
        let listing = app.get("/v1/panels", Some(&token)).await;
        assert_eq!(listing.status().as_u16(), 403, "{label}: GET /v1/panels");
        assert_problem(listing, 403, "role_not_allowed").await;
    }
    let (_, panel) = read(&app, &panel_path, &app.chair()).await;
    assert_eq!(
        panel["members"].as_array().unwrap().len(),
        3,
        "refused changes changed nothing: {panel}"
    );
    assert_eq!(panel["meetings"].as_array().unwrap().len(), 1, "{panel}");
}

#[tokio::test]
async fn meetings_are_not_scheduled_in_the_past_and_agendas_are_for_the_chair_and_current_members()
{
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let panel = create_panel(&app, &chair, &panel_body("Leeds Channel Panel")).await;
    let panel_id = panel["id"].as_str().unwrap();
    let past = app
        .post_json(
            &format!("/v1/panels/{panel_id}/meetings"),
            &chair,
            &json!({"scheduled_for": ten_am(-2)}),
        )
        .await;
    let problem = assert_problem(past, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "scheduled_for", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "date_in_past", "{problem}");
    let meeting = schedule(&app, &chair, panel_id, &ten_am(7)).await;
    let meeting_id = meeting["id"].as_str().unwrap();
    let (case_id, version) = app.case_in("awaiting_panel").await;
    list(&app, &case_id, version, meeting_id).await;
    let reference =
        read(&app, &format!("/v1/cases/{case_id}"), &chair).await.1["reference"].clone();
    let eddie_id = panel["members"][2]["id"].as_str().unwrap();
    let agenda_path = format!("/v1/meetings/{meeting_id}");
    let readers = [
        ("the chair", chair.clone(), 200),
        (
            "a member whose token spells the email in capitals",
            member_token(&app, "member-1", "Hana@NHS.Example"),
            200,
        ),
        (
            "the education member",
            member_token(&app, "member-2", EDUCATION_EMAIL),
            200,
        ),
        (
            "a panel member not on the panel",
            member_token(&app, "member-9", "nobody@nhs.example"),
            404,
        ),
        (
            "another area's chair",
            app.token("chair-2", &["channel_chair"], OTHER_AREA),
            404,
        ),
    ];

    for (label, token, expected) in &readers {
        // Act
        let (status, body) = read(&app, &agenda_path, token).await;

        // Assert
        assert_eq!(status, *expected, "{label}: {body}");
        if *expected == 200 {
            assert_eq!(body["panel_name"], "Leeds Channel Panel", "{label}: {body}");
            assert_eq!(body["id"], meeting_id, "{label}: {body}");
            let agenda = body["agenda"].as_array().unwrap();
            assert_eq!(agenda.len(), 1, "{label}: {body}");
            assert_eq!(agenda[0]["case_id"], case_id.as_str(), "{label}: {body}");
            assert_eq!(agenda[0]["reference"], reference, "{label}: {body}");
            assert_eq!(agenda[0]["state"], "panel_listed", "{label}: {body}");
        } else {
            assert_eq!(body["code"], "not_found", "{label}: {body}");
        }
    }

    // A removed member no longer reads the agenda.
    let removed = delete(
        &app,
        &format!("/v1/panels/{panel_id}/members/{eddie_id}"),
        &chair,
    )
    .await;
    assert_eq!(
        removed.status().as_u16(),
        204,
        "removing the education member"
    );
    let eddie = member_token(&app, "member-2", EDUCATION_EMAIL);
    assert_problem(app.get(&agenda_path, Some(&eddie)).await, 404, "not_found").await;
    let (_, panel) = read(&app, &format!("/v1/panels/{panel_id}"), &chair).await;
    assert_eq!(
        panel["meetings"].as_array().unwrap().len(),
        1,
        "the refused past meeting was not stored: {panel}"
    );
}

#[tokio::test]
async fn an_adult_adopted_with_consent_is_supported_exits_and_closes_after_both_post_exit_reviews()
{
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let (id, v) = adult_awaiting_panel(&app).await;
    let (_, meeting_id) = panel_with_meeting(&app).await;

    // Listed: the panel's decision is due at the meeting.
    let listed = list(&app, &id, v, &meeting_id).await;
    assert_eq!(listed["state"], "panel_listed", "{listed}");
    assert_eq!(listed["due"]["kind"], "panel_decision", "{listed}");
    assert_eq!(
        instant(&listed["due"]["due_at"]),
        instant(&json!(ten_am(7))),
        "due at the meeting: {listed}"
    );
    assert_eq!(listed["meetings"][0]["id"], meeting_id.as_str(), "{listed}");
    let (_, agenda) = read(&app, &format!("/v1/meetings/{meeting_id}"), &chair).await;
    assert_eq!(
        agenda["agenda"][0]["case_id"],
        id.as_str(),
        "on the agenda: {agenda}"
    );

    // Adopted, with an assessment on the 2012 framework.
    let mut decision = adopt();
    decision["assessment"] = json!({"framework": "vaf_2012", "summary": "Engaged with extremist material online.",
        "factors": [{"dimension": "engagement", "factor": "need_for_identity", "rating": "high", "note": "Isolated."},
                    {"dimension": "intent", "factor": "harmful_objectives", "rating": "low"}]});
    let pending = app
        .act_ok(&chair, &id, "record_panel_decision", v + 1, &decision)
        .await;
    assert_eq!(pending["state"], "consent_pending", "{pending}");

    // Consent to support needs a plan first.
    let early = app
        .act(
            &chair,
            &id,
            "record_consent",
            v + 2,
            &consent("given", "subject", None),
        )
        .await;
    let problem = assert_problem(early, 422, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["code"], "support_plan_required",
        "{problem}"
    );
    let planned = app
        .act_ok(&chair, &id, "record_support_plan", v + 2, &support_plan())
        .await;
    assert_eq!(planned["state"], "consent_pending", "{planned}");
    assert_eq!(
        planned["support_plan"]["interventions"][0]["type"], "ideological_mentoring",
        "{planned}"
    );

    // An adult consents for themself: support starts, reviewed in 30 days.
    let before = Utc::now();
    let support = app
        .act_ok(
            &chair,
            &id,
            "record_consent",
            v + 3,
            &consent("given", "subject", None),
        )
        .await;
    let after = Utc::now();
    assert_eq!(support["state"], "support", "{support}");
    assert_eq!(support["consent"]["given_by"], "subject", "{support}");
    assert_eq!(support["due"]["kind"], "support_review", "{support}");
    let due = instant(&support["due"]["due_at"]);
    assert!(
        due >= before + Duration::days(30) - Duration::seconds(1)
            && due <= after + Duration::days(30),
        "the default review period is 30 days: {support}"
    );

    // A review sets the next review's date.
    let next_review = day(45);
    let reviewed = app
        .act_ok(
            &chair,
            &id,
            "record_review",
            v + 4,
            &json!({"summary": "Attending mentoring weekly; engaging well.", "next_review_on": next_review}),
        )
        .await;
    assert_eq!(reviewed["state"], "support", "{reviewed}");
    assert_eq!(reviewed["due"]["kind"], "support_review", "{reviewed}");
    assert_eq!(
        reviewed["due"]["due_at"].as_str().map(|d| &d[..10]),
        Some(next_review.as_str()),
        "due on the date the review set: {reviewed}"
    );

    // A revised plan keeps the review date.
    let mut revised = support_plan();
    revised["interventions"].as_array_mut().unwrap().push(
        json!({"type": "education", "provider": "Leeds City College",
                     "frequency": "daily", "start_date": day(14)}),
    );
    let replanned = app
        .act_ok(&chair, &id, "record_support_plan", v + 5, &revised)
        .await;
    assert_eq!(replanned["state"], "support", "{replanned}");
    assert_eq!(
        replanned["support_plan"]["interventions"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{replanned}"
    );
    assert_eq!(
        replanned["due"], reviewed["due"],
        "a revised plan does not move the review: {replanned}"
    );

    // Exit: reviewed six and twelve months on.
    let exited = app
        .act_ok(&chair, &id, "exit", v + 6, &threshold("support_completed"))
        .await;
    assert_eq!(exited["state"], "exited", "{exited}");
    assert!(exited["exited_at"].is_string(), "exited_at set: {exited}");
    let exited_at = instant(&exited["exited_at"]);
    assert_eq!(exited["due"]["kind"], "post_exit_six_month", "{exited}");
    assert_eq!(
        instant(&exited["due"]["due_at"]),
        exited_at.checked_add_months(Months::new(6)).unwrap(),
        "six months after exit: {exited}"
    );

    // The twelve-month review cannot come first.
    let early = app
        .act(
            &chair,
            &id,
            "record_post_exit_review",
            v + 7,
            &post_exit("twelve_month"),
        )
        .await;
    let problem = assert_problem(early, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "out_of_order", "{problem}");

    let six = app
        .act_ok(
            &chair,
            &id,
            "record_post_exit_review",
            v + 7,
            &post_exit("six_month"),
        )
        .await;
    assert_eq!(six["state"], "exited", "{six}");
    assert_eq!(six["due"]["kind"], "post_exit_twelve_month", "{six}");
    assert_eq!(
        instant(&six["due"]["due_at"]),
        exited_at.checked_add_months(Months::new(12)).unwrap(),
        "twelve months after exit: {six}"
    );
    let again = app
        .act(
            &chair,
            &id,
            "record_post_exit_review",
            v + 8,
            &post_exit("six_month"),
        )
        .await;
    let problem = assert_problem(again, 422, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["code"], "out_of_order",
        "the six-month review is recorded once: {problem}"
    );

    let closed = app
        .act_ok(
            &chair,
            &id,
            "record_post_exit_review",
            v + 8,
            &post_exit("twelve_month"),
        )
        .await;
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(closed["outcome"], "exited_channel", "{closed}");
    assert_eq!(closed["due"], Value::Null, "{closed}");
    assert_eq!(closed["version"], v + 9, "{closed}");

    // The history holds every step, and no refused one.
    assert_eq!(
        steps(&app, &chair, &id).await,
        vec![
            step("submit_referral", None, "submitted"),
            step("begin_screening", Some("submitted"), "screening"),
            step("refer_to_channel", Some("screening"), "awaiting_panel"),
            step("list_for_panel", Some("awaiting_panel"), "panel_listed"),
            step(
                "record_panel_decision",
                Some("panel_listed"),
                "consent_pending"
            ),
            step(
                "record_support_plan",
                Some("consent_pending"),
                "consent_pending"
            ),
            step("record_consent", Some("consent_pending"), "support"),
            step("record_review", Some("support"), "support"),
            step("record_support_plan", Some("support"), "support"),
            step("exit", Some("support"), "exited"),
            step("record_post_exit_review", Some("exited"), "exited"),
            step("record_post_exit_review", Some("exited"), "closed"),
        ],
        "the chair's history (deconfliction is police-only)"
    );
    let (_, history) = read(&app, &format!("/v1/cases/{id}/history"), &chair).await;
    let decision = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "record_panel_decision")
        .unwrap();
    assert_eq!(
        decision["reason_code"], "vulnerability_identified",
        "{decision}"
    );
    assert_eq!(decision["details"]["decision"], "adopt", "{decision}");
    assert_eq!(
        decision["details"]["assessment"]["framework"], "vaf_2012",
        "{decision}"
    );
    assert_eq!(
        decision["details"]["assessment"]["factors"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{decision}"
    );
}

#[tokio::test]
async fn refused_consent_is_reassessed_and_sought_again() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let (refusing, v) = app.case_in("awaiting_panel").await;
    let v = adopted(&app, &refusing, v).await;

    // Refused: re-assessed by the default period, 90 days.
    let before = Utc::now();
    let refused = app
        .act_ok(
            &chair,
            &refusing,
            "record_consent",
            v,
            &consent("refused", "subject", None),
        )
        .await;
    let after = Utc::now();
    assert_eq!(refused["state"], "consent_refused", "{refused}");
    assert_eq!(refused["consent"]["decision"], "refused", "{refused}");
    assert_eq!(refused["due"]["kind"], "reassessment", "{refused}");
    let due = instant(&refused["due"]["due_at"]);
    assert!(
        due >= before + Duration::days(90) - Duration::seconds(1)
            && due <= after + Duration::days(90),
        "re-assessed within 90 days: {refused}"
    );
    let seeking = app
        .act_ok(
            &chair,
            &refusing,
            "reassess",
            v + 1,
            &json!({"outcome": "seek_consent", "reason_code": "consent_now_likely",
                    "rationale": "Family now supportive of the offer."}),
        )
        .await;
    assert_eq!(seeking["state"], "consent_pending", "{seeking}");
}

#[tokio::test]
async fn consent_withdrawn_during_support_is_reassessed_by_the_date_set_and_closed() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let family = format!("Adult{}", uuid::Uuid::new_v4().simple());
    let (withdrawing, w) = referred(&app, &referral_about("Pat", &family, "1990-01-01")).await;
    let w = adopted(&app, &withdrawing, w).await;
    app.act_ok(
        &chair,
        &withdrawing,
        "record_support_plan",
        w,
        &support_plan(),
    )
    .await;
    let support = app
        .act_ok(
            &chair,
            &withdrawing,
            "record_consent",
            w + 1,
            &consent("given", "subject", None),
        )
        .await;
    assert_eq!(support["state"], "support", "{support}");
    let reassess_by = day(60);
    let withdrawn = app
        .act_ok(
            &chair,
            &withdrawing,
            "withdraw_consent",
            w + 2,
            &json!({"rationale": "Withdrew consent at the review meeting.", "reassess_by": reassess_by}),
        )
        .await;
    assert_eq!(withdrawn["state"], "consent_refused", "{withdrawn}");
    assert_eq!(withdrawn["due"]["kind"], "reassessment", "{withdrawn}");
    assert_eq!(
        withdrawn["due"]["due_at"].as_str().map(|d| &d[..10]),
        Some(reassess_by.as_str()),
        "due on the date set: {withdrawn}"
    );
    let closed = app
        .act_ok(
            &chair,
            &withdrawing,
            "reassess",
            w + 3,
            &json!({"outcome": "closed", "reason_code": "risk_reduced",
                    "rationale": "Risk reduced; no further Channel involvement."}),
        )
        .await;
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(closed["outcome"], "closed_after_reassessment", "{closed}");
    assert_eq!(closed["due"], Value::Null, "{closed}");
    let actions: Vec<String> = steps(&app, &chair, &withdrawing)
        .await
        .into_iter()
        .skip(3)
        .map(|(a, _, _)| a)
        .collect();
    assert_eq!(
        actions,
        vec![
            "list_for_panel",
            "record_panel_decision",
            "record_support_plan",
            "record_consent",
            "withdraw_consent",
            "reassess"
        ],
        "the withdrawn case's Channel history"
    );
}

#[tokio::test]
async fn a_case_not_adopted_goes_onward_to_police_or_closes() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let officer = app.officer();
    let (_, meeting_id) = panel_with_meeting(&app).await;
    let (onward, v) = app.case_in("awaiting_panel").await;
    list(&app, &onward, v, &meeting_id).await;
    let v = v + 1;

    // A panel that does not adopt must have considered health or social care.
    for (label, considered) in [("missing", None), ("false", Some(json!(false)))] {
        let mut body = not_adopt("onward_referral");
        body["onward_referrals"] = signpost_body()["onward_referrals"].clone();
        let fields = body.as_object_mut().unwrap();
        match considered {
            Some(value) => fields.insert("health_or_social_care_considered".into(), value),
            None => fields.remove("health_or_social_care_considered"),
        };
        let refused = app
            .act(&chair, &onward, "record_panel_decision", v, &body)
            .await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"][0]["field"], "health_or_social_care_considered",
            "{label}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["code"], "required",
            "{label}: {problem}"
        );
    }

    // Onward: two services, each answered by the chair, then closed as signposted.
    let mut body = not_adopt("onward_referral");
    let mut services = signpost_body()["onward_referrals"].clone();
    services
        .as_array_mut()
        .unwrap()
        .push(json!({"service_type": "early_help",
        "organisation": "Leeds Early Help Hub", "reason": "Family support."}));
    body["onward_referrals"] = services;
    let referred_on = app
        .act_ok(&chair, &onward, "record_panel_decision", v, &body)
        .await;
    assert_eq!(referred_on["state"], "onward_referral", "{referred_on}");
    assert_eq!(
        referred_on["due"]["kind"], "onward_acknowledgement",
        "{referred_on}"
    );
    let referrals = referred_on["onward_referrals"].as_array().unwrap();
    let organisations: Vec<&str> = referrals
        .iter()
        .map(|o| o["organisation"].as_str().unwrap())
        .collect();
    assert_eq!(
        organisations,
        vec!["CAMHS Leeds", "Leeds Early Help Hub"],
        "{referred_on}"
    );
    assert!(
        referrals.iter().all(|o| o["status"] == "pending"),
        "{referred_on}"
    );
    let ids: Vec<String> = referrals
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let mut last = referred_on;
    for (onward_id, outcome, state) in [
        (&ids[0], "acknowledged", "onward_referral"),
        (&ids[1], "declined", "closed"),
    ] {
        let version = last["version"].as_i64().unwrap();
        last = app
            .act_ok(
                &chair,
                &onward,
                "record_onward_outcome",
                version,
                &json!({"onward_referral_id": onward_id, "outcome": outcome, "note": "Reply received."}),
            )
            .await;
        assert_eq!(last["state"], state, "after {outcome}: {last}");
    }
    assert_eq!(last["outcome"], "signposted", "{last}");

    // Back to police management, or closed; the officer may act on what police manage.
    for (next_step, state, outcome, officers_actions) in [
        (
            "police_managed",
            "police_managed",
            Value::Null,
            vec!["close", "refer_to_channel", "correct_details"],
        ),
        ("closed", "closed", json!("not_adopted"), vec![]),
    ] {
        let (id, v) = app.case_in("awaiting_panel").await;
        list(&app, &id, v, &meeting_id).await;
        let case = app
            .act_ok(
                &chair,
                &id,
                "record_panel_decision",
                v + 1,
                &not_adopt(next_step),
            )
            .await;
        assert_eq!(case["state"], state, "{next_step}: {case}");
        assert_eq!(case["outcome"], outcome, "{next_step}: {case}");
        assert_eq!(case["onward_referrals"], json!([]), "{next_step}: {case}");
        let (status, actions) = read(&app, &format!("/v1/cases/{id}/actions"), &officer).await;
        assert_eq!(status, 200, "{next_step}: {actions}");
        let names: Vec<&str> = actions["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            names, officers_actions,
            "{next_step}: the officer's actions"
        );
    }
}

#[tokio::test]
async fn a_deferred_case_waits_for_listing_again_at_another_meeting() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let (panel_id, first) = panel_with_meeting(&app).await;
    let second = schedule(&app, &chair, &panel_id, &ten_am(21)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (id, v) = app.case_in("awaiting_panel").await;
    let referred_at =
        read(&app, &format!("/v1/cases/{id}"), &chair).await.1["referred_to_channel_at"].clone();
    list(&app, &id, v, &first).await;

    // Act
    let before = Utc::now();
    let deferred = app
        .act_ok(&chair, &id, "record_panel_decision", v + 1, &defer())
        .await;
    let after = Utc::now();
    let relisted = list(&app, &id, v + 2, &second).await;

    // Assert
    assert_eq!(deferred["state"], "awaiting_panel", "{deferred}");
    assert_eq!(deferred["due"]["kind"], "panel_listing", "{deferred}");
    let due = instant(&deferred["due"]["due_at"]);
    assert!(
        due >= before + Duration::days(30) - Duration::seconds(1)
            && due <= after + Duration::days(30),
        "listing due 30 days from the deferral: {deferred}"
    );
    assert_eq!(
        deferred["referred_to_channel_at"], referred_at,
        "still the first referral to Channel"
    );
    assert_eq!(relisted["state"], "panel_listed", "{relisted}");
    assert_eq!(relisted["due"]["kind"], "panel_decision", "{relisted}");
    assert_eq!(
        instant(&relisted["due"]["due_at"]),
        instant(&json!(ten_am(21))),
        "due at the second meeting: {relisted}"
    );
    let meetings: Vec<&str> = relisted["meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        meetings,
        vec![first.as_str(), second.as_str()],
        "{relisted}"
    );
    for meeting in [&first, &second] {
        let (_, body) = read(&app, &format!("/v1/meetings/{meeting}"), &chair).await;
        let on_agenda: Vec<&str> = body["agenda"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["case_id"].as_str().unwrap())
            .collect();
        assert_eq!(on_agenda, vec![id.as_str()], "meeting {meeting}: {body}");
    }
    let last = steps(&app, &chair, &id).await.split_off(3);
    assert_eq!(
        last,
        vec![
            step("list_for_panel", Some("awaiting_panel"), "panel_listed"),
            step(
                "record_panel_decision",
                Some("panel_listed"),
                "awaiting_panel"
            ),
            step("list_for_panel", Some("awaiting_panel"), "panel_listed"),
        ],
        "the Channel history"
    );
}

#[tokio::test]
async fn a_child_cannot_consent_alone_and_a_guardians_consent_starts_support() {
    // Arrange: the subject of the contract's referral was born in 2010.
    let app = spawn_app().await;
    let chair = app.chair();
    let (id, v) = referred(&app, &referral_body()).await;
    let v = adopted(&app, &id, v).await;
    app.act_ok(&chair, &id, "record_support_plan", v, &support_plan())
        .await;
    let v = v + 1;

    let refusals = [
        (
            "the child's own consent",
            consent("given", "subject", None),
            "given_by",
            "guardian_consent_required",
        ),
        (
            "a guardian unnamed",
            consent("given", "parent_or_guardian", None),
            "given_by_name",
            "required",
        ),
    ];
    for (label, body, field, code) in refusals {
        // Act
        let response = app.act(&chair, &id, "record_consent", v, &body).await;

        // Assert
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{label}: {problem}");
        assert_eq!(problem["errors"][0]["code"], code, "{label}: {problem}");
    }
    let (_, unchanged) = read(&app, &format!("/v1/cases/{id}"), &chair).await;
    assert_eq!(
        (unchanged["state"].as_str(), unchanged["version"].as_i64()),
        (Some("consent_pending"), Some(v)),
        "refusals change nothing: {unchanged}"
    );

    let support = app
        .act_ok(
            &chair,
            &id,
            "record_consent",
            v,
            &consent("given", "parent_or_guardian", Some("Alex Taylor")),
        )
        .await;
    assert_eq!(support["state"], "support", "{support}");
    assert_eq!(
        support["consent"]["given_by"], "parent_or_guardian",
        "{support}"
    );
    assert_eq!(
        support["consent"]["given_by_name"], "Alex Taylor",
        "{support}"
    );
}

#[tokio::test]
async fn panel_members_see_and_add_to_only_the_cases_on_their_panels_agendas() {
    // Arrange: two panels of the area; a case on each, and one on neither.
    let app = spawn_app().await;
    let chair = app.chair();
    let (_, meeting) = panel_with_meeting(&app).await;
    let probation_panel = create_panel(
        &app,
        &chair,
        &json!({"name": "Leeds Youth Channel Panel", "members": [
            member("Chris Chair", "local_authority", CHAIR_EMAIL, "chair"),
            member("Olly Probation", "probation", PROBATION_EMAIL, "member"),
        ]}),
    )
    .await;
    let other_meeting = schedule(
        &app,
        &chair,
        probation_panel["id"].as_str().unwrap(),
        &ten_am(10),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ours, v) = adult_awaiting_panel(&app).await;
    list(&app, &ours, v, &meeting).await;
    let (theirs, w) = adult_awaiting_panel(&app).await;
    list(&app, &theirs, w, &other_meeting).await;
    let (unlisted, _) = adult_awaiting_panel(&app).await;
    let hana = member_token(&app, "member-1", HEALTH_EMAIL);
    let olly = member_token(&app, "member-3", PROBATION_EMAIL);

    // A member sees the case on their agenda, without police-only material.
    let (status, seen) = read(&app, &format!("/v1/cases/{ours}"), &hana).await;
    assert_eq!(status, 200, "the member reads the listed case: {seen}");
    assert_eq!(seen["state"], "panel_listed", "{seen}");
    assert!(seen["referral"].is_object(), "the full view: {seen}");
    assert!(
        seen.get("deconfliction").is_none(),
        "no deconfliction key for a panel member: {seen}"
    );
    let (_, police) = read(&app, &format!("/v1/cases/{ours}"), &app.officer()).await;
    assert!(
        police["deconfliction"].is_object(),
        "the officer does see it: {police}"
    );

    // They add their agency's contribution, which the chair then sees.
    let note = app
        .post_json(
            &format!("/v1/cases/{ours}/notes"),
            &hana,
            &json!({"body": "Known to the community mental health team."}),
        )
        .await;
    let (status, note) = status_and_body(note).await;
    assert_eq!(status, 201, "adding a note: {note}");
    assert_eq!(note["agency"], "health", "the membership's agency: {note}");
    assert_eq!(note["author"], "member-1", "{note}");
    let (_, chairs) = read(&app, &format!("/v1/cases/{ours}"), &chair).await;
    let notes = chairs["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{chairs}");
    assert_eq!(notes[0]["id"], note["id"], "{chairs}");
    assert_eq!(notes[0]["agency"], "health", "{chairs}");
    assert_eq!(
        notes[0]["body"], "Known to the community mental health team.",
        "{chairs}"
    );

    // What they may not see answers 404, reading or writing.
    let hidden = [
        ("a member of another panel reads", &olly, &ours),
        ("a member reads another panel's case", &hana, &theirs),
        ("a member reads an unlisted case", &hana, &unlisted),
    ];
    for (label, token, id) in hidden {
        let (status, body) = read(&app, &format!("/v1/cases/{id}"), token).await;
        assert_eq!(status, 404, "{label}: {body}");
        let writing = app
            .post_json(
                &format!("/v1/cases/{id}/notes"),
                token,
                &json!({"body": "Not mine to add."}),
            )
            .await;
        assert_eq!(writing.status().as_u16(), 404, "{label}: adding a note");
        assert_problem(writing, 404, "not_found").await;
    }

    // The list holds exactly their agenda's case.
    assert_eq!(
        listed(&app, "/v1/cases", &hana).await,
        vec![ours.clone()],
        "the health member's list"
    );
    assert_eq!(
        listed(&app, "/v1/cases", &olly).await,
        vec![theirs.clone()],
        "the probation member's list"
    );

    // Members do not act on cases.
    let acting = app
        .act(&hana, &ours, "record_panel_decision", v + 1, &adopt())
        .await;
    assert_eq!(acting.status().as_u16(), 403, "a member records a decision");
    assert_problem(acting, 403, "role_not_allowed").await;
    let (_, after) = read(&app, &format!("/v1/cases/{ours}"), &chair).await;
    assert_eq!(after["state"], "panel_listed", "nothing changed: {after}");
    assert_eq!(after["version"], v + 1, "nothing changed: {after}");
}

#[tokio::test]
async fn a_case_is_listed_only_for_its_areas_meetings_and_once_per_meeting() {
    // Arrange
    let app = spawn_app().await;
    let chair = app.chair();
    let (_, meeting) = panel_with_meeting(&app).await;
    let other_chair = app.token("chair-2", &["channel_chair"], OTHER_AREA);
    let other_panel = create_panel(&app, &other_chair, &panel_body("Bradford Channel Panel")).await;
    let elsewhere = schedule(
        &app,
        &other_chair,
        other_panel["id"].as_str().unwrap(),
        &ten_am(7),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (id, v) = app.case_in("awaiting_panel").await;

    for (label, meeting_id) in [
        ("another area's meeting", elsewhere.clone()),
        ("no such meeting", uuid::Uuid::new_v4().to_string()),
    ] {
        // Act
        let response = app
            .act(
                &chair,
                &id,
                "list_for_panel",
                v,
                &json!({"meeting_id": meeting_id}),
            )
            .await;

        // Assert
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"][0]["field"], "meeting_id",
            "{label}: {problem}"
        );
        assert_eq!(
            problem["errors"][0]["code"], "unknown_meeting",
            "{label}: {problem}"
        );
    }
    let (_, agenda) = read(&app, &format!("/v1/meetings/{elsewhere}"), &other_chair).await;
    assert_eq!(
        agenda["agenda"],
        json!([]),
        "nothing listed elsewhere: {agenda}"
    );

    // The same meeting twice, after a deferral.
    list(&app, &id, v, &meeting).await;
    app.act_ok(&chair, &id, "record_panel_decision", v + 1, &defer())
        .await;
    let twice = app
        .act(
            &chair,
            &id,
            "list_for_panel",
            v + 2,
            &json!({"meeting_id": meeting}),
        )
        .await;
    let problem = assert_problem(twice, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "already_listed", "{problem}");
    let (_, case) = read(&app, &format!("/v1/cases/{id}"), &chair).await;
    assert_eq!(
        (case["state"].as_str(), case["version"].as_i64()),
        (Some("awaiting_panel"), Some(v + 2)),
        "refusals change nothing: {case}"
    );
}

#[tokio::test]
async fn a_chair_sees_cases_waiting_too_long_for_a_panel_oldest_first() {
    // Arrange: listing is due at once; two cases referred in the reverse of their filing
    // order, and a third already listed for a meeting.
    let app = spawn_app_with(|s| s.pathway.panel_listing_days = 0).await;
    let officer = app.officer();
    let (filed_first, a) = app.case_in("screening").await;
    let (filed_second, b) = app.case_in("screening").await;
    for (id, version) in [(&filed_second, b), (&filed_first, a)] {
        app.act_ok(
            &officer,
            id,
            "refer_to_channel",
            version,
            &threshold("vulnerable_to_radicalisation"),
        )
        .await;
    }
    let (listed_case, v) = app.case_in("awaiting_panel").await;
    let (_, meeting) = panel_with_meeting(&app).await;
    list(&app, &listed_case, v, &meeting).await;

    // Act
    let (status, page) = read(&app, "/v1/cases?overdue=true", &app.chair()).await;

    // Assert
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![filed_second.as_str(), filed_first.as_str()],
        "overdue for listing, oldest due first; the listed case is not late: {page}"
    );
    for item in items {
        assert_eq!(item["state"], "awaiting_panel", "{item}");
        assert_eq!(item["due"]["kind"], "panel_listing", "{item}");
        assert_eq!(item["due"]["overdue"], true, "{item}");
    }
}
