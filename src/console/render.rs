//! Templates, page responses with the console's security headers, and GOV.UK error pages.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use minijinja::Environment;
use serde_json::{Value, json};

use crate::app::AppError;
use crate::store::{Outage, StoreError};

/// The console's templates, embedded at build time.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let templates: [(&str, &str); 16] = [
        (
            "base.html",
            include_str!("../../console/templates/base.html"),
        ),
        (
            "_logo.svg",
            include_str!("../../console/templates/_logo.svg"),
        ),
        (
            "_fields.html",
            include_str!("../../console/templates/_fields.html"),
        ),
        (
            "_errors.html",
            include_str!("../../console/templates/_errors.html"),
        ),
        (
            "_date.html",
            include_str!("../../console/templates/_date.html"),
        ),
        (
            "start.html",
            include_str!("../../console/templates/start.html"),
        ),
        (
            "sign_in.html",
            include_str!("../../console/templates/sign_in.html"),
        ),
        (
            "cases.html",
            include_str!("../../console/templates/cases.html"),
        ),
        (
            "case.html",
            include_str!("../../console/templates/case.html"),
        ),
        (
            "meetings.html",
            include_str!("../../console/templates/meetings.html"),
        ),
        (
            "meeting.html",
            include_str!("../../console/templates/meeting.html"),
        ),
        (
            "audit.html",
            include_str!("../../console/templates/audit.html"),
        ),
        (
            "verify.html",
            include_str!("../../console/templates/verify.html"),
        ),
        (
            "statistics.html",
            include_str!("../../console/templates/statistics.html"),
        ),
        (
            "retention.html",
            include_str!("../../console/templates/retention.html"),
        ),
        (
            "error.html",
            include_str!("../../console/templates/error.html"),
        ),
    ];
    for (name, source) in templates {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not parse");
        }
    }
    // HTML escaping of `&`, `<`, `>`, `"` and `'`: minijinja's own also escapes `/`,
    // which is harmless but turns every address into entities.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(text) if state.auto_escape() != minijinja::AutoEscape::None && !value.is_safe() => out
            .write_str(&escape_html(text))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())),
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("humanise", |v: minijinja::Value| humanise(&text_of(&v)));
    env.add_filter("when", |v: minijinja::Value| when(&text_of(&v)));
    env.add_filter("day", |v: minijinja::Value| day(&text_of(&v)));
    env
});

/// `text` with the five characters that matter in HTML text and attributes escaped.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A template value as text: a string as it is, `none` as nothing, anything else as
/// minijinja prints it.
fn text_of(v: &minijinja::Value) -> String {
    if v.is_none() || v.is_undefined() {
        return String::new();
    }
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// `not_adopt` → `Not adopt`.
pub fn humanise(value: &str) -> String {
    // A hyphen or underscore between digits is a range (the age band `11_15`), shown
    // with an en dash; any other separates words of a code.
    let chars: Vec<char> = value.chars().collect();
    let spaced: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '-' | '_'
                if i > 0
                    && chars[i - 1].is_ascii_digit()
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit) =>
            {
                '–'
            }
            '_' | '-' => ' ',
            other => other,
        })
        .collect();
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// An RFC 3339 time as `23 November 2026, 14:05 UTC`; anything else as it is.
fn when(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| value.to_owned())
}

/// An RFC 3339 time or a date as `23 November 2026`.
fn day(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.date_naive())
        .or_else(|_| chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .map(|d| d.format("%-d %B %Y").to_string())
        .unwrap_or_else(|_| value.to_owned())
}

/// The Content-Security-Policy of every console page: everything from this origin
/// only, no inline script (the pages have no script at all), no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Marks a console answer as complete as it is: an HTML page or a redirect, never to be
/// rewritten into a JSON problem (start-up tells the API's error handling so).
#[derive(Debug, Clone, Copy)]
pub struct FinalPage;

/// Adds the console's security headers to an HTML response. Pages may show case data,
/// so none is ever stored by a browser or a proxy.
pub fn secure(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    let set =
        |h: &mut actix_web::http::header::HeaderMap, name: &'static str, value: &'static str| {
            h.insert(
                header::HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-frame-options", "DENY");
    // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with
    // a form's POST, and the CSRF Origin check refuses every form. Other sites still get
    // no referrer.
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cache-control", "no-store");
    response.extensions_mut().insert(FinalPage);
}

/// Renders `template` with `context`; a template that fails is logged and answered
/// with the plain error page.
pub fn render(template: &str, context: &Value) -> Result<String, ConsoleError> {
    TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| {
            tracing::error!(template, error = %e, "console page did not render");
            ConsoleError::Internal
        })
}

/// A rendered page with `status`.
pub fn page(
    status: StatusCode,
    template: &str,
    context: &Value,
) -> Result<HttpResponse, ConsoleError> {
    let body = render(template, context)?;
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    secure(&mut response);
    Ok(response)
}

/// 303 See Other to `location` (Post/Redirect/Get, and the way to sign-in).
pub fn redirect(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish();
    secure(&mut response);
    response
}

/// Why a console request is not answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: sign in.
    #[error("not signed in")]
    SignIn,
    /// The person's roles do not include the page's.
    #[error("forbidden")]
    Forbidden,
    /// No such page, or a record the person may not see.
    #[error("not found")]
    NotFound,
    /// A form whose CSRF token or origin did not check out.
    #[error("csrf check failed")]
    Csrf,
    /// The development sign-in is not available in this configuration.
    #[error("development sign-in refused")]
    SignInRefused,
    /// A request the service cannot act on, with what to tell the person.
    #[error("bad request")]
    BadRequest(String),
    /// The database is unavailable: nothing was done, or perhaps it was.
    #[error("unavailable")]
    Unavailable,
    /// Anything unexpected (already logged).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> ConsoleError {
        match e.outage() {
            Some(Outage::Unavailable(_) | Outage::OutcomeUnknown) => {
                tracing::warn!(error = %e, "database unavailable to the console");
                ConsoleError::Unavailable
            }
            None => ConsoleError::failed(e),
        }
    }
}

impl From<AppError> for ConsoleError {
    fn from(e: AppError) -> ConsoleError {
        match e {
            AppError::RoleNotAllowed => ConsoleError::Forbidden,
            AppError::NotFound => ConsoleError::NotFound,
            AppError::Store(e) => e.into(),
            AppError::Corrupt(cause) => ConsoleError::failed(cause),
            AppError::Conflict { detail, .. } => ConsoleError::BadRequest(detail.into()),
            AppError::InvalidTransition { .. } => ConsoleError::BadRequest(
                "That action cannot be taken while the case is in its present state.".into(),
            ),
            AppError::VersionMismatch { .. } => ConsoleError::BadRequest(
                "The case has changed since you read it. Reload it and try again.".into(),
            ),
            AppError::Validation(errors) => {
                ConsoleError::BadRequest(format!("{} field(s) are not valid.", errors.len()))
            }
            AppError::IdempotencyKeyReused | AppError::UnpublishedPeriod { .. } => {
                ConsoleError::BadRequest("The request could not be completed.".into())
            }
        }
    }
}

impl ConsoleError {
    /// Something unexpected: logged here, shown to nobody.
    pub fn failed(cause: impl std::fmt::Display) -> ConsoleError {
        tracing::error!(error = %cause, "console request failed");
        ConsoleError::Internal
    }

    fn parts(&self) -> (&'static str, String) {
        match self {
            ConsoleError::SignIn => ("You need to sign in", String::new()),
            ConsoleError::Forbidden => (
                "You do not have access to this page",
                "Your roles do not include this part of the service. Go back to the start page to see what you can do.".into(),
            ),
            ConsoleError::NotFound => (
                "Page not found",
                "If you typed the web address, check it is correct. If you followed a link, the record may not exist or you may not be able to see it.".into(),
            ),
            ConsoleError::Csrf => (
                "Your form could not be checked",
                "The form was not sent from this service's own page, or your session changed since the page was opened. Nothing was changed. Go back, reload the page and try again.".into(),
            ),
            ConsoleError::SignInRefused => (
                "Development sign-in is not available",
                "This service signs people in through its identity provider. The development sign-in works only in local use.".into(),
            ),
            ConsoleError::BadRequest(detail) => ("There is a problem with your request", detail.clone()),
            ConsoleError::Unavailable => (
                "Sorry, the service is unavailable",
                "The service cannot reach its records at the moment. Try again in a few minutes. If you sent a form, check whether it took effect before sending it again.".into(),
            ),
            ConsoleError::Internal => (
                "Sorry, there is a problem with the service",
                "Try again later.".into(),
            ),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Forbidden | ConsoleError::Csrf | ConsoleError::SignInRefused => {
                StatusCode::FORBIDDEN
            }
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn = self {
            return redirect("/console/sign-in");
        }
        let (title, detail) = self.parts();
        let context = json!({"title": title, "detail": detail});
        let body = render("error.html", &context).unwrap_or_else(|_| {
            format!("<!DOCTYPE html><html lang=\"en\"><head><title>{title} – pathway – GOV.UK</title></head><body><main id=\"main-content\"><h1>{title}</h1></main></body></html>")
        });
        let mut response = HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body);
        secure(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_read_as_words_and_ranges_keep_their_dash() {
        assert_eq!(super::humanise("extreme_right_wing"), "Extreme right wing");
        assert_eq!(super::humanise("11-15"), "11–15");
        assert_eq!(super::humanise("11_15"), "11–15");
        assert_eq!(super::humanise("under-18"), "Under 18");
        assert_eq!(super::humanise(""), "");
    }

    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_an_html_page() {
        let cases = [
            (ConsoleError::SignIn, 303),
            (ConsoleError::Forbidden, 403),
            (ConsoleError::Csrf, 403),
            (ConsoleError::SignInRefused, 403),
            (ConsoleError::NotFound, 404),
            (ConsoleError::BadRequest("x".into()), 400),
            (ConsoleError::Unavailable, 503),
            (ConsoleError::Internal, 500),
        ];
        for (error, status) in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), status, "{error:?}");
            assert!(
                response.extensions().get::<FinalPage>().is_some(),
                "{error:?}"
            );
            assert_eq!(response.headers().get("x-frame-options").unwrap(), "DENY");
        }
        assert_eq!(
            ConsoleError::SignIn
                .error_response()
                .headers()
                .get("location")
                .unwrap(),
            "/console/sign-in"
        );
    }

    #[test]
    fn app_errors_become_console_refusals_without_their_causes() {
        assert!(matches!(
            ConsoleError::from(AppError::NotFound),
            ConsoleError::NotFound
        ));
        assert!(matches!(
            ConsoleError::from(AppError::Corrupt("database detail".into())),
            ConsoleError::Internal
        ));
        let page = render(
            "error.html",
            &json!({"title": "Sorry, there is a problem with the service", "detail": "Try again later."}),
        )
        .unwrap();
        assert!(page.contains(
            "<title>Sorry, there is a problem with the service – pathway – GOV.UK</title>"
        ));
        assert!(!page.contains("database detail"));
    }

    #[test]
    fn text_is_escaped_but_addresses_stay_readable() {
        let page = render(
            "error.html",
            &json!({"title": "<script>alert(1)</script>", "detail": "a/b \"c\" & 'd'"}),
        )
        .unwrap();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("a/b &quot;c&quot; &amp; &#x27;d&#x27;"));
        assert!(!page.contains("<script>"));
    }
}
