//! Telegram's managed bots (Bot API 9.6), which teloxide 0.17 does not know: the `managed_bot` update
//! read from a raw update's JSON, and `getManagedBotToken` as a raw call. The sales bot creates a
//! buyer's bot with them instead of asking for a BotFather token.
//!
//! teloxide hands an update it cannot parse over as `UpdateKind::Error(json)` from `get_updates` (the
//! whole update), but its `Dispatcher` drops such updates, and its polling asks only for the kinds its
//! handlers name: a manager bot reads `managed_bot` from raw updates and lists it in `allowed_updates`.

use anyhow::Context;
use serde::Deserialize;

use super::{ApiResponse, BotIdentity, BotToken, REQUEST_TIMEOUT, client};
use crate::error::BadInput;

/// The `Update` field and `allowed_updates` name of the update a manager bot receives.
pub const MANAGED_BOT_UPDATE: &str = "managed_bot";

/// The reply keyboard button's field that asks the user to create a managed bot.
pub const MANAGED_BOT_REQUEST: &str = "request_managed_bot";

/// A bot a user created (or whose token changed) through our manager bot: `ManagedBotUpdated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedBotUpdate {
    /// The Telegram user who created the bot, who becomes the tenant's owner.
    pub owner: ManagedBotOwner,
    /// The new bot; its token comes from `get_managed_bot_token(…, bot.id)`.
    pub bot: BotIdentity,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManagedBotOwner {
    pub id: i64,
    #[serde(default)]
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

/// `{ "user": User, "bot": User }`, as the libraries that support Bot API 9.6 document
/// `ManagedBotUpdated`; UNCONFIRMED against core.telegram.org itself.
#[derive(Deserialize)]
struct Wire {
    user: ManagedBotOwner,
    bot: WireBot,
}

#[derive(Deserialize)]
struct WireBot {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    username: Option<String>,
    #[serde(default)]
    first_name: String,
}

/// Reads the `managed_bot` update out of one raw update (`{"update_id": …, "managed_bot": {…}}`, as
/// teloxide's `UpdateKind::Error` holds it). `Ok(None)` for an update of another kind; an update that
/// claims to be one but does not read as one is bad input, without echoing it.
pub fn parse_managed_bot_update(update: &serde_json::Value) -> Result<Option<ManagedBotUpdate>, BadInput> {
    let Some(body) = update.get(MANAGED_BOT_UPDATE) else { return Ok(None) };
    let wire: Wire = serde_json::from_value(body.clone())
        .map_err(|_| BadInput::new("a managed_bot update without the user and the bot Telegram sends"))?;
    let username = wire.bot.username.filter(|u| !u.is_empty());
    let (true, Some(username)) = (wire.bot.is_bot, username) else {
        return Err(BadInput::new(format!("managed_bot update: user {} is not a bot with a username", wire.bot.id)));
    };
    let bot = BotIdentity { id: wire.bot.id, username, first_name: wire.bot.first_name };
    Ok(Some(ManagedBotUpdate { owner: wire.user, bot }))
}

/// Asks the Bot API at `api_url`, as the manager bot, for the token of managed bot `bot_id`
/// (`getManagedBotToken`, whose `user_id` is the managed bot's id). A refusal (not our bot, unknown
/// bot, a manager token Telegram rejects) is bad input (exit 2); an unreachable API is a failure
/// (exit 1). Neither token appears in any error.
pub async fn get_managed_bot_token(api_url: &url::Url, manager: &BotToken, bot_id: i64) -> anyhow::Result<BotToken> {
    managed_token_call(api_url, manager, "getManagedBotToken", bot_id).await
}

/// `replaceManagedBotToken`: revokes managed bot `bot_id`'s token (for offboarding or a leaked token)
/// and returns the new one; the old one stops working at once. Errors as `get_managed_bot_token`.
/// UNCONFIRMED: that Telegram answers the new token here (the libraries supporting 9.6 say so).
pub async fn replace_managed_bot_token(
    api_url: &url::Url,
    manager: &BotToken,
    bot_id: i64,
) -> anyhow::Result<BotToken> {
    managed_token_call(api_url, manager, "replaceManagedBotToken", bot_id).await
}

async fn managed_token_call(
    api_url: &url::Url,
    manager: &BotToken,
    method: &str,
    bot_id: i64,
) -> anyhow::Result<BotToken> {
    let url = format!("{}/bot{}/{method}", api_url.as_str().trim_end_matches('/'), manager.expose());
    // reqwest puts the URL, and so the manager's token, into its errors: strip it first.
    let response = client(REQUEST_TIMEOUT)?
        .post(url)
        .json(&serde_json::json!({ "user_id": bot_id }))
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach the Telegram Bot API at {api_url} for {method} of bot {bot_id}"))?;
    let status = response.status();
    let body: ApiResponse<String> =
        response.json().await.map_err(reqwest::Error::without_url).with_context(|| {
            format!("the Bot API at {api_url} answered {method} with HTTP {status} and no valid JSON")
        })?;
    let description = body.description.as_deref().unwrap_or("no description");
    match (body.ok, body.result) {
        (true, Some(token)) => {
            // The answer is not quoted: it is a token, or meant to be one.
            let token: BotToken = token
                .parse()
                .map_err(|_| anyhow::anyhow!("{method} for bot {bot_id} answered something that is not a bot token"))?;
            if token.bot_id() != bot_id {
                anyhow::bail!("{method} for bot {bot_id} answered a token of bot {}", token.bot_id());
            }
            Ok(token)
        }
        _ if matches!(body.error_code, Some(400..=499)) => Err(BadInput::new(format!(
            "Telegram refused bot {} {method} for bot {bot_id} ({description}): is it a bot this manager created?",
            manager.bot_id()
        ))
        .into()),
        _ => anyhow::bail!("{method} failed: HTTP {status}: {description}"),
    }
}

/// Sends `html` to `chat_id` as `bot`, with a one-button reply keyboard: `label`, which asks Telegram to
/// create a bot the user will own and this bot will manage (`KeyboardButtonRequestManagedBot`, which
/// teloxide's types cannot carry). Telegram's refusal is an error naming its description only.
pub async fn send_request_button(bot: &teloxide::Bot, chat_id: i64, html: &str, label: &str) -> anyhow::Result<()> {
    let api_url = bot.api_url();
    let url = format!("{}/bot{}/sendMessage", api_url.as_str().trim_end_matches('/'), bot.token());
    let body = serde_json::json!({
        "chat_id": chat_id,
        "text": html,
        "parse_mode": "HTML",
        "reply_markup": {
            "keyboard": [[{ "text": label, (MANAGED_BOT_REQUEST): { "request_id": 1 } }]],
            "resize_keyboard": true,
            "one_time_keyboard": true,
        },
    });
    // reqwest puts the URL, and so the bot's token, into its errors: strip it first.
    let response = bot
        .client()
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach the Telegram Bot API at {api_url} to send a message"))?;
    let status = response.status();
    let answer: ApiResponse<serde_json::Value> = response
        .json()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("the Bot API answered sendMessage with HTTP {status} and no valid JSON"))?;
    if !answer.ok {
        anyhow::bail!(
            "sendMessage failed: HTTP {status}: {}",
            answer.description.as_deref().unwrap_or("no description")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_managed_bot_update_reads_and_other_updates_are_none() {
        let update = json!({
            "update_id": 7,
            "managed_bot": {
                "user": {"id": 42, "is_bot": false, "first_name": "Ann", "language_code": "ru"},
                "bot": {"id": 7_000_000_001_i64, "is_bot": true, "first_name": "Ann's salon", "username": "ann_salon_bot"},
            },
        });
        let parsed = parse_managed_bot_update(&update).unwrap().unwrap();
        assert_eq!(parsed.owner.id, 42);
        assert_eq!(parsed.owner.language_code.as_deref(), Some("ru"));
        assert_eq!(parsed.bot.id, 7_000_000_001);
        assert_eq!(parsed.bot.username, "ann_salon_bot");
        assert_eq!(parse_managed_bot_update(&json!({"update_id": 8, "message": {}})).unwrap(), None);
    }

    #[test]
    fn a_malformed_managed_bot_update_is_bad_input_that_echoes_nothing() {
        let secret = "1234567:AAsecretsecretsecretsecretsecret00";
        let no_bot = json!({"update_id": 1, "managed_bot": {"user": {"id": 42, "first_name": secret}}});
        let error = parse_managed_bot_update(&no_bot).unwrap_err();
        assert!(!error.to_string().contains(secret), "{error}");
        let a_person = json!({"update_id": 1, "managed_bot": {
            "user": {"id": 42, "first_name": "Ann"},
            "bot": {"id": 43, "is_bot": false, "first_name": "Bob", "username": "bob"},
        }});
        assert!(parse_managed_bot_update(&a_person).unwrap_err().to_string().contains("43"));
    }
}
