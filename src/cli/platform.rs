//! `botctl platform`: the platform's own daemon.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::billing::clock::ClockOptions;
use crate::billing::notice::NoticeOptions;
use crate::config::Settings;
use crate::payments::yookassa::webhook::Sources;
use crate::payments::yookassa::{Checkout, Client, ClientOptions, OrderPayments};
use crate::platform::alerts::detect::DetectOptions;
use crate::platform::fleet::Fleet;
use crate::platform::operator::{AlertDelivery, OperatorOptions, Operators};
use crate::platform::orders::{Fulfiller, PaymentCheck};
use crate::platform::sales::SalesOptions;
use crate::platform::{self, ServeOptions, YookassaOptions};

/// The platform's own daemon: the subscription clock, its notices, and the bots it stops and starts.
#[derive(Debug, Subcommand)]
pub enum PlatformCommand {
    Serve(PlatformServeArgs),
}

/// Runs the platform daemon until SIGTERM or Ctrl-C. One instance acts per installation (a lock in
/// PostgreSQL); others wait as standbys and take over when it dies. /healthz and /metrics listen on
/// `platform.listen`.
#[derive(Debug, Args)]
pub struct PlatformServeArgs {}

pub async fn exec(command: PlatformCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        PlatformCommand::Serve(PlatformServeArgs {}) => serve(ctx).await,
    }
}

async fn serve(ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    let s = &ctx.settings;
    let checkout = checkout(s)?;
    let mut options = ServeOptions {
        listen: s.platform.listen,
        clock: ClockOptions {
            grace: s.billing.grace,
            notices: NoticeOptions { contact: s.billing.contact.clone(), renew_url: s.billing.renew_url.clone() },
            actor: format!("platform:{}", ctx.actor()),
        },
        fleet: Fleet::new(
            database.servers.clone(),
            ctx.runtime_options(&database).await.map_err(|e| format!("{e:#}")),
            &s.docker.host,
        ),
        alerts: DetectOptions {
            unhealthy_after: chrono::TimeDelta::from_std(s.platform.alerts.unhealthy_after)
                .unwrap_or(chrono::TimeDelta::minutes(5)),
        },
        operator: None,
        sales: None,
        yookassa: yookassa(s, checkout.as_ref()),
    };
    let fleet = options.fleet.clone();
    let sales = &s.platform.sales_bot;
    options.sales = sales.token.clone().map(|token| SalesOptions {
        token,
        api_url: s.telegram.api_url.clone(),
        rate_limits: s.telegram.rate_limits,
        support: sales.support.clone(),
        demo_bot: sales.demo_bot.clone(),
        managed_bots: sales.managed_bots,
        stars: sales.stars,
        checkout: checkout.clone(),
        fulfiller: std::sync::Arc::new(Fulfiller {
            pool: database.pool.clone(),
            fleet: fleet.clone(),
            telegram_api_url: s.telegram.api_url.clone(),
            trial_days: i32::try_from(s.billing.trial.as_secs() / 86_400).unwrap_or(i32::MAX),
            actor: format!("platform:{}", ctx.actor()),
        }),
        payments: checkout.clone().map(|checkout| {
            std::sync::Arc::new(OrderPayments::new(checkout, database.pool.clone())) as std::sync::Arc<dyn PaymentCheck>
        }),
        http_addr: None,
        flood: None,
    });
    if options.sales.is_none() {
        tracing::info!("the sales bot is off: set platform.sales_bot.token or token_file to turn it on");
    }
    let refunds = super::billing::refund_providers(ctx)?;
    options.operator = s.platform.operator_bot.token.clone().map(|token| OperatorOptions {
        token,
        operators: Operators::new(&s.platform.operator_bot.operators),
        api_url: s.telegram.api_url.clone(),
        rate_limits: s.telegram.rate_limits,
        fleet,
        backup_dir: s.backup.dir.clone(),
        http_addr: None,
        flood: None,
        alerts: AlertDelivery { remind_after: s.platform.alerts.remind_after, ..AlertDelivery::default() },
        refunds: refunds.clone(),
    });
    if options.operator.is_none() {
        tracing::info!("the operator bot is off: set platform.operator_bot.token or token_file to turn it on");
    }
    if let Err(e) = options.fleet.runtime() {
        ctx.ui.warn(format!("bots cannot be started by the clock: {e}"));
    }
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        crate::interrupted().await;
        tracing::info!("stopping: releasing the platform lease");
        signals.cancel();
    });
    ctx.ui.status("Serving", format!("the platform daemon; /healthz and /metrics on {}", s.platform.listen));
    platform::run(database.pool.clone(), options, shutdown).await.context("botctl platform serve stopped")
}

/// The shop's checkout (what the sales bot and the poller ask YooKassa with), when a shop is configured.
fn checkout(s: &Settings) -> anyhow::Result<Option<Checkout>> {
    let Some(shop) = &s.billing.yookassa else { return Ok(None) };
    let client = Client::new(ClientOptions {
        base_url: shop.api_url.clone(),
        shop_id: shop.shop_id.clone(),
        secret_key: shop.secret_key.clone(),
        timeout: YOOKASSA_TIMEOUT,
    })
    .context("billing.yookassa")?;
    Ok(Some(Checkout { client, return_url: shop.return_url.clone(), receipt: shop.receipt.clone() }))
}

/// The notification listener, when a shop and its `listen` are configured; without `listen` payments are
/// still confirmed by "I have paid" and the poller.
fn yookassa(s: &Settings, checkout: Option<&Checkout>) -> Option<YookassaOptions> {
    let (Some(shop), Some(checkout)) = (&s.billing.yookassa, checkout) else { return None };
    let Some(listen) = shop.listen else {
        tracing::info!("no YooKassa notification listener: set billing.yookassa.listen to hear payments at once");
        return None;
    };
    let sources = Sources { allowed: shop.allowed_networks.clone(), trusted_proxies: shop.trusted_proxies.clone() };
    Some(YookassaOptions { listen, sources, checkout: checkout.clone() })
}

/// YooKassa answers 500 itself after 30 s; a little more than that.
const YOOKASSA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(35);
