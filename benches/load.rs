//! Load benchmark: the real `pathway serve` binary over loopback HTTP.
//!
//! `cargo bench --bench load` runs it on SQLite; with `PATHWAY_BENCH_POSTGRES_URL`
//! (for example `postgres://postgres@127.0.0.1:5432/test`) it also runs on a fresh
//! PostgreSQL database. It files referrals, screens them and reads them back with
//! concurrent clients, then prints throughput, latency percentiles and the server's
//! peak memory, and ratios against the national referral rate. It then files at half
//! the saturated rate, paced (open loop), and reports that run's p99. On PostgreSQL it
//! first runs `pgbench` with a script of the rows one intake writes
//! (`benches/intake.pgbench`), 8 clients, as the limit intake is compared with; without
//! `pgbench` it says so and skips that figure. Bounded in count and time; traffic goes
//! to 127.0.0.1 only. `benches/README.md` holds a measured run.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

#[path = "scale/audit.rs"]
mod audit_scale;

use audit_scale::{Server, peak_rss_kib};

const REFERRALS: usize = 2_000;
const CLIENTS: usize = 16;
/// The busiest quarter on record: 3,287 referrals in about 63 working days of 8 hours.
const RECORD_QUARTER_PER_SECOND: f64 = 3_287.0 / (63.0 * 8.0 * 3_600.0);

/// Serves `database_url` with audit keys and a witness of its own under `audit_dir`,
/// with `pool_size` connections (`None`: the configured default).
fn start(database_url: &str, audit_dir: &std::path::Path, pool_size: Option<u32>) -> Server {
    let mut command = audit_scale::pathway(
        database_url,
        audit_dir,
        &["serve", "--listen", "127.0.0.1:0"],
    );
    if let Some(size) = pool_size {
        command.env("PATHWAY__DATABASE__POOL_SIZE", size.to_string());
    }
    // The outbox worker would add its own statements to the intake's count; in
    // production it may run in its own process (`pathway worker`).
    command.env("PATHWAY__MAIL__WORKER_IN_SERVER", "false");
    audit_scale::serve(command)
}

fn token(sub: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args([
            "token",
            "--role",
            role,
            "--area",
            "E08000035",
            "--sub",
            sub,
            "--name",
            "Bench",
            "--email",
            "bench@example.org",
        ])
        .env(
            "PATHWAY_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .output()
        .expect("token");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn referral(i: usize) -> Value {
    json!({
        "area": "E08000035",
        "subject": {"given_name": "Bench", "family_name": format!("Subject{i}"), "date_of_birth": "2009-06-01",
                    "gender": "male", "address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"}},
        "guardians": [{"name": "Parent Subject", "relationship": "parent", "phone": "07700900123"}],
        "referrer": {"name": "Jo Smith", "role": "DSL", "organisation": "Leeds Academy", "sector": "education",
                     "email": "jo.smith@school.example"},
        "concern": {"narrative": "Shared extreme material in class and talked about hurting people.",
                    "type_of_concern": "extreme_right_wing", "indicators": ["online_activity"]},
        "immediate_risk": false
    })
}

struct Phase {
    name: &'static str,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }

    fn print(&self) {
        println!(
            "  {:<26} {:>6} requests  {:>8.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms",
            self.name,
            self.count,
            self.per_second(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Sends `n` requests paced at `rate` per second whatever the answers' speed (open loop),
/// each timed from when it was due to be sent, so queueing in the server counts.
async fn paced<F, Fut>(name: &'static str, n: usize, rate: f64, expect: u16, make: F) -> Phase
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let request = make(i);
        tasks.push(tokio::spawn(async move {
            let response = request.await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            assert_eq!(status, expect, "{name}: {body}");
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        latencies.push(task.await.expect("task"));
    }
    Phase {
        name,
        count: n,
        elapsed: started.elapsed(),
        latencies,
    }
}

/// Sends `requests` with at most `CLIENTS` in flight; each must answer `expect`.
async fn run<F, Fut>(name: &'static str, n: usize, expect: u16, make: F) -> (Phase, Vec<Value>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(CLIENTS));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let request = make(i);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let response = request.await.expect("request");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            drop(permit);
            assert_eq!(status, expect, "{name}: {body}");
            (t.elapsed(), body)
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    for task in tasks {
        let (latency, body) = task.await.expect("task");
        latencies.push(latency);
        bodies.push(body);
    }
    (
        Phase {
            name,
            count: n,
            elapsed: started.elapsed(),
            latencies,
        },
        bodies,
    )
}

/// The server's database work counters (`store::counters`, on `/metrics`): statements
/// sent, statements prepared, transactions committed.
async fn database_work(client: &reqwest::Client, base: &str) -> [f64; 3] {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} on /metrics"))
    };
    [
        value(r#"pathway_db_statements_total{kind="sent"}"#),
        value(r#"pathway_db_statements_total{kind="prepared"}"#),
        value(r#"pathway_db_transactions_total{outcome="committed"}"#),
    ]
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client")
}

/// Files `n` referrals at saturation (`CLIENTS` in flight); the phase and the receipts.
async fn file_referrals(
    client: &reqwest::Client,
    base: &str,
    referrer: &str,
    n: usize,
) -> (Phase, Vec<Value>) {
    run("file referral", n, 201, |i| {
        client
            .post(format!("{base}/v1/referrals"))
            .bearer_auth(referrer)
            .json(&referral(i))
            .send()
    })
    .await
}

/// Intake alone at saturation with `pool_size` connections, on a database of its own:
/// the rate and p99, to choose the pool size by measurement.
async fn intake_with_pool(database_url: &str, audit_dir: &std::path::Path, pool_size: u32) {
    const FILINGS: usize = 800;
    let server = start(database_url, audit_dir, Some(pool_size));
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = client();
    let referrer = token("bench-referrer", "referrer");
    let (filing, _) = file_referrals(&client, &base, &referrer, FILINGS).await;
    println!(
        "  pool of {pool_size:>2}: {:>6.0} filings/s  p99 {:>6.1} ms",
        filing.per_second(),
        filing.percentile(0.99).as_secs_f64() * 1e3
    );
}

async fn bench(backend: &str, database_url: &str, audit_dir: &std::path::Path) -> f64 {
    // As deployed: the configured pool (`database.pool_size`).
    let server = start(database_url, audit_dir, None);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = client();
    let referrer = token("bench-referrer", "referrer");
    let officer = token("bench-officer", "prevent_officer");
    let idle_rss = peak_rss_kib(server.child.id());

    let work_before = database_work(&client, &base).await;
    let (filing, receipts) = file_referrals(&client, &base, &referrer, REFERRALS).await;
    let work_after = database_work(&client, &base).await;
    let per_intake = |k: usize| (work_after[k] - work_before[k]) / REFERRALS as f64;
    let ids: Vec<String> = receipts
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    let (screening, _) = run("begin_screening", ids.len(), 200, |i| {
        client
            .post(format!(
                "{base}/v1/cases/{}/actions/begin_screening",
                ids[i]
            ))
            .bearer_auth(&officer)
            .header("if-match", "\"1\"")
            .json(&json!({}))
            .send()
    })
    .await;
    let (reading, _) = run("read case (officer)", ids.len(), 200, |i| {
        client
            .get(format!("{base}/v1/cases/{}", ids[i]))
            .bearer_auth(&officer)
            .send()
    })
    .await;
    let (listing, _) = run("list 50 cases", 200, 200, |_| {
        client
            .get(format!("{base}/v1/cases?limit=50"))
            .bearer_auth(&officer)
            .send()
    })
    .await;
    // Half the saturated rate, for 5 seconds (at least 200 filings).
    let half_rate = filing.per_second() / 2.0;
    let half_n = ((half_rate * 5.0) as usize).max(200);
    let half = paced("file referral at half", half_n, half_rate, 201, |i| {
        client
            .post(format!("{base}/v1/referrals"))
            .bearer_auth(&referrer)
            .json(&referral(REFERRALS + i))
            .send()
    })
    .await;
    let peak = peak_rss_kib(server.child.id());
    println!("{backend}:");
    for phase in [&filing, &screening, &reading, &listing, &half] {
        phase.print();
    }
    println!(
        "  server memory: {:.1} MiB idle, {:.1} MiB peak",
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "  per intake: {:.1} statements sent, {:.2} prepared (statement cache misses, {} in all), {:.2} transactions committed",
        per_intake(0),
        per_intake(1),
        work_after[1] - work_before[1],
        per_intake(2)
    );
    println!(
        "  intake capacity: {:.0}x the busiest quarter's average referral rate",
        filing.per_second() / RECORD_QUARTER_PER_SECOND
    );
    filing.per_second()
}

/// Where `pgbench` is: on the `PATH`, or in PostgreSQL's own directory.
fn find_pgbench() -> Option<std::path::PathBuf> {
    let on_path = Command::new("pgbench")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return Some("pgbench".into());
    }
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|d| Some(d.ok()?.path().join("bin/pgbench")))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

/// PostgreSQL's own rate for the rows one intake writes: `benches/intake.pgbench`, 8
/// clients, 10 s, on a freshly migrated database. `None` without `pgbench`.
fn pgbench_limit(database_url: &str) -> Option<f64> {
    let Some(pgbench) = find_pgbench() else {
        println!("pgbench: not installed (apt-get install postgresql-contrib): no limit measured");
        return None;
    };
    let migrated = Command::new(env!("CARGO_BIN_EXE_pathway"))
        .args(["migrate", "--database-url", database_url])
        .env(
            "PATHWAY_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .stdout(Stdio::null())
        .status()
        .expect("pathway migrate");
    assert!(migrated.success(), "pathway migrate for pgbench");
    let out = Command::new(&pgbench)
        .args([
            "-n", "-c", "8", "-j", "2", "-T", "10", "-M", "prepared", "-f",
        ])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/intake.pgbench"
        ))
        .arg(database_url)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("pgbench reports tps");
    println!(
        "pgbench, the rows of one intake per transaction, 8 clients: {tps:.0} tx/s (the limit)"
    );
    Some(tps)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = dir.path().join("bench.db").to_string_lossy().into_owned();
    println!("{REFERRALS} referrals, {CLIENTS} concurrent clients, release build, loopback HTTP");
    let lite = runtime.block_on(bench("SQLite", &sqlite, &dir.path().join("audit-sqlite")));
    if let Ok(admin) = std::env::var("PATHWAY_BENCH_POSTGRES_URL") {
        let name = format!("pathway_bench_{}", uuid::Uuid::new_v4().simple());
        let psql = |sql: &str| {
            let status = Command::new("psql")
                .args([admin.as_str(), "-qc", sql])
                .status()
                .expect("psql");
            assert!(status.success(), "{sql}");
        };
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let limit_db = format!("{name}_pgbench");
        psql(&format!("CREATE DATABASE {limit_db}"));
        let limit = pgbench_limit(&format!("{base}/{limit_db}"));
        psql(&format!("DROP DATABASE {limit_db} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {name}"));
        let pg = runtime.block_on(bench(
            "PostgreSQL",
            &format!("{base}/{name}"),
            &dir.path().join("audit-postgres"),
        ));
        psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
        println!("PostgreSQL intake by pool size (800 filings, {CLIENTS} clients in flight):");
        for pool_size in [2, 4, 8, 16] {
            let db = format!("{name}_pool{pool_size}");
            psql(&format!("CREATE DATABASE {db}"));
            runtime.block_on(intake_with_pool(
                &format!("{base}/{db}"),
                &dir.path().join(format!("audit-pool{pool_size}")),
                pool_size,
            ));
            psql(&format!("DROP DATABASE {db} WITH (FORCE)"));
        }
        if let Some(limit) = limit {
            println!(
                "PostgreSQL intake at saturation / pgbench limit: {:.2}",
                pg / limit
            );
        }
        println!("PostgreSQL intake / SQLite intake: {:.2}", pg / lite);
    }
    // The audit log at scale, in the same run (PATHWAY_BENCH_AUDIT_ENTRIES=0 skips it).
    let entries = audit_scale::entries();
    if entries > 0 {
        audit_scale::run(&runtime, entries);
    }
}
