//! The YooKassa shop's settings (`billing.yookassa.*`): who the shop is, its secret key (from a file or
//! the environment only, never shown), where buyers return, where notifications are heard and from whom,
//! and the 54-FZ receipt. Off entirely when no `shop_id` is set.

use std::net::SocketAddr;
use std::path::Path;

use ipnet::IpNet;

use super::file::{ReceiptSection, YookassaSection};
use super::{ConfigError, FromEnv, Resolver, Shown, builtin, parse_socket_addr, parse_url};
use crate::payments::yookassa::{
    Customer, DEFAULT_RECEIPT_DESCRIPTION, PRODUCTION_API_URL, ReceiptSettings, SecretKey, VatCode, yookassa_networks,
};

const SECRET_KEY: &str = "billing.yookassa.secret_key";
const SECRET_KEY_FILE: &str = "billing.yookassa.secret_key_file";

/// A YooKassa shop, configured.
#[derive(Debug, Clone)]
pub struct YookassaSettings {
    pub shop_id: String,
    /// Redacted in `Debug` and `config show`.
    pub secret_key: SecretKey,
    /// `https://api.yookassa.ru/v3/`, or an emulator's.
    pub api_url: url::Url,
    /// Where YooKassa sends the buyer after paying (the sales bot's `t.me` link, a thank-you page).
    pub return_url: url::Url,
    /// Where the notification listener binds; `None`: no listener (the poller and "I have paid" still
    /// confirm payments).
    pub listen: Option<SocketAddr>,
    /// Where notifications may come from.
    pub allowed_networks: Vec<IpNet>,
    /// Proxies in front of the listener whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub receipt: Option<ReceiptSettings>,
}

pub(super) fn resolve(r: &mut Resolver<'_>, file: YookassaSection) -> Result<Option<YookassaSettings>, ConfigError> {
    let shop_id = r.pick_env_opt("billing.yookassa.shop_id", file.shop_id)?;
    if file.secret_key.is_some() {
        return Err(ConfigError::Setting {
            key: SECRET_KEY,
            message: "the secret key is not written in the config file: put it in a file named by \
                      `secret_key_file`, or in BOTCTL_BILLING_YOOKASSA_SECRET_KEY"
                .into(),
        });
    }
    let secret_key = r.pick_env_opt(SECRET_KEY, None::<SecretKey>)?;
    let secret_key_file = r.pick_env_opt(SECRET_KEY_FILE, file.secret_key_file)?;
    let api_url = r.pick_env(
        "billing.yookassa.api_url",
        file.api_url,
        builtin(
            url::Url::parse(PRODUCTION_API_URL)
                .map_err(|e| ConfigError::Setting { key: "billing.yookassa.api_url", message: e.to_string() })?,
        ),
        parse_url,
    )?;
    let return_url = r.pick_env_opt("billing.yookassa.return_url", file.return_url)?;
    let listen = r.pick_env("billing.yookassa.listen", file.listen.map(Some), builtin(None), |s| {
        parse_socket_addr(s).map(Some)
    })?;
    let allowed = file.allowed_networks.map(|list| list.join(","));
    let allowed = r.file_text("billing.yookassa.allowed_networks", allowed.as_deref(), parse_networks)?;
    let allowed_networks = r.pick_env(
        "billing.yookassa.allowed_networks",
        allowed,
        builtin(Networks(yookassa_networks())),
        parse_networks,
    )?;
    let proxies = file.trusted_proxies.map(|list| list.join(","));
    let proxies = r.file_text("billing.yookassa.trusted_proxies", proxies.as_deref(), parse_networks)?;
    let trusted_proxies =
        r.pick_env("billing.yookassa.trusted_proxies", proxies, builtin(Networks(Vec::new())), parse_networks)?;
    let receipt = receipt(r, file.receipt)?;

    let Some(shop_id) = shop_id else { return Ok(None) };
    let secret_key = match (secret_key, secret_key_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Setting {
                key: SECRET_KEY,
                message: "set either the secret key (BOTCTL_BILLING_YOOKASSA_SECRET_KEY) or `secret_key_file`, \
                          not both"
                    .into(),
            });
        }
        (Some(key), None) => key,
        (None, Some(path)) => read_secret_key(&path)?,
        (None, None) => {
            return Err(ConfigError::Setting {
                key: SECRET_KEY,
                message: format!(
                    "shop {shop_id} has no secret key: set `secret_key_file` or BOTCTL_BILLING_YOOKASSA_SECRET_KEY"
                ),
            });
        }
    };
    let Some(return_url) = return_url else {
        return Err(ConfigError::Setting {
            key: "billing.yookassa.return_url",
            message: "a shop needs the URL buyers return to after paying (e.g. https://t.me/<sales bot>)".into(),
        });
    };
    Ok(Some(YookassaSettings {
        shop_id,
        secret_key,
        api_url,
        return_url,
        listen,
        allowed_networks: allowed_networks.0,
        trusted_proxies: trusted_proxies.0,
        receipt,
    }))
}

/// The receipt is on once it has somewhere to go (`email` or `phone`); its other keys alone are an error.
fn receipt(r: &mut Resolver<'_>, file: ReceiptSection) -> Result<Option<ReceiptSettings>, ConfigError> {
    let vat_code = r.pick_env("billing.yookassa.receipt.vat_code", file.vat_code.map(Some), builtin(None), |s| {
        parse_vat_code(s).map(Some)
    })?;
    let tax_system_code = r.pick_env(
        "billing.yookassa.receipt.tax_system_code",
        r.checked("billing.yookassa.receipt.tax_system_code", file.tax_system_code, parse_tax_system)?.map(Some),
        builtin(None),
        |s| parse_tax_system(s).map(Some),
    )?;
    let description = r.pick_env(
        "billing.yookassa.receipt.description",
        r.file_text("billing.yookassa.receipt.description", file.description.as_deref(), parse_description)?,
        builtin(DEFAULT_RECEIPT_DESCRIPTION.to_string()),
        parse_description,
    )?;
    let email = r.pick_env(
        "billing.yookassa.receipt.email",
        r.file_text("billing.yookassa.receipt.email", file.email.as_deref(), parse_email)?.map(Some),
        builtin(None),
        |s| parse_email(s).map(Some),
    )?;
    let phone = r.pick_env(
        "billing.yookassa.receipt.phone",
        r.file_text("billing.yookassa.receipt.phone", file.phone.as_deref(), parse_phone)?.map(Some),
        builtin(None),
        |s| parse_phone(s).map(Some),
    )?;
    if email.is_none() && phone.is_none() {
        if vat_code.is_some() || tax_system_code.is_some() {
            return Err(ConfigError::Setting {
                key: "billing.yookassa.receipt",
                message: "a 54-FZ receipt goes to an email or a phone, and Telegram tells a bot neither of the \
                          buyer's: set `receipt.email` (or `receipt.phone`) for the receipts"
                    .into(),
            });
        }
        return Ok(None);
    }
    let Some(vat_code) = vat_code else {
        return Err(ConfigError::Setting {
            key: "billing.yookassa.receipt.vat_code",
            message: "a receipt needs the VAT code of the seller's tax regime (1 = no VAT … 6 = 20/120)".into(),
        });
    };
    Ok(Some(ReceiptSettings { vat_code, tax_system_code, description, customer: Customer { email, phone } }))
}

/// The file's content, trimmed; neither it nor the file's text is ever echoed.
fn read_secret_key(path: &Path) -> Result<SecretKey, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Setting {
        key: SECRET_KEY_FILE,
        message: format!("cannot read the secret key file {}: {e}", path.display()),
    })?;
    parse_secret_key(text.trim())
        .map_err(|e| ConfigError::Setting { key: SECRET_KEY_FILE, message: format!("{}: {e}", path.display()) })
}

/// Only the shape is checked, and the message never quotes the key.
fn parse_secret_key(s: &str) -> Result<SecretKey, String> {
    let ok = !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(SecretKey::new(s)) } else { Err("the secret key is empty or not visible ASCII".into()) }
}

/// Networks as `CIDR` or single addresses, separated by commas (the environment) or as a YAML list.
fn parse_networks(s: &str) -> Result<Networks, String> {
    let networks = s
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{n}` is neither a network (185.71.76.0/27) nor an address"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Networks(networks))
}

fn parse_vat_code(s: &str) -> Result<VatCode, String> {
    let code: u8 = s.trim().parse().map_err(|_| format!("vat_code `{s}` is not a number from 1 to 6"))?;
    VatCode::try_from(code)
}

fn parse_tax_system(s: &str) -> Result<u8, String> {
    match s.trim().parse::<u8>() {
        Ok(code) if (1..=6).contains(&code) => Ok(code),
        _ => Err(format!("tax_system_code `{s}` is not a number from 1 to 6")),
    }
}

/// YooKassa's receipt line takes 128 characters; the placeholders may grow it, so the template is held to less.
fn parse_description(s: &str) -> Result<String, String> {
    let len = s.chars().count();
    if (1..=100).contains(&len) && !s.chars().any(char::is_control) {
        Ok(s.to_string())
    } else {
        Err("a receipt description is 1-100 characters without control characters".into())
    }
}

fn parse_email(s: &str) -> Result<String, String> {
    let (local, domain) = s.split_once('@').unwrap_or_default();
    let ok = !local.is_empty() && domain.contains('.') && s.len() <= 254 && !s.chars().any(char::is_whitespace);
    if ok { Ok(s.to_string()) } else { Err(format!("`{s}` is not an email address")) }
}

/// YooKassa takes a phone in international form as digits only, e.g. 79001234567.
fn parse_phone(s: &str) -> Result<String, String> {
    let ok = (10..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if ok { Ok(s.to_string()) } else { Err(format!("`{s}` is not a phone as 10-15 digits (e.g. 79001234567)")) }
}

/// A list of networks as one setting, for the resolver and `config show`.
#[derive(Debug, Clone)]
struct Networks(Vec<IpNet>);

impl Shown for Networks {
    fn shown(&self) -> String {
        if self.0.is_empty() {
            return "(none)".into();
        }
        self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

impl Shown for SecretKey {
    const UNSET: &'static str = "(not set)";
    fn shown(&self) -> String {
        // Display shows only stars.
        self.to_string()
    }
}

impl FromEnv for SecretKey {
    fn from_env(s: &str) -> Result<Self, String> {
        parse_secret_key(s.trim())
    }
}

impl Shown for VatCode {
    fn shown(&self) -> String {
        self.code().to_string()
    }
}

impl Shown for u8 {
    fn shown(&self) -> String {
        self.to_string()
    }
}
