//! Logging: `tracing` events to stderr, filtered by `BOTCTL_LOG`, as text or JSON lines, with secrets
//! kept out at every level.

use std::io::Write;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

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
    let layer = tracing_subscriber::fmt::layer().with_writer(Redacting(LogWriter));
    let layer = match format {
        LogFormat::Text => layer.with_ansi(console::colors_enabled_stderr()).boxed(),
        LogFormat::Json => layer.json().boxed(),
    };
    // A second init (tests that call `run` twice in one process) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter.and(http_clients_capped()))).try_init();
    Ok(())
}

/// The HTTP clients' debug and trace events carry whole requests: Docker's container bodies (BOT_TOKEN,
/// DATABASE_URL) and Bot API URLs (the token). This cap sits beside the operator's filter, which
/// cannot lift it.
fn http_clients_capped() -> Targets {
    ["bollard", "hyper", "hyper_util", "reqwest", "h2", "rustls", "tungstenite"]
        .into_iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |targets, crate_name| {
            targets.with_target(crate_name, LevelFilter::INFO)
        })
}

/// Wraps the log writer so that no line leaves with a secret in it, whoever logged it: sqlx logs the
/// text of `CREATE|ALTER ROLE … PASSWORD '…'`, and a dependency may quote a URL or a token in an error.
// Redacting the finished line is the one place that covers every target, level and format at once.
#[derive(Clone, Copy)]
struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Redacting<W> {
    type Writer = Redacting<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }
}

/// What a secret looks like in a log line, and what replaces it.
static SECRETS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // SQL: PASSWORD 'it''s' (quotes doubled inside), as in CREATE ROLE and ALTER ROLE.
        (r"(?i)(\bpassword\s*)'(?:[^']|'')*'", "$1'***'"),
        // URLs with a password: postgres://user:secret@host, and ?password=secret.
        (r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]*@", "$1:***@"),
        (r"(?i)([?&](?:ssl)?password=)[^&\s]*", "${1}***"),
        // Telegram bot tokens: the bot's id, a colon and 35 characters of base64url.
        (r"\d{3,}:[A-Za-z0-9_-]{30,}", "***"),
    ]
    .into_iter()
    // The patterns are constants; a failure here is a build defect that the tests below catch.
    .filter_map(|(pattern, with)| Some((Regex::new(pattern).ok()?, with)))
    .collect()
});

/// `text` with every password, password-bearing URL and bot token replaced by `***`.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let mut text = std::borrow::Cow::Borrowed(text);
    for (pattern, with) in SECRETS.iter() {
        if let std::borrow::Cow::Owned(replaced) = pattern.replace_all(&text, *with) {
            text = std::borrow::Cow::Owned(replaced);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(super::SECRETS.len(), 4);
    }

    #[test]
    fn role_passwords_in_sql_are_redacted() {
        let line = r#"db.statement="CREATE ROLE \"tenant_a\" LOGIN NOINHERIT PASSWORD 'Ab1''x'" rows=0"#;
        assert_eq!(redact(line), r#"db.statement="CREATE ROLE \"tenant_a\" LOGIN NOINHERIT PASSWORD '***'" rows=0"#);
        assert_eq!(redact("alter role x password'abc'"), "alter role x password'***'");
    }

    #[test]
    fn urls_lose_their_passwords_and_keep_the_rest() {
        assert_eq!(
            redact("DATABASE_URL=postgres://tenant_a:s3cr3t@db:5432/botctl?sslmode=require"),
            "DATABASE_URL=postgres://tenant_a:***@db:5432/botctl?sslmode=require"
        );
        assert_eq!(redact("postgres://op@db/x?password=s3cr3t&x=1"), "postgres://op@db/x?password=***&x=1");
        assert_eq!(redact("http://127.0.0.1:8080/healthz"), "http://127.0.0.1:8080/healthz");
    }

    #[test]
    fn bot_tokens_are_redacted_wherever_they_appear() {
        let token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
        assert_eq!(redact(&format!("GET http://api/bot{token}/getMe")), "GET http://api/bot***/getMe");
        assert_eq!(redact(&format!("[\"BOT_TOKEN={token}\"]")), "[\"BOT_TOKEN=***\"]");
        assert_eq!(redact("at 12:30 on 2026-12-03"), "at 12:30 on 2026-12-03");
    }
}
