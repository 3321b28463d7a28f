//! `GET /v1/stats`.

use actix_web::web::{self, Json};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;

use crate::app::statistics as app;
use crate::domain::Actor;
use crate::domain::FieldError;
use crate::domain::statistics::{Statistics, year_start};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::store::Store;

/// The period counted.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (default: 1 April of the current statistical year).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<NaiveDate>,
}

/// The official-statistics breakdowns: sector, type of concern, age band, gender, area,
/// and the journey from referral to panel to adoption.
///
/// `from` must not be after `to` (422 `after_to` on `from`): a rule between two
/// parameters, which their schemas cannot state.
#[utoipa::path(get, path = "/v1/stats", tag = "statistics", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The breakdowns", body = Statistics),
        (status = 403, description = "`role_not_allowed`: not an auditor or Channel chair", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`after_to`: `from` is after `to`", body = Problem, content_type = "application/problem+json")))]
pub async fn statistics(
    actor: Actor,
    request_id: RequestId,
    query: params::Query<StatsQuery>,
    store: web::Data<Store>,
) -> Result<Json<Statistics>, ApiError> {
    let today = Utc::now().date_naive();
    let to = query.to.unwrap_or(today);
    let from = query.from.unwrap_or_else(|| year_start(to));
    if from > to {
        return Err(ApiError::Validation(vec![FieldError::query(
            "from",
            "after_to",
            "from must not be after to",
        )]));
    }
    let rid = Some(request_id.to_string());
    let stats = store
        .run(move |c| app::statistics(c, &actor, rid, from, to))
        .await?;
    Ok(Json(stats))
}
