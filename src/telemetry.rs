//! Logging: readable lines locally, JSON in production, a request id on every line
//! written while serving a request, and never any personal data.
//!
//! What may be logged: ids (case, request, entry), states, action and error codes,
//! counts and timings. What may not: names, dates of birth, addresses, narratives,
//! contact details, tokens, request or response bodies, query strings.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing::subscriber::set_global_default;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Builds the subscriber. `RUST_LOG` overrides `filter`; `ansi` colours pretty lines.
pub fn get_subscriber<Sink>(
    filter: &str,
    format: LogFormat,
    ansi: bool,
    sink: Sink,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    Sink: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_target(true)
        .with_ansi(ansi);
    match format {
        LogFormat::Pretty => Box::new(builder.compact().finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .flatten_event(true)
                .finish(),
        ),
    }
}

/// Installs the subscriber for the whole process (once).
pub fn init_subscriber(subscriber: Box<dyn tracing::Subscriber + Send + Sync>) {
    // A second call (several test servers in one process) keeps the first subscriber.
    let _ = set_global_default(subscriber);
}

/// The root span of each request: method, route template and request id only. The
/// default builder also records the full target (with its query string), the user agent
/// and the client address, which this service does not log.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            http.method = %request.method(),
            request_id = %request_id,
            http.route = tracing::field::Empty,
            http.status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let route = response
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into());
                span.record("http.route", route.as_str());
                span.record("http.status", status);
                if status >= 500 {
                    tracing::error!("request failed");
                } else {
                    tracing::info!("request finished");
                }
            }
            Err(error) => {
                span.record(
                    "http.status",
                    error.as_response_error().status_code().as_u16(),
                );
                tracing::error!("request failed before a response");
            }
        }
    }
}
