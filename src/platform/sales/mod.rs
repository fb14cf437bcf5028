//! The sales bot, run by `botctl platform serve` while it leads: a business buys a booking bot from it.
//! What the service is, the plans and their prices, a free trial or a purchase as a durable order
//! (`platform::orders`), the business's bot (created through Telegram's Managed Bots or pasted from
//! BotFather), its kind and time zone, then the trial begun or the payment taken (YooKassa, Telegram
//! Stars); the order resumer beside it carries paid orders on and tells buyers through `BuyerNotices`.
//! Built on the shared Telegram runtime like the operator bot, and importing nothing of it.

mod buyers;
pub mod callback;
mod draft;
mod handlers;
mod screens;
pub mod state;
pub mod texts;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use teloxide::dptree;
use teloxide::types::User;
use tokio_util::sync::CancellationToken;

pub use buyers::BuyerNotices;
use texts::Catalog;

use crate::locale::Locale;
use crate::payments::yookassa::Checkout;
use crate::platform::orders::Fulfiller;
use crate::platform::orders::resume::{self, Buyers, PaymentCheck, Resumer};
use crate::telegram::BotToken;
use crate::telegram::runtime::flood::{FloodGuard, Limits as FloodLimits};
use crate::telegram::runtime::health::Health;
use crate::telegram::runtime::launch::Launch;

/// Who moves an order from the sales bot, in the order's history.
pub const ACTOR: &str = "sales-bot";

/// What the sales bot needs, from the settings.
#[derive(Clone)]
pub struct SalesOptions {
    pub token: BotToken,
    pub api_url: url::Url,
    /// Whether sends keep to Telegram's rate limits (off only against botctl's emulator).
    pub rate_limits: bool,
    /// A contact shown to buyers: an @username, a URL or a line of text.
    pub support: Option<String>,
    /// A demo bot's @username or link, shown on the welcome screen.
    pub demo_bot: Option<String>,
    /// Whether "Create my bot" (Telegram's Managed Bots) is offered beside the BotFather way.
    pub managed_bots: bool,
    /// Whether Telegram Stars are offered as a payment.
    pub stars: bool,
    /// YooKassa payments, when configured.
    pub checkout: Option<Checkout>,
    /// Carries a confirmed order to a running bot (the trial at once; paid ones through the resumer).
    pub fulfiller: Arc<Fulfiller>,
    /// Asks the provider about orders that wait for a payment, for the resumer.
    pub payments: Option<Arc<dyn PaymentCheck>>,
    /// Where its own `/healthz` and `/metrics` listen (port 0 picks one); `None` within the platform
    /// daemon, whose own listener reports on the platform.
    pub http_addr: Option<SocketAddr>,
    /// Overrides the flood limits (a scripted buyer taps faster than people may).
    pub flood: Option<FloodLimits>,
}

/// What every handler is given.
pub(crate) struct Deps {
    pub pool: PgPool,
    pub options: SalesOptions,
    pub flood: FloodGuard,
    pub health: Arc<Health>,
}

/// Buyers are strangers: limits that keep a script from filling the orders table, loose enough for a
/// person reading and tapping.
const BUYER_FLOOD: FloodLimits = FloodLimits {
    message_every: Duration::from_secs(1),
    message_burst: 5,
    button_every: Duration::from_millis(500),
    button_burst: 8,
};

/// The buyer's language, as their Telegram client's `language_code` says; English unless Russian.
pub(crate) fn locale(language_code: Option<&str>) -> Locale {
    if language_code.is_some_and(|code| code.starts_with("ru")) { Locale::Ru } else { Locale::En }
}

pub(crate) fn catalog(user: &User) -> &'static Catalog {
    Catalog::defaults(locale(user.language_code.as_deref()))
}

impl Deps {
    /// The support contact as buyers read it, or a dash.
    pub fn support(&self, catalog: &Catalog) -> String {
        self.options.support.clone().unwrap_or_else(|| catalog.raw(texts::Text::Dash).to_string())
    }
}

/// Runs the sales bot, and the order resumer beside it, until `shutdown`; `ready` is told its health
/// listener's address, once it listens.
pub async fn run(
    pool: PgPool,
    options: SalesOptions,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let launch = Launch {
        name: "the sales bot",
        token: &options.token,
        api_url: options.api_url.clone(),
        rate_limits: options.rate_limits,
        http_addr: options.http_addr,
    };
    let launched = launch.start(&pool, &shutdown).await?;
    let (sender, health) = (launched.sender.clone(), launched.health.clone());
    let buyers = Arc::new(BuyerNotices::new(pool.clone(), sender.clone(), options.support.clone()));
    let resumer = Resumer {
        fulfiller: options.fulfiller.clone(),
        payments: options.payments.clone(),
        buyers: buyers as Arc<dyn Buyers>,
    };
    let resuming = tokio::spawn(resume::run(resumer, shutdown.clone()));
    let flood = FloodGuard::new(options.flood.unwrap_or(BUYER_FLOOD));
    let deps = Arc::new(Deps { pool: pool.clone(), options, flood, health });
    let served = launched
        .serve::<state::State>(
            pool,
            handlers::schema(),
            dptree::deps![deps, sender],
            handlers::commands,
            ready,
            shutdown,
        )
        .await;
    let resumed = resuming.await.context("the order resumer")?;
    served?;
    resumed.context("the order resumer stopped")
}
