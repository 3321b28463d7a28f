//! Typed settings: `config/base.toml`, then `config/{PATHWAY_ENV}.toml`, then
//! `PATHWAY__SECTION__KEY` environment variables, later layers winning.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The local-use HS256 secret shipped in `config/local.toml`; production refuses it.
pub const LOCAL_HS256_SECRET: &str = "pathway-local-development-secret-not-for-production-use";

/// Which deployment the settings describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine or a test run.
    Local,
    /// A real deployment: asymmetric keys, JSON logs, no local secrets.
    Production,
}

impl Environment {
    /// Reads `PATHWAY_ENV` (default `local`).
    pub fn from_env() -> Result<Environment, SettingsError> {
        match std::env::var("PATHWAY_ENV").as_deref() {
            Err(_) | Ok("local") => Ok(Environment::Local),
            Ok("production") => Ok(Environment::Production),
            Ok(other) => Err(SettingsError::Invalid(format!(
                "PATHWAY_ENV must be `local` or `production`, not `{other}`"
            ))),
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Production => "production",
        }
    }
}

/// All settings of the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Which deployment this is.
    pub environment: Environment,
    /// The HTTP server.
    pub server: ServerSettings,
    /// The database.
    pub database: DatabaseSettings,
    /// Token verification.
    pub auth: AuthSettings,
    /// Logging.
    pub log: LogSettings,
    /// The audit log.
    pub audit: AuditSettings,
    /// Due dates of the pathway.
    pub pathway: crate::domain::due::DuePolicy,
    /// Retention review periods.
    pub retention: crate::domain::retention::RetentionPolicy,
    /// Email notifications.
    pub mail: MailSettings,
    /// The master keys of personal data at rest.
    pub vault: VaultSettings,
    /// Small-number suppression of the official statistics.
    #[serde(default)]
    pub statistics: crate::domain::statistics::StatisticsPolicy,
    /// Console sign-in with the organisation's identity provider; unset, the console's
    /// sign-in page says that sign-in is not configured.
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
    /// The web console's sessions.
    #[serde(default)]
    pub console: ConsoleSettings,
    /// Who may read `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// Who may read `GET /metrics` (see `http::metrics`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The bearer token a scrape must send (`Authorization: Bearer <token>`), at least 32
    /// characters. Unset, `/metrics` is open, which production refuses: the metrics
    /// name routes, volumes and timings an outsider has no business reading.
    #[serde(default)]
    pub token: Option<SecretString>,
}

/// The shortest metrics token accepted: as long as the HS256 secret must be.
const METRICS_TOKEN_MIN: usize = 32;

/// Console sign-in with the organisation's identity provider: OpenID Connect, the
/// authorization code flow with PKCE. The ID token's claims give the roles and area,
/// under the same rules as a bearer token's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer; its metadata is read from `{issuer_url}/.well-known/openid-configuration`
    /// and must name exactly this issuer.
    pub issuer_url: String,
    /// This service's client id at the provider.
    pub client_id: String,
    /// This service's client secret at the provider.
    pub client_secret: SecretString,
    /// Where the provider sends the browser back; unset:
    /// `{server.public_url}/console/sign-in/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Scopes asked for besides `openid` (always asked for).
    #[serde(default = "default_oidc_scopes", deserialize_with = "words")]
    pub scopes: Vec<String>,
    /// Further scopes, such as the one under which the provider releases the roles and
    /// area claims. A list, or one string of words separated by spaces or commas.
    #[serde(default, deserialize_with = "words")]
    pub extra_scopes: Vec<String>,
    /// The ID token claim that carries the roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// The ID token claim that carries the area.
    #[serde(default = "default_area_claim")]
    pub area_claim: String,
    /// The ID token claim that carries the organisation.
    #[serde(default = "default_org_claim")]
    pub org_claim: String,
    /// How long the provider's metadata and signing keys are kept before being read again.
    #[serde(default = "default_oidc_metadata_ttl_seconds")]
    pub metadata_ttl_seconds: u64,
    /// How long a request to the provider may take.
    #[serde(default = "default_oidc_http_timeout_seconds")]
    pub http_timeout_seconds: u64,
    /// How long a sign-in may take, from leaving for the provider to coming back.
    #[serde(default = "default_oidc_flow_ttl_seconds")]
    pub flow_ttl_seconds: u64,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

fn default_roles_claim() -> String {
    "roles".into()
}

fn default_area_claim() -> String {
    "area".into()
}

fn default_org_claim() -> String {
    "org".into()
}

fn default_oidc_metadata_ttl_seconds() -> u64 {
    3600
}

fn default_oidc_http_timeout_seconds() -> u64 {
    10
}

fn default_oidc_flow_ttl_seconds() -> u64 {
    600
}

/// A list of words, or one string of words separated by spaces or commas (as
/// environment variables give it).
fn words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Words {
        List(Vec<String>),
        Joined(String),
    }
    let list = match Words::deserialize(d)? {
        Words::List(list) => list,
        Words::Joined(s) => vec![s],
    };
    Ok(list
        .iter()
        .flat_map(|w| w.split([' ', ',']))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect())
}

impl OidcSettings {
    /// The redirect URL: `redirect_url`, or the callback under `public_url`.
    pub fn redirect_url(&self, server: &ServerSettings) -> String {
        match self
            .redirect_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => url.to_owned(),
            None => format!(
                "{}/console/sign-in/callback",
                server.public_url().trim_end_matches('/')
            ),
        }
    }

    fn check(&self, server: &ServerSettings, production: bool) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(format!("oidc.{m}")));
        let issuer = url::Url::parse(&self.issuer_url);
        let redirect = url::Url::parse(&self.redirect_url(server));
        if issuer.is_err() {
            return invalid("issuer_url must be an absolute URL");
        }
        if redirect.is_err() {
            return invalid("redirect_url must be an absolute URL");
        }
        if self.client_id.trim().is_empty() || self.client_secret.expose_secret().is_empty() {
            return invalid("client_id and oidc.client_secret must be set");
        }
        if self.metadata_ttl_seconds == 0
            || self.http_timeout_seconds == 0
            || self.flow_ttl_seconds == 0
        {
            return invalid(
                "metadata_ttl_seconds, http_timeout_seconds and flow_ttl_seconds must be above 0",
            );
        }
        let https = |u: Result<url::Url, _>| u.is_ok_and(|u| u.scheme() == "https");
        if production && !(https(issuer) && https(redirect)) {
            return invalid(
                "issuer_url and the redirect URL must be https in production (set server.public_url or oidc.redirect_url)",
            );
        }
        Ok(())
    }
}

/// The web console's sessions (see the `console` module).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// A session unused for this many seconds ends (default 30 minutes).
    pub idle_timeout_seconds: u32,
    /// A session ends this many seconds after sign-in, however busy (default 10 hours).
    pub absolute_lifetime_seconds: u32,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            idle_timeout_seconds: 30 * 60,
            absolute_lifetime_seconds: 10 * 60 * 60,
        }
    }
}

/// The master keys that wrap each subject's data key (see `store::vault`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// The master key: 64 hex digits in a file outside the database. It wraps every new
    /// data key. Required in production; generated (mode 0600) when missing in local use.
    pub master_key_file: Option<PathBuf>,
    /// Other master key files that may still wrap data keys, read only: the previous
    /// key after a rotation, or the next one before it. A list in a file; in an
    /// environment variable, paths separated by commas.
    #[serde(default, deserialize_with = "paths")]
    pub previous_master_key_files: Vec<PathBuf>,
}

/// A list of paths, or one string of comma-separated paths (as environment variables
/// give it).
fn paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Paths {
        List(Vec<PathBuf>),
        Joined(String),
    }
    Ok(match Paths::deserialize(d)? {
        Paths::List(list) => list,
        Paths::Joined(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect(),
    })
}

/// Email notifications.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The sender, e.g. `Prevent pathway <no-reply@pathway.example>`.
    pub from: String,
    /// The SMTP relay, e.g. `smtp://user:pass@relay.example:587?tls=required` (STARTTLS)
    /// or `smtps://relay.example`; unset: `.eml` files under `file_dir` (refused in production).
    pub smtp_url: Option<SecretString>,
    /// Where mail goes without SMTP.
    pub file_dir: PathBuf,
    /// The templates' directory.
    pub templates_dir: PathBuf,
    /// SMTP timeout of each command; a message's whole delivery may take two, and a
    /// worker's claim on it lasts that and 5 s more (see `notify::worker::claim_duration`).
    pub timeout_seconds: u64,
    /// Attempts before a notification is marked failed.
    pub max_attempts: u32,
    /// First retry delay; doubled each time.
    pub backoff_base_seconds: u64,
    /// Longest retry delay.
    pub backoff_max_seconds: u64,
    /// How often an idle worker looks for work.
    pub poll_interval_ms: u64,
    /// Notifications a worker sends, claiming each in turn, before it polls again.
    pub batch_size: i64,
    /// Whether `serve` runs the worker and the reminder scheduler itself.
    pub worker_in_server: bool,
    /// How often overdue cases are looked for; 0 turns reminders off.
    pub reminder_interval_seconds: u64,
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on; port 0 picks a free port.
    pub listen: String,
    /// The URL users reach the service at, the base of links in emails. Unset: the
    /// address served (see [`ServerSettings::public_url`]).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout_seconds: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long a request's body may take to arrive, from the end of its headers; a
    /// slower one is answered 408 and its connection closed.
    #[serde(default = "default_body_read_timeout_seconds")]
    pub body_read_timeout_seconds: u64,
    /// How long a new connection may take to send its request headers (actix answers
    /// a slower one with a bare 408).
    #[serde(default = "default_header_read_timeout_seconds")]
    pub header_read_timeout_seconds: u64,
}

fn default_body_read_timeout_seconds() -> u64 {
    15
}

fn default_header_read_timeout_seconds() -> u64 {
    5
}

impl ServerSettings {
    /// The base of links in emails: `public_url` when set (config file or environment),
    /// otherwise `http://` and the listening address, so that `serve --listen` moves the
    /// links with it. An unspecified host (`0.0.0.0`, `[::]`) becomes loopback.
    pub fn public_url(&self) -> String {
        if let Some(url) = self.public_url.as_deref().filter(|u| !u.trim().is_empty()) {
            return url.to_owned();
        }
        match self.listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
            Ok(addr) => format!("http://{addr}"),
            Err(_) => format!("http://{}", self.listen),
        }
    }
}

/// The database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for PostgreSQL; otherwise a SQLite file path (optionally `sqlite://path`).
    pub url: SecretString,
    /// Most connections kept open.
    pub pool_size: u32,
    /// How long a request waits for a free connection.
    pub acquire_timeout_seconds: u64,
    /// How long `serve`, `migrate` and the other commands keep retrying, with back-off,
    /// a PostgreSQL server that cannot be reached yet; 0 tries once. A wrong user or a
    /// missing database is never retried.
    #[serde(default)]
    pub startup_wait_seconds: u64,
    /// After a connection could not be had, how long every request is answered 503 at
    /// once (with this `Retry-After`) before one probes the database again.
    #[serde(default = "default_outage_retry_seconds")]
    pub outage_retry_seconds: u64,
    /// How long `/readyz` and a recovery probe wait for a connection.
    #[serde(default = "default_probe_timeout_ms")]
    pub probe_timeout_ms: u64,
}

fn default_outage_retry_seconds() -> u64 {
    2
}

fn default_probe_timeout_ms() -> u64 {
    500
}

/// A JWT signing algorithm the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TokenAlgorithm {
    /// HMAC with a shared secret: local use only.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// Token verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// The only algorithm accepted.
    pub algorithm: TokenAlgorithm,
    /// Shared secret for HS256 (local use).
    pub hs256_secret: Option<SecretString>,
    /// PEM public key for RS256 or ES256.
    pub public_key_file: Option<PathBuf>,
    /// JWKS file for RS256 or ES256, keys chosen by `kid`.
    pub jwks_file: Option<PathBuf>,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` for people, `json` for collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info,pathway=debug`; `RUST_LOG` overrides it.
    pub filter: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object a line.
    Json,
}

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// How often the chain heads are sealed into a checkpoint; 0 turns the timer off.
    /// Streams are only protected by the witness once sealed, so keep it short.
    pub checkpoint_interval_seconds: u64,
    /// The HMAC-SHA256 key of entry hashes: 64 hex digits in a file outside the database.
    /// Required in production; generated (mode 0600) when missing in local use.
    pub hmac_key_file: Option<PathBuf>,
    /// The Ed25519 seed that signs checkpoints: 64 hex digits in a file. Required in
    /// production; generated (mode 0600) when missing in local use.
    pub signing_key_file: Option<PathBuf>,
    /// The witness: a directory outside the database receiving one signed file per
    /// checkpoint, created new and never rewritten.
    pub witness_dir: PathBuf,
}

/// Settings that could not be loaded or are unsafe.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file or variable could not be read or typed.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// The settings are readable but not acceptable.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads settings from `PATHWAY_CONFIG_DIR` (default `./config`) for `PATHWAY_ENV`.
    pub fn load() -> Result<Settings, SettingsError> {
        let dir = std::env::var_os("PATHWAY_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Settings::load_from(&dir, Environment::from_env()?)
    }

    /// Loads settings from `dir` for `environment`, then the environment variables.
    pub fn load_from(dir: &Path, environment: Environment) -> Result<Settings, SettingsError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(dir.join("base.toml")))
            .add_source(config::File::from(
                dir.join(format!("{}.toml", environment.file_stem())),
            ))
            .set_override("environment", environment.file_stem())?
            .add_source(
                config::Environment::with_prefix("PATHWAY")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    /// Refuses unsafe combinations: in production, local secrets and symmetric keys.
    pub fn check(&self) -> Result<(), SettingsError> {
        self.check_algorithm()?;
        self.check_limits()?;
        self.check_secret()?;
        self.check_production()?;
        self.check_metrics()?;
        if let Some(oidc) = &self.oidc {
            oidc.check(&self.server, self.environment == Environment::Production)?;
        }
        Ok(())
    }

    /// The token algorithm's key is given.
    fn check_algorithm(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        let has_key_file = auth.public_key_file.is_some() || auth.jwks_file.is_some();
        let asymmetric = matches!(
            auth.algorithm,
            TokenAlgorithm::RS256 | TokenAlgorithm::ES256
        );
        first_refusal([
            (
                auth.algorithm == TokenAlgorithm::HS256 && auth.hs256_secret.is_none(),
                "auth.algorithm HS256 needs auth.hs256_secret",
            ),
            (
                asymmetric && !has_key_file,
                "auth.algorithm RS256/ES256 needs auth.public_key_file or auth.jwks_file",
            ),
        ])
    }

    /// Limits and timeouts that must be above zero.
    fn check_limits(&self) -> Result<(), SettingsError> {
        first_refusal([
            (
                self.server.body_limit_bytes == 0,
                "server.body_limit_bytes must be above 0",
            ),
            (
                self.server.body_read_timeout_seconds == 0
                    || self.database.outage_retry_seconds == 0,
                "server.body_read_timeout_seconds and database.outage_retry_seconds must be above 0",
            ),
            (
                self.database.pool_size == 0,
                "database.pool_size must be above 0",
            ),
        ])
    }

    /// A local secret: never in production, and long enough.
    fn check_secret(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        let production = self.environment == Environment::Production;
        first_refusal([
            (
                production && auth.algorithm == TokenAlgorithm::HS256,
                "production needs asymmetric token keys (auth.algorithm RS256 or ES256)",
            ),
            (
                production && auth.hs256_secret.is_some(),
                "production refuses auth.hs256_secret: remove the local secret",
            ),
            (
                auth.hs256_secret
                    .as_ref()
                    .is_some_and(|s| s.expose_secret().len() < 32),
                "auth.hs256_secret must be at least 32 bytes",
            ),
        ])
    }

    /// What production needs besides its keys: the audit and vault keys from files, mail
    /// delivered, and an https address for the links in emails.
    fn check_production(&self) -> Result<(), SettingsError> {
        if self.environment != Environment::Production {
            return Ok(());
        }
        let no_smtp = self
            .mail
            .smtp_url
            .as_ref()
            .is_none_or(|u| u.expose_secret().is_empty());
        // Links in emails point here; a production default of the listening address would
        // send staff to a loopback or internal address, over plain HTTP.
        let no_https = !self
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| u.trim().starts_with("https://"));
        first_refusal([
            (
                self.audit.hmac_key_file.is_none() || self.audit.signing_key_file.is_none(),
                "production needs audit.hmac_key_file and audit.signing_key_file: the audit keys must not be generated or kept in the database",
            ),
            (
                self.vault.master_key_file.is_none(),
                "production needs vault.master_key_file: personal data is sealed under keys it wraps, and it must not be generated or kept in the database",
            ),
            (
                no_smtp,
                "production needs mail.smtp_url: notifications must be delivered, not written to files",
            ),
            (
                no_https,
                "production needs server.public_url, an https:// address: the links in emails point there",
            ),
        ])
    }

    /// The metrics token: long enough, and given in production.
    fn check_metrics(&self) -> Result<(), SettingsError> {
        match self.metrics.token.as_ref().map(|t| t.expose_secret().len()) {
            Some(n) if n < METRICS_TOKEN_MIN => Err(SettingsError::Invalid(format!(
                "metrics.token must be at least {METRICS_TOKEN_MIN} characters"
            ))),
            None if self.environment == Environment::Production => Err(SettingsError::Invalid(
                "production needs metrics.token: /metrics must not be open to anyone who can reach the service".into(),
            )),
            _ => Ok(()),
        }
    }

    /// True when the local HS256 secret may mint tokens (`pathway token`).
    pub fn allows_local_tokens(&self) -> bool {
        self.environment == Environment::Local && self.auth.algorithm == TokenAlgorithm::HS256
    }
}

/// The first refusal whose condition holds, in the order given.
fn first_refusal<const N: usize>(refusals: [(bool, &str); N]) -> Result<(), SettingsError> {
    match refusals.into_iter().find(|(refused, _)| *refused) {
        Some((_, why)) => Err(SettingsError::Invalid(why.into())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn the_shipped_local_settings_load_and_listen_on_8080() {
        let s = Settings::load_from(&config_dir(), Environment::Local).expect("local settings");
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.server.body_limit_bytes, 256 * 1024);
        assert_eq!(s.auth.algorithm, TokenAlgorithm::HS256);
        assert!(s.allows_local_tokens());
        assert_eq!(s.statistics.suppression_threshold, 5);
    }

    #[test]
    fn the_shipped_production_settings_refuse_to_load_without_keys() {
        let err = Settings::load_from(&config_dir(), Environment::Production).unwrap_err();
        assert!(err.to_string().contains("auth"), "{err}");
    }

    #[test]
    fn production_refuses_the_local_secret_even_with_a_key_file() {
        let mut s = Settings::load_from(&config_dir(), Environment::Local).unwrap();
        s.environment = Environment::Production;
        s.auth.algorithm = TokenAlgorithm::RS256;
        s.auth.public_key_file = Some(PathBuf::from("key.pem"));
        assert!(s.check().is_err(), "local secret still set");
        s.auth.hs256_secret = None;
        s.audit.hmac_key_file = None;
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("audit.hmac_key_file"),
            "production brings its audit keys"
        );
        s.audit.hmac_key_file = Some(PathBuf::from("/etc/pathway/audit-hmac.key"));
        s.audit.signing_key_file = Some(PathBuf::from("/etc/pathway/audit-signing.key"));
        s.vault.master_key_file = None;
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("vault.master_key_file"),
            "production brings its master key"
        );
        s.vault.master_key_file = Some(PathBuf::from("/etc/pathway/vault-master.key"));
        assert!(
            s.check().unwrap_err().to_string().contains("smtp_url"),
            "production delivers mail"
        );
        s.mail.smtp_url = Some(SecretString::from("smtp://relay.example:587?tls=required"));
        assert!(
            s.check().unwrap_err().to_string().contains("public_url"),
            "production names where its links point"
        );
        s.server.public_url = Some("http://pathway.council.example".into());
        assert!(s.check().is_err(), "links over plain HTTP");
        s.server.public_url = Some("https://pathway.council.example".into());
        assert!(
            s.check().unwrap_err().to_string().contains("metrics.token"),
            "production keeps /metrics to its operators"
        );
        s.metrics.token = Some(SecretString::from("too-short"));
        assert!(
            s.check().unwrap_err().to_string().contains("32 characters"),
            "a token that can be guessed"
        );
        s.metrics.token = Some(SecretString::from(
            "a-metrics-token-of-at-least-32-characters",
        ));
        assert!(s.check().is_ok());
        assert!(!s.allows_local_tokens());
    }

    #[test]
    fn metrics_are_open_locally_unless_a_token_is_set() {
        let mut s = Settings::load_from(&config_dir(), Environment::Local).unwrap();
        assert!(
            s.metrics.token.is_none(),
            "local use may leave /metrics open"
        );
        assert!(s.check().is_ok());
        s.metrics.token = Some(SecretString::from("short"));
        assert!(s.check().is_err(), "a short token is refused everywhere");
    }

    #[test]
    fn links_follow_the_listening_address_unless_public_url_is_set() {
        let mut s = Settings::load_from(&config_dir(), Environment::Local).unwrap();
        assert_eq!(
            s.server.public_url, None,
            "base.toml leaves it to follow --listen"
        );
        assert_eq!(s.server.public_url(), "http://127.0.0.1:8080");
        s.server.listen = "127.0.0.1:9191".into();
        assert_eq!(s.server.public_url(), "http://127.0.0.1:9191");
        s.server.listen = "0.0.0.0:9191".into();
        assert_eq!(s.server.public_url(), "http://127.0.0.1:9191");
        s.server.public_url = Some("https://pathway.example".into());
        assert_eq!(s.server.public_url(), "https://pathway.example");
    }

    fn oidc_from(toml: &str) -> OidcSettings {
        config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("oidc settings")
    }

    #[test]
    fn oidc_is_optional_defaulted_and_https_in_production() {
        let mut s = Settings::load_from(&config_dir(), Environment::Local).unwrap();
        assert!(s.oidc.is_none(), "no sign-in unless configured");
        let oidc = oidc_from(
            "issuer_url = 'http://127.0.0.1:9000'\nclient_id = 'pathway'\n\
             client_secret = 's'\nextra_scopes = 'pathway, groups'",
        );
        assert_eq!(oidc.scopes, ["email", "profile"]);
        assert_eq!(
            oidc.extra_scopes,
            ["pathway", "groups"],
            "one string, as from a variable"
        );
        assert_eq!(
            (oidc.roles_claim.as_str(), oidc.area_claim.as_str()),
            ("roles", "area"),
            "the API token's claim names"
        );
        assert_eq!(
            oidc.redirect_url(&s.server),
            "http://127.0.0.1:8080/console/sign-in/callback"
        );
        s.oidc = Some(oidc);
        assert!(s.check().is_ok(), "http is fine locally");

        let mut production = s.clone();
        production.environment = Environment::Production;
        let err = production
            .oidc
            .as_ref()
            .unwrap()
            .check(&production.server, true)
            .unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        production.server.public_url = Some("https://pathway.example".into());
        if let Some(o) = production.oidc.as_mut() {
            o.issuer_url = "https://login.example/realms/staff".into();
        }
        let oidc = production.oidc.as_ref().unwrap();
        assert!(oidc.check(&production.server, true).is_ok());

        if let Some(o) = s.oidc.as_mut() {
            o.issuer_url = "login.example".into();
        }
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("oidc.issuer_url")
        );
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let s = Settings::load_from(&config_dir(), Environment::Local).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(LOCAL_HS256_SECRET), "{printed}");
    }
}
