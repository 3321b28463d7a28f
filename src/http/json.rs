//! `JsonBody<T>`: a JSON request body, size-limited, with each deserialisation failure
//! reported against the dotted path of its field.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::http::problem::{ApiError, FieldError};

/// The largest body accepted, from `server.body_limit_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body deserialised into `T`; unknown fields are refused where `T` says so.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<JsonBody<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map_or(256 * 1024, |l| l.0);
        let json = is_json(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::BadRequest {
                    code: "malformed_body",
                    detail: e.to_string(),
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(JsonBody)
        })
    }
}

/// Deserialises `bytes`, naming the failing field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        serde_error(e.inner(), Some(path))
    })?;
    de.end().map_err(|e| serde_error(&e, None))?;
    Ok(value)
}

/// Deserialises an already-parsed body, naming the failing field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        serde_error(e.inner(), Some(path))
    })
}

/// The first back-quoted name in a serde message (`unknown field `x``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Turns a serde_json error into a problem: syntax errors are 400, data errors 422.
pub fn serde_error(e: &serde_json::Error, path: Option<String>) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io | Category::Syntax | Category::Eof => ApiError::BadRequest {
            code: "malformed_json",
            detail: format!(
                "The body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ),
        },
        Category::Data => {
            let message = e.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_owned();
            let path = path.filter(|p| p != ".").unwrap_or_default();
            let join = |name: &str| {
                if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            };
            let (field, code) = if message.starts_with("missing field") {
                (join(quoted(&message).unwrap_or_default()), "missing_field")
            } else if message.starts_with("unknown field") {
                let name = quoted(&message).unwrap_or_default();
                let field = if path.ends_with(name) {
                    path.clone()
                } else {
                    join(name)
                };
                (field, "unknown_field")
            } else if message.starts_with("invalid type") {
                (path.clone(), "invalid_type")
            } else {
                (path.clone(), "invalid_value")
            };
            ApiError::Validation(vec![FieldError::new(field, code, message)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    struct Inner {
        count: u32,
        kind: Kind,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        A,
    }

    fn field_error(body: &str) -> (String, String) {
        match parse::<Outer>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => (errors[0].field.clone(), errors[0].code.clone()),
            other => panic!("expected a validation error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn each_kind_of_bad_field_is_named_by_its_path() {
        let cases = [
            (
                r#"{"name":"x","inner":{"count":1,"kind":"a","extra":1}}"#,
                "inner.extra",
                "unknown_field",
            ),
            (
                r#"{"name":"x","inner":{"kind":"a"}}"#,
                "inner.count",
                "missing_field",
            ),
            (
                r#"{"inner":{"count":1,"kind":"a"}}"#,
                "name",
                "missing_field",
            ),
            (
                r#"{"name":"x","inner":{"count":"1","kind":"a"}}"#,
                "inner.count",
                "invalid_type",
            ),
            (
                r#"{"name":"x","inner":{"count":1,"kind":"b"}}"#,
                "inner.kind",
                "invalid_value",
            ),
            (
                r#"{"name":"x","surprise":true,"inner":{"count":1,"kind":"a"}}"#,
                "surprise",
                "unknown_field",
            ),
        ];
        for (body, field, code) in cases {
            assert_eq!(
                field_error(body),
                (field.to_owned(), code.to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        let trailing = r#"{"name":"x","inner":{"count":1,"kind":"a"}} trailing"#;
        for body in ["{", "{\"name\":", "not json", trailing] {
            match parse::<Outer>(body.as_bytes()) {
                Err(ApiError::BadRequest { code, .. }) => {
                    assert_eq!(code, "malformed_json", "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
