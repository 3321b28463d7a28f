//! Email notifications through a real SMTP server (aiosmtpd on loopback).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    AREA, OTHER_AREA, SmtpBehaviour, SmtpServer, TestApp, add_mailbox, assert_problem,
    referral_body, spawn_app_with, threshold, with_mail,
};

/// Personal data of the contract example's subject that no email may carry.
const PERSONAL: [&str; 6] = [
    "Sam",
    "Taylor",
    "2010-03-14",
    "LS1 1AA",
    "extreme right-wing material",
    "Leeds Academy",
];

fn assert_no_personal_data(mails: &[crate::helpers::Mail]) {
    for mail in mails {
        for secret in PERSONAL {
            assert!(
                !mail.raw.contains(secret),
                "`{secret}` in the email to {}: {}",
                mail.to,
                mail.raw
            );
        }
    }
}

fn to(mails: &[crate::helpers::Mail]) -> Vec<String> {
    let mut v: Vec<String> = mails.iter().map(|m| m.to.to_lowercase()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn filing_tells_the_prevent_team_and_acknowledges_the_referrer() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| with_mail(s, &smtp.url())).await;
    add_mailbox(&app, "prevent_team", "prevent.team@police.example").await;
    let receipt = app.file(&referral_body()).await;
    let reference = receipt["reference"].as_str().unwrap();
    let id = receipt["id"].as_str().unwrap();

    let mails = smtp.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(
        to(&mails),
        vec!["prevent.team@police.example", "teacher-1@example.org"]
    );
    for mail in &mails {
        assert!(mail.subject.contains(reference), "{}", mail.subject);
        assert!(
            mail.raw.contains(&format!("/v1/cases/{id}")),
            "a link to the case"
        );
        assert!(
            mail.message_id.starts_with('<') && mail.message_id.ends_with("@pathway>"),
            "{}",
            mail.message_id
        );
        assert!(
            mail.raw.contains("text/plain") && mail.raw.contains("text/html"),
            "plain text and HTML"
        );
    }
    assert_no_personal_data(&mails);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 2, "each sent once");
}

#[tokio::test]
async fn the_channel_half_tells_chairs_members_and_the_referring_officer() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| with_mail(s, &smtp.url())).await;
    add_mailbox(&app, "channel_chair", "channel.chair@council.example").await;
    let (id, version) = app.case_in("screening").await;
    let mut claims = app.claims("officer-1", &["prevent_officer"], AREA);
    claims.email = "Officer.One@Police.Example".into();
    let officer = app.sign(&claims);
    app.act_ok(
        &officer,
        &id,
        "refer_to_channel",
        version,
        &threshold("vulnerable_to_radicalisation"),
    )
    .await;
    let mails = smtp.wait_for(3, Duration::from_secs(15)).await;
    let chair_mail: Vec<_> = mails
        .iter()
        .filter(|m| m.to.contains("channel.chair"))
        .collect();
    assert_eq!(
        chair_mail.len(),
        1,
        "the area's chair mailbox is told of the referral to Channel"
    );
    assert!(chair_mail[0].subject.contains("referred to Channel"));

    let chair = app.chair();
    let panel: Value = app
        .post_json("/v1/panels", &chair, &json!({"name": "Leeds Panel", "members": [
            {"name": "Chris Chair", "agency": "local_authority", "email": "chris@council.example", "panel_role": "chair"},
            {"name": "Hana Health", "agency": "mental_health", "email": "hana@nhs.example", "panel_role": "member"}]}))
        .await
        .json()
        .await
        .unwrap();
    let when = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let meeting: Value = app
        .post_json(
            &format!("/v1/panels/{}/meetings", panel["id"].as_str().unwrap()),
            &chair,
            &json!({"scheduled_for": when}),
        )
        .await
        .json()
        .await
        .unwrap();
    let before = smtp.messages().len();
    let scheduled = smtp.wait_for(before + 2, Duration::from_secs(15)).await;
    let members: Vec<_> = scheduled
        .iter()
        .filter(|m| m.subject.starts_with("Channel panel meeting"))
        .collect();
    assert_eq!(members.len(), 2, "every member is told of the meeting");

    let v = app
        .act_ok(
            &chair,
            &id,
            "list_for_panel",
            version + 1,
            &json!({"meeting_id": meeting["id"]}),
        )
        .await["version"]
        .as_i64()
        .unwrap();
    let listed = smtp.wait_for(before + 4, Duration::from_secs(15)).await;
    let agenda: Vec<String> = to(&listed
        .iter()
        .filter(|m| m.subject.contains("agenda"))
        .cloned()
        .collect::<Vec<_>>());
    assert_eq!(agenda, vec!["chris@council.example", "hana@nhs.example"]);

    app.act_ok(
        &chair,
        &id,
        "record_panel_decision",
        v,
        &json!({"decision": "adopt", "reason_code": "vulnerability_identified",
        "rationale": "Vulnerable to radicalisation.", "how_reached": "unanimous"}),
    )
    .await;
    let decided = smtp.wait_for(before + 7, Duration::from_secs(15)).await;
    let updates: Vec<String> = to(&decided
        .iter()
        .filter(|m| m.subject.contains("decision"))
        .cloned()
        .collect::<Vec<_>>());
    assert_eq!(
        updates,
        vec![
            "chris@council.example",
            "hana@nhs.example",
            "officer.one@police.example"
        ]
    );
    assert_no_personal_data(&decided);
}

#[tokio::test]
async fn an_action_succeeds_while_smtp_is_down_and_its_mail_follows_once_it_is_back() {
    // Its port is held, refusing connections, until the server is let listen.
    let mut smtp = SmtpServer::held();
    let app = spawn_app_with(|s| with_mail(s, &smtp.url())).await;
    let receipt = app.file(&referral_body()).await;
    assert_eq!(
        receipt["status"], "received",
        "filing does not wait for mail"
    );
    let admin = app.token("admin-1", &["admin"], AREA);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page: Value = app
            .get("/v1/notifications?status=pending", Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        let tried = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["attempts"].as_i64() >= Some(1));
        if tried {
            assert_eq!(page["items"][0]["last_error"], "smtp connection failed");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a failed attempt is recorded: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    smtp.open();
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(to(&mails), vec!["teacher-1@example.org"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1, "delivered once");
    let sent: Value = app
        .get("/v1/notifications?status=sent", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sent["items"].as_array().unwrap().len(), 1);
    let delivered = &sent["items"][0];
    assert!(
        delivered["attempts"].as_i64() >= Some(2),
        "sent after a failed attempt: {delivered}"
    );
    assert_eq!(
        delivered["message_id"].as_str(),
        Some(mails[0].message_id.as_str()),
        "one Message-ID across retries"
    );
}

#[tokio::test]
async fn a_refused_recipient_is_marked_failed_after_the_retries_and_can_be_queued_again() {
    let smtp = SmtpServer::rejecting();
    let app = spawn_app_with(|s| {
        with_mail(s, &smtp.url());
        s.mail.max_attempts = 3;
    })
    .await;
    app.file(&referral_body()).await;
    let admin = app.token("admin-1", &["admin"], AREA);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let page: Value = app
            .get("/v1/notifications?status=failed", Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        if let Some(n) = page["items"].as_array().unwrap().first() {
            break n.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "marked failed after the retries"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["last_error"], "smtp 550");
    assert!(
        !failed["last_error"].as_str().unwrap().contains('@'),
        "no address in the error"
    );

    assert_problem(
        app.get("/v1/notifications?status=failed", Some(&app.chair()))
            .await,
        403,
        "role_not_allowed",
    )
    .await;
    let id = failed["id"].as_str().unwrap();
    // Another area's admin neither sees nor re-sends it, and its listing is audited.
    let elsewhere = app.token("admin-9", &["admin"], OTHER_AREA);
    let theirs: Value = app
        .get("/v1/notifications", Some(&elsewhere))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]), "another area's outbox");
    let refused = app
        .client
        .post(app.url(&format!("/v1/notifications/{id}/retry")))
        .bearer_auth(&elsewhere)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 404, "not_found").await;
    let listings: Value = app
        .get(
            "/v1/audit?action=notification.list&actor=admin-9",
            Some(&app.token("auditor-9", &["auditor"], OTHER_AREA)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listings["items"].as_array().unwrap().len(), 1, "{listings}");
    let retry = app
        .client
        .post(app.url(&format!("/v1/notifications/{id}/retry")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 202);
    let again = app
        .client
        .post(app.url(&format!("/v1/notifications/{id}/retry")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "not_found").await;
}

#[tokio::test]
async fn a_passed_due_date_is_reminded_once_to_the_team_that_owns_it() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| {
        with_mail(s, &smtp.url());
        s.pathway.screening_working_days = 0;
        s.mail.reminder_interval_seconds = 1;
    })
    .await;
    add_mailbox(&app, "prevent_team", "prevent.team@police.example").await;
    let receipt = app.file(&referral_body()).await;
    let reminder = |m: &&crate::helpers::Mail| m.subject.starts_with("Overdue");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !smtp.messages().iter().any(|m| reminder(&m)) {
        assert!(std::time::Instant::now() < deadline, "a reminder is sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Several more scheduler ticks pass: still one reminder for this due date.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let reminders: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject.starts_with("Overdue"))
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(
        reminders[0].to.to_lowercase(),
        "prevent.team@police.example"
    );
    assert!(
        reminders[0]
            .subject
            .contains(receipt["reference"].as_str().unwrap())
    );
    assert!(reminders[0].raw.contains("screening"));
    assert_no_personal_data(&reminders);
}

/// Queues `n` notifications directly, as a burst of actions would.
fn queue_burst(app: &TestApp, n: usize) {
    let mut conn = app.db.connect();
    let notices = (0..n)
        .map(|i| pathway::notify::Notice {
            kind: pathway::notify::Kind::MeetingScheduled,
            recipient: format!("member{i}@panel.example"),
            area: AREA.into(),
            case_id: None,
            context: json!({"panel_name": "Burst Panel", "meeting_date": "2026-12-01 10:00 UTC", "path": "/v1/meetings/x"}),
            dedupe_key: None,
        })
        .collect();
    let now = chrono::Utc::now().naive_utc();
    pathway::store::write_transaction(&mut conn, |c| pathway::notify::queue(c, notices, now))
        .unwrap();
}

#[tokio::test]
async fn two_workers_on_one_database_deliver_a_burst_of_500_exactly_once() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|_| {}).await;
    queue_burst(&app, 500);
    let worker = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
            .args(["worker", "--database-url", &app.db.url])
            .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
            .envs(app.audit.env())
            .env("PATHWAY__MAIL__SMTP_URL", smtp.url())
            .env("PATHWAY__MAIL__POLL_INTERVAL_MS", "20")
            .env("PATHWAY__MAIL__BATCH_SIZE", "10")
            .env("PATHWAY__MAIL__REMINDER_INTERVAL_SECONDS", "0")
            .env("PATHWAY__LOG__FILTER", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start pathway worker")
    };
    let mut workers = [worker(), worker()];
    let mails = smtp.wait_for(500, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails_after = smtp.messages();
    for w in &mut workers {
        let term = std::process::Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
    }
    for w in &mut workers {
        let status = w.wait().unwrap();
        assert!(
            status.success(),
            "a worker stops cleanly on SIGTERM: {status}"
        );
    }
    assert_eq!(mails.len(), 500, "every notification delivered");
    assert_eq!(mails_after.len(), 500, "and none twice");
    let ids: HashSet<&str> = mails_after.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), 500, "500 distinct Message-IDs");
    let admin = app.token("admin-1", &["admin"], AREA);
    let pending: Value = app
        .get("/v1/notifications?status=pending", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["items"], json!([]));
}

#[tokio::test]
async fn admins_keep_the_directory_of_their_area() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.token("admin-1", &["admin"], AREA);
    let added: Value = app
        .post_json(
            "/v1/directory",
            &admin,
            &json!({"role": "prevent_team", "mailbox": "Prevent.Team@Police.Example"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(added["mailbox"], "prevent.team@police.example");
    let cases = [
        (
            json!({"role": "prevent_team", "mailbox": "prevent.team@police.example"}),
            "mailbox",
            "duplicate",
        ),
        (
            json!({"role": "bishop", "mailbox": "x@y.example"}),
            "role",
            "invalid_value",
        ),
        (
            json!({"role": "prevent_team", "mailbox": "nope"}),
            "mailbox",
            "invalid_email",
        ),
    ];
    for (body, field, code) in cases {
        let problem = assert_problem(
            app.post_json("/v1/directory", &admin, &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            (
                problem["errors"][0]["field"].as_str(),
                problem["errors"][0]["code"].as_str()
            ),
            (Some(field), Some(code)),
            "{body}"
        );
    }
    assert_problem(
        app.post_json(
            "/v1/directory",
            &app.chair(),
            &json!({"role": "prevent_team", "mailbox": "a@b.example"}),
        )
        .await,
        403,
        "role_not_allowed",
    )
    .await;
    let listed: Value = app
        .get("/v1/directory", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let elsewhere = app.token("admin-2", &["admin"], crate::helpers::OTHER_AREA);
    let theirs: Value = app
        .get("/v1/directory", Some(&elsewhere))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]), "each area keeps its own");
    let id = added["id"].as_str().unwrap();
    let removed = app
        .client
        .delete(app.url(&format!("/v1/directory/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 204);
}

#[tokio::test]
async fn a_stored_recipient_that_is_not_a_bare_address_is_never_mailed() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with(|s| with_mail(s, &smtp.url())).await;
    let mut conn = app.db.connect();
    let notice = pathway::notify::Notice {
        kind: pathway::notify::Kind::MeetingScheduled,
        recipient: "\"a@b\" <victim@other.example>".to_owned(),
        area: AREA.into(),
        case_id: None,
        context: json!({"panel_name": "Panel", "meeting_date": "2026-12-01 10:00 UTC", "path": "/v1/meetings/x"}),
        dedupe_key: None,
    };
    let now = chrono::Utc::now().naive_utc();
    pathway::store::write_transaction(&mut conn, |c| pathway::notify::queue(c, vec![notice], now))
        .unwrap();

    use diesel::{QueryDsl, RunQueryDsl};
    use pathway::store::schema::notifications;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempts: Vec<i64> = notifications::table
            .select(notifications::attempts)
            .load(&mut conn)
            .unwrap();
        if attempts.iter().all(|a| *a > 0) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let statuses: Vec<String> = notifications::table
        .select(notifications::status)
        .load(&mut conn)
        .unwrap();
    assert!(
        statuses.iter().all(|s| s != "sent"),
        "not sent: {statuses:?}"
    );
    let sent = smtp.wait_for(1, Duration::from_secs(1)).await;
    assert!(sent.is_empty(), "nothing delivered: {sent:?}");
}

/// A worker process, killed when dropped (a test that fails leaves none running).
struct WorkerProcess(std::process::Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `pathway worker` process on the app's database, sending through `smtp`, with a
/// 2 s SMTP timeout: a claim lasts 2 × 2 s + 5 s.
fn worker_process(app: &TestApp, smtp: &SmtpServer) -> WorkerProcess {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["worker", "--database-url", &app.db.url])
        .env("PATHWAY_CONFIG_DIR", crate::helpers::config_dir())
        .envs(app.audit.env())
        .env("PATHWAY__MAIL__SMTP_URL", smtp.url())
        .env("PATHWAY__MAIL__POLL_INTERVAL_MS", "20")
        .env("PATHWAY__MAIL__TIMEOUT_SECONDS", "2")
        .env("PATHWAY__MAIL__REMINDER_INTERVAL_SECONDS", "0")
        .env("PATHWAY__LOG__FILTER", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start pathway worker");
    WorkerProcess(child)
}

/// How long a claim of [`worker_process`] lasts.
const CLAIM: Duration = Duration::from_secs(2 * 2 + 5);

/// The one notification in the outbox: (id, status, Message-ID, attempts).
fn the_notification(app: &TestApp) -> (String, String, String, i64) {
    use diesel::{QueryDsl, RunQueryDsl};
    use pathway::store::schema::notifications as n;
    let mut rows: Vec<(String, String, String, i64)> = n::table
        .select((n::id, n::status, n::message_id, n::attempts))
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.remove(0)
}

async fn wait_for_file(path: &std::path::Path, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn sigkill(worker: &mut WorkerProcess) {
    worker.0.kill().unwrap();
    worker.0.wait().unwrap();
}

fn sigterm(worker: &mut WorkerProcess) {
    let term = std::process::Command::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let _ = worker.0.wait();
}

#[tokio::test]
async fn a_worker_killed_after_the_relay_accepted_has_marked_the_message_sent_before_quit() {
    let marks = tempfile::tempdir().unwrap();
    let quit = marks.path().join("quit-arrived");
    let smtp = SmtpServer::with(SmtpBehaviour::SlowQuit {
        mark: &quit,
        delay: 60,
    });
    let app = spawn_app_with(|_| {}).await;
    // One notification: the referrer's acknowledgement.
    app.file(&referral_body()).await;
    let mut first = worker_process(&app, &smtp);

    // The relay has accepted the message and waits to answer QUIT: the worker dies.
    wait_for_file(&quit, Duration::from_secs(20)).await;
    sigkill(&mut first);

    let (id, status, message_id, _) = the_notification(&app);
    assert_eq!(status, "sent", "recorded before QUIT");
    assert_eq!(
        message_id,
        format!("<{id}@pathway>"),
        "derived from the row"
    );
    let mut second = worker_process(&app, &smtp);
    tokio::time::sleep(CLAIM + Duration::from_secs(2)).await;
    sigterm(&mut second);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "sent once: {mails:?}");
    assert_eq!(mails[0].message_id, message_id);
}

#[tokio::test]
async fn a_worker_killed_before_the_relays_answer_arrived_sends_again_with_the_same_message_id() {
    let marks = tempfile::tempdir().unwrap();
    let stored = marks.path().join("message-stored");
    let smtp = SmtpServer::with(SmtpBehaviour::SlowData {
        mark: &stored,
        delay: 60,
    });
    let app = spawn_app_with(|_| {}).await;
    app.file(&referral_body()).await;
    let mut first = worker_process(&app, &smtp);

    // The relay has stored the message; its 250 has not reached the worker, which dies.
    wait_for_file(&stored, Duration::from_secs(20)).await;
    sigkill(&mut first);
    let (id, status, message_id, _) = the_notification(&app);
    assert_eq!(
        status, "sending",
        "the worker never heard the relay accept it"
    );

    // Another worker takes it once the claim has passed, and sends it again.
    let started = std::time::Instant::now();
    let mut second = worker_process(&app, &smtp);
    let deadline = started + CLAIM + Duration::from_secs(6);
    let attempts = loop {
        let (_, status, _, attempts) = the_notification(&app);
        if status == "sent" {
            break attempts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sent again within the claim ({CLAIM:?}): {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    sigterm(&mut second);
    assert_eq!(attempts, 2);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "a copy, never a loss: {mails:?}");
    assert!(
        mails.iter().all(|m| m.message_id == message_id),
        "the copy has the same Message-ID, for the receiver to drop: {mails:?}"
    );
    assert_eq!(message_id, format!("<{id}@pathway>"));
}
