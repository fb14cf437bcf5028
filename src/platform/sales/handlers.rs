//! The handler tree: one `schema()`. Buyers' messages and buttons in private chats, Telegram Stars'
//! pre-checkout queries, and the raw updates teloxide cannot read (the `managed_bot` update of a bot a
//! buyer created through us). Every button naming an order is checked against the order as it stands:
//! the presser's, in the state the button was made for, or it answers that it is out of date.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::{Dialogue, GetChatId};
use teloxide::prelude::*;
use teloxide::types::{
    CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, MessageId, PreCheckoutQuery,
    UpdateKind,
};
use teloxide::utils::command::BotCommands;

use super::callback::Callback;
use super::draft::{self, SalesDialogue, open_draft, send};
use super::screens::{self, cancel_row};
use super::state::{DbStorage, State};
use super::texts::{Catalog, Text};
use super::{ACTOR, Deps, catalog};
use crate::config::template;
use crate::error::BadInput;
use crate::locale::Locale;
use crate::payments::stars::{self, StarsPayment};
use crate::platform::orders::{self, DraftChanges, Event, Facts, Kind, Lookup, NewOrder, Order, Transition};
use crate::telegram::managed::parse_managed_bot_update;
use crate::telegram::runtime::flood::{Input, Verdict};
use crate::telegram::runtime::progress::MessageProgress;
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::runtime::{callback, handling};

/// Telegram waits 10 s for a pre-checkout answer; ours is given well within it.
const PRE_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(BotCommands, Clone, Copy)]
#[command(rename_rule = "lowercase")]
enum Command {
    Start,
    Cancel,
    Paysupport,
}

pub(super) fn schema() -> UpdateHandler<anyhow::Error> {
    let messages = Update::filter_message()
        .filter(|msg: Message| msg.chat.is_private())
        .enter_dialogue::<Message, DbStorage, State>()
        .endpoint(on_message);
    let callbacks =
        Update::filter_callback_query().enter_dialogue::<CallbackQuery, DbStorage, State>().endpoint(on_callback);
    let checkouts = Update::filter_pre_checkout_query().endpoint(on_pre_checkout);
    let raw = dptree::filter_map(|update: Update| match update.kind {
        UpdateKind::Error(json) => Some(json),
        _ => None,
    })
    .endpoint(on_raw);
    dptree::entry().branch(messages).branch(callbacks).branch(checkouts).branch(raw)
}

/// The command menu Telegram shows, in `locale`.
pub(super) fn commands(locale: Locale) -> Vec<teloxide::types::BotCommand> {
    let catalog = Catalog::defaults(locale);
    vec![
        teloxide::types::BotCommand::new("start", catalog.raw(Text::CommandsStart)),
        teloxide::types::BotCommand::new("paysupport", catalog.raw(Text::CommandsPaysupport)),
        teloxide::types::BotCommand::new("cancel", catalog.raw(Text::CommandsCancel)),
    ]
}

async fn on_message(bot: TgBot, msg: Message, deps: Arc<Deps>, dialogue: SalesDialogue) -> anyhow::Result<()> {
    handling::message(&deps.health.metrics, message(&bot, &msg, &deps, &dialogue)).await
}

async fn message(bot: &TgBot, msg: &Message, deps: &Deps, dialogue: &SalesDialogue) -> anyhow::Result<()> {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let catalog = catalog(user);
    let chat = msg.chat.id;
    if let Some(paid) = msg.successful_payment() {
        return stars_paid(bot, deps, catalog, chat, paid).await;
    }
    // A pasted token leaves the chat before anything else happens to its message.
    let out_of_place = draft::delete_if_token(bot, msg, dialogue).await?;
    let user_id = chat.0;
    match deps.flood.check(user_id, Input::Message) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return bot.send(chat, catalog.render(Text::Flood, &[]), None).await,
        Verdict::Drop => return Ok(()),
    }
    if out_of_place {
        return bot.send(chat, catalog.render(Text::BotTokenOutOfPlace, &[]), None).await;
    }
    let text = msg.text().unwrap_or_default().trim();
    if let Ok(command) = Command::parse(text, "") {
        return match command {
            Command::Paysupport => {
                bot.send(chat, catalog.render(Text::PaySupport, &[("support", &deps.support(catalog))]), None).await
            }
            Command::Start => {
                drop_flow(deps, dialogue, user_id).await?;
                send(bot, chat, screens::welcome(deps, catalog).await?).await
            }
            Command::Cancel => {
                drop_flow(deps, dialogue, user_id).await?;
                bot.send(chat, catalog.render(Text::Cancelled, &[]), None).await
            }
        };
    }
    match dialogue.get().await?.unwrap_or_default() {
        State::Naming { order } => draft::name(bot, deps, dialogue, catalog, msg, order).await,
        State::AwaitingBot { order } => draft::pasted(bot, deps, dialogue, catalog, msg, order).await,
        State::Choosing { .. } => bot.send(chat, catalog.render(Text::ChooseAbove, &[]), None).await,
        State::Idle => send(bot, chat, screens::welcome(deps, catalog).await?).await,
    }
}

/// Ends the flow under way; its order, if still a draft, is canceled (a draft holds its name and bot).
async fn drop_flow(deps: &Deps, dialogue: &SalesDialogue, user_id: i64) -> anyhow::Result<()> {
    let order = match dialogue.get().await? {
        Some(State::Naming { order } | State::AwaitingBot { order } | State::Choosing { order }) => Some(order),
        _ => None,
    };
    dialogue.exit().await?;
    if let Some(order) = order
        && let Some(draft) = open_draft(deps, user_id, order).await?
    {
        cancel(deps, &draft, "canceled by the buyer").await?;
    }
    Ok(())
}

async fn cancel(deps: &Deps, order: &Order, reason: &str) -> anyhow::Result<()> {
    let step = Transition {
        order: order.id,
        from: order.state,
        event: Event::Canceled,
        facts: Facts { reason: Some(reason.to_string()), ..Facts::default() },
        actor: ACTOR.to_string(),
        at: Utc::now(),
    };
    let conn = &mut *deps.pool.acquire().await?;
    let advanced = orders::advance(conn, &step).await?;
    // The buyer canceled it themselves: the resumer need not tell them.
    if advanced.outcome == orders::Outcome::Moved {
        orders::resume::told(conn, order.id, step.at).await?;
    }
    Ok(())
}

async fn on_callback(bot: TgBot, q: CallbackQuery, deps: Arc<Deps>, dialogue: SalesDialogue) -> anyhow::Result<()> {
    let catalog = catalog(&q.from);
    let answer = async {
        callback(&bot, &q, &deps, &dialogue, catalog).await.map(|alert| alert.map(|t| catalog.raw(t).to_string()))
    };
    handling::callback(&bot, &deps.health.metrics, &q, catalog.raw(Text::Failed), answer).await
}

/// Handles a button press; `Some(text)` becomes an alert in the answer.
async fn callback(
    bot: &TgBot,
    q: &CallbackQuery,
    deps: &Arc<Deps>,
    dialogue: &SalesDialogue,
    catalog: &'static Catalog,
) -> anyhow::Result<Option<Text>> {
    let (Some(chat), Some(message), Some(data)) = (q.chat_id(), q.message.as_ref(), q.data.as_deref()) else {
        return Ok(Some(Text::Stale));
    };
    let Ok(user_id) = i64::try_from(q.from.id.0) else { return Ok(Some(Text::Stale)) };
    // Buttons only ever go out in the buyer's private chat.
    if chat.0 != user_id {
        return Ok(Some(Text::Stale));
    }
    match deps.flood.check(user_id, Input::Button) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return Ok(Some(Text::Flood)),
        Verdict::Drop => return Ok(None),
    }
    let Ok(pressed) = callback::parse::<Callback>(data) else { return Ok(Some(Text::Stale)) };
    let at = (chat, message.id());
    let order = match pressed.order() {
        Some(id) => {
            let found = orders::find(&mut *deps.pool.acquire().await?, Lookup::Id(id)).await?;
            match found.filter(|o| o.buyer.user_id == user_id) {
                Some(order) => Some(order),
                None => return Ok(Some(Text::Stale)),
            }
        }
        None => None,
    };
    let draft = order.clone().filter(|o| o.state == orders::State::Draft);
    let shown = match (pressed, draft) {
        (Callback::Menu, _) => Some(screens::welcome(deps, catalog).await?),
        (Callback::Faq, _) => Some(screens::faq(deps, catalog)),
        (Callback::Plans, _) => Some(screens::plans(deps, catalog, None).await?),
        (Callback::Mine, _) => Some(screens::mine(deps, catalog, user_id).await?),
        (Callback::Trial, _) => return begin(bot, deps, dialogue, catalog, q, Kind::Trial, None, None).await,
        (Callback::Buy { plan }, _) => {
            return begin(bot, deps, dialogue, catalog, q, Kind::Purchase, None, Some(plan)).await;
        }
        (Callback::Renew { tenant }, _) => {
            if !screens::owns(deps, user_id, &tenant).await? {
                return Ok(Some(Text::Stale));
            }
            return begin(bot, deps, dialogue, catalog, q, Kind::Renewal, Some(tenant), None).await;
        }
        (Callback::RenewPlan { plan, .. }, Some(order)) if order.kind == Kind::Renewal => {
            let changes = DraftChanges { plan: Some(plan), ..DraftChanges::default() };
            let Some(order) = change(bot, deps, catalog, chat, &order, changes).await? else { return Ok(None) };
            Some(screens::payment(deps, catalog, &order).await?)
        }
        (Callback::Template { template, .. }, Some(order))
            if order.bot.is_some() && template::embedded_names().contains(&template.as_str()) =>
        {
            let changes = DraftChanges { template: Some(template), ..DraftChanges::default() };
            let Some(order) = change(bot, deps, catalog, chat, &order, changes).await? else { return Ok(None) };
            dialogue.update(State::Choosing { order: order.id }).await?;
            Some(screens::zones(catalog, order.id))
        }
        (Callback::Zone { zone, .. }, Some(order)) if order.template.is_some() => {
            let changes = DraftChanges { timezone: Some(zone), ..DraftChanges::default() };
            let Some(order) = change(bot, deps, catalog, chat, &order, changes).await? else { return Ok(None) };
            Some(screens::summary(deps, catalog, &order).await?)
        }
        (Callback::Confirm { .. }, Some(order)) if order.missing().is_empty() => match order.kind {
            Kind::Trial => {
                // A second press while the first carries the order out finds the flow over.
                if dialogue.get().await? != Some(State::Choosing { order: order.id }) {
                    return Ok(Some(Text::Stale));
                }
                dialogue.exit().await?;
                carry(bot, deps, catalog, at, order.id).await?;
                None
            }
            Kind::Purchase | Kind::Renewal => Some(screens::payment(deps, catalog, &order).await?),
        },
        (Callback::PayYookassa { .. }, _) => {
            let Some(order) = order.filter(|o| o.state == orders::State::Draft || awaiting(o)) else {
                return Ok(Some(Text::Stale));
            };
            dialogue.exit().await?;
            return pay_yookassa(bot, deps, catalog, at, &order).await;
        }
        (Callback::PayStars { .. }, Some(order)) => {
            dialogue.exit().await?;
            return pay_stars(bot, deps, catalog, chat, &order).await;
        }
        (Callback::Paid { .. }, _) => {
            let Some(order) = order else { return Ok(Some(Text::Stale)) };
            return check_paid(bot, deps, catalog, chat, &order).await;
        }
        (Callback::Cancel { .. }, _) => {
            let Some(order) = order else { return Ok(Some(Text::Stale)) };
            return cancel_pressed(bot, deps, dialogue, catalog, at, &order).await;
        }
        _ => return Ok(Some(Text::Stale)),
    };
    if let Some(screen) = shown {
        bot.edit(chat, at.1, screen.html, Some(screen.buttons)).await?;
    }
    Ok(None)
}

fn awaiting(order: &Order) -> bool {
    order.state == orders::State::AwaitingPayment
}

/// Starts an order: a trial, a purchase of `plan`, or a renewal of `tenant`. A flow under way is
/// dropped first (its draft canceled), so a buyer has one draft at a time.
#[allow(clippy::too_many_arguments)]
async fn begin(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    catalog: &'static Catalog,
    q: &CallbackQuery,
    kind: Kind,
    tenant: Option<crate::tenant::TenantSlug>,
    plan: Option<String>,
) -> anyhow::Result<Option<Text>> {
    let (Some(chat), Some(message)) = (q.chat_id(), q.message.as_ref()) else { return Ok(Some(Text::Stale)) };
    let user_id = chat.0;
    drop_flow(deps, dialogue, user_id).await?;
    let conn = &mut *deps.pool.acquire().await?;
    if kind == Kind::Trial {
        let had = orders::by_buyer(conn, user_id).await?;
        if had.iter().any(|o| o.kind == Kind::Trial && o.state != orders::State::Canceled) {
            bot.send(chat, catalog.render(Text::TrialUsed, &[]), None).await?;
            return Ok(None);
        }
    }
    let language = catalog.locale();
    let new = NewOrder { buyer: orders::Buyer { user_id, chat_id: chat.0, language }, kind, tenant, plan };
    let order = match orders::create(conn, &new, ACTOR, Utc::now()).await {
        Ok(order) => order,
        Err(error) => {
            let reason = refused(error)?;
            bot.send(chat, catalog.render(Text::OrderRefused, &[("reason", &reason)]), None).await?;
            return Ok(None);
        }
    };
    tracing::info!(order = order.id, kind = %order.kind, "a buyer begins an order");
    if kind == Kind::Renewal {
        dialogue.update(State::Choosing { order: order.id }).await?;
        let screen = screens::plans(deps, catalog, Some(&order)).await?;
        bot.edit(chat, message.id(), screen.html, Some(screen.buttons)).await?;
        return Ok(None);
    }
    dialogue.update(State::Naming { order: order.id }).await?;
    let buttons = InlineKeyboardMarkup::new(vec![cancel_row(catalog, order.id)]);
    bot.send(chat, catalog.render(Text::NamePrompt, &[]), Some(buttons.into())).await?;
    Ok(None)
}

/// A `BadInput` is the buyer's to read; anything else goes up, to the log.
fn refused(error: anyhow::Error) -> anyhow::Result<String> {
    match error.downcast_ref::<BadInput>() {
        Some(bad) => Ok(bad.to_string()),
        None => Err(error),
    }
}

/// One of the buyer's choices into the draft; `None` when the order refused it (the buyer is told why).
async fn change(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    chat: ChatId,
    order: &Order,
    changes: DraftChanges,
) -> anyhow::Result<Option<Order>> {
    match orders::update_draft(&mut *deps.pool.acquire().await?, order.id, &changes, Utc::now()).await {
        Ok(order) => Ok(Some(order)),
        Err(error) => {
            let reason = refused(error)?;
            bot.send(chat, catalog.render(Text::OrderRefused, &[("reason", &reason)]), None).await?;
            Ok(None)
        }
    }
}

/// A trial's order carried to a running bot, its steps shown by editing the summary's message; the
/// resumer then tells the buyer that the bot is live.
async fn carry(
    bot: &TgBot,
    deps: &Arc<Deps>,
    catalog: &'static Catalog,
    at: (ChatId, MessageId),
    order: i64,
) -> anyhow::Result<()> {
    let (chat, message) = at;
    let step = move |step: &str| catalog.render(Text::ProgressText, &[("step", step)]);
    bot.edit(chat, message, step(catalog.raw(Text::ProgressBegun)), None).await?;
    let (bot, deps) = (bot.clone(), Arc::clone(deps));
    tokio::spawn(async move {
        tracing::info!(order, "a buyer's trial is carried out");
        let (progress, edits) = MessageProgress::start(bot.clone(), chat, message, step);
        let carried = deps.options.fulfiller.carry(order, &progress).await;
        drop(progress);
        // The last step's edit must not land over the outcome.
        let _ = edits.await;
        let html = match carried {
            Ok(_) => catalog.render(Text::ProgressDone, &[]),
            Err(error) => {
                tracing::warn!(order, error = format!("{error:#}"), "a buyer's trial was not carried out");
                let reason = match error.downcast_ref::<BadInput>() {
                    Some(bad) => bad.to_string(),
                    None => catalog.raw(Text::Failed).to_string(),
                };
                let support = deps.support(catalog);
                catalog.render(Text::ProgressFailed, &[("reason", &reason), ("support", &support)])
            }
        };
        if let Err(error) = bot.edit(chat, message, html, None).await {
            tracing::warn!(order, error = format!("{error:#}"), "could not show a trial's outcome");
        }
    });
    Ok(())
}

/// The YooKassa payment page's link (asked again, the same payment: its key derives from the order).
async fn pay_yookassa(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    at: (ChatId, MessageId),
    order: &Order,
) -> anyhow::Result<Option<Text>> {
    let (Some(checkout), Some(plan)) = (&deps.options.checkout, order.plan.as_deref()) else {
        return Ok(Some(Text::Stale));
    };
    let link = match checkout.request(&deps.pool, order.id, plan, Utc::now()).await {
        Ok(link) => link,
        Err(error) => {
            let reason = refused(error)?;
            bot.send(at.0, catalog.render(Text::OrderRefused, &[("reason", &reason)]), None).await?;
            return Ok(None);
        }
    };
    let order = orders::find(&mut *deps.pool.acquire().await?, Lookup::Id(order.id)).await?.unwrap_or(order.clone());
    let amount = order.amount.map(screens::price).unwrap_or_default();
    let buttons = InlineKeyboardMarkup::new(vec![
        vec![InlineKeyboardButton::url(catalog.raw(Text::PayOpen), link)],
        vec![callback::button(catalog.raw(Text::PayCheck), Callback::Paid { order: order.id })],
        cancel_row(catalog, order.id),
    ]);
    bot.edit(at.0, at.1, catalog.render(Text::PayLink, &[("price", &amount)]), Some(buttons)).await?;
    Ok(None)
}

/// A Stars invoice for the order's plan at its whole-Star price.
async fn pay_stars(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    chat: ChatId,
    order: &Order,
) -> anyhow::Result<Option<Text>> {
    let Some(plan) = order.plan.as_deref().filter(|_| deps.options.stars) else { return Ok(Some(Text::Stale)) };
    let invoice = match stars::request(&deps.pool, order.id, plan, Utc::now()).await {
        Ok(invoice) => invoice,
        Err(error) => {
            let reason = refused(error)?;
            bot.send(chat, catalog.render(Text::OrderRefused, &[("reason", &reason)]), None).await?;
            return Ok(None);
        }
    };
    let prices = vec![LabeledPrice::new(invoice.label, invoice.stars)];
    bot.direct().send_invoice(chat, invoice.title, invoice.description, invoice.payload, "XTR", prices).await?;
    Ok(None)
}

/// "I have paid": YooKassa asked at once.
async fn check_paid(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    chat: ChatId,
    order: &Order,
) -> anyhow::Result<Option<Text>> {
    let Some(checkout) = &deps.options.checkout else { return Ok(Some(Text::Stale)) };
    let order = match order.state {
        orders::State::AwaitingPayment => checkout.check_now(&deps.pool, order.id, Utc::now()).await?,
        _ => order.clone(),
    };
    if order.state.is_paid() {
        bot.send(chat, catalog.render(Text::PayReceived, &[]), None).await?;
        return Ok(None);
    }
    match order.state {
        orders::State::Canceled | orders::State::Failed => {
            let reason = order.reason.as_deref().unwrap_or_default();
            bot.send(chat, catalog.render(Text::PayCanceled, &[("reason", reason)]), None).await?;
            Ok(None)
        }
        _ => Ok(Some(Text::PayNotYet)),
    }
}

/// Cancel: a draft is dropped; an order awaiting a payment only once the provider says it is unpaid.
async fn cancel_pressed(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &SalesDialogue,
    catalog: &Catalog,
    at: (ChatId, MessageId),
    order: &Order,
) -> anyhow::Result<Option<Text>> {
    let order = match (&deps.options.checkout, order.state) {
        (Some(checkout), orders::State::AwaitingPayment) => {
            checkout.check_now(&deps.pool, order.id, Utc::now()).await?
        }
        _ => order.clone(),
    };
    if !matches!(order.state, orders::State::Draft | orders::State::AwaitingPayment) {
        return Ok(Some(Text::Stale));
    }
    dialogue.exit().await?;
    cancel(deps, &order, "canceled by the buyer").await?;
    bot.edit(at.0, at.1, catalog.render(Text::Cancelled, &[]), None).await?;
    Ok(None)
}

/// Telegram Stars' `successful_payment`: credited by its charge id (once, however often it comes).
async fn stars_paid(
    bot: &TgBot,
    deps: &Deps,
    catalog: &Catalog,
    chat: ChatId,
    paid: &teloxide::types::SuccessfulPayment,
) -> anyhow::Result<()> {
    let payment = StarsPayment {
        charge_id: paid.telegram_payment_charge_id.0.clone(),
        payload: paid.invoice_payload.clone(),
        currency: paid.currency.clone(),
        total_amount: paid.total_amount,
    };
    let order = stars::paid(&deps.pool, &payment, Utc::now()).await?;
    tracing::info!(order = order.id, state = %order.state, "a Stars payment arrived");
    bot.send(chat, catalog.render(Text::StarsPaid, &[]), None).await
}

/// Whether the order behind a Stars invoice still stands at that price, answered within Telegram's
/// 10 seconds: an answer that cannot be had in time is a refusal, so nothing is paid unchecked.
async fn on_pre_checkout(bot: TgBot, q: PreCheckoutQuery, deps: Arc<Deps>) -> anyhow::Result<()> {
    let catalog = catalog(&q.from);
    let checked = stars::pre_checkout(&deps.pool, &q.invoice_payload, &q.currency, q.total_amount, Utc::now());
    let verdict = match tokio::time::timeout(PRE_CHECKOUT_TIMEOUT, checked).await {
        Ok(verdict) => verdict,
        Err(_) => Err(catalog.raw(Text::Failed).to_string()),
    };
    let mut answer = bot.direct().answer_pre_checkout_query(q.id.clone(), verdict.is_ok());
    if let Err(reason) = verdict {
        tracing::info!(user = q.from.id.0, reason, "a Stars pre-checkout was refused");
        answer = answer.error_message(reason);
    }
    answer.await?;
    Ok(())
}

/// An update teloxide could not read: a `managed_bot` one is the bot a buyer created through us.
async fn on_raw(bot: TgBot, json: serde_json::Value, deps: Arc<Deps>, storage: Arc<DbStorage>) -> anyhow::Result<()> {
    let update = match parse_managed_bot_update(&json) {
        Ok(Some(update)) => update,
        Ok(None) => return Ok(()),
        Err(error) => {
            tracing::warn!(%error, "an unreadable managed_bot update");
            return Ok(());
        }
    };
    // A private chat's id is its user's.
    let dialogue = Dialogue::new(storage, ChatId(update.owner.id));
    handling::message(&deps.health.metrics, draft::managed(&bot, &deps, &dialogue, update)).await
}
