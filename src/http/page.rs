//! Cursor pagination: the lists' pages and the page-size rule are in
//! [`crate::present::page`], shared with the console.

pub use crate::present::page::*;
