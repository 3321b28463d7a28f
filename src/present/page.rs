//! Cursor pagination shared by every list, and the page-size rule: the API's lists and
//! the console's pages take both from here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;

use crate::app::AppError;
use crate::domain::FieldError;

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
    pub fn limit_of(limit: Option<i64>) -> Result<i64, AppError> {
        match limit {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(n) if (1..=Self::MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(AppError::Validation(vec![FieldError::query(
                "limit",
                "out_of_range",
                format!("limit must be between 1 and {}", Self::MAX_LIMIT),
            )])),
        }
    }
}

/// Where a page given `cursor` starts: `None` for the first page (no cursor, or an empty
/// one, as clients that template the URL send it); a cursor this service did not issue
/// is refused.
pub fn after(cursor: Option<&str>) -> Result<Option<(NaiveDateTime, String)>, AppError> {
    match cursor.filter(|c| !c.is_empty()).map(decode_cursor) {
        Some(None) => Err(AppError::Validation(vec![FieldError::query(
            "cursor",
            "invalid_cursor",
            "Not a cursor from this list.",
        )])),
        other => Ok(other.flatten()),
    }
}

/// Keeps the first `limit` of `rows` (fetched as `limit + 1`) and returns the cursor of
/// the last one kept when more follow, `None` on the last page.
pub fn split_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(cursor_of)
}

/// The opaque cursor of keyset pagination: a sort time and an id, base64url-encoded.
pub fn encode_cursor(at: NaiveDateTime, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.and_utc().timestamp_micros()))
}

/// Reads a cursor made by [`encode_cursor`]; `None` for anything else.
pub fn decode_cursor(cursor: &str) -> Option<(NaiveDateTime, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once('|')?;
    uuid::Uuid::parse_str(id).ok()?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc(),
        id.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_its_limit_and_names_the_next_only_when_more_follow() {
        let mut more = vec![1, 2, 3];
        assert_eq!(
            split_page(&mut more, 2, ToString::to_string),
            Some("2".into())
        );
        assert_eq!(more, vec![1, 2]);
        let mut last = vec![1, 2];
        assert_eq!(split_page(&mut last, 2, ToString::to_string), None);
        assert_eq!(last, vec![1, 2]);
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = DateTime::from_timestamp_micros(1_795_000_000_123_456)
            .unwrap()
            .naive_utc();
        let id = uuid::Uuid::now_v7().to_string();
        assert_eq!(decode_cursor(&encode_cursor(at, &id)), Some((at, id)));
        for bad in [
            "",
            "garbage",
            "MTIz",
            &URL_SAFE_NO_PAD.encode("12|not-a-uuid"),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
