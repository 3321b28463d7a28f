//! A field-level validation failure, reported as one entry of a problem's `errors[]`.

use serde::Serialize;

/// One invalid field of a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `subject.date_of_birth` or `guardians[0].name`.
    pub field: String,
    /// Stable snake_case code, e.g. `unknown_field`, `missing_field`, `invalid_value`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}
