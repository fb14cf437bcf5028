//! The state behind both faces of the emulator, its change signal and its shutdown signal. The control
//! operations live here once, for the Rust handle and the `/_emulator` HTTP API alike.

use tokio::sync::watch;

use crate::emulation::Guarded;

use super::html::Formatted;
use super::state::{Content, State, command_entities};
use super::{ChatMessage, Failure, Sent, TgUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no bot is registered in the emulator with this token")]
pub(super) struct UnknownBot;

/// A value and what signals its next change; `None` means any change to the emulator may matter.
pub(super) type Watched<T> = (T, Option<watch::Receiver<()>>);

/// The emulator's state and signals (`emulation::Guarded`), with the control operations on top.
pub(super) struct Shared(Guarded<State>);

impl crate::emulation::Stop for Shared {
    fn stop(&self) {
        Guarded::stop(self)
    }
}

impl std::ops::Deref for Shared {
    type Target = Guarded<State>;

    fn deref(&self) -> &Guarded<State> {
        &self.0
    }
}

impl Shared {
    pub fn new() -> Self {
        Self(Guarded::new(State::default()))
    }

    pub fn add_bot(&self, token: &str, id: i64, username: &str) {
        self.write(|s| s.add_bot(token, id, username));
    }

    pub fn send_text(&self, token: &str, user: &TgUser, text: &str) -> Result<i64, UnknownBot> {
        let text = Formatted { text: text.to_owned(), entities: command_entities(text) };
        self.user_message(token, user, Content::Text(text))
    }

    pub fn send_contact(&self, token: &str, user: &TgUser, phone: &str) -> Result<i64, UnknownBot> {
        let contact =
            Content::Contact { phone: phone.to_owned(), first_name: user.first_name.clone(), user_id: user.id };
        self.user_message(token, user, contact)
    }

    fn user_message(&self, token: &str, user: &TgUser, content: Content) -> Result<i64, UnknownBot> {
        self.write(|s| Ok(s.bots.get_mut(token).ok_or(UnknownBot)?.user_message(user, content)))
    }

    pub fn press_button(&self, token: &str, user: &TgUser, message_id: i64, data: &str) -> Result<String, UnknownBot> {
        self.write(|s| s.press_button(token, user, message_id, data).ok_or(UnknownBot))
    }

    pub fn open_chat(&self, token: &str, user: &TgUser) -> Result<(), UnknownBot> {
        self.write(|s| {
            s.bots.get_mut(token).ok_or(UnknownBot)?.chat_for(user);
            Ok(())
        })
    }

    pub fn block_bot(&self, token: &str, user_id: i64) -> Result<(), UnknownBot> {
        self.write(|s| {
            s.bots.get_mut(token).ok_or(UnknownBot)?.blocked.insert(user_id);
            Ok(())
        })
    }

    pub fn fail(&self, token: &str, method: &str, failure: Failure, times: u32) -> Result<(), UnknownBot> {
        self.write(|s| {
            let bot = s.bots.get_mut(token).ok_or(UnknownBot)?;
            if times > 0 {
                bot.failures.entry(method.to_ascii_lowercase()).or_default().push_back((failure, times));
            }
            Ok(())
        })
    }

    pub fn heal(&self, token: &str, method: &str) -> Result<(), UnknownBot> {
        self.write(|s| {
            s.bots.get_mut(token).ok_or(UnknownBot)?.failures.remove(&method.to_ascii_lowercase());
            Ok(())
        })
    }

    pub fn sent(&self, token: &str) -> Result<Vec<Sent>, UnknownBot> {
        self.read(|s| Ok(s.bots.get(token).ok_or(UnknownBot)?.sent.clone()))
    }

    pub fn chat(&self, token: &str, chat_id: i64) -> Result<Vec<ChatMessage>, UnknownBot> {
        self.read(|s| Ok(s.bots.get(token).ok_or(UnknownBot)?.chat_view(chat_id)))
    }

    /// The chat now and, once the chat exists, a receiver that wakes on its next change. Both under one
    /// lock, so no change falls between the look and the subscription.
    pub fn watch_chat(&self, token: &str, chat_id: i64) -> Result<Watched<Vec<ChatMessage>>, UnknownBot> {
        self.read(|s| {
            let bot = s.bots.get(token).ok_or(UnknownBot)?;
            Ok((bot.chat_view(chat_id), bot.chats.get(&chat_id).map(|c| c.changed.subscribe())))
        })
    }

    /// Whether the press `query_id` is answered, and its chat's change signal (the answer bumps it).
    pub fn watch_answer(&self, token: &str, query_id: &str) -> Result<Watched<bool>, UnknownBot> {
        self.read(|s| {
            let bot = s.bots.get(token).ok_or(UnknownBot)?;
            let callback = s.callbacks.get(query_id);
            let chat = callback.and_then(|c| bot.chats.get(&c.user_id)).map(|c| c.changed.subscribe());
            Ok((callback.is_some_and(|c| c.answer.is_some()), chat))
        })
    }

    pub fn callback_answered(&self, query_id: &str) -> bool {
        self.read(|s| s.callbacks.get(query_id).is_some_and(|c| c.answer.is_some()))
    }
}

/// Whether `token` is `<id>:<secret>` for this bot id, as BotFather's tokens are.
pub(super) fn token_matches(token: &str, id: i64) -> bool {
    token.split_once(':').and_then(|(prefix, _)| prefix.parse::<i64>().ok()) == Some(id)
}
