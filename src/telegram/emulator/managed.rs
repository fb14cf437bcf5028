//! Managed bots (Bot API 9.6) in the emulator: a user creates a bot through a manager bot's
//! `request_managed_bot` button, the manager gets a `managed_bot` update and fetches the new bot's token
//! with `getManagedBotToken`, which no other bot may do.
//!
//! What the reference could not confirm is kept in this file only and marked UNCONFIRMED.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::TgUser;
use super::api_error::ApiError;
use super::params::{self, Params};
use super::state::{BotState, State, user_json};

/// The key of a reply keyboard button that asks the user to create a managed bot
/// (`KeyboardButtonRequestManagedBot`). Its inner fields (`request_id`, suggested name and username)
/// are UNCONFIRMED, so only the key is checked.
pub const REQUEST_BUTTON: &str = "request_managed_bot";

/// The update kind the manager bot receives (`Update.managed_bot`).
pub const UPDATE_KIND: &str = "managed_bot";

/// Which bot manages a bot, and the user who created it.
pub(super) struct ManagedBy {
    pub manager_id: i64,
    pub owner: TgUser,
}

/// A bot the emulator created for a user through a manager bot. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagedBot {
    pub id: i64,
    pub username: String,
    /// `<id>:<secret>`, as BotFather issues them; the new bot answers `getMe` with it.
    pub token: String,
}

impl fmt::Debug for ManagedBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedBot").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

/// Why the emulator would not create a managed bot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedBotRefused {
    #[error("no bot is registered in the emulator with this token")]
    UnknownBot,
    #[error("message {0} of this chat shows no {REQUEST_BUTTON} button of the bot's")]
    NoButton(i64),
    #[error("a bot with id {0} already exists")]
    BotIdTaken(i64),
}

/// The body of a `managed_bot` update: `ManagedBotUpdated { user, bot }`, both `User` objects, as the
/// third-party libraries that already support 9.6 document it. UNCONFIRMED against core.telegram.org.
fn update_body(owner: &TgUser, bot: &BotState) -> Value {
    json!({ "user": user_json(owner), "bot": bot.user_json() })
}

/// What `getManagedBotToken` answers a bot that does not manage the bot asked about. UNCONFIRMED: the
/// MTProto method behind it fails with `BOT_INVALID`, taken here as the Bot API's text too.
fn not_managed() -> ApiError {
    ApiError::bad_request("Bad Request: BOT_INVALID")
}

impl State {
    /// The user, shown the manager's `request_managed_bot` button in message `message_id`, has created
    /// bot `id` (`username`): the bot exists from now on with a fresh token, and the manager gets a
    /// `managed_bot` update.
    pub fn create_managed_bot(
        &mut self,
        manager_token: &str,
        user: &TgUser,
        message_id: i64,
        id: i64,
        username: &str,
    ) -> Result<ManagedBot, ManagedBotRefused> {
        let manager = self.bots.get(manager_token).ok_or(ManagedBotRefused::UnknownBot)?;
        let message = manager.chats.get(&user.id).and_then(|c| c.message(message_id)).filter(|m| m.from_bot);
        if !message.and_then(|m| m.reply_markup.as_ref()).is_some_and(has_request_button) {
            return Err(ManagedBotRefused::NoButton(message_id));
        }
        if self.bots.values().any(|b| b.id == id) {
            return Err(ManagedBotRefused::BotIdTaken(id));
        }
        let manager_id = manager.id;
        let token = new_token(id, username);
        self.add_bot(&token, id, username);
        let Some(created) = self.bots.get_mut(&token) else { return Err(ManagedBotRefused::UnknownBot) };
        created.managed_by = Some(ManagedBy { manager_id, owner: user.clone() });
        let body = update_body(user, created);
        let manager = self.bots.get_mut(manager_token).ok_or(ManagedBotRefused::UnknownBot)?;
        manager.chat_for(user);
        manager.push_update(UPDATE_KIND, body);
        Ok(ManagedBot { id, username: username.to_owned(), token })
    }
}

/// `getManagedBotToken(user_id)`: `user_id` is the managed bot's own id; only its manager is answered.
pub(super) fn get_managed_bot_token(state: &State, token: &str, p: &Params) -> Result<Value, ApiError> {
    managed_token(state, token, p).map(|(token, _)| json!(token))
}

/// `replaceManagedBotToken(user_id)`: the managed bot gets a new token, the old one stops working at
/// once (its polls end), and the manager is told with a `managed_bot` update. Answers the new token,
/// as `getManagedBotToken` does: UNCONFIRMED that Telegram returns it here rather than `True`.
pub(super) fn replace_managed_bot_token(state: &mut State, token: &str, p: &Params) -> Result<Value, ApiError> {
    let (old, manager_token) = managed_token(state, token, p)?;
    let bot = state.bots.remove(&old).ok_or_else(not_managed)?;
    let new = new_token(bot.id, &old);
    let body = bot.managed_by.as_ref().map(|m| update_body(&m.owner, &bot));
    state.bots.insert(new.clone(), bot);
    if let (Some(body), Some(manager)) = (body, state.bots.get_mut(&manager_token)) {
        manager.push_update(UPDATE_KIND, body);
    }
    Ok(json!(new))
}

/// The managed bot named by `user_id`, if the caller manages it: its token, and the caller's own.
fn managed_token(state: &State, token: &str, p: &Params) -> Result<(String, String), ApiError> {
    let caller = state.bots.get(token).ok_or_else(ApiError::unauthorized)?;
    let bot_id = params::required_integer(p, "user_id")?;
    state
        .bots
        .iter()
        .find(|(_, bot)| bot.id == bot_id && bot.managed_by.as_ref().is_some_and(|m| m.manager_id == caller.id))
        .map(|(managed, _)| (managed.clone(), token.to_owned()))
        .ok_or_else(not_managed)
}

fn has_request_button(markup: &Value) -> bool {
    let rows = markup.get("keyboard").and_then(Value::as_array).into_iter().flatten();
    rows.filter_map(Value::as_array).flatten().any(|button| button.get(REQUEST_BUTTON).is_some_and(Value::is_object))
}

/// `<id>:AA<33 hex digits>`: the shape BotFather's tokens have, which `BotToken` checks.
fn new_token(id: i64, salt: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let digest = Sha256::digest(format!("{id}/{salt}/{nanos}").as_bytes());
    let secret: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{id}:AA{}", &secret[..33])
}

impl super::Emulator {
    /// The user, shown the manager bot's `request_managed_bot` button in message `message_id`, created
    /// bot `id` with `username`: the emulator registers it with a fresh token (returned) and sends the
    /// manager a `managed_bot` update.
    pub fn create_managed_bot(
        &self,
        manager_token: &str,
        user: &TgUser,
        message_id: i64,
        id: i64,
        username: &str,
    ) -> Result<ManagedBot, ManagedBotRefused> {
        self.inner.shared.write(|s| s.create_managed_bot(manager_token, user, message_id, id, username))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_token_has_botfathers_shape() {
        let token = new_token(7_000_000_001, "shop_bot");
        let parsed: crate::telegram::BotToken = token.parse().unwrap();
        assert_eq!(parsed.bot_id(), 7_000_000_001);
        assert_ne!(new_token(7_000_000_001, "shop_bot"), new_token(7_000_000_002, "shop_bot"));
    }
}
