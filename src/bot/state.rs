//! Where each chat is in a conversation, kept in the tenant's `dialogues` table through teloxide's
//! `Storage` on our own pool (teloxide's storages bring a second sqlx and SQLite). Rows carry a version:
//! a state this binary cannot read restarts the dialogue instead of locking the customer out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use teloxide::dispatching::dialogue::Storage;
use teloxide::types::ChatId;

use super::updates::database_unavailable;

/// Bumped whenever `State` changes shape in a way old rows cannot be read as.
pub const STATE_VERSION: i32 = 1;

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

/// Dialogue storage on the tenant's pool.
pub struct DbStorage {
    pool: PgPool,
    /// Whether a call found the database unreachable: teloxide's dialogue entry logs such an error
    /// and drops the update, and the update loop must know to keep it.
    unavailable: AtomicBool,
    /// Whether a call was answered by the database, which `/healthz` then need not ask.
    answered: AtomicBool,
}

impl DbStorage {
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self { pool, unavailable: AtomicBool::new(false), answered: AtomicBool::new(false) })
    }

    pub fn met_unavailable_database(&self) -> bool {
        self.unavailable.load(Ordering::Relaxed)
    }

    pub fn met_database(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    fn noted<T>(&self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        match &result {
            Err(error) if database_unavailable(error) => self.unavailable.store(true, Ordering::Relaxed),
            Err(_) => {}
            Ok(_) => self.answered.store(true, Ordering::Relaxed),
        }
        result
    }
}

impl Storage<State> for DbStorage {
    type Error = sqlx::Error;

    fn remove_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let deleted =
                sqlx::query("DELETE FROM dialogues WHERE chat_id = $1").bind(chat_id.0).execute(&self.pool).await;
            self.noted(deleted)?;
            Ok(())
        })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: State,
    ) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let state = serde_json::to_value(&dialogue).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let stored = sqlx::query(
                "INSERT INTO dialogues (chat_id, version, state) VALUES ($1, $2, $3) \
                 ON CONFLICT (chat_id) DO UPDATE SET version = excluded.version, state = excluded.state, updated_at = now()",
            )
            .bind(chat_id.0)
            .bind(STATE_VERSION)
            .bind(state)
            .execute(&self.pool)
            .await;
            self.noted(stored)?;
            Ok(())
        })
    }

    fn get_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<Option<State>, Self::Error>> {
        Box::pin(async move {
            let row: Result<Option<(i32, serde_json::Value)>, sqlx::Error> =
                sqlx::query_as("SELECT version, state FROM dialogues WHERE chat_id = $1")
                    .bind(chat_id.0)
                    .fetch_optional(&self.pool)
                    .await;
            let row = self.noted(row)?;
            Ok(row.and_then(|(version, state)| decode(chat_id, version, state)))
        })
    }
}

/// A stored state, or `None` (a fresh dialogue) when it is from another version or unreadable.
fn decode(chat_id: ChatId, version: i32, state: serde_json::Value) -> Option<State> {
    if version != STATE_VERSION {
        tracing::info!(chat = chat_id.0, version, "dialogue state from another version; starting over");
        return None;
    }
    serde_json::from_value(state)
        .map_err(|e| tracing::warn!(chat = chat_id.0, error = %e, "unreadable dialogue state; starting over"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_json() {
        let at = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        for state in [
            State::Idle,
            State::AwaitingPhone { service: 1, starts_at: at, moving: Some(5) },
            State::AwaitingComment { booking: 9 },
        ] {
            let json = serde_json::to_value(&state).unwrap();
            assert_eq!(decode(ChatId(1), STATE_VERSION, json), Some(state));
        }
    }

    #[test]
    fn other_versions_and_garbage_start_over() {
        let json = serde_json::to_value(State::AwaitingComment { booking: 1 }).unwrap();
        assert_eq!(decode(ChatId(1), STATE_VERSION + 1, json), None);
        assert_eq!(decode(ChatId(1), STATE_VERSION, serde_json::json!({"AwaitingWhatever": {}})), None);
        assert_eq!(decode(ChatId(1), STATE_VERSION, serde_json::json!(42)), None);
    }
}
