//! A bot's health and its small HTTP listener: `/healthz` for Docker's healthcheck (the database answers and the
//! last `getUpdates` round-trip is recent) and Prometheus `/metrics`. `/healthz` answers from what the
//! bot already knows — its last poll, the outcome of its last database work, however old — and asks the
//! database itself only before anything is known: an idle bot probed by Docker opens no connection.

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
use sqlx::Connection;
use sqlx::PgPool;
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

use crate::db::ConnectionLimit;

/// What goes wrong with Telegram, counted by kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorKind {
    pub kind: String,
}

const HANDLER_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What every bot counts: updates, the time to handle one, Telegram's errors; a bot registers its own
/// counters beside them (`extend`), and `/metrics` shows them all.
pub struct Metrics {
    pub updates: Counter,
    pub handler_seconds: Histogram,
    pub telegram_errors: Family<ErrorKind, Counter>,
    /// Behind a lock because a bot's parts register their counters after the health is made.
    registry: Mutex<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let updates = Counter::default();
        // Prometheus' customary 1-2.5-5 steps, from 0.5 ms (a few queries and one Telegram call) to
        // 10 s (a send held back by Telegram's limits); 25 ms is a bound, so a p99 target can be read off.
        let handler_seconds = Histogram::new(HANDLER_BUCKETS);
        let telegram_errors = Family::<ErrorKind, Counter>::default();
        let mut registry = Registry::with_prefix("botctl");
        registry.register("updates", "Telegram updates received", updates.clone());
        registry.register("handler_seconds", "Time to handle one update", handler_seconds.clone());
        registry.register("telegram_errors", "Telegram API errors by kind", telegram_errors.clone());
        Self { updates, handler_seconds, telegram_errors, registry: Mutex::new(registry) }
    }
}

impl Metrics {
    pub fn telegram_error(&self, error: &RequestError) {
        self.telegram_errors.get_or_create(&ErrorKind { kind: error_kind(error).to_string() }).inc();
    }

    /// Registers a bot's own metrics beside the runtime's.
    pub fn extend(&self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry());
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry());
        text
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Registering is a plain insert, consistent even if a holder panicked.
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// What the bot's own work last learned of the database. However old, it stands until later work says
/// otherwise: the outbox's rescan refreshes it every few minutes, and any failure is told at once.
#[derive(Default)]
struct Database {
    answered: Option<Instant>,
    failed: Option<Failure>,
}

struct Failure {
    at: Instant,
    /// As the failing work told it.
    error: String,
    /// The reason a connection of its own was given, when the error did not say (a pool that gave up
    /// waiting hides the server's refusal); asked once per error.
    reason: Option<String>,
}

/// The database's state as far as the bot knows it.
enum Known {
    Nothing,
    Up,
    Down { error: String, reason: Option<String> },
}

impl Database {
    fn known(&self) -> Known {
        match &self.failed {
            Some(failure) if self.answered.is_none_or(|ok| ok < failure.at) => {
                Known::Down { error: failure.error.clone(), reason: failure.reason.clone() }
            }
            _ if self.answered.is_some() => Known::Up,
            _ => Known::Nothing,
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
        let error = error.to_string();
        let mut database = self.database();
        // The same error again keeps the reason already found for it.
        let reason = database.failed.take().filter(|f| f.error == error).and_then(|f| f.reason);
        let reason = reason.or_else(|| ConnectionLimit::in_message(&error).map(|limit| format!("{limit}: {error}")));
        database.failed = Some(Failure { at: Instant::now(), error, reason });
    }

    pub async fn report(&self) -> Report {
        let database = if self.pool.is_closed() {
            Err("the pool is closed".to_string())
        } else {
            let known = self.database().known();
            match known {
                Known::Up => Ok(()),
                Known::Down { reason: Some(reason), .. } => Err(reason),
                Known::Down { error, reason: None } => Err(self.explain(error).await),
                Known::Nothing => self.ask_database().await,
            }
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

    /// Before the bot's work has said anything about the database: the cheap check.
    async fn ask_database(&self) -> Result<(), String> {
        let answer = tokio::time::timeout(ASK_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool)).await;
        match answer {
            Ok(Ok(_)) => {
                self.database_answered();
                Ok(())
            }
            Ok(Err(e)) => {
                let error = refusal(&e);
                self.database_failed(&error);
                Err(error)
            }
            Err(_) => {
                let error = format!("no answer within {} s", ASK_TIMEOUT.as_secs());
                self.database_failed(&error);
                Err(error)
            }
        }
    }

    /// `error`, with the server's own reason when one connection of its own, outside the pool, gets one:
    /// the pool retries a refusal (a connection limit) until it gives up and then says only that it timed
    /// out. Asked once per error, so a failing bot probed by Docker does not knock at every probe.
    async fn explain(&self, error: String) -> String {
        let options = self.pool.connect_options();
        let attempt = tokio::time::timeout(ASK_TIMEOUT, sqlx::PgConnection::connect_with(&*options)).await;
        let reason = match attempt {
            Ok(Err(refused)) => refusal(&refused),
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                error.clone()
            }
            Err(_) => error.clone(),
        };
        let mut database = self.database();
        if let Some(failure) = database.failed.as_mut().filter(|f| f.error == error) {
            failure.reason = Some(reason.clone());
        }
        reason
    }
}

/// How long `/healthz` waits for the database when it asks.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// A database error as `/healthz` tells it: a connection limit's refusal is named, in the server's words.
fn refusal(error: &sqlx::Error) -> String {
    match ConnectionLimit::of(error) {
        Some(limit) => format!("{limit}: {error}"),
        None => error.to_string(),
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
    let app = axum::Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(health);
    listen(addr, app, "the health listener", shutdown).await
}

/// Serves `app` on `addr` until `shutdown`, in a task of its own; returns the bound address. `what`
/// names the listener in the log if it fails.
pub async fn listen(
    addr: SocketAddr,
    app: axum::Router,
    what: &'static str,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
            tracing::error!(error = %e, "{what} stopped");
        }
    });
    Ok((bound, task))
}

/// Asks a running daemon's `/healthz`; `Ok(true)` when it is healthy. For `botctl health`, which Docker
/// runs in every container at each healthcheck interval: a blocking HTTP/1.0 GET by hand, because an HTTP client
/// library would start a runtime and load TLS roots for one plain request on loopback.
pub fn probe(addr: SocketAddr, timeout: Duration) -> std::io::Result<bool> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    // HTTP/1.0: the server closes the connection after its answer, whose first line is all that counts.
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let status = answer.split(|&b| b == b' ').nth(1).and_then(|code| std::str::from_utf8(code).ok());
    match status.and_then(|code| code.parse::<u16>().ok()) {
        Some(code) => Ok((200..300).contains(&code)),
        None => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer")),
    }
}
