//! Cursor pagination shared by every list.

use serde::Serialize;

use crate::http::problem::{ApiError, FieldError};

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Page-size rules.
pub struct PageQuery;

impl PageQuery {
    /// Default page size.
    pub const DEFAULT_LIMIT: i64 = 50;
    /// Largest page size.
    pub const MAX_LIMIT: i64 = 500;

    /// The page size asked for, checked.
    pub fn limit_of(limit: Option<i64>) -> Result<i64, ApiError> {
        match limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::Validation(vec![FieldError::new(
                "limit",
                "out_of_range",
                format!("limit must be between 1 and {}", Self::MAX_LIMIT),
            )])),
        }
    }
}
