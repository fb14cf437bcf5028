//! What every bot's handlers run inside: each update counted and timed, a handler's Telegram errors
//! counted by kind, and every callback query answered whatever the handler did — with its alert, with
//! the bot's words for a failure, or silently — so the client's spinner always stops.

use std::time::Instant;

use teloxide::prelude::*;
use teloxide::types::CallbackQuery;

use super::health::Metrics;
use super::sender::TgBot;

/// Runs a message handler, counted and timed.
pub async fn message(metrics: &Metrics, handle: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let started = Instant::now();
    metrics.updates.inc();
    let result = handle.await;
    metrics.handler_seconds.observe(started.elapsed().as_secs_f64());
    count_telegram_error(metrics, result.as_ref().err());
    result
}

/// Runs a callback handler, counted and timed, and answers the query: `Ok(Some(text))` shows `text` as
/// an alert, an error shows `failed` (never the error itself: it may say what a stranger must not see).
pub async fn callback(
    bot: &TgBot,
    metrics: &Metrics,
    q: &CallbackQuery,
    failed: &str,
    handle: impl Future<Output = anyhow::Result<Option<String>>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::debug!(user = q.from.id.0, data = q.data.as_deref().unwrap_or_default(), "button pressed");
    metrics.updates.inc();
    let answer = handle.await;
    let mut reply = bot.direct().answer_callback_query(q.id.clone());
    let outcome = match answer {
        Ok(Some(alert)) => {
            reply = reply.text(alert).show_alert(true);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => {
            reply = reply.text(failed);
            Err(e)
        }
    };
    let answered = reply.await;
    metrics.handler_seconds.observe(started.elapsed().as_secs_f64());
    count_telegram_error(metrics, outcome.as_ref().err());
    if let Err(e) = &answered {
        metrics.telegram_error(e);
    }
    outcome?;
    answered?;
    Ok(())
}

/// A handler that failed on a Telegram call shows up in `/metrics` by kind; other failures only in the log.
fn count_telegram_error(metrics: &Metrics, error: Option<&anyhow::Error>) {
    if let Some(e) = error.and_then(|e| e.downcast_ref::<teloxide::RequestError>()) {
        metrics.telegram_error(e);
    }
}
