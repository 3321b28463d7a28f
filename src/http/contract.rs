//! The document's per-action operations, generated from the pathway table: one
//! `POST /v1/cases/{id}/actions/<action>` per action, each with its own request schema.
//! The route itself stays one (`/v1/cases/{id}/actions/{action}`); only the document
//! spells the actions out, so that a client can be generated with a typed method each.

use std::collections::BTreeSet;

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ContentBuilder, HttpMethod, OpenApi, Ref, RefOr, Required, ResponseBuilder};

use crate::domain::Role;
use crate::domain::actions::reason_codes;
use crate::domain::pathway::{Action, PATHWAY, Payload};
use crate::http::problem::PROBLEM_JSON;

/// The generic operation the per-action ones are made from; it leaves the document.
const GENERIC_PATH: &str = "/v1/cases/{id}/actions/{action}";

/// What `If-Match` accepts: the case's ETag, quoted or bare (see `cases::if_match`).
pub const IF_MATCH_PATTERN: &str = r#"^("[0-9]{1,18}"|[0-9]{1,18})$"#;

/// The document's path of `action`.
pub fn action_path(action: Action) -> String {
    format!("/v1/cases/{{id}}/actions/{}", action.as_str())
}

/// The component name of `action`'s request body: `refer_to_channel` →
/// `ReferToChannelRequest`.
pub fn request_schema_name(action: Action) -> String {
    let mut name: String = action
        .as_str()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Request");
    name
}

/// Where `GET /v1/cases/{id}/actions` points an action's `schema`.
pub fn request_schema_ref(action: Action) -> String {
    format!(
        "/openapi.json#/components/schemas/{}",
        request_schema_name(action)
    )
}

/// The actions of the pathway, each once, in the table's order.
pub fn actions() -> Vec<Action> {
    let mut seen = BTreeSet::new();
    PATHWAY
        .iter()
        .map(|t| t.action)
        .filter(|a| seen.insert(*a))
        .collect()
}

/// What `action`'s body carries (the same in every row of the action).
pub fn payload_of(action: Action) -> Payload {
    PATHWAY
        .iter()
        .find(|t| t.action == action)
        .map_or(Payload::Nothing, |t| t.payload)
}

/// The roles that may take `action` from some state.
pub fn roles_of(action: Action) -> Vec<Role> {
    let roles: BTreeSet<Role> = PATHWAY
        .iter()
        .filter(|t| t.action == action)
        .flat_map(|t| t.roles.iter().copied())
        .collect();
    roles.into_iter().collect()
}

type Schemas = Vec<(String, RefOr<Schema>)>;

/// The body schema a payload derives (utoipa's derive on the body type), and the
/// schemas it refers to.
pub fn payload_schema(payload: Payload) -> (RefOr<Schema>, Schemas) {
    crate::domain::payload::schema_of(payload)
}

/// `action`'s request schema: its payload's, with what differs per action patched in
/// (the reason codes, and the example's reason code).
pub fn request_schema(action: Action) -> (RefOr<Schema>, Schemas) {
    let (mut schema, dependencies) = payload_schema(payload_of(action));
    let codes = reason_codes(action);
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.title = Some(request_schema_name(action));
        if !codes.is_empty() {
            if let Some(RefOr::T(Schema::Object(reason))) = object.properties.get_mut("reason_code")
            {
                reason.enum_values = Some(codes.iter().map(|c| (*c).into()).collect());
                reason.description = Some(format!("Why, coded: one of `{}`.", codes.join("`, `")));
            }
            if let Some(example) = object.example.as_mut().and_then(|e| e.as_object_mut())
                && example.contains_key("reason_code")
            {
                example.insert("reason_code".into(), codes[0].into());
            }
        }
    }
    (schema, dependencies)
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| format!("`{}`", r.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn problem(description: String) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// The operation of `action`, made from the generic one.
fn operation(action: Action, template: &Operation) -> Operation {
    let mut op = template.clone();
    let roles = roles_of(action);
    let from: Vec<&str> = PATHWAY
        .iter()
        .filter(|t| t.action == action)
        .map(|t| t.from.as_str())
        .collect();
    let to: BTreeSet<&str> = PATHWAY
        .iter()
        .filter(|t| t.action == action)
        .flat_map(|t| t.to.iter().map(|s| s.as_str()))
        .collect();
    op.operation_id = Some(action.as_str().to_owned());
    op.summary = Some(format!("Take `{}`", action.as_str()));
    op.description = Some(format!(
        "Who: {}. From: `{}`. Leads to: `{}`. Send `If-Match` with the case's version.",
        names(&roles),
        from.join("`, `"),
        to.into_iter().collect::<Vec<_>>().join("`, `"),
    ));
    if let Some(parameters) = op.parameters.as_mut() {
        parameters.retain(|p| !(p.name == "action" && p.parameter_in == ParameterIn::Path));
        for p in parameters.iter_mut().filter(|p| p.name == "If-Match") {
            if let Some(RefOr::T(Schema::Object(header))) = p.schema.as_mut() {
                header.pattern = Some(IF_MATCH_PATTERN.to_owned());
            }
        }
    }
    op.request_body = Some(
        RequestBodyBuilder::new()
            .description(Some(format!("The body of `{}`", action.as_str())))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(request_schema_name(action))))
                    .build(),
            )
            .required(Some(Required::True))
            .build(),
    );
    op.responses.responses.insert(
        "403".into(),
        problem(format!(
            "`role_not_allowed`: only {} may take `{}`",
            names(&roles),
            action.as_str()
        )),
    );
    op
}

/// Replaces the generic action operation with one per action, and adds each action's
/// request schema to the components.
pub struct ActionOperations;

impl utoipa::Modify for ActionOperations {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(template) = openapi
            .paths
            .paths
            .remove(GENERIC_PATH)
            .and_then(|item| item.post)
        else {
            return;
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        for action in actions() {
            let (schema, dependencies) = request_schema(action);
            components
                .schemas
                .insert(request_schema_name(action), schema);
            components.schemas.extend(dependencies);
            openapi.paths.add_path_operation(
                action_path(action),
                vec![HttpMethod::Post],
                operation(action, &template),
            );
        }
    }
}

/// Cross-field rules JSON Schema can state, added where the derive cannot say them: a
/// referral's subject needs a date of birth or an approximate age (the same rule is
/// declared with `validator` on `SubjectRequest`).
pub struct CrossFieldRules;

impl utoipa::Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
        let Some(schemas) = openapi.components.as_mut().map(|c| &mut c.schemas) else {
            return;
        };
        let Some(subject) = schemas.remove("SubjectRequest") else {
            return;
        };
        // Given and not null: a null date of birth is as good as none.
        let needs = |field: &str, kind: Type| {
            ObjectBuilder::new()
                .property(field, ObjectBuilder::new().schema_type(kind))
                .required(field)
                .build()
        };
        let either = AnyOfBuilder::new()
            .item(needs("date_of_birth", Type::String))
            .item(needs("approximate_age", Type::Integer))
            .build();
        let rule = AllOfBuilder::new()
            .item(subject)
            .item(Schema::AnyOf(either))
            .build();
        schemas.insert("SubjectRequest".to_owned(), RefOr::T(Schema::AllOf(rule)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiDoc;
    use serde_json::Value;
    use utoipa::OpenApi as _;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn every_action_of_the_pathway_has_one_operation_and_one_schema() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(
            paths.get(GENERIC_PATH).is_none(),
            "the generic operation is gone"
        );
        let action_paths: Vec<&String> = paths
            .keys()
            .filter(|p| p.starts_with("/v1/cases/{id}/actions/"))
            .collect();
        assert_eq!(action_paths.len(), actions().len());
        for action in Action::ALL {
            let in_table = PATHWAY.iter().any(|t| t.action == action);
            let op = &doc["paths"][action_path(action)]["post"];
            assert_eq!(op.is_object(), in_table, "{action}");
            if !in_table {
                continue;
            }
            let name = request_schema_name(action);
            assert_eq!(op["operationId"], action.as_str());
            assert_eq!(
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/{name}")
            );
            let schema = &doc["components"]["schemas"][&name];
            assert_eq!(schema["type"], "object", "{name}");
            assert_eq!(schema["additionalProperties"], false, "{name}");
            assert!(schema["example"].is_object(), "{name} has an example");
            for status in [
                "200", "400", "401", "403", "404", "409", "412", "413", "415", "422", "428",
            ] {
                assert!(op["responses"][status].is_object(), "{action} {status}");
            }
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(params, ["id", "If-Match"], "{action}");
        }
    }

    #[test]
    fn reason_code_enums_are_the_actions_reason_codes() {
        let doc = document();
        for action in actions() {
            let schema = &doc["components"]["schemas"][request_schema_name(action)];
            let codes = reason_codes(action);
            let listed = &schema["properties"]["reason_code"]["enum"];
            if codes.is_empty() {
                assert!(listed.is_null(), "{action} has no reason codes");
            } else {
                let listed: Vec<&str> = listed
                    .as_array()
                    .unwrap_or_else(|| panic!("{action}: reason_code enum"))
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect();
                assert_eq!(listed, codes, "{action}");
                assert_eq!(schema["example"]["reason_code"], codes[0], "{action}");
            }
        }
    }

    /// `GET …/actions` summarises each body as a list of fields: it must name exactly the
    /// schema's properties, required where the schema requires them, with the schema's
    /// enum values.
    #[test]
    fn the_fields_listed_for_each_action_are_its_schemas() {
        let doc = document();
        for action in actions() {
            let schema = &doc["components"]["schemas"][request_schema_name(action)];
            let properties = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let listed = crate::domain::payload::fields_of(action, payload_of(action));
            let mut names: Vec<&str> = listed.iter().map(|f| f.name).collect();
            names.sort_unstable();
            let mut declared: Vec<&str> = properties.keys().map(String::as_str).collect();
            declared.sort_unstable();
            assert_eq!(names, declared, "{action}: fields");
            for field in &listed {
                assert_eq!(
                    field.required,
                    required.contains(&field.name),
                    "{action}.{}: required",
                    field.name
                );
                let property = &properties[field.name];
                // An enum is inline, or a reference to an enum schema.
                let target = property["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .map_or(property, |name| &doc["components"]["schemas"][name]);
                if let Some(values) = target["enum"].as_array() {
                    let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    assert_eq!(field.values, values, "{action}.{}: values", field.name);
                }
            }
        }
    }

    #[test]
    fn request_schema_names_are_pascal_case() {
        assert_eq!(
            request_schema_name(Action::ReferToChannel),
            "ReferToChannelRequest"
        );
        assert_eq!(
            request_schema_ref(Action::BeginScreening),
            "/openapi.json#/components/schemas/BeginScreeningRequest"
        );
    }
}
