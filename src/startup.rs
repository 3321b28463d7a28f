//! Building and running the server.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Settings;
use crate::http::deadline::{BodyDeadline, body_deadline};
use crate::http::json::BodyLimit;
use crate::http::{
    json::json_error,
    problem::{path_error, query_error},
};
use crate::identity::TokenVerifier;
use crate::store::trust::KeyGeneration;
use crate::store::{self, Backend, Store};
use crate::telemetry::RequestSpan;

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The audit keys or the witness could not be used.
    #[error(transparent)]
    AuditTrust(#[from] store::trust::TrustError),
    /// The vault's master keys could not be used.
    #[error(transparent)]
    Vault(#[from] store::vault::VaultError),
    /// The token key could not be loaded.
    #[error(transparent)]
    Key(#[from] crate::identity::KeyError),
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    /// The console's sign-in could not be set up.
    #[error(transparent)]
    Oidc(#[from] crate::console::oidc::SetupError),
    /// Metrics could not be set up.
    #[error("metrics: {0}")]
    Metrics(String),
    /// Templates could not be loaded.
    #[error(transparent)]
    Templates(#[from] crate::notify::TemplateError),
    /// The mailer could not be built.
    #[error(transparent)]
    Mailer(#[from] crate::notify::worker::MailerError),
}

/// The running mail worker and reminder scheduler.
pub struct Notifications {
    stop: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    reminders: Option<tokio::task::JoinHandle<()>>,
}

impl Notifications {
    /// Stops the scheduler, lets the worker finish the batch it is sending, and waits for it.
    pub async fn stop(self) {
        if let Some(r) = self.reminders {
            r.abort();
        }
        let _ = self.stop.send(true);
        let _ = self.worker.await;
    }
}

/// Starts the mail worker and the reminder scheduler on the current runtime.
pub fn spawn_notifications(
    store: &Store,
    settings: &Settings,
) -> Result<Notifications, StartError> {
    let templates = std::sync::Arc::new(crate::notify::Templates::load(
        &settings.mail.templates_dir,
    )?);
    let mailer = crate::notify::worker::Mailer::from_settings(&settings.mail)?;
    let worker = crate::notify::worker::Worker::new(
        store.clone(),
        mailer,
        templates,
        settings.mail.clone(),
        settings.server.public_url(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run(stopped));
    let interval = settings.mail.reminder_interval_seconds;
    let mut reminders = None;
    if interval > 0 {
        let store = store.clone();
        reminders = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(interval));
            loop {
                tick.tick().await;
                let now = crate::audit::now();
                match store
                    .run(move |c| crate::notify::queue_reminders(c, now))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(reminders = n, "due-date reminders queued"),
                    Err(e) => tracing::error!(error = %e, "due-date reminders failed"),
                }
            }
        }));
    }
    Ok(Notifications {
        stop,
        worker,
        reminders,
    })
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    notifications: Option<Notifications>,
}

/// Whether missing local key files may be generated over this store's database: only
/// when it holds nothing made with them (see [`store::holds_records`]).
pub fn key_generation(store: &Store) -> Result<KeyGeneration, store::StoreError> {
    let mut conn = store.connection()?;
    Ok(if store::holds_records(&mut conn)? {
        KeyGeneration::Refused
    } else {
        KeyGeneration::Allowed
    })
}

/// Opens the store (applying pending migrations), then loads the audit keys, the
/// witness and the vault's master keys for it: the database is read first, since
/// whether a missing local key may be generated depends on what it holds.
pub fn open_keyed_store(settings: &Settings) -> Result<Store, StartError> {
    let store = open_store(settings)?;
    let generation = key_generation(&store)?;
    let trust = store::trust::AuditTrust::load(settings, generation)?;
    let vault = store::vault::Vault::load(settings, generation)?;
    Ok(store.with_audit(trust).with_vault(vault))
}

/// Start-up's witness catch-up: every checkpoint the witness lacks is written, and every
/// stream no checkpoint has sealed yet is queued for it again. A failure is logged and
/// left to readiness (`/readyz` answers 503 until the witness takes files again).
pub fn catch_up_witness(store: &Store) {
    let Some(trust) = store.audit() else {
        return;
    };
    let caught_up = store
        .connection()
        .and_then(|mut conn| store::audit::catch_up_witness(&mut conn, trust));
    match caught_up {
        Ok(0) => {}
        Ok(streams) => tracing::info!(
            streams,
            "audit streams not yet sealed by a checkpoint queued for the witness again"
        ),
        Err(e) => tracing::error!(error = %e, "audit witness catch-up failed"),
    }
}

/// Opens the store and applies pending migrations.
pub fn open_store(settings: &Settings) -> Result<Store, store::StoreError> {
    use secrecy::ExposeSecret;
    let backend = Backend::of_url(settings.database.url.expose_secret());
    let pool = store::connect(&settings.database)?;
    let applied = store::run_migrations(&mut *pool.get_timeout(Duration::from_secs(
        settings.database.acquire_timeout_seconds,
    ))?)?;
    if applied > 0 {
        tracing::info!(migrations.applied = applied, "database migrated");
    }
    let readers = store::connect_readers(&settings.database)?;
    Ok(Store::new(pool, backend)
        .with_readers(readers)
        .with_outage_policy(
            Duration::from_secs(settings.database.outage_retry_seconds),
            Duration::from_millis(settings.database.probe_timeout_ms),
            Duration::from_secs(settings.database.acquire_timeout_seconds),
        ))
}

/// What every HTTP worker's `App` shares: the store, the token verifier, the policies
/// and the metrics.
#[derive(Clone)]
pub struct Shared {
    store: web::Data<Store>,
    verifier: web::Data<TokenVerifier>,
    body_limit: web::Data<BodyLimit>,
    body_deadline: web::Data<BodyDeadline>,
    due_policy: web::Data<crate::domain::due::DuePolicy>,
    retention_policy: web::Data<crate::domain::retention::RetentionPolicy>,
    statistics_policy: web::Data<crate::domain::statistics::StatisticsPolicy>,
    console: web::Data<crate::console::ConsoleState>,
    contract: web::Data<crate::console::forms::Contract>,
    metrics: actix_web_prom::PrometheusMetrics,
    metrics_access: web::Data<crate::http::metrics::MetricsAccess>,
    headers: web::Data<crate::http::headers::HeaderPolicy>,
    oidc: Option<web::Data<crate::console::oidc::OidcSignIn>>,
}

impl Shared {
    /// Builds what the app needs over an opened `store`.
    pub fn new(settings: &Settings, store: Store) -> Result<Shared, StartError> {
        let metrics = crate::http::metrics::middleware(store.pool().clone())
            .map_err(|e| StartError::Metrics(e.to_string()))?;
        Ok(Shared {
            store: web::Data::new(store),
            verifier: web::Data::new(TokenVerifier::from_settings(&settings.auth)?),
            body_limit: web::Data::new(BodyLimit(settings.server.body_limit_bytes)),
            body_deadline: web::Data::new(BodyDeadline(Duration::from_secs(
                settings.server.body_read_timeout_seconds,
            ))),
            due_policy: web::Data::new(settings.pathway),
            retention_policy: web::Data::new(settings.retention),
            statistics_policy: web::Data::new(settings.statistics),
            console: web::Data::new(crate::console::ConsoleState::from_settings(settings)),
            contract: web::Data::new(console_contract()),
            metrics,
            metrics_access: web::Data::new(crate::http::metrics::MetricsAccess::new(
                settings.metrics.token.as_ref(),
            )),
            headers: web::Data::new(crate::http::headers::HeaderPolicy::from_settings(
                &settings.server,
            )),
            oidc: crate::console::oidc::OidcSignIn::from_settings(settings)?.map(web::Data::new),
        })
    }
}

/// The whole HTTP application: middleware, extractors' settings and every route. The
/// server runs one per worker; `pathway seed` drives one in-process, as a client would.
pub fn app(
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = shared.body_limit.0;
    App::new()
        .wrap(from_fn(crate::http::params::refuse_undocumented_query))
        .wrap(from_fn(crate::http::params::refuse_control_characters))
        .wrap(from_fn(body_deadline))
        // The metrics answer /metrics themselves: the token is checked outside them, and
        // its refusal is a problem like any other, finalised.
        .wrap(shared.metrics)
        .wrap(from_fn(crate::http::metrics::require_token))
        .wrap(from_fn(console_pages_are_final))
        .wrap(from_fn(crate::http::problem::finalise))
        // Outside `finalise`, which rebuilds error answers: every answer gets them.
        .wrap(from_fn(crate::http::headers::secure))
        .wrap(TracingLogger::<RequestSpan>::new())
        .app_data(shared.metrics_access)
        .app_data(shared.headers)
        .app_data(shared.store)
        .app_data(shared.body_deadline)
        .app_data(shared.verifier)
        .app_data(shared.body_limit)
        .app_data(shared.due_policy)
        .app_data(shared.retention_policy)
        .app_data(shared.statistics_policy)
        .app_data(shared.console)
        .app_data(shared.contract)
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(move |e, _| json_error(e, limit).into()),
        )
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| path_error(e).into()))
        .configure(|cfg| crate::console::oidc::configure(cfg, shared.oidc))
        .configure(crate::console::configure)
        .configure(crate::http::routes)
}

/// What the console reads of the API's contract: the OpenAPI document (built here, once
/// a worker), each action's request schema, and how the API reads a body.
pub fn console_contract() -> crate::console::forms::Contract {
    use utoipa::OpenApi as _;
    let document = serde_json::to_value(crate::http::ApiDoc::openapi()).unwrap_or_default();
    let schemas = crate::http::contract::actions()
        .into_iter()
        .map(|a| (a, crate::http::contract::request_schema_name(a)))
        .collect();
    crate::console::forms::Contract::new(document, schemas, crate::http::cases::command_of, note_of)
}

/// A note's body read as `POST /v1/cases/{id}/notes` reads it.
fn note_of(body: serde_json::Value) -> Result<String, crate::app::AppError> {
    use crate::app::AppError;
    match crate::http::json::checked_later(body, crate::domain::panel::NoteBody::validate) {
        Ok(text) => text,
        Err(e) => Err(AppError::Validation(vec![crate::domain::FieldError::new(
            "",
            "invalid_value",
            e.to_string(),
        )])),
    }
}

/// Middleware: a console page or redirect (marked [`crate::console::FinalPage`]) is
/// answered as it is; the API's error handling ([`crate::http::problem::finalise`])
/// would otherwise turn an HTML error page into a JSON problem.
async fn console_pages_are_final(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    if response
        .response()
        .extensions()
        .contains::<crate::console::FinalPage>()
    {
        response
            .response_mut()
            .extensions_mut()
            .insert(crate::http::problem::FinalBody);
    }
    Ok(response)
}

impl Application {
    /// Opens the database, applies migrations, binds `server.listen` and builds the
    /// server.
    pub fn build(settings: Settings) -> Result<Application, StartError> {
        Self::build_with(settings, None)
    }

    /// Like [`Application::build`], serving on `listener`, already bound: a caller that
    /// must know the port first (to start something that calls back to it) binds port 0,
    /// reads the port, and hands the listener over, so no other process can take the
    /// port in between.
    pub fn build_on(settings: Settings, listener: TcpListener) -> Result<Application, StartError> {
        Self::build_with(settings, Some(listener))
    }

    fn build_with(
        mut settings: Settings,
        listener: Option<TcpListener>,
    ) -> Result<Application, StartError> {
        let store = open_keyed_store(&settings)?;
        catch_up_witness(&store);
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(&settings.server.listen)
                .map_err(|e| StartError::Bind(settings.server.listen.clone(), e))?,
        };
        let bound = listener
            .local_addr()
            .map_err(|e| StartError::Bind(settings.server.listen.clone(), e))?;
        let port = bound.port();
        // The address actually bound (port 0 picks one), before anything reads it, so that
        // links in emails and the console's sign-in callback follow it.
        settings.server.listen = bound.to_string();
        let shared = Shared::new(&settings, store.clone())?;
        spawn_checkpointer(store.clone(), settings.audit.checkpoint_interval_seconds);
        let notifications = if settings.mail.worker_in_server {
            Some(spawn_notifications(&store, &settings)?)
        } else {
            // Fail at start, not at the first send, when templates are missing.
            crate::notify::Templates::load(&settings.mail.templates_dir)?;
            None
        };

        let mut server = HttpServer::new(move || app(shared.clone()))
            .shutdown_timeout(settings.server.shutdown_timeout_seconds)
            .client_request_timeout(Duration::from_secs(
                settings.server.header_read_timeout_seconds,
            ));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|e| StartError::Bind(settings.server.listen.clone(), e))?
            .run();
        tracing::info!(port, "listening");
        Ok(Application {
            port,
            server,
            notifications,
        })
    }

    /// The bound port (useful when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests and the mail
    /// batch being sent, and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(n) = self.notifications {
            n.stop().await;
        }
        served
    }
}

/// Seals the audit chain heads into a checkpoint every `interval_seconds` (0: never).
fn spawn_checkpointer(store: Store, interval_seconds: u64) {
    let Some(trust) = store.audit().cloned() else {
        return;
    };
    if interval_seconds == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval_seconds));
        tick.tick().await;
        loop {
            tick.tick().await;
            let trust = trust.clone();
            match store
                .run(move |c| store::audit::checkpoint(c, &trust))
                .await
            {
                Ok(Some(cp)) => tracing::info!(checkpoint.seq = cp.seq, "audit checkpoint sealed"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
            }
        }
    });
}
