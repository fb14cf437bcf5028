//! The YAML configuration file: where it is looked for and what it may contain.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::template::Locale;
use super::{ConfigError, Env};
use crate::db::DatabaseUrl;
use crate::telemetry::LogFormat;
use crate::ui::{ColorChoice, OutputFormat};

/// Everything a config file may set. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub output: Option<OutputFormat>,
    pub color: Option<ColorChoice>,
    pub no_progress: Option<bool>,
    #[serde(default)]
    pub database: DatabaseSection,
    /// A tracing filter such as `info` or `botctl=debug`.
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub telegram: TelegramSection,
    #[serde(default)]
    pub docker: DockerSection,
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub tenant_defaults: TenantDefaultsSection,
    #[serde(default)]
    pub backup: BackupSection,
    #[serde(default)]
    pub billing: BillingSection,
    #[serde(default)]
    pub platform: PlatformSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: Option<DatabaseUrl>,
    #[serde(default, with = "humantime_serde_opt")]
    pub connect_timeout: Option<std::time::Duration>,
    pub postgres_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSection {
    pub api_url: Option<url::Url>,
    pub rate_limits: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    pub host: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    pub mode: Option<String>,
    pub placement: Option<Vec<String>>,
    pub network: Option<String>,
    pub database_host: Option<String>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    #[serde(default, with = "humantime_serde_opt")]
    pub health_timeout: Option<std::time::Duration>,
    /// Kept as written, so that the error for a value out of bounds quotes it.
    pub health_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    pub dir: Option<PathBuf>,
    #[serde(default, with = "humantime_serde_opt")]
    pub lock_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSection {
    /// Kept as written, so that the error for a value that is not whole days quotes it.
    pub trial: Option<String>,
    pub grace: Option<String>,
    pub contact: Option<String>,
    pub renew_url: Option<url::Url>,
    #[serde(default)]
    pub yookassa: YookassaSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YookassaSection {
    /// Quoted in YAML if it is all digits, as YooKassa's shop ids are.
    pub shop_id: Option<String>,
    /// Read only to refuse it with a message saying where the key goes instead; never echoed.
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub api_url: Option<url::Url>,
    pub return_url: Option<url::Url>,
    pub listen: Option<std::net::SocketAddr>,
    /// Kept as written (networks or addresses), parsed by the environment twin's rule.
    pub allowed_networks: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(default)]
    pub receipt: ReceiptSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptSection {
    pub vat_code: Option<crate::payments::yookassa::VatCode>,
    pub tax_system_code: Option<u8>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSection {
    pub listen: Option<std::net::SocketAddr>,
    #[serde(default)]
    pub operator_bot: OperatorBotSection,
    #[serde(default)]
    pub sales_bot: SalesBotSection,
    /// Who may use the operator bot; validated in `config::platform`, so that an error names the entry.
    pub operators: Option<Vec<OperatorEntry>>,
    #[serde(default)]
    pub alerts: AlertsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorBotSection {
    /// Kept as written until checked, and never echoed.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesBotSection {
    /// Kept as written until checked, and never echoed.
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub support: Option<String>,
    pub demo_bot: Option<String>,
    pub managed_bots: Option<bool>,
    pub stars: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    pub id: i64,
    pub role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Kept as written, so that the error for a value out of bounds quotes it.
    pub remind_after: Option<String>,
    pub unhealthy_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantDefaultsSection {
    /// An IANA time zone, validated when a tenant is created.
    pub timezone: Option<String>,
    pub locale: Option<Locale>,
}

/// Durations are written as `10s` or `2m 30s`, the form `botctl config show` prints.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer, de::Error};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
        humantime::parse_duration(&text)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("invalid duration `{text}`: {e}")))
    }
}

/// The config file to read: an explicit one must exist; otherwise the first of the standard places that does.
pub fn locate(explicit: Option<&Path>, env: &Env) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(Some(path.to_path_buf()))
        } else {
            Err(ConfigError::Missing { path: path.to_path_buf() })
        };
    }
    let candidates =
        [env.config_home().map(|d| d.join("botctl/config.yaml")), Some(PathBuf::from("/etc/botctl/config.yaml"))];
    Ok(candidates.into_iter().flatten().find(|p| p.is_file()))
}

pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
}

/// A warning when `path`, which holds a database password, can be read by its group or others, as ssh
/// warns about a private key.
pub fn exposed_secret_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "config file `{}` holds a database password and is readable by others (mode {mode:o}); \
             make it private: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

/// A file holding only comments or nothing at all is an empty configuration, not an error.
#[allow(clippy::disallowed_methods)] // config is where operator files are parsed
fn parse(text: &str) -> Result<FileConfig, serde_yaml_ng::Error> {
    Ok(serde_yaml_ng::from_str::<Option<FileConfig>>(text)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_comment_only_files_are_defaults() {
        assert!(parse("").unwrap().data_dir.is_none());
        assert!(parse("# nothing yet\n").unwrap().output.is_none());
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let err = parse("output: json\ndatabase:\n  ulr: postgres://x@y/z\n").unwrap_err().to_string();
        assert!(err.contains("database"), "{err}");
        assert!(err.contains("unknown field `ulr`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key_and_line() {
        let err = parse("no_progress: maybe\n").unwrap_err().to_string();
        assert!(err.contains("no_progress"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn bad_duration_is_an_error_with_the_value() {
        let err = parse("database:\n  connect_timeout: soon\n").unwrap_err().to_string();
        assert!(err.contains("invalid duration `soon`"), "{err}");
    }

    #[test]
    fn durations_parse_in_human_form() {
        let cfg = parse("database:\n  connect_timeout: 2m 30s\n").unwrap();
        assert_eq!(cfg.database.connect_timeout, Some(std::time::Duration::from_secs(150)));
    }
}
