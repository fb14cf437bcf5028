//! A tenant's subscription (`botctl.subscriptions`): made with the tenant, read for `billing show|list`
//! and `tenant list|show`, cancelled with the tenant. The clock's transitions are not here.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use super::{Money, State, WAKE_CHANNEL, credit, ledger, period};
use crate::error::BadInput;
use crate::tenant::store;

/// A tenant's subscription as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub tenant: String,
    pub state: State,
    /// The end of the trial or the paid period; `None` for a complimentary tenant that never paid.
    pub paid_until: Option<DateTime<Utc>>,
    /// When grace ends and the bot is stopped (set by the clock as grace begins).
    pub grace_until: Option<DateTime<Utc>>,
    /// The plan last paid.
    pub plan: Option<String>,
    /// The bot must be started after a credit to a suspended tenant; the clock retries until it runs.
    pub start_pending: bool,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// When the current state ends on its own: the period's end for `trial`/`active`, grace's end for
    /// `grace`; nothing for the states only a payment or an operator ends.
    pub fn ends(&self) -> Option<DateTime<Utc>> {
        match self.state {
            State::Trial | State::Active => self.paid_until,
            State::Grace => self.grace_until,
            State::Suspended | State::Complimentary | State::Cancelled => None,
        }
    }

    /// `active until 2026-12-03 10:00 UTC`, `complimentary`: the state and its end, for tables.
    pub fn summary(&self) -> String {
        match self.ends() {
            Some(end) => format!("{} until {}", self.state, end.format("%Y-%m-%d %H:%M UTC")),
            None if self.start_pending => format!("{} (bot start pending)", self.state),
            None => self.state.to_string(),
        }
    }
}

/// A subscription's columns as read (with the tenant's slug as `tenant`); other readers flatten it
/// into their own rows.
#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    tenant: String,
    state: String,
    paid_until: Option<DateTime<Utc>>,
    grace_until: Option<DateTime<Utc>>,
    plan: Option<String>,
    start_pending: bool,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Subscription {
    type Error = anyhow::Error;

    fn try_from(row: Row) -> anyhow::Result<Self> {
        Ok(Subscription {
            state: row.state.parse().map_err(anyhow::Error::msg)?,
            tenant: row.tenant,
            paid_until: row.paid_until,
            grace_until: row.grace_until,
            plan: row.plan,
            start_pending: row.start_pending,
            updated_at: row.updated_at,
        })
    }
}

const SELECT: &str = "SELECT t.slug AS tenant, s.state, s.paid_until, s.grace_until, s.plan, s.start_pending, \
    s.updated_at FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id";

/// How a new tenant's subscription begins.
#[derive(Debug, Clone)]
pub enum Start {
    /// Never expires: the CLI's default, for tenants the operator runs for free.
    Complimentary,
    /// Free `days` from now, ending in grace like a paid period.
    Trial { days: i32 },
    /// Paid from now by this payment, credited in the tenant's own creating transaction.
    Paid(credit::Payment),
}

/// The live tenant's id, or a bad-input error naming it.
pub async fn tenant_id(conn: &mut PgConnection, slug: &str) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT id FROM botctl.tenants WHERE slug = $1 AND deleted_at IS NULL")
        .bind(slug)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| BadInput::new(format!("no tenant `{slug}` (see `botctl tenant list`)")).into())
}

/// Makes the new tenant's subscription, inside the transaction that creates the tenant. A trial writes
/// its ledger row and wakes the clock; a paid start goes through the one crediting path.
pub async fn begin(
    conn: &mut PgConnection,
    slug: &str,
    start: &Start,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let now = period::stored(now);
    let id = tenant_id(&mut *conn, slug).await?;
    sqlx::query("INSERT INTO botctl.subscriptions (tenant_id, state) VALUES ($1, 'complimentary')")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    match start {
        Start::Complimentary => {}
        Start::Trial { days } => {
            let until = period::extend(None, now, *days);
            sqlx::query(
                "UPDATE botctl.subscriptions SET state = 'trial', paid_until = $2, updated_at = $3 WHERE tenant_id = $1",
            )
            .bind(id)
            .bind(until)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let trial = ledger::Change {
                tenant_id: id,
                payment_id: None,
                kind: "trial",
                days: *days,
                amount: None,
                period_before: None,
                period_after: Some(until),
                actor,
                at: now,
            };
            ledger::record(&mut *conn, &trial).await?;
            store::record(conn, actor, Some(slug), "billing.trial", json!({ "days": days, "until": until })).await?;
            wake(conn).await?;
        }
        Start::Paid(payment) => {
            let request = credit::CreditRequest { tenant: slug.to_string(), payment: payment.clone() };
            credit::credit_in(conn, &request, actor, now).await?;
        }
    }
    Ok(())
}

/// Tells a sleeping clock to look again; delivered only if the transaction commits.
pub(super) async fn wake(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(WAKE_CHANNEL).execute(conn).await?;
    Ok(())
}

/// The live tenant's subscription; a tenant made before billing existed and somehow missed by its
/// migration reads as complimentary.
pub async fn for_tenant(conn: &mut PgConnection, slug: &str) -> anyhow::Result<Subscription> {
    tenant_id(&mut *conn, slug).await?;
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE t.slug = $1 AND t.deleted_at IS NULL")))
            .bind(slug)
            .fetch_optional(conn)
            .await?;
    match row {
        Some(row) => row.try_into(),
        None => Ok(Subscription {
            tenant: slug.to_string(),
            state: State::Complimentary,
            paid_until: None,
            grace_until: None,
            plan: None,
            start_pending: false,
            updated_at: Utc::now(),
        }),
    }
}

/// Every live tenant's subscription by slug (for `tenant list`).
pub async fn by_tenant(conn: &mut PgConnection) -> anyhow::Result<HashMap<String, Subscription>> {
    let rows: Vec<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE t.deleted_at IS NULL"))).fetch_all(conn).await?;
    rows.into_iter().map(|row| Subscription::try_from(row).map(|s| (s.tenant.clone(), s))).collect()
}

/// Which subscriptions `billing list` shows.
#[derive(Debug, Default)]
pub struct ListOptions {
    /// Only these states; empty means every state but `cancelled`.
    pub states: Vec<State>,
    /// Only those whose current state ends on its own within this span of `now`.
    pub expiring: Option<TimeDelta>,
    pub now: Option<DateTime<Utc>>,
}

/// A subscription with what `billing list` adds: the tenant's name and its last payment.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub display_name: String,
    pub last_payment: Option<Money>,
    pub last_paid_at: Option<DateTime<Utc>>,
}

pub async fn list(conn: &mut PgConnection, options: &ListOptions) -> anyhow::Result<Vec<Listed>> {
    #[derive(sqlx::FromRow)]
    struct Extra {
        #[sqlx(flatten)]
        row: Row,
        display_name: String,
        amount: Option<i64>,
        currency: Option<String>,
        paid_at: Option<DateTime<Utc>>,
    }
    let states: Vec<&str> = options.states.iter().map(|s| s.as_str()).collect();
    let now = options.now.unwrap_or_else(Utc::now);
    let horizon = options.expiring.map(|span| now + span);
    // A cancelled subscription's tenant is deleted: it is listed only when asked for by state.
    let rows: Vec<Extra> = sqlx::query_as(
        "SELECT t.slug AS tenant, s.state, s.paid_until, s.grace_until, s.plan, s.start_pending, s.updated_at, \
         t.display_name, p.amount, p.currency, p.created_at AS paid_at \
         FROM botctl.subscriptions s JOIN botctl.tenants t ON t.id = s.tenant_id \
         LEFT JOIN LATERAL (SELECT amount, currency, created_at FROM botctl.payments \
             WHERE tenant_id = s.tenant_id AND state = 'succeeded' ORDER BY created_at DESC, id DESC LIMIT 1) p ON true \
         WHERE (cardinality($1::text[]) = 0 AND t.deleted_at IS NULL OR s.state = ANY($1)) \
           AND ($2::timestamptz IS NULL OR CASE s.state \
                WHEN 'grace' THEN s.grace_until <= $2 \
                WHEN 'trial' THEN s.paid_until <= $2 \
                WHEN 'active' THEN s.paid_until <= $2 \
                ELSE false END) \
         ORDER BY CASE s.state WHEN 'grace' THEN s.grace_until ELSE s.paid_until END NULLS LAST, t.slug, t.id",
    )
    .bind(&states)
    .bind(horizon)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|extra| {
            let last_payment = match (extra.amount, extra.currency.and_then(|c| c.parse().ok())) {
                (Some(amount), Some(currency)) => Some(Money::new(amount, currency)),
                _ => None,
            };
            Ok(Listed {
                subscription: extra.row.try_into()?,
                display_name: extra.display_name,
                last_payment,
                last_paid_at: extra.paid_at,
            })
        })
        .collect()
}

/// Ends the subscription of a tenant being deleted, inside the deleting transaction: its money rows
/// stay, its period no longer matters, and no start is pending for a bot that will not exist.
pub async fn cancel(conn: &mut PgConnection, slug: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let changed = sqlx::query(
        "UPDATE botctl.subscriptions s SET state = 'cancelled', start_pending = false, updated_at = $2 \
         FROM botctl.tenants t WHERE t.id = s.tenant_id AND t.slug = $1 AND t.deleted_at IS NULL \
         AND s.state <> 'cancelled'",
    )
    .bind(slug)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() > 0 {
        wake(conn).await?;
    }
    Ok(())
}

/// Notes that the bot a credit asked for has started.
pub async fn started(conn: &mut PgConnection, slug: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE botctl.subscriptions s SET start_pending = false, updated_at = now() \
         FROM botctl.tenants t WHERE t.id = s.tenant_id AND t.slug = $1 AND t.deleted_at IS NULL AND s.start_pending",
    )
    .bind(slug)
    .execute(conn)
    .await?;
    Ok(())
}
