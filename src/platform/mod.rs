//! The platform daemon, `botctl platform serve`: one instance per installation acts (the lease), and
//! runs the subscription clock and the stops and starts it calls for; the operators' alerts (`alerts`:
//! raised once per event, due per recipient); the operator bot (`operator`) and what it shows of the
//! fleet (`views`); the sales orders' state machine (`orders`); `/healthz` and `/metrics`.

pub mod alerts;
pub mod fleet;
pub mod http;
pub mod lease;
pub mod operator;
pub mod orders;
pub mod sales;
pub mod serve;
pub mod views;

pub use serve::{ServeOptions, YookassaOptions, run};
