//! The development sign-in (local use only) and signing out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde_json::{Value, json};

use super::{Answer, query, state};
use crate::console::ConsoleError;
use crate::console::csrf::{self, Form};
use crate::console::render::{humanise, page};
use crate::console::session;
use crate::domain::Role;
use crate::identity::{AuthFailure, LocalClaims, TokenVerifier, mint_local_token};

/// The development sign-in's fields, as sent or by default.
fn sign_in_context(form: &Form, errors: &[(String, String)], signed_out: bool) -> Value {
    let get = |name: &str, default: &str| form.get(name).map_or(default.to_owned(), str::to_owned);
    let chosen = form.all("roles");
    let roles: Vec<Value> = Role::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "value": r.as_str(),
                "label": humanise(r.as_str()),
                "id": if i == 0 { "roles".to_owned() } else { format!("roles-{}", i + 1) },
                "checked": chosen.contains(&r.as_str()),
            })
        })
        .collect();
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
    };
    let href = |field: &str| match field {
        "user" => "#user",
        "name" => "#name",
        "email" => "#email",
        "area" => "#area",
        _ => "#roles",
    };
    json!({
        "title": "Sign in",
        "signed_out": signed_out,
        "user": Value::Null,
        "form": {
            "user": get("user", "console-user"),
            "name": get("name", "Console User"),
            "email": get("email", "console-user@example.org"),
            "area": get("area", "E08000035"),
        },
        "roles": roles,
        "errors": !errors.is_empty(),
        "field_errors": {
            "user": error_of("user"), "name": error_of("name"), "email": error_of("email"),
            "area": error_of("area"), "roles": error_of("roles"),
        },
        "summary": errors.iter().map(|(f, m)| json!({"message": m, "href": href(f)})).collect::<Vec<_>>(),
    })
}

/// `GET /console/sign-in`: the development sign-in form (local use only).
pub async fn sign_in_form(req: HttpRequest) -> Answer {
    if !state(&req)?.dev_sign_in {
        return Err(ConsoleError::SignInRefused);
    }
    let signed_out = query(&req).get("signed_out").is_some();
    page(
        StatusCode::OK,
        "sign_in.html",
        &sign_in_context(&Form::default(), &[], signed_out),
    )
}

/// The field a refused sign-in is about, and what to tell the person.
fn refused_field(failure: &AuthFailure) -> (&'static str, &'static str) {
    use AuthFailure as F;
    match failure {
        F::MissingClaim(c) | F::InvalidClaim(c) if c == "sub" => ("user", "Enter a user id"),
        F::MissingClaim(c) | F::InvalidClaim(c) if c == "name" => ("name", "Enter a name"),
        F::MissingClaim(c) | F::InvalidClaim(c) if c == "area" => (
            "area",
            "Enter an area code such as E08000035 (national is for auditors only)",
        ),
        F::EmailInvalid | F::MissingClaim(_) => (
            "email",
            "Enter an email address in the correct format, like name@example.org",
        ),
        F::NoRoles => ("roles", "Select at least one role"),
        _ => ("user", "These details cannot be used to sign in"),
    }
}

/// `POST /console/sign-in`: mints a local token from the form, verifies it as an API
/// request's token would be, and starts a session for the actor it names. Refused
/// exactly where `pathway token` is.
pub async fn sign_in(req: HttpRequest, body: web::Bytes) -> Answer {
    let state = state(&req)?;
    if !state.dev_sign_in {
        return Err(ConsoleError::SignInRefused);
    }
    // No session yet, so no synchronizer token: the Origin check (and the cookie's
    // SameSite=Strict) stand against a sign-in forged from another site. This form
    // exists only in local use.
    if !csrf::same_origin(&req, &state) {
        return Err(ConsoleError::Csrf);
    }
    let form = Form::parse(&body);
    let roles = form.all("roles");
    let mut claims = LocalClaims::new(
        &state.auth,
        form.get("user").unwrap_or_default().trim(),
        &roles,
        form.get("area").unwrap_or_default().trim(),
        300,
    );
    claims.name = form.get("name").unwrap_or_default().trim().to_owned();
    claims.email = form.get("email").unwrap_or_default().to_owned();
    let verifier = super::data::<TokenVerifier>(&req)?;
    let minted = mint_local_token(&state.auth, &claims).map_err(|e| {
        tracing::error!(error = %e, "the development sign-in could not mint a token");
        ConsoleError::Internal
    })?;
    match verifier.verify(&minted) {
        Ok(actor) => session::sign_in(&req, actor).await,
        Err(failure) => {
            let (field, message) = refused_field(&failure);
            let ctx = sign_in_context(&form, &[(field.to_owned(), message.to_owned())], false);
            page(StatusCode::UNPROCESSABLE_ENTITY, "sign_in.html", &ctx)
        }
    }
}

/// `POST /console/sign-out`.
pub async fn sign_out(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::current(&req).await?;
    csrf::check(&req, &session, &Form::parse(&body))?;
    session::end(&req, session).await
}
