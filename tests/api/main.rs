//! The one integration-test binary: every test talks to a real server over HTTP, on a
//! fresh SQLite or PostgreSQL database (see `helpers.rs`).

mod audit;
mod auth;
mod channel;
mod compartment;
mod console;
mod contract;
mod contract_regressions;
mod correction;
mod errors;
mod hardening;
mod health;
mod helpers;
mod keys;
mod need_to_know;
mod notifications;
mod oidc;
mod openapi;
mod pathway;
mod process;
mod readers;
mod readme;
mod referrals;
mod resilience;
mod retention;
mod schema;
mod seed;
mod statistics;
mod strict_input;
mod subject_access;
mod vault;
mod visibility;
mod witness;
