//! `/metrics`: requests by route and status, a latency histogram, and pool use; behind a
//! bearer token when `metrics.token` is set (production requires it).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError as _, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::http::problem::ApiError;
use crate::identity::AuthFailure;
use crate::store::{DbPool, counters};

/// The path the metrics are answered at.
pub const PATH: &str = "/metrics";

/// Who may read `/metrics`: anyone (local use), or a request bearing the configured token.
#[derive(Clone)]
pub struct MetricsAccess {
    /// The SHA-256 of the token; `None`: open.
    token_digest: Option<[u8; 32]>,
}

impl MetricsAccess {
    /// Open when `token` is `None`, else only to `Authorization: Bearer <token>`.
    pub fn new(token: Option<&SecretString>) -> MetricsAccess {
        MetricsAccess {
            token_digest: token.map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
        }
    }

    /// `Ok` when the `Authorization` header value `presented` may read the metrics.
    fn check(&self, presented: Option<&str>) -> Result<(), AuthFailure> {
        let Some(expected) = &self.token_digest else {
            return Ok(());
        };
        let presented = presented.ok_or(AuthFailure::Missing)?;
        let (scheme, token) = presented
            .split_once(' ')
            .ok_or(AuthFailure::MetricsTokenInvalid)?;
        // Digests are compared, not the tokens: how long the comparison takes says
        // nothing about how much of a guess was right.
        let digest: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        if scheme.eq_ignore_ascii_case("bearer") && digest == *expected {
            Ok(())
        } else {
            Err(AuthFailure::MetricsTokenInvalid)
        }
    }
}

/// Middleware: `/metrics` without the configured token is refused 401 before the metrics
/// middleware answers it; any other path passes.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path() == PATH
        && let Some(access) = req.app_data::<web::Data<MetricsAccess>>()
    {
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        if let Err(failure) = access.check(presented) {
            let refusal = ApiError::Unauthenticated(failure).error_response();
            return Ok(req.into_response(refusal));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Reports the connection pool's state at each scrape.
struct PoolCollector {
    pool: DbPool,
    connections: IntGaugeVec,
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.connections.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.pool.state();
        let idle = i64::from(state.idle_connections);
        let open = i64::from(state.connections);
        let max = i64::from(self.pool.max_size());
        self.connections.with_label_values(&["idle"]).set(idle);
        self.connections
            .with_label_values(&["in_use"])
            .set(open - idle);
        self.connections.with_label_values(&["max"]).set(max);
        self.connections.collect()
    }
}

/// Reports the database work counted by `store::counters` at each scrape.
struct DatabaseWorkCollector {
    statements: IntCounterVec,
    transactions: IntCounterVec,
}

impl Collector for DatabaseWorkCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut desc = self.statements.desc();
        desc.extend(self.transactions.desc());
        desc
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = counters::read();
        // The counters only grow; each scrape adds what happened since the last one.
        let catch_up = |vec: &IntCounterVec, label: &str, total: u64| {
            let counter = vec.with_label_values(&[label]);
            counter.inc_by(total.saturating_sub(counter.get()));
        };
        catch_up(&self.statements, "sent", now.statements);
        catch_up(&self.statements, "prepared", now.prepared);
        catch_up(&self.transactions, "begun", now.transactions_begun);
        catch_up(&self.transactions, "committed", now.transactions_committed);
        catch_up(&self.transactions, "rolled_back", now.rolled_back);
        let mut families = self.statements.collect();
        families.extend(self.transactions.collect());
        families
    }
}

/// Builds the metrics middleware, which also answers `GET /metrics`.
pub fn middleware(
    pool: DbPool,
) -> Result<PrometheusMetrics, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    let connections = IntGaugeVec::new(
        Opts::new("db_pool_connections", "Database pool connections by state").namespace("pathway"),
        &["state"],
    )?;
    registry.register(Box::new(PoolCollector { pool, connections }))?;
    let statements = IntCounterVec::new(
        Opts::new(
            "db_statements_total",
            "Database statements: sent, and prepared (a miss in a connection's statement cache)",
        )
        .namespace("pathway"),
        &["kind"],
    )?;
    let transactions = IntCounterVec::new(
        Opts::new("db_transactions_total", "Database transactions by outcome").namespace("pathway"),
        &["outcome"],
    )?;
    registry.register(Box::new(DatabaseWorkCollector {
        statements,
        transactions,
    }))?;
    PrometheusMetricsBuilder::new("pathway")
        .endpoint(PATH)
        .registry(registry)
        .mask_unmatched_patterns("unmatched")
        .buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_endpoint_takes_anyone_and_a_guarded_one_only_its_token() {
        assert_eq!(MetricsAccess::new(None).check(None), Ok(()));
        let token = SecretString::from("a-metrics-token-of-at-least-32-characters");
        let access = MetricsAccess::new(Some(&token));
        assert_eq!(
            access.check(Some("Bearer a-metrics-token-of-at-least-32-characters")),
            Ok(())
        );
        assert_eq!(
            access.check(Some("bearer a-metrics-token-of-at-least-32-characters")),
            Ok(())
        );
        assert_eq!(access.check(None), Err(AuthFailure::Missing));
        for wrong in [
            "Bearer a-metrics-token-of-at-least-32-character",
            "Bearer ",
            "Basic a-metrics-token-of-at-least-32-characters",
            "a-metrics-token-of-at-least-32-characters",
            "",
        ] {
            assert_eq!(
                access.check(Some(wrong)),
                Err(AuthFailure::MetricsTokenInvalid),
                "{wrong:?}"
            );
        }
    }
}
