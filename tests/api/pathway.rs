//! The screening half of the pathway through `POST /v1/cases/{id}/actions/{action}`.

use pathway::domain::access::{CaseAccess, acting_roles, view_of};
use pathway::domain::pathway::{Action, Refusal, State, transition};
use pathway::domain::{Actor, Area, Role};
use serde_json::{Value, json};

use crate::helpers::{
    AREA, REFERRER, TestApp, assert_problem, signpost_body, spawn_app, threshold,
};

async fn case(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/v1/cases/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap()
}

async fn history(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let body: Value = app
        .get(&format!("/v1/cases/{id}/history"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_referral_is_screened_and_closed_with_no_further_action() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (id, _) = app.case_in("submitted").await;
    let screening = app
        .act(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    assert_eq!(screening.headers()["etag"], "\"2\"");
    let screening: Value = screening.json().await.unwrap();
    assert_eq!(screening["state"], "screening");
    assert_eq!(
        screening["due"]["kind"], "screening",
        "the assessment clock runs from submission"
    );
    app.act_ok(
        &officer,
        &id,
        "record_deconfliction",
        2,
        &json!({"result": "clear"}),
    )
    .await;
    let closed = app
        .act_ok(
            &officer,
            &id,
            "close_no_further_action",
            3,
            &threshold("no_prevent_concern"),
        )
        .await;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["outcome"], "no_further_action");
    assert_eq!(closed["due"], Value::Null);
    assert_eq!(closed["version"], 4);

    let entries = history(&app, &officer, &id).await;
    let steps: Vec<(&str, Option<&str>, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["from_state"].as_str(),
                e["to_state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("submit_referral", None, "submitted"),
            ("begin_screening", Some("submitted"), "screening"),
            ("record_deconfliction", Some("screening"), "screening"),
            ("close_no_further_action", Some("screening"), "closed"),
        ]
    );
    let last = entries.last().unwrap();
    assert_eq!(last["actor"], "officer-1");
    assert_eq!(last["reason_code"], "no_prevent_concern");
    assert_eq!(
        last["rationale"],
        "Rationale recorded by the assessing officer."
    );
    assert_eq!(entries[0]["actor"], REFERRER);

    let auditor = app.token("auditor-1", &["auditor"], AREA);
    let audit: Value = app
        .get(&format!("/v1/audit?case_id={id}"), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "case.submit",
        "case.action.begin_screening",
        "case.action.close_no_further_action",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} audited: {actions:?}"
        );
    }
    // Deconfliction is police-only material: audited, but not shown to an auditor.
    assert!(
        !actions.contains(&"case.action.record_deconfliction"),
        "{actions:?}"
    );
    assert!(
        app.audit_actions_in_database(&id)
            .contains(&"case.action.record_deconfliction".to_owned())
    );
    let report: Value = app
        .get("/v1/audit/verify", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["intact"], true);
}

#[tokio::test]
async fn signposted_to_mental_health_and_closed_once_every_onward_referral_is_answered() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (id, version) = app.case_in("screening").await;
    let mut body = signpost_body();
    body["onward_referrals"]
        .as_array_mut()
        .unwrap()
        .push(json!({"service_type": "early_help", "organisation": "Leeds Early Help Hub", "reason": "Family support."}));
    let case = app.act_ok(&officer, &id, "signpost", version, &body).await;
    assert_eq!(case["state"], "onward_referral");
    assert_eq!(case["due"]["kind"], "onward_acknowledgement");
    let onward = case["onward_referrals"].as_array().unwrap();
    assert_eq!(onward.len(), 2);
    assert!(onward.iter().all(|o| o["status"] == "pending"));
    let (first, second) = (
        onward[0]["id"].as_str().unwrap(),
        onward[1]["id"].as_str().unwrap(),
    );

    let outcome = |id: &str, outcome: &str| json!({"onward_referral_id": id, "outcome": outcome, "note": "Reply received."});
    let case = app
        .act_ok(
            &officer,
            &id,
            "record_onward_outcome",
            version + 1,
            &outcome(first, "acknowledged"),
        )
        .await;
    assert_eq!(case["state"], "onward_referral", "one still pending");
    let again = app
        .act(
            &officer,
            &id,
            "record_onward_outcome",
            version + 2,
            &outcome(first, "declined"),
        )
        .await;
    let problem = assert_problem(again, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "onward_referral_id");
    let stranger = app
        .act(
            &officer,
            &id,
            "record_onward_outcome",
            version + 2,
            &outcome(&uuid::Uuid::new_v4().to_string(), "declined"),
        )
        .await;
    assert_problem(stranger, 422, "validation_failed").await;

    // The chair cannot see a case that was never referred to Channel, so cannot answer for it.
    let chair = app
        .act(
            &app.chair(),
            &id,
            "record_onward_outcome",
            version + 2,
            &outcome(second, "declined"),
        )
        .await;
    assert_problem(chair, 404, "not_found").await;

    let case = app
        .act_ok(
            &officer,
            &id,
            "record_onward_outcome",
            version + 2,
            &outcome(second, "declined"),
        )
        .await;
    assert_eq!(case["state"], "closed");
    assert_eq!(case["outcome"], "signposted");
    let statuses: Vec<&str> = case["onward_referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["acknowledged", "declined"]);
}

#[tokio::test]
async fn a_police_managed_case_is_closed_or_referred_to_channel() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (closing, v) = app.case_in("police_managed").await;
    let closed = app
        .act_ok(&officer, &closing, "close", v, &threshold("risk_reduced"))
        .await;
    assert_eq!(
        (closed["state"].as_str(), closed["outcome"].as_str()),
        (Some("closed"), Some("police_closed"))
    );

    let (referring, v) = app.case_in("police_managed").await;
    assert_problem(
        app.get(&format!("/v1/cases/{referring}"), Some(&app.chair()))
            .await,
        404,
        "not_found",
    )
    .await;
    let referred = app
        .act_ok(
            &officer,
            &referring,
            "refer_to_channel",
            v,
            &threshold("repeat_concern"),
        )
        .await;
    assert_eq!(referred["state"], "awaiting_panel");
    assert_eq!(referred["due"]["kind"], "panel_listing");
    assert!(referred["referred_to_channel_at"].is_string());
    let seen_by_chair = case(&app, &app.chair(), &referring).await;
    assert_eq!(
        seen_by_chair["state"], "awaiting_panel",
        "the chair now sees it"
    );
}

#[tokio::test]
async fn a_transfer_to_pursue_is_terminal() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (id, version) = app.case_in("transferred_to_pursue").await;
    for action in [
        "close",
        "refer_to_channel",
        "begin_screening",
        "close_no_further_action",
    ] {
        let problem = assert_problem(
            app.act(&officer, &id, action, version, &threshold("other"))
                .await,
            409,
            "invalid_transition",
        )
        .await;
        assert_eq!(problem["allowed_actions"], json!([]), "{action}");
        assert_eq!(problem["state"], "transferred_to_pursue");
    }
}

#[tokio::test]
async fn if_match_is_required_and_must_name_the_current_version() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (id, _) = app.case_in("submitted").await;
    let url = app.url(&format!("/v1/cases/{id}/actions/begin_screening"));
    let missing = app
        .client
        .post(&url)
        .bearer_auth(&officer)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, 428, "precondition_required").await;
    let garbage = app
        .client
        .post(&url)
        .bearer_auth(&officer)
        .header("if-match", "W/\"x\"")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(garbage, 400, "invalid_if_match").await;
    let stale = assert_problem(
        app.act(&officer, &id, "begin_screening", 7, &json!({}))
            .await,
        412,
        "version_mismatch",
    )
    .await;
    assert_eq!(stale["current_version"], 1);
    let unquoted = app
        .client
        .post(&url)
        .bearer_auth(&officer)
        .header("if-match", "1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unquoted.status().as_u16(), 200);
}

#[tokio::test]
async fn two_officers_acting_on_one_version_exactly_one_wins() {
    let app = spawn_app().await;
    let (id, version) = app.case_in("screening").await;
    let officers: Vec<String> = (0..6)
        .map(|i| app.token(&format!("officer-{i}"), &["prevent_officer"], AREA))
        .collect();
    let decisions = [
        ("close_no_further_action", threshold("no_prevent_concern")),
        (
            "refer_to_channel",
            threshold("vulnerable_to_radicalisation"),
        ),
        (
            "manage_by_police",
            threshold("risk_requires_police_management"),
        ),
    ];
    let attempts = officers.iter().enumerate().map(|(i, token)| {
        let (action, body) = &decisions[i % decisions.len()];
        app.act(token, &id, action, version, body)
    });
    let mut statuses = Vec::new();
    for r in futures_util::future::join_all(attempts).await {
        let status = r.status().as_u16();
        if status != 200 {
            assert_problem(r, 412, "version_mismatch").await;
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let entries = history(&app, &app.officer(), &id).await;
    assert_eq!(
        entries.len(),
        3,
        "submit, begin_screening and the one decision"
    );
}

#[tokio::test]
async fn action_bodies_are_checked_after_the_state_and_role() {
    let app = spawn_app().await;
    let officer = app.officer();
    let (id, v) = app.case_in("screening").await;
    let cases: Vec<(&str, Value, u16, &str, Option<&str>)> = vec![
        (
            "close_no_further_action",
            json!({"rationale": "A rationale long enough."}),
            422,
            "validation_failed",
            Some("reason_code"),
        ),
        (
            "close_no_further_action",
            json!({"reason_code": "bored", "rationale": "A rationale long enough."}),
            422,
            "validation_failed",
            Some("reason_code"),
        ),
        (
            "close_no_further_action",
            json!({"reason_code": "no_prevent_concern"}),
            422,
            "validation_failed",
            Some("rationale"),
        ),
        (
            "close_no_further_action",
            json!({"reason_code": "no_prevent_concern", "rationale": "Long enough here.", "extra": 1}),
            422,
            "validation_failed",
            Some("extra"),
        ),
        (
            "signpost",
            json!({"reason_code": "other_needs_primary", "rationale": "Long enough here."}),
            422,
            "validation_failed",
            Some("onward_referrals"),
        ),
        (
            "record_deconfliction",
            json!({"result": "maybe"}),
            422,
            "validation_failed",
            Some("result"),
        ),
        (
            "begin_screening",
            json!({"reason_code": "other"}),
            409,
            "invalid_transition",
            None,
        ),
        ("no_such_action", json!({}), 404, "not_found", None),
    ];
    for (action, body, status, code, field) in cases {
        let problem =
            assert_problem(app.act(&officer, &id, action, v, &body).await, status, code).await;
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{action}: {problem}");
        }
    }
    assert_eq!(
        case(&app, &officer, &id).await["version"],
        v,
        "nothing refused changed the case"
    );
    let referrer = app
        .act(
            &app.referrer(),
            &id,
            "close_no_further_action",
            v,
            &json!({}),
        )
        .await;
    assert_problem(referrer, 403, "role_not_allowed").await;
}

#[tokio::test]
async fn the_actions_endpoint_says_what_this_user_may_do_now() {
    let app = spawn_app().await;
    let (id, version) = app.case_in("screening").await;
    let body: Value = app
        .get(&format!("/v1/cases/{id}/actions"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "screening");
    assert_eq!(body["version"], version);
    let names: Vec<&str> = body["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "record_deconfliction",
            "close_no_further_action",
            "signpost",
            "refer_to_channel",
            "manage_by_police",
            "transfer_to_pursue",
            "close",
            "correct_details"
        ]
    );
    let close = &body["actions"][1];
    assert_eq!(close["next_states"], json!(["closed"]));
    let reason = close["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "reason_code")
        .unwrap();
    assert_eq!(reason["required"], true);
    assert!(
        reason["values"]
            .as_array()
            .unwrap()
            .contains(&json!("no_prevent_concern"))
    );

    let body: Value = app
        .get(
            &format!("/v1/cases/{id}/actions"),
            Some(&app.token("auditor-1", &["auditor"], AREA)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["actions"], json!([]), "sees the case, may do nothing");
    // A referrer sees only a coarse status; the actions would name the state.
    assert_problem(
        app.get(&format!("/v1/cases/{id}/actions"), Some(&app.referrer()))
            .await,
        403,
        "role_not_allowed",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/cases/{id}/actions"), Some(&app.chair()))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn listing_for_a_panel_needs_a_meeting() {
    let app = spawn_app().await;
    let (id, version) = app.case_in("awaiting_panel").await;
    let chair = app.chair();
    let actions: Value = app
        .get(&format!("/v1/cases/{id}/actions"), Some(&chair))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(actions["actions"][0]["action"], "list_for_panel");
    assert_eq!(actions["actions"][0]["fields"][0]["name"], "meeting_id");
    let problem = assert_problem(
        app.act(&chair, &id, "list_for_panel", version, &json!({}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "meeting_id");
    assert_eq!(case(&app, &chair, &id).await["version"], version);
}

/// The actor a role's token stands for in the walk below (the referrer is the filer).
fn actor_of(role: Role) -> Actor {
    Actor {
        sub: if role == Role::Referrer {
            REFERRER.into()
        } else {
            format!("{role}-walker")
        },
        name: "Walker".into(),
        email: "walker@example.org".into(),
        roles: [role].into(),
        area: Area::parse(AREA).unwrap(),
        org: None,
    }
}

/// A body that is valid for `action` on the case `id` (onward outcomes need its referral id).
async fn valid_body(app: &TestApp, action: Action, id: &str) -> Value {
    match action {
        Action::BeginScreening => json!({}),
        Action::RecordDeconfliction => json!({"result": "clear"}),
        Action::Signpost => signpost_body(),
        Action::RecordOnwardOutcome => {
            let c = case(app, &app.officer(), id).await;
            json!({"onward_referral_id": c["onward_referrals"][0]["id"], "outcome": "acknowledged"})
        }
        Action::ListForPanel => json!({"meeting_id": app.meeting().await}),
        Action::RecordPanelDecision => {
            json!({"decision": "adopt", "reason_code": "vulnerability_identified",
            "rationale": "Vulnerable to radicalisation.", "how_reached": "unanimous"})
        }
        Action::RecordSupportPlan => {
            json!({"interventions": [{"type": "mental_health", "provider": "CAMHS",
            "frequency": "fortnightly", "start_date": chrono::Utc::now().format("%Y-%m-%d").to_string()}]})
        }
        Action::RecordConsent => json!({"decision": "refused", "given_by": "subject",
            "decided_on": chrono::Utc::now().format("%Y-%m-%d").to_string(), "how_sought": "phone"}),
        Action::Reassess => {
            json!({"outcome": "seek_consent", "reason_code": "consent_now_likely", "rationale": "Family now supportive."})
        }
        Action::RecordReview => json!({"summary": "Attending mentoring; engaging well."}),
        Action::WithdrawConsent => json!({"rationale": "Withdrew consent at the review meeting."}),
        Action::RecordPostExitReview => {
            json!({"review": "six_month", "new_concern": false, "rationale": "No concern six months on."})
        }
        Action::CorrectDetails => json!({"reason": "The school was recorded wrongly.",
            "subject": {"school_or_employer": "Leeds College"}}),
        other => {
            let code = pathway::domain::actions::reason_codes(other)
                .first()
                .copied()
                .unwrap_or("other");
            threshold(code)
        }
    }
}

/// Every (state, action, role) triple over HTTP, in all twelve states: allowed triples
/// move the case, the rest are refused with 404 (cannot see it), 403 (role may never
/// take the action) or 409 (listing what is allowed).
#[tokio::test]
async fn every_state_action_role_triple_is_allowed_or_refused_over_http() {
    let app = spawn_app().await;
    let reachable = [
        "submitted",
        "screening",
        "onward_referral",
        "awaiting_panel",
        "police_managed",
        "transferred_to_pursue",
        "closed",
    ];
    for state_name in reachable {
        let state = State::parse(state_name).unwrap();
        let (shared, version) = app.case_in(state_name).await;
        let referred = !matches!(
            state,
            State::Submitted
                | State::Screening
                | State::PoliceManaged
                | State::TransferredToPursue
                | State::Closed
                | State::OnwardReferral
        );
        for role in Role::ALL {
            let actor = actor_of(role);
            let token = app.token(&actor.sub, &[role.as_str()], AREA);
            let view = view_of(
                &actor,
                &CaseAccess {
                    area: AREA,
                    state,
                    referrer_sub: REFERRER,
                    referred_to_channel: referred,
                    on_actors_agenda: false,
                },
            );
            for action in Action::ALL {
                let why = format!("{state_name} × {action} × {role}");
                let expected =
                    view.map(|v| transition(state, action, &acting_roles(&actor, Some(v))));
                match expected {
                    None => {
                        let r = app
                            .act(&token, &shared, action.as_str(), version, &json!({}))
                            .await;
                        assert_eq!(r.status().as_u16(), 404, "{why}");
                    }
                    Some(Err(Refusal::RoleNotAllowed)) => {
                        let r = app
                            .act(&token, &shared, action.as_str(), version, &json!({}))
                            .await;
                        assert_eq!(r.status().as_u16(), 403, "{why}");
                        assert_problem(r, 403, "role_not_allowed").await;
                    }
                    Some(Err(Refusal::InvalidTransition { allowed })) => {
                        let r = app
                            .act(&token, &shared, action.as_str(), version, &json!({}))
                            .await;
                        assert_eq!(r.status().as_u16(), 409, "{why}");
                        let problem = assert_problem(r, 409, "invalid_transition").await;
                        let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
                        assert_eq!(problem["allowed_actions"], json!(names), "{why}");
                    }
                    Some(Ok(row)) => {
                        // Allowed: a fresh case in this state, so the shared one stays put.
                        let (fresh, v) = app.case_in(state_name).await;
                        let body = valid_body(&app, action, &fresh).await;
                        let r = app.act(&token, &fresh, action.as_str(), v, &body).await;
                        let status = r.status().as_u16();
                        let after: Value = r.json().await.unwrap();
                        assert_eq!(status, 200, "{why}: {after}");
                        let to = State::parse(after["state"].as_str().unwrap()).unwrap();
                        assert!(row.to.contains(&to), "{why}: moved to {to}");
                        assert_eq!(after["version"], v + 1, "{why}");
                    }
                }
            }
        }
        assert_eq!(
            case(&app, &app.officer(), &shared).await["version"],
            version,
            "{state_name}: refusals change nothing"
        );
    }
}
