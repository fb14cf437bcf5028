//! Subscriptions and money: plans, a subscription's states, the ledger and the one crediting path.
//! Amounts are integers in a currency's minor unit; the rules are plain functions, as `booking`'s are.

pub mod clock;
pub mod credit;
pub mod ledger;
mod money;
pub mod notice;
pub mod period;
pub mod plans;
pub mod subscription;
pub mod trial;

pub use credit::{CreditRequest, Credited, Payment, Provider, credit, refund};
pub use money::{Currency, Money, MoneyError};
pub use subscription::{Start, Subscription};
pub use trial::extend_trial;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The notification channel a commit that changes when a subscription is next due (a credit, a refund,
/// a new trial) sends on, so that `platform serve`'s clock, asleep until the next due change, looks again.
pub const WAKE_CHANNEL: &str = "botctl_billing";

/// Where a tenant's subscription stands. The bot runs in every state but `suspended` and `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Free days before the first payment; ends in `grace` like a paid period.
    Trial,
    Active,
    /// The period has ended; the bot still works until `grace_until`.
    Grace,
    /// Grace has ended: the bot is stopped, its data kept, until a credit.
    Suspended,
    /// Never expires: tenants the operator runs for free (the CLI's default).
    Complimentary,
    /// The tenant is gone; its money rows stay.
    Cancelled,
}

impl State {
    pub const ALL: [State; 6] =
        [State::Trial, State::Active, State::Grace, State::Suspended, State::Complimentary, State::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Trial => "trial",
            State::Active => "active",
            State::Grace => "grace",
            State::Suspended => "suspended",
            State::Complimentary => "complimentary",
            State::Cancelled => "cancelled",
        }
    }

    /// Whether the business's bot should be running in this state.
    pub fn bot_runs(self) -> bool {
        !matches!(self, State::Suspended | State::Cancelled)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = State::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown subscription state `{s}` (expected one of {})", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_as_written_and_unknown_ones_name_the_choices() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
        }
        let err = "paid".parse::<State>().unwrap_err();
        assert!(err.contains("`paid`") && err.contains("trial, active, grace"), "{err}");
    }

    #[test]
    fn only_suspended_and_cancelled_tenants_have_no_bot() {
        let stopped: Vec<_> = State::ALL.into_iter().filter(|s| !s.bot_runs()).collect();
        assert_eq!(stopped, [State::Suspended, State::Cancelled]);
    }
}
