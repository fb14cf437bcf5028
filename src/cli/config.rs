use clap::Subcommand;
use serde::Serialize;

use super::Context;
use crate::config::Entry;
use crate::ui::{Render, Table};

/// Inspects botctl's configuration.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Prints every effective setting, where it came from, and secrets redacted.
    Show,
}

#[derive(Serialize)]
struct Shown<'a> {
    settings: &'a [Entry],
}

impl Render for Shown<'_> {
    fn render(&self) -> String {
        let mut table = Table::new(["key", "value", "source"]);
        for entry in self.settings {
            table.row([entry.key.to_string(), entry.value.clone(), entry.source.to_string()]);
        }
        table.to_string()
    }
}

pub fn exec(command: ConfigCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => ctx.ui.data(&Shown { settings: ctx.settings.entries() }),
    }
}
