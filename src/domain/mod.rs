//! Pure domain types: no I/O, no diesel, no actix.

pub mod access;
pub mod actions;
pub mod actor;
pub mod channel;
pub mod command;
pub mod correction;
pub mod due;
pub mod field;
pub mod name;
pub mod panel;
pub mod pathway;
pub mod payload;
pub mod period;
pub mod record;
pub mod referral;
pub mod retention;
pub mod rules;
pub mod statistics;
pub mod subject_access;

pub use actor::{Actor, Area, Role, StaffEmail};
pub use field::{FieldError, FieldLocation};
