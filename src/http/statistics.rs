//! `GET /v1/stats`, as JSON or as CSV.

use actix_web::http::header::{self, Header as _};
use actix_web::web::{self};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use tracing_actix_web::RequestId;

use crate::app::statistics::{self as app, Asked};
use crate::domain::Actor;
use crate::domain::statistics::{Statistics, StatisticsPolicy, to_csv};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::store::Store;

/// The period counted, and the form of the answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// A published period: a financial year, `2026-27` (1 April 2026 to 31 March 2027),
    /// or a quarter of one, `2026-27-Q1` (April to June) to `2026-27-Q4` (January to
    /// March 2027). Not with `from` or `to`. Without any of the three: the current
    /// financial year.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}(-Q[1-4])?$", example = "2026-27-Q3")]
    pub period: Option<String>,
    /// First day (default: 1 April before `to`). Except for a national auditor, `from`
    /// and `to` must bound exactly a published period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (default: today).
    pub to: Option<NaiveDate>,
    /// `json` or `csv`. Without it, `Accept: text/csv` asks for CSV; with it, the
    /// parameter wins over `Accept`.
    #[param(inline)]
    pub format: Option<StatsFormat>,
}

impl StatsQuery {
    /// What is asked: see [`crate::present::statistics::asked`].
    fn asked(&self, today: NaiveDate) -> Result<Asked, ApiError> {
        Ok(crate::present::statistics::asked(
            self.period.as_deref(),
            self.from,
            self.to,
            today,
        )?)
    }
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
/// and the journey from referral to panel to adoption, of the referrals filed in a period
/// (each counted in the period it was filed in, whatever has become of it since: a case
/// transferred to Pursue too, so that no total drops when one is).
///
/// Periods: everyone but a national auditor is shown published periods only, a financial
/// year (`period=2026-27`, 1 April to 31 March) or a quarter of one (`period=2026-27-Q3`;
/// Q1 is April to June, Q4 January to March), because two overlapping custom ranges,
/// subtracted, would give back a withheld count. `from` and `to` are accepted from them
/// when they bound exactly such a period; any other range is 422 `unpublished_period`,
/// whose `detail` names the periods around `from`. With no parameters, the current
/// financial year: a period in progress is shown, and its counts grow as referrals
/// arrive. A national auditor may ask any range of days with `from` and `to`. `period`
/// with `from` or `to` is 422 `period_with_dates` on `period`, a `period` that is not one
/// 422 `invalid_period`; `from` must not be after `to` (422 `after_to` on `from`): rules
/// between parameters, or between a value and the calendar, which their schemas cannot
/// state. `period` in the answer names the published period counted (`null` for a
/// national auditor's other ranges).
///
/// Small counts are withheld from everyone but a national auditor: a count from 1 to
/// `suppression.threshold - 1` (default 5, so 1 to 4) is `{"suppressed": true}` in JSON
/// and `[c]` in CSV; 0 is shown. Where a breakdown's total is shown, its next-smallest
/// cell is withheld as well (secondary suppression), so that no withheld count can be
/// worked out by subtraction. A year is the sum of its quarters, so a year and its four
/// quarters are suppressed together, whichever is asked: no count withheld in one of them
/// is the year less the other quarters. `suppression` says what applied.
///
/// `?format=csv` (or `Accept: text/csv`) gives the same figures as CSV (RFC 4180, CRLF
/// line ends) with the header row `from,to,area,breakdown,category,count,suppression_threshold`
/// and one row a count, as a download named `pathway-statistics-FROM-TO.csv`.
#[utoipa::path(get, path = "/v1/stats", tag = "statistics", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "The breakdowns, as JSON or (`format=csv` or `Accept: text/csv`) CSV",
            content(
                (Statistics = "application/json"),
                (String = "text/csv", example = "from,to,area,breakdown,category,count,suppression_threshold\r\n2026-04-01,2027-03-31,E08000035,journey,referred,12,5\r\n2026-04-01,2027-03-31,E08000035,by_sector,health,[c],5\r\n")),
            headers(("Content-Disposition" = String, description = "CSV only: `attachment; filename=\"pathway-statistics-FROM-TO.csv\"`"))),
        (status = 400, description = "`invalid_query`: a parameter is not valid, e.g. `format` other than `json` or `csv`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: not an auditor or Channel chair", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unpublished_period`: not a national auditor, and `from` and `to` bound no published period; `validation_failed`: `from` is after `to` (`after_to`), `period` is not one (`invalid_period`) or comes with dates (`period_with_dates`)", body = Problem, content_type = "application/problem+json")))]
pub async fn statistics(
    actor: Actor,
    request_id: RequestId,
    req: HttpRequest,
    query: params::Query<StatsQuery>,
    store: web::Data<Store>,
    policy: web::Data<StatisticsPolicy>,
) -> Result<HttpResponse, ApiError> {
    let format = StatsFormat::chosen(query.format, &req);
    let asked = query.asked(Utc::now().date_naive())?;
    let rid = Some(request_id.to_string());
    let policy = **policy;
    let stats = store
        .run(move |c| app::statistics(c, &actor, rid, policy, asked))
        .await?;
    let (from, to) = (stats.from, stats.to);
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
