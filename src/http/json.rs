//! `JsonBody<T>`: a JSON request body, size-limited, with each deserialisation failure
//! reported against the dotted path of its field.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt as _;
use futures_util::future::LocalBoxFuture;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

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
                let chunk = chunk.map_err(crate::http::problem::payload_error)?;
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
    let value = serde_path_to_error::deserialize(ObjectsOnly(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        serde_error(e.inner(), Some(path))
    })?;
    de.end().map_err(|e| serde_error(&e, None))?;
    Ok(value)
}

/// The body parsed and checked by `check`, its refusal kept for the use case to answer
/// after its role check: a role that may not call an operation learns nothing from
/// validation. Only a body that is not JSON at all is answered at once.
pub fn checked_later<B: DeserializeOwned, T>(
    value: serde_json::Value,
    check: impl FnOnce(B) -> Result<T, Vec<FieldError>>,
) -> Result<Result<T, crate::app::AppError>, ApiError> {
    use crate::app::AppError;
    match from_value::<B>(value) {
        Ok(body) => Ok(check(body).map_err(AppError::Validation)),
        Err(ApiError::Validation(errors)) => Ok(Err(AppError::Validation(errors))),
        Err(other) => Err(other),
    }
}

/// Deserialises an already-parsed body, naming the failing field.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(ObjectsOnly(value)).map_err(|e| {
        let path = e.path().to_string();
        serde_error(e.inner(), Some(path))
    })
}

/// Maps actix's JSON extractor errors to problems.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge { limit },
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) => serde_error(&e, None),
        E::Payload(e) => crate::http::problem::payload_error(e),
        other => ApiError::BadRequest {
            code: "malformed_body",
            detail: other.to_string(),
        },
    }
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
            let raw = e.to_string();
            let path = path.filter(|p| p != ".").unwrap_or_default();
            let join = |name: &str| {
                if path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            };
            let problem = describe(&raw);
            let field = match problem.code {
                "missing_field" | "duplicate_field" => join(&problem.named),
                // serde_path_to_error already names an unknown field in some positions.
                "unknown_field" if !path.ends_with(&problem.named) => join(&problem.named),
                _ => path.clone(),
            };
            ApiError::Validation(vec![FieldError::new(field, problem.code, problem.message)])
        }
    }
}

/// A serde error in words a client understands.
#[derive(Debug, PartialEq, Eq)]
pub struct Described {
    /// Stable code: `missing_field`, `unknown_field`, `duplicate_field`, `invalid_type` or
    /// `invalid_value`.
    pub code: &'static str,
    /// For a person; never a Rust type name.
    pub message: String,
    /// The field named by the message (missing, unknown or duplicate fields), else empty.
    pub named: String,
}

/// Rewrites a serde message ("invalid type: sequence, expected struct X", "unknown variant
/// `x`, expected one of `a`, `b`", ...) in the words of the JSON a client sent, so that no
/// answer names a Rust type. The one place every body, query and path message passes.
pub fn describe(raw: &str) -> Described {
    let raw = raw.split(" at line ").next().unwrap_or_default();
    let named = quoted(raw).unwrap_or_default().to_owned();
    let after = |prefix: &str| raw.split_once(prefix).map(|(_, rest)| rest);
    let (code, message) = if raw.starts_with("missing field") {
        ("missing_field", "this field is required".to_owned())
    } else if raw.starts_with("unknown field") {
        let accepted = after(", expected ").map_or_else(
            || "this object takes no fields".to_owned(),
            |e| format!("expected one of: {}", names(e)),
        );
        ("unknown_field", format!("unknown field; {accepted}"))
    } else if raw.starts_with("duplicate field") {
        (
            "duplicate_field",
            "this field appears more than once".to_owned(),
        )
    } else if raw.starts_with("unknown variant") {
        let accepted = after(", expected ").map_or_else(|| "nothing".to_owned(), names);
        ("invalid_value", format!("expected one of: {accepted}"))
    } else if let Some(rest) = raw.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        (
            "invalid_type",
            format!(
                "expected {}, not {}",
                expectation(expected),
                unexpected(got)
            ),
        )
    } else if raw.starts_with("invalid value: ") || raw.starts_with("invalid length ") {
        let expected = after(", expected ").unwrap_or_default();
        (
            "invalid_value",
            format!("expected {}", expectation(expected)),
        )
    } else if let Some(expected) = raw.strip_prefix("invalid format: expected ") {
        (
            "invalid_value",
            format!("expected {}", expectation(expected)),
        )
    } else if rust_like(raw) {
        ("invalid_value", "not a valid value".to_owned())
    } else {
        ("invalid_value", raw.to_owned())
    };
    let named = match code {
        "missing_field" | "unknown_field" | "duplicate_field" => named,
        _ => String::new(),
    };
    Described {
        code,
        message,
        named,
    }
}

/// `` `a`, `b` `` (serde's list of accepted names) → `a, b`.
fn names(list: &str) -> String {
    let list = list.strip_prefix("one of ").unwrap_or(list);
    list.replace('`', "")
}

/// The kind of JSON value serde's `Unexpected` names.
fn unexpected(got: &str) -> &'static str {
    let kind = got.split([' ', '`', '"']).next().unwrap_or_default();
    match kind {
        "sequence" => "an array",
        "map" => "an object",
        "string" | "char" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "true or false",
        "null" | "unit" => "null",
        _ => "that value",
    }
}

/// What serde says was expected, in the words of JSON (never a Rust type name).
fn expectation(expected: &str) -> String {
    let e = expected.trim();
    let object = [
        "struct ",
        "internally tagged enum",
        "adjacently tagged enum",
        "a JSON object",
    ];
    if object.iter().any(|p| e.starts_with(p)) || matches!(e, "map" | "a map") {
        return "a JSON object".to_owned();
    }
    if let Some(list) = e.strip_prefix("one of ") {
        return format!("one of: {}", names(list));
    }
    if e.starts_with("enum ") || e == "string or map" {
        return "one of the documented values".to_owned();
    }
    let text = match e {
        "a sequence" => "a JSON array",
        "a string" | "a borrowed string" | "a character" => "a string",
        "a boolean" => "true or false",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "f32" | "f64" => "a number",
        "unit" => "null",
        "a formatted date string" => "a date, YYYY-MM-DD",
        "a formatted time string" => "a time, HH:MM:SS",
        _ if e.contains("date and time") => "a date and time, RFC 3339 (2026-11-01T09:30:00Z)",
        _ if e.contains("UUID") => "a UUID",
        _ if e.starts_with("tuple") || e.starts_with("a tuple") || e.contains("array") => {
            "a JSON array"
        }
        _ if rust_like(e) => "a value of the documented type",
        _ => return e.replace('`', ""),
    };
    text.to_owned()
}

/// A phrase that names a Rust item: a path, or a CamelCase word.
fn rust_like(text: &str) -> bool {
    text.contains("::")
        || text.split(|c: char| !c.is_alphanumeric()).any(|w| {
            let mut chars = w.chars();
            chars.next().is_some_and(char::is_uppercase)
                && chars.clone().any(char::is_lowercase)
                && chars.any(char::is_uppercase)
        })
}

/// The first back-quoted name in a serde message (`unknown field `x``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// A deserializer that accepts only a JSON object where a struct is expected, at any
/// depth. serde's derive also builds a struct from an array of its fields in order
/// (`["clear", "why"]`), which a client never means and the document never says; every
/// body passes through this wrapper, so no body type can forget to refuse it.
///
/// It wraps every nested deserializer (sequence elements, map values, `Some`, newtypes,
/// enum variants), so the rule holds at depth, and it sits inside serde_path_to_error,
/// so the refusal is reported at the field's path. Internally tagged enums read their
/// input through `deserialize_any`; the wrapper recognises them by what their visitor
/// expects and refuses an array there too. (Their variants' fields are then read from
/// serde's buffered copy, out of the wrapper's reach: such a variant must not nest a
/// struct, which a unit test of `RetentionBody` holds.)
struct ObjectsOnly<D>(D);

/// A visitor that refuses a sequence when `object_only`, and wraps what it visits.
struct Guard<V> {
    inner: V,
    object_only: bool,
}

struct GuardSeed<S>(S);
struct GuardSeq<A>(A);
struct GuardMap<A>(A);
struct GuardEnum<A>(A);
struct GuardVariant<A>(A);

/// What a visitor expects, as serde would say it.
struct Expecting<'a, V>(&'a V);

impl<'de, V: Visitor<'de>> std::fmt::Display for Expecting<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }
}

const A_JSON_OBJECT: &str = "a JSON object";

fn guard<V>(inner: V, object_only: bool) -> Guard<V> {
    Guard { inner, object_only }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* guard(visitor, false))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let tagged = Expecting(&visitor)
            .to_string()
            .starts_with("internally tagged enum");
        self.0.deserialize_any(guard(visitor, tagged))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, guard(visitor, true))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_enum(name, variants, guard(visitor, false))
            .map_err(|e| {
                // "expected enum Kind" names a Rust type; the variants are what a client needs.
                let message = e.to_string();
                let list: Vec<String> = variants.iter().map(|v| format!("`{v}`")).collect();
                let accepted = format!("expected one of {}", list.join(", "));
                let this = format!("expected enum {name}");
                match [this.as_str(), "expected string or map"]
                    .into_iter()
                    .find(|phrase| message.contains(phrase))
                {
                    Some(phrase) => de::Error::custom(message.replace(phrase, &accepted)),
                    None => e,
                }
            })
    }

    forward! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(),
        deserialize_i64(), deserialize_i128(), deserialize_u8(), deserialize_u16(),
        deserialize_u32(), deserialize_u64(), deserialize_u128(), deserialize_f32(),
        deserialize_f64(), deserialize_char(), deserialize_str(), deserialize_string(),
        deserialize_bytes(), deserialize_byte_buf(), deserialize_option(), deserialize_unit(),
        deserialize_seq(), deserialize_map(), deserialize_identifier(),
        deserialize_ignored_any(),
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! visit {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

/// A string a visitor refused with a message of its own (a date that does not parse, a
/// malformed UUID): reported by what the visitor expected, never by the parser's words.
macro_rules! visit_text {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            let expecting = Expecting(&self.inner).to_string();
            self.inner.$method(v).map_err(|e: E| {
                let message = e.to_string();
                let serde_own = ["invalid ", "unknown ", "missing ", "duplicate "];
                if serde_own.iter().any(|p| message.starts_with(p)) {
                    e
                } else {
                    E::custom(format!("invalid format: expected {expecting}"))
                }
            })
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Guard<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.expecting(f)
    }

    visit! {
        visit_bool(bool), visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64),
        visit_i128(i128), visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64),
        visit_u128(u128), visit_f32(f32), visit_f64(f64), visit_char(char),
        visit_bytes(&[u8]), visit_byte_buf(Vec<u8>),
    }

    visit_text! { visit_str(&str), visit_string(String) }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.visit_str(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        self.inner.visit_borrowed_bytes(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(ObjectsOnly(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(ObjectsOnly(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.object_only {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &A_JSON_OBJECT));
        }
        self.inner.visit_seq(GuardSeq(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(GuardMap(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(GuardEnum(data))
    }
}

impl<'de, S: de::DeserializeSeed<'de>> de::DeserializeSeed<'de> for GuardSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(ObjectsOnly(d))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for GuardSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(GuardSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for GuardMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(GuardSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for GuardEnum<A> {
    type Error = A::Error;
    type Variant = GuardVariant<A::Variant>;

    fn variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(seed)
            .map(|(value, variant)| (value, GuardVariant(variant)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for GuardVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(GuardSeed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, guard(visitor, false))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, guard(visitor, true))
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

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    struct Nested {
        #[serde(default)]
        items: Vec<Inner>,
        maybe: Option<Inner>,
        choice: Option<Choice>,
        tagged: Option<Tagged>,
        #[serde(default)]
        pair: Option<(u32, Inner)>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    enum Choice {
        Plain,
        Wrapped(Inner),
        Shaped { inner: Inner },
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read only by the deserialiser")]
    enum Tagged {
        Hold { reason: String },
    }

    fn error_of<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> FieldError {
        let by_parse = parse::<T>(body.as_bytes());
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let by_value = from_value::<T>(value);
        match (by_parse, by_value) {
            (Err(ApiError::Validation(a)), Err(ApiError::Validation(b))) => {
                assert_eq!(a, b, "parse and from_value agree on {body}");
                a[0].clone()
            }
            other => panic!("expected validation errors for {body}, got {other:?}"),
        }
    }

    #[test]
    fn an_array_is_never_a_struct_at_any_depth() {
        let inner = r#"{"count":1,"kind":"a"}"#;
        let cases = [
            (r#"["x", {"count":1,"kind":"a"}]"#.to_owned(), ""),
            ("[]".to_owned(), ""),
            (r#"{"name":"x","inner":[1,"a"]}"#.to_owned(), "inner"),
            (format!(r#"{{"items":[{inner},[1,"a"]]}}"#), "items[1]"),
            (r#"{"maybe":[1,"a"]}"#.to_owned(), "maybe"),
            (
                r#"{"choice":{"wrapped":[1,"a"]}}"#.to_owned(),
                "choice.wrapped",
            ),
            (
                r#"{"choice":{"shaped":[[1,"a"]]}}"#.to_owned(),
                "choice.shaped",
            ),
            (
                r#"{"choice":{"shaped":{"inner":[1,"a"]}}}"#.to_owned(),
                "choice.shaped.inner",
            ),
            (r#"{"tagged":["hold","why"]}"#.to_owned(), "tagged"),
            (r#"{"pair":[1,[1,"a"]]}"#.to_owned(), "pair[1]"),
        ];
        for (body, field) in cases {
            let e = if field.is_empty() || field == "inner" {
                error_of::<Outer>(&body)
            } else {
                error_of::<Nested>(&body)
            };
            assert_eq!(
                (e.field.as_str(), e.code.as_str()),
                (field, "invalid_type"),
                "{body}: {e:?}"
            );
            assert_eq!(e.message, "expected a JSON object, not an array", "{body}");
        }
        // The wrapper takes nothing away: objects, arrays of objects and variants still parse.
        let fine = format!(
            r#"{{"items":[{inner}],"maybe":{inner},"choice":{{"shaped":{{"inner":{inner}}}}},"tagged":{{"kind":"hold","reason":"r"}},"pair":[1,{inner}]}}"#
        );
        assert!(parse::<Nested>(fine.as_bytes()).is_ok(), "{fine}");
        assert!(parse::<Nested>(br#"{"choice":"plain"}"#).is_ok());
    }

    #[test]
    fn the_retention_body_refuses_an_array() {
        use crate::domain::retention::RetentionBody;
        for body in [r#"["hold","a reason"]"#, r#"["erase",[]]"#] {
            let e = error_of::<RetentionBody>(body);
            assert_eq!(
                (e.field.as_str(), e.code.as_str()),
                ("", "invalid_type"),
                "{body}"
            );
        }
        assert!(parse::<RetentionBody>(br#"{"decision":"hold","reason":"a reason"}"#).is_ok());
    }

    #[test]
    fn no_message_names_a_rust_type() {
        let cases = [
            (
                r#"{"name":"x","inner":{"count":1,"kind":1}}"#,
                "inner.kind",
                "invalid_type",
                "expected one of: a, not a number",
            ),
            (
                r#"{"name":"x","inner":{"count":1,"kind":"b"}}"#,
                "inner.kind",
                "invalid_value",
                "expected one of: a",
            ),
            (
                r#"{"name":"x","inner":{"count":-1,"kind":"a"}}"#,
                "inner.count",
                "invalid_value",
                "expected a whole number, 0 or more",
            ),
            (
                r#"{"name":"x","inner":"text"}"#,
                "inner",
                "invalid_type",
                "expected a JSON object, not a string",
            ),
            (
                r#"{"name":"x","inner":null}"#,
                "inner",
                "invalid_type",
                "expected a JSON object, not null",
            ),
            (
                r#"1"#,
                "",
                "invalid_type",
                "expected a JSON object, not a number",
            ),
            (
                r#"{"name":[],"inner":{"count":1,"kind":"a"}}"#,
                "name",
                "invalid_type",
                "expected a string, not an array",
            ),
        ];
        for (body, field, code, message) in cases {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            let e = match from_value::<Outer>(value) {
                Err(ApiError::Validation(errors)) => errors[0].clone(),
                other => panic!("{body}: {other:?}"),
            };
            assert_eq!(
                (e.field.as_str(), e.code.as_str(), e.message.as_str()),
                (field, code, message),
                "{body}"
            );
        }
        let twice = br#"{"name":"x","name":"y","inner":{"count":1,"kind":"a"}}"#;
        match parse::<Outer>(twice) {
            Err(ApiError::Validation(e)) => assert_eq!(
                (e[0].field.as_str(), e[0].code.as_str()),
                ("name", "duplicate_field")
            ),
            other => panic!("{other:?}"),
        }
        let e = error_of::<Nested>(r#"{"choice":{"shaped":{"inner":{"count":"x","kind":"a"}}}}"#);
        assert!(
            !rust_like(&e.message) && !e.message.contains("u32"),
            "{e:?}"
        );
    }

    #[test]
    fn dates_and_ids_that_do_not_parse_say_what_was_expected() {
        #[derive(Debug, Deserialize)]
        #[expect(dead_code, reason = "fields are read only by the deserialiser")]
        struct When {
            on: Option<chrono::NaiveDate>,
            at: Option<chrono::DateTime<chrono::Utc>>,
            id: Option<uuid::Uuid>,
        }
        for (body, field, message) in [
            (
                r#"{"on":"2026-13-01"}"#,
                "on",
                "expected a date, YYYY-MM-DD",
            ),
            (r#"{"on":""}"#, "on", "expected a date, YYYY-MM-DD"),
            (
                r#"{"at":"yesterday"}"#,
                "at",
                "expected a date and time, RFC 3339 (2026-11-01T09:30:00Z)",
            ),
            (r#"{"id":"42"}"#, "id", "expected a UUID"),
        ] {
            let e = error_of::<When>(body);
            assert_eq!(
                (e.field.as_str(), e.code.as_str(), e.message.as_str()),
                (field, "invalid_value", message),
                "{body}"
            );
        }
    }

    #[test]
    fn rust_names_are_recognised() {
        for text in [
            "struct DeconflictionBody",
            "pathway::Kind",
            "a RetentionBody",
        ] {
            assert!(rust_like(text), "{text}");
        }
        for text in [
            "a JSON object",
            "expected one of: a, b",
            "a date, YYYY-MM-DD",
            "an RFC 3339 time",
        ] {
            assert!(!rust_like(text), "{text}");
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
