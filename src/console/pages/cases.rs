//! The case lists, the case page with its action and note forms, and what those forms
//! post.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Answer, chair_panels, context, contract, path_id, query, request_id, store};
use crate::app::AppError;
use crate::app::cases as app;
use crate::console::ConsoleError;
use crate::console::csrf::{self, Form};
use crate::console::forms::{self, Contract, Item, SummaryEntry};
use crate::console::render::{humanise, page, redirect};
use crate::console::session::{self, Session};
use crate::domain::access::StatusFilter;
use crate::domain::pathway::{Action, State, Transition};
use crate::domain::{FieldError, Role};
use crate::present::cases::{CaseBody, CaseListAsked, CaseListItem, case_body, history_entry};
use crate::present::page::Page;

/// A page of the cases the person may see, as `GET /v1/cases` lists them.
pub(super) async fn case_list(
    req: &HttpRequest,
    session: &Session,
    state: Option<&str>,
    overdue: bool,
) -> Result<Page<CaseListItem>, ConsoleError> {
    let asked = CaseListAsked {
        status: state.and_then(StatusFilter::parse),
        overdue,
        limit: 100,
        ..CaseListAsked::default()
    };
    let (actor, rid) = (session.actor.clone(), request_id(req).await?);
    Ok(crate::present::cases::case_list(&*store(req)?, actor, rid, asked).await?)
}

/// A section of the cases page.
#[derive(Serialize)]
struct Section {
    id: &'static str,
    caption: &'static str,
    items: Vec<CaseListItem>,
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
            let items = case_list(&req, &session, state, overdue).await?.items;
            sections.push(Section { id, caption, items });
        }
    } else {
        let items = case_list(&req, &session, None, false).await?.items;
        sections.push(Section {
            id: "agenda",
            caption: "Cases on your panels' agendas",
            items,
        });
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

impl Failure {
    /// The form as posted and its errors when it is the one that failed; else empty.
    fn of(&self, name: &str) -> (Form, Vec<FieldError>) {
        if self.form_of == name {
            (self.form.clone(), self.errors.clone())
        } else {
            (Form::default(), Vec::new())
        }
    }
}

/// The meetings still to come of the panels a chair manages, as (id, label), soonest
/// first (reading panels writes nothing).
async fn meetings_to_come(
    req: &HttpRequest,
    session: &Session,
) -> Result<Vec<(String, String)>, ConsoleError> {
    let now = chrono::Utc::now();
    let mut found = Vec::new();
    for panel in chair_panels(req, session).await? {
        for m in panel
            .meetings
            .into_iter()
            .filter(|m| m.scheduled_for >= now)
        {
            let label = format!(
                "{}{} ({})",
                m.scheduled_for.format("%-d %B %Y, %H:%M UTC"),
                m.location.map(|l| format!(", {l}")).unwrap_or_default(),
                panel.name,
            );
            found.push((m.scheduled_for, m.id, label));
        }
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(_, id, label)| (id, label))
        .collect())
}

/// An action's form on the case page.
#[derive(Serialize)]
struct ActionForm {
    name: &'static str,
    title: String,
    next_states: Vec<State>,
    items: Vec<Item>,
    summary: Vec<SummaryEntry>,
    failed: bool,
}

/// A member's note form on the case page.
#[derive(Serialize)]
struct NoteForm {
    items: Vec<Item>,
    summary: Vec<SummaryEntry>,
    failed: bool,
}

/// The actions a chair may take on case `id` now, as `GET /v1/cases/{id}/actions` lists
/// them (none for a role that may take none).
async fn offered(
    req: &HttpRequest,
    session: &Session,
    id: &str,
) -> Result<Vec<&'static Transition>, ConsoleError> {
    let (actor, rid, id) = (session.actor.clone(), request_id(req).await?, id.to_owned());
    let offered = store(req)?
        .run(move |c| app::available_actions(c, &actor, rid, &id))
        .await;
    match offered {
        Ok((_, transitions)) => Ok(transitions),
        Err(AppError::RoleNotAllowed) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// A form for each action the chair may take now; a meeting is chosen from the chair's
/// panels' meetings to come, not typed.
async fn action_forms(
    req: &HttpRequest,
    session: &Session,
    contract: &Contract,
    id: &str,
    failure: &Failure,
) -> Result<Vec<ActionForm>, ConsoleError> {
    let offered = offered(req, session, id).await?;
    let mut known = forms::Known::new();
    let needs_meeting = offered.iter().any(|t| {
        forms::names(&contract.action_fields(t.action))
            .iter()
            .any(|n| n == "meeting_id")
    });
    if needs_meeting {
        known.insert("meeting_id".into(), meetings_to_come(req, session).await?);
    }
    Ok(offered
        .into_iter()
        .map(|t| {
            let name = t.action.as_str();
            let (form, errors) = failure.of(name);
            let drawn = forms::draw(
                name,
                &contract.action_fields(t.action),
                &form,
                &errors,
                &known,
            );
            ActionForm {
                name,
                title: humanise(name),
                next_states: t.to.to_vec(),
                items: drawn.items,
                summary: drawn.summary,
                failed: failure.form_of == name,
            }
        })
        .collect())
}

fn note_form(contract: &Contract, failure: &Failure) -> NoteForm {
    let (form, errors) = failure.of("note");
    let drawn = forms::draw(
        "note",
        &contract.note_fields(),
        &form,
        &errors,
        &forms::Known::new(),
    );
    NoteForm {
        items: drawn.items,
        summary: drawn.summary,
        failed: failure.form_of == "note",
    }
}

/// The case as `GET /v1/cases/{id}` answers it, and its history as
/// `GET /v1/cases/{id}/history` does (none for a role that sees none).
async fn case_and_history(
    req: &HttpRequest,
    session: &Session,
    id: &str,
) -> Result<(CaseBody, Value), ConsoleError> {
    let store = store(req)?;
    let (actor, rid, case_id) = (session.actor.clone(), request_id(req).await?, id.to_owned());
    let detail = store
        .run(move |c| app::read_case(c, &actor, rid, &case_id))
        .await?;
    let case = case_body(detail)?;
    let (actor, rid, case_id) = (session.actor.clone(), request_id(req).await?, id.to_owned());
    let history = store
        .run(move |c| app::case_history(c, &actor, rid, &case_id))
        .await
        .map(|(_, events)| events.into_iter().map(history_entry).collect::<Vec<_>>());
    let history = match history {
        Ok(entries) => json!(entries),
        Err(_) => json!([]),
    };
    Ok((case, history))
}

/// Draws the case page; `failure` puts a refused form back with its errors.
async fn case_page(
    req: &HttpRequest,
    session: &Session,
    id: &str,
    status: StatusCode,
    failure: Failure,
) -> Answer {
    let contract = contract(req)?;
    let (case, history) = case_and_history(req, session, id).await?;
    let mut actions = Vec::new();
    if session.actor.has(Role::ChannelChair) {
        actions = action_forms(req, session, &contract, id, &failure).await?;
    }
    let note = session
        .actor
        .has(Role::PanelMember)
        .then(|| note_form(&contract, &failure));
    let summary: Vec<&SummaryEntry> = actions
        .iter()
        .flat_map(|a| &a.summary)
        .chain(note.iter().flat_map(|n| &n.summary))
        .collect();
    let reference = match &case {
        CaseBody::Full(full) => full.reference.clone(),
        CaseBody::Referrer(referrer) => referrer.reference.clone(),
    };
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
            "done": query(req).get("done").map(humanise),
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
    let id = path_id(&req)?;
    case_page(&req, &session, &id, StatusCode::OK, Failure::default()).await
}

/// `POST /console/cases/{id}/actions/{action}`: the action's form, as the body of the
/// same use case as `POST /v1/cases/{id}/actions/{action}`, with the page's version as
/// `If-Match`.
pub async fn perform(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair]).await?;
    let form = Form::parse(&body);
    csrf::check(&req, &session, &form)?;
    let id = path_id(&req)?;
    let action = req
        .match_info()
        .get("action")
        .and_then(Action::parse)
        .ok_or(ConsoleError::NotFound)?;
    let version = form
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| ConsoleError::BadRequest("The form did not say which version of the case it was made from. Reload the case and try again.".into()))?;
    let contract = contract(&req)?;
    let command = contract.command_of(
        action,
        forms::body_of(&contract.action_fields(action), &form),
    );
    let policy = **super::data::<crate::domain::due::DuePolicy>(&req)?;
    let retention = **super::data::<crate::domain::retention::RetentionPolicy>(&req)?;
    let (actor, rid, case_id) = (session.actor.clone(), request_id(&req).await?, id.clone());
    let done = store(&req)?
        .run(move |c| -> Result<Result<(), AppError>, AppError> {
            match app::perform_action(
                c, &actor, rid, &case_id, action, version, command, &policy, &retention,
            ) {
                Ok(_) => Ok(Ok(())),
                Err(AppError::Store(e)) => Err(AppError::Store(e)),
                Err(refused) => Ok(Err(refused)),
            }
        })
        .await?;
    let refused = match done {
        Ok(()) => {
            tracing::info!(case.id = %id, action = %action, "action performed from the console");
            return Ok(redirect(&format!("/console/cases/{id}?done={action}")));
        }
        Err(refused) => refused,
    };
    let (status, errors, message, stale) = match refused {
        AppError::VersionMismatch { .. } => (StatusCode::CONFLICT, Vec::new(), None, true),
        AppError::Validation(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors, None, false),
        AppError::InvalidTransition { .. } => {
            let message = format!(
                "{} is not possible for this case now.",
                humanise(action.as_str())
            );
            (StatusCode::CONFLICT, Vec::new(), Some(message), false)
        }
        other => return Err(other.into()),
    };
    let failure = Failure {
        form_of: action.as_str().to_owned(),
        form,
        errors,
        message,
        stale,
    };
    case_page(&req, &session, &id, status, failure).await
}

/// `POST /console/cases/{id}/notes`: the same use case as `POST /v1/cases/{id}/notes`.
pub async fn add_note(req: HttpRequest, body: web::Bytes) -> Answer {
    let session = session::require(&req, &[Role::PanelMember]).await?;
    let form = Form::parse(&body);
    csrf::check(&req, &session, &form)?;
    let id = path_id(&req)?;
    let contract = contract(&req)?;
    let text = contract.note_of(forms::body_of(&contract.note_fields(), &form));
    let (actor, rid, case_id) = (session.actor.clone(), request_id(&req).await?, id.clone());
    let added = store(&req)?
        .run(move |c| app::add_note(c, &actor, rid, &case_id, text))
        .await;
    match added {
        Ok(_) => Ok(redirect(&format!("/console/cases/{id}?done=note_added"))),
        Err(AppError::Validation(errors)) => {
            let failure = Failure {
                form_of: "note".into(),
                form,
                errors,
                ..Failure::default()
            };
            case_page(
                &req,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                failure,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
