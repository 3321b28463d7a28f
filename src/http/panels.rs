//! `/v1/panels`, `/v1/meetings`: thin handlers over `app::panels`.

use actix_web::web::{self, Json};
use actix_web::{HttpResponse, http::header};
use chrono::Utc;
use tracing_actix_web::RequestId;

use crate::app::panels as app;
use crate::domain::Actor;
use crate::domain::panel::{MeetingBody, MemberBody, PanelBody};
use crate::http::json::{JsonBody, checked_later};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::present::panels::{
    Meeting, MeetingWithAgenda, Member, Panel, meeting, meeting_with_agenda, member, panel,
};
use crate::store::Store;

/// Create a panel of your area.
#[utoipa::path(post, path = "/v1/panels", tag = "panels", security(("bearer" = [])), request_body = PanelBody,
    responses(
        (status = 201, description = "Created", body = Panel),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn create_panel(
    actor: Actor,
    request_id: RequestId,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let panel_body = checked_later(body.0, PanelBody::validate)?;
    let rid = Some(request_id.to_string());
    let (p, members) = store
        .run(move |c| app::create_panel(c, &actor, rid, panel_body))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/panels/{}", p.id)))
        .json(panel(p, members, vec![])))
}

/// The panels of your area.
#[utoipa::path(get, path = "/v1/panels", tag = "panels", security(("bearer" = [])),
    responses(
        (status = 200, description = "Panels", body = Vec<Panel>),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json")))]
pub async fn list_panels(
    actor: Actor,
    store: web::Data<Store>,
) -> Result<Json<Vec<Panel>>, ApiError> {
    // Writes nothing, not even an audit entry: a reader may answer it.
    let panels = store.read(move |c| app::list_panels(c, &actor)).await?;
    Ok(Json(
        panels
            .into_iter()
            .map(|p| panel(p, vec![], vec![]))
            .collect(),
    ))
}

/// A panel with its members and meetings.
#[utoipa::path(get, path = "/v1/panels/{id}", tag = "panels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Panel id")),
    responses(
        (status = 200, description = "The panel", body = Panel),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such panel in your area", body = Problem, content_type = "application/problem+json")))]
pub async fn read_panel(
    actor: Actor,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<Json<Panel>, ApiError> {
    let id = id.to_string();
    // Writes nothing, not even an audit entry: a reader may answer it.
    let (p, members, meetings) = store.read(move |c| app::read_panel(c, &actor, &id)).await?;
    Ok(Json(panel(p, members, meetings)))
}

/// Add a member to a panel.
#[utoipa::path(post, path = "/v1/panels/{id}/members", tag = "panels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Panel id")), request_body = MemberBody,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such panel in your area", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or already a member", body = Problem, content_type = "application/problem+json")))]
pub async fn add_member(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let new = checked_later(body.0, MemberBody::into_member)?;
    let (id, rid) = (id.to_string(), Some(request_id.to_string()));
    let row = store
        .run(move |c| app::add_member(c, &actor, rid, &id, new))
        .await?;
    Ok(HttpResponse::Created().json(member(row)))
}

/// Remove a member from a panel.
#[utoipa::path(delete, path = "/v1/panels/{id}/members/{member_id}", tag = "panels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Panel id"), ("member_id" = uuid::Uuid, Path, description = "Member id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such panel or member", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_member(
    actor: Actor,
    request_id: RequestId,
    path: params::Path<(uuid::Uuid, uuid::Uuid)>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (panel_id, member_id) = path.into_inner();
    let (panel_id, member_id, rid) = (
        panel_id.to_string(),
        member_id.to_string(),
        Some(request_id.to_string()),
    );
    store
        .run(move |c| app::remove_member(c, &actor, rid, &panel_id, &member_id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Schedule a meeting of a panel.
#[utoipa::path(post, path = "/v1/panels/{id}/meetings", tag = "panels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Panel id")), request_body = MeetingBody,
    responses(
        (status = 201, description = "Scheduled", body = Meeting),
        (status = 403, description = "`role_not_allowed`: not a Channel chair or admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such panel in your area", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn create_meeting(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let meeting_body = checked_later(body.0, |b: MeetingBody| {
        b.validate(Utc::now())
            .map(|(when, location)| (when.naive_utc(), location))
    })?;
    let (id, rid) = (id.to_string(), Some(request_id.to_string()));
    let row = store
        .run(move |c| app::create_meeting(c, &actor, rid, &id, meeting_body))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/meetings/{}", row.id)))
        .json(meeting(row)))
}

/// A meeting and its agenda.
#[utoipa::path(get, path = "/v1/meetings/{id}", tag = "panels", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Meeting id")),
    responses(
        (status = 200, description = "The meeting and its agenda", body = MeetingWithAgenda),
        (status = 404, description = "No such meeting, or not yours to see", body = Problem, content_type = "application/problem+json")))]
pub async fn read_meeting(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<Json<MeetingWithAgenda>, ApiError> {
    let (id, rid) = (id.to_string(), Some(request_id.to_string()));
    let (m, p, agenda) = store
        .run(move |c| app::read_meeting(c, &actor, rid, &id))
        .await?;
    Ok(Json(meeting_with_agenda(m, p, agenda)))
}
