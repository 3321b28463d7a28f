//! Referral intake types (in progress).
