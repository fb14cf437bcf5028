//! The operator bot through the Bot API emulator: the bot running in-process on a real control plane,
//! its owner (9001), its viewer (9002) and a stranger (9003) talking to it.

mod access;
mod alerts;
mod create;
mod docker;
mod payment;
mod screens;

use std::time::Duration;

use botctl::locale::Locale;
use botctl::payments::refund::Providers;
use botctl::platform::fleet::Fleet;
use botctl::platform::operator::texts::{Catalog, Text};
use botctl::platform::operator::{self, AlertDelivery, Operator, OperatorOptions, Operators, Role};
use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};
use botctl::telegram::runtime::flood::Limits;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::serve::WAIT;
use crate::support::chat::Chat;
use crate::support::{block_on, token};
use crate::tenant::{BOT_A, Fixture};

pub(crate) const OWNER: i64 = 9001;
pub(crate) const VIEWER: i64 = 9002;
pub(crate) const STRANGER: i64 = 9003;
const OPERATOR_BOT: i64 = 600_000_001;

pub(crate) fn en() -> &'static Catalog {
    Catalog::defaults(Locale::En)
}

/// A text's words before its first placeholder or markup: what a check can look for.
pub(crate) fn words(text: Text) -> String {
    let raw = en().raw(text);
    raw.split(['{', '<', '\n']).next().unwrap_or(raw).trim().to_string()
}

/// The operator bot over a control plane with one tenant.
pub(crate) struct Desk {
    pub(crate) f: Fixture,
    pub(crate) slug: String,
    pub(crate) token: String,
    pub(crate) pool: PgPool,
    /// The providers the bot refunds through; set before a `restart` to refund through them.
    pub(crate) refunds: Providers,
    shutdown: CancellationToken,
    bot: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// How often the bot looks for alerts in tests: several wakes fit in any wait.
pub(crate) const ALERTS_EVERY: Duration = Duration::from_millis(200);
/// A reminder interval no test reaches unless it moves a send back in time.
pub(crate) const REMIND_AFTER: Duration = Duration::from_secs(6 * 3600);

impl Desk {
    pub(crate) fn start() -> Self {
        let f = Fixture::new();
        let slug = f.create(BOT_A);
        let mut desk = Self::attach(f, slug);
        desk.spawn(AlertDelivery { remind_after: REMIND_AFTER, every: ALERTS_EVERY });
        desk
    }

    /// The operator bot's token known to the fixture's emulator, for a bot run elsewhere too (`platform
    /// serve` as a process).
    pub(crate) fn attach(f: Fixture, slug: String) -> Self {
        let token = token(OPERATOR_BOT);
        f.emulator.add_bot(&token, OPERATOR_BOT, "platform_ops_bot");
        let pool = block_on(PgPool::connect(&f.db.url())).unwrap();
        Self { f, slug, token, pool, refunds: Providers::default(), shutdown: CancellationToken::new(), bot: None }
    }

    /// Stops the running bot, as a daemon's stop would, and starts a new one on the same control plane
    /// pushing alerts with `alerts`: nothing but the database carries over.
    pub(crate) fn restart(&mut self, alerts: AlertDelivery) {
        self.stop();
        self.spawn(alerts);
    }

    /// Stops the bot and waits until it has: whatever it was doing is finished.
    pub(crate) fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(bot) = self.bot.take() {
            block_on(async { tokio::time::timeout(WAIT, bot).await }).expect("the bot stops").unwrap().unwrap();
        }
    }

    /// Starts a bot again after `stop`.
    pub(crate) fn spawn(&mut self, alerts: AlertDelivery) {
        let f = &self.f;
        let options = OperatorOptions {
            token: self.token.parse().unwrap(),
            operators: Operators::new(&[
                Operator { id: OWNER, role: Role::Owner },
                Operator { id: VIEWER, role: Role::Viewer },
            ]),
            api_url: f.emulator.url(),
            rate_limits: false,
            fleet: Fleet::new(
                crate::support::servers(&self.pool),
                Err("these tests run no containers".into()),
                "unix:///nonexistent/docker.sock",
            ),
            backup_dir: f.sandbox.path().join("backups"),
            http_addr: Some("127.0.0.1:0".parse().unwrap()),
            // Tests tap faster than people.
            flood: Some(Limits {
                message_every: Duration::from_millis(1),
                message_burst: 1000,
                button_every: Duration::from_millis(1),
                button_burst: 1000,
            }),
            alerts,
            refunds: self.refunds.clone(),
        };
        self.shutdown = CancellationToken::new();
        let (ready, listening) = tokio::sync::oneshot::channel();
        let runtime = block_on(async { tokio::runtime::Handle::current() });
        let bot = runtime.spawn(operator::run(self.pool.clone(), options, self.shutdown.clone(), Some(ready)));
        block_on(async { tokio::time::timeout(WAIT, listening).await }).expect("the bot starts").unwrap();
        self.bot = Some(bot);
    }

    pub(crate) fn user(id: i64) -> TgUser {
        let mut user = TgUser::new(id, "Op");
        user.language_code = Some("en".into());
        user
    }

    /// `/start` and the menu it opens.
    pub(crate) fn menu(&self, user: &TgUser) -> ChatMessage {
        let asked = self.text(user, "/start");
        self.says(user, |m| m.message_id > asked && !m.callbacks("l:").is_empty())
    }

    /// The tenant's card as `user` opens it from the list.
    pub(crate) fn card(&self, user: &TgUser) -> ChatMessage {
        let menu = self.menu(user);
        self.press(user, &menu, "l:1");
        let list = self.says(user, |m| !m.callbacks("c:").is_empty());
        self.press(user, &list, &format!("c:{}", self.slug));
        self.says_text(user, &self.slug)
    }

    pub(crate) fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        self.f.scalar(sql)
    }
}

impl Chat for Desk {
    fn emulator(&self) -> &Emulator {
        &self.f.emulator
    }

    fn bot_token(&self) -> &str {
        &self.token
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
