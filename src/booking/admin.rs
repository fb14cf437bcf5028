//! What the business's admins do to the calendar: its figures for a period, its days' entries, a
//! booking's card with the customer's history, and the changes (cancel with a reason, mark a visit,
//! move, block time). Changes run inside the caller's transaction, so the caller's audit row commits
//! with them; each writes the customer's notice into the outbox in that same transaction.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;

use super::input::{InputError, parse_date, parse_time};
use super::outbox::{self, CancelledBy};
use super::schedule::Schedule;
use super::store::{BOOKING_COLUMNS, Booking, is_overlap};

/// Why an admin's change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such booking")]
    NotFound,
    #[error("the booking is no longer active")]
    NotActive,
    #[error("the visit has not started yet")]
    NotStarted,
    #[error("the time has passed")]
    Past,
    #[error("the time is taken")]
    Taken,
    #[error("nothing would change")]
    Unchanged,
    #[error("the bookings it affects changed since they were shown")]
    Changed,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

// ---------------------------------------------------------------------------------------------------
// Local time: periods, days and typed dates.

/// The instant a local date begins: its midnight, or where a zone skips midnight, the first instant
/// after the gap.
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    instant(tz, day.and_time(NaiveTime::MIN))
}

/// The instant of a local wall-clock time; of two, the first; a time in a spring-forward gap moves
/// past the gap (gaps are at most an hour in every zone we serve).
pub fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => match tz.from_local_datetime(&(local + TimeDelta::hours(1))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => local.and_utc(),
        },
    }
}

/// The instants of local dates `days`: from the first one's start to the start of the day after the
/// last (a DST day is 23 or 25 hours long, which this keeps).
pub fn span(tz: Tz, days: &RangeInclusive<NaiveDate>) -> (DateTime<Utc>, DateTime<Utc>) {
    let after = days.end().checked_add_days(Days::new(1)).unwrap_or(*days.end());
    (day_start(tz, *days.start()), day_start(tz, after))
}

/// The Monday of `day`'s week.
pub fn monday(day: NaiveDate) -> NaiveDate {
    day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday()))).unwrap_or(day)
}

/// The first and last dates of `day`'s month.
pub fn month(day: NaiveDate) -> RangeInclusive<NaiveDate> {
    let first = day.with_day(1).unwrap_or(day);
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap_or(first);
    first..=next.pred_opt().unwrap_or(first)
}

/// Minutes the business is open on local dates `days`, from its weekly hours and date exceptions, in
/// real elapsed time (a DST night inside opening hours counts as it happens).
pub fn open_minutes(schedule: &Schedule, days: &RangeInclusive<NaiveDate>) -> i64 {
    days.start()
        .iter_days()
        .take_while(|day| day <= days.end())
        .flat_map(|day| {
            schedule.hours_on(day).iter().map(move |h| {
                let opens = instant(schedule.tz, day.and_time(h.opens));
                let closes = instant(schedule.tz, day.and_time(h.closes));
                (closes - opens).num_minutes().max(0)
            })
        })
        .sum()
}

/// A time to block as typed: a whole date, or a range of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockInput {
    pub day: NaiveDate,
    pub range: Option<(NaiveTime, NaiveTime)>,
}

/// `25.12`, `25.12.2026` (the whole day) or `25.12 12:00-15:00`.
pub fn parse_block(text: &str, today: NaiveDate) -> Result<BlockInput, InputError> {
    let mut words = text.split_whitespace();
    let (Some(date), range, None) = (words.next(), words.next(), words.next()) else {
        return Err(InputError::Format);
    };
    let day = parse_date(date, today)?;
    let range = match range {
        None => None,
        Some(range) => {
            let (from, to) = range.split_once(['-', '–', '—']).ok_or(InputError::Format)?;
            let (from, to) = (parse_time(from)?, parse_time(to)?);
            if to <= from {
                return Err(InputError::Order);
            }
            Some((from, to))
        }
    };
    Ok(BlockInput { day, range })
}

impl BlockInput {
    /// Its instants in `tz`: a whole day is the local day's midnight to the next.
    pub fn instants(&self, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        match self.range {
            None => span(tz, &(self.day..=self.day)),
            Some((from, to)) => (instant(tz, self.day.and_time(from)), instant(tz, self.day.and_time(to))),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Reading.

/// A period's figures. Bookings count by their start; cancelled ones count only as cancellations.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Figures {
    /// Customer bookings not cancelled: active, completed and no-shows.
    pub bookings: i64,
    pub cancelled: i64,
    pub no_shows: i64,
    /// Prices of active and completed bookings.
    pub revenue_minor: i64,
    /// Time customers booked (no-shows included: the time was held for them).
    pub booked_minutes: i64,
    /// Customers whose first booking ever is in the period.
    pub new_customers: i64,
    /// Customers with a booking in the period and one before it.
    pub returning_customers: i64,
    pub ratings: i64,
    pub average_rating: Option<f64>,
}

pub async fn figures(conn: &mut PgConnection, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Figures, sqlx::Error> {
    sqlx::query_as(
        "WITH period AS (SELECT * FROM bookings WHERE kind = 'customer' AND starts_at >= $1 AND starts_at < $2), \
         visitors AS (SELECT DISTINCT customer_id FROM period WHERE status <> 'cancelled'), \
         firsts AS (SELECT b.customer_id, min(b.starts_at) AS first FROM bookings b \
                    JOIN visitors v ON v.customer_id = b.customer_id \
                    WHERE b.kind = 'customer' AND b.status <> 'cancelled' GROUP BY b.customer_id) \
         SELECT \
           (SELECT count(*) FROM period WHERE status <> 'cancelled') AS bookings, \
           (SELECT count(*) FROM period WHERE status = 'cancelled') AS cancelled, \
           (SELECT count(*) FROM period WHERE status = 'no_show') AS no_shows, \
           (SELECT coalesce(sum(price_minor), 0)::bigint FROM period WHERE status IN ('active', 'completed')) \
             AS revenue_minor, \
           (SELECT coalesce(sum(extract(epoch FROM ends_at - starts_at)) / 60, 0)::bigint FROM period \
             WHERE status <> 'cancelled') AS booked_minutes, \
           (SELECT count(*) FROM firsts WHERE first >= $1) AS new_customers, \
           (SELECT count(*) FROM firsts WHERE first < $1) AS returning_customers, \
           (SELECT count(*) FROM ratings r JOIN period p ON p.id = r.booking_id) AS ratings, \
           (SELECT avg(r.score)::float8 FROM ratings r JOIN period p ON p.id = r.booking_id) AS average_rating",
    )
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
}

/// A booking or a block as the schedule lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub customer: Option<String>,
    pub service_name: Option<String>,
    pub note: Option<String>,
}

impl Entry {
    pub fn is_block(&self) -> bool {
        self.kind == "block"
    }
}

/// Bookings (cancelled ones left out) and blocks that start in `from..to`, in time order.
pub async fn entries(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.kind, b.starts_at, b.ends_at, b.status, c.first_name AS customer, b.service_name, b.note \
         FROM bookings b LEFT JOIN customers c ON c.user_id = b.customer_id \
         WHERE b.starts_at < $2 AND b.ends_at > $1 AND b.status <> 'cancelled' ORDER BY b.starts_at, b.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// A customer booking with who booked it and their history with the business.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Card {
    pub id: i64,
    pub customer_id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub service_name: String,
    pub price_minor: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: String,
    pub cancel_reason: Option<String>,
    /// Earlier visits that took place.
    pub visits: i64,
    pub no_shows: i64,
    pub cancellations: i64,
    /// The starts of the last visits that took place, newest first.
    pub last_visits: Vec<DateTime<Utc>>,
}

pub async fn card(conn: &mut PgConnection, id: i64) -> Result<Option<Card>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.id, b.customer_id, c.first_name, c.username, c.phone, b.service_name, b.price_minor, \
           b.starts_at, b.ends_at, b.status, b.cancel_reason, \
           (SELECT count(*) FROM bookings h WHERE h.customer_id = b.customer_id AND h.id <> b.id \
              AND h.status = 'completed') AS visits, \
           (SELECT count(*) FROM bookings h WHERE h.customer_id = b.customer_id AND h.status = 'no_show') \
              AS no_shows, \
           (SELECT count(*) FROM bookings h WHERE h.customer_id = b.customer_id AND h.status = 'cancelled') \
              AS cancellations, \
           ARRAY(SELECT h.starts_at FROM bookings h WHERE h.customer_id = b.customer_id AND h.id <> b.id \
              AND h.status = 'completed' ORDER BY h.starts_at DESC LIMIT 3) AS last_visits \
         FROM bookings b JOIN customers c ON c.user_id = b.customer_id \
         WHERE b.id = $1 AND b.kind = 'customer'",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Active customer bookings that overlap `from..to`, in time order.
pub async fn overlapping(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Booking>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE kind = 'customer' AND status = 'active' \
         AND starts_at < $2 AND ends_at > $1 ORDER BY starts_at, id"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Whether an active block overlaps `from..to` (a second block over it could never be stored).
pub async fn blocked(conn: &mut PgConnection, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM bookings WHERE kind = 'block' AND status = 'active' \
         AND starts_at < $2 AND ends_at > $1)",
    )
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
}

/// Whether `from..to` is free of active bookings and blocks other than `except`.
pub async fn free(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: i64,
) -> Result<bool, sqlx::Error> {
    Ok(super::store::busy(conn, from, to, Some(except)).await?.is_empty())
}

/// A block of the business's time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Block {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Blocks that have not ended by `now`, soonest first (at most `limit`).
pub async fn blocks_ahead(conn: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<Vec<Block>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, starts_at, ends_at, note FROM bookings WHERE kind = 'block' AND status = 'active' \
         AND ends_at > $1 ORDER BY starts_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

// ---------------------------------------------------------------------------------------------------
// Changing.

/// Locks a customer booking for a change.
async fn lock(tx: &mut PgConnection, id: i64) -> Result<Booking, AdminError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 AND kind = 'customer' FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?
    .ok_or(AdminError::NotFound)
}

/// Cancels an active booking on the business's behalf; the customer is told why. An empty reason is
/// stored as none.
pub async fn cancel(tx: &mut PgConnection, id: i64, reason: &str, now: DateTime<Utc>) -> Result<Booking, AdminError> {
    let booking = lock(tx, id).await?;
    if booking.status != "active" {
        return Err(AdminError::NotActive);
    }
    cancel_locked(tx, id, reason, now).await
}

async fn cancel_locked(
    tx: &mut PgConnection,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Booking, AdminError> {
    let cancelled: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET status = 'cancelled', cancelled_by = 'admin', cancel_reason = NULLIF($2, ''), \
         updated_at = now() WHERE id = $1 RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    outbox::cancelled(tx, &cancelled, &CancelledBy::Admin { reason: reason.to_string() }, now).await?;
    Ok(cancelled)
}

/// Marks an active visit that has begun as `completed` or `no_show`. Returns it before and after.
pub async fn mark(
    tx: &mut PgConnection,
    id: i64,
    completed: bool,
    now: DateTime<Utc>,
) -> Result<(Booking, Booking), AdminError> {
    let before = lock(tx, id).await?;
    if before.status != "active" {
        return Err(AdminError::NotActive);
    }
    if before.starts_at > now {
        return Err(AdminError::NotStarted);
    }
    let status = if completed { "completed" } else { "no_show" };
    let after: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET status = $2, updated_at = now() WHERE id = $1 RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    if !completed {
        // Nobody came: no rating request for a visit that did not happen.
        outbox::cancel_visit(tx, id).await?;
    }
    Ok((before, after))
}

/// Moves an active booking to `starts_at`, keeping its length; the customer is told. Returns it before
/// and after.
pub async fn move_to(
    tx: &mut PgConnection,
    id: i64,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Booking, Booking), AdminError> {
    let before = lock(tx, id).await?;
    if before.status != "active" {
        return Err(AdminError::NotActive);
    }
    if starts_at <= now {
        return Err(AdminError::Past);
    }
    // A confirmation pressed twice must not notify the customer and fill the audit log twice.
    if starts_at == before.starts_at {
        return Err(AdminError::Unchanged);
    }
    let after: Booking = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE bookings SET starts_at = $2, ends_at = $3, updated_at = now() WHERE id = $1 RETURNING {BOOKING_COLUMNS}"
    )))
    .bind(id)
    .bind(starts_at)
    .bind(starts_at + (before.ends_at - before.starts_at))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_overlap(&e) { AdminError::Taken } else { e.into() })?;
    outbox::moved_by_admin(tx, &before, &after, now).await?;
    Ok((before, after))
}

/// Blocks `from..to`: cancels the active customer bookings it overlaps (their customers are told
/// `reason`), then stores the block. The overlaps must be exactly `expected`, the ones the admin was
/// shown: anything else is `Changed`. `Taken` means another block overlaps or a booking came in while
/// this ran. On either the caller rolls back, so nothing is half-done.
pub async fn add_block(
    tx: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reason: &str,
    expected: &[i64],
    now: DateTime<Utc>,
) -> Result<(Block, Vec<Booking>), AdminError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM bookings WHERE kind = 'customer' AND status = 'active' AND starts_at < $2 AND ends_at > $1 \
         ORDER BY starts_at, id FOR UPDATE",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    let mut shown = expected.to_vec();
    shown.sort_unstable();
    let mut found = ids.clone();
    found.sort_unstable();
    if found != shown {
        return Err(AdminError::Changed);
    }
    let mut cancelled = Vec::with_capacity(ids.len());
    for id in ids {
        cancelled.push(cancel_locked(tx, id, reason, now).await?);
    }
    let block: Block = sqlx::query_as(
        "INSERT INTO bookings (kind, note, starts_at, ends_at) VALUES ('block', NULLIF($1, ''), $2, $3) \
         RETURNING id, starts_at, ends_at, note",
    )
    .bind(reason)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| if is_overlap(&e) { AdminError::Taken } else { e.into() })?;
    Ok((block, cancelled))
}

/// Frees a block's time. Blocks have no customer and no messages, so the row goes: a cancelled block
/// would need a `cancelled_by` that names nobody. The audit row keeps what it was.
pub async fn remove_block(tx: &mut PgConnection, id: i64) -> Result<Option<Block>, sqlx::Error> {
    sqlx::query_as("DELETE FROM bookings WHERE id = $1 AND kind = 'block' RETURNING id, starts_at, ends_at, note")
        .bind(id)
        .fetch_optional(tx)
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::booking::Hours;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn typed_ranges_are_checked() {
        let today = d(2026, 11, 24);
        assert_eq!(parse_block("25.12", today), Ok(BlockInput { day: d(2026, 12, 25), range: None }));
        assert_eq!(
            parse_block("25.12 12:00-15:00", today),
            Ok(BlockInput { day: d(2026, 12, 25), range: Some((t(12, 0), t(15, 0))) })
        );
        assert_eq!(parse_block("25.12 15:00-12:00", today), Err(InputError::Order));
        assert_eq!(parse_block("25.12 12:00", today), Err(InputError::Format));
    }

    #[test]
    fn a_whole_day_follows_the_zone_across_dst() {
        let berlin = chrono_tz::Europe::Berlin;
        let spring = BlockInput { day: d(2026, 3, 29), range: None };
        let (from, to) = spring.instants(berlin);
        assert_eq!((to - from).num_hours(), 23);
        assert_eq!(from.to_rfc3339(), "2026-03-28T23:00:00+00:00");
        let (from, to) = span(berlin, &(d(2026, 10, 25)..=d(2026, 10, 25)));
        assert_eq!((to - from).num_hours(), 25);
    }

    #[test]
    fn weeks_months_and_open_minutes() {
        assert_eq!(monday(d(2026, 11, 29)), d(2026, 11, 23));
        assert_eq!(monday(d(2026, 11, 23)), d(2026, 11, 23));
        assert_eq!(month(d(2026, 2, 14)), d(2026, 2, 1)..=d(2026, 2, 28));
        assert_eq!(month(d(2026, 12, 31)), d(2026, 12, 1)..=d(2026, 12, 31));
        let mut weekly: [Vec<Hours>; 7] = Default::default();
        for day in weekly.iter_mut().take(5) {
            day.push(Hours { opens: t(10, 0), closes: t(13, 0) });
            day.push(Hours { opens: t(14, 0), closes: t(19, 0) });
        }
        let mut dates = BTreeMap::new();
        dates.insert(d(2026, 11, 24), Vec::new());
        dates.insert(d(2026, 11, 28), vec![Hours { opens: t(10, 0), closes: t(12, 0) }]);
        let schedule = Schedule {
            tz: chrono_tz::Europe::Moscow,
            weekly,
            dates,
            slot_step: TimeDelta::minutes(30),
            min_lead: TimeDelta::zero(),
            horizon_days: 30,
            cutoff: TimeDelta::zero(),
        };
        // Mon..Fri at 8 h, Tuesday closed, Saturday 2 h by exception, Sunday closed.
        assert_eq!(open_minutes(&schedule, &(d(2026, 11, 23)..=d(2026, 11, 29))), (4 * 8 + 2) * 60);
        assert_eq!(open_minutes(&schedule, &(d(2026, 11, 24)..=d(2026, 11, 24))), 0);
    }
}
