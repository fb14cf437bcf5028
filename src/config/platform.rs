//! The platform daemon's settings (`platform.*`): where it listens, the operator bot (its token, from
//! the config, the environment or a file, and who may use it), the sales bot (its token the same way,
//! what it shows buyers and which ways to a bot and to a payment it offers) and the alerts' timing.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::file::{OperatorEntry, PlatformSection, SalesBotSection};
use super::{ConfigError, FromEnv, Resolver, Shown, builtin, parse_bool, parse_duration, parse_socket_addr};
use crate::telegram::BotToken;

/// Loopback only: /metrics tells revenue, which is the operator's business alone.
const DEFAULT_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9180);
/// An open alert is sent again to each operator this long after they last had it.
const DEFAULT_REMIND_AFTER: Duration = Duration::from_secs(6 * 3600);
/// A bot down for a moment (a restart, an upgrade) is not news; down for minutes is.
const DEFAULT_UNHEALTHY_AFTER: Duration = Duration::from_secs(5 * 60);

/// `botctl platform serve`, the platform's own daemon.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// Where its /healthz and /metrics listen.
    pub listen: std::net::SocketAddr,
    pub operator_bot: OperatorBotSettings,
    pub sales_bot: SalesBotSettings,
    pub alerts: AlertSettings,
}

/// The sales bot: off when no token is configured.
#[derive(Debug, Clone, Default)]
pub struct SalesBotSettings {
    pub token: Option<BotToken>,
    /// A contact shown to buyers: an @username, a URL or a line of text.
    pub support: Option<String>,
    /// A demo bot shown to buyers: an @username or a link.
    pub demo_bot: Option<String>,
    /// Whether "Create my bot" through Telegram's Managed Bots is offered (the bot must be allowed to
    /// manage bots in BotFather).
    pub managed_bots: bool,
    /// Whether Telegram Stars are offered as a payment.
    pub stars: bool,
}

/// The operator bot: off when no token is configured.
#[derive(Debug, Clone, Default)]
pub struct OperatorBotSettings {
    pub token: Option<BotToken>,
    /// Never empty when a token is set.
    pub operators: Vec<Operator>,
}

/// Someone allowed to use the operator bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// Their Telegram user id.
    pub id: i64,
    pub role: Role,
}

/// What an operator may do in the operator bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and acts.
    Owner,
    /// Sees only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Viewer => "viewer",
        }
    }
}

/// When alerts are raised and repeated.
#[derive(Debug, Clone, Copy)]
pub struct AlertSettings {
    pub remind_after: Duration,
    pub unhealthy_after: Duration,
}

pub(super) fn resolve(r: &mut Resolver<'_>, file: PlatformSection) -> Result<PlatformSettings, ConfigError> {
    let listen = r.pick_env("platform.listen", file.listen, builtin(DEFAULT_LISTEN), parse_socket_addr)?;
    let bot = file.operator_bot;
    let token = r.file_text("platform.operator_bot.token", bot.token.as_deref(), parse_token)?;
    let token = r.pick_env_opt("platform.operator_bot.token", token)?;
    let token_file = r.pick_env_opt("platform.operator_bot.token_file", bot.token_file)?;
    let token = one_token("platform.operator_bot", token, token_file, "platform.operator_bot.token_file")?;
    let operators =
        match (file.operators, &r.file_path) {
            (Some(entries), Some(path)) => Some(check_operators(&entries).map_err(|message| {
                ConfigError::FileValue { path: path.clone(), key: "platform.operators", message }
            })?),
            _ => None,
        };
    let operators: Operators =
        r.pick_env("platform.operators", operators.map(Operators), builtin(Operators(Vec::new())), parse_operators)?;
    if token.is_some() && operators.0.is_empty() {
        return Err(ConfigError::Setting {
            key: "platform.operators",
            message: "the operator bot has a token but no operators: nobody could use the operator bot \
                      (list at least one `{ id: <Telegram user id>, role: owner }`)"
                .into(),
        });
    }
    let alerts = file.alerts;
    let alerts = AlertSettings {
        remind_after: r.pick_env(
            "platform.alerts.remind_after",
            r.file_text("platform.alerts.remind_after", alerts.remind_after.as_deref(), parse_remind_after)?,
            builtin(DEFAULT_REMIND_AFTER),
            parse_remind_after,
        )?,
        unhealthy_after: r.pick_env(
            "platform.alerts.unhealthy_after",
            r.file_text("platform.alerts.unhealthy_after", alerts.unhealthy_after.as_deref(), parse_unhealthy_after)?,
            builtin(DEFAULT_UNHEALTHY_AFTER),
            parse_unhealthy_after,
        )?,
    };
    let sales_bot = sales_bot(r, file.sales_bot)?;
    Ok(PlatformSettings {
        listen,
        operator_bot: OperatorBotSettings { token, operators: operators.0 },
        sales_bot,
        alerts,
    })
}

/// A bot's token from `token` or `token_file`, never both.
fn one_token(
    section: &'static str,
    token: Option<BotToken>,
    token_file: Option<std::path::PathBuf>,
    file_key: &'static str,
) -> Result<Option<BotToken>, ConfigError> {
    match (token, token_file) {
        (Some(_), Some(_)) => {
            Err(ConfigError::Setting { key: section, message: "set either `token` or `token_file`, not both".into() })
        }
        (Some(token), None) => Ok(Some(token)),
        (None, Some(path)) => Ok(Some(read_token_file(file_key, &path)?)),
        (None, None) => Ok(None),
    }
}

fn sales_bot(r: &mut Resolver<'_>, file: SalesBotSection) -> Result<SalesBotSettings, ConfigError> {
    let token = r.file_text("platform.sales_bot.token", file.token.as_deref(), parse_sales_token)?;
    let token = r.pick_env_opt("platform.sales_bot.token", token)?;
    let token_file = r.pick_env_opt("platform.sales_bot.token_file", file.token_file)?;
    let token =
        one_token("platform.sales_bot", token.map(|t: SalesToken| t.0), token_file, "platform.sales_bot.token_file")?;
    let support = r.file_text("platform.sales_bot.support", file.support.as_deref(), parse_contact)?;
    let support = r.pick_env_opt::<Contact>("platform.sales_bot.support", support.map(Contact))?;
    let demo_bot = r.file_text("platform.sales_bot.demo_bot", file.demo_bot.as_deref(), parse_demo_bot)?;
    let demo_bot = r.pick_env_opt::<DemoBot>("platform.sales_bot.demo_bot", demo_bot.map(DemoBot))?;
    let managed_bots = r.pick_env("platform.sales_bot.managed_bots", file.managed_bots, builtin(false), parse_bool)?;
    let stars = r.pick_env("platform.sales_bot.stars", file.stars, builtin(false), parse_bool)?;
    Ok(SalesBotSettings { token, support: support.map(|c| c.0), demo_bot: demo_bot.map(|d| d.0), managed_bots, stars })
}

/// The sales bot's token, as `config show` names it when unset.
#[derive(Debug, Clone)]
struct SalesToken(BotToken);

impl Shown for SalesToken {
    const UNSET: &'static str = "(not set: the sales bot is off)";
    fn shown(&self) -> String {
        self.0.to_string()
    }
}

impl FromEnv for SalesToken {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_sales_token(s)
    }
}

fn parse_sales_token(s: &str) -> Result<SalesToken, String> {
    parse_token(s).map(SalesToken)
}

/// What buyers are told to write to: one line of text, an @username or a URL.
#[derive(Debug, Clone)]
struct Contact(String);

impl Shown for Contact {
    fn shown(&self) -> String {
        self.0.clone()
    }
}

impl FromEnv for Contact {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_contact(s).map(Contact)
    }
}

fn parse_contact(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 || s.chars().any(char::is_control) {
        return Err("expected one line of up to 200 characters: an @username, a URL or a short text".into());
    }
    Ok(s.to_string())
}

/// A demo bot: `@name_bot` or an http(s) link (`https://t.me/name_bot`).
#[derive(Debug, Clone)]
struct DemoBot(String);

impl Shown for DemoBot {
    fn shown(&self) -> String {
        self.0.clone()
    }
}

impl FromEnv for DemoBot {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_demo_bot(s).map(DemoBot)
    }
}

fn parse_demo_bot(s: &str) -> Result<String, String> {
    let s = s.trim();
    let username = s
        .strip_prefix('@')
        .is_some_and(|u| (5..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    let link = url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if username || link {
        Ok(s.to_string())
    } else {
        Err(format!("expected a bot's @username or an http(s) link such as https://t.me/demo_bot, found `{s}`"))
    }
}

fn parse_token(s: &str) -> Result<BotToken, String> {
    s.parse().map_err(|e: crate::telegram::TokenShapeError| e.to_string())
}

/// The file's content, trimmed, must be a token; neither it nor the file's text is ever echoed.
fn read_token_file(key: &'static str, path: &Path) -> Result<BotToken, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Setting {
        key,
        message: format!("cannot read the token file {}: {e}", path.display()),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ConfigError::Setting { key, message: format!("the token file {} is empty", path.display()) });
    }
    parse_token(text).map_err(|e| ConfigError::Setting { key, message: format!("{}: {e}", path.display()) })
}

/// Entries from the config file: each id positive and listed once, each role owner or viewer.
fn check_operators(entries: &[OperatorEntry]) -> Result<Vec<Operator>, String> {
    let mut operators: Vec<Operator> = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        let which = format!("entry {} (id {})", n + 1, entry.id);
        if entry.id <= 0 {
            return Err(format!("{which}: a Telegram user id is a positive integer"));
        }
        let role = parse_role(&entry.role).map_err(|e| format!("{which}: {e}"))?;
        if operators.iter().any(|o| o.id == entry.id) {
            return Err(format!("{which}: this id is listed twice"));
        }
        operators.push(Operator { id: entry.id, role });
    }
    Ok(operators)
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "owner" => Ok(Role::Owner),
        "viewer" => Ok(Role::Viewer),
        _ => Err(format!("role `{s}` is neither `owner` nor `viewer`")),
    }
}

/// The environment's form: `ID:ROLE` pairs separated by commas, e.g. `123456:owner,789:viewer`.
fn parse_operators(s: &str) -> Result<Operators, String> {
    let entries = s
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (id, role) = e.split_once(':').ok_or_else(|| format!("`{e}` is not ID:ROLE (e.g. 123456:owner)"))?;
            let id = id.trim().parse::<i64>().map_err(|_| format!("`{e}`: `{id}` is not a Telegram user id"))?;
            Ok(OperatorEntry { id, role: role.trim().to_string() })
        })
        .collect::<Result<Vec<_>, String>>()?;
    check_operators(&entries).map(Operators)
}

/// At least a minute (a reminder every few seconds is the flood alerts must never be), at most 30 days.
fn parse_remind_after(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if (Duration::from_secs(60)..=Duration::from_secs(30 * 24 * 3600)).contains(&d) => Ok(d),
        _ => Err(format!("expected a duration from 1m to 30days such as `6h`, found `{s}`")),
    }
}

/// Zero alerts a bot at the first survey that finds it down; at most a day.
fn parse_unhealthy_after(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d <= Duration::from_secs(24 * 3600) => Ok(d),
        _ => Err(format!("expected a duration up to 24h such as `5m`, found `{s}`")),
    }
}

/// The operators as one setting, for the resolver and `config show`.
#[derive(Debug, Clone)]
struct Operators(Vec<Operator>);

impl Shown for Operators {
    fn shown(&self) -> String {
        if self.0.is_empty() {
            return "(none)".into();
        }
        self.0.iter().map(|o| format!("{} {}", o.id, o.role.as_str())).collect::<Vec<_>>().join(", ")
    }
}

impl Shown for BotToken {
    const UNSET: &'static str = "(not set: the operator bot is off)";
    fn shown(&self) -> String {
        // Display shows only the bot's public id.
        self.to_string()
    }
}

impl FromEnv for BotToken {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_token(s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
