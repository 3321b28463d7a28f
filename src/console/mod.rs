//! The web console under `/console/`.

pub mod oidc;
pub mod session;
