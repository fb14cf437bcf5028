//! The business's settings the texts need, read where they are used so an admin's change shows at once.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::{PgExecutor, PgPool};

use super::texts::Catalog;
use crate::locale::Locale;

/// What customers are told about the business, and the rules they see.
pub struct Business {
    pub name: String,
    pub address: Option<String>,
    pub contacts: Option<String>,
    pub map_url: Option<String>,
    pub currency: String,
    pub tz: Tz,
    pub ask_phone: bool,
    pub cutoff_minutes: i32,
    pub limit: i32,
}

impl Business {
    /// Whether a booking starting at `start` may still be cancelled or moved at `now` (the same rule
    /// `booking::Schedule::can_change` applies inside the transaction).
    pub fn can_change(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now + chrono::TimeDelta::minutes(i64::from(self.cutoff_minutes)) <= start
    }
}

/// Reads the settings; per update, so an admin's change shows at once.
pub async fn business(conn: impl PgExecutor<'_>) -> anyhow::Result<Business> {
    #[derive(sqlx::FromRow)]
    struct Row {
        display_name: String,
        address: Option<String>,
        contacts: Option<String>,
        map_url: Option<String>,
        currency: String,
        timezone: String,
        ask_phone: bool,
        cancellation_cutoff_minutes: i32,
        max_active_bookings: i32,
    }
    let r: Row = sqlx::query_as(
        "SELECT display_name, address, contacts, map_url, currency, timezone, ask_phone, cancellation_cutoff_minutes, \
         max_active_bookings FROM settings",
    )
    .fetch_one(conn)
    .await?;
    Ok(Business {
        name: r.display_name,
        address: r.address,
        contacts: r.contacts,
        map_url: r.map_url,
        currency: r.currency,
        tz: r.timezone.parse().unwrap_or(Tz::UTC),
        ask_phone: r.ask_phone,
        cutoff_minutes: r.cancellation_cutoff_minutes,
        limit: r.max_active_bookings,
    })
}

/// The tenant's texts: its own wording over its locale's defaults. A broken override is logged and the
/// defaults are used: the bot must start even when bad wording got into the table.
pub async fn catalog(pool: &PgPool) -> anyhow::Result<Catalog> {
    let locale: String = sqlx::query_scalar("SELECT locale FROM settings").fetch_one(pool).await?;
    let base = Catalog::defaults(locale.parse().unwrap_or(Locale::Ru));
    let overrides: Vec<(String, String)> =
        sqlx::query_as("SELECT key, text FROM texts ORDER BY key").fetch_all(pool).await?;
    Ok(base.with_overrides(&overrides).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the tenant's text overrides are invalid; using the defaults");
        base.clone()
    }))
}
