//! The tenant schema's booking queries. Runs as the tenant's own role, whose search path is its schema,
//! so every name here is unqualified. The booking transaction is the only judge of a slot: the exclusion
//! constraint rejects overlaps, and a lock on the customer's row makes the per-customer limit race-free.
//! Each change writes the messages it causes into the outbox in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::outbox::{self, CancelledBy};
use super::schedule::{Busy, Hours, Schedule, SlotError};

/// A customer booking as the bot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Booking {
    pub id: i64,
    pub customer_id: i64,
    pub service_id: i64,
    pub service_name: String,
    pub price_minor: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
}

pub(super) const BOOKING_COLUMNS: &str =
    "id, customer_id, service_id, service_name, price_minor, starts_at, ends_at, status";

/// A service customers can book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: i32,
    pub price_minor: i64,
    /// The service's own slot step, if it does not use the business's.
    pub slot_step_minutes: Option<i32>,
}

impl Service {
    pub fn duration(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.duration_minutes))
    }

    /// The grid its start times follow, where it has its own (`Schedule::with_step`).
    pub fn slot_step(&self) -> Option<TimeDelta> {
        self.slot_step_minutes.map(|m| TimeDelta::minutes(i64::from(m)))
    }
}

/// Why a booking, cancellation or move did not happen. Each has its own polite answer in the bot.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("this time was just taken")]
    SlotTaken,
    #[error("the customer already has {limit} active bookings")]
    LimitReached { limit: i64 },
    #[error("this time cannot be booked: {0}")]
    NotOffered(#[from] SlotError),
    #[error("no such service")]
    UnknownService,
    #[error("no such booking for this customer")]
    NotFound,
    #[error("the booking is no longer active")]
    NotActive,
    #[error("too late to change the booking: changes end {cutoff_hours} h before the start")]
    TooLate { cutoff_hours: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// PostgreSQL's `exclusion_violation`: the overlap the constraint exists to stop.
pub(super) fn is_overlap(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23P01"))
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    timezone: String,
    slot_step_minutes: i32,
    horizon_days: i32,
    cancellation_cutoff_minutes: i32,
    max_active_bookings: i32,
    min_lead_minutes: i32,
}

/// The schedule's rules and hours; date exceptions are loaded for `from..=to` only.
pub async fn schedule(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> Result<(Schedule, i64), sqlx::Error> {
    let s: SettingsRow = sqlx::query_as(
        "SELECT timezone, slot_step_minutes, horizon_days, cancellation_cutoff_minutes, max_active_bookings, \
         min_lead_minutes FROM settings",
    )
    .fetch_one(&mut *conn)
    .await?;
    let weekly_rows: Vec<(i16, NaiveTime, NaiveTime)> =
        sqlx::query_as("SELECT weekday, opens, closes FROM working_hours ORDER BY weekday, opens")
            .fetch_all(&mut *conn)
            .await?;
    let mut weekly: [Vec<Hours>; 7] = Default::default();
    for (weekday, opens, closes) in weekly_rows {
        if let Some(day) = usize::try_from(weekday - 1).ok().and_then(|i| weekly.get_mut(i)) {
            day.push(Hours { opens, closes });
        }
    }
    let date_rows: Vec<(NaiveDate, Option<NaiveTime>, Option<NaiveTime>)> =
        sqlx::query_as("SELECT day, opens, closes FROM date_hours WHERE day BETWEEN $1 AND $2 ORDER BY day, opens")
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?;
    let mut dates: BTreeMap<NaiveDate, Vec<Hours>> = BTreeMap::new();
    for (day, opens, closes) in date_rows {
        let hours = dates.entry(day).or_default();
        if let (Some(opens), Some(closes)) = (opens, closes) {
            hours.push(Hours { opens, closes });
        }
    }
    // The time zone was validated when it was stored; an unreadable one falls back to UTC rather than
    // taking the bot down.
    let tz: Tz = s.timezone.parse().unwrap_or(Tz::UTC);
    let schedule = Schedule {
        tz,
        weekly,
        dates,
        slot_step: TimeDelta::minutes(i64::from(s.slot_step_minutes)),
        min_lead: TimeDelta::minutes(i64::from(s.min_lead_minutes)),
        horizon_days: u32::try_from(s.horizon_days).unwrap_or(0),
        cutoff: TimeDelta::minutes(i64::from(s.cancellation_cutoff_minutes)),
    };
    Ok((schedule, i64::from(s.max_active_bookings)))
}

/// Active bookings and blocks that overlap `from..to`; `except` leaves out the booking being moved, whose
/// own time is free for itself.
pub async fn busy(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<i64>,
) -> Result<Vec<Busy>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT starts_at, ends_at FROM bookings WHERE status = 'active' AND starts_at < $2 AND ends_at > $1 \
         AND id IS DISTINCT FROM $3 ORDER BY starts_at",
    )
    .bind(from)
    .bind(to)
    .bind(except)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(starts_at, ends_at)| Busy { starts_at, ends_at }).collect())
}

pub async fn services(conn: &mut PgConnection) -> Result<Vec<Service>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, description, duration_minutes, price_minor, slot_step_minutes FROM services WHERE active \
         ORDER BY position, id",
    )
    .fetch_all(conn)
    .await
}

pub async fn service(conn: &mut PgConnection, id: i64) -> Result<Option<Service>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, description, duration_minutes, price_minor, slot_step_minutes FROM services \
         WHERE id = $1 AND active",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A Telegram user, as the bot learns them.
pub struct NewCustomer<'a> {
    pub user_id: i64,
    pub first_name: &'a str,
    pub username: Option<&'a str>,
    pub language_code: Option<&'a str>,
}

/// Records or refreshes a customer; returns whether they are new. Someone who writes has unblocked the
/// bot, if they had blocked it. A customer seen within the hour with the same profile is left alone:
/// every update passes here, and a write per button press would cost a WAL flush each.
pub async fn upsert_customer(conn: &mut PgConnection, c: &NewCustomer<'_>) -> Result<bool, sqlx::Error> {
    let inserted: Option<bool> = sqlx::query_scalar(
        "WITH fresh AS (SELECT FROM customers WHERE user_id = $1 AND first_name = $2 \
         AND username IS NOT DISTINCT FROM $3 AND language_code IS NOT DISTINCT FROM $4 \
         AND last_seen_at > now() - interval '1 hour' AND blocked_at IS NULL) \
         INSERT INTO customers (user_id, first_name, username, language_code) \
         SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT FROM fresh) \
         ON CONFLICT (user_id) DO UPDATE SET first_name = excluded.first_name, username = excluded.username, \
         language_code = excluded.language_code, last_seen_at = now(), blocked_at = NULL \
         RETURNING (xmax = 0)",
    )
    .bind(c.user_id)
    .bind(c.first_name)
    .bind(c.username)
    .bind(c.language_code)
    .fetch_optional(conn)
    .await?;
    Ok(inserted.unwrap_or(false))
}

/// The customer's active bookings that have not started, soonest first.
pub async fn upcoming(
    conn: &mut PgConnection,
    customer_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Booking>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE customer_id = $1 AND status = 'active' AND starts_at > $2 \
         ORDER BY starts_at"
    )))
    .bind(customer_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Books `service_id` at `starts_at` for a customer who has started the bot. Re-checks the slot against
/// the rules; the exclusion constraint settles races between customers, and the customer's row lock
/// settles races between one customer's own confirmations.
pub async fn book(
    pool: &PgPool,
    customer_id: i64,
    service_id: i64,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let mut tx = pool.begin().await?;
    let locked: Option<i64> = sqlx::query_scalar("SELECT user_id FROM customers WHERE user_id = $1 FOR UPDATE")
        .bind(customer_id)
        .fetch_optional(&mut *tx)
        .await?;
    if locked.is_none() {
        return Err(BookingError::NotFound);
    }
    let service = service(&mut tx, service_id).await?.ok_or(BookingError::UnknownService)?;
    let day = starts_at.date_naive();
    let (schedule, limit) = schedule(&mut tx, day.pred_opt().unwrap_or(day), day.succ_opt().unwrap_or(day)).await?;
    schedule.with_step(service.slot_step()).check_start(starts_at, service.duration(), now)?;
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE customer_id = $1 AND status = 'active' AND starts_at > $2",
    )
    .bind(customer_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if active >= limit {
        return Err(BookingError::LimitReached { limit });
    }
    let booking: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(customer_id)
    .bind(service.id)
    .bind(&service.name)
    .bind(service.price_minor)
    .bind(starts_at)
    .bind(starts_at + service.duration())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_overlap(&e) { BookingError::SlotTaken } else { e.into() })?;
    outbox::booked(&mut tx, &booking, now).await?;
    tx.commit().await?;
    Ok(booking)
}

/// Locks one of the customer's bookings and checks it may still be changed at `now`.
async fn changeable(
    tx: &mut PgConnection,
    booking_id: i64,
    customer_id: i64,
    now: DateTime<Utc>,
) -> Result<(Booking, Schedule), BookingError> {
    let booking: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 AND customer_id = $2 AND kind = 'customer' FOR UPDATE"
    )))
    .bind(booking_id)
    .bind(customer_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(BookingError::NotFound)?;
    if booking.status != "active" {
        return Err(BookingError::NotActive);
    }
    let today = booking.starts_at.date_naive();
    let (schedule, _) = schedule(tx, today, today).await?;
    if !schedule.can_change(booking.starts_at, now) {
        return Err(BookingError::TooLate { cutoff_hours: schedule.cutoff.num_hours() });
    }
    Ok((booking, schedule))
}

/// Cancels a customer's own booking, if the cutoff allows it at `now`.
pub async fn cancel(
    pool: &PgPool,
    booking_id: i64,
    customer_id: i64,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let mut tx = pool.begin().await?;
    changeable(&mut tx, booking_id, customer_id, now).await?;
    let booking: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET status = 'cancelled', cancelled_by = 'customer', updated_at = now() WHERE id = $1 \
         RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(booking_id)
    .fetch_one(&mut *tx)
    .await?;
    outbox::cancelled(&mut tx, &booking, &CancelledBy::Customer, now).await?;
    tx.commit().await?;
    Ok(booking)
}

/// Moves a customer's own booking to `starts_at`, keeping its id, if the cutoff allows it at `now` and the
/// new time is a free slot.
pub async fn reschedule(
    pool: &PgPool,
    booking_id: i64,
    customer_id: i64,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Booking, BookingError> {
    let mut tx = pool.begin().await?;
    let (booking, _) = changeable(&mut tx, booking_id, customer_id, now).await?;
    let duration = booking.ends_at - booking.starts_at;
    let day = starts_at.date_naive();
    let (schedule, _) = schedule(&mut tx, day.pred_opt().unwrap_or(day), day.succ_opt().unwrap_or(day)).await?;
    // A move offers its service's own grid where it has one, so the re-check uses that grid too.
    let step: Option<i32> = sqlx::query_scalar("SELECT slot_step_minutes FROM services WHERE id = $1")
        .bind(booking.service_id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
    let step = step.map(|m| TimeDelta::minutes(i64::from(m)));
    schedule.with_step(step).check_start(starts_at, duration, now)?;
    let moved: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET starts_at = $2, ends_at = $3, updated_at = now() WHERE id = $1 RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(booking_id)
    .bind(starts_at)
    .bind(starts_at + duration)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_overlap(&e) { BookingError::SlotTaken } else { e.into() })?;
    outbox::moved(&mut tx, &booking, &moved, now).await?;
    tx.commit().await?;
    Ok(moved)
}
