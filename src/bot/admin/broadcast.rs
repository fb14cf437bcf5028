//! Broadcasts, the panel's side: the admin writes the message, sees it with the number of recipients,
//! and sends. Sending writes one outbox row per recipient in one transaction, paced so that the
//! dispatcher keeps under Telegram's global limit and other messages interleave; `bot::broadcast`
//! reports the progress and the outcome.

use serde::{Deserialize, Serialize};
use serde_json::json;
use teloxide::types::MessageId;

use super::{Cx, Reply, audit};
use crate::bot::broadcast::{EXPIRES, PACE};
use crate::bot::callback::admin::BroadcastAction;
use crate::bot::handlers::HandlerResult;
use crate::bot::state::State;
use crate::bot::texts::Text;

/// The longest message: Telegram's limit is 4096, and the text goes out escaped.
const MAX_CHARS: usize = 4000;

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// The message.
    Text,
    /// The message, previewed and waiting for Send; another text replaces it.
    Preview { text: String },
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: BroadcastAction) -> Reply {
    match action {
        BroadcastAction::Compose => {
            cx.ask(Prompt::Text, cx.catalog.render(Text::AdminBroadcastAsk, &[])).await?;
            Ok(None)
        }
        BroadcastAction::Send => {
            let Some(super::Prompt::Broadcast(Prompt::Preview { text })) = cx.prompt().await? else {
                return Ok(Some(Text::AdminGone));
            };
            send(cx, at, &text).await?;
            Ok(None)
        }
        BroadcastAction::Cancel => {
            // The preview's text would otherwise wait in the dialogue and take the admin's next message.
            cx.done().await?;
            super::menu(cx, Some(at)).await?;
            Ok(None)
        }
    }
}

pub(super) async fn answer(cx: &Cx<'_>, _prompt: Prompt, text: &str) -> HandlerResult {
    let length = text.chars().count();
    if length == 0 || length > MAX_CHARS {
        let html = cx.catalog.render(Text::AdminBroadcastTooLong, &[("max", &MAX_CHARS.to_string())]);
        return cx.bot.send(cx.chat, html, None).await;
    }
    cx.dialogue.update(State::Admin(Prompt::Preview { text: text.to_string() }.into())).await?;
    let recipients: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customers WHERE blocked_at IS NULL").fetch_one(cx.pool()).await?;
    let html =
        cx.catalog.render(Text::AdminBroadcastPreview, &[("recipients", &recipients.to_string()), ("text", text)]);
    let rows = vec![vec![
        cx.button(Text::AdminBroadcastSend, BroadcastAction::Send),
        cx.button(Text::AdminBroadcastCancel, BroadcastAction::Cancel),
    ]];
    cx.show(None, html, rows).await
}

/// Queues the message for every customer who has not blocked the bot, and turns the preview into the
/// progress message the dispatcher keeps current.
async fn send(cx: &Cx<'_>, at: MessageId, text: &str) -> HandlerResult {
    let now = cx.now();
    let mut tx = cx.pool().begin().await?;
    let (id, skipped): (i64, i32) = sqlx::query_as(
        "INSERT INTO broadcasts (author, text, recipients, skipped, progress_chat, progress_message) \
         SELECT $1, $2, count(*) FILTER (WHERE blocked_at IS NULL), count(*) FILTER (WHERE blocked_at IS NOT NULL), \
                $3, $4 FROM customers RETURNING id, skipped",
    )
    .bind(cx.staff.user_id)
    .bind(text)
    .bind(cx.chat.0)
    .bind(at.0)
    .fetch_one(&mut *tx)
    .await?;
    // Row i is due i paces after now: the dispatcher sends them at the pace they fall due, and a
    // reminder due meanwhile goes out between them rather than after the whole broadcast.
    let recipients = sqlx::query(
        "INSERT INTO outbox (kind, recipient, broadcast_id, due_at, expires_at, dedupe_key) \
         SELECT 'broadcast', user_id, $1::bigint, $2 + $3 * (row_number() OVER (ORDER BY user_id) - 1), $2 + $4, \
                'broadcast:' || $1::bigint::text || ':' || user_id \
         FROM customers WHERE blocked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(PACE)
    .bind(EXPIRES)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The dispatcher sleeps without listening to the database: this process's write wakes it.
    crate::booking::outbox::announce(&mut tx).await?;
    let after = json!({ "recipients": recipients, "skipped": skipped, "text": text });
    audit::record(&mut tx, &cx.staff, "broadcast.send", &format!("broadcast {id}"), None, Some(after)).await?;
    tx.commit().await?;
    cx.done().await?;
    let html = cx.catalog.render(
        Text::AdminBroadcastProgress,
        &[("id", &id.to_string()), ("done", "0"), ("total", &recipients.to_string())],
    );
    cx.show(Some(at), html, Vec::new()).await
}
