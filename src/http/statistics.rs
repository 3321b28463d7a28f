//! `GET /v1/stats`, as JSON or as CSV.

use actix_web::http::header::{self, Header as _};
use actix_web::web::{self};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;

use crate::app::statistics as app;
use crate::domain::Actor;
use crate::domain::FieldError;
use crate::domain::statistics::{Statistics, StatisticsPolicy, to_csv, year_start};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::store::Store;

/// The period counted, and the form of the answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (default: 1 April of the current statistical year).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<NaiveDate>,
    /// `json` or `csv`. Without it, `Accept: text/csv` asks for CSV; with it, the
    /// parameter wins over `Accept`.
    #[param(inline)]
    pub format: Option<StatsFormat>,
}

/// The form of the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatsFormat {
    /// `application/json`: the [`Statistics`] object.
    Json,
    /// `text/csv`: one row a count.
    Csv,
}

impl StatsFormat {
    /// The form asked for: the `format` parameter, else the first of `Accept`'s ranked
    /// media types that names JSON or CSV (JSON when none does).
    fn chosen(format: Option<StatsFormat>, req: &HttpRequest) -> StatsFormat {
        if let Some(format) = format {
            return format;
        }
        let Ok(accept) = header::Accept::parse(req) else {
            return StatsFormat::Json;
        };
        for mime in accept.ranked() {
            match (mime.type_().as_str(), mime.subtype().as_str()) {
                ("text", "csv") => return StatsFormat::Csv,
                ("application", "json") | ("application", "*") | ("*", "*") => {
                    return StatsFormat::Json;
                }
                _ => {}
            }
        }
        StatsFormat::Json
    }
}

/// The official-statistics breakdowns: sector, type of concern, age band, gender, area,
/// and the journey from referral to panel to adoption.
///
/// `from` must not be after `to` (422 `after_to` on `from`): a rule between two
/// parameters, which their schemas cannot state.
///
/// Small counts are withheld from everyone but a national auditor: a count from 1 to
/// `suppression.threshold - 1` (default 5, so 1 to 4) is `{"suppressed": true}` in JSON
/// and `[c]` in CSV; 0 is shown. Where a breakdown's total is shown, its next-smallest
/// cell is withheld as well (secondary suppression), so that no withheld count can be
/// worked out by subtraction. `suppression` says what applied.
///
/// `?format=csv` (or `Accept: text/csv`) gives the same figures as CSV (RFC 4180, CRLF
/// line ends) with the header row `from,to,area,breakdown,category,count,suppression_threshold`
/// and one row a count, as a download named `pathway-statistics-FROM-TO.csv`.
#[utoipa::path(get, path = "/v1/stats", tag = "statistics", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The breakdowns, as JSON or (`format=csv` or `Accept: text/csv`) CSV",
            content(
                (Statistics = "application/json"),
                (String = "text/csv", example = "from,to,area,breakdown,category,count,suppression_threshold\r\n2026-04-01,2026-11-23,E08000035,journey,referred,12,5\r\n2026-04-01,2026-11-23,E08000035,by_sector,health,[c],5\r\n")),
            headers(("Content-Disposition" = String, description = "CSV only: `attachment; filename=\"pathway-statistics-FROM-TO.csv\"`"))),
        (status = 400, description = "`invalid_query`: a parameter is not valid, e.g. `format` other than `json` or `csv`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: not an auditor or Channel chair", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`after_to`: `from` is after `to`", body = Problem, content_type = "application/problem+json")))]
pub async fn statistics(
    actor: Actor,
    request_id: RequestId,
    req: HttpRequest,
    query: params::Query<StatsQuery>,
    store: web::Data<Store>,
    policy: web::Data<StatisticsPolicy>,
) -> Result<HttpResponse, ApiError> {
    let format = StatsFormat::chosen(query.format, &req);
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
    let policy = **policy;
    let stats = store
        .run(move |c| app::statistics(c, &actor, rid, policy, from, to))
        .await?;
    match format {
        StatsFormat::Json => Ok(HttpResponse::Ok()
            .insert_header((header::VARY, "Accept"))
            .json(stats)),
        StatsFormat::Csv => {
            let body = to_csv(&stats).map_err(ApiError::internal)?;
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((header::VARY, "Accept"))
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"pathway-statistics-{from}-{to}.csv\""),
                ))
                .body(body))
        }
    }
}
