use anyhow::Context as _;
use clap::Args;

use super::Context;
use crate::error::BadInput;
use crate::tenant::ops;
use crate::tenant::runtime::{self, LogQuery};

/// Prints a tenant's bot output (both streams) from its container; with -f, follows it across restarts.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The tenant's name.
    name: String,
    /// Keeps printing lines as they come, across restarts of the container, until Ctrl-C.
    #[arg(short, long)]
    follow: bool,
    /// Only lines newer than this: a duration back from now (10m, 2h) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only this many lines back from the end.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Starts every line with its time.
    #[arg(short, long)]
    timestamps: bool,
}

pub async fn exec(args: LogsArgs, ctx: &Context) -> anyhow::Result<()> {
    let slug = super::tenant::slug(&args.name)?;
    let since = args.since.as_deref().map(since).transpose()?;
    let database = ctx.connect().await?;
    ops::show(&database.servers, &slug).await?;
    database.pool.close().await;
    let engine = ctx.engine().await?;
    let query = LogQuery { follow: args.follow, since, tail: args.tail };
    runtime::logs(&engine, &slug, &query, |stamp, line| {
        if args.timestamps {
            ctx.ui.raw(format!("{stamp} ").as_bytes())?;
        }
        ctx.ui.raw(line)
    })
    .await
    .with_context(|| format!("reading tenant `{slug}`'s logs"))
}

/// `--since` as Unix seconds.
fn since(text: &str) -> anyhow::Result<i64> {
    if let Ok(back) = humantime::parse_duration(text) {
        let back =
            chrono::TimeDelta::from_std(back).map_err(|_| BadInput::new(format!("--since {text} is too far back")))?;
        return Ok((chrono::Utc::now() - back).timestamp());
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp()).map_err(|_| {
        BadInput::new(format!("--since `{text}` is neither a duration (10m, 2h) nor an RFC 3339 time")).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time_and_refuses_anything_else() {
        let now = chrono::Utc::now().timestamp();
        assert!((since("10m").unwrap() - (now - 600)).abs() <= 1);
        assert_eq!(since("2026-11-24T10:00:00Z").unwrap(), 1_795_514_400);
        let err = since("yesterday").unwrap_err();
        assert!(crate::error::has::<BadInput>(&err), "{err:#}");
    }
}
