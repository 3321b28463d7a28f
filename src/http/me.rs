//! Who the service takes the caller to be.

use actix_web::web::Json;

use crate::domain::Actor;
use crate::http::problem::ApiError;

/// The caller as their token describes them: lets API clients check a token.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, description = "The authenticated user", body = Actor),
    (status = 401, description = "No usable token", body = crate::http::problem::Problem,
        content_type = "application/problem+json")))]
pub async fn me(actor: Actor) -> Result<Json<Actor>, ApiError> {
    Ok(Json(actor))
}
