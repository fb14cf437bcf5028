//! Effective settings: defaults < config file < `BOTCTL_*` environment < flags, each value with its origin.
//!
//! This module is the only reader of the environment and of configuration files (clippy's
//! `disallowed-methods` enforces it). Flags and the environment twins of global flags arrive already
//! parsed by clap, tagged with where clap found them.

mod env;
mod file;
pub mod platform;
pub mod template;
mod yookassa;

use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

pub use env::Env;
pub use platform::{
    AlertSettings, Operator, OperatorBotSettings, PlatformSettings, Role as OperatorRole, SalesBotSettings,
};
use template::Locale;
pub use yookassa::YookassaSettings;

use crate::db::DatabaseUrl;
use crate::telemetry::LogFormat;
use crate::ui::{ColorChoice, OutputFormat};

/// The public Telegram Bot API; tests and `botctl demo` point elsewhere.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_NETWORK: &str = "host";
const DEFAULT_MEMORY_MB: u32 = 128;
const DEFAULT_CPUS: f64 = 1.0;
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Docker's own healthcheck of an idle bot: an exec costs the engine tens of CPU-ms, so at a fleet's
/// scale it must be rare (docs/BENCHMARKS.md); botctl probes `/healthz` itself while it waits.
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(600);
/// Long enough for a bot's own short transactions, short enough for a cron job to end.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// The original platform's businesses were in Russia; operators elsewhere set `tenant_defaults.timezone`.
const DEFAULT_TIMEZONE: &str = "Europe/Moscow";
/// The original platform advertised "first 7 days free".
const DEFAULT_TRIAL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_GRACE: Duration = Duration::from_secs(3 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file `{}` does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read config file `{}`", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file `{}`", path.display())]
    Parse { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("invalid value in environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid `{key}` in config file `{}`: {message}", path.display())]
    FileValue { path: PathBuf, key: &'static str, message: String },
    #[error("invalid `{key}`: {message}")]
    Setting { key: &'static str, message: String },
    #[error("invalid database URL from {origin}")]
    DatabaseUrl { origin: Origin, source: crate::db::DatabaseUrlError },
}

/// Where an effective value came from, as `botctl config show` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A value given on the command line or through a global flag's environment twin.
#[derive(Debug, Clone)]
pub struct Given<T> {
    pub value: T,
    pub origin: Origin,
}

/// What the command line (flags and their `BOTCTL_*` twins, parsed by clap) says.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<Given<PathBuf>>,
    /// Unparsed, so that a malformed URL is reported here without echoing its password.
    pub database_url: Option<Given<String>>,
    pub data_dir: Option<Given<PathBuf>>,
    pub output: Option<Given<OutputFormat>>,
    pub color: Option<Given<ColorChoice>>,
    pub log_format: Option<Given<LogFormat>>,
    pub no_progress: Option<Given<bool>>,
    pub verbosity: Option<Given<i8>>,
    pub yes: Option<Given<bool>>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub database: DatabaseSettings,
    pub data_dir: PathBuf,
    pub output: OutputFormat,
    pub color: ColorChoice,
    pub no_progress: bool,
    /// -1 with `-q`, 0 normally, 1 or more with `-v`.
    pub verbosity: i8,
    pub yes: bool,
    pub log: LogSettings,
    pub telegram: TelegramSettings,
    pub docker: DockerSettings,
    pub runtime: RuntimeSettings,
    pub tenant_defaults: TenantDefaults,
    pub backup: BackupSettings,
    pub billing: BillingSettings,
    pub platform: PlatformSettings,
    /// Problems worth a warning that do not stop botctl, such as a config file others can read.
    pub warnings: Vec<String>,
    entries: Vec<Entry>,
}

/// Where `botctl backup` writes archives when `--dest` is not given.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub dir: PathBuf,
    /// How long `backup`, `restore`, `migrate` and `tenant delete` wait for a table another session
    /// holds before that tenant fails.
    pub lock_timeout: Duration,
}

/// The subscription rules an operator sets: how long a trial lasts and how long a bot keeps working
/// after its period ends.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub trial: Duration,
    pub grace: Duration,
    /// Who a business writes to about its subscription (an @username, a phone), told in every notice.
    pub contact: Option<String>,
    /// Where a business renews, linked from every notice.
    pub renew_url: Option<url::Url>,
    /// The YooKassa shop buyers pay; `None` when no `shop_id` is set.
    pub yookassa: Option<YookassaSettings>,
}

/// What `tenant create` uses when its flags leave something out.
#[derive(Debug, Clone)]
pub struct TenantDefaults {
    pub timezone: String,
    pub locale: Locale,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `None` means: use botctl's own local cluster under the data dir.
    pub url: Option<DatabaseUrl>,
    pub connect_timeout: Duration,
    pub postgres_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A tracing `EnvFilter` directive such as `botctl=debug`.
    pub filter: Option<String>,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub api_url: url::Url,
    /// Whether the bot keeps to Telegram's rate limits when it sends; off only for a Bot API that
    /// enforces none, such as botctl's emulator.
    pub rate_limits: bool,
}

#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// `unix:///path/to/docker.sock` or `tcp://host:port`.
    pub host: String,
    /// The tenant image tag.
    pub image: String,
}

/// How tenant containers run.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// `host`, or a bridge network (created when missing).
    pub network: String,
    /// How containers reach PostgreSQL: `HOST[:PORT]` on their network, or an absolute path of a socket
    /// directory to mount. `None`: botctl's own cluster's shared socket, or the operator URL's host.
    pub database_host: Option<String>,
    pub memory_mb: u32,
    pub cpus: f64,
    /// How long `tenant create|start|upgrade` waits for a container to become healthy.
    pub health_timeout: Duration,
    /// How often Docker runs the healthcheck in a container made from now on.
    pub health_interval: Duration,
}

/// One line of `botctl config show`: secrets are already redacted in `value`.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub key: &'static str,
    pub value: String,
    pub source: Origin,
}

impl Settings {
    pub fn load(overrides: Overrides, env: &Env) -> Result<Self, ConfigError> {
        let explicit = overrides.config.as_ref().map(|g| g.value.as_path());
        let config_file = file::locate(explicit, env)?;
        let file = match &config_file {
            Some(path) => file::read(path)?,
            None => file::FileConfig::default(),
        };
        let warnings = match (&config_file, &file.database.url) {
            (Some(path), Some(url)) if url.has_password() => file::exposed_secret_warning(path).into_iter().collect(),
            _ => Vec::new(),
        };
        let mut r = Resolver { env, file_path: config_file.clone(), entries: Vec::new() };
        if let Some(path) = &config_file {
            let origin = overrides.config.map_or(Origin::Default, |g| g.origin);
            r.entries.push(Entry { key: "config", value: path.display().to_string(), source: origin });
        }

        let database_url = match overrides.database_url {
            Some(Given { value, origin }) => match value.parse() {
                Ok(url) => Some(Given { value: url, origin }),
                Err(source) => return Err(ConfigError::DatabaseUrl { origin, source }),
            },
            None => None,
        };
        let database = DatabaseSettings {
            url: r.pick_opt("database.url", database_url, file.database.url),
            connect_timeout: r.pick_env(
                "database.connect_timeout",
                file.database.connect_timeout,
                builtin(DEFAULT_CONNECT_TIMEOUT),
                parse_duration,
            )?,
            postgres_bin_dir: r.pick_env_opt("database.postgres_bin_dir", file.database.postgres_bin_dir)?,
        };
        let data_dir = r.pick("data_dir", overrides.data_dir, file.data_dir, builtin(default_data_dir(env)));
        let output = r.pick("output", overrides.output, file.output, builtin(OutputFormat::Table));
        let color_default = inherited(env, "NO_COLOR", |_| ColorChoice::Never).unwrap_or(builtin(ColorChoice::Auto));
        let color = r.pick("color", overrides.color, file.color, color_default);
        let no_progress = r.pick("no_progress", overrides.no_progress, file.no_progress, builtin(false));
        // Verbosity and --yes are per invocation: a config file that says "yes" to every prompt would be a trap.
        let verbosity = r.pick("verbosity", overrides.verbosity, None, builtin(0));
        let yes = r.pick("yes", overrides.yes, None, builtin(false));
        let log = LogSettings {
            filter: r.pick_env_opt("log", file.log)?,
            format: r.pick("log_format", overrides.log_format, file.log_format, builtin(LogFormat::Text)),
        };
        let telegram = TelegramSettings {
            api_url: r.pick_env(
                "telegram.api_url",
                file.telegram.api_url,
                builtin(default_telegram_url()),
                parse_url,
            )?,
            rate_limits: r.pick_env("telegram.rate_limits", file.telegram.rate_limits, builtin(true), parse_bool)?,
        };
        let docker_default =
            inherited(env, "DOCKER_HOST", str::to_string).unwrap_or(builtin(DEFAULT_DOCKER_HOST.to_string()));
        let docker = DockerSettings {
            host: r.pick_env("docker.host", file.docker.host, docker_default, parse_string)?,
            image: r.pick_env("docker.image", file.docker.image, builtin(default_image()), parse_string)?,
        };
        let rt = file.runtime;
        let runtime = RuntimeSettings {
            network: r.pick_env(
                "runtime.network",
                r.checked("runtime.network", rt.network, parse_network)?,
                builtin(DEFAULT_NETWORK.to_string()),
                parse_network,
            )?,
            database_host: r.pick_env_opt("runtime.database_host", rt.database_host)?,
            memory_mb: r.pick_env(
                "runtime.memory_mb",
                r.checked("runtime.memory_mb", rt.memory_mb, parse_memory)?,
                builtin(DEFAULT_MEMORY_MB),
                parse_memory,
            )?,
            cpus: r.pick_env(
                "runtime.cpus",
                r.checked("runtime.cpus", rt.cpus, parse_cpus)?,
                builtin(DEFAULT_CPUS),
                parse_cpus,
            )?,
            health_timeout: r.pick_env(
                "runtime.health_timeout",
                rt.health_timeout,
                builtin(DEFAULT_HEALTH_TIMEOUT),
                parse_duration,
            )?,
            health_interval: r.pick_env(
                "runtime.health_interval",
                r.file_text("runtime.health_interval", rt.health_interval.as_deref(), parse_health_interval)?,
                builtin(DEFAULT_HEALTH_INTERVAL),
                parse_health_interval,
            )?,
        };
        let tenant_defaults = TenantDefaults {
            timezone: r.pick_env(
                "tenant_defaults.timezone",
                file.tenant_defaults.timezone,
                builtin(DEFAULT_TIMEZONE.to_string()),
                parse_string,
            )?,
            locale: r.pick_env(
                "tenant_defaults.locale",
                file.tenant_defaults.locale,
                builtin(Locale::Ru),
                parse_locale,
            )?,
        };
        let backup = BackupSettings {
            dir: r.pick_env("backup.dir", file.backup.dir, builtin(data_dir.join("backups")), parse_path)?,
            lock_timeout: r.pick_env(
                "backup.lock_timeout",
                file.backup.lock_timeout,
                builtin(DEFAULT_LOCK_TIMEOUT),
                parse_duration,
            )?,
        };
        let billing = BillingSettings {
            trial: r.pick_env(
                "billing.trial",
                r.file_text("billing.trial", file.billing.trial.as_deref(), parse_billing_period)?,
                builtin(DEFAULT_TRIAL),
                parse_billing_period,
            )?,
            grace: r.pick_env(
                "billing.grace",
                r.file_text("billing.grace", file.billing.grace.as_deref(), parse_billing_period)?,
                builtin(DEFAULT_GRACE),
                parse_billing_period,
            )?,
            contact: r.pick_env_opt("billing.contact", file.billing.contact)?,
            renew_url: r.pick_env_opt("billing.renew_url", file.billing.renew_url)?,
            yookassa: yookassa::resolve(&mut r, file.billing.yookassa)?,
        };
        let platform = platform::resolve(&mut r, file.platform)?;
        Ok(Settings {
            tenant_defaults,
            backup,
            billing,
            platform,
            config_file,
            database,
            data_dir,
            output,
            color,
            no_progress,
            verbosity,
            yes,
            log,
            telegram,
            docker,
            runtime,
            warnings,
            entries: r.entries,
        })
    }

    /// Every effective setting with its origin, in a stable order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Reads a secret (such as a bot token) from a file an operator names, without echoing it in errors.
/// A missing, unreadable or empty file is the operator's input being wrong (exit 2).
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    read_secret_file_named(path, "token")
}

/// The same for a secret of another kind, `what` (`URL`), as errors name it.
pub fn read_secret_file_named(path: &Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::error::BadInput::new(format!("cannot read the {what} file {}: {e}", path.display())))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(crate::error::BadInput::new(format!("the {what} file {} is empty", path.display())).into());
    }
    Ok(text.to_string())
}

/// The tenant image tag that matches this binary.
pub fn default_image() -> String {
    format!("botctl:{}", env!("CARGO_PKG_VERSION"))
}

fn default_telegram_url() -> url::Url {
    // A constant that is known to parse; a failure here is a build defect, not input.
    url::Url::parse(DEFAULT_TELEGRAM_API_URL).expect("the default Telegram URL is valid")
}

/// `$XDG_DATA_HOME/botctl`; for root with no XDG_DATA_HOME, `/var/lib/botctl`, because the local
/// PostgreSQL server then runs as an unprivileged user that cannot enter root's home directory.
fn default_data_dir(env: &Env) -> PathBuf {
    let root = nix::unistd::geteuid().is_root();
    match env.data_home() {
        Some(dir) if !root || env.get("XDG_DATA_HOME").is_some() => dir.join("botctl"),
        _ => PathBuf::from("/var/lib/botctl"),
    }
}

/// `BOTCTL_` + the key in upper case with dots as underscores: `telegram.api_url` → `BOTCTL_TELEGRAM_API_URL`.
pub fn env_var_for(key: &str) -> String {
    format!("BOTCTL_{}", key.replace('.', "_").to_uppercase())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// Docker's healthcheck interval: at least a second (more often is the cost this setting exists to
/// avoid), at most a day (a healthcheck that never runs reports nothing).
fn parse_health_interval(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if (Duration::from_secs(1)..=Duration::from_secs(24 * 3600)).contains(&d) => Ok(d),
        _ => Err(format!("expected a duration from 1s to 24h such as `5m`, found `{s}`")),
    }
}

/// A trial or grace period: whole days, because notices and periods are counted in days; zero turns it off.
fn parse_billing_period(s: &str) -> Result<Duration, String> {
    const DAY: u64 = 24 * 3600;
    match parse_duration(s)? {
        d if d.as_secs() % DAY == 0 && d.subsec_nanos() == 0 && d.as_secs() <= 365 * DAY => Ok(d),
        _ => Err(format!("expected whole days up to a year such as `7days`, found `{s}`")),
    }
}

fn parse_url(s: &str) -> Result<url::Url, String> {
    url::Url::parse(s).map_err(|e| format!("invalid URL: {e}"))
}

/// The words the flags' environment twins accept (clap's `BoolishValueParser`), which cannot be called
/// outside an argument parser.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "on" => Ok(true),
        "0" | "false" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("expected true or false (1/0, yes/no, on/off), found `{s}`")),
    }
}

fn parse_network(s: &str) -> Result<String, String> {
    // Docker's own rule for network names.
    let valid = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a Docker network name (host, or letters, digits, _ . -)"))
    }
}

/// A container's memory limit in MiB (also `tenant create|update --memory-mb`).
pub fn parse_memory(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(mb) if (16..=1 << 20).contains(&mb) => Ok(mb),
        _ => Err(format!("expected a whole number of MiB from 16 to 1048576, found `{s}`")),
    }
}

/// A container's CPU limit (also `tenant create|update --cpus`).
pub fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(cpus) if cpus > 0.0 && cpus <= 1024.0 => Ok(cpus),
        _ => Err(format!("expected a number of CPUs such as 0.5 or 2, found `{s}`")),
    }
}

fn parse_locale(s: &str) -> Result<Locale, String> {
    s.parse().map_err(|e: template::UnknownLocale| e.to_string())
}

fn parse_socket_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse().map_err(|e| format!("{e} (expected HOST:PORT, e.g. 127.0.0.1:9180)"))
}

fn parse_string(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

fn parse_path(s: &str) -> Result<PathBuf, String> {
    PathBuf::from_str(s).map_err(|e| e.to_string())
}

/// A default built into botctl.
fn builtin<T>(value: T) -> Given<T> {
    Given { value, origin: Origin::Default }
}

/// A default taken from a variable outside botctl's own (NO_COLOR, DOCKER_HOST), which the config file overrides.
fn inherited<T>(env: &Env, var: &str, value: impl FnOnce(&str) -> T) -> Option<Given<T>> {
    env.get(var).map(|raw| Given { value: value(raw), origin: Origin::Env(var.to_string()) })
}

/// Applies the precedence rule once per key and records what won.
struct Resolver<'a> {
    env: &'a Env,
    file_path: Option<PathBuf>,
    entries: Vec<Entry>,
}

impl Resolver<'_> {
    fn record<T: Shown>(&mut self, key: &'static str, value: &T, source: Origin) {
        self.entries.push(Entry { key, value: value.shown(), source });
    }

    fn file_origin(&self) -> Origin {
        self.file_path.clone().map_or(Origin::Default, Origin::File)
    }

    /// For keys that are also global flags: clap has already folded in the environment twin.
    /// `default` says where it comes from: built in, or a wider variable such as NO_COLOR.
    fn pick<T: Shown>(&mut self, key: &'static str, given: Option<Given<T>>, file: Option<T>, default: Given<T>) -> T {
        let chosen = given.or_else(|| file.map(|value| Given { value, origin: self.file_origin() })).unwrap_or(default);
        self.record(key, &chosen.value, chosen.origin);
        chosen.value
    }

    fn pick_opt<T: Shown>(&mut self, key: &'static str, given: Option<Given<T>>, file: Option<T>) -> Option<T> {
        let given = given.map(|g| Given { value: Some(g.value), origin: g.origin });
        self.pick(key, given, file.map(Some), builtin(None))
    }

    /// For keys without a flag: the `BOTCTL_*` twin is read here.
    fn pick_env<T: Shown>(
        &mut self,
        key: &'static str,
        file: Option<T>,
        default: Given<T>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let given = self.env_twin(key, parse)?;
        Ok(self.pick(key, given, file, default))
    }

    fn pick_env_opt<T: Shown + FromEnv>(
        &mut self,
        key: &'static str,
        file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let given = self.env_twin(key, T::from_env)?;
        Ok(self.pick_opt(key, given, file))
    }

    /// A value from the config file, held to the same rule as its environment twin.
    fn checked<T: ToString>(
        &self,
        key: &'static str,
        value: Option<T>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.file_text(key, value.map(|v| v.to_string()).as_deref(), parse)
    }

    /// A value the config file gives as text, parsed by its environment twin's rule.
    fn file_text<T>(
        &self,
        key: &'static str,
        text: Option<&str>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let (Some(text), Some(path)) = (text, &self.file_path) else { return Ok(None) };
        parse(text).map(Some).map_err(|message| ConfigError::FileValue { path: path.clone(), key, message })
    }

    fn env_twin<T>(&self, key: &str, parse: fn(&str) -> Result<T, String>) -> Result<Option<Given<T>>, ConfigError> {
        let var = env_var_for(key);
        let Some(raw) = self.env.get(&var) else { return Ok(None) };
        let value = parse(raw).map_err(|message| ConfigError::Env { var: var.clone(), message })?;
        Ok(Some(Given { value, origin: Origin::Env(var) }))
    }
}

/// Values that can come from a bare environment string.
trait FromEnv: Sized {
    fn from_env(s: &str) -> Result<Self, String>;
}

impl FromEnv for String {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_string(s)
    }
}

impl FromEnv for url::Url {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_url(s)
    }
}

impl FromEnv for PathBuf {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_path(s)
    }
}

/// How a value is printed by `config show`; secrets redact themselves here.
pub trait Shown {
    /// What an optional setting of this type means when it is not set.
    const UNSET: &'static str = "(not set)";
    fn shown(&self) -> String;
}

macro_rules! shown_via_display {
    ($($t:ty),*) => { $(impl Shown for $t { fn shown(&self) -> String { self.to_string() } })* };
}
shown_via_display!(
    String,
    bool,
    i8,
    u32,
    f64,
    url::Url,
    std::net::SocketAddr,
    OutputFormat,
    ColorChoice,
    LogFormat,
    Locale
);

impl Shown for DatabaseUrl {
    const UNSET: &'static str = "(not set: botctl's local cluster under data_dir)";
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        self.display().to_string()
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        humantime::format_duration(*self).to_string()
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        self.as_ref().map_or_else(|| T::UNSET.to_string(), Shown::shown)
    }
}

#[cfg(test)]
mod tests;
