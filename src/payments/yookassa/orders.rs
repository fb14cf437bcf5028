//! What YooKassa's word (a fetched notification, a re-check) does to orders: a succeeded payment pays its
//! order, a canceled one cancels it, a refund is taken off the ledger, and money no order takes is
//! alerted to the operator.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sqlx::PgPool;

use super::checkout::{Checkout, ORDER_KEY};
use super::webhook::Consumer;
use super::{Notified, Payment, PaymentStatus, Refund, RefundStatus};
use crate::billing::{Provider, credit};
use crate::error::{BadInput, has};
use crate::platform::alerts::{self, Alert, Kind};
use crate::platform::orders::resume::PaymentCheck;
use crate::platform::orders::{
    Event, Facts, Lookup, Order, Outcome, ProviderPayment, State, Transition, Unmatched, advance, confirm, find,
};

/// Who moves an order on a notification, in the order's history and the ledger.
const WEBHOOK: &str = "yookassa-webhook";
/// Who moves an order on a re-check of its payment (the resumer's poll).
const POLL: &str = "yookassa-poll";
/// The longest reason an order keeps.
const MAX_REASON: usize = 500;

/// YooKassa's notifications and re-checks, taken to the orders in the control plane.
#[derive(Clone)]
pub struct OrderPayments {
    checkout: Checkout,
    pool: PgPool,
}

impl OrderPayments {
    pub fn new(checkout: Checkout, pool: PgPool) -> Self {
        Self { checkout, pool }
    }

    /// The poller's step for one order: its payment fetched now → succeeded: paid; canceled: canceled;
    /// still pending: nothing. An order not awaiting a YooKassa payment is left alone.
    pub async fn check(&self, order: &Order) -> anyhow::Result<()> {
        let Some(payment_id) = order.payment_id.as_deref() else { return Ok(()) };
        if order.state != State::AwaitingPayment || order.provider != Some(Provider::Yookassa) {
            return Ok(());
        }
        let payment = self.checkout.client.get_payment(payment_id).await?;
        settle(&self.pool, &payment, POLL, Utc::now()).await
    }

    /// What a notified object (already fetched from the API) means, committed; `Err` only for what a
    /// later delivery could change (the database, YooKassa unreachable), so that the listener answers 5xx.
    pub async fn take(&self, notified: Notified, at: DateTime<Utc>) -> anyhow::Result<()> {
        match notified {
            Notified::Payment(payment) => settle(&self.pool, &payment, WEBHOOK, at).await,
            Notified::Refund(refund) => self.refunded(&refund, at).await,
            Notified::Unhandled(event) => {
                tracing::debug!(%event, "a YooKassa notification botctl does not act on");
                Ok(())
            }
        }
    }

    /// A succeeded refund takes the payment's days back, once (the ledger is unique on the payment). Only
    /// a whole refund does: the ledger cannot take back part of a period, so a partial one is logged for
    /// the operator to settle.
    async fn refunded(&self, refund: &Refund, at: DateTime<Utc>) -> anyhow::Result<()> {
        if refund.status != RefundStatus::Succeeded {
            return Ok(());
        }
        let payment = self.checkout.client.get_payment(&refund.payment_id).await?;
        if payment.amount != refund.amount {
            tracing::warn!(
                refund = %refund.id, payment = %payment.id, refunded = %refund.amount, paid = %payment.amount,
                "a partial YooKassa refund: the ledger takes back whole payments only; settle it by hand"
            );
            return Ok(());
        }
        match credit::refund(&self.pool, Provider::Yookassa, &refund.payment_id, WEBHOOK, at).await {
            Ok(refunded) => {
                tracing::info!(
                    refund = %refund.id, payment = %refund.payment_id, tenant = %refunded.tenant,
                    outcome = ?refunded.outcome, "a YooKassa refund was recorded"
                );
                Ok(())
            }
            // A payment the ledger does not hold (never credited) or holds as not succeeded: another
            // delivery would find the same, so it is logged rather than retried for a day.
            Err(error) if has::<BadInput>(&error) => {
                tracing::warn!(refund = %refund.id, error = format!("{error:#}"), "a YooKassa refund the ledger cannot take");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// The resumer's poll of a payment not heard of.
impl PaymentCheck for OrderPayments {
    fn check(&self, order: Order) -> BoxFuture<'static, anyhow::Result<()>> {
        let this = self.clone();
        Box::pin(async move { OrderPayments::check(&this, &order).await })
    }
}

impl Consumer for OrderPayments {
    fn consume(&self, notified: Notified) -> BoxFuture<'static, anyhow::Result<()>> {
        let this = self.clone();
        Box::pin(async move { this.take(notified, Utc::now()).await })
    }
}

/// A payment as the API reports it now, taken to its order: succeeded → paid (once), canceled → the
/// order canceled with YooKassa's reason, anything else → nothing yet.
pub(super) async fn settle(pool: &PgPool, payment: &Payment, actor: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    match payment.status {
        PaymentStatus::Succeeded => paid(pool, payment, actor, at).await,
        PaymentStatus::Canceled => canceled(pool, payment, actor, at).await,
        _ => Ok(()),
    }
}

async fn paid(pool: &PgPool, payment: &Payment, actor: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    let paid = ProviderPayment {
        provider: Provider::Yookassa,
        payment_id: payment.id.clone(),
        amount: payment.amount,
        reference: payment.metadata.get(ORDER_KEY).cloned().unwrap_or_default(),
    };
    let mut conn = pool.acquire().await?;
    let error = match confirm(&mut conn, &paid, actor, at).await {
        Ok(advanced) => {
            if advanced.outcome == Outcome::Moved {
                tracing::info!(order = %paid.reference, payment = %paid.payment_id, amount = %paid.amount, "an order was paid through YooKassa");
            }
            return Ok(());
        }
        Err(error) => error,
    };
    let Some(unmatched) = error.downcast_ref::<Unmatched>() else { return Err(error) };
    // Retrying would not change it (YooKassa's answer is final): the operator is told once, and
    // YooKassa hears 200.
    tracing::warn!(payment = %paid.payment_id, order = %paid.reference, problem = %unmatched, "a YooKassa payment no order takes");
    let alert = Alert {
        kind: Kind::PaymentUnmatched,
        tenant: None,
        key: format!("payment_unmatched:{}:{}", Provider::Yookassa, paid.payment_id),
        condition: None,
        facts: vec![
            ("provider".into(), Provider::Yookassa.to_string()),
            ("payment".into(), paid.payment_id.clone()),
            ("order".into(), if paid.reference.is_empty() { "-".into() } else { paid.reference.clone() }),
            ("amount".into(), paid.amount.to_string()),
            ("problem".into(), unmatched.to_string()),
        ],
        raised_at: at,
    };
    alerts::raise(&mut conn, &alert).await?;
    Ok(())
}

async fn canceled(pool: &PgPool, payment: &Payment, actor: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    let Some(reference) = payment.metadata.get(ORDER_KEY) else { return Ok(()) };
    let mut conn = pool.acquire().await?;
    let Some(order) = find(&mut conn, Lookup::Reference(reference)).await? else { return Ok(()) };
    let ours = order.provider == Some(Provider::Yookassa) && order.payment_id.as_deref() == Some(payment.id.as_str());
    if !ours || order.state != State::AwaitingPayment {
        return Ok(());
    }
    let reason = payment.cancellation_details.as_ref().map_or("canceled", |d| d.reason.as_str());
    let reason: String = reason.chars().filter(|c| !c.is_control()).take(MAX_REASON).collect();
    let step = Transition {
        order: order.id,
        from: State::AwaitingPayment,
        event: Event::Canceled,
        facts: Facts { reason: Some(if reason.is_empty() { "canceled".into() } else { reason }), ..Facts::default() },
        actor: actor.to_string(),
        at,
    };
    let advanced = advance(&mut conn, &step).await?;
    if advanced.outcome == Outcome::Moved {
        tracing::info!(order = %order.reference, payment = %payment.id, "an order's YooKassa payment was canceled");
    }
    Ok(())
}
