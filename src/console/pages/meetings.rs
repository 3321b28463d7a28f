//! The meetings of a chair's panels, or of a member's cases, and a meeting's agenda.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::cases::case_list;
use super::{Answer, chair_panels, context, path_id, request_id, store};
use crate::app::panels as app;
use crate::console::ConsoleError;
use crate::console::render::page;
use crate::console::session::{self, Session};
use crate::domain::Role;
use crate::present::cases::{CaseBody, CaseListItem};
use crate::present::panels::{Meeting, meeting_with_agenda};

/// A panel's meetings, as the meetings page lists them.
#[derive(Serialize)]
struct Listed {
    name: String,
    meetings: Vec<Meeting>,
}

/// A member's meetings: those of the cases on their panels' agendas, each case read as
/// the API reads it.
async fn member_meetings(req: &HttpRequest, session: &Session) -> Result<Listed, ConsoleError> {
    let store = store(req)?;
    let mut meetings: Vec<Meeting> = Vec::new();
    for item in case_list(req, session, None, false).await?.items {
        let id = match item {
            CaseListItem::Full(summary) => summary.id,
            CaseListItem::Referrer(referrer) => referrer.id,
        };
        let (actor, rid) = (session.actor.clone(), request_id(req).await?);
        let detail = store
            .run(move |c| crate::app::cases::read_case(c, &actor, rid, &id))
            .await?;
        if let CaseBody::Full(case) = crate::present::cases::case_body(detail)? {
            for m in case.meetings {
                if !meetings.iter().any(|k| k.id == m.id) {
                    meetings.push(m);
                }
            }
        }
    }
    meetings.sort_by_key(|m| m.scheduled_for);
    Ok(Listed {
        name: "Your panels".into(),
        meetings,
    })
}

/// `GET /console/meetings`.
pub async fn meetings(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair, Role::PanelMember]).await?;
    let panels = if session.actor.has(Role::ChannelChair) {
        chair_panels(&req, &session)
            .await?
            .into_iter()
            .map(|p| Listed {
                name: p.name,
                meetings: p.meetings,
            })
            .collect()
    } else {
        vec![member_meetings(&req, &session).await?]
    };
    let ctx = context(
        &session,
        "Meetings",
        "/console/meetings",
        json!({"panels": panels}),
    );
    page(StatusCode::OK, "meetings.html", &ctx)
}

/// `GET /console/meetings/{id}`: the meeting as `GET /v1/meetings/{id}` answers it.
pub async fn meeting(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::ChannelChair, Role::PanelMember]).await?;
    let (actor, rid, id) = (
        session.actor.clone(),
        request_id(&req).await?,
        path_id(&req)?,
    );
    let (m, p, agenda) = store(&req)?
        .run(move |c| app::read_meeting(c, &actor, rid, &id))
        .await?;
    let ctx = context(
        &session,
        "Meeting",
        "/console/meetings",
        json!({"meeting": meeting_with_agenda(m, p, agenda)}),
    );
    page(StatusCode::OK, "meeting.html", &ctx)
}
