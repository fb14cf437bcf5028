//! Refunding a recorded payment, the one operation `botctl billing refund` and the operator bot share:
//! the money goes back at its provider first (Telegram Stars with the sales bot, YooKassa with the shop),
//! and only once the provider has returned it is the revocation recorded by the billing core, which
//! takes the payment's days back. A manual payment has no provider to ask: it is recorded as before.
//!
//! Every step is safe to repeat: Telegram answers a second refund `CHARGE_ALREADY_REFUNDED`, YooKassa
//! returns the first refund for the same idempotence key, and the revocation is recorded once.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use super::yookassa::{self, RefundStatus};
use crate::billing::credit::{self, Provider, RefundOutcome, Refunded};
use crate::billing::{Currency, Money};
use crate::error::BadInput;
use crate::telegram::BotToken;
use crate::telegram::stars::{StarRefund, refund_star_payment};

/// The bot buyers paid in Stars (the sales bot): a Stars payment is refunded by the bot it was paid to.
#[derive(Clone)]
pub struct StarsBot {
    pub api_url: url::Url,
    pub token: BotToken,
}

/// The providers a refund can be asked of; one left out refuses its payments' refunds with the setting
/// to give.
#[derive(Clone, Default)]
pub struct Providers {
    pub stars: Option<StarsBot>,
    pub yookassa: Option<yookassa::Client>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("stars", &self.stars.as_ref().map(|s| s.token.bot_id()))
            .field("yookassa", &self.yookassa.is_some())
            .finish()
    }
}

/// A recorded payment, as a refund is asked about it (the confirmation names these).
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The payment's row in `botctl.payments`.
    #[serde(skip)]
    pub id: i64,
    pub tenant: String,
    pub provider: Provider,
    pub reference: String,
    pub amount: Money,
    pub days: i32,
    /// `succeeded`, or `refunded` for one refunded already.
    pub state: String,
}

impl Target {
    pub fn refunded(&self) -> bool {
        self.state == "refunded"
    }
}

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AtProvider {
    /// Not asked: a manual payment, or one whose refund is recorded already.
    NotAsked,
    /// The provider returned the money now.
    Refunded,
    /// The provider had returned it before (Stars' `CHARGE_ALREADY_REFUNDED`).
    AlreadyRefunded,
    /// YooKassa took the refund but has not finished it: its `refund.succeeded` notification records it.
    Pending { refund_id: String },
}

/// How a refund ended.
#[derive(Debug, Clone)]
pub struct Refund {
    pub target: Target,
    pub at_provider: AtProvider,
    /// The revocation, as the billing core recorded it (or found it recorded); `None` while pending.
    pub recorded: Option<Refunded>,
}

impl Refund {
    /// Whether this call changed nothing because the payment was refunded before.
    pub fn was_refunded_already(&self) -> bool {
        self.recorded.as_ref().is_some_and(|r| r.outcome == RefundOutcome::AlreadyRefunded)
    }
}

const TARGET_COLUMNS: &str = "p.id, t.slug, p.provider, p.reference, p.amount, p.currency, p.days, p.state";

type TargetRow = (i64, String, String, String, i64, String, i32, String);

fn target(row: TargetRow) -> anyhow::Result<Target> {
    let (id, tenant, provider, reference, amount, currency, days, state) = row;
    let provider: Provider = provider.parse().map_err(anyhow::Error::msg)?;
    let currency: Currency = currency.parse()?;
    Ok(Target { id, tenant, provider, reference, amount: Money::new(amount, currency), days, state })
}

/// The payment `reference` of `provider`, if one is recorded.
pub async fn find(conn: &mut PgConnection, provider: Provider, reference: &str) -> anyhow::Result<Option<Target>> {
    let sql = format!(
        "SELECT {TARGET_COLUMNS} FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
         WHERE p.provider = $1 AND p.reference = $2"
    );
    let row: Option<TargetRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider.as_str()).bind(reference).fetch_optional(conn).await?;
    row.map(target).transpose()
}

/// The payment with row id `id` (what a confirmation button carries), if one is recorded.
pub async fn by_id(conn: &mut PgConnection, id: i64) -> anyhow::Result<Option<Target>> {
    let sql = format!(
        "SELECT {TARGET_COLUMNS} FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id WHERE p.id = $1"
    );
    let row: Option<TargetRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.map(target).transpose()
}

/// The live tenant's newest succeeded payment (the card's "last payment"), for "Refund last payment".
pub async fn last_payment(conn: &mut PgConnection, tenant: &str) -> anyhow::Result<Option<Target>> {
    let sql = format!(
        "SELECT {TARGET_COLUMNS} FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id \
         WHERE t.slug = $1 AND t.deleted_at IS NULL AND p.state = 'succeeded' \
         ORDER BY p.created_at DESC, p.id DESC LIMIT 1"
    );
    let row: Option<TargetRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_optional(conn).await?;
    row.map(target).transpose()
}

/// The payment, or a bad-input error naming where to look.
async fn require(pool: &PgPool, provider: Provider, reference: &str) -> anyhow::Result<Target> {
    let found = find(&mut *pool.acquire().await?, provider, reference).await?;
    found.ok_or_else(|| {
        BadInput::new(format!("no {provider} payment with reference `{reference}` (see `botctl billing ledger`)"))
            .into()
    })
}

/// The `Idempotence-Key` of a YooKassa payment's refund: derived from the payment, so a retried or
/// repeated refund (the CLI and the operator bot at once) is one refund at YooKassa. Hashed, as a
/// reference may be longer than the 64 characters a key may have.
pub fn yookassa_refund_key(payment_id: &str) -> String {
    let digest = Sha256::digest(payment_id.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("botctl-refund-{hex}")
}

/// Refunds payment `reference` of `provider`: at the provider first, then the revocation (days taken
/// back, a `revocation` ledger row). A payment refunded already changes nothing and says so (the
/// provider is not asked again). A YooKassa refund still pending is reported and not recorded: its
/// `refund.succeeded` notification records it.
pub async fn refund(
    pool: &PgPool,
    providers: &Providers,
    provider: Provider,
    reference: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Refund> {
    let target = require(pool, provider, reference).await?;
    let record = || credit::refund(pool, provider, reference, actor, now);
    if target.refunded() {
        let recorded = record().await?;
        return Ok(Refund { target, at_provider: AtProvider::NotAsked, recorded: Some(recorded) });
    }
    if target.state != "succeeded" {
        return Err(BadInput::new(format!(
            "{provider} payment `{reference}` is {}, not succeeded: there is nothing to refund",
            target.state
        ))
        .into());
    }
    let at_provider = match provider {
        Provider::Manual => AtProvider::NotAsked,
        Provider::Stars => refund_stars(pool, providers, &target).await?,
        Provider::Yookassa => refund_yookassa(providers, &target).await?,
    };
    if let AtProvider::Pending { refund_id } = &at_provider {
        tracing::info!(payment = reference, refund = refund_id, "a YooKassa refund is pending");
        return Ok(Refund { target, at_provider, recorded: None });
    }
    let recorded = match record().await {
        Ok(recorded) => recorded,
        Err(error) if provider == Provider::Manual => return Err(error),
        Err(error) => {
            // The money is back at the provider: the revocation must not be lost quietly. Repeating the
            // refund records it (the provider answers "already refunded").
            tracing::error!(
                provider = %provider,
                payment = reference,
                error = format!("{error:#}"),
                "refunded at the provider, but the revocation was not recorded; repeat the refund to record it"
            );
            return Err(error.context(format!(
                "{provider} refunded payment `{reference}`, but recording it failed: repeat the refund to record it"
            )));
        }
    };
    Ok(Refund { target, at_provider, recorded: Some(recorded) })
}

/// The Telegram user who paid Stars charge `charge_id`: the buyer of the order it paid.
async fn stars_payer(pool: &PgPool, charge_id: &str) -> anyhow::Result<i64> {
    let payer: Option<i64> =
        sqlx::query_scalar("SELECT buyer_user_id FROM botctl.orders WHERE provider = 'stars' AND payment_id = $1")
            .bind(charge_id)
            .fetch_optional(pool)
            .await?;
    payer.ok_or_else(|| {
        BadInput::new(format!(
            "no order was paid by Stars charge `{charge_id}`, so who paid it is unknown: refund it from the \
             sales bot's chat with the buyer"
        ))
        .into()
    })
}

async fn refund_stars(pool: &PgPool, providers: &Providers, target: &Target) -> anyhow::Result<AtProvider> {
    let Some(bot) = &providers.stars else {
        return Err(BadInput::new(
            "Stars payments are refunded by the sales bot they were paid to: set `platform.sales_bot.token` \
             (or `token_file`)",
        )
        .into());
    };
    let user = stars_payer(pool, &target.reference).await?;
    tracing::info!(payment = target.reference, user, tenant = target.tenant, "refunding a Stars payment");
    Ok(match refund_star_payment(&bot.api_url, &bot.token, user, &target.reference).await? {
        StarRefund::Refunded => AtProvider::Refunded,
        StarRefund::AlreadyRefunded => AtProvider::AlreadyRefunded,
    })
}

async fn refund_yookassa(providers: &Providers, target: &Target) -> anyhow::Result<AtProvider> {
    let Some(client) = &providers.yookassa else {
        return Err(BadInput::new(
            "YooKassa payments are refunded through the shop: set `billing.yookassa.shop_id` and its secret key",
        )
        .into());
    };
    let key = yookassa_refund_key(&target.reference);
    tracing::info!(payment = target.reference, tenant = target.tenant, "refunding a YooKassa payment");
    let refund = client.create_refund(&target.reference, target.amount, &key).await.map_err(|error| {
        let retry = if error.is_retryable() { "; repeating the refund is safe" } else { "" };
        anyhow::Error::new(error).context(format!("refunding YooKassa payment `{}`{retry}", target.reference))
    })?;
    match refund.status {
        RefundStatus::Succeeded => Ok(AtProvider::Refunded),
        RefundStatus::Pending => Ok(AtProvider::Pending { refund_id: refund.id }),
        RefundStatus::Canceled => Err(anyhow::anyhow!(
            "YooKassa canceled refund {} of payment `{}`: nothing was returned or recorded",
            refund.id,
            target.reference
        )),
        RefundStatus::Unknown(status) => Err(anyhow::anyhow!(
            "YooKassa answered refund {} of payment `{}` with status `{status}`, which botctl does not know: \
             nothing was recorded",
            refund.id,
            target.reference
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_key_is_the_payments_own_and_within_yookassas_limit() {
        let id = "2f8a3c1e-000f-5000-9000-1b2c3d4e5f60";
        assert_eq!(yookassa_refund_key(id), yookassa_refund_key(id));
        assert_ne!(yookassa_refund_key(id), yookassa_refund_key("another"));
        assert!(yookassa_refund_key(&"x".repeat(128)).len() <= 64);
    }

    #[test]
    fn providers_never_show_a_token() {
        let secret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let token: BotToken = format!("123456789:{secret}").parse().unwrap();
        let providers = Providers {
            stars: Some(StarsBot { api_url: "http://127.0.0.1:1/".parse().unwrap(), token }),
            yookassa: None,
        };
        let shown = format!("{providers:?}");
        assert!(shown.contains("123456789") && !shown.contains(secret), "{shown}");
    }
}
