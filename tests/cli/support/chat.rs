//! A scripted user's side of a conversation with one of the platform's bots through the Bot API
//! emulator — what the operator bot's and the sales bot's harnesses both do, written once.

use std::time::Duration;

use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};

use super::block_on;
use crate::serve::WAIT;

pub(crate) trait Chat {
    fn emulator(&self) -> &Emulator;
    /// The bot's token in the emulator.
    fn bot_token(&self) -> &str;

    fn text(&self, user: &TgUser, text: &str) -> i64 {
        self.emulator().send_text(self.bot_token(), user, text)
    }

    fn chat(&self, user: &TgUser) -> Vec<ChatMessage> {
        self.emulator().chat(self.bot_token(), user.id)
    }

    /// Waits until the newest bot message in `user`'s chat satisfies `f`.
    fn says(&self, user: &TgUser, f: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
        self.says_within(WAIT, user, f)
    }

    /// The same, waiting up to `timeout` (an operation that starts a container takes longer).
    fn says_within(&self, timeout: Duration, user: &TgUser, f: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
        let newest = |chat: &[ChatMessage]| chat.iter().rev().find(|m| m.from_bot && !m.deleted).cloned();
        let check = |chat: &[ChatMessage]| newest(chat).is_some_and(|m| f(&m));
        let chat = block_on(self.emulator().wait_until(self.bot_token(), user.id, check, timeout))
            .unwrap_or_else(|e| panic!("{e}; the bot sent: {:#?}", self.emulator().sent(self.bot_token())));
        newest(&chat).unwrap()
    }

    /// Waits for the newest bot message to contain `needle`.
    fn says_text(&self, user: &TgUser, needle: &str) -> ChatMessage {
        self.says(user, |m| m.text.as_deref().is_some_and(|t| t.contains(needle)))
    }

    /// Presses a button with any data on `message`, waits for the answer, and returns its text, if any.
    fn press(&self, user: &TgUser, message: &ChatMessage, data: &str) -> Option<String> {
        let query = self.emulator().press_button(self.bot_token(), user, message.message_id, data);
        block_on(self.emulator().wait_answered(self.bot_token(), &query, WAIT))
            .unwrap_or_else(|e| panic!("the press of {data} was never answered: {e}"));
        self.emulator()
            .sent(self.bot_token())
            .into_iter()
            .rev()
            .find(|s| s.method == "answerCallbackQuery" && s.params["callback_query_id"] == query.as_str())
            .and_then(|s| s.params["text"].as_str().map(str::to_string))
    }
}
