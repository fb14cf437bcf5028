//! Telegram's updates: botctl's own long-polling loop, and the handler tree run over what it fetches.
//! An update's offset is confirmed to Telegram only once the update has been handled, or has failed
//! for a reason other than the database: one that meets an unreachable database waits for it and is
//! handled when it is back, in order within its chat, instead of being lost.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use sqlx::PgPool;
use teloxide::RequestError;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{ChatId, Me, Update};
use tokio_util::sync::CancellationToken;

use super::dialogue::{DbStorage, DialogueState};
use super::health::Health;
use crate::locale::Locale;

/// How long one `getUpdates` waits for news. Every idle bot of a fleet asks this often, so it is long
/// (Telegram allows 50 s): 500 bots at 25 s make 20 requests a second, at 10 s they made 50.
/// `/healthz` allows two of these plus a margin.
pub const POLL_SECONDS: u32 = 25;

/// The poller's HTTP timeout: teloxide's default (17 s) would cut a long poll short.
pub const POLL_CLIENT_TIMEOUT: Duration = Duration::from_secs(POLL_SECONDS as u64 + 10);

/// The Bot API handle a bot of ours polls and sends with: one HTTP client (one keep-alive connection
/// to Telegram) whose timeout lets a long poll run its course.
pub fn connect(token: &str, api_url: url::Url) -> anyhow::Result<Bot> {
    let client = teloxide::net::default_reqwest_settings().timeout(POLL_CLIENT_TIMEOUT).build()?;
    Ok(Bot::with_client(token, client).set_api_url(api_url))
}

/// The longest pause between two attempts during an outage of Telegram or of the database.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long the last `getUpdates`, which only confirms what was handled, may take at shutdown.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `error` says the database cannot be reached now (rather than that a query was wrong): the
/// connection failed, the pool found none, or the server is shutting down or not yet accepting.
pub fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 is connection exceptions; 57P01..57P03 are admin shutdown, crash shutdown and
        // "cannot connect now" (starting up).
        sqlx::Error::Database(e) => {
            e.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03"))
        }
        _ => false,
    }
}

/// The same for a handler's error, wherever in its chain the database's error sits.
fn failed_on_database(error: &anyhow::Error) -> bool {
    error.chain().filter_map(|e| e.downcast_ref::<sqlx::Error>()).any(database_unavailable)
}

fn backoff(failures: u32) -> Duration {
    teloxide::backoff::exponential_backoff_strategy(failures).min(MAX_BACKOFF)
}

/// Calls `attempt` until it succeeds, waiting between attempts as long as Telegram asks, or longer
/// after each failure; `None` once `stop` is cancelled.
pub async fn retrying<T, F, Fut>(what: &str, health: &Health, stop: &CancellationToken, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    for failures in 0.. {
        let error = tokio::select! {
            () = stop.cancelled() => return None,
            result = attempt() => match result {
                Ok(value) => return Some(value),
                Err(error) => error,
            },
        };
        let wait = match &error {
            RequestError::RetryAfter(seconds) => seconds.duration(),
            _ => backoff(failures),
        };
        health.metrics.telegram_error(&error);
        tracing::warn!(%error, retry_in = ?wait, "{what} failed");
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
    }
    None
}

/// Who the bot is, as `getMe` says; asked until Telegram answers. `None` once `stop` is cancelled.
pub async fn identify(bot: &Bot, health: &Health, stop: &CancellationToken) -> Option<Me> {
    let me = retrying("getMe", health, stop, || bot.get_me().send()).await?;
    tracing::info!(username = me.username(), "Telegram answers");
    Some(me)
}

/// Sets the bot's command menu in each language. A refusal is logged and not asked again; an outage is
/// returned, to be retried (`retrying`).
pub async fn set_commands(
    bot: &Bot,
    commands: impl Fn(Locale) -> Vec<teloxide::types::BotCommand>,
) -> Result<(), RequestError> {
    for locale in [Locale::Ru, Locale::En] {
        match bot.set_my_commands(commands(locale)).language_code(locale.to_string()).await {
            Ok(_) => {}
            // teloxide reads a 5xx's description as an unknown API error.
            Err(RequestError::Api(error)) if !matches!(error, teloxide::ApiError::Unknown(_)) => {
                tracing::warn!(%error, %locale, "Telegram refused the bot's commands");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The polling loop and what each update's handler is given; `S` is the bot's dialogue state.
pub struct Updates<S> {
    pub bot: Bot,
    pub health: Arc<Health>,
    pub pool: PgPool,
    pub handler: UpdateHandler<anyhow::Error>,
    /// Everything handlers take besides the update, the bot, `Me` and the dialogue storage.
    pub deps: DependencyMap,
    pub stop: CancellationToken,
    /// One waiter at a time asks whether the database is back; the others then find out at once.
    probing: tokio::sync::Mutex<()>,
    state: std::marker::PhantomData<fn() -> S>,
}

impl<S: DialogueState> Updates<S> {
    pub fn new(
        bot: Bot,
        health: Arc<Health>,
        pool: PgPool,
        handler: UpdateHandler<anyhow::Error>,
        mut deps: DependencyMap,
        stop: CancellationToken,
    ) -> Self {
        deps.insert(bot.clone());
        let assumed = [dptree::Type::of::<Update>(), dptree::Type::of::<Me>(), dptree::Type::of::<Arc<DbStorage<S>>>()];
        // A handler asking for something nobody provides is a programming error: say so at start.
        dptree::type_check(handler.sig(), &deps, &assumed);
        Self {
            bot,
            health,
            pool,
            handler,
            deps,
            stop,
            probing: tokio::sync::Mutex::new(()),
            state: std::marker::PhantomData,
        }
    }

    /// Asks Telegram who the bot is until it answers (a bot whose Telegram is down at start stays up,
    /// unhealthy, and asks again), then runs `started` beside the polling and polls until `stop`.
    pub async fn serve<F, Fut>(self, started: F)
    where
        F: FnOnce(Me) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(me) = identify(&self.bot, &self.health, &self.stop).await else { return };
        tokio::spawn(started(me.clone()));
        self.run(me).await;
    }

    /// Polls and handles until `stop`, then confirms what was handled.
    pub async fn run(mut self, me: Me) {
        self.deps.insert(me);
        // Everything below `offset` is handled; Telegram has been told so up to `confirmed`.
        let (mut offset, mut confirmed) = (0, 0);
        // The first poll returns at once, so health turns green as soon as Telegram has answered once.
        let mut wait = 0;
        loop {
            let poll = || self.bot.get_updates().offset(offset).timeout(wait).send();
            let Some(updates) = retrying("getUpdates", &self.health, &self.stop, poll).await else { break };
            confirmed = offset;
            self.health.polled();
            wait = POLL_SECONDS;
            let Some(next) = updates.last().map(|u| u.id.as_offset()) else { continue };
            if !self.handle(updates).await {
                break;
            }
            offset = next;
        }
        if offset != confirmed {
            let confirm = self.bot.get_updates().offset(offset).limit(1).timeout(0).send();
            let unconfirmed = match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some("no answer".to_string()),
            };
            if let Some(error) = unconfirmed {
                tracing::warn!(%error, "could not confirm the last updates to Telegram; they may come again");
            }
        }
    }

    /// Handles a batch: each chat's updates in order, the chats side by side, as teloxide's dispatcher
    /// does. `false` when stopped with an update still waiting for the database.
    async fn handle(&self, updates: Vec<Update>) -> bool {
        let mut chats: Vec<(Option<ChatId>, Vec<Update>)> = Vec::new();
        for update in updates {
            let chat = update.chat().map(|c| c.id);
            match chats.iter_mut().find(|(c, _)| chat.is_some() && *c == chat) {
                Some((_, queue)) => queue.push(update),
                None => chats.push((chat, vec![update])),
            }
        }
        let chats = chats.into_iter().map(|(_, queue)| async move {
            for update in queue {
                if !self.handle_one(update).await {
                    return false;
                }
            }
            true
        });
        join_all(chats).await.into_iter().all(|done| done)
    }

    async fn handle_one(&self, update: Update) -> bool {
        let id = update.id.0;
        loop {
            // A storage of its own per update, to tell whether this update's dialogue met an
            // unreachable database: teloxide's dialogue entry then drops the update without an error.
            let storage = DbStorage::<S>::new(self.pool.clone());
            let mut deps = self.deps.clone();
            deps.insert(Arc::clone(&storage));
            deps.insert(update.clone());
            let failure = match self.handler.dispatch(deps).await {
                ControlFlow::Break(Ok(())) | ControlFlow::Continue(_) => None,
                ControlFlow::Break(Err(error)) => Some(error),
            };
            if !storage.met_unavailable_database() && !failure.as_ref().is_some_and(failed_on_database) {
                if storage.met_database() {
                    self.health.database_answered();
                }
                if let Some(error) = failure {
                    tracing::error!(update = id, error = format!("{error:#}"), "an update handler failed");
                }
                return true;
            }
            self.health.database_failed(&"unreachable while handling an update");
            tracing::warn!(update = id, "the database is unreachable: the update waits until it is back");
            if !self.database_back().await {
                return false;
            }
        }
    }

    /// Waits until the database answers; `false` if stopped first.
    async fn database_back(&self) -> bool {
        let _one = self.probing.lock().await;
        for failures in 0.. {
            let answer = tokio::select! {
                () = self.stop.cancelled() => return false,
                answer = sqlx::query("SELECT 1").execute(&self.pool) => answer,
            };
            match answer {
                Err(error) if database_unavailable(&error) => {
                    self.health.database_failed(&error);
                    tracing::debug!(%error, "the database is still unreachable")
                }
                _ => {
                    self.health.database_answered();
                    return true;
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return false,
                () = tokio::time::sleep(backoff(failures)) => {}
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unreachable_database_makes_an_update_wait() {
        let refused = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(database_unavailable(&refused()));
        assert!(database_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!database_unavailable(&sqlx::Error::RowNotFound));
        assert!(failed_on_database(&anyhow::Error::new(refused()).context("reading the dialogue")));
        assert!(!failed_on_database(&anyhow::Error::new(sqlx::Error::RowNotFound).context("no such booking")));
        assert!(!failed_on_database(&anyhow::anyhow!("Telegram said no")));
    }
}
