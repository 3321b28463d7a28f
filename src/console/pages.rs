//! The console's pages. Each reads through the JSON API's own handlers (which call the
//! same use cases, apply the same visibility rules and audit the same reads) and draws
//! what they answer; the only write that does not go through a handler, an action, calls
//! the same use case with the same parsed command.

use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder, web};
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

use super::csrf::{self, Form};
use super::forms;
use super::render::{humanise, page, redirect};
use super::session::{self, Session};
use super::{ConsoleError, ConsoleState};
use crate::app::AppError;
use crate::domain::pathway::Action;
use crate::domain::period::Period;
use crate::domain::{FieldError, Role};
use crate::http::json::JsonBody;
use crate::http::params;
use crate::http::problem::ApiError;
use crate::store::Store;

type Answer = Result<HttpResponse, ConsoleError>;

fn store(req: &HttpRequest) -> Result<web::Data<Store>, ConsoleError> {
    req.app_data::<web::Data<Store>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

fn statistics_policy(
    req: &HttpRequest,
) -> Result<web::Data<crate::domain::statistics::StatisticsPolicy>, ConsoleError> {
    req.app_data::<web::Data<crate::domain::statistics::StatisticsPolicy>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

fn state(req: &HttpRequest) -> Result<web::Data<ConsoleState>, ConsoleError> {
    req.app_data::<web::Data<ConsoleState>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

async fn request_id(req: &HttpRequest) -> Result<RequestId, ConsoleError> {
    RequestId::extract(req)
        .await
        .map_err(|_| ConsoleError::Internal)
}

/// What an API handler answered, as the JSON it would have sent.
async fn answered<R>(req: &HttpRequest, answer: Result<R, ApiError>) -> Result<Value, ConsoleError>
where
    R: Responder,
    R::Body: MessageBody + 'static,
{
    let response = answer?.respond_to(req).map_into_boxed_body();
    if !response.status().is_success() {
        tracing::error!(status = %response.status(), "an API handler answered the console unsuccessfully");
        return Err(ConsoleError::Internal);
    }
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .map_err(|_| ConsoleError::Internal)?;
    serde_json::from_slice(&bytes).map_err(|_| ConsoleError::Internal)
}

fn query(req: &HttpRequest) -> Form {
    Form::parse(req.query_string().as_bytes())
}

fn uuid_of(text: &str) -> Result<uuid::Uuid, ConsoleError> {
    uuid::Uuid::parse_str(text).map_err(|_| ConsoleError::NotFound)
}

/// The links of the navigation and the start page, by role.
fn links(session: &Session) -> Vec<Value> {
    let actor = &session.actor;
    let mut out = Vec::new();
    let mut add = |href: &str, text: &str, description: &str| {
        if !out.iter().any(|l: &Value| l["href"] == href) {
            out.push(json!({"href": href, "text": text, "description": description}));
        }
    };
    if actor.has(Role::ChannelChair) {
        add(
            "/console/cases",
            "Cases",
            "Cases awaiting panel, listed, in support and overdue, with their due dates.",
        );
        add(
            "/console/meetings",
            "Meetings",
            "Your panels' meetings and their agendas.",
        );
    }
    if actor.has(Role::PanelMember) {
        add(
            "/console/cases",
            "Cases",
            "The cases on your panels' agendas, and your agency's notes.",
        );
        add(
            "/console/meetings",
            "Meetings",
            "The meetings of your panels.",
        );
    }
    if actor.has(Role::Auditor) {
        add(
            "/console/audit",
            "Audit log",
            "Search the audit log by case, person, action and date.",
        );
        add(
            "/console/audit/verify",
            "Audit verification",
            "Check that the audit log is complete and unaltered.",
        );
        add(
            "/console/statistics",
            "Statistics",
            "The official statistics, as tables and charts.",
        );
    }
    if actor.has(Role::RecordsOfficer) {
        add(
            "/console/retention",
            "Retention reviews",
            "Cases whose retention review is due.",
        );
    }
    out
}

/// The context every signed-in page has, with `extra` merged in.
fn context(session: &Session, title: &str, current: &str, extra: Value) -> Value {
    let nav: Vec<Value> = links(session)
        .into_iter()
        .map(|mut l| {
            let active = l["href"] == current;
            l["active"] = Value::Bool(active);
            l
        })
        .collect();
    let mut base = json!({
        "title": title,
        "user": {
            "name": session.actor.name,
            "area": session.actor.area.as_str(),
            "roles": session.actor.roles.iter().map(|r| humanise(r.as_str())).collect::<Vec<_>>(),
        },
        "csrf_field": csrf::FIELD,
        "csrf_token": session.csrf,
        "nav": nav,
    });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// `GET /console/`.
pub async fn start(req: HttpRequest) -> Answer {
    let session = session::current(&req).await?;
    let ctx = context(
        &session,
        "Start",
        "/console/",
        json!({"links": links(&session)}),
    );
    page(StatusCode::OK, "start.html", &ctx)
}

/// Any other path under `/console/`.
pub async fn not_found() -> Answer {
    Err(ConsoleError::NotFound)
}

/// The development sign-in's fields, as sent or by default.
fn sign_in_context(form: &Form, errors: &[(String, String)], signed_out: bool) -> Value {
    let get = |name: &str, default: &str| form.get(name).map_or(default.to_owned(), str::to_owned);
    let chosen = form.all("roles");
    let roles: Vec<Value> = Role::ALL
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "value": r.as_str(),
                "label": humanise(r.as_str()),
                "id": if i == 0 { "roles".to_owned() } else { format!("roles-{}", i + 1) },
                "checked": chosen.contains(&r.as_str()),
            })
        })
        .collect();
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
    };
    let href = |field: &str| match field {
        "user" => "#user",
        "name" => "#name",
        "email" => "#email",
        "area" => "#area",
        _ => "#roles",
    };
    json!({
        "title": "Sign in",
        "signed_out": signed_out,
        "user": Value::Null,
        "form": {
            "user": get("user", "console-user"),
            "name": get("name", "Console User"),
            "email": get("email", "console-user@example.org"),
            "area": get("area", "E08000035"),
        },
        "roles": roles,
        "errors": !errors.is_empty(),
        "field_errors": {
            "user": error_of("user"), "name": error_of("name"), "email": error_of("email"),
            "area": error_of("area"), "roles": error_of("roles"),
        },
        "summary": errors.iter().map(|(f, m)| json!({"message": m, "href": href(f)})).collect::<Vec<_>>(),
    })
}

/// `GET /console/sign-in`: the development sign-in form (local use only).
pub async fn sign_in_form(req: HttpRequest) -> Answer {
    if !state(&req)?.dev_sign_in {
        return Err(ConsoleError::SignInRefused);
    }
    let signed_out = query(&req).get("signed_out").is_some();
    page(
        StatusCode::OK,
        "sign_in.html",
        &sign_in_context(&Form::default(), &[], signed_out),
    )
}

/// `POST /console/sign-in`: mints a local token from the form, verifies it as an API
/// request's token would be, and starts a session for the actor it names. Refused
/// exactly where `pathway token` is.
pub async fn sign_in(req: HttpRequest, body: web::Bytes) -> Answer {
    let state = state(&req)?;
    if !state.dev_sign_in {
        return Err(ConsoleError::SignInRefused);
    }
    // No session yet, so no synchronizer token: the Origin check (and the cookie's
    // SameSite=Strict) stand against a sign-in forged from another site. This form
    // exists only in local use.
    if !csrf::same_origin(&req, &state) {
        return Err(ConsoleError::Csrf);
    }
    let form = Form::parse(&body);
    let roles = form.all("roles");
    let mut claims = crate::http::auth::LocalClaims::new(
        &state.auth,
        form.get("user").unwrap_or_default().trim(),
        &roles,
        form.get("area").unwrap_or_default().trim(),
        300,
    );
    claims.name = form.get("name").unwrap_or_default().trim().to_owned();
    claims.email = form.get("email").unwrap_or_default().to_owned();
    let verifier = req
        .app_data::<web::Data<crate::http::auth::TokenVerifier>>()
        .ok_or(ConsoleError::Internal)?;
    let minted = crate::http::auth::mint_local_token(&state.auth, &claims).map_err(|e| {
        tracing::error!(error = %e, "the development sign-in could not mint a token");
        ConsoleError::Internal
    })?;
    match verifier.verify(&minted) {
        Ok(actor) => Ok(session::sign_in(&req, actor).await?),
        Err(failure) => {
            use crate::http::auth::AuthFailure as F;
            let (field, message) = match &failure {
                F::MissingClaim(c) | F::InvalidClaim(c) if c == "sub" => {
                    ("user", "Enter a user id")
                }
                F::MissingClaim(c) | F::InvalidClaim(c) if c == "name" => ("name", "Enter a name"),
                F::MissingClaim(c) | F::InvalidClaim(c) if c == "area" => (
                    "area",
                    "Enter an area code such as E08000035 (national is for auditors only)",
                ),
                F::EmailInvalid | F::MissingClaim(_) => (
                    "email",
                    "Enter an email address in the correct format, like name@example.org",
                ),
                F::NoRoles => ("roles", "Select at least one role"),
                _ => ("user", "These details cannot be used to sign in"),
            };
            let ctx = sign_in_context(&form, &[(field.to_owned(), message.to_owned())], false);
            page(StatusCode::UNPROCESSABLE_ENTITY, "sign_in.html", &ctx)
        }
    }
}

/// `POST /console/sign-out`.
pub async fn sign_out(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::current(&req).await?;
    csrf::check(&req, &session, &Form::parse(&body))?;
    session::end(&req, session).await
}

/// A page of cases through `GET /v1/cases`'s handler.
async fn case_list(
    req: &HttpRequest,
    session: &Session,
    state: Option<&str>,
    overdue: bool,
) -> Result<Value, ConsoleError> {
    let q = crate::http::cases::CaseQuery {
        state: state.map(str::to_owned),
        overdue: overdue.then_some(true),
        reference: None,
        limit: Some(100),
        cursor: None,
    };
    let answer = crate::http::cases::list_cases(
        session.actor.clone(),
        request_id(req).await?,
        params::Query(q),
        store(req)?,
    )
    .await;
    answered(req, answer).await
}

/// `GET /console/cases`.
pub async fn cases(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair, Role::PanelMember]).await?;
    let mut sections = Vec::new();
    if session.actor.has(Role::ChannelChair) {
        for (id, caption, state, overdue) in [
            (
                "awaiting-panel",
                "Awaiting panel",
                Some("awaiting_panel"),
                false,
            ),
            (
                "panel-listed",
                "Listed for a panel",
                Some("panel_listed"),
                false,
            ),
            ("support", "In support", Some("support"), false),
            ("overdue", "Overdue", None, true),
        ] {
            let page = case_list(&req, &session, state, overdue).await?;
            sections.push(json!({"id": id, "caption": caption, "items": page["items"]}));
        }
    } else {
        let page = case_list(&req, &session, None, false).await?;
        sections.push(json!({"id": "agenda", "caption": "Cases on your panels' agendas", "items": page["items"]}));
    }
    let ctx = context(
        &session,
        "Cases",
        "/console/cases",
        json!({"sections": sections}),
    );
    page(StatusCode::OK, "cases.html", &ctx)
}

/// What went wrong with a form posted from the case page, to draw it again.
#[derive(Default)]
struct Failure {
    /// The action's name, or `note`.
    form_of: String,
    form: Form,
    errors: Vec<FieldError>,
    /// A refusal that names no field.
    message: Option<String>,
    /// The case changed since the page was opened.
    stale: bool,
}

/// The meetings still to come of the panels a chair manages, as (id, label), soonest
/// first, through the API's panel handlers (which write nothing).
async fn meetings_to_come(
    req: &HttpRequest,
    session: &Session,
) -> Result<Vec<(String, String)>, ConsoleError> {
    let store = store(req)?;
    let panels = answered(
        req,
        crate::http::panels::list_panels(session.actor.clone(), store.clone()).await,
    )
    .await?;
    let now = chrono::Utc::now();
    let mut found: Vec<(String, String, String)> = Vec::new();
    for p in panels.as_array().into_iter().flatten() {
        let Some(pid) = p["id"].as_str().and_then(|i| uuid::Uuid::parse_str(i).ok()) else {
            continue;
        };
        let panel = answered(
            req,
            crate::http::panels::read_panel(
                session.actor.clone(),
                params::Path(pid),
                store.clone(),
            )
            .await,
        )
        .await?;
        for m in panel["meetings"].as_array().into_iter().flatten() {
            let (Some(id), Some(when)) = (m["id"].as_str(), m["scheduled_for"].as_str()) else {
                continue;
            };
            let at = chrono::DateTime::parse_from_rfc3339(when).map(|t| t.to_utc());
            if at.is_ok_and(|t| t < now) {
                continue;
            }
            let label = format!(
                "{}{} ({})",
                at.map(|t| t.format("%-d %B %Y, %H:%M UTC").to_string())
                    .unwrap_or_else(|_| when.to_owned()),
                m["location"]
                    .as_str()
                    .map(|l| format!(", {l}"))
                    .unwrap_or_default(),
                panel["name"].as_str().unwrap_or_default(),
            );
            found.push((when.to_owned(), id.to_owned(), label));
        }
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(_, id, label)| (id, label))
        .collect())
}

/// Draws the case page; `failure` puts a refused form back with its errors.
async fn case_page(
    req: &HttpRequest,
    session: &Session,
    id: uuid::Uuid,
    status: StatusCode,
    failure: Failure,
) -> Answer {
    let store = store(req)?;
    let actor = &session.actor;
    let case = answered(
        req,
        crate::http::cases::read_case(
            actor.clone(),
            request_id(req).await?,
            params::Path(id),
            store.clone(),
        )
        .await,
    )
    .await?;
    let history = answered(
        req,
        crate::http::cases::history(
            actor.clone(),
            request_id(req).await?,
            params::Path(id),
            store.clone(),
        )
        .await,
    )
    .await
    .unwrap_or(Value::Array(Vec::new()));
    let mut actions = Vec::new();
    if actor.has(Role::ChannelChair) {
        let available = crate::http::cases::available_actions(
            actor.clone(),
            request_id(req).await?,
            params::Path(id),
            store.clone(),
        )
        .await;
        let available = match available {
            Ok(a) => answered(req, Ok::<_, ApiError>(a)).await?,
            Err(ApiError::Forbidden { .. }) => json!({"actions": []}),
            Err(e) => return Err(e.into()),
        };
        let offered: Vec<(Action, &Value)> = available["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a["action"].as_str().and_then(Action::parse)?, a)))
            .collect();
        // A meeting is chosen from the chair's panels' meetings to come, not typed.
        let mut known = forms::Known::new();
        if offered.iter().any(|(action, _)| {
            forms::names(&forms::action_fields(*action))
                .iter()
                .any(|n| n == "meeting_id")
        }) {
            known.insert("meeting_id".into(), meetings_to_come(req, session).await?);
        }
        for (action, a) in offered {
            let name = action.as_str();
            let fields = forms::action_fields(action);
            let (form, errors) = if failure.form_of == name {
                (failure.form.clone(), failure.errors.clone())
            } else {
                (Form::default(), Vec::new())
            };
            let drawn = forms::draw(name, &fields, &form, &errors, &known);
            actions.push(json!({
                "name": name,
                "title": humanise(name),
                "next_states": a["next_states"],
                "items": drawn.items,
                "summary": drawn.summary,
                "failed": failure.form_of == name,
            }));
        }
    }
    let mut note = Value::Null;
    if actor.has(Role::PanelMember) {
        let fields =
            forms::component("NoteBody").map_or_else(Vec::new, |s| forms::fields_of(s, &[]));
        let (form, errors) = if failure.form_of == "note" {
            (failure.form.clone(), failure.errors.clone())
        } else {
            (Form::default(), Vec::new())
        };
        let drawn = forms::draw("note", &fields, &form, &errors, &forms::Known::new());
        note = json!({"items": drawn.items, "summary": drawn.summary, "failed": failure.form_of == "note"});
    }
    let summary: Vec<Value> = actions
        .iter()
        .chain(std::iter::once(&note))
        .flat_map(|a| a["summary"].as_array().cloned().unwrap_or_default())
        .collect();
    let done = query(req).get("done").map(humanise);
    let reference = case["reference"].as_str().unwrap_or("Case").to_owned();
    let ctx = context(
        session,
        &format!("Case {reference}"),
        "/console/cases",
        json!({
            "case": case,
            "history": history,
            "actions": actions,
            "note": note,
            "errors": !summary.is_empty() || failure.message.is_some() || failure.stale,
            "summary": summary,
            "message": failure.message,
            "stale": failure.stale,
            "done": done,
        }),
    );
    page(status, "case.html", &ctx)
}

/// `GET /console/cases/{id}`.
pub async fn case(req: HttpRequest) -> Answer {
    let session = session::require(
        &req,
        &[Role::ChannelChair, Role::PanelMember, Role::Auditor],
    )
    .await?;
    let id = uuid_of(req.match_info().get("id").unwrap_or_default())?;
    case_page(&req, &session, id, StatusCode::OK, Failure::default()).await
}

/// `POST /console/cases/{id}/actions/{action}`: the action's form, as the body of the
/// same use case as `POST /v1/cases/{id}/actions/{action}`, with the page's version as
/// `If-Match`.
pub async fn perform(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair]).await?;
    let form = Form::parse(&body);
    csrf::check(&req, &session, &form)?;
    let id = uuid_of(req.match_info().get("id").unwrap_or_default())?;
    let action = req
        .match_info()
        .get("action")
        .and_then(Action::parse)
        .ok_or(ConsoleError::NotFound)?;
    let version = form
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ConsoleError::BadRequest("The form did not say which version of the case it was made from. Reload the case and try again.".into()))?;
    let body = forms::body_of(&forms::action_fields(action), &form);
    let command = crate::http::cases::command_of(action, body);
    let policy = ***req
        .app_data::<web::Data<crate::domain::due::DuePolicy>>()
        .ok_or(ConsoleError::Internal)?;
    let retention = ***req
        .app_data::<web::Data<crate::domain::retention::RetentionPolicy>>()
        .ok_or(ConsoleError::Internal)?;
    let (actor, rid, case_id) = (
        session.actor.clone(),
        Some(request_id(&req).await?.to_string()),
        id.to_string(),
    );
    let done = store(&req)?
        .run(move |c| -> Result<Result<(), AppError>, AppError> {
            match crate::app::cases::perform_action(
                c, &actor, rid, &case_id, action, version, command, &policy, &retention,
            ) {
                Ok(_) => Ok(Ok(())),
                Err(AppError::Store(e)) => Err(AppError::Store(e)),
                Err(refused) => Ok(Err(refused)),
            }
        })
        .await?;
    let failure = |errors, message, stale| Failure {
        form_of: action.as_str().to_owned(),
        form: form.clone(),
        errors,
        message,
        stale,
    };
    match done {
        Ok(()) => {
            tracing::info!(case.id = %id, action = %action, "action performed from the console");
            Ok(redirect(&format!("/console/cases/{id}?done={action}")))
        }
        Err(AppError::VersionMismatch { .. }) => {
            case_page(
                &req,
                &session,
                id,
                StatusCode::CONFLICT,
                failure(Vec::new(), None, true),
            )
            .await
        }
        Err(AppError::Validation(errors)) => {
            case_page(
                &req,
                &session,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                failure(errors, None, false),
            )
            .await
        }
        Err(AppError::InvalidTransition { .. }) => {
            let message = format!(
                "{} is not possible for this case now.",
                humanise(action.as_str())
            );
            case_page(
                &req,
                &session,
                id,
                StatusCode::CONFLICT,
                failure(Vec::new(), Some(message), false),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /console/cases/{id}/notes`: the same handler as `POST /v1/cases/{id}/notes`.
pub async fn add_note(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::require(&req, &[Role::PanelMember]).await?;
    let form = Form::parse(&body);
    csrf::check(&req, &session, &form)?;
    let id = uuid_of(req.match_info().get("id").unwrap_or_default())?;
    let fields = forms::component("NoteBody").map_or_else(Vec::new, |s| forms::fields_of(s, &[]));
    let body = forms::body_of(&fields, &form);
    let answer = crate::http::cases::add_note(
        session.actor.clone(),
        request_id(&req).await?,
        params::Path(id),
        JsonBody(body),
        store(&req)?,
    )
    .await;
    match answer {
        Ok(_) => Ok(redirect(&format!("/console/cases/{id}?done=note_added"))),
        Err(ApiError::Validation(errors)) => {
            let failure = Failure {
                form_of: "note".into(),
                form,
                errors,
                ..Failure::default()
            };
            case_page(
                &req,
                &session,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                failure,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/meetings`.
pub async fn meetings(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair, Role::PanelMember]).await?;
    let store = store(&req)?;
    let mut panels = Vec::new();
    if session.actor.has(Role::ChannelChair) {
        let list = answered(
            &req,
            crate::http::panels::list_panels(session.actor.clone(), store.clone()).await,
        )
        .await?;
        for p in list.as_array().into_iter().flatten() {
            let Some(pid) = p["id"].as_str().and_then(|i| uuid::Uuid::parse_str(i).ok()) else {
                continue;
            };
            let panel = answered(
                &req,
                crate::http::panels::read_panel(
                    session.actor.clone(),
                    params::Path(pid),
                    store.clone(),
                )
                .await,
            )
            .await?;
            panels.push(json!({"name": panel["name"], "meetings": panel["meetings"]}));
        }
    } else {
        // A member's meetings are those of the cases on their panels' agendas, read as
        // the API reads each case.
        let list = case_list(&req, &session, None, false).await?;
        let mut meetings: Vec<Value> = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            let Some(cid) = item["id"]
                .as_str()
                .and_then(|i| uuid::Uuid::parse_str(i).ok())
            else {
                continue;
            };
            let case = answered(
                &req,
                crate::http::cases::read_case(
                    session.actor.clone(),
                    request_id(&req).await?,
                    params::Path(cid),
                    store.clone(),
                )
                .await,
            )
            .await?;
            for m in case["meetings"].as_array().into_iter().flatten() {
                if !meetings.iter().any(|k| k["id"] == m["id"]) {
                    meetings.push(m.clone());
                }
            }
        }
        meetings.sort_by(|a, b| {
            a["scheduled_for"]
                .as_str()
                .cmp(&b["scheduled_for"].as_str())
        });
        panels.push(json!({"name": "Your panels", "meetings": meetings}));
    }
    let ctx = context(
        &session,
        "Meetings",
        "/console/meetings",
        json!({"panels": panels}),
    );
    page(StatusCode::OK, "meetings.html", &ctx)
}

/// `GET /console/meetings/{id}`.
pub async fn meeting(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair, Role::PanelMember]).await?;
    let id = uuid_of(req.match_info().get("id").unwrap_or_default())?;
    let meeting = answered(
        &req,
        crate::http::panels::read_meeting(
            session.actor.clone(),
            request_id(&req).await?,
            params::Path(id),
            store(&req)?,
        )
        .await,
    )
    .await?;
    let ctx = context(
        &session,
        "Meeting",
        "/console/meetings",
        json!({"meeting": meeting}),
    );
    page(StatusCode::OK, "meeting.html", &ctx)
}

/// A GOV.UK date input's parts from a query: `None` when all are empty.
fn date_of(q: &Form, name: &str) -> Result<Option<chrono::NaiveDate>, ()> {
    let part = |p: &str| {
        q.get(&format!("{name}.{p}"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (d, m, y) = (part("day"), part("month"), part("year"));
    if d.is_empty() && m.is_empty() && y.is_empty() {
        return Ok(None);
    }
    let n = |s: &str| s.parse::<u32>().map_err(|_| ());
    let year = i32::try_from(n(&y)?).map_err(|_| ())?;
    if !(1900..=9999).contains(&year) {
        return Err(());
    }
    chrono::NaiveDate::from_ymd_opt(year, n(&m)?, n(&d)?)
        .map(Some)
        .ok_or(())
}

fn date_parts(q: &Form, name: &str) -> Value {
    let part = |p: &str| q.get(&format!("{name}.{p}")).unwrap_or_default().to_owned();
    json!({"day": part("day"), "month": part("month"), "year": part("year")})
}

/// `GET /console/audit`: search the audit log through `GET /v1/audit`'s handler.
pub async fn audit(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let q = query(&req);
    let text = |name: &str| {
        q.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut found: Vec<(String, String, String)> = Vec::new();
    let error =
        |found: &mut Vec<(String, String, String)>, field: &str, href: &str, message: &str| {
            found.push((field.to_owned(), href.to_owned(), message.to_owned()));
        };
    let case_id = match text("case_id").map(|c| uuid::Uuid::parse_str(&c)) {
        Some(Err(_)) => {
            error(
                &mut found,
                "case_id",
                "#case_id",
                "Enter a case id in the correct format, like 0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f",
            );
            None
        }
        other => other.and_then(Result::ok),
    };
    let from = date_of(&q, "from").unwrap_or_else(|()| {
        error(
            &mut found,
            "from",
            "#from-day",
            "The from date must be a real date, like 1 4 2026",
        );
        None
    });
    let to = date_of(&q, "to").unwrap_or_else(|()| {
        error(
            &mut found,
            "to",
            "#to-day",
            "The to date must be a real date, like 30 4 2026",
        );
        None
    });
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        error(
            &mut found,
            "from",
            "#from-day",
            "The from date must be the same as or before the to date",
        );
    }
    // Entries a page: 50 unless the address says otherwise (1 to 500, as the API's).
    let page_size = match text("limit").map(|l| l.parse::<i64>()) {
        None => 50,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => {
            error(
                &mut found,
                "limit",
                "#case_id",
                "The page size must be a whole number from 1 to 500",
            );
            50
        }
    };
    let mut results = Value::Null;
    if found.is_empty() {
        let start_of = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let aq = crate::http::audit::AuditQuery {
            case_id,
            actor: text("actor"),
            action: text("action"),
            from: from.and_then(start_of),
            // The form's "to" is a whole day; the API's `to` is the first moment after.
            to: to.and_then(|d| d.succ_opt()).and_then(start_of),
            order: None,
            limit: Some(page_size),
            cursor: text("cursor"),
        };
        let answer = crate::http::audit::list(
            session.actor.clone(),
            request_id(&req).await?,
            params::Query(aq),
            store(&req)?,
        )
        .await;
        match answer {
            Ok(page) => results = answered(&req, Ok::<_, ApiError>(page)).await?,
            Err(ApiError::Validation(errors)) | Err(ApiError::BadParameters { errors, .. }) => {
                for e in errors {
                    let href = match e.field.as_str() {
                        "case_id" | "actor" | "action" => format!("#{}", e.field),
                        "from" => "#from-day".to_owned(),
                        "to" => "#to-day".to_owned(),
                        _ => "#case_id".to_owned(),
                    };
                    error(&mut found, &e.field, &href, &e.message);
                }
            }
            Err(ApiError::NotFound) | Err(ApiError::NotFoundAt(_)) => {
                error(
                    &mut found,
                    "case_id",
                    "#case_id",
                    "There is no case with this id that you can see",
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    let next = results["next_cursor"].as_str().map(|cursor| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.0 {
            if k != "cursor" {
                s.append_pair(k, v);
            }
        }
        s.append_pair("cursor", cursor);
        s.finish()
    });
    let summary: Vec<Value> = found
        .iter()
        .map(|(_, href, message)| json!({"message": message, "href": href}))
        .collect();
    let mut field_errors = serde_json::Map::new();
    for (field, _, message) in &found {
        field_errors
            .entry(field.clone())
            .or_insert_with(|| Value::String(message.clone()));
    }
    let ctx = context(
        &session,
        "Audit log",
        "/console/audit",
        json!({
            "errors": !summary.is_empty(),
            "summary": summary,
            "field_errors": field_errors,
            "search": {
                "case_id": q.get("case_id").unwrap_or_default(),
                "actor": q.get("actor").unwrap_or_default(),
                "action": q.get("action").unwrap_or_default(),
                "from": date_parts(&q, "from"),
                "to": date_parts(&q, "to"),
            },
            "results": results,
            "next": next,
        }),
    );
    page(StatusCode::OK, "audit.html", &ctx)
}

/// `GET /console/audit/verify`: `GET /v1/audit/verify`'s handler.
pub async fn verify(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let report = answered(
        &req,
        crate::http::audit::verify(session.actor.clone(), request_id(&req).await?, store(&req)?)
            .await,
    )
    .await?;
    let ctx = context(
        &session,
        "Audit verification",
        "/console/audit/verify",
        json!({"report": report}),
    );
    page(StatusCode::OK, "verify.html", &ctx)
}

/// A breakdown as a table's rows and a bar chart's bars.
/// A count as the statistics give it: a number, or withheld (`{"suppressed": true}`, shown
/// as `[c]` like the CSV and GOV.UK statistical tables, with no bar).
fn shown_count(v: &Value) -> (u64, String) {
    match v.as_u64() {
        Some(n) => (n, n.to_string()),
        None => (0, SUPPRESSED.to_owned()),
    }
}

/// How a withheld count is shown.
const SUPPRESSED: &str = "[c]";

fn chart(id: &str, caption: &str, counts: &Value) -> Value {
    let rows: Vec<(String, u64, String)> = counts
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let (n, shown) = shown_count(v);
                    (k.clone(), n, shown)
                })
                .collect()
        })
        .unwrap_or_default();
    let max = rows.iter().map(|(_, n, _)| *n).max().unwrap_or(0).max(1);
    let (label_width, bar_space, row_height) = (220u64, 400u64, 28u64);
    let bars: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (label, n, shown))| {
            let y = i as u64 * row_height;
            json!({
                "label": humanise(label),
                "count": shown,
                "y": y + 4,
                "text_y": y + 19,
                "width": (n * bar_space / max).max(if *n > 0 { 1 } else { 0 }),
                "count_x": label_width + (n * bar_space / max) + 6,
            })
        })
        .collect();
    // The total of what is shown; with a count withheld, the chart says so.
    let total: u64 = rows.iter().map(|(_, n, _)| n).sum();
    let withheld = rows.iter().any(|(_, _, shown)| shown == SUPPRESSED);
    json!({
        "id": id,
        "caption": caption,
        "bars": bars,
        "total": if withheld { format!("{total} shown (some counts withheld)") } else { total.to_string() },
        "label_width": label_width,
        "width": label_width + bar_space + 80,
        "height": (rows.len() as u64 * row_height).max(row_height),
    })
}

/// How many financial years the statistics page offers, the current one first.
const YEARS_OFFERED: usize = 5;

/// The published periods the statistics page offers, newest first: the current financial
/// year and the years before it, each followed by its quarters that have begun by
/// `today`; `chosen` is selected (and offered, if it is older).
fn period_options(today: chrono::NaiveDate, chosen: Option<Period>) -> Vec<Value> {
    let mut periods = Vec::new();
    let mut year = Some(Period::year_of(today));
    for _ in 0..YEARS_OFFERED {
        let Some(y) = year else { break };
        periods.push(y);
        periods.extend(
            y.quarters()
                .into_iter()
                .rev()
                .filter(|q| q.first_day() <= today),
        );
        year = y.previous();
    }
    if let Some(p) = chosen.filter(|p| !periods.contains(p)) {
        periods.push(p);
    }
    periods
        .into_iter()
        .map(|p| {
            let name = match p.quarter() {
                Some(q) => format!("{} quarter {q}", p.financial_year()),
                None => p.to_string(),
            };
            let growing = if p.last_day() >= today {
                ", in progress"
            } else {
                ""
            };
            json!({
                "value": p.to_string(),
                "label": format!("{name}: {}{growing}", p.months()),
                "selected": Some(p) == chosen,
            })
        })
        .collect()
}

/// `GET /console/statistics`: `GET /v1/stats`'s handler, drawn as tables and charts, for a
/// published period chosen from a list (the current financial year at first); a national
/// auditor may give a range of days instead.
pub async fn statistics(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let national = session.actor.area.is_national();
    let q = query(&req);
    let mut summary = Vec::new();
    let mut from = None;
    let mut to = None;
    // Only a national auditor is offered dates; anyone else's are ignored, as the form
    // never sends them.
    if national {
        from = date_of(&q, "from").unwrap_or_else(|()| {
            summary.push(json!({"message": "The from date must be a real date, like 1 4 2026", "href": "#from-day", "field": "from"}));
            None
        });
        to = date_of(&q, "to").unwrap_or_else(|()| {
            summary.push(json!({"message": "The to date must be a real date, like 31 3 2027", "href": "#to-day", "field": "to"}));
            None
        });
    }
    let today = chrono::Utc::now().date_naive();
    let dated = from.is_some() || to.is_some();
    let asked_period = q.get("period").filter(|p| !p.is_empty() && !dated);
    let mut stats = Value::Null;
    if summary.is_empty() {
        let (from, to) = (from.map(|d| d.to_string()), to.map(|d| d.to_string()));
        let answer = statistics_of(
            &req,
            &session,
            asked_period,
            from.as_deref(),
            to.as_deref(),
            "json",
        )
        .await?;
        match answer {
            Ok(r) => stats = answered(&req, Ok::<_, ApiError>(r)).await?,
            Err(ApiError::Validation(errors)) => {
                for e in errors {
                    let (message, href, field) = match e.code.as_str() {
                        "after_to" => (
                            "The from date must be the same as or before the to date".to_owned(),
                            "#from-day",
                            "from",
                        ),
                        "invalid_period" => (
                            "Choose a period from the list".to_owned(),
                            "#statistics-period",
                            "period",
                        ),
                        _ => (e.message, "#from-day", "from"),
                    };
                    summary.push(json!({"message": message, "href": href, "field": field}));
                }
            }
            Err(ApiError::Unprocessable { detail, .. }) => {
                summary.push(
                    json!({"message": detail, "href": "#statistics-period", "field": "period"}),
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    let chosen = stats["period"]
        .as_str()
        .or(asked_period)
        .and_then(|p| p.parse::<Period>().ok())
        .or((!dated).then(|| Period::year_of(today)));
    let charts: Vec<Value> = if stats.is_null() {
        Vec::new()
    } else {
        [
            ("sector", "Referrals by sector of referrer", "by_sector"),
            (
                "concern",
                "Referrals by type of concern",
                "by_type_of_concern",
            ),
            ("age", "Referrals by age band", "by_age_band"),
            ("gender", "Referrals by gender", "by_gender"),
            ("area", "Referrals by local authority", "by_area"),
        ]
        .into_iter()
        .map(|(id, caption, key)| chart(id, caption, &stats[key]))
        .collect()
    };
    let journey = if stats.is_null() {
        Value::Null
    } else {
        chart(
            "journey",
            "From referral to panel to adoption",
            &json!({
                "referred": stats["journey"]["referred"],
                "discussed_at_panel": stats["journey"]["discussed_at_panel"],
                "adopted": stats["journey"]["adopted"],
            }),
        )
    };
    let field_error = |field: &str| {
        summary
            .iter()
            .find(|s| s["field"] == field)
            .map(|s| s["message"].clone())
    };
    let text = |key: &str| stats[key].as_str().unwrap_or_default().to_owned();
    // The download asks for the same figures: the period by name, or a range by its days.
    let csv_href = match stats["period"].as_str() {
        _ if stats.is_null() => None,
        Some(p) => Some(format!("/console/statistics.csv?period={p}")),
        None => Some(format!(
            "/console/statistics.csv?from={}&to={}",
            text("from"),
            text("to")
        )),
    };
    let in_progress = !stats.is_null() && text("to") >= today.to_string();
    let ctx = context(
        &session,
        "Statistics",
        "/console/statistics",
        json!({
            "errors": !summary.is_empty(),
            "period_error": field_error("period"),
            "from_error": field_error("from"),
            "to_error": field_error("to"),
            "summary": summary,
            "national": national,
            "periods": period_options(today, chosen),
            "search": {"from": date_parts(&q, "from"), "to": date_parts(&q, "to")},
            "mental_health": shown_count(&stats["mental_health_or_neurodiversity"]).1,
            "suppression": stats["suppression"],
            "in_progress": in_progress,
            "csv_href": csv_href,
            "stats": stats,
            "charts": charts,
            "journey": journey,
        }),
    );
    page(StatusCode::OK, "statistics.html", &ctx)
}

/// `GET /console/statistics.csv?period=…` (or `?from=…&to=…`): the same figures as a CSV
/// download, from `GET /v1/stats?format=csv`'s handler (the same suppression, the same
/// audit entry). A period or dates it cannot use send the auditor back to the statistics
/// page, which names the periods.
pub async fn statistics_csv(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let q = query(&req);
    let answer = statistics_of(
        &req,
        &session,
        q.get("period"),
        q.get("from"),
        q.get("to"),
        "csv",
    )
    .await;
    match answer {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(ApiError::Validation(_) | ApiError::Unprocessable { .. }))
        | Err(ConsoleError::BadRequest(_)) => Ok(redirect("/console/statistics")),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(e),
    }
}

/// `GET /v1/stats`' handler for the signed-in auditor, with `period`, `from`, `to` (as
/// given) and `format`: the page and the CSV download go through it alike.
async fn statistics_of(
    req: &HttpRequest,
    session: &Session,
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
) -> Result<Result<HttpResponse, ApiError>, ConsoleError> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("period", period), ("from", from), ("to", to)] {
        if let Some(v) = value {
            s.append_pair(name, v);
        }
    }
    s.append_pair("format", format);
    let query = serde_urlencoded::from_str::<crate::http::statistics::StatsQuery>(&s.finish())
        .map_err(|_| ConsoleError::BadRequest("The dates are not valid.".into()))?;
    Ok(crate::http::statistics::statistics(
        session.actor.clone(),
        request_id(req).await?,
        req.clone(),
        params::Query(query),
        store(req)?,
        statistics_policy(req)?,
    )
    .await)
}

/// `GET /console/retention`: `GET /v1/retention/due`'s handler.
pub async fn retention(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::RecordsOfficer]).await?;
    let q = query(&req);
    let dq = crate::http::retention::DueQuery {
        limit: Some(50),
        cursor: q.get("cursor").map(str::to_owned),
    };
    let answer = crate::http::retention::due(
        session.actor.clone(),
        request_id(&req).await?,
        params::Query(dq),
        store(&req)?,
    )
    .await;
    let due = match answer {
        Ok(r) => answered(&req, Ok::<_, ApiError>(r)).await?,
        Err(ApiError::Validation(_)) => return Ok(redirect("/console/retention")),
        Err(e) => return Err(e.into()),
    };
    let next = due["next_cursor"].as_str().map(|c| {
        format!(
            "/console/retention?cursor={}",
            percent_encoding::utf8_percent_encode(c, percent_encoding::NON_ALPHANUMERIC)
        )
    });
    let ctx = context(
        &session,
        "Retention reviews due",
        "/console/retention",
        json!({"due": due, "next": next}),
    );
    page(StatusCode::OK, "retention.html", &ctx)
}
