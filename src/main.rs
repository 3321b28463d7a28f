//! The `pathway` command: serve the API, migrate the database, mint local tokens,
//! verify the audit log.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use pathway::config::Settings;
use pathway::identity::{LocalClaims, mint_local_token};
use pathway::startup::{
    Application, catch_up_witness, key_generation, open_keyed_store, open_store,
};
use pathway::store::trust::{AuditTrust, KeyRules, Witness};
use pathway::store::vault::{self, MasterKey, Vault};
use pathway::telemetry::{get_subscriber, init_subscriber};

#[derive(Parser)]
#[command(
    name = "pathway",
    version,
    about = "Prevent referral intake and the Channel case pathway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (migrations are applied first).
    Serve {
        /// Address and port to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply pending database migrations and exit (run as the tables' owner).
    Migrate {
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long)]
        database_url: Option<String>,
        /// PostgreSQL: then grant this existing role what `serve` and `worker` need and
        /// no more (SELECT and INSERT only on the audit log and checkpoints). Repeat
        /// after every upgrade.
        #[arg(long, value_name = "ROLE")]
        app_role: Option<String>,
    },
    /// Print a token signed with the local HS256 secret (refused in production).
    Token {
        /// A role; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Local authority GSS code, or `national` for a national auditor.
        #[arg(long)]
        area: String,
        /// Subject id.
        #[arg(long)]
        sub: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email.
        #[arg(long)]
        email: String,
        /// Organisation.
        #[arg(long)]
        org: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long, global = true)]
        database_url: Option<String>,
    },
    /// Send queued notifications and due-date reminders, without serving HTTP.
    Worker {
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Fill a fresh database with a demo: an area's directory, a Channel panel and its
    /// meetings, and synthetic referrals in every state; prints a token per role.
    /// Refused in production and on a database that holds cases.
    Seed {
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long)]
        database_url: Option<String>,
        /// The area's GSS code.
        #[arg(long, default_value = "E08000035")]
        area: String,
        /// Seeds the random choices: the same number gives the same demo.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many referrals (at least 12: one per state).
        #[arg(long, default_value_t = 36, value_parser = clap::value_parser!(u16).range(12..=2000))]
        referrals: u16,
        /// Lifetime of the printed tokens, in seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: i64,
        /// Also add a synthetic audit log of about this many entries over several
        /// areas (the demo's first) and two years, for measuring the log at scale.
        #[arg(long, default_value_t = 0)]
        audit_entries: u64,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// The master keys of personal data at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        /// Database URL: postgres://… or a SQLite file path.
        #[arg(long, global = true)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Seal the personal data of cases stored before sealing existed (after upgrading;
    /// safe to repeat, and to run while servers run).
    Seal,
    /// Re-wrap every subject data key under a new master key, while servers run. Servers
    /// must be able to read the new key first (list it in
    /// `vault.previous_master_key_files`), then be switched to it as `vault.master_key_file`.
    Rotate {
        /// The new master key: 64 hex digits (`openssl rand -hex 32`), mode 0600.
        #[arg(long, value_name = "FILE")]
        new_master_key_file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every chain and checkpoint; exits 1 when the log is not intact.
    Verify {
        /// The witness directory to compare checkpoints with (default: `audit.witness_dir`).
        #[arg(long, value_name = "DIR")]
        witness: Option<std::path::PathBuf>,
    },
    /// Seal the current chain heads into a checkpoint now.
    Checkpoint,
}

fn override_database(settings: &mut Settings, url: Option<String>) {
    if let Some(url) = url {
        settings.database.url = SecretString::from(url);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pathway: {e}");
            return ExitCode::from(2);
        }
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let format = settings.log.format;
    init_subscriber(match cli.command {
        // The seed prints `export` lines on stdout: its few log lines (warnings only,
        // not one per request) go to stderr.
        Command::Seed { .. } => get_subscriber("warn", format, false, std::io::stderr),
        _ => get_subscriber(&settings.log.filter, format, ansi, std::io::stdout),
    });
    if let Some(why) = unsuitable(&cli.command, &settings) {
        eprintln!("pathway: {why}");
        return ExitCode::from(2);
    }
    let result = run(cli.command, settings);
    // New audit streams are witnessed by a writer thread: let it finish before exiting.
    pathway::store::trust::settle_all();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pathway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why this configuration cannot run `command`, if it cannot: tokens are minted only with
/// a local HS256 secret outside production.
fn unsuitable(command: &Command, settings: &Settings) -> Option<String> {
    match command {
        Command::Token { .. } if !settings.allows_local_tokens() => Some(
            "`token` mints local-use tokens only; this configuration is not local HS256".into(),
        ),
        Command::Seed { .. } if !settings.allows_local_tokens() => {
            Some(pathway::seed::SeedError::NotLocal.to_string())
        }
        _ => None,
    }
}

impl Command {
    /// The database URL given on the command line, if any.
    fn database_url(&self) -> Option<&str> {
        match self {
            Command::Serve { database_url, .. }
            | Command::Migrate { database_url, .. }
            | Command::Audit { database_url, .. }
            | Command::Worker { database_url }
            | Command::Keys { database_url, .. }
            | Command::Seed { database_url, .. } => database_url.as_deref(),
            Command::Token { .. } | Command::Openapi => None,
        }
    }
}

/// Runs `command`, the command line's database URL (and address) over the settings'.
fn run(command: Command, mut settings: Settings) -> Result<(), String> {
    override_database(&mut settings, command.database_url().map(str::to_owned));
    match command {
        Command::Serve { listen, .. } => {
            if let Some(listen) = listen {
                settings.server.listen = listen;
            }
            serve(settings)
        }
        Command::Migrate { app_role, .. } => migrate(&settings, app_role.as_deref()),
        Command::Token {
            roles,
            area,
            sub,
            name,
            email,
            org,
            ttl,
        } => print_token(&settings, (&sub, &roles, &area), (name, email, org), ttl),
        Command::Audit { command, .. } => audit(&settings, command),
        Command::Worker { .. } => worker(settings),
        Command::Keys { command, .. } => keys(&settings, command),
        Command::Seed {
            area,
            seed,
            referrals,
            ttl,
            audit_entries,
            ..
        } => {
            let options = pathway::seed::SeedOptions {
                area,
                seed,
                referrals: usize::from(referrals),
                token_ttl: ttl,
                audit_entries,
            };
            seed_demo(&settings, &options)
        }
        Command::Openapi => {
            // A reader that stops early (`| head`) is not an error worth a panic.
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(pathway::http::openapi_json().as_bytes());
            Ok(())
        }
    }
}

/// Prints a token for `sub` with `roles` in `area`, named, for `ttl` seconds.
fn print_token(
    settings: &Settings,
    (sub, roles, area): (&str, &[String], &str),
    (name, email, org): (String, String, Option<String>),
    ttl: i64,
) -> Result<(), String> {
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let mut claims = LocalClaims::new(&settings.auth, sub, &roles, area, ttl);
    (claims.name, claims.email, claims.org) = (name, email, org);
    mint_local_token(&settings.auth, &claims)
        .map(|token| println!("{token}"))
        .map_err(|e| e.to_string())
}

fn serve(settings: Settings) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        app.run_until_stopped().await.map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn seed_demo(settings: &Settings, options: &pathway::seed::SeedOptions) -> Result<(), String> {
    let seeded = actix_web::rt::System::new()
        .block_on(pathway::seed::seed(settings, options))
        .map_err(|e| e.to_string())?;
    let total: usize = seeded.by_state.values().sum();
    println!(
        "# {total} synthetic referrals in area {}, by state:",
        options.area
    );
    for (state, n) in &seeded.by_state {
        println!("#   {state:<22} {n}");
    }
    println!("# Tokens, one per role (paste these lines into your shell):");
    for (var, token) in &seeded.tokens {
        println!("export {var}={token}");
    }
    Ok(())
}

fn migrate(settings: &Settings, app_role: Option<&str>) -> Result<(), String> {
    use secrecy::ExposeSecret;
    let url = settings.database.url.expose_secret();
    if let Some(name) = pathway::store::create_database_if_missing(
        url,
        std::time::Duration::from_secs(settings.database.startup_wait_seconds),
    )
    .map_err(|e| e.to_string())?
    {
        println!("created the database \"{name}\" (it did not exist)");
    }
    let store = open_store(settings).map_err(|e| e.to_string())?;
    println!("migrations applied: the database is current");
    if let Some(role) = app_role {
        let mut conn = store.connection().map_err(|e| e.to_string())?;
        pathway::store::grant_app_role(&mut conn, role).map_err(|e| e.to_string())?;
        println!("granted the application privileges to {role}");
    }
    Ok(())
}

fn worker(settings: Settings) -> Result<(), String> {
    actix_web::rt::System::new().block_on(async move {
        let store = open_keyed_store(&settings).map_err(|e| e.to_string())?;
        catch_up_witness(&store);
        let notifications =
            pathway::startup::spawn_notifications(&store, &settings).map_err(|e| e.to_string())?;
        tracing::info!("worker started");
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        notifications.stop().await;
        tracing::info!("stopped");
        Ok(())
    })
}

fn audit(settings: &Settings, command: AuditCommand) -> Result<(), String> {
    let store = open_store(settings).map_err(|e| e.to_string())?;
    let generation = key_generation(&store).map_err(|e| e.to_string())?;
    let trust = AuditTrust::load(settings, generation).map_err(|e| e.to_string())?;
    let mut conn = store.connection().map_err(|e| e.to_string())?;
    match command {
        AuditCommand::Verify { witness } => {
            let witness = match witness {
                Some(dir) => Witness::existing(&dir).map_err(|e| e.to_string())?,
                None => trust.witness.clone(),
            };
            let report = pathway::store::audit::verify(
                &mut conn,
                &trust.entry_key,
                &trust.public_key(),
                Some(&witness),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            if report.intact {
                Ok(())
            } else {
                Err("the audit log is not intact".into())
            }
        }
        AuditCommand::Checkpoint => {
            match pathway::store::audit::checkpoint(&mut conn, &trust).map_err(|e| e.to_string())? {
                Some(cp) => println!("checkpoint {} sealed", cp.seq),
                None => println!("nothing to seal"),
            }
            Ok(())
        }
    }
}

fn keys(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Seal => {
            let store = open_store(settings).map_err(|e| e.to_string())?;
            let generation = key_generation(&store).map_err(|e| e.to_string())?;
            let vault =
                std::sync::Arc::new(Vault::load(settings, generation).map_err(|e| e.to_string())?);
            let mut conn = store.connection().map_err(|e| e.to_string())?;
            let sealed = vault::with_vault(&vault, || vault::seal_existing(&mut conn))
                .map_err(|e| e.to_string())?;
            println!("{sealed} cases sealed");
            Ok(())
        }
        KeysCommand::Rotate {
            new_master_key_file,
        } => {
            let store = open_store(settings).map_err(|e| e.to_string())?;
            let generation = key_generation(&store).map_err(|e| e.to_string())?;
            let vault = Vault::load(settings, generation).map_err(|e| e.to_string())?;
            let new = MasterKey::from_file(
                &new_master_key_file,
                KeyRules::existing(settings.environment),
            )
            .map_err(|e| e.to_string())?;
            let mut conn = store.connection().map_err(|e| e.to_string())?;
            let report = vault::rotate(&mut conn, &vault, &new).map_err(|e| e.to_string())?;
            println!(
                "master key {}: {} data keys re-wrapped, {} already under it, {} destroyed",
                new.id(),
                report.rewrapped,
                report.already,
                report.destroyed
            );
            Ok(())
        }
    }
}
