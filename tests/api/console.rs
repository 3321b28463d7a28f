//! The web console over HTTP: sign-in and sessions, CSRF, role and need-to-know refusals,
//! the generated action forms, and that every page view of case data is audited.

use serde_json::{Value, json};

use crate::helpers::{
    AREA, CHAIR, OFFICER, OTHER_AREA, TestApp, referral_about, spawn_app, spawn_app_with, threshold,
};

/// A browser: one session cookie, sent back by hand (redirects are not followed, so
/// that each answer can be looked at).
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
}

/// Every GET page behind sign-in, with a record id where the route has one.
pub fn pages(case_id: &str, meeting_id: &str) -> Vec<String> {
    vec![
        "/console/".to_owned(),
        "/console/cases".to_owned(),
        format!("/console/cases/{case_id}"),
        "/console/meetings".to_owned(),
        format!("/console/meetings/{meeting_id}"),
        "/console/audit".to_owned(),
        "/console/audit/verify".to_owned(),
        "/console/statistics".to_owned(),
        "/console/retention".to_owned(),
    ]
}

/// The value of the first `name="csrf_token"` field of a page.
pub fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf_token" value="([^"]+)""#).unwrap();
    re.captures(html)
        .map(|c| c[1].to_owned())
        .expect("a CSRF token on the page")
}

/// The version a case page's action forms carry.
pub fn version_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="version" value="([0-9]+)""#).unwrap();
    re.captures(html)
        .map(|c| c[1].to_owned())
        .expect("a version on the page")
}

impl<'a> Browser<'a> {
    /// Signs in through the development sign-in page.
    pub async fn sign_in(app: &'a TestApp, sub: &str, roles: &[&str], area: &str) -> Browser<'a> {
        Self::sign_in_as(app, sub, &format!("{sub}@example.org"), roles, area).await
    }

    /// Signs in with an email of its own (panel membership goes by email).
    pub async fn sign_in_as(
        app: &'a TestApp,
        sub: &str,
        email: &str,
        roles: &[&str],
        area: &str,
    ) -> Browser<'a> {
        let mut form: Vec<(&str, &str)> = vec![
            ("user", sub),
            ("name", "Test Person"),
            ("email", email),
            ("area", area),
        ];
        for r in roles {
            form.push(("roles", r));
        }
        let response = app
            .client
            .post(app.url("/console/sign-in"))
            .form(&form)
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status().as_u16(), 303, "signing in");
        assert_eq!(response.headers()["location"], "/console/");
        let set = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        Browser {
            app,
            cookie: Some(cookie),
        }
    }

    pub fn anonymous(app: &'a TestApp) -> Browser<'a> {
        Browser { app, cookie: None }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut req = self.app.client.get(self.app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        req.send().await.expect("request")
    }

    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.app.client.post(self.app.url(path)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        req.send().await.expect("request")
    }

    /// Posts `form` and follows a 303 to its page; answers the final status and HTML.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.post(path, form).await;
        if response.status().as_u16() == 303 {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            return self.page(&location).await;
        }
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }
}

async fn state_of(app: &TestApp, id: &str) -> (String, i64) {
    let case: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.chair()))
        .await
        .json()
        .await
        .unwrap();
    (
        case["state"].as_str().unwrap().to_owned(),
        case["version"].as_i64().unwrap(),
    )
}

async fn reference_of(app: &TestApp, id: &str) -> String {
    let case: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.chair()))
        .await
        .json()
        .await
        .unwrap();
    case["reference"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_development_sign_in_starts_a_session_with_a_strict_cookie() {
    let app = spawn_app().await;
    let (status, html) = Browser::anonymous(&app).page("/console/sign-in").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<title>Sign in – pathway – GOV.UK</title>"),
        "{html}"
    );

    let response = app
        .client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("user", "chair-1"),
            ("name", "Chris Chair"),
            ("email", "chair-1@example.org"),
            ("area", AREA),
            ("roles", "channel_chair"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    // Local http: no `Secure`, so no `__Host-` prefix either.
    assert!(cookie.starts_with("pathway-session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");

    let browser = Browser {
        app: &app,
        cookie: Some(cookie.split(';').next().unwrap().to_owned()),
    };
    // The database holds the id's SHA-256 only, with the actor's claims.
    {
        use diesel::prelude::*;
        use pathway::store::schema::console_sessions;
        use sha2::Digest as _;
        let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
        let rows: Vec<(String, String)> = console_sessions::table
            .select((console_sessions::id_hash, console_sessions::claims))
            .load(&mut app.db.connect())
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, hex::encode(sha2::Sha256::digest(id.as_bytes())));
        assert!(!rows[0].1.contains(id));
        let claims: Value = serde_json::from_str(&rows[0].1).unwrap();
        assert_eq!(claims["roles"], json!(["channel_chair"]));
        assert_eq!(claims["area"], AREA);
    }
    let response = browser.get("/console/").await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("href=\"/console/cases\""),
        "a chair's start page links to cases"
    );
    assert!(
        !html.contains("href=\"/console/audit\""),
        "but not to the audit log"
    );
    assert!(html.contains("Start – pathway – GOV.UK"));
    assert!(!html.contains("<script"), "no script on any page");

    // A bad area is a field error, the GOV.UK way, and signs no one in.
    let response = app
        .client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("user", "x"),
            ("name", "X"),
            ("email", "x@example.org"),
            ("area", "Leeds"),
            ("roles", "auditor"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert!(response.headers().get("set-cookie").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Error: Sign in"), "{html}");
    assert!(html.contains("href=\"#area\""), "{html}");
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let app =
        spawn_app_with(|s| s.server.public_url = Some("https://pathway.example.gov.uk".into()))
            .await;
    let response = app
        .client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("user", "a-1"),
            ("name", "A"),
            ("email", "a-1@example.org"),
            ("area", AREA),
            ("roles", "auditor"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-pathway-session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("Path=/") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn the_development_sign_in_is_refused_in_production() {
    let app = spawn_app_with(|s| {
        // Production never generates keys: make them while the settings are local.
        let fresh = pathway::store::trust::KeyGeneration::Allowed;
        pathway::store::trust::AuditTrust::load(s, fresh).expect("audit keys");
        pathway::store::vault::Vault::load(s, fresh).expect("vault key");
        s.environment = pathway::config::Environment::Production;
    })
    .await;
    let (status, html) = Browser::anonymous(&app).page("/console/sign-in").await;
    assert_eq!(status, 403);
    assert!(
        html.contains("Development sign-in is not available"),
        "{html}"
    );
    let response = app
        .client
        .post(app.url("/console/sign-in"))
        .form(&[
            ("user", "a-1"),
            ("name", "A"),
            ("email", "a-1@example.org"),
            ("area", AREA),
            ("roles", "auditor"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn every_page_sends_an_anonymous_request_to_sign_in() {
    let app = spawn_app().await;
    let anonymous = Browser::anonymous(&app);
    let id = uuid::Uuid::new_v4().to_string();
    for path in pages(&id, &id) {
        let response = anonymous.get(&path).await;
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/console/sign-in", "{path}");
    }
    for path in [
        format!("/console/cases/{id}/actions/list_for_panel"),
        format!("/console/cases/{id}/notes"),
        "/console/sign-out".to_owned(),
    ] {
        let response = anonymous.post(&path, &[("csrf_token", "x")]).await;
        assert_eq!(response.status().as_u16(), 303, "{path}");
    }
    // A cookie naming no session is the same as none.
    let forged = Browser {
        app: &app,
        cookie: Some("pathway-session=made-up".into()),
    };
    assert_eq!(forged.get("/console/").await.status().as_u16(), 303);
}

#[tokio::test]
async fn each_page_refuses_the_roles_that_may_not_see_it() {
    let app = spawn_app().await;
    let meeting = app.meeting().await;
    let (case, _) = app.case_in("awaiting_panel").await;
    let pages = pages(&case, &meeting);
    // (roles, the pages among `pages` they may open)
    let table: [(&str, &[&str], &[usize]); 5] = [
        ("referrer-1", &["referrer"], &[0]),
        ("officer-9", &["prevent_officer"], &[0]),
        ("chair-1", &["channel_chair"], &[0, 1, 2, 3, 4]),
        ("auditor-1", &["auditor"], &[0, 2, 5, 6, 7]),
        ("records-1", &["records_officer"], &[0, 8]),
    ];
    for (sub, roles, allowed) in table {
        let browser = Browser::sign_in(&app, sub, roles, AREA).await;
        for (i, path) in pages.iter().enumerate() {
            let (status, html) = browser.page(path).await;
            if allowed.contains(&i) {
                assert_eq!(status, 200, "{roles:?} {path}: {html}");
            } else {
                assert_eq!(status, 403, "{roles:?} {path}");
                assert!(
                    html.contains("You do not have access to this page"),
                    "{html}"
                );
                assert!(html.contains("govuk-template"), "a GOV.UK page");
            }
        }
        let csrf = csrf_of(&browser.page("/console/").await.1);
        let response = browser
            .post(
                &format!("/console/cases/{case}/actions/list_for_panel"),
                &[
                    ("csrf_token", &csrf),
                    ("version", "1"),
                    ("meeting_id", &meeting),
                ],
            )
            .await;
        // Only a chair may post an action (this one is stale, so it changes nothing).
        let expected = if roles == ["channel_chair"] { 409 } else { 403 };
        assert_eq!(response.status().as_u16(), expected, "{roles:?} acting");
        // Only a panel member may post a note.
        let response = browser
            .post(
                &format!("/console/cases/{case}/notes"),
                &[("csrf_token", &csrf), ("body", "A contribution.")],
            )
            .await;
        assert_eq!(response.status().as_u16(), 403, "{roles:?} adding a note");
    }
    assert_eq!(
        state_of(&app, &case).await.0,
        "awaiting_panel",
        "no refused post changed it"
    );
}

#[tokio::test]
async fn a_chair_walks_a_case_through_the_panel_with_the_generated_forms() {
    let app = spawn_app().await;
    let meeting = app.meeting().await;
    let (id, _) = app.case_in("awaiting_panel").await;
    let reference = reference_of(&app, &id).await;
    let chair = Browser::sign_in(&app, CHAIR, &["channel_chair"], AREA).await;

    let (status, html) = chair.page("/console/cases").await;
    assert_eq!(status, 200);
    let awaiting = html
        .split("id=\"awaiting-panel\"")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    assert!(
        awaiting.contains(&reference),
        "listed as awaiting panel: {awaiting}"
    );

    let page = format!("/console/cases/{id}");
    let (status, html) = chair.page(&page).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("Case {reference} – pathway – GOV.UK")),
        "{html}"
    );
    // A form from ListForPanelRequest: its meeting is chosen from the chair's meetings.
    assert!(
        html.contains(&format!(
            "id=\"list_for_panel-meeting_id-0\" name=\"meeting_id\" type=\"radio\" value=\"{meeting}\""
        )),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let version = version_of(&html);

    let (status, html) = chair
        .submit(
            &format!("{page}/actions/list_for_panel"),
            &[
                ("csrf_token", &csrf),
                ("version", &version),
                ("meeting_id", &meeting),
            ],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Done: List for panel"), "{html}");
    assert_eq!(state_of(&app, &id).await.0, "panel_listed");

    // The decision form: radios for enums, a textarea for the rationale.
    assert!(
        html.contains("id=\"record_panel_decision-decision-0\""),
        "{html}"
    );
    assert!(
        html.contains("<textarea class=\"govuk-textarea\" id=\"record_panel_decision-rationale\""),
        "{html}"
    );
    let version = version_of(&html);
    let (status, html) = chair
        .submit(
            &format!("{page}/actions/record_panel_decision"),
            &[
                ("csrf_token", &csrf),
                ("version", &version),
                ("decision", "adopt"),
                ("reason_code", "vulnerability_identified"),
                (
                    "rationale",
                    "Vulnerable to radicalisation; support through Channel is appropriate.",
                ),
                ("how_reached", "unanimous"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(state_of(&app, &id).await.0, "consent_pending");

    let version = version_of(&html);
    let today = chrono::Utc::now().date_naive();
    let (day, month, year) = (
        today.format("%d").to_string(),
        today.format("%m").to_string(),
        today.format("%Y").to_string(),
    );
    let (status, html) = chair
        .submit(
            &format!("{page}/actions/record_consent"),
            &[
                ("csrf_token", &csrf),
                ("version", &version),
                ("decision", "refused"),
                ("given_by", "parent_or_guardian"),
                ("given_by_name", "Alex Taylor"),
                ("decided_on.day", &day),
                ("decided_on.month", &month),
                ("decided_on.year", &year),
                ("how_sought", "in_person"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(state_of(&app, &id).await.0, "consent_refused");
    // The history shows every step.
    let history = html.split("id=\"history\"").nth(1).unwrap();
    for step in ["List for panel", "Record panel decision", "Record consent"] {
        assert!(history.contains(step), "{step} in the history");
    }
}

#[tokio::test]
async fn a_form_without_the_right_csrf_token_or_from_another_origin_is_refused_and_changes_nothing()
{
    let app = spawn_app().await;
    let meeting = app.meeting().await;
    let (id, version) = app.case_in("awaiting_panel").await;
    let chair = Browser::sign_in(&app, CHAIR, &["channel_chair"], AREA).await;
    let html = chair.page(&format!("/console/cases/{id}")).await.1;
    let csrf = csrf_of(&html);
    let path = format!("/console/cases/{id}/actions/list_for_panel");
    let v = version.to_string();
    type Attempt<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);
    let cases: [Attempt; 4] = [
        (
            "no token",
            vec![("version", &v), ("meeting_id", &meeting)],
            None,
        ),
        (
            "a wrong token",
            vec![
                ("csrf_token", "not-the-token"),
                ("version", &v),
                ("meeting_id", &meeting),
            ],
            None,
        ),
        (
            "an empty token",
            vec![
                ("csrf_token", ""),
                ("version", &v),
                ("meeting_id", &meeting),
            ],
            None,
        ),
        (
            "another origin",
            vec![
                ("csrf_token", &csrf),
                ("version", &v),
                ("meeting_id", &meeting),
            ],
            Some("https://evil.example"),
        ),
    ];
    for (what, form, origin) in cases {
        let mut req = app
            .client
            .post(app.url(&path))
            .form(&form)
            .header("cookie", chair.cookie.clone().unwrap());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{what}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Your form could not be checked"),
            "{what}: {html}"
        );
        assert_eq!(
            state_of(&app, &id).await,
            ("awaiting_panel".to_owned(), version),
            "{what} changed nothing"
        );
    }
    // Sign-out is a form too.
    let response = chair
        .post("/console/sign-out", &[("csrf_token", "wrong")])
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        chair.get("/console/").await.status().as_u16(),
        200,
        "still signed in"
    );
}

#[tokio::test]
async fn a_stale_page_is_told_the_case_changed_and_changes_nothing() {
    let app = spawn_app().await;
    let meeting = app.meeting().await;
    let (id, _) = app.case_in("awaiting_panel").await;
    let chair = Browser::sign_in(&app, CHAIR, &["channel_chair"], AREA).await;
    let html = chair.page(&format!("/console/cases/{id}")).await.1;
    let (csrf, old_version) = (csrf_of(&html), version_of(&html));
    // Someone lists it meanwhile, through the API.
    let v: i64 = old_version.parse().unwrap();
    app.act_ok(
        &app.chair(),
        &id,
        "list_for_panel",
        v,
        &json!({"meeting_id": meeting}),
    )
    .await;
    let now = state_of(&app, &id).await;

    let (status, html) = chair
        .submit(
            &format!("/console/cases/{id}/actions/record_panel_decision"),
            &[
                ("csrf_token", &csrf),
                ("version", &old_version),
                ("decision", "defer"),
                ("reason_code", "more_information_needed"),
                (
                    "rationale",
                    "Waiting for the school's report before deciding.",
                ),
                ("how_reached", "unanimous"),
            ],
        )
        .await;
    assert_eq!(status, 409, "{html}");
    assert!(
        html.contains("This case has changed since you opened it"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "href=\"/console/cases/{id}\" class=\"govuk-link\" id=\"reload\""
        )),
        "{html}"
    );
    assert!(html.contains("<title>Error: "), "{html}");
    assert_eq!(state_of(&app, &id).await, now, "nothing changed");
}

#[tokio::test]
async fn field_errors_are_summarised_and_shown_beside_their_fields() {
    let app = spawn_app().await;
    let meeting = app.meeting().await;
    let (id, version) = app.case_in("awaiting_panel").await;
    app.act_ok(
        &app.chair(),
        &id,
        "list_for_panel",
        version,
        &json!({"meeting_id": meeting}),
    )
    .await;
    let chair = Browser::sign_in(&app, CHAIR, &["channel_chair"], AREA).await;
    let html = chair.page(&format!("/console/cases/{id}")).await.1;
    let (csrf, v) = (csrf_of(&html), version_of(&html));
    let before = state_of(&app, &id).await;
    let (status, html) = chair
        .submit(
            &format!("/console/cases/{id}/actions/record_panel_decision"),
            &[
                ("csrf_token", &csrf),
                ("version", &v),
                ("decision", "adopt"),
                ("reason_code", "vulnerability_identified"),
                ("how_reached", "unanimous"),
                ("rationale", "short"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("<title>Error: Case "), "{html}");
    assert!(html.contains("class=\"govuk-error-summary\""), "{html}");
    assert!(html.contains("role=\"alert\""));
    assert!(
        html.contains("href=\"#record_panel_decision-rationale\""),
        "the summary links to the field: {html}"
    );
    assert!(
        html.contains("id=\"record_panel_decision-rationale-error\""),
        "the message sits beside it: {html}"
    );
    // What was sent is kept.
    assert!(html.contains(">short</textarea>"), "{html}");
    assert!(html.contains("value=\"unanimous\" checked"), "{html}");

    // A choice left out links to its first radio.
    let (status, html) = chair
        .submit(
            &format!("/console/cases/{id}/actions/record_panel_decision"),
            &[
                ("csrf_token", &csrf),
                ("version", &v),
                ("decision", "adopt"),
                ("reason_code", "vulnerability_identified"),
                ("rationale", "A rationale long enough to be accepted."),
            ],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("href=\"#record_panel_decision-how_reached-0\""),
        "{html}"
    );
    assert!(
        html.contains("id=\"record_panel_decision-how_reached-error\""),
        "{html}"
    );
    assert_eq!(state_of(&app, &id).await, before);
}

#[tokio::test]
async fn a_chair_of_another_area_gets_404_for_a_case_page() {
    let app = spawn_app().await;
    let (id, _) = app.case_in("awaiting_panel").await;
    let other = Browser::sign_in(&app, "chair-2", &["channel_chair"], OTHER_AREA).await;
    let (status, html) = other.page(&format!("/console/cases/{id}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
    let (status, html) = other.page("/console/cases").await;
    assert_eq!(status, 200);
    assert!(!html.contains(&id));
    // Nor may it act on it.
    let csrf = csrf_of(&other.page("/console/").await.1);
    let response = other
        .post(
            &format!("/console/cases/{id}/actions/list_for_panel"),
            &[
                ("csrf_token", &csrf),
                ("version", "3"),
                ("meeting_id", &uuid::Uuid::new_v4().to_string()),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 404);
    // A malformed id is 404 too, not a 500.
    assert_eq!(other.page("/console/cases/not-a-uuid").await.0, 404);
}

#[tokio::test]
async fn a_panel_member_sees_the_agenda_adds_a_note_and_once_removed_sees_nothing() {
    let app = spawn_app().await;
    let chair_token = app.chair();
    let panel: Value = app
        .post_json(
            "/v1/panels",
            &chair_token,
            &json!({"name": "Leeds Channel Panel", "members": [
                {"name": "Chris Chair", "agency": "local_authority", "email": "chair-1@example.org", "panel_role": "chair"},
                {"name": "Sam Social", "agency": "health", "email": "sam.social@example.org", "panel_role": "member"}
            ]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let panel_id = panel["id"].as_str().unwrap_or_else(|| panic!("{panel}"));
    let member_id = panel["members"][1]["id"].as_str().unwrap();
    let when = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let meeting: Value = app
        .post_json(
            &format!("/v1/panels/{panel_id}/meetings"),
            &chair_token,
            &json!({"scheduled_for": when}),
        )
        .await
        .json()
        .await
        .unwrap();
    let meeting_id = meeting["id"].as_str().unwrap();
    let (id, version) = app.case_in("awaiting_panel").await;
    app.act_ok(
        &chair_token,
        &id,
        "list_for_panel",
        version,
        &json!({"meeting_id": meeting_id}),
    )
    .await;
    let reference = reference_of(&app, &id).await;

    let member = Browser::sign_in_as(
        &app,
        "member-1",
        "sam.social@example.org",
        &["panel_member"],
        AREA,
    )
    .await;
    let (status, html) = member.page("/console/cases").await;
    assert_eq!(status, 200);
    assert!(html.contains(&reference), "{html}");
    let (status, html) = member.page("/console/meetings").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("/console/meetings/{meeting_id}")),
        "{html}"
    );
    let (status, html) = member
        .page(&format!("/console/meetings/{meeting_id}"))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains(&reference));
    let (status, html) = member.page(&format!("/console/cases/{id}")).await;
    assert_eq!(status, 200);
    assert!(!html.contains("/actions/"), "a member has no action forms");
    let csrf = csrf_of(&html);
    let (status, html) = member
        .submit(
            &format!("/console/cases/{id}/notes"),
            &[
                ("csrf_token", &csrf),
                ("body", "Known to children's social care since 2025."),
            ],
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Known to children&#x27;s social care since 2025.")
            || html.contains("Known to children's social care since 2025."),
        "{html}"
    );
    // A note without the session's token is refused and adds nothing.
    let response = member
        .post(
            &format!("/console/cases/{id}/notes"),
            &[("csrf_token", "forged"), ("body", "FORGED-NOTE")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        !member
            .page(&format!("/console/cases/{id}"))
            .await
            .1
            .contains("FORGED-NOTE")
    );
    // An empty note is a field error.
    let (status, html) = member
        .submit(
            &format!("/console/cases/{id}/notes"),
            &[("csrf_token", &csrf), ("body", "")],
        )
        .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("href=\"#note-body\""), "{html}");

    let response = app
        .client
        .delete(app.url(&format!("/v1/panels/{panel_id}/members/{member_id}")))
        .bearer_auth(&chair_token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "removing the member");
    let (status, html) = member.page("/console/cases").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains(&reference),
        "a removed member sees nothing: {html}"
    );
    assert_eq!(member.page(&format!("/console/cases/{id}")).await.0, 404);
    assert_eq!(
        member
            .page(&format!("/console/meetings/{meeting_id}"))
            .await
            .0,
        404
    );
}

/// Files a referral, records deconfliction in screening (police-only) and refers it to
/// Channel; answers the case id.
async fn case_with_police_material(app: &TestApp) -> String {
    let body = referral_about(
        "Police",
        &format!("Only{}", uuid::Uuid::new_v4().simple()),
        "2009-05-01",
    );
    let id = app.file(&body).await["id"].as_str().unwrap().to_owned();
    let officer = app.token(OFFICER, &["prevent_officer"], AREA);
    let case = app
        .act_ok(&officer, &id, "begin_screening", 1, &json!({}))
        .await;
    let v = case["version"].as_i64().unwrap();
    let case = app
        .act_ok(
            &officer,
            &id,
            "record_deconfliction",
            v,
            &json!({"result": "clear", "note": "POLICE-ONLY-NOTE-7731"}),
        )
        .await;
    let v = case["version"].as_i64().unwrap();
    app.act_ok(
        &officer,
        &id,
        "refer_to_channel",
        v,
        &threshold("vulnerable_to_radicalisation"),
    )
    .await;
    id
}

#[tokio::test]
async fn police_only_material_never_appears_in_console_html_for_other_roles() {
    let app = spawn_app().await;
    let id = case_with_police_material(&app).await;
    let officer_view: Value = app
        .get(&format!("/v1/cases/{id}"), Some(&app.officer()))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        officer_view.to_string().contains("POLICE-ONLY-NOTE-7731"),
        "the police see it: {officer_view}"
    );
    for (sub, roles) in [
        ("chair-1", &["channel_chair"][..]),
        ("auditor-1", &["auditor"][..]),
    ] {
        let browser = Browser::sign_in(&app, sub, roles, AREA).await;
        let (status, html) = browser.page(&format!("/console/cases/{id}")).await;
        assert_eq!(status, 200, "{roles:?}");
        for word in [
            "POLICE-ONLY-NOTE-7731",
            "deconfliction",
            "Deconfliction",
            "clear\"",
        ] {
            assert!(!html.contains(word), "{roles:?} must not see {word}");
        }
    }
    let auditor = Browser::sign_in(&app, "auditor-2", &["auditor"], AREA).await;
    let (_, html) = auditor.page(&format!("/console/audit?case_id={id}")).await;
    for word in ["POLICE-ONLY-NOTE-7731", "record_deconfliction"] {
        assert!(!html.contains(word), "the audit page must not show {word}");
    }
}

#[tokio::test]
async fn sessions_end_when_idle_and_on_sign_out() {
    let app = spawn_app_with(|s| s.console.idle_timeout_seconds = 2).await;
    let browser = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    assert_eq!(browser.get("/console/").await.status().as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        browser.get("/console/").await.status().as_u16(),
        200,
        "use keeps it alive"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let response = browser.get("/console/").await;
    assert_eq!(response.status().as_u16(), 303, "idle too long");
    assert_eq!(response.headers()["location"], "/console/sign-in");

    // However busy, a session ends at its absolute lifetime.
    let app = spawn_app_with(|s| s.console.absolute_lifetime_seconds = 2).await;
    let browser = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(browser.get("/console/").await.status().as_u16(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        browser.get("/console/").await.status().as_u16(),
        303,
        "past its lifetime"
    );

    let app = spawn_app().await;
    let browser = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    let csrf = csrf_of(&browser.page("/console/").await.1);
    let response = browser
        .post("/console/sign-out", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/console/sign-in?signed_out=1"
    );
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        browser.get("/console/").await.status().as_u16(),
        303,
        "the old cookie no longer works"
    );
    let (_, html) = Browser::anonymous(&app)
        .page("/console/sign-in?signed_out=1")
        .await;
    assert!(html.contains("You have signed out"));
}

#[tokio::test]
async fn page_views_of_case_data_are_audited_like_api_reads() {
    let app = spawn_app().await;
    let (id, _) = app.case_in("awaiting_panel").await;
    let reads = |app: &TestApp| {
        app.audit_actions_in_database(&id)
            .into_iter()
            .filter(|a| a == "case.read")
            .count()
    };
    let before = reads(&app);
    let chair = Browser::sign_in(&app, CHAIR, &["channel_chair"], AREA).await;
    assert_eq!(chair.page(&format!("/console/cases/{id}")).await.0, 200);
    assert_eq!(reads(&app), before + 1, "one page view, one case.read");
    // A refused view is audited as the API's is.
    let other = Browser::sign_in(&app, "chair-2", &["channel_chair"], OTHER_AREA).await;
    assert_eq!(other.page(&format!("/console/cases/{id}")).await.0, 404);

    // The auditor finds the chair's view in the console's audit search.
    let auditor = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    let (status, html) = auditor
        .page(&format!(
            "/console/audit?case_id={id}&actor={CHAIR}&action=case.read"
        ))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("case.read") && html.contains(CHAIR), "{html}");
}

#[tokio::test]
async fn auditor_and_records_officer_pages_render_from_the_api() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.case_in("awaiting_panel").await;
    }
    let auditor = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;

    // Paging through the audit log with the API's cursor.
    let (status, html) = auditor.page("/console/audit?limit=5").await;
    assert_eq!(status, 200);
    let next = regex::Regex::new(r#"href="(/console/audit\?[^"]*cursor=[^"]+)""#).unwrap();
    let link = next
        .captures(&html)
        .map(|c| c[1].replace("&amp;", "&"))
        .expect("a next page link");
    let (status, second) = auditor.page(&link).await;
    assert_eq!(status, 200);
    assert_ne!(
        html.split("id=\"entries\"").nth(1),
        second.split("id=\"entries\"").nth(1)
    );

    // Bad search input is a field error, not a failure.
    let (status, html) = auditor
        .page("/console/audit?case_id=nope&from.day=31&from.month=2&from.year=2026")
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>Error: Audit log"), "{html}");
    assert!(
        html.contains("href=\"#case_id\"") && html.contains("href=\"#from-day\""),
        "{html}"
    );

    let (status, html) = auditor.page("/console/audit/verify").await;
    assert_eq!(status, 200);
    assert!(html.contains("The audit log is intact"), "{html}");

    let (status, html) = auditor.page("/console/statistics").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<svg role=\"img\""), "{html}");
    assert!(html.contains("<title id=\"sector-title\">"), "{html}");
    assert!(html.contains("<desc id=\"sector-desc\">"), "{html}");
    assert!(html.contains("<caption class=\"govuk-table__caption govuk-table__caption--s\">Referrals by sector of referrer</caption>"), "{html}");
    assert!(
        html.contains("Education"),
        "the test referrals are from education: {html}"
    );
    // Three referrals: below the default threshold, withheld from an area auditor.
    assert!(html.contains("id=\"suppression\""), "{html}");
    assert!(html.contains(">[c]<"), "{html}");

    // The same figures as a CSV download, from the API's own handler.
    let csv_link = regex::Regex::new(r#"href="(/console/statistics\.csv\?[^"]+)""#)
        .unwrap()
        .captures(&html)
        .map(|c| c[1].replace("&amp;", "&"))
        .expect("a CSV download link");
    let response = auditor.get(&csv_link).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"pathway-statistics-"),
    );
    let csv = response.text().await.unwrap();
    assert!(
        csv.starts_with("from,to,area,breakdown,category,count,suppression_threshold\r\n"),
        "{csv}"
    );
    assert!(csv.contains(",[c],"), "{csv}");
    // Dates it cannot use send the auditor back to the page that names them.
    let response = auditor.get("/console/statistics.csv?from=2026-13-01").await;
    assert_eq!(response.status().as_u16(), 303);
    // Nobody else downloads it.
    let chair = Browser::sign_in(&app, "chair-csv", &["channel_chair"], AREA).await;
    assert_eq!(chair.get(&csv_link).await.status().as_u16(), 403);
    let anonymous = Browser::anonymous(&app).get(&csv_link).await;
    assert_eq!(anonymous.status().as_u16(), 303);

    let records = Browser::sign_in(&app, "records-1", &["records_officer"], AREA).await;
    let (status, html) = records.page("/console/retention").await;
    assert_eq!(status, 200);
    assert!(html.contains("Retention reviews due"));

    // The stylesheet is embedded and cached.
    let response = Browser::anonymous(&app)
        .get("/console/assets/govuk-frontend.min.css")
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let css = response.text().await.unwrap();
    assert!(
        css.contains("url(/console/assets/fonts/"),
        "fonts are served from the console"
    );
    let font = Browser::anonymous(&app)
        .get("/console/assets/fonts/bold-b542beb274-v2.woff2")
        .await;
    assert_eq!(font.headers()["content-type"], "font/woff2");
    assert_eq!(
        Browser::anonymous(&app)
            .get("/console/assets/nothing.css")
            .await
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn the_statistics_page_offers_the_published_periods_and_a_national_auditor_dates() {
    let app = spawn_app().await;
    app.file(&referral_about("Some", "One", "2009-05-01")).await;
    let auditor = Browser::sign_in(&app, "auditor-1", &["auditor"], AREA).await;
    let today = chrono::Utc::now().date_naive();
    let start = chrono::Datelike::year(&today) - i32::from(chrono::Datelike::month(&today) < 4);
    let this_year = format!("{start}-{:02}", (start + 1) % 100);
    let four_years_ago = format!("{}-{:02}", start - 4, (start - 3) % 100);

    // An area auditor chooses from the published periods, this year's first and chosen.
    let (status, html) = auditor.page("/console/statistics").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(r#"<select class="govuk-select" id="statistics-period" name="period""#),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<option value="{this_year}" selected>"#)),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<option value="{four_years_ago}-Q4">"#)),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "{this_year}: April {start} to March {}, in progress",
            start + 1
        )),
        "{html}"
    );
    assert!(
        !html.contains("id=\"from-day\""),
        "no dates for an area reader: {html}"
    );
    assert!(
        html.contains(&format!(
            r#"href="/console/statistics.csv?period={this_year}""#
        )),
        "{html}"
    );

    // Another period, its CSV by name; dates from an area reader are not counted.
    let quarter = format!("{four_years_ago}-Q3");
    let (status, html) = auditor
        .page(&format!("/console/statistics?period={quarter}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("{quarter}, from 1 October {}", start - 4)),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<option value="{quarter}" selected>"#)),
        "{html}"
    );
    let response = auditor
        .get(&format!("/console/statistics.csv?period={quarter}"))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let (_, html) = auditor
        .page("/console/statistics?from.day=1&from.month=5&from.year=2025&to.day=2&to.month=5&to.year=2025")
        .await;
    assert!(
        html.contains(&format!("{this_year}, from 1 April {start}")),
        "{html}"
    );
    let response = auditor
        .get("/console/statistics.csv?from=2025-05-01&to=2025-05-02")
        .await;
    assert_eq!(
        response.status().as_u16(),
        303,
        "a range of days sends them back"
    );
    // A period that is not one is named in the error summary.
    let (status, html) = auditor.page("/console/statistics?period=2025-27").await;
    assert_eq!(status, 200);
    assert!(html.contains("<title>Error: Statistics"), "{html}");
    assert!(html.contains("href=\"#statistics-period\""), "{html}");

    // A national auditor may give a range of days instead.
    let national = Browser::sign_in(&app, "auditor-n", &["auditor"], "national").await;
    let (status, html) = national
        .page("/console/statistics?period=2024-25&from.day=1&from.month=5&from.year=2025&to.day=2&to.month=5&to.year=2025")
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"from-day\""), "{html}");
    assert!(html.contains("From 1 May 2025 to 2 May 2025"), "{html}");
    assert!(
        html.contains(r#"href="/console/statistics.csv?from=2025-05-01&amp;to=2025-05-02""#),
        "{html}"
    );
    let response = national
        .get("/console/statistics.csv?from=2025-05-01&to=2025-05-02")
        .await;
    assert_eq!(response.status().as_u16(), 200);
}
