//! The platform daemon, `botctl platform serve`: one instance per installation acts (the lease), and
//! runs the subscription clock and the stops and starts it calls for, and the operators' alerts
//! (`alerts`: raised once per event, due per recipient); `/healthz` and `/metrics`.

pub mod alerts;
pub mod http;
pub mod lease;
pub mod serve;

pub use serve::{ServeOptions, run};
