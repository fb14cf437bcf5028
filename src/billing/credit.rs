//! The one crediting path, used by every way money arrives (manual now; YooKassa and Stars later), and
//! its inverse, the refund. Each is one transaction: payment, subscription, ledger, event, wake-up.
//!
//! Idempotence rests on the payment's `(provider, reference)` being unique: a payment already recorded
//! is never credited again, and the subscription row is locked first, so two credits of one tenant
//! (or two deliveries of one payment) take turns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use super::plans::Plan;
use super::subscription::{tenant_id, wake};
use super::{Money, State, ledger, period};
use crate::error::BadInput;
use crate::tenant::store;

/// Who took the money: the provider whose reference identifies the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Recorded by an operator (`botctl billing credit`): a bank transfer, cash, an invoice.
    Manual,
    Yookassa,
    /// Telegram Stars.
    Stars,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Manual => "manual",
            Provider::Yookassa => "yookassa",
            Provider::Stars => "stars",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Provider::Manual, Provider::Yookassa, Provider::Stars]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown payment provider `{s}`"))
    }
}

/// A payment as it arrives, before it is recorded.
#[derive(Debug, Clone)]
pub struct Payment {
    pub provider: Provider,
    /// The provider's own id of the payment (for `manual`, the operator's: an invoice or transfer number).
    pub reference: String,
    pub amount: Money,
    pub days: i32,
    /// The plan paid for; `None` for a number of days credited without one.
    pub plan: Option<String>,
    pub note: Option<String>,
    /// What the provider sent, as it sent it (`{}` for a manual payment).
    pub raw: serde_json::Value,
}

/// A payment for a tenant, and who records it.
#[derive(Debug, Clone)]
pub struct CreditRequest {
    pub tenant: String,
    pub payment: Payment,
}

/// Whether this call credited the payment or found it credited already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Credited,
    AlreadyCredited,
}

#[derive(Debug, Clone, Serialize)]
pub struct Credited {
    pub outcome: Outcome,
    pub tenant: String,
    pub provider: Provider,
    pub reference: String,
    pub amount: Money,
    pub days: i32,
    pub plan: Option<String>,
    /// The subscription's state before this credit (now, for one already credited).
    pub state_before: State,
    pub state: State,
    pub period_before: Option<DateTime<Utc>>,
    pub paid_until: Option<DateTime<Utc>>,
    /// The tenant was suspended: its bot is to be started now that the commit is done.
    pub start_pending: bool,
}

/// Where a subscription stands after a credit (or a repeat of one).
struct Standing {
    state: State,
    paid_until: Option<DateTime<Utc>>,
    start_pending: bool,
}

impl Credited {
    /// The one answer of both ways a credit ends: the request's payment, the subscription's state and
    /// period before it, and where the subscription stands now.
    fn of(request: &CreditRequest, outcome: Outcome, before: (State, Option<DateTime<Utc>>), now: Standing) -> Self {
        let payment = &request.payment;
        Credited {
            outcome,
            tenant: request.tenant.clone(),
            provider: payment.provider,
            reference: payment.reference.clone(),
            amount: payment.amount,
            days: payment.days,
            plan: payment.plan.clone(),
            state_before: before.0,
            state: now.state,
            period_before: before.1,
            paid_until: now.paid_until,
            start_pending: now.start_pending,
        }
    }
}

/// What a plan bought with `amount` credits, checked against the plan: it must be sold (active), in
/// `amount`'s currency, at that price — unless `any_amount` records a different one (a discount or a
/// negotiated price), which still needs a price in that currency to say the plan is sold in it.
pub fn plan_payment(plan: &Plan, amount: Money, any_amount: bool) -> Result<i32, BadInput> {
    if !plan.active {
        return Err(BadInput::new(format!(
            "plan `{}` is disabled (no longer sold): credit its days with --days {} instead",
            plan.code, plan.days
        )));
    }
    let Some(price) = plan.price(amount.currency) else {
        let sold: Vec<String> = plan.prices.iter().map(ToString::to_string).collect();
        let sold = if sold.is_empty() { "no currency yet".to_string() } else { sold.join(" or ") };
        return Err(BadInput::new(format!(
            "plan `{}` has no price in {} (it sells for {sold}; `botctl billing plan set {} --price …` adds one)",
            plan.code, amount.currency, plan.code
        )));
    };
    if price != amount && !any_amount {
        return Err(BadInput::new(format!(
            "plan `{}` costs {price}, not {amount}: pass --any-amount to record a different amount",
            plan.code
        )));
    }
    Ok(plan.days)
}

fn check(payment: &Payment) -> Result<(), BadInput> {
    if !(1..=period::MAX_DAYS).contains(&payment.days) {
        return Err(BadInput::new(format!("{} days: a payment credits 1 to {} days", payment.days, period::MAX_DAYS)));
    }
    let length = payment.reference.chars().count();
    if !(1..=128).contains(&length)
        || payment.reference.chars().any(char::is_control)
        || payment.reference.trim() != payment.reference
    {
        return Err(BadInput::new(
            "a payment reference is 1-128 characters, without control characters or surrounding spaces",
        ));
    }
    if payment.amount.minor < 0 {
        return Err(BadInput::new(format!("{}: an amount cannot be negative", payment.amount)));
    }
    Ok(())
}

/// Credits a payment: in one transaction records it (or finds it recorded: then nothing changes),
/// extends the tenant's period by exactly its days from the period's end or from `now` if that has
/// passed, makes the subscription `active`, writes the ledger row and the event, and wakes the clock.
///
/// A complimentary tenant that pays becomes `active` from `now`: it chose to pay, and from then on its
/// period runs like any other. A suspended one is marked `start_pending`: the caller starts its bot
/// after the commit (the clock retries until it runs).
pub async fn credit(
    pool: &PgPool,
    request: &CreditRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Credited> {
    let mut tx = pool.begin().await?;
    let credited = credit_in(&mut tx, request, actor, now).await?;
    tx.commit().await?;
    Ok(credited)
}

/// [`credit`] inside the caller's transaction (a tenant created already paid).
pub async fn credit_in(
    conn: &mut PgConnection,
    request: &CreditRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Credited> {
    let now = period::stored(now);
    let payment = &request.payment;
    check(payment)?;
    let tenant = tenant_id(&mut *conn, &request.tenant).await?;
    // Locked first, so two credits of one tenant take turns and each sees the other's period.
    sqlx::query(
        "INSERT INTO botctl.subscriptions (tenant_id, state) VALUES ($1, 'complimentary') ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .execute(&mut *conn)
    .await?;
    let (state, paid_until, pending): (String, Option<DateTime<Utc>>, bool) = sqlx::query_as(
        "SELECT state, paid_until, start_pending FROM botctl.subscriptions WHERE tenant_id = $1 FOR UPDATE",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    let state: State = state.parse().map_err(anyhow::Error::msg)?;
    // A concurrent insert of the same reference waits here for the other transaction to end.
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO botctl.payments (tenant_id, provider, reference, amount, currency, plan, days, state, \
         recorded_by, note, raw, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'succeeded', $8, $9, $10, $11, $11) \
         ON CONFLICT (provider, reference) DO NOTHING RETURNING id",
    )
    .bind(tenant)
    .bind(payment.provider.as_str())
    .bind(&payment.reference)
    .bind(payment.amount.minor)
    .bind(payment.amount.currency.code())
    .bind(&payment.plan)
    .bind(payment.days)
    .bind(actor)
    .bind(&payment.note)
    .bind(&payment.raw)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(payment_id) = inserted else {
        return already(conn, request, tenant, state, paid_until, pending).await;
    };
    let after = period::extend(paid_until.filter(|_| state != State::Complimentary), now, payment.days);
    let start_pending = pending || state == State::Suspended;
    sqlx::query(
        "UPDATE botctl.subscriptions SET state = 'active', paid_until = $2, grace_until = NULL, \
         plan = coalesce($3, plan), start_pending = $4, updated_at = $5 WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(after)
    .bind(&payment.plan)
    .bind(start_pending)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    ledger::record(
        &mut *conn,
        &ledger::Change {
            tenant_id: tenant,
            payment_id: Some(payment_id),
            kind: "credit",
            days: payment.days,
            amount: Some((payment.amount.minor, payment.amount.currency.code())),
            period_before: paid_until,
            period_after: Some(after),
            actor,
            at: now,
        },
    )
    .await?;
    let details = json!({
        "provider": payment.provider, "reference": payment.reference, "amount": payment.amount.to_string(),
        "days": payment.days, "plan": payment.plan, "state_before": state, "period_before": paid_until,
        "paid_until": after, "note": payment.note,
    });
    store::record(&mut *conn, actor, Some(&request.tenant), "billing.credit", details).await?;
    wake(conn).await?;
    let subscription = Standing { state: State::Active, paid_until: Some(after), start_pending };
    Ok(Credited::of(request, Outcome::Credited, (state, paid_until), subscription))
}

/// The payment's reference is recorded already: the same payment again changes nothing; another
/// payment under the same reference is refused, since crediting it would lose one of the two.
async fn already(
    conn: &mut PgConnection,
    request: &CreditRequest,
    tenant: i64,
    state: State,
    paid_until: Option<DateTime<Utc>>,
    pending: bool,
) -> anyhow::Result<Credited> {
    let payment = &request.payment;
    let (owner, slug, amount, currency, days): (i64, String, i64, String, i32) = sqlx::query_as(
        "SELECT p.tenant_id, t.slug, p.amount, p.currency, p.days FROM botctl.payments p \
         JOIN botctl.tenants t ON t.id = p.tenant_id WHERE p.provider = $1 AND p.reference = $2",
    )
    .bind(payment.provider.as_str())
    .bind(&payment.reference)
    .fetch_one(&mut *conn)
    .await?;
    let recorded = currency.parse().map(|c| Money::new(amount, c));
    if owner != tenant || recorded.as_ref().ok() != Some(&payment.amount) || days != payment.days {
        let recorded = recorded.map_or_else(|_| format!("{amount} {currency}"), |m| m.to_string());
        return Err(BadInput::new(format!(
            "{} payment `{}` is already recorded as {recorded} for {days} days to tenant `{slug}`; \
             it differs from this one ({} for {} days to tenant `{}`), so nothing was credited: \
             a different payment needs its own reference",
            payment.provider, payment.reference, payment.amount, payment.days, request.tenant
        ))
        .into());
    }
    let subscription = Standing { state, paid_until, start_pending: pending };
    Ok(Credited::of(request, Outcome::AlreadyCredited, (state, paid_until), subscription))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOutcome {
    Refunded,
    AlreadyRefunded,
}

#[derive(Debug, Clone, Serialize)]
pub struct Refunded {
    pub outcome: RefundOutcome,
    pub tenant: String,
    pub provider: Provider,
    pub reference: String,
    pub amount: Money,
    /// The days taken back (0 when the tenant's subscription has no period to shorten).
    pub days_revoked: i32,
    pub period_before: Option<DateTime<Utc>>,
    pub paid_until: Option<DateTime<Utc>>,
    /// Unchanged by a refund: if the period now ends in the past, the clock moves the state on.
    pub state: State,
}

/// Refunds a recorded payment: marks it refunded and takes its days back from the tenant's period, in
/// one transaction with a `revocation` ledger row (negative days and amount), an event and a wake-up.
/// The state is left as it is: a period that now ends in the past is the clock's to end (grace, then
/// suspension), as any other period's end. A payment refunded already is left alone.
pub async fn refund(
    pool: &PgPool,
    provider: Provider,
    reference: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Refunded> {
    let now = period::stored(now);
    let mut tx = pool.begin().await?;
    let found: Option<(i64, i64, String, i64, String, i32, String)> = sqlx::query_as(
        "SELECT p.id, p.tenant_id, t.slug, p.amount, p.currency, p.days, p.state FROM botctl.payments p \
         JOIN botctl.tenants t ON t.id = p.tenant_id WHERE p.provider = $1 AND p.reference = $2 FOR UPDATE OF p",
    )
    .bind(provider.as_str())
    .bind(reference)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((payment_id, tenant, slug, amount, currency, days, payment_state)) = found else {
        return Err(BadInput::new(format!(
            "no {provider} payment with reference `{reference}` (see `botctl billing ledger`)"
        ))
        .into());
    };
    let amount = Money::new(amount, currency.parse().map_err(anyhow::Error::new)?);
    let (state, paid_until): (String, Option<DateTime<Utc>>) =
        sqlx::query_as("SELECT state, paid_until FROM botctl.subscriptions WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant)
            .fetch_one(&mut *tx)
            .await?;
    let state: State = state.parse().map_err(anyhow::Error::msg)?;
    let mut refunded = Refunded {
        outcome: RefundOutcome::AlreadyRefunded,
        tenant: slug.clone(),
        provider,
        reference: reference.to_string(),
        amount,
        days_revoked: 0,
        period_before: paid_until,
        paid_until,
        state,
    };
    match payment_state.as_str() {
        "refunded" => return Ok(refunded),
        "succeeded" => {}
        other => {
            return Err(BadInput::new(format!(
                "{provider} payment `{reference}` is {other}, not succeeded: there is nothing to refund"
            ))
            .into());
        }
    }
    // A complimentary or cancelled subscription has no period left to shorten.
    let revoke = match (state, paid_until) {
        (State::Complimentary | State::Cancelled, _) | (_, None) => None,
        (_, Some(end)) => Some(period::revoke(end, days)),
    };
    if let Some(after) = revoke {
        sqlx::query("UPDATE botctl.subscriptions SET paid_until = $2, updated_at = $3 WHERE tenant_id = $1")
            .bind(tenant)
            .bind(after)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        refunded.paid_until = Some(after);
        refunded.days_revoked = days;
    }
    sqlx::query("UPDATE botctl.payments SET state = 'refunded', updated_at = $2 WHERE id = $1")
        .bind(payment_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    ledger::record(
        &mut tx,
        &ledger::Change {
            tenant_id: tenant,
            payment_id: Some(payment_id),
            kind: "revocation",
            days: -refunded.days_revoked,
            amount: Some((-amount.minor, amount.currency.code())),
            period_before: refunded.period_before,
            period_after: refunded.paid_until,
            actor,
            at: now,
        },
    )
    .await?;
    let details = json!({
        "provider": provider, "reference": reference, "amount": amount.to_string(),
        "days_revoked": refunded.days_revoked, "period_before": refunded.period_before,
        "paid_until": refunded.paid_until,
    });
    store::record(&mut tx, actor, Some(&slug), "billing.refund", details).await?;
    wake(&mut tx).await?;
    tx.commit().await?;
    refunded.outcome = RefundOutcome::Refunded;
    Ok(refunded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Currency;

    fn plan(active: bool) -> Plan {
        Plan {
            code: "3m".into(),
            name_ru: "3 месяца".into(),
            name_en: "3 months".into(),
            days: 90,
            active,
            prices: vec![Money::new(79_900, Currency::Rub)],
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_plan_is_paid_at_its_price_in_a_currency_it_is_sold_in() {
        let rub = |minor| Money::new(minor, Currency::Rub);
        assert_eq!(plan_payment(&plan(true), rub(79_900), false).unwrap(), 90);
        let err = plan_payment(&plan(true), rub(50_000), false).unwrap_err().to_string();
        assert!(err.contains("costs 799RUB, not 500RUB") && err.contains("--any-amount"), "{err}");
        assert_eq!(plan_payment(&plan(true), rub(50_000), true).unwrap(), 90);
        let err = plan_payment(&plan(true), Money::new(150, Currency::Xtr), true).unwrap_err().to_string();
        assert!(err.contains("no price in XTR") && err.contains("799RUB"), "{err}");
        let err = plan_payment(&plan(false), rub(79_900), false).unwrap_err().to_string();
        assert!(err.contains("disabled") && err.contains("--days 90"), "{err}");
    }

    #[test]
    fn providers_read_back_as_written() {
        for p in [Provider::Manual, Provider::Yookassa, Provider::Stars] {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        assert!("paypal".parse::<Provider>().is_err());
    }
}
