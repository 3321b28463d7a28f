//! The console's pages, a module per area. Each calls the same use cases as the JSON
//! API's handlers (with the same actor, so the same audit entries and the same
//! need-to-know) and draws the same answers ([`crate::present`]).

mod audit;
mod cases;
mod meetings;
mod retention;
mod sign_in;
mod statistics;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use tracing_actix_web::RequestId;

pub use audit::{audit, verify};
pub use cases::{add_note, case, cases, perform};
pub use meetings::{meeting, meetings};
pub use retention::retention;
pub use sign_in::{sign_in, sign_in_form, sign_out};
pub use statistics::{statistics, statistics_csv};

use super::csrf::{self, Form};
use super::forms::Contract;
use super::render::{humanise, page};
use super::session::{self, Session};
use super::{ConsoleError, ConsoleState};
use crate::domain::Role;
use crate::store::Store;

type Answer = Result<HttpResponse, ConsoleError>;

/// Something start-up registered, as `web::Data`.
fn data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, ConsoleError> {
    req.app_data::<web::Data<T>>()
        .cloned()
        .ok_or(ConsoleError::Internal)
}

fn store(req: &HttpRequest) -> Result<web::Data<Store>, ConsoleError> {
    data::<Store>(req)
}

fn state(req: &HttpRequest) -> Result<web::Data<ConsoleState>, ConsoleError> {
    data::<ConsoleState>(req)
}

fn contract(req: &HttpRequest) -> Result<web::Data<Contract>, ConsoleError> {
    data::<Contract>(req)
}

/// The request's id, as the audit entries of what it does record it.
async fn request_id(req: &HttpRequest) -> Result<Option<String>, ConsoleError> {
    RequestId::extract(req)
        .await
        .map(|id| Some(id.to_string()))
        .map_err(|_| ConsoleError::Internal)
}

fn query(req: &HttpRequest) -> Form {
    Form::parse(req.query_string().as_bytes())
}

/// The path's `{id}`: anything but a UUID names nothing.
fn path_id(req: &HttpRequest) -> Result<String, ConsoleError> {
    let text = req.match_info().get("id").unwrap_or_default();
    uuid::Uuid::parse_str(text)
        .map(|id| id.to_string())
        .map_err(|_| ConsoleError::NotFound)
}

/// A link of the navigation and the start page.
#[derive(Debug, Clone, Serialize)]
struct Link {
    href: &'static str,
    text: &'static str,
    description: &'static str,
    active: bool,
}

/// The links of the navigation and the start page, by role.
fn links(session: &Session) -> Vec<Link> {
    let actor = &session.actor;
    let offered: [(Role, &str, &str, &str); 8] = [
        (
            Role::ChannelChair,
            "/console/cases",
            "Cases",
            "Cases awaiting panel, listed, in support and overdue, with their due dates.",
        ),
        (
            Role::ChannelChair,
            "/console/meetings",
            "Meetings",
            "Your panels' meetings and their agendas.",
        ),
        (
            Role::PanelMember,
            "/console/cases",
            "Cases",
            "The cases on your panels' agendas, and your agency's notes.",
        ),
        (
            Role::PanelMember,
            "/console/meetings",
            "Meetings",
            "The meetings of your panels.",
        ),
        (
            Role::Auditor,
            "/console/audit",
            "Audit log",
            "Search the audit log by case, person, action and date.",
        ),
        (
            Role::Auditor,
            "/console/audit/verify",
            "Audit verification",
            "Check that the audit log is complete and unaltered.",
        ),
        (
            Role::Auditor,
            "/console/statistics",
            "Statistics",
            "The official statistics, as tables and charts.",
        ),
        (
            Role::RecordsOfficer,
            "/console/retention",
            "Retention reviews",
            "Cases whose retention review is due.",
        ),
    ];
    let mut out: Vec<Link> = Vec::new();
    for (role, href, text, description) in offered {
        if actor.has(role) && !out.iter().any(|l| l.href == href) {
            out.push(Link {
                href,
                text,
                description,
                active: false,
            });
        }
    }
    out
}

/// The context every signed-in page has, with `extra` merged in.
fn context(session: &Session, title: &str, current: &str, extra: Value) -> Value {
    let nav: Vec<Link> = links(session)
        .into_iter()
        .map(|l| Link {
            active: l.href == current,
            ..l
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

/// The panels a chair manages, each with its meetings, as `GET /v1/panels/{id}` answers
/// them (reading panels writes nothing, not even an audit entry).
async fn chair_panels(
    req: &HttpRequest,
    session: &Session,
) -> Result<Vec<crate::present::panels::Panel>, ConsoleError> {
    let store = store(req)?;
    let actor = session.actor.clone();
    let rows = store
        .read(move |c| crate::app::panels::list_panels(c, &actor))
        .await?;
    let mut panels = Vec::with_capacity(rows.len());
    for row in rows {
        let actor = session.actor.clone();
        let (p, members, meetings) = store
            .read(move |c| crate::app::panels::read_panel(c, &actor, &row.id))
            .await?;
        panels.push(crate::present::panels::panel(p, members, meetings));
    }
    Ok(panels)
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

/// A refused field of a search form: beside its field and in the summary.
#[derive(Debug, Clone, Serialize)]
struct Refusal {
    #[serde(skip)]
    field: String,
    message: String,
    href: String,
}

impl Refusal {
    fn new(field: &str, href: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            field: field.to_owned(),
            href: href.to_owned(),
            message: message.into(),
        }
    }
}

/// The first message for each field, as the templates show it beside the field.
fn field_errors(refusals: &[Refusal]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for r in refusals {
        out.entry(r.field.clone())
            .or_insert_with(|| Value::String(r.message.clone()));
    }
    out
}
