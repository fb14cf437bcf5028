//! The platform daemon, `botctl platform serve`: one instance per installation acts (the lease), and
//! runs the subscription clock and the stops and starts it calls for; `/healthz` and `/metrics`; and
//! `views`, what the operator's bot shows of the fleet.

pub mod http;
pub mod lease;
pub mod operator;
pub mod serve;
pub mod views;

pub use serve::{ServeOptions, run};
