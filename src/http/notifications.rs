//! `/v1/directory` and `/v1/notifications`, for admins.

use actix_web::HttpResponse;
use actix_web::web::{self, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;

use crate::app::notifications as app;
use crate::domain::referral::Email;
use crate::domain::{Actor, FieldError};
use crate::http::json::{JsonBody, checked_later};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::present::page::{Page, PageQuery, split_page};
use crate::store::Store;

/// A team mailbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    /// Id.
    pub id: String,
    /// Area.
    pub area: String,
    /// `prevent_team` or `channel_chair`.
    pub role: String,
    /// The mailbox.
    pub mailbox: String,
}

/// `POST /v1/directory`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "prevent_team", "mailbox": "prevent@police.example"}))]
pub struct DirectoryBody {
    /// Which team's mailbox this is.
    #[schema(value_type = DirectoryRole)]
    pub role: String,
    /// The mailbox.
    #[schema(format = Email, max_length = 254)]
    pub mailbox: String,
}

/// The teams a directory names (`app::notifications` checks the role against these).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryRole {
    /// The police Prevent team, told of new referrals.
    PreventTeam,
    /// The Channel chair, told of cases referred to Channel.
    ChannelChair,
    /// The records officer, told of retention reviews due.
    RecordsOfficer,
}

/// The directory of your area.
#[utoipa::path(get, path = "/v1/directory", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "Mailboxes", body = Vec<DirectoryEntry>),
        (status = 403, description = "`role_not_allowed`: not an admin", body = Problem, content_type = "application/problem+json")))]
pub async fn directory(
    actor: Actor,
    store: web::Data<Store>,
) -> Result<Json<Vec<DirectoryEntry>>, ApiError> {
    // Writes nothing, not even an audit entry: a reader may answer it.
    let rows = store.read(move |c| app::directory(c, &actor)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| DirectoryEntry {
                id: r.id,
                area: r.area,
                role: r.role,
                mailbox: r.mailbox,
            })
            .collect(),
    ))
}

/// Add a team mailbox to your area's directory.
#[utoipa::path(post, path = "/v1/directory", tag = "notifications", security(("bearer" = [])), request_body = DirectoryBody,
    responses((status = 201, description = "Added", body = DirectoryEntry),
        (status = 403, description = "`role_not_allowed`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn add_mailbox(
    actor: Actor,
    request_id: RequestId,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let entry = checked_later(body.0, |b: DirectoryBody| match Email::parse(&b.mailbox) {
        Ok(mailbox) => Ok((b.role, mailbox.as_str().to_owned())),
        Err(_) => Err(vec![FieldError::new(
            "mailbox",
            "invalid_email",
            "not an email address",
        )]),
    })?;
    let rid = Some(request_id.to_string());
    let row = store
        .run(move |c| app::add_mailbox(c, &actor, rid, entry))
        .await?;
    Ok(HttpResponse::Created().json(DirectoryEntry {
        id: row.id,
        area: row.area,
        role: row.role,
        mailbox: row.mailbox,
    }))
}

/// Remove a mailbox from your area's directory.
#[utoipa::path(delete, path = "/v1/directory/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Entry id")),
    responses((status = 204, description = "Removed"),
        (status = 403, description = "`role_not_allowed`: not an admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such entry in your area", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_mailbox(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (id, rid) = (id.to_string(), Some(request_id.to_string()));
    store
        .run(move |c| app::remove_mailbox(c, &actor, rid, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A notification, as admins see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// Id.
    pub id: String,
    /// What it tells.
    pub kind: String,
    /// The case.
    pub case_id: Option<String>,
    /// The recipient.
    pub recipient: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// `Message-ID`.
    pub message_id: String,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The states of a notification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Waiting to be sent.
    Pending,
    /// Claimed by a worker.
    Sending,
    /// Accepted by the relay.
    Sent,
    /// Given up after the retries.
    Failed,
}

/// Filters of the notification list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Only this status.
    #[param(value_type = Option<NotificationStatus>)]
    pub status: Option<String>,
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// Notifications, e.g. `?status=failed`.
/// Only the caller's area's notifications are listed; each listing is audited.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", operation_id = "list_notifications", params(NotificationQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of notifications", body = Page<Notification>),
        (status = 403, description = "`role_not_allowed`: not an admin", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    actor: Actor,
    request_id: RequestId,
    query: params::Query<NotificationQuery>,
    store: web::Data<Store>,
) -> Result<Json<Page<Notification>>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery::limit_of(q.limit)?;
    if q.status
        .as_deref()
        .is_some_and(|s| !["pending", "sending", "sent", "failed"].contains(&s))
    {
        return Err(ApiError::BadParameters {
            code: "invalid_query",
            detail: "1 query parameter(s) are not valid; see `errors`.".into(),
            errors: vec![FieldError::query(
                "status",
                "invalid_value",
                "status must be one of: pending, sending, sent, failed",
            )],
        });
    }
    let after = q.cursor.filter(|c| uuid::Uuid::parse_str(c).is_ok());
    let rid = Some(request_id.to_string());
    let mut rows = store
        .run(move |c| {
            app::list(
                c,
                &actor,
                rid,
                q.status.as_deref(),
                after.as_deref(),
                limit + 1,
            )
        })
        .await?;
    let next_cursor = split_page(&mut rows, limit, |r| r.id.clone());
    let items = rows
        .into_iter()
        .map(|r| Notification {
            id: r.id,
            kind: r.kind,
            case_id: r.case_id,
            recipient: r.recipient,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            message_id: r.message_id,
            created_at: r.created_at.and_utc(),
            sent_at: r.sent_at.map(|t| t.and_utc()),
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

/// Put a failed notification back in the queue.
#[utoipa::path(post, path = "/v1/notifications/{id}/retry", tag = "notifications", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Notification id")),
    responses((status = 202, description = "Queued again"),
        (status = 403, description = "`role_not_allowed`: not an admin", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No failed notification of your area with that id", body = Problem, content_type = "application/problem+json")))]
pub async fn retry(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (id, rid) = (id.to_string(), Some(request_id.to_string()));
    store.run(move |c| app::retry(c, &actor, rid, &id)).await?;
    Ok(HttpResponse::Accepted().finish())
}
