//! A new business's order, put together: its name (the tenant's name derived from it), then its bot —
//! created through Telegram's Managed Bots or pasted from BotFather, the pasted token's message deleted
//! at once, checked by `getMe`, never echoed nor logged — then its kind and time zone by buttons. Each
//! choice goes into the order (`orders::update_draft`), which refuses a name or a bot taken by a live
//! tenant or another open order, and settles two buyers racing for one.

use chrono::Utc;
use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardMarkup, ReplyMarkup};

use super::screens::{self, cancel_row};
use super::state::{DbStorage, State};
use super::texts::{Catalog, Text};
use super::{Deps, screens::Screen};
use crate::error::BadInput;
use crate::platform::orders::{self, CheckedBot, DraftChanges, Lookup, Order};
use crate::telegram::managed::{self, ManagedBotUpdate};
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::{self, BotToken};
use crate::tenant::TenantSlug;

pub(super) type SalesDialogue = Dialogue<State, DbStorage>;

/// The longest business name, as the orders take it.
const MAX_NAME: usize = 64;
/// The tenant name's limit.
const MAX_SLUG: usize = 31;

/// Deletes a buyer's message that is, or may be, a bot token, before anything else reads it: every
/// message while a bot is awaited, and anything with a token-shaped word at any time.
pub(super) async fn delete_if_token(bot: &TgBot, msg: &Message, dialogue: &SalesDialogue) -> anyhow::Result<bool> {
    let token_shaped = msg.text().is_some_and(|t| t.split_whitespace().any(|w| w.parse::<BotToken>().is_ok()));
    let awaited = matches!(dialogue.get().await?, Some(State::AwaitingBot { .. }));
    Ok(bot.delete_if_token(msg, token_shaped, awaited).await)
}

/// A business's name as typed: trimmed, one line, 1-64 characters.
pub(crate) fn business_name(text: &str) -> Option<String> {
    let name = text.trim();
    let fits = (1..=MAX_NAME).contains(&name.chars().count());
    (fits && !name.chars().any(char::is_control)).then(|| name.to_string())
}

fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' | 'ё' | 'э' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' | 'й' | 'ы' => "i",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ю' => "yu",
        'я' => "ya",
        'ъ' | 'ь' => "",
        _ => return None,
    })
}

/// The tenant name a business's name makes: Latin letters (Russian transliterated), digits and `_`,
/// starting with a letter, at most 31 characters. `None` when nothing usable is left.
pub(crate) fn slug_for(name: &str) -> Option<TenantSlug> {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' => slug.push(c),
            _ => match transliterate(c) {
                Some(latin) => slug.push_str(latin),
                None if !slug.ends_with('_') => slug.push('_'),
                None => {}
            },
        }
    }
    let mut slug = slug.trim_matches('_').to_string();
    if slug.is_empty() {
        return None;
    }
    if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
        slug = format!("b_{slug}");
    }
    // A reserved word or a name too short still makes a tenant with a suffix.
    for candidate in [slug.clone(), format!("{slug}_biz")] {
        let mut candidate: String = candidate.chars().take(MAX_SLUG).collect();
        while candidate.ends_with('_') {
            candidate.pop();
        }
        if let Ok(slug) = candidate.parse::<TenantSlug>() {
            return Some(slug);
        }
    }
    None
}

/// The order a button or a typed answer is about, if it is this buyer's and still a draft.
pub(super) async fn open_draft(deps: &Deps, user_id: i64, order: i64) -> anyhow::Result<Option<Order>> {
    let found = orders::find(&mut *deps.pool.acquire().await?, Lookup::Id(order)).await?;
    Ok(found.filter(|o| o.buyer.user_id == user_id && o.state == orders::State::Draft))
}

/// The buyer's words for a refusal: a `BadInput` says what to change; anything else is logged and
/// handed up.
fn refusal(error: anyhow::Error) -> anyhow::Result<String> {
    match error.downcast_ref::<BadInput>() {
        Some(bad) => Ok(bad.to_string()),
        None => Err(error),
    }
}

/// The typed business name: the tenant's name derived from it and claimed for the order; then the bot.
pub(super) async fn name(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    catalog: &Catalog,
    msg: &Message,
    order: i64,
) -> anyhow::Result<()> {
    let (chat, user) = (msg.chat.id, msg.chat.id.0);
    let Some(draft) = open_draft(deps, user, order).await? else {
        dialogue.exit().await?;
        return bot.send(chat, catalog.render(Text::Cancelled, &[]), None).await;
    };
    let name = msg.text().and_then(business_name);
    let (Some(slug), Some(name)) = (name.as_deref().and_then(slug_for), name) else {
        return bot.send(chat, catalog.render(Text::NameBad, &[]), None).await;
    };
    let changes = DraftChanges { business_name: Some(name.clone()), tenant: Some(slug), ..DraftChanges::default() };
    let updated = orders::update_draft(&mut *deps.pool.acquire().await?, draft.id, &changes, Utc::now()).await;
    if let Err(error) = updated {
        let reason = refusal(error)?;
        return bot.send(chat, catalog.render(Text::NameRefused, &[("reason", &reason)]), None).await;
    }
    dialogue.update(State::AwaitingBot { order: draft.id }).await?;
    ask_for_bot(bot, deps, catalog, chat, draft.id, &name).await
}

/// Asks for the bot: the "Create my bot" button where Managed Bots are on, and the BotFather way.
async fn ask_for_bot(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    chat: ChatId,
    order: i64,
    name: &str,
) -> anyhow::Result<()> {
    if deps.options.managed_bots {
        let html = catalog.render(Text::BotManagedPrompt, &[("name", name)]);
        let label = catalog.raw(Text::BotManagedButton);
        managed::send_request_button(bot.direct(), chat.0, &html, label).await?;
        let cancel = InlineKeyboardMarkup::new(vec![cancel_row(catalog, order)]);
        // The reply keyboard cannot carry the inline Cancel: it comes on a message of its own.
        return bot.send(chat, catalog.render(Text::BotManagedCancel, &[]), Some(cancel.into())).await;
    }
    let buttons = InlineKeyboardMarkup::new(vec![cancel_row(catalog, order)]);
    bot.send(chat, catalog.render(Text::BotPrompt, &[("name", name)]), Some(buttons.into())).await
}

/// The pasted token (its message already deleted): its shape, Telegram's word on it, then the order's
/// (whether a live tenant or another open order has the bot).
pub(super) async fn pasted(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    catalog: &Catalog,
    msg: &Message,
    order: i64,
) -> anyhow::Result<()> {
    let chat = msg.chat.id;
    let Some(draft) = open_draft(deps, chat.0, order).await? else {
        dialogue.exit().await?;
        return bot.send(chat, catalog.render(Text::Cancelled, &[]), None).await;
    };
    let token = msg.text().and_then(|t| t.split_whitespace().find_map(|w| w.parse::<BotToken>().ok()));
    let Some(token) = token else {
        return bot.send(chat, catalog.render(Text::BotTokenMalformed, &[]), None).await;
    };
    let me = match telegram::get_me(&deps.options.api_url, &token).await {
        Ok(me) => me,
        Err(error) if error.downcast_ref::<BadInput>().is_some() => {
            let id = token.bot_id().to_string();
            return bot.send(chat, catalog.render(Text::BotTokenRejected, &[("bot", &id)]), None).await;
        }
        Err(error) => {
            tracing::warn!(bot = token.bot_id(), error = format!("{error:#}"), "could not check a pasted token");
            return bot.send(chat, catalog.render(Text::BotTokenUnchecked, &[]), None).await;
        }
    };
    accept(bot, deps, dialogue, catalog, chat, &draft, CheckedBot { token, username: me.username }).await
}

/// The bot a buyer created through our `request_managed_bot` button: its token fetched from Telegram
/// (no paste), checked, and taken into the buyer's order awaiting a bot.
pub(super) async fn managed(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    update: ManagedBotUpdate,
) -> anyhow::Result<()> {
    let catalog = Catalog::defaults(super::locale(update.owner.language_code.as_deref()));
    let chat = ChatId(update.owner.id);
    let Some(State::AwaitingBot { order }) = dialogue.get().await? else {
        tracing::info!(user = update.owner.id, bot = update.bot.id, "a managed bot arrived for no order awaiting one");
        return Ok(());
    };
    let Some(draft) = open_draft(deps, update.owner.id, order).await? else {
        dialogue.exit().await?;
        return Ok(());
    };
    let options = &deps.options;
    let checked = async {
        let token = managed::get_managed_bot_token(&options.api_url, &options.token, update.bot.id).await?;
        let me = telegram::get_me(&options.api_url, &token).await?;
        anyhow::Ok(CheckedBot { token, username: me.username })
    }
    .await;
    match checked {
        Ok(checked) => accept(bot, deps, dialogue, catalog, chat, &draft, checked).await,
        Err(error) => {
            tracing::warn!(bot = update.bot.id, error = format!("{error:#}"), "a managed bot's token was not had");
            bot.send(chat, catalog.render(Text::BotManagedFailed, &[]), None).await
        }
    }
}

/// A checked bot into the order; the next question is the business's kind.
async fn accept(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    catalog: &Catalog,
    chat: ChatId,
    draft: &Order,
    checked: CheckedBot,
) -> anyhow::Result<()> {
    let username = checked.username.clone();
    let changes = DraftChanges { bot: Some(checked), ..DraftChanges::default() };
    let updated = orders::update_draft(&mut *deps.pool.acquire().await?, draft.id, &changes, Utc::now()).await;
    if let Err(error) = updated {
        let reason = refusal(error)?;
        return bot.send(chat, catalog.render(Text::BotRefused, &[("reason", &reason)]), None).await;
    }
    dialogue.update(State::Choosing { order: draft.id }).await?;
    let accepted = catalog.render(Text::BotAccepted, &[("bot", &username)]);
    bot.send(chat, accepted, Some(ReplyMarkup::kb_remove())).await?;
    let buttons = screens::templates(catalog, draft.id);
    bot.send(chat, catalog.render(Text::TemplatePrompt, &[]), Some(buttons.into())).await
}

/// Sends a screen as a new message.
pub(super) async fn send(bot: &TgBot, chat: ChatId, screen: Screen) -> anyhow::Result<()> {
    bot.send(chat, screen.html, Some(screen.buttons.into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_business_name_makes_a_tenant_name() {
        let slug = |name: &str| slug_for(name).map(|s| s.to_string());
        assert_eq!(slug("Барбершоп на Ленина").as_deref(), Some("barbershop_na_lenina"));
        assert_eq!(slug("Anna's Beauty Salon!").as_deref(), Some("anna_s_beauty_salon"));
        assert_eq!(slug("42 Street").as_deref(), Some("b_42_street"));
        assert_eq!(slug("Admin").as_deref(), Some("admin_biz"));
        assert_eq!(slug("Щ").as_deref(), Some("shch"));
        assert_eq!(slug("😀😀"), None);
        let long = slug("Очень длинное название салона красоты").unwrap();
        assert!(long.len() <= 31 && !long.ends_with('_'), "{long}");
    }

    #[test]
    fn a_business_name_is_one_short_line() {
        assert_eq!(business_name("  Salon  ").as_deref(), Some("Salon"));
        assert_eq!(business_name(""), None);
        assert_eq!(business_name("a\nb"), None);
        assert_eq!(business_name(&"я".repeat(65)), None);
    }
}
