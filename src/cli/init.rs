use clap::Args;
use serde::Serialize;

use super::Context;
use crate::db::control;

/// Creates or upgrades the control-plane schema `botctl` (safe to run again: it then does nothing).
///
/// Checks first that the database role may create roles and schemas, and prints the exact GRANT
/// statements to run when it may not.
#[derive(Debug, Args)]
pub struct InitArgs {}

#[derive(Serialize)]
struct InitOutput {
    /// Which database: a server URL (password redacted) or the local cluster.
    location: String,
    #[serde(flatten)]
    report: control::InitReport,
    changed: bool,
}

pub async fn exec(_args: InitArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    // Not `ctx.connect()`: that requires the control schema this command creates.
    let database = ctx.open(ctx.db_options()).await?;
    let report = control::init(&database.pool).await?;
    database.pool.close().await;
    let output = InitOutput { location: database.location.to_string(), changed: !report.applied.is_empty(), report };
    if ui.structured(&output)? {
        return Ok(());
    }
    for migration in &output.report.applied {
        ui.status("Applied", format_args!("control migration {} ({})", migration.version, migration.description));
    }
    if output.changed {
        ui.status("Ready", format_args!("control schema at version {} in {}", output.report.version, output.location));
    } else {
        ui.status(
            "Fresh",
            format_args!(
                "control schema already at version {}: nothing to do ({})",
                output.report.version, output.location
            ),
        );
    }
    Ok(())
}
