//! What the bot will send on its own because a booking changed, written into the outbox inside the
//! booking's own transaction: both happen or neither does. Each row's dedupe key makes a duplicate
//! impossible, whoever writes it and however often. Sending is the bot's (`bot::outbox`), which
//! [`written`] wakes in-process once the writing transaction has ended.

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use tokio::sync::broadcast;

use super::store::Booking;

/// How long a rating request stays worth sending after it was due.
const RATING_VALID: TimeDelta = TimeDelta::days(3);
/// How long a notification stays worth sending when the bot was down.
const NOTICE_VALID: TimeDelta = TimeDelta::days(1);

/// One message to be.
struct Row {
    kind: &'static str,
    recipient: i64,
    booking: i64,
    params: Value,
    due_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    key: String,
}

/// Writes `row` unless its message exists. A cancelled one comes back (a booking moved back to its old
/// time); a sent, failed or expired one stays as it is.
async fn insert(conn: &mut PgConnection, row: Row) -> Result<(), sqlx::Error> {
    // The transaction also takes a lock of its own, held until it ends; a dispatcher told its key waits
    // for that lock, and so looks at the outbox only once the row is committed (or rolled back). One
    // statement for both: a booking's rows cost no extra round trip each. PostgreSQL runs a
    // data-modifying WITH exactly once, whether or not the rest of the query reads it.
    let key: i32 = sqlx::query_scalar(
        "WITH written AS ( \
             INSERT INTO outbox (kind, recipient, booking_id, params, due_at, expires_at, dedupe_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (dedupe_key) DO UPDATE SET state = 'pending', params = EXCLUDED.params, \
                 due_at = EXCLUDED.due_at, expires_at = EXCLUDED.expires_at, attempts = 0, last_error = NULL, \
                 updated_at = now() \
             WHERE outbox.state = 'cancelled' \
             RETURNING 1) \
         SELECT t.key FROM (SELECT (pg_current_xact_id()::text::bigint % 2147483648)::int AS key) t \
         CROSS JOIN LATERAL pg_advisory_xact_lock($8, t.key)",
    )
    .bind(row.kind)
    .bind(row.recipient)
    .bind(row.booking)
    .bind(row.params)
    .bind(row.due_at)
    .bind(row.expires_at)
    .bind(row.key)
    .bind(WRITER_LOCKS)
    .fetch_one(conn)
    .await?;
    // No dispatcher in this process (a CLI command) is no error: the bot's rescan finds the row.
    let _ = WRITTEN.send(key);
    Ok(())
}

/// Tells this process's dispatcher that `conn`'s transaction wrote outbox rows by a statement of its
/// own (a broadcast's): it looks once the transaction has ended, as after [`insert`].
pub async fn announce(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let key: i32 = sqlx::query_scalar(
        "SELECT t.key FROM (SELECT (pg_current_xact_id()::text::bigint % 2147483648)::int AS key) t \
         CROSS JOIN LATERAL pg_advisory_xact_lock($1, t.key)",
    )
    .bind(WRITER_LOCKS)
    .fetch_one(conn)
    .await?;
    let _ = WRITTEN.send(key);
    Ok(())
}

/// The advisory lock class of writers' transactions (the key within it is the transaction's id).
pub const WRITER_LOCKS: i32 = 0x6f75_7462; // "outb"

static WRITTEN: LazyLock<broadcast::Sender<i32>> = LazyLock::new(|| broadcast::channel(256).0);

/// The lock keys (in class [`WRITER_LOCKS`]) of this process's transactions that wrote outbox rows, as
/// they write them: the bot's own bookings wake its dispatcher without the database's help.
pub fn written() -> broadcast::Receiver<i32> {
    WRITTEN.subscribe()
}

/// A new booking: its reminders, the rating request after it, and news for the admins.
pub async fn booked(conn: &mut PgConnection, booking: &Booking, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    schedule_visit(conn, booking, now).await?;
    notify_admins(conn, "admin_booked", booking.id, start_of(booking), json!({}), now).await
}

/// The start, which tells one move of a booking from another.
fn start_of(booking: &Booking) -> String {
    booking.starts_at.timestamp().to_string()
}

/// A booking moved (same id): the reminders and the rating request follow it; the admins hear of it.
pub async fn moved(
    conn: &mut PgConnection,
    before: &Booking,
    after: &Booking,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    retime(conn, after, now).await?;
    let params = json!({ "old_starts_at": before.starts_at });
    notify_admins(conn, "admin_moved", after.id, start_of(after), params, now).await
}

/// The business moved a booking: the reminders and the rating request follow it; the customer hears of
/// it, once per new time.
pub async fn moved_by_admin(
    conn: &mut PgConnection,
    before: &Booking,
    after: &Booking,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    retime(conn, after, now).await?;
    let row = Row {
        kind: "customer_moved",
        recipient: after.customer_id,
        booking: after.id,
        params: json!({ "old_starts_at": before.starts_at }),
        due_at: now,
        expires_at: after.starts_at.max(now) + NOTICE_VALID,
        key: format!("customer_moved:{}:{}", after.id, start_of(after)),
    };
    insert(conn, row).await
}

/// Who cancelled a booking; the other side is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelledBy {
    Customer,
    Admin { reason: String },
}

/// A booking cancelled: nothing more is sent about the visit, and the other side hears of it.
pub async fn cancelled(
    conn: &mut PgConnection,
    booking: &Booking,
    by: &CancelledBy,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    cancel_visit(conn, booking.id).await?;
    match by {
        CancelledBy::Customer => {
            notify_admins(conn, "admin_cancelled", booking.id, start_of(booking), json!({}), now).await
        }
        CancelledBy::Admin { reason } => {
            let row = Row {
                kind: "customer_cancelled",
                recipient: booking.customer_id,
                booking: booking.id,
                params: json!({ "reason": reason }),
                due_at: now,
                expires_at: booking.starts_at.max(now) + NOTICE_VALID,
                key: format!("customer_cancelled:{}", booking.id),
            };
            insert(conn, row).await
        }
    }
}

/// The reminders at each of the tenant's offsets still ahead, and the rating request after the visit.
async fn schedule_visit(conn: &mut PgConnection, booking: &Booking, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let (offsets, rating_delay): (Vec<i32>, i32) =
        sqlx::query_as("SELECT reminder_offsets_minutes, feedback_delay_minutes FROM settings")
            .fetch_one(&mut *conn)
            .await?;
    // The start is in the key: a booking moved to another day gets its reminders again.
    let start = booking.starts_at.timestamp();
    for offset in offsets {
        let due_at = booking.starts_at - TimeDelta::minutes(i64::from(offset));
        if due_at <= now {
            continue;
        }
        let row = Row {
            kind: "reminder",
            recipient: booking.customer_id,
            booking: booking.id,
            params: json!({ "offset_minutes": offset }),
            due_at,
            expires_at: booking.starts_at,
            key: format!("reminder:{}:{start}:{offset}", booking.id),
        };
        insert(conn, row).await?;
    }
    let due_at = booking.ends_at + TimeDelta::minutes(i64::from(rating_delay));
    let row = Row {
        kind: "rating_request",
        recipient: booking.customer_id,
        booking: booking.id,
        params: json!({}),
        due_at,
        expires_at: due_at + RATING_VALID,
        key: format!("rating_request:{}", booking.id),
    };
    insert(conn, row).await
}

/// The visit's reminders and rating request, planned again for its new time.
async fn retime(conn: &mut PgConnection, booking: &Booking, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    cancel_visit(conn, booking.id).await?;
    schedule_visit(conn, booking, now).await
}

/// Stops whatever is still to be sent about the visit.
pub(super) async fn cancel_visit(conn: &mut PgConnection, booking: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET state = 'cancelled', updated_at = now() \
         WHERE booking_id = $1 AND state = 'pending' AND kind IN ('reminder', 'rating_request')",
    )
    .bind(booking)
    .execute(conn)
    .await?;
    Ok(())
}

/// A rating for a visit: the admins hear of it a little later, with the comment if one came meanwhile.
pub async fn rated(conn: &mut PgConnection, booking: i64, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    notify_admins(conn, "admin_rated", booking, String::new(), json!({}), now + COMMENT_GRACE).await
}

/// How long a rating's notice waits for the customer's comment.
const COMMENT_GRACE: TimeDelta = TimeDelta::minutes(10);

/// One message to every admin who has started the bot (Telegram lets a bot write only to those), due at
/// `due_at`; `tell_apart` goes into the key, so that news that may repeat (a second move) is not taken
/// for the first.
async fn notify_admins(
    conn: &mut PgConnection,
    kind: &'static str,
    booking: i64,
    tell_apart: String,
    params: Value,
    due_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let admins: Vec<i64> = sqlx::query_scalar(
        "SELECT a.user_id FROM admins a JOIN customers c ON c.user_id = a.user_id ORDER BY a.user_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for admin in admins {
        let row = Row {
            kind,
            recipient: admin,
            booking,
            params: params.clone(),
            due_at,
            expires_at: due_at + NOTICE_VALID,
            key: format!("{kind}:{booking}:{tell_apart}:{admin}"),
        };
        insert(conn, row).await?;
    }
    Ok(())
}
