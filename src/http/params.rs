//! Query and path extractors whose every failure names the parameter: `errors[]` entries
//! with `in: query` or `in: path`, and a message drawn from the parameter's schema in the
//! OpenAPI document, so that what a client is told agrees with what it was promised.

use std::future::{Ready, ready};
use std::sync::LazyLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, ResponseError as _};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::http::json::describe;
use crate::http::problem::{ApiError, FieldError};
pub use crate::http::text_parameters::TEXT_PATTERN;

/// A query string deserialised into `T`. Every parameter is checked against its schema in
/// the document (type, format, enum); an unknown parameter (almost always a typo, such as
/// `stat=` for `state=`) is refused rather than silently ignored. Failures are 400
/// `invalid_query` naming every bad parameter at once.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + IntoParams + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Query<T>, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(Query))
    }
}

/// The schemas of the document's components, to resolve a parameter's `$ref`.
static COMPONENTS: LazyLock<Value> = LazyLock::new(|| {
    use utoipa::OpenApi as _;
    serde_json::to_value(crate::http::ApiDoc::openapi().components).unwrap_or_default()
});

/// The schema of each parameter of `T`, as the document shows it.
fn schemas_of<T: IntoParams>() -> Vec<(String, Value)> {
    T::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| {
            let mut schema = serde_json::to_value(&p.schema).unwrap_or_default();
            if let Some(name) = schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
            {
                schema = COMPONENTS["schemas"][name].clone();
            }
            (p.name, schema)
        })
        .collect()
}

/// Parses a query string into `T`, naming every bad parameter.
pub fn parse_query<T: DeserializeOwned + IntoParams>(query: &str) -> Result<T, ApiError> {
    let schemas = schemas_of::<T>();
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let mut errors = Vec::new();
    // A documented enum is checked here, so the document and the answer always agree.
    pairs.retain(|(name, value)| {
        let accepted = schemas
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s["enum"].as_array());
        match accepted {
            Some(list) if !list.iter().any(|v| v.as_str() == Some(value)) => {
                errors.push(FieldError::query(
                    name.as_str(),
                    "invalid_value",
                    format!("{name} must be one of: {}", listed(list)),
                ));
                false
            }
            _ => true,
        }
    });
    // serde stops at the first bad parameter: drop it and read again, so that one answer
    // names them all.
    loop {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        let e = match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => break,
            Err(e) => e,
        };
        let described = describe(&e.inner().to_string());
        let name = if described.named.is_empty() {
            e.path().to_string()
        } else {
            described.named.clone()
        };
        errors.push(query_error(&schemas, &name, described.code));
        let before = pairs.len();
        pairs.retain(|(n, _)| *n != name);
        if pairs.len() == before {
            break;
        }
    }
    Err(invalid_query(errors))
}

/// The refusal of a query string naming each bad parameter.
fn invalid_query(errors: Vec<FieldError>) -> ApiError {
    ApiError::BadParameters {
        code: "invalid_query",
        detail: format!(
            "{} query parameter(s) are not valid; see `errors`.",
            errors.len()
        ),
        errors,
    }
}

fn listed(values: &[Value]) -> String {
    values
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error for query parameter `name`, in the words of its schema.
fn query_error(schemas: &[(String, Value)], name: &str, code: &str) -> FieldError {
    let Some((_, schema)) = schemas.iter().find(|(n, _)| n == name) else {
        let accepted: Vec<&str> = schemas.iter().map(|(n, _)| n.as_str()).collect();
        return FieldError::query(
            name,
            "unknown_parameter",
            format!(
                "unknown parameter {name}; accepted: {}",
                if accepted.is_empty() {
                    "none".to_owned()
                } else {
                    accepted.join(", ")
                }
            ),
        );
    };
    match code {
        "duplicate_field" => {
            return FieldError::query(
                name,
                "duplicate_parameter",
                format!("{name} may be given only once"),
            );
        }
        "missing_field" => {
            return FieldError::query(name, "missing_parameter", format!("{name} is required"));
        }
        _ => {}
    }
    let (code, what) = expected_by(schema);
    FieldError::query(name, code, format!("{name} must be {what}"))
}

/// A parameter's schema as a code and the phrase "must be ...".
fn expected_by(schema: &Value) -> (&'static str, String) {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let bounds = match (schema["minimum"].as_i64(), schema["maximum"].as_i64()) {
        (Some(min), Some(max)) => format!(" from {min} to {max}"),
        _ => String::new(),
    };
    if let Some(list) = schema["enum"].as_array() {
        return ("invalid_value", format!("one of: {}", listed(list)));
    }
    match (types.first().copied(), schema["format"].as_str()) {
        (Some("integer"), _) => ("invalid_type", format!("a whole number{bounds}")),
        (Some("number"), _) => ("invalid_type", format!("a number{bounds}")),
        (Some("boolean"), _) => ("invalid_type", "true or false".to_owned()),
        (_, Some("date")) => ("invalid_date", "a date, YYYY-MM-DD".to_owned()),
        (_, Some("date-time")) => (
            "invalid_date_time",
            "a date and time, RFC 3339 (2026-11-01T09:30:00Z)".to_owned(),
        ),
        (_, Some("uuid")) => ("invalid_uuid", "a UUID".to_owned()),
        _ => ("invalid_value", "a single text value".to_owned()),
    }
}

/// For each operation of the document: its method, its path's segments, and whether it
/// takes query parameters.
static OPERATIONS: LazyLock<Vec<(String, Vec<String>, bool)>> = LazyLock::new(|| {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(crate::http::ApiDoc::openapi()).unwrap_or_default();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let takes_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let segments = path.split('/').map(str::to_owned).collect();
            out.push((method.to_ascii_uppercase(), segments, takes_query));
        }
    }
    out
});

/// The refusal of a query string sent to an operation the document gives no query
/// parameters; `None` when there is nothing to refuse (operations with parameters are
/// checked by [`Query`], and paths outside the document are not this rule's concern).
fn undocumented_parameters(method: &str, path: &str, query: &str) -> Option<ApiError> {
    if query.is_empty() {
        return None;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |template: &[String]| {
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')))
    };
    let mut matched = OPERATIONS
        .iter()
        .filter(|(m, t, _)| m == method && matches(t))
        .peekable();
    matched.peek()?;
    if matched.any(|(_, _, takes_query)| *takes_query) {
        return None;
    }
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !errors.iter().any(|e| e.field == name) {
            errors.push(query_error(&[], &name, "unknown_field"));
        }
    }
    (!errors.is_empty()).then(|| invalid_query(errors))
}

/// Middleware: an operation that takes no query parameters refuses any it is sent, as
/// [`Query`] refuses unknown ones, so a typo is never silently ignored anywhere.
pub async fn refuse_undocumented_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(refusal) =
        undocumented_parameters(req.method().as_str(), req.path(), req.query_string())
    {
        return Ok(req.into_response(refusal.error_response()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The refusal of a query string in which a parameter's name or value holds a control
/// character (U+0000 to U+001F, U+007F to U+009F, percent-encoded or not); `None` when
/// none does. No parameter needs one, and PostgreSQL cannot hold a NUL in text, so a
/// `?reference=PRV%00` that reached the database would fail there as a 500.
fn control_characters(query: &str) -> Option<ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if !name.chars().chain(value.chars()).any(char::is_control) {
            continue;
        }
        // The name is echoed in the answer: its control characters are shown as U+FFFD.
        let shown: String = name
            .chars()
            .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
            .collect();
        if !errors.iter().any(|e| e.field == shown) {
            let message = format!("{shown} must hold no control characters");
            errors.push(FieldError::query(shown, "control_characters", message));
        }
    }
    (!errors.is_empty()).then(|| invalid_query(errors))
}

/// Middleware: every request, to any route (the API, the console, the documents), whose
/// query holds a control character is refused 400 before any handler reads it (see
/// [`control_characters`]); one rule, so no route can forget it. The API answers
/// `invalid_query` naming each parameter; the console, a page, as its other refusals.
pub async fn refuse_control_characters(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(refusal) = control_characters(req.query_string()) {
        let response = if req.path().starts_with("/console/") {
            crate::console::ConsoleError::BadRequest(
                "The web address holds a character that cannot be used. Go back and try again."
                    .into(),
            )
            .error_response()
        } else {
            refusal.error_response()
        };
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Path segments deserialised into `T` (a value, or a tuple in the route's order). A
/// segment that does not parse (a malformed id) names itself with `in: path`, and is
/// answered 404: the route exists, but nothing is found at that address.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T> Path<T> {
    /// The segments.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Path<T> {
    type Error = ApiError;
    type Future = Ready<Result<Path<T>, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = actix_router::PathDeserializer::new(req.match_info());
        ready(
            serde_path_to_error::deserialize::<_, T>(de)
                .map(Path)
                .map_err(|e| {
                    // A tuple's error is at its index; a single value is the only segment.
                    let index = e
                        .path()
                        .to_string()
                        .trim_matches(['[', ']', '.'])
                        .parse::<usize>()
                        .unwrap_or(0);
                    let segment = req
                        .match_info()
                        .iter()
                        .nth(index)
                        .map_or("", |(name, _)| name);
                    let described = describe(&e.inner().to_string());
                    ApiError::NotFoundAt(segment_error(segment, &described.message))
                }),
        )
    }
}

/// The error for a path segment that does not parse.
pub fn segment_error(segment: &str, message: &str) -> FieldError {
    let (code, what) = if message.contains("UUID") || segment == "id" || segment.ends_with("_id") {
        ("invalid_uuid", "a UUID".to_owned())
    } else {
        (
            "invalid_value",
            message.trim_start_matches("expected ").to_owned(),
        )
    };
    FieldError::path(segment, code, format!("{segment} must be {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, IntoParams)]
    #[serde(deny_unknown_fields)]
    #[into_params(parameter_in = Query)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    struct Sample {
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        at: Option<chrono::DateTime<chrono::Utc>>,
        case_id: Option<uuid::Uuid>,
        #[param(minimum = 1, maximum = 500)]
        limit: Option<i64>,
        overdue: Option<bool>,
        cursor: Option<String>,
    }

    fn errors(query: &str) -> Vec<(String, String, String)> {
        match parse_query::<Sample>(query) {
            Err(ApiError::BadParameters { code, errors, .. }) => {
                assert_eq!(code, "invalid_query");
                errors
                    .into_iter()
                    .inspect(|e| assert_eq!(e.location, crate::domain::FieldLocation::Query))
                    .map(|e| (e.field, e.code, e.message))
                    .collect()
            }
            other => panic!("{query}: {other:?}"),
        }
    }

    fn e(field: &str, code: &str, message: &str) -> (String, String, String) {
        (field.into(), code.into(), message.into())
    }

    #[test]
    fn every_bad_parameter_is_named_at_once() {
        assert_eq!(
            errors("from=&to="),
            vec![
                e("from", "invalid_date", "from must be a date, YYYY-MM-DD"),
                e("to", "invalid_date", "to must be a date, YYYY-MM-DD"),
            ]
        );
        assert_eq!(
            errors("from=2026-13-01"),
            vec![e("from", "invalid_date", "from must be a date, YYYY-MM-DD")]
        );
        assert_eq!(
            errors("limit=abc&overdue=maybe&case_id=42&at=yesterday"),
            vec![
                e(
                    "limit",
                    "invalid_type",
                    "limit must be a whole number from 1 to 500"
                ),
                e("overdue", "invalid_type", "overdue must be true or false"),
                e("case_id", "invalid_uuid", "case_id must be a UUID"),
                e(
                    "at",
                    "invalid_date_time",
                    "at must be a date and time, RFC 3339 (2026-11-01T09:30:00Z)"
                ),
            ]
        );
        assert_eq!(
            errors("stat=x&cursor=a&cursor=b"),
            vec![
                e(
                    "stat",
                    "unknown_parameter",
                    "unknown parameter stat; accepted: from, to, at, case_id, limit, overdue, cursor"
                ),
                e(
                    "cursor",
                    "duplicate_parameter",
                    "cursor may be given only once"
                ),
            ]
        );
    }

    #[test]
    fn an_operation_without_parameters_refuses_any() {
        let refused = |method: &str, path: &str, query: &str| match undocumented_parameters(
            method, path, query,
        ) {
            Some(ApiError::BadParameters { errors, .. }) => {
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
            _ => vec![],
        };
        let id = "0195b7a4-7c1e-7000-8000-000000000001";
        assert_eq!(
            refused("GET", &format!("/v1/cases/{id}"), "verbose=1&x=&x="),
            vec![
                ("verbose".to_owned(), "unknown_parameter".to_owned()),
                ("x".to_owned(), "unknown_parameter".to_owned())
            ]
        );
        assert_eq!(refused("GET", "/v1/me", "a=1").len(), 1);
        // Left to the extractor, which knows the parameters; or outside the document.
        for (method, path) in [("GET", "/v1/cases"), ("GET", "/docs/"), ("POST", "/v1/me")] {
            assert!(refused(method, path, "a=1").is_empty(), "{method} {path}");
        }
        assert!(refused("GET", "/v1/me", "").is_empty());
    }

    #[test]
    fn control_characters_in_any_parameter_are_refused() {
        let refused = |query: &str| match control_characters(query) {
            Some(ApiError::BadParameters { code, errors, .. }) => {
                assert_eq!(code, "invalid_query");
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
            _ => vec![],
        };
        let one = |field: &str| vec![(field.to_owned(), "control_characters".to_owned())];
        assert_eq!(refused("reference=PRV%00"), one("reference"));
        assert_eq!(refused("actor=x%00y&action=read"), one("actor"));
        for c in ["%01", "%09", "%0A", "%0D", "%1F", "%7F", "%C2%80", "%C2%9F"] {
            assert_eq!(refused(&format!("cursor=a{c}b")), one("cursor"), "{c}");
        }
        assert_eq!(refused("a%00b=1"), one("a\u{FFFD}b"), "in a name");
        assert_eq!(
            refused("from=%00&to=%00&from=%00").len(),
            2,
            "each parameter once"
        );
        for fine in [
            "",
            "reference=PRV-2026-000001",
            "actor=J%C3%B6rg+M",
            "a=%20",
        ] {
            assert!(refused(fine).is_empty(), "{fine}");
        }
    }

    #[test]
    fn every_free_text_query_parameter_is_documented_without_control_characters() {
        use utoipa::OpenApi as _;
        let doc = serde_json::to_value(crate::http::ApiDoc::openapi()).unwrap();
        let mut free_text = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let schema = &p["schema"];
                    if p["in"] == "query" && schema["type"] == "string" {
                        let what = format!("{path}?{}", p["name"]);
                        assert!(
                            schema["format"].is_string()
                                || schema["enum"].is_array()
                                || schema["pattern"].is_string(),
                            "{what}: {schema}"
                        );
                        if schema["pattern"] == TEXT_PATTERN {
                            free_text.push(what);
                        }
                    }
                }
            }
        }
        for what in ["/v1/cases?\"reference\"", "/v1/audit?\"actor\""] {
            assert!(free_text.iter().any(|w| w == what), "{what}: {free_text:?}");
        }
    }

    #[test]
    fn good_queries_parse() {
        assert!(parse_query::<Sample>("").is_ok());
        assert!(
            parse_query::<Sample>(
                "from=2026-04-01&to=2026-05-01&limit=5&overdue=true&cursor=&at=2026-01-01T00:00:00Z"
            )
            .is_ok()
        );
    }
}
