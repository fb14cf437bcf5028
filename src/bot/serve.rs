//! `botctl serve`: one tenant's bot. Checks the schema matches this binary, then long-polls Telegram
//! and runs the handler tree, and the outbox's dispatcher beside it, until told to stop, when it stops
//! polling, finishes the updates and the messages in hand and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use teloxide::prelude::*;
use tokio_util::sync::CancellationToken;

use super::handlers::{self, Deps};
use super::state::State;
use super::texts::{Catalog, LiveCatalog};
use super::{admin, business, metrics, outbox};
use crate::db::migrate;
use crate::telegram::BotToken;
use crate::telegram::runtime::flood::{FloodGuard, Limits as FloodLimits};
use crate::telegram::runtime::health::{self, Health};
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::runtime::updates::{self, POLL_SECONDS, Updates};

#[derive(Clone)]
pub struct ServeOptions {
    /// The tenant's name, for logs.
    pub tenant: String,
    /// The tenant's own role; its search path is its schema.
    pub database: PgConnectOptions,
    pub token: BotToken,
    pub api_url: url::Url,
    pub http_addr: SocketAddr,
    /// Whether sends keep to Telegram's rate limits; only a Bot API without limits (botctl's emulator)
    /// may go without.
    pub rate_limits: bool,
    /// Overrides the tenant's own flood limits (a scripted customer taps faster than people may).
    pub flood: Option<FloodLimits>,
    /// How often the outbox looks for rows another process wrote (`outbox::RESCAN` unless told).
    pub outbox_rescan: Duration,
}

/// The most connections one tenant's bot opens: a tick's claiming session, and handlers and sends at
/// work; a burst beyond waits its turn (the outbox's sends hold no connection while Telegram answers).
/// `botctl doctor` budgets with it.
pub const MAX_CONNECTIONS: u32 = 5;

/// How long an unused connection stays open in a bot's pool (closed by the reaper within twice that).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs until `shutdown` is cancelled. `ready` receives the health listener's address once polling starts.
pub async fn run(
    options: ServeOptions,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    // An idle tenant holds no connection: a fleet's server backends grow with the tenants at work, not
    // with those running (DESIGN §4a). Connections are opened for work and closed soon after; sqlx's
    // reaper runs every min(idle_timeout, max_lifetime), so an unused one closes 5–10 s after its last
    // use — long enough that a conversation's taps reuse one, short enough that bots started one after
    // another (a fleet's start, `tenant upgrade --all`) do not pile their first connections up.
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .min_connections(0)
        .idle_timeout(IDLE_TIMEOUT)
        .max_lifetime(Duration::from_secs(30 * 60))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.database)
        .await
        .context("cannot connect to the tenant's database")?;
    check_schema(&pool).await?;
    let (catalog, flood) = tenant_settings(&pool, options.flood).await?;
    let admins = admin::commands::started_admins(&pool).await;
    if !options.rate_limits && options.api_url.host_str() == Some("api.telegram.org") {
        tracing::warn!("Telegram's rate limits are off against Telegram itself: expect 429 answers");
    }
    let bot = updates::connect(options.token.expose(), options.api_url)?;
    let replies = TgBot::new(bot.clone(), options.rate_limits);

    let health = Health::new(pool.clone(), Duration::from_secs(u64::from(POLL_SECONDS) * 2 + 10));
    // The database has just answered: the first probes of `/healthz` need not ask it on another connection.
    health.database_answered();
    let (http_addr, http_task) = health::serve(options.http_addr, health.clone(), shutdown.clone())
        .await
        .with_context(|| format!("cannot listen on {}", options.http_addr))?;
    tracing::info!(tenant = %options.tenant, bot = options.token.bot_id(), %http_addr, "serving");

    let texts = LiveCatalog::new(catalog);
    let sender =
        outbox::Dispatcher::new(pool.clone(), replies.clone(), texts.clone(), health.clone(), shutdown.clone())
            .with_rescan(options.outbox_rescan);
    let outbox_task = tokio::spawn(sender.run());
    let bookings = metrics::Bookings::default();
    health.metrics.extend(|registry| bookings.register(registry));
    let deps = Arc::new(Deps {
        pool: pool.clone(),
        texts: texts.clone(),
        flood: FloodGuard::new(flood),
        health: health.clone(),
        bookings,
    });
    let updates = Updates::<State>::new(
        bot.clone(),
        health.clone(),
        pool.clone(),
        handlers::schema(),
        dptree::deps![deps, replies.clone()],
        shutdown.clone(),
    );
    // Telegram may be down or failing at start: serve stays up, unhealthy, and asks again until it
    // answers; only then does it poll and set the command menus.
    let telegram = tokio::spawn({
        let (health, stop, pool) = (health.clone(), shutdown.clone(), pool.clone());
        updates.serve(|_me| async move {
            let commands = |locale| handlers::customer_commands(Catalog::defaults(locale));
            updates::retrying("setMyCommands", &health, &stop, || updates::set_commands(&bot, commands)).await;
            // The admins' command menus are a convenience: polling need not wait for them.
            admin::commands::offer_all(&replies, &pool, &texts.get(), admins).await;
        })
    });
    if let Some(ready) = ready {
        let _ = ready.send(http_addr);
    }
    if let Err(e) = telegram.await {
        tracing::error!("the update loop failed: {e}");
    }
    shutdown.cancel();
    http_task.await.context("the health listener")?;
    if let Err(e) = outbox_task.await.context("the outbox dispatcher")? {
        tracing::warn!("the outbox dispatcher stopped: {e:#}");
    }
    pool.close().await;
    Ok(())
}

/// Refuses to run against a schema this binary does not match: behind needs `botctl migrate`; ahead is
/// allowed only when the schema says binaries this old may still serve it (an upgrade rolled back).
async fn check_schema(pool: &PgPool) -> anyhow::Result<()> {
    let current: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .context("cannot read the tenant schema's migration ledger")?;
    let current = current.unwrap_or(0);
    let latest = migrate::tenant_latest();
    if current < latest {
        anyhow::bail!("the tenant schema is at version {current}, this botctl needs {latest}: run `botctl migrate`");
    }
    if current > latest {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT oldest_reader FROM schema_compat")
            .fetch_optional(pool)
            .await
            .context("cannot read which binaries the tenant schema allows")?;
        match oldest {
            Some(oldest) if oldest <= latest => tracing::warn!(
                schema = current,
                image = latest,
                "the schema is newer than this image but still allows it (an upgrade was rolled back?)"
            ),
            oldest => anyhow::bail!(
                "this image is older than the schema (schema version {current}, image knows {latest}, the schema \
                 needs at least {}): upgrade the image",
                oldest.unwrap_or(current)
            ),
        }
    }
    Ok(())
}

/// The tenant's texts and flood limits.
async fn tenant_settings(pool: &PgPool, fixed: Option<FloodLimits>) -> anyhow::Result<(Catalog, FloodLimits)> {
    let (message_seconds, button_seconds): (f64, f64) =
        sqlx::query_as("SELECT flood_message_seconds::float8, flood_button_seconds::float8 FROM settings")
            .fetch_one(pool)
            .await
            .context("cannot read the tenant's settings")?;
    let catalog = business::catalog(pool).await.context("cannot read the tenant's texts")?;
    // The database keeps the values in range (0.1 s to 60 s).
    let flood = fixed.unwrap_or(FloodLimits {
        message_every: Duration::from_secs_f64(message_seconds),
        button_every: Duration::from_secs_f64(button_seconds),
        ..FloodLimits::default()
    });
    Ok((catalog, flood))
}
