//! `POST /v1/referrals` and `/v1/cases/...`: thin handlers over `app::cases`.

use actix_web::http::header;
use actix_web::web::{self, Json};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tracing_actix_web::RequestId;

use crate::app::AppError;
use crate::app::cases::{self as cases_app, Idempotency, Receipt};
use crate::audit::canonical_json;
use crate::domain::access::StatusFilter;
use crate::domain::actions::{ActionBody, Command};
use crate::domain::due::DuePolicy;
use crate::domain::pathway::{Action, Payload, State, Transition};
use crate::domain::payload::{WithBody, fields_of, with_body};
use crate::domain::referral::ReferralRequest;
use crate::domain::retention::RetentionPolicy;
use crate::domain::{Actor, FieldError};
use crate::http::json::{JsonBody, from_value};
use crate::http::params;
use crate::http::problem::{ApiError, Problem};
use crate::present::cases::{
    AvailableAction, AvailableActions, CaseBody, CaseListAsked, CaseListItem, HistoryEntry, Note,
    case_body, case_list, face_of, history_entry, note,
};
use crate::present::page::{Page, PageQuery};
use crate::store::Store;

fn rid(id: &RequestId) -> Option<String> {
    Some(id.to_string())
}

/// The `Idempotency-Key` header, checked.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let message = "Idempotency-Key must be 1 to 200 visible ASCII characters.";
        return Err(ApiError::BadParameters {
            code: "invalid_idempotency_key",
            detail: message.into(),
            errors: vec![FieldError::header(
                "Idempotency-Key",
                "invalid_idempotency_key",
                message,
            )],
        });
    }
    Ok(Some(key.to_owned()))
}

/// File a referral.
#[utoipa::path(post, path = "/v1/referrals", tag = "referrals", security(("bearer" = [])),
    request_body = ReferralRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$",
        description = "Makes a retry safe: the same key and body return the original answer. 1 to 200 visible ASCII characters; anything else is 400 `invalid_idempotency_key`")),
    responses(
        (status = 201, description = "Received; `Location` names the case", body = Receipt),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No usable token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the key reused with another body", body = Problem, content_type = "application/problem+json")))]
pub async fn file_referral(
    req: HttpRequest,
    actor: Actor,
    request_id: RequestId,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
    policy: web::Data<DuePolicy>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let body_hash = hex::encode(Sha256::digest(canonical_json(&body.0).as_bytes()));
    let request: ReferralRequest = from_value(body.0)?;
    let referral = request
        .validate(Utc::now().date_naive())
        .and_then(|r| r.with_default_area(&actor.area).map_err(|e| vec![e]))
        .map_err(ApiError::Validation)?;
    let idempotency = key.map(|key| Idempotency { key, body_hash });
    let policy = **policy;
    let r = rid(&request_id);
    let filed = store
        .run(move |c| cases_app::file_referral(c, &actor, r, idempotency, referral, &policy))
        .await?;
    tracing::info!(case.id = %filed.receipt.id, replayed = filed.replayed, "referral filed");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/cases/{}", filed.receipt.id)))
        .insert_header((
            "idempotent-replayed",
            if filed.replayed { "true" } else { "false" },
        ))
        .json(filed.receipt))
}

/// Add your agency's contribution to a case on your panel's agenda.
#[utoipa::path(post, path = "/v1/cases/{id}/notes", tag = "cases", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Case id")), request_body = crate::domain::panel::NoteBody,
    responses(
        (status = 201, description = "Added", body = Note),
        (status = 403, description = "`role_not_allowed`: not a member of a panel that listed the case", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")))]
pub async fn add_note(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let text = crate::http::json::checked_later(body.0, crate::domain::panel::NoteBody::validate)?;
    let (id, r) = (id.to_string(), rid(&request_id));
    let row = store
        .run(move |c| cases_app::add_note(c, &actor, r, &id, text))
        .await?;
    Ok(HttpResponse::Created().json(note(row)))
}

fn with_etag(body: CaseBody) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let CaseBody::Full(full) = &body {
        response.insert_header((header::ETAG, format!("\"{}\"", full.version)));
    }
    response.json(body)
}

/// One case as the caller may see it.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "The case; `ETag` is its version", body = CaseBody),
        (status = 401, description = "No usable token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json")))]
pub async fn read_case(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let (id, r) = (id.to_string(), rid(&request_id));
    let detail = store
        .run(move |c| cases_app::read_case(c, &actor, r, &id))
        .await?;
    Ok(with_etag(case_body(detail).map_err(ApiError::from)?))
}

/// Filters of the case list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Only cases in this state: a pathway state, or for cases you filed, the status you
    /// see (`received`, `being_assessed`, `closed`).
    #[param(schema_with = state_filter_schema)]
    pub state: Option<String>,
    /// Only cases past their due date, oldest due first.
    pub overdue: Option<bool>,
    /// Only the case with this reference.
    pub reference: Option<String>,
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page of this list, passed back unchanged
    /// (base64url). Any other value is 422 `invalid_cursor`; empty is the first page.
    #[param(pattern = r"^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// The values of the `state` filter: every pathway state, then the referrer's statuses.
fn state_filter_schema() -> utoipa::openapi::Object {
    let names = State::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(["received", "being_assessed", "closed"])
        .filter(|n| StatusFilter::parse(n).is_some());
    let mut unique: Vec<&str> = Vec::new();
    for n in names {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "Only cases in this state: a pathway state, or for cases you filed, the status \
             you see (`received`, `being_assessed`, `closed`).",
        ))
        .enum_values(Some(unique))
        .build()
}

/// The cases visible to the caller.
///
/// Pages: `cursor` is the `next_cursor` this list answered, unchanged. The server issued it
/// and decodes it; a value it did not issue is 422 `invalid_cursor`, even when it matches
/// the parameter's pattern.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(CaseQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of cases", body = Page<CaseListItem>),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No usable token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: a role that sees no cases", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown state, bad limit or cursor", body = Problem, content_type = "application/problem+json")))]
pub async fn list_cases(
    actor: Actor,
    request_id: RequestId,
    query: params::Query<CaseQuery>,
    store: web::Data<Store>,
) -> Result<Json<Page<CaseListItem>>, ApiError> {
    let q = query.into_inner();
    let limit = PageQuery::limit_of(q.limit)?;
    // The extractor checks `state` against the document's enum; this is the domain's word.
    let status = q.state.as_deref().and_then(StatusFilter::parse);
    if q.state.is_some() && status.is_none() {
        return Err(ApiError::BadParameters {
            code: "invalid_query",
            detail: "1 query parameter(s) are not valid; see `errors`.".into(),
            errors: vec![FieldError::query(
                "state",
                "invalid_value",
                "state must be a pathway state or a referrer's status",
            )],
        });
    }
    let asked = CaseListAsked {
        status,
        overdue: q.overdue == Some(true),
        reference: q.reference,
        limit,
        cursor: q.cursor,
    };
    Ok(Json(
        case_list(&store, actor, rid(&request_id), asked).await?,
    ))
}

/// The history of a case.
#[utoipa::path(get, path = "/v1/cases/{id}/history", tag = "cases", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "Every action in order", body = Vec<HistoryEntry>),
        (status = 403, description = "`role_not_allowed`: referrers see no history", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json")))]
pub async fn history(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let (id, r) = (id.to_string(), rid(&request_id));
    let (_, events) = store
        .run(move |c| cases_app::case_history(c, &actor, r, &id))
        .await?;
    Ok(Json(events.into_iter().map(history_entry).collect()))
}

/// The actions the caller may take now, with what each needs.
#[utoipa::path(get, path = "/v1/cases/{id}/actions", tag = "cases", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses(
        (status = 200, description = "What you may do now", body = AvailableActions),
        (status = 403, description = "`role_not_allowed`: referrers see only a status, never the actions", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json")))]
pub async fn available_actions(
    actor: Actor,
    request_id: RequestId,
    id: params::Path<uuid::Uuid>,
    store: web::Data<Store>,
) -> Result<Json<AvailableActions>, ApiError> {
    let (id, r) = (id.to_string(), rid(&request_id));
    let (case, transitions) = store
        .run(move |c| cases_app::available_actions(c, &actor, r, &id))
        .await?;
    let describe = |t: &Transition| AvailableAction {
        action: t.action,
        roles: t.roles.to_vec(),
        payload: t.payload,
        fields: fields_of(t.action, t.payload),
        schema: crate::http::contract::request_schema_ref(t.action),
        next_states: t.to.to_vec(),
    };
    let face = face_of(&case.case, case.view).map_err(ApiError::from)?;
    Ok(Json(AvailableActions {
        version: face.version.unwrap_or_default(),
        state: face.state,
        actions: transitions.into_iter().map(describe).collect(),
    }))
}

/// The version named by `If-Match`: `"3"` or `3`, as the document's
/// [`IF_MATCH_PATTERN`](crate::http::contract::IF_MATCH_PATTERN) says.
fn if_match(req: &HttpRequest) -> Result<i64, ApiError> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?;
    let text = value.to_str().unwrap_or_default().trim();
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let well_formed =
        (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    well_formed
        .then(|| digits.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            let message = "If-Match must be the case's ETag, for example \"3\".";
            ApiError::BadParameters {
                code: "invalid_if_match",
                detail: message.into(),
                errors: vec![FieldError::header("If-Match", "invalid_if_match", message)],
            }
        })
}

/// Parses the body for `action`; refusals are decided after the state and role checks.
pub(crate) fn command_of(action: Action, body: serde_json::Value) -> Result<Command, AppError> {
    /// Parses into the body type of the action's payload, then validates.
    struct Parse {
        action: Action,
        body: serde_json::Value,
    }
    impl WithBody for Parse {
        type Output = Result<Result<Command, Vec<FieldError>>, ApiError>;
        fn with<B: ActionBody>(self) -> Self::Output {
            let today = Utc::now().date_naive();
            from_value::<B>(self.body).map(|b| b.into_command(self.action, today))
        }
    }
    let payload = crate::domain::pathway::PATHWAY
        .iter()
        .find(|t| t.action == action)
        .map_or(Payload::Nothing, |t| t.payload);
    let invalid = |e: ApiError| match e {
        ApiError::Validation(errors) => AppError::Validation(errors),
        other => AppError::Validation(vec![FieldError::new(
            "",
            "invalid_value",
            other.to_string(),
        )]),
    };
    with_body(payload, Parse { action, body })
        .map_err(invalid)?
        .map_err(AppError::Validation)
}

/// Performs an action on a case.
#[utoipa::path(post, path = "/v1/cases/{id}/actions/{action}", tag = "cases", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Case id"),
        ("action" = Action, Path, description = "The action"),
        ("If-Match" = String, Header, description = "The case's version, its ETag: `\"3\"` or `3`")),
    request_body(content = Object, description = "The action's fields; see `GET /v1/cases/{id}/actions`"),
    responses(
        (status = 200, description = "Done; the case as it is now", body = CaseBody,
            headers(("ETag" = String, description = "The case's new version, for the next `If-Match`"))),
        (status = 400, description = "Malformed JSON, or `invalid_if_match`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`role_not_allowed`: your role may not take this action", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case, or not visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: not allowed from the case's state; `state` and `allowed_actions` say what is", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`: the case changed since your version; `current_version` is its version now", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `errors` names each field", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "`precondition_required`: no If-Match", body = Problem, content_type = "application/problem+json")))]
pub async fn perform_action(
    req: HttpRequest,
    actor: Actor,
    request_id: RequestId,
    path: params::Path<(uuid::Uuid, String)>,
    body: JsonBody<serde_json::Value>,
    store: web::Data<Store>,
    policy: web::Data<DuePolicy>,
) -> Result<HttpResponse, ApiError> {
    let retention = req
        .app_data::<web::Data<RetentionPolicy>>()
        .map(|r| ***r)
        .ok_or_else(|| ApiError::internal("the retention policy is not configured"))?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action).ok_or_else(|| {
        let accepted: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        ApiError::NotFoundAt(FieldError::path(
            "action",
            "unknown_action",
            format!("action must be one of: {}", accepted.join(", ")),
        ))
    })?;
    let version = if_match(&req)?;
    let command = command_of(action, body.0);
    let (id, r, policy, retention) = (id.to_string(), rid(&request_id), **policy, retention);
    let detail = store
        .run(move |c| {
            cases_app::perform_action(
                c, &actor, r, &id, action, version, command, &policy, &retention,
            )
        })
        .await?;
    tracing::info!(case.id = %detail.case.id, case.state = %detail.case.state, action = %action, "action performed");
    Ok(with_etag(case_body(detail).map_err(ApiError::from)?))
}
