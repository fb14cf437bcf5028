use std::path::PathBuf;

use clap::Args;

use super::Context;
use super::backup::LockTimeoutArgs;
use super::tenant::{TokenArgs, slug, token};
use crate::db::DbOptions;
use crate::db::servers::ServerName;
use crate::error::BadInput;
use crate::tenant::restore::{self, NewTenantBot, RestoreOptions};
use crate::tenant::{ops, runtime};

/// Restores a tenant from a backup archive, as one transaction: a failure anywhere leaves the live
/// tenant exactly as it was.
///
/// The archive is checked first (structure, checksums, row counts); one from an older botctl is
/// migrated forward, one from a newer botctl is refused. It is built into a schema beside the live
/// one and swapped in; the replaced schema is kept as tenant_NAME_prev_<time> (the one kept before is
/// dropped). The tenant's bot is stopped meanwhile and started again after. Replacing a tenant that
/// has customers or bookings needs --force, and a confirmation: typed on a terminal, --yes elsewhere.
/// Every check that can refuse the restore runs before the bot is stopped. Restored under another
/// name (--as), the source's pending messages are expired: the new bot's customers never started it.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The tenant the archive belongs to.
    name: String,
    /// The archive (see `botctl backup list`).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// Restores into a new tenant of this name instead, created stopped; it needs a bot of its own
    /// (--token or --token-file), as a bot serves one tenant.
    #[arg(long = "as", value_name = "NEW")]
    as_new: Option<String>,
    /// Puts the --as tenant's schema on this PostgreSQL server (`botctl server list`) [default: the one
    /// with the most room].
    #[arg(long, value_name = "NAME", requires = "as_new")]
    server: Option<ServerName>,
    #[command(flatten)]
    token: TokenArgs,
    /// Replaces a tenant that has customers or bookings.
    #[arg(long)]
    force: bool,
    /// Drops the replaced schema instead of keeping it.
    #[arg(long)]
    no_keep: bool,
    #[command(flatten)]
    lock: LockTimeoutArgs,
}

pub async fn exec(args: RestoreArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let from = slug(&args.name)?;
    let as_new = match (&args.as_new, token(&args.token)?) {
        (Some(name), Some(token)) => Some(NewTenantBot {
            slug: slug(name)?,
            token,
            telegram_api_url: ctx.settings.telegram.api_url.clone(),
            server: args.server.clone(),
        }),
        (Some(_), None) => {
            return Err(BadInput::new("--as needs the new tenant's own bot: give --token or --token-file").into());
        }
        (None, Some(_)) => return Err(BadInput::new("--token is for the new tenant of --as").into()),
        (None, None) => None,
    };
    let options =
        RestoreOptions { archive: args.from.clone(), force: args.force, keep_previous: !args.no_keep, as_new };
    let database = ctx.connect_locking(DbOptions::DEFAULT_MAX_CONNECTIONS, Some(args.lock.get(ctx))).await?;
    // Whatever can refuse the restore does so before the bot is touched.
    let checked = {
        let _spinner = ui.spinner("checking the archive");
        restore::check(&database.servers, &from, &options).await?
    };
    if args.force && options.as_new.is_none() && !ctx.settings.yes {
        let what =
            format!("restoring replaces everything tenant `{from}` has now with the archive's {}", args.from.display());
        if !ui.interactive() {
            return Err(BadInput::new(format!(
                "refusing to restore over tenant `{from}` without --yes (not a terminal): {what}"
            ))
            .into());
        }
        ui.warn(what);
        if !ui.confirm_typed(&format!("Type `{from}` to restore over it"), from.as_str()).await? {
            anyhow::bail!("aborted: nothing was restored");
        }
    }
    // The bot must not write while its schema is replaced: it is stopped, and started again after,
    // whether the restore succeeded or not.
    let running = options.as_new.is_none() && ops::show(&database.servers, &from).await?.status == "running";
    let engine = if running { Some(ctx.engine().await?) } else { None };
    if let Some(engine) = &engine {
        runtime::stop(&database.servers, engine, &from, &ctx.actor()).await?;
    }
    let restored = {
        let spinner = ui.spinner(format!("restoring tenant {}", options.as_new.as_ref().map_or(&from, |n| &n.slug)));
        restore::restore(&database.servers, &from, &options, checked, &ctx.actor(), &spinner).await
    };
    if let Some(engine) = &engine {
        let options = ctx.runtime_options(&database).await?;
        let spinner = ui.spinner(format!("starting tenant {from}"));
        let started = runtime::start(&database.servers, engine, &from, &options, &ctx.actor(), &spinner).await;
        drop(spinner);
        if let Err(e) = started {
            ui.warn(format_args!("its bot did not start again: {e:#}"));
        }
    }
    let restored = restored?;
    if !ui.structured(&restored)? {
        ui.status(
            "Restored",
            format_args!(
                "tenant {} from {}: {} in {}, schema version {} → {}",
                restored.tenant,
                restored.archive.display(),
                crate::ui::count(usize::try_from(restored.rows).unwrap_or(usize::MAX), "row", "rows"),
                crate::ui::count(restored.tables, "table", "tables"),
                restored.from_version,
                restored.to_version
            ),
        );
        if let Some(previous) = &restored.previous {
            ui.note(format_args!("the replaced data is kept in schema {previous} until the next restore"));
        }
        if restored.expired_messages > 0 {
            ui.note(format_args!(
                "{} pending messages of tenant `{from}` (reminders, notices) were expired: the new bot's customers never started it",
                restored.expired_messages
            ));
        }
        if options.as_new.is_some() {
            ui.note(format_args!("created stopped: `botctl tenant start {}` starts it", restored.tenant));
        }
    }
    Ok(())
}
