//! The outbox against a real tenant schema and the Bot API emulator, with the clock in the test's hand:
//! rows are written by the booking transactions and sent by `Dispatcher::tick(now)` at chosen instants.

use std::sync::Arc;
use std::time::Duration;

use botctl::booking::store::{self, Booking, NewCustomer};
use botctl::bot::outbox::{Dispatcher, Tick};
use botctl::bot::texts::{Catalog, LiveCatalog};
use botctl::locale::Locale;
use botctl::telegram::emulator::{Failure, Sent, TgUser};
use botctl::telegram::runtime::health::Health;
use botctl::telegram::runtime::sender::TgBot;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::{block_on, token};
use crate::tenant::{BOT_A, Fixture};

/// A barbershop tenant with reminders 24 h, 2 h and 1 h before a visit and the rating request 2 h after,
/// a pool on its own role, and "now": Monday 2030-03-04, 08:00 in Moscow.
struct Outbox {
    f: Fixture,
    slug: String,
    pool: PgPool,
    service: store::Service,
    now: DateTime<Utc>,
}

const MOSCOW: chrono_tz::Tz = chrono_tz::Europe::Moscow;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    MOSCOW.with_ymd_and_hms(2030, 3, day, hour, minute, 0).unwrap().with_timezone(&Utc)
}

impl Outbox {
    fn new() -> Self {
        let f = Fixture::new();
        let slug = f.create(BOT_A);
        let url = f.tenant_url(&slug);
        let pool = block_on(sqlx::postgres::PgPoolOptions::new().max_connections(10).connect(&url)).unwrap();
        let service = block_on(async {
            sqlx::query("UPDATE settings SET reminder_offsets_minutes = '{1440, 120, 60}'")
                .execute(&pool)
                .await
                .unwrap();
            store::services(&mut pool.acquire().await.unwrap()).await.unwrap().remove(0)
        });
        Self { f, slug, pool, service, now: at(4, 8, 0) }
    }

    fn dispatcher(&self) -> Dispatcher {
        let bot = teloxide::Bot::new(token(BOT_A)).set_api_url(self.f.emulator.url());
        let health = Health::new(self.pool.clone(), Duration::from_secs(60));
        Dispatcher::new(
            self.pool.clone(),
            TgBot::new(bot, false),
            LiveCatalog::new(Catalog::defaults(Locale::Ru).clone()),
            Arc::clone(&health),
            CancellationToken::new(),
        )
    }

    /// A customer who has started the bot (so Telegram lets it write to them).
    fn customer(&self, id: i64) -> TgUser {
        let user = TgUser::new(id, "Анна");
        self.f.emulator.send_text(&token(BOT_A), &user, "/start");
        let c = NewCustomer { user_id: id, first_name: "Анна", username: None, language_code: Some("ru") };
        block_on(async { store::upsert_customer(&mut self.pool.acquire().await.unwrap(), &c).await.unwrap() });
        user
    }

    fn book(&self, customer: &TgUser, start: DateTime<Utc>) -> Booking {
        block_on(store::book(&self.pool, customer.id, self.service.id, start, self.now)).unwrap()
    }

    fn tick(&self, dispatcher: &Dispatcher, now: DateTime<Utc>) -> Tick {
        block_on(dispatcher.tick(now)).unwrap()
    }

    /// What the bot wrote to `user`, oldest first.
    fn received(&self, user: &TgUser) -> Vec<String> {
        self.f.emulator.chat(&token(BOT_A), user.id).into_iter().filter(|m| m.from_bot).filter_map(|m| m.text).collect()
    }

    /// Pending rows' (kind, due) for a booking, soonest first.
    fn pending(&self, booking: i64) -> Vec<(String, DateTime<Utc>)> {
        block_on(
            sqlx::query_as(
                "SELECT kind, due_at FROM outbox WHERE booking_id = $1 AND state = 'pending' ORDER BY due_at, kind",
            )
            .bind(booking)
            .fetch_all(&self.pool),
        )
        .unwrap()
    }

    fn states(&self) -> Vec<(String, String, i32)> {
        block_on(sqlx::query_as("SELECT kind, state, attempts FROM outbox ORDER BY id").fetch_all(&self.pool)).unwrap()
    }
}

#[test]
fn bookings_at_00_and_30_get_every_reminder_at_its_instant_and_once() {
    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let (anna, boris) = (o.customer(9001), o.customer(9002));
    // Wednesday, two days ahead: the 24 h reminder is still to come for both.
    let (on_the_hour, half_past) = (o.book(&anna, at(6, 11, 0)), o.book(&boris, at(6, 14, 30)));
    for (booking, start) in [(&on_the_hour, at(6, 11, 0)), (&half_past, at(6, 14, 30))] {
        let reminders: Vec<DateTime<Utc>> =
            o.pending(booking.id).into_iter().filter(|(k, _)| k == "reminder").map(|(_, due)| due).collect();
        let hours = |h| start - TimeDelta::hours(h);
        assert_eq!(reminders, [hours(24), hours(2), hours(1)]);
    }

    let mut instants: Vec<(DateTime<Utc>, &TgUser)> = Vec::new();
    for (user, start) in [(&anna, at(6, 11, 0)), (&boris, at(6, 14, 30))] {
        for hours in [24, 2, 1] {
            instants.push((start - TimeDelta::hours(hours), user));
        }
    }
    instants.sort_by_key(|(due, _)| *due);
    for (due, user) in instants {
        let before = o.received(user).len();
        let early = o.tick(&dispatcher, due - TimeDelta::seconds(1));
        assert_eq!(early.sent, 0, "nothing is sent a second early ({due})");
        let on_time = o.tick(&dispatcher, due);
        assert_eq!(on_time.sent, 1, "one reminder at {due}");
        assert_eq!(o.received(user).len(), before + 1);
    }
    let anna_said = o.received(&anna);
    assert!(anna_said[0].contains("Напоминаем о записи завтра"), "{anna_said:#?}");
    assert!(anna_said[1].contains("через 2 часа") && anna_said[2].contains("через 1 час"), "{anna_said:#?}");
    assert!(anna_said[0].contains("11:00") && o.received(&boris)[0].contains("14:30"));
    // Moving and cancelling are offered while the cutoff (3 h) allows them, seeing the booking always.
    let buttons: Vec<Vec<String>> =
        o.f.emulator
            .chat(&token(BOT_A), anna.id)
            .iter()
            .filter(|m| m.from_bot)
            .map(|m| m.buttons().into_iter().map(|(_, data)| data).collect())
            .collect();
    let id = on_the_hour.id;
    assert_eq!(buttons[0], ["my".to_string(), format!("v:{id}"), format!("x:{id}")]);
    assert_eq!(buttons[1], ["my"], "2 h before: past the cutoff");
    // Ticking again, at any later time before the visits, sends nothing more.
    assert_eq!(o.tick(&dispatcher, at(6, 11, 0) - TimeDelta::minutes(1)).sent, 0);
    assert_eq!((o.received(&anna).len(), o.received(&boris).len()), (3, 3));
}

#[test]
fn a_booking_three_hours_ahead_gets_only_the_reminders_still_to_come() {
    let o = Outbox::new();
    let anna = o.customer(9011);
    let booking = o.book(&anna, at(4, 11, 0));
    let kinds: Vec<(String, DateTime<Utc>)> = o.pending(booking.id);
    assert_eq!(
        kinds,
        [
            ("reminder".to_string(), at(4, 9, 0)),
            ("reminder".to_string(), at(4, 10, 0)),
            ("rating_request".to_string(), booking.ends_at + TimeDelta::hours(2)),
        ]
    );
}

#[test]
fn a_move_re_times_the_reminders_and_a_cancel_cancels_them() {
    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let anna = o.customer(9021);
    // An owner (given at create) who has started the bot hears of each change.
    let owner = o.customer(1001);
    let booking = o.book(&anna, at(6, 11, 0));
    // The 24 h reminder goes out for the old time; then the visit moves a day later.
    assert_eq!(o.tick(&dispatcher, o.now).sent, 1, "the owner's news of the booking, at once");
    assert_eq!(o.tick(&dispatcher, at(5, 11, 0)).sent, 1);
    let moved = block_on(store::reschedule(&o.pool, booking.id, anna.id, at(7, 12, 30), at(5, 11, 5))).unwrap();
    assert_eq!(moved.id, booking.id);
    let visit = |(kind, due): (String, DateTime<Utc>)| (kind == "reminder" || kind == "rating_request").then_some(due);
    let due: Vec<DateTime<Utc>> = o.pending(booking.id).into_iter().filter_map(visit).collect();
    let start = at(7, 12, 30);
    assert_eq!(
        due,
        [
            start - TimeDelta::hours(24),
            start - TimeDelta::hours(2),
            start - TimeDelta::hours(1),
            moved.ends_at + TimeDelta::hours(2)
        ]
    );
    // The owner hears of the move; nothing is sent for the old time any more.
    assert_eq!(o.tick(&dispatcher, at(5, 11, 5)).sent, 1);
    assert_eq!(o.tick(&dispatcher, at(6, 10, 0)).sent, 0);

    block_on(store::cancel(&o.pool, booking.id, anna.id, at(6, 10, 0))).unwrap();
    let left: Vec<DateTime<Utc>> = o.pending(booking.id).into_iter().filter_map(visit).collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(o.tick(&dispatcher, at(6, 10, 0)).sent, 1, "the owner's news of the cancellation");
    assert_eq!(o.tick(&dispatcher, at(9, 0, 0)).sent, 0);
    assert_eq!(o.received(&anna).len(), 1, "only the reminder sent before the move");
    let news = o.received(&owner);
    assert_eq!(news.len(), 3, "{news:#?}");
    assert!(news[0].contains("Новая запись") && news[0].contains("Анна"), "{news:#?}");
    assert!(news[1].contains("перенёс") && news[1].contains("11:00") && news[1].contains("12:30"), "{news:#?}");
    assert!(news[2].contains("отменил"), "{news:#?}");
}

#[test]
fn the_rating_request_comes_after_the_visit_once_with_five_buttons() {
    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let anna = o.customer(9031);
    let booking = o.book(&anna, at(4, 11, 0));
    let due = booking.ends_at + TimeDelta::hours(2);
    // The first tick comes only after the visit (the bot was down): the reminders are of no use any
    // more and expire; the rating request goes out.
    let tick = o.tick(&dispatcher, due);
    assert_eq!((tick.sent, tick.expired, tick.next_due), (1, 2, None));
    let chat = o.f.emulator.chat(&token(BOT_A), anna.id);
    let ask = chat.last().unwrap();
    let text = ask.text.clone().unwrap_or_default();
    assert!(text.contains("Как прошёл визит"), "{text}");
    assert_eq!(ask.callbacks("r:").len(), 5, "{:?}", ask.buttons());
    assert_eq!(o.tick(&dispatcher, due + TimeDelta::hours(1)).sent, 0);
}

#[test]
fn a_user_who_blocked_the_bot_fails_once_and_is_not_retried() {
    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let anna = o.customer(9041);
    o.book(&anna, at(4, 11, 0));
    o.f.emulator.block_bot(&token(BOT_A), anna.id);
    let tick = o.tick(&dispatcher, at(4, 9, 0));
    assert_eq!((tick.sent, tick.failed, tick.retried), (0, 1, 0));
    assert_eq!(o.states()[0], ("reminder".to_string(), "failed".to_string(), 1));
    let sends = || o.f.emulator.sent(&token(BOT_A)).iter().filter(|s| s.method == "sendMessage").count();
    let tried = sends();
    assert_eq!(o.tick(&dispatcher, at(4, 9, 30)).failed, 0);
    assert_eq!(sends(), tried, "no second try");
    // The operator sees it: the 1 h reminder and the rating request wait, one failed today.
    let shown = o.f.json(&["tenant", "show", &o.slug]);
    assert_eq!(shown["outbox"], serde_json::json!({ "pending": 2, "failed_last_day": 1 }));
}

#[test]
fn flood_control_is_waited_out_and_then_the_message_is_delivered() {
    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let anna = o.customer(9051);
    o.book(&anna, at(4, 11, 0));
    o.f.emulator.fail(&token(BOT_A), "sendMessage", Failure::TooManyRequests { retry_after: 7 }, 1);
    let first = o.tick(&dispatcher, at(4, 9, 0));
    assert_eq!((first.sent, first.retried), (0, 1));
    assert_eq!(first.next_due, Some(at(4, 9, 0) + TimeDelta::seconds(7)));
    assert_eq!(o.tick(&dispatcher, at(4, 9, 0) + TimeDelta::seconds(6)).sent, 0);
    assert_eq!(o.tick(&dispatcher, at(4, 9, 0) + TimeDelta::seconds(7)).sent, 1);
    assert_eq!(o.received(&anna).len(), 1);
}

#[test]
fn two_dispatchers_on_one_tenant_send_each_message_once() {
    let o = Outbox::new();
    let users: Vec<TgUser> = (0..12).map(|i| o.customer(9100 + i)).collect();
    // Six visits on Wednesday and six on Thursday, on the hour from 10:00.
    for (i, user) in users.iter().enumerate() {
        let i = u32::try_from(i).unwrap();
        o.book(user, at(6 + i / 6, 10 + i % 6, 0));
    }
    let (one, two) = (o.dispatcher(), o.dispatcher());
    // Wednesday 09:59: the 24 h reminders of Wednesday's visits, and the 2 h and 1 h ones of the first.
    let now = at(6, 9, 59);
    let (a, b) = block_on(async { tokio::join!(one.tick(now), two.tick(now)) });
    let (a, b) = (a.unwrap(), b.unwrap());
    let sent = o.f.emulator.sent(&token(BOT_A)).iter().filter(|s| s.method == "sendMessage").count();
    let rows: i64 =
        block_on(sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'sent'").fetch_one(&o.pool)).unwrap();
    assert_eq!((a.sent + b.sent, rows as usize, sent), (9, 9, 9), "{a:?} {b:?}");
    let received: Vec<usize> = users.iter().map(|u| o.received(u).len()).collect();
    assert_eq!(received, [3, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
}

/// `botctl serve` for the harness's tenant, as its own process (so that it can be killed).
fn serve_process(o: &Outbox, slug: &str, url: &str) -> std::process::Child {
    o.f.sandbox
        .process()
        .args(["serve", "--tenant", slug, "--tenant-database-url", url, "--http-addr", "127.0.0.1:0"])
        .env("BOT_TOKEN", token(BOT_A))
        .env("BOTCTL_TELEGRAM_API_URL", o.f.emulator.url().as_str())
        .env("BOTCTL_TELEGRAM_RATE_LIMITS", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn serve_killed_with_messages_in_flight_sends_every_message_once_after_a_restart() {
    let o = Outbox::new();
    let slug = o.slug.clone();
    let url = o.f.tenant_url(&slug);
    let anna = o.customer(9061);
    // A visit in a few days, booked now (real time), whose three reminders are then made due at once:
    // the bot was down when they fell due.
    let now = Utc::now();
    let slot = block_on(async {
        let mut conn = o.pool.acquire().await.unwrap();
        let today = now.date_naive();
        let (schedule, _) = store::schedule(&mut conn, today, today + TimeDelta::days(30)).await.unwrap();
        (3..30)
            .find_map(|d| {
                schedule.free_slots(today + TimeDelta::days(d), o.service.duration(), &[], now).first().copied()
            })
            .unwrap()
    });
    block_on(store::book(&o.pool, anna.id, o.service.id, slot, now)).unwrap();
    let due = "UPDATE outbox SET due_at = now() - interval '1 minute' WHERE kind = 'reminder'";
    assert_eq!(block_on(sqlx::query(due).execute(&o.pool)).unwrap().rows_affected(), 3);

    // No send returns (the greeting for Anna's /start may take one of the four); the bot is killed while
    // all three reminders are in flight.
    let token = token(BOT_A);
    let is_reminder = |text: &str| text.contains("Напоминаем");
    o.f.emulator.fail(&token, "sendMessage", Failure::Hang, 4);
    let mut first = serve_process(&o, &slug, &url);
    let in_flight = |sent: &[Sent]| {
        let text = |s: &Sent| s.params.get("text").and_then(|t| t.as_str()).map(str::to_string).unwrap_or_default();
        sent.iter().filter(|s| s.method == "sendMessage" && is_reminder(&text(s))).count() == 3
    };
    block_on(o.f.emulator.wait_until_sent(&token, in_flight, Duration::from_secs(30))).unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    // The greeting may not have taken the fourth hang; left queued it would stall a reminder of the
    // second process past the wait below.
    o.f.emulator.heal(&token, "sendMessage");
    let reminders = || o.received(&anna).into_iter().filter(|t| is_reminder(t)).collect::<Vec<_>>();
    assert!(reminders().is_empty(), "nothing in flight was delivered");

    let mut second = serve_process(&o, &slug, &url);
    let delivered = block_on(o.f.emulator.wait_until(
        &token,
        anna.id,
        |chat| chat.iter().filter(|m| m.from_bot && m.text.as_deref().is_some_and(is_reminder)).count() >= 3,
        Duration::from_secs(30),
    ));
    // A moment more, for any duplicate to show up; then a clean stop, which records what it sent.
    std::thread::sleep(Duration::from_secs(1));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(second.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    second.wait().unwrap();
    delivered.unwrap();
    assert_eq!(reminders().len(), 3, "{:#?}", o.received(&anna));
    let states: Vec<(String, String, i32)> = o.states().into_iter().filter(|(kind, ..)| kind == "reminder").collect();
    assert!(states.iter().all(|(_, state, attempts)| state == "sent" && *attempts == 1), "{states:?}");
}

#[test]
fn a_booking_cancelled_by_the_business_tells_the_customer_why_and_stops_its_reminders() {
    use botctl::booking::outbox::{self, CancelledBy};

    let o = Outbox::new();
    let dispatcher = o.dispatcher();
    let anna = o.customer(9071);
    let booking = o.book(&anna, at(6, 11, 0));
    block_on(async {
        let mut tx = o.pool.begin().await.unwrap();
        sqlx::query("UPDATE bookings SET status = 'cancelled', cancelled_by = 'admin' WHERE id = $1")
            .bind(booking.id)
            .execute(&mut *tx)
            .await
            .unwrap();
        let by = CancelledBy::Admin { reason: "Мастер заболел <b>".into() };
        outbox::cancelled(&mut tx, &booking, &by, at(4, 12, 0)).await.unwrap();
        tx.commit().await.unwrap();
    });
    assert_eq!(o.pending(booking.id).len(), 1, "only the notice: {:?}", o.pending(booking.id));
    let tick = o.tick(&dispatcher, at(4, 12, 0));
    assert_eq!((tick.sent, tick.next_due), (1, None));
    let said = o.received(&anna);
    assert!(said[0].contains("Ваша запись отменена") && said[0].contains("Мастер заболел <b>"), "{said:#?}");
}
