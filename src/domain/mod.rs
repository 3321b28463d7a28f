//! Pure domain types: no I/O, no diesel, no actix.

pub mod actor;

pub use actor::{Actor, Area, Role};
