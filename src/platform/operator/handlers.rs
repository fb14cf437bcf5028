//! The handler tree: one `schema()`. The gate admits operators and refuses everyone else before any
//! handler runs (handlers take the `Operator` it yields, so none can run without it); a button's need
//! (to see or to act) is checked in one place, `on_callback`, against the operator's role; then each
//! message or button goes to its flow. Every button a tenant names is looked up again.

use std::sync::Arc;

use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::{Dialogue, GetChatId};
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, ChatId, MessageId};
use teloxide::utils::command::BotCommands;

use super::access::{Need, Operator};
use super::callback::{Action, Callback};
use super::screens::{self, Screen, verb};
use super::state::{DbStorage, State};
use super::texts::{Catalog, Text};
use super::{Deps, catalog, create, payment};
use crate::telegram::runtime::progress::MessageProgress;
use chrono::Utc;

use crate::backup::Keep;
use crate::billing;
use crate::locale::Locale;
use crate::progress::Progress;
use crate::telegram::runtime::flood::{Input, Verdict};
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::runtime::{callback, handling};
use crate::tenant::backup as tenant_backup;
use crate::tenant::lifecycle::{self, DeleteOptions};
use crate::tenant::ops;
use crate::tenant::upgrade::{self, Outcome};
use crate::tenant::{TenantSlug, runtime};

type OperatorDialogue = Dialogue<State, DbStorage>;

#[derive(BotCommands, Clone, Copy)]
#[command(rename_rule = "lowercase")]
enum Command {
    Start,
    Menu,
    Cancel,
}

pub(super) fn schema() -> UpdateHandler<anyhow::Error> {
    let messages = Update::filter_message().enter_dialogue::<Message, DbStorage, State>().endpoint(on_message);
    let callbacks =
        Update::filter_callback_query().enter_dialogue::<CallbackQuery, DbStorage, State>().endpoint(on_callback);
    dptree::entry().filter_map_async(gate).branch(messages).branch(callbacks)
}

/// Admits operators in private chats. Everyone else gets one polite refusal per flood window — to a
/// message a line, to a button its answer — and nothing else: no dialogue row is read or written.
async fn gate(update: Update, bot: TgBot, deps: Arc<Deps>) -> Option<Operator> {
    let user = update.from()?;
    // In a group the bot's answers would reach people who are not operators.
    let private = update.chat().is_none_or(|chat| chat.is_private());
    if private && let Some(operator) = deps.options.operators.admit(user.id.0) {
        return Some(operator);
    }
    tracing::info!(user = user.id.0, "the operator bot refused someone who is not an operator");
    let catalog = catalog(user);
    let warn = deps.flood.check(user.id.0 as i64, Input::Message) == Verdict::Allow;
    let refused = match &update.kind {
        teloxide::types::UpdateKind::Message(msg) if private && warn => {
            bot.send(msg.chat.id, catalog.render(Text::AccessRefused, &[]), None).await
        }
        teloxide::types::UpdateKind::CallbackQuery(q) => {
            let mut answer = bot.direct().answer_callback_query(q.id.clone());
            if warn {
                answer = answer.text(catalog.raw(Text::Stale));
            }
            answer.await.map(drop).map_err(Into::into)
        }
        _ => Ok(()),
    };
    if let Err(error) = refused {
        tracing::debug!(error = format!("{error:#}"), "could not refuse");
    }
    None
}

/// The command menu Telegram shows, in `locale`.
pub(super) fn commands(locale: Locale) -> Vec<teloxide::types::BotCommand> {
    let catalog = Catalog::defaults(locale);
    vec![
        teloxide::types::BotCommand::new("start", catalog.raw(Text::CommandsStart)),
        teloxide::types::BotCommand::new("cancel", catalog.raw(Text::CommandsCancel)),
    ]
}

async fn on_message(
    bot: TgBot,
    msg: Message,
    deps: Arc<Deps>,
    dialogue: OperatorDialogue,
    operator: Operator,
) -> anyhow::Result<()> {
    handling::message(&deps.health.metrics, message(&bot, &msg, &deps, &dialogue, &operator)).await
}

async fn message(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
) -> anyhow::Result<()> {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let catalog = catalog(user);
    let chat = msg.chat.id;
    // A pasted token leaves the chat before anything else happens to its message.
    if create::delete_if_token(bot, msg, dialogue).await? {
        return bot.send(chat, catalog.render(Text::CreateTokenOutOfPlace, &[]), None).await;
    }
    match deps.flood.check(operator.id, Input::Message) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return bot.send(chat, catalog.render(Text::Flood, &[]), None).await,
        Verdict::Drop => return Ok(()),
    }
    let text = msg.text().unwrap_or_default().trim();
    if let Ok(command) = Command::parse(text, "") {
        // Deleted rather than set to Idle: a flow's row may hold a pasted token.
        dialogue.exit().await?;
        if matches!(command, Command::Cancel) {
            bot.send(chat, catalog.render(Text::Cancelled, &[]), None).await?;
        }
        return send(bot, chat, screens::menu(catalog, operator)).await;
    }
    match dialogue.get().await?.unwrap_or_default() {
        State::Searching => {
            dialogue.update(State::Idle).await?;
            send(bot, chat, screens::tenants(deps, catalog, Some(text), 1).await?).await
        }
        State::Deleting { tenant } => {
            dialogue.update(State::Idle).await?;
            // A role taken away mid-flow takes the flow with it.
            if !operator.may(Need::Act) {
                return bot.send(chat, catalog.render(Text::AccessRefused, &[]), None).await;
            }
            match tenant.parse::<TenantSlug>() {
                Ok(slug) if text == slug.as_str() => {
                    let working = bot.post(chat, progress_text(catalog, Action::Delete, &slug, None), None).await?;
                    perform(bot, deps, catalog, operator, Action::Delete, &slug, (chat, working)).await
                }
                _ => bot.send(chat, catalog.render(Text::DeleteMismatch, &[]), None).await,
            }
        }
        State::AwaitingToken => create::answer(bot, deps, dialogue, operator, catalog, msg, None).await,
        State::Creating(draft) => create::answer(bot, deps, dialogue, operator, catalog, msg, Some(draft)).await,
        State::Paying(draft) => payment::answer(bot, deps, dialogue, operator, catalog, msg, draft).await,
        State::Idle => send(bot, chat, screens::menu(catalog, operator)).await,
    }
}

async fn on_callback(
    bot: TgBot,
    q: CallbackQuery,
    deps: Arc<Deps>,
    dialogue: OperatorDialogue,
    operator: Operator,
) -> anyhow::Result<()> {
    let catalog = catalog(&q.from);
    let answer = async {
        callback(&bot, &q, &deps, &dialogue, &operator, catalog)
            .await
            .map(|alert| alert.map(|t| catalog.raw(t).to_string()))
    };
    handling::callback(&bot, &deps.health.metrics, &q, catalog.raw(Text::Failed), answer).await
}

/// What a button needs of the operator pressing it.
fn need(callback: &Callback) -> Need {
    match callback {
        Callback::Ask { .. }
        | Callback::Do { .. }
        | Callback::Trial { .. }
        | Callback::ExtendTrial { .. }
        | Callback::Create
        | Callback::CreateTemplate { .. }
        | Callback::CreateZone { .. }
        | Callback::CreateConfirm
        | Callback::Pay { .. }
        | Callback::PayPlan { .. }
        | Callback::PayDays { .. }
        | Callback::PayConfirm { .. }
        | Callback::Refund { .. }
        | Callback::RefundConfirm { .. } => Need::Act,
        Callback::Menu
        | Callback::Fleet
        | Callback::Tenants { .. }
        | Callback::Search
        | Callback::Found { .. }
        | Callback::Card { .. }
        | Callback::Logs { .. }
        | Callback::Cancel => Need::See,
    }
}

/// Handles a button press; `Some(text)` becomes an alert in the answer.
async fn callback(
    bot: &TgBot,
    q: &CallbackQuery,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
    catalog: &'static Catalog,
) -> anyhow::Result<Option<Text>> {
    let (Some(chat), Some(message), Some(data)) = (q.chat_id(), q.message.as_ref(), q.data.as_deref()) else {
        return Ok(Some(Text::Stale));
    };
    match deps.flood.check(operator.id, Input::Button) {
        Verdict::Allow => {}
        Verdict::DropAndWarn => return Ok(Some(Text::Flood)),
        Verdict::Drop => return Ok(None),
    }
    let Ok(pressed) = callback::parse::<Callback>(data) else { return Ok(Some(Text::Stale)) };
    if !operator.may(need(&pressed)) {
        tracing::info!(operator = operator.id, data, "a viewer pressed an owner's button");
        return Ok(Some(Text::AccessViewer));
    }
    let creating = matches!(
        pressed,
        Callback::Create | Callback::CreateTemplate { .. } | Callback::CreateZone { .. } | Callback::CreateConfirm
    );
    // A create flow left by another button takes the pasted token it holds with it.
    if !creating && matches!(dialogue.get().await?, Some(State::Creating(_))) {
        dialogue.exit().await?;
    }
    let at = (chat, message.id());
    let shown = match pressed {
        Callback::Menu => Some(screens::menu(catalog, operator)),
        Callback::Fleet => Some(screens::fleet(deps, catalog).await?),
        Callback::Tenants { page } => Some(screens::tenants(deps, catalog, None, page).await?),
        Callback::Found { page, query } => Some(screens::tenants(deps, catalog, Some(&query), page).await?),
        Callback::Search => {
            dialogue.update(State::Searching).await?;
            bot.send(chat, catalog.render(Text::TenantsSearchPrompt, &[]), None).await?;
            None
        }
        Callback::Cancel => {
            dialogue.exit().await?;
            Some(screens::menu(catalog, operator))
        }
        Callback::Card { tenant }
        | Callback::Logs { tenant }
        | Callback::Ask { tenant, .. }
        | Callback::Trial { tenant }
        | Callback::ExtendTrial { tenant, .. }
        | Callback::Refund { tenant }
        | Callback::RefundConfirm { tenant, .. }
            if !exists(deps, &tenant).await? =>
        {
            bot.send(chat, catalog.render(Text::NotFound, &[("slug", tenant.as_str())]), None).await?;
            None
        }
        Callback::Card { tenant } => Some(screens::card(deps, catalog, operator, &tenant).await?),
        Callback::Logs { tenant } => Some(screens::logs(deps, catalog, &tenant).await?),
        Callback::Ask { action: Action::Delete, tenant } => {
            dialogue.update(State::Deleting { tenant: tenant.to_string() }).await?;
            bot.send(chat, catalog.render(Text::DeletePrompt, &[("slug", tenant.as_str())]), None).await?;
            None
        }
        Callback::Ask { action, tenant } => Some(screens::confirm(deps, catalog, action, &tenant).await?),
        Callback::Trial { tenant } => Some(screens::trial(deps, catalog, &tenant).await?),
        Callback::ExtendTrial { days, tenant } => {
            let days = i32::try_from(days).unwrap_or(i32::MAX);
            let extended = billing::extend_trial(
                &mut *deps.pool.acquire().await?,
                tenant.as_str(),
                days,
                &operator.actor(),
                Utc::now(),
            )
            .await;
            let html = match extended {
                Ok(subscription) => {
                    let detail = subscription.summary();
                    catalog.render(
                        Text::DoneOk,
                        &[("action", catalog.raw(Text::ActionTrial)), ("slug", tenant.as_str()), ("detail", &detail)],
                    )
                }
                Err(error) => {
                    let error = format!("{error:#}");
                    catalog.render(
                        Text::DoneFailed,
                        &[("action", catalog.raw(Text::ActionTrial)), ("slug", tenant.as_str()), ("error", &error)],
                    )
                }
            };
            Some(Screen { html, buttons: screens::back_to_card(catalog, &tenant) })
        }
        Callback::Create | Callback::CreateTemplate { .. } | Callback::CreateZone { .. } | Callback::CreateConfirm => {
            return create::press(bot, deps, dialogue, operator, catalog, at, pressed).await;
        }
        Callback::Pay { .. } | Callback::PayPlan { .. } | Callback::PayDays { .. } | Callback::PayConfirm { .. } => {
            return payment::press(bot, deps, dialogue, operator, catalog, at, pressed).await;
        }
        Callback::Refund { tenant } => Some(payment::ask_refund(deps, catalog, &tenant).await?),
        Callback::RefundConfirm { payment, tenant } => {
            payment::refund(bot, deps, operator, catalog, at, payment, &tenant).await?;
            None
        }
        Callback::Do { action, tenant } => {
            bot.edit(chat, at.1, progress_text(catalog, action, &tenant, None), None).await?;
            perform(bot, deps, catalog, operator, action, &tenant, at).await?;
            None
        }
    };
    if let Some(screen) = shown {
        bot.edit(chat, at.1, screen.html, Some(screen.buttons)).await?;
    }
    Ok(None)
}

async fn exists(deps: &Deps, slug: &TenantSlug) -> anyhow::Result<bool> {
    let tenant = crate::tenant::store::find(&mut *deps.pool.acquire().await?, slug.as_str()).await?;
    Ok(tenant.is_some_and(|t| t.deleted_at.is_none()))
}

async fn send(bot: &TgBot, chat: ChatId, screen: Screen) -> anyhow::Result<()> {
    bot.send(chat, screen.html, Some(screen.buttons.into())).await
}

fn progress_text(catalog: &Catalog, action: Action, slug: &TenantSlug, step: Option<&str>) -> String {
    let step = step.unwrap_or(catalog.raw(Text::ProgressBegun));
    catalog
        .render(Text::ProgressText, &[("action", catalog.raw(verb(action))), ("slug", slug.as_str()), ("step", step)])
}

/// Runs a confirmed action as the CLI does, showing its steps by editing `at`, then its outcome there.
async fn perform(
    bot: &TgBot,
    deps: &Deps,
    catalog: &'static Catalog,
    operator: &Operator,
    action: Action,
    slug: &TenantSlug,
    at: (ChatId, MessageId),
) -> anyhow::Result<()> {
    tracing::info!(operator = operator.id, tenant = %slug, ?action, "an operator acts");
    let (progress, edits) = {
        let slug = slug.clone();
        MessageProgress::start(bot.clone(), at.0, at.1, move |step| progress_text(catalog, action, &slug, Some(step)))
    };
    let outcome = act(deps, operator, action, slug, &progress).await;
    drop(progress);
    // The last step's edit must not land over the outcome.
    let _ = edits.await;
    let verb = catalog.raw(verb(action));
    let html = match outcome {
        Ok(detail) => catalog.render(Text::DoneOk, &[("action", verb), ("slug", slug.as_str()), ("detail", &detail)]),
        Err(error) => {
            tracing::warn!(operator = operator.id, tenant = %slug, ?action, error = format!("{error:#}"), "an operator's action failed");
            let error = format!("{error:#}");
            catalog.render(Text::DoneFailed, &[("action", verb), ("slug", slug.as_str()), ("error", &error)])
        }
    };
    let back = screens::back_to_card(catalog, slug);
    bot.edit(at.0, at.1, html, Some(back)).await
}

/// The action itself, through the same library operations as the CLI; a line on what was done.
async fn act(
    deps: &Deps,
    operator: &Operator,
    action: Action,
    slug: &TenantSlug,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    let (servers, actor) = (deps.servers(), operator.actor());
    match action {
        Action::Start | Action::Restart => {
            let (engine, options) = (deps.engine().await?, deps.runtime()?);
            let restart = action == Action::Restart;
            let started = lifecycle::start(servers, engine, slug, options, restart, &actor, progress).await?;
            Ok(format!("{} ({})", started.container, started.image))
        }
        Action::Stop => {
            ops::show(servers, slug).await?;
            runtime::stop(servers, deps.engine().await?, slug, &actor).await?;
            Ok(String::new())
        }
        Action::Upgrade => {
            let options = deps.runtime()?;
            progress.set_message(&format!("moving to {}", options.image));
            let engine = deps.engine().await?;
            let done = upgrade::upgrade_tenant(servers, engine, slug, &options.image, options, &actor).await?;
            match done.outcome {
                Outcome::Upgraded | Outcome::Current => {
                    Ok(format!("{} → {}", done.from.as_deref().unwrap_or("—"), done.to))
                }
                Outcome::RolledBack | Outcome::Failed => {
                    anyhow::bail!("{:?}: {}", done.outcome, done.error.as_deref().unwrap_or("no reason given"))
                }
            }
        }
        Action::Backup => {
            progress.set_message("taking a consistent snapshot");
            let dest = &deps.options.backup_dir;
            let taken = tenant_backup::backup_tenant(servers, slug, dest, &Keep::default(), &actor).await?;
            match (taken.error, taken.path) {
                (Some(error), _) => anyhow::bail!("{error}"),
                (None, path) => Ok(path.map(|p| p.display().to_string()).unwrap_or_default()),
            }
        }
        Action::Delete => {
            let options = DeleteOptions { final_backup: Some(deps.options.backup_dir.clone()) };
            let deleted = lifecycle::delete(servers, deps.engine().await, slug, &options, &actor, progress).await?;
            Ok(deleted.final_backup.unwrap_or_default())
        }
    }
}
