//! The sales bot through the Bot API emulator: the bot running in-process on a real control plane,
//! buyers (7001, 7002, …) talking to it in Russian or English.

mod docker;
mod flow;
mod renewal;
mod yookassa;

use std::sync::Arc;
use std::time::Duration;

use botctl::locale::Locale;
use botctl::payments::yookassa::emulator::Emulator as YookassaEmulator;
use botctl::payments::yookassa::{Checkout, Client, ClientOptions, SecretKey};
use botctl::platform::fleet::Fleet;
use botctl::platform::orders::Fulfiller;
use botctl::platform::sales::texts::{Catalog, Text};
use botctl::platform::sales::{self, SalesOptions};
use botctl::telegram::emulator::{ChatMessage, Emulator, TgUser};
use botctl::telegram::runtime::flood::Limits;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::serve::WAIT;
use crate::support::chat::Chat;
use crate::support::{block_on, token};
use crate::tenant::Fixture;

const SALES_BOT: i64 = 600_000_101;

pub(crate) fn catalog(locale: Locale) -> &'static Catalog {
    Catalog::defaults(locale)
}

/// A text's words before its first placeholder or markup: what a check can look for.
pub(crate) fn words(locale: Locale, text: Text) -> String {
    let raw = catalog(locale).raw(text);
    let words = raw.split(['{', '<', '\n']).next().unwrap_or(raw).trim().to_string();
    assert!(!words.is_empty(), "{text:?} begins with markup: look for other words");
    words
}

/// What a test turns on.
#[derive(Clone, Copy, Default)]
pub(crate) struct Offer {
    pub managed_bots: bool,
    pub stars: bool,
    /// YooKassa payments, through the YooKassa emulator.
    pub yookassa: bool,
}

/// The YooKassa shop the tests pay into.
const SHOP_ID: &str = "506751";
const SHOP_SECRET: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";

/// The sales bot over a control plane.
pub(crate) struct Shop {
    pub(crate) f: Fixture,
    pub(crate) token: String,
    pub(crate) pool: PgPool,
    pub(crate) yookassa: Option<YookassaEmulator>,
    shutdown: CancellationToken,
    bot: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Shop {
    pub(crate) fn start(offer: Offer) -> Self {
        let mut shop = Self::attach(Fixture::new());
        shop.spawn(offer);
        shop
    }

    /// The sales bot's token known to the fixture's emulator, for a bot run elsewhere (`platform serve`
    /// as a process).
    pub(crate) fn attach(f: Fixture) -> Self {
        let token = token(SALES_BOT);
        f.emulator.add_bot(&token, SALES_BOT, "platform_sales_bot");
        let pool = block_on(PgPool::connect(&f.db.url())).unwrap();
        Self { f, token, pool, yookassa: None, shutdown: CancellationToken::new(), bot: None }
    }

    fn spawn(&mut self, offer: Offer) {
        if offer.yookassa && self.yookassa.is_none() {
            let emulator = block_on(YookassaEmulator::start("127.0.0.1:0".parse().unwrap())).unwrap();
            emulator.add_shop(SHOP_ID, SHOP_SECRET);
            self.yookassa = Some(emulator);
        }
        let checkout = self.yookassa.as_ref().map(|emulator| Checkout {
            client: Client::new(ClientOptions {
                base_url: emulator.api_url(),
                shop_id: SHOP_ID.into(),
                secret_key: SecretKey::new(SHOP_SECRET),
                timeout: WAIT,
            })
            .unwrap(),
            return_url: "https://t.me/platform_sales_bot".parse().unwrap(),
            receipt: None,
        });
        let f = &self.f;
        let fleet = Fleet::new(
            crate::support::servers(&self.pool),
            Err("these tests run no containers".into()),
            "unix:///nonexistent/docker.sock",
        );
        let options = SalesOptions {
            token: self.token.parse().unwrap(),
            api_url: f.emulator.url(),
            rate_limits: false,
            support: Some("@shop_support".into()),
            demo_bot: Some("@demo_salon_bot".into()),
            managed_bots: offer.managed_bots,
            stars: offer.stars,
            checkout,
            fulfiller: Arc::new(Fulfiller {
                pool: self.pool.clone(),
                fleet,
                telegram_api_url: f.emulator.url(),
                trial_days: 7,
                actor: "test".into(),
            }),
            payments: None,
            http_addr: Some("127.0.0.1:0".parse().unwrap()),
            // Tests tap faster than people.
            flood: Some(Limits {
                message_every: Duration::from_millis(1),
                message_burst: 1000,
                button_every: Duration::from_millis(1),
                button_burst: 1000,
            }),
        };
        self.shutdown = CancellationToken::new();
        let (ready, listening) = tokio::sync::oneshot::channel();
        let runtime = block_on(async { tokio::runtime::Handle::current() });
        let bot = runtime.spawn(sales::run(self.pool.clone(), options, self.shutdown.clone(), Some(ready)));
        block_on(async { tokio::time::timeout(WAIT, listening).await }).expect("the bot starts").unwrap();
        self.bot = Some(bot);
    }

    pub(crate) fn buyer(id: i64, locale: Locale) -> TgUser {
        let mut user = TgUser::new(id, "Ann");
        user.language_code = Some(locale.to_string());
        user
    }

    /// `/start` and the welcome screen it opens.
    pub(crate) fn welcome(&self, user: &TgUser) -> ChatMessage {
        let asked = self.text(user, "/start");
        self.says(user, |m| m.message_id > asked && !m.callbacks("p").is_empty())
    }

    pub(crate) fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
    {
        self.f.scalar(sql)
    }
}

impl Chat for Shop {
    fn emulator(&self) -> &Emulator {
        &self.f.emulator
    }

    fn bot_token(&self) -> &str {
        &self.token
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
