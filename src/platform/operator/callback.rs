//! The operator bot's button data: one enum, written and read here only, within Telegram's 64 bytes.
//! Whatever a client sends back is re-checked: the gate decides who may press it, and each handler
//! looks the tenant up again.

use std::fmt;
use std::str::FromStr;

use crate::telegram::runtime::callback::{CallbackError, MAX_LEN, small};
use crate::tenant::TenantSlug;

/// What an owner may do to a tenant from its card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Upgrade,
    Backup,
    Delete,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Start, Action::Stop, Action::Restart, Action::Upgrade, Action::Backup, Action::Delete];

    fn code(self) -> &'static str {
        match self {
            Action::Start => "st",
            Action::Stop => "sp",
            Action::Restart => "rs",
            Action::Upgrade => "up",
            Action::Backup => "bk",
            Action::Delete => "dl",
        }
    }

    fn parse(code: &str) -> Result<Action, CallbackError> {
        Action::ALL.into_iter().find(|a| a.code() == code).ok_or(CallbackError)
    }
}

/// The longest search text a page button carries: the rest of 64 bytes after `q:<page>:`.
pub const MAX_QUERY: usize = MAX_LEN - 8;

/// What a button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    Menu,
    /// The fleet at a glance.
    Fleet,
    /// A page of all tenants, from 1.
    Tenants {
        page: u32,
    },
    /// Asks for a search text.
    Search,
    /// A page of the tenants a search found.
    Found {
        page: u32,
        query: String,
    },
    Card {
        tenant: TenantSlug,
    },
    Logs {
        tenant: TenantSlug,
    },
    /// Asks to confirm an action, naming the tenant.
    Ask {
        action: Action,
        tenant: TenantSlug,
    },
    /// The confirmed action.
    Do {
        action: Action,
        tenant: TenantSlug,
    },
    /// Asks by how many days to extend a trial, naming the tenant.
    Trial {
        tenant: TenantSlug,
    },
    /// Extends it.
    ExtendTrial {
        days: u32,
        tenant: TenantSlug,
    },
    /// Drops whatever was under way.
    Cancel,
    /// Starts creating a tenant: asks for its bot's token.
    Create,
    /// The new tenant's template, by its embedded name.
    CreateTemplate {
        template: String,
    },
    /// The new tenant's time zone; `None` asks to type one.
    CreateZone {
        zone: Option<chrono_tz::Tz>,
    },
    /// Creates the tenant the dialogue has put together.
    CreateConfirm,
    /// Starts recording a manual payment for a tenant: asks for the plan.
    Pay {
        tenant: TenantSlug,
    },
    /// The plan paid for, by its code.
    PayPlan {
        tenant: TenantSlug,
        plan: String,
    },
    /// Days paid for without a plan: asks for their number.
    PayDays {
        tenant: TenantSlug,
    },
    /// Records the payment the dialogue has put together.
    PayConfirm {
        tenant: TenantSlug,
    },
    /// Asks to confirm refunding the tenant's last payment, naming it.
    Refund {
        tenant: TenantSlug,
    },
    /// Refunds the payment the confirmation named, by its row id (a newer payment since is not it).
    RefundConfirm {
        payment: i64,
        tenant: TenantSlug,
    },
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callback::Menu => write!(f, "m"),
            Callback::Fleet => write!(f, "f"),
            Callback::Tenants { page } => write!(f, "l:{page}"),
            Callback::Search => write!(f, "s"),
            Callback::Found { page, query } => write!(f, "q:{page}:{query}"),
            Callback::Card { tenant } => write!(f, "c:{tenant}"),
            Callback::Logs { tenant } => write!(f, "g:{tenant}"),
            Callback::Ask { action, tenant } => write!(f, "a:{}:{tenant}", action.code()),
            Callback::Do { action, tenant } => write!(f, "d:{}:{tenant}", action.code()),
            Callback::Trial { tenant } => write!(f, "t:{tenant}"),
            Callback::ExtendTrial { days, tenant } => write!(f, "e:{days}:{tenant}"),
            Callback::Cancel => write!(f, "x"),
            Callback::Create => write!(f, "n"),
            Callback::CreateTemplate { template } => write!(f, "nt:{template}"),
            Callback::CreateZone { zone: Some(zone) } => write!(f, "nz:{}", zone.name()),
            Callback::CreateZone { zone: None } => write!(f, "nz"),
            Callback::CreateConfirm => write!(f, "ny"),
            Callback::Pay { tenant } => write!(f, "p:{tenant}"),
            Callback::PayPlan { tenant, plan } => write!(f, "pp:{tenant}:{plan}"),
            Callback::PayDays { tenant } => write!(f, "pd:{tenant}"),
            Callback::PayConfirm { tenant } => write!(f, "py:{tenant}"),
            Callback::Refund { tenant } => write!(f, "rf:{tenant}"),
            Callback::RefundConfirm { payment, tenant } => write!(f, "ry:{payment}:{tenant}"),
        }
    }
}

fn tenant(s: &str) -> Result<TenantSlug, CallbackError> {
    s.parse().map_err(|_| CallbackError)
}

/// A template's or a plan's code: short, lower-case letters, digits, `_` or `-` (handlers look it up).
fn code(s: &str) -> Result<String, CallbackError> {
    let fits = (1..=32).contains(&s.len());
    let plain = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fits && plain { Ok(s.to_string()) } else { Err(CallbackError) }
}

/// A row id: positive, at most 19 digits (an i64).
fn row_id(s: &str) -> Result<i64, CallbackError> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CallbackError);
    }
    s.parse::<i64>().ok().filter(|id| *id >= 1).ok_or(CallbackError)
}

/// A page number, from 1.
fn page(s: &str) -> Result<u32, CallbackError> {
    small::<u32>(s).ok().filter(|p| *p >= 1).ok_or(CallbackError)
}

impl FromStr for Callback {
    type Err = CallbackError;

    fn from_str(s: &str) -> Result<Self, CallbackError> {
        // A search text may hold colons: it is the rest of the data.
        if let Some(rest) = s.strip_prefix("q:") {
            let (number, query) = rest.split_once(':').ok_or(CallbackError)?;
            if query.is_empty() {
                return Err(CallbackError);
            }
            return Ok(Callback::Found { page: page(number)?, query: query.to_string() });
        }
        let parts: Vec<&str> = s.split(':').collect();
        Ok(match parts.as_slice() {
            ["m"] => Callback::Menu,
            ["f"] => Callback::Fleet,
            ["s"] => Callback::Search,
            ["x"] => Callback::Cancel,
            ["l", number] => Callback::Tenants { page: page(number)? },
            ["c", slug] => Callback::Card { tenant: tenant(slug)? },
            ["g", slug] => Callback::Logs { tenant: tenant(slug)? },
            ["a", code, slug] => Callback::Ask { action: Action::parse(code)?, tenant: tenant(slug)? },
            ["d", code, slug] => Callback::Do { action: Action::parse(code)?, tenant: tenant(slug)? },
            ["t", slug] => Callback::Trial { tenant: tenant(slug)? },
            ["e", days, slug] => Callback::ExtendTrial { days: page(days)?, tenant: tenant(slug)? },
            ["n"] => Callback::Create,
            ["nt", name] => Callback::CreateTemplate { template: code(name)? },
            ["nz"] => Callback::CreateZone { zone: None },
            ["nz", zone] => Callback::CreateZone { zone: Some(zone.parse().map_err(|_| CallbackError)?) },
            ["ny"] => Callback::CreateConfirm,
            ["p", slug] => Callback::Pay { tenant: tenant(slug)? },
            ["pp", slug, plan] => Callback::PayPlan { tenant: tenant(slug)?, plan: code(plan)? },
            ["pd", slug] => Callback::PayDays { tenant: tenant(slug)? },
            ["py", slug] => Callback::PayConfirm { tenant: tenant(slug)? },
            ["rf", slug] => Callback::Refund { tenant: tenant(slug)? },
            ["ry", id, slug] => Callback::RefundConfirm { payment: row_id(id)?, tenant: tenant(slug)? },
            _ => return Err(CallbackError),
        })
    }
}

/// Cuts a search text to what a page button can carry, at a character boundary.
pub fn fit_query(query: &str) -> String {
    let mut end = query.len().min(MAX_QUERY);
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    query[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::runtime::callback::{check, parse};

    fn longest_slug() -> TenantSlug {
        "a".repeat(31).parse().unwrap()
    }

    #[test]
    fn every_variant_round_trips_within_telegrams_limit_and_forged_data_is_refused() {
        let t = longest_slug();
        let mut all = vec![
            Callback::Menu,
            Callback::Fleet,
            Callback::Search,
            Callback::Cancel,
            Callback::Tenants { page: 99_999 },
            Callback::Found { page: 99_999, query: fit_query(&"я:".repeat(40)) },
            Callback::Card { tenant: t.clone() },
            Callback::Logs { tenant: t.clone() },
            Callback::Trial { tenant: t.clone() },
            Callback::ExtendTrial { days: 90, tenant: t.clone() },
        ];
        for action in Action::ALL {
            all.push(Callback::Ask { action, tenant: t.clone() });
            all.push(Callback::Do { action, tenant: t.clone() });
        }
        all.extend([
            Callback::Create,
            Callback::CreateTemplate { template: "beauty_salon".into() },
            Callback::CreateZone { zone: Some(chrono_tz::America::Argentina::ComodRivadavia) },
            Callback::CreateZone { zone: Some(chrono_tz::Etc::GMTPlus12) },
            Callback::CreateZone { zone: None },
            Callback::CreateConfirm,
            Callback::Pay { tenant: t.clone() },
            Callback::PayPlan { tenant: t.clone(), plan: "p".repeat(16) },
            Callback::PayDays { tenant: t.clone() },
            Callback::PayConfirm { tenant: t.clone() },
            Callback::Refund { tenant: t.clone() },
            Callback::RefundConfirm { payment: i64::MAX, tenant: t.clone() },
        ]);
        check(
            all,
            &[
                "",
                "m:1",
                "e:0:abc",
                "t:",
                "f:1",
                "l:0",
                "l:-1",
                "l:x",
                "q:1:",
                "q:x:a",
                "c:",
                "c:Bad-Name",
                "a:zz:abc",
                "d:st",
                "a:st:a:b",
                "n:1",
                "nt:",
                "nt:Bad",
                "nz:Mars/Olympus",
                "nz:Europe/Moscow:x",
                "ny:1",
                "p:",
                "pp:abc",
                "pp:abc:1M",
                "pp:abc:",
                "pd:Abc",
                "py:abc:1m",
                "rf:",
                "ry:abc",
                "ry:0:abc",
                "ry:-1:abc",
                "ry:x:abc",
                "ry:99999999999999999999:abc",
                "\u{0}",
            ],
        );
        assert_eq!(parse::<Callback>(&format!("q:1:{}", "x".repeat(MAX_LEN))), Err(CallbackError));
    }
}
