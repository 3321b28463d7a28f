//! OpenAPI `links`: which values of an answer lead to which next operations, so that a
//! client (and a stateful fuzzer such as Schemathesis) can walk the pathway from the
//! document alone: file a referral, read the case, take its actions, run a panel.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

use crate::domain::pathway::{Action, PATHWAY, State};

/// The paths of the case actions: one generic operation, or one operation per action.
pub const CASE_ACTIONS: &str = "/v1/cases/{id}/actions/";

/// Adds the links; registered last among the document's modifiers, it sees every operation.
pub struct Links;

/// An operation the links can name: where each of its parameters goes.
struct Target {
    parameters: Vec<(ParameterIn, String)>,
}

impl Target {
    /// The link key of `name` (`path.id`, `header.If-Match`), if the operation takes it.
    fn key(&self, name: &str) -> Option<String> {
        self.parameters
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(location, n)| {
                let location = match location {
                    ParameterIn::Path => "path",
                    ParameterIn::Query => "query",
                    ParameterIn::Header => "header",
                    ParameterIn::Cookie => "cookie",
                };
                format!("{location}.{n}")
            })
    }
}

fn operations(item: &PathItem) -> [(&'static str, Option<&Operation>); 3] {
    [
        ("get", item.get.as_ref()),
        ("post", item.post.as_ref()),
        ("delete", item.delete.as_ref()),
    ]
}

/// The operations of the document by operationId, and the ids of the case actions.
fn targets(openapi: &OpenApi) -> (BTreeMap<String, Target>, Vec<String>) {
    let mut targets = BTreeMap::new();
    let mut actions = Vec::new();
    for (path, item) in &openapi.paths.paths {
        for (method, operation) in operations(item) {
            let Some(operation) = operation else { continue };
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            if method == "post" && path.starts_with(CASE_ACTIONS) {
                actions.push(id.clone());
            }
            let parameters = operation
                .parameters
                .iter()
                .flatten()
                .map(|p| (p.parameter_in.clone(), p.name.clone()))
                .collect();
            targets.insert(id, Target { parameters });
        }
    }
    (targets, actions)
}

/// One link to be added: its target operation, parameters by name, and body.
struct Follow {
    target: String,
    parameters: Vec<(&'static str, String)>,
    body: Option<Value>,
}

fn follow(target: &str, parameters: &[(&'static str, &str)]) -> Follow {
    Follow {
        target: target.to_owned(),
        parameters: parameters
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned()))
            .collect(),
        body: None,
    }
}

/// From an answer that names a case (`id`) and its version (`if_match`), to every
/// operation on that case.
fn case_links(actions: &[String], id: &str, if_match: &str) -> Vec<Follow> {
    let mut links: Vec<Follow> = ["read_case", "history", "available_actions", "add_note"]
        .iter()
        .map(|target| follow(target, &[("id", id)]))
        .collect();
    links.extend(action_links(actions, id, if_match));
    links
}

fn action_links(actions: &[String], id: &str, if_match: &str) -> Vec<Follow> {
    actions
        .iter()
        .map(|action| follow(action, &[("id", id), ("If-Match", if_match)]))
        .collect()
}

/// The case actions of `actions` (operation ids) that the pathway allows from one of
/// `states`: where a case known to be in those states can go next.
fn actions_from(actions: &[String], states: &[State]) -> Vec<String> {
    actions
        .iter()
        .filter(|id| {
            PATHWAY
                .iter()
                .any(|t| t.action.as_str() == id.as_str() && states.contains(&t.from))
        })
        .cloned()
        .collect()
}

/// The states a case may be in after `action` (an operation id) answered 200; `None` when
/// the pathway does not know the action.
fn states_after(action: &str) -> Option<Vec<State>> {
    let mut states: Vec<State> = PATHWAY
        .iter()
        .filter(|t| t.action.as_str() == action)
        .flat_map(|t| t.to.iter().copied())
        .collect();
    states.dedup();
    (!states.is_empty()).then_some(states)
}

/// The links of the document: (method, path, status) of the answer, and where it leads.
fn plan(
    targets: &BTreeMap<String, Target>,
    actions: &[String],
) -> Vec<(&'static str, String, &'static str, Vec<Follow>)> {
    let body_id = "$response.body#/id";
    let etag = "$response.header.ETag";
    // A case is filed at version 1 in the submitted state: its receipt carries no ETag (a
    // referrer is never shown a version), so the first action names it as a constant, and
    // leads only to the actions of a submitted case.
    let submitted = actions_from(actions, &[State::Submitted]);
    let plan = vec![
        (
            "post",
            "/v1/referrals".to_owned(),
            "201",
            case_links(&submitted, body_id, "\"1\""),
        ),
        (
            "get",
            "/v1/cases/{id}".to_owned(),
            "200",
            case_links(actions, body_id, etag),
        ),
        (
            "get",
            "/v1/cases".to_owned(),
            "200",
            vec![follow("read_case", &[("id", "$response.body#/items/0/id")])],
        ),
        (
            "get",
            "/v1/cases/{id}/actions".to_owned(),
            "200",
            action_links(actions, "$request.path.id", "\"{$response.body#/version}\""),
        ),
        (
            "post",
            "/v1/panels".to_owned(),
            "201",
            ["read_panel", "add_member", "create_meeting"]
                .iter()
                .map(|target| follow(target, &[("id", body_id)]))
                .collect(),
        ),
        (
            "get",
            "/v1/panels".to_owned(),
            "200",
            vec![follow("read_panel", &[("id", "$response.body#/0/id")])],
        ),
        (
            "post",
            "/v1/panels/{id}/members".to_owned(),
            "201",
            vec![follow(
                "remove_member",
                &[("id", "$request.path.id"), ("member_id", body_id)],
            )],
        ),
        (
            "post",
            "/v1/panels/{id}/meetings".to_owned(),
            "201",
            vec![follow("read_meeting", &[("id", body_id)]), listing(targets)],
        ),
        (
            "post",
            "/v1/directory".to_owned(),
            "201",
            vec![follow("remove_mailbox", &[("id", body_id)])],
        ),
        (
            "get",
            "/v1/notifications".to_owned(),
            "200",
            vec![follow("retry", &[("id", "$response.body#/items/0/id")])],
        ),
    ];
    plan
}

/// The action that lists a case for a meeting, given the new meeting's id in its body.
fn listing(targets: &BTreeMap<String, Target>) -> Follow {
    let name = Action::ListForPanel.as_str();
    let mut link = if targets.contains_key(name) {
        follow(name, &[])
    } else {
        follow("perform_action", &[("action", name)])
    };
    link.body = Some(json!({ "meeting_id": "$response.body#/id" }));
    link
}

impl utoipa::Modify for Links {
    fn modify(&self, openapi: &mut OpenApi) {
        let (targets, actions) = targets(openapi);
        let mut plan = plan(&targets, &actions);
        let action_paths: Vec<String> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, item)| path.starts_with(CASE_ACTIONS) && item.post.is_some())
            .map(|(path, _)| path.clone())
            .collect();
        // Every action's answer is the case as it is now, with its ETag: on to the actions
        // the pathway allows from the states that action leads to.
        for path in action_paths {
            let action = path.trim_start_matches(CASE_ACTIONS);
            let next = match states_after(action) {
                Some(states) => actions_from(&actions, &states),
                None => actions.clone(),
            };
            let next = case_links(&next, "$response.body#/id", "$response.header.ETag");
            plan.push(("post", path, "200", next));
        }
        for (method, path, status, follows) in plan {
            let Some(item) = openapi.paths.paths.get_mut(&path) else {
                continue;
            };
            let operation = match method {
                "get" => item.get.as_mut(),
                "post" => item.post.as_mut(),
                _ => item.delete.as_mut(),
            };
            let Some(RefOr::T(response)) =
                operation.and_then(|o| o.responses.responses.get_mut(status))
            else {
                continue;
            };
            for f in follows {
                let Some(target) = targets.get(&f.target) else {
                    continue;
                };
                response
                    .links
                    .insert(f.target.clone(), RefOr::T(link(&f, target)));
            }
        }
    }
}

fn link(f: &Follow, target: &Target) -> Link {
    // utoipa 5.5 serialises `Link`'s `operation_id` and `request_body` in snake_case, which
    // no reader of OpenAPI understands: the two fields go out under their OpenAPI names as
    // entries of the flattened extensions instead.
    let mut fields = Extensions::default();
    fields.insert("operationId".to_owned(), Value::from(f.target.clone()));
    if let Some(body) = &f.body {
        fields.insert("requestBody".to_owned(), body.clone());
    }
    let mut builder = LinkBuilder::new().extensions(Some(fields));
    for (name, value) in &f.parameters {
        // A parameter the target does not take (If-Match on an action that needs no
        // version) is left out rather than named wrongly.
        if let Some(key) = target.key(name) {
            builder = builder.parameter(key, value.clone());
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every link in the served document names an operation that exists, and only
    /// parameters that operation takes, at the place it takes them.
    #[test]
    fn every_link_names_an_existing_operation_and_its_parameters() {
        let doc: Value = serde_json::from_str(&crate::http::openapi_json()).expect("document");
        let mut operations = std::collections::BTreeMap::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("path item").values() {
                if let Some(id) = operation["operationId"].as_str() {
                    operations.insert(id.to_owned(), operation.clone());
                }
            }
        }
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().into_iter().flatten();
                for (status, response) in responses {
                    let links = response["links"].as_object().into_iter().flatten();
                    for (name, link) in links {
                        count += 1;
                        let at = format!("{method} {path} {status} link {name}");
                        let target_id = link["operationId"].as_str().expect(&at);
                        let target = operations
                            .get(target_id)
                            .unwrap_or_else(|| panic!("{at}: no operation {target_id}"));
                        let parameters = link["parameters"].as_object().into_iter().flatten();
                        for (key, value) in parameters {
                            let (location, parameter) = key.split_once('.').expect(&at);
                            let declared = target["parameters"].as_array().is_some_and(|ps| {
                                ps.iter()
                                    .any(|p| p["name"] == parameter && p["in"] == location)
                            });
                            assert!(
                                declared,
                                "{at}: {target_id} takes no {location} {parameter}"
                            );
                            assert!(value.is_string(), "{at}: {key} is not an expression");
                        }
                        if let Some(body) = link.get("requestBody") {
                            let schema = &target["requestBody"]["content"]["application/json"];
                            assert!(schema.is_object(), "{at}: {target_id} takes no body");
                            assert!(body.is_object(), "{at}: requestBody is not an object");
                        }
                    }
                }
            }
        }
        assert!(count > 0, "the document has no links");
    }

    /// A new referral leads to the actions of a submitted case, with the version to send,
    /// and to nothing the pathway refuses from there.
    #[test]
    fn a_filed_referral_leads_to_the_actions_of_a_submitted_case() {
        let doc: Value = serde_json::from_str(&crate::http::openapi_json()).expect("document");
        let links = doc["paths"]["/v1/referrals"]["post"]["responses"]["201"]["links"]
            .as_object()
            .expect("links of a filed referral")
            .clone();
        let actions: Vec<&String> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .filter(|(path, item)| {
                path.starts_with(super::CASE_ACTIONS) && item["post"].is_object()
            })
            .map(|(path, _)| path)
            .collect();
        assert!(!actions.is_empty());
        for path in actions {
            let id = doc["paths"][path]["post"]["operationId"]
                .as_str()
                .expect("operationId");
            let possible = ["begin_screening", "correct_details"].contains(&id);
            assert_eq!(links.contains_key(id), possible, "link to {id}");
            if let Some(link) = links.get(id) {
                assert_eq!(link["parameters"]["path.id"], "$response.body#/id");
                assert_eq!(link["parameters"]["header.If-Match"], "\"1\"");
            }
        }
        for read in ["read_case", "history", "available_actions", "add_note"] {
            assert!(links.contains_key(read), "no link to {read}");
        }
    }

    /// An action's answer leads on, with its ETag, to the actions the pathway allows from
    /// where that action leaves the case.
    #[test]
    fn an_action_leads_to_the_actions_after_it() {
        let doc: Value = serde_json::from_str(&crate::http::openapi_json()).expect("document");
        let links = |action: &str| {
            doc["paths"][format!("{}{action}", super::CASE_ACTIONS)]["post"]["responses"]["200"]["links"]
                .as_object()
                .unwrap_or_else(|| panic!("links of {action}"))
                .clone()
        };
        let after = links("begin_screening");
        for next in [
            "record_deconfliction",
            "refer_to_channel",
            "correct_details",
        ] {
            let link = after
                .get(next)
                .unwrap_or_else(|| panic!("no link to {next}"));
            assert_eq!(
                link["parameters"]["header.If-Match"],
                "$response.header.ETag"
            );
            assert_eq!(link["parameters"]["path.id"], "$response.body#/id");
        }
        assert!(!after.contains_key("begin_screening"));
        assert!(!after.contains_key("list_for_panel"));
        assert!(links("refer_to_channel").contains_key("list_for_panel"));
    }
}
