//! What an order holds, as the sales bot and the resumer see it, and what each step may set on it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::machine::{Event, Kind, State};
use crate::billing::{Money, Provider};
use crate::error::BadInput;
use crate::locale::Locale;
use crate::telegram::BotToken;
use crate::tenant::TenantSlug;

/// The Telegram user buying, and where to answer them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Buyer {
    pub user_id: i64,
    pub chat_id: i64,
    pub language: Locale,
}

/// A bot whose token has been checked (`getMe`): its id and username are public, the token is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderBot {
    pub id: i64,
    pub username: String,
}

/// One order, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    /// The public name of the order: YooKassa's `metadata`, the Stars invoice payload.
    pub reference: String,
    pub buyer: Buyer,
    pub kind: Kind,
    pub state: State,
    pub business_name: Option<String>,
    /// The tenant made (or, for a renewal, renewed) by this order; claimed while still a draft.
    pub tenant: Option<TenantSlug>,
    pub bot: Option<OrderBot>,
    pub template: Option<String>,
    #[serde(serialize_with = "tz_name")]
    pub timezone: Option<Tz>,
    pub plan: Option<String>,
    /// What the payment asks for, fixed when it is requested.
    pub amount: Option<Money>,
    pub provider: Option<Provider>,
    /// The provider's id of the payment (YooKassa's payment id, Stars' `telegram_payment_charge_id`).
    pub payment_id: Option<String>,
    pub idempotence_key: Option<String>,
    /// Why it failed or was canceled.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the order last changed: a state entered, or a draft's choice.
    pub updated_at: DateTime<Utc>,
    /// When the buyer was told how a failed or canceled order ended.
    pub buyer_told_at: Option<DateTime<Utc>>,
}

fn tz_name<S: serde::Serializer>(tz: &Option<Tz>, serializer: S) -> Result<S::Ok, S::Error> {
    Serialize::serialize(&tz.map(|tz| tz.name()), serializer)
}

impl Order {
    /// The `Idempotence-Key` of this order's payment request: derived from the order, so a request
    /// retried after a timeout (or by a resumed daemon) finds the same payment instead of making a second.
    pub fn payment_idempotence_key(&self) -> String {
        format!("botctl-order-{}", self.reference)
    }

    /// What a new business's order still lacks before it can be paid for (or its trial begun).
    pub fn missing(&self) -> Vec<&'static str> {
        if !self.kind.creates_tenant() {
            return Vec::new();
        }
        let mut missing = Vec::new();
        for (absent, what) in [
            (self.business_name.is_none(), "business name"),
            (self.tenant.is_none(), "tenant name"),
            (self.bot.is_none(), "bot"),
            (self.template.is_none(), "template"),
            (self.timezone.is_none(), "time zone"),
        ] {
            if absent {
                missing.push(what);
            }
        }
        missing
    }
}

/// A new order, in `draft`.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub buyer: Buyer,
    pub kind: Kind,
    /// The tenant a renewal is for; none for a new business (its name is chosen in the draft).
    pub tenant: Option<TenantSlug>,
    pub plan: Option<String>,
}

/// A bot checked with `getMe`, with the token that will run it.
#[derive(Debug, Clone)]
pub struct CheckedBot {
    /// Redacted in `Debug`; stored apart from the order until the tenant is made.
    pub token: BotToken,
    pub username: String,
}

/// What the buyer chose while the order is a draft; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DraftChanges {
    pub business_name: Option<String>,
    pub tenant: Option<TenantSlug>,
    pub bot: Option<CheckedBot>,
    pub template: Option<String>,
    pub timezone: Option<Tz>,
    pub plan: Option<String>,
}

/// What a transition sets on the order, as the event brings it; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotence_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Facts {
    /// Which facts an event may bring: the payment's terms only when it is requested (so the amount
    /// is fixed then), the provider's id then or on success, a reason only with a failure or cancel.
    pub fn check(&self, event: Event) -> Result<(), BadInput> {
        let terms = self.plan.is_some() || self.amount.is_some() || self.provider.is_some();
        if (terms || self.idempotence_key.is_some()) && event != Event::PaymentRequested {
            return Err(BadInput::new(format!(
                "an order's plan, amount, provider and idempotence key are fixed when the payment is requested, \
                 not on `{event}`"
            )));
        }
        if self.payment_id.is_some() && !matches!(event, Event::PaymentRequested | Event::PaymentSucceeded) {
            return Err(BadInput::new(format!("a payment id comes with the payment, not on `{event}`")));
        }
        if self.reason.is_some() && !matches!(event, Event::Failed | Event::Canceled) {
            return Err(BadInput::new(format!("a reason goes with a failure or a cancel, not with `{event}`")));
        }
        if event == Event::Failed && self.reason.is_none() {
            return Err(BadInput::new("a failed order needs its reason (for the operator's alert)"));
        }
        if self.provider == Some(Provider::Manual) {
            return Err(BadInput::new("a buyer pays through YooKassa or Telegram Stars, not `manual`"));
        }
        if let Some(amount) = self.amount
            && amount.minor <= 0
        {
            return Err(BadInput::new(format!("{amount}: an order's payment must be more than nothing")));
        }
        let text = |value: &Option<String>, what: &str, max: usize| match value {
            Some(v) if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) => {
                Err(BadInput::new(format!("{what} must be 1-{max} characters without control characters")))
            }
            _ => Ok(()),
        };
        text(&self.payment_id, "a payment id", 128)?;
        text(&self.idempotence_key, "an idempotence key", 64)?;
        text(&self.reason, "a reason", 500)?;
        Ok(())
    }
}

/// The columns an [`OrderRow`] reads, named (never `*`: a later column must not break a cached plan).
pub(super) const COLUMNS: &str = "id, reference, buyer_user_id, buyer_chat_id, buyer_language, kind, state, \
     business_name, tenant_slug, bot_id, bot_username, template, timezone, plan, amount, currency, provider, \
     payment_id, idempotence_key, reason, created_at, updated_at, buyer_told_at";

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    id: i64,
    reference: String,
    buyer_user_id: i64,
    buyer_chat_id: i64,
    buyer_language: String,
    kind: String,
    state: String,
    business_name: Option<String>,
    tenant_slug: Option<String>,
    bot_id: Option<i64>,
    bot_username: Option<String>,
    template: Option<String>,
    timezone: Option<String>,
    plan: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    provider: Option<String>,
    payment_id: Option<String>,
    idempotence_key: Option<String>,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    buyer_told_at: Option<DateTime<Utc>>,
}

impl TryFrom<OrderRow> for Order {
    type Error = anyhow::Error;

    /// Checked, not trusted: a row another version wrote is an error naming the order, not a panic.
    fn try_from(row: OrderRow) -> anyhow::Result<Order> {
        let id = row.id;
        let context = || format!("reading order {id}");
        let amount = match (row.amount, row.currency) {
            (Some(minor), Some(currency)) => Some(Money::new(minor, currency.parse().with_context(context)?)),
            _ => None,
        };
        let bot = match (row.bot_id, row.bot_username) {
            (Some(id), Some(username)) => Some(OrderBot { id, username }),
            _ => None,
        };
        Ok(Order {
            id,
            reference: row.reference,
            buyer: Buyer {
                user_id: row.buyer_user_id,
                chat_id: row.buyer_chat_id,
                language: row.buyer_language.parse().with_context(context)?,
            },
            kind: row.kind.parse().map_err(anyhow::Error::msg).with_context(context)?,
            state: row.state.parse().map_err(anyhow::Error::msg).with_context(context)?,
            business_name: row.business_name,
            tenant: row.tenant_slug.map(|s| s.parse()).transpose().with_context(context)?,
            bot,
            template: row.template,
            timezone: row
                .timezone
                .map(|tz| tz.parse::<Tz>().map_err(|e| anyhow::anyhow!("time zone `{tz}`: {e}")))
                .transpose()
                .with_context(context)?,
            plan: row.plan,
            amount,
            provider: row.provider.map(|p| p.parse()).transpose().map_err(anyhow::Error::msg).with_context(context)?,
            payment_id: row.payment_id,
            idempotence_key: row.idempotence_key,
            reason: row.reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
            buyer_told_at: row.buyer_told_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Currency;

    fn rub(minor: i64) -> Option<Money> {
        Some(Money::new(minor, Currency::Rub))
    }

    #[test]
    fn payment_terms_come_only_with_the_request() {
        let terms = Facts {
            plan: Some("1m".into()),
            amount: rub(29_900),
            provider: Some(Provider::Yookassa),
            idempotence_key: Some("k".into()),
            ..Facts::default()
        };
        assert!(terms.check(Event::PaymentRequested).is_ok());
        let err = terms.check(Event::PaymentSucceeded).unwrap_err().to_string();
        assert!(err.contains("fixed when the payment is requested"), "{err}");
        let id = Facts { payment_id: Some("pay-1".into()), ..Facts::default() };
        assert!(id.check(Event::PaymentSucceeded).is_ok());
        assert!(id.check(Event::Credited).is_err());
    }

    #[test]
    fn a_failure_needs_a_reason_and_only_failures_and_cancels_have_one() {
        assert!(Facts::default().check(Event::Failed).unwrap_err().to_string().contains("needs its reason"));
        let reason = Facts { reason: Some("container did not start".into()), ..Facts::default() };
        assert!(reason.check(Event::Failed).is_ok());
        assert!(reason.check(Event::Canceled).is_ok());
        assert!(reason.check(Event::Delivered).is_err());
        let blank = Facts { reason: Some(String::new()), ..Facts::default() };
        assert!(blank.check(Event::Failed).is_err());
    }

    #[test]
    fn a_checked_bot_never_shows_its_token() {
        let secret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let bot = CheckedBot { token: format!("123456789:{secret}").parse().unwrap(), username: "a_bot".into() };
        let changes = DraftChanges { bot: Some(bot), ..DraftChanges::default() };
        let shown = format!("{changes:?}");
        assert!(shown.contains("123456789") && !shown.contains(secret), "{shown}");
    }

    #[test]
    fn manual_payments_and_empty_amounts_are_not_a_buyers() {
        let manual = Facts { provider: Some(Provider::Manual), ..Facts::default() };
        assert!(manual.check(Event::PaymentRequested).unwrap_err().to_string().contains("not `manual`"));
        let free = Facts { amount: rub(0), ..Facts::default() };
        assert!(free.check(Event::PaymentRequested).is_err());
    }
}
