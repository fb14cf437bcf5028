//! The emulator's memory: bots, their private chats, pending updates, callback queries and the request
//! log, and how a stored message looks as a Telegram `Message`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::html::Formatted;
use super::managed::ManagedBy;
use super::params::Params;
use super::payments::{self, Invoice, Payments, StarPayment};
use super::{ChatMessage, Document, Failure, Sent, TgUser};

#[derive(Default)]
pub(super) struct State {
    /// Keyed by token: the token is what a request presents.
    pub bots: HashMap<String, BotState>,
    /// Keyed by query id, for all bots: Telegram's query ids are global.
    pub callbacks: HashMap<String, Callback>,
    next_callback: u64,
    /// Pre-checkout queries and charges, for all bots: their ids are global too.
    pub payments: Payments,
}

pub(super) struct Callback {
    pub bot_id: i64,
    /// Who pressed: the answer wakes whoever waits on that chat.
    pub user_id: i64,
    pub answer: Option<Value>,
}

pub(super) struct BotState {
    pub id: i64,
    pub username: String,
    pub chats: BTreeMap<i64, ChatState>,
    pub updates: VecDeque<Update>,
    next_update_id: i64,
    /// As the last `getUpdates` that named them said; Telegram remembers the list between calls.
    pub allowed_updates: Option<Vec<String>>,
    /// Raised by every `getUpdates`, so that a long poll learns that a newer one replaced it.
    pub poll_generation: u64,
    /// Bumped by a new update or a new `getUpdates` of this bot only: a fleet of idle bots long-polling
    /// at once would otherwise all wake on every other bot's poll.
    pub polls: tokio::sync::watch::Sender<()>,
    pub sent: Vec<Sent>,
    /// Per lower-case method name, in the order they were injected.
    pub failures: HashMap<String, VecDeque<(Failure, u32)>>,
    /// Keyed by scope (as canonical JSON) and language code.
    pub commands: BTreeMap<(String, String), Value>,
    pub blocked: HashSet<i64>,
    /// Files the bot uploaded, by file id, so that it can send them again by id.
    pub files: HashMap<String, StoredFile>,
    /// Set for a bot a user created through a manager bot's `request_managed_bot` button.
    pub managed_by: Option<ManagedBy>,
}

pub(super) struct Update {
    pub id: i64,
    pub kind: &'static str,
    pub body: Value,
}

pub(super) struct ChatState {
    pub user: TgUser,
    pub messages: Vec<StoredMessage>,
    /// Bumped by every change to this chat, so that a waiter on one chat sleeps through the others'
    /// traffic (hundreds of simulated customers would otherwise all wake on every message).
    pub changed: tokio::sync::watch::Sender<()>,
}

pub(super) struct StoredMessage {
    pub id: i64,
    pub from_bot: bool,
    pub date: i64,
    pub content: Content,
    /// As the bot sent it: an inline keyboard, a reply keyboard or a keyboard removal.
    pub reply_markup: Option<Value>,
    pub edit_date: Option<i64>,
    pub deleted: bool,
}

pub(super) enum Content {
    Text(Formatted),
    Document {
        file: StoredFile,
        caption: Option<Formatted>,
    },
    Contact {
        phone: String,
        first_name: String,
        user_id: i64,
    },
    Invoice(Invoice),
    /// Service messages in the buyer's name, as Telegram shows them to the bot.
    SuccessfulPayment(StarPayment),
    RefundedPayment(StarPayment),
}

#[derive(Clone)]
pub(super) struct StoredFile {
    pub file_id: String,
    pub file_name: Option<String>,
    pub size: u64,
    /// Shared: a file sent again by id is the same file.
    pub bytes: Arc<Vec<u8>>,
}

pub(super) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl State {
    pub fn add_bot(&mut self, token: &str, id: i64, username: &str) {
        let bot = BotState {
            id,
            username: username.to_owned(),
            chats: BTreeMap::new(),
            updates: VecDeque::new(),
            next_update_id: 1,
            allowed_updates: None,
            poll_generation: 0,
            polls: tokio::sync::watch::Sender::new(()),
            sent: Vec::new(),
            failures: HashMap::new(),
            commands: BTreeMap::new(),
            blocked: HashSet::new(),
            files: HashMap::new(),
            managed_by: None,
        };
        self.bots.insert(token.to_owned(), bot);
    }

    /// A button press on `message_id` in the user's chat. Telegram clients can send any data, so it
    /// is not checked against the keyboard; a message that is gone arrives as inaccessible.
    pub fn press_button(&mut self, token: &str, user: &TgUser, message_id: i64, data: &str) -> Option<String> {
        let bot = self.bots.get_mut(token)?;
        self.next_callback += 1;
        let query_id = self.next_callback.to_string();
        bot.blocked.remove(&user.id);
        bot.chat_for(user);
        let message = match bot.chats.get(&user.id).and_then(|c| c.message(message_id)).filter(|m| !m.deleted) {
            Some(message) => bot.render(user.id, message),
            None => json!({ "chat": chat_json(user), "message_id": message_id, "date": 0 }),
        };
        let body = json!({
            "id": query_id,
            "from": user_json(user),
            "message": message,
            "chat_instance": (bot.id ^ user.id).to_string(),
            "data": data,
        });
        bot.push_update("callback_query", body);
        self.callbacks.insert(query_id.clone(), Callback { bot_id: bot.id, user_id: user.id, answer: None });
        Some(query_id)
    }
}

impl BotState {
    /// The bot as a Telegram `User`.
    pub fn user_json(&self) -> Value {
        json!({ "id": self.id, "is_bot": true, "first_name": self.username, "username": self.username })
    }

    /// The user's private chat with the bot, created on first contact; the user's profile is refreshed.
    pub fn chat_for(&mut self, user: &TgUser) -> &mut ChatState {
        let chat = self.chats.entry(user.id).or_insert_with(|| ChatState {
            user: user.clone(),
            messages: Vec::new(),
            changed: tokio::sync::watch::Sender::new(()),
        });
        chat.user = user.clone();
        chat
    }

    /// A message from the user, delivered as a `message` update.
    pub fn user_message(&mut self, user: &TgUser, content: Content) -> i64 {
        // Writing to a bot one has blocked means having unblocked it first.
        self.blocked.remove(&user.id);
        let message_id = self.chat_for(user).push(false, content, None);
        if let Some(message) = self.chats.get(&user.id).and_then(|chat| chat.message(message_id)) {
            let body = self.render(user.id, message);
            self.push_update("message", body);
        }
        message_id
    }

    pub fn push_update(&mut self, kind: &'static str, body: Value) {
        let id = self.next_update_id;
        self.next_update_id += 1;
        self.updates.push_back(Update { id, kind, body });
        self.polls.send_replace(());
    }

    /// A message as the Bot API returns it, in the chat with user `chat_id`.
    pub fn render(&self, chat_id: i64, message: &StoredMessage) -> Value {
        let Some(chat) = self.chats.get(&chat_id) else { return Value::Null };
        let from = if message.from_bot { self.user_json() } else { user_json(&chat.user) };
        let mut body =
            json!({ "message_id": message.id, "date": message.date, "chat": chat_json(&chat.user), "from": from });
        match &message.content {
            Content::Text(text) => {
                body["text"] = json!(text.text);
                if !text.entities.is_empty() {
                    body["entities"] = json!(text.entities);
                }
            }
            Content::Document { file, caption } => {
                let mut document =
                    json!({ "file_id": file.file_id, "file_unique_id": file.file_id, "file_size": file.size });
                if let Some(name) = &file.file_name {
                    document["file_name"] = json!(name);
                }
                body["document"] = document;
                if let Some(caption) = caption {
                    body["caption"] = json!(caption.text);
                    if !caption.entities.is_empty() {
                        body["caption_entities"] = json!(caption.entities);
                    }
                }
            }
            Content::Contact { phone, first_name, user_id } => {
                body["contact"] = json!({ "phone_number": phone, "first_name": first_name, "user_id": user_id });
            }
            payment => payments::render(&mut body, payment),
        }
        // A `Message` carries only inline keyboards; reply keyboards live on the client.
        if let Some(markup) = message.reply_markup.as_ref().filter(|m| m.get("inline_keyboard").is_some()) {
            body["reply_markup"] = markup.clone();
        }
        if let Some(edit_date) = message.edit_date {
            body["edit_date"] = json!(edit_date);
        }
        body
    }

    /// Logs a call (except the bot's polling, which would drown the log) and takes the failure
    /// injected for it, if any.
    pub fn intercept(&mut self, method: &str, params: &Params) -> Option<Failure> {
        if !method.eq_ignore_ascii_case("getUpdates") {
            let params = Value::Object(params.clone());
            self.sent.push(Sent { method: method.to_owned(), params, at: SystemTime::now() });
        }
        let queue = self.failures.get_mut(&method.to_ascii_lowercase())?;
        let (failure, times) = queue.front_mut()?;
        let failure = *failure;
        *times = times.saturating_sub(1);
        if *times == 0 {
            queue.pop_front();
        }
        Some(failure)
    }

    pub fn chat_view(&self, chat_id: i64) -> Vec<ChatMessage> {
        let Some(chat) = self.chats.get(&chat_id) else { return Vec::new() };
        chat.messages.iter().map(StoredMessage::view).collect()
    }
}

impl ChatState {
    pub fn push(&mut self, from_bot: bool, content: Content, reply_markup: Option<Value>) -> i64 {
        // Waiters read only after the state's lock is released, so they see this message.
        self.changed.send_replace(());
        let id = self.messages.last().map_or(1, |m| m.id + 1);
        self.messages.push(StoredMessage {
            id,
            from_bot,
            date: now(),
            content,
            reply_markup,
            edit_date: None,
            deleted: false,
        });
        id
    }

    pub fn message(&self, id: i64) -> Option<&StoredMessage> {
        self.messages.iter().find(|m| m.id == id)
    }

    /// For an edit or a deletion.
    pub fn message_mut(&mut self, id: i64) -> Option<&mut StoredMessage> {
        self.changed.send_replace(());
        self.messages.iter_mut().find(|m| m.id == id)
    }
}

impl StoredMessage {
    fn view(&self) -> ChatMessage {
        let (text, document, contact) = match &self.content {
            Content::Text(text) => (Some(text.text.clone()), None, None),
            Content::Document { file, caption } => (
                caption.as_ref().map(|c| c.text.clone()),
                Some(Document {
                    file_name: file.file_name.clone(),
                    size: file.size,
                    bytes: file.bytes.as_ref().clone(),
                }),
                None,
            ),
            Content::Contact { phone, .. } => (None, None, Some(phone.clone())),
            Content::Invoice(_) | Content::SuccessfulPayment(_) | Content::RefundedPayment(_) => (None, None, None),
        };
        ChatMessage {
            message_id: self.id,
            from_bot: self.from_bot,
            text,
            reply_markup: self.reply_markup.clone(),
            edited: self.edit_date.is_some(),
            deleted: self.deleted,
            document,
            contact,
            invoice: match &self.content {
                Content::Invoice(invoice) => Some(invoice.clone()),
                _ => None,
            },
            successful_payment: match &self.content {
                Content::SuccessfulPayment(payment) => Some(payment.clone()),
                _ => None,
            },
            refunded_payment: match &self.content {
                Content::RefundedPayment(payment) => Some(payment.clone()),
                _ => None,
            },
        }
    }
}

pub(super) fn user_json(user: &TgUser) -> Value {
    let mut json = json!({ "id": user.id, "is_bot": false, "first_name": user.first_name });
    if let Some(username) = &user.username {
        json["username"] = json!(username);
    }
    if let Some(language_code) = &user.language_code {
        json["language_code"] = json!(language_code);
    }
    json
}

fn chat_json(user: &TgUser) -> Value {
    let mut json = json!({ "id": user.id, "type": "private", "first_name": user.first_name });
    if let Some(username) = &user.username {
        json["username"] = json!(username);
    }
    json
}

/// The `bot_command` entities of a user's text: each word that starts with `/`.
pub(super) fn command_entities(text: &str) -> Vec<Value> {
    let mut entities = Vec::new();
    let mut offset = 0;
    let mut word_start = true;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if word_start && c == '/' {
            let command: String =
                text[at + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '@').collect();
            if !command.is_empty() {
                let length = command.len() + 1;
                entities.push(json!({ "type": "bot_command", "offset": offset, "length": length }));
                offset += length;
                for _ in 0..command.len() {
                    chars.next();
                }
                word_start = false;
                continue;
            }
        }
        word_start = c.is_whitespace();
        offset += c.len_utf16();
    }
    entities
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_marked_with_utf16_offsets() {
        assert_eq!(command_entities("/start"), vec![json!({"type": "bot_command", "offset": 0, "length": 6})]);
        assert_eq!(
            command_entities("👋 /book@salon_bot now"),
            vec![json!({"type": "bot_command", "offset": 3, "length": 15})]
        );
        assert!(command_entities("a/b and/or").is_empty());
    }
}
