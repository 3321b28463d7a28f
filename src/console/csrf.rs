//! Cross-site request forgery protection for console forms: a synchronizer token bound
//! to the session, sent in a hidden field and compared in constant time, and an Origin
//! (or Referer) check when the browser sends one. The cookie's `SameSite=Strict` is a
//! third line.

use actix_web::HttpRequest;
use actix_web::http::header;

use super::session::Session;
use super::{ConsoleError, ConsoleState};

/// The hidden field that carries the token.
pub const FIELD: &str = "csrf_token";

/// A form body: its name/value pairs in order.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// True when `a` and `b` are equal, in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The request's origin as the browser states it (Origin, else Referer), if it does.
fn stated_origin(req: &HttpRequest) -> Option<String> {
    let header_text = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(origin) = header_text(header::ORIGIN) {
        return Some(origin);
    }
    let referer = header_text(header::REFERER)?;
    Some(
        url::Url::parse(&referer)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or(referer),
    )
}

/// True when the request comes from this service's own pages, as far as the browser
/// says: its Origin (or Referer), when sent, is the public URL's or the one the request
/// was addressed to.
pub fn same_origin(req: &HttpRequest, state: &ConsoleState) -> bool {
    let Some(origin) = stated_origin(req) else {
        return true;
    };
    if !state.public_origin.is_empty() && origin == state.public_origin {
        return true;
    }
    let info = req.connection_info();
    origin == format!("{}://{}", info.scheme(), info.host())
}

/// Checks a posted form of `session`: the origin, then the token.
pub fn check(req: &HttpRequest, session: &Session, form: &Form) -> Result<(), ConsoleError> {
    let state = req
        .app_data::<actix_web::web::Data<ConsoleState>>()
        .ok_or(ConsoleError::Internal)?;
    if !same_origin(req, state) {
        tracing::warn!("console form refused: cross-origin");
        return Err(ConsoleError::Csrf);
    }
    let sent = form.get(FIELD).unwrap_or_default();
    if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
        tracing::warn!("console form refused: CSRF token missing or wrong");
        return Err(ConsoleError::Csrf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn forms_keep_every_value_in_order() {
        let form = Form::parse(b"a=1&b=x+y&a=2&c=%26");
        assert_eq!(form.get("a"), Some("1"));
        assert_eq!(form.all("a"), vec!["1", "2"]);
        assert_eq!(form.get("b"), Some("x y"));
        assert_eq!(form.get("c"), Some("&"));
        assert_eq!(form.get("d"), None);
    }
}
