//! The service's answers as the people asking see them: the typed shapes of a case, a
//! list entry, a history entry, a panel, a meeting, an audit entry and a retention
//! review, and the paging of lists. The JSON API serialises them; the console draws the
//! same values, so a page can never show more than the API would show the same person.

pub mod audit;
pub mod cases;
pub mod page;
pub mod panels;
pub mod retention;
pub mod statistics;
