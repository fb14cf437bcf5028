//! The booking transaction against a real tenant schema, run as the tenant's own role: no double
//! bookings under concurrency, the per-customer limit, cutoffs, moves and forged requests; and the
//! booking's phone question answered through the bot, as customers type numbers.

use botctl::booking::store::{self, NewCustomer};
use botctl::booking::{BookingError, Schedule, SlotError};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use sqlx::PgPool;

use botctl::bot::texts::{Catalog, Text};
use botctl::locale::Locale;
use botctl::telegram::emulator::TgUser;

use crate::admin::OWNER;
use crate::serve::{Running, buttons};
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

/// Takes a new customer through booking up to the phone question, types `typed` and returns the answer.
fn type_phone(bot: &Running, user: &TgUser, typed: &str) -> String {
    let ask = bot.book_until_phone(user);
    answer_phone(bot, user, ask.message_id, typed)
}

fn answer_phone(bot: &Running, user: &TgUser, after: i64, typed: &str) -> String {
    bot.text(user, typed);
    bot.bot_says_after(user, after, |m| m.text.is_some()).text.unwrap_or_default()
}

fn stored_phone(bot: &Running, user: &TgUser) -> Option<String> {
    bot.scalar(&format!("SELECT phone FROM {{schema}}.customers WHERE user_id = {}", user.id))
}

fn active_bookings(bot: &Running, user: &TgUser) -> i64 {
    bot.scalar(&format!(
        "SELECT count(*) FROM {{schema}}.bookings WHERE customer_id = {} AND status = 'active'",
        user.id
    ))
}

#[test]
fn a_typed_phone_number_in_any_usual_format_books_and_is_kept_in_e164() {
    let bot = Running::start();
    let confirmed = "Вы записаны!";
    // The fixture's tenant is in Europe/Moscow, so a national format is Russian.
    for (i, (typed, e164)) in [
        ("+44 20 7946 0958", "+442079460958"),
        ("+79012345678", "+79012345678"),
        ("89012345678", "+79012345678"),
        ("+7 900 123-45-67", "+79001234567"),
        ("+1 212 555 0100", "+12125550100"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = TgUser::new(7100 + i as i64, "Клиент");
        let answer = type_phone(&bot, &user, typed);
        assert!(answer.contains(confirmed), "{typed}: {answer}");
        assert_eq!(stored_phone(&bot, &user).as_deref(), Some(e164), "{typed}");
        assert_eq!(active_bookings(&bot, &user), 1, "{typed}");
    }

    // The admin panel's booking card shows the number as stored.
    let booking: i64 = bot.scalar("SELECT id FROM {schema}.bookings WHERE customer_id = 7100");
    let owner = TgUser::new(OWNER, "Olga");
    bot.text(&owner, "/admin");
    let menu = bot.bot_says(&owner, |m| buttons(m).iter().any(|d| d == "a:db:t"));
    let query = bot.emulator().press_button(&bot.token, &owner, menu.message_id, &format!("a:sc:c:{booking}"));
    block_on(bot.emulator().wait_answered(&bot.token, &query, crate::serve::WAIT)).unwrap();
    bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains("+442079460958")));

    // A business in London reads a national number as British.
    bot.sql("UPDATE {schema}.settings SET timezone = 'Europe/London'");
    let user = TgUser::new(7110, "Claire");
    let answer = type_phone(&bot, &user, "020 7946 0958");
    assert!(answer.contains(confirmed), "{answer}");
    assert_eq!(stored_phone(&bot, &user).as_deref(), Some("+442079460958"));
}

#[test]
fn a_typed_number_that_cannot_be_is_refused_with_its_reason_and_the_question_stays_open() {
    let bot = Running::start();
    let ru = Catalog::defaults(Locale::Ru);
    let user = TgUser::new(7200, "Пётр");
    let ask = bot.book_until_phone(&user);
    let mut after = ask.message_id;
    for (typed, reason) in [
        ("позвоните мне", Text::BookingPhoneInvalid),
        ("call me", Text::BookingPhoneInvalid),
        ("123", Text::BookingPhoneTooShort),
        (&"1".repeat(40), Text::BookingPhoneTooLong),
        ("+7 900 123 45 678", Text::BookingPhoneBadLength),
        ("+999 123 4567", Text::BookingPhoneNoCountry),
    ] {
        bot.text(&user, typed);
        let reply = bot.bot_says_after(&user, after, |m| m.text.is_some());
        assert_eq!(reply.text.as_deref(), Some(ru.render_plain(reason, &[]).as_str()), "{typed}");
        // The contact button comes back with the answer.
        assert!(reply.reply_markup.as_ref().is_some_and(|r| r.to_string().contains("request_contact")), "{typed}");
        assert_eq!(stored_phone(&bot, &user), None, "{typed}");
        assert_eq!(active_bookings(&bot, &user), 0, "{typed}");
        after = reply.message_id;
    }
    // The question is still open: the next valid number books.
    let answer = answer_phone(&bot, &user, after, "8 (901) 234-56-78");
    assert!(answer.contains("Вы записаны!"), "{answer}");
    assert_eq!(stored_phone(&bot, &user).as_deref(), Some("+79012345678"));
    assert_eq!(active_bookings(&bot, &user), 1);
}

#[test]
fn a_shared_contact_is_kept_in_e164() {
    let bot = Running::start();
    let user = TgUser::new(7300, "Ирина");
    let ask = bot.book_until_phone(&user);
    // Telegram sends a shared number without its plus.
    bot.emulator().send_contact(&bot.token, &user, "79012345678");
    bot.bot_says_after(&user, ask.message_id, |m| m.text.is_some());
    assert_eq!(stored_phone(&bot, &user).as_deref(), Some("+79012345678"));
    assert_eq!(active_bookings(&bot, &user), 1);
}
