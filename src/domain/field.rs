//! A field-level validation failure, reported as one entry of a problem's `errors[]`.

use serde::Serialize;

/// Where the invalid value was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldLocation {
    /// The JSON body.
    Body,
    /// A query parameter.
    Query,
    /// A request header.
    Header,
    /// A path segment.
    Path,
}

/// One invalid field of a request body, query, header or path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `subject.date_of_birth` or `guardians[0].name`; for a
    /// query parameter or header, its name.
    pub field: String,
    /// The same place as a JSON pointer (RFC 6901) into the body, e.g.
    /// `/guardians/0/name`; empty for the whole body and for queries and headers.
    pub pointer: String,
    /// Where the value was sent.
    #[serde(rename = "in")]
    pub location: FieldLocation,
    /// Stable snake_case code, e.g. `unknown_field`, `missing_field`, `invalid_value`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    /// An error in the JSON body, at the dotted path `field`.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        let field = field.into();
        FieldError {
            pointer: pointer_of(&field),
            field,
            location: FieldLocation::Body,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// An error in the query parameter `name`.
    pub fn query(name: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        Self::outside_body(FieldLocation::Query, name.into(), code, message.into())
    }

    /// An error in the request header `name`.
    pub fn header(name: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        Self::outside_body(FieldLocation::Header, name.into(), code, message.into())
    }

    /// An error in the path segment `name`.
    pub fn path(name: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        Self::outside_body(FieldLocation::Path, name.into(), code, message.into())
    }

    fn outside_body(location: FieldLocation, field: String, code: &str, message: String) -> Self {
        FieldError {
            field,
            pointer: String::new(),
            location,
            code: code.to_owned(),
            message,
        }
    }
}

/// `guardians[0].name` → `/guardians/0/name` (RFC 6901, with `~` and `/` escaped).
fn pointer_of(dotted: &str) -> String {
    let mut pointer = String::new();
    for part in dotted.split('.').filter(|p| !p.is_empty()) {
        let mut segments = part.split('[');
        if let Some(name) = segments.next().filter(|n| !n.is_empty()) {
            pointer.push('/');
            pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        for index in segments {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_become_json_pointers() {
        for (dotted, pointer) in [
            ("", ""),
            ("rationale", "/rationale"),
            ("subject.date_of_birth", "/subject/date_of_birth"),
            ("guardians[0].name", "/guardians/0/name"),
            ("plan.interventions[2].kind", "/plan/interventions/2/kind"),
            ("[1]", "/1"),
            ("a/b~c", "/a~1b~0c"),
        ] {
            assert_eq!(
                FieldError::new(dotted, "x", "y").pointer,
                pointer,
                "{dotted}"
            );
        }
    }

    #[test]
    fn query_and_header_errors_say_where_they_were_sent() {
        let q = FieldError::query("from", "invalid_date", "from must be a date");
        assert_eq!((q.location, q.pointer.as_str()), (FieldLocation::Query, ""));
        let h = FieldError::header("If-Match", "invalid_if_match", "…");
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!(json["in"], "header");
        assert_eq!(json["field"], "If-Match");
    }
}
