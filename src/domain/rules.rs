//! The field rules the request bodies declare with `validator` (lengths, counts,
//! nested bodies, cross-field rules), and the one place their failures become
//! [`FieldError`]s with the stable codes clients rely on.

use std::borrow::Cow;

use validator::{Validate, ValidateEmail, ValidationError, ValidationErrors, ValidationErrorsKind};

use super::FieldError;

/// A cross-field rule's failure: `code` at `field` (a dotted path relative to the body
/// the rule is declared on).
pub fn failure(field: &'static str, code: &'static str, message: &'static str) -> ValidationError {
    let mut error = ValidationError::new(code).with_message(Cow::Borrowed(message));
    error.add_param(Cow::Borrowed("field"), &field);
    error
}

/// An email address as the server reads it: trimmed, and never blank
/// (`#[validate(custom(function = "email"))]`, the document's `format: email`).
pub fn email(raw: &str) -> Result<(), ValidationError> {
    // Blank is refused, not read as "not given": the document says `format: email`, and a
    // client that has no address leaves the field out or sends null.
    if raw.trim().validate_email() {
        Ok(())
    } else {
        Err(ValidationError::new("email"))
    }
}

/// The declared rules `body` breaks, as field errors sorted by path.
pub fn declared<T: Validate>(body: &T) -> Vec<FieldError> {
    declared_at("", body)
}

/// The declared rules `body`, found at `prefix` in the request, breaks.
pub fn declared_at<T: Validate>(prefix: &str, body: &T) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Err(errors) = body.validate() {
        flatten(prefix, &errors, &mut out);
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

/// The errors found while parsing into domain types, then the declared rules' errors for
/// fields the parse did not already refuse (one error per field is enough to fix it).
pub fn merged(parsed: Vec<FieldError>, declared: Vec<FieldError>) -> Vec<FieldError> {
    let mut all = parsed;
    for d in declared {
        if !all.iter().any(|p| p.field == d.field) {
            all.push(d);
        }
    }
    all
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{name}"),
    }
}

fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (name, kind) in errors.errors() {
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let field = if name == "__all__" {
                        let at = e.params.get("field").and_then(|v| v.as_str());
                        join(prefix, at.unwrap_or_default())
                    } else {
                        join(prefix, name)
                    };
                    out.push(field_error(field, e));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&join(prefix, name), inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    flatten(&format!("{}[{i}]", join(prefix, name)), inner, out);
                }
            }
        }
    }
}

/// Maps one failure onto the codes the API has always used: a length rule on a string
/// is `required` (empty), `too_short` or `too_long`; on a list, `required` (empty, when
/// at least one is needed) or `too_many`.
fn field_error(field: String, e: &ValidationError) -> FieldError {
    let number = |name: &str| e.params.get(name).and_then(serde_json::Value::as_u64);
    if e.code == "length" {
        let (min, max) = (number("min"), number("max"));
        let (len, list) = match e.params.get("value") {
            Some(serde_json::Value::String(s)) => (s.chars().count() as u64, false),
            Some(serde_json::Value::Array(a)) => (a.len() as u64, true),
            _ => (0, false),
        };
        let (code, message) = match (len, min, max, list) {
            (0, Some(_), _, _) => ("required", format!("{field} is required")),
            (n, Some(m), _, false) if n < m => (
                "too_short",
                format!("{field} needs at least {m} characters"),
            ),
            (n, Some(m), _, true) if n < m => ("too_few", format!("{field} needs at least {m}")),
            (_, _, Some(m), false) => {
                ("too_long", format!("{field} is longer than {m} characters"))
            }
            (_, _, Some(m), true) => ("too_many", format!("{field} has more than {m}")),
            _ => ("invalid_value", format!("{field} is not valid")),
        };
        return FieldError::new(field, code, message);
    }
    let message = e
        .message
        .as_deref()
        .map_or_else(|| format!("{field} is not valid"), str::to_owned);
    let code = match e.code.as_ref() {
        "email" => "invalid_email",
        "url" => "invalid_url",
        "range" => "out_of_range",
        other => other,
    };
    FieldError::new(field, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, Validate)]
    struct Item {
        #[validate(length(min = 1, max = 5))]
        name: String,
    }

    #[derive(Validate)]
    #[validate(schema(function = "named_when_listed", skip_on_field_errors = false))]
    struct Body {
        #[validate(length(min = 3, max = 8))]
        text: String,
        #[validate(length(min = 1, max = 2), nested)]
        items: Vec<Item>,
        label: Option<String>,
    }

    fn named_when_listed(b: &Body) -> Result<(), ValidationError> {
        if b.label.is_none() && b.items.len() > 1 {
            return Err(failure("label", "required", "label a list of two"));
        }
        Ok(())
    }

    fn codes(body: &Body) -> Vec<(String, String, String)> {
        declared(body)
            .into_iter()
            .map(|e| (e.field, e.pointer, e.code))
            .collect()
    }

    fn item(name: &str) -> Item {
        Item { name: name.into() }
    }

    #[test]
    fn failures_keep_the_api_codes_and_name_the_full_path() {
        let ok = Body {
            text: "abc".into(),
            items: vec![item("a")],
            label: None,
        };
        assert!(codes(&ok).is_empty());
        let body = Body {
            text: "ab".into(),
            items: vec![item(""), item("toolong")],
            label: None,
        };
        let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(
            codes(&body),
            vec![
                s("items[0].name", "/items/0/name", "required"),
                s("items[1].name", "/items/1/name", "too_long"),
                s("label", "/label", "required"),
                s("text", "/text", "too_short"),
            ]
        );
        let lists = Body {
            text: "x".repeat(9),
            items: vec![],
            label: None,
        };
        assert_eq!(
            codes(&lists),
            vec![
                s("items", "/items", "required"),
                s("text", "/text", "too_long")
            ]
        );
        let many = Body {
            text: "abc".into(),
            items: vec![item("a"), item("b"), item("c")],
            label: Some("x".into()),
        };
        assert_eq!(codes(&many), vec![s("items", "/items", "too_many")]);
    }

    #[test]
    fn a_field_the_parse_refused_is_reported_once() {
        let parsed = vec![FieldError::new("text", "control_characters", "x")];
        let declared = vec![
            FieldError::new("text", "too_short", "x"),
            FieldError::new("items", "required", "x"),
        ];
        let all: Vec<(String, String)> = merged(parsed, declared)
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        assert_eq!(
            all,
            vec![
                ("text".into(), "control_characters".into()),
                ("items".into(), "required".into())
            ]
        );
    }
}
