//! The tenant's Telegram bot: what customers (and later admins) see, press and are told. Knows nothing
//! of the CLI, Docker or the control plane; it works with the tenant's own database role through `booking`.

pub mod admin;
pub mod broadcast;
pub mod business;
pub mod callback;
pub mod flood;
pub mod handlers;
pub mod health;
pub mod keyboards;
pub mod outbox;
pub mod serve;
pub mod state;
pub mod telegram;
pub mod texts;
pub mod updates;
