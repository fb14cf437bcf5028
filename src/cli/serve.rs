use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::bot::serve::{self, ServeOptions};
use crate::db::DatabaseUrl;
use crate::error::BadInput;
use crate::telegram::BotToken;
use crate::telegram::runtime::health;
use crate::ui::Ui;

/// Where the daemon's /healthz and /metrics listen unless told otherwise.
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

/// Runs one tenant's bot until SIGTERM or Ctrl-C (inside the tenant's container, configured by its
/// environment; the same settings work as flags).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The tenant's name, for logs.
    #[arg(long, env = "BOTCTL_TENANT", value_name = "NAME")]
    tenant: String,
    /// The tenant's own database role: postgres://tenant_NAME:PASSWORD@HOST:PORT/DATABASE.
    #[arg(long = "tenant-database-url", env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database_url: String,
    /// Reads the database role's password from this file (a Swarm secret), in place of the URL's.
    #[arg(long, env = "DATABASE_PASSWORD_FILE", value_name = "FILE")]
    database_password_file: Option<PathBuf>,
    /// The bot's token.
    #[arg(long, env = "BOT_TOKEN", hide_env_values = true, value_name = "TOKEN", conflicts_with = "token_file")]
    token: Option<String>,
    /// Reads the bot's token from this file (a Docker secret, for example).
    #[arg(long, env = "BOT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Where /healthz and /metrics listen.
    #[arg(long, env = "BOTCTL_HTTP_ADDR", default_value = DEFAULT_HTTP_ADDR, value_name = "ADDR")]
    http_addr: SocketAddr,
    /// How often the outbox looks for messages another process queued (the bot's own are sent at once).
    #[arg(long, env = "BOTCTL_OUTBOX_RESCAN", default_value = "5m", value_parser = rescan, value_name = "DURATION")]
    outbox_rescan: Duration,
}

/// A rescan interval: a humantime duration, at least a second (a shorter one would keep the bot busy).
fn rescan(value: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(value).map_err(|e| format!("{e} (for example 30s, 5m, 1h)"))?;
    if every < Duration::from_secs(1) {
        return Err("must be at least 1s".to_string());
    }
    Ok(every)
}

/// Asks a running `botctl serve` whether it is healthy; exits 0 when it is, 1 when not (Docker's healthcheck).
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The daemon's health listener.
    #[arg(long, env = "BOTCTL_HTTP_ADDR", default_value = DEFAULT_HTTP_ADDR, value_name = "ADDR")]
    http_addr: SocketAddr,
}

pub async fn exec(args: ServeArgs, ctx: &Context) -> anyhow::Result<()> {
    let database: DatabaseUrl = args
        .database_url
        .parse()
        .map_err(|e| anyhow::Error::new(e).context(BadInput::new("invalid DATABASE_URL (--tenant-database-url)")))?;
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(path)) => crate::config::read_secret_file(path)?,
        (None, None) => return Err(BadInput::new("missing the bot token: set BOT_TOKEN or BOT_TOKEN_FILE").into()),
    };
    let token: BotToken = token.parse().map_err(|e: crate::telegram::TokenShapeError| BadInput::new(e.to_string()))?;
    let mut connect = database.connect_options();
    if let Some(path) = &args.database_password_file {
        connect = connect.password(&crate::config::read_secret_file(path)?);
    }
    let options = ServeOptions {
        tenant: args.tenant,
        database: connect,
        token,
        api_url: ctx.settings.telegram.api_url.clone(),
        http_addr: args.http_addr,
        rate_limits: ctx.settings.telegram.rate_limits,
        flood: None,
        outbox_rescan: args.outbox_rescan,
    };
    let shutdown = CancellationToken::new();
    let signals = shutdown.clone();
    tokio::spawn(async move {
        crate::interrupted().await;
        tracing::info!("stopping: finishing the updates in hand");
        signals.cancel();
    });
    serve::run(options, shutdown, None).await.context("botctl serve stopped")
}

/// Probes without loading settings, logging or an async runtime: Docker runs this in every container
/// every few seconds, so its whole cost is the process and one loopback request.
pub fn health(args: &HealthArgs, ui: &Ui) -> anyhow::Result<()> {
    let healthy = health::probe(args.http_addr, Duration::from_secs(3))
        .with_context(|| format!("no answer from {}", args.http_addr))?;
    if !healthy {
        anyhow::bail!("unhealthy (see http://{}/healthz)", args.http_addr);
    }
    ui.status("Healthy", args.http_addr);
    Ok(())
}
