//! The tenant's Telegram bot: what its customers (and later its admins) see, press and are told.

pub mod texts;
