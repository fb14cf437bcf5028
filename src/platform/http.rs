//! The daemon's HTTP listener: `/healthz` (this instance's role, and the clock's lag when it leads) and
//! Prometheus `/metrics` (tenants per subscription state, revenue over 30 days by currency, the clock's
//! lag, its wake-ups). The gauges are read from the database at each scrape, so a standby's agree too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::telegram::runtime::health;

use crate::billing::ledger::{self, REVENUE_SPAN};
use crate::billing::{State, clock};

/// What this instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Starting,
    Standby,
    Leader,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CurrencyLabel {
    currency: String,
}

/// The daemon's shared state: its role and its counters.
pub struct Status {
    pool: PgPool,
    role: AtomicU8,
    /// Times the clock woke up and advanced.
    pub clock_wakeups: Counter,
    /// Times the leader asked its lease connection whether it still holds.
    pub lease_checks: Counter,
    tenants: Family<StateLabel, Gauge>,
    revenue: Family<CurrencyLabel, Gauge>,
    lag: Gauge,
    registry: Registry,
}

impl Status {
    pub fn new(pool: PgPool) -> Arc<Self> {
        let clock_wakeups = Counter::default();
        let lease_checks = Counter::default();
        let tenants = Family::<StateLabel, Gauge>::default();
        let revenue = Family::<CurrencyLabel, Gauge>::default();
        let lag = Gauge::default();
        let mut registry = Registry::with_prefix("botctl_platform");
        registry.register("clock_wakeups", "Times the subscription clock woke up", clock_wakeups.clone());
        registry.register("lease_checks", "Times the leader checked its lease connection", lease_checks.clone());
        registry.register("tenants", "Tenants by subscription state", tenants.clone());
        registry.register(
            "revenue_minor",
            "Credits less revocations over the last 30 days, in the currency's minor unit",
            revenue.clone(),
        );
        registry.register("clock_lag_seconds", "How long ago the oldest change still to be made fell due", lag.clone());
        Arc::new(Self {
            pool,
            role: AtomicU8::new(Role::Starting as u8),
            clock_wakeups,
            lease_checks,
            tenants,
            revenue,
            lag,
            registry,
        })
    }

    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Relaxed);
    }

    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            r if r == Role::Leader as u8 => Role::Leader,
            r if r == Role::Standby as u8 => Role::Standby,
            _ => Role::Starting,
        }
    }

    async fn refresh(&self) -> Result<(), sqlx::Error> {
        let counts: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM botctl.subscriptions GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        for state in State::ALL {
            let n = counts.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n);
            self.tenants.get_or_create(&StateLabel { state: state.as_str().to_string() }).set(n);
        }
        let now = Utc::now();
        let revenue = ledger::revenue(&mut *self.pool.acquire().await?, now - REVENUE_SPAN, now).await?;
        self.revenue.clear();
        for money in revenue {
            self.revenue.get_or_create(&CurrencyLabel { currency: money.currency.code().to_string() }).set(money.minor);
        }
        self.lag.set(clock::lag(&self.pool, Utc::now()).await?.num_seconds());
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub role: Role,
    pub healthy: bool,
    /// How long ago the oldest change still to be made fell due; 0 when the clock is up to date.
    pub clock_lag_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

async fn healthz(AxumState(status): AxumState<Arc<Status>>) -> impl IntoResponse {
    let role = status.role();
    let lag = clock::lag(&status.pool, Utc::now()).await;
    let report = match lag {
        Ok(lag) => Report { role, healthy: true, clock_lag_seconds: Some(lag.num_seconds()), error: None },
        Err(e) => Report { role, healthy: false, clock_lag_seconds: None, error: Some(e.to_string()) },
    };
    let code = if report.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(report))
}

async fn metrics(AxumState(status): AxumState<Arc<Status>>) -> impl IntoResponse {
    if let Err(e) = status.refresh().await {
        tracing::warn!("the platform's metrics could not be read: {e}");
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &status.registry);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// Serves `/healthz` and `/metrics` on `addr` until `shutdown`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    status: Arc<Status>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let app = axum::Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(status);
    health::listen(addr, app, "the platform's HTTP listener", shutdown).await
}
