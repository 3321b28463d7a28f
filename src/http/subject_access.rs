//! `POST /v1/subject-access`.

use actix_web::web::{self, Json};
use tracing_actix_web::RequestId;

use crate::app::AppError;
use crate::app::subject_access::{self as app, SubjectAccessExport};
use crate::domain::Actor;
use crate::domain::subject_access::{SubjectAccessRequest, SubjectQuery};
use crate::http::json::{JsonBody, from_value};
use crate::http::problem::{ApiError, Problem};
use crate::store::Store;

/// Everything held on one person across their linked cases: referral details, history,
/// decisions, notes, consent, onward referrals, notifications sent and who accessed the
/// records, each case as the caller is shown it everywhere else. For the area's records
/// officer, police-only material is included, marked `"exemption_review": true`; an
/// auditor's export holds none of it. For an auditor or records officer of the area (a
/// national auditor: every area); audited.
///
/// The request names a case (`case_id`) or a person (names and a date of birth), not both:
/// both is 422 `ambiguous_subject` on `case_id`; neither, or a person without both names
/// and a date of birth, is 422 `missing_field` on the first field missing.
#[utoipa::path(post, path = "/v1/subject-access", tag = "subject access", security(("bearer" = [])),
    request_body = SubjectAccessRequest,
    responses(
        (status = 200, description = "The export (no cases when nothing is held in the caller's areas)", body = SubjectAccessExport),
        (status = 403, description = "`role_not_allowed`: not an auditor or records officer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the case named by `case_id` does not exist or is not one the caller may see", body = Problem, content_type = "application/problem+json")))]
pub async fn subject_access(
    actor: Actor,
    request_id: RequestId,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<Json<SubjectAccessExport>, ApiError> {
    // Parsed first, answered after the role check: a caller who may not export is
    // refused whatever the body says.
    let query = match from_value::<SubjectAccessRequest>(body.0) {
        Ok(request) => SubjectQuery::try_from(request).map_err(AppError::Validation),
        Err(ApiError::Validation(errors)) => Err(AppError::Validation(errors)),
        Err(other) => return Err(other),
    };
    let rid = Some(request_id.to_string());
    let export = store
        .run(move |c| app::export(c, &actor, rid, query))
        .await?;
    tracing::info!(cases = export.cases.len(), "subject access export");
    Ok(Json(export))
}
