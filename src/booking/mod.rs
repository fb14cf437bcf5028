//! Bookings: a tenant's calendar rules as plain functions (`schedule`), the queries that apply them
//! inside the booking transaction (`store`) and the messages each change schedules (`outbox`). Knows nothing of Telegram, the CLI, Docker or the control
//! plane; the bot calls it with the tenant's own database role.

pub mod admin;
pub mod input;
pub mod outbox;
pub mod phone;
pub mod schedule;
pub mod store;

pub use schedule::{Busy, Hours, Schedule, SlotError};
pub use store::{Booking, BookingError, Service};
