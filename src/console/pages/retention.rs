//! The retention reviews due, for records officers.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde_json::json;

use super::{Answer, context, query, request_id, store};
use crate::app::AppError;
use crate::console::render::{page, redirect};
use crate::console::session;
use crate::domain::Role;
use crate::present::retention::due_page;

/// Cases a page.
const PAGE_SIZE: i64 = 50;

/// `GET /console/retention`: the reviews due, as `GET /v1/retention/due` lists them.
pub async fn retention(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::RecordsOfficer]).await?;
    let q = query(&req);
    let (actor, rid) = (session.actor.clone(), request_id(&req).await?);
    let due = match due_page(&*store(&req)?, actor, rid, Some(PAGE_SIZE), q.get("cursor")).await {
        Ok(due) => due,
        Err(AppError::Validation(_)) => return Ok(redirect("/console/retention")),
        Err(e) => return Err(e.into()),
    };
    let next = due.next_cursor.as_deref().map(|c| {
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
