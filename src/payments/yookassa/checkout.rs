//! An order's YooKassa payment: asking for it (once, whatever retries) and asking again whether it was
//! paid ("I have paid", the poller).

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{Client, Customer, NewPayment, Payment, PaymentMode, PaymentSubject, Receipt, ReceiptItem};
use super::{VatCode, orders};
use crate::billing::plans::{self, Plan};
use crate::billing::{Currency, Money, Provider};
use crate::error::BadInput;
use crate::locale::Locale;
use crate::platform::orders::{Event, Facts, Kind, Lookup, Order, Outcome, State, Transition, advance, find};

/// The metadata key a payment names its order by (`orders::ProviderPayment::reference`).
pub const ORDER_KEY: &str = "order";
/// Who moves an order when its payment is asked for, in the order's history.
const ACTOR: &str = "yookassa-checkout";
/// YooKassa's limit for a payment's and a receipt line's description.
const MAX_DESCRIPTION: usize = 128;

/// The 54-FZ receipt sent with each payment (`billing.yookassa.receipt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSettings {
    pub vat_code: VatCode,
    /// The seller's tax system (1-6), for shops whose online till needs it.
    pub tax_system_code: Option<u8>,
    /// The receipt line; `{plan}` becomes the plan's name in Russian, `{days}` its days.
    pub description: String,
    /// Where the receipt goes. Telegram tells a bot neither the buyer's email nor phone, so the order has
    /// no contact of its own and 54-FZ's required one is the configured address.
    pub customer: Customer,
}

/// The receipt line when none is configured: fiscal receipts are read in Russian.
pub const DEFAULT_RECEIPT_DESCRIPTION: &str = "Подписка на бота записи: {plan}, {days} дн.";

/// What asking YooKassa for an order's payment needs (from the settings).
#[derive(Clone)]
pub struct Checkout {
    pub client: Client,
    pub return_url: url::Url,
    pub receipt: Option<ReceiptSettings>,
}

impl Checkout {
    /// Asks YooKassa for the order's payment (plan price in RUB from the control plane, capture: true,
    /// redirect confirmation to return_url, metadata {"order": reference}, receipt when configured,
    /// Idempotence-Key = order.payment_idempotence_key()) and moves the order draft → awaiting_payment with
    /// provider, amount, plan, idempotence key and payment id. Returns the confirmation URL to send the buyer.
    /// Called again for an order already awaiting payment it returns the same payment's URL (same key).
    pub async fn request(&self, pool: &PgPool, order: i64, plan: &str, at: DateTime<Utc>) -> anyhow::Result<url::Url> {
        let mut conn = pool.acquire().await?;
        let found = find(&mut conn, Lookup::Id(order)).await?;
        let order = found.ok_or_else(|| BadInput::new(format!("there is no order {order}")))?;
        match order.state {
            State::Draft => {}
            State::AwaitingPayment => return self.pending_url(&order, plan).await,
            state => {
                return Err(BadInput::new(format!(
                    "order {} is {state}: there is no payment to ask for",
                    order.reference
                ))
                .into());
            }
        }
        if order.kind == Kind::Trial {
            return Err(BadInput::new(format!("order {} is a free trial: it takes no payment", order.reference)).into());
        }
        let missing = order.missing();
        if !missing.is_empty() {
            return Err(BadInput::new(format!(
                "order {} cannot be paid for yet: it has no {}",
                order.reference,
                missing.join(", ")
            ))
            .into());
        }
        let plan = plans::require(&mut conn, plan).await?;
        if !plan.active {
            return Err(BadInput::new(format!("plan `{}` is no longer sold", plan.code)).into());
        }
        let price = plan.price(Currency::Rub).ok_or_else(|| {
            BadInput::new(format!("plan `{}` has no price in RUB, and YooKassa takes rubles only", plan.code))
        })?;
        // Released while YooKassa answers: a slow API must not hold one of the pool's connections.
        drop(conn);
        let new = new_payment(&order, &plan, price, &self.return_url, self.receipt.as_ref())?;
        let key = order.payment_idempotence_key();
        let payment = self
            .client
            .create_payment(&new, &key)
            .await
            .with_context(|| format!("asking YooKassa for the payment of order {}", order.reference))?;
        check_answer(&order, &payment, price)?;
        let step = Transition {
            order: order.id,
            from: State::Draft,
            event: Event::PaymentRequested,
            facts: Facts {
                plan: Some(plan.code.clone()),
                amount: Some(price),
                provider: Some(Provider::Yookassa),
                payment_id: Some(payment.id.clone()),
                idempotence_key: Some(key),
                reason: None,
            },
            actor: ACTOR.to_string(),
            at,
        };
        let advanced = advance(&mut *pool.acquire().await?, &step).await?;
        let now = advanced.order;
        if advanced.outcome == Outcome::NotInState && now.payment_id.as_deref() != Some(payment.id.as_str()) {
            // Another request (a second tap) moved it first: only its own payment is the order's.
            return Err(BadInput::new(format!(
                "order {} changed while its payment was asked for (it is {} now)",
                now.reference, now.state
            ))
            .into());
        }
        if payment.status.is_final() {
            // Paid (or canceled) before its first answer reached botctl: what it means is taken in now,
            // and there is no page left to send the buyer to.
            orders::settle(pool, &payment, ACTOR, at).await?;
            return Err(already(&order, &payment).into());
        }
        confirmation_url(&order, &payment)
    }

    /// "I have paid": re-fetches the order's payment now and moves the order (paid / canceled); returns the order.
    pub async fn check_now(&self, pool: &PgPool, order: i64, at: DateTime<Utc>) -> anyhow::Result<Order> {
        let found = find(&mut *pool.acquire().await?, Lookup::Id(order)).await?;
        let order = found.ok_or_else(|| BadInput::new(format!("there is no order {order}")))?;
        let Some(payment_id) = yookassa_payment(&order) else {
            return Ok(order);
        };
        if order.state == State::AwaitingPayment {
            let payment = self
                .client
                .get_payment(payment_id)
                .await
                .with_context(|| format!("asking YooKassa about the payment of order {}", order.reference))?;
            orders::settle(pool, &payment, "yookassa-check", at).await?;
        }
        let found = find(&mut *pool.acquire().await?, Lookup::Id(order.id)).await?;
        found.ok_or_else(|| anyhow::anyhow!("order {} vanished", order.reference))
    }

    /// The URL of the payment an order already awaits: fetched, not asked again, so it holds past
    /// YooKassa's 24 hours of idempotence.
    async fn pending_url(&self, order: &Order, plan: &str) -> anyhow::Result<url::Url> {
        let Some(payment_id) = yookassa_payment(order) else {
            let provider = order.provider.map_or_else(|| "another provider".to_string(), |p| p.to_string());
            return Err(BadInput::new(format!("order {} awaits a payment through {provider}", order.reference)).into());
        };
        if order.plan.as_deref() != Some(plan) {
            return Err(BadInput::new(format!(
                "order {} already awaits the payment for plan `{}`",
                order.reference,
                order.plan.as_deref().unwrap_or_default()
            ))
            .into());
        }
        let payment = self
            .client
            .get_payment(payment_id)
            .await
            .with_context(|| format!("asking YooKassa about the payment of order {}", order.reference))?;
        if payment.status.is_final() {
            return Err(already(order, &payment).into());
        }
        let asked = order.amount.ok_or_else(|| anyhow::anyhow!("order {} has no amount", order.reference))?;
        check_answer(order, &payment, asked)?;
        confirmation_url(order, &payment)
    }
}

/// The order's YooKassa payment id, if its payment was asked of YooKassa.
fn yookassa_payment(order: &Order) -> Option<&str> {
    order.payment_id.as_deref().filter(|_| order.provider == Some(Provider::Yookassa))
}

fn already(order: &Order, payment: &Payment) -> BadInput {
    BadInput::new(format!(
        "the payment of order {} is {} already: there is nothing left to pay",
        order.reference, payment.status
    ))
}

/// Whether YooKassa's answer is the payment botctl asked for: its amount and its order.
fn check_answer(order: &Order, payment: &Payment, asked: Money) -> anyhow::Result<()> {
    if payment.amount != asked || payment.metadata.get(ORDER_KEY) != Some(&order.reference) {
        anyhow::bail!(
            "YooKassa answered with payment `{}` of {} for `{}`, not order {}'s payment of {asked}",
            payment.id,
            payment.amount,
            payment.metadata.get(ORDER_KEY).map_or("no order", String::as_str),
            order.reference
        );
    }
    Ok(())
}

/// Where the buyer pays.
fn confirmation_url(order: &Order, payment: &Payment) -> anyhow::Result<url::Url> {
    payment.confirmation_url().cloned().ok_or_else(|| {
        anyhow::anyhow!("YooKassa's payment `{}` for order {} has no confirmation URL", payment.id, order.reference)
    })
}

/// The payment asked for an order: the same order and plan always give the same body, which is what
/// lets a retry with the same idempotence key find the first payment instead of being refused.
pub fn new_payment(
    order: &Order,
    plan: &Plan,
    price: Money,
    return_url: &url::Url,
    receipt: Option<&ReceiptSettings>,
) -> anyhow::Result<NewPayment> {
    if price.currency != Currency::Rub {
        return Err(BadInput::new(format!("YooKassa takes rubles only, not {price}")).into());
    }
    let name = match order.buyer.language {
        Locale::Ru => &plan.name_ru,
        Locale::En => &plan.name_en,
    };
    let description = clip(&format!("{} · {name} · {}", order.kind, order.reference));
    let receipt = receipt.map(|settings| Receipt {
        customer: settings.customer.clone(),
        items: vec![ReceiptItem {
            description: clip(
                &settings.description.replace("{plan}", &plan.name_ru).replace("{days}", &plan.days.to_string()),
            ),
            quantity: 1,
            amount: price,
            vat_code: settings.vat_code,
            payment_mode: PaymentMode::FullPrepayment,
            payment_subject: PaymentSubject::Service,
        }],
        tax_system_code: settings.tax_system_code,
    });
    Ok(NewPayment {
        amount: price,
        description,
        return_url: return_url.clone(),
        metadata: BTreeMap::from([(ORDER_KEY.to_string(), order.reference.clone())]),
        receipt,
    })
}

/// YooKassa refuses a description over 128 characters; a long plan name is cut, not a refused payment.
fn clip(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::orders::Buyer;

    fn order() -> Order {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        Order {
            id: 1,
            reference: "abcdefgh12345678".into(),
            buyer: Buyer { user_id: 7, chat_id: 7, language: Locale::En },
            kind: Kind::Purchase,
            state: State::Draft,
            business_name: Some("Barber".into()),
            tenant: None,
            bot: None,
            template: None,
            timezone: None,
            plan: None,
            amount: None,
            provider: None,
            payment_id: None,
            idempotence_key: None,
            reason: None,
            buyer_told_at: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn plan() -> Plan {
        Plan {
            code: "month".into(),
            name_ru: "Месяц".into(),
            name_en: "Month".into(),
            days: 30,
            active: true,
            prices: vec![Money::new(29_900, Currency::Rub)],
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_payment_names_its_order_and_carries_the_receipt() {
        let settings = ReceiptSettings {
            vat_code: VatCode::NO_VAT,
            tax_system_code: Some(2),
            description: DEFAULT_RECEIPT_DESCRIPTION.into(),
            customer: Customer { email: Some("receipts@example.com".into()), phone: None },
        };
        let price = Money::new(29_900, Currency::Rub);
        let url: url::Url = "https://t.me/sales_bot".parse().unwrap();
        let new = new_payment(&order(), &plan(), price, &url, Some(&settings)).unwrap();
        assert_eq!(new.amount, price);
        assert_eq!(new.metadata, BTreeMap::from([("order".to_string(), "abcdefgh12345678".to_string())]));
        assert_eq!(new.description, "purchase · Month · abcdefgh12345678");
        let receipt = new.receipt.unwrap();
        assert_eq!(receipt.tax_system_code, Some(2));
        assert_eq!(receipt.customer.email.as_deref(), Some("receipts@example.com"));
        assert_eq!(receipt.items[0].description, "Подписка на бота записи: Месяц, 30 дн.");
        assert_eq!(receipt.items[0].amount, price);
        assert_eq!(receipt.items[0].payment_mode, PaymentMode::FullPrepayment);
        let again = new_payment(&order(), &plan(), price, &url, Some(&settings)).unwrap();
        assert_eq!(again.description, "purchase · Month · abcdefgh12345678", "the same order gives the same body");
    }

    #[test]
    fn stars_are_not_asked_of_yookassa_and_long_names_are_cut() {
        let url: url::Url = "https://t.me/sales_bot".parse().unwrap();
        let stars = new_payment(&order(), &plan(), Money::new(150, Currency::Xtr), &url, None).unwrap_err();
        assert!(crate::error::has::<BadInput>(&stars), "{stars}");
        let mut long = plan();
        long.name_en = "x".repeat(300);
        let new = new_payment(&order(), &long, Money::new(100, Currency::Rub), &url, None).unwrap();
        assert_eq!(new.description.chars().count(), MAX_DESCRIPTION);
        assert!(new.receipt.is_none());
    }
}
