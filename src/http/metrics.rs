//! `/metrics`: requests by route and status, a latency histogram, and pool use.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts, Registry};

use crate::store::DbPool;

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
    PrometheusMetricsBuilder::new("pathway")
        .endpoint("/metrics")
        .registry(registry)
        .mask_unmatched_patterns("unmatched")
        .buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
}
