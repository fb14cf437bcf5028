//! A payment the provider has confirmed, taken to its order: the one path by which YooKassa (re-fetched
//! after a notification, or polled) and Telegram Stars (`successful_payment`) move an order to `paid`.
//! The provider's word is checked against what the order fixed when the payment was requested — its
//! provider, amount and currency — so a payment for another sum, or for an order that is over, is never
//! taken as this order's: it is refused, named, for the caller to log and alert on.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::advance::{Advanced, Outcome, Transition, advance};
use super::machine::{Event, State};
use super::model::Facts;
use super::store::{Lookup, find};
use crate::billing::{Money, Provider};

/// What the provider says was paid, as read from the provider itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    pub provider: Provider,
    /// The provider's id of the payment (YooKassa's payment id, Stars' `telegram_payment_charge_id`).
    pub payment_id: String,
    pub amount: Money,
    /// The order the payment names (YooKassa's `metadata.order`, the Stars invoice payload).
    pub reference: String,
}

/// Why a confirmed payment was not taken as its order's. Each is money received that no order took:
/// the caller logs it and alerts the operator, who refunds it or finishes the order by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmatched {
    #[error("{provider} payment `{payment_id}` names order `{reference}`, which does not exist")]
    NoOrder { provider: Provider, payment_id: String, reference: String },
    #[error("{provider} payment `{payment_id}` pays {paid}, but order `{reference}` asked {asked}")]
    Amount { provider: Provider, payment_id: String, reference: String, paid: Money, asked: String },
    #[error("{provider} payment `{payment_id}` names order `{reference}`, which asked for payment through {asked}")]
    Provider { provider: Provider, payment_id: String, reference: String, asked: String },
    #[error("{provider} payment `{payment_id}` arrived for order `{reference}`, which is {state} ({reason})")]
    Over { provider: Provider, payment_id: String, reference: String, state: State, reason: String },
}

/// Moves the payment's order from `awaiting_payment` to `paid`, once: a second confirmation of the same
/// payment (a repeated notification, the poller after the webhook) finds it paid and changes nothing.
/// `Err` with [`Unmatched`] inside when the payment cannot be this order's; other errors are the
/// database's, worth a retry.
pub async fn confirm(
    conn: &mut PgConnection,
    paid: &ProviderPayment,
    actor: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<Advanced> {
    let order = find(&mut *conn, Lookup::Reference(&paid.reference)).await?;
    let (provider, payment_id, reference) = (paid.provider, paid.payment_id.clone(), paid.reference.clone());
    let Some(order) = order else {
        return Err(Unmatched::NoOrder { provider, payment_id, reference }.into());
    };
    if order.provider != Some(provider) {
        let asked = order.provider.map_or_else(|| "no provider yet".to_string(), |p| p.to_string());
        return Err(Unmatched::Provider { provider, payment_id, reference, asked }.into());
    }
    if order.amount != Some(paid.amount) {
        let asked = order.amount.map_or_else(|| "nothing yet".to_string(), |m| m.to_string());
        return Err(Unmatched::Amount { provider, payment_id, reference, paid: paid.amount, asked }.into());
    }
    if order.state.is_paid() && order.payment_id.as_deref() == Some(paid.payment_id.as_str()) {
        return Ok(Advanced { outcome: Outcome::NotInState, order });
    }
    if order.state != State::AwaitingPayment {
        let reason = order.reason.clone().unwrap_or_else(|| "it takes no payment now".into());
        return Err(Unmatched::Over { provider, payment_id, reference, state: order.state, reason }.into());
    }
    let step = Transition {
        order: order.id,
        from: State::AwaitingPayment,
        event: Event::PaymentSucceeded,
        facts: Facts { payment_id: Some(paid.payment_id.clone()), ..Facts::default() },
        actor: actor.to_string(),
        at,
    };
    let advanced = advance(conn, &step).await?;
    if advanced.outcome == Outcome::NotInState && advanced.order.payment_id.as_deref() != Some(&paid.payment_id) {
        // Moved on between the read and the lock: canceled or failed meanwhile, or paid by another payment.
        let state = advanced.order.state;
        let reason = advanced.order.reason.clone().unwrap_or_else(|| "it was moved on meanwhile".into());
        return Err(Unmatched::Over { provider, payment_id, reference, state, reason }.into());
    }
    Ok(advanced)
}
