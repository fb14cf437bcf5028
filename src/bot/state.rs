//! Where each customer's chat is in a conversation: the tenant bot's dialogue state, kept in the tenant's
//! `dialogues` table by the shared runtime's storage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::telegram::runtime::dialogue::{self, DialogueState};

/// What the bot waits for from a chat. Most of a flow lives in button data; only free input needs state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    #[default]
    Idle,
    /// A phone number (the contact button) before booking this slot.
    AwaitingPhone { service: i64, starts_at: DateTime<Utc>, moving: Option<i64> },
    /// An optional comment to the rating just given.
    AwaitingComment { booking: i64 },
    /// An answer to a question of the admin panel.
    Admin(crate::bot::admin::Prompt),
}

impl DialogueState for State {
    const TABLE: &'static str = "dialogues";
    const VERSION: i32 = 1;
}

/// The tenant bot's dialogue storage.
pub type DbStorage = dialogue::DbStorage<State>;

#[cfg(test)]
mod tests {
    use teloxide::types::ChatId;

    use super::*;
    use crate::telegram::runtime::dialogue::decode;

    #[test]
    fn states_round_trip_through_json() {
        let at = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        for state in [
            State::Idle,
            State::AwaitingPhone { service: 1, starts_at: at, moving: Some(5) },
            State::AwaitingComment { booking: 9 },
        ] {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(decode::<State>(ChatId(1), State::VERSION, json), Some(state));
        }
    }

    #[test]
    fn other_versions_and_garbage_start_over() {
        let json = serde_json::to_value(State::AwaitingComment { booking: 1 }).unwrap();
        assert_eq!(decode::<State>(ChatId(1), State::VERSION + 1, json), None);
        assert_eq!(decode::<State>(ChatId(1), State::VERSION, serde_json::json!({"AwaitingWhatever": {}})), None);
        assert_eq!(decode::<State>(ChatId(1), State::VERSION, serde_json::json!(42)), None);
    }
}
