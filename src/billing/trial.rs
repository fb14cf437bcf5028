//! Extending a trial: more free days for a tenant still in its trial, recorded as every change of a
//! period is (a ledger row through `ledger::record`, an event) and told to the clock.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use super::subscription::{self, tenant_id, wake};
use super::{State, Subscription, ledger, period};
use crate::error::BadInput;
use crate::tenant::store;

/// The most days one extension adds: a trial is a trial, a longer gift is a complimentary tenant.
pub const MAX_EXTENSION_DAYS: i32 = 90;

/// Moves the end of the tenant's trial `days` later (1 to [`MAX_EXTENSION_DAYS`]), in one transaction
/// with a `trial` ledger row (the days, no amount), an event and the clock's wake-up. Only a
/// subscription in `trial` is extended; any other state is refused, named.
pub async fn extend_trial(
    conn: &mut PgConnection,
    slug: &str,
    days: i32,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Subscription> {
    if !(1..=MAX_EXTENSION_DAYS).contains(&days) {
        return Err(BadInput::new(format!("{days} days: a trial is extended by 1 to {MAX_EXTENSION_DAYS} days")).into());
    }
    let now = period::stored(now);
    let mut tx = conn.begin().await?;
    let tenant = tenant_id(&mut tx, slug).await?;
    // Locked, so a credit or the clock moving the trial to grace waits for this (or this for them).
    let found: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT state, paid_until FROM botctl.subscriptions WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
    let state = match &found {
        Some((state, _)) => state.parse().map_err(anyhow::Error::msg)?,
        // A tenant made before billing existed reads as complimentary.
        None => State::Complimentary,
    };
    let end = match (state, found.and_then(|(_, end)| end)) {
        (State::Trial, Some(end)) => end,
        (state, _) => {
            return Err(BadInput::new(format!(
                "tenant `{slug}`'s subscription is {state}, not trial: only a trial is extended (`botctl billing \
                 credit` adds paid days)"
            ))
            .into());
        }
    };
    let until = end + period::days(days);
    sqlx::query("UPDATE botctl.subscriptions SET paid_until = $2, updated_at = $3 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let extension = ledger::Change {
        tenant_id: tenant,
        payment_id: None,
        kind: "trial",
        days,
        amount: None,
        period_before: Some(end),
        period_after: Some(until),
        actor,
        at: now,
    };
    ledger::record(&mut tx, &extension).await?;
    let details = json!({ "days": days, "period_before": end, "until": until });
    store::record(&mut tx, actor, Some(slug), "billing.trial.extend", details).await?;
    wake(&mut tx).await?;
    tx.commit().await?;
    subscription::for_tenant(conn, slug).await
}
