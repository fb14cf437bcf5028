//! Broadcasts, the dispatcher's side: the message each outbox row of a broadcast carries, the pace the
//! rows are due at, and the author's progress message and final report. Progress is worked out from the
//! outbox rows themselves, so a restarted bot picks up where the stopped one left off and a report is
//! claimed (`reported_at`) before it is sent, so it goes out once.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sqlx::{PgConnection, PgPool};
use teloxide::types::{ChatId, MessageId};

use super::texts::{Catalog, Text, escape_html};
use crate::telegram::runtime::sender::TgBot;

/// The gap between two rows of a broadcast: 25 a second, under Telegram's 30 a second for a bot, with
/// room for the other messages going out meanwhile.
pub const PACE: TimeDelta = TimeDelta::milliseconds(40);
/// A broadcast row not sent by then (the bot was down for days) is of no use any more.
pub const EXPIRES: TimeDelta = TimeDelta::days(3);
/// How often the author's progress message is edited at most.
const EDIT_EVERY: Duration = Duration::from_secs(2);
/// Before the first row a starting dispatcher sends: whatever the stopped one sent in its last second
/// is behind it, so the two cannot add up to more than the limit in any second.
const RESUME_AFTER: TimeDelta = TimeDelta::seconds(1);

/// Spaces a dispatcher's broadcast sends `PACE` apart. The rows' due times already are, but a
/// dispatcher that fell behind (a slow database, a restart) finds many due at once, and Telegram's
/// limit is per second, whatever the rows say.
pub struct Pace(DefaultDirectRateLimiter);

impl Default for Pace {
    fn default() -> Self {
        let period = PACE.to_std().unwrap_or(Duration::from_millis(40));
        // One at a time: a burst would let two sends through back to back.
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN));
        Pace(RateLimiter::direct(quota))
    }
}

impl Pace {
    /// Waits until the next broadcast message may go.
    pub async fn wait(&self) {
        self.0.until_ready().await;
    }
}

/// A broadcast row's message: the author's text as plain text; `None` if the broadcast is gone.
pub async fn message(conn: &mut PgConnection, broadcast: Option<i64>) -> Result<Option<String>, sqlx::Error> {
    let Some(id) = broadcast else { return Ok(None) };
    let text: Option<String> =
        sqlx::query_scalar("SELECT text FROM broadcasts WHERE id = $1").bind(id).fetch_optional(conn).await?;
    Ok(text.map(|t| escape_html(&t)))
}

/// On a dispatcher's start: the broadcast rows still pending are paced again from a second ahead, so
/// that those that fell due while the bot was down do not all go at once.
pub async fn resume(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let repaced = sqlx::query(
        "UPDATE outbox o SET due_at = $1 + $2 * (r.n - 1), updated_at = now() \
         FROM (SELECT id, row_number() OVER (ORDER BY due_at, id) AS n FROM outbox \
               WHERE broadcast_id IS NOT NULL AND state = 'pending') r \
         WHERE o.id = r.id",
    )
    .bind(now + RESUME_AFTER)
    .bind(PACE)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(repaced)
}

#[derive(sqlx::FromRow)]
struct Progress {
    id: i64,
    author: i64,
    recipients: i32,
    skipped: i32,
    progress_chat: Option<i64>,
    progress_message: Option<i32>,
    sent: i64,
    pending: i64,
    /// Not delivered because the recipient has blocked the bot (or is gone).
    blocked: i64,
    /// Not delivered for any other reason.
    failed: i64,
}

/// Keeps the authors of unfinished broadcasts informed.
#[derive(Default)]
pub struct Reporter {
    /// When each broadcast's progress message was last edited.
    edited: Mutex<HashMap<i64, Instant>>,
}

impl Reporter {
    /// For every broadcast not yet reported: the progress message brought up to date (at most every
    /// `EDIT_EVERY`), and once nothing is pending, the final report.
    pub async fn report(&self, pool: &PgPool, bot: &TgBot, catalog: &Catalog) -> anyhow::Result<()> {
        let open: Vec<Progress> = sqlx::query_as(
            "SELECT b.id, b.author, b.recipients, b.skipped, b.progress_chat, b.progress_message, \
                    count(*) FILTER (WHERE o.state = 'sent') AS sent, \
                    count(*) FILTER (WHERE o.state = 'pending') AS pending, \
                    count(*) FILTER (WHERE o.state NOT IN ('sent', 'pending') AND c.blocked_at IS NOT NULL) \
                        AS blocked, \
                    count(*) FILTER (WHERE o.state NOT IN ('sent', 'pending') AND c.blocked_at IS NULL) AS failed \
             FROM broadcasts b LEFT JOIN outbox o ON o.broadcast_id = b.id \
                  LEFT JOIN customers c ON c.user_id = o.recipient \
             WHERE b.reported_at IS NULL GROUP BY b.id ORDER BY b.id",
        )
        .fetch_all(pool)
        .await?;
        for progress in open {
            if progress.pending == 0 {
                self.finish(pool, bot, catalog, &progress).await?;
            } else if self.due(progress.id) {
                edit(bot, catalog, &progress, Text::AdminBroadcastProgress).await;
            }
        }
        Ok(())
    }

    /// Whether the progress message may be edited now, and if so, that it is.
    fn due(&self, id: i64) -> bool {
        let mut edited = self.edited.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match edited.get(&id) {
            Some(at) if now.duration_since(*at) < EDIT_EVERY => false,
            _ => {
                edited.insert(id, now);
                true
            }
        }
    }

    /// Claims the report, then sends it: of two dispatchers only one gets the claim.
    async fn finish(&self, pool: &PgPool, bot: &TgBot, catalog: &Catalog, progress: &Progress) -> anyhow::Result<()> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "UPDATE broadcasts SET reported_at = now() WHERE id = $1 AND reported_at IS NULL RETURNING id",
        )
        .bind(progress.id)
        .fetch_optional(pool)
        .await?;
        if claimed.is_none() {
            return Ok(());
        }
        self.edited.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&progress.id);
        edit(bot, catalog, progress, Text::AdminBroadcastProgressDone).await;
        let blocked = i64::from(progress.skipped) + progress.blocked;
        let html = catalog.render(
            Text::AdminBroadcastReport,
            &[
                ("id", &progress.id.to_string()),
                ("recipients", &progress.recipients.to_string()),
                ("delivered", &progress.sent.to_string()),
                ("blocked", &blocked.to_string()),
                ("failed", &progress.failed.to_string()),
            ],
        );
        let chat = ChatId(progress.progress_chat.unwrap_or(progress.author));
        if let Err(e) = bot.send(chat, html, None).await {
            tracing::warn!(broadcast = progress.id, "the broadcast's report could not be sent: {e:#}");
        }
        Ok(())
    }
}

/// Edits the author's progress message; it may be gone (deleted by the author), which changes nothing.
async fn edit(bot: &TgBot, catalog: &Catalog, progress: &Progress, text: Text) {
    let (Some(chat), Some(message)) = (progress.progress_chat, progress.progress_message) else { return };
    let done = progress.sent + progress.blocked + progress.failed;
    let html = catalog.render(
        text,
        &[("id", &progress.id.to_string()), ("done", &done.to_string()), ("total", &progress.recipients.to_string())],
    );
    if let Err(e) = bot.edit(ChatId(chat), MessageId(message), html, None).await {
        tracing::info!(broadcast = progress.id, "the broadcast's progress message could not be edited: {e:#}");
    }
}
