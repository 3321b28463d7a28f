//! The official statistics, as tables and bar charts, and as a CSV download.

use std::collections::BTreeMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Answer, date_of, date_parts, query, request_id, store};
use crate::app::AppError;
use crate::console::ConsoleError;
use crate::console::render::{humanise, page, redirect};
use crate::console::session::{self, Session};
use crate::domain::Role;
use crate::domain::period::Period;
use crate::domain::statistics::{CSV_SUPPRESSED, Count, Statistics, StatisticsPolicy, to_csv};

/// A count as the statistics give it: a number, or withheld (shown as `[c]` like the
/// CSV and GOV.UK statistical tables, with no bar).
fn shown_count(count: &Count) -> (u64, String) {
    match count {
        Count::Shown(n) => (*n, n.to_string()),
        Count::Suppressed(_) => (0, CSV_SUPPRESSED.to_owned()),
    }
}

/// A bar of a chart.
#[derive(Serialize)]
struct Bar {
    label: String,
    count: String,
    y: u64,
    text_y: u64,
    width: u64,
    count_x: u64,
}

/// A breakdown as a table's rows and a bar chart's bars.
#[derive(Serialize)]
struct Chart {
    id: &'static str,
    caption: &'static str,
    bars: Vec<Bar>,
    total: String,
    label_width: u64,
    width: u64,
    height: u64,
}

fn chart<'c>(
    id: &'static str,
    caption: &'static str,
    counts: impl IntoIterator<Item = (&'c str, &'c Count)>,
) -> Chart {
    let rows: Vec<(&str, u64, String)> = counts
        .into_iter()
        .map(|(k, v)| {
            let (n, shown) = shown_count(v);
            (k, n, shown)
        })
        .collect();
    let max = rows.iter().map(|(_, n, _)| *n).max().unwrap_or(0).max(1);
    let (label_width, bar_space, row_height) = (220u64, 400u64, 28u64);
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (label, n, shown))| {
            let y = i as u64 * row_height;
            Bar {
                label: humanise(label),
                count: shown.clone(),
                y: y + 4,
                text_y: y + 19,
                width: (n * bar_space / max).max(if *n > 0 { 1 } else { 0 }),
                count_x: label_width + (n * bar_space / max) + 6,
            }
        })
        .collect();
    // The total of what is shown; with a count withheld, the chart says so.
    let total: u64 = rows.iter().map(|(_, n, _)| n).sum();
    let withheld = rows.iter().any(|(_, _, shown)| shown == CSV_SUPPRESSED);
    Chart {
        id,
        caption,
        bars,
        total: if withheld {
            format!("{total} shown (some counts withheld)")
        } else {
            total.to_string()
        },
        label_width,
        width: label_width + bar_space + 80,
        height: (rows.len() as u64 * row_height).max(row_height),
    }
}

fn breakdown(counts: &BTreeMap<String, Count>) -> impl Iterator<Item = (&str, &Count)> {
    counts.iter().map(|(k, v)| (k.as_str(), v))
}

/// The breakdowns' charts, in the order the page shows them.
fn charts(stats: &Statistics) -> Vec<Chart> {
    vec![
        chart(
            "sector",
            "Referrals by sector of referrer",
            breakdown(&stats.by_sector),
        ),
        chart(
            "concern",
            "Referrals by type of concern",
            breakdown(&stats.by_type_of_concern),
        ),
        chart(
            "age",
            "Referrals by age band",
            breakdown(&stats.by_age_band),
        ),
        chart("gender", "Referrals by gender", breakdown(&stats.by_gender)),
        chart(
            "area",
            "Referrals by local authority",
            breakdown(&stats.by_area),
        ),
    ]
}

fn journey(stats: &Statistics) -> Chart {
    let j = &stats.journey;
    chart(
        "journey",
        "From referral to panel to adoption",
        [
            ("referred", &j.referred),
            ("discussed_at_panel", &j.discussed_at_panel),
            ("adopted", &j.adopted),
        ],
    )
}

/// How many financial years the statistics page offers, the current one first.
const YEARS_OFFERED: usize = 5;

/// The published periods the statistics page offers, newest first: the current financial
/// year and the years before it, each followed by its quarters that have begun by
/// `today`; `chosen` is selected (and offered, if it is older).
fn period_options(today: chrono::NaiveDate, chosen: Option<Period>) -> Vec<Value> {
    let mut periods = Vec::new();
    let mut year = Some(Period::year_of(today));
    for _ in 0..YEARS_OFFERED {
        let Some(y) = year else { break };
        periods.push(y);
        periods.extend(
            y.quarters()
                .into_iter()
                .rev()
                .filter(|q| q.first_day() <= today),
        );
        year = y.previous();
    }
    if let Some(p) = chosen.filter(|p| !periods.contains(p)) {
        periods.push(p);
    }
    periods
        .into_iter()
        .map(|p| {
            let name = match p.quarter() {
                Some(q) => format!("{} quarter {q}", p.financial_year()),
                None => p.to_string(),
            };
            let growing = if p.last_day() >= today {
                ", in progress"
            } else {
                ""
            };
            json!({
                "value": p.to_string(),
                "label": format!("{name}: {}{growing}", p.months()),
                "selected": Some(p) == chosen,
            })
        })
        .collect()
}

/// A refused statistics request, beside the form's field.
#[derive(Serialize)]
struct Refusal {
    message: String,
    href: &'static str,
    #[serde(skip)]
    field: &'static str,
}

/// Why the statistics asked for cannot be given, as the form shows it.
fn refusals_of(refused: AppError) -> Result<Vec<Refusal>, ConsoleError> {
    let refusal = |message: String, href, field| Refusal {
        message,
        href,
        field,
    };
    match refused {
        AppError::Validation(errors) => Ok(errors
            .into_iter()
            .map(|e| match e.code.as_str() {
                "after_to" => refusal(
                    "The from date must be the same as or before the to date".to_owned(),
                    "#from-day",
                    "from",
                ),
                "invalid_period" => refusal(
                    "Choose a period from the list".to_owned(),
                    "#statistics-period",
                    "period",
                ),
                _ => refusal(e.message, "#from-day", "from"),
            })
            .collect()),
        AppError::UnpublishedPeriod { near } => Ok(vec![refusal(
            crate::present::statistics::published_periods_near(near),
            "#statistics-period",
            "period",
        )]),
        other => Err(other.into()),
    }
}

/// The statistics the signed-in auditor asks for, as `GET /v1/stats` gives them (the
/// same suppression, the same audit entry): a `period` by name, or the days `from` to
/// `to`.
async fn statistics_of(
    req: &HttpRequest,
    session: &Session,
    period: Option<&str>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<Result<Statistics, AppError>, ConsoleError> {
    let today = chrono::Utc::now().date_naive();
    let asked = match crate::present::statistics::asked(period, from, to, today) {
        Ok(asked) => asked,
        Err(refused) => return Ok(Err(refused)),
    };
    let policy = **super::data::<StatisticsPolicy>(req)?;
    let (actor, rid) = (session.actor.clone(), request_id(req).await?);
    let answer = store(req)?
        .run(move |c| crate::app::statistics::statistics(c, &actor, rid, policy, asked))
        .await;
    match answer {
        Err(AppError::Store(e)) => Err(e.into()),
        other => Ok(other),
    }
}

/// The dates a national auditor gave, or what is wrong with them; anyone else's are
/// ignored, as the form never sends them.
fn dates_of(
    q: &crate::console::csrf::Form,
    national: bool,
    summary: &mut Vec<Refusal>,
) -> (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>) {
    if !national {
        return (None, None);
    }
    let mut day = |name: &'static str, example: &str, href: &'static str| {
        date_of(q, name).unwrap_or_else(|()| {
            summary.push(Refusal {
                message: format!("The {name} date must be a real date, like {example}"),
                href,
                field: name,
            });
            None
        })
    };
    (
        day("from", "1 4 2026", "#from-day"),
        day("to", "31 3 2027", "#to-day"),
    )
}

/// `GET /console/statistics`: the statistics `GET /v1/stats` gives, drawn as tables and
/// charts, for a published period chosen from a list (the current financial year at
/// first); a national auditor may give a range of days instead.
pub async fn statistics(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let national = session.actor.area.is_national();
    let q = query(&req);
    let mut summary = Vec::new();
    let (from, to) = dates_of(&q, national, &mut summary);
    let today = chrono::Utc::now().date_naive();
    let dated = from.is_some() || to.is_some();
    let asked_period = q.get("period").filter(|p| !p.is_empty() && !dated);
    let mut stats = None;
    if summary.is_empty() {
        match statistics_of(&req, &session, asked_period, from, to).await? {
            Ok(s) => stats = Some(s),
            Err(refused) => summary = refusals_of(refused)?,
        }
    }
    let chosen = match &stats {
        Some(s) => s.period,
        None => asked_period.and_then(|p| p.parse::<Period>().ok()),
    }
    .or((!dated).then(|| Period::year_of(today)));
    let field_error = |field: &str| {
        summary
            .iter()
            .find(|s| s.field == field)
            .map(|s| s.message.clone())
    };
    let ctx = super::context(
        &session,
        "Statistics",
        "/console/statistics",
        json!({
            "errors": !summary.is_empty(),
            "period_error": field_error("period"),
            "from_error": field_error("from"),
            "to_error": field_error("to"),
            "summary": summary,
            "national": national,
            "periods": period_options(today, chosen),
            "search": {"from": date_parts(&q, "from"), "to": date_parts(&q, "to")},
            "mental_health": stats.as_ref().map_or_else(
                || CSV_SUPPRESSED.to_owned(),
                |s| shown_count(&s.mental_health_or_neurodiversity).1,
            ),
            "suppression": stats.as_ref().map(|s| &s.suppression),
            "in_progress": stats.as_ref().is_some_and(|s| s.to >= today),
            "csv_href": stats.as_ref().map(csv_href),
            "charts": stats.as_ref().map(charts).unwrap_or_default(),
            "journey": stats.as_ref().map(journey),
            "stats": stats,
        }),
    );
    page(StatusCode::OK, "statistics.html", &ctx)
}

/// The download of the same figures: the period by name, or a range by its days.
fn csv_href(stats: &Statistics) -> String {
    match stats.period {
        Some(p) => format!("/console/statistics.csv?period={p}"),
        None => format!(
            "/console/statistics.csv?from={}&to={}",
            stats.from, stats.to
        ),
    }
}

/// `GET /console/statistics.csv?period=…` (or `?from=…&to=…`): the same figures as a CSV
/// download, as `GET /v1/stats?format=csv` gives them (the same suppression, the same
/// audit entry). A period or dates it cannot use send the auditor back to the statistics
/// page, which names the periods.
pub async fn statistics_csv(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let q = query(&req);
    let day = |name: &str| q.get(name).map(|d| d.parse::<chrono::NaiveDate>());
    let (Ok(from), Ok(to)) = (day("from").transpose(), day("to").transpose()) else {
        return Ok(redirect("/console/statistics"));
    };
    let stats = match statistics_of(&req, &session, q.get("period"), from, to).await? {
        Ok(stats) => stats,
        Err(AppError::Validation(_) | AppError::UnpublishedPeriod { .. }) => {
            return Ok(redirect("/console/statistics"));
        }
        Err(e) => return Err(e.into()),
    };
    let body = to_csv(&stats).map_err(ConsoleError::failed)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::VARY, "Accept"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"pathway-statistics-{}-{}.csv\"",
                stats.from, stats.to
            ),
        ))
        .body(body))
}
