//! The document's free-text query parameters: each is given [`TEXT_PATTERN`], the rule
//! `params::refuse_control_characters` enforces on every request.

/// The pattern the document gives every free-text query parameter (a string with no
/// format, enum or pattern of its own): no control character, as
/// `params::refuse_control_characters` enforces.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// The operations of a path of the document (it routes no HEAD, OPTIONS or TRACE).
pub fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Documents `params::refuse_control_characters`: [`TEXT_PATTERN`] on every free-text query
/// parameter, so that a client generated from the document never sends what is refused.
pub struct TextParameters;

impl utoipa::Modify for TextParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        use utoipa::openapi::{RefOr, path::ParameterIn};
        for item in openapi.paths.paths.values_mut() {
            let parameters = operations(item)
                .filter_map(|op| op.parameters.as_mut())
                .flatten()
                .filter(|p| p.parameter_in == ParameterIn::Query);
            for parameter in parameters {
                if let Some(RefOr::T(Schema::Object(text))) = parameter.schema.as_mut()
                    && text.schema_type == SchemaType::Type(Type::String)
                    && text.format.is_none()
                    && text.enum_values.is_none()
                    && text.pattern.is_none()
                {
                    text.pattern = Some(TEXT_PATTERN.to_owned());
                }
            }
        }
    }
}
