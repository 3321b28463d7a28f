//! `GET /v1/audit`, `GET /v1/audit/verify` and `GET /v1/audit/key`.

use actix_web::web::{self, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;

use crate::app;
use crate::app::audit::ShownEntry;
use crate::audit::VerifyReport;
use crate::domain::Actor;
use crate::http::page::{Page, PageQuery, decode_cursor, encode_cursor, split_page};
use crate::http::params;
use crate::http::problem::{ApiError, FieldError};
use crate::store::Store;
use crate::store::audit::{AuditFilter, Order};

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this case.
    pub case_id: Option<uuid::Uuid>,
    /// Only entries by this actor (`sub`).
    pub actor: Option<String>,
    /// Only this action, e.g. `case.read`.
    pub action: Option<String>,
    /// At or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// `desc` (the default): newest first; `asc`: oldest first. Entries of equal time
    /// keep one fixed order, so no entry is skipped or repeated across pages. A cursor
    /// carries the order it was made in: with a cursor, `order` may be left out, and
    /// must not differ.
    #[param(inline)]
    pub order: Option<ListOrder>,
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page of this list, passed back unchanged
    /// (base64url). Any other value is 422 `invalid_cursor`; empty is the first page.
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
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

fn bad_cursor(message: &str) -> ApiError {
    ApiError::Validation(vec![FieldError::query(
        "cursor",
        "invalid_cursor",
        message.to_owned(),
    )])
}

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

/// The audit log of the auditor's area, newest first (`order=asc`: oldest first).
///
/// Pages: `cursor` is the `next_cursor` this list answered, unchanged. The server issued it
/// and decodes it, with its order; a value it did not issue is 422 `invalid_cursor`, even
/// when it matches the parameter's pattern.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", operation_id = "list_audit_entries", params(AuditQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = Page<AuditEntry>),
        (status = 401, description = "No usable token", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: not an auditor", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`case_id` names no case you may see", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad filter or cursor", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn list(
    actor: Actor,
    request_id: RequestId,
    query: params::Query<AuditQuery>,
    store: web::Data<Store>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery::limit_of(q.limit)?;
    // An empty cursor is the first page, as clients that template the URL send it.
    let (order, after) = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => (q.order.unwrap_or(ListOrder::Desc), None),
        Some(c) => {
            let (order, position) =
                read_audit_cursor(c).ok_or_else(|| bad_cursor("Not a cursor from this list."))?;
            if q.order.is_some_and(|asked| asked != order) {
                return Err(bad_cursor("The cursor was made for the other order."));
            }
            (order, Some(position))
        }
    };
    let filter = AuditFilter {
        areas: None,
        seen_by: None,
        order: order.of(),
        case_id: q.case_id.map(|id| id.to_string()),
        actor: q.actor,
        actions: q.action.map(|a| vec![a]),
        from: q.from.map(|t| t.naive_utc()),
        to: q.to.map(|t| t.naive_utc()),
        after,
    };
    let rid = Some(request_id.to_string());
    let mut rows = store
        .run(move |conn| app::audit::read_log(conn, &actor, rid, filter, limit + 1))
        .await?;
    let next_cursor = split_page(&mut rows, limit, |e| {
        audit_cursor(order, e.row.occurred_at, &e.row.id)
    });
    Ok(Json(Page {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}

/// Verifies every chain and checkpoint of the audit log: keyed entry hashes, stream
/// heads, checkpoint signatures, the witness's copy of every checkpoint, and a stream
/// for every case and panel.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The verifier's finding: `intact`, and where it is not", body = VerifyReport),
        (status = 401, description = "No usable token", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: not an auditor", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
pub async fn verify(
    actor: Actor,
    request_id: RequestId,
    store: web::Data<Store>,
) -> Result<Json<VerifyReport>, ApiError> {
    let rid = Some(request_id.to_string());
    let trust = store
        .audit()
        .cloned()
        .ok_or_else(|| ApiError::Internal("the store has no audit keys".into()))?;
    let report = store
        .run(move |conn| app::audit::verify_log(conn, &actor, rid, &trust))
        .await?;
    if !report.intact {
        tracing::error!(
            breaks = report.breaks.len(),
            "audit log verification found breaks"
        );
    }
    Ok(Json(report))
}

/// The key that verifies checkpoint signatures, in the witness and in the database.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditKey {
    /// Always `Ed25519`.
    pub algorithm: &'static str,
    /// The raw 32-byte public key, base64.
    pub public_key: String,
    /// The first 16 hex digits of the key's SHA-256, to tell keys apart.
    pub key_id: String,
    /// What each signature covers: this prefix, then the checkpoint's `hash` (hex).
    pub signed_message_prefix: &'static str,
}

/// The public key of checkpoint signatures, for anyone checking the witness.
#[utoipa::path(get, path = "/v1/audit/key", tag = "audit",
    responses((status = 200, description = "The Ed25519 public key", body = AuditKey)))]
pub async fn verification_key(store: web::Data<Store>) -> Result<Json<AuditKey>, ApiError> {
    let public = store
        .audit()
        .map(|t| t.public_key())
        .ok_or_else(|| ApiError::Internal("the store has no audit keys".into()))?;
    Ok(Json(AuditKey {
        algorithm: "Ed25519",
        public_key: public.to_base64(),
        key_id: public.key_id(),
        signed_message_prefix: crate::audit::SIGNATURE_CONTEXT,
    }))
}
