//! The key files at start-up: generated only for an empty database, never silently
//! replaced over one that holds data, and kept to their owner.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use pathway::startup::Application;
use serde_json::Value;

use crate::helpers::{
    TestAuditFiles, TestDatabase, config_dir, fixture, referral_body, spawn_app, test_settings,
};
use crate::process::{Server, pathway, serve};

fn start_error(settings: pathway::config::Settings) -> String {
    match Application::build(settings) {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_missing_key_file_over_a_database_with_data_stops_the_start_naming_it() {
    let app = spawn_app().await;
    app.file(&referral_body()).await;
    for key in [
        app.audit.hmac_key_file(),
        app.audit.signing_key_file(),
        app.audit.master_key_file(),
    ] {
        let saved = std::fs::read(&key).unwrap();
        std::fs::remove_file(&key).unwrap();

        let error = start_error(app.settings.clone());

        assert!(
            error.contains(&key.display().to_string()),
            "names {}: {error}",
            key.display()
        );
        assert!(error.contains("restore the file"), "{error}");
        assert!(!key.exists(), "no new key written in its place");
        std::fs::write(&key, saved).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // With the files back, it starts, and the log still verifies under the old keys.
    let again = Application::build(app.settings.clone()).expect("starts with its keys");
    drop(again);
    let trust = app.trust();
    let report = pathway::store::audit::verify(
        &mut app.db.connect(),
        &trust.entry_key,
        &trust.public_key(),
        Some(&trust.witness),
    )
    .unwrap();
    assert!(report.intact, "{report:?}");
}

#[tokio::test]
async fn keys_are_generated_for_an_empty_database_only() {
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    let settings = test_settings(&db, &audit);
    assert!(!audit.hmac_key_file().exists());

    let app = Application::build(settings.clone()).expect("an empty database starts");
    drop(app);

    for key in [
        audit.hmac_key_file(),
        audit.signing_key_file(),
        audit.master_key_file(),
    ] {
        assert!(key.exists(), "{} generated", key.display());
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
    // Migrated and started, still empty: a lost key may be made again.
    std::fs::remove_file(audit.hmac_key_file()).unwrap();
    drop(Application::build(settings).expect("still empty: generated again"));
    assert!(audit.hmac_key_file().exists());
}

/// Runs `cmd` for at most 20 s (a server or worker that starts would run on); its exit
/// status, if it stopped, and its stderr.
fn run_briefly(cmd: &mut std::process::Command) -> (Option<std::process::ExitStatus>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

#[tokio::test]
async fn every_command_refuses_a_missing_key_over_a_database_with_data() {
    let app = spawn_app().await;
    app.file(&referral_body()).await;
    let hmac = app.audit.hmac_key_file();
    std::fs::remove_file(&hmac).unwrap();
    for args in [
        vec!["audit", "verify"],
        vec!["worker"],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ] {
        let mut cmd = pathway();
        cmd.envs(app.audit.env())
            .args(&args)
            .args(["--database-url", &app.db.url]);
        let (status, stderr) = tokio::task::spawn_blocking(move || run_briefly(&mut cmd))
            .await
            .unwrap();
        assert!(
            status.is_some_and(|s| !s.success()),
            "{args:?} must stop: {status:?}"
        );
        assert!(
            stderr.contains(&hmac.display().to_string()) && stderr.contains("restore the file"),
            "{args:?}: {stderr}"
        );
        assert!(!hmac.exists(), "{args:?} generated a key");
    }
}

/// The WARN lines about open key files in a server's JSON log.
fn open_key_warnings(server: &Server) -> Vec<Value> {
    server
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "WARN" && v["key.file"].is_string())
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("chmod 600"))
        })
        .collect()
}

fn open_up(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[tokio::test]
async fn a_key_file_open_to_others_is_warned_about_locally_and_refused_in_production() {
    let audit = TestAuditFiles::new();
    audit.trust();
    audit.vault();
    open_up(&audit.hmac_key_file());

    let db = TestDatabase::fresh();
    let mut cmd = serve(&db);
    cmd.envs(audit.env());
    let mut server = Server::start(cmd);
    server.terminate();
    server.wait_for_exit(Duration::from_secs(15));
    let warnings = open_key_warnings(&server);
    assert_eq!(warnings.len(), 1, "{:#?}", server.logs());
    assert_eq!(
        warnings[0]["key.file"],
        audit.hmac_key_file().display().to_string()
    );

    let public_key = fixture("keys/rsa-public.pem");
    let db = TestDatabase::fresh();
    let out = pathway()
        .envs(audit.env())
        .env("PATHWAY_ENV", "production")
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env(
            "PATHWAY__SERVER__PUBLIC_URL",
            "https://pathway.council.example",
        )
        .env("PATHWAY__AUTH__PUBLIC_KEY_FILE", &public_key)
        .env("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1")
        .env("PATHWAY__METRICS__TOKEN", crate::process::METRICS_TOKEN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "production refuses an open key file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&audit.hmac_key_file().display().to_string())
            && stderr.contains("mode 0644"),
        "{stderr}"
    );
}
