//! What a case, a list entry, a history entry, a note and the actions on offer look like
//! to whoever asks: the JSON API serialises these, and the console draws them.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::app::AppError;
use crate::app::cases::CaseDetail;
use crate::domain::access::{Face, StatusFilter, View};
use crate::domain::actions::FieldSpec;
use crate::domain::pathway::{Action, Payload, ReferrerStatus, State};
use crate::domain::referral::ReferralRequest;
use crate::domain::{Actor, Role};
use crate::present::page::{self, Page};
use crate::store::Store;
use crate::store::cases::{CaseFilter, CaseRow, EventRow};

/// What is due on a case.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Due {
    /// What is waited for.
    pub kind: String,
    /// By when.
    pub due_at: DateTime<Utc>,
    /// Past due.
    pub overdue: bool,
}

/// A linked (repeat) referral about the same person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkedCaseView {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Area.
    pub area: String,
    /// State.
    pub state: String,
    /// How it closed.
    pub outcome: Option<String>,
    /// Filed.
    pub submitted_at: DateTime<Utc>,
}

/// An onward referral.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OnwardView {
    /// Id (for `record_onward_outcome`).
    pub id: String,
    /// Kind of service.
    pub service_type: String,
    /// Organisation.
    pub organisation: String,
    /// Why.
    pub reason: String,
    /// `pending`, `acknowledged` or `declined`.
    pub status: String,
    /// What the service said.
    pub note: Option<String>,
    /// Made.
    pub created_at: DateTime<Utc>,
    /// Answered.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A case as its referrer sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReferrerCase {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// `received`, `being_assessed` or `closed`.
    pub status: ReferrerStatus,
    /// Filed.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A case as an officer, chair or auditor sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FullCase {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// The subject's local authority.
    pub area: String,
    /// Pathway state.
    pub state: State,
    /// The version to send in `If-Match`.
    pub version: i64,
    /// Filed.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// How it closed.
    pub outcome: Option<String>,
    /// What is waited for, and by when.
    pub due: Option<Due>,
    /// The referrer reported an immediate risk.
    pub immediate_risk: bool,
    /// When it was first referred to Channel.
    pub referred_to_channel_at: Option<DateTime<Utc>>,
    /// The referral as filed (validated and normalised); `null` once erased.
    #[schema(value_type = Option<ReferralRequest>)]
    pub referral: serde_json::Value,
    /// Its personal data was erased after a retention review: only the skeleton
    /// (states, dates, coded outcomes, statistical fields) remains.
    pub erased: bool,
    /// When.
    pub erased_at: Option<DateTime<Utc>>,
    /// When its retention review is due (set once it ends).
    pub review_due_at: Option<DateTime<Utc>>,
    /// A legal hold blocks its erasure.
    pub legal_hold: bool,
    /// Earlier or later referrals about the same person exist.
    pub repeat_referral: bool,
    /// Those referrals.
    pub linked_cases: Vec<LinkedCaseView>,
    /// Referrals to other services.
    pub onward_referrals: Vec<OnwardView>,
    /// Police only: the deconfliction result.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub deconfliction: Option<serde_json::Value>,
    /// The panel meetings it was listed for.
    pub meetings: Vec<crate::present::panels::Meeting>,
    /// Agencies' contributions.
    pub notes: Vec<Note>,
    /// The current support plan.
    #[schema(value_type = Option<Object>)]
    pub support_plan: Option<serde_json::Value>,
    /// The latest consent decision.
    #[schema(value_type = Option<Object>)]
    pub consent: Option<serde_json::Value>,
    /// When it left Channel.
    pub exited_at: Option<DateTime<Utc>>,
}

/// An agency's contribution to a case.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Note {
    /// Id.
    pub id: String,
    /// Who wrote it (`sub`).
    pub author: String,
    /// For which agency.
    pub agency: String,
    /// The contribution.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

pub fn note(n: crate::store::panels::NoteRow) -> Note {
    Note {
        id: n.id,
        author: n.author_sub,
        agency: n.agency,
        body: n.body,
        created_at: utc(n.created_at),
    }
}

/// A case, shaped by what the caller may see.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CaseBody {
    /// Officers, chairs, auditors.
    Full(Box<FullCase>),
    /// The person who filed it.
    Referrer(ReferrerCase),
}

pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn due_of(face: &Face, now: NaiveDateTime) -> Option<Due> {
    let (kind, at) = face.due.clone()?;
    Some(Due {
        kind,
        due_at: utc(at),
        overdue: at < now,
    })
}

/// What `view` is shown of the case's moving facts: every field below that carries
/// one takes it from here, never from the row.
pub fn face_of(row: &CaseRow, view: View) -> Result<Face, AppError> {
    row.compartments()
        .map(|c| view.face(&c))
        .ok_or_else(|| AppError::Corrupt("a case has an unknown state".into()))
}

pub fn referrer_case(row: &CaseRow, face: &Face) -> ReferrerCase {
    ReferrerCase {
        id: row.id.clone(),
        reference: row.reference.clone(),
        status: face.state.referrer_status(),
        submitted_at: utc(row.submitted_at),
        updated_at: utc(face.updated_at),
    }
}

pub fn case_body(d: CaseDetail) -> Result<CaseBody, AppError> {
    let row = d.case;
    let face = face_of(&row, d.view)?;
    if d.view == View::Referrer {
        return Ok(CaseBody::Referrer(referrer_case(&row, &face)));
    }
    let now = Utc::now().naive_utc();
    let police = d.view.sees_police_material();
    Ok(CaseBody::Full(Box::new(FullCase {
        due: due_of(&face, now),
        state: face.state,
        referral: serde_json::from_str(&row.referral).unwrap_or(serde_json::Value::Null),
        erased: row.erased_at.is_some(),
        erased_at: row.erased_at.map(utc),
        review_due_at: row.review_due_at.map(utc),
        legal_hold: row.legal_hold,
        deconfliction: if police {
            row.deconfliction
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
        } else {
            None
        },
        repeat_referral: !d.links.is_empty(),
        linked_cases: d
            .links
            .into_iter()
            .map(|l| LinkedCaseView {
                id: l.id,
                reference: l.reference,
                area: l.area,
                state: l.state,
                outcome: l.outcome,
                submitted_at: utc(l.submitted_at),
            })
            .collect(),
        onward_referrals: d
            .onward
            .into_iter()
            .map(|o| OnwardView {
                id: o.id,
                service_type: o.service_type,
                organisation: o.organisation,
                reason: o.reason,
                status: o.status,
                note: o.note,
                created_at: utc(o.created_at),
                resolved_at: o.resolved_at.map(utc),
            })
            .collect(),
        meetings: d
            .meetings
            .into_iter()
            .map(crate::present::panels::meeting)
            .collect(),
        notes: d.notes.into_iter().map(note).collect(),
        support_plan: row
            .support_plan
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        consent: row
            .consent
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        exited_at: row.exited_at.map(utc),
        id: row.id,
        reference: row.reference,
        area: row.area,
        version: face.version.unwrap_or_default(),
        submitted_at: utc(row.submitted_at),
        updated_at: utc(face.updated_at),
        outcome: face.outcome,
        immediate_risk: row.immediate_risk,
        referred_to_channel_at: row.referred_to_channel_at.map(utc),
    })))
}

/// A case in a list: no personal data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseSummary {
    /// Id.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Area.
    pub area: String,
    /// State.
    pub state: State,
    /// Version.
    pub version: i64,
    /// Filed.
    pub submitted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// What is due.
    pub due: Option<Due>,
    /// Reported immediate risk.
    pub immediate_risk: bool,
}

/// A list entry, shaped by what the caller may see.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CaseListItem {
    /// Officers, chairs, auditors.
    Full(CaseSummary),
    /// The person who filed it.
    Referrer(ReferrerCase),
}

/// One entry of a case's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Position, from 1.
    pub seq: i64,
    /// The action.
    pub action: String,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Who (`sub`).
    pub actor: String,
    /// Their roles then.
    pub actor_roles: Vec<String>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Coded reason.
    pub reason_code: Option<String>,
    /// Written rationale.
    pub rationale: Option<String>,
    /// The rest of what was recorded.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

pub fn history_entry(e: EventRow) -> HistoryEntry {
    HistoryEntry {
        seq: e.seq,
        action: e.action,
        from_state: e.from_state,
        to_state: e.to_state,
        actor: e.actor_sub,
        actor_roles: e
            .actor_roles
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        occurred_at: utc(e.occurred_at),
        reason_code: e.reason_code,
        rationale: e.rationale,
        details: serde_json::from_str(&e.details).unwrap_or_default(),
    }
}

/// An action the caller may take now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailableAction {
    /// The action (`POST /v1/cases/{id}/actions/{action}`).
    pub action: Action,
    /// The roles that may take it.
    pub roles: Vec<Role>,
    /// What the body carries.
    pub payload: Payload,
    /// The body's fields.
    pub fields: Vec<FieldSpec>,
    /// The body's schema in the OpenAPI document
    /// (`/openapi.json#/components/schemas/ReferToChannelRequest`).
    pub schema: String,
    /// Where it may lead.
    pub next_states: Vec<State>,
}

/// What the caller may do to a case now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailableActions {
    /// The case's state.
    pub state: State,
    /// The version to send in `If-Match`.
    pub version: i64,
    /// The actions.
    pub actions: Vec<AvailableAction>,
}

/// What a case list asks for. `limit` is checked already
/// ([`PageQuery::limit_of`](crate::present::page::PageQuery::limit_of)).
#[derive(Debug, Default)]
pub struct CaseListAsked {
    /// Only cases in this state, or with this referrer's status.
    pub status: Option<StatusFilter>,
    /// Only cases past their due date, oldest due first.
    pub overdue: bool,
    /// Only the case with this reference.
    pub reference: Option<String>,
    /// Page size.
    pub limit: i64,
    /// The `next_cursor` of the page before.
    pub cursor: Option<String>,
}

/// A page of the cases `actor` may see, each shaped by what they may see of it: the
/// answer of `GET /v1/cases` and the console's case lists.
pub async fn case_list(
    store: &Store,
    actor: Actor,
    request_id: Option<String>,
    asked: CaseListAsked,
) -> Result<Page<CaseListItem>, AppError> {
    let after = page::after(asked.cursor.as_deref())?;
    let (status, limit, overdue) = (asked.status, asked.limit, asked.overdue);
    let now = Utc::now().naive_utc();
    let filter = CaseFilter {
        reference: asked.reference,
        due_before: overdue.then_some(now),
        after,
    };
    let mut rows = store
        .run(move |c| {
            crate::app::cases::list_cases(c, &actor, request_id, status, filter, limit + 1)
        })
        .await?;
    let next_cursor = page::split_page(&mut rows, limit, |(row, _)| {
        let key = if overdue {
            row.due_at.unwrap_or(row.submitted_at)
        } else {
            row.submitted_at
        };
        page::encode_cursor(key, &row.id)
    });
    let mut items = Vec::with_capacity(rows.len());
    for (row, view) in rows {
        let face = face_of(&row, view)?;
        items.push(match view {
            View::Referrer => CaseListItem::Referrer(referrer_case(&row, &face)),
            _ => CaseListItem::Full(CaseSummary {
                due: due_of(&face, now),
                state: face.state,
                id: row.id,
                reference: row.reference,
                area: row.area,
                version: face.version.unwrap_or_default(),
                submitted_at: utc(row.submitted_at),
                updated_at: utc(face.updated_at),
                immediate_risk: row.immediate_risk,
            }),
        });
    }
    Ok(Page { items, next_cursor })
}
