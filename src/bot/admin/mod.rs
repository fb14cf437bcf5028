//! The business's admin panel, inside the tenant's own bot. Three doors lead in — the `/admin` and
//! `/audit` commands, an admin button, and free text while an admin prompt waits — and each of them
//! passes `access::authorize` with the permission its action declares before any panel handler runs.
//! Handlers take the `Staff` it returns inside `Cx`, so none can be reached around the check.

pub mod access;
pub mod audit;
mod blocks;
mod broadcast;
pub(crate) mod commands;
mod dashboard;
mod exports;
mod schedule;
mod services;
mod settings;
mod staff;
mod texts;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ReplyMarkup};

use self::access::{Need, Permission, Staff, authorize};
use super::business::{Business, business};
use super::callback::Callback;
use super::callback::admin::{
    Admin, AuditAction, BlockAction, BroadcastAction, ExportAction, Period, ScheduleAction, Section, ServiceAction,
    SettingsAction, StaffAction, TextAction,
};
use super::handlers::{CustomerDialogue, Deps, HandlerResult};
use super::keyboards::button;
use super::state::State;
use super::texts::{Catalog, Text};
use crate::telegram::runtime::sender::TgBot;

/// What a panel handler answers a button with: `Some(text)` becomes an alert.
pub(crate) type Reply = anyhow::Result<Option<Text>>;

/// The panel's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `/admin`: the main menu.
    Panel,
    /// `/audit`: the audit log's newest page.
    Audit,
}

impl Command {
    fn need(self) -> Need {
        match self {
            Command::Panel => Need::Admin,
            Command::Audit => Need::Permission(Permission::Audit),
        }
    }
}

/// Free input an admin is asked for, kept in the dialogue between messages. Each part of the panel
/// has its own questions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    Schedule(schedule::Prompt),
    Block(blocks::Prompt),
    Services(services::Prompt),
    Settings(settings::Prompt),
    Texts(texts::Prompt),
    Exports(exports::Prompt),
    Broadcast(broadcast::Prompt),
    Staff(staff::Prompt),
}

impl Prompt {
    /// The part of the panel that asked: an answer needs what its buttons need, checked again for
    /// every answer (a permission withdrawn mid-question ends the question).
    fn section(&self) -> Section {
        match self {
            Prompt::Schedule(_) => Section::Schedule,
            Prompt::Block(_) => Section::Blocks,
            Prompt::Services(_) => Section::Services,
            Prompt::Settings(_) => Section::Settings,
            Prompt::Texts(_) => Section::Texts,
            Prompt::Exports(_) => Section::Exports,
            Prompt::Broadcast(_) => Section::Broadcast,
            Prompt::Staff(_) => Section::Staff,
        }
    }
}

/// Everything a panel handler works with, the admin who passed the check among it.
pub(crate) struct Cx<'a> {
    pub bot: &'a TgBot,
    pub deps: &'a Deps,
    pub dialogue: &'a CustomerDialogue,
    pub staff: Staff,
    pub chat: ChatId,
    pub catalog: Arc<Catalog>,
}

impl Cx<'_> {
    pub fn now(&self) -> DateTime<Utc> {
        self.deps.now()
    }

    pub fn pool(&self) -> &PgPool {
        &self.deps.pool
    }

    pub async fn business(&self) -> anyhow::Result<Business> {
        business(&self.deps.pool).await
    }

    /// Shows a screen: in place of the message `at`, or as a new message.
    pub async fn show(
        &self,
        at: Option<MessageId>,
        html: String,
        rows: Vec<Vec<InlineKeyboardButton>>,
    ) -> HandlerResult {
        let markup = (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows));
        match at {
            Some(message) => self.bot.edit(self.chat, message, html, markup).await,
            None => self.bot.send(self.chat, html, markup.map(ReplyMarkup::InlineKeyboard)).await,
        }
    }

    /// Asks for free input: the question, with how to stop, as a new message; the answer comes to the
    /// part of the panel that owns `prompt`.
    pub async fn ask(&self, prompt: impl Into<Prompt>, html: String) -> HandlerResult {
        self.dialogue.update(State::Admin(prompt.into())).await?;
        let hint = self.catalog.render(Text::AdminPromptHint, &[]);
        self.bot.send(self.chat, format!("{html}\n\n<i>{hint}</i>"), None).await
    }

    /// Ends the question: the next message is not an answer to it.
    pub async fn done(&self) -> HandlerResult {
        Ok(self.dialogue.update(State::Idle).await?)
    }

    /// What the question currently waiting is, if it is one of the panel's.
    pub async fn prompt(&self) -> anyhow::Result<Option<Prompt>> {
        Ok(match self.dialogue.get().await? {
            Some(State::Admin(prompt)) => Some(prompt),
            _ => None,
        })
    }

    /// A text without placeholders, as a message.
    pub fn say(&self, text: Text) -> String {
        self.catalog.render(text, &[])
    }

    /// A button of the panel.
    pub fn button(&self, text: Text, action: impl Into<Admin>) -> InlineKeyboardButton {
        button(self.catalog.raw(text), Callback::Admin(action.into()))
    }

    /// The row that leads back to the main menu.
    pub fn menu_row(&self) -> Vec<InlineKeyboardButton> {
        vec![self.button(Text::AdminMenuButton, Admin::Menu)]
    }
}

macro_rules! into_admin {
    ($($action:ident => $variant:ident),+ $(,)?) => {
        $(impl From<$action> for Admin {
            fn from(action: $action) -> Admin {
                Admin::$variant(action)
            }
        })+
    };
}

into_admin! {
    Period => Dashboard,
    ScheduleAction => Schedule,
    BlockAction => Block,
    ServiceAction => Services,
    SettingsAction => Settings,
    TextAction => Texts,
    ExportAction => Exports,
    BroadcastAction => Broadcast,
    StaffAction => Staff,
    AuditAction => Audit,
}

macro_rules! into_prompt {
    ($($module:ident => $variant:ident),+ $(,)?) => {
        $(impl From<$module::Prompt> for Prompt {
            fn from(prompt: $module::Prompt) -> Prompt {
                Prompt::$variant(prompt)
            }
        })+
    };
}

into_prompt! {
    schedule => Schedule,
    blocks => Block,
    services => Services,
    settings => Settings,
    texts => Texts,
    exports => Exports,
    broadcast => Broadcast,
    staff => Staff,
}

/// The check itself: the user as staff, or `None` after logging the refusal.
async fn admit(deps: &Deps, user: &teloxide::types::User, need: Need) -> anyhow::Result<Option<Staff>> {
    let user_id = i64::try_from(user.id.0)?;
    let staff = authorize(&deps.pool, user_id, need).await?;
    if staff.is_none() {
        tracing::info!(user = user_id, ?need, "an admin action was refused");
    }
    Ok(staff)
}

/// `/admin` and `/audit`.
pub(crate) async fn command(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    command: Command,
) -> HandlerResult {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let catalog = deps.catalog();
    let Some(staff) = admit(deps, user, command.need()).await? else {
        return bot.send(msg.chat.id, catalog.render(Text::AdminDenied, &[]), None).await;
    };
    let cx = Cx { bot, deps, dialogue, staff, chat: msg.chat.id, catalog };
    cx.done().await?;
    commands::offer(bot, &cx.catalog, &cx.staff).await;
    match command {
        Command::Panel => menu(&cx, None).await,
        Command::Audit => audit::page(&cx, None, 0).await,
    }
}

/// Free text while a panel question waits.
pub(crate) async fn answer(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    prompt: Prompt,
) -> HandlerResult {
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    let catalog = deps.catalog();
    let Some(staff) = admit(deps, user, prompt.section().need()).await? else {
        dialogue.update(State::Idle).await?;
        return bot.send(msg.chat.id, catalog.render(Text::AdminDenied, &[]), None).await;
    };
    let cx = Cx { bot, deps, dialogue, staff, chat: msg.chat.id, catalog };
    let text = msg.text().unwrap_or_default().trim();
    match prompt {
        Prompt::Schedule(p) => schedule::answer(&cx, p, text).await,
        Prompt::Block(p) => blocks::answer(&cx, p, text).await,
        Prompt::Services(p) => services::answer(&cx, p, text).await,
        Prompt::Settings(p) => settings::answer(&cx, p, text).await,
        Prompt::Texts(p) => texts::answer(&cx, p, text).await,
        Prompt::Exports(p) => exports::answer(&cx, p, text).await,
        Prompt::Broadcast(p) => broadcast::answer(&cx, p, text).await,
        Prompt::Staff(p) => staff::answer(&cx, p, text).await,
    }
}

/// `/cancel` while a panel question waits.
pub(crate) async fn cancelled(bot: &TgBot, chat: ChatId, deps: &Deps) -> HandlerResult {
    let catalog = deps.catalog();
    let menu = vec![vec![button(catalog.raw(Text::AdminMenuButton), Callback::Admin(Admin::Menu))]];
    let markup = ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new(menu));
    bot.send(chat, catalog.render(Text::AdminPromptCancelled, &[]), Some(markup)).await
}

/// An admin button, pressed on the bot's message `at` in `chat`.
pub(crate) async fn callback(
    bot: &TgBot,
    q: &CallbackQuery,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    (chat, at): (ChatId, MessageId),
    action: Admin,
) -> Reply {
    let Some(staff) = admit(deps, &q.from, action.need()).await? else { return Ok(Some(Text::AdminDeniedAlert)) };
    let cx = Cx { bot, deps, dialogue, staff, chat, catalog: deps.catalog() };
    match action {
        Admin::Menu => menu(&cx, Some(at)).await.map(|()| None),
        Admin::Dashboard(period) => dashboard::show(&cx, at, period).await,
        Admin::Schedule(a) => schedule::callback(&cx, at, a).await,
        Admin::Block(a) => blocks::callback(&cx, at, a).await,
        Admin::Services(a) => services::callback(&cx, at, a).await,
        Admin::Settings(a) => settings::callback(&cx, at, a).await,
        Admin::Texts(a) => texts::callback(&cx, at, a).await,
        Admin::Exports(a) => exports::callback(&cx, at, a).await,
        Admin::Broadcast(a) => broadcast::callback(&cx, at, a).await,
        Admin::Staff(a) => staff::callback(&cx, at, a).await,
        Admin::Audit(AuditAction::Page { page }) => audit::page(&cx, Some(at), page).await.map(|()| None),
        Admin::Audit(AuditAction::Csv) => audit::csv(&cx).await,
    }
}

/// The main menu: the sections this admin may open, two to a row.
async fn menu(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let business = cx.business().await?;
    let role = if cx.staff.is_owner() { Text::AdminRoleOwner } else { Text::AdminRoleManager };
    let html = cx
        .catalog
        .render(Text::AdminPanelTitle, &[("name", &business.name), ("role", &cx.catalog.render_plain(role, &[]))]);
    let sections: [(Text, Admin); 10] = [
        (Text::AdminPanelDashboard, Admin::Dashboard(Period::Today)),
        (Text::AdminPanelSchedule, Admin::Schedule(ScheduleAction::Day { date: today(&business, cx.now()) })),
        (Text::AdminPanelBlocks, Admin::Block(BlockAction::List)),
        (Text::AdminPanelServices, Admin::Services(ServiceAction::List)),
        (Text::AdminPanelSettings, Admin::Settings(SettingsAction::Menu)),
        (Text::AdminPanelTexts, Admin::Texts(TextAction::List { page: 0 })),
        (Text::AdminPanelExports, Admin::Exports(ExportAction::Menu)),
        (Text::AdminPanelBroadcast, Admin::Broadcast(BroadcastAction::Compose)),
        (Text::AdminPanelStaff, Admin::Staff(StaffAction::List)),
        (Text::AdminPanelAudit, Admin::Audit(AuditAction::Page { page: 0 })),
    ];
    let allowed: Vec<InlineKeyboardButton> = sections
        .into_iter()
        .filter(|(_, action)| match action.need() {
            Need::Admin => true,
            Need::Permission(p) => cx.staff.may(p),
        })
        .map(|(text, action)| cx.button(text, action))
        .collect();
    let rows = allowed.chunks(2).map(<[InlineKeyboardButton]>::to_vec).collect();
    cx.show(at, html, rows).await
}

/// Today in the business's time zone.
pub(crate) fn today(business: &Business, now: DateTime<Utc>) -> chrono::NaiveDate {
    now.with_timezone(&business.tz).date_naive()
}
