//! The business's data that botctl itself writes into a tenant's schema — the template's seed, and the
//! settings and owners that `tenant update` changes — and what `tenant show` reads from it. Runs
//! inside the caller's transaction, with the search path already on the tenant's schema
//! (`db::provision::enter_schema`).

use serde::Serialize;
use sqlx::PgConnection;

use crate::config::template::Template;

/// The per-tenant values a template does not decide.
pub struct Identity<'a> {
    pub display_name: &'a str,
    pub timezone: &'a str,
    pub locale: &'a str,
    pub owners: &'a [i64],
}

/// Fills a freshly migrated tenant schema from its template.
pub async fn seed(conn: &mut PgConnection, template: &Template, who: &Identity<'_>) -> Result<(), sqlx::Error> {
    let t = template;
    sqlx::query(
        "INSERT INTO settings (display_name, locale, timezone, currency, slot_step_minutes, horizon_days, \
         cancellation_cutoff_minutes, max_active_bookings, reminder_offsets_minutes, feedback_delay_minutes, \
         address, contacts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(who.display_name)
    .bind(who.locale)
    .bind(who.timezone)
    .bind(&t.currency)
    .bind(minutes(t.slot_step_minutes))
    .bind(minutes(t.horizon_days))
    .bind(minutes(t.cancellation_cutoff_minutes))
    .bind(minutes(t.max_active_bookings))
    .bind(t.reminder_offsets_minutes.iter().map(|m| minutes(*m)).collect::<Vec<i32>>())
    .bind(minutes(t.feedback_delay_minutes))
    .bind(&t.address)
    .bind(&t.contacts)
    .execute(&mut *conn)
    .await?;
    // A statement for each table whatever the template holds, not one a row: each is a round trip.
    let services = &t.services;
    sqlx::query(
        "INSERT INTO services (name, description, duration_minutes, price_minor, position) \
         SELECT name, description, duration, price, (n - 1)::int \
         FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) WITH ORDINALITY \
         AS s(name, description, duration, price, n) ORDER BY n",
    )
    .bind(services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
    .bind(services.iter().map(|s| s.description.as_deref()).collect::<Vec<_>>())
    .bind(services.iter().map(|s| minutes(s.duration_minutes)).collect::<Vec<_>>())
    .bind(services.iter().map(|s| s.price_minor).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let hours = &t.hours;
    sqlx::query(
        "INSERT INTO working_hours (weekday, opens, closes) \
         SELECT weekday, opens, closes FROM unnest($1::smallint[], $2::time[], $3::time[]) WITH ORDINALITY \
         AS h(weekday, opens, closes, n) ORDER BY n",
    )
    .bind(
        hours.iter().map(|h| i16::from(u8::try_from(h.weekday.number_from_monday()).unwrap_or(1))).collect::<Vec<_>>(),
    )
    .bind(hours.iter().map(|h| h.opens).collect::<Vec<_>>())
    .bind(hours.iter().map(|h| h.closes).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    set_owners(conn, who.owners).await
}

/// Makes these users the owners the command line names: owners it named before and no longer lists
/// lose their admin rights, while admins added in the bot (they have an `added_by`) are the business's
/// own decision and stay. A listed user who was added in the bot becomes a command-line owner.
pub async fn set_owners(conn: &mut PgConnection, owners: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admins WHERE is_owner AND added_by IS NULL AND user_id <> ALL($1)")
        .bind(owners)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO admins (user_id, is_owner) SELECT unnest($1::bigint[]), true \
         ON CONFLICT (user_id) DO UPDATE SET is_owner = true, added_by = NULL",
    )
    .bind(owners)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Mirrors the control plane's copy of these settings into the schema the bot reads.
pub async fn update_settings(
    conn: &mut PgConnection,
    display_name: Option<&str>,
    timezone: Option<&str>,
    locale: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE settings SET display_name = coalesce($1, display_name), timezone = coalesce($2, timezone), \
         locale = coalesce($3, locale)",
    )
    .bind(display_name)
    .bind(timezone)
    .bind(locale)
    .execute(conn)
    .await?;
    Ok(())
}

/// Template values are validated to small ranges, so they always fit PostgreSQL's integer.
fn minutes(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The tenant's outbox as the operator sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxCounts {
    pub pending: i64,
    pub failed_last_day: i64,
}

pub async fn outbox_counts(conn: &mut PgConnection) -> Result<OutboxCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'pending') AS pending, \
                count(*) FILTER (WHERE state = 'failed' AND updated_at > now() - interval '1 day') AS failed_last_day \
         FROM outbox WHERE state IN ('pending', 'failed')",
    )
    .fetch_one(conn)
    .await
}

/// What the business itself has changed in the bot since the operator set it: its time zone, and who
/// runs it (owners and managers added in the admin panel).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Staffing {
    pub timezone: String,
    pub owners: Vec<i64>,
    pub managers: Vec<i64>,
}

pub async fn staffing(conn: &mut PgConnection) -> Result<Staffing, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.timezone, \
                ARRAY(SELECT user_id FROM admins WHERE is_owner ORDER BY user_id) AS owners, \
                ARRAY(SELECT user_id FROM admins WHERE NOT is_owner ORDER BY user_id) AS managers \
         FROM settings s",
    )
    .fetch_one(conn)
    .await
}
