//! What the buyer hears when their order moves on without them: the resumer calls `tell` with the order
//! as it stands, and the buyer gets one message in their language — their bot is live, their renewal
//! is credited, the order failed (their money is safe, the operator alerted) or was canceled.

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup};

use super::texts::{Catalog, Text};
use crate::billing;
use crate::platform::orders::resume::Buyers;
use crate::platform::orders::{Kind, Order, State};
use crate::telegram::runtime::sender::TgBot;

/// The sales bot's side of the resumer.
pub struct BuyerNotices {
    pool: PgPool,
    bot: TgBot,
    support: Option<String>,
}

impl BuyerNotices {
    pub fn new(pool: PgPool, bot: TgBot, support: Option<String>) -> Self {
        Self { pool, bot, support }
    }
}

/// "Open @bot": the new bot's chat.
pub(crate) fn open_bot(catalog: &Catalog, username: &str) -> Option<InlineKeyboardMarkup> {
    let url = url::Url::parse(&format!("https://t.me/{username}")).ok()?;
    let label = catalog.render_plain(Text::TellOpen, &[("bot", username)]);
    Some(InlineKeyboardMarkup::new(vec![vec![InlineKeyboardButton::url(label, url)]]))
}

/// The message an order in its current state owes its buyer, if any.
async fn message(
    pool: &PgPool,
    support: &str,
    order: &Order,
) -> anyhow::Result<Option<(String, Option<InlineKeyboardMarkup>)>> {
    let catalog = Catalog::defaults(order.buyer.language);
    let reason = order.reason.as_deref().unwrap_or_default();
    Ok(match (order.kind, order.state) {
        (Kind::Trial | Kind::Purchase, State::Provisioned | State::Done) => {
            let Some(bot) = &order.bot else { return Ok(None) };
            let html = catalog.render(Text::TellLive, &[("bot", &bot.username)]);
            Some((html, open_bot(catalog, &bot.username)))
        }
        (Kind::Renewal, State::Credited | State::Done) => {
            let Some(slug) = &order.tenant else { return Ok(None) };
            let subscription = billing::subscription::for_tenant(&mut *pool.acquire().await?, slug.as_str()).await?;
            let until = subscription
                .paid_until
                .map_or(catalog.raw(Text::Dash).to_string(), |at| at.format("%Y-%m-%d").to_string());
            Some((catalog.render(Text::TellRenewed, &[("slug", slug.as_str()), ("until", &until)]), None))
        }
        (_, State::Failed) => {
            Some((catalog.render(Text::TellFailed, &[("reason", reason), ("support", support)]), None))
        }
        (_, State::Canceled) => Some((catalog.render(Text::TellCanceled, &[("reason", reason)]), None)),
        _ => None,
    })
}

impl Buyers for BuyerNotices {
    fn tell(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>> {
        let (pool, bot) = (self.pool.clone(), self.bot.clone());
        let catalog = Catalog::defaults(order.buyer.language);
        let support = self.support.clone().unwrap_or_else(|| catalog.raw(Text::Dash).to_string());
        Box::pin(async move {
            let Some((html, buttons)) = message(&pool, &support, &order).await? else { return Ok(()) };
            tracing::info!(order = order.id, state = %order.state, "the sales bot tells the buyer");
            bot.send(ChatId(order.buyer.chat_id), html, buttons.map(Into::into)).await
        })
    }
}
