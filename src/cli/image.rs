use clap::{Args, Subcommand};

use super::Context;
use crate::runtime::image::{self, Built};
use crate::ui::{Render, Table};

/// The tenant image that every tenant's container runs
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Builds the tenant image from this botctl binary, without pulling anything.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The image tag [default: docker.image, botctl:<version>].
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
}

impl Render for Built {
    fn render(&self) -> String {
        let mut table = Table::new(["in the image", "from"]);
        for (inside, host) in &self.files {
            table.row([inside.clone(), host.display().to_string()]);
        }
        format!(
            "{table}\nBuilt {} ({}, {:.1} MB)\n",
            self.tag,
            self.image.id.trim_start_matches("sha256:").chars().take(12).collect::<String>(),
            self.image.size_bytes as f64 / 1e6
        )
    }
}

pub async fn exec(command: ImageCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        ImageCommand::Build(args) => {
            let tag = args.tag.unwrap_or_else(|| ctx.settings.docker.image.clone());
            let engine = ctx.engine().await?;
            let built = {
                let spinner = ctx.ui.spinner(format!("building {tag}"));
                image::build(&engine, &tag, &spinner).await?
            };
            ctx.ui.data(&built)
        }
    }
}
