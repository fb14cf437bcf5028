//! The sales bot's button data: one enum, written and read here only, within Telegram's 64 bytes.
//! Whatever a client sends back is re-checked: each handler looks the order up again, and acts only on
//! an order of the buyer pressing, in the state the button was made for.

use std::fmt;
use std::str::FromStr;

use crate::telegram::runtime::callback::{CallbackError, id};
use crate::tenant::TenantSlug;

/// What a button asks for. `order` is an order's id, which the handler checks belongs to the presser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// The welcome screen.
    Menu,
    Faq,
    /// Starts a free trial's order.
    Trial,
    /// The plans to buy.
    Plans,
    /// Starts a purchase of a plan, by its code.
    Buy {
        plan: String,
    },
    /// The buyer's tenants, their subscriptions and payments.
    Mine,
    /// Starts a renewal of one of the buyer's tenants: asks for the plan.
    Renew {
        tenant: TenantSlug,
    },
    /// The renewal's plan.
    RenewPlan {
        order: i64,
        plan: String,
    },
    /// The new business's kind, by the template's embedded name.
    Template {
        order: i64,
        template: String,
    },
    /// The new business's time zone.
    Zone {
        order: i64,
        zone: chrono_tz::Tz,
    },
    /// Everything chosen: a trial begins, a purchase goes on to the payment.
    Confirm {
        order: i64,
    },
    /// Pays through YooKassa.
    PayYookassa {
        order: i64,
    },
    /// Pays in Telegram Stars.
    PayStars {
        order: i64,
    },
    /// "I have paid": asks YooKassa at once.
    Paid {
        order: i64,
    },
    /// Drops the order (while nothing is paid).
    Cancel {
        order: i64,
    },
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callback::Menu => write!(f, "m"),
            Callback::Faq => write!(f, "f"),
            Callback::Trial => write!(f, "t"),
            Callback::Plans => write!(f, "p"),
            Callback::Buy { plan } => write!(f, "b:{plan}"),
            Callback::Mine => write!(f, "s"),
            Callback::Renew { tenant } => write!(f, "r:{tenant}"),
            Callback::RenewPlan { order, plan } => write!(f, "rp:{order}:{plan}"),
            Callback::Template { order, template } => write!(f, "nt:{order}:{template}"),
            Callback::Zone { order, zone } => write!(f, "nz:{order}:{}", zone.name()),
            Callback::Confirm { order } => write!(f, "ny:{order}"),
            Callback::PayYookassa { order } => write!(f, "py:{order}"),
            Callback::PayStars { order } => write!(f, "ps:{order}"),
            Callback::Paid { order } => write!(f, "pc:{order}"),
            Callback::Cancel { order } => write!(f, "x:{order}"),
        }
    }
}

/// A template's or a plan's code: short, lower-case letters, digits, `_` or `-` (handlers look it up).
fn code(s: &str) -> Result<String, CallbackError> {
    let fits = (1..=24).contains(&s.len());
    let plain = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fits && plain { Ok(s.to_string()) } else { Err(CallbackError) }
}

impl FromStr for Callback {
    type Err = CallbackError;

    fn from_str(s: &str) -> Result<Self, CallbackError> {
        let parts: Vec<&str> = s.split(':').collect();
        Ok(match parts.as_slice() {
            ["m"] => Callback::Menu,
            ["f"] => Callback::Faq,
            ["t"] => Callback::Trial,
            ["p"] => Callback::Plans,
            ["s"] => Callback::Mine,
            ["b", plan] => Callback::Buy { plan: code(plan)? },
            ["r", slug] => Callback::Renew { tenant: slug.parse().map_err(|_| CallbackError)? },
            ["rp", order, plan] => Callback::RenewPlan { order: id(order)?, plan: code(plan)? },
            ["nt", order, name] => Callback::Template { order: id(order)?, template: code(name)? },
            ["nz", order, zone] => Callback::Zone { order: id(order)?, zone: zone.parse().map_err(|_| CallbackError)? },
            ["ny", order] => Callback::Confirm { order: id(order)? },
            ["py", order] => Callback::PayYookassa { order: id(order)? },
            ["ps", order] => Callback::PayStars { order: id(order)? },
            ["pc", order] => Callback::Paid { order: id(order)? },
            ["x", order] => Callback::Cancel { order: id(order)? },
            _ => return Err(CallbackError),
        })
    }
}

impl Callback {
    /// The order a button acts on, if it names one.
    pub fn order(&self) -> Option<i64> {
        match self {
            Callback::RenewPlan { order, .. }
            | Callback::Template { order, .. }
            | Callback::Zone { order, .. }
            | Callback::Confirm { order }
            | Callback::PayYookassa { order }
            | Callback::PayStars { order }
            | Callback::Paid { order }
            | Callback::Cancel { order } => Some(*order),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegram::runtime::callback::check;

    #[test]
    fn every_variant_round_trips_within_telegrams_limit_and_forged_data_is_refused() {
        let order = i64::MAX;
        let plan = "p".repeat(24);
        let all = [
            Callback::Menu,
            Callback::Faq,
            Callback::Trial,
            Callback::Plans,
            Callback::Mine,
            Callback::Buy { plan: plan.clone() },
            Callback::Renew { tenant: "a".repeat(31).parse().unwrap() },
            Callback::RenewPlan { order, plan: plan.clone() },
            Callback::Template { order, template: "beauty_salon".into() },
            Callback::Zone { order, zone: chrono_tz::America::Argentina::ComodRivadavia },
            Callback::Confirm { order },
            Callback::PayYookassa { order },
            Callback::PayStars { order },
            Callback::Paid { order },
            Callback::Cancel { order },
        ];
        check(
            all,
            &[
                "",
                "m:1",
                "b:",
                "b:1M",
                "r:",
                "r:Bad",
                "rp:0:1m",
                "rp:-1:1m",
                "rp:1",
                "nt:1:",
                "nt:x:clinic",
                "nz:1:Mars/Olympus",
                "ny:",
                "ny:01x",
                "py:1:2",
                "ps:+1",
                "pc:1e3",
                "x:",
                "\u{0}",
            ],
        );
    }
}
