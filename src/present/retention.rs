//! What a case due for its retention review looks like to a records officer or an
//! auditor.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::app::AppError;
use crate::domain::Actor;
use crate::domain::access::{View, needs_exemption_review};
use crate::domain::pathway::State;
use crate::present::page::{self, Page, PageQuery};
use crate::store::Store;
use crate::store::cases::CaseRow;

/// A case in a retention review: no personal data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetentionItem {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Area.
    pub area: String,
    /// Pathway state.
    pub state: State,
    /// How it closed.
    pub outcome: Option<String>,
    /// The day of its retention review (none once erased).
    pub review_due_on: Option<NaiveDate>,
    /// A legal hold blocks its erasure.
    pub legal_hold: bool,
    /// Police-only material: to be reviewed for exemption before any disclosure.
    pub exemption_review: bool,
    /// Its personal data was erased.
    pub erased: bool,
    /// When.
    pub erased_at: Option<DateTime<Utc>>,
}

pub fn item(row: &CaseRow, view: View) -> RetentionItem {
    let state = State::parse(&row.state).unwrap_or(State::Closed);
    RetentionItem {
        id: row.id.clone(),
        reference: row.reference.clone(),
        area: row.area.clone(),
        state: view.state_shown(state),
        outcome: view.outcome_shown(state, row.outcome.as_deref()),
        review_due_on: row.review_due_at.map(|t| t.date()),
        legal_hold: row.legal_hold,
        exemption_review: view == View::Records && needs_exemption_review(state),
        erased: row.erased_at.is_some(),
        erased_at: row.erased_at.map(|t| t.and_utc()),
    }
}

/// What a retention decision did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetentionOutcome {
    /// The case as it is now.
    pub case: RetentionItem,
    /// The cases erased with it (itself included), when erased.
    pub erased_case_ids: Vec<String>,
}

/// A page of the cases whose retention review is due, oldest review first, as `actor`
/// may see them: the answer of `GET /v1/retention/due` and the console's list.
pub async fn due_page(
    store: &Store,
    actor: Actor,
    request_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<Page<RetentionItem>, AppError> {
    let limit = PageQuery::limit_of(limit)?;
    let after = page::after(cursor)?;
    let now = Utc::now().naive_utc();
    let mut rows = store
        .run(move |c| crate::app::retention::due_list(c, &actor, request_id, after, limit + 1, now))
        .await?;
    let next_cursor = page::split_page(&mut rows, limit, |(row, _)| {
        page::encode_cursor(row.review_due_at.unwrap_or(row.submitted_at), &row.id)
    });
    Ok(Page {
        items: rows.iter().map(|(row, view)| item(row, *view)).collect(),
        next_cursor,
    })
}
