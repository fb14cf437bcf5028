//! The booking transaction against a real tenant schema, run as the tenant's own role: no double
//! bookings under concurrency, the per-customer limit, cutoffs, moves and forged requests.

use botctl::booking::store::{self, NewCustomer};
use botctl::booking::{BookingError, Schedule, SlotError};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use sqlx::PgPool;

use crate::support::block_on;
use crate::tenant::{BOT_A, Fixture};

struct Tenant {
    _f: Fixture,
    pool: PgPool,
    schedule: Schedule,
    service: store::Service,
    now: DateTime<Utc>,
}

/// A barbershop tenant, a pool on its own role, and a fixed "now": Monday 2030-03-04, 08:00 in Moscow.
fn tenant() -> Tenant {
    let f = Fixture::new();
    let slug = f.create(BOT_A);
    let url = f.tenant_url(&slug);
    let pool = block_on(sqlx::postgres::PgPoolOptions::new().max_connections(20).connect(&url)).unwrap();
    let now = chrono_tz::Europe::Moscow.with_ymd_and_hms(2030, 3, 4, 8, 0, 0).unwrap().with_timezone(&Utc);
    let (schedule, service) = block_on(async {
        let mut conn = pool.acquire().await.unwrap();
        let today = NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
        let (schedule, _) = store::schedule(&mut conn, today, today + TimeDelta::days(60)).await.unwrap();
        let service = store::services(&mut conn).await.unwrap().remove(0);
        (schedule, service)
    });
    Tenant { _f: f, pool, schedule, service, now }
}

impl Tenant {
    fn customer(&self, user_id: i64) -> i64 {
        let c = NewCustomer { user_id, first_name: "Test", username: None, language_code: Some("ru") };
        block_on(async { store::upsert_customer(&mut self.pool.acquire().await.unwrap(), &c).await.unwrap() });
        user_id
    }

    /// Free slots for the tenant's first service on `days_ahead` days after "now".
    fn slots(&self, days_ahead: u64) -> Vec<DateTime<Utc>> {
        let day = self.schedule.today(self.now) + chrono::Days::new(days_ahead);
        self.schedule.free_slots(day, self.service.duration(), &[], self.now)
    }

    fn book(&self, customer: i64, start: DateTime<Utc>) -> Result<store::Booking, BookingError> {
        block_on(store::book(&self.pool, customer, self.service.id, start, self.now))
    }

    fn active(&self) -> i64 {
        block_on(sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'active'").fetch_one(&self.pool))
            .unwrap()
    }
}

#[test]
fn fifty_concurrent_confirmations_of_overlapping_slots_make_exactly_one_booking() {
    let t = tenant();
    let slots = t.slots(1);
    // Two starts one grid step apart overlap for any service longer than the step.
    let (a, b) = (slots[0], slots[1]);
    assert!(b - a < t.service.duration(), "the service must be longer than one slot step");
    let customers: Vec<i64> = (0..50).map(|i| t.customer(10_000 + i)).collect();
    let results: Vec<Result<store::Booking, BookingError>> = block_on(futures_util::future::join_all(
        customers
            .iter()
            .enumerate()
            .map(|(i, c)| store::book(&t.pool, *c, t.service.id, if i % 2 == 0 { a } else { b }, t.now)),
    ));
    let booked = results.iter().filter(|r| r.is_ok()).count();
    let taken = results.iter().filter(|r| matches!(r, Err(BookingError::SlotTaken))).count();
    assert_eq!((booked, taken), (1, 49), "{results:?}");
    assert_eq!(t.active(), 1);
}

#[test]
fn one_customer_confirming_twenty_at_once_gets_exactly_the_limit() {
    let t = tenant();
    let customer = t.customer(20_000);
    let starts: Vec<DateTime<Utc>> = (1..=20).map(|d| t.slots(d)[0]).collect();
    let results: Vec<_> = block_on(futures_util::future::join_all(
        starts.iter().map(|s| store::book(&t.pool, customer, t.service.id, *s, t.now)),
    ));
    let booked = results.iter().filter(|r| r.is_ok()).count();
    let limited = results.iter().filter(|r| matches!(r, Err(BookingError::LimitReached { limit: 3 }))).count();
    assert_eq!((booked, limited), (3, 17), "{results:?}");
}

#[test]
fn cancel_is_allowed_until_the_cutoff_and_checked_at_the_last_step() {
    let t = tenant();
    let customer = t.customer(30_000);
    let early = t.book(customer, t.slots(2)[0]).unwrap();
    let late = t.book(customer, t.slots(3)[0]).unwrap();
    let cutoff = t.schedule.cutoff;

    let just_in_time = early.starts_at - cutoff;
    let cancelled = block_on(store::cancel(&t.pool, early.id, customer, just_in_time)).unwrap();
    assert_eq!(cancelled.status, "cancelled");

    let too_late = late.starts_at - cutoff + TimeDelta::minutes(1);
    let err = block_on(store::cancel(&t.pool, late.id, customer, too_late)).unwrap_err();
    assert!(matches!(err, BookingError::TooLate { .. }), "{err}");
    assert!(matches!(block_on(store::cancel(&t.pool, early.id, customer, t.now)), Err(BookingError::NotActive)));
    assert_eq!(t.active(), 1);
}

#[test]
fn move_keeps_the_id_frees_the_old_time_and_respects_others() {
    let t = tenant();
    let (alice, bob) = (t.customer(40_001), t.customer(40_002));
    let slots = t.slots(5);
    let first = t.book(alice, slots[0]).unwrap();
    let later = *slots.iter().find(|s| **s >= first.ends_at + TimeDelta::hours(1)).unwrap();
    let moved = block_on(store::reschedule(&t.pool, first.id, alice, later, t.now)).unwrap();
    assert_eq!(moved.id, first.id);
    assert_eq!(moved.ends_at - moved.starts_at, t.service.duration());
    // The old time is free again; Bob takes it, and Alice cannot move back onto it.
    t.book(bob, first.starts_at).unwrap();
    let err = block_on(store::reschedule(&t.pool, first.id, alice, first.starts_at, t.now)).unwrap_err();
    assert!(matches!(err, BookingError::SlotTaken), "{err}");
    // Nobody moves or cancels another customer's booking.
    let err = block_on(store::reschedule(&t.pool, first.id, bob, slots[0], t.now)).unwrap_err();
    assert!(matches!(err, BookingError::NotFound), "{err}");
    assert!(matches!(block_on(store::cancel(&t.pool, first.id, bob, t.now)), Err(BookingError::NotFound)));
}

#[test]
fn forged_times_and_services_change_nothing() {
    let t = tenant();
    let customer = t.customer(50_000);
    let slot = t.slots(1)[0];
    let forged = [
        (t.now - TimeDelta::hours(1), "past"),
        (slot + TimeDelta::minutes(7), "off the grid"),
        (t.now + TimeDelta::days(400), "beyond the horizon"),
        (t.schedule.today(t.now).and_hms_opt(3, 0, 0).unwrap().and_utc() + TimeDelta::days(1), "closed hours"),
    ];
    for (start, what) in forged {
        let err = t.book(customer, start).unwrap_err();
        assert!(matches!(err, BookingError::NotOffered(_)), "{what}: {err}");
    }
    assert!(matches!(t.book(customer, t.now), Err(BookingError::NotOffered(SlotError::TooSoon))));
    let err = block_on(store::book(&t.pool, customer, 999_999, slot, t.now)).unwrap_err();
    assert!(matches!(err, BookingError::UnknownService), "{err}");
    let err = block_on(store::book(&t.pool, 999_999, t.service.id, slot, t.now)).unwrap_err();
    assert!(matches!(err, BookingError::NotFound), "a stranger who never started the bot: {err}");
    assert_eq!(t.active(), 0);
}

#[test]
fn a_block_takes_the_time_like_a_booking() {
    let t = tenant();
    let customer = t.customer(60_000);
    let slot = t.slots(1)[0];
    block_on(
        sqlx::query("INSERT INTO bookings (kind, note, starts_at, ends_at) VALUES ('block', 'day off', $1, $2)")
            .bind(slot)
            .bind(slot + TimeDelta::hours(3))
            .execute(&t.pool),
    )
    .unwrap();
    assert!(matches!(t.book(customer, slot), Err(BookingError::SlotTaken)));
    let upcoming =
        block_on(async { store::upcoming(&mut t.pool.acquire().await.unwrap(), customer, t.now).await }).unwrap();
    assert!(upcoming.is_empty());
}

#[test]
fn a_customer_is_written_when_new_or_changed_and_not_on_every_update() {
    let t = tenant();
    let version = || -> String {
        block_on(sqlx::query_scalar("SELECT xmin::text FROM customers WHERE user_id = 42").fetch_one(&t.pool)).unwrap()
    };
    let upsert = |first_name: &str| {
        let c = NewCustomer { user_id: 42, first_name, username: Some("anna"), language_code: Some("ru") };
        block_on(async { store::upsert_customer(&mut t.pool.acquire().await.unwrap(), &c).await.unwrap() })
    };
    assert!(upsert("Anna"), "a first contact is a new customer");
    let written = version();
    assert!(!upsert("Anna"));
    assert_eq!(version(), written, "an unchanged customer seen just now is not rewritten");
    assert!(!upsert("Anya"));
    let name: String =
        block_on(sqlx::query_scalar("SELECT first_name FROM customers WHERE user_id = 42").fetch_one(&t.pool)).unwrap();
    assert_eq!(name, "Anya", "a changed profile is refreshed");
    block_on(sqlx::query("UPDATE customers SET last_seen_at = now() - interval '2 hours'").execute(&t.pool)).unwrap();
    assert!(!upsert("Anya"));
    let recent: bool = block_on(
        sqlx::query_scalar("SELECT last_seen_at > now() - interval '1 minute' FROM customers WHERE user_id = 42")
            .fetch_one(&t.pool),
    )
    .unwrap();
    assert!(recent, "last_seen_at is kept to the hour");
}
