//! `botctl demo`: the transcript as people read it, what to do next, and with `--keep` how to talk to the bot.

use clap::Args;
use console::Alignment;
use serde::Serialize;

use super::Context;
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
