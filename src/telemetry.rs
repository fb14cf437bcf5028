//! Logging: `tracing` events to stderr, filtered by `BOTCTL_LOG`, as text or JSON lines.

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

use crate::ui::LogWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}
crate::ui::display_as_value_name!(LogFormat);

/// Installs the global subscriber. An explicit filter wins; otherwise `-q`/`-v` pick the level.
pub fn init(filter: Option<&str>, verbosity: i8, format: LogFormat) -> anyhow::Result<()> {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "info,botctl=debug",
        _ => "debug",
    };
    let filter = EnvFilter::builder().parse(filter.unwrap_or(default)).map_err(|e| {
        crate::error::BadInput::new(format!(
            "invalid log filter `{}` (setting `log`, BOTCTL_LOG): {e}",
            filter.unwrap_or(default)
        ))
    })?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(LogWriter);
    // A second init (tests that call `run` twice in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(console::colors_enabled_stderr()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}
