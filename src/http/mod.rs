//! The HTTP surface: one route table, thin handlers, problem+json errors, the OpenAPI document.

pub mod audit;
pub mod auth;
pub mod health;
pub mod json;
pub mod me;
pub mod metrics;
pub mod page;
pub mod problem;

use actix_web::web;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::http::problem::ApiError;

/// The OpenAPI document; `openapi/openapi.json` is this, committed and checked by a test.
#[derive(OpenApi)]
#[openapi(
    info(title = "pathway", description = "Referral intake and the Channel case pathway of the Prevent programme."),
    paths(health::healthz, health::readyz, me::me, audit::list, audit::verify),
    components(schemas(problem::Problem, problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Probes"),
        (name = "identity", description = "The caller"),
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
                .service(web::resource("/audit").route(web::get().to(audit::list)))
                .service(web::resource("/audit/verify").route(web::get().to(audit::verify))),
        )
        .default_service(web::to(not_found));
}
