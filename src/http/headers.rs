//! The security headers of every answer: what may be stored, how the browser must reach
//! the service, and what the documentation page may load and who may frame it.
//!
//! - `/v1/...` and the console's pages: `Cache-Control: no-store`. Almost every answer
//!   carries personal data or says something about a case, errors included, so no browser
//!   or proxy keeps any of them (the console's pages already set it themselves).
//! - `Strict-Transport-Security` on every answer when `server.public_url` is https: a
//!   browser that has reached the service once never tries it over plain HTTP again.
//! - `/docs/` (the vendored Swagger UI): a Content-Security-Policy that allows only its own
//!   scripts, styles and images, and no framing (`frame-ancestors 'none'`, and
//!   `X-Frame-Options: DENY` for browsers that do not read CSP).
//! - `X-Content-Type-Options: nosniff` on every answer.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// The Content-Security-Policy of `/docs/`. The page is Swagger UI's own files: scripts and
/// styles from this origin, its icons as `data:` images, the document and "Try it out"
/// requests to this origin, nothing from elsewhere. The one inline piece is the `<style>`
/// of the logo in Swagger UI's top bar
/// (`.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}`), allowed by
/// its hash alone; no inline script runs.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How long a browser keeps to https once told to: a year, the usual value, and the
/// least that HSTS preload lists accept. `includeSubDomains` is left out: other services
/// may share the parent domain, and that is not this service's to decide.
pub const HSTS: &str = "max-age=31536000";

/// What the headers depend on in the settings.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    /// The service is reached over https: send `Strict-Transport-Security`.
    pub hsts: bool,
}

impl HeaderPolicy {
    /// The policy for `settings`: HSTS when the public URL is https.
    pub fn from_settings(settings: &crate::config::ServerSettings) -> HeaderPolicy {
        HeaderPolicy {
            hsts: settings.public_url().trim().starts_with("https://"),
        }
    }
}

/// True for a path whose answers may carry personal data: the API, and the console's
/// pages (not its stylesheet, fonts and images).
fn personal(path: &str) -> bool {
    path.starts_with("/v1/")
        || path == "/v1"
        || (path.starts_with("/console") && !path.starts_with("/console/assets/"))
}

/// True for the documentation page and its files.
fn docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// Middleware: adds the headers above to every answer, problems and refusals included.
pub async fn secure(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let hsts = req
        .app_data::<web::Data<HeaderPolicy>>()
        .is_some_and(|p| p.hsts);
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if personal(&path) {
        set(header::CACHE_CONTROL, "no-store");
    }
    if docs(&path) {
        set(header::CONTENT_SECURITY_POLICY, DOCS_CSP);
        set(header::X_FRAME_OPTIONS, "DENY");
    }
    if hsts {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_and_console_pages_are_personal_and_assets_and_documents_are_not() {
        for path in [
            "/v1/cases",
            "/v1/me",
            "/v1",
            "/console/",
            "/console/cases/x",
        ] {
            assert!(personal(path), "{path}");
        }
        for path in [
            "/healthz",
            "/openapi.json",
            "/docs/",
            "/metrics",
            "/console/assets/govuk.css",
            "/v10/x",
        ] {
            assert!(!personal(path), "{path}");
        }
        assert!(docs("/docs/") && docs("/docs/swagger-ui.css") && docs("/docs"));
        assert!(!docs("/docsx") && !docs("/openapi.json"));
    }

    #[test]
    fn hsts_follows_the_public_url() {
        let mut s = crate::config::Settings::load_from(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            crate::config::Environment::Local,
        )
        .expect("local settings");
        assert!(!HeaderPolicy::from_settings(&s.server).hsts, "local http");
        s.server.public_url = Some("https://pathway.example".into());
        assert!(HeaderPolicy::from_settings(&s.server).hsts);
    }
}
