//! Query and path extractors whose every failure names the parameter: `errors[]` entries
//! with `in: query` or `in: path`, and a message drawn from the parameter's schema in the
//! OpenAPI document, so that what a client is told agrees with what it was promised.

use std::future::{Ready, ready};
use std::sync::LazyLock;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::http::json::describe;
use crate::http::problem::{ApiError, FieldError};

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
    Err(ApiError::BadParameters {
        code: "invalid_query",
        detail: format!(
            "{} query parameter(s) are not valid; see `errors`.",
            errors.len()
        ),
        errors,
    })
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
