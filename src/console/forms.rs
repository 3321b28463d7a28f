//! Forms generated from the OpenAPI document's request schemas: a pathway action's
//! `{Action}Request` schema becomes GOV.UK form fields, a posted form becomes the JSON
//! body the API takes, and the API's `errors[]` (by JSON pointer) are put back beside
//! the fields. A new action gets its form without console code.

use serde::Serialize;
use serde_json::{Map, Value};

use super::csrf::Form;
use super::render::humanise;
use crate::app::AppError;
use crate::domain::FieldError;
use crate::domain::actions::Command;
use crate::domain::pathway::Action;

/// What the console reads of the JSON API's contract, handed over by start-up (as
/// `web::Data`, built once): the OpenAPI document, whose request schemas become the
/// forms, each action's request schema, and how the API reads an action's or a note's
/// body, so that a form is refused exactly as the same JSON would be.
pub struct Contract {
    document: Value,
    action_schemas: Vec<(Action, String)>,
    command_of: fn(Action, Value) -> Result<Command, AppError>,
    note_of: fn(Value) -> Result<String, AppError>,
}

/// Rows offered for an array of objects.
const ROWS: usize = 3;
/// Up to this many options are radios; more are a select.
const MOST_RADIOS: usize = 8;
/// A string this long or longer (or with no limit) is a textarea.
const TEXTAREA_FROM: u64 = 500;

/// What kind of control a field is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// One line of text; `numeric` for numbers.
    Text {
        /// A number is expected.
        numeric: bool,
        /// An integer is expected.
        integer: bool,
    },
    /// Several lines of text.
    Textarea,
    /// One of a few values.
    Radios(Vec<String>),
    /// One of many values.
    Select(Vec<String>),
    /// Any of a few values (an array of an enum).
    Checkboxes(Vec<String>),
    /// Several short texts, one a line (an array of strings).
    Lines,
    /// A date: day, month and year.
    Date,
    /// An optional yes (a nullable boolean).
    Checkbox,
    /// Yes or no (a required boolean).
    YesNo,
    /// A nested object.
    Fieldset(Vec<Field>),
    /// An array of objects: a fixed number of rows.
    Rows(Vec<Field>),
}

/// One field of a generated form.
#[derive(Debug, Clone)]
pub struct Field {
    /// The property names from the body's root (array rows add their index later).
    pub path: Vec<String>,
    /// The schema's description, shown as a hint.
    pub hint: Option<String>,
    /// Required by its object.
    pub required: bool,
    /// The control.
    pub kind: Kind,
}

impl Contract {
    /// The contract of `document` (the OpenAPI document as JSON), whose request schema for
    /// each action is named in `action_schemas`; `command_of` and `note_of` read a body as
    /// the API does.
    pub fn new(
        document: Value,
        action_schemas: Vec<(Action, String)>,
        command_of: fn(Action, Value) -> Result<Command, AppError>,
        note_of: fn(Value) -> Result<String, AppError>,
    ) -> Contract {
        Contract {
            document,
            action_schemas,
            command_of,
            note_of,
        }
    }

    /// Each action whose request schema is named, with the name.
    pub fn action_schemas(&self) -> &[(Action, String)] {
        &self.action_schemas
    }

    /// `body` read as `action`'s command, as the API reads it.
    pub fn command_of(&self, action: Action, body: Value) -> Result<Command, AppError> {
        (self.command_of)(action, body)
    }

    /// `body` read as a note's text, as the API reads it.
    pub fn note_of(&self, body: Value) -> Result<String, AppError> {
        (self.note_of)(body)
    }

    /// The fields of a note's form.
    pub fn note_fields(&self) -> Vec<Field> {
        self.component("NoteBody")
            .map_or_else(Vec::new, |s| self.fields_of(s, &[]))
    }

    /// The component schema `name`, if the document has it.
    pub fn component(&self, name: &str) -> Option<&Value> {
        self.document["components"]["schemas"].get(name)
    }

    /// Follows `$ref`s and strips `null` alternatives: the schema itself, whether `null`
    /// is allowed, and the description of the outermost node that has one.
    fn resolve(&self, schema: &Value) -> (Value, bool, Option<String>) {
        let description = schema["description"].as_str().map(str::to_owned);
        if let Some(target) = schema["$ref"].as_str() {
            let name = target.rsplit('/').next().unwrap_or_default();
            let (inner, nullable, inner_description) = self
                .component(name)
                .map_or((Value::Null, false, None), |s| self.resolve(s));
            return (inner, nullable, description.or(inner_description));
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema[key].as_array() {
                let others: Vec<&Value> = options.iter().filter(|o| o["type"] != "null").collect();
                if others.len() == 1 {
                    let (inner, _, inner_description) = self.resolve(others[0]);
                    return (inner, true, description.or(inner_description));
                }
            }
        }
        if let Some(all) = schema["allOf"].as_array().filter(|a| a.len() == 1) {
            let (inner, nullable, inner_description) = self.resolve(&all[0]);
            return (inner, nullable, description.or(inner_description));
        }
        let mut schema = schema.clone();
        let mut nullable = false;
        if let Some(types) = schema["type"].as_array().cloned() {
            nullable = types.iter().any(|t| t == "null");
            if let Some(t) = types.into_iter().find(|t| t != "null") {
                schema["type"] = t;
            }
        }
        if let Some(values) = schema["enum"].as_array().cloned() {
            let kept: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            schema["enum"] = Value::Array(kept);
        }
        (schema, nullable, description)
    }

    /// The fields of an object schema, required ones first.
    pub fn fields_of(&self, schema: &Value, path: &[String]) -> Vec<Field> {
        let (schema, _, _) = self.resolve(schema);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema["properties"].as_object() else {
            return Vec::new();
        };
        let mut fields: Vec<Field> = properties
            .iter()
            .map(|(name, property)| {
                let mut path = path.to_vec();
                path.push(name.clone());
                self.field_of(property, path, required.contains(&name.as_str()))
            })
            .collect();
        fields.sort_by_key(|f| !f.required);
        fields
    }

    fn field_of(&self, property: &Value, path: Vec<String>, required: bool) -> Field {
        let (schema, nullable, hint) = self.resolve(property);
        // Hints are the document's descriptions, without its code marks.
        let hint = hint.map(|h| h.replace('`', ""));
        let required = required && !nullable;
        let kind = match schema["type"].as_str().unwrap_or("string") {
            "object" => Kind::Fieldset(self.fields_of(&schema, &path)),
            "boolean" if required => Kind::YesNo,
            "boolean" => Kind::Checkbox,
            "integer" => Kind::Text {
                numeric: true,
                integer: true,
            },
            "number" => Kind::Text {
                numeric: true,
                integer: false,
            },
            "array" => {
                let (items, _, _) = self.resolve(&schema["items"]);
                match (items["type"].as_str(), enum_values(&items)) {
                    (_, Some(values)) => Kind::Checkboxes(values),
                    (Some("object"), _) => Kind::Rows(self.fields_of(&items, &[])),
                    _ => Kind::Lines,
                }
            }
            _ => match (enum_values(&schema), schema["format"].as_str()) {
                (Some(values), _) if values.len() <= MOST_RADIOS => Kind::Radios(values),
                (Some(values), _) => Kind::Select(values),
                (None, Some("date")) => Kind::Date,
                // An id, an address, a time: one line.
                (None, Some(_)) => Kind::Text {
                    numeric: false,
                    integer: false,
                },
                _ if schema["maxLength"]
                    .as_u64()
                    .is_none_or(|m| m >= TEXTAREA_FROM) =>
                {
                    Kind::Textarea
                }
                _ => Kind::Text {
                    numeric: false,
                    integer: false,
                },
            },
        };
        Field {
            path,
            hint,
            required,
            kind,
        }
    }

    /// The fields of `action`'s request schema.
    pub fn action_fields(&self, action: Action) -> Vec<Field> {
        self.action_schemas
            .iter()
            .find(|(a, _)| *a == action)
            .and_then(|(_, name)| self.component(name))
            .map_or_else(Vec::new, |s| self.fields_of(s, &[]))
    }
}

fn enum_values(schema: &Value) -> Option<Vec<String>> {
    let values: Vec<String> = schema["enum"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    (!values.is_empty()).then_some(values)
}

fn joined(path: &[String], separator: &str) -> String {
    path.join(separator)
}

/// One control (or fieldset boundary) as the template draws it.
#[derive(Debug, Default, Serialize)]
pub struct Item {
    /// `text`, `number`, `textarea`, `radios`, `select`, `checkboxes`, `lines`, `date`,
    /// `checkbox`, `yesno`, `fieldset_start` or `fieldset_end`.
    pub kind: &'static str,
    /// The form field's name.
    pub name: String,
    /// The HTML id (unique on the page).
    pub id: String,
    /// The label or legend.
    pub label: String,
    /// The hint.
    pub hint: Option<String>,
    /// Required.
    pub required: bool,
    /// The value sent (text, select, radios, lines).
    pub value: String,
    /// Date parts sent.
    pub day: String,
    /// Date parts sent.
    pub month: String,
    /// Date parts sent.
    pub year: String,
    /// Options, each with whether it is chosen.
    pub options: Vec<Choice>,
    /// Ticked (checkbox).
    pub checked: bool,
    /// The error message beside the field.
    pub error: Option<String>,
    /// Nesting depth of a fieldset.
    pub depth: usize,
}

/// An option of a radios, select or checkboxes field.
#[derive(Debug, Serialize)]
pub struct Choice {
    /// The value sent.
    pub value: String,
    /// What is shown.
    pub label: String,
    /// Chosen.
    pub selected: bool,
}

/// An entry of the error summary: the message and the id it links to.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryEntry {
    /// What is wrong.
    pub message: String,
    /// `#id` of the field.
    pub href: String,
}

/// A drawn form: its controls and its error summary.
#[derive(Debug, Default, Serialize)]
pub struct Drawn {
    /// The controls, in order.
    pub items: Vec<Item>,
    /// The error summary's entries.
    pub summary: Vec<SummaryEntry>,
}

/// Errors by dotted field name (`onward_referrals.0.service_type`), from their pointers.
fn errors_by_name(errors: &[FieldError]) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| {
            let name = e
                .pointer
                .trim_start_matches('/')
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect::<Vec<_>>()
                .join(".");
            (name, e.message.clone())
        })
        .collect()
}

/// Choices for text fields, by property name: (value, label) pairs.
pub type Known = std::collections::HashMap<String, Vec<(String, String)>>;

/// Property names of every field, nested ones included.
pub fn names(fields: &[Field]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        out.extend(f.path.last().cloned());
        if let Kind::Fieldset(children) | Kind::Rows(children) = &f.kind {
            out.extend(names(children));
        }
    }
    out
}

/// Draws `fields` with the values of `form` and the `errors` the API gave. `prefix`
/// keeps ids unique when several forms share a page. `known` offers choices for a text
/// field by its property name (the meetings a case may be listed for, as `meeting_id`):
/// the field becomes radios or a select of them.
pub fn draw(
    prefix: &str,
    fields: &[Field],
    form: &Form,
    errors: &[FieldError],
    known: &Known,
) -> Drawn {
    let mut walk = Walk {
        prefix,
        form,
        known,
        pending: errors_by_name(errors),
        drawn: Drawn::default(),
        first_id: None,
    };
    for field in fields {
        walk.field(field, &[], 0);
    }
    let Walk {
        mut drawn,
        pending,
        first_id,
        ..
    } = walk;
    // Errors that name no drawn field (the whole body, a rule between fields, a part
    // of a value deeper than the form goes) link to the nearest field, or the first.
    for (name, message) in pending {
        let href = drawn
            .items
            .iter()
            .filter(|i| !i.id.is_empty() && !i.kind.starts_with("fieldset"))
            .filter(|i| {
                !name.is_empty() && (name.starts_with(&i.name) || i.name.starts_with(&name))
            })
            .map(|i| i.id.clone())
            .next()
            .or_else(|| first_id.clone())
            .unwrap_or_else(|| format!("{prefix}-submit"));
        drawn.summary.push(SummaryEntry {
            message,
            href: format!("#{href}"),
        });
    }
    drawn
}

/// One walk over a form's fields and what it gathers.
struct Walk<'w> {
    prefix: &'w str,
    form: &'w Form,
    known: &'w Known,
    pending: Vec<(String, String)>,
    drawn: Drawn,
    first_id: Option<String>,
}

impl Walk<'_> {
    /// Takes the error the API gave for the field `name`, if any, into the summary
    /// (linking to `target`) and answers its message.
    fn take_error(&mut self, name: &str, target: &str) -> Option<String> {
        let at = self.pending.iter().position(|(n, _)| n == name)?;
        let (_, message) = self.pending.remove(at);
        self.drawn.summary.push(SummaryEntry {
            message: message.clone(),
            href: format!("#{target}"),
        });
        Some(message)
    }

    fn fieldset_end(&mut self) {
        self.drawn.items.push(Item {
            kind: "fieldset_end",
            ..Item::default()
        });
    }

    /// Draws `field` (in the array row `row`, nested `depth` deep) and its children.
    fn field(&mut self, field: &Field, row: &[String], depth: usize) {
        let mut path = row.to_vec();
        path.extend(field.path.iter().cloned());
        let property = field.path.last().map_or("", String::as_str);
        let mut item = Item {
            name: joined(&path, "."),
            id: format!("{}-{}", self.prefix, joined(&path, "-")),
            label: humanise(property),
            hint: field.hint.clone(),
            required: field.required,
            depth,
            ..Item::default()
        };
        match &field.kind {
            Kind::Fieldset(children) => return self.fieldset(item, children, row, depth),
            Kind::Rows(children) => return self.rows(item, children, &path, property, depth),
            kind => self.input(&mut item, kind, property),
        }
        let first = first_input(item.kind, &item.id);
        item.error = self.take_error(&item.name, &first);
        self.first_id.get_or_insert(first);
        self.drawn.items.push(item);
    }

    /// A nested object: its fields inside a fieldset.
    fn fieldset(&mut self, mut item: Item, children: &[Field], row: &[String], depth: usize) {
        item.kind = "fieldset_start";
        item.error = self.take_error(&item.name, &item.id);
        self.drawn.items.push(item);
        for child in children {
            self.field(child, row, depth + 1);
        }
        self.fieldset_end();
    }

    /// An array of objects: [`ROWS`] numbered fieldsets of its fields.
    fn rows(
        &mut self,
        mut item: Item,
        children: &[Field],
        path: &[String],
        property: &str,
        depth: usize,
    ) {
        item.kind = "fieldset_start";
        item.error = self.take_error(&item.name, &item.id);
        self.drawn.items.push(item);
        for index in 0..ROWS {
            let mut row_path = path.to_vec();
            row_path.push(index.to_string());
            self.drawn.items.push(Item {
                kind: "fieldset_start",
                id: format!("{}-{}", self.prefix, joined(&row_path, "-")),
                name: joined(&row_path, "."),
                label: format!("{} {}", humanise(property), index + 1),
                depth: depth + 1,
                ..Item::default()
            });
            for child in children {
                self.field(child, &row_path, depth + 2);
            }
            self.fieldset_end();
        }
        self.fieldset_end();
    }

    /// The kind, value and options of a field that takes input, filled in from what
    /// was posted (or the choices the page knows for `property`).
    fn input(&self, item: &mut Item, kind: &Kind, property: &str) {
        let value = self.form.get(&item.name).unwrap_or_default().to_owned();
        let choices = |values: &[String], chosen: &dyn Fn(&str) -> bool| -> Vec<Choice> {
            values
                .iter()
                .map(|v| Choice {
                    value: v.clone(),
                    label: humanise(v),
                    selected: chosen(v),
                })
                .collect()
        };
        match kind {
            Kind::Text { numeric: false, .. }
                if self.known.get(property).is_some_and(|k| !k.is_empty()) =>
            {
                let offered = &self.known[property];
                item.kind = if offered.len() <= MOST_RADIOS {
                    "radios"
                } else {
                    "select"
                };
                item.options = offered
                    .iter()
                    .map(|(v, label)| Choice {
                        value: v.clone(),
                        label: label.clone(),
                        selected: *v == value,
                    })
                    .collect();
            }
            Kind::Text { numeric, .. } => {
                item.kind = if *numeric { "number" } else { "text" };
                item.value = value;
            }
            Kind::Textarea => {
                item.kind = "textarea";
                item.value = value;
            }
            Kind::Lines => {
                item.kind = "lines";
                item.value = value;
            }
            Kind::Radios(values) => {
                item.kind = "radios";
                item.options = choices(values, &|v| v == value);
            }
            Kind::Select(values) => {
                item.kind = "select";
                item.options = choices(values, &|v| v == value);
            }
            Kind::Checkboxes(values) => {
                item.kind = "checkboxes";
                let ticked = self.form.all(&item.name);
                item.options = choices(values, &|v| ticked.contains(&v));
            }
            Kind::Date => {
                item.kind = "date";
                let part = |p: &str| {
                    let name = format!("{}.{p}", item.name);
                    self.form.get(&name).unwrap_or_default().to_owned()
                };
                (item.day, item.month, item.year) = (part("day"), part("month"), part("year"));
            }
            Kind::Checkbox => {
                item.kind = "checkbox";
                item.checked = value == "true";
            }
            Kind::YesNo => {
                item.kind = "yesno";
                item.options = choices(&["true".to_owned(), "false".to_owned()], &|v| v == value);
                for option in &mut item.options {
                    option.label = if option.value == "true" { "Yes" } else { "No" }.to_owned();
                }
            }
            Kind::Fieldset(_) | Kind::Rows(_) => {}
        }
    }
}

/// Where a field of `kind` starts: the input that takes focus and that the error
/// summary links to.
fn first_input(kind: &str, id: &str) -> String {
    match kind {
        "radios" | "checkboxes" | "yesno" => format!("{id}-0"),
        "date" => format!("{id}-day"),
        _ => id.to_owned(),
    }
}

/// The JSON body a posted form stands for: empty fields are left out, so that the
/// API's own rules say what is missing.
pub fn body_of(fields: &[Field], form: &Form) -> Value {
    Value::Object(object_of(fields, &[], form))
}

fn object_of(fields: &[Field], row: &[String], form: &Form) -> Map<String, Value> {
    let mut object = Map::new();
    for field in fields {
        if let Some(value) = value_of(field, row, form) {
            let key = field.path.last().cloned().unwrap_or_default();
            object.insert(key, value);
        }
    }
    object
}

fn value_of(field: &Field, row: &[String], form: &Form) -> Option<Value> {
    let mut path = row.to_vec();
    path.extend(field.path.iter().cloned());
    let name = joined(&path, ".");
    let text = form.get(&name).unwrap_or_default();
    match &field.kind {
        Kind::Text {
            numeric: true,
            integer,
        } => {
            let t = text.trim();
            if t.is_empty() {
                return None;
            }
            let number = if *integer {
                t.parse::<i64>().ok().map(Value::from)
            } else {
                t.parse::<f64>().ok().map(Value::from)
            };
            Some(number.unwrap_or_else(|| Value::String(t.to_owned())))
        }
        Kind::Text { .. } | Kind::Textarea | Kind::Radios(_) | Kind::Select(_) => {
            (!text.is_empty()).then(|| Value::String(text.to_owned()))
        }
        Kind::Lines => {
            let lines: Vec<Value> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Value::String(l.to_owned()))
                .collect();
            (!lines.is_empty()).then_some(Value::Array(lines))
        }
        Kind::Checkboxes(_) => {
            let ticked: Vec<Value> = form
                .all(&name)
                .into_iter()
                .filter(|v| !v.is_empty())
                .map(|v| Value::String(v.to_owned()))
                .collect();
            (!ticked.is_empty()).then_some(Value::Array(ticked))
        }
        Kind::Date => {
            let part = |p: &str| {
                form.get(&format!("{name}.{p}"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            };
            let (day, month, year) = (part("day"), part("month"), part("year"));
            if day.is_empty() && month.is_empty() && year.is_empty() {
                return None;
            }
            Some(Value::String(format!("{year}-{month:0>2}-{day:0>2}")))
        }
        Kind::Checkbox => (text == "true").then_some(Value::Bool(true)),
        Kind::YesNo => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Kind::Fieldset(children) => {
            let object = object_of(children, row, form);
            (!object.is_empty()).then_some(Value::Object(object))
        }
        Kind::Rows(children) => {
            let rows: Vec<Value> = (0..ROWS)
                .filter_map(|index| {
                    let mut row = path.clone();
                    row.push(index.to_string());
                    let object = object_of(children, &row, form);
                    (!object.is_empty()).then_some(Value::Object(object))
                })
                .collect();
            (!rows.is_empty()).then_some(Value::Array(rows))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_form_from_its_schema() {
        let contract = crate::startup::console_contract();
        for (_, name) in contract.action_schemas() {
            assert!(contract.component(name).is_some(), "{name} in the document");
        }
        let fields = contract.action_fields(Action::RecordPanelDecision);
        let names: Vec<String> = fields.iter().map(|f| f.path.join(".")).collect();
        for expected in [
            "decision",
            "reason_code",
            "rationale",
            "how_reached",
            "onward_referrals",
        ] {
            assert!(
                names.contains(&expected.to_owned()),
                "{expected} in {names:?}"
            );
        }
        let decision = fields.iter().find(|f| f.path == ["decision"]).unwrap();
        assert!(matches!(decision.kind, Kind::Radios(_)), "{decision:?}");
        let rationale = fields.iter().find(|f| f.path == ["rationale"]).unwrap();
        assert!(matches!(rationale.kind, Kind::Textarea));
        let considered = fields
            .iter()
            .find(|f| f.path == ["health_or_social_care_considered"])
            .unwrap();
        assert!(matches!(considered.kind, Kind::Checkbox));
        let onward = fields
            .iter()
            .find(|f| f.path == ["onward_referrals"])
            .unwrap();
        assert!(matches!(onward.kind, Kind::Rows(_)));
        let consent = contract.action_fields(Action::RecordConsent);
        let decided = consent.iter().find(|f| f.path == ["decided_on"]).unwrap();
        assert!(matches!(decided.kind, Kind::Date));
    }

    #[test]
    fn a_posted_form_becomes_the_body_and_empty_fields_are_left_out() {
        let fields = crate::startup::console_contract().action_fields(Action::RecordConsent);
        let form = Form::parse(
            b"decision=given&given_by=subject&decided_on.day=2&decided_on.month=11&decided_on.year=2026&how_sought=in_person&note=",
        );
        let body = body_of(&fields, &form);
        assert_eq!(
            body,
            serde_json::json!({"decision": "given", "given_by": "subject", "decided_on": "2026-11-02", "how_sought": "in_person"})
        );
    }

    #[test]
    fn errors_sit_beside_their_fields_and_in_the_summary() {
        let fields = crate::startup::console_contract().action_fields(Action::Exit);
        let errors = vec![
            FieldError::new(
                "rationale",
                "too_short",
                "Rationale must be at least 10 characters",
            ),
            FieldError::new("", "invalid", "Something about the whole form"),
        ];
        let drawn = draw("exit", &fields, &Form::default(), &errors, &Known::new());
        let rationale = drawn.items.iter().find(|i| i.name == "rationale").unwrap();
        assert_eq!(
            rationale.error.as_deref(),
            Some("Rationale must be at least 10 characters")
        );
        assert_eq!(drawn.summary.len(), 2);
        assert_eq!(drawn.summary[0].href, "#exit-rationale");
    }
}
