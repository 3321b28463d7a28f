//! The HTTP surface: one route table, thin handlers, problem+json errors, the OpenAPI document.

pub mod audit;
pub mod auth;
pub mod cases;
pub mod contract;
pub mod deadline;
pub mod headers;
pub mod health;
pub mod json;
pub mod links;
pub mod me;
pub mod metrics;
pub mod notifications;
pub mod page;
pub mod panels;
pub mod params;
pub mod problem;
pub mod retention;
pub mod statistics;
pub mod subject_access;
pub mod text_parameters;

use actix_web::web;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::http::contract::{ActionOperations, CrossFieldRules};
use crate::http::links::Links;
use crate::http::problem::ApiError;
use crate::http::text_parameters::TextParameters;

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
        statistics::statistics,
        subject_access::subject_access,
        retention::due, retention::decide,
        audit::list, audit::verify, audit::verification_key,
    ),
    components(schemas(problem::Problem, problem::FieldError, crate::domain::FieldLocation, notifications::NotificationStatus)),
    modifiers(
        &BearerAuth, &ActionOperations, &CrossFieldRules, &CommonProblems, &Links,
        &TextParameters
    ),
    tags(
        (name = "operations", description = "Probes"),
        (name = "identity", description = "The caller"),
        (name = "referrals", description = "Filing a referral"),
        (name = "cases", description = "Cases and the pathway"),
        (name = "panels", description = "Channel panels, members and meetings"),
        (name = "notifications", description = "Email notifications: the directory and the outbox"),
        (name = "statistics", description = "The official-statistics breakdowns"),
        (name = "subject access", description = "Subject access exports"),
        (name = "retention", description = "Retention reviews, legal holds and erasure"),
        (name = "audit", description = "The tamper-evident audit log"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

/// Declares, on every operation, the problems any request of its kind can get: a bad
/// token (operations that need one), a malformed body or query, an oversized or non-JSON
/// body (operations with one), and an internal error.
struct CommonProblems;

impl utoipa::Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    problem::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in crate::http::text_parameters::operations(item) {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let has_input =
                    has_body || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                // Every operation refuses a query parameter it does not document.
                add(
                    "400",
                    "Malformed JSON, query or header; `errors` names each bad query \
                     parameter or header (`in`); an unknown query parameter is refused \
                     (`unknown_parameter`), and so is any whose name or value holds a \
                     control character such as NUL (`control_characters`)",
                );
                if has_input {
                    add("422", "Invalid values; `errors` names each field");
                }
                if secured {
                    add("401", "No usable token; `code` says why");
                }
                if has_body {
                    add("413", "Body larger than the limit");
                    add("415", "Body not sent as application/json");
                }
                add("500", "The service failed; the body says nothing internal");
                add(
                    "503",
                    "The database is unavailable (`service_unavailable`: nothing was done), or \
                     the connection to it was lost during the request (`outcome_unknown`: it \
                     may or may not have taken effect; retry unchanged, with the same \
                     `Idempotency-Key` or `If-Match`). `Retry-After` says when",
                );
            }
        }
    }
}

/// How a bearer token is checked, and the `code` of each 401 problem, for the document.
pub(crate) const TOKEN_CODES: &str = "A JWT signed with the configured algorithm and key, for this \
service's issuer and audience. A refused token is a 401 problem whose `code` says why: \
`token_missing`, `token_malformed`, `token_unsigned` (`alg: none`), \
`token_algorithm_not_allowed`, `token_critical_header_unsupported` (a `crit` header: no \
extension is understood), `token_unencoded_payload_unsupported` (`b64` other than true), \
`token_signature_invalid`, `token_key_unknown`, `token_expired`, `token_not_yet_valid`, \
`token_audience_invalid`, `token_issuer_invalid`, `token_claim_missing`, \
`token_claim_invalid` (a claim is empty, too long or holds a control character), \
`token_email_invalid` (the `email` claim is not one bare address), \
`token_roles_missing`.";

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(TOKEN_CODES))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as pretty JSON, as committed, with every object's keys sorted:
/// utoipa keeps a link's extensions (its `operationId` and `requestBody`, see `links`) in a
/// hash map, whose order changes from run to run; sorted, the same code always writes the
/// same file.
pub fn openapi_json() -> String {
    serde_json::to_value(ApiDoc::openapi())
        .and_then(|doc| serde_json::to_string_pretty(&doc))
        .unwrap_or_default()
        + "\n"
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(health::healthz)))
        .service(web::resource("/readyz").route(web::get().to(health::readyz)))
        // Serves the document at /openapi.json and a page to read it at /docs/. The
        // page would otherwise send the document's address to validator.swagger.io
        // (and its Content-Security-Policy refuses the badge it fetches from there).
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", ApiDoc::openapi())
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
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
                    web::resource("/cases/{id}/retention").route(web::post().to(retention::decide)),
                )
                .service(web::resource("/retention/due").route(web::get().to(retention::due)))
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
                .service(web::resource("/stats").route(web::get().to(statistics::statistics)))
                .service(
                    web::resource("/subject-access")
                        .route(web::post().to(subject_access::subject_access)),
                )
                .service(web::resource("/audit").route(web::get().to(audit::list)))
                .service(web::resource("/audit/verify").route(web::get().to(audit::verify)))
                .service(web::resource("/audit/key").route(web::get().to(audit::verification_key))),
        )
        .default_service(web::to(not_found));
}
