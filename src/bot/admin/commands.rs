//! The commands an admin's own chat offers in Telegram's menu: the customer's, then the panel's
//! (`/audit` only to those who may read it). They are set for each admin's chat alone, so customers
//! never see them, and brought up to date whenever an admin's rights change or they open the panel.

use sqlx::PgPool;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, BotCommandScope, Recipient};

use super::access::{Need, Permission, Staff, authorize};
use crate::bot::handlers::customer_commands;
use crate::bot::texts::{Catalog, Text};
use crate::telegram::runtime::sender::TgBot;

/// Sets the menu of `staff`'s chat. Telegram refuses a chat that never started the bot; the menu is a
/// convenience, so that is only logged.
pub(crate) async fn offer(bot: &TgBot, catalog: &Catalog, staff: &Staff) {
    let mut commands = customer_commands(catalog);
    commands.push(BotCommand::new("admin", catalog.raw(Text::AdminCommandsAdmin)));
    if staff.may(Permission::Audit) {
        commands.push(BotCommand::new("audit", catalog.raw(Text::AdminCommandsAudit)));
    }
    let scope = BotCommandScope::Chat { chat_id: Recipient::Id(ChatId(staff.user_id)) };
    if let Err(e) = bot.direct().set_my_commands(commands).scope(scope).await {
        tracing::debug!(user = staff.user_id, "an admin's command menu could not be set: {e}");
    }
}

/// Back to the customer's menu for a chat whose admin rights are gone.
async fn withdraw(bot: &TgBot, user: i64) {
    let scope = BotCommandScope::Chat { chat_id: Recipient::Id(ChatId(user)) };
    if let Err(e) = bot.direct().delete_my_commands().scope(scope).await {
        tracing::debug!(user, "an admin's command menu could not be removed: {e}");
    }
}

/// The menu of `user`'s chat as their rights are now.
pub(crate) async fn refresh(bot: &TgBot, pool: &PgPool, catalog: &Catalog, user: i64) -> Result<(), sqlx::Error> {
    match authorize(pool, user, Need::Admin).await? {
        Some(staff) => offer(bot, catalog, &staff).await,
        None => withdraw(bot, user).await,
    }
    Ok(())
}

/// The admins who have started the bot (Telegram knows no other chat): read at start, before the bot's
/// other work begins, so that a bot just started holds a single connection.
pub(crate) async fn started_admins(pool: &PgPool) -> Vec<i64> {
    sqlx::query_scalar("SELECT a.user_id FROM admins a JOIN customers c ON c.user_id = a.user_id")
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("the admins' command menus could not be set: {e}");
            Vec::new()
        })
}

/// At start: each of `admins` gets their menu, one after another — a connection each while it is looked
/// up, not one per admin at once (a fleet started together must fit the server's max_connections); the
/// menus are no hurry.
pub(crate) async fn offer_all(bot: &TgBot, pool: &PgPool, catalog: &Catalog, admins: Vec<i64>) {
    for admin in admins {
        if let Err(e) = refresh(bot, pool, catalog, admin).await {
            tracing::warn!("the admins' command menus could not be set: {e}");
            return;
        }
    }
}
