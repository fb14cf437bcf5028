//! The tenant's Telegram bot: what customers and the business's admins see, press and are told, on the
//! shared Telegram runtime (`crate::telegram::runtime`). Knows nothing of the CLI, Docker or the control
//! plane; it works with the tenant's own database role through `booking`.

pub mod admin;
pub mod broadcast;
pub mod business;
pub mod callback;
pub mod handlers;
pub mod keyboards;
pub mod metrics;
pub mod outbox;
pub mod serve;
pub mod state;
pub mod texts;
