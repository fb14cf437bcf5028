use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::db::DatabaseUrl;
use crate::db::servers::ServerName;
use crate::error::BadInput;
use crate::tenant::servers::{self, AddOptions, AddOutcome, ServerInfo};
use crate::ui::{Render, Table};

/// How long `server list` waits for each server's answer.
const LIST_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL servers tenant schemas live on: `main` (botctl's own) and those added here.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    Add(AddArgs),
    List(ListArgs),
    Drain(DrainArgs),
    Remove(RemoveArgs),
}

/// Adds a PostgreSQL server for tenants, or changes the capacity or container host of one already added
/// with the same URL.
///
/// botctl connects first and checks it: PostgreSQL 15 or newer, a role with CREATEROLE and CREATE on the
/// database, and not the same cluster as `main` or another server. `server add main --capacity N` changes
/// the capacity of botctl's own server.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The server's name: a lowercase letter, then up to 30 lowercase letters, digits or `-`.
    name: ServerName,
    /// An administrator's URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE (stored for botctl, shown redacted).
    // Parsed by `DatabaseUrl`, not clap: clap's errors quote the value, and this one holds a password.
    #[arg(long, env = "BOTCTL_SERVER_URL", hide_env_values = true, value_name = "URL", conflicts_with = "url_file")]
    url: Option<String>,
    /// Reads the URL from this file, keeping its password out of the process list and shell history.
    #[arg(long, value_name = "FILE")]
    url_file: Option<PathBuf>,
    /// How many tenants placement puts on it [default for a new server: 2000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    capacity: Option<u32>,
    /// How tenant containers reach it when not at the URL's host: HOST, HOST:PORT or a socket directory.
    #[arg(long, value_name = "HOST")]
    container_host: Option<String>,
}

/// Lists the servers: tenants, capacity, draining, PostgreSQL version and whether each answers now.
#[derive(Debug, Args)]
pub struct ListArgs {}

/// Stops placing new tenants on a server (its tenants stay; `tenant move --all-from` moves them).
#[derive(Debug, Args)]
pub struct DrainArgs {
    name: ServerName,
    /// Lets placement put new tenants on it again.
    #[arg(long)]
    undo: bool,
}

/// Forgets a server that holds no live tenant (nothing on the server itself is touched).
#[derive(Debug, Args)]
pub struct RemoveArgs {
    name: ServerName,
}

pub async fn exec(command: ServerCommand, ctx: &Context) -> anyhow::Result<()> {
    match command {
        ServerCommand::Add(args) => add(args, ctx).await,
        ServerCommand::List(ListArgs {}) => list(ctx).await,
        ServerCommand::Drain(args) => drain(args, ctx).await,
        ServerCommand::Remove(args) => remove(args, ctx).await,
    }
}

async fn add(args: AddArgs, ctx: &Context) -> anyhow::Result<()> {
    let text = match (args.url, &args.url_file) {
        (Some(url), _) => Some(url),
        (None, Some(path)) => Some(crate::config::read_secret_file_named(path, "URL")?),
        (None, None) => None,
    };
    let url = text
        .map(|t| t.parse::<DatabaseUrl>())
        .transpose()
        .map_err(|e| BadInput::new(format!("invalid server URL: {e}")))?;
    let options = AddOptions { name: args.name, url, capacity: args.capacity, container_host: args.container_host };
    let database = ctx.connect().await?;
    let added = {
        let _spinner = ctx.ui.spinner(format!("checking server {}", options.name));
        servers::add(&database.servers, &options, &ctx.actor()).await?
    };
    if !ctx.ui.structured(&added)? {
        let s = &added.server;
        let what = match added.outcome {
            AddOutcome::Added => "Added",
            AddOutcome::Updated => "Updated",
            AddOutcome::Unchanged => "Unchanged",
        };
        let url = s.url.as_deref().unwrap_or("botctl's own connection");
        ctx.ui.status(what, format_args!("server {} ({url}), capacity {}", s.name, s.capacity));
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(transparent)]
struct ServerList(Vec<ServerInfo>);

impl Render for ServerList {
    fn render(&self) -> String {
        let mut table = Table::new(["name", "url", "tenants", "capacity", "draining", "version", "reachable"]);
        for s in &self.0 {
            let reachable = match (s.reachable, &s.error) {
                (Some(true), _) => "yes".to_string(),
                (_, Some(error)) => format!("no: {error}"),
                _ => "no".to_string(),
            };
            table.row([
                s.name.clone(),
                s.url.clone().unwrap_or_else(|| "(botctl's own)".into()),
                s.tenants.to_string(),
                s.capacity.to_string(),
                if s.draining { "yes" } else { "no" }.to_string(),
                s.version.clone().unwrap_or_default(),
                reachable,
            ]);
        }
        table.to_string()
    }
}

async fn list(ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    ctx.ui.data(&ServerList(servers::list(&database.servers, LIST_TIMEOUT).await?))
}

async fn drain(args: DrainArgs, ctx: &Context) -> anyhow::Result<()> {
    let database = ctx.connect().await?;
    let server = servers::drain(&database.servers, &args.name, args.undo, &ctx.actor()).await?;
    if !ctx.ui.structured(&server)? {
        let (verb, what) =
            if args.undo { ("Resumed", "takes new tenants again") } else { ("Draining", "takes no new tenants") };
        ctx.ui.status(verb, format_args!("server {} {what}; it holds {} tenants", server.name, server.tenants));
    }
    Ok(())
}

async fn remove(args: RemoveArgs, ctx: &Context) -> anyhow::Result<()> {
    let ui = &ctx.ui;
    let database = ctx.connect().await?;
    let name = &args.name;
    let server = servers::removable(&database.servers, name).await?;
    let summary = format!(
        "removing server `{name}` ({}) forgets it: placement no longer uses it; nothing on it is dropped",
        server.url.as_deref().unwrap_or_default()
    );
    if !ctx.settings.yes {
        if !ui.interactive() {
            return Err(BadInput::new(format!(
                "refusing to remove server `{name}` without --yes (not a terminal): {summary}"
            ))
            .into());
        }
        ui.warn(summary);
        if !ui.confirm_typed(&format!("Type `{name}` to remove it"), name.as_str()).await? {
            anyhow::bail!("aborted: nothing was removed");
        }
    }
    let removed = servers::remove(&database.servers, name, &ctx.actor()).await?;
    if !ui.structured(&removed)? {
        ui.status("Removed", format_args!("server {name}"));
    }
    Ok(())
}
