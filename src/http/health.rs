//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::http::problem::ApiError;
use crate::store::{Store, StoreError, migrations_current, ping};

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

/// The database answers and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = Health),
    (status = 503, description = "Database unreachable or migrations pending", body = crate::http::problem::Problem,
        content_type = "application/problem+json")))]
pub async fn readyz(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let current = store
        .run(|conn| {
            ping(conn)?;
            migrations_current(conn)
        })
        .await
        .map_err(|e: StoreError| {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            ApiError::Unavailable("the database is not reachable".into())
        })?;
    if !current {
        return Err(ApiError::Unavailable(
            "database migrations are pending".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
