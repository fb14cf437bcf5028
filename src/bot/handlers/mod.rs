//! The handler tree: one `schema()` for production and tests. Messages and button presses are
//! flood-checked, the customer is recorded, then each goes to the flow it belongs to. Every callback
//! query is answered; everything a button claims is re-checked against the database and the rules.

mod booking;
pub(super) mod format;
mod info;
mod my;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::{Dialogue, GetChatId};
use teloxide::prelude::*;
use teloxide::types::{KeyboardButton, KeyboardMarkup, ReplyMarkup, User};
use teloxide::utils::command::BotCommands;

use super::admin;
pub(super) use super::business::{Business, business};
use super::callback::Callback;
use super::metrics;
use super::state::{DbStorage, State};
use super::texts::{Catalog, LiveCatalog, Text};
use crate::booking::store::{self, NewCustomer};
use crate::telegram::runtime::flood::{FloodGuard, Input, Verdict};
use crate::telegram::runtime::health::Health;
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::runtime::{callback, handling};

pub type HandlerResult = anyhow::Result<()>;
pub(crate) type CustomerDialogue = Dialogue<State, DbStorage>;

/// What every handler needs, shared by the whole dispatcher.
pub struct Deps {
    pub pool: PgPool,
    pub texts: Arc<LiveCatalog>,
    pub flood: FloodGuard,
    pub health: Arc<Health>,
    pub bookings: metrics::Bookings,
}

impl Deps {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The texts as they are now: an admin's edit shows from the next update on.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.texts.get()
    }
}

#[derive(BotCommands, Clone, Copy)]
#[command(rename_rule = "lowercase")]
enum Command {
    Start,
    Book,
    My,
    About,
    Help,
    Cancel,
    /// The admin panel; refused politely to everyone else.
    Admin,
    Audit,
}

/// The customer's commands for Telegram's menu, in `catalog`'s language.
pub(crate) fn customer_commands(catalog: &Catalog) -> Vec<teloxide::types::BotCommand> {
    [
        ("start", Text::CommandsStart),
        ("book", Text::CommandsBook),
        ("my", Text::CommandsMy),
        ("about", Text::CommandsAbout),
        ("help", Text::CommandsHelp),
        ("cancel", Text::CommandsCancel),
    ]
    .into_iter()
    .map(|(command, text)| teloxide::types::BotCommand::new(command, catalog.raw(text)))
    .collect()
}

pub fn schema() -> UpdateHandler<anyhow::Error> {
    let messages = Update::filter_message().enter_dialogue::<Message, DbStorage, State>().endpoint(on_message);
    let callbacks =
        Update::filter_callback_query().enter_dialogue::<CallbackQuery, DbStorage, State>().endpoint(on_callback);
    dptree::entry().branch(messages).branch(callbacks)
}

/// "Too late to change": the cutoff and whom to call instead.
fn too_late(catalog: &Catalog, text: Text, business: &Business) -> String {
    let cutoff = format::duration(catalog, i64::from(business.cutoff_minutes));
    catalog.render(text, &[("cutoff", &cutoff), ("phone", business.contacts.as_deref().unwrap_or_default())])
}

async fn remember(deps: &Deps, user: &User) -> anyhow::Result<bool> {
    let mut conn = deps.pool.acquire().await?;
    let customer = NewCustomer {
        user_id: i64::try_from(user.id.0)?,
        first_name: &user.first_name,
        username: user.username.as_deref(),
        language_code: user.language_code.as_deref(),
    };
    Ok(store::upsert_customer(&mut conn, &customer).await?)
}

/// The persistent menu under the input field.
fn menu(catalog: &Catalog) -> ReplyMarkup {
    let b = |t| KeyboardButton::new(catalog.raw(t));
    ReplyMarkup::Keyboard(
        KeyboardMarkup::new(vec![
            vec![b(Text::MenuBook)],
            vec![b(Text::MenuMy), b(Text::MenuServices)],
            vec![b(Text::MenuAbout), b(Text::MenuHelp)],
        ])
        .resize_keyboard()
        .persistent()
        .input_field_placeholder(catalog.raw(Text::MenuPlaceholder)),
    )
}

async fn on_message(bot: TgBot, msg: Message, deps: Arc<Deps>, dialogue: CustomerDialogue) -> HandlerResult {
    handling::message(&deps.health.metrics, message(&bot, &msg, &deps, &dialogue)).await
}

async fn message(bot: &TgBot, msg: &Message, deps: &Deps, dialogue: &CustomerDialogue) -> HandlerResult {
    let (Some(user), true) = (msg.from.as_ref(), msg.chat.is_private()) else { return Ok(()) };
    let catalog = &deps.catalog();
    match deps.flood.check(msg.chat.id.0, Input::Message) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return bot.send(msg.chat.id, catalog.render(Text::FloodSlowDown, &[]), None).await,
        Verdict::Drop => return Ok(()),
    }
    let new = remember(deps, user).await?;
    let text = msg.text().unwrap_or_default();
    if let Ok(command) = Command::parse(text, "") {
        return command_(bot, msg, deps, dialogue, command, new).await;
    }
    match dialogue.get().await?.unwrap_or_default() {
        State::AwaitingPhone { service, starts_at, moving } => {
            return booking::receive_phone(bot, msg, deps, dialogue, service, starts_at, moving).await;
        }
        State::AwaitingComment { booking } => return my::receive_comment(bot, msg, deps, dialogue, booking).await,
        State::Admin(prompt) => return admin::answer(bot, msg, deps, dialogue, prompt).await,
        State::Idle => {}
    }
    let chat = msg.chat.id;
    if text == catalog.raw(Text::MenuBook) {
        booking::choose_service(bot, chat, None, deps).await
    } else if text == catalog.raw(Text::MenuMy) {
        my::list(bot, chat, None, deps, user).await
    } else if text == catalog.raw(Text::MenuServices) {
        info::services(bot, chat, deps).await
    } else if text == catalog.raw(Text::MenuAbout) {
        info::about(bot, chat, deps).await
    } else if text == catalog.raw(Text::MenuHelp) {
        info::help(bot, chat, deps).await
    } else {
        bot.send(chat, catalog.render(Text::UnknownMessage, &[]), Some(menu(catalog))).await
    }
}

async fn command_(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    command: Command,
    new: bool,
) -> HandlerResult {
    let chat = msg.chat.id;
    let catalog = &deps.catalog();
    let user = msg.from.as_ref();
    match command {
        Command::Start => {
            dialogue.update(State::Idle).await?;
            let business = business(&deps.pool).await?;
            let text = if new { Text::StartWelcomeNew } else { Text::StartWelcomeBack };
            bot.send(chat, catalog.render(text, &[("name", &business.name)]), Some(menu(catalog))).await
        }
        Command::Book => booking::choose_service(bot, chat, None, deps).await,
        Command::My => match user {
            Some(user) => my::list(bot, chat, None, deps, user).await,
            None => Ok(()),
        },
        Command::About => info::about(bot, chat, deps).await,
        Command::Help => info::help(bot, chat, deps).await,
        Command::Admin => admin::command(bot, msg, deps, dialogue, admin::Command::Panel).await,
        Command::Audit => admin::command(bot, msg, deps, dialogue, admin::Command::Audit).await,
        Command::Cancel => {
            let state = dialogue.get().await?.unwrap_or_default();
            dialogue.update(State::Idle).await?;
            if matches!(state, State::Admin(_)) {
                return admin::cancelled(bot, chat, deps).await;
            }
            let busy = state != State::Idle;
            let text = if busy { Text::CancelCommandDone } else { Text::CancelCommandNothing };
            bot.send(chat, catalog.render(text, &[]), Some(menu(catalog))).await
        }
    }
}

async fn on_callback(bot: TgBot, q: CallbackQuery, deps: Arc<Deps>, dialogue: CustomerDialogue) -> HandlerResult {
    let catalog = deps.catalog();
    let answer =
        async { callback(&bot, &q, &deps, &dialogue).await.map(|alert| alert.map(|t| catalog.raw(t).to_string())) };
    handling::callback(&bot, &deps.health.metrics, &q, catalog.raw(Text::ErrorGeneric), answer).await
}

/// Handles a button press; `Some(text)` becomes an alert in the answer.
async fn callback(
    bot: &TgBot,
    q: &CallbackQuery,
    deps: &Deps,
    dialogue: &CustomerDialogue,
) -> anyhow::Result<Option<Text>> {
    let Some(chat) = q.chat_id().filter(|c| c.is_user()) else { return Ok(Some(Text::StaleButton)) };
    match deps.flood.check(chat.0, Input::Button) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return Ok(Some(Text::FloodSlowDown)),
        Verdict::Drop => return Ok(None),
    }
    remember(deps, &q.from).await?;
    let (Some(message), Some(data)) = (q.message.as_ref(), q.data.as_deref()) else {
        return Ok(Some(Text::StaleButton));
    };
    let Ok(callback) = callback::parse::<Callback>(data) else { return Ok(Some(Text::StaleButton)) };
    let at = (chat, message.id());
    let customer = i64::try_from(q.from.id.0)?;
    match callback {
        Callback::Noop => Ok(None),
        Callback::Services => booking::choose_service(bot, chat, Some(at.1), deps).await.map(|()| None),
        Callback::Service { service } => booking::calendar(bot, at, deps, customer, service, None, None).await,
        Callback::Month { service, year, month, moving } => {
            booking::calendar(bot, at, deps, customer, service, Some((year, month)), moving).await
        }
        Callback::Day { service, date, moving } => booking::times(bot, at, deps, service, date, moving).await,
        Callback::Time { service, starts_at, moving } => {
            booking::confirm_card(bot, at, deps, customer, service, starts_at, moving).await
        }
        Callback::Confirm { service, starts_at, moving } => {
            booking::confirm(bot, at, deps, dialogue, customer, service, starts_at, moving).await
        }
        Callback::MyBookings => my::list(bot, chat, Some(at.1), deps, &q.from).await.map(|()| None),
        Callback::Cancel { booking } => my::ask_cancel(bot, at, deps, customer, booking).await,
        Callback::CancelConfirm { booking } => my::cancel(bot, at, deps, customer, booking).await,
        Callback::Move { booking } => my::start_move(bot, at, deps, customer, booking).await,
        Callback::Rate { booking, score } => my::rate(bot, at, deps, dialogue, customer, booking, score).await,
        Callback::Admin(action) => admin::callback(bot, q, deps, dialogue, at, action).await,
    }
}
