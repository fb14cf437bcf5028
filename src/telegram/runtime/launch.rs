//! How a platform bot (the operator bot, the sales bot) comes up and goes down: its Telegram client and
//! throttled sender, its health (with a listener of its own only when it runs outside `platform serve`,
//! whose listener reports on the daemon), polling with its command menu set once Telegram answers, and
//! a stop that returns only when its listener has stopped too. What runs beside the polling (the
//! operator's alerts, the sales orders' resumer) is the bot's own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use teloxide::Bot;
use teloxide::dispatching::UpdateHandler;
use teloxide::dptree::di::DependencyMap;
use teloxide::types::BotCommand;
use tokio_util::sync::CancellationToken;

use super::dialogue::DialogueState;
use super::health::{self, Health};
use super::sender::TgBot;
use super::updates::{self, POLL_SECONDS, Updates};
use crate::locale::Locale;
use crate::telegram::BotToken;

/// What a platform bot is started with.
pub struct Launch<'a> {
    /// How logs and errors name it: "the operator bot", "the sales bot".
    pub name: &'static str,
    pub token: &'a BotToken,
    pub api_url: url::Url,
    /// Whether sends keep to Telegram's rate limits (off only against botctl's emulator).
    pub rate_limits: bool,
    /// Where its own `/healthz` and `/metrics` listen (port 0 picks one); `None` inside the daemon.
    pub http_addr: Option<SocketAddr>,
}

/// A started bot, not yet polling: its parts, for what runs beside the polling.
pub struct Launched {
    name: &'static str,
    pub bot: Bot,
    pub sender: TgBot,
    pub health: Arc<Health>,
    listener: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Launch<'_> {
    pub async fn start(self, pool: &PgPool, shutdown: &CancellationToken) -> anyhow::Result<Launched> {
        let bot = updates::connect(self.token.expose(), self.api_url)?;
        let sender = TgBot::new(bot.clone(), self.rate_limits);
        // Unhealthy once two long polls have gone by without a word from Telegram.
        let health = Health::new(pool.clone(), Duration::from_secs(u64::from(POLL_SECONDS) * 2 + 10));
        let listener = match self.http_addr {
            Some(addr) => Some(
                health::serve(addr, health.clone(), shutdown.clone())
                    .await
                    .with_context(|| format!("{} cannot listen on {addr}", self.name))?,
            ),
            None => None,
        };
        tracing::info!(bot = self.token.bot_id(), "{} serves", self.name);
        Ok(Launched { name: self.name, bot, sender, health, listener })
    }
}

impl Launched {
    /// Polls with `handler` until `shutdown`, the menu set from `commands` once Telegram answers; `ready`
    /// is told the health listener's address first. Returns when the listener has stopped too.
    pub async fn serve<S: DialogueState>(
        self,
        pool: PgPool,
        handler: UpdateHandler<anyhow::Error>,
        deps: DependencyMap,
        commands: fn(Locale) -> Vec<BotCommand>,
        ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let bot = self.bot.clone();
        let updates = Updates::<S>::new(self.bot, self.health.clone(), pool, handler, deps, shutdown.clone());
        if let (Some(ready), Some((addr, _))) = (ready, &self.listener) {
            let _ = ready.send(*addr);
        }
        let (health, stop) = (self.health.clone(), shutdown.clone());
        updates
            .serve(|_me| async move {
                updates::retrying("setMyCommands", &health, &stop, || updates::set_commands(&bot, commands)).await;
            })
            .await;
        shutdown.cancel();
        if let Some((_, task)) = self.listener {
            task.await.with_context(|| format!("{}'s health listener", self.name))?;
        }
        Ok(())
    }
}
