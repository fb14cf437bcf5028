use clap::Args;
use serde::Serialize;

use super::Context;
use crate::doctor::{self, Check, DoctorOptions, Status};
use crate::error::SomeFailed;
use crate::ui::{Render, Table};

/// Checks PostgreSQL, the control schema, Docker, the tenant image and the Telegram Bot API.
///
/// Each check says ok, warn or fail with a one-line fix. Exits with 1 when any check fails.
#[derive(Debug, Args)]
pub struct DoctorArgs {}

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

pub async fn exec(_args: DoctorArgs, ctx: &Context) -> anyhow::Result<()> {
    let s = &ctx.settings;
    let options = DoctorOptions {
        db: ctx.db_options(),
        docker_host: s.docker.host.clone(),
        image: s.docker.image.clone(),
        telegram_api_url: s.telegram.api_url.clone(),
    };
    let checks = {
        let spinner = ctx.ui.spinner("checking");
        doctor::run(&options, &spinner).await
    };
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let total = checks.len();
    ctx.ui.data(&Report(checks))?;
    if failed > 0 {
        return Err(SomeFailed { failed, total, what: "checks" }.into());
    }
    Ok(())
}
