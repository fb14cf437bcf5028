//! The Bot API methods botctl uses, as functions of the state. Only the waiting of a long poll lives
//! elsewhere (`http`), since it cannot hold the state's lock.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::api_error::ApiError;
use super::html::{self, Formatted};
use super::markup::reply_markup;
use super::params::{self, Params, Uploads};
use super::state::{BotState, Callback, ChatState, Content, State, StoredFile, StoredMessage, now};
use super::{managed, payments};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    GetMe,
    GetUpdates,
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    DeleteMessage,
    AnswerCallbackQuery,
    SetMyCommands,
    GetMyCommands,
    DeleteMyCommands,
    SendDocument,
    SendChatAction,
    DeleteWebhook,
    GetWebhookInfo,
    SendInvoice,
    AnswerPreCheckoutQuery,
    RefundStarPayment,
    GetManagedBotToken,
    ReplaceManagedBotToken,
    GetStarTransactions,
}

impl Method {
    const ALL: [Method; 20] = [
        Method::GetMe,
        Method::GetUpdates,
        Method::SendMessage,
        Method::EditMessageText,
        Method::EditMessageReplyMarkup,
        Method::DeleteMessage,
        Method::AnswerCallbackQuery,
        Method::SetMyCommands,
        Method::GetMyCommands,
        Method::DeleteMyCommands,
        Method::SendDocument,
        Method::SendChatAction,
        Method::DeleteWebhook,
        Method::GetWebhookInfo,
        Method::SendInvoice,
        Method::AnswerPreCheckoutQuery,
        Method::RefundStarPayment,
        Method::GetManagedBotToken,
        Method::ReplaceManagedBotToken,
        Method::GetStarTransactions,
    ];

    /// The Bot API's own spelling, which the request log uses.
    pub fn name(self) -> &'static str {
        match self {
            Method::GetMe => "getMe",
            Method::GetUpdates => "getUpdates",
            Method::SendMessage => "sendMessage",
            Method::EditMessageText => "editMessageText",
            Method::EditMessageReplyMarkup => "editMessageReplyMarkup",
            Method::DeleteMessage => "deleteMessage",
            Method::AnswerCallbackQuery => "answerCallbackQuery",
            Method::SetMyCommands => "setMyCommands",
            Method::GetMyCommands => "getMyCommands",
            Method::DeleteMyCommands => "deleteMyCommands",
            Method::SendDocument => "sendDocument",
            Method::SendChatAction => "sendChatAction",
            Method::DeleteWebhook => "deleteWebhook",
            Method::GetWebhookInfo => "getWebhookInfo",
            Method::SendInvoice => "sendInvoice",
            Method::AnswerPreCheckoutQuery => "answerPreCheckoutQuery",
            Method::RefundStarPayment => "refundStarPayment",
            Method::GetManagedBotToken => "getManagedBotToken",
            Method::ReplaceManagedBotToken => "replaceManagedBotToken",
            Method::GetStarTransactions => "getStarTransactions",
        }
    }

    /// Telegram matches method names case-insensitively, and teloxide sends them as `SendMessage`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(name))
    }
}

/// Runs one call that does not wait. A `getUpdates` here is answered at once, as with `timeout=0`.
pub(super) fn call(
    state: &mut State,
    token: &str,
    method: Method,
    p: &Params,
    uploads: &Uploads,
) -> Result<Value, ApiError> {
    // These look past the calling bot: at the payments of all bots, or at the bots it manages.
    match method {
        Method::AnswerPreCheckoutQuery => return payments::answer_pre_checkout_query(state, token, p),
        Method::RefundStarPayment => return payments::refund_star_payment(state, token, p),
        Method::GetManagedBotToken => return managed::get_managed_bot_token(state, token, p),
        Method::ReplaceManagedBotToken => return managed::replace_managed_bot_token(state, token, p),
        Method::GetStarTransactions => return payments::get_star_transactions(state, token, p),
        _ => {}
    }
    let State { bots, callbacks, .. } = state;
    let bot = bots.get_mut(token).ok_or_else(ApiError::unauthorized)?;
    match method {
        Method::GetMe => Ok(me(bot)),
        Method::GetUpdates => get_updates(bot, p).map(|(_, updates)| updates),
        Method::SendMessage => send_message(bot, p),
        Method::EditMessageText => edit_message_text(bot, p),
        Method::EditMessageReplyMarkup => edit_message_reply_markup(bot, p),
        Method::DeleteMessage => delete_message(bot, p),
        Method::AnswerCallbackQuery => answer_callback_query(bot, callbacks, p),
        Method::SetMyCommands => set_my_commands(bot, p),
        Method::GetMyCommands => Ok(bot.commands.get(&commands_key(p)?).cloned().unwrap_or_else(|| json!([]))),
        Method::DeleteMyCommands => {
            bot.commands.remove(&commands_key(p)?);
            Ok(json!(true))
        }
        Method::SendDocument => send_document(bot, p, uploads.get("document")),
        Method::SendChatAction => {
            writable_chat(bot, p)?;
            Ok(json!(true))
        }
        Method::DeleteWebhook => {
            if params::flag(p, "drop_pending_updates") {
                bot.updates.clear();
            }
            Ok(json!(true))
        }
        Method::GetWebhookInfo => Ok(json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": bot.updates.len(),
        })),
        Method::SendInvoice => payments::send_invoice(bot, p),
        // Answered above.
        Method::AnswerPreCheckoutQuery
        | Method::RefundStarPayment
        | Method::GetManagedBotToken
        | Method::ReplaceManagedBotToken
        | Method::GetStarTransactions => Err(ApiError::method_not_found()),
    }
}

fn me(bot: &BotState) -> Value {
    let mut me = bot.user_json();
    for (key, value) in [
        ("can_join_groups", true),
        ("can_read_all_group_messages", false),
        ("supports_inline_queries", false),
        ("can_connect_to_business", false),
        ("has_main_web_app", false),
    ] {
        me[key] = json!(value);
    }
    me
}

/// Starts a `getUpdates`: confirms the updates below `offset`, remembers `allowed_updates`, and takes
/// over from any poll still waiting. Returns this poll's generation and what is pending now.
pub(super) fn get_updates(bot: &mut BotState, p: &Params) -> Result<(u64, Value), ApiError> {
    let offset = params::integer(p, "offset")?.unwrap_or(0);
    if offset < 0 {
        // A negative offset keeps only the last `-offset` updates.
        let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
        let drop = bot.updates.len().saturating_sub(keep);
        bot.updates.drain(..drop);
    } else {
        bot.updates.retain(|u| u.id >= offset);
    }
    if let Some(allowed) = params::object(p, "allowed_updates")?.and_then(|v| v.as_array().cloned()) {
        let allowed: Vec<String> = allowed.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        bot.allowed_updates = (!allowed.is_empty()).then_some(allowed);
    }
    if let Some(allowed) = &bot.allowed_updates {
        // Telegram does not keep updates of kinds the bot said it does not want.
        bot.updates.retain(|u| allowed.iter().any(|a| a == u.kind));
    }
    bot.poll_generation += 1;
    bot.polls.send_replace(());
    let generation = bot.poll_generation;
    Ok((generation, pending(bot, generation, p)?))
}

/// What a waiting poll of `generation` may return now; a conflict once a newer poll replaced it.
pub(super) fn pending(bot: &BotState, generation: u64, p: &Params) -> Result<Value, ApiError> {
    if generation != bot.poll_generation {
        return Err(ApiError::conflict());
    }
    let limit = params::integer(p, "limit")?.unwrap_or(100).clamp(1, 100);
    let allowed = |kind: &str| bot.allowed_updates.as_ref().is_none_or(|a| a.iter().any(|k| k == kind));
    let updates = bot
        .updates
        .iter()
        .filter(|u| allowed(u.kind))
        .take(usize::try_from(limit).unwrap_or(100))
        .map(|u| {
            let mut update = json!({ "update_id": u.id });
            update[u.kind] = u.body.clone();
            update
        })
        .collect();
    Ok(Value::Array(updates))
}

fn send_message(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let text = message_text(p)?;
    let markup = reply_markup(p, false)?;
    let chat = writable_chat(bot, p)?;
    let message_id = chat.push(true, Content::Text(text), markup);
    Ok(rendered(bot, p, message_id))
}

fn send_document(bot: &mut BotState, p: &Params, bytes: Option<&Vec<u8>>) -> Result<Value, ApiError> {
    let file = match p.get("document") {
        Some(Value::Object(upload)) => {
            let bytes = bytes.cloned().unwrap_or_default();
            new_file(bot, upload.get("file_name").and_then(Value::as_str), upload, bytes)
        }
        Some(Value::String(id)) if bot.files.contains_key(id) => bot.files[id].clone(),
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            let name = url.rsplit('/').next().filter(|n| !n.is_empty());
            new_file(bot, name, &serde_json::Map::new(), Vec::new())
        }
        Some(_) => return Err(ApiError::bad_request("Bad Request: wrong file identifier/HTTP URL specified")),
        None => return Err(ApiError::bad_request("Bad Request: there is no document in the request")),
    };
    let caption = formatted(p, "caption")?.filter(|c| !c.text.is_empty());
    if caption.as_ref().is_some_and(|c| c.len_utf16() > 1024) {
        return Err(ApiError::bad_request("Bad Request: message caption is too long"));
    }
    let markup = reply_markup(p, false)?;
    let chat = writable_chat(bot, p)?;
    let message_id = chat.push(true, Content::Document { file, caption }, markup);
    Ok(rendered(bot, p, message_id))
}

fn new_file(
    bot: &mut BotState,
    name: Option<&str>,
    upload: &serde_json::Map<String, Value>,
    bytes: Vec<u8>,
) -> StoredFile {
    let file_id = format!("BQACAgIAAxkDAAI{:05}", bot.files.len() + 1);
    let size = upload.get("size").and_then(Value::as_u64).unwrap_or(0);
    let file_name = name.filter(|n| !n.is_empty()).map(str::to_owned);
    let file = StoredFile { file_id: file_id.clone(), file_name, size, bytes: Arc::new(bytes) };
    bot.files.insert(file_id, file.clone());
    file
}

fn edit_message_text(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let text = message_text(p)?;
    let markup = reply_markup(p, true)?;
    let message = editable(bot, p)?;
    let Content::Text(old) = &message.content else {
        return Err(ApiError::bad_request("Bad Request: there is no text in the message to edit"));
    };
    if *old == text && message.reply_markup == markup {
        return Err(not_modified());
    }
    message.content = Content::Text(text);
    // Like Telegram, an edit without a keyboard removes the one the message had.
    message.reply_markup = markup;
    message.edit_date = Some(now());
    let message_id = message.id;
    Ok(rendered(bot, p, message_id))
}

fn edit_message_reply_markup(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let markup = reply_markup(p, true)?;
    let message = editable(bot, p)?;
    if message.reply_markup == markup {
        return Err(not_modified());
    }
    message.reply_markup = markup;
    let message_id = message.id;
    Ok(rendered(bot, p, message_id))
}

fn delete_message(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let chat = existing_chat(bot, p)?;
    let message_id = params::required_integer(p, "message_id")?;
    match chat.message_mut(message_id).filter(|m| !m.deleted) {
        Some(message) => {
            message.deleted = true;
            Ok(json!(true))
        }
        None => Err(ApiError::bad_request("Bad Request: message to delete not found")),
    }
}

fn answer_callback_query(
    bot: &BotState,
    callbacks: &mut HashMap<String, Callback>,
    p: &Params,
) -> Result<Value, ApiError> {
    let query_id = params::text(p, "callback_query_id").unwrap_or_default();
    let too_old =
        || ApiError::bad_request("Bad Request: query is too old and response timeout expired or query id is invalid");
    let callback = callbacks.get_mut(&query_id).filter(|c| c.bot_id == bot.id).ok_or_else(too_old)?;
    if callback.answer.is_some() {
        return Err(too_old());
    }
    callback.answer = Some(json!({
        "text": params::text(p, "text"),
        "show_alert": params::flag(p, "show_alert"),
        "url": params::text(p, "url"),
    }));
    if let Some(chat) = bot.chats.get(&callback.user_id) {
        chat.changed.send_replace(());
    }
    Ok(json!(true))
}

fn set_my_commands(bot: &mut BotState, p: &Params) -> Result<Value, ApiError> {
    let commands = params::object(p, "commands")?
        .filter(Value::is_array)
        .ok_or_else(|| ApiError::bad_request("Bad Request: parameter \"commands\" must be an array of BotCommand"))?;
    let valid = |c: &Value| {
        let command = c.get("command").and_then(Value::as_str).unwrap_or_default();
        let description = c.get("description").and_then(Value::as_str).unwrap_or_default();
        (1..=32).contains(&command.len())
            && command.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && (1..=256).contains(&description.chars().count())
    };
    if !commands.as_array().is_some_and(|all| all.iter().all(valid)) {
        return Err(ApiError::bad_request("Bad Request: BOT_COMMAND_INVALID"));
    }
    bot.commands.insert(commands_key(p)?, commands);
    Ok(json!(true))
}

fn commands_key(p: &Params) -> Result<(String, String), ApiError> {
    let scope = params::object(p, "scope")?.unwrap_or_else(|| json!({ "type": "default" }));
    Ok((scope.to_string(), params::text(p, "language_code").unwrap_or_default()))
}

/// The text of a message to send or edit, after its parse mode.
fn message_text(p: &Params) -> Result<Formatted, ApiError> {
    let text = formatted(p, "text")?.unwrap_or_default();
    if text.text.trim().is_empty() {
        return Err(ApiError::bad_request("Bad Request: message text is empty"));
    }
    if text.len_utf16() > 4096 {
        return Err(ApiError::bad_request("Bad Request: message is too long"));
    }
    Ok(text)
}

/// Parameter `key` read with `parse_mode`. Only HTML is parsed, as botctl uses it; Markdown text is
/// kept as it came.
fn formatted(p: &Params, key: &str) -> Result<Option<Formatted>, ApiError> {
    let Some(raw) = params::text(p, key) else { return Ok(None) };
    let mode = params::text(p, "parse_mode").unwrap_or_default();
    match mode.to_ascii_lowercase().as_str() {
        "html" => html::parse(&raw).map(Some).map_err(ApiError::bad_request),
        "" | "markdown" | "markdownv2" => Ok(Some(Formatted::plain(&raw))),
        _ => Err(ApiError::bad_request("Bad Request: unsupported parse_mode")),
    }
}

fn existing_chat<'a>(bot: &'a mut BotState, p: &Params) -> Result<&'a mut ChatState, ApiError> {
    // Private chats are addressed by the user's id; `@username` only names channels.
    let chat_id = params::integer(p, "chat_id").map_err(|_| ApiError::chat_not_found())?;
    let chat_id = chat_id.ok_or_else(|| ApiError::bad_request("Bad Request: chat_id is empty"))?;
    bot.chats.get_mut(&chat_id).ok_or_else(ApiError::chat_not_found)
}

/// The chat a bot sends to or edits in: it must exist and the user must not have blocked the bot.
pub(super) fn writable_chat<'a>(bot: &'a mut BotState, p: &Params) -> Result<&'a mut ChatState, ApiError> {
    let blocked = params::integer(p, "chat_id").ok().flatten().is_some_and(|id| bot.blocked.contains(&id));
    let chat = existing_chat(bot, p)?;
    if blocked { Err(ApiError::blocked()) } else { Ok(chat) }
}

/// A message of the bot's that an edit may change.
fn editable<'a>(bot: &'a mut BotState, p: &Params) -> Result<&'a mut StoredMessage, ApiError> {
    if p.contains_key("inline_message_id") {
        return Err(ApiError::bad_request("Bad Request: the emulator has no inline messages"));
    }
    let message_id = params::required_integer(p, "message_id")?;
    let chat = writable_chat(bot, p)?;
    let message = chat
        .message_mut(message_id)
        .filter(|m| !m.deleted)
        .ok_or_else(|| ApiError::bad_request("Bad Request: message to edit not found"))?;
    if message.from_bot { Ok(message) } else { Err(ApiError::bad_request("Bad Request: message can't be edited")) }
}

fn not_modified() -> ApiError {
    ApiError::bad_request(
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the \
         same as a current content and reply markup of the message",
    )
}

/// The message `message_id` in the chat the call named, as the call's result.
pub(super) fn rendered(bot: &BotState, p: &Params, message_id: i64) -> Value {
    let chat_id = params::integer(p, "chat_id").ok().flatten().unwrap_or_default();
    bot.chats
        .get(&chat_id)
        .and_then(|chat| chat.message(message_id))
        .map_or(Value::Null, |message| bot.render(chat_id, message))
}
