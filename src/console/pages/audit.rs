//! Audit search and verification, for auditors.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use serde_json::json;

use super::{
    Answer, Refusal, context, date_of, date_parts, field_errors, query, request_id, store,
};
use crate::app::AppError;
use crate::console::ConsoleError;
use crate::console::csrf::Form;
use crate::console::render::page;
use crate::console::session;
use crate::domain::{FieldError, Role};
use crate::present::audit::{AuditAsked, audit_page};
use crate::present::page::PageQuery;

/// A query's value, trimmed; nothing when empty.
fn text(q: &Form, name: &str) -> Option<String> {
    q.get(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The search the form asks for, or what is wrong with it.
fn search_of(q: &Form) -> (AuditAsked, Vec<Refusal>) {
    let mut found = Vec::new();
    let case_id = match text(q, "case_id").map(|c| uuid::Uuid::parse_str(&c)) {
        Some(Err(_)) => {
            found.push(Refusal::new(
                "case_id",
                "#case_id",
                "Enter a case id in the correct format, like 0196a1c2-7e3b-7c1d-9f00-3c5e8a1b2d4f",
            ));
            None
        }
        other => other.and_then(Result::ok),
    };
    let mut day = |name: &str, example: &str| {
        date_of(q, name).unwrap_or_else(|()| {
            let message = format!("The {name} date must be a real date, like {example}");
            found.push(Refusal::new(name, &format!("#{name}-day"), message));
            None
        })
    };
    let (from, to) = (day("from", "1 4 2026"), day("to", "30 4 2026"));
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        found.push(Refusal::new(
            "from",
            "#from-day",
            "The from date must be the same as or before the to date",
        ));
    }
    // Entries a page: the API's default unless the address says otherwise, within the
    // API's limits.
    let limit = match text(q, "limit").map(|l| l.parse::<i64>().ok()) {
        None => None,
        Some(n) if n.is_some_and(|n| PageQuery::limit_of(Some(n)).is_ok()) => n,
        Some(_) => {
            let message = format!(
                "The page size must be a whole number from 1 to {}",
                PageQuery::MAX_LIMIT
            );
            found.push(Refusal::new("limit", "#case_id", message));
            None
        }
    };
    let start_of = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0);
    let asked = AuditAsked {
        case_id: case_id.map(|id| id.to_string()),
        actor: text(q, "actor"),
        action: text(q, "action"),
        from: from.and_then(start_of),
        // The form's "to" is a whole day; the search's `to` is the first moment after.
        to: to.and_then(|d| d.succ_opt()).and_then(start_of),
        order: None,
        limit,
        cursor: text(q, "cursor"),
    };
    (asked, found)
}

/// The refusals of a search the audit log would not answer, beside the form's fields.
fn refusals_of(errors: Vec<FieldError>) -> Vec<Refusal> {
    errors
        .into_iter()
        .map(|e| {
            let href = match e.field.as_str() {
                "case_id" | "actor" | "action" => format!("#{}", e.field),
                "from" => "#from-day".to_owned(),
                "to" => "#to-day".to_owned(),
                _ => "#case_id".to_owned(),
            };
            Refusal::new(&e.field, &href, e.message)
        })
        .collect()
}

/// The address of the next page: this search's, with the next cursor.
fn next_page(q: &Form, cursor: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.0 {
        if k != "cursor" {
            s.append_pair(k, v);
        }
    }
    s.append_pair("cursor", cursor);
    s.finish()
}

/// `GET /console/audit`: search the audit log as `GET /v1/audit` does.
pub async fn audit(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let q = query(&req);
    let (asked, mut found) = search_of(&q);
    let mut results = None;
    if found.is_empty() {
        let (actor, rid) = (session.actor.clone(), request_id(&req).await?);
        match audit_page(&*store(&req)?, actor, rid, asked).await {
            Ok(page) => results = Some(page),
            Err(AppError::Validation(errors)) => found = refusals_of(errors),
            Err(AppError::NotFound) => found.push(Refusal::new(
                "case_id",
                "#case_id",
                "There is no case with this id that you can see",
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let next = results
        .as_ref()
        .and_then(|r| r.next_cursor.as_deref())
        .map(|cursor| next_page(&q, cursor));
    let ctx = context(
        &session,
        "Audit log",
        "/console/audit",
        json!({
            "errors": !found.is_empty(),
            "summary": found,
            "field_errors": field_errors(&found),
            "search": {
                "case_id": q.get("case_id").unwrap_or_default(),
                "actor": q.get("actor").unwrap_or_default(),
                "action": q.get("action").unwrap_or_default(),
                "from": date_parts(&q, "from"),
                "to": date_parts(&q, "to"),
            },
            "results": results,
            "next": next,
        }),
    );
    page(StatusCode::OK, "audit.html", &ctx)
}

/// `GET /console/audit/verify`: the verification `GET /v1/audit/verify` answers.
pub async fn verify(req: HttpRequest) -> Answer {
    let session = session::require(&req, &[Role::Auditor]).await?;
    let store = store(&req)?;
    let trust = store
        .audit()
        .cloned()
        .ok_or_else(|| ConsoleError::failed("the store has no audit keys"))?;
    let (actor, rid) = (session.actor.clone(), request_id(&req).await?);
    let report = store
        .run(move |c| crate::app::audit::verify_log(c, &actor, rid, &trust))
        .await?;
    if !report.intact {
        tracing::error!(
            breaks = report.breaks.len(),
            "audit log verification found breaks"
        );
    }
    let ctx = context(
        &session,
        "Audit verification",
        "/console/audit/verify",
        json!({"report": report}),
    );
    page(StatusCode::OK, "verify.html", &ctx)
}
