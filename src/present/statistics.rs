//! What a statistics request asks for, read the one way for the API and the console.

use chrono::NaiveDate;

use crate::app::AppError;
use crate::app::statistics::Asked;
use crate::domain::FieldError;
use crate::domain::statistics::{Period, year_start};

/// The figures asked for: a published `period` by name (`2026-27`, `2026-27-Q3`), or
/// the days `from` to `to` (from the start of `to`'s financial year, up to `today`, when
/// one is left out), or with nothing given the current financial year. A period with
/// dates, a name that is no period, or `from` after `to` is refused.
pub fn asked(
    period: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Asked, AppError> {
    let refuse = |field: &str, code: &str, message: &str| {
        Err(AppError::Validation(vec![FieldError::query(
            field, code, message,
        )]))
    };
    match (period, from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => refuse(
            "period",
            "period_with_dates",
            "give period, or from and to, not both",
        ),
        (Some(p), None, None) => match p.parse::<Period>() {
            Ok(p) => Ok(Asked::Period(p)),
            Err(e) => refuse("period", "invalid_period", &e.to_string()),
        },
        (None, None, None) => Ok(Asked::Period(Period::year_of(today))),
        (None, from, to) => {
            let to = to.unwrap_or(today);
            let from = from.unwrap_or_else(|| year_start(to));
            if from > to {
                return refuse("from", "after_to", "from must not be after to");
            }
            Ok(Asked::Days { from, to })
        }
    }
}

/// Why days that bound no published period are refused to an area's reader, naming the
/// periods near them that are published.
pub fn published_periods_near(near: Period) -> String {
    let named: Vec<String> = std::iter::once(near)
        .chain(near.quarters())
        .map(|p| format!("{p} ({} to {})", p.first_day(), p.last_day()))
        .collect();
    format!(
        "An area's statistics are published for financial years (1 April to 31 March) and \
         their quarters only: ask `period`, or `from` and `to` bounding exactly one of them, \
         for example {}. Other ranges are for national auditors only.",
        named.join(", ")
    )
}
