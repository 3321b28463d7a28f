//! GOV.UK Frontend's stylesheet, fonts and images, embedded at build time and served
//! under `/console/assets/` with a year's cache (the font and image names carry a
//! version; the stylesheet changes only with the binary).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::ConsoleError;

macro_rules! vendored {
    ($path:literal) => {
        include_bytes!(concat!("../../console/vendor/govuk-frontend/", $path))
    };
}

/// Every served asset: its path under `/console/assets/`, its content type, its bytes.
pub const ASSETS: [(&str, &str, &[u8]); 10] = [
    (
        "govuk-frontend.min.css",
        "text/css; charset=utf-8",
        vendored!("govuk-frontend.min.css"),
    ),
    (
        "fonts/bold-affa96571d-v2.woff",
        "font/woff",
        vendored!("assets/fonts/bold-affa96571d-v2.woff"),
    ),
    (
        "fonts/bold-b542beb274-v2.woff2",
        "font/woff2",
        vendored!("assets/fonts/bold-b542beb274-v2.woff2"),
    ),
    (
        "fonts/light-94a07e06a1-v2.woff2",
        "font/woff2",
        vendored!("assets/fonts/light-94a07e06a1-v2.woff2"),
    ),
    (
        "fonts/light-f591b13f7d-v2.woff",
        "font/woff",
        vendored!("assets/fonts/light-f591b13f7d-v2.woff"),
    ),
    (
        "images/favicon.ico",
        "image/x-icon",
        vendored!("assets/images/favicon.ico"),
    ),
    (
        "images/favicon.svg",
        "image/svg+xml",
        vendored!("assets/images/favicon.svg"),
    ),
    (
        "images/govuk-crest.svg",
        "image/svg+xml",
        vendored!("assets/images/govuk-crest.svg"),
    ),
    (
        "images/govuk-icon-180.png",
        "image/png",
        vendored!("assets/images/govuk-icon-180.png"),
    ),
    (
        "images/govuk-icon-mask.svg",
        "image/svg+xml",
        vendored!("assets/images/govuk-icon-mask.svg"),
    ),
];

/// `GET /console/assets/{path}`.
pub async fn serve(req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let path = req.match_info().get("path").unwrap_or_default();
    let (_, content_type, bytes) = ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .ok_or(ConsoleError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, *content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(*bytes))
}
