//! What an audit entry looks like to an auditor.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::AppError;
use crate::app::audit::ShownEntry;
use crate::domain::{Actor, FieldError};
use crate::present::page::{Page, PageQuery, decode_cursor, encode_cursor, split_page};
use crate::store::Store;
use crate::store::audit::{AuditFilter, Order};

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: String,
    /// The stream it is chained in: `case:<id>`, `panel:<id>` or `actor:<sub>`.
    pub chain: String,
    /// Position in that stream; withheld in the stream of a case you see without the
    /// police view, where it would count entries you may not see.
    pub seq: Option<i64>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// The request that carried it.
    pub request_id: Option<String>,
    /// Who (`sub`).
    pub actor: String,
    /// Their roles.
    pub actor_roles: Vec<String>,
    /// The area concerned.
    pub area: String,
    /// What was done.
    pub action: String,
    /// The case concerned.
    pub case_id: Option<String>,
    /// `ok` or `denied`.
    pub outcome: String,
    /// Codes and identifiers (never personal data).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The previous entry's hash in this stream; withheld where `seq` is.
    pub prev_hash: Option<String>,
    /// This entry's hash.
    pub hash: String,
}

impl From<ShownEntry> for AuditEntry {
    fn from(shown: ShownEntry) -> AuditEntry {
        let (r, place) = (shown.row, shown.place_shown);
        AuditEntry {
            id: r.id,
            chain: r.chain_key,
            seq: place.then_some(r.seq),
            occurred_at: r.occurred_at.and_utc(),
            request_id: r.request_id,
            actor: r.actor_sub,
            actor_roles: r
                .actor_roles
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            area: r.area,
            action: r.action,
            case_id: r.case_id,
            outcome: r.outcome,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: place.then_some(r.prev_hash),
            hash: r.hash,
        }
    }
}

/// Which way the audit log is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl ListOrder {
    fn of(self) -> Order {
        match self {
            ListOrder::Asc => Order::OldestFirst,
            ListOrder::Desc => Order::NewestFirst,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            ListOrder::Asc => "asc",
            ListOrder::Desc => "desc",
        }
    }
}

/// The cursor of an audit page: the order, then the position ([`encode_cursor`]).
fn audit_cursor(order: ListOrder, at: chrono::NaiveDateTime, id: &str) -> String {
    format!("{}.{}", order.tag(), encode_cursor(at, id))
}

/// Reads a cursor made by [`audit_cursor`]. One with no order is from before the
/// order was chosen, when the log was listed oldest first.
fn read_audit_cursor(cursor: &str) -> Option<(ListOrder, (chrono::NaiveDateTime, String))> {
    let (order, position) = match cursor.split_once('.') {
        Some(("asc", rest)) => (ListOrder::Asc, rest),
        Some(("desc", rest)) => (ListOrder::Desc, rest),
        Some(_) => return None,
        None => (ListOrder::Asc, cursor),
    };
    Some((order, decode_cursor(position)?))
}

fn bad_cursor(message: &str) -> AppError {
    AppError::Validation(vec![FieldError::query(
        "cursor",
        "invalid_cursor",
        message.to_owned(),
    )])
}

/// What an audit search asks for.
#[derive(Debug, Default)]
pub struct AuditAsked {
    /// Only entries about this case.
    pub case_id: Option<String>,
    /// Only entries by this actor (`sub`).
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// At or after this time.
    pub from: Option<NaiveDateTime>,
    /// Before this time.
    pub to: Option<NaiveDateTime>,
    /// The order asked for; a cursor carries its own.
    pub order: Option<ListOrder>,
    /// Page size, unchecked.
    pub limit: Option<i64>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of the audit log as `actor` may see it: the answer of `GET /v1/audit` and
/// the console's audit search.
pub async fn audit_page(
    store: &Store,
    actor: Actor,
    request_id: Option<String>,
    asked: AuditAsked,
) -> Result<Page<AuditEntry>, AppError> {
    let limit = PageQuery::limit_of(asked.limit)?;
    // An empty cursor is the first page, as clients that template the URL send it.
    let (order, after) = match asked.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => (asked.order.unwrap_or(ListOrder::Desc), None),
        Some(c) => {
            let (order, position) =
                read_audit_cursor(c).ok_or_else(|| bad_cursor("Not a cursor from this list."))?;
            if asked.order.is_some_and(|o| o != order) {
                return Err(bad_cursor("The cursor was made for the other order."));
            }
            (order, Some(position))
        }
    };
    let filter = AuditFilter {
        areas: None,
        seen_by: None,
        order: order.of(),
        case_id: asked.case_id,
        actor: asked.actor,
        actions: asked.action.map(|a| vec![a]),
        from: asked.from,
        to: asked.to,
        after,
    };
    let mut rows = store
        .run(move |conn| crate::app::audit::read_log(conn, &actor, request_id, filter, limit + 1))
        .await?;
    let next_cursor = split_page(&mut rows, limit, |e| {
        audit_cursor(order, e.row.occurred_at, &e.row.id)
    });
    Ok(Page {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    })
}
