//! Every error answer is `application/problem+json` (RFC 9457) with a stable `code`.
//!
//! Handlers return [`ApiError`]. [`finalise`] then sees every response: it adds the
//! request id to problem bodies, turns actix's own error answers (unknown route, wrong
//! method, oversized body, ...) into problems, and makes sure no 5xx body says anything
//! about the cause.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use serde::Serialize;
use tracing_actix_web::RequestId;

use crate::identity::AuthFailure;
use crate::store::StoreError;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::domain::FieldError;

/// Marks a response whose error body is final and safe to send as it is (the web
/// console's HTML error pages): [`finalise`] does not turn it into a problem.
#[derive(Debug, Clone, Copy)]
pub struct FinalBody;

/// An RFC 9457 problem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:pathway:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// Stable snake_case code for programs.
    pub code: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, also in the `X-Request-Id` header and every log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field errors, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `invalid_transition`: the case's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// For `invalid_transition`: the actions you may take now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    /// For `version_mismatch`: the case's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl Problem {
    fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            type_uri: format!("urn:pathway:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            instance: None,
            request_id: None,
            errors: Vec::new(),
            state: None,
            allowed_actions: None,
            current_version: None,
        }
    }

    fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .body(body)
    }
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No usable token.
    #[error("authentication failed: {0:?}")]
    Unauthenticated(AuthFailure),
    /// The user's role or area does not allow this.
    #[error("forbidden: {code}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// For a person.
        detail: String,
    },
    /// Not found, or not visible to this user.
    #[error("not found")]
    NotFound,
    /// The action is not allowed from the case's state.
    #[error("invalid transition")]
    InvalidTransition {
        /// The state.
        state: String,
        /// What may be done instead.
        allowed: Vec<String>,
    },
    /// The request conflicts with the record's state.
    #[error("conflict: {code}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// For a person.
        detail: String,
    },
    /// `If-Match` names an old version.
    #[error("version mismatch")]
    VersionMismatch {
        /// The current version.
        current: i64,
    },
    /// `If-Match` is missing.
    #[error("precondition required")]
    PreconditionRequired,
    /// The same idempotency key came with another body.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The body or query is not well-formed.
    #[error("bad request: {code}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// For a person.
        detail: String,
    },
    /// A query parameter, header or path segment cannot be read; `errors` names each.
    #[error("bad request: {code}")]
    BadParameters {
        /// Stable code: `invalid_query`, `invalid_if_match`, `invalid_idempotency_key`.
        code: &'static str,
        /// For a person.
        detail: String,
        /// Each bad parameter, with where it was sent.
        errors: Vec<FieldError>,
    },
    /// Nothing at this address, and the path says why (a segment that does not parse).
    #[error("not found")]
    NotFoundAt(FieldError),
    /// The request is well-formed but its values are not acceptable.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request is well-formed and valid, but asks what this caller may not have
    /// (statistics of a range that is no published period).
    #[error("unprocessable: {code}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// For a person.
        detail: String,
    },
    /// The body is larger than the configured limit.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The service cannot answer now (migrations pending).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The database cannot be reached or cannot take a write now: nothing was done.
    #[error("database unavailable: {why}")]
    DatabaseUnavailable {
        /// The cause, in words that name nothing internal.
        why: &'static str,
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after: u64,
    },
    /// The connection to the database was lost after the request was sent: it may or
    /// may not have taken effect.
    #[error("outcome unknown")]
    OutcomeUnknown,
    /// The body did not arrive within the deadline.
    #[error("request body timed out")]
    RequestTimeout,
    /// Anything unexpected: logged in full, answered with nothing internal.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 500 whose cause is logged but never sent.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// The problem this error answers with: its status, code and detail, the fields it
    /// names, and what a few answers add (the state and its actions, the version).
    pub fn problem(&self) -> Problem {
        if let ApiError::Internal(_) = self {
            return internal_problem();
        }
        let (status, code, detail) = self.answer();
        let mut p = Problem::new(status, code, detail);
        p.errors = self.errors();
        match self {
            ApiError::InvalidTransition { state, allowed } => {
                p.state = Some(state.clone());
                p.allowed_actions = Some(allowed.clone());
            }
            ApiError::VersionMismatch { current } => p.current_version = Some(*current),
            _ => {}
        }
        p
    }

    /// The status, code and detail of the answer.
    fn answer(&self) -> (StatusCode, &str, String) {
        use StatusCode as S;
        let fixed = |status, code, detail: &str| (status, code, detail.to_owned());
        match self {
            ApiError::Unauthenticated(f) => (S::UNAUTHORIZED, f.code(), f.detail()),
            ApiError::Forbidden { code, detail } => (S::FORBIDDEN, code, detail.clone()),
            ApiError::NotFound | ApiError::NotFoundAt(_) => {
                fixed(S::NOT_FOUND, "not_found", NOT_FOUND)
            }
            ApiError::BadRequest { code, detail }
            | ApiError::BadParameters { code, detail, .. } => {
                (S::BAD_REQUEST, code, detail.clone())
            }
            ApiError::Conflict { code, detail } => (S::CONFLICT, code, detail.clone()),
            ApiError::InvalidTransition { state, .. } => (
                S::CONFLICT,
                "invalid_transition",
                format!(
                    "That action cannot be taken while the case is `{state}`; see `allowed_actions`."
                ),
            ),
            ApiError::VersionMismatch { .. } => fixed(
                S::PRECONDITION_FAILED,
                "version_mismatch",
                "The case has changed since you read it: fetch it again and retry.",
            ),
            ApiError::PreconditionRequired => fixed(
                S::PRECONDITION_REQUIRED,
                "precondition_required",
                "Send `If-Match` with the case's version (its ETag).",
            ),
            ApiError::IdempotencyKeyReused => fixed(
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "This Idempotency-Key was used before with a different body.",
            ),
            ApiError::Validation(errors) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{} field(s) are not valid; see `errors`.", errors.len()),
            ),
            ApiError::Unprocessable { code, detail } => {
                (S::UNPROCESSABLE_ENTITY, code, detail.clone())
            }
            ApiError::PayloadTooLarge { limit } => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body is larger than the limit of {limit} bytes."),
            ),
            ApiError::UnsupportedMediaType => fixed(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as `Content-Type: application/json`.",
            ),
            ApiError::Unavailable(what) => (
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!("The service is not ready: {what}."),
            ),
            ApiError::DatabaseUnavailable { why, retry_after } => (
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!(
                    "The database is not available now: {why}. Nothing was done; retry after {retry_after} s."
                ),
            ),
            ApiError::OutcomeUnknown => {
                fixed(S::SERVICE_UNAVAILABLE, "outcome_unknown", OUTCOME_UNKNOWN)
            }
            ApiError::RequestTimeout => fixed(
                S::REQUEST_TIMEOUT,
                "body_timeout",
                "The request body did not arrive in time; the connection is closed.",
            ),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal_error", String::new()),
        }
    }

    /// The fields, parameters or headers the answer names.
    fn errors(&self) -> Vec<FieldError> {
        match self {
            ApiError::BadParameters { errors, .. } | ApiError::Validation(errors) => errors.clone(),
            ApiError::NotFoundAt(error) => vec![error.clone()],
            ApiError::UnsupportedMediaType => vec![FieldError::header(
                "Content-Type",
                "unsupported_media_type",
                "Content-Type must be application/json",
            )],
            _ => vec![],
        }
    }

    /// Seconds a client should wait before retrying, for the answers that say so.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::DatabaseUnavailable { retry_after, .. } => Some(*retry_after),
            ApiError::OutcomeUnknown | ApiError::Unavailable(_) => Some(1),
            _ => None,
        }
    }
}

/// What a 404 says: nothing here, or nothing the caller may see (the two are one answer,
/// so that a refusal never confirms that a case exists).
const NOT_FOUND: &str = "No such resource, or it is not visible to you.";

/// What an answer says when the database was lost mid-request.
const OUTCOME_UNKNOWN: &str = "The connection to the database was lost while this request was being \
     processed, so it may or may not have taken effect. Retry it unchanged: a \
     filing with the same Idempotency-Key returns the original answer if it was \
     recorded, and an action with the same If-Match answers 412 if it was.";

fn internal_problem() -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "The service failed to complete the request. Quote the request id when reporting it.",
    )
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        use crate::store::Outage;
        match e.outage() {
            Some(Outage::Unavailable(why)) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::DatabaseUnavailable {
                    why,
                    retry_after: e.retry_after_seconds(),
                }
            }
            Some(Outage::OutcomeUnknown) => {
                tracing::warn!(error = %e, "database connection lost during a request");
                ApiError::OutcomeUnknown
            }
            None => ApiError::internal(e),
        }
    }
}

impl From<crate::app::AppError> for ApiError {
    fn from(e: crate::app::AppError) -> ApiError {
        match e {
            crate::app::AppError::RoleNotAllowed => ApiError::Forbidden {
                code: "role_not_allowed",
                detail: "Your role does not allow this.".into(),
            },
            crate::app::AppError::NotFound => ApiError::NotFound,
            crate::app::AppError::InvalidTransition { state, allowed } => {
                ApiError::InvalidTransition {
                    state: state.as_str().to_owned(),
                    allowed: allowed.iter().map(|a| a.as_str().to_owned()).collect(),
                }
            }
            crate::app::AppError::VersionMismatch { current } => {
                ApiError::VersionMismatch { current }
            }
            crate::app::AppError::Conflict { code, detail } => ApiError::Conflict {
                code,
                detail: detail.to_owned(),
            },
            crate::app::AppError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            crate::app::AppError::Validation(errors) => ApiError::Validation(errors),
            crate::app::AppError::UnpublishedPeriod { near } => ApiError::Unprocessable {
                code: "unpublished_period",
                detail: crate::present::statistics::published_periods_near(near),
            },
            crate::app::AppError::Corrupt(e) => ApiError::internal(e),
            crate::app::AppError::Store(e) => e.into(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        match e {
            diesel::result::Error::NotFound => ApiError::NotFound,
            other => StoreError::Query(other).into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error.cause = %cause, "internal error");
        }
        let problem = self.problem();
        let mut response = problem.response();
        if let ApiError::Unauthenticated(f) = self {
            let challenge = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                f.code()
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(v) = self
            .retry_after()
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response.extensions_mut().insert(problem);
        response
    }
}

/// The problem for an error answer that did not come from [`ApiError`].
fn problem_for_status(status: StatusCode) -> Problem {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => (
            "not_found",
            "No such resource, or it is not visible to you.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This resource does not accept that method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "The body is larger than the limit.")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "Send the body as `Content-Type: application/json`.",
        ),
        StatusCode::BAD_REQUEST => ("bad_request", "The request is not well-formed."),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ("headers_too_large", "The request headers are too large.")
        }
        StatusCode::SERVICE_UNAVAILABLE => ("service_unavailable", "The service is not ready."),
        StatusCode::REQUEST_TIMEOUT => (
            "body_timeout",
            "The request did not arrive in time; the connection is closed.",
        ),
        s if s.is_server_error() => {
            let mut p = internal_problem();
            p.status = s.as_u16();
            return p;
        }
        _ => ("request_failed", "The request could not be completed."),
    };
    Problem::new(status, code, detail)
}

/// Middleware run on every response; see the module documentation.
pub async fn finalise(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    let status = response.status();
    let existing = response.response().extensions().get::<Problem>().cloned();
    let final_body = response
        .response()
        .extensions()
        .get::<FinalBody>()
        .is_some();
    let mut response = if !final_body && (status.is_client_error() || status.is_server_error()) {
        // Problems from ApiError are already safe to send; anything else is rebuilt
        // from its status alone, so a foreign 5xx body never reaches the client.
        let mut problem = existing.unwrap_or_else(|| problem_for_status(status));
        problem.instance = Some(path);
        problem.request_id = request_id.clone();
        let (req, old) = response.into_parts();
        let mut fresh = problem.response();
        // Keep the headers that tell a client what to do next.
        for name in [header::WWW_AUTHENTICATE, header::ALLOW, header::RETRY_AFTER] {
            if let Some(v) = old.headers().get(&name) {
                fresh.headers_mut().insert(name, v.clone());
            }
        }
        // A body cut off by its deadline leaves the rest of it on the wire: close.
        if status == StatusCode::REQUEST_TIMEOUT {
            fresh
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        ServiceResponse::new(req, fresh)
    } else {
        response.map_into_boxed_body()
    };
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), id);
    }
    Ok(response)
}

/// Maps a failure to read the body: past its deadline (see
/// [`crate::http::deadline`]) a 408, otherwise a malformed body.
pub fn payload_error(err: actix_web::error::PayloadError) -> ApiError {
    match err {
        actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::RequestTimeout
        }
        other => ApiError::BadRequest {
            code: "malformed_body",
            detail: other.to_string(),
        },
    }
}

/// Maps actix's query-string extractor errors to problems.
pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_query",
        detail: err.to_string(),
    }
}

/// Maps actix's path extractor errors to problems: a malformed id names nothing.
pub fn path_error(_err: actix_web::error::PathError) -> ApiError {
    ApiError::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_status_and_code() {
        let cases = [
            (
                ApiError::Unauthenticated(AuthFailure::Missing),
                401,
                "token_missing",
            ),
            (
                ApiError::Forbidden {
                    code: "role_not_allowed",
                    detail: String::new(),
                },
                403,
                "role_not_allowed",
            ),
            (ApiError::NotFound, 404, "not_found"),
            (
                ApiError::BadRequest {
                    code: "malformed_json",
                    detail: String::new(),
                },
                400,
                "malformed_json",
            ),
            (ApiError::Validation(vec![]), 422, "validation_failed"),
            (
                ApiError::Unprocessable {
                    code: "unpublished_period",
                    detail: String::new(),
                },
                422,
                "unpublished_period",
            ),
            (
                ApiError::Conflict {
                    code: "not_due",
                    detail: String::new(),
                },
                409,
                "not_due",
            ),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "payload_too_large",
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (
                ApiError::Unavailable("x".into()),
                503,
                "service_unavailable",
            ),
            (
                ApiError::DatabaseUnavailable {
                    why: "x",
                    retry_after: 2,
                },
                503,
                "service_unavailable",
            ),
            (ApiError::OutcomeUnknown, 503, "outcome_unknown"),
            (ApiError::RequestTimeout, 408, "body_timeout"),
            (
                ApiError::Internal("secret cause".into()),
                500,
                "internal_error",
            ),
        ];
        for (err, status, code) in cases {
            let p = err.problem();
            assert_eq!((p.status, p.code.as_str()), (status, code), "{err:?}");
            assert_eq!(err.status_code().as_u16(), status);
            assert_eq!(p.type_uri, format!("urn:pathway:problem:{code}"));
        }
    }

    #[test]
    fn an_internal_error_says_nothing_of_its_cause() {
        let p = ApiError::Internal("connection to 10.0.0.5 refused".into()).problem();
        let body = serde_json::to_string(&p).unwrap();
        assert!(!body.contains("10.0.0.5"), "{body}");
    }
}
