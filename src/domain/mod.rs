//! Pure domain types: no I/O, no diesel, no actix.

pub mod actor;
pub mod field;
pub mod referral;

pub use actor::{Actor, Area, Role};
pub use field::FieldError;
