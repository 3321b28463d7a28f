//! The breakdowns of the Home Office's official statistics on Prevent referrals.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// The official age bands.
pub const AGE_BANDS: [&str; 8] = [
    "10_and_under",
    "11_15",
    "16_17",
    "18_20",
    "21_30",
    "31_40",
    "41_50",
    "51_plus",
];

/// The band of an age.
pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=10 => "10_and_under",
        11..=15 => "11_15",
        16..=17 => "16_17",
        18..=20 => "18_20",
        21..=30 => "21_30",
        31..=40 => "31_40",
        41..=50 => "41_50",
        _ => "51_plus",
    }
}

/// The start of the statistical year (1 April) that holds `day`.
pub fn year_start(day: NaiveDate) -> NaiveDate {
    let year = if day.month() >= 4 {
        day.year()
    } else {
        day.year() - 1
    };
    NaiveDate::from_ymd_opt(year, 4, 1).unwrap_or(day)
}

/// The journey from referral to adoption.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Journey {
    /// Referrals received.
    pub referred: u64,
    /// Of them, discussed at a Channel panel.
    pub discussed_at_panel: u64,
    /// Of them, adopted as Channel cases.
    pub adopted: u64,
}

/// The breakdowns for a period.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Statistics {
    /// First day counted.
    pub from: NaiveDate,
    /// Last day counted.
    pub to: NaiveDate,
    /// The area counted, or `national`.
    pub area: String,
    /// Referral to panel to adoption.
    pub journey: Journey,
    /// By the referrer's sector.
    pub by_sector: BTreeMap<String, u64>,
    /// By type of concern (`not_recorded` where none was given).
    pub by_type_of_concern: BTreeMap<String, u64>,
    /// By age at referral (`unknown` where no age was given).
    pub by_age_band: BTreeMap<String, u64>,
    /// By gender (`not_recorded` where none was given).
    pub by_gender: BTreeMap<String, u64>,
    /// By local authority.
    pub by_area: BTreeMap<String, u64>,
    /// Referrals recording a mental-health or neurodiversity need.
    pub mental_health_or_neurodiversity: u64,
}

/// One referral's counted facts.
pub struct Counted<'a> {
    /// Local authority.
    pub area: &'a str,
    /// Referrer's sector.
    pub sector: &'a str,
    /// Type of concern.
    pub type_of_concern: Option<&'a str>,
    /// Gender.
    pub gender: Option<&'a str>,
    /// Age band at referral.
    pub age_band: Option<&'a str>,
    /// A mental-health or neurodiversity need was recorded.
    pub mental_health_or_neurodiversity: bool,
    /// Discussed at a panel.
    pub discussed: bool,
    /// Adopted.
    pub adopted: bool,
}

impl Statistics {
    /// Empty breakdowns for a period, every official band present.
    pub fn new(from: NaiveDate, to: NaiveDate, area: String) -> Statistics {
        let mut s = Statistics {
            from,
            to,
            area,
            ..Statistics::default()
        };
        for band in AGE_BANDS {
            s.by_age_band.insert(band.to_owned(), 0);
        }
        s
    }

    /// Counts one referral.
    pub fn count(&mut self, c: &Counted<'_>) {
        let add = |map: &mut BTreeMap<String, u64>, key: &str| {
            *map.entry(key.to_owned()).or_default() += 1
        };
        self.journey.referred += 1;
        self.journey.discussed_at_panel += u64::from(c.discussed);
        self.journey.adopted += u64::from(c.adopted);
        add(&mut self.by_sector, c.sector);
        add(
            &mut self.by_type_of_concern,
            c.type_of_concern.unwrap_or("not_recorded"),
        );
        add(&mut self.by_age_band, c.age_band.unwrap_or("unknown"));
        add(&mut self.by_gender, c.gender.unwrap_or("not_recorded"));
        add(&mut self.by_area, c.area);
        self.mental_health_or_neurodiversity += u64::from(c.mental_health_or_neurodiversity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_the_official_bands_at_their_edges() {
        let cases = [
            (0, "10_and_under"),
            (10, "10_and_under"),
            (11, "11_15"),
            (15, "11_15"),
            (16, "16_17"),
            (17, "16_17"),
            (18, "18_20"),
            (20, "18_20"),
            (21, "21_30"),
            (30, "21_30"),
            (31, "31_40"),
            (40, "31_40"),
            (41, "41_50"),
            (50, "41_50"),
            (51, "51_plus"),
            (90, "51_plus"),
        ];
        for (age, band) in cases {
            assert_eq!(age_band(age), band, "{age}");
        }
    }

    #[test]
    fn the_statistical_year_starts_on_1_april() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(year_start(d("2026-11-22")), d("2026-04-01"));
        assert_eq!(year_start(d("2026-03-31")), d("2025-04-01"));
        assert_eq!(year_start(d("2026-04-01")), d("2026-04-01"));
    }
}
