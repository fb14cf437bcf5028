//! `tenant move`: one tenant to another PostgreSQL server, or every tenant off one (`--all-from`).

use clap::Args;
use serde::Serialize;

use super::super::Context;
use super::super::backup::{DestArgs, LockTimeoutArgs};
use crate::db::servers::ServerName;
use crate::error::{BadInput, SomeFailed};
use crate::tenant::moving::{self, Containers, DrainReport, MoveOptions, Moved};
use crate::ui::{Render, Table};

/// Moves a tenant's schema to another PostgreSQL server, or every tenant off one (--all-from).
///
/// Prepares the target while the bot runs, then stops the bot, takes a snapshot (kept in the backup
/// directory), loads it on the target and compares every table row by row, switches the tenant's
/// record, starts the bot on the target and drops the source schema once it is healthy. A failure at
/// any step leaves the tenant on the server it was on, its bot running if it was. Running it again
/// finishes or rolls back a move a crash interrupted. Stops a bot, so it asks on a terminal; elsewhere
/// it needs --yes.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The tenant's name.
    #[arg(required_unless_present = "all_from", conflicts_with = "all_from")]
    name: Option<String>,
    /// The server to move to (with --all-from: instead of placing each tenant where a new one would go).
    #[arg(long, value_name = "SERVER", required_unless_present = "all_from")]
    to: Option<String>,
    /// Moves every tenant off this server, marking it draining first.
    #[arg(long, value_name = "SERVER")]
    all_from: Option<String>,
    /// Moves onto a server that is draining.
    #[arg(long)]
    force: bool,
    /// With --all-from: how many tenants move at once.
    #[arg(long, short, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    jobs: u16,
    #[command(flatten)]
    dest: DestArgs,
    #[command(flatten)]
    lock: LockTimeoutArgs,
}

#[derive(Serialize)]
#[serde(transparent)]
struct One(Moved);

impl Render for One {
    fn render(&self) -> String {
        let m = &self.0;
        let mut table = Table::new(["table", "rows"]);
        for t in &m.tables {
            table.row([t.table.clone(), t.rows.to_string()]);
        }
        let downtime = match m.downtime_ms {
            Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
            None => "none (the bot was not running)".to_string(),
        };
        let archive = m.archive.as_ref().map_or_else(|| "-".to_string(), |p| p.display().to_string());
        let copied = if m.tables.is_empty() { String::new() } else { format!("{table}\n") };
        format!(
            "{copied}tenant {} moved from server {} to {}: {} rows copied and verified\nbot downtime: {downtime}\n\
             archive: {archive}\n",
            m.tenant, m.from, m.to, m.rows
        )
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct Drained(DrainReport);

impl Render for Drained {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "to", "rows", "downtime", "result"]);
        for t in &self.0.tenants {
            let (rows, downtime) = match &t.moved {
                Some(m) => (
                    m.rows.to_string(),
                    m.downtime_ms.map_or_else(|| "-".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
                ),
                None => ("-".to_string(), "-".to_string()),
            };
            let result = t.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("moved");
            table.row([t.tenant.clone(), t.to.clone().unwrap_or_else(|| "-".into()), rows, downtime, result.into()]);
        }
        let failed = self.0.failed();
        format!("{table}\n{} moved off server {}, {failed} failed\n", self.0.tenants.len() - failed, self.0.from)
    }
}

enum Work {
    One(crate::tenant::TenantSlug),
    Drain(ServerName),
}

fn server(name: &str) -> anyhow::Result<ServerName> {
    Ok(name.parse()?)
}

pub async fn exec(args: MoveArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let options = MoveOptions {
        to: args.to.as_deref().map(server).transpose()?,
        force: args.force,
        dest: args.dest.dir(ctx),
        jobs: usize::from(args.jobs),
    };
    let work = match (args.name.as_deref(), args.all_from.as_deref()) {
        (Some(name), _) => Work::One(super::slug(name)?),
        (None, Some(from)) => Work::Drain(server(from)?),
        (None, None) => return Err(BadInput::new("name a tenant, or pass --all-from SERVER").into()),
    };
    // Each move holds its runtime lock, the tenant's row and a migration lock while it copies.
    let database = ctx.connect_locking(6 * u32::from(args.jobs) + 2, Some(args.lock.get(ctx))).await?;
    let servers = &database.servers;
    let summary = match &work {
        Work::One(slug) => {
            let tenant = crate::tenant::ops::show(servers, slug).await?;
            let to = options.to.as_ref().map_or("?", |s| s.as_str());
            format!(
                "moving tenant `{slug}` from server `{}` to `{to}` stops its bot until it is healthy there",
                tenant.server
            )
        }
        Work::Drain(from) => format!("moving every tenant off server `{from}` stops each bot while it moves"),
    };
    if !ctx.settings.yes {
        if !ui.interactive() {
            return Err(BadInput::new(format!("refusing without --yes (not a terminal): {summary}")).into());
        }
        ui.warn(&summary);
        if !ui.confirm("Move?", false).await? {
            anyhow::bail!("aborted: nothing was moved");
        }
    }
    // A stopped tenant moves without Docker; a running one is refused before anything is touched.
    let connected = match ctx.engine().await {
        Ok(engine) => match ctx.runtime_options(&database).await {
            Ok(runtime) => Ok((engine, runtime)),
            Err(e) => Err(format!("{e:#}")),
        },
        Err(e) => Err(format!("{e:#}")),
    };
    let containers = match &connected {
        Ok((engine, runtime)) => Containers::Engine(engine, runtime),
        Err(why) => Containers::Unreachable(why.clone()),
    };
    let actor = ctx.actor();
    match work {
        Work::One(slug) => {
            let moved = {
                let spinner = ui.spinner(format!("moving tenant {slug}"));
                moving::move_tenant(servers, &containers, &slug, &options, &actor, &spinner).await?
            };
            if let Some(r) = &moved.recovered {
                let how = if r.outcome == moving::journal::Step::Done { "finished" } else { "rolled back" };
                ui.note(format_args!(
                    "an interrupted move of tenant {slug} from {} to {} (at step {}) was {how} first",
                    r.from,
                    r.to,
                    r.step.as_str()
                ));
            }
            for warning in &moved.warnings {
                ui.warn(warning);
            }
            ui.data(&One(moved))?;
        }
        Work::Drain(from) => {
            let report = {
                let bar = ui.bar(format!("moving tenants off server {from}"));
                moving::drain(servers, &containers, &from, &options, &actor, &bar).await?
            };
            let (failed, total) = (report.failed(), report.tenants.len());
            ui.data(&Drained(report))?;
            if failed > 0 {
                return Err(SomeFailed { failed, total, what: "tenant moves" }.into());
            }
        }
    }
    Ok(())
}
