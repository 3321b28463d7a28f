//! The audit log at scale: the real `pathway` binary over loopback HTTP. Run by
//! `cargo bench --bench load` after the load figures, or alone by `cargo bench --bench audit`.
//!
//! It builds a synthetic log of `PATHWAY_BENCH_AUDIT_ENTRIES`
//! entries (default 1,000,000) with `pathway seed --audit-entries` on SQLite, and, with
//! `PATHWAY_BENCH_POSTGRES_URL` (for example `postgres://postgres@127.0.0.1:5432/test`),
//! on a fresh PostgreSQL database too. It then measures `GET /v1/audit` as an area
//! auditor with each filter combination, by case, by actor and as a national auditor
//! (p50 and p99 of sequential requests), `pathway audit verify` (entries per second and
//! peak memory) and the server's peak memory, and prints a table. Traffic goes to
//! 127.0.0.1 only; the databases are removed afterwards.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Requests per query shape.
const REQUESTS: usize = 200;

/// A running `pathway serve`, stopped when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pathway` with the configuration, keys and witness of one backend's run.
/// `pathway <args>` on `database_url`, with audit keys, witness and vault key under `dir`.
pub fn pathway(database_url: &str, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pathway"));
    cmd.args(args)
        .args(["--database-url", database_url])
        .env(
            "PATHWAY_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("PATHWAY__LOG__FORMAT", "json")
        .env("PATHWAY__LOG__FILTER", "warn,pathway::startup=info")
        .env("PATHWAY__AUDIT__HMAC_KEY_FILE", dir.join("hmac.key"))
        .env("PATHWAY__AUDIT__SIGNING_KEY_FILE", dir.join("signing.key"))
        .env("PATHWAY__AUDIT__WITNESS_DIR", dir.join("witness"))
        .env(
            "PATHWAY__VAULT__MASTER_KEY_FILE",
            dir.join("vault-master.key"),
        )
        .env_remove("RUST_LOG");
    cmd
}

/// The peak resident memory of a process (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `cmd` to its end; its stdout, wall time and peak memory (sampled).
fn run_measured(mut cmd: Command) -> (String, Duration, u64) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("run pathway");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).expect("read stdout");
        out
    });
    let mut peak = 0;
    loop {
        peak = peak.max(peak_rss_kib(pid));
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let status = child.wait().expect("wait");
    let out = reader.join().expect("stdout");
    assert!(status.success(), "pathway failed: {out}");
    (out, elapsed, peak)
}

fn start(database_url: &str, dir: &std::path::Path) -> Server {
    serve(pathway(
        database_url,
        dir,
        &["serve", "--listen", "127.0.0.1:0"],
    ))
}

/// Spawns `command` (a `pathway serve` on port 0) and waits for the port it listens on.
pub fn serve(mut command: Command) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pathway serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next().expect("server output").expect("line");
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "listening" {
            break v["port"].as_u64().expect("port") as u16;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, port }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1_000.0
}

/// p50 and p99 in ms of `REQUESTS` sequential requests to `path`, after a warm-up;
/// also the number of items of the first page.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
) -> (f64, f64, usize) {
    let get = || async {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.json::<Value>().await.expect("json")
    };
    let first = get().await;
    let items = first["items"].as_array().map_or(0, Vec::len);
    let mut took = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        get().await;
        took.push(started.elapsed());
    }
    took.sort();
    (percentile(&took, 0.5), percentile(&took, 0.99), items)
}

async fn bench(backend: &str, database_url: &str, dir: &std::path::Path, entries: u64) {
    println!("\n{backend}");
    let (out, took, _) = run_measured(pathway(
        database_url,
        dir,
        &[
            "seed",
            "--referrals",
            "12",
            "--audit-entries",
            &entries.to_string(),
        ],
    ));
    let tokens: std::collections::BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    println!(
        "  built the log: {entries} entries in {:.0} s ({:.0} entries/s)",
        took.as_secs_f64(),
        entries as f64 / took.as_secs_f64()
    );
    let (out, took, verify_peak) = run_measured(pathway(database_url, dir, &["audit", "verify"]));
    let report: Value = serde_json::from_str(&out).expect("verify report");
    assert_eq!(report["intact"], true, "{report}");
    let checked = report["entries_checked"].as_u64().unwrap_or(0);
    let server = start(database_url, dir);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = reqwest::Client::new();
    let auditor = &tokens["AUDITOR"];
    let national = &tokens["NATIONAL_AUDITOR"];
    let newest: Value = client
        .get(format!("{base}/v1/audit?action=case.submit&limit=1"))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let case = newest["items"][0]["case_id"]
        .as_str()
        .expect("a case")
        .to_owned();
    let actor = "bulk-0-officer-1";
    let from = (chrono::Utc::now() - chrono::Duration::days(400)).format("%Y-%m-%dT00:00:00Z");
    let to = (chrono::Utc::now() - chrono::Duration::days(300)).format("%Y-%m-%dT00:00:00Z");
    let shapes: Vec<(&str, String, &String)> = vec![
        ("area auditor, no filter", "/v1/audit".into(), auditor),
        (
            "area auditor, order=asc",
            "/v1/audit?order=asc".into(),
            auditor,
        ),
        (
            "area auditor, action",
            "/v1/audit?action=case.submit".into(),
            auditor,
        ),
        (
            "area auditor, police-only action",
            "/v1/audit?action=case.action.record_deconfliction".into(),
            auditor,
        ),
        (
            "area auditor, actor",
            format!("/v1/audit?actor={actor}"),
            auditor,
        ),
        (
            "area auditor, case",
            format!("/v1/audit?case_id={case}"),
            auditor,
        ),
        (
            "area auditor, dates",
            format!("/v1/audit?from={from}&to={to}"),
            auditor,
        ),
        (
            "area auditor, action+dates",
            format!("/v1/audit?action=case.read&from={from}&to={to}"),
            auditor,
        ),
        (
            "area auditor, actor+action+dates",
            format!("/v1/audit?actor={actor}&action=case.read&from={from}&to={to}"),
            auditor,
        ),
        (
            "national, by case",
            format!("/v1/audit?case_id={case}"),
            national,
        ),
        (
            "national, by actor",
            format!("/v1/audit?actor={actor}"),
            national,
        ),
        ("national, no filter", "/v1/audit".into(), national),
    ];
    println!("  | query | p50 ms | p99 ms | items |");
    println!("  |---|---|---|---|");
    for (label, path, token) in &shapes {
        let (p50, p99, items) = measure(&client, &base, path, token).await;
        println!("  | {label} | {p50:.1} | {p99:.1} | {items} |");
    }
    println!(
        "  | `pathway audit verify` | {checked} entries in {:.1} s: {:.0} entries/s, peak {:.0} MiB |",
        took.as_secs_f64(),
        checked as f64 / took.as_secs_f64(),
        verify_peak as f64 / 1024.0
    );
    println!(
        "  | server peak RSS after {} requests | {:.0} MiB |",
        shapes.len() * (REQUESTS + 1),
        peak_rss_kib(server.child.id()) as f64 / 1024.0
    );
}

/// How many entries the log is built with: `PATHWAY_BENCH_AUDIT_ENTRIES`, default
/// 1,000,000; 0 skips the audit part.
pub fn entries() -> u64 {
    std::env::var("PATHWAY_BENCH_AUDIT_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Builds the log and measures it on SQLite (unless `PATHWAY_BENCH_SKIP_SQLITE` is set)
/// and, with `PATHWAY_BENCH_POSTGRES_URL`, on a fresh PostgreSQL database.
pub fn run(runtime: &tokio::runtime::Runtime, entries: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "audit log at scale: {entries} entries, {REQUESTS} sequential requests per query, release build"
    );
    if std::env::var("PATHWAY_BENCH_SKIP_SQLITE").is_err() {
        let sqlite = dir.path().join("audit.db").to_string_lossy().into_owned();
        runtime.block_on(bench(
            "SQLite",
            &sqlite,
            &dir.path().join("sqlite"),
            entries,
        ));
    }
    if let Ok(admin) = std::env::var("PATHWAY_BENCH_POSTGRES_URL") {
        let name = format!("pathway_audit_bench_{}", uuid::Uuid::new_v4().simple());
        let psql = |sql: &str| {
            let status = Command::new("psql")
                .args([admin.as_str(), "-qc", sql])
                .status()
                .expect("psql");
            assert!(status.success(), "{sql}");
        };
        psql(&format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        runtime.block_on(bench(
            "PostgreSQL",
            &format!("{base}/{name}"),
            &dir.path().join("postgres"),
            entries,
        ));
        psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
    }
}
