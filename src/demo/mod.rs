//! `botctl demo`: the whole platform on one machine with nothing configured. The database (botctl's
//! local cluster unless a URL is set), the Bot API emulator on 127.0.0.1, a demo tenant from a template,
//! `serve` in-process, and a scripted customer conversation recorded as a transcript.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::bot::serve::{self, ServeOptions};
use crate::bot::texts::{Catalog, Text};
use crate::config::template;
use crate::db::{Database, control, provision};
use crate::locale::Locale;
use crate::progress::Progress;
use crate::telegram::BotToken;
use crate::telegram::emulator::{ChatMessage, Emulator, TgUser};
use crate::telegram::runtime::flood::Limits;
use crate::tenant::TenantSlug;
use crate::tenant::ops::{self, CreateOptions};
use crate::tenant::{served, store};

pub mod platform;

/// The demo's own bot; a tenant called `demo` with another bot is an operator's, and is left alone.
const DEMO_BOT: i64 = 100_000_001;
/// Not a secret: the demo bot exists only inside the emulator.
pub const DEMO_TOKEN: &str = "100000001:DEMOdemoDEMOdemoDEMOdemoDEMOdemo00";
const DEMO_USERNAME: &str = "botctl_demo_bot";
const CUSTOMER: i64 = 424_242;
/// The business's owner, who looks at the admin panel.
const OWNER: i64 = CUSTOMER + 1;
const STEP: Duration = Duration::from_secs(15);

pub struct DemoOptions {
    pub locale: Locale,
    pub template: String,
    /// The bot and the emulator outlive the conversation, so their URLs are worth showing.
    pub keep: bool,
}

/// One line of the conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub who: &'static str,
    pub text: String,
    /// The buttons the bot offered with it, row by row; a blank cell (a calendar's) is kept as it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<String>>,
}

/// What the demo did, and what is in the database afterwards.
#[derive(Debug, Serialize)]
pub struct Transcript {
    pub tenant: String,
    pub database: String,
    /// The emulator's and the bot's URLs, only with `--keep`: otherwise they are gone when the demo ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_api: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    pub conversation: Vec<Line>,
    /// The demo customer's booking as the tenant's schema holds it at the end.
    pub booking: Option<BookingRow>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct BookingRow {
    pub id: i64,
    pub service_name: String,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub status: String,
}

/// A running demo: the bot keeps serving until `stop`.
pub struct Demo {
    pub transcript: Transcript,
    pub emulator: Emulator,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The session that tells other botctl commands this process serves the demo tenant.
    serving: PgConnection,
}

impl Demo {
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("the demo bot")??;
        self.emulator.shutdown().await;
        self.serving.close().await?;
        Ok(())
    }
}

/// Sets up the demo tenant and bot, plays the conversation, and leaves the bot running.
pub async fn run(database: &Database, options: &DemoOptions, progress: &dyn Progress) -> anyhow::Result<Demo> {
    progress.set_message("creating the control schema");
    control::init(&database.pool).await?;
    progress.set_message("starting the Bot API emulator");
    let emulator = Emulator::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    emulator.add_bot(DEMO_TOKEN, DEMO_BOT, DEMO_USERNAME);
    let slug: TenantSlug = "demo".parse()?;
    // Claimed before it is replaced: another demo serving it is refused rather than pulled from under it.
    let serving = served::hold(&database.pool, &slug).await?;
    progress.set_message("creating the demo tenant");
    replace_demo_tenant(database, &slug, options, &emulator).await?;
    let password = provision::rotate_password(&mut *database.pool.acquire().await?, &slug).await?;

    progress.set_message("starting the bot");
    let shutdown = CancellationToken::new();
    let (ready, http) = tokio::sync::oneshot::channel();
    let serve_options = ServeOptions {
        tenant: slug.to_string(),
        database: database.as_role(&slug.schema(), &password),
        token: DEMO_TOKEN.parse::<BotToken>()?,
        api_url: emulator.url(),
        http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        // The emulator enforces no rate limits.
        rate_limits: false,
        // The scripted customer taps faster than a person may; with --keep, people get the usual limits
        // only after a restart, which is fine for a demo.
        flood: Some(Limits {
            message_every: Duration::from_millis(10),
            message_burst: 100,
            button_every: Duration::from_millis(10),
            button_burst: 100,
        }),
        outbox_rescan: crate::bot::outbox::RESCAN,
    };
    let task = tokio::spawn(serve::run(serve_options, shutdown.clone(), Some(ready)));
    let http =
        tokio::time::timeout(STEP, http).await.context("the bot did not start in time")?.context("the bot stopped")?;

    progress.set_message("playing a customer and the owner");
    let catalog = Catalog::defaults(options.locale);
    let mut customer = Script::new(&emulator, catalog, "customer", TgUser::new(CUSTOMER, "Maria"));
    customer.book_and_move().await?;
    let mut conversation = std::mem::take(&mut customer.lines);
    let mut owner = Script::new(&emulator, catalog, "owner", TgUser::new(OWNER, "Oleg"));
    owner.look_around().await?;
    conversation.append(&mut owner.lines);
    customer.cancel().await?;
    conversation.append(&mut customer.lines);
    let booking = sqlx::query_as(
        "SELECT id, service_name, starts_at, status FROM tenant_demo.bookings WHERE customer_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(CUSTOMER)
    .fetch_optional(&database.pool)
    .await?;
    let transcript = Transcript {
        tenant: slug.to_string(),
        database: database.location.to_string(),
        bot_api: options.keep.then(|| emulator.url().to_string()),
        health: options.keep.then(|| format!("http://{http}/healthz")),
        conversation,
        booking,
    };
    Ok(Demo { transcript, emulator, shutdown, task, serving })
}

/// A fresh demo tenant each run; a `demo` tenant of another bot belongs to someone and is refused.
async fn replace_demo_tenant(
    database: &Database,
    slug: &TenantSlug,
    options: &DemoOptions,
    emulator: &Emulator,
) -> anyhow::Result<()> {
    let existing = store::find(&mut *database.pool.acquire().await?, slug.as_str()).await?;
    match existing {
        Some(t) if t.bot_id != DEMO_BOT => {
            anyhow::bail!(
                "a tenant named `demo` already exists for bot @{}; the demo will not touch it",
                t.bot_username
            )
        }
        Some(_) => {
            ops::delete(&database.servers, slug, "botctl demo").await?;
        }
        None => {}
    }
    let create = CreateOptions {
        slug: slug.clone(),
        token: DEMO_TOKEN.parse()?,
        admins: vec![OWNER],
        timezone: chrono_tz::Europe::Moscow,
        locale: options.locale,
        display_name: None,
        template: template::resolve(&options.template, options.locale)?,
        memory_mb: None,
        cpus: None,
        telegram_api_url: emulator.url(),
        server: None,
    };
    ops::create(&database.servers, &create, "botctl demo", &crate::progress::NoProgress).await?;
    Ok(())
}

/// What identifies the bot's newest message as the customer sees it: an edit may change only the buttons.
type Mark = (i64, Option<String>, Option<serde_json::Value>);

fn mark(m: &ChatMessage) -> Mark {
    (m.message_id, m.text.clone(), m.reply_markup.clone())
}

/// A scripted user: the customer (start → service → day → time → confirm → my bookings → move, and
/// later cancel) or the owner (the admin panel's figures).
struct Script<'a> {
    emulator: &'a Emulator,
    /// The bot talked to, and how the transcript names it.
    token: &'a str,
    bot: &'static str,
    catalog: &'static Catalog,
    /// How the transcript names them.
    who: &'static str,
    user: TgUser,
    lines: Vec<Line>,
}

impl<'a> Script<'a> {
    fn new(emulator: &'a Emulator, catalog: &'static Catalog, who: &'static str, user: TgUser) -> Self {
        Script { emulator, token: DEMO_TOKEN, bot: "bot", catalog, who, user, lines: Vec::new() }
    }

    async fn book_and_move(&mut self) -> anyhow::Result<()> {
        self.book().await?;
        self.say(self.catalog.raw(Text::MenuMy)).await?;
        self.tap("v:").await?;
        self.later_day().await?;
        // The evening instead of the morning: a move the transcript shows as one.
        self.press("t:", true).await?;
        self.tap("c:").await
    }

    /// start → service → day → time → confirm → the phone number.
    async fn book(&mut self) -> anyhow::Result<()> {
        self.say("/start").await?;
        self.say(self.catalog.raw(Text::MenuBook)).await?;
        self.tap("s:").await?;
        self.later_day().await?;
        self.tap("t:").await?;
        self.tap("c:").await?;
        self.share_contact("+7 900 000-00-00").await
    }

    async fn cancel(&mut self) -> anyhow::Result<()> {
        self.say(self.catalog.raw(Text::MenuMy)).await?;
        self.tap("x:").await?;
        self.tap("X:").await
    }

    /// The owner opens the panel and looks at today's and the month's figures.
    async fn look_around(&mut self) -> anyhow::Result<()> {
        self.say("/admin").await?;
        self.tap("a:db:t").await?;
        self.tap("a:db:m").await
    }

    fn newest(&self) -> Option<ChatMessage> {
        self.emulator.chat(self.token, self.user.id).into_iter().rev().find(|m| m.from_bot && !m.deleted)
    }

    /// Waits for the bot to answer (a new or edited message) and records what it shows.
    async fn answer(&mut self, before: Option<Mark>) -> anyhow::Result<ChatMessage> {
        let changed = |chat: &[ChatMessage]| {
            let newest = chat.iter().rev().find(|m| m.from_bot && !m.deleted);
            newest.is_some_and(|m| before.as_ref().is_none_or(|b| *b != mark(m)))
        };
        self.emulator.wait_until(self.token, self.user.id, changed, STEP).await.context("the bot did not answer")?;
        // One answer may be several steps (remove a card's buttons, then ask): wait until the chat is quiet.
        let mut seen = self.mark();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.mark();
            if now == seen {
                break;
            }
            seen = now;
        }
        let message = self.newest().context("the bot said nothing")?;
        let rows =
            message.keyboard().into_iter().map(|row| row.into_iter().map(|(label, _)| label).collect()).collect();
        self.lines.push(Line { who: self.bot, text: message.text.clone().unwrap_or_default(), buttons: rows });
        Ok(message)
    }

    fn mark(&self) -> Option<Mark> {
        self.newest().as_ref().map(mark)
    }

    async fn say(&mut self, text: &str) -> anyhow::Result<()> {
        let before = self.mark();
        self.lines.push(Line { who: self.who, text: text.to_string(), buttons: Vec::new() });
        self.emulator.send_text(self.token, &self.user, text);
        self.answer(before).await.map(drop)
    }

    async fn share_contact(&mut self, phone: &str) -> anyhow::Result<()> {
        let before = self.mark();
        self.lines.push(Line { who: self.who, text: format!("shares the phone number {phone}"), buttons: Vec::new() });
        self.emulator.send_contact(self.token, &self.user, phone);
        self.answer(before).await.map(drop)
    }

    async fn tap(&mut self, prefix: &str) -> anyhow::Result<()> {
        self.press(prefix, false).await
    }

    /// A day well ahead, so that the cutoff still allows moving and cancelling: the last free day of
    /// next month's page when the calendar has one, else of this one.
    async fn later_day(&mut self) -> anyhow::Result<()> {
        let next_month = self.newest().is_some_and(|m| !m.callbacks("m:").is_empty());
        if next_month {
            self.press("m:", true).await?;
        }
        self.press("d:", true).await
    }

    async fn press(&mut self, prefix: &str, last: bool) -> anyhow::Result<()> {
        self.press_where(prefix, |data| data.starts_with(prefix), last).await
    }

    /// Presses the first (or last) button whose data `fits`; `what` names it in an error.
    async fn press_where(&mut self, what: &str, fits: impl Fn(&str) -> bool, last: bool) -> anyhow::Result<()> {
        let prefix = what;
        let message = self.newest().context("no message to press a button on")?;
        let mut offered = message.buttons().into_iter().filter(|(_, data)| fits(data));
        let (label, data) = if last { offered.next_back() } else { offered.next() }.with_context(|| {
            let chat: Vec<_> = self
                .emulator
                .chat(self.token, self.user.id)
                .into_iter()
                .map(|m| (m.message_id, m.from_bot, m.text))
                .collect();
            format!("the bot offered no `{prefix}` button; the chat: {chat:?}")
        })?;
        let before = self.mark();
        self.lines.push(Line { who: self.who, text: format!("taps [{label}]"), buttons: Vec::new() });
        self.emulator.press_button(self.token, &self.user, message.message_id, &data);
        self.answer(before).await.map(drop)
    }
}
