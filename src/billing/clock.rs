//! The subscription clock: when a subscription changes state (a trial's or period's end → `grace`, the
//! end of grace → `suspended`) as plain rules, and the store side — the next instant anything is due,
//! and `advance`, which applies every change due at a given `now` exactly once and writes the notices.
//!
//! Exactly once: each change is a conditional UPDATE (`WHERE state = old AND instant <= now`) in its own
//! transaction, with its event and its notice, so two clocks at once, or one restarted halfway, find
//! nothing left to do where the other already did it. `now` is a parameter: tests move it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{Acquire, PgConnection, PgPool};

use crate::db::servers::Servers;

use super::State;
use super::notice::{self, Kind, Notice, NoticeOptions};

/// A subscription as the clock sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub state: State,
    pub paid_until: Option<DateTime<Utc>>,
    pub grace_until: Option<DateTime<Utc>>,
}

/// A change of state the clock makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The period (or trial) ended: the bot keeps working until `grace_until`.
    Grace { grace_until: DateTime<Utc> },
    /// Grace ended: the bot is stopped.
    Suspend,
}

impl Change {
    pub fn to(self) -> State {
        match self {
            Change::Grace { .. } => State::Grace,
            Change::Suspend => State::Suspended,
        }
    }
}

/// The subscription's next change and the instant it falls due, whatever `now` is; `None` for a
/// subscription the clock never changes (complimentary, cancelled, suspended until a credit).
pub fn next_change(sub: &Subscription, grace: TimeDelta) -> Option<(Change, DateTime<Utc>)> {
    match sub.state {
        State::Trial | State::Active => {
            let end = sub.paid_until?;
            Some((Change::Grace { grace_until: end + grace }, end))
        }
        State::Grace => Some((Change::Suspend, sub.grace_until?)),
        State::Suspended | State::Complimentary | State::Cancelled => None,
    }
}

/// The change due at `now`, if any.
pub fn due(sub: &Subscription, grace: TimeDelta, now: DateTime<Utc>) -> Option<(Change, DateTime<Utc>)> {
    next_change(sub, grace).filter(|(_, at)| *at <= now)
}

/// The subscription after `change`.
pub fn apply(sub: &Subscription, change: Change) -> Subscription {
    match change {
        Change::Grace { grace_until } => Subscription { state: State::Grace, grace_until: Some(grace_until), ..*sub },
        Change::Suspend => Subscription { state: State::Suspended, ..*sub },
    }
}

/// What `advance` needs besides the database and the time.
#[derive(Debug, Clone)]
pub struct ClockOptions {
    /// `billing.grace`.
    pub grace: Duration,
    pub notices: NoticeOptions,
    /// Who the events name.
    pub actor: String,
}

/// One change `advance` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub tenant_id: i64,
    pub tenant: String,
    pub from: State,
    pub to: State,
    /// The instant it fell due (at or before the `now` it was applied at).
    pub due_at: DateTime<Utc>,
}

/// What one `advance` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Advanced {
    pub changes: Vec<Applied>,
    /// Notices written (each once per period).
    pub notices: usize,
    /// Notices that could not be written (a tenant schema not yet migrated, say); tried at the next wake.
    pub notice_failures: usize,
}

/// The soonest instant after which `advance` has something to do: a change falls due, or a notice
/// before a period's end. One statement over the two partial indexes of the clock's scan. A change
/// that is overdue (a failed `advance`) makes it past.
pub async fn next_due(pool: &PgPool, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let leads: Vec<String> = notice::lead_days()
        .map(|days| {
            format!(
                "(SELECT min(paid_until) FROM botctl.subscriptions WHERE state IN ('trial', 'active') \
                 AND paid_until > $1 + interval '{days} days') - interval '{days} days'"
            )
        })
        .collect();
    let sql = format!(
        "SELECT least((SELECT min(paid_until) FROM botctl.subscriptions WHERE state IN ('trial', 'active')), \
                      (SELECT min(grace_until) FROM botctl.subscriptions WHERE state = 'grace'), {})",
        leads.join(", ")
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(now).fetch_one(pool).await
}

/// How far behind the clock is: how long ago the oldest change still to be made fell due (zero when none is).
pub async fn lag(pool: &PgPool, now: DateTime<Utc>) -> Result<TimeDelta, sqlx::Error> {
    let oldest: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT least((SELECT min(paid_until) FROM botctl.subscriptions WHERE state IN ('trial', 'active')), \
                      (SELECT min(grace_until) FROM botctl.subscriptions WHERE state = 'grace'))",
    )
    .fetch_one(pool)
    .await?;
    Ok(oldest.map_or(TimeDelta::zero(), |at| (now - at).max(TimeDelta::zero())))
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: i64,
    slug: String,
    state: String,
    paid_until: Option<DateTime<Utc>>,
    grace_until: Option<DateTime<Utc>>,
}

impl Row {
    fn subscription(&self) -> anyhow::Result<Subscription> {
        let state = self.state.parse().map_err(anyhow::Error::msg)?;
        Ok(Subscription { state, paid_until: self.paid_until, grace_until: self.grace_until })
    }
}

/// Applies every change due at `now`, each once, then writes the notices due at `now` that are not yet
/// written. A subscription two changes behind (the daemon was down past the end of grace) takes both,
/// each with its own due instant.
pub async fn advance(servers: &Servers, now: DateTime<Utc>, options: &ClockOptions) -> anyhow::Result<Advanced> {
    let pool = servers.control();
    let grace = TimeDelta::from_std(options.grace)?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.tenant_id, t.slug, s.state, s.paid_until, s.grace_until \
         FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE (s.state IN ('trial', 'active') AND s.paid_until <= $1) OR (s.state = 'grace' AND s.grace_until <= $1) \
         ORDER BY s.tenant_id",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut advanced = Advanced::default();
    for row in rows {
        let mut sub = row.subscription()?;
        while let Some((change, at)) = due(&sub, grace, now) {
            let mut conn = pool.acquire().await?;
            let Some(outcome) = change_once(&mut conn, &row, &sub, change, at, now, options).await? else {
                // Another clock made it (or a credit came first): what is left is its to do.
                break;
            };
            advanced.notices += usize::from(outcome.notice == Some(true));
            advanced.notice_failures += usize::from(outcome.notice.is_none());
            advanced.changes.push(Applied {
                tenant_id: row.tenant_id,
                tenant: row.slug.clone(),
                from: sub.state,
                to: change.to(),
                due_at: at,
            });
            sub = apply(&sub, change);
        }
    }
    let (written, failed) = write_notices(servers, now, &options.notices).await?;
    advanced.notices += written;
    advanced.notice_failures += failed;
    Ok(advanced)
}

struct Outcome {
    /// Whether the change's notice was written; `None` when writing it failed.
    notice: Option<bool>,
}

/// Makes one change in its own transaction, with its event and notice; `None` when the subscription is
/// no longer as read (another clock made the change, or a credit came between).
async fn change_once(
    conn: &mut PgConnection,
    row: &Row,
    sub: &Subscription,
    change: Change,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    options: &ClockOptions,
) -> anyhow::Result<Option<Outcome>> {
    let mut tx = Acquire::begin(&mut *conn).await?;
    let (updated, action, kind, date) = match change {
        Change::Grace { grace_until } => {
            let updated = sqlx::query(
                "UPDATE botctl.subscriptions SET state = 'grace', grace_until = $3, updated_at = now() \
                 WHERE tenant_id = $1 AND state = $2 AND paid_until = $4 AND paid_until <= $5",
            )
            .bind(row.tenant_id)
            .bind(sub.state.as_str())
            .bind(grace_until)
            .bind(at)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            (updated, "billing.grace", Kind::Grace, grace_until)
        }
        Change::Suspend => {
            let updated = sqlx::query(
                "UPDATE botctl.subscriptions SET state = 'suspended', updated_at = now() \
                 WHERE tenant_id = $1 AND state = 'grace' AND grace_until = $2 AND grace_until <= $3",
            )
            .bind(row.tenant_id)
            .bind(at)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            (updated, "billing.suspend", Kind::Suspended, at)
        }
    };
    if updated == 0 {
        return Ok(None);
    }
    let details = json!({
        "from": sub.state,
        "to": change.to(),
        "due_at": at,
        "paid_until": sub.paid_until,
        "grace_until": match change { Change::Grace { grace_until } => Some(grace_until), Change::Suspend => sub.grace_until },
    });
    sqlx::query("INSERT INTO botctl.events (actor, tenant, action, details) VALUES ($1, $2, $3, $4)")
        .bind(&options.actor)
        .bind(&row.slug)
        .bind(action)
        .bind(details)
        .execute(&mut *tx)
        .await?;
    // The notice goes with the change when it can; when it cannot (the tenant's schema is not migrated
    // yet), the change is made all the same and the notice is tried again at the next wake. A tenant
    // on another server gets it from `write_notices` just after: its outbox is not in this transaction.
    let on_main: bool = sqlx::query_scalar("SELECT server = 'main' FROM botctl.tenants WHERE id = $1")
        .bind(row.tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    let notice = match sub.paid_until {
        Some(_) if !on_main => Some(false),
        Some(period_end) => {
            let notice = Notice { tenant_id: row.tenant_id, slug: &row.slug, kind, period_end, date };
            let mut savepoint = Acquire::begin(&mut *tx).await?;
            match notice::write(&mut savepoint, &notice, &options.notices, now).await {
                Ok(written) => {
                    savepoint.commit().await?;
                    Some(written)
                }
                Err(e) => {
                    tracing::warn!(tenant = %row.slug, "the {} notice could not be written: {e:#}", kind.as_str());
                    savepoint.rollback().await?;
                    None
                }
            }
        }
        None => Some(false),
    };
    tx.commit().await?;
    Ok(Some(Outcome { notice }))
}

/// A subscription and the notices already written for its period.
#[derive(sqlx::FromRow)]
struct Pending {
    #[sqlx(flatten)]
    subscription: Row,
    sent: Vec<String>,
}

/// Writes every notice due at `now` not yet written for its period: the ones before a period's end,
/// and any that could not go with their change. Returns (written, failed).
async fn write_notices(
    servers: &Servers,
    now: DateTime<Utc>,
    options: &NoticeOptions,
) -> anyhow::Result<(usize, usize)> {
    let pool = servers.control();
    let max_lead = notice::lead_days().max().unwrap_or(0);
    let pending: Vec<Pending> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.tenant_id, t.slug, s.state, s.paid_until, s.grace_until, \
                array(SELECT n.kind FROM botctl.billing_notices n \
                      WHERE n.tenant_id = s.tenant_id AND n.period_end = s.paid_until) AS sent \
         FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         WHERE t.deleted_at IS NULL AND ( \
            (s.state IN ('trial', 'active') AND s.paid_until > $1 AND s.paid_until <= $1 + interval '{max_lead} days') \
            OR (s.state IN ('grace', 'suspended') AND NOT EXISTS (SELECT 1 FROM botctl.billing_notices n \
                WHERE n.tenant_id = s.tenant_id AND n.period_end = s.paid_until AND n.kind = s.state)))"
    )))
    .bind(now)
    .fetch_all(pool)
    .await?;
    let (mut written, mut failed) = (0, 0);
    for Pending { subscription: row, sent } in pending {
        let Ok(state) = row.state.parse::<State>() else { continue };
        let (Some(kind), Some(period_end)) = (notice::due(state, row.paid_until, now), row.paid_until) else {
            continue;
        };
        if sent.iter().any(|k| k == kind.as_str()) {
            continue;
        }
        let date = match kind {
            Kind::Grace | Kind::Suspended => row.grace_until.unwrap_or(period_end),
            _ => period_end,
        };
        let notice = Notice { tenant_id: row.tenant_id, slug: &row.slug, kind, period_end, date };
        let result = async {
            let server = servers.of_tenant(&row.slug).await?;
            if !server.is_main() {
                // Its outbox rows first, on its server (written again, they change nothing), then the
                // control plane's key: a failure between leaves the key unwritten, for the next wake.
                notice::enqueue(&mut *server.pool.acquire().await?, &notice, options, now).await?;
                return notice::claim(&mut *pool.acquire().await?, &notice, now).await;
            }
            let mut tx = pool.begin().await?;
            let done = notice::write(&mut tx, &notice, options, now).await?;
            tx.commit().await?;
            anyhow::Ok(done)
        }
        .await;
        match result {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(tenant = %row.slug, "the {} notice could not be written: {e:#}", kind.as_str());
                failed += 1;
            }
        }
    }
    Ok((written, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::hours(hours)
    }

    const GRACE: TimeDelta = TimeDelta::days(3);

    fn sub(state: State, paid_until: Option<DateTime<Utc>>, grace_until: Option<DateTime<Utc>>) -> Subscription {
        Subscription { state, paid_until, grace_until }
    }

    #[test]
    fn a_trial_or_period_enters_grace_at_its_end_and_grace_lasts_the_setting() {
        for state in [State::Trial, State::Active] {
            let s = sub(state, Some(at(10)), None);
            assert_eq!(due(&s, GRACE, at(9)), None);
            let expected = (Change::Grace { grace_until: at(10) + GRACE }, at(10));
            assert_eq!(due(&s, GRACE, at(10)), Some(expected));
            assert_eq!(next_change(&s, GRACE), Some(expected));
        }
    }

    #[test]
    fn grace_ends_in_suspension_at_its_instant() {
        let s = sub(State::Grace, Some(at(0)), Some(at(72)));
        assert_eq!(due(&s, GRACE, at(71)), None);
        assert_eq!(due(&s, GRACE, at(72)), Some((Change::Suspend, at(72))));
    }

    #[test]
    fn a_clock_far_behind_makes_both_changes_each_at_its_own_instant() {
        let s = sub(State::Active, Some(at(0)), None);
        let (first, first_at) = due(&s, GRACE, at(500)).unwrap();
        assert_eq!(first_at, at(0));
        let s = apply(&s, first);
        assert_eq!(s.state, State::Grace);
        let (second, second_at) = due(&s, GRACE, at(500)).unwrap();
        assert_eq!((second, second_at), (Change::Suspend, at(72)));
        let s = apply(&s, second);
        assert_eq!(due(&s, GRACE, at(500)), None);
    }

    #[test]
    fn zero_grace_suspends_at_the_end_itself() {
        let s = apply(&sub(State::Trial, Some(at(5)), None), Change::Grace { grace_until: at(5) });
        assert_eq!(due(&s, TimeDelta::zero(), at(5)), Some((Change::Suspend, at(5))));
    }

    #[test]
    fn free_suspended_and_cancelled_subscriptions_never_change_by_themselves() {
        for state in [State::Complimentary, State::Cancelled, State::Suspended] {
            assert_eq!(next_change(&sub(state, Some(at(0)), Some(at(1))), GRACE), None);
        }
    }
}
