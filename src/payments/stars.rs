//! Telegram Stars as an order's payment: the invoice fixed on the order, the pre-checkout check Telegram
//! asks for before it takes the Stars, and the `successful_payment` taken to the order. The sales bot
//! sends and answers; this module decides. Stars are whole (`XTR` has no minor unit): the plan's XTR
//! price is the invoice's amount as it stands, never multiplied.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::billing::plans::{self, Plan};
use crate::billing::{Currency, Money, Provider};
use crate::error::BadInput;
use crate::locale::Locale;
use crate::platform::orders::{self, Event, Facts, Lookup, Order, ProviderPayment, State, Transition, Unmatched};

/// Who moves an order on a Stars event, in its history.
const ACTOR: &str = "stars";

/// What the sales bot sends with `sendInvoice` (currency XTR, no provider token, one price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub title: String,
    pub description: String,
    pub payload: String,
    pub label: String,
    pub stars: u32,
}

/// A `successful_payment` as Telegram delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsPayment {
    pub charge_id: String,
    pub payload: String,
    pub currency: String,
    pub total_amount: u32,
}

/// The plan's price in Stars, or why it cannot be paid in Stars.
fn stars_price(plan: &Plan) -> anyhow::Result<(Money, u32)> {
    let Some(price) = plan.price(Currency::Xtr) else {
        return Err(BadInput::new(format!("plan `{}` has no price in Telegram Stars (XTR)", plan.code)).into());
    };
    let stars = u32::try_from(price.minor).ok().filter(|s| *s > 0).ok_or_else(|| {
        BadInput::new(format!("plan `{}` costs {price}: not a Stars amount Telegram takes", plan.code))
    })?;
    Ok((price, stars))
}

/// `text` cut to `max` characters (Telegram's limits on an invoice's title and description).
fn fit(text: String, max: usize) -> String {
    if text.chars().count() <= max { text } else { text.chars().take(max).collect() }
}

/// The invoice for an order awaiting `stars` for `plan`, in the buyer's language.
fn invoice(order: &Order, plan: &Plan, stars: u32) -> Invoice {
    let name = match order.buyer.language {
        Locale::Ru => &plan.name_ru,
        Locale::En => &plan.name_en,
    };
    let business = order.business_name.as_deref().or(order.tenant.as_ref().map(|t| t.as_str())).unwrap_or("botctl");
    let description = match order.buyer.language {
        Locale::Ru => format!("Бот записи для «{business}»: {name}, {} дн.", plan.days),
        Locale::En => format!("Booking bot for “{business}”: {name}, {} days", plan.days),
    };
    Invoice {
        title: fit(name.clone(), 32),
        description: fit(description, 255),
        payload: order.reference.clone(),
        label: fit(name.clone(), 32),
        stars,
    }
}

/// The order, or a bad-input error naming it.
async fn order(conn: &mut PgConnection, lookup: Lookup<'_>) -> anyhow::Result<Order> {
    let found = orders::find(conn, lookup).await?;
    found.ok_or_else(|| {
        let what = match lookup {
            Lookup::Id(id) => format!("there is no order {id}"),
            Lookup::Reference(reference) => format!("there is no order `{reference}`"),
        };
        BadInput::new(what).into()
    })
}

/// Whether the order already awaits a Stars payment for `plan` (a repeated request, a resumed bot).
fn awaits_stars_for(order: &Order, plan: &str) -> bool {
    order.state == State::AwaitingPayment
        && order.provider == Some(Provider::Stars)
        && order.plan.as_deref() == Some(plan)
}

/// The invoice of an order already fixed on a Stars payment: the amount it fixed, not today's price.
fn fixed_invoice(order: &Order, plan: &Plan) -> anyhow::Result<Invoice> {
    let stars =
        order.amount.filter(|m| m.currency == Currency::Xtr).and_then(|m| u32::try_from(m.minor).ok()).ok_or_else(
            || anyhow::anyhow!("order `{}` awaits a Stars payment without a Stars amount", order.reference),
        )?;
    Ok(invoice(order, plan, stars))
}

/// Fixes the order's Stars payment: the plan's XTR price from the control plane (whole Stars — never ×100),
/// advance draft → awaiting_payment with provider Stars, amount, plan, idempotence key (a Stars payment has no
/// id until it succeeds: payment_id stays empty); the payload is the order's reference. An order already
/// awaiting a Stars payment for this plan returns the same invoice. A plan with no XTR price → clear BadInput.
pub async fn request(pool: &PgPool, order: i64, plan: &str, at: DateTime<Utc>) -> anyhow::Result<Invoice> {
    let mut conn = pool.acquire().await?;
    let current = self::order(&mut conn, Lookup::Id(order)).await?;
    let sold = plans::require(&mut conn, plan).await?;
    if awaits_stars_for(&current, plan) {
        return fixed_invoice(&current, &sold);
    }
    if current.state != State::Draft {
        return Err(BadInput::new(format!(
            "order `{}` is {}: a Stars payment is requested only from a draft",
            current.reference, current.state
        ))
        .into());
    }
    if !sold.active {
        return Err(BadInput::new(format!("plan `{plan}` is no longer sold")).into());
    }
    let (price, stars) = stars_price(&sold)?;
    let step = Transition {
        order,
        from: State::Draft,
        event: Event::PaymentRequested,
        facts: Facts {
            plan: Some(plan.to_string()),
            amount: Some(price),
            provider: Some(Provider::Stars),
            idempotence_key: Some(current.payment_idempotence_key()),
            ..Facts::default()
        },
        actor: ACTOR.to_string(),
        at,
    };
    let advanced = orders::advance(&mut conn, &step).await?;
    if advanced.outcome == orders::Outcome::NotInState {
        // Another request (a double tap, a resumed bot) fixed it first: the same invoice if it is this one.
        if awaits_stars_for(&advanced.order, plan) {
            return fixed_invoice(&advanced.order, &sold);
        }
        return Err(BadInput::new(format!(
            "order `{}` moved on to {} meanwhile: no Stars invoice for it",
            advanced.order.reference, advanced.order.state
        ))
        .into());
    }
    Ok(invoice(&advanced.order, &sold, stars))
}

/// Why a pre-checkout is refused, in the buyer's language.
enum Refusal {
    NoOrder,
    NotAwaiting,
    Currency,
    Amount { asked: i64 },
    PriceChanged { now: Option<i64> },
    Unavailable,
}

impl Refusal {
    fn say(&self, language: Locale) -> String {
        match (self, language) {
            (Refusal::NoOrder, Locale::Ru) => "Заказ не найден. Начните покупку заново: /start".into(),
            (Refusal::NoOrder, Locale::En) => "This order was not found. Please start again: /start".into(),
            (Refusal::NotAwaiting, Locale::Ru) => "Этот заказ больше не ждёт оплаты. Начните заново: /start".into(),
            (Refusal::NotAwaiting, Locale::En) => {
                "This order no longer awaits payment. Please start again: /start".into()
            }
            (Refusal::Currency, Locale::Ru) => "Этот заказ оплачивается только в Telegram Stars.".into(),
            (Refusal::Currency, Locale::En) => "This order is paid in Telegram Stars only.".into(),
            (Refusal::Amount { asked }, Locale::Ru) => format!("Сумма не совпадает с заказом ({asked} ⭐)."),
            (Refusal::Amount { asked }, Locale::En) => format!("The amount does not match the order ({asked} ⭐)."),
            (Refusal::PriceChanged { now: Some(now) }, Locale::Ru) => {
                format!("Цена тарифа изменилась: теперь {now} ⭐. Оформите заказ заново: /start")
            }
            (Refusal::PriceChanged { now: Some(now) }, Locale::En) => {
                format!("The plan's price has changed: it is now {now} ⭐. Please order again: /start")
            }
            (Refusal::PriceChanged { now: None }, Locale::Ru) => {
                "Этот тариф больше не продаётся за Stars. Оформите заказ заново: /start".into()
            }
            (Refusal::PriceChanged { now: None }, Locale::En) => {
                "This plan is no longer sold for Stars. Please order again: /start".into()
            }
            (Refusal::Unavailable, Locale::Ru) => "Не удалось проверить заказ. Попробуйте ещё раз через минуту.".into(),
            (Refusal::Unavailable, Locale::En) => {
                "The order could not be checked. Please try again in a minute.".into()
            }
        }
    }
}

/// The pre_checkout_query check (answered within Telegram's 10 s by the bot): the order still awaits this
/// Stars payment, the currency is XTR, the total is what the order fixed AND still the plan's price now
/// (a price changed since → refused). Err = the message shown to the buyer.
pub async fn pre_checkout(
    pool: &PgPool,
    payload: &str,
    currency: &str,
    total_amount: u32,
    at: DateTime<Utc>,
) -> Result<(), String> {
    let mut language = Locale::En;
    match check_pre_checkout(pool, payload, currency, total_amount, &mut language).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => {
            tracing::info!(order = payload, currency, total_amount, %at, "Stars pre-checkout refused");
            Err(refusal.say(language))
        }
        Err(error) => {
            tracing::warn!(order = payload, error = format!("{error:#}"), "could not check a Stars pre-checkout");
            Err(Refusal::Unavailable.say(language))
        }
    }
}

async fn check_pre_checkout(
    pool: &PgPool,
    payload: &str,
    currency: &str,
    total_amount: u32,
    language: &mut Locale,
) -> anyhow::Result<Result<(), Refusal>> {
    let mut conn = pool.acquire().await?;
    let Some(order) = orders::find(&mut conn, Lookup::Reference(payload)).await? else {
        return Ok(Err(Refusal::NoOrder));
    };
    *language = order.buyer.language;
    if order.state != State::AwaitingPayment || order.provider != Some(Provider::Stars) {
        return Ok(Err(Refusal::NotAwaiting));
    }
    if currency != Currency::Xtr.code() {
        return Ok(Err(Refusal::Currency));
    }
    let Some(asked) = order.amount.filter(|m| m.currency == Currency::Xtr) else {
        return Ok(Err(Refusal::NotAwaiting));
    };
    if asked.minor != i64::from(total_amount) {
        return Ok(Err(Refusal::Amount { asked: asked.minor }));
    }
    let Some(code) = order.plan.as_deref() else {
        return Ok(Err(Refusal::NotAwaiting));
    };
    let now = plans::find(&mut conn, code).await?.filter(|p| p.active).and_then(|p| p.price(Currency::Xtr));
    if now != Some(asked) {
        return Ok(Err(Refusal::PriceChanged { now: now.map(|m| m.minor) }));
    }
    Ok(Ok(()))
}

/// A `successful_payment`: through `platform::orders::confirm` with ProviderPayment{Stars, charge_id, Money XTR,
/// payload} → the order `paid` once (a repeat changes nothing). A payment no order takes
/// ([`Unmatched`] in the error) is logged here and returned: the caller alerts the operator.
pub async fn paid(pool: &PgPool, payment: &StarsPayment, at: DateTime<Utc>) -> anyhow::Result<Order> {
    let currency: Currency = payment.currency.parse().map_err(|_| {
        tracing::warn!(
            charge = payment.charge_id,
            order = payment.payload,
            currency = payment.currency,
            "a Stars payment in an unknown currency"
        );
        anyhow::anyhow!(
            "Stars payment `{}` for order `{}` is in `{}`, not XTR",
            payment.charge_id,
            payment.payload,
            payment.currency
        )
    })?;
    let paid = ProviderPayment {
        provider: Provider::Stars,
        payment_id: payment.charge_id.clone(),
        amount: Money::new(i64::from(payment.total_amount), currency),
        reference: payment.payload.clone(),
    };
    let mut conn = pool.acquire().await?;
    match orders::confirm(&mut conn, &paid, ACTOR, at).await {
        Ok(advanced) => Ok(advanced.order),
        Err(error) => {
            if let Some(unmatched) = error.downcast_ref::<Unmatched>() {
                tracing::warn!(charge = payment.charge_id, order = payment.payload, "{unmatched}");
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegrams_limits_are_kept_by_characters() {
        let long = "ж".repeat(40);
        assert_eq!(fit(long, 32).chars().count(), 32);
        assert_eq!(fit("1 month".into(), 32), "1 month");
    }

    #[test]
    fn every_refusal_is_said_in_both_languages() {
        let all = [
            Refusal::NoOrder,
            Refusal::NotAwaiting,
            Refusal::Currency,
            Refusal::Amount { asked: 150 },
            Refusal::PriceChanged { now: Some(200) },
            Refusal::PriceChanged { now: None },
            Refusal::Unavailable,
        ];
        for refusal in &all {
            let (ru, en) = (refusal.say(Locale::Ru), refusal.say(Locale::En));
            assert!(!ru.is_empty() && !en.is_empty() && ru != en);
        }
        assert!(Refusal::PriceChanged { now: Some(200) }.say(Locale::En).contains("200"));
    }
}
