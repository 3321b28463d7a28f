//! The test harness: a real server on a random port over a fresh database per test.
//!
//! The backend is chosen by `PATHWAY_TEST_DATABASE`: `sqlite` (default) or `postgres`.
//! PostgreSQL tests create a database per test through `PATHWAY_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`) and drop it afterwards.

use std::path::PathBuf;
use std::sync::Once;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use pathway::config::{Environment, Settings};
use pathway::identity::{LocalClaims, mint_local_token};
use pathway::startup::Application;
use pathway::store::DbConnection;
use pathway::store::trust::{AuditTrust, KeyGeneration};
use secrecy::SecretString;

static TRACING: Once = Once::new();

/// Logs go nowhere unless `TEST_LOG` is set.
pub fn init_tracing() {
    TRACING.call_once(|| {
        let format = pathway::config::LogFormat::Pretty;
        let subscriber = if std::env::var_os("TEST_LOG").is_some() {
            pathway::telemetry::get_subscriber("debug", format, false, std::io::stdout)
        } else {
            pathway::telemetry::get_subscriber("off", format, false, std::io::sink)
        };
        pathway::telemetry::init_subscriber(subscriber);
    });
}

/// The crate's `config/` directory.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A fixture file under `tests/fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The backend this run tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

pub fn backend() -> TestBackend {
    match std::env::var("PATHWAY_TEST_DATABASE").as_deref() {
        Ok("postgres") => TestBackend::Postgres,
        Ok("sqlite") | Err(_) => TestBackend::Sqlite,
        Ok(other) => panic!("PATHWAY_TEST_DATABASE must be sqlite or postgres, not {other}"),
    }
}

fn postgres_admin_url() -> String {
    std::env::var("PATHWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database of its own for one test, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn fresh() -> TestDatabase {
        Self::fresh_for(backend())
    }

    pub fn fresh_for(backend: TestBackend) -> TestDatabase {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("pathway.db").to_string_lossy().into_owned();
                TestDatabase {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            TestBackend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("pathway_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = DbConnection::establish(&admin).unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is required for this run: {e}")
                });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// A direct connection, beside the server's pool.
    pub fn connect(&self) -> DbConnection {
        let mut conn = DbConnection::establish(&self.url).expect("connect to the test database");
        if let DbConnection::Sqlite(_) = conn {
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                .expect("pragmas");
        }
        conn
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Ok(mut conn) = DbConnection::establish(&postgres_admin_url())
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// One test's audit key files and witness directory, in a temp dir removed when dropped.
pub struct TestAuditFiles {
    pub dir: tempfile::TempDir,
}

impl TestAuditFiles {
    /// A fresh, empty directory: the keys are generated on first load (local rule).
    pub fn new() -> TestAuditFiles {
        TestAuditFiles {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn hmac_key_file(&self) -> PathBuf {
        self.dir.path().join("keys/audit-hmac.key")
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.dir.path().join("keys/audit-signing.key")
    }

    pub fn witness_dir(&self) -> PathBuf {
        self.dir.path().join("witness")
    }

    pub fn master_key_file(&self) -> PathBuf {
        self.dir.path().join("keys/vault-master.key")
    }

    /// Points `settings` at these files.
    pub fn apply(&self, settings: &mut Settings) {
        settings.audit.hmac_key_file = Some(self.hmac_key_file());
        settings.audit.signing_key_file = Some(self.signing_key_file());
        settings.audit.witness_dir = self.witness_dir();
        settings.vault.master_key_file = Some(self.master_key_file());
    }

    /// The keys and witness, generating the keys the first time.
    pub fn trust(&self) -> AuditTrust {
        let mut settings =
            Settings::load_from(&config_dir(), Environment::Local).expect("local settings");
        self.apply(&mut settings);
        AuditTrust::load(&settings, KeyGeneration::Allowed).expect("audit keys")
    }

    /// The vault's master key, generating it the first time.
    pub fn vault(&self) -> pathway::store::vault::Vault {
        let mut settings =
            Settings::load_from(&config_dir(), Environment::Local).expect("local settings");
        self.apply(&mut settings);
        pathway::store::vault::Vault::load(&settings, KeyGeneration::Allowed)
            .expect("vault master key")
    }

    /// The same settings as environment variables, for the `pathway` binary.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("PATHWAY__AUDIT__HMAC_KEY_FILE", self.hmac_key_file()),
            ("PATHWAY__AUDIT__SIGNING_KEY_FILE", self.signing_key_file()),
            ("PATHWAY__AUDIT__WITNESS_DIR", self.witness_dir()),
            ("PATHWAY__VAULT__MASTER_KEY_FILE", self.master_key_file()),
        ]
    }
}

/// Local settings pointed at `db` and at `audit`'s files, listening on a free port.
pub fn test_settings(db: &TestDatabase, audit: &TestAuditFiles) -> Settings {
    let mut settings =
        Settings::load_from(&config_dir(), Environment::Local).expect("local settings");
    settings.server.listen = "127.0.0.1:0".into();
    settings.server.workers = 2;
    settings.database.url = SecretString::from(db.url.clone());
    settings.database.pool_size = 4;
    settings.audit.checkpoint_interval_seconds = 0;
    audit.apply(&mut settings);
    // Mail is tested where a test starts an SMTP server and turns the worker on.
    settings.mail.worker_in_server = false;
    settings.mail.reminder_interval_seconds = 0;
    settings
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub db: TestDatabase,
    pub audit: TestAuditFiles,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns a server whose settings `adjust` may change first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(bound_listener().0, adjust).await
}

/// Spawns a server on `listener` (see [`bound_listener`]), whose settings `adjust` may
/// change first.
pub async fn spawn_app_on(
    listener: std::net::TcpListener,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    init_tracing();
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    let mut settings = test_settings(&db, &audit);
    adjust(&mut settings);
    let app = Application::build_on(settings.clone(), listener).expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    TestApp {
        address,
        client,
        settings,
        db,
        audit,
    }
}

/// An area used by most tests.
pub const AREA: &str = "E08000035";
/// Another area, for need-to-know tests.
pub const OTHER_AREA: &str = "E08000025";

impl TestApp {
    /// The actions of every audit entry about `case_id`, read straight from the database
    /// (what the log holds, whoever may see it), oldest first.
    pub fn audit_actions_in_database(&self, case_id: &str) -> Vec<String> {
        use diesel::prelude::*;
        use pathway::store::schema::audit_log;
        let mut conn = self.db.connect();
        audit_log::table
            .filter(audit_log::case_id.eq(case_id))
            .order((audit_log::occurred_at, audit_log::id))
            .select(audit_log::action)
            .load(&mut conn)
            .expect("read the audit log")
    }

    /// The server's audit keys and witness.
    pub fn trust(&self) -> AuditTrust {
        AuditTrust::load(&self.settings, KeyGeneration::Refused).expect("audit keys")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Claims valid for this server, for `roles` in `area`.
    pub fn claims(&self, sub: &str, roles: &[&str], area: &str) -> LocalClaims {
        LocalClaims::new(&self.settings.auth, sub, roles, area, 600)
    }

    /// A signed token for `roles` in `area`.
    pub fn token(&self, sub: &str, roles: &[&str], area: &str) -> String {
        self.sign(&self.claims(sub, roles, area))
    }

    pub fn sign(&self, claims: &LocalClaims) -> String {
        mint_local_token(&self.settings.auth, claims).expect("sign")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }
}

/// Asserts a problem+json answer with `status` and `code`, and returns its body.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(
        response.status().as_u16(),
        status,
        "status for expected code {code}"
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("urn:pathway:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert!(header_id.is_some(), "X-Request-Id header");
    assert_eq!(
        body["request_id"].as_str(),
        header_id.as_deref(),
        "request id in body and header"
    );
    body
}

/// The referral body of the API contract, about a 16-year-old.
pub fn referral_body() -> serde_json::Value {
    serde_json::json!({
        "area": AREA,
        "subject": {
            "given_name": "Sam", "family_name": "Taylor", "aliases": [],
            "date_of_birth": "2010-03-14", "gender": "male",
            "address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"},
            "first_language": "English", "interpreter_needed": false,
            "school_or_employer": "Leeds Academy"
        },
        "guardians": [{"name": "Alex Taylor", "relationship": "parent", "phone": "07700900123"}],
        "referrer": {
            "name": "Jo Smith", "role": "Designated Safeguarding Lead", "organisation": "Leeds Academy",
            "sector": "education", "email": "jo.smith@school.example", "phone": "01130000000"
        },
        "concern": {
            "narrative": "Shared extreme right-wing material in class and talked about hurting people.",
            "type_of_concern": "extreme_right_wing",
            "indicators": ["online_activity", "expressed_intent_to_harm"],
            "first_noticed": "2026-11-01"
        },
        "vulnerabilities": {"send": false, "mental_health": false, "neurodiversity": true},
        "subject_aware": false, "guardians_informed": true, "discussed_with_safeguarding_lead": true,
        "other_agencies_involved": ["childrens_social_care"],
        "immediate_risk": false
    })
}

/// A referral about a different person each call (no repeat-referral links between them).
pub fn referral_about(given: &str, family: &str, date_of_birth: &str) -> serde_json::Value {
    let mut body = referral_body();
    body["subject"]["given_name"] = given.into();
    body["subject"]["family_name"] = family.into();
    body["subject"]["date_of_birth"] = date_of_birth.into();
    body
}

/// A threshold decision body.
pub fn threshold(reason_code: &str) -> serde_json::Value {
    serde_json::json!({"reason_code": reason_code, "rationale": "Rationale recorded by the assessing officer."})
}

/// A signposting body with one onward referral to mental-health services.
pub fn signpost_body() -> serde_json::Value {
    serde_json::json!({
        "reason_code": "other_needs_primary",
        "rationale": "Needs are primarily mental health, not ideological.",
        "onward_referrals": [{"service_type": "mental_health", "organisation": "CAMHS Leeds", "reason": "Low mood, isolation."}]
    })
}

/// Who acts in the tests.
pub const REFERRER: &str = "teacher-1";
pub const OFFICER: &str = "officer-1";
pub const CHAIR: &str = "chair-1";

impl TestApp {
    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A referrer's token in [`AREA`].
    pub fn referrer(&self) -> String {
        self.token(REFERRER, &["referrer"], AREA)
    }

    /// A Prevent officer's token in [`AREA`].
    pub fn officer(&self) -> String {
        self.token(OFFICER, &["prevent_officer"], AREA)
    }

    /// A Channel chair's token in [`AREA`].
    pub fn chair(&self) -> String {
        self.token(CHAIR, &["channel_chair"], AREA)
    }

    /// Files `body` as the test referrer; returns the receipt.
    pub async fn file(&self, body: &serde_json::Value) -> serde_json::Value {
        let response = self
            .post_json("/v1/referrals", &self.referrer(), body)
            .await;
        assert_eq!(response.status().as_u16(), 201, "filing a referral");
        response.json().await.expect("receipt")
    }

    /// Performs `action` with `If-Match: "version"`.
    pub async fn act(
        &self,
        token: &str,
        case_id: &str,
        action: &str,
        version: i64,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/cases/{case_id}/actions/{action}")))
            .bearer_auth(token)
            .header("if-match", format!("\"{version}\""))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Performs `action` as the officer and asserts it succeeded; returns the case.
    pub async fn act_ok(
        &self,
        token: &str,
        case_id: &str,
        action: &str,
        version: i64,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let response = self.act(token, case_id, action, version, body).await;
        let status = response.status().as_u16();
        let case: serde_json::Value = response.json().await.expect("case");
        assert_eq!(status, 200, "{action}: {case}");
        case
    }

    /// Creates a panel of [`AREA`] chaired by the test chair, and a meeting of it
    /// tomorrow; returns the meeting's id.
    pub async fn meeting(&self) -> String {
        let chair = self.chair();
        let panel: serde_json::Value = self
            .post_json(
                "/v1/panels",
                &chair,
                &serde_json::json!({"name": "Test Channel Panel", "members": [
                    {"name": "Chris Chair", "agency": "local_authority", "email": "chair-1@example.org", "panel_role": "chair"}
                ]}),
            )
            .await
            .json()
            .await
            .expect("panel");
        let when = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let meeting: serde_json::Value = self
            .post_json(
                &format!(
                    "/v1/panels/{}/meetings",
                    panel["id"].as_str().expect("panel id")
                ),
                &chair,
                &serde_json::json!({"scheduled_for": when}),
            )
            .await
            .json()
            .await
            .expect("meeting");
        meeting["id"].as_str().expect("meeting id").to_owned()
    }

    /// Files a referral about a fresh person (aged 17) and moves it to `state` through
    /// the API, along the shortest path; returns (case id, version).
    pub async fn case_in(&self, state: &str) -> (String, i64) {
        let body = referral_about(
            "Case",
            &format!("Subject{}", uuid::Uuid::new_v4().simple()),
            "2009-05-01",
        );
        let id = self.file(&body).await["id"].as_str().unwrap().to_owned();
        let officer = self.officer();
        let chair = self.chair();
        let empty = serde_json::json!({});
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let plan = serde_json::json!({"interventions": [{"type": "ideological_mentoring", "provider": "Approved provider",
                                                         "frequency": "weekly", "start_date": today}]});
        let guardian_consent = serde_json::json!({"decision": "given", "given_by": "parent_or_guardian",
            "given_by_name": "Alex Taylor", "decided_on": today, "how_sought": "in_person"});
        let path: Vec<(&str, &str, serde_json::Value)> = match state {
            "submitted" => vec![],
            "screening" => vec![(OFFICER, "begin_screening", empty)],
            "closed" => vec![
                (OFFICER, "begin_screening", empty),
                (
                    OFFICER,
                    "close_no_further_action",
                    threshold("no_prevent_concern"),
                ),
            ],
            "onward_referral" => vec![
                (OFFICER, "begin_screening", empty),
                (OFFICER, "signpost", signpost_body()),
            ],
            "police_managed" => vec![
                (OFFICER, "begin_screening", empty),
                (
                    OFFICER,
                    "manage_by_police",
                    threshold("risk_requires_police_management"),
                ),
            ],
            "transferred_to_pursue" => vec![
                (OFFICER, "begin_screening", empty),
                (OFFICER, "transfer_to_pursue", threshold("terrorism_risk")),
            ],
            _ => {
                let mut steps = vec![
                    (OFFICER, "begin_screening", empty),
                    (
                        OFFICER,
                        "refer_to_channel",
                        threshold("vulnerable_to_radicalisation"),
                    ),
                ];
                let channel: &[&str] = match state {
                    "awaiting_panel" => &[],
                    "panel_listed" => &["list"],
                    "consent_pending" => &["list", "adopt"],
                    "consent_refused" => &["list", "adopt", "refuse"],
                    "support" => &["list", "adopt", "plan", "consent"],
                    "exited" => &["list", "adopt", "plan", "consent", "exit"],
                    other => panic!("no path to {other}"),
                };
                for step in channel {
                    steps.push(match *step {
                        "list" => (CHAIR, "list_for_panel", serde_json::json!({"meeting_id": self.meeting().await})),
                        "adopt" => (CHAIR, "record_panel_decision", serde_json::json!({"decision": "adopt",
                            "reason_code": "vulnerability_identified", "rationale": "Vulnerable to radicalisation.",
                            "how_reached": "unanimous"})),
                        "refuse" => (CHAIR, "record_consent", serde_json::json!({"decision": "refused", "given_by": "subject",
                            "decided_on": today, "how_sought": "in_person"})),
                        "plan" => (CHAIR, "record_support_plan", plan.clone()),
                        "consent" => (CHAIR, "record_consent", guardian_consent.clone()),
                        _ => (CHAIR, "exit", threshold("support_completed")),
                    });
                }
                steps
            }
        };
        let mut version = 1;
        for (who, action, body) in path {
            let token = if who == OFFICER { &officer } else { &chair };
            let case = self.act_ok(token, &id, action, version, &body).await;
            version = case["version"].as_i64().unwrap();
        }
        (id, version)
    }
}

/// A real SMTP server on loopback (aiosmtpd, `tests/fixtures/smtp/serve.py`), delivering
/// into a Maildir the test reads. It binds its port itself and says which.
pub struct SmtpServer {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Held open: a line on it lets a `held` server listen; closing it ends nothing.
    stdin: Option<std::process::ChildStdin>,
}

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    /// The whole message, quoted-printable soft line breaks and escapes decoded, so
    /// that a search finds text however the encoder wrapped it.
    pub raw: String,
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes (ASCII only).
fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

static AIOSMTPD: Once = Once::new();

/// Installs aiosmtpd from PyPI the first time a test needs it and it is missing, so that
/// `cargo test` works on a machine with only Python.
fn ensure_aiosmtpd() {
    AIOSMTPD.call_once(|| {
        let present = || {
            std::process::Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !present() {
            let _ = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "aiosmtpd",
                ])
                .status();
        }
        assert!(
            present(),
            "the notification tests need aiosmtpd: python3 -m pip install aiosmtpd"
        );
    });
}

/// A port that refuses connections for as long as this lives: bound, never listening,
/// so no other process can take it (a port picked free and released could be).
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a socket");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("an address");
        socket.bind(&any.into()).expect("bind");
        let port = socket
            .local_addr()
            .expect("addr")
            .as_socket()
            .expect("an IP address")
            .port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

/// A listener on a port of its own, for `Application::build_on`: its port is known
/// before the server starts, and no other process can take it meanwhile.
pub fn bound_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// How an SMTP server of the tests behaves (see `tests/fixtures/smtp/serve.py`).
pub enum SmtpBehaviour<'a> {
    /// Delivers every message.
    Deliver,
    /// Refuses every recipient with 550.
    Reject,
    /// Stores the first message and answers its end of `DATA` only after `delay`,
    /// creating `mark` when it has stored it.
    SlowData {
        mark: &'a std::path::Path,
        delay: u32,
    },
    /// Accepts messages, and answers the first `QUIT` only after `delay`, creating
    /// `mark` when it arrives.
    SlowQuit {
        mark: &'a std::path::Path,
        delay: u32,
    },
}

impl SmtpServer {
    /// Starts aiosmtpd delivering to a Maildir, listening at once.
    pub fn start() -> SmtpServer {
        SmtpServer::spawn(SmtpBehaviour::Deliver, false)
    }

    /// Starts a server whose port refuses connections until [`SmtpServer::open`].
    pub fn held() -> SmtpServer {
        SmtpServer::spawn(SmtpBehaviour::Deliver, true)
    }

    /// Starts a server that refuses every recipient with 550.
    pub fn rejecting() -> SmtpServer {
        SmtpServer::spawn(SmtpBehaviour::Reject, false)
    }

    /// Starts a server that behaves as `behaviour` says.
    pub fn with(behaviour: SmtpBehaviour<'_>) -> SmtpServer {
        SmtpServer::spawn(behaviour, false)
    }

    /// Lets a [`SmtpServer::held`] server listen.
    pub fn open(&mut self) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("the server's stdin");
        stdin
            .write_all(b"listen\n")
            .expect("tell the server to listen");
        stdin.flush().expect("flush");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn spawn(behaviour: SmtpBehaviour<'_>, hold: bool) -> SmtpServer {
        use std::io::BufRead;
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(fixture("smtp/serve.py"))
            .arg(dir.path().join("maildir"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if hold {
            cmd.arg("--hold");
        }
        match behaviour {
            SmtpBehaviour::Deliver => {}
            SmtpBehaviour::Reject => {
                cmd.arg("--reject");
            }
            SmtpBehaviour::SlowData { mark, delay } => {
                cmd.arg("--slow-data")
                    .arg(mark)
                    .args(["--delay", &delay.to_string()]);
            }
            SmtpBehaviour::SlowQuit { mark, delay } => {
                cmd.arg("--slow-quit")
                    .arg(mark)
                    .args(["--delay", &delay.to_string()]);
            }
        }
        let mut child = cmd.spawn().expect("start aiosmtpd: pip install aiosmtpd");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(stdout);
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_default();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("aiosmtpd did not start: {line:?}"));
        let server = SmtpServer {
            child,
            port,
            dir,
            stdin,
        };
        if !hold {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "aiosmtpd did not listen"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        server
    }

    /// The SMTP URL of this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far.
    pub fn messages(&self) -> Vec<Mail> {
        let mut mails = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let header = |name: &str| {
                    raw.lines()
                        .take_while(|l| !l.is_empty())
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                        .unwrap_or_default()
                };
                mails.push(Mail {
                    to: header("To:"),
                    subject: header("Subject:"),
                    message_id: header("Message-ID:"),
                    raw: decode_quoted_printable(&raw),
                });
            }
        }
        mails
    }

    /// Waits until at least `n` messages arrived (or `within` passes) and returns them.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let mails = self.messages();
            if mails.len() >= n || std::time::Instant::now() >= deadline {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings that send mail to `smtp_url` quickly: a worker polling every 20 ms.
pub fn with_mail(settings: &mut Settings, smtp_url: &str) {
    settings.mail.smtp_url = Some(SecretString::from(smtp_url.to_owned()));
    settings.mail.worker_in_server = true;
    settings.mail.poll_interval_ms = 20;
    settings.mail.timeout_seconds = 3;
    settings.mail.backoff_base_seconds = 1;
    settings.mail.backoff_max_seconds = 2;
}

/// Adds `mailbox` for `role` to the directory of [`AREA`] as an admin.
pub async fn add_mailbox(app: &TestApp, role: &str, mailbox: &str) {
    let admin = app.token("admin-1", &["admin"], AREA);
    let response = app
        .post_json(
            "/v1/directory",
            &admin,
            &serde_json::json!({"role": role, "mailbox": mailbox}),
        )
        .await;
    assert_eq!(
        response.status().as_u16(),
        201,
        "directory entry for {role}"
    );
}
