//! `GET /v1/retention/due` and `POST /v1/cases/{id}/retention`: thin handlers over
//! `app::retention`.

use actix_web::web::{self, Json};
use chrono::Utc;
use serde::Deserialize;
use tracing_actix_web::RequestId;

use crate::app::AppError;
use crate::app::retention as app;
use crate::domain::Actor;
use crate::domain::access::View;
use crate::domain::retention::RetentionBody;
use crate::http::json::{JsonBody, from_value};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::present::page::Page;
use crate::present::retention::{RetentionItem, RetentionOutcome, due_page, item};
use crate::store::Store;

/// Paging of the review list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page of this list, passed back unchanged
    /// (base64url). Any other value is 422 `invalid_cursor`; empty is the first page.
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Cases whose retention review date has passed: for auditors (of their area, or every
/// area when national; each case as they are shown it everywhere, so a transfer to
/// Pursue as a police-led closure) and the area's records officer (police-only cases
/// marked for exemption review). Every read is audited.
///
/// Pages: `cursor` is the `next_cursor` this list answered, unchanged. The server issued it
/// and decodes it; a value it did not issue is 422 `invalid_cursor`, even when it matches
/// the parameter's pattern.
#[utoipa::path(get, path = "/v1/retention/due", tag = "retention", params(DueQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of cases due for review, oldest review first", body = Page<RetentionItem>),
        (status = 403, description = "`role_not_allowed`: not an auditor or records officer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json")))]
pub async fn due(
    actor: Actor,
    request_id: RequestId,
    query: params::Query<DueQuery>,
    store: web::Data<Store>,
) -> Result<Json<Page<RetentionItem>>, ApiError> {
    let q = query.into_inner();
    let r = Some(request_id.to_string());
    Ok(Json(
        due_page(&store, actor, r, q.limit, q.cursor.as_deref()).await?,
    ))
}

/// Records a retention decision: `retain` (a reason code, a justification and the next
/// review), `hold` or `release` (a legal hold, with a reason), or `erase` (this case's
/// personal data and that of its linked cases). Only the records officer of the case's
/// area may; retain and erase only once the case is due for review.
#[utoipa::path(post, path = "/v1/cases/{id}/retention", tag = "retention", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Case id")), request_body = RetentionBody,
    responses(
        (status = 200, description = "Recorded", body = RetentionOutcome),
        (status = 403, description = "`role_not_allowed`: not the records officer of the case's area", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_due`, `legal_hold`, `linked_cases_not_due`, `not_linked`, `already_held`, `not_held` or `already_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn decide(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<Json<RetentionOutcome>, ApiError> {
    let today = Utc::now().date_naive();
    let command = match from_value::<RetentionBody>(body.0) {
        Ok(b) => b.decide(today).map_err(AppError::Validation),
        Err(ApiError::Validation(errors)) => Err(AppError::Validation(errors)),
        Err(other) => return Err(other),
    };
    let (id, r) = (id.to_string(), Some(request_id.to_string()));
    let decided = store
        .run(move |c| app::decide(c, &actor, r, &id, command))
        .await?;
    tracing::info!(case.id = %decided.case.id, erased = decided.erased.len(), "retention decision recorded");
    Ok(Json(RetentionOutcome {
        // Only the area's records officer decides.
        case: item(&decided.case, View::Records),
        erased_case_ids: decided.erased,
    }))
}
