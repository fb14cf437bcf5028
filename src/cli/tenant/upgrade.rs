//! `tenant upgrade`: the fleet onto another image, with a bar while it works and a table at the end.

use clap::Args;
use serde::Serialize;

use super::super::Context;
use super::super::fleet::FleetArgs;
use crate::error::SomeFailed;
use crate::tenant::upgrade::{self, Outcome, UpgradeOptions, UpgradeReport};
use crate::ui::{Render, Table};

/// Moves tenants to another image: migrates each schema, stops the old bot, starts the new one and
/// waits until it is healthy, or rolls back to the old image.
///
/// Stopped tenants are migrated and start on the new image next time. Exits with 1 when any tenant
/// failed or was rolled back; the table says which and why.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// The image to move to [default: docker.image].
    #[arg(long, value_name = "TAG")]
    image: Option<String>,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Report(UpgradeReport);

impl Render for Report {
    fn render(&self) -> String {
        let mut table = Table::new(["tenant", "from", "to", "schema", "result", "detail"]);
        for t in &self.0.tenants {
            let result = match (t.outcome, t.running) {
                (Outcome::Upgraded, true) => "upgraded",
                (Outcome::Upgraded, false) => "upgraded (stopped)",
                (Outcome::Current, _) => "current",
                (Outcome::RolledBack, _) => "rolled back",
                (Outcome::Failed, _) => "failed",
            };
            // The first line: the log lines after it are in the JSON output and the tenant's logs.
            let detail = t.error.as_deref().and_then(|e| e.lines().next()).unwrap_or_default();
            table.row([
                t.tenant.clone(),
                t.from.clone().unwrap_or_else(|| "-".into()),
                t.to.clone(),
                format!("{} → {}", t.schema_from, t.schema_to),
                result.to_string(),
                detail.to_string(),
            ]);
        }
        let count = |o: Outcome| self.0.tenants.iter().filter(|t| t.outcome == o).count();
        format!(
            "{table}\n{} upgraded, {} current, {} rolled back, {} failed\n",
            count(Outcome::Upgraded),
            count(Outcome::Current),
            count(Outcome::RolledBack),
            count(Outcome::Failed)
        )
    }
}

pub async fn exec(args: UpgradeArgs, ctx: &Context) -> anyhow::Result<()> {
    let options = UpgradeOptions {
        targets: args.fleet.targets()?,
        image: args.image.unwrap_or_else(|| ctx.settings.docker.image.clone()),
        jobs: usize::from(args.fleet.jobs),
    };
    // Each tenant holds its lock on one connection while it migrates and starts on another.
    let database = ctx.connect_with_pool(2 * u32::from(args.fleet.jobs) + 1).await?;
    upgrade::refuse_named(&database.servers, &options.targets).await?;
    let engine = ctx.engine().await?;
    let runtime = ctx.runtime_options(&database).await?;
    let report = {
        let bar = ctx.ui.bar(format!("upgrading tenants to {}", options.image));
        upgrade::upgrade(&database.servers, &engine, &options, &runtime, &ctx.actor(), &bar).await?
    };
    let (failed, total) = (report.not_upgraded(), report.tenants.len());
    ctx.ui.data(&Report(report))?;
    if failed > 0 {
        return Err(SomeFailed { failed, total, what: "tenant upgrades" }.into());
    }
    Ok(())
}
