//! The detectors the platform daemon's leader runs on a schedule: each reads what the control plane (and
//! the engine) records and raises one alert per event. None keeps a watermark: an event's dedupe key makes
//! a rescan, or a restart halfway, harmless. Lasting conditions (a bot down, a start that failed) keep
//! their first sighting in `alert_conditions`, so "for longer than" survives a restart and an episode
//! keeps one alert; their end resolves it.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{Acquire, PgPool};

use super::{Alert, Kind, raise};
use crate::billing::{Currency, Money};
use crate::runtime::Engine;
use crate::tenant::fleet::{self, Down};

type When = DateTime<Utc>;

/// Events older than this are never alerted, whatever the epoch says: a daemon down for longer has
/// history to read, not news.
pub const LOOKBACK: TimeDelta = TimeDelta::days(7);
/// A fact longer than this (an error's chain) is cut: an alert is a notice, the log has the rest.
const FACT_CHARS: usize = 300;

/// What the detectors need besides the database and the time.
#[derive(Debug, Clone, Copy)]
pub struct DetectOptions {
    /// `platform.alerts.unhealthy_after`: how long a bot is down before it is alerted.
    pub unhealthy_after: TimeDelta,
}

/// What one pass of every detector did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned {
    pub raised: usize,
    pub resolved: u64,
    /// Detectors that failed this pass, with why; the next pass tries them again.
    pub errors: Vec<String>,
}

impl Scanned {
    fn add(&mut self, what: &str, result: anyhow::Result<(usize, u64)>) {
        match result {
            Ok((raised, resolved)) => {
                self.raised += raised;
                self.resolved += resolved;
            }
            Err(e) => self.errors.push(format!("{what}: {e:#}")),
        }
    }
}

/// Every detector once; `engine` (with this installation's id) when the engine is reachable, since
/// without it no bot can be told down — nor up again.
pub async fn scan(pool: &PgPool, engine: Option<&Engine>, now: When, options: &DetectOptions) -> Scanned {
    let mut scanned = Scanned::default();
    if let Some(engine) = engine {
        scanned.add("bots", bots(pool, engine, now, options.unhealthy_after).await);
    }
    scanned.add("backups", backups(pool, now).await);
    scanned.add("billing", billing(pool, now).await);
    scanned.add("payments", payments(pool, now).await);
    scanned.add("starts", starts(pool, now).await.map(|resolved| (0, resolved)));
    scanned
}

/// Bots of running tenants that are unhealthy, stopped or gone, as the engine and the control plane see
/// them together (`fleet::survey`).
pub async fn bots(
    pool: &PgPool,
    engine: &Engine,
    now: When,
    unhealthy_after: TimeDelta,
) -> anyhow::Result<(usize, u64)> {
    let installation = crate::db::control::installation(pool).await?;
    let survey = fleet::survey(pool, engine, &installation).await?;
    Ok(bots_seen(pool, &survey.down, now, unhealthy_after).await?)
}

/// The down bots one survey found: each one's condition is kept (or started), alerted once it has lasted
/// `unhealthy_after`; the condition of every bot no longer down ends, resolving its alert.
pub async fn bots_seen(
    pool: &PgPool,
    down: &[Down],
    now: When,
    unhealthy_after: TimeDelta,
) -> Result<(usize, u64), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut raised = 0;
    let mut keys = Vec::with_capacity(down.len());
    for bot in down {
        let condition = format!("bot_down:{}", bot.tenant);
        let first_seen = seen(&mut conn, &condition, &bot.tenant, now).await?;
        keys.push(condition.clone());
        if first_seen > now - unhealthy_after {
            continue;
        }
        let facts = vec![
            ("container".to_string(), bot.status.clone().unwrap_or_else(|| "gone".to_string())),
            ("health".to_string(), bot.health.clone().unwrap_or_else(|| "-".to_string())),
            ("since".to_string(), first_seen.to_rfc3339()),
        ];
        let alert = Alert {
            kind: Kind::BotDown,
            tenant: Some(bot.tenant.clone()),
            key: format!("{condition}@{}", first_seen.timestamp_micros()),
            condition: Some(condition),
            facts,
            raised_at: now,
        };
        raised += usize::from(raise(&mut conn, &alert).await?.is_some());
    }
    let resolved = end_conditions(&mut conn, "bot_down:", &keys, now).await?;
    Ok((raised, resolved))
}

/// A credit asked for a bot to start and the daemon's start failed: one alert per episode (until the
/// start succeeds, `starts` resolves it).
pub async fn start_failed(pool: &PgPool, tenant: &str, error: &str, now: When) -> Result<Option<i64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let condition = format!("start_failed:{tenant}");
    let first_seen = seen(&mut conn, &condition, tenant, now).await?;
    let alert = Alert {
        kind: Kind::StartFailed,
        tenant: Some(tenant.to_string()),
        key: format!("{condition}@{}", first_seen.timestamp_micros()),
        condition: Some(condition),
        facts: vec![("error".to_string(), short(error))],
        raised_at: now,
    };
    raise(&mut conn, &alert).await
}

/// Ends the failed-start episodes of tenants no longer waiting for a start (started, or gone).
pub async fn starts(pool: &PgPool, now: When) -> anyhow::Result<u64> {
    let mut conn = pool.acquire().await?;
    let pending: Vec<String> = sqlx::query_scalar(
        "SELECT 'start_failed:' || t.slug FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE s.start_pending AND t.deleted_at IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(end_conditions(&mut conn, "start_failed:", &pending, now).await?)
}

/// Each tenant that failed in a `botctl backup` run (its event), once; resolved by a later backup of
/// that tenant.
pub async fn backups(pool: &PgPool, now: When) -> anyhow::Result<(usize, u64)> {
    let mut conn = pool.acquire().await?;
    let failed: Vec<FailedBackup> = sqlx::query_as(
        "SELECT e.id, e.at, f.slug, e.details->'errors'->>f.slug AS error, e.details->>'dest' AS dest FROM botctl.events e \
         CROSS JOIN LATERAL jsonb_array_elements_text( \
             CASE WHEN jsonb_typeof(e.details->'failed') = 'array' THEN e.details->'failed' ELSE '[]' END) AS f(slug) \
         WHERE e.action = 'backup' AND e.at > (SELECT greatest(max(since), $1) FROM botctl.alerts_epoch) \
         ORDER BY e.id",
    )
    .bind(now - LOOKBACK)
    .fetch_all(&mut *conn)
    .await?;
    let mut raised = 0;
    for FailedBackup { id: event, at, slug, error, dest } in failed {
        let mut facts = vec![("at".to_string(), at.to_rfc3339())];
        facts.extend(error.map(|e| ("error".to_string(), short(&e))));
        facts.extend(dest.map(|d| ("dest".to_string(), d)));
        let alert = Alert {
            kind: Kind::BackupFailed,
            key: format!("backup_failed:{event}:{slug}"),
            tenant: Some(slug),
            condition: None,
            facts,
            raised_at: now,
        };
        raised += usize::from(raise(&mut conn, &alert).await?.is_some());
    }
    let resolved = sqlx::query(
        "UPDATE botctl.alerts a SET resolved_at = greatest($1, a.raised_at) FROM botctl.events e \
         WHERE a.kind = 'backup_failed' AND a.resolved_at IS NULL \
           AND a.dedupe_key = 'backup_failed:' || e.id || ':' || a.tenant \
           AND EXISTS (SELECT 1 FROM botctl.backups b WHERE b.tenant = a.tenant AND b.created_at > e.at)",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((raised, resolved))
}

/// Each tenant entering grace or suspended (the clock's events), once per period; resolved when the
/// subscription has left that state.
pub async fn billing(pool: &PgPool, now: When) -> anyhow::Result<(usize, u64)> {
    let mut conn = pool.acquire().await?;
    let changes: Vec<BillingChange> = sqlx::query_as(
        "SELECT e.action, e.tenant, e.at, e.details->>'paid_until' AS paid_until, e.details->>'grace_until' AS grace_until \
         FROM botctl.events e \
         WHERE e.action IN ('billing.grace', 'billing.suspend') AND e.tenant IS NOT NULL \
           AND e.at > (SELECT greatest(max(since), $1) FROM botctl.alerts_epoch) ORDER BY e.id",
    )
    .bind(now - LOOKBACK)
    .fetch_all(&mut *conn)
    .await?;
    let mut raised = 0;
    for BillingChange { action, tenant: slug, at, paid_until, grace_until } in changes {
        let kind = if action == "billing.grace" { Kind::Grace } else { Kind::Suspended };
        let period_end = paid_until.clone().unwrap_or_else(|| "-".to_string());
        let mut facts = vec![("at".to_string(), at.to_rfc3339())];
        facts.extend(paid_until.map(|p| ("paid_until".to_string(), p)));
        facts.extend(grace_until.map(|g| ("grace_until".to_string(), g)));
        let alert = Alert {
            kind,
            key: format!("{kind}:{slug}:{period_end}"),
            tenant: Some(slug),
            condition: None,
            facts,
            raised_at: now,
        };
        raised += usize::from(raise(&mut conn, &alert).await?.is_some());
    }
    let resolved = sqlx::query(
        "UPDATE botctl.alerts a SET resolved_at = greatest($1, a.raised_at) \
         WHERE a.kind IN ('grace', 'suspended') AND a.resolved_at IS NULL AND NOT EXISTS ( \
             SELECT 1 FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
             WHERE t.slug = a.tenant AND t.deleted_at IS NULL AND s.state = a.kind)",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((raised, resolved))
}

/// Each payment that succeeded, once (its provider and reference are the key); a notice, never reminded.
pub async fn payments(pool: &PgPool, now: When) -> anyhow::Result<(usize, u64)> {
    let mut conn = pool.acquire().await?;
    type Row = (String, String, i64, String, Option<String>, i32, When, String);
    let paid: Vec<Row> = sqlx::query_as(
        "SELECT p.provider, p.reference, p.amount, p.currency, p.plan, p.days, p.updated_at, t.slug \
         FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
         WHERE p.state = 'succeeded' AND p.updated_at > (SELECT greatest(max(since), $1) FROM botctl.alerts_epoch) \
         ORDER BY p.id",
    )
    .bind(now - LOOKBACK)
    .fetch_all(&mut *conn)
    .await?;
    let mut raised = 0;
    for (provider, reference, amount, currency, plan, days, at, slug) in paid {
        let amount = match currency.parse::<Currency>() {
            Ok(c) => Money::new(amount, c).to_string(),
            Err(_) => format!("{amount} {currency} (minor units)"),
        };
        let mut facts = vec![("amount".to_string(), amount), ("days".to_string(), days.to_string())];
        facts.extend(plan.map(|p| ("plan".to_string(), p)));
        facts.push(("provider".to_string(), provider.clone()));
        facts.push(("at".to_string(), at.to_rfc3339()));
        let alert = Alert {
            kind: Kind::PaymentReceived,
            key: format!("payment:{provider}:{reference}"),
            tenant: Some(slug),
            condition: None,
            facts,
            raised_at: now,
        };
        raised += usize::from(raise(&mut conn, &alert).await?.is_some());
    }
    Ok((raised, 0))
}

/// This instance (`host`, `pid`) has just taken the lease: records it as the holder, and raises a
/// takeover alert when the previous holder ran on another host.
pub async fn took_lease(pool: &PgPool, host: &str, pid: u32, now: When) -> Result<Option<i64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let previous: Option<(String, i32, When)> =
        sqlx::query_as("SELECT host, pid, since FROM botctl.platform_leader FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    let pid = i32::try_from(pid).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO botctl.platform_leader (host, pid, since) VALUES ($1, $2, $3) \
         ON CONFLICT (only_row) DO UPDATE SET host = $1, pid = $2, since = $3",
    )
    .bind(host)
    .bind(pid)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let mut raised = None;
    if let Some((from, from_pid, since)) = previous.filter(|(from, _, _)| from != host) {
        let alert = Alert {
            kind: Kind::Takeover,
            tenant: None,
            key: format!("takeover:{}:{host}", now.timestamp_micros()),
            condition: None,
            facts: vec![
                ("from".to_string(), format!("{from} (pid {from_pid})")),
                ("leader_since".to_string(), since.to_rfc3339()),
                ("to".to_string(), format!("{host} (pid {pid})")),
            ],
            raised_at: now,
        };
        raised = raise(&mut tx, &alert).await?;
    }
    tx.commit().await?;
    Ok(raised)
}

/// Keeps `condition` (first seen now, or still seen) and returns when it was first seen.
async fn seen(conn: &mut sqlx::PgConnection, condition: &str, tenant: &str, now: When) -> Result<When, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO botctl.alert_conditions (key, tenant, first_seen, last_seen) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (key) DO UPDATE SET last_seen = greatest(alert_conditions.last_seen, $3) RETURNING first_seen",
    )
    .bind(condition)
    .bind(tenant)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Ends the conditions under `prefix` that are not in `still`, resolving their alerts; how many alerts.
async fn end_conditions(
    conn: &mut sqlx::PgConnection,
    prefix: &str,
    still: &[String],
    now: When,
) -> Result<u64, sqlx::Error> {
    // One statement, so that a condition never ends without its alerts resolved.
    let resolved = sqlx::query(
        "WITH ended AS (DELETE FROM botctl.alert_conditions \
                        WHERE starts_with(key, $1) AND NOT (key = ANY($2)) RETURNING key) \
         UPDATE botctl.alerts SET resolved_at = greatest($3, raised_at) \
         WHERE resolved_at IS NULL AND condition IN (SELECT key FROM ended)",
    )
    .bind(prefix)
    .bind(still)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(resolved.rows_affected())
}

#[derive(sqlx::FromRow)]
struct FailedBackup {
    id: i64,
    at: When,
    slug: String,
    error: Option<String>,
    dest: Option<String>,
}

#[derive(sqlx::FromRow)]
struct BillingChange {
    action: String,
    tenant: String,
    at: When,
    paid_until: Option<String>,
    grace_until: Option<String>,
}

/// At most `FACT_CHARS` characters.
fn short(text: &str) -> String {
    match text.char_indices().nth(FACT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_facts_are_cut_on_a_character_boundary_and_short_ones_kept() {
        assert_eq!(short("disk full"), "disk full");
        let russian = "ошибка ".repeat(100);
        let cut = short(&russian);
        assert_eq!(cut.chars().count(), FACT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
