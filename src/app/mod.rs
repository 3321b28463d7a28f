//! Use cases: one function each, one database transaction each.

pub mod audit;

use crate::audit::AuditContext;
use crate::domain::Actor;

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
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> AppError {
        AppError::Store(e.into())
    }
}
