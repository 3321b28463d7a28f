//! The breakdowns of the Home Office's official statistics on Prevent referrals, their
//! small-number suppression, and their CSV form.
//!
//! Counting fills a [`Tally`] of exact numbers; [`Tally::publish`] turns it into the
//! [`Statistics`] a reader is shown, each count a [`Count`]: the number, or withheld. An
//! area's periods are counted in a [`YearTally`], a year with its quarters, and published
//! together (see "Across periods").
//!
//! # Suppression
//!
//! A count from 1 to `threshold - 1` could point at a person in a small area, so it is
//! withheld (primary suppression), as GOV.UK official statistics do. **Zero is shown as
//! 0**: an empty category identifies no one, the Home Office Prevent statistics print it,
//! and withholding every empty cell would hide the shape of the data without protecting
//! anyone. So a withheld count is always at least 1, and a category absent from a
//! breakdown is 0.
//!
//! Each breakdown (sector, type of concern, age band, gender, area) divides the total,
//! `journey.referred`. If the total is shown and one cell alone were withheld, the total
//! minus the shown cells would give it back; likewise if every withheld cell held 1. So
//! the smallest shown non-zero cell of that breakdown is withheld as well (secondary
//! suppression), again until the withheld cells' sum no longer tells any one of them.
//! Only when a breakdown has no shown cell left to withhold is the total withheld instead,
//! and then every breakdown withholds at least its smallest cell, so the total cannot be
//! rebuilt by adding one up.
//!
//! The journey's stages are nested (adopted within discussed within referred): a stage is
//! withheld when it, or the step from the stage before it (referred but not discussed,
//! discussed but not adopted), is from 1 to `threshold - 1`; a stage of 0 is shown, like
//! every 0. A withheld `discussed_at_panel` between a shown `referred` and an equal shown
//! `adopted` would be pinned between them, so `adopted` is withheld with it. The
//! mental-health or neurodiversity count is withheld when it (not 0), or the rest of the
//! total, is that small.
//!
//! A national auditor sees every count; everyone else sees the suppressed figures. The
//! response says which: [`Suppression`].
//!
//! # Across periods
//!
//! Suppression within one table holds only over a fixed grid of periods: two overlapping
//! custom ranges, subtracted, give the referrals of the days where they differ, and when
//! that is one referral its gender, sector, type of concern and needs come out, however
//! each table was suppressed. So everyone but a national auditor is shown only published
//! periods ([`Period`]): a financial year or one of its quarters.
//!
//! Those nest: for every cell (each category of each breakdown, each stage of the
//! journey, the needs count, the total) a year's value is the sum of its four quarters'
//! values, so a year less three shown quarters would give back a cell withheld in the
//! fourth. So a year and its quarters are published together ([`YearTally::publish`]),
//! whichever of them is asked: the rules within each table above, and across periods the
//! rule of a breakdown applied to every cell's four quarterly values as a breakdown of its
//! yearly value ([`protect`], or the yearly value withheld where that cannot be done, and
//! then one quarterly value withheld with it), in turn until neither withholds anything
//! more. Suppression only ever grows, so this ends; it depends on the counts alone, so the
//! same request gives the same answer for the same data, and the year and each quarter
//! agree whichever was asked first.
//!
//! What is guaranteed: no withheld count of a year or of a quarter can be worked out
//! exactly from the published year and quarter tables by subtracting along any one
//! published relation (a breakdown against its table's total, a cell's four quarters
//! against its year, or a withheld journey stage between shown equal stages either side),
//! knowing that a withheld count is at least 1.
//!
//! What is not: relations combined (several equations solved together, or bounds from one
//! narrowing another) can narrow a withheld count and sometimes fix it; a period read at
//! two times gives what changed in between, and a period in progress grows as referrals
//! arrive, as the journey of any period grows as its cases go to panel, so one new
//! referral alone between two readings shows in the difference; and nothing here hides
//! what a reader knows from elsewhere (that someone was referred, and when).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use super::period::Period;

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
    Period::year_of(day).first_day()
}

/// How the statistics are suppressed: the `[statistics]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatisticsPolicy {
    /// Counts from 1 to this minus 1 are withheld from everyone but national auditors
    /// (default 5, so 1 to 4 are withheld); 0 or 1 withholds nothing.
    #[serde(default = "default_suppression_threshold")]
    pub suppression_threshold: u64,
}

fn default_suppression_threshold() -> u64 {
    5
}

impl Default for StatisticsPolicy {
    fn default() -> StatisticsPolicy {
        StatisticsPolicy {
            suppression_threshold: default_suppression_threshold(),
        }
    }
}

/// The marker of a withheld count in CSV: `[c]`, "confidential", as the GOV.UK
/// statistics guidance writes it.
pub const CSV_SUPPRESSED: &str = "[c]";

/// The header row of the CSV form, one row a cell follows it.
pub const CSV_HEADER: [&str; 7] = [
    "from",
    "to",
    "area",
    "breakdown",
    "category",
    "count",
    "suppression_threshold",
];

/// A published count: the number, or `{"suppressed": true}` where it is withheld
/// because it is small (or would give a small one away by subtraction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Count {
    /// The count.
    #[schema(value_type = u64)]
    Shown(u64),
    /// Withheld.
    Suppressed(Suppressed),
}

/// The marker of a withheld count: `{"suppressed": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// Always `true`: the count is withheld.
    pub suppressed: bool,
}

impl utoipa::PartialSchema for Suppressed {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let flag = ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .description(Some("Always `true`: the count is withheld."));
        ObjectBuilder::new()
            .description(Some(
                "The marker of a withheld count: `{\"suppressed\": true}`.",
            ))
            .property("suppressed", flag)
            .required("suppressed")
            .into()
    }
}

impl utoipa::ToSchema for Suppressed {}

impl Count {
    /// A withheld count.
    pub const SUPPRESSED: Count = Count::Suppressed(Suppressed { suppressed: true });

    /// The number, if shown.
    pub fn shown(self) -> Option<u64> {
        match self {
            Count::Shown(n) => Some(n),
            Count::Suppressed(_) => None,
        }
    }

    /// True when withheld.
    pub fn is_suppressed(self) -> bool {
        matches!(self, Count::Suppressed(_))
    }
}

/// Which suppression was applied to a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Suppression {
    /// False for a national auditor, who sees every count.
    pub applied: bool,
    /// Counts from 1 to `threshold - 1` are withheld when `applied` (0 is always shown).
    #[schema(minimum = 0)]
    pub threshold: u64,
}

/// The journey from referral to adoption.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Journey {
    /// Referrals received: the total each breakdown divides.
    pub referred: Count,
    /// Of them, discussed at a Channel panel.
    pub discussed_at_panel: Count,
    /// Of them, adopted as Channel cases.
    pub adopted: Count,
}

/// The breakdowns for a period, as published.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    /// First day counted.
    pub from: NaiveDate,
    /// Last day counted.
    pub to: NaiveDate,
    /// The published period `from` to `to` is: a financial year (`2026-27`) or a
    /// quarter of one (`2026-27-Q3`); `null` for a national auditor's other ranges.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{4}-[0-9]{2}(-Q[1-4])?$", example = "2026-27-Q3")]
    pub period: Option<Period>,
    /// The area counted, or `national`.
    pub area: String,
    /// Whether small counts are withheld here, and below what.
    pub suppression: Suppression,
    /// Referral to panel to adoption.
    pub journey: Journey,
    /// By the referrer's sector.
    pub by_sector: BTreeMap<String, Count>,
    /// By type of concern (`not_recorded` where none was given).
    pub by_type_of_concern: BTreeMap<String, Count>,
    /// By age at referral (`unknown` where no age was given); every official band is
    /// present, 0 where none.
    pub by_age_band: BTreeMap<String, Count>,
    /// By gender (`not_recorded` where none was given).
    pub by_gender: BTreeMap<String, Count>,
    /// By local authority.
    pub by_area: BTreeMap<String, Count>,
    /// Referrals recording a mental-health or neurodiversity need.
    pub mental_health_or_neurodiversity: Count,
}

/// The exact counts for a period, before suppression; never shown as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// First day counted.
    pub from: NaiveDate,
    /// Last day counted.
    pub to: NaiveDate,
    /// The published period `from` to `to` is, if it is one.
    pub period: Option<Period>,
    /// The area counted, or `national`.
    pub area: String,
    /// Referrals received.
    pub referred: u64,
    /// Of them, discussed at a Channel panel.
    pub discussed_at_panel: u64,
    /// Of them, adopted as Channel cases.
    pub adopted: u64,
    /// By the referrer's sector.
    pub by_sector: BTreeMap<String, u64>,
    /// By type of concern.
    pub by_type_of_concern: BTreeMap<String, u64>,
    /// By age band.
    pub by_age_band: BTreeMap<String, u64>,
    /// By gender.
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

impl Tally {
    /// Empty breakdowns for the days `from` to `to`, every official band present.
    pub fn new(from: NaiveDate, to: NaiveDate, area: String) -> Tally {
        let mut s = Tally {
            from,
            to,
            period: Period::of_days(from, to),
            area,
            ..Tally::default()
        };
        for band in AGE_BANDS {
            s.by_age_band.insert(band.to_owned(), 0);
        }
        s
    }

    /// Empty breakdowns for a published period.
    pub fn of_period(period: Period, area: String) -> Tally {
        Tally::new(period.first_day(), period.last_day(), area)
    }

    /// Counts one referral.
    pub fn count(&mut self, c: &Counted<'_>) {
        let add = |map: &mut BTreeMap<String, u64>, key: &str| {
            *map.entry(key.to_owned()).or_default() += 1
        };
        self.referred += 1;
        self.discussed_at_panel += u64::from(c.discussed);
        self.adopted += u64::from(c.adopted);
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

    /// The breakdowns that divide the total, in the order they are published.
    fn breakdowns(&self) -> [&BTreeMap<String, u64>; 5] {
        [
            &self.by_sector,
            &self.by_type_of_concern,
            &self.by_age_band,
            &self.by_gender,
            &self.by_area,
        ]
    }

    /// The statistics as a reader is shown them, this table alone: every count when
    /// `suppress` is false (a national auditor), otherwise with small counts withheld
    /// under `threshold` by the rules within one table (the module documentation's
    /// "Suppression"). An area's published periods are shown through
    /// [`YearTally::publish`], which also protects each quarter against its year.
    pub fn publish(&self, threshold: u64, suppress: bool) -> Statistics {
        let mut withheld = BTreeSet::new();
        if suppress {
            withhold_within(self, threshold, &mut withheld);
        }
        self.shown(threshold, suppress, &withheld)
    }

    /// The exact value of a cell; a category the table does not hold is 0.
    fn value(&self, cell: &Cell) -> u64 {
        match cell {
            Cell::Referred => self.referred,
            Cell::Discussed => self.discussed_at_panel,
            Cell::Adopted => self.adopted,
            Cell::Needs => self.mental_health_or_neurodiversity,
            Cell::In(b, k) => self.breakdowns()[*b].get(k).copied().unwrap_or(0),
        }
    }

    /// Every cell the table holds.
    fn cell_names(&self) -> impl Iterator<Item = Cell> + '_ {
        [Cell::Referred, Cell::Discussed, Cell::Adopted, Cell::Needs]
            .into_iter()
            .chain(
                self.breakdowns()
                    .into_iter()
                    .enumerate()
                    .flat_map(|(b, map)| map.keys().map(move |k| Cell::In(b, k.clone()))),
            )
    }

    /// The table as published with the cells of `withheld` withheld.
    fn shown(&self, threshold: u64, applied: bool, withheld: &BTreeSet<Cell>) -> Statistics {
        let show = |cell: Cell, n: u64| {
            if withheld.contains(&cell) {
                Count::SUPPRESSED
            } else {
                Count::Shown(n)
            }
        };
        let breakdowns = self.breakdowns();
        let published = |b: usize| -> BTreeMap<String, Count> {
            breakdowns[b]
                .iter()
                .map(|(k, n)| (k.clone(), show(Cell::In(b, k.clone()), *n)))
                .collect()
        };
        let [
            by_sector,
            by_type_of_concern,
            by_age_band,
            by_gender,
            by_area,
        ] = [0, 1, 2, 3, 4].map(published);
        Statistics {
            from: self.from,
            to: self.to,
            period: self.period,
            area: self.area.clone(),
            suppression: Suppression { applied, threshold },
            journey: Journey {
                referred: show(Cell::Referred, self.referred),
                discussed_at_panel: show(Cell::Discussed, self.discussed_at_panel),
                adopted: show(Cell::Adopted, self.adopted),
            },
            by_sector,
            by_type_of_concern,
            by_age_band,
            by_gender,
            by_area,
            mental_health_or_neurodiversity: show(
                Cell::Needs,
                self.mental_health_or_neurodiversity,
            ),
        }
    }
}

/// One count of a table, naming what is withheld: a stage of the journey, the needs
/// count, or a category of a breakdown (by its place in [`Tally::breakdowns`]). The same
/// name in a year and in its quarters is the same count over different days.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    /// `journey.referred`, the total.
    Referred,
    /// `journey.discussed_at_panel`.
    Discussed,
    /// `journey.adopted`.
    Adopted,
    /// `mental_health_or_neurodiversity`.
    Needs,
    /// A category of a breakdown.
    In(usize, String),
}

/// Adds to `withheld` what the rules within one table require of `t` beyond it: small
/// counts, the journey's and the needs count's rules, and each breakdown protected
/// against the total (or the total withheld) with the cells already withheld counted as
/// withheld. One pass leaves the table closed under these rules.
fn withhold_within(t: &Tally, threshold: u64, withheld: &mut BTreeSet<Cell>) {
    let (r, d, a) = (t.referred, t.discussed_at_panel, t.adopted);
    let mh = t.mental_health_or_neurodiversity;
    let (r_d, d_a, r_mh) = (
        r.saturating_sub(d),
        d.saturating_sub(a),
        r.saturating_sub(mh),
    );
    // A stage or the needs count of 0 is shown, as every 0 is: a withheld count is
    // never 0, which every rule here and across periods relies on.
    for (cell, n, rest) in [
        (Cell::Discussed, d, r_d),
        (Cell::Adopted, a, d_a),
        (Cell::Needs, mh, r_mh),
    ] {
        if n > 0 && (small(n, threshold) || small(rest, threshold)) {
            withheld.insert(cell);
        }
    }
    let breakdowns = t.breakdowns();
    let cells: Vec<Vec<u64>> = breakdowns
        .iter()
        .map(|b| b.values().copied().collect())
        .collect();
    let sets: Vec<BTreeSet<usize>> = breakdowns
        .iter()
        .enumerate()
        .map(|(b, map)| {
            map.keys()
                .enumerate()
                .filter(|(_, k)| withheld.contains(&Cell::In(b, (*k).clone())))
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let (total_hidden, sets) = suppress_breakdowns_from(
        r,
        &cells,
        threshold,
        withheld.contains(&Cell::Referred),
        sets,
    );
    if total_hidden {
        withheld.insert(Cell::Referred);
    }
    for (b, (map, set)) in breakdowns.iter().zip(sets).enumerate() {
        for (i, k) in map.keys().enumerate() {
            if set.contains(&i) {
                withheld.insert(Cell::In(b, k.clone()));
            }
        }
    }
    // The stages nest (adopted within discussed within referred): with the stages either
    // side shown and equal, a withheld `discussed` is pinned between them, so `adopted`
    // goes with it. It is not 0: it equals the withheld stage, which never is.
    if withheld.contains(&Cell::Discussed)
        && !withheld.contains(&Cell::Referred)
        && !withheld.contains(&Cell::Adopted)
        && a == r
    {
        withheld.insert(Cell::Adopted);
    }
}

/// Adds to `withheld` (the year's set first, then each quarter's) what protecting every
/// cell's four quarterly values as a breakdown of its yearly value requires: with the
/// year's shown, a withheld quarter takes the next-smallest with it (or the year's value
/// is withheld when none is left); with the year's withheld, at least one non-zero quarter
/// is withheld too, so that they do not add up to it.
fn withhold_across(
    year: &Tally,
    quarters: &[Tally; 4],
    threshold: u64,
    withheld: &mut [BTreeSet<Cell>; 5],
) {
    let names: BTreeSet<Cell> = std::iter::once(year)
        .chain(quarters)
        .flat_map(Tally::cell_names)
        .collect();
    for cell in names {
        let values: Vec<u64> = quarters.iter().map(|q| q.value(&cell)).collect();
        let set: BTreeSet<usize> = (0..4)
            .filter(|&i| withheld[i + 1].contains(&cell))
            .collect();
        let (year_hidden, sets) = suppress_breakdowns_from(
            year.value(&cell),
            &[values],
            threshold,
            withheld[0].contains(&cell),
            vec![set],
        );
        if year_hidden {
            withheld[0].insert(cell.clone());
        }
        for &i in sets.iter().flatten() {
            withheld[i + 1].insert(cell.clone());
        }
    }
}

/// The exact counts of a financial year and of each of its quarters, as an area reader's
/// published periods are counted: every referral of the year in the year and in its
/// quarter.
#[derive(Debug, Clone, PartialEq)]
pub struct YearTally {
    /// The whole year.
    pub year: Tally,
    /// April to June, July to September, October to December, January to March.
    pub quarters: [Tally; 4],
}

/// A financial year and its quarters, as published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedYear {
    /// The whole year.
    pub year: Statistics,
    /// Its quarters, in order.
    pub quarters: [Statistics; 4],
}

impl PublishedYear {
    /// The figures of `period`, if it is this year or one of its quarters.
    pub fn of(self, period: Period) -> Option<Statistics> {
        let [q1, q2, q3, q4] = self.quarters;
        [self.year, q1, q2, q3, q4]
            .into_iter()
            .find(|s| s.period == Some(period))
    }
}

impl YearTally {
    /// Empty tables of the financial year holding `period`, and of its quarters.
    pub fn new(period: Period, area: &str) -> YearTally {
        let year = period.financial_year();
        YearTally {
            year: Tally::of_period(year, area.to_owned()),
            quarters: year
                .quarters()
                .map(|q| Tally::of_period(q, area.to_owned())),
        }
    }

    /// Counts one referral filed `on` that day, in the year and in its quarter; a day
    /// outside the year is not counted.
    pub fn count(&mut self, on: NaiveDate, c: &Counted<'_>) {
        if !(self.year.from..=self.year.to).contains(&on) {
            return;
        }
        self.year.count(c);
        if let Some(q) = self
            .quarters
            .iter_mut()
            .find(|q| (q.from..=q.to).contains(&on))
        {
            q.count(c);
        }
    }

    /// The year and its quarters as an area reader is shown them, small counts withheld
    /// under `threshold`: the rules within each table and across the year and its
    /// quarters applied in turn until neither withholds anything more (see the module
    /// documentation's "Across periods"). It depends on the counts alone, so the same
    /// data always gives the same figures, whichever of the five periods is asked.
    pub fn publish(&self, threshold: u64) -> PublishedYear {
        let tables: [&Tally; 5] = [
            &self.year,
            &self.quarters[0],
            &self.quarters[1],
            &self.quarters[2],
            &self.quarters[3],
        ];
        let mut withheld: [BTreeSet<Cell>; 5] = Default::default();
        let size = |w: &[BTreeSet<Cell>; 5]| w.iter().map(BTreeSet::len).sum::<usize>();
        // Each round only adds to the sets, and there are finitely many cells to add, so
        // a round that adds nothing comes.
        loop {
            let before = size(&withheld);
            for (t, w) in tables.iter().zip(withheld.iter_mut()) {
                withhold_within(t, threshold, w);
            }
            withhold_across(&self.year, &self.quarters, threshold, &mut withheld);
            if size(&withheld) == before {
                break;
            }
        }
        let [y, q1, q2, q3, q4] = withheld;
        let shown = |t: &Tally, w: &BTreeSet<Cell>| t.shown(threshold, true, w);
        PublishedYear {
            year: shown(&self.year, &y),
            quarters: [
                shown(&self.quarters[0], &q1),
                shown(&self.quarters[1], &q2),
                shown(&self.quarters[2], &q3),
                shown(&self.quarters[3], &q4),
            ],
        }
    }
}

/// True for a count that is withheld on its own: from 1 to `threshold - 1`.
pub fn small(n: u64, threshold: u64) -> bool {
    n > 0 && n < threshold
}

/// True when the withheld cells `hidden` of a breakdown whose total is shown would give
/// one of them away: one alone is the total minus the rest, and several that all hold 1
/// are told by their sum (a withheld cell is never 0).
fn disclosed(cells: &[u64], hidden: &BTreeSet<usize>) -> bool {
    let sum: u64 = hidden.iter().map(|&i| cells[i]).sum();
    let k = hidden.len() as u64;
    k == 1 || (k > 1 && sum <= k)
}

/// The smallest shown non-zero cell (the first of equals), the next to withhold.
fn next_smallest(cells: &[u64], hidden: &BTreeSet<usize>) -> Option<usize> {
    cells
        .iter()
        .enumerate()
        .filter(|(i, n)| **n > 0 && !hidden.contains(i))
        .min_by_key(|(i, n)| (**n, *i))
        .map(|(i, _)| i)
}

/// The cells of one breakdown to withhold while its total is shown: the small ones, then
/// the next-smallest until subtraction from the total tells none of them. `None` when
/// even withholding every non-zero cell would not do (each holds 1): then the total must
/// be withheld instead.
pub fn protect(cells: &[u64], threshold: u64) -> Option<BTreeSet<usize>> {
    protect_from(cells, threshold, BTreeSet::new())
}

/// [`protect`], with the cells `hidden` already withheld for another reason.
fn protect_from(
    cells: &[u64],
    threshold: u64,
    mut hidden: BTreeSet<usize>,
) -> Option<BTreeSet<usize>> {
    hidden.extend((0..cells.len()).filter(|&i| small(cells[i], threshold)));
    while disclosed(cells, &hidden) {
        hidden.insert(next_smallest(cells, &hidden)?);
    }
    Some(hidden)
}

/// Suppression over breakdowns that each divide `total`: whether the total is withheld,
/// and for each breakdown the indexes of its withheld cells. With the total shown, each
/// breakdown is [`protect`]ed; with it withheld (small itself, or a breakdown could not
/// be protected), each breakdown withholds at least one non-zero cell, so that none adds
/// up to the total.
pub fn suppress_breakdowns(
    total: u64,
    breakdowns: &[Vec<u64>],
    threshold: u64,
) -> (bool, Vec<BTreeSet<usize>>) {
    let none = vec![BTreeSet::new(); breakdowns.len()];
    suppress_breakdowns_from(total, breakdowns, threshold, false, none)
}

/// [`suppress_breakdowns`], with the total (`total_hidden`) and the cells of `hidden`
/// already withheld for another reason; the answer holds them and what they require.
fn suppress_breakdowns_from(
    total: u64,
    breakdowns: &[Vec<u64>],
    threshold: u64,
    total_hidden: bool,
    mut hidden: Vec<BTreeSet<usize>>,
) -> (bool, Vec<BTreeSet<usize>>) {
    let mut total_hidden = total_hidden || small(total, threshold);
    for (cells, set) in breakdowns.iter().zip(hidden.iter_mut()) {
        set.extend((0..cells.len()).filter(|&i| small(cells[i], threshold)));
    }
    if !total_hidden {
        for (cells, set) in breakdowns.iter().zip(hidden.iter_mut()) {
            match protect_from(cells, threshold, set.clone()) {
                Some(protected) => *set = protected,
                None => {
                    // The breakdowns after this one keep their small cells only: with
                    // the total withheld, those are enough, as below.
                    total_hidden = true;
                    break;
                }
            }
        }
    }
    if total_hidden {
        for (cells, set) in breakdowns.iter().zip(hidden.iter_mut()) {
            if set.is_empty()
                && let Some(i) = next_smallest(cells, set)
            {
                set.insert(i);
            }
        }
    }
    (total_hidden, hidden)
}

impl Statistics {
    /// Every count as `(breakdown, category, count)`, in the order of the CSV form: the
    /// journey, each breakdown by category, then the needs count.
    pub fn cells(&self) -> Vec<(&'static str, &str, Count)> {
        let mut out = vec![
            ("journey", "referred", self.journey.referred),
            (
                "journey",
                "discussed_at_panel",
                self.journey.discussed_at_panel,
            ),
            ("journey", "adopted", self.journey.adopted),
        ];
        for (name, map) in [
            ("by_sector", &self.by_sector),
            ("by_type_of_concern", &self.by_type_of_concern),
            ("by_age_band", &self.by_age_band),
            ("by_gender", &self.by_gender),
            ("by_area", &self.by_area),
        ] {
            out.extend(map.iter().map(|(k, c)| (name, k.as_str(), *c)));
        }
        out.push((
            "needs",
            "mental_health_or_neurodiversity",
            self.mental_health_or_neurodiversity,
        ));
        out
    }
}

/// A text cell made safe to open in a spreadsheet: one starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return would be read as a formula, so it gets a leading `'`.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The (already suppressed) statistics as CSV (RFC 4180: CRLF line ends, fields quoted
/// where needed): the [`CSV_HEADER`] row, then one row a cell, a withheld count as
/// [`CSV_SUPPRESSED`]; `suppression_threshold` is empty where nothing was withheld. The
/// API's `?format=csv` and any other download of the statistics use this one form.
pub fn to_csv(stats: &Statistics) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    let (from, to) = (stats.from.to_string(), stats.to.to_string());
    let threshold = if stats.suppression.applied {
        stats.suppression.threshold.to_string()
    } else {
        String::new()
    };
    let area = neutralise(&stats.area);
    for (breakdown, category, count) in stats.cells() {
        let count = count
            .shown()
            .map_or_else(|| CSV_SUPPRESSED.to_owned(), |n| n.to_string());
        out.write_record([
            from.as_str(),
            to.as_str(),
            &area,
            &neutralise(breakdown),
            &neutralise(category),
            &count,
            &threshold,
        ])?;
    }
    out.into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
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

    fn hidden(cells: &[u64], t: u64) -> Vec<usize> {
        protect(cells, t)
            .expect("protectable")
            .into_iter()
            .collect()
    }

    #[test]
    fn counts_below_the_threshold_are_withheld_and_zero_is_shown() {
        // 1 to 4 withheld, 0 and 5 shown: two withheld cells holding 3 and 4 are not
        // told apart by their sum of 7.
        assert_eq!(hidden(&[0, 3, 4, 5, 20], 5), vec![1, 2]);
        assert_eq!(hidden(&[0, 5, 20], 5), Vec::<usize>::new());
        assert!(!small(0, 5) && small(1, 5) && small(4, 5) && !small(5, 5));
        assert_eq!(hidden(&[1, 2, 3], 0), Vec::<usize>::new(), "0 turns it off");
        assert_eq!(hidden(&[1, 2, 3], 1), Vec::<usize>::new(), "so does 1");
    }

    #[test]
    fn one_withheld_cell_takes_the_next_smallest_with_it() {
        // The total 3 + 9 + 12 + 30 = 54 less the shown 12 + 30 leaves 12, not the 3.
        assert_eq!(hidden(&[12, 3, 30, 9], 5), vec![1, 3]);
        // Equal candidates: the first of them.
        assert_eq!(hidden(&[7, 2, 7], 5), vec![0, 1]);
        // Zero is never the second cell: it would hide nothing, being shown elsewhere as 0.
        assert_eq!(hidden(&[0, 2, 8], 5), vec![1, 2]);
    }

    #[test]
    fn withheld_cells_that_all_hold_one_take_another_with_them() {
        // Two withheld cells summing to 2 can only be 1 and 1.
        assert_eq!(hidden(&[1, 1, 10, 6], 5), vec![0, 1, 3]);
        // 1 and 2 sum to 3: either could be 1 or 2, so that is enough.
        assert_eq!(hidden(&[1, 2, 10], 5), vec![0, 1]);
    }

    #[test]
    fn a_breakdown_that_cannot_be_protected_withholds_the_total() {
        // Five categories of one each: withholding them all still tells each by the sum.
        assert_eq!(protect(&[1, 1, 1, 1, 1], 5), None);
        let (total_hidden, sets) =
            suppress_breakdowns(5, &[vec![1, 1, 1, 1, 1], vec![5], vec![0, 5, 0]], 5);
        assert!(total_hidden);
        assert_eq!(sets[0].len(), 5);
        assert_eq!(
            sets[1].iter().copied().collect::<Vec<_>>(),
            vec![0],
            "a breakdown that adds up to the total withholds a cell"
        );
        assert_eq!(sets[2].iter().copied().collect::<Vec<_>>(), vec![1]);
        // A small total is withheld on its own, and so is every non-zero cell.
        let (total_hidden, sets) = suppress_breakdowns(3, &[vec![3, 0], vec![1, 2]], 5);
        assert!(total_hidden);
        assert_eq!(sets[0].iter().copied().collect::<Vec<_>>(), vec![0]);
        assert_eq!(sets[1].len(), 2);
    }

    /// Sector, gender, age band, needs recorded, discussed, adopted.
    type Referral<'a> = (&'a str, &'a str, Option<&'a str>, bool, bool, bool);

    fn tally(referrals: &[Referral<'_>]) -> Tally {
        let d = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let mut t = Tally::new(d, d, "E08000035".into());
        for (sector, gender, band, needs, discussed, adopted) in referrals {
            t.count(&Counted {
                area: "E08000035",
                sector,
                type_of_concern: Some("no_ideology"),
                gender: Some(gender),
                age_band: *band,
                mental_health_or_neurodiversity: *needs,
                discussed: *discussed,
                adopted: *adopted,
            });
        }
        t
    }

    #[test]
    fn a_national_auditor_sees_every_count_and_others_the_suppressed_ones() {
        let mut referrals = vec![("education", "male", Some("11_15"), true, true, true); 9];
        referrals.push(("health", "female", Some("31_40"), false, false, false));
        let t = tally(&referrals);

        let all = t.publish(5, false);
        assert_eq!(
            all.suppression,
            Suppression {
                applied: false,
                threshold: 5
            }
        );
        assert_eq!(all.by_sector["health"], Count::Shown(1));
        assert_eq!(all.journey.referred, Count::Shown(10));
        assert!(all.cells().iter().all(|(_, _, c)| !c.is_suppressed()));

        let some = t.publish(5, true);
        assert!(some.suppression.applied);
        assert_eq!(some.journey.referred, Count::Shown(10));
        // health 1 is withheld, and education 9 with it: 10 - 9 would give the 1.
        assert_eq!(some.by_sector["health"], Count::SUPPRESSED);
        assert_eq!(some.by_sector["education"], Count::SUPPRESSED);
        assert_eq!(some.by_age_band["51_plus"], Count::Shown(0), "0 is shown");
        assert_eq!(some.by_area["E08000035"], Count::Shown(10));
        // 9 of 10 discussed: the one not discussed would be told by 10 - 9.
        assert_eq!(some.journey.discussed_at_panel, Count::SUPPRESSED);
        assert_eq!(some.journey.adopted, Count::Shown(9), "9 of 9 discussed");
        assert_eq!(some.mental_health_or_neurodiversity, Count::SUPPRESSED);
    }

    #[test]
    fn a_withheld_count_is_a_typed_marker_in_json() {
        assert_eq!(serde_json::to_value(Count::Shown(7)).unwrap(), 7);
        assert_eq!(
            serde_json::to_value(Count::SUPPRESSED).unwrap(),
            serde_json::json!({"suppressed": true})
        );
    }

    #[test]
    fn the_csv_has_a_header_crlf_rows_and_the_marker() {
        let mut referrals = vec![("education", "male", Some("11_15"), false, false, false); 6];
        referrals.push(("health", "female", None, false, false, false));
        let csv = String::from_utf8(to_csv(&tally(&referrals).publish(5, true)).unwrap()).unwrap();
        let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
        assert_eq!(
            lines[0],
            "from,to,area,breakdown,category,count,suppression_threshold"
        );
        assert!(!csv.replace("\r\n", "").contains('\n'), "CRLF only");
        assert!(csv.ends_with("\r\n"));
        assert!(lines.contains(&"2026-04-01,2026-04-01,E08000035,journey,referred,7,5"));
        assert!(lines.contains(&"2026-04-01,2026-04-01,E08000035,by_sector,health,[c],5"));
        assert!(lines.contains(&"2026-04-01,2026-04-01,E08000035,by_age_band,51_plus,0,5"));
        assert_eq!(
            lines.len(),
            1 + tally(&referrals).publish(5, true).cells().len()
        );
        let national =
            String::from_utf8(to_csv(&tally(&referrals).publish(5, false)).unwrap()).unwrap();
        assert!(national.contains("by_sector,health,1,\r\n"), "{national}");
    }

    #[test]
    fn text_cells_cannot_become_formulas_and_are_quoted() {
        for (cell, safe) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("education", "education"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(neutralise(cell), safe, "{cell:?}");
        }
        let mut t = tally(&[("=cmd|' /C calc'!A0", "a,\"b\"", None, false, false, false)]);
        t.area = "-2+3".into();
        let csv = String::from_utf8(to_csv(&t.publish(5, false)).unwrap()).unwrap();
        assert!(
            csv.contains("'-2+3,by_sector,'=cmd|' /C calc'!A0,1,"),
            "{csv}"
        );
        assert!(csv.contains(",by_gender,\"a,\"\"b\"\"\",1,"), "{csv}");
    }

    /// Whether any withheld cell could be worked out from what is published, by the
    /// subtraction a reader can do: a breakdown's cells add up to the total, a withheld
    /// cell holds at least 1 (0 is always shown), and nothing else is known of it. Each
    /// withheld cell must have another value consistent with the rest; the answer names
    /// the first that has none.
    fn derivable(total: Count, breakdowns: &[Vec<Count>]) -> Option<String> {
        for (b, cells) in breakdowns.iter().enumerate() {
            let withheld = cells.iter().filter(|c| c.is_suppressed()).count() as u64;
            let Some(total) = total.shown() else {
                // The total is unknown; it can only be rebuilt from a breakdown that
                // withholds nothing.
                if withheld == 0 && cells.iter().any(|c| c.shown() > Some(0)) {
                    return Some(format!("breakdown {b} adds up to the withheld total"));
                }
                continue;
            };
            let shown: u64 = cells.iter().filter_map(|c| c.shown()).sum();
            let rest = total - shown;
            // One withheld cell is the rest; several of 1 each are told by their sum.
            if withheld == 1 || (withheld > 1 && rest == withheld) {
                return Some(format!(
                    "breakdown {b}: {withheld} withheld summing to {rest}"
                ));
            }
        }
        None
    }

    #[test]
    fn no_withheld_count_can_be_derived_from_a_shown_total_over_random_breakdowns() {
        let sectors = [
            "education",
            "police",
            "health",
            "local_authority",
            "community",
        ];
        let genders = ["male", "female", "other"];
        for seed in 0..3000u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let threshold = rng.u64(0..9);
            // Skewed picks, so that big and small cells sit side by side.
            let mut pick = |n: usize| -> usize {
                let r = rng.usize(0..n * n);
                n - 1 - r.isqrt()
            };
            let referrals: Vec<_> = (0..[3, 8, 15, 40][seed as usize % 4])
                .map(|_| {
                    let band = pick(AGE_BANDS.len() + 1);
                    (
                        sectors[pick(sectors.len())],
                        genders[pick(genders.len())],
                        AGE_BANDS.get(band).copied(),
                        pick(2) == 0,
                        pick(2) == 0,
                        false,
                    )
                })
                .collect();
            let mut t = tally(&referrals);
            // Areas: a national view of many small ones.
            t.by_area.clear();
            let mut left = t.referred;
            let mut area = 0;
            while left > 0 {
                let n = (pick(4) as u64 + 1).min(left);
                t.by_area.insert(format!("E0{area}"), n);
                left -= n;
                area += 1;
            }
            t.adopted = t.discussed_at_panel / 2;
            let published = t.publish(threshold, true);
            let breakdowns: Vec<Vec<Count>> = [
                &published.by_sector,
                &published.by_type_of_concern,
                &published.by_age_band,
                &published.by_gender,
                &published.by_area,
            ]
            .iter()
            .map(|m| m.values().copied().collect())
            .collect();
            assert_eq!(
                derivable(published.journey.referred, &breakdowns),
                None,
                "seed {seed}, threshold {threshold}: {t:?} published as {published:?}"
            );
            // Every small count is withheld, every 0 shown, and a shown count is exact.
            for (exact, shown) in [
                (&t.by_sector, &published.by_sector),
                (&t.by_age_band, &published.by_age_band),
                (&t.by_area, &published.by_area),
            ] {
                for (k, n) in exact {
                    match shown[k] {
                        Count::Shown(m) => assert!(m == *n && !small(*n, threshold)),
                        Count::Suppressed(_) => assert!(*n > 0, "seed {seed}: 0 withheld"),
                    }
                }
            }
            // The journey's stages: a withheld one is not pinned between its neighbours.
            let j = &published.journey;
            if let (Some(r), Count::Suppressed(_), Some(a)) =
                (j.referred.shown(), j.discussed_at_panel, j.adopted.shown())
            {
                assert!(a < r, "seed {seed}: discussed is pinned at {r}");
            }
        }
    }

    #[test]
    fn the_checker_finds_a_derivable_cell() {
        // Without secondary suppression one withheld cell would be derivable: the
        // property above can fail.
        let s = Count::SUPPRESSED;
        assert!(derivable(Count::Shown(10), &[vec![s, Count::Shown(8)]]).is_some());
        assert!(derivable(Count::Shown(10), &[vec![s, s, Count::Shown(8)]]).is_some());
        assert!(derivable(s, &[vec![Count::Shown(10)]]).is_some());
        assert!(derivable(Count::Shown(10), &[vec![s, s, Count::Shown(7)]]).is_none());
    }

    /// Every count of a published table by (breakdown, category), as [`Statistics::cells`]
    /// names them.
    fn by_name(s: &Statistics) -> BTreeMap<(String, String), Count> {
        s.cells()
            .into_iter()
            .map(|(b, c, n)| ((b.to_owned(), c.to_owned()), n))
            .collect()
    }

    /// The breakdowns of a published table that divide its total.
    fn breakdowns_of(s: &Statistics) -> Vec<Vec<Count>> {
        [
            &s.by_sector,
            &s.by_type_of_concern,
            &s.by_age_band,
            &s.by_gender,
            &s.by_area,
        ]
        .iter()
        .map(|m| m.values().copied().collect())
        .collect()
    }

    /// Whether any withheld count of a published year or quarter could be worked out
    /// along one published relation: a breakdown of one table against its total (as
    /// [`derivable`]), a withheld journey stage between shown equal stages, or a cell's
    /// four quarters against the year's (a category a table does not list is 0 there).
    fn derivable_across(p: &PublishedYear) -> Option<String> {
        let tables: Vec<&Statistics> = std::iter::once(&p.year).chain(&p.quarters).collect();
        for (i, s) in tables.iter().enumerate() {
            if let Some(why) = derivable(s.journey.referred, &breakdowns_of(s)) {
                return Some(format!("table {i}: {why}"));
            }
            let j = &s.journey;
            if let (Some(r), Count::Suppressed(_), Some(a)) =
                (j.referred.shown(), j.discussed_at_panel, j.adopted.shown())
                && a == r
            {
                return Some(format!("table {i}: discussed is pinned at {r}"));
            }
        }
        let named: Vec<_> = tables.iter().map(|s| by_name(s)).collect();
        let names: BTreeSet<&(String, String)> = named.iter().flat_map(|m| m.keys()).collect();
        for name in names {
            let at = |m: &BTreeMap<(String, String), Count>| {
                m.get(name).copied().unwrap_or(Count::Shown(0))
            };
            let quarters: Vec<Count> = named[1..].iter().map(at).collect();
            if let Some(why) = derivable(at(&named[0]), &[quarters]) {
                return Some(format!("{name:?} across the quarters: {why}"));
            }
        }
        None
    }

    /// A referral of `YearTally`'s tests: its quarter (0 to 3), sector, gender, needs,
    /// discussed, adopted.
    type Filed<'a> = (usize, &'a str, &'a str, bool, bool, bool);

    fn year_tally(filed: &[Filed<'_>]) -> YearTally {
        let year = Period::year(2026).unwrap();
        let mut y = YearTally::new(year, "E08000035");
        for (q, sector, gender, needs, discussed, adopted) in filed {
            y.count(
                year.quarters()[*q].first_day(),
                &Counted {
                    area: "E08000035",
                    sector,
                    type_of_concern: Some("no_ideology"),
                    gender: Some(gender),
                    age_band: Some("16_17"),
                    mental_health_or_neurodiversity: *needs,
                    discussed: *discussed,
                    adopted: *adopted,
                },
            );
        }
        y
    }

    #[test]
    fn a_quarter_withheld_alone_would_be_the_year_less_the_other_quarters() {
        // Three quarters of six girls and six boys each, and one girl in the second: each
        // table suppressed alone shows the year's 19 girls and the three quarters' 6, so
        // the second quarter's withheld girl is 19 - 18.
        let mut filed = Vec::new();
        for q in [0, 2, 3] {
            for i in 0..12 {
                let gender = if i % 2 == 0 { "female" } else { "male" };
                filed.push((q, "education", gender, false, false, false));
            }
        }
        filed.push((1, "health", "female", true, false, false));
        let y = year_tally(&filed);
        let alone = PublishedYear {
            year: y.year.publish(5, true),
            quarters: y.quarters.clone().map(|q| q.publish(5, true)),
        };
        assert_eq!(alone.year.by_gender["female"], Count::Shown(19));
        assert!(
            derivable_across(&alone).is_some_and(|why| why.contains("across the quarters")),
            "{alone:?}"
        );

        // Published together, the second quarter's girl stays withheld and no relation
        // gives her back.
        let together = y.publish(5);
        assert_eq!(derivable_across(&together), None, "{together:?}");
        let q2 = &together.quarters[1];
        assert_eq!(q2.by_gender["female"], Count::SUPPRESSED);
        assert_eq!(q2.by_sector["health"], Count::SUPPRESSED);
        assert_eq!(q2.mental_health_or_neurodiversity, Count::SUPPRESSED);
        assert_eq!(q2.period, Some("2026-27-Q2".parse().unwrap()));
        // The same data gives the same figures, whichever period is asked.
        assert_eq!(y.publish(5), together);
        let q3 = "2026-27-Q3".parse().unwrap();
        assert_eq!(
            y.publish(5).of(q3).as_ref(),
            Some(&together.quarters[2]),
            "a quarter asked alone is the quarter published with its year"
        );
        assert_eq!(y.publish(5).of(Period::year(2025).unwrap()), None);
        // Threshold 1 withholds nothing, across periods too.
        let all = y.publish(1);
        assert!(
            std::iter::once(&all.year)
                .chain(&all.quarters)
                .all(|s| s.cells().iter().all(|(_, _, c)| !c.is_suppressed()))
        );
    }

    #[test]
    fn a_referral_is_counted_in_its_year_and_its_quarter_only() {
        let year = Period::year(2026).unwrap();
        let mut y = YearTally::new("2026-27-Q3".parse().unwrap(), "E08000035");
        assert_eq!(y.year.period, Some(year));
        let c = Counted {
            area: "E08000035",
            sector: "education",
            type_of_concern: None,
            gender: None,
            age_band: None,
            mental_health_or_neurodiversity: false,
            discussed: false,
            adopted: false,
        };
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for on in ["2026-04-01", "2026-12-31", "2027-01-01", "2027-03-31"] {
            y.count(day(on), &c);
        }
        y.count(day("2026-03-31"), &c);
        y.count(day("2027-04-01"), &c);
        assert_eq!(
            y.year.referred, 4,
            "the days either side are another year's"
        );
        assert_eq!(y.quarters.each_ref().map(|q| q.referred), [1, 0, 1, 2]);
    }

    #[test]
    fn no_withheld_count_of_a_year_or_its_quarters_can_be_derived_over_random_referrals() {
        let sectors = ["education", "police", "health", "local_authority"];
        let genders = ["male", "female", "other"];
        for seed in 0..2000u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let threshold = rng.u64(0..9);
            // Skewed picks, so that big and small cells sit side by side, in some
            // quarters more than others.
            let mut pick = |n: usize| -> usize {
                let r = rng.usize(0..n * n);
                n - 1 - r.isqrt()
            };
            let filed: Vec<Filed<'_>> = (0..[2, 6, 14, 30, 70][seed as usize % 5])
                .map(|_| {
                    let discussed = pick(3) == 0;
                    (
                        pick(4),
                        sectors[pick(sectors.len())],
                        genders[pick(genders.len())],
                        pick(2) == 0,
                        discussed,
                        discussed && pick(2) == 0,
                    )
                })
                .collect();
            let y = year_tally(&filed);
            let published = y.publish(threshold);
            assert_eq!(
                derivable_across(&published),
                None,
                "seed {seed}, threshold {threshold}: {y:?} published as {published:?}"
            );
            // Every small count is withheld, every 0 shown, and a shown count is exact.
            let exact = std::iter::once(&y.year).chain(&y.quarters);
            let shown = std::iter::once(&published.year).chain(&published.quarters);
            for (exact, shown) in exact.zip(shown) {
                let exact = by_name(&exact.publish(threshold, false));
                for (name, count) in by_name(shown) {
                    let n = exact[&name].shown().unwrap();
                    match count {
                        Count::Shown(m) => {
                            assert!(m == n && !small(n, threshold), "seed {seed}: {name:?}")
                        }
                        Count::Suppressed(_) => assert!(n > 0, "seed {seed}: 0 withheld"),
                    }
                }
            }
        }
    }

    #[test]
    fn the_checker_finds_a_cell_derivable_across_the_quarters_or_between_stages() {
        // Without protection across periods or between stages, the properties above can
        // fail.
        // Six referrals in the third quarter, none in the others.
        let s = Count::SUPPRESSED;
        let shown = tally(&[("education", "male", None, true, true, true); 6]).publish(5, false);
        let none = tally(&[]).publish(5, false);
        let mut p = PublishedYear {
            year: shown.clone(),
            quarters: [none.clone(), none.clone(), shown.clone(), none],
        };
        assert_eq!(derivable_across(&p), None, "nothing is withheld");
        // One quarter's count withheld under the year's: the year less the others.
        p.quarters[2].mental_health_or_neurodiversity = s;
        assert!(derivable_across(&p).is_some_and(|w| w.contains("across the quarters")));
        // The year's withheld over four shown quarters: their sum.
        p.quarters[2] = shown.clone();
        p.year.mental_health_or_neurodiversity = s;
        assert!(derivable_across(&p).is_some_and(|w| w.contains("across the quarters")));
        // A stage withheld between two shown equal ones.
        p.year = shown;
        p.year.journey.discussed_at_panel = s;
        assert!(derivable_across(&p).is_some_and(|w| w.contains("pinned")));
    }

    #[test]
    fn the_period_is_documented_with_the_pattern_it_is_read_by() {
        let schema = serde_json::to_value(<Statistics as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["properties"]["period"]["pattern"],
            super::super::period::PERIOD_PATTERN,
            "{schema}"
        );
        let mut t = tally(&[]);
        let json = serde_json::to_value(t.publish(5, true)).unwrap();
        assert_eq!(
            json["period"],
            serde_json::Value::Null,
            "a range that is no period"
        );
        t.period = Some("2026-27-Q1".parse().unwrap());
        let json = serde_json::to_value(t.publish(5, true)).unwrap();
        assert_eq!(json["period"], "2026-27-Q1");
    }

    #[test]
    fn the_statistical_year_starts_on_1_april() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(year_start(d("2026-11-22")), d("2026-04-01"));
        assert_eq!(year_start(d("2026-03-31")), d("2025-04-01"));
        assert_eq!(year_start(d("2026-04-01")), d("2026-04-01"));
    }
}
