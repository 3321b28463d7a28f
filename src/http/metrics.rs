//! `/metrics`: requests by route and status, a latency histogram, and pool use.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::store::{DbPool, counters};

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
        .endpoint("/metrics")
        .registry(registry)
        .mask_unmatched_patterns("unmatched")
        .buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
}
