use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use super::backup::LockTimeoutArgs;
use super::fleet::FleetArgs;
use crate::error::SomeFailed;
use crate::tenant::ops::{self, MigrateOptions, MigrateReport, MigrationState};
use crate::ui::{Render, Table};

/// Applies pending tenant-schema migrations, several tenants at once, each under its own lock.
///
/// Tenants already current are skipped without being opened. One tenant's failure does not stop the
/// others; the summary names each failure and the exit code is then 1. (`botctl init` migrates the
/// control plane; this never touches it.)
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    command: Option<MigrateCommand>,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Shows what would be applied without applying it.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    lock: LockTimeoutArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Shows each tenant's schema version and how many migrations it is missing.
    Status,
}

struct Report(MigrateReport);

impl Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for Report {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "from", "to", "migrations", "result"]);
        for t in &self.0.tenants {
            let migrations =
                t.migrations.iter().map(|m| format!("{} {}", m.version, m.description)).collect::<Vec<_>>();
            let result = match &t.error {
                Some(error) => format!("failed: {error}"),
                None if self.0.dry_run => "would apply".to_string(),
                None => "migrated".to_string(),
            };
            table.row([t.tenant.clone(), t.from.to_string(), t.to.to_string(), migrations.join(", "), result]);
        }
        let summary = format!(
            "{} {}, {} failed, {} already at version {}\n",
            crate::ui::count(self.0.tenants.len() - self.0.failed(), "tenant", "tenants"),
            if self.0.dry_run { "to migrate" } else { "migrated" },
            self.0.failed(),
            self.0.already_current,
            self.0.latest
        );
        if self.0.tenants.is_empty() { summary } else { format!("{table}\n{summary}") }
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct States(Vec<MigrationState>);

impl Render for States {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "version", "latest", "pending"]);
        for s in &self.0 {
            table.row([s.tenant.clone(), s.version.to_string(), s.latest.to_string(), s.pending.to_string()]);
        }
        table.to_string()
    }
}

pub async fn exec(args: MigrateArgs, ctx: &Context) -> anyhow::Result<()> {
    if let Some(MigrateCommand::Status) = args.command {
        let database = ctx.connect().await?;
        return ctx.ui.data(&States(ops::migrate_status(&database.servers).await?));
    }
    let targets = args.fleet.targets()?;
    let jobs = usize::from(args.fleet.jobs);
    let database = ctx.connect_locking(u32::from(args.fleet.jobs) + 1, Some(args.lock.get(ctx))).await?;
    let options = MigrateOptions { targets, dry_run: args.dry_run, jobs };
    let report = {
        let bar = ctx.ui.bar("migrating tenants");
        ops::migrate(&database.servers, &options, &ctx.actor(), &bar).await?
    };
    let failed = report.failed();
    let total = report.tenants.len();
    ctx.ui.data(&Report(report))?;
    if failed > 0 {
        return Err(SomeFailed { failed, total, what: "tenant migrations" }.into());
    }
    Ok(())
}
