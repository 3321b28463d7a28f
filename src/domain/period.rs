//! The periods the official statistics are published for: a financial year (1 April to
//! 31 March) and its four quarters, as the Home Office publishes them.
//!
//! A year is written by its two calendar years, `2026-27` (1 April 2026 to 31 March
//! 2027); a quarter adds `-Q1` (April to June), `-Q2` (July to September), `-Q3` (October
//! to December) or `-Q4` (January to March of the second calendar year). Periods nest: a
//! year is exactly its four quarters, and nothing else is a published period.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// The pattern of a period's spelling, as the OpenAPI document gives it.
pub const PERIOD_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}(-Q[1-4])?$";

/// The first and last calendar years a financial year may start in: four-digit years
/// whose year and quarters are all real dates.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9998;

/// A published period: a financial year, or one quarter of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// The calendar year the financial year starts in (its 1 April).
    start_year: i32,
    /// 1 to 4 for a quarter, `None` for the whole year.
    quarter: Option<u8>,
}

/// A period that cannot be read: not `YYYY-YY` or `YYYY-YY-Qn` with consecutive years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a period is a financial year such as 2026-27 or one of its quarters such as 2026-27-Q3")]
pub struct BadPeriod;

impl Period {
    /// The financial year starting on 1 April of `start_year`.
    pub fn year(start_year: i32) -> Option<Period> {
        YEARS.contains(&start_year).then_some(Period {
            start_year,
            quarter: None,
        })
    }

    /// The financial year that holds `day`.
    pub fn year_of(day: NaiveDate) -> Period {
        let start_year = if day.month() >= 4 {
            day.year()
        } else {
            day.year() - 1
        };
        Period {
            start_year: start_year.clamp(*YEARS.start(), *YEARS.end()),
            quarter: None,
        }
    }

    /// The quarter that holds `day`.
    pub fn quarter_of(day: NaiveDate) -> Period {
        let year = Period::year_of(day);
        // April to June is the first quarter; January to March the fourth.
        let quarter = ((day.month0() + 9) % 12 / 3 + 1) as u8;
        Period {
            quarter: Some(quarter),
            ..year
        }
    }

    /// The period that runs exactly from `from` to `to` (inclusive), if there is one.
    pub fn of_days(from: NaiveDate, to: NaiveDate) -> Option<Period> {
        let year = Period::year_of(from);
        std::iter::once(year)
            .chain(year.quarters())
            .find(|p| p.first_day() == from && p.last_day() == to)
    }

    /// The financial year this period is or is part of.
    pub fn financial_year(self) -> Period {
        Period {
            quarter: None,
            ..self
        }
    }

    /// The four quarters of this period's financial year, in order.
    pub fn quarters(self) -> [Period; 4] {
        [1, 2, 3, 4].map(|q| Period {
            start_year: self.start_year,
            quarter: Some(q),
        })
    }

    /// The quarter (1 to 4), or `None` for a whole year.
    pub fn quarter(self) -> Option<u8> {
        self.quarter
    }

    /// The first day counted.
    pub fn first_day(self) -> NaiveDate {
        let (year, month) = match self.quarter {
            None | Some(1) => (self.start_year, 4),
            Some(2) => (self.start_year, 7),
            Some(3) => (self.start_year, 10),
            Some(_) => (self.start_year + 1, 1),
        };
        // Every year in `YEARS` has these days.
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default()
    }

    /// The last day counted.
    pub fn last_day(self) -> NaiveDate {
        let next = match self.quarter {
            None | Some(4) => Period {
                start_year: self.start_year + 1,
                quarter: Some(1),
            },
            Some(q) => Period {
                start_year: self.start_year,
                quarter: Some(q + 1),
            },
        };
        next.first_day().pred_opt().unwrap_or_default()
    }

    /// The period before this one of the same kind: the year before, or the quarter
    /// before (the last quarter of the year before, for a first quarter).
    pub fn previous(self) -> Option<Period> {
        let (start_year, quarter) = match self.quarter {
            None => (self.start_year - 1, None),
            Some(1) => (self.start_year - 1, Some(4)),
            Some(q) => (self.start_year, Some(q - 1)),
        };
        YEARS.contains(&start_year).then_some(Period {
            start_year,
            quarter,
        })
    }

    /// The months it covers, for a person: `April 2026 to March 2027`.
    pub fn months(self) -> String {
        format!(
            "{} to {}",
            self.first_day().format("%B %Y"),
            self.last_day().format("%B %Y")
        )
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:02}",
            self.start_year,
            (self.start_year + 1).rem_euclid(100)
        )?;
        match self.quarter {
            Some(q) => write!(f, "-Q{q}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Period {
    type Err = BadPeriod;

    fn from_str(s: &str) -> Result<Period, BadPeriod> {
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        let (year, quarter) = match s.split_once("-Q") {
            Some((year, q)) => (year, Some(q)),
            None => (s, None),
        };
        let (first, second) = year.split_once('-').ok_or(BadPeriod)?;
        if first.len() != 4 || second.len() != 2 || !digits(first) || !digits(second) {
            return Err(BadPeriod);
        }
        let start_year: i32 = first.parse().map_err(|_| BadPeriod)?;
        let end: i32 = second.parse().map_err(|_| BadPeriod)?;
        // The second year is the one after the first: 2026-27, 1999-00.
        if (start_year + 1).rem_euclid(100) != end {
            return Err(BadPeriod);
        }
        let year = Period::year(start_year).ok_or(BadPeriod)?;
        match quarter {
            None => Ok(year),
            Some(q @ ("1" | "2" | "3" | "4")) => Ok(Period {
                quarter: q.parse().ok(),
                ..year
            }),
            Some(_) => Err(BadPeriod),
        }
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_period_is_spelt_by_its_years_and_quarter() {
        let pattern = regex::Regex::new(PERIOD_PATTERN).unwrap();
        for (text, from, to) in [
            ("2026-27", "2026-04-01", "2027-03-31"),
            ("2026-27-Q1", "2026-04-01", "2026-06-30"),
            ("2026-27-Q2", "2026-07-01", "2026-09-30"),
            ("2026-27-Q3", "2026-10-01", "2026-12-31"),
            ("2026-27-Q4", "2027-01-01", "2027-03-31"),
            ("1999-00", "1999-04-01", "2000-03-31"),
            ("2027-28-Q4", "2028-01-01", "2028-03-31"),
        ] {
            let p: Period = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(
                (p.first_day(), p.last_day()),
                (day(from), day(to)),
                "{text}"
            );
            assert_eq!(Period::of_days(day(from), day(to)), Some(p), "{text}");
            assert!(pattern.is_match(text), "{text}");
        }
        assert_eq!(
            "2027-28-Q4".parse::<Period>().unwrap().last_day(),
            day("2028-03-31"),
            "a leap year's February is inside"
        );
    }

    #[test]
    fn anything_else_is_not_a_period() {
        for bad in [
            "",
            "2026",
            "2026-28",
            "2026-2027",
            "2026-27-Q5",
            "2026-27-Q0",
            "2026-27-q1",
            "2026-27Q1",
            "2026-27-Q1 ",
            "+026-27",
            "1899-00",
            "9999-00",
            "2026-27-Q",
            "2026-27-Q11",
        ] {
            assert_eq!(bad.parse::<Period>(), Err(BadPeriod), "{bad:?}");
        }
    }

    #[test]
    fn only_a_year_or_a_quarter_of_one_is_a_period_of_days() {
        for (from, to) in [
            ("2026-04-01", "2027-03-30"),
            ("2026-04-02", "2026-06-30"),
            ("2026-04-01", "2026-09-30"),
            ("2026-01-01", "2026-12-31"),
            ("2026-10-01", "2027-03-31"),
            ("2026-04-01", "2026-04-01"),
        ] {
            assert_eq!(Period::of_days(day(from), day(to)), None, "{from} {to}");
        }
    }

    #[test]
    fn a_day_falls_in_its_year_and_quarter() {
        for (d, year, quarter) in [
            ("2026-04-01", "2026-27", "2026-27-Q1"),
            ("2026-06-30", "2026-27", "2026-27-Q1"),
            ("2026-07-01", "2026-27", "2026-27-Q2"),
            ("2026-12-31", "2026-27", "2026-27-Q3"),
            ("2027-01-01", "2026-27", "2026-27-Q4"),
            ("2027-03-31", "2026-27", "2026-27-Q4"),
        ] {
            assert_eq!(Period::year_of(day(d)).to_string(), year, "{d}");
            assert_eq!(Period::quarter_of(day(d)).to_string(), quarter, "{d}");
        }
        let q3: Period = "2026-27-Q3".parse().unwrap();
        assert_eq!(q3.financial_year().to_string(), "2026-27");
        assert_eq!(
            q3.quarters().map(|q| q.to_string()),
            ["2026-27-Q1", "2026-27-Q2", "2026-27-Q3", "2026-27-Q4"]
        );
        assert_eq!(q3.previous().unwrap().to_string(), "2026-27-Q2");
        let q1: Period = "2026-27-Q1".parse().unwrap();
        assert_eq!(q1.previous().unwrap().to_string(), "2025-26-Q4");
        assert_eq!(
            q3.financial_year().previous().unwrap().to_string(),
            "2025-26"
        );
        assert_eq!(q3.months(), "October 2026 to December 2026");
    }
}
