//! `botctl serve`: one tenant's bot. Checks the schema matches this binary, then long-polls Telegram
//! and runs the handler tree, and the outbox's dispatcher beside it, until told to stop, when it stops
//! polling, finishes the updates and the messages in hand and returns.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::stop::{StopFlag, mk_stop_token};
use teloxide::types::Update;
use teloxide::update_listeners::StatefulListener;
use tokio_util::sync::CancellationToken;

use super::flood::{FloodGuard, Limits as FloodLimits};
use super::handlers::{self, Deps};
use super::health::{self, Health};
use super::outbox;
use super::state::DbStorage;
use super::telegram::TgBot;
use super::texts::{Catalog, LiveCatalog};
use super::{admin, business};
use crate::db::migrate;
use crate::locale::Locale;
use crate::telegram::BotToken;

/// How long one `getUpdates` waits for news: under teloxide's HTTP client timeout (17 s), as its own
/// polling does. `/healthz` allows two of these plus a margin.
const POLL_SECONDS: u32 = 10;

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
}

/// Runs until `shutdown` is cancelled. `ready` receives the health listener's address once polling starts.
pub async fn run(
    options: ServeOptions,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        // Handlers, the outbox's workers (each holds its row while it sends) and its listener.
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.database)
        .await
        .context("cannot connect to the tenant's database")?;
    check_schema(&pool).await?;
    let (catalog, flood) = tenant_settings(&pool, options.flood).await?;
    if !options.rate_limits && options.api_url.host_str() == Some("api.telegram.org") {
        tracing::warn!("Telegram's rate limits are off against Telegram itself: expect 429 answers");
    }
    let bot = Bot::new(options.token.expose()).set_api_url(options.api_url);
    set_commands(&bot).await;
    let replies = TgBot::new(bot.clone(), options.rate_limits);

    let health = Health::new(pool.clone(), Duration::from_secs(u64::from(POLL_SECONDS) * 2 + 10));
    let (http_addr, http_task) = health::serve(options.http_addr, health.clone(), shutdown.clone())
        .await
        .with_context(|| format!("cannot listen on {}", options.http_addr))?;
    tracing::info!(tenant = %options.tenant, bot = options.token.bot_id(), %http_addr, "serving");

    let texts = LiveCatalog::new(catalog);
    // The admins' command menus are a convenience: polling need not wait for a round trip per admin.
    tokio::spawn({
        let (bot, pool, catalog) = (replies.clone(), pool.clone(), texts.get());
        async move { admin::commands::offer_all(&bot, &pool, &catalog).await }
    });
    let sender =
        outbox::Dispatcher::new(pool.clone(), replies.clone(), texts.clone(), health.clone(), shutdown.clone());
    let outbox_task = tokio::spawn(sender.run());
    let deps = Arc::new(Deps { pool: pool.clone(), texts, flood: FloodGuard::new(flood), health: health.clone() });
    let mut dispatcher = Dispatcher::builder(bot.clone(), handlers::schema())
        .dependencies(dptree::deps![deps, replies, DbStorage::new(pool.clone())])
        .default_handler(|_| async {})
        .error_handler(LoggingErrorHandler::with_custom_text("an update handler failed"))
        .build();
    let stop = dispatcher.shutdown_token();
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        // Not yet running is the only error, and then there is nothing to stop.
        if let Ok(done) = stop.shutdown() {
            done.await;
        }
    });
    if let Some(ready) = ready {
        let _ = ready.send(http_addr);
    }
    let listener = polling(bot, health);
    dispatcher.dispatch_with_listener(listener, LoggingErrorHandler::with_custom_text("polling failed")).await;
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

async fn set_commands(bot: &Bot) {
    for locale in [Locale::Ru, Locale::En] {
        let commands = handlers::customer_commands(Catalog::defaults(locale));
        // Commands are a convenience: a failure is logged and polling goes on.
        if let Err(e) = bot.set_my_commands(commands).language_code(locale.to_string()).await {
            tracing::warn!(error = %e, %locale, "could not set the bot's commands");
        }
    }
}

/// Our own long-polling loop, so that every completed `getUpdates` (with updates or without) tells
/// `/healthz` that Telegram answers. Updates go to the dispatcher through a channel.
fn polling(bot: Bot, health: Arc<Health>) -> impl teloxide::update_listeners::UpdateListener<Err = Infallible> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Update>(256);
    let (token, flag) = mk_stop_token();
    tokio::spawn(poll(bot, health, tx, flag));
    StatefulListener::new(
        (Some(rx), token),
        |(rx, _): &mut (Option<tokio::sync::mpsc::Receiver<Update>>, teloxide::stop::StopToken)| {
            let rx = rx.take();
            futures_util::stream::unfold(rx, |rx| async move {
                let mut rx = rx?;
                let update = rx.recv().await?;
                Some((Ok::<Update, Infallible>(update), Some(rx)))
            })
            .boxed()
        },
        |(_, token): &mut (Option<tokio::sync::mpsc::Receiver<Update>>, teloxide::stop::StopToken)| token.clone(),
    )
}

async fn poll(bot: Bot, health: Arc<Health>, tx: tokio::sync::mpsc::Sender<Update>, flag: StopFlag) {
    let mut offset = 0;
    let mut backoff = Duration::from_secs(1);
    // The first poll returns at once, so health turns green as soon as Telegram has answered once.
    let mut wait = 0;
    tokio::pin!(flag);
    loop {
        let request = bot.get_updates().offset(offset).timeout(wait).send();
        let result = tokio::select! {
            () = &mut flag => return,
            result = request => result,
        };
        match result {
            Ok(updates) => {
                health.polled();
                wait = POLL_SECONDS;
                backoff = Duration::from_secs(1);
                for update in updates {
                    offset = update.id.as_offset();
                    if tx.send(update).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                let wait = match &error {
                    RequestError::RetryAfter(seconds) => seconds.duration(),
                    _ => backoff,
                };
                health.metrics.telegram_error(&error);
                tracing::warn!(error = %error, retry_in = ?wait, "getUpdates failed");
                backoff = (backoff * 2).min(Duration::from_secs(30));
                tokio::select! {
                    () = &mut flag => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}
