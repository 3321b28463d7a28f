//! `pathway`: referral intake and the Channel case pathway of the Prevent programme.

pub mod app;
pub mod audit;
pub mod config;
pub mod console;
pub mod domain;
pub mod http;
pub mod identity;
pub mod notify;
pub mod present;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
