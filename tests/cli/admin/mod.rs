//! The admin panel through the Bot API emulator: a tenant's bot running in-process, its owners (1001
//! and 1002 from the fixture) and managers talking to it, real PostgreSQL underneath.

mod access;
mod bookings;
mod people;
mod setup;

use botctl::bot::texts::{Catalog, Text};
use botctl::locale::Locale;
use botctl::telegram::emulator::{ChatMessage, TgUser};

use crate::serve::{Running, WAIT, buttons};
use crate::support::block_on;

/// An owner named at `tenant create` by the fixture.
pub(crate) const OWNER: i64 = 1001;

pub(crate) fn ru() -> &'static Catalog {
    Catalog::defaults(Locale::Ru)
}

/// A running bot with its panel's people.
pub(crate) struct Panel {
    pub(crate) bot: Running,
}

impl Panel {
    pub(crate) fn start() -> Self {
        Self { bot: Running::start() }
    }

    pub(crate) fn owner(&self) -> TgUser {
        TgUser::new(OWNER, "Olga")
    }

    /// A customer who has started the bot.
    pub(crate) fn customer(&self, id: i64) -> TgUser {
        let user = TgUser::new(id, "Anna");
        self.bot.text(&user, "/start");
        self.bot.bot_says(&user, |m| m.text.is_some());
        user
    }

    /// A manager with exactly `permissions`, who has started the bot.
    pub(crate) fn manager(&self, id: i64, permissions: &[&str]) -> TgUser {
        let user = self.customer(id);
        let list = permissions.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(",");
        self.bot.sql(&format!(
            "INSERT INTO {{schema}}.admins (user_id, is_owner, permissions, added_by) \
             VALUES ({id}, false, ARRAY[{list}]::text[], {OWNER}) \
             ON CONFLICT (user_id) DO UPDATE SET is_owner = false, permissions = excluded.permissions"
        ));
        user
    }

    /// `/admin`, and the panel's main menu it opens.
    pub(crate) fn open(&self, user: &TgUser) -> ChatMessage {
        self.bot.text(user, "/admin");
        self.bot.bot_says(user, |m| buttons(m).iter().any(|d| d == "a:db:t"))
    }

    /// Presses a button with any data on `message` (as a forging client could), and returns the alert
    /// text the bot answered with, if any.
    pub(crate) fn press_data(&self, user: &TgUser, message: &ChatMessage, data: &str) -> Option<String> {
        let emulator = self.bot.emulator();
        let query = emulator.press_button(&self.bot.token, user, message.message_id, data);
        block_on(emulator.wait_answered(&self.bot.token, &query, WAIT))
            .unwrap_or_else(|e| panic!("the press of {data} was never answered: {e}"));
        emulator
            .sent(&self.bot.token)
            .into_iter()
            .rev()
            .find(|s| s.method == "answerCallbackQuery" && s.params["callback_query_id"] == query.as_str())
            .and_then(|s| s.params["text"].as_str().map(str::to_string))
    }

    /// Presses the first button of `message` whose data starts with `prefix`; the alert, if any.
    pub(crate) fn press(&self, user: &TgUser, message: &ChatMessage, prefix: &str) -> Option<String> {
        let data = buttons(message)
            .into_iter()
            .find(|d| d.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` button in {:?}", message.reply_markup));
        self.press_data(user, message, &data)
    }

    /// Waits for the newest bot message in `user`'s chat to contain `needle`.
    pub(crate) fn says(&self, user: &TgUser, needle: &str) -> ChatMessage {
        self.bot.bot_says(user, |m| m.text.as_deref().is_some_and(|t| t.contains(needle)))
    }

    /// A text in the Russian defaults with its markup and placeholders cut off: what a check can look for.
    pub(crate) fn words(text: Text) -> String {
        let raw = ru().raw(text);
        raw.split(['{', '<', '\n']).next().unwrap_or(raw).trim().to_string()
    }
}
