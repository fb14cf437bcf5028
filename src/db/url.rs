//! `DatabaseUrl`: a validated PostgreSQL URL whose password never reaches output, logs or errors.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;

const REDACTED: &str = "***";

/// A `postgres://` URL. `Display` and `Debug` redact the password; only [`DatabaseUrl::connect_options`]
/// sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(url::Url);

#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("not a URL ({0}); expected postgres://USER:PASSWORD@HOST:PORT/DATABASE")]
    Syntax(url::ParseError),
    #[error("unsupported scheme `{0}`; expected postgres:// or postgresql://")]
    Scheme(String),
    #[error("{0}")]
    Options(String),
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s.trim()).map_err(DatabaseUrlError::Syntax)?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(DatabaseUrlError::Scheme(url.scheme().to_string()));
        }
        // sqlx's own parser has the final word on parameters (sslmode, options, …); its messages
        // name the parameter, not the password.
        PgConnectOptions::from_str(url.as_str()).map_err(|e| DatabaseUrlError::Options(option_error(&e, &url)))?;
        Ok(Self(url))
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e| serde::de::Error::custom(format!("invalid database URL: {e}")))
    }
}

impl DatabaseUrl {
    pub fn connect_options(&self) -> PgConnectOptions {
        // Validated in `from_str`, so this parse cannot fail.
        PgConnectOptions::from_str(self.0.as_str()).unwrap_or_else(|_| PgConnectOptions::new())
    }

    /// The URL as given, password included: only for storing it where the operator's role alone reads
    /// (`botctl.servers`), never for output.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the URL carries a password (in its user part or as a `password` parameter).
    pub fn has_password(&self) -> bool {
        self.0.password().is_some_and(|p| !p.is_empty()) || self.0.query_pairs().any(|(k, _)| is_secret_param(&k))
    }

    /// The URL with its password replaced by `***`, safe for any output.
    pub fn redacted(&self) -> String {
        let mut url = self.0.clone();
        if url.password().is_some() {
            // Setting a password only fails for URLs that cannot have one, which we rejected.
            let _ = url.set_password(Some(REDACTED));
        }
        let secret_params = url.query_pairs().any(|(k, _)| is_secret_param(&k));
        if secret_params {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_secret_param(&k) { REDACTED.to_string() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string().replace("%2A%2A%2A", REDACTED)
    }
}

fn is_secret_param(key: &str) -> bool {
    matches!(key, "password" | "sslpassword")
}

/// sqlx's message, without the password and without the "error with configuration" prefix it repeats.
fn option_error(error: &sqlx::Error, url: &url::Url) -> String {
    let text = error.to_string();
    let mut text = text.as_str();
    while let Some(rest) = text.strip_prefix("error with configuration: ") {
        text = rest;
    }
    redact_text(text, url)
}

/// Removes the URL's password from text that may quote it.
fn redact_text(text: &str, url: &url::Url) -> String {
    match url.password() {
        Some(p) if !p.is_empty() => text.replace(p, REDACTED),
        _ => text.to_string(),
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted_in_display_and_debug() {
        let url: DatabaseUrl = "postgres://op:s3cret@db.example:5432/botctl".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://op:***@db.example:5432/botctl");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn password_query_parameter_is_redacted() {
        let url: DatabaseUrl = "postgres://op@db/botctl?password=s3cret&sslmode=require".parse().unwrap();
        let shown = url.to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }

    #[test]
    fn a_password_is_found_in_the_user_part_or_a_parameter() {
        assert!("postgres://op:s3cret@db/x".parse::<DatabaseUrl>().unwrap().has_password());
        assert!("postgres://op@db/x?password=s3cret".parse::<DatabaseUrl>().unwrap().has_password());
        assert!(!"postgres://op@db/x?sslmode=require".parse::<DatabaseUrl>().unwrap().has_password());
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let url: DatabaseUrl = "postgresql://op@db/botctl".parse().unwrap();
        assert_eq!(url.to_string(), "postgresql://op@db/botctl");
    }

    #[test]
    fn malformed_urls_are_rejected_without_echoing_secrets() {
        for bad in ["not a url", "mysql://root:s3cret@db/x", "postgres://op:s3cret@db/botctl?sslmode=sometimes"] {
            let err = bad.parse::<DatabaseUrl>().unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{bad}: {err}");
        }
    }

    #[test]
    fn option_errors_are_stated_once() {
        let err = "postgres://op@db/x?sslmode=sometimes".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(!err.starts_with("error with configuration"), "{err}");
        assert!(err.contains("sometimes"), "{err}");
    }

    #[test]
    fn connect_options_keep_the_password() {
        let url: DatabaseUrl = "postgres://op:s3cret@db.example:6543/botctl".parse().unwrap();
        let options = url.connect_options();
        assert_eq!(options.get_host(), "db.example");
        assert_eq!(options.get_port(), 6543);
        assert_eq!(options.get_database(), Some("botctl"));
    }
}
