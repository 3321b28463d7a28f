//! Bearer-token authentication: the `Authorization` header's token, verified as
//! [`crate::identity`] verifies every token, becomes the request's [`Actor`].

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::domain::Actor;
use crate::http::problem::ApiError;
use crate::identity::{AuthFailure, TokenVerifier};

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Ready<Result<Actor, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req).map_err(ApiError::Unauthenticated))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Actor, AuthFailure> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .ok_or(AuthFailure::Malformed)?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(AuthFailure::Missing)?;
    let value = header.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Malformed);
    }
    verifier.verify(token.trim())
}
