//! `pathway seed`: a fresh database of this run's backend, seeded by the binary, then
//! read through the HTTP API of a server on it.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{AREA, TestAuditFiles, TestDatabase, config_dir, test_settings};

fn seed_command(db: &TestDatabase, audit: &TestAuditFiles) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pathway"));
    cmd.envs(audit.env())
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env_remove("PATHWAY_ENV")
        .args(["seed", "--database-url", &db.url]);
    cmd
}

/// Seeds `db`; returns the cases by state it reports, and its `export` lines.
fn seed(
    db: &TestDatabase,
    audit: &TestAuditFiles,
    number: &str,
) -> (BTreeMap<String, i64>, BTreeMap<String, String>) {
    let out = seed_command(db, audit)
        .args(["--seed", number])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut states = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((var, token)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            tokens.insert(var.to_owned(), token.to_owned());
        } else if let Some(row) = line.strip_prefix("#   ") {
            let mut words = row.split_whitespace();
            let (state, n) = (words.next().unwrap(), words.next().unwrap());
            states.insert(state.to_owned(), n.parse().unwrap());
        } else {
            assert!(line.starts_with('#'), "only comments and exports: {line}");
        }
    }
    (states, tokens)
}

#[tokio::test]
async fn seed_fills_every_state_through_the_real_use_cases() {
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    let (states, tokens) = seed(&db, &audit, "7");
    for state in pathway::seed::STATES {
        assert!(
            states.get(state).is_some_and(|n| *n >= 1),
            "{state}: {states:?}"
        );
    }
    let total: i64 = states.values().sum();
    assert_eq!(total, 36, "{states:?}");
    for var in [
        "ADMIN",
        "OFFICER",
        "CHAIR",
        "MEMBER",
        "TEACHER",
        "AUDITOR",
        "RECORDS",
        "NATIONAL_AUDITOR",
    ] {
        assert!(tokens.contains_key(var), "a token for {var}: {tokens:?}");
    }

    // A server on the seeded database, with the same keys, answers as real use would.
    let app = pathway::startup::Application::build(test_settings(&db, &audit)).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let get = |path: String, token: &str| {
        let request = client.get(format!("{base}{path}")).bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200, "{}", response.url());
            response.json::<Value>().await.unwrap()
        }
    };
    // The printed tokens work: the officer sees every state, police-only ones too.
    for (state, n) in &states {
        let page = get(
            format!("/v1/cases?state={state}&limit=500"),
            &tokens["OFFICER"],
        )
        .await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len() as i64, *n, "{state}: {page}");
        assert!(items.iter().all(|c| c["state"] == state.as_str()));
    }
    // The panel has its members and meetings; the directory its mailboxes.
    let panels = get("/v1/panels".into(), &tokens["CHAIR"]).await;
    let panel_id = panels[0]["id"].as_str().unwrap().to_owned();
    let panel = get(format!("/v1/panels/{panel_id}"), &tokens["CHAIR"]).await;
    assert_eq!(panel["members"].as_array().unwrap().len(), 5, "{panel}");
    let directory = get("/v1/directory".into(), &tokens["ADMIN"]).await;
    assert!(
        directory.to_string().contains("prevent_team"),
        "{directory}"
    );

    let verify = get("/v1/audit/verify".into(), &tokens["AUDITOR"]).await;
    assert_eq!(verify["intact"], true, "{verify}");
    let log = get("/v1/audit?limit=500".into(), &tokens["AUDITOR"]).await;
    assert!(
        log["items"].as_array().unwrap().len() > 36,
        "an entry per action: {log}"
    );

    // Statistics count every case, whatever its state: a transfer to Pursue too.
    let counted = total;
    let adopted: i64 = ["consent_pending", "consent_refused", "support", "exited"]
        .iter()
        .map(|s| states[*s])
        .sum();
    // The area's auditor sees small counts withheld; the national auditor every count
    // (every seeded case is in AREA), so the exact figures are checked there.
    let area_stats = get("/v1/stats".into(), &tokens["AUDITOR"]).await;
    assert_eq!(area_stats["area"], AREA);
    assert_eq!(area_stats["suppression"]["applied"], true, "{area_stats}");
    assert_eq!(area_stats["journey"]["referred"], counted, "{area_stats}");
    let stats = get("/v1/stats".into(), &tokens["NATIONAL_AUDITOR"]).await;
    assert_eq!(stats["journey"]["referred"], counted, "{stats}");
    assert_eq!(
        stats["journey"]["discussed_at_panel"],
        adopted + states["panel_listed"],
        "{stats}"
    );
    assert_eq!(stats["journey"]["adopted"], adopted, "{stats}");
    let by_sector: i64 = stats["by_sector"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(by_sector, counted, "{stats}");

    // A database that holds cases is refused, and the message says how to start afresh.
    let out = seed_command(&db, &audit).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already holds") && stderr.contains("fresh"),
        "{stderr}"
    );
}

#[test]
fn the_same_seed_gives_the_same_demo_and_production_is_refused() {
    let audit = TestAuditFiles::new();
    let (first, _) = seed(&TestDatabase::fresh(), &audit, "42");
    let (again, _) = seed(&TestDatabase::fresh(), &audit, "42");
    assert_eq!(first, again);

    let out = seed_command(&TestDatabase::fresh(), &audit)
        .env("PATHWAY_ENV", "production")
        .env(
            "PATHWAY__SERVER__PUBLIC_URL",
            "https://pathway.council.example",
        )
        .env(
            "PATHWAY__AUTH__PUBLIC_KEY_FILE",
            crate::helpers::fixture("keys/rsa-public.pem"),
        )
        .env("PATHWAY__MAIL__SMTP_URL", "smtp://127.0.0.1:1")
        .env("PATHWAY__METRICS__TOKEN", crate::process::METRICS_TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no token printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("local-use tokens only"));
}

#[test]
fn a_bulk_audit_log_verifies_and_postgres_statistics_describe_it() {
    let db = TestDatabase::fresh();
    let audit = TestAuditFiles::new();
    let out = seed_command(&db, &audit)
        .args(["--seed", "3", "--audit-entries", "3000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .envs(audit.env())
        .env("PATHWAY_CONFIG_DIR", config_dir())
        .env("PATHWAY__LOG__FILTER", "off")
        .args(["audit", "verify", "--database-url", &db.url])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert!(
        report["entries_checked"].as_u64().unwrap() >= 3000,
        "{report}"
    );
    if matches!(
        crate::helpers::backend(),
        crate::helpers::TestBackend::Postgres
    ) {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Analyzed {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            analyzed: bool,
        }
        let row: Analyzed = diesel::sql_query(
            "SELECT last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables \
             WHERE relname = 'audit_log'",
        )
        .get_result(&mut db.connect())
        .unwrap();
        assert!(
            row.analyzed,
            "the planner's statistics are taken after the bulk load"
        );
    }
}
