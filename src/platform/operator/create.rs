//! Creating a tenant from Telegram (owners only): a pasted bot token (its message deleted at once, the
//! token never echoed), checked by `getMe`; then the name, the owner, the template and the time zone;
//! then a confirmation naming everything, and the same operation as `tenant create`.

use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::Dialogue;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId};

use super::Deps;
use super::access::{Need, Operator};
use super::callback::Callback;
use super::state::{DbStorage, State};
use super::texts::{Catalog, Text};
use crate::billing;
use crate::config::template;
use crate::error::BadInput;
use crate::progress::Progress;
use crate::telegram::runtime::callback::button;
use crate::telegram::runtime::progress::MessageProgress;
use crate::telegram::runtime::sender::TgBot;
use crate::telegram::{self, BotToken, TokenShapeError};
use crate::tenant::lifecycle;
use crate::tenant::ops::CreateOptions;
use crate::tenant::store::{self, Tenant};
use crate::tenant::{TenantSlug, runtime};

type OperatorDialogue = Dialogue<State, DbStorage>;

/// The zones offered as buttons; any other is typed.
const ZONES: [Tz; 8] = [
    Tz::Europe__Moscow,
    Tz::Europe__Kaliningrad,
    Tz::Europe__Samara,
    Tz::Asia__Yekaterinburg,
    Tz::Asia__Novosibirsk,
    Tz::Asia__Vladivostok,
    Tz::Europe__London,
    Tz::UTC,
];

/// Telegram's documented bound on user ids.
const MAX_USER_ID: i64 = 1 << 52;

/// A pasted token as the dialogue row keeps it: its `Debug` shows only the bot id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pasted(BotToken);

impl From<Pasted> for String {
    fn from(pasted: Pasted) -> String {
        pasted.0.expose().to_string()
    }
}

impl TryFrom<String> for Pasted {
    type Error = TokenShapeError;

    fn try_from(text: String) -> Result<Self, TokenShapeError> {
        text.parse().map(Pasted)
    }
}

impl fmt::Debug for Pasted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A tenant being put together; the first missing field is the next question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    // The token must outlive the message it came in, and a restart of the daemon must not lose the flow
    // (no globals hold state here), so it waits in the dialogue row, which is deleted as the flow ends.
    token: Pasted,
    /// The bot's username, as `getMe` said.
    bot: String,
    name: Option<String>,
    owner: Option<i64>,
    template: Option<String>,
    timezone: Option<String>,
}

/// Deletes an operator's message that is, or may be, a bot token, before anything else reads it: every
/// message while a token is awaited, and a message that is a token at any time.
pub(super) async fn delete_if_token(bot: &TgBot, msg: &Message, dialogue: &OperatorDialogue) -> anyhow::Result<bool> {
    let token_shaped = msg.text().is_some_and(|t| t.parse::<BotToken>().is_ok());
    let awaited = dialogue.get().await? == Some(State::AwaitingToken);
    Ok(bot.delete_if_token(msg, token_shaped, awaited).await)
}

fn cancel_row(catalog: &Catalog) -> Vec<InlineKeyboardButton> {
    vec![button(catalog.raw(Text::Cancel), Callback::Cancel)]
}

/// A typed answer in the flow: the token first, then each missing field in turn.
pub(super) async fn answer(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
    catalog: &Catalog,
    msg: &Message,
    draft: Option<Draft>,
) -> anyhow::Result<()> {
    let (chat, text) = (msg.chat.id, msg.text().unwrap_or_default().trim());
    // A role taken away mid-flow takes the flow, and the token with it.
    if !operator.may(Need::Act) {
        dialogue.exit().await?;
        return bot.send(chat, catalog.render(Text::AccessRefused, &[]), None).await;
    }
    let Some(mut draft) = draft else { return token(bot, deps, dialogue, catalog, chat, text).await };
    let say = |text: Text, params: &[(&str, &str)]| catalog.render(text, params);
    if draft.name.is_none() {
        let Ok(slug) = text.parse::<TenantSlug>() else {
            return bot.send(chat, say(Text::CreateNameBad, &[]), None).await;
        };
        if store::find(&mut *deps.pool.acquire().await?, slug.as_str()).await?.is_some() {
            return bot.send(chat, say(Text::CreateNameTaken, &[("slug", slug.as_str())]), None).await;
        }
        draft.name = Some(slug.to_string());
        dialogue.update(State::Creating(draft)).await?;
        return bot.send(chat, say(Text::CreateOwnerPrompt, &[("slug", slug.as_str())]), None).await;
    }
    if draft.owner.is_none() {
        let Some(owner) = text.parse::<i64>().ok().filter(|id| (1..=MAX_USER_ID).contains(id)) else {
            return bot.send(chat, say(Text::CreateOwnerBad, &[]), None).await;
        };
        draft.owner = Some(owner);
        dialogue.update(State::Creating(draft)).await?;
        let buttons = templates(catalog);
        return bot.send(chat, say(Text::CreateTemplatePrompt, &[]), Some(buttons.into())).await;
    }
    if draft.template.is_some() && draft.timezone.is_none() {
        let Ok(zone) = text.parse::<Tz>() else {
            return bot.send(chat, say(Text::CreateZoneBad, &[]), None).await;
        };
        draft.timezone = Some(zone.name().to_string());
        dialogue.update(State::Creating(draft.clone())).await?;
        let (html, buttons) = confirmation(catalog, &draft);
        return bot.send(chat, html, Some(buttons.into())).await;
    }
    bot.send(chat, say(Text::CreateChooseAbove, &[]), None).await
}

/// The pasted token (its message is already deleted): its shape, then Telegram's word on it, then
/// whether its bot serves a tenant already.
async fn token(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    catalog: &Catalog,
    chat: ChatId,
    text: &str,
) -> anyhow::Result<()> {
    let Ok(token) = text.parse::<BotToken>() else {
        return bot.send(chat, catalog.render(Text::CreateTokenMalformed, &[]), None).await;
    };
    let me = match telegram::get_me(&deps.options.api_url, &token).await {
        Ok(me) => me,
        Err(error) if error.downcast_ref::<BadInput>().is_some() => {
            let id = token.bot_id().to_string();
            return bot.send(chat, catalog.render(Text::CreateTokenRejected, &[("bot", &id)]), None).await;
        }
        Err(error) => {
            tracing::warn!(bot = token.bot_id(), error = format!("{error:#}"), "could not check a pasted token");
            return bot.send(chat, catalog.render(Text::CreateTokenUnchecked, &[]), None).await;
        }
    };
    if let Some(slug) = store::find_by_bot(&mut *deps.pool.acquire().await?, me.id).await? {
        dialogue.exit().await?;
        let params = [("bot", me.username.as_str()), ("slug", slug.as_str())];
        return bot.send(chat, catalog.render(Text::CreateBotTaken, &params), None).await;
    }
    let prompt = catalog.render(Text::CreateNamePrompt, &[("bot", &me.username)]);
    let draft =
        Draft { token: Pasted(token), bot: me.username, name: None, owner: None, template: None, timezone: None };
    dialogue.update(State::Creating(draft)).await?;
    bot.send(chat, prompt, Some(InlineKeyboardMarkup::new(vec![cancel_row(catalog)]).into())).await
}

fn templates(catalog: &Catalog) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = template::embedded_names()
        .chunks(2)
        .map(|names| names.iter().map(|n| button(*n, Callback::CreateTemplate { template: n.to_string() })).collect())
        .collect();
    rows.push(cancel_row(catalog));
    InlineKeyboardMarkup::new(rows)
}

fn zones(catalog: &Catalog) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = ZONES
        .chunks(2)
        .map(|zones| zones.iter().map(|z| button(z.name(), Callback::CreateZone { zone: Some(*z) })).collect())
        .collect();
    rows.push(vec![button(catalog.raw(Text::CreateZoneOther), Callback::CreateZone { zone: None })]);
    rows.push(cancel_row(catalog));
    InlineKeyboardMarkup::new(rows)
}

fn confirmation(catalog: &Catalog, draft: &Draft) -> (String, InlineKeyboardMarkup) {
    let owner = draft.owner.map(|o| o.to_string()).unwrap_or_default();
    let locale = catalog.locale().to_string();
    let html = catalog.render(
        Text::CreateConfirm,
        &[
            ("slug", draft.name.as_deref().unwrap_or_default()),
            ("bot", &draft.bot),
            ("owner", &owner),
            ("template", draft.template.as_deref().unwrap_or_default()),
            ("timezone", draft.timezone.as_deref().unwrap_or_default()),
            ("locale", &locale),
        ],
    );
    let buttons = vec![vec![button(catalog.raw(Text::CreateYes), Callback::CreateConfirm)], cancel_row(catalog)];
    (html, InlineKeyboardMarkup::new(buttons))
}

/// A button of the flow; `Some(text)` is the press's alert. Each re-checks the dialogue it belongs to.
pub(super) async fn press(
    bot: &TgBot,
    deps: &Deps,
    dialogue: &OperatorDialogue,
    operator: &Operator,
    catalog: &'static Catalog,
    at: (ChatId, MessageId),
    pressed: Callback,
) -> anyhow::Result<Option<Text>> {
    let (chat, message) = at;
    if pressed == Callback::Create {
        dialogue.update(State::AwaitingToken).await?;
        let buttons = InlineKeyboardMarkup::new(vec![cancel_row(catalog)]);
        bot.send(chat, catalog.render(Text::CreateTokenPrompt, &[]), Some(buttons.into())).await?;
        return Ok(None);
    }
    let Some(State::Creating(mut draft)) = dialogue.get().await? else { return Ok(Some(Text::Stale)) };
    let ready = draft.name.is_some() && draft.owner.is_some();
    match pressed {
        Callback::CreateTemplate { template } if ready && draft.timezone.is_none() => {
            if !template::embedded_names().contains(&template.as_str()) {
                return Ok(Some(Text::Stale));
            }
            draft.template = Some(template);
            dialogue.update(State::Creating(draft)).await?;
            bot.edit(chat, message, catalog.render(Text::CreateZonePrompt, &[]), Some(zones(catalog))).await?;
        }
        Callback::CreateZone { zone: Some(zone) } if ready && draft.template.is_some() => {
            draft.timezone = Some(zone.name().to_string());
            dialogue.update(State::Creating(draft.clone())).await?;
            let (html, buttons) = confirmation(catalog, &draft);
            bot.edit(chat, message, html, Some(buttons)).await?;
        }
        Callback::CreateZone { zone: None } if ready && draft.template.is_some() => {
            draft.timezone = None;
            dialogue.update(State::Creating(draft)).await?;
            bot.send(chat, catalog.render(Text::CreateZoneTypePrompt, &[]), None).await?;
        }
        Callback::CreateConfirm if ready && draft.template.is_some() && draft.timezone.is_some() => {
            // The row with the token goes first: whatever happens next, it is not left behind.
            dialogue.exit().await?;
            create(bot, deps, operator, catalog, at, draft).await?;
        }
        _ => return Ok(Some(Text::Stale)),
    }
    Ok(None)
}

/// The confirmed draft as the CLI's options: the same validation, the operator's language for the
/// template and the bot (the CLI's default would be the settings', which the operator bot is not given).
fn options(deps: &Deps, catalog: &Catalog, draft: Draft) -> anyhow::Result<CreateOptions> {
    let missing = || BadInput::new("the new tenant's details are incomplete");
    let slug: TenantSlug = draft.name.ok_or_else(missing)?.parse().map_err(|e| BadInput::new(format!("{e}")))?;
    let timezone: Tz = draft.timezone.ok_or_else(missing)?.parse().map_err(|e| BadInput::new(format!("{e}")))?;
    let template = template::embedded(&draft.template.ok_or_else(missing)?, catalog.locale())?;
    Ok(CreateOptions {
        slug,
        token: draft.token.0,
        admins: vec![draft.owner.ok_or_else(missing)?],
        timezone,
        locale: template.locale,
        display_name: None,
        template,
        memory_mb: None,
        cpus: None,
        telegram_api_url: deps.options.api_url.clone(),
        server: None,
    })
}

async fn create(
    bot: &TgBot,
    deps: &Deps,
    operator: &Operator,
    catalog: &'static Catalog,
    at: (ChatId, MessageId),
    draft: Draft,
) -> anyhow::Result<()> {
    let (chat, message) = at;
    let (name, username) = (draft.name.clone().unwrap_or_default(), draft.bot.clone());
    let slug = name.clone();
    let step = move |step: &str| {
        let verb = catalog.raw(Text::VerbCreate);
        catalog.render(Text::ProgressText, &[("action", verb), ("slug", &slug), ("step", step)])
    };
    bot.edit(chat, message, step(catalog.raw(Text::ProgressBegun)), None).await?;
    tracing::info!(operator = operator.id, tenant = %name, "an operator creates a tenant");
    let (progress, edits) = MessageProgress::start(bot.clone(), chat, message, step);
    let created = match options(deps, catalog, draft) {
        Ok(options) => provision(deps, &options, &operator.actor(), &progress).await,
        Err(error) => Err(error),
    };
    drop(progress);
    // The last step's edit must not land over the outcome.
    let _ = edits.await;
    let (html, buttons) = match created {
        Ok(tenant) => {
            let detail = match deps.runtime() {
                Ok(_) => {
                    let container = runtime::container_name(&tenant.slug);
                    catalog.render_plain(Text::CreateStarted, &[("container", &container)])
                }
                Err(reason) => catalog.render_plain(Text::CreateNotStarted, &[("reason", &reason.to_string())]),
            };
            let html = catalog.render(
                Text::CreateDone,
                &[("slug", &tenant.slug), ("bot", &tenant.bot_username), ("detail", &detail)],
            );
            let card = tenant.slug.parse::<TenantSlug>().ok().map(|tenant| Callback::Card { tenant });
            let rows: Vec<Vec<InlineKeyboardButton>> =
                card.map(|c| vec![button(catalog.raw(Text::CreateOpenCard), c)]).into_iter().collect();
            (html, InlineKeyboardMarkup::new(rows))
        }
        Err(error) => {
            let error = format!("{error:#}");
            tracing::warn!(operator = operator.id, bot = %username, error, "creating a tenant from Telegram failed");
            let verb = catalog.raw(Text::VerbCreate);
            let html = catalog.render(Text::DoneFailed, &[("action", verb), ("slug", &name), ("error", &error)]);
            (html, InlineKeyboardMarkup::new(vec![vec![button(catalog.raw(Text::Back), Callback::Menu)]]))
        }
    };
    bot.edit(chat, message, html, Some(buttons)).await
}

/// Creates the tenant as `botctl tenant create` does without flags (a complimentary subscription),
/// then starts its bot when this daemon runs containers.
pub(crate) async fn provision(
    deps: &Deps,
    options: &CreateOptions,
    actor: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Tenant> {
    // Without runtime settings the tenant is only created; the caller says why its bot did not start.
    let start = deps.runtime().ok().map(|runtime| async move { Ok((deps.engine().await?, runtime)) });
    lifecycle::create_then_start(deps.servers(), options, &billing::Start::Complimentary, start, actor, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

    #[test]
    fn a_draft_keeps_its_token_through_the_dialogue_row_but_never_shows_it() {
        let token: BotToken = TOKEN.parse().unwrap();
        let draft = Draft {
            token: Pasted(token),
            bot: "b_bot".into(),
            name: Some("salon".into()),
            owner: Some(42),
            template: None,
            timezone: None,
        };
        let state = State::Creating(draft);
        assert!(!format!("{state:?}").contains("AAHd"), "{state:?}");
        let stored = serde_json::to_value(&state).unwrap();
        assert_eq!(serde_json::from_value::<State>(stored).unwrap(), state);
    }

    #[test]
    fn a_stored_token_that_no_longer_parses_restarts_the_dialogue() {
        let stored = serde_json::json!({"Creating": {
            "token": "not a token", "bot": "b", "name": null, "owner": null, "template": null, "timezone": null
        }});
        let error = serde_json::from_value::<State>(stored).unwrap_err().to_string();
        assert!(!error.contains("not a token"), "{error}");
    }
}
