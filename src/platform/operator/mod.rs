//! The operator bot, run by `botctl platform serve`: the platform in Telegram for its operators only.
//! The fleet at a glance, tenants and their cards, and the CLI's own operations behind a confirmation,
//! on the shared Telegram runtime. Every update passes the gate (`access`) before any handler runs.

pub mod access;
pub mod alerts;
pub mod callback;
mod create;
mod handlers;
mod payment;
mod screens;
pub mod state;
pub mod texts;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use teloxide::dptree;
use teloxide::types::User;
use tokio_util::sync::CancellationToken;

pub use access::{Operator, Operators, Role};
pub use alerts::AlertDelivery;
use texts::Catalog;

use crate::locale::Locale;
use crate::payments::refund::Providers;
use crate::platform::fleet::Fleet;
use crate::runtime::Engine;
use crate::telegram::BotToken;
use crate::telegram::runtime::flood::{FloodGuard, Limits as FloodLimits};
use crate::telegram::runtime::health::Health;
use crate::telegram::runtime::launch::Launch;
use crate::tenant::runtime::RuntimeOptions;

/// What the operator bot needs, from the settings.
#[derive(Clone)]
pub struct OperatorOptions {
    pub token: BotToken,
    pub operators: Operators,
    pub api_url: url::Url,
    /// Whether sends keep to Telegram's rate limits (off only against botctl's emulator).
    pub rate_limits: bool,
    /// The tenants' containers; an action that needs them and cannot have them fails with the reason.
    pub fleet: Fleet,
    /// Where "back up now" and a delete's final backup write archives.
    pub backup_dir: PathBuf,
    /// Where its own `/healthz` and `/metrics` listen (port 0 picks one); `None` within the platform
    /// daemon, whose own listener reports on the platform.
    pub http_addr: Option<SocketAddr>,
    /// Overrides the flood limits (a scripted operator taps faster than people may).
    pub flood: Option<FloodLimits>,
    /// When alerts are pushed to the operators.
    pub alerts: AlertDelivery,
    /// The providers "Refund last payment" returns money through; one left out refuses its payments.
    pub refunds: Providers,
}

/// What every handler is given.
pub(crate) struct Deps {
    pub pool: PgPool,
    pub options: OperatorOptions,
    pub flood: FloodGuard,
    pub health: Arc<Health>,
}

/// Operators page through lists quickly and are few: limits that stop a stuck client or a stranger's
/// script, not a person at work.
const OPERATOR_FLOOD: FloodLimits = FloodLimits {
    message_every: Duration::from_millis(500),
    message_burst: 5,
    button_every: Duration::from_millis(200),
    button_burst: 10,
};

impl Deps {
    pub async fn engine(&self) -> anyhow::Result<&Engine> {
        self.options.fleet.engine().await
    }

    pub fn runtime(&self) -> anyhow::Result<&RuntimeOptions> {
        self.options.fleet.runtime()
    }

    /// The servers tenants live on: tenant operations route through them.
    pub fn servers(&self) -> &crate::db::servers::Servers {
        self.options.fleet.servers()
    }
}

/// The operator's language, as their Telegram client says; English unless Russian.
pub(crate) fn catalog(user: &User) -> &'static Catalog {
    let russian = user.language_code.as_deref().is_some_and(|code| code.starts_with("ru"));
    Catalog::defaults(if russian { Locale::Ru } else { Locale::En })
}

/// Runs the operator bot until `shutdown`; `ready` is told its health listener's address, once it listens.
pub async fn run(
    pool: PgPool,
    options: OperatorOptions,
    shutdown: CancellationToken,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let launch = Launch {
        name: "the operator bot",
        token: &options.token,
        api_url: options.api_url.clone(),
        rate_limits: options.rate_limits,
        http_addr: options.http_addr,
    };
    let launched = launch.start(&pool, &shutdown).await?;
    let (sender, health) = (launched.sender.clone(), launched.health.clone());
    let flood = FloodGuard::new(options.flood.unwrap_or(OPERATOR_FLOOD));
    let pushing = tokio::spawn(alerts::run(
        pool.clone(),
        sender.clone(),
        options.operators.clone(),
        options.alerts,
        health.clone(),
        shutdown.clone(),
    ));
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
    pushing.await.context("the operator bot's alerts")?;
    served
}
