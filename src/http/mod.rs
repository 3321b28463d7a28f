//! The HTTP surface: one route table, thin handlers, problem+json errors, the OpenAPI document.

pub mod audit;
pub mod auth;
pub mod cases;
pub mod health;
pub mod json;
pub mod me;
pub mod metrics;
pub mod notifications;
pub mod page;
pub mod panels;
pub mod problem;

use actix_web::web;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::http::problem::ApiError;

/// The OpenAPI document; `openapi/openapi.json` is this, committed and checked by a test.
#[derive(OpenApi)]
#[openapi(
    info(title = "pathway", description = "Referral intake and the Channel case pathway of the Prevent programme."),
    paths(
        health::healthz, health::readyz, me::me,
        cases::file_referral, cases::list_cases, cases::read_case, cases::history,
        cases::available_actions, cases::perform_action, cases::add_note,
        panels::create_panel, panels::list_panels, panels::read_panel, panels::add_member,
        panels::remove_member, panels::create_meeting, panels::read_meeting,
        notifications::directory, notifications::add_mailbox, notifications::remove_mailbox,
        notifications::list, notifications::retry,
        audit::list, audit::verify,
    ),
    components(schemas(problem::Problem, problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Probes"),
        (name = "identity", description = "The caller"),
        (name = "referrals", description = "Filing a referral"),
        (name = "cases", description = "Cases and the pathway"),
        (name = "panels", description = "Channel panels, members and meetings"),
        (name = "notifications", description = "Email notifications: the directory and the outbox"),
        (name = "audit", description = "The tamper-evident audit log"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as pretty JSON, as committed.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default() + "\n"
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        // Serves the document at /openapi.json and a page to read it at /docs/.
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", ApiDoc::openapi()),
        )
        .service(
            web::scope("/v1")
                .service(web::resource("/me").route(web::get().to(me::me)))
                .service(web::resource("/referrals").route(web::post().to(cases::file_referral)))
                .service(web::resource("/cases").route(web::get().to(cases::list_cases)))
                .service(web::resource("/cases/{id}").route(web::get().to(cases::read_case)))
                .service(web::resource("/cases/{id}/history").route(web::get().to(cases::history)))
                .service(
                    web::resource("/cases/{id}/actions")
                        .route(web::get().to(cases::available_actions)),
                )
                .service(
                    web::resource("/cases/{id}/actions/{action}")
                        .route(web::post().to(cases::perform_action)),
                )
                .service(web::resource("/cases/{id}/notes").route(web::post().to(cases::add_note)))
                .service(
                    web::resource("/panels")
                        .route(web::post().to(panels::create_panel))
                        .route(web::get().to(panels::list_panels)),
                )
                .service(web::resource("/panels/{id}").route(web::get().to(panels::read_panel)))
                .service(
                    web::resource("/panels/{id}/members").route(web::post().to(panels::add_member)),
                )
                .service(
                    web::resource("/panels/{id}/members/{member_id}")
                        .route(web::delete().to(panels::remove_member)),
                )
                .service(
                    web::resource("/panels/{id}/meetings")
                        .route(web::post().to(panels::create_meeting)),
                )
                .service(web::resource("/meetings/{id}").route(web::get().to(panels::read_meeting)))
                .service(
                    web::resource("/directory")
                        .route(web::get().to(notifications::directory))
                        .route(web::post().to(notifications::add_mailbox)),
                )
                .service(
                    web::resource("/directory/{id}")
                        .route(web::delete().to(notifications::remove_mailbox)),
                )
                .service(web::resource("/notifications").route(web::get().to(notifications::list)))
                .service(
                    web::resource("/notifications/{id}/retry")
                        .route(web::post().to(notifications::retry)),
                )
                .service(web::resource("/audit").route(web::get().to(audit::list)))
                .service(web::resource("/audit/verify").route(web::get().to(audit::verify))),
        )
        .default_service(web::to(not_found));
}
