//! Use cases: one function each, one database transaction each.

pub mod audit;
pub mod cases;
pub mod notifications;
pub mod panels;
pub mod retention;
pub mod statistics;
pub mod subject_access;

use crate::audit::AuditContext;
use crate::domain::Actor;

/// The stored form of a repeat-referral match key: its SHA-256, hex.
pub fn subject_hash(match_key: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(match_key.as_bytes()))
}

/// The audit context of a request made by `actor`.
pub fn audit_context(actor: &Actor, request_id: Option<String>) -> AuditContext {
    AuditContext {
        actor_sub: actor.sub.clone(),
        actor_roles: actor.roles_list(),
        request_id,
    }
}

/// Why a use case refused or failed, independent of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The actor's role does not allow this.
    #[error("role not allowed")]
    RoleNotAllowed,
    /// No such case, or not visible to the actor.
    #[error("not found")]
    NotFound,
    /// The action is not allowed from the case's state.
    #[error("invalid transition from {state}")]
    InvalidTransition {
        /// The case's state.
        state: crate::domain::pathway::State,
        /// What the actor may do instead.
        allowed: Vec<crate::domain::pathway::Action>,
    },
    /// The case changed since the version the client holds.
    #[error("version mismatch")]
    VersionMismatch {
        /// The case's version now.
        current: i64,
    },
    /// The request conflicts with the record's state (a retention refusal).
    #[error("conflict: {code}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// For a person; names no case.
        detail: &'static str,
    },
    /// The idempotency key was used before with another body.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// Input that is well-formed but not acceptable.
    #[error("validation failed")]
    Validation(Vec<crate::domain::FieldError>),
    /// Statistics asked of days that are no published period, by a reader who may ask
    /// only those.
    #[error("not a published period")]
    UnpublishedPeriod {
        /// The financial year of the first day asked, to name the periods that may be.
        near: crate::domain::period::Period,
    },
    /// Stored data that should not exist (an unknown state, unreadable JSON).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl AppError {
    /// The stable code of a refusal, for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::RoleNotAllowed => "role_not_allowed",
            AppError::NotFound => "not_found",
            AppError::InvalidTransition { .. } => "invalid_transition",
            AppError::VersionMismatch { .. } => "version_mismatch",
            AppError::Conflict { code, .. } => code,
            AppError::IdempotencyKeyReused => "idempotency_key_reused",
            AppError::Validation(_) => "validation_failed",
            AppError::UnpublishedPeriod { .. } => "unpublished_period",
            AppError::Corrupt(_) | AppError::Store(_) => "internal_error",
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> AppError {
        AppError::Store(e.into())
    }
}

/// The result of a transaction that commits even when it refuses: the outer error
/// rolls back, the inner one is a refusal whose audit entry is kept.
pub(crate) type Committed<T> = Result<Result<T, AppError>, AppError>;

/// What one actor may see of many cases at once: the rule of [`crate::domain::access`],
/// with the agendas of the actor's panels read once. Every answer that names other
/// cases (linked cases, audit entries, agendas) asks it.
pub struct Sight<'a> {
    actor: &'a Actor,
    agenda: std::collections::HashSet<String>,
}

impl<'a> Sight<'a> {
    /// Reads what the rule needs to know about `actor`.
    pub fn of(
        conn: &mut crate::store::DbConnection,
        actor: &'a Actor,
    ) -> Result<Sight<'a>, AppError> {
        let agenda = if actor.has(crate::domain::Role::PanelMember) {
            crate::store::panels::cases_on_agendas_of(conn, &actor.email, actor.area.as_str())?
                .into_iter()
                .collect()
        } else {
            Default::default()
        };
        Ok(Sight { actor, agenda })
    }

    /// The actor's view of the case described by `facts`, or `None`.
    pub fn view(
        &self,
        facts: &crate::store::cases::AccessRow,
    ) -> Option<crate::domain::access::View> {
        let state = crate::domain::pathway::State::parse(&facts.state)?;
        crate::domain::access::view_of(
            self.actor,
            &crate::domain::access::CaseAccess {
                area: &facts.area,
                state,
                referrer_sub: &facts.referrer_sub,
                referred_to_channel: facts.referred_to_channel_at.is_some(),
                on_actors_agenda: self.agenda.contains(&facts.id),
            },
        )
    }

    /// The actor's view of each of the cases `ids` that exists, by id.
    pub fn views(
        &self,
        conn: &mut crate::store::DbConnection,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, Option<crate::domain::access::View>>, AppError>
    {
        Ok(crate::store::cases::access_facts(conn, ids)?
            .into_iter()
            .map(|f| {
                let view = self.view(&f);
                (f.id, view)
            })
            .collect())
    }

    /// The actor's scope over every case, narrowed by `filter`.
    pub fn scope(
        &self,
        filter: Option<crate::domain::access::StatusFilter>,
    ) -> crate::domain::access::ListScope {
        crate::domain::access::ListScope::of(
            self.actor,
            filter,
            self.agenda.iter().cloned().collect(),
        )
    }
}

/// Answers `refusal`, with `entry` recorded as a denied attempt in the transaction
/// `conn` is in: the refusal commits (its entry is kept) while the use case says no.
pub(crate) fn deny<T>(
    conn: &mut crate::store::DbConnection,
    ctx: &AuditContext,
    mut entry: crate::audit::AuditEvent,
    refusal: AppError,
) -> Committed<T> {
    entry.outcome = crate::audit::Outcome::Denied;
    crate::store::audit::append(conn, ctx, &[entry])?;
    Ok(Err(refusal))
}
