use clap::Args;
use serde::Serialize;

use super::Context;
use crate::doctor::{self, Check, Diagnosis, DoctorOptions, Status};
use crate::error::{BadInput, SomeFailed};
use crate::tenant::fleet::{self, Repair};
use crate::ui::{Render, Table};

/// Checks PostgreSQL, the control schema, the connection budget, Docker, the tenant image, the tenants'
/// containers and the Telegram Bot API.
///
/// Each check says ok, warn or fail with a one-line fix. The connection budget weighs what the running
/// tenants open when busy (one in ten at once, or all of ten or fewer), botctl's pool and the superuser
/// slots against the server's max_connections, and counts the backends open now; for botctl's local
/// cluster it shows the settings sized for this machine. Containers of this installation that belong
/// to no tenant, and tenants marked running whose bot is not, are reported; `--fix` repairs them.
/// Exits with 1 when any check fails.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Removes containers that belong to no tenant and starts tenants marked running whose bot is not,
    /// then checks again. Asks first on a terminal; elsewhere it needs --yes.
    #[arg(long)]
    fix: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Report(Vec<Check>);

impl Render for Report {
    fn render(&self) -> String {
        let mut table = Table::new(["check", "status", "message", "fix"]);
        for check in &self.0 {
            table.row([
                check.name.to_string(),
                check.status.to_string(),
                check.message.clone(),
                check.fix.clone().unwrap_or_default(),
            ]);
        }
        table.to_string()
    }
}

pub async fn exec(args: DoctorArgs, ctx: &Context) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let options = DoctorOptions {
        db: ctx.db_options(),
        docker_host: s.docker.host.clone(),
        image: s.docker.image.clone(),
        telegram_api_url: s.telegram.api_url.clone(),
    };
    let diagnose = || async {
        let spinner = ctx.ui.spinner("checking");
        doctor::run(&options, &spinner).await
    };
    let mut diagnosis = diagnose().await;
    let mut repairs = None;
    if args.fix {
        if diagnosis.repairs.is_empty() {
            ctx.ui.note("nothing to repair");
        } else {
            repairs = Some((repair(&diagnosis, ctx).await?, diagnosis.repairs.len()));
            diagnosis = diagnose().await;
        }
    }
    let failed = diagnosis.checks.iter().filter(|c| c.status == Status::Fail).count();
    let total = diagnosis.checks.len();
    ctx.ui.data(&Report(diagnosis.checks))?;
    match repairs {
        Some((failed, total)) if failed > 0 => Err(SomeFailed { failed, total, what: "repairs" }.into()),
        _ if failed > 0 => Err(SomeFailed { failed, total, what: "checks" }.into()),
        _ => Ok(()),
    }
}

/// Makes every repair the diagnosis found, after a confirmation; returns how many failed.
async fn repair(diagnosis: &Diagnosis, ctx: &Context) -> anyhow::Result<usize> {
    let ui = &ctx.ui;
    let plan: Vec<String> = diagnosis.repairs.iter().map(Repair::to_string).collect();
    if !ctx.settings.yes {
        if !ui.interactive() {
            return Err(BadInput::new(format!(
                "refusing to repair without --yes (not a terminal); it would {}",
                plan.join("; ")
            ))
            .into());
        }
        for step in &plan {
            ui.status("Repair", step);
        }
        if !ui.confirm(&format!("Make these {} repairs?", plan.len()), false).await? {
            anyhow::bail!("aborted: nothing was repaired");
        }
    }
    let database = ctx.connect().await?;
    let engine = ctx.engine().await?;
    let options = ctx.runtime_options(&database).await?;
    let mut failed = 0;
    for (repair, step) in diagnosis.repairs.iter().zip(&plan) {
        let spinner = ui.spinner(step.clone());
        let done = fleet::repair(&database.servers, &engine, repair, &options, &ctx.actor(), &spinner).await;
        drop(spinner);
        match done {
            Ok(()) => ui.status("Repaired", step),
            Err(e) => {
                failed += 1;
                ui.warn(format_args!("could not {step}: {e:#}"));
            }
        }
    }
    Ok(failed)
}
