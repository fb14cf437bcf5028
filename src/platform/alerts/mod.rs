//! The operators' alerts below their delivery: what an alert is, raising it exactly once per event (its
//! dedupe key), resolving it when its condition ends, and which alerts are due to which recipient (first
//! sends, and reminders after `remind_after` while still open). Delivery itself is the operator bot's;
//! the detectors that raise alerts are in `detect`.
//!
//! Everything is durable in the control plane, so a restart of the daemon neither repeats a send nor
//! forgets a reminder; time is a parameter, so tests move it.

pub mod detect;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgConnection;

type When = DateTime<Utc>;

/// A never-delivered alert that is already resolved is still sent once for this long after it was
/// raised; older ones are history (a recipient added later is not flooded with them).
pub const FRESH_FOR: TimeDelta = TimeDelta::days(1);
/// At most this many sends per `due` call: a burst of events is paged, never a flood.
pub const MAX_DUE: i64 = 100;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A running tenant's bot unhealthy, stopped or its container gone for longer than `unhealthy_after`.
    BotDown,
    BackupFailed,
    /// A tenant's period ended: its bot works until the end of grace.
    Grace,
    Suspended,
    PaymentReceived,
    /// A credit asked for the bot to start again and the start failed.
    StartFailed,
    /// This instance took the platform lease over from one on another host.
    Takeover,
    /// A buyer's paid order failed for good: the money is taken, the bot is not there.
    OrderFailed,
    /// A provider confirmed a payment that no order takes (another amount, an order over or unknown):
    /// money received that the operator refunds or settles by hand.
    PaymentUnmatched,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::BotDown,
        Kind::BackupFailed,
        Kind::Grace,
        Kind::Suspended,
        Kind::PaymentReceived,
        Kind::StartFailed,
        Kind::Takeover,
        Kind::OrderFailed,
        Kind::PaymentUnmatched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BotDown => "bot_down",
            Kind::BackupFailed => "backup_failed",
            Kind::Grace => "grace",
            Kind::Suspended => "suspended",
            Kind::PaymentReceived => "payment",
            Kind::StartFailed => "start_failed",
            Kind::Takeover => "takeover",
            Kind::OrderFailed => "order_failed",
            Kind::PaymentUnmatched => "payment_unmatched",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The button to act on an alert of this kind.
    pub fn action(self) -> Option<Action> {
        match self {
            Kind::BotDown => Some(Action::Restart),
            Kind::BackupFailed => Some(Action::BackupNow),
            Kind::Grace | Kind::Suspended | Kind::PaymentReceived => Some(Action::OpenCard),
            Kind::StartFailed => Some(Action::Start),
            Kind::Takeover | Kind::OrderFailed | Kind::PaymentUnmatched => None,
        }
    }

    /// Notices that ask nothing more of anyone: raised already resolved, so sent once and never reminded.
    /// A failed order asks a refund or a hand-made tenant, and an unmatched payment is settled outside
    /// botctl's sight (a refund at YooKassa, an order finished by hand): nothing here would see either
    /// done and resolve it, so each is sent once rather than reminded of forever.
    pub fn is_notice(self) -> bool {
        matches!(self, Kind::PaymentReceived | Kind::Takeover | Kind::OrderFailed | Kind::PaymentUnmatched)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The button an alert offers; the operator bot maps it to its own callback for the alert's tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Restart,
    BackupNow,
    OpenCard,
    Start,
}

/// An alert to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: Kind,
    /// The tenant's slug; its id is looked up among live tenants when raised.
    pub tenant: Option<String>,
    /// One event, one key: raising the same key again does nothing.
    pub key: String,
    /// The lasting condition (see `detect`) whose end resolves the alert.
    pub condition: Option<String>,
    /// What the operator is shown, in order: (name, value).
    pub facts: Vec<(String, String)>,
    pub raised_at: When,
}

impl Alert {
    pub fn action(&self) -> Option<Action> {
        self.kind.action()
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Raised {
    pub id: i64,
    pub kind: Kind,
    pub tenant: Option<String>,
    pub facts: Vec<(String, String)>,
    pub raised_at: When,
    pub resolved_at: Option<When>,
}

impl Raised {
    pub fn action(&self) -> Option<Action> {
        self.kind.action()
    }
}

/// One alert due to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub alert: Raised,
    pub chat_id: i64,
    pub send: Occasion,
}

/// Whether a send is the first to its recipient or a reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Occasion {
    First,
    Reminder,
}

/// The rule `due` applies in SQL, as a plain function: never sent to this recipient → sent once while
/// open or fresh; sent → reminded while still open, once `remind_after` has passed since the last send.
pub fn send_due(
    raised_at: When,
    resolved_at: Option<When>,
    last_sent: Option<When>,
    now: When,
    remind_after: TimeDelta,
) -> Option<Occasion> {
    match last_sent {
        None if resolved_at.is_none() || raised_at > now - FRESH_FOR => Some(Occasion::First),
        None => None,
        Some(last) if resolved_at.is_none() && last <= now - remind_after => Some(Occasion::Reminder),
        Some(_) => None,
    }
}

/// Raises `alert` unless one with its key exists; returns the new alert's id, `None` when it existed.
pub async fn raise(conn: &mut PgConnection, alert: &Alert) -> Result<Option<i64>, sqlx::Error> {
    let facts = serde_json::to_value(&alert.facts).unwrap_or_else(|_| serde_json::json!([]));
    let resolved = alert.kind.is_notice().then_some(alert.raised_at);
    let id = sqlx::query_scalar(
        "INSERT INTO botctl.alerts (kind, tenant_id, tenant, dedupe_key, condition, facts, raised_at, resolved_at) \
         VALUES ($1, (SELECT id FROM botctl.tenants WHERE slug = $2 AND deleted_at IS NULL), $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(alert.kind.as_str())
    .bind(&alert.tenant)
    .bind(&alert.key)
    .bind(&alert.condition)
    .bind(facts)
    .bind(alert.raised_at)
    .bind(resolved)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        tracing::info!(alert = id, kind = %alert.kind, tenant = alert.tenant.as_deref().unwrap_or("-"), "alert raised");
    }
    Ok(id)
}

/// Resolves the open alert with `key`; whether there was one.
pub async fn resolve(conn: &mut PgConnection, key: &str, now: When) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE botctl.alerts SET resolved_at = greatest($2, raised_at) WHERE dedupe_key = $1 AND resolved_at IS NULL",
    )
    .bind(key)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Resolves every open alert about `condition`; how many.
pub async fn resolve_condition(conn: &mut PgConnection, condition: &str, now: When) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE botctl.alerts SET resolved_at = greatest($2, raised_at) WHERE condition = $1 AND resolved_at IS NULL",
    )
    .bind(condition)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An alert row as read back.
#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    kind: String,
    tenant: Option<String>,
    facts: serde_json::Value,
    raised_at: When,
    resolved_at: Option<When>,
}

impl AlertRow {
    /// `None` for a kind this binary does not know (a newer one wrote it): left for that one to show.
    fn into_raised(self) -> Option<Raised> {
        Some(Raised {
            id: self.id,
            kind: Kind::parse(&self.kind)?,
            tenant: self.tenant,
            facts: serde_json::from_value(self.facts).unwrap_or_default(),
            raised_at: self.raised_at,
            resolved_at: self.resolved_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    #[sqlx(flatten)]
    alert: AlertRow,
    chat_id: i64,
    last_sent_at: Option<When>,
}

/// What is due to `recipients` at `now`, oldest first, at most `MAX_DUE` (see `send_due`).
pub async fn due(
    conn: &mut PgConnection,
    recipients: &[i64],
    now: When,
    remind_after: TimeDelta,
) -> Result<Vec<Due>, sqlx::Error> {
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT a.id, a.kind, a.tenant, a.facts, a.raised_at, a.resolved_at, r.chat AS chat_id, d.last_sent_at \
         FROM botctl.alerts a CROSS JOIN unnest($1::bigint[]) AS r(chat) \
         LEFT JOIN botctl.alert_deliveries d ON d.alert_id = a.id AND d.chat_id = r.chat \
         WHERE a.raised_at <= $2 AND ( \
             (d.alert_id IS NULL AND (a.resolved_at IS NULL OR a.raised_at > $2 - $4::interval)) \
          OR (a.resolved_at IS NULL AND d.last_sent_at <= $2 - $3::interval)) \
         ORDER BY a.raised_at, a.id, r.chat LIMIT $5",
    )
    .bind(recipients)
    .bind(now)
    .bind(remind_after)
    .bind(FRESH_FOR)
    .bind(MAX_DUE)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let alert = row.alert.into_raised()?;
            let send = send_due(alert.raised_at, alert.resolved_at, row.last_sent_at, now, remind_after)?;
            Some(Due { alert, chat_id: row.chat_id, send })
        })
        .collect())
}

/// Records that `alert` was sent to `chat` at `now` (a first send or a reminder).
pub async fn delivered(conn: &mut PgConnection, alert: i64, chat: i64, now: When) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO botctl.alert_deliveries (alert_id, chat_id, sent_at, last_sent_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (alert_id, chat_id) DO UPDATE \
         SET last_sent_at = greatest(alert_deliveries.last_sent_at, $3), sends = alert_deliveries.sends + 1",
    )
    .bind(alert)
    .bind(chat)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The alerts about one tenant, newest first (the tenant card, tests).
pub async fn for_tenant(conn: &mut PgConnection, tenant: &str) -> Result<Vec<Raised>, sqlx::Error> {
    let rows: Vec<AlertRow> = sqlx::query_as(
        "SELECT id, kind, tenant, facts, raised_at, resolved_at FROM botctl.alerts WHERE tenant = $1 \
         ORDER BY raised_at DESC, id DESC",
    )
    .bind(tenant)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter_map(AlertRow::into_raised).collect())
}

#[cfg(test)]
mod tests;
