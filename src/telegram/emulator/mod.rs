//! A local Telegram Bot API emulator: serves the methods botctl uses with state in memory, and lets
//! tests and `botctl demo` play the users (messages, contacts, button presses) and inject failures.
//!
//! Bots reach it as a Bot API base URL (`Bot::set_api_url(emulator.url())`); people reach the same
//! state through `/_emulator/…` (see `control`). Nothing here is persisted.

mod api_error;
mod control;
mod html;
mod http;
mod managed;
mod markup;
mod methods;
mod params;
mod payments;
mod shared;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize, Serializer};

use self::shared::{Shared, UnknownBot, Watched, token_matches};
use crate::emulation;

pub use self::managed::{ManagedBot, ManagedBotRefused};
pub use self::payments::{CHECKOUT_TIMEOUT, CheckoutOutcome, Invoice, PaymentRefused, STARS, StarPayment};

/// A running emulator. Clones share it; dropping the last clone stops the server.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<emulation::Running<Shared>>,
}

/// A Telegram user who talks to a bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

impl TgUser {
    pub fn new(id: i64, first_name: &str) -> Self {
        Self { id, first_name: first_name.to_owned(), username: None, language_code: None }
    }
}

/// A fault to inject into the next calls of one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// HTTP 429 with `parameters.retry_after`, as Telegram's flood control answers.
    TooManyRequests { retry_after: u32 },
    /// This HTTP status (5xx) with a JSON error body.
    ServerError(u16),
    /// No answer until the client gives up or the emulator shuts down.
    Hang,
}

/// One request a bot made, in order; `getUpdates` is left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sent {
    /// The Bot API spelling (`sendMessage`) of a known method, whatever case the client used.
    pub method: String,
    /// As received; values that arrived JSON-encoded in a form are decoded, and an uploaded file
    /// stands as `{"file_name", "size"}`.
    pub params: serde_json::Value,
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
}

/// A message of a chat as its user sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub message_id: i64,
    pub from_bot: bool,
    /// The text as displayed (HTML tags applied), or a document's caption.
    pub text: Option<String>,
    /// As the bot sent it: an inline keyboard, a reply keyboard or `remove_keyboard`.
    pub reply_markup: Option<serde_json::Value>,
    pub edited: bool,
    pub deleted: bool,
    pub document: Option<Document>,
    /// The phone number of a contact the user shared.
    pub contact: Option<String>,
    /// An invoice the bot sent; the user can pay it with `Emulator::pay_invoice`. This and the payments
    /// are left out of the JSON view when absent, so chats without payments read as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
    /// The service message of a payment the bot accepted, in the buyer's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_payment: Option<StarPayment>,
    /// The service message of a refund.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_payment: Option<StarPayment>,
}

impl ChatMessage {
    /// Every button shown with the message, inline or on the reply keyboard, as (label, callback data);
    /// reply-keyboard buttons carry no data.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.keyboard().into_iter().flatten().collect()
    }

    /// The same, row by row as the user sees them.
    pub fn keyboard(&self) -> Vec<Vec<(String, String)>> {
        let Some(markup) = &self.reply_markup else { return Vec::new() };
        let rows = markup.get("inline_keyboard").or_else(|| markup.get("keyboard"));
        rows.and_then(|r| r.as_array())
            .into_iter()
            .flatten()
            .map(|row| {
                let buttons = row.as_array().into_iter().flatten();
                buttons
                    .map(|b| {
                        let data = b["callback_data"].as_str().unwrap_or_default().to_string();
                        (b["text"].as_str().unwrap_or_default().to_string(), data)
                    })
                    .collect()
            })
            .collect()
    }

    /// The callback data of the inline buttons whose data starts with `prefix` (all of them for "").
    pub fn callbacks(&self, prefix: &str) -> Vec<String> {
        self.buttons().into_iter().map(|(_, data)| data).filter(|d| !d.is_empty() && d.starts_with(prefix)).collect()
    }
}

/// A file a bot sent: its name, size and contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub file_name: Option<String>,
    pub size: u64,
    /// Left out of the JSON views, which show the size.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

fn rfc3339<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&humantime::format_rfc3339_millis(*at))
}

impl Emulator {
    /// Binds `addr` (`127.0.0.1:0` picks a free port) and serves on a spawned task.
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Emulator> {
        let bound = emulation::bind(addr, "Bot API emulator").await?;
        let url = bound.url.clone();
        let shared = Arc::new(Shared::new());
        let stopping = Arc::clone(&shared);
        let server = bound.serve(http::router(Arc::clone(&shared)), async move { stopping.stopped().await });
        Ok(Emulator { inner: Arc::new(emulation::Running::new(shared, url, server, "Bot API emulator")) })
    }

    /// The Bot API base URL, `http://127.0.0.1:PORT/`, for `Bot::set_api_url`.
    pub fn url(&self) -> url::Url {
        self.inner.url.clone()
    }

    /// Registers a bot, or starts it afresh if the token was registered. Its token should be
    /// `<id>:<secret>`, as teloxide and botctl read the id from it.
    pub fn add_bot(&self, token: &str, id: i64, username: &str) {
        if !token_matches(token, id) {
            tracing::warn!(bot_id = id, "emulated bot's token does not start with its id");
        }
        self.inner.shared.add_bot(token, id, username);
    }

    /// A private text message from `user` to the bot; returns its message id. Words starting with `/`
    /// carry a `bot_command` entity.
    pub fn send_text(&self, token: &str, user: &TgUser, text: &str) -> i64 {
        known(self.inner.shared.send_text(token, user, text))
    }

    /// The user shares their own contact (what a `request_contact` button sends).
    pub fn send_contact(&self, token: &str, user: &TgUser, phone: &str) -> i64 {
        known(self.inner.shared.send_contact(token, user, phone))
    }

    /// The user presses an inline button of message `message_id` in their chat; returns the callback
    /// query id. Like a real client, any `data` is sent.
    pub fn press_button(&self, token: &str, user: &TgUser, message_id: i64, data: &str) -> String {
        known(self.inner.shared.press_button(token, user, message_id, data))
    }

    /// The user has a chat with the bot, as after a `/start` long ago, without an update to handle now:
    /// for tests that need many reachable users quickly.
    pub fn open_chat(&self, token: &str, user: &TgUser) {
        known(self.inner.shared.open_chat(token, user));
    }

    /// The user blocks the bot: sends and edits in their chat answer 403 until the user writes again.
    pub fn block_bot(&self, token: &str, user_id: i64) {
        known(self.inner.shared.block_bot(token, user_id));
    }

    /// The next `times` calls of `method` (any case) fail this way. Failures queue up per method.
    pub fn fail(&self, token: &str, method: &str, failure: Failure, times: u32) {
        known(self.inner.shared.fail(token, method, failure, times));
    }

    /// Drops the failures still queued for `method`: a test whose process died mid-failure starts the
    /// next one against a healthy API.
    pub fn heal(&self, token: &str, method: &str) {
        known(self.inner.shared.heal(token, method));
    }

    pub fn sent(&self, token: &str) -> Vec<Sent> {
        known(self.inner.shared.sent(token))
    }

    /// Both sides of the chat with user `chat_id`, in order, deleted messages included and marked.
    pub fn chat(&self, token: &str, chat_id: i64) -> Vec<ChatMessage> {
        known(self.inner.shared.chat(token, chat_id))
    }

    pub fn callback_answered(&self, query_id: &str) -> bool {
        self.inner.shared.callback_answered(query_id)
    }

    /// Waits until `f` holds for the chat, woken by the chat's own changes rather than polling.
    pub async fn wait_until<F: Fn(&[ChatMessage]) -> bool>(
        &self,
        token: &str,
        chat_id: i64,
        f: F,
        timeout: Duration,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let what = format!("chat {chat_id}");
        self.wait_for(&what, || self.inner.shared.watch_chat(token, chat_id), |chat| f(chat), timeout).await
    }

    /// Waits until the bot has answered the button press `query_id`: its handler is done.
    pub async fn wait_answered(&self, token: &str, query_id: &str, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("an answer to callback query {query_id}");
        self.wait_for(&what, || self.inner.shared.watch_answer(token, query_id), |answered| *answered, timeout).await?;
        Ok(())
    }

    /// Waits until `f` holds for the bot's request log, for what a bot does that no chat shows.
    pub async fn wait_until_sent<F: Fn(&[Sent]) -> bool>(
        &self,
        token: &str,
        f: F,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Sent>> {
        self.wait_for("the request log", || Ok((self.inner.shared.sent(token)?, None)), |sent| f(sent), timeout).await
    }

    async fn wait_for<T: Serialize>(
        &self,
        what: &str,
        read: impl Fn() -> Result<Watched<T>, UnknownBot>,
        f: impl Fn(&T) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribed before the look, so a change right after it still wakes this waiter.
            let mut anything = self.inner.shared.changes();
            let (now, own) = read()?;
            if f(&now) {
                return Ok(now);
            }
            let changed = async {
                match own {
                    Some(mut own) => own.changed().await,
                    None => anything.changed().await,
                }
            };
            tokio::select! {
                changed = changed => changed.context("the emulator is gone")?,
                () = tokio::time::sleep_until(deadline) => {
                    let now = serde_json::to_string(&now).unwrap_or_default();
                    anyhow::bail!("waited {timeout:?} for {what} to match; it is now {now}");
                }
            }
        }
    }

    /// Stops serving: hung requests and long polls are answered, then the server task ends.
    pub async fn shutdown(self) {
        self.inner.shutdown().await;
    }
}

/// Control calls for a token nobody registered are a caller's mistake that the signatures leave no room
/// to return: say so in the log and answer empty.
fn known<T: Default>(result: Result<T, UnknownBot>) -> T {
    result.unwrap_or_else(|error| {
        tracing::warn!("{error}");
        T::default()
    })
}
