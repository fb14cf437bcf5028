//! The outbox's dispatcher. One step, `tick(now)`, claims due rows (`FOR UPDATE SKIP LOCKED`, so several
//! dispatchers on one tenant never take the same row), renders each in the tenant's language and time
//! zone, sends it through the throttled bot and records the outcome. A claim names the database session
//! of the tick that made it: when that session ends (the process died) or the claim's lease runs out,
//! the row may be claimed again — so a crash repeats at most the messages in flight and never loses one,
//! and no connection is held while Telegram answers. `run` wraps the step in a loop that sleeps until
//! the next due row, until this process wrote rows, or until a slow rescan looks for other processes'
//! rows; it holds no connection while it sleeps.
//!
//! Broadcast rows (no booking; their text is the broadcast's) are spaced by `broadcast::Pace`, and a
//! tick that handled any lets `broadcast::Reporter` update their authors. A send refused because the
//! user blocked the bot or is gone marks the customer `blocked_at`, so broadcasts leave them out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};
use teloxide::types::{ChatId, InlineKeyboardMarkup, ReplyMarkup};
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

use super::broadcast::{self, Pace, Reporter};
use super::business::{Business, business};
use super::callback::Callback;
use super::handlers::format;
use super::keyboards::button;
use super::metrics;
use super::texts::{Catalog, LiveCatalog, Text};
use crate::telegram::runtime::health::Health;
use crate::telegram::runtime::sender::{self, TgBot};

/// Rows claimed and sent at once. Telegram's limits are kept by the throttled bot, which lets queued
/// messages through four times a second: enough of them must be waiting to use its 30 a second.
const IN_FLIGHT: i64 = 32;
/// How long a claim holds when its session lives on but never records an outcome (a hung send).
const LEASE: TimeDelta = TimeDelta::minutes(2);

/// The claim: up to `$4` rows due at `$1`, unclaimed or with a void claim, for session `$2` for `$3`.
/// Public for the benchmark that measures it.
pub const CLAIM: &str = "UPDATE outbox SET claimed_by = $2, claimed_until = $1 + $3 WHERE id IN ( \
        SELECT id FROM outbox WHERE state = 'pending' AND due_at <= $1 \
           AND (claimed_by IS NULL OR claimed_until < $1 \
                OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = outbox.claimed_by)) \
        ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
    RETURNING id, kind, recipient, booking_id, broadcast_id, params, expires_at, attempts";
/// Tries before a message that keeps failing for passing reasons is given up.
const MAX_ATTEMPTS: i32 = 8;
/// The first retry's delay; each further one doubles, up to an hour.
const FIRST_RETRY: TimeDelta = TimeDelta::seconds(10);

pub struct Dispatcher {
    pool: PgPool,
    bot: TgBot,
    texts: Arc<LiveCatalog>,
    health: Arc<Health>,
    metrics: metrics::Outbox,
    /// Ends a tick between batches when the bot is stopping.
    stop: CancellationToken,
    reporter: Reporter,
    pace: Pace,
    /// How often `run` looks for rows other processes wrote.
    rescan: Duration,
}

/// What one tick did, and when the next row is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    pub sent: usize,
    /// Given up: a permanent refusal (the user blocked the bot) or too many tries.
    pub failed: usize,
    /// To be tried again later.
    pub retried: usize,
    /// Of no use any more (a reminder for a visit that has begun).
    pub expired: usize,
    /// Nothing to say any more (the booking was cancelled, the visit already rated).
    pub dropped: usize,
    pub next_due: Option<DateTime<Utc>>,
}

impl Tick {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Retry { .. } => self.retried += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Dropped => self.dropped += 1,
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Sent,
    Failed(String),
    Retry { at: DateTime<Utc>, error: String },
    Expired,
    Dropped,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed(_) => "failed",
            Outcome::Retry { .. } => "retried",
            Outcome::Expired => "expired",
            Outcome::Dropped => "dropped",
        }
    }
}

#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    kind: String,
    recipient: i64,
    booking_id: Option<i64>,
    broadcast_id: Option<i64>,
    params: serde_json::Value,
    expires_at: DateTime<Utc>,
    attempts: i32,
}

/// A message ready to send.
struct Message {
    html: String,
    buttons: Option<InlineKeyboardMarkup>,
}

impl Dispatcher {
    pub fn new(
        pool: PgPool,
        bot: TgBot,
        texts: Arc<LiveCatalog>,
        health: Arc<Health>,
        stop: CancellationToken,
    ) -> Self {
        let metrics = metrics::Outbox::default();
        health.metrics.extend(|registry| metrics.register(registry));
        let (reporter, pace) = (Reporter::default(), Pace::default());
        Self { pool, bot, texts, health, metrics, stop, reporter, pace, rescan: RESCAN }
    }

    /// Looks for rows other processes wrote every `every` (give or take a tenth) instead of [`RESCAN`].
    pub fn with_rescan(mut self, every: Duration) -> Self {
        self.rescan = every;
        self
    }

    /// Sends every row due at `now`, then says when the next one is due.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<Tick> {
        self.work(now, false).await
    }

    /// `tick`; with `lone`, its connection and every other the pool keeps idle are closed afterwards
    /// instead of kept for reuse.
    async fn work(&self, now: DateTime<Utc>, lone: bool) -> anyhow::Result<Tick> {
        // The claims' owner: this connection's session, alive for as long as the tick.
        let mut session = self.pool.acquire().await?;
        let owner: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *session).await?;
        let mut tick = Tick::default();
        let mut broadcast = false;
        while !self.stop.is_cancelled() {
            let claimed: Vec<Claimed> = sqlx::query_as(CLAIM)
                .bind(now)
                .bind(owner)
                .bind(LEASE)
                .bind(IN_FLIGHT)
                .fetch_all(&mut *session)
                .await?;
            if claimed.is_empty() {
                break;
            }
            broadcast |= claimed.iter().any(|row| row.broadcast_id.is_some());
            // Read once for the batch: every message of it is rendered with the same settings.
            let business = business(&mut *session).await?;
            let outcomes =
                futures_util::future::join_all(claimed.iter().map(|row| self.deliver(row, &business, now))).await;
            for outcome in outcomes {
                let outcome = outcome?;
                self.metrics.outcome(outcome.label());
                tick.add(&outcome);
            }
        }
        tick.next_due = sqlx::query_scalar("SELECT min(due_at) FROM outbox WHERE state = 'pending'")
            .fetch_one(&mut *session)
            .await?;
        drop(session);
        if broadcast {
            self.report().await;
        }
        if lone {
            close_idle(&self.pool).await;
        }
        Ok(tick)
    }

    /// Brings broadcasts' authors up to date; a failure here must not stop the messages themselves.
    async fn report(&self) {
        if let Err(e) = self.reporter.report(&self.pool, &self.bot, &self.texts.get()).await {
            tracing::warn!("the broadcasts' progress could not be reported: {e:#}");
        }
    }

    /// Renders, sends and records one claimed row.
    async fn deliver(&self, row: &Claimed, business: &Business, now: DateTime<Utc>) -> anyhow::Result<Outcome> {
        let message = if row.expires_at <= now {
            None
        } else {
            // The connection goes back before the send, which may wait on Telegram.
            let mut conn = self.pool.acquire().await?;
            Some(self.render(&mut conn, row, business, now).await?)
        };
        let outcome = match message {
            None => Outcome::Expired,
            Some(None) => Outcome::Dropped,
            Some(Some(message)) => {
                let markup = message.buttons.map(ReplyMarkup::InlineKeyboard);
                if row.broadcast_id.is_some() {
                    self.pace.wait().await;
                }
                match self.bot.send(ChatId(row.recipient), message.html, markup).await {
                    Ok(()) => Outcome::Sent,
                    Err(e) => {
                        if unreachable(&e) {
                            mark_blocked(&self.pool, row.recipient).await?;
                        }
                        self.failure(&e, row.attempts, now)
                    }
                }
            }
        };
        record(&mut *self.pool.acquire().await?, row.id, &outcome, now).await?;
        Ok(outcome)
    }

    /// Whether a failed send is worth another try, and when.
    fn failure(&self, error: &anyhow::Error, attempts: i32, now: DateTime<Utc>) -> Outcome {
        let text = format!("{error:#}");
        let Some(request) = error.downcast_ref::<RequestError>() else { return Outcome::Failed(text) };
        self.health.metrics.telegram_error(request);
        match request {
            // The user cannot be reached, and trying again will not change that.
            _ if sender::unreachable(request) => Outcome::Failed(text),
            _ if attempts + 1 >= MAX_ATTEMPTS => Outcome::Failed(text),
            RequestError::RetryAfter(seconds) => {
                Outcome::Retry { at: now + TimeDelta::seconds(i64::from(seconds.seconds())), error: text }
            }
            _ => {
                let delay = FIRST_RETRY * 2_i32.pow(attempts.clamp(0, 12) as u32);
                Outcome::Retry { at: now + delay.min(TimeDelta::hours(1)), error: text }
            }
        }
    }

    /// The row as a message; `None` when there is nothing to say any more.
    async fn render(
        &self,
        conn: &mut PgConnection,
        row: &Claimed,
        business: &Business,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Message>> {
        let catalog = &self.texts.get();
        let Some(id) = row.booking_id else { return self.render_unbooked(conn, row, business, now).await };
        let visit: Option<Visit> = sqlx::query_as(
            "SELECT b.service_name, b.starts_at, b.ends_at, b.status, c.first_name, c.phone, b.customer_id, \
                    EXISTS (SELECT 1 FROM ratings r WHERE r.booking_id = b.id) AS rated \
             FROM bookings b JOIN customers c ON c.user_id = b.customer_id WHERE b.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(visit) = visit else { return Ok(None) };
        let tz = business.tz;
        let (date, time) = format::date_time(catalog, tz, visit.starts_at);
        let service = visit.service_name.as_deref().unwrap_or_default();
        let customer = visit.first_name.as_str();
        let customer_id = visit.customer_id.to_string();
        let message = match row.kind.as_str() {
            "reminder" => {
                if visit.status != "active" || visit.starts_at <= now {
                    return Ok(None);
                }
                let when = when(catalog, tz, visit.starts_at, now);
                let address = business.address.as_deref().unwrap_or_default();
                let html = catalog.render(
                    Text::ReminderBefore,
                    &[("service", service), ("date", &date), ("time", &time), ("address", address), ("when", &when)],
                );
                let mut rows = vec![vec![button(catalog.raw(Text::MenuMy), Callback::MyBookings)]];
                if business.can_change(visit.starts_at, now) {
                    rows.push(vec![
                        button(catalog.raw(Text::ReminderMoveButton), Callback::Move { booking: id }),
                        button(catalog.raw(Text::ReminderCancelButton), Callback::Cancel { booking: id }),
                    ]);
                }
                Message { html, buttons: Some(InlineKeyboardMarkup::new(rows)) }
            }
            "rating_request" => {
                if !matches!(visit.status.as_str(), "active" | "completed") || visit.ends_at > now || visit.rated {
                    return Ok(None);
                }
                let date = format::date(catalog, tz, visit.starts_at);
                let html = catalog.render(Text::RatingAsk, &[("service", service), ("date", &date)]);
                let stars = (1..=5u8).map(|score| button(format!("{score} ⭐"), Callback::Rate { booking: id, score }));
                Message { html, buttons: Some(InlineKeyboardMarkup::new([stars.collect::<Vec<_>>()])) }
            }
            "admin_booked" => {
                let phone = visit.phone.as_deref().unwrap_or("—");
                let params = [
                    ("customer", customer),
                    ("customer_id", customer_id.as_str()),
                    ("phone", phone),
                    ("service", service),
                    ("date", &date),
                    ("time", &time),
                ];
                Message { html: catalog.render(Text::NotifyAdminNewBooking, &params), buttons: None }
            }
            "admin_moved" => {
                let Some((old_date, old_time)) = old_start(row, catalog, tz) else { return Ok(None) };
                let params = [
                    ("customer", customer),
                    ("customer_id", customer_id.as_str()),
                    ("service", service),
                    ("old_date", &old_date),
                    ("old_time", &old_time),
                    ("date", &date),
                    ("time", &time),
                ];
                Message { html: catalog.render(Text::NotifyAdminMoved, &params), buttons: None }
            }
            "customer_moved" => {
                if visit.status != "active" {
                    return Ok(None);
                }
                let Some((old_date, old_time)) = old_start(row, catalog, tz) else { return Ok(None) };
                let params = [
                    ("service", service),
                    ("old_date", &old_date),
                    ("old_time", &old_time),
                    ("date", &date),
                    ("time", &time),
                ];
                let buttons = InlineKeyboardMarkup::new([[button(catalog.raw(Text::MenuMy), Callback::MyBookings)]]);
                Message { html: catalog.render(Text::NotifyCustomerMovedByAdmin, &params), buttons: Some(buttons) }
            }
            "admin_cancelled" => {
                let params = [
                    ("customer", customer),
                    ("customer_id", customer_id.as_str()),
                    ("service", service),
                    ("date", &date),
                    ("time", &time),
                ];
                Message { html: catalog.render(Text::NotifyAdminCancelled, &params), buttons: None }
            }
            "admin_rated" => {
                let rating: Option<(i16, Option<String>)> =
                    sqlx::query_as("SELECT score, comment FROM ratings WHERE booking_id = $1")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some((score, comment)) = rating else { return Ok(None) };
                let stars = "⭐".repeat(usize::try_from(score).unwrap_or(0));
                let date = format::date(catalog, tz, visit.starts_at);
                let params = [
                    ("customer", customer),
                    ("customer_id", customer_id.as_str()),
                    ("service", service),
                    ("date", &date),
                    ("stars", &stars),
                    ("comment", comment.as_deref().unwrap_or_default()),
                ];
                Message { html: catalog.render(Text::NotifyAdminNewRating, &params), buttons: None }
            }
            "customer_cancelled" => {
                let reason = row.params.get("reason").and_then(|v| v.as_str()).unwrap_or_default();
                let params = [("service", service), ("date", &date), ("time", &time), ("reason", reason)];
                Message { html: catalog.render(Text::NotifyCustomerCancelledByAdmin, &params), buttons: None }
            }
            other => {
                tracing::warn!(kind = other, "an outbox row of a kind this binary does not know is skipped");
                return Ok(None);
            }
        };
        Ok(Some(message))
    }

    /// A row about no booking: a broadcast.
    async fn render_unbooked(
        &self,
        conn: &mut PgConnection,
        row: &Claimed,
        business: &Business,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Message>> {
        match row.kind.as_str() {
            "broadcast" => {
                let html = broadcast::message(conn, row.broadcast_id).await?;
                Ok(html.map(|html| Message { html, buttons: None }))
            }
            "billing" => Ok(billing_notice(&self.texts.get(), business.tz, &row.params, now)
                .map(|html| Message { html, buttons: None })),
            other => {
                tracing::warn!(kind = other, "an outbox row without a booking is skipped");
                Ok(None)
            }
        }
    }

    /// Ticks until `stop`: after each tick it sleeps until the next row is due, until this process's
    /// own writes say rows came (`booking::outbox::written`), or until the rescan (`with_rescan`) looks
    /// for rows another process wrote. No connection is held meanwhile: an idle tenant costs the server
    /// no backend, only one short connection per rescan.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut written = crate::booking::outbox::written();
        // A broadcast the last run left unfinished goes on at its pace, and one it finished without
        // reporting is reported.
        if let Err(e) = broadcast::resume(&self.pool, Utc::now()).await {
            tracing::warn!("the broadcasts under way could not be resumed: {e:#}");
        }
        self.report().await;
        // The first tick, at start, and one woken by the rescan alone: the tenant is most likely idle,
        // and the pool's connections close at once rather than after its idle timeout, so that a
        // fleet's starts and rescans keep hardly any backend open (500 tenants × 5–10 s lingering every
        // 5 minutes would be 8–17 of them; bots started 3 a second, 15–30).
        let mut rescanning = true;
        loop {
            self.metrics.wakeups.inc();
            let next = match self.work(Utc::now(), rescanning).await {
                Ok(tick) => {
                    self.health.database_answered();
                    tick.next_due
                }
                Err(e) => {
                    self.health.database_failed(&format!("{e:#}"));
                    tracing::warn!("the outbox could not be worked through: {e:#}");
                    Some(Utc::now() + TimeDelta::seconds(5))
                }
            };
            let rescan = Utc::now() + jittered(self.rescan);
            let (at, by_rescan) = match next {
                Some(due) if due < rescan => (due, false),
                _ => (rescan, true),
            };
            tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                () = tokio::time::sleep((at - Utc::now()).to_std().unwrap_or_default()) => rescanning = by_rescan,
                key = written.recv() => {
                    rescanning = false;
                    self.after_writers(key, &mut written).await;
                }
            }
        }
    }

    /// Waits until the transactions that wrote rows (`key`, and any written meanwhile) have ended, so
    /// that the next tick sees their rows.
    async fn after_writers(
        &self,
        key: Result<i32, tokio::sync::broadcast::error::RecvError>,
        written: &mut tokio::sync::broadcast::Receiver<i32>,
    ) {
        // Lagged behind many writers: the tick sees at least what the earliest of them committed, and
        // the others' keys follow.
        let Ok(key) = key else { return };
        let mut keys = vec![key];
        while let Ok(key) = written.try_recv() {
            keys.push(key);
        }
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let ended = sqlx::query("SELECT pg_advisory_xact_lock_shared($1, $2)")
                .bind(crate::booking::outbox::WRITER_LOCKS)
                .bind(key)
                .execute(&self.pool);
            // A writer that takes longer than this has its rows sent by the next wake-up.
            let waited = tokio::select! {
                () = self.stop.cancelled() => return,
                waited = tokio::time::timeout(WRITER_WAIT, ended) => waited,
            };
            match waited {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!("could not wait for an outbox writer: {e}"),
                Err(_) => tracing::debug!("an outbox writer is still at work"),
            }
        }
    }
}

/// How long the dispatcher waits for its own process's writer to commit before it looks anyway.
const WRITER_WAIT: Duration = Duration::from_secs(10);
/// How often the outbox is looked at for rows other processes wrote (a hand-written row; a restore or
/// an upgrade restarts the bot, which looks at start). 500 idle tenants then connect under twice a second.
pub const RESCAN: Duration = Duration::from_secs(5 * 60);

/// Closes the connections `pool` keeps idle, when the bot expects to be idle: the work just done (a
/// start's or a rescan's) would otherwise keep them open until the idle timeout, and a fleet's starts and
/// rescans would add them up. A connection goes back to the pool by a task of its own, hence the pause.
async fn close_idle(pool: &PgPool) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Some(conn) = pool.try_acquire() {
        // A failed close only means the server ends the session itself.
        let _ = conn.close().await;
    }
}

/// `every`, give or take a tenth: a fleet started together does not rescan in lockstep.
fn jittered(every: Duration) -> TimeDelta {
    let every = every.mul_f64(rand::random_range(0.9..=1.1));
    TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX)
}

/// Whether a failed send says the user cannot be written to at all: they blocked the bot, deleted
/// their account, or never had a chat with it.
fn unreachable(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<RequestError>(),
        Some(RequestError::Api(ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound))
    )
}

/// Remembers that the customer cannot be reached, so broadcasts leave them out until they write again.
async fn mark_blocked(pool: &PgPool, user: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET blocked_at = now() WHERE user_id = $1 AND blocked_at IS NULL")
        .bind(user)
        .execute(pool)
        .await?;
    Ok(())
}

/// The platform's notice about the subscription (`billing::notice` writes the row): its kind, the date
/// it names, and the operator's contact and renewal link when configured. `None` for a kind this binary
/// does not know.
fn billing_notice(
    catalog: &Catalog,
    tz: chrono_tz::Tz,
    params: &serde_json::Value,
    now: DateTime<Utc>,
) -> Option<String> {
    let field = |name: &str| params.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let date: DateTime<Utc> = serde_json::from_value(params.get("date")?.clone()).ok()?;
    let shown = format::date(catalog, tz, date);
    let (contact, renew_url) = (field("contact"), field("renew_url"));
    let common = [("date", shown.as_str()), ("contact", contact), ("renew_url", renew_url)];
    let html = match field("notice") {
        kind @ ("ends_in_7d" | "ends_in_3d" | "ends_in_1d") => {
            // Counted when sent (a row sent late must not promise days that are gone), never more than
            // the notice's own lead.
            let days = match kind {
                "ends_in_7d" => 7,
                "ends_in_3d" => 3,
                _ => 1,
            };
            let left = (date - now).num_hours().div_euclid(24).clamp(0, days) as u64;
            let when = catalog.render_count(Text::IN_DAYS, left.max(1));
            let mut all = vec![("when", when.as_str())];
            all.extend(common);
            catalog.render(Text::AdminBillingEndsSoon, &all)
        }
        "grace" => catalog.render(Text::AdminBillingGrace, &common),
        "suspended" => catalog.render(Text::AdminBillingSuspended, &common),
        other => {
            tracing::warn!(notice = other, "a billing notice of a kind this binary does not know is skipped");
            return None;
        }
    };
    Some(html)
}

/// The old date and time of a move, from the row's parameters.
fn old_start(row: &Claimed, catalog: &Catalog, tz: chrono_tz::Tz) -> Option<(String, String)> {
    let old = row.params.get("old_starts_at").and_then(|v| serde_json::from_value(v.clone()).ok())?;
    Some(format::date_time(catalog, tz, old))
}

#[derive(sqlx::FromRow)]
struct Visit {
    service_name: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    status: String,
    first_name: String,
    phone: Option<String>,
    customer_id: i64,
    rated: bool,
}

/// When a visit is, as a reminder says it: "in 45 minutes", "in 2 hours", "tomorrow", "in 3 days".
fn when(catalog: &Catalog, tz: chrono_tz::Tz, start: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = ((start - now).num_seconds().max(0) + 59) / 60;
    if minutes < 60 {
        return catalog.render_count(Text::IN_MINUTES, minutes as u64);
    }
    let hours = (minutes + 30) / 60;
    let days = (start.with_timezone(&tz).date_naive() - now.with_timezone(&tz).date_naive()).num_days();
    match days {
        _ if hours < 12 => catalog.render_count(Text::IN_HOURS, hours as u64),
        0 => catalog.render_plain(Text::WhenToday, &[]),
        1 => catalog.render_plain(Text::WhenTomorrow, &[]),
        days => catalog.render_count(Text::IN_DAYS, days as u64),
    }
}

/// Writes what happened to a claimed row and lets go of it.
async fn record(conn: &mut PgConnection, id: i64, outcome: &Outcome, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let error = |e: &str| e.chars().take(1000).collect::<String>();
    let (state, due, last_error): (&str, Option<DateTime<Utc>>, Option<String>) = match outcome {
        Outcome::Sent => ("sent", None, None),
        Outcome::Failed(e) => ("failed", None, Some(error(e))),
        Outcome::Retry { at, error: e } => ("pending", Some(*at), Some(error(e))),
        Outcome::Expired => ("expired", None, None),
        Outcome::Dropped => ("cancelled", None, None),
    };
    let tried = matches!(outcome, Outcome::Sent | Outcome::Failed(_) | Outcome::Retry { .. });
    sqlx::query(
        "UPDATE outbox SET state = $2, due_at = coalesce($3, due_at), last_error = coalesce($4, last_error), \
         attempts = attempts + $5::int, sent_at = CASE WHEN $2 = 'sent' THEN $6 END, claimed_by = NULL, \
         claimed_until = NULL, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(due)
    .bind(last_error)
    .bind(i32::from(tried))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
