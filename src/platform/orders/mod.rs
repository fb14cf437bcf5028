//! Sales orders (issue 18): the durable state machine a buyer's trial, purchase or renewal moves
//! through in the control plane, so that a restart at any point resumes it and a paid order ends in
//! credited days and a running bot, or in a failure the caller alerts on. It owns `botctl.orders`,
//! `botctl.order_events` (append-only history) and `botctl.order_tokens`; it sends nothing, takes no
//! payment — the sales bot and the payment paths drive it; `fulfil` provisions what is paid for and
//! `resume` carries open orders on after any restart.

mod advance;
pub mod fulfil;
pub mod machine;
mod model;
pub mod pay;
pub mod resume;
mod store;

pub use advance::{Advanced, HistoryRow, Outcome, Transition, advance, history};
pub use fulfil::Fulfiller;
pub use machine::{Event, InvalidTransition, Kind, State, next};
pub use model::{Buyer, CheckedBot, DraftChanges, Facts, NewOrder, Order, OrderBot};
pub use pay::{ProviderPayment, Unmatched, confirm};
pub use resume::{Buyers, PaymentCheck, Resumer};
pub use store::{Lookup, by_buyer, create, find, pending, token, update_draft};

/// The notification channel a transition's commit sends the order's id on, so that whatever waits for
/// orders (the resumer, the sales bot's "your bot is live") looks again without polling.
pub const WAKE_CHANNEL: &str = "botctl_orders";
