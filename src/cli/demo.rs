//! `botctl demo`: the transcript as people read it, what to do next, and with `--keep` how to talk to the bot.

use clap::Args;
use console::Alignment;
use serde::Serialize;

use super::Context;
use crate::billing::clock::ClockOptions;
use crate::billing::notice::NoticeOptions;
use crate::demo::platform::{self, PlatformOptions, Summary};
use crate::demo::{self, DemoOptions, Transcript};
use crate::error::Interrupted;
use crate::locale::Locale;
use crate::ui::Render;

/// Shows the whole platform with nothing configured: botctl's local PostgreSQL, the Bot API emulator,
/// a demo tenant, its bot, and a customer booking, moving and cancelling a visit.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keeps the bot and the emulator running afterwards, and says how to talk to them.
    #[arg(long)]
    keep: bool,
    /// The language of the demo bot.
    #[arg(long, default_value = "en")]
    locale: Locale,
    /// The business template of the demo tenant.
    #[arg(long, default_value = "barbershop", value_name = "NAME|FILE")]
    template: String,
    /// Plays the whole business instead: the platform daemon and its sales bot, a buyer paying through
    /// the YooKassa emulator for a bot that then runs in its own container (needs Docker), and a
    /// customer booking through it.
    #[arg(long, conflicts_with = "template")]
    platform: bool,
}

/// Where the transcript goes under each line's text.
const INDENT: &str = "      ";

#[derive(Serialize)]
#[serde(transparent)]
struct Shown<'a> {
    transcript: &'a Transcript,
    #[serde(skip)]
    keep: bool,
}

impl Render for Shown<'_> {
    fn render(&self) -> String {
        let t = self.transcript;
        let mut out = format!("Demo tenant `{}` in {}\n\n", t.tenant, t.database);
        for line in &t.conversation {
            let who = match line.who {
                "bot" => "🤖 bot",
                "owner" => "🛠 owner",
                _ => "👤 customer",
            };
            let mut text = line.text.replace('\n', &format!("\n{INDENT}"));
            text.push_str(&keyboard(&line.buttons));
            out.push_str(&format!("{who}: {text}\n\n"));
        }
        match &t.booking {
            Some(b) => out.push_str(&format!(
                "In the database: booking #{} for {} at {} is {} (tenant_{}.bookings).\n",
                b.id, b.service_name, b.starts_at, b.status, t.tenant
            )),
            None => out.push_str("In the database: no booking.\n"),
        }
        out.push_str("\nNext steps:\n");
        if !self.keep {
            out.push_str(
                "  botctl demo --keep      keeps this bot and the Bot API emulator running to talk to with curl\n",
            );
        }
        out.push_str(
            "  botctl tenant create    a first tenant of your own, against the emulator or Telegram (README.md)\n  \
             docs/EMULATOR.md        the emulator's control API: users, buttons, contacts, bot tokens\n  \
             docs/OPERATIONS.md      running tenants: start, upgrade, back up, restore, watch\n  \
             docs/CONFIGURATION.md   every setting, with its environment variable and flag\n",
        );
        out
    }
}

/// A keyboard row by row. A grid (three rows or more with as many cells) gets one width for its cells,
/// blank ones included, so that a month's weeks sit under its weekdays.
fn keyboard(rows: &[Vec<String>]) -> String {
    let width = |cells: usize| {
        let grid: Vec<&Vec<String>> = rows.iter().filter(|r| r.len() == cells).collect();
        let widest = grid.iter().copied().flatten().map(|label| console::measure_text_width(label)).max();
        if cells > 1 && grid.len() >= 3 { widest.unwrap_or(0) } else { 0 }
    };
    let mut out = String::new();
    for row in rows {
        let w = width(row.len());
        let cells: Vec<String> =
            row.iter().map(|label| format!("[{}]", console::pad_str(label, w, Alignment::Right, None))).collect();
        out.push_str(&format!("\n{INDENT}{}", cells.join(" ")));
    }
    out
}

pub async fn exec(args: DemoArgs, ctx: &Context) -> anyhow::Result<()> {
    if args.platform {
        return whole_business(args, ctx).await;
    }
    let database = ctx.open(ctx.db_options()).await?;
    let running = {
        let spinner = ctx.ui.spinner("starting the demo");
        let options = DemoOptions { locale: args.locale, template: args.template, keep: args.keep };
        tokio::select! {
            running = demo::run(&database, &options, &spinner) => running?,
            () = crate::interrupted() => return Err(Interrupted.into()),
        }
    };
    ctx.ui.data(&Shown { transcript: &running.transcript, keep: args.keep })?;
    if args.keep {
        ctx.ui.note(how_to_talk(&running.emulator.url(), running.transcript.health.as_deref().unwrap_or_default()));
        crate::interrupted().await;
    }
    running.stop().await?;
    database.pool.close().await;
    Ok(())
}

/// curl lines against the live emulator for what a person does in Telegram.
fn how_to_talk(api: &url::Url, health: &str) -> String {
    let token = demo::DEMO_TOKEN;
    let post = "-H 'content-type: application/json' -d";
    let user = r#""user":{"id":1,"first_name":"You"}"#;
    format!(
        "the demo bot keeps running until Ctrl-C, on the Bot API emulator at {api} \
         (its control API: docs/EMULATOR.md). As user 1:\n  \
         write to the bot:\n    curl -s {api}_emulator/{token}/messages {post} '{{{user},\"text\":\"/start\"}}'\n  \
         read the chat (message ids, buttons and their callback_data):\n    curl -s {api}_emulator/{token}/chats/1\n  \
         press a button of a message:\n    curl -s {api}_emulator/{token}/callbacks {post} \
         '{{{user},\"message_id\":2,\"data\":\"CALLBACK_DATA\"}}'\n  \
         share your phone number (at the booking's phone step):\n    curl -s {api}_emulator/{token}/messages {post} \
         '{{{user},\"contact\":{{\"phone\":\"+44 20 7946 0958\"}}}}'\n  \
         register a bot of your own, to try `botctl tenant create` with BOTCTL_TELEGRAM_API_URL={api}:\n    \
         curl -s {api}_emulator/bots {post} \
         '{{\"token\":\"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789\",\"id\":123456,\"username\":\"my_test_bot\"}}'\n  \
         health: {health}"
    )
}

#[derive(Serialize)]
#[serde(transparent)]
struct Business<'a>(&'a Summary);

impl Render for Business<'_> {
    fn render(&self) -> String {
        let s = self.0;
        let mut out = format!("The whole business in {}\n\n", s.database);
        for line in &s.conversation {
            let who = match line.who {
                "sales bot" => "🏪 sales bot",
                "bot" => "🤖 bot",
                "buyer" => "💼 buyer",
                _ => "👤 customer",
            };
            let mut text = line.text.replace('\n', &format!("\n{INDENT}"));
            text.push_str(&keyboard(&line.buttons));
            out.push_str(&format!("{who}: {text}\n\n"));
        }
        let field =
            |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string).unwrap_or_else(|| v[k].to_string());
        out.push_str("Summary:\n");
        out.push_str(&format!(
            "  order      {} ({}): {}\n",
            field(&s.order, "reference"),
            field(&s.order, "state"),
            s.history.join(" → ")
        ));
        out.push_str(&format!("  payment    YooKassa {}\n", s.payment.as_str().unwrap_or("none")));
        for row in s.ledger.as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  ledger     {} {} {} minor units, {} days (botctl.payments)\n",
                field(row, "provider"),
                field(row, "currency"),
                field(row, "amount"),
                field(row, "days")
            ));
        }
        out.push_str(&format!("  tenant     {}\n  container  {}\n", s.tenant, s.container));
        match &s.booking {
            Some(b) => out.push_str(&format!(
                "  booking    #{} {} at {} is {} (tenant_{}.bookings)\n",
                b.id, b.service_name, b.starts_at, b.status, s.tenant
            )),
            None => out.push_str("  booking    none\n"),
        }
        out
    }
}

/// `--platform`: the whole business, and with `--keep` the daemon, the emulators and the container
/// until Ctrl-C, which removes the demo tenant and its container like a run without `--keep`.
async fn whole_business(args: DemoArgs, ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.open(ctx.db_options()).await?;
    // The runtime's options name the installation, which the control schema holds.
    crate::db::control::init(&database.pool).await?;
    let s = &ctx.settings;
    let options = PlatformOptions {
        locale: args.locale,
        runtime: ctx.runtime_options(&database).await.map_err(|e| format!("{e:#}")),
        docker_host: s.docker.host.clone(),
        clock: ClockOptions {
            grace: s.billing.grace,
            notices: NoticeOptions { contact: s.billing.contact.clone(), renew_url: s.billing.renew_url.clone() },
            actor: "botctl demo".into(),
        },
        keep: args.keep,
    };
    let running = {
        let spinner = ctx.ui.spinner("starting the whole-business demo");
        tokio::select! {
            running = platform::run(database, options, &spinner) => running?,
            () = crate::interrupted() => return Err(Interrupted.into()),
        }
    };
    ctx.ui.data(&Business(&running.summary))?;
    if args.keep {
        let api = running.emulator.url();
        ctx.ui.note(format!(
            "the platform daemon, the emulators and the container {} keep running until Ctrl-C, which stops them \
             and removes the demo tenant. Bot API emulator: {api} (docs/EMULATOR.md); YooKassa emulator: {}. \
             Talk to the new bot as user 1:\n    curl -s {api}_emulator/{}/messages -H 'content-type: application/json' \
             -d '{{\"user\":{{\"id\":1,\"first_name\":\"You\"}},\"text\":\"/start\"}}'\n  \
             read the chat: curl -s {api}_emulator/{}/chats/1",
            running.summary.container,
            running.summary.yookassa.as_deref().unwrap_or_default(),
            platform::SHOP_TOKEN,
            platform::SHOP_TOKEN,
        ));
        crate::interrupted().await;
        return running.stop_all().await;
    }
    running.stop().await
}
