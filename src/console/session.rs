//! Console sessions.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use crate::domain::Actor;
use crate::http::problem::ApiError;

/// Starts a console session for `actor` (signed in by the identity provider) and sends
/// the browser to the console's start page.
pub fn sign_in(_req: &HttpRequest, _actor: Actor) -> Result<HttpResponse, ApiError> {
    let mut id = [0u8; 32];
    getrandom::getrandom(&mut id).map_err(|e| ApiError::Internal(e.to_string()))?;
    let cookie = Cookie::build("pathway_console_session", hex::encode(id))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/"))
        .cookie(cookie)
        .finish())
}
