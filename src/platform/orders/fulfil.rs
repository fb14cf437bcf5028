//! Carrying an order from paid (or a confirmed trial) to a running bot: the tenant made as `tenant create`
//! makes it, the days credited, the bot started — each step looking first at what is already true, so a
//! step repeated after a crash does nothing twice. A step that cannot succeed however often it is tried
//! fails the order, and a paid one raises the operator's alert in the same commit.

use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;
use sqlx::{Connection, PgPool};

use super::advance::{Outcome, Transition, advance};
use super::machine::{Event, Kind, State};
use super::model::{Facts, Order};
use super::store::{Lookup, find, token};
use crate::billing::{self, CreditRequest, Payment, plans, subscription};
use crate::config::template::{self, TemplateError};
use crate::error::BadInput;
use crate::platform::alerts::{self, Alert};
use crate::platform::fleet::Fleet;
use crate::progress::Progress;
use crate::tenant::TenantSlug;
use crate::tenant::lifecycle;
use crate::tenant::ops::CreateOptions;
use crate::tenant::runtime;
use crate::tenant::store::{self as tenants, Tenant};

/// What the operator's alert for a failed paid order asks of them.
pub const FAILED_PAID_ADVICE: &str = "money taken: finish by hand or refund";

/// The provisioner of orders: the same operations as `tenant create`, `billing credit` and `tenant start`.
pub struct Fulfiller {
    pub pool: PgPool,
    pub fleet: Fleet,
    /// Where tenant bots reach Telegram (settings' telegram.api_url).
    pub telegram_api_url: url::Url,
    /// billing.trial, in whole days.
    pub trial_days: i32,
    /// Recorded in events/history, e.g. "platform:sales".
    pub actor: String,
}

/// Why a step did not succeed.
enum Failure {
    /// Trying again cannot help (the token revoked, the name taken meanwhile, the template gone): the
    /// order fails with this reason.
    Permanent(String),
    /// The engine or the database did not answer: the order stays where it is, to be tried again.
    Retry(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    /// Refusals (bad input, an unknown template) are for good; everything else is worth another try.
    fn from(error: anyhow::Error) -> Failure {
        let permanent = error.chain().any(|cause| cause.is::<BadInput>() || cause.is::<TemplateError>());
        if permanent { Failure::Permanent(reason(&error)) } else { Failure::Retry(error) }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        Failure::Retry(error.into())
    }
}

/// The reason stored on the order: the error's whole chain, cut to the column's 500 characters.
fn reason(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    let text = text.trim();
    let text = if text.is_empty() { "the order could not be carried out" } else { text };
    text.chars().take(500).collect()
}

impl Fulfiller {
    /// Carries the order as far as it can go without the buyer, and returns it as it then stands.
    ///
    /// `Err` is a retryable failure (the engine unreachable, the database gone for a moment): the order
    /// is left in its state for the resumer. A permanent one is not an `Err`: the order comes back `failed`
    /// with its reason (and, when paid, the operator alerted).
    pub async fn carry(&self, order: i64, progress: &dyn Progress) -> anyhow::Result<Order> {
        let mut order = self.load(order).await?;
        loop {
            let step = match (order.kind, order.state) {
                (Kind::Trial, State::Draft) if order.missing().is_empty() => self.create(&order, progress).await,
                (Kind::Purchase, State::Paid) => self.create(&order, progress).await,
                (Kind::Renewal, State::Paid) => self.renew(&order, progress).await,
                (Kind::Trial | Kind::Purchase, State::Credited) => self.start(&order, progress).await,
                _ => return Ok(order),
            };
            let before = order.state;
            order = match step {
                Ok(next) => next,
                Err(Failure::Retry(error)) => {
                    return Err(error.context(format!("carrying order {} on from `{before}`", order.reference)));
                }
                Err(Failure::Permanent(why)) => return self.fail(&order, &why).await,
            };
            if order.state == before {
                // Not moved by us nor by anyone: nothing more to do now.
                return Ok(order);
            }
        }
    }

    async fn load(&self, id: i64) -> anyhow::Result<Order> {
        find(&mut *self.pool.acquire().await?, Lookup::Id(id))
            .await?
            .ok_or_else(|| BadInput::new(format!("there is no order {id}")).into())
    }

    /// Moves the order on from the state it was seen in; someone else having moved it first is fine.
    async fn advance(&self, order: &Order, event: Event, facts: Facts) -> Result<Order, Failure> {
        let step =
            Transition { order: order.id, from: order.state, event, facts, actor: self.actor.clone(), at: Utc::now() };
        let advanced = advance(&mut *self.pool.acquire().await?, &step).await?;
        if advanced.outcome == Outcome::NotInState {
            tracing::info!(order = %order.reference, state = %advanced.order.state, "order moved on meanwhile");
        }
        Ok(advanced.order)
    }

    /// A new business's tenant, with its trial or its paid days, in one commit; then `credited`. A tenant
    /// already there with this order's bot is this order's, made before a crash kept the order from
    /// moving on: it is not made again.
    async fn create(&self, order: &Order, progress: &dyn Progress) -> Result<Order, Failure> {
        let slug = order.tenant.clone().ok_or_else(|| permanent("the order names no tenant"))?;
        let bot = order.bot.clone().ok_or_else(|| permanent("the order has no bot"))?;
        let start = match order.kind {
            Kind::Purchase => billing::Start::Paid(self.payment(order).await?),
            _ => billing::Start::Trial { days: self.trial_days },
        };
        if !self.made(order, &slug, bot.id, &start).await? {
            let options = self.options(order, &slug).await?;
            let created = lifecycle::create(self.fleet.servers(), &options, &start, None, &self.actor, progress).await;
            // Another carry of this order (the sales bot's and the resumer's, two daemons) may have made
            // it first: then the refusal of a second one is this order's success, not its failure.
            if let Err(error) = created
                && !self.made(order, &slug, bot.id, &start).await?
            {
                return Err(error.into());
            }
        }
        self.advance(order, Event::Credited, Facts::default()).await
    }

    /// Whether the order's tenant exists already, made by this order (its name with its bot); a paid
    /// one then has its payment, credited now if whoever made the tenant did not.
    async fn made(&self, order: &Order, slug: &TenantSlug, bot: i64, start: &billing::Start) -> Result<bool, Failure> {
        let existing = tenants::find(&mut *self.pool.acquire().await?, slug.as_str()).await?;
        match existing {
            None => Ok(false),
            Some(tenant) if tenant.bot_id != bot => {
                Err(permanent(format!("the name `{slug}` was taken by another tenant meanwhile")))
            }
            Some(_) => {
                if let billing::Start::Paid(payment) = start {
                    // Made with its payment in the one commit, so this finds it credited; a tenant made
                    // without it (by hand) gets it now, once.
                    let request = CreditRequest { tenant: slug.to_string(), payment: payment.clone() };
                    billing::credit(&self.pool, &request, &self.actor, Utc::now()).await?;
                }
                tracing::info!(order = %order.reference, tenant = %slug, "the order's tenant exists already");
                Ok(true)
            }
        }
    }

    /// The tenant's settings from the order, as `tenant create` takes them.
    async fn options(&self, order: &Order, slug: &TenantSlug) -> Result<CreateOptions, Failure> {
        let token = token(&mut *self.pool.acquire().await?, order.id)
            .await?
            .ok_or_else(|| permanent("the bot's token is no longer held: the buyer must give it again"))?;
        let name = order.template.as_deref().ok_or_else(|| permanent("the order has no template"))?;
        let template = template::embedded(name, order.buyer.language)
            .with_context(|| format!("template `{name}` is no longer offered"))?;
        Ok(CreateOptions {
            slug: slug.clone(),
            token,
            admins: vec![order.buyer.user_id],
            timezone: order.timezone.ok_or_else(|| permanent("the order has no time zone"))?,
            locale: order.buyer.language,
            display_name: order.business_name.clone(),
            template,
            memory_mb: None,
            cpus: None,
            telegram_api_url: self.telegram_api_url.clone(),
            server: None,
        })
    }

    /// The order's payment as the ledger records it: its days are the plan's, sold or not since, since
    /// the price was checked when the payment was asked for.
    async fn payment(&self, order: &Order) -> Result<Payment, Failure> {
        let (Some(provider), Some(payment_id), Some(amount), Some(code)) =
            (order.provider, order.payment_id.clone(), order.amount, order.plan.clone())
        else {
            return Err(permanent("the paid order lacks its provider, payment id, amount or plan"));
        };
        let plan = plans::require(&mut *self.pool.acquire().await?, &code).await?;
        Ok(Payment {
            provider,
            reference: payment_id,
            amount,
            days: plan.days,
            plan: Some(plan.code),
            note: Some(format!("order {}", order.reference)),
            raw: json!({ "order": order.reference, "provider": provider.as_str() }),
        })
    }

    /// A renewal's payment credited to its tenant (once, whatever repeats it), its bot started if the
    /// subscription was suspended; then `credited`.
    async fn renew(&self, order: &Order, progress: &dyn Progress) -> Result<Order, Failure> {
        let slug = order.tenant.clone().ok_or_else(|| permanent("the renewal names no tenant"))?;
        let payment = self.payment(order).await?;
        let request = CreditRequest { tenant: slug.to_string(), payment };
        let credited = billing::credit(&self.pool, &request, &self.actor, Utc::now()).await?;
        if credited.start_pending {
            // Money is in: a bot that does not start now is the clock's to retry, not the order's failure.
            let started = async {
                let engine = self.fleet.engine().await?;
                runtime::start(self.fleet.servers(), engine, &slug, self.fleet.runtime()?, &self.actor, progress)
                    .await?;
                subscription::started(&mut *self.pool.acquire().await?, slug.as_str()).await
            };
            if let Err(error) = started.await {
                tracing::warn!(order = %order.reference, tenant = %slug, "the renewed bot did not start yet: {error:#}");
            }
        }
        self.advance(order, Event::Credited, Facts::default()).await
    }

    /// The tenant's bot started (a running one is left running); then `provisioned`.
    async fn start(&self, order: &Order, progress: &dyn Progress) -> Result<Order, Failure> {
        let slug = order.tenant.clone().ok_or_else(|| permanent("the order names no tenant"))?;
        let tenant = self.tenant(&slug).await?;
        if tenant.status != "running" {
            let options = self.fleet.runtime().map_err(Failure::Retry)?;
            let engine = self.fleet.engine().await.map_err(Failure::Retry)?;
            runtime::start(self.fleet.servers(), engine, &slug, options, &self.actor, progress).await?;
        }
        self.advance(order, Event::Provisioned, Facts::default()).await
    }

    async fn tenant(&self, slug: &TenantSlug) -> Result<Tenant, Failure> {
        tenants::find(&mut *self.pool.acquire().await?, slug.as_str())
            .await?
            .ok_or_else(|| permanent(format!("tenant `{slug}` no longer exists")))
    }

    /// Fails the order for good; a paid one raises the operator's alert in the same commit, once.
    async fn fail(&self, order: &Order, why: &str) -> anyhow::Result<Order> {
        tracing::warn!(order = %order.reference, state = %order.state, "the order failed: {why}");
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let step = Transition {
            order: order.id,
            from: order.state,
            event: Event::Failed,
            facts: Facts { reason: Some(why.to_string()), ..Facts::default() },
            actor: self.actor.clone(),
            at: Utc::now(),
        };
        let advanced = advance(&mut tx, &step).await?;
        if advanced.outcome == Outcome::Moved && order.state.is_paid() {
            alerts::raise(&mut tx, &failed_alert(&advanced.order, why)).await?;
        }
        tx.commit().await?;
        Ok(advanced.order)
    }
}

fn permanent(why: impl Into<String>) -> Failure {
    Failure::Permanent(why.into())
}

/// The alert for a paid order that failed: one per order, whatever repeats the failure.
pub fn failed_alert(order: &Order, why: &str) -> Alert {
    let amount = order.amount.map_or_else(|| "-".to_string(), |m| m.to_string());
    let provider = order.provider.map_or_else(|| "-".to_string(), |p| p.to_string());
    Alert {
        kind: alerts::Kind::OrderFailed,
        tenant: order.tenant.as_ref().map(|t| t.to_string()),
        key: format!("order_failed:{}", order.reference),
        condition: None,
        facts: vec![
            ("order".into(), order.reference.clone()),
            ("buyer".into(), order.buyer.user_id.to_string()),
            ("amount".into(), amount),
            ("provider".into(), provider),
            ("payment".into(), order.payment_id.clone().unwrap_or_else(|| "-".into())),
            ("reason".into(), why.to_string()),
            ("advice".into(), FAILED_PAID_ADVICE.into()),
        ],
        raised_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_fail_the_order_and_outages_are_retried() {
        let refused = anyhow::Error::new(BadInput::new("Telegram rejected the token")).context("creating tenant");
        assert!(matches!(Failure::from(refused), Failure::Permanent(r) if r.contains("rejected the token")));
        let gone = TemplateError::UnknownEmbedded { name: "x".into(), available: vec!["barbershop"] };
        assert!(matches!(Failure::from(anyhow::Error::new(gone)), Failure::Permanent(_)));
        assert!(matches!(Failure::from(anyhow::anyhow!("engine unreachable")), Failure::Retry(_)));
    }

    #[test]
    fn a_reason_fits_its_column() {
        let long = anyhow::anyhow!("{}", "x".repeat(2000));
        assert_eq!(reason(&long).chars().count(), 500);
        assert!(!reason(&anyhow::anyhow!("  ")).is_empty());
    }
}
