//! The `pathway` binary as an operator runs it: flags, signals, logs, production checks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use pathway::store::DbConnection;
use serde_json::Value;

use crate::helpers::{AREA, TestAuditFiles, TestDatabase, config_dir, fixture};

/// A `metrics.token` long enough for production.
pub const METRICS_TOKEN: &str = "a-metrics-token-for-production-tests-0001";

pub(crate) fn pathway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pathway"));
    let mail_dir =
        std::env::temp_dir().join(format!("pathway-mail-{}", uuid::Uuid::new_v4().simple()));
    // Audit keys that exist (production never generates them), kept for the process.
    let audit = TestAuditFiles::new();
    audit.trust();
    audit.vault();
    cmd.envs(audit.env());
    let _ = audit.dir.keep();
    cmd.env("PATHWAY_CONFIG_DIR", config_dir())
        .env("PATHWAY__MAIL__FILE_DIR", mail_dir)
        // Fail at once when the database is down; the tests of waiting set their own.
        .env("PATHWAY__DATABASE__STARTUP_WAIT_SECONDS", "0")
        .env_remove("RUST_LOG")
        .env_remove("PATHWAY_ENV");
    cmd
}

/// A `pathway serve` process whose JSON log lines are collected as they come.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .env("PATHWAY__LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pathway serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening")
                    .then(|| v["port"].as_u64())
                    .flatten()
            });
            if let Some(port) = found {
                break port as u16;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).ok();
                panic!("pathway serve exited early ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "pathway serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        // Ready means answering: the signal handlers are installed once the server runs.
        while std::net::TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut stream| {
                use std::io::{Read, Write};
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut answer = String::new();
                stream.read_to_string(&mut answer)?;
                Ok(answer.starts_with("HTTP/1.1 200"))
            })
            .map_or(true, |ok| !ok)
        {
            assert!(Instant::now() < deadline, "pathway serve did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port, lines }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub(crate) fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pathway serve did not stop in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn serve(db: &TestDatabase) -> Command {
    let mut cmd = pathway();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
    ]);
    cmd
}

pub(crate) fn cli_token(roles: &[&str], sub: &str, name: &str) -> String {
    let mut cmd = pathway();
    cmd.args([
        "token",
        "--area",
        AREA,
        "--sub",
        sub,
        "--name",
        name,
        "--email",
        &format!("{sub}@example.org"),
    ]);
    for role in roles {
        cmd.args(["--role", role]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn migrate_then_serve_with_flags_and_a_cli_token() {
    let db = TestDatabase::fresh();
    let out = pathway()
        .args(["migrate", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(pathway::store::migrations_current(&mut db.connect()).unwrap());

    let server = Server::start(serve(&db));
    let token = cli_token(&["referrer", "panel_member"], "teacher-1", "Jo Smith");
    let me: Value = reqwest::Client::new()
        .get(server.url("/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], "teacher-1");
    assert_eq!(me["roles"], serde_json::json!(["referrer", "panel_member"]));
}

/// Holds the lock an audit append needs, so a request that appends stays in flight.
fn hold_audit_lock(conn: &mut DbConnection) {
    let sql = match conn {
        DbConnection::Postgres(_) => "BEGIN; LOCK TABLE audit_chains IN EXCLUSIVE MODE;",
        DbConnection::Sqlite(_) => "BEGIN IMMEDIATE;",
    };
    conn.batch_execute(sql).unwrap();
}

#[tokio::test]
async fn sigterm_stops_accepting_and_finishes_the_request_in_flight() {
    let db = TestDatabase::fresh();
    let mut server = Server::start(serve(&db));
    let token = cli_token(&["auditor"], "auditor-1", "Ann Auditor");
    let mut blocker = db.connect();
    hold_audit_lock(&mut blocker);

    let url = server.url("/v1/audit");
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !in_flight.is_finished(),
        "the request waits for the held lock"
    );

    server.terminate();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let early = server.child.try_wait().unwrap();
    assert!(
        early.is_none(),
        "still running while a request is in flight: {early:?} {:#?}",
        server.logs()
    );
    let refused = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "no new connections after SIGTERM: {refused:?}"
    );

    blocker.batch_execute("COMMIT").unwrap();
    let status = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(status, 200);
    assert!(server.wait_for_exit(Duration::from_secs(15)).success());
    assert!(server.logs().iter().any(|l| l.contains("\"stopped\"")));
}

#[tokio::test]
async fn logs_carry_request_ids_and_never_personal_data() {
    let db = TestDatabase::fresh();
    let mut cmd = serve(&db);
    cmd.env("PATHWAY__LOG__FILTER", "trace,h2=info,hyper=info,mio=info");
    let mut server = Server::start(cmd);
    let client = reqwest::Client::new();
    let subject = "Zebedee";
    let family = "Quixote-Marchbanks";
    let token = cli_token(
        &["auditor", "referrer"],
        "auditor-9",
        &format!("{subject} {family}"),
    );
    let mut body = crate::helpers::referral_about(subject, family, "2010-03-14");
    body["concern"]["narrative"] = "Shared violent material about a named classmate.".into();
    body["guardians"][0]["name"] = format!("Agatha {family}").into();
    let mut ids = Vec::new();
    let responses = vec![
        client
            .get(server.url("/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        client
            .get(server.url(&format!("/v1/audit?actor={subject}%20{family}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
        client
            .post(server.url("/v1/referrals"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap(),
        client
            .post(server.url("/v1/referrals"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"subject": {"given_name": subject, "family_name": family}}))
            .send()
            .await
            .unwrap(),
        client
            .get(server.url("/v1/me"))
            .header("x-note", family)
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap(),
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses,
        vec![200, 200, 201, 422, 401],
        "a read, a list, a filing, a refusal, a bad token"
    );
    for r in responses {
        ids.push(r.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    server.terminate();
    server.wait_for_exit(Duration::from_secs(15));
    let logs = server.logs();
    assert!(logs.len() > 10, "trace logging produced lines");
    for line in &logs {
        for secret in [
            subject,
            "Quixote",
            "LS1 1AA",
            "2010-03-14",
            "violent material",
            &token[..40],
        ] {
            assert!(
                !line.contains(secret),
                "log line contains personal data `{secret}`: {line}"
            );
        }
    }
    for id in &ids {
        let finished = logs
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "request finished" && v["span"]["request_id"] == id.as_str());
        assert!(
            finished.is_some(),
            "a `request finished` line with request id {id}"
        );
    }
    let in_requests: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["name"] == "request")
        .collect();
    assert!(in_requests.len() >= ids.len());
    assert!(in_requests.iter().all(|v| {
        v["span"]["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    }));
}

#[test]
fn production_refuses_the_local_secret_and_symmetric_keys() {
    let db = TestDatabase::fresh();
    let public_key = fixture("keys/rsa-public.pem");
    let public_key = public_key.to_str().unwrap();
    let metrics = ("PATHWAY__METRICS__TOKEN", METRICS_TOKEN);
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[], "auth"),
        (
            &[
                ("PATHWAY__AUTH__ALGORITHM", "HS256"),
                (
                    "PATHWAY__AUTH__HS256_SECRET",
                    "a-production-secret-that-is-long-enough",
                ),
            ],
            "asymmetric",
        ),
        (
            &[
                ("PATHWAY__AUTH__PUBLIC_KEY_FILE", "/nonexistent"),
                (
                    "PATHWAY__AUTH__HS256_SECRET",
                    "pathway-local-development-secret-not-for-production-use",
                ),
            ],
            "hs256_secret",
        ),
        (
            &[
                ("PATHWAY__AUTH__PUBLIC_KEY_FILE", public_key),
                ("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1"),
                ("PATHWAY__SERVER__PUBLIC_URL", "http://127.0.0.1:8080"),
            ],
            "production needs server.public_url, an https:// address",
        ),
        (
            &[
                ("PATHWAY__AUTH__PUBLIC_KEY_FILE", public_key),
                ("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1"),
                metrics,
                (
                    "PATHWAY__AUDIT__HMAC_KEY_FILE",
                    "/nonexistent/audit-hmac.key",
                ),
            ],
            "audit key file /nonexistent/audit-hmac.key",
        ),
        (
            &[
                ("PATHWAY__AUTH__PUBLIC_KEY_FILE", public_key),
                ("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1"),
                metrics,
                ("PATHWAY__VAULT__MASTER_KEY_FILE", "/nonexistent/vault.key"),
            ],
            "vault master key file /nonexistent/vault.key",
        ),
        (
            &[
                ("PATHWAY__AUTH__PUBLIC_KEY_FILE", public_key),
                ("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1"),
            ],
            "production needs metrics.token",
        ),
    ];
    for (env, message) in cases {
        let out = pathway()
            .env("PATHWAY_ENV", "production")
            .env(
                "PATHWAY__SERVER__PUBLIC_URL",
                "https://pathway.council.example",
            )
            .envs(env.iter().copied())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db.url,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{env:?} must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{env:?}: {stderr}");
    }
}

#[test]
fn production_with_a_public_key_starts_and_refuses_to_mint_local_tokens() {
    let db = TestDatabase::fresh();
    let key = fixture("keys/rsa-public.pem");
    let out = pathway()
        .env("PATHWAY_ENV", "production")
        .env(
            "PATHWAY__SERVER__PUBLIC_URL",
            "https://pathway.council.example",
        )
        .env("PATHWAY__AUTH__PUBLIC_KEY_FILE", &key)
        .env("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1")
        .env("PATHWAY__METRICS__TOKEN", METRICS_TOKEN)
        .args([
            "token",
            "--role",
            "admin",
            "--area",
            AREA,
            "--sub",
            "x",
            "--name",
            "X",
            "--email",
            "x@example.org",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("local-use tokens only"));
    assert!(out.stdout.is_empty(), "no token printed");

    let mut cmd = serve(&db);
    cmd.env("PATHWAY_ENV", "production")
        .env(
            "PATHWAY__SERVER__PUBLIC_URL",
            "https://pathway.council.example",
        )
        .env("PATHWAY__AUTH__PUBLIC_KEY_FILE", &key)
        .env("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1")
        .env("PATHWAY__METRICS__TOKEN", METRICS_TOKEN)
        .env("PATHWAY__MAIL__WORKER_IN_SERVER", "false");
    let mut server = Server::start(cmd);
    let first: Value = serde_json::from_str(&server.logs()[0]).expect("production logs are JSON");
    assert!(first["level"].is_string() && first["timestamp"].is_string());
    server.terminate();
    assert!(server.wait_for_exit(Duration::from_secs(15)).success());
}

/// The links in the emails a server sends, read from its `.eml` files.
fn links_in_mail(dir: &std::path::Path, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let links: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            // Undo quoted-printable soft line breaks, so a wrapped link reads whole.
            .map(|raw| raw.replace("=\r\n", "").replace("=\n", ""))
            .flat_map(|raw| {
                raw.split(['"', ' ', '\n', '\r', '<', '>'])
                    .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        if !links.is_empty() || Instant::now() >= deadline {
            return links;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files a referral on `server` (its acknowledgement email carries a link).
async fn file_one(server: &Server) {
    let token = cli_token(&["referrer"], "teacher-1", "Jo Smith");
    let response = reqwest::Client::new()
        .post(server.url("/v1/referrals"))
        .bearer_auth(&token)
        .json(&crate::helpers::referral_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn serve_listen_moves_the_links_in_emails_unless_public_url_is_set() {
    let db = TestDatabase::fresh();
    let mail = tempfile::tempdir().unwrap();
    let mut cmd = pathway();
    // Port 0: the server binds a port of its own (not the configured 8080) and says
    // which; the links follow the address actually bound.
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url])
        .env("PATHWAY__MAIL__FILE_DIR", mail.path())
        .env("PATHWAY__MAIL__POLL_INTERVAL_MS", "50");
    let mut server = Server::start(cmd);
    let port = server.port;
    assert_ne!(port, 8080);
    file_one(&server).await;
    let links = links_in_mail(mail.path(), Duration::from_secs(20));
    assert!(
        !links.is_empty(),
        "an acknowledgement with a link was written"
    );
    let base = format!("http://127.0.0.1:{port}/");
    assert!(links.iter().all(|l| l.starts_with(&base)), "{links:?}");
    server.terminate();
    server.wait_for_exit(Duration::from_secs(15));

    // Set explicitly (here by environment), it wins over --listen. (A database of its
    // own: each `pathway()` has keys of its own.)
    let db = TestDatabase::fresh();
    let mail = tempfile::tempdir().unwrap();
    let mut cmd = pathway();
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
    ])
    .env("PATHWAY__MAIL__FILE_DIR", mail.path())
    .env("PATHWAY__MAIL__POLL_INTERVAL_MS", "50")
    .env("PATHWAY__SERVER__PUBLIC_URL", "https://pathway.example/");
    let server = Server::start(cmd);
    file_one(&server).await;
    let links = links_in_mail(mail.path(), Duration::from_secs(20));
    assert!(
        !links.is_empty(),
        "an acknowledgement with a link was written"
    );
    assert!(
        links
            .iter()
            .all(|l| l.starts_with("https://pathway.example/v1/")),
        "{links:?}"
    );
}

/// Runs `pathway` with `args`; returns (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let started = Instant::now();
    let out = pathway().args(args).output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered at once, not after the pool's timeout: {args:?}"
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn postgres_server_url() -> String {
    let admin = std::env::var("PATHWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    admin
        .rsplit_once('/')
        .map_or(admin.clone(), |(b, _)| b.to_owned())
}

/// Drops a PostgreSQL database when the test ends, however it ends.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        use diesel::Connection;
        if let Ok(mut conn) =
            diesel::PgConnection::establish(&format!("{}/postgres", postgres_server_url()))
        {
            let quoted = format!("\"{}\"", self.0.replace('"', "\"\""));
            let result =
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"));
            assert!(
                result.is_ok() || std::thread::panicking(),
                "drop {quoted}: {result:?}"
            );
        }
    }
}

#[test]
fn migrate_creates_a_missing_database_serve_says_how_and_a_wrong_user_is_named() {
    if crate::helpers::backend() == crate::helpers::TestBackend::Sqlite {
        // SQLite: the file and its directory are made on first use.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/pathway.db");
        let (ok, _, err) = run(&["migrate", "--database-url", path.to_str().unwrap()]);
        assert!(ok, "{err}");
        assert!(path.exists());
        return;
    }
    // A name that needs quoting: a capital, a space and a double quote.
    let name = format!("Pathway \"new\" {}", uuid::Uuid::new_v4().simple());
    let _cleanup = DropDatabase(name.clone());
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let url = format!("{}/{}", postgres_server_url(), encoded.replace('+', "%20"));

    let (ok, _, err) = run(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url]);
    assert!(!ok, "serve does not create a database");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains(&name), "names the database: {err}");
    assert!(
        err.contains("pathway migrate"),
        "says how to create it: {err}"
    );

    let (ok, out, err) = run(&["migrate", "--database-url", &url]);
    assert!(ok, "{err}");
    assert!(out.contains("created the database"), "{out}");
    assert!(out.contains(&name), "{out}");
    {
        use diesel::Connection;
        let mut conn = DbConnection::establish(&url).expect("the database exists now");
        assert!(pathway::store::migrations_current(&mut conn).unwrap());
    }

    let (ok, out, err) = run(&["migrate", "--database-url", &url]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("created"),
        "it existed the second time: {out}"
    );

    // A user the server does not know is named, by both commands.
    let user = format!("nobody_{}", uuid::Uuid::new_v4().simple());
    let url = url.replacen("://postgres@", &format!("://{user}@"), 1);
    assert!(url.contains(&user), "the test URL names its user: {url}");
    for command in ["migrate", "serve"] {
        let (ok, _, err) = run(&[command, "--database-url", &url]);
        assert!(!ok);
        assert!(
            err.contains(&format!("user \"{user}\"")),
            "{command}: {err}"
        );
        assert!(!err.contains("multiconnection"), "{err}");
    }
}

#[test]
fn an_unreachable_postgres_port_is_named() {
    let closed = crate::helpers::ClosedPort::new();
    let port = closed.port;
    let url = format!("postgres://postgres@127.0.0.1:{port}/pathway");
    for command in ["migrate", "serve"] {
        let (ok, _, err) = run(&[command, "--database-url", &url]);
        assert!(!ok);
        assert!(
            err.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")),
            "{command}: {err}"
        );
        assert!(!err.contains("multiconnection"), "{err}");
    }
}

/// A small tmpfs mounted for one test (the way to fill a disk, or make it read-only,
/// that even root cannot write past), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill it: it needs root (CAP_SYS_ADMIN)"
        );
        SmallDisk { dir }
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&[0u8]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_503_readiness_says_so_nothing_is_half_written_and_no_false_error_is_logged()
 {
    let disk = SmallDisk::mount("16m");
    let path = disk.dir.path().join("pathway.db");
    let path = path.to_str().unwrap();
    let mut cmd = pathway();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", path])
        .env("PATHWAY__MAIL__WORKER_IN_SERVER", "false");
    let mut server = Server::start(cmd);
    file_one(&server).await;
    let cases = || {
        use diesel::prelude::*;
        let mut conn = <DbConnection as diesel::Connection>::establish(path).unwrap();
        pathway::store::schema::cases::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    };
    let audit_entries = || {
        use diesel::prelude::*;
        let mut conn = <DbConnection as diesel::Connection>::establish(path).unwrap();
        pathway::store::schema::audit_log::table
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    };
    assert_eq!(cases(), 1);
    let entries = audit_entries();

    let filler = disk.fill();
    let client = reqwest::Client::new();
    let token = cli_token(&["referrer"], "teacher-1", "Jo Smith");
    for _ in 0..2 {
        let response = client
            .post(server.url("/v1/referrals"))
            .bearer_auth(&token)
            .json(&crate::helpers::referral_body())
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("retry-after"));
        let body = crate::helpers::assert_problem(response, 503, "service_unavailable").await;
        assert!(
            body["detail"].as_str().unwrap().contains("disk is full"),
            "{body}"
        );
    }
    let response = client.get(server.url("/readyz")).send().await.unwrap();
    let body = crate::helpers::assert_problem(response, 503, "service_unavailable").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("disk is full"), "{body}");
    assert!(!detail.contains(path) && !detail.contains("/tmp"), "{body}");
    assert_eq!(cases(), 1, "no case half-written");
    assert_eq!(audit_entries(), entries, "no audit entry half-written");

    std::fs::remove_file(filler).unwrap();
    let response = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "ready again once space is freed"
    );
    file_one(&server).await;
    assert_eq!(cases(), 2);

    server.terminate();
    server.wait_for_exit(Duration::from_secs(15));
    let logs = server.logs();
    let errors: Vec<&String> = logs
        .iter()
        .filter(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                v["level"] == "ERROR"
                    && (v["message"] != "request failed"
                        || v["span"]["http.status"].as_u64() != Some(503))
            })
        })
        .collect();
    assert!(
        errors.is_empty(),
        "no ERROR but the 503s themselves: {errors:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("WARN") && l.contains("disk is full")),
        "the cause is logged at WARN"
    );
}

#[test]
fn serve_waits_with_back_off_for_a_postgres_that_comes_up() {
    let db = TestDatabase::fresh_for(crate::helpers::TestBackend::Postgres);
    let proxy = crate::resilience::Proxy::start(Duration::from_secs(2));
    let port = proxy.port;
    let url = proxy.url(&db.url);
    let mut cmd = pathway();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env("PATHWAY__DATABASE__STARTUP_WAIT_SECONDS", "20")
        .env("PATHWAY__MAIL__WORKER_IN_SERVER", "false");
    let started = Instant::now();
    let server = Server::start(cmd);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "it waited for the database"
    );
    let warnings: Vec<Value> = server
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "WARN" && v["message"] == "database not available yet; retrying")
        .collect();
    assert!(
        warnings.len() >= 2,
        "each failed attempt is logged: {warnings:#?}"
    );
    let cause = format!("cannot reach PostgreSQL at 127.0.0.1:{port}");
    assert!(
        warnings
            .iter()
            .all(|w| w["error"].as_str().unwrap().contains(&cause)),
        "{warnings:#?}"
    );
    let delays: Vec<u64> = warnings
        .iter()
        .map(|w| w["retry_in_ms"].as_u64().unwrap())
        .collect();
    assert!(
        delays.windows(2).all(|d| d[1] >= d[0]),
        "back-off grows: {delays:?}"
    );
    let answer = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn startup_gives_up_after_its_wait_naming_the_cause_and_never_retries_a_wrong_user() {
    let closed = crate::helpers::ClosedPort::new();
    let port = closed.port;
    let url = format!("postgres://postgres@127.0.0.1:{port}/pathway");
    for command in ["serve", "migrate"] {
        let started = Instant::now();
        let out = pathway()
            .args([command, "--database-url", &url])
            .env("PATHWAY__DATABASE__STARTUP_WAIT_SECONDS", "2")
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(!out.status.success());
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(10),
            "{command}: gave up after {took:?}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("cannot reach PostgreSQL at 127.0.0.1:{port}")),
            "{command}: {stderr}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("retrying"),
            "{command}: attempts logged"
        );
    }

    // A user the server does not know needs a person: no waiting.
    let user = format!("nobody_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://{user}@127.0.0.1:5432/test");
    let started = Instant::now();
    let out = pathway()
        .args(["serve", "--database-url", &url])
        .env("PATHWAY__DATABASE__STARTUP_WAIT_SECONDS", "20")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("user \"{user}\"")));
}
