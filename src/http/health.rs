//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::http::problem::ApiError;
use crate::store::{Store, StoreError, check_writable, migrations_current};

/// The body of a successful probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` for liveness, `ready` for readiness.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database takes a write (without growing), every migration is applied, and the
/// audit witness takes files with nothing left unwritten. It waits at most
/// `database.probe_timeout_ms` for a connection.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = Health),
    (status = 503, description = "The database is unreachable or cannot take a write (`detail` \
        says which: disk full, read-only, ...), migrations are pending, or the audit witness \
        cannot be written; `Retry-After` says when to ask again", body = crate::http::problem::Problem,
        content_type = "application/problem+json")))]
pub async fn readyz(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let trust = store.audit().cloned();
    let (current, witness) = store
        .probe(move |conn| {
            check_writable(conn)?;
            let current = migrations_current(conn)?;
            Ok::<_, StoreError>((current, trust.and_then(|t| t.witness_problem())))
        })
        .await
        .map_err(|e: StoreError| match ApiError::from(e) {
            // A lost connection during the check says the same as an unreachable one.
            ApiError::OutcomeUnknown => ApiError::DatabaseUnavailable {
                why: "the database is not reachable",
                retry_after: 1,
            },
            ApiError::Internal(_) => ApiError::DatabaseUnavailable {
                why: "the database check failed",
                retry_after: 1,
            },
            other => other,
        })?;
    if !current {
        return Err(ApiError::Unavailable(
            "database migrations are pending".into(),
        ));
    }
    if let Some(problem) = witness {
        return Err(ApiError::Unavailable(problem));
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
