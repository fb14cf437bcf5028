//! The daemon's small HTTP listener: `/healthz` for Docker's healthcheck (the database answers and the
//! last `getUpdates` round-trip is recent) and Prometheus `/metrics`. `/healthz` answers from what the
//! bot already knows — its last poll, the outcome of its last database work, whether the outbox's
//! listener holds a live connection — and asks the database itself only when none of that says.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sqlx::PgPool;
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

/// What goes wrong with Telegram, counted by kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorKind {
    pub kind: String,
}

/// What became of an outbox row.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboxOutcome {
    pub outcome: String,
}

const HANDLER_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The daemon's counters and the handler latency histogram.
pub struct Metrics {
    pub updates: Counter,
    pub handler_seconds: Histogram,
    pub bookings_created: Counter,
    pub bookings_cancelled: Counter,
    pub telegram_errors: Family<ErrorKind, Counter>,
    pub outbox: Family<OutboxOutcome, Counter>,
    /// How often the dispatcher woke up to look at the outbox.
    pub outbox_wakeups: Counter,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let updates = Counter::default();
        // Prometheus' customary 1-2.5-5 steps, from 0.5 ms (a few queries and one Telegram call) to
        // 10 s (a send held back by Telegram's limits); 25 ms is a bound, so a p99 target can be read off.
        let handler_seconds = Histogram::new(HANDLER_BUCKETS);
        let bookings_created = Counter::default();
        let bookings_cancelled = Counter::default();
        let telegram_errors = Family::<ErrorKind, Counter>::default();
        let outbox = Family::<OutboxOutcome, Counter>::default();
        let outbox_wakeups = Counter::default();
        let mut registry = Registry::with_prefix("botctl");
        registry.register("updates", "Telegram updates received", updates.clone());
        registry.register("handler_seconds", "Time to handle one update", handler_seconds.clone());
        registry.register("bookings_created", "Bookings made by customers", bookings_created.clone());
        registry.register("bookings_cancelled", "Bookings cancelled", bookings_cancelled.clone());
        registry.register("telegram_errors", "Telegram API errors by kind", telegram_errors.clone());
        registry.register("outbox_messages", "Outbox rows worked on, by outcome", outbox.clone());
        registry.register("outbox_wakeups", "Times the outbox dispatcher woke up", outbox_wakeups.clone());
        Self {
            updates,
            handler_seconds,
            bookings_created,
            bookings_cancelled,
            telegram_errors,
            outbox,
            outbox_wakeups,
            registry,
        }
    }
}

impl Metrics {
    pub fn telegram_error(&self, error: &RequestError) {
        self.telegram_errors.get_or_create(&ErrorKind { kind: error_kind(error).to_string() }).inc();
    }

    pub fn outbox_outcome(&self, outcome: &str) {
        self.outbox.get_or_create(&OutboxOutcome { outcome: outcome.to_string() }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A short label for Prometheus, never the message itself (it may quote user input).
fn error_kind(error: &RequestError) -> &'static str {
    match error {
        RequestError::Api(ApiError::BotBlocked) => "bot_blocked",
        RequestError::Api(ApiError::MessageNotModified) => "message_not_modified",
        RequestError::Api(_) => "api",
        RequestError::MigrateToChatId(_) => "migrate_to_chat",
        RequestError::RetryAfter(_) => "retry_after",
        RequestError::Network(e) if e.is_timeout() => "timeout",
        RequestError::Network(_) => "network",
        RequestError::InvalidJson { .. } => "invalid_json",
        RequestError::Io(_) => "io",
    }
}

/// How long a database success or failure speaks for the database without asking it again.
const FRESH: Duration = Duration::from_secs(30);

/// What `/healthz` looks at.
pub struct Health {
    pool: PgPool,
    /// Unix milliseconds of the last completed `getUpdates`; 0 before the first.
    last_poll_ms: AtomicI64,
    /// How old the last poll may be: a long poll plus a margin.
    stale_after: Duration,
    database: Mutex<Database>,
    pub metrics: Metrics,
}

/// What the bot's own work last learned of the database.
#[derive(Default)]
struct Database {
    answered: Option<Instant>,
    failed: Option<(Instant, String)>,
    /// The outbox's listener holds a connection that is alive as far as anyone knows: its loss is
    /// reported at once, so while it holds the server is up and lets the tenant in.
    listening: bool,
}

impl Database {
    /// `Some` when known without asking: `Ok` for up, `Err` with the last error for down.
    fn known(&self, now: Instant) -> Option<Result<(), String>> {
        let recent = |at: Instant| now.duration_since(at) <= FRESH;
        match &self.failed {
            Some((at, error)) if self.answered.is_none_or(|ok| ok < *at) => recent(*at).then(|| Err(error.clone())),
            _ => (self.listening || self.answered.is_some_and(recent)).then_some(Ok(())),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub database: String,
    /// Seconds since the last completed `getUpdates`, if there was one.
    pub last_poll_seconds_ago: Option<f64>,
}

impl Health {
    pub fn new(pool: PgPool, stale_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            pool,
            last_poll_ms: AtomicI64::new(0),
            stale_after,
            database: Mutex::default(),
            metrics: Metrics::default(),
        })
    }

    /// Called after every completed `getUpdates`.
    pub fn polled(&self) {
        self.last_poll_ms.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    fn database(&self) -> std::sync::MutexGuard<'_, Database> {
        // The state is a few plain fields, consistent even if a holder panicked.
        self.database.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The database answered some work.
    pub fn database_answered(&self) {
        self.database().answered = Some(Instant::now());
    }

    /// The database could not be reached for some work.
    pub fn database_failed(&self, error: &dyn std::fmt::Display) {
        self.database().failed = Some((Instant::now(), error.to_string()));
    }

    /// Whether the outbox's listener holds a live connection.
    pub fn listening(&self, listening: bool) {
        self.database().listening = listening;
    }

    pub async fn report(&self) -> Report {
        let known = if self.pool.is_closed() {
            Some(Err("the pool is closed".to_string()))
        } else {
            self.database().known(Instant::now())
        };
        let database = match known {
            Some(known) => known,
            None => self.ask_database().await,
        };
        let database = match database {
            Ok(()) => "ok".to_string(),
            Err(error) => format!("error: {error}"),
        };
        let last = self.last_poll_ms.load(Ordering::Relaxed);
        let ago = (last > 0).then(|| (chrono::Utc::now().timestamp_millis() - last) as f64 / 1000.0);
        let polling = ago.is_some_and(|s| s <= self.stale_after.as_secs_f64());
        Report { healthy: database == "ok" && polling, database, last_poll_seconds_ago: ago }
    }

    /// The cheap check, when nothing has said for a while whether the database is there.
    async fn ask_database(&self) -> Result<(), String> {
        let answer = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(&self.pool)).await;
        match answer {
            Ok(Ok(_)) => {
                self.database_answered();
                Ok(())
            }
            Ok(Err(e)) => {
                self.database_failed(&e);
                Err(e.to_string())
            }
            Err(_) => {
                let error = "no answer within 2 s";
                self.database_failed(&error);
                Err(error.to_string())
            }
        }
    }
}

async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let report = health.report().await;
    let status = if report.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(report))
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], health.metrics.encode())
}

/// Serves `/healthz` and `/metrics` on `addr` until `shutdown`; returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(health);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health listener stopped");
        }
    });
    Ok((bound, task))
}

/// Asks a running daemon's `/healthz`; `Ok(true)` when it is healthy. For `botctl health` (Docker's
/// healthcheck), so it must be quick and need nothing but the address.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> anyhow::Result<bool> {
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    let response = client.get(format!("http://{addr}/healthz")).send().await?;
    Ok(response.status().is_success())
}
