//! Moving an order on: one transaction that checks the transition, updates the order only from the
//! state the caller saw, appends its history row, drops the bot token once the tenant holds it, and
//! wakes whoever waits on orders. An order's history, as appended.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::WAKE_CHANNEL;
use super::machine::{Event, State, next};
use super::model::{COLUMNS, Facts, Order, OrderRow};
use super::store::{sold_plan, unique_violation};
use crate::billing::{Currency, Provider, period};
use crate::error::BadInput;

/// One step of an order: from the state the caller saw, on an event, with what the event brought.
#[derive(Debug, Clone)]
pub struct Transition {
    pub order: i64,
    pub from: State,
    pub event: Event,
    pub facts: Facts,
    /// Who moves it, for the history (`sales-bot`, `yookassa-webhook`, `resumer`, an operator).
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// Whether this call moved the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Moved,
    /// The order was no longer in `from` (another delivery, the poller or a resumed daemon moved it
    /// first): nothing changed, and the order is returned as it stands.
    NotInState,
}

#[derive(Debug, Clone, Serialize)]
pub struct Advanced {
    pub outcome: Outcome,
    pub order: Order,
}

/// One row of an order's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HistoryRow {
    pub at: DateTime<Utc>,
    /// None for the row that made the order.
    pub from_state: Option<String>,
    pub to_state: String,
    /// The event's name, or `created`.
    pub event: String,
    pub actor: String,
    pub facts: serde_json::Value,
}

/// States the bot token is no longer needed in: the tenant holds it, or there will be no tenant.
fn drops_token(state: State) -> bool {
    matches!(state, State::Provisioned | State::Done | State::Canceled | State::Failed)
}

/// Moves the order on `step.event` if it is still in `step.from`; a second call from the same state
/// (a duplicate notification, a resumed step) changes nothing and says so. A transition the rules do
/// not allow is an error naming [`super::InvalidTransition`], whatever state the order is in.
pub async fn advance(conn: &mut PgConnection, step: &Transition) -> anyhow::Result<Advanced> {
    step.facts.check(step.event)?;
    let at = period::stored(step.at);
    let mut tx = conn.begin().await?;
    let row: Option<OrderRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM botctl.orders WHERE id = $1 FOR UPDATE")))
            .bind(step.order)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else {
        return Err(BadInput::new(format!("there is no order {}", step.order)).into());
    };
    let order = Order::try_from(row)?;
    let to = next(order.kind, step.from, step.event)?;
    if order.state != step.from {
        return Ok(Advanced { outcome: Outcome::NotInState, order });
    }
    check_entering(&order, to, &step.facts)?;
    if to == State::AwaitingPayment {
        check_price(&mut tx, &order, &step.facts).await?;
    }
    let facts = &step.facts;
    let updated = sqlx::query_as::<_, OrderRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE botctl.orders SET state = $3, plan = coalesce($4, plan), amount = coalesce($5, amount), \
         currency = coalesce($6, currency), provider = coalesce($7, provider), \
         payment_id = coalesce($8, payment_id), idempotence_key = coalesce($9, idempotence_key), \
         reason = coalesce($10, reason), updated_at = $11 \
         WHERE id = $1 AND state = $2 RETURNING {COLUMNS}"
    )))
    .bind(order.id)
    .bind(step.from.as_str())
    .bind(to.as_str())
    .bind(&facts.plan)
    .bind(facts.amount.map(|m| m.minor))
    .bind(facts.amount.map(|m| m.currency.code()))
    .bind(facts.provider.map(Provider::as_str))
    .bind(&facts.payment_id)
    .bind(&facts.idempotence_key)
    .bind(&facts.reason)
    .bind(at)
    .fetch_one(&mut *tx)
    .await;
    let row = match updated {
        Err(e) if unique_violation(&e) == Some("orders_payment") => {
            return Err(BadInput::new(format!(
                "payment `{}` already pays another order",
                facts.payment_id.as_deref().unwrap_or_default()
            ))
            .into());
        }
        other => other?,
    };
    let facts_json = serde_json::to_value(facts)?;
    record(&mut tx, order.id, Some(step.from), to, step.event.as_str(), &step.actor, &facts_json, at).await?;
    if drops_token(to) {
        sqlx::query("DELETE FROM botctl.order_tokens WHERE order_id = $1").bind(order.id).execute(&mut *tx).await?;
    }
    sqlx::query("SELECT pg_notify($1, $2)").bind(WAKE_CHANNEL).bind(order.id.to_string()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Advanced { outcome: Outcome::Moved, order: Order::try_from(row)? })
}

/// What the order must hold to enter `to`, checked before the database's own constraints so that the
/// caller reads which fact is missing rather than a constraint's name.
fn check_entering(order: &Order, to: State, facts: &Facts) -> Result<(), BadInput> {
    let entering_setup = to == State::AwaitingPayment || (to == State::Credited && order.state == State::Draft);
    let missing = order.missing();
    if entering_setup && !missing.is_empty() {
        return Err(BadInput::new(format!(
            "order {} cannot go to `{to}` yet: it has no {}",
            order.reference,
            missing.join(", ")
        )));
    }
    if to == State::AwaitingPayment {
        let plan = facts.plan.as_ref().or(order.plan.as_ref());
        let (Some(provider), Some(amount), Some(_), Some(_)) =
            (facts.provider, facts.amount, plan, &facts.idempotence_key)
        else {
            return Err(BadInput::new("a payment is requested with its provider, amount, plan and idempotence key"));
        };
        let expected = if provider == Provider::Stars { Currency::Xtr } else { Currency::Rub };
        if amount.currency != expected {
            return Err(BadInput::new(format!("{provider} takes {expected}, not {amount}")));
        }
    }
    if let (Some(known), Some(told)) = (&order.payment_id, &facts.payment_id)
        && known != told
    {
        return Err(BadInput::new(format!(
            "order {} is paid by payment `{known}`, not `{told}`: nothing changed",
            order.reference
        )));
    }
    if to == State::Paid && facts.payment_id.is_none() && order.payment_id.is_none() {
        return Err(BadInput::new("a paid order needs the provider's payment id"));
    }
    Ok(())
}

/// The amount asked is the plan's price now, in that currency: what the buyer was shown is what the
/// order owes, and a price changed later does not change it.
async fn check_price(conn: &mut PgConnection, order: &Order, facts: &Facts) -> anyhow::Result<()> {
    let (Some(code), Some(amount)) = (facts.plan.as_ref().or(order.plan.as_ref()), facts.amount) else {
        return Ok(()); // `check_entering` has refused this already
    };
    let plan = sold_plan(conn, code).await?;
    match plan.price(amount.currency) {
        Some(price) if price == amount => Ok(()),
        Some(price) => Err(BadInput::new(format!("plan `{code}` costs {price}, not {amount}")).into()),
        None => Err(BadInput::new(format!("plan `{code}` is not sold in {}", amount.currency)).into()),
    }
}

/// Appends one history row; the table refuses any change after that.
#[allow(clippy::too_many_arguments)] // one history row's columns; a struct for this private helper would only rename them
pub(super) async fn record(
    conn: &mut PgConnection,
    order: i64,
    from: Option<State>,
    to: State,
    event: &str,
    actor: &str,
    facts: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO botctl.order_events (order_id, at, from_state, to_state, event, actor, facts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(order)
    .bind(at)
    .bind(from.map(State::as_str))
    .bind(to.as_str())
    .bind(event)
    .bind(actor)
    .bind(facts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every state the order entered, in order: when, on what, by whom.
pub async fn history(conn: &mut PgConnection, order: i64) -> anyhow::Result<Vec<HistoryRow>> {
    Ok(sqlx::query_as(
        "SELECT at, from_state, to_state, event, actor, facts FROM botctl.order_events WHERE order_id = $1 ORDER BY id",
    )
    .bind(order)
    .fetch_all(conn)
    .await?)
}
