//! `botctl demo --platform`: the whole business on one machine — the platform daemon with its sales bot,
//! the Bot API and YooKassa emulators, a buyer paying for a bot that then runs in its own container, and
//! a customer booking through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{Line, Script};
use crate::billing::clock::ClockOptions;
use crate::bot::texts::Catalog;
use crate::db::{Database, control};
use crate::error::BadInput;
use crate::locale::Locale;
use crate::payments::yookassa::emulator::Emulator as Yookassa;
use crate::payments::yookassa::webhook::Sources;
use crate::payments::yookassa::{Checkout, Client, ClientOptions, OrderPayments, SecretKey};
use crate::platform::alerts::detect::DetectOptions;
use crate::platform::fleet::Fleet;
use crate::platform::orders::{Fulfiller, PaymentCheck};
use crate::platform::sales::SalesOptions;
use crate::platform::{self, ServeOptions, YookassaOptions};
use crate::progress::Progress;
use crate::runtime::Engine;
use crate::telegram::emulator::{Emulator, TgUser};
use crate::telegram::runtime::flood::Limits;
use crate::tenant::TenantSlug;
use crate::tenant::runtime::{self as containers, RuntimeOptions};
use crate::tenant::{ops, store};

/// Not secrets: these bots exist only inside the emulator.
const SALES_TOKEN: &str = "100000003:DEMOsaleDEMOsaleDEMOsaleDEMOsale00";
const SALES_BOT: i64 = 100_000_003;
pub const SHOP_TOKEN: &str = "100000002:DEMOshopDEMOshopDEMOshopDEMOshop00";
const SHOP_BOT: i64 = 100_000_002;
const SHOP_USERNAME: &str = "demo_salon_bot";
/// The buyer's business; its tenant name is what the sales bot derives from it.
const BUSINESS: &str = "Demo Salon";
const TENANT: &str = "demo_salon";
const SHOP_ID: &str = "100500";
const SHOP_SECRET: &str = "test_DEMOdemoDEMOdemoDEMOdemoDEMOdemoDEMOdemo";
/// Each run's buyer is new, so an order left by an interrupted run (which the daemon resumes and ends)
/// never speaks into this run's chat.
fn buyer_id() -> i64 {
    525_000_000 + chrono::Utc::now().timestamp() % 1_000_000
}
const CUSTOMER: i64 = 535_353;
/// From the payment to the live bot: the tenant made and its container started and healthy.
const LIVE_WITHIN: Duration = Duration::from_secs(180);

pub struct PlatformOptions {
    pub locale: Locale,
    /// How tenant containers run (the settings' runtime), or why they cannot.
    pub runtime: Result<RuntimeOptions, String>,
    pub docker_host: String,
    pub clock: ClockOptions,
    pub keep: bool,
}

/// What the whole-business demo did, and what the control plane holds afterwards.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub database: String,
    pub conversation: Vec<Line>,
    pub order: serde_json::Value,
    pub history: Vec<String>,
    pub payment: serde_json::Value,
    pub ledger: serde_json::Value,
    pub tenant: String,
    pub container: String,
    /// The customer's booking in the new tenant's schema.
    pub booking: Option<super::BookingRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_api: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yookassa: Option<String>,
}

/// A running whole-business demo: the daemon and the emulators serve until `stop`.
pub struct PlatformDemo {
    pub summary: Summary,
    pub emulator: Emulator,
    yookassa: Yookassa,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
    engine: Engine,
    database: Database,
    keep: bool,
}

impl PlatformDemo {
    /// Stops the daemon and the emulators; the demo tenant and its container go too unless kept.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.daemon.await.context("the platform daemon")??;
        if !self.keep {
            remove_demo_tenant(&self.database, &self.engine).await?;
        }
        self.emulator.shutdown().await;
        self.yookassa.shutdown().await;
        Ok(())
    }

    /// With --keep the container outlives the process, so Ctrl-C removes it with the rest.
    pub async fn stop_all(mut self) -> anyhow::Result<()> {
        self.keep = false;
        self.stop().await
    }
}

/// A port free now, for a listener whose address must be known before it binds (YooKassa's webhook).
fn free_port() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("no free port on 127.0.0.1")?;
    Ok(probe.local_addr()?)
}

pub async fn run(
    database: Database,
    options: PlatformOptions,
    progress: &dyn Progress,
) -> anyhow::Result<PlatformDemo> {
    progress.set_message("connecting to the Docker engine");
    let engine = Engine::connect(&options.docker_host, Duration::from_secs(10)).await.map_err(|e| {
        BadInput::new(format!(
            "botctl demo --platform runs the bought bot in a container and needs a Docker engine, \
             none answers at {} ({e:#}); start Docker or set docker.host",
            options.docker_host
        ))
    })?;
    let runtime = options.runtime.clone().map_err(|e| BadInput::new(format!("tenant containers cannot run: {e}")))?;
    if engine.image(&runtime.image).await?.is_none() {
        progress.set_message(&format!("building the tenant image {} from this binary (once)", runtime.image));
        crate::runtime::image::build(&engine, &runtime.image, progress).await?;
    }
    progress.set_message("creating the control schema");
    control::init(&database.pool).await?;
    remove_demo_tenant(&database, &engine).await?;

    progress.set_message("starting the Bot API and YooKassa emulators");
    let emulator = Emulator::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    emulator.add_bot(SALES_TOKEN, SALES_BOT, "demo_platform_sales_bot");
    emulator.add_bot(SHOP_TOKEN, SHOP_BOT, SHOP_USERNAME);
    let yookassa = Yookassa::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    yookassa.add_shop(SHOP_ID, SHOP_SECRET);
    let webhook = free_port()?;
    yookassa.set_notification_url(SHOP_ID, Some(format!("http://{webhook}/").parse()?))?;
    let checkout = Checkout {
        client: Client::new(ClientOptions {
            base_url: yookassa.api_url(),
            shop_id: SHOP_ID.into(),
            secret_key: SecretKey::new(SHOP_SECRET),
            timeout: Duration::from_secs(35),
        })?,
        return_url: "https://t.me/demo_platform_sales_bot".parse()?,
        receipt: None,
    };

    progress.set_message("starting the platform daemon");
    // The new bot's container talks to the emulator, which keeps no rate limits.
    let runtime = RuntimeOptions { telegram_api_url: emulator.url(), rate_limits: false, ..runtime };
    let fleet = Fleet::new(database.servers.clone(), Ok(runtime), options.docker_host.clone());
    let sales = SalesOptions {
        token: SALES_TOKEN.parse()?,
        api_url: emulator.url(),
        rate_limits: false,
        support: None,
        demo_bot: None,
        managed_bots: false,
        stars: false,
        checkout: Some(checkout.clone()),
        fulfiller: Arc::new(Fulfiller {
            pool: database.pool.clone(),
            fleet: fleet.clone(),
            telegram_api_url: emulator.url(),
            trial_days: 7,
            actor: "botctl demo".into(),
        }),
        payments: Some(Arc::new(OrderPayments::new(checkout.clone(), database.pool.clone())) as Arc<dyn PaymentCheck>),
        http_addr: None,
        // The scripted buyer taps faster than a person may.
        flood: Some(Limits {
            message_every: Duration::from_millis(10),
            message_burst: 100,
            button_every: Duration::from_millis(10),
            button_burst: 100,
        }),
    };
    let serve = ServeOptions {
        listen: free_port()?,
        clock: options.clock,
        fleet,
        alerts: DetectOptions { unhealthy_after: chrono::TimeDelta::minutes(5) },
        operator: None,
        sales: Some(sales),
        // The emulator posts its notifications from 127.0.0.1.
        yookassa: Some(YookassaOptions {
            listen: webhook,
            sources: Sources { allowed: vec!["127.0.0.1/32".parse()?], trusted_proxies: Vec::new() },
            checkout,
        }),
    };
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(platform::run(database.pool.clone(), serve, shutdown.clone()));

    let played = play(&database, &emulator, &yookassa, options.locale, progress).await;
    let (conversation, order) = match played {
        Ok(played) => played,
        Err(e) => {
            shutdown.cancel();
            let _ = daemon.await;
            let _ = remove_demo_tenant(&database, &engine).await;
            emulator.shutdown().await;
            yookassa.shutdown().await;
            return Err(e);
        }
    };
    let summary = summarize(&database, conversation, order, options.keep.then_some((&emulator, &yookassa))).await?;
    Ok(PlatformDemo { summary, emulator, yookassa, shutdown, daemon, engine, database, keep: options.keep })
}

/// The buyer's purchase, then a customer's booking; the conversation and the order's id.
async fn play(
    database: &Database,
    emulator: &Emulator,
    yookassa: &Yookassa,
    locale: Locale,
    progress: &dyn Progress,
) -> anyhow::Result<(Vec<Line>, i64)> {
    progress.set_message("playing a buyer in the sales bot");
    let buyer_id = buyer_id();
    let mut user = TgUser::new(buyer_id, "Irina");
    user.language_code = Some(locale.to_string());
    let tenant_texts = Catalog::defaults(locale);
    let mut buyer = Script::new(emulator, tenant_texts, "buyer", user);
    buyer.token = SALES_TOKEN;
    buyer.bot = "sales bot";
    // The sales bot polls once the daemon holds the lease: the first /start may wait for it.
    buyer.say("/start").await?;
    buyer.press_where("[Buy a plan]", |d| d == "p", false).await?;
    buyer.press_where("[1 month]", |d| d == "b:1m", false).await?;
    buyer.say(BUSINESS).await?;
    let order: i64 = sqlx::query_scalar("SELECT max(id) FROM botctl.orders WHERE buyer_user_id = $1")
        .bind(buyer_id)
        .fetch_one(&database.pool)
        .await?;
    buyer.lines.push(Line {
        who: "buyer",
        text: format!("makes @{SHOP_USERNAME} with @BotFather (in the emulator) and pastes its token"),
        buttons: Vec::new(),
    });
    let pasted = buyer.lines.len();
    buyer.say(SHOP_TOKEN).await?;
    // A token is never printed, not even the emulator's.
    buyer.lines[pasted].text = "[the token, deleted from the chat at once]".into();
    buyer.press_where("[barbershop]", |d| d.starts_with("nt:") && d.ends_with(":barbershop"), false).await?;
    buyer.press_where("[Europe/Moscow]", |d| d.starts_with("nz:") && d.ends_with(":Europe/Moscow"), false).await?;
    buyer.press("ny:", false).await?;
    buyer.press("py:", false).await?;
    let page = buyer
        .newest()
        .and_then(|m| m.reply_markup)
        .and_then(|k| k["inline_keyboard"][0][0]["url"].as_str().map(str::to_string))
        .context("the sales bot gave no payment link")?;
    buyer.lines.push(Line {
        who: "buyer",
        text: format!("opens the payment page {page} and pays"),
        buttons: Vec::new(),
    });
    let opened = reqwest::get(&page).await.context("the YooKassa emulator's payment page")?;
    anyhow::ensure!(opened.status().is_success(), "the payment page answered {}", opened.status());
    let paid = yookassa.payments().into_iter().any(|p| p.paid);
    anyhow::ensure!(paid, "the YooKassa emulator shows no succeeded payment after its page was opened");
    progress.set_message("YooKassa notifies the daemon; the tenant is made and its container started");
    let live = |chat: &[crate::telegram::emulator::ChatMessage]| {
        chat.iter().rev().find(|m| m.from_bot && !m.deleted).is_some_and(|m| {
            m.text.as_deref().is_some_and(|t| t.contains(&format!("@{SHOP_USERNAME}")) && t.contains("/admin"))
        })
    };
    emulator.wait_until(SALES_TOKEN, buyer_id, live, LIVE_WITHIN).await.context("the bought bot never went live")?;
    buyer.answer(None).await?;

    progress.set_message("playing a customer of the new bot (in its container)");
    let mut customer = Script::new(emulator, tenant_texts, "customer", TgUser::new(CUSTOMER, "Maria"));
    customer.token = SHOP_TOKEN;
    book(&mut customer).await?;
    let mut conversation = std::mem::take(&mut buyer.lines);
    conversation.append(&mut customer.lines);
    Ok((conversation, order))
}

/// A booking on whatever screens the new bot shows: it skips the service or the day when there is one
/// choice, so each is chosen only when offered.
async fn book(customer: &mut Script<'_>) -> anyhow::Result<()> {
    let offers =
        |customer: &Script<'_>, prefix: &str| customer.newest().is_some_and(|m| !m.callbacks(prefix).is_empty());
    // The container's bot keeps the usual flood limits (a message every 2 s, a button a second): the
    // scripted customer keeps to them.
    let pause = || tokio::time::sleep(Duration::from_millis(2100));
    customer.say("/start").await?;
    pause().await;
    customer.say(customer.catalog.raw(crate::bot::texts::Text::MenuBook)).await?;
    if offers(customer, "s:") {
        pause().await;
        customer.tap("s:").await?;
    }
    if offers(customer, "d:") {
        pause().await;
        customer.press("d:", true).await?;
    }
    pause().await;
    customer.tap("t:").await?;
    pause().await;
    customer.tap("c:").await?;
    pause().await;
    customer.share_contact("+7 900 000-00-00").await
}

async fn summarize(
    database: &Database,
    conversation: Vec<Line>,
    order: i64,
    kept: Option<(&Emulator, &Yookassa)>,
) -> anyhow::Result<Summary> {
    let pool = &database.pool;
    let row: serde_json::Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('reference', reference, 'state', state, 'tenant', tenant_slug, \
         'amount', amount, 'currency', currency, 'provider', provider, 'payment_id', payment_id) \
         FROM botctl.orders WHERE id = $1",
    )
    .bind(order)
    .fetch_one(pool)
    .await?;
    let history: Vec<String> =
        sqlx::query_scalar("SELECT to_state FROM botctl.order_events WHERE order_id = $1 ORDER BY id")
            .bind(order)
            .fetch_all(pool)
            .await?;
    let payment = row["payment_id"].clone();
    let ledger: serde_json::Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('provider', p.provider, 'reference', p.reference, \
         'amount', p.amount, 'currency', p.currency, 'days', p.days)), '[]') \
         FROM botctl.payments p JOIN botctl.tenants t ON t.id = p.tenant_id WHERE t.slug = $1 AND t.deleted_at IS NULL",
    )
    .bind(TENANT)
    .fetch_one(pool)
    .await?;
    let booking = sqlx::query_as(
        "SELECT id, service_name, starts_at, status FROM tenant_demo_salon.bookings WHERE customer_id = $1 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(CUSTOMER)
    .fetch_optional(pool)
    .await?;
    Ok(Summary {
        database: database.location.to_string(),
        conversation,
        order: row,
        history,
        payment,
        ledger,
        tenant: TENANT.to_string(),
        container: containers::container_name(TENANT),
        booking,
        bot_api: kept.map(|(e, _)| e.url().to_string()),
        yookassa: kept.map(|(_, y)| y.url().to_string()),
    })
}

/// The demo's own tenant of an earlier run, its container too; a tenant of that name with another bot
/// belongs to someone and is refused.
async fn remove_demo_tenant(database: &Database, engine: &Engine) -> anyhow::Result<()> {
    let slug: TenantSlug = TENANT.parse()?;
    match store::find(&mut *database.pool.acquire().await?, TENANT).await? {
        Some(t) if t.bot_id != SHOP_BOT => Err(BadInput::new(format!(
            "a tenant named `{TENANT}` already exists for bot @{}; the demo will not touch it",
            t.bot_username
        ))
        .into()),
        Some(_) => {
            containers::remove(&database.servers, engine, &slug).await?;
            ops::delete(&database.servers, &slug, "botctl demo").await?;
            Ok(())
        }
        None => {
            // A container left by a killed run whose tenant is gone.
            engine.remove_container(&containers::container_name(TENANT)).await
        }
    }
}
