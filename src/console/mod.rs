//! The web console: server-rendered GOV.UK pages for Channel chairs, panel members,
//! auditors and records officers, on the same use cases as the JSON API, drawing the same
//! answers ([`crate::present`]), so that a page can never show more than the API would
//! show the same person.
//!
//! Every page is HTML rendered on the server (templates in `console/templates/`, GOV.UK
//! Frontend in `console/vendor/`, both embedded in the binary). No JavaScript: forms post
//! and redirect (Post/Redirect/Get). A session cookie names a server-side session
//! ([`session`]); every form carries the session's CSRF token ([`csrf`]).
//!
//! # URL map
//!
//! | method and route | who | what it shows or does |
//! |---|---|---|
//! | `GET /console/` | anyone signed in | the start page: what you can do here, and sign out |
//! | `GET /console/sign-in` | anyone (local use only) | the development sign-in form: roles, area, identity |
//! | `POST /console/sign-in` | anyone (local use only) | signs in; refused in production like `pathway token` |
//! | `POST /console/sign-out` | anyone signed in | ends the session |
//! | `GET /console/cases` | `channel_chair`, `panel_member` | a chair's cases awaiting panel, listed, in support and overdue; a member's cases on their panels' agendas |
//! | `GET /console/cases/{id}` | `channel_chair`, `panel_member`, `auditor` | the case's summary and history; a form for each action the caller may take now; a member's note form |
//! | `POST /console/cases/{id}/actions/{action}` | `channel_chair` | performs the action, with the case's version as `If-Match` |
//! | `POST /console/cases/{id}/notes` | `panel_member` | adds the member's agency's note |
//! | `GET /console/meetings` | `channel_chair`, `panel_member` | a chair's panels and their meetings; a member's meetings with cases on the agenda |
//! | `GET /console/meetings/{id}` | `channel_chair`, `panel_member` | a meeting and its agenda |
//! | `GET /console/audit` | `auditor` | audit search (case, actor, action, from and to dates), a page at a time |
//! | `GET /console/audit/verify` | `auditor` | the verification of the whole audit log |
//! | `GET /console/statistics` | `auditor` | the official statistics of a published period (chosen from a list; a national auditor may give dates) as tables and bar charts |
//! | `GET /console/statistics.csv` | `auditor` | the same statistics as a CSV download (`GET /v1/stats?format=csv`, by `period` or `from` and `to`) |
//! | `GET /console/retention` | `records_officer` | retention reviews due |
//! | `GET /console/assets/...` | anyone | GOV.UK Frontend's stylesheet, fonts and images |
//!
//! A request without a live session is sent to the sign-in page (303); a signed-in
//! person whose roles do not include the page's is answered 403; a case they may not
//! see is 404, exactly as in the API.

pub mod assets;
pub mod csrf;
pub mod forms;
pub mod oidc;
pub mod pages;
mod render;
pub mod session;

use actix_web::web;

pub use render::{ConsoleError, FinalPage};

use crate::config::{AuthSettings, Settings};

/// What the console needs from the settings.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    /// A session unused this long ends.
    pub idle_timeout: chrono::Duration,
    /// Every session ends this long after sign-in.
    pub absolute_lifetime: chrono::Duration,
    /// The public URL is https: the cookie is `Secure` and `__Host-` prefixed.
    pub secure_cookie: bool,
    /// The scheme, host and port of the public URL, for the Origin check (the address
    /// the request was sent to is accepted too, as when the port is chosen at start).
    pub public_origin: String,
    /// The development sign-in is allowed (local use with the HS256 secret, as
    /// `pathway token`).
    pub dev_sign_in: bool,
    /// Token settings: the development sign-in mints a local token and verifies it,
    /// so that its actor is built exactly as an API request's.
    pub auth: AuthSettings,
}

impl ConsoleState {
    /// The console's view of `settings`.
    pub fn from_settings(settings: &Settings) -> ConsoleState {
        let public = settings.server.public_url();
        let origin = url::Url::parse(&public)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        ConsoleState {
            idle_timeout: chrono::Duration::seconds(i64::from(
                settings.console.idle_timeout_seconds,
            )),
            absolute_lifetime: chrono::Duration::seconds(i64::from(
                settings.console.absolute_lifetime_seconds,
            )),
            secure_cookie: public.starts_with("https://"),
            public_origin: origin,
            dev_sign_in: settings.allows_local_tokens(),
            auth: settings.auth.clone(),
        }
    }
}

async fn to_start() -> actix_web::HttpResponse {
    render::redirect("/console/")
}

/// The console's routes, under `/console`, mounted by start-up beside the API's. Not in
/// the OpenAPI document: it describes the JSON API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console").route(web::get().to(to_start)))
        .service(
            web::scope("/console")
                .service(web::resource("/").route(web::get().to(pages::start)))
                .service(
                    web::resource("/sign-in")
                        .route(web::get().to(pages::sign_in_form))
                        .route(web::post().to(pages::sign_in)),
                )
                .service(web::resource("/sign-out").route(web::post().to(pages::sign_out)))
                .service(web::resource("/cases").route(web::get().to(pages::cases)))
                .service(web::resource("/cases/{id}").route(web::get().to(pages::case)))
                .service(
                    web::resource("/cases/{id}/actions/{action}")
                        .route(web::post().to(pages::perform)),
                )
                .service(web::resource("/cases/{id}/notes").route(web::post().to(pages::add_note)))
                .service(web::resource("/meetings").route(web::get().to(pages::meetings)))
                .service(web::resource("/meetings/{id}").route(web::get().to(pages::meeting)))
                .service(web::resource("/audit").route(web::get().to(pages::audit)))
                .service(web::resource("/audit/verify").route(web::get().to(pages::verify)))
                .service(web::resource("/statistics").route(web::get().to(pages::statistics)))
                .service(
                    web::resource("/statistics.csv").route(web::get().to(pages::statistics_csv)),
                )
                .service(web::resource("/retention").route(web::get().to(pages::retention)))
                .service(web::resource("/assets/{path:.*}").route(web::get().to(assets::serve)))
                .default_service(web::to(pages::not_found)),
        );
}
