//! `GET /v1/audit`, `GET /v1/audit/verify` and `GET /v1/audit/key`.

use actix_web::web::{self, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;

use crate::app;
use crate::audit::VerifyReport;
use crate::domain::Actor;
use crate::http::params;
use crate::http::problem::ApiError;
use crate::present::audit::{AuditAsked, AuditEntry, ListOrder, audit_page};
use crate::present::page::Page;
use crate::store::Store;

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
    let asked = AuditAsked {
        case_id: q.case_id.map(|id| id.to_string()),
        actor: q.actor,
        action: q.action,
        from: q.from.map(|t| t.naive_utc()),
        to: q.to.map(|t| t.naive_utc()),
        order: q.order,
        limit: q.limit,
        cursor: q.cursor,
    };
    let page = audit_page(&store, actor, Some(request_id.to_string()), asked).await?;
    Ok(Json(page))
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
