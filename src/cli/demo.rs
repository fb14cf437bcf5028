use clap::Args;
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

#[derive(Serialize)]
#[serde(transparent)]
struct Shown<'a>(&'a Transcript);

impl Render for Shown<'_> {
    fn render(&self) -> String {
        let t = self.0;
        let mut out = format!("Demo tenant `{}` in {}\nBot API emulator at {}\n\n", t.tenant, t.database, t.bot_api);
        for line in &t.conversation {
            let who = match line.who {
                "bot" => "🤖 bot",
                "owner" => "🛠 owner",
                _ => "👤 customer",
            };
            let mut text = line.text.replace('\n', "\n      ");
            if !line.buttons.is_empty() {
                text.push_str(&format!("\n      [{}]", line.buttons.join("] [")));
            }
            out.push_str(&format!("{who}: {text}\n\n"));
        }
        match &t.booking {
            Some(b) => out.push_str(&format!(
                "In the database: booking #{} for {} at {} is {} (tenant_{}.bookings).\n",
                b.id, b.service_name, b.starts_at, b.status, t.tenant
            )),
            None => out.push_str("In the database: no booking.\n"),
        }
        out
    }
}

pub async fn exec(args: DemoArgs, ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.open(ctx.db_options()).await?;
    let running = {
        let spinner = ctx.ui.spinner("starting the demo");
        let options = DemoOptions { locale: args.locale, template: args.template };
        tokio::select! {
            running = demo::run(&database, &options, &spinner) => running?,
            () = crate::interrupted() => return Err(Interrupted.into()),
        }
    };
    ctx.ui.data(&Shown(&running.transcript))?;
    if args.keep {
        let api = running.emulator.url();
        let token = demo::DEMO_TOKEN;
        ctx.ui.note(format_args!(
            "the demo bot keeps running until Ctrl-C. Talk to it as a customer:\n  \
             curl -s {api}_emulator/{token}/messages -H 'content-type: application/json' \
             -d '{{\"user\":{{\"id\":1,\"first_name\":\"You\"}},\"text\":\"/start\"}}'\n  \
             curl -s {api}_emulator/{token}/chats/1\n  health: {}",
            running.transcript.health
        ));
        crate::interrupted().await;
    }
    running.stop().await?;
    database.pool.close().await;
    Ok(())
}
