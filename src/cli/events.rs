use clap::Args;
use serde::Serialize;

use super::Context;
use crate::tenant::ops;
use crate::tenant::store::Event;
use crate::ui::{Render, Table};

/// Shows what operators did (who, when, what; never secrets), oldest first.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this tenant's events (deleted tenants' events remain).
    name: Option<String>,
    /// How many of the newest events to show.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    limit: i64,
}

#[derive(Serialize)]
#[serde(transparent)]
struct Events(Vec<Event>);

impl Render for Events {
    fn render(&self) -> String {
        let mut table = Table::new(["at", "actor", "tenant", "action", "details"]);
        for e in &self.0 {
            table.row([
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.actor.clone(),
                e.tenant.clone().unwrap_or_default(),
                e.action.clone(),
                e.details.to_string(),
            ]);
        }
        table.to_string()
    }
}

pub async fn exec(args: EventsArgs, ctx: &Context) -> anyhow::Result<()> {
    // Deleted tenants keep their events, so the name is checked for shape only.
    let slug = args.name.as_deref().map(super::tenant::slug).transpose()?;
    let database = ctx.connect().await?;
    ctx.ui.data(&Events(ops::events(&database.servers, slug.as_ref(), args.limit).await?))
}
