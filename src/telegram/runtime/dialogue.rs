//! Where each chat is in a conversation, kept in a table of the bot's own database through teloxide's
//! `Storage` on our own pool (teloxide's storages bring a second sqlx and SQLite). Rows carry a version:
//! a state this binary cannot read restarts the dialogue instead of locking the user out.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use teloxide::dispatching::dialogue::Storage;
use teloxide::types::ChatId;

use super::updates::database_unavailable;

/// A bot's dialogue state: what it waits for from a chat, and where it is kept.
pub trait DialogueState: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// The table, in the pool's search path, with columns `chat_id bigint primary key, version int,
    /// state jsonb, updated_at timestamptz`.
    const TABLE: &'static str;
    /// Bumped whenever the state changes shape in a way old rows cannot be read as.
    const VERSION: i32;
}

/// Dialogue storage on a bot's pool.
pub struct DbStorage<S> {
    pool: PgPool,
    /// Whether a call found the database unreachable: teloxide's dialogue entry logs such an error
    /// and drops the update, and the update loop must know to keep it.
    unavailable: AtomicBool,
    /// Whether a call was answered by the database, which `/healthz` then need not ask.
    answered: AtomicBool,
    state: PhantomData<fn() -> S>,
}

impl<S: DialogueState> DbStorage<S> {
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            unavailable: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            state: PhantomData,
        })
    }
}

impl<S> DbStorage<S> {
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

impl<S: DialogueState> Storage<S> for DbStorage<S> {
    type Error = sqlx::Error;

    fn remove_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            // The table name is a constant of the code, never input.
            let sql = format!("DELETE FROM {} WHERE chat_id = $1", S::TABLE);
            let deleted = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(chat_id.0).execute(&self.pool).await;
            self.noted(deleted)?;
            Ok(())
        })
    }

    fn update_dialogue(self: Arc<Self>, chat_id: ChatId, dialogue: S) -> BoxFuture<'static, Result<(), Self::Error>> {
        Box::pin(async move {
            let state = serde_json::to_value(&dialogue).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let sql = format!(
                "INSERT INTO {} (chat_id, version, state) VALUES ($1, $2, $3) ON CONFLICT (chat_id) \
                 DO UPDATE SET version = excluded.version, state = excluded.state, updated_at = now()",
                S::TABLE
            );
            let stored = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(chat_id.0)
                .bind(S::VERSION)
                .bind(state)
                .execute(&self.pool)
                .await;
            self.noted(stored)?;
            Ok(())
        })
    }

    fn get_dialogue(self: Arc<Self>, chat_id: ChatId) -> BoxFuture<'static, Result<Option<S>, Self::Error>> {
        Box::pin(async move {
            let sql = format!("SELECT version, state FROM {} WHERE chat_id = $1", S::TABLE);
            let row: Result<Option<(i32, serde_json::Value)>, sqlx::Error> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(chat_id.0).fetch_optional(&self.pool).await;
            let row = self.noted(row)?;
            Ok(row.and_then(|(version, state)| decode(chat_id, version, state)))
        })
    }
}

/// A stored state, or `None` (a fresh dialogue) when it is from another version or unreadable.
pub fn decode<S: DialogueState>(chat_id: ChatId, version: i32, state: serde_json::Value) -> Option<S> {
    if version != S::VERSION {
        tracing::info!(chat = chat_id.0, version, "dialogue state from another version; starting over");
        return None;
    }
    serde_json::from_value(state)
        .map_err(|e| tracing::warn!(chat = chat_id.0, error = %e, "unreadable dialogue state; starting over"))
        .ok()
}
