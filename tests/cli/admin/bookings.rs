//! The bookings part of the panel through the emulator: the dashboard's figures for seeded bookings, the
//! day and week views, a booking's card, cancelling with a reason, marking a no-show, moving, and
//! blocking time over bookings — each change checked in the database, in the audit log and in the chat
//! of the customer it concerns.

use botctl::bot::texts::Text;
use botctl::telegram::emulator::TgUser;
use chrono::{Datelike, Days, NaiveDate, Utc};

use super::{Panel, ru};

/// The tenant in UTC, open 10:00–20:00 every day, in roubles: figures and times read the same
/// wherever the test runs.
fn setup() -> Panel {
    let panel = Panel::start();
    panel.bot.sql(
        "UPDATE {schema}.settings SET timezone = 'UTC', currency = 'RUB'; \
         DELETE FROM {schema}.working_hours; \
         INSERT INTO {schema}.working_hours (weekday, opens, closes) \
         SELECT d, '10:00', '20:00' FROM generate_series(1, 7) d;",
    );
    panel
}

/// A customer called `name` who has started the bot.
fn customer(panel: &Panel, id: i64, name: &str) -> TgUser {
    let user = TgUser::new(id, name);
    panel.bot.text(&user, "/start");
    panel.bot.bot_says(&user, |m| m.text.is_some());
    user
}

/// SQL for `days` from today (UTC) at `hour`:`minute`.
fn at(days: i64, hour: u32, minute: u32) -> String {
    format!(
        "((date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') + interval '{days} days {hour} hours \
         {minute} minutes')"
    )
}

fn day(days: i64) -> NaiveDate {
    let today = Utc::now().date_naive();
    if days >= 0 {
        today.checked_add_days(Days::new(days.unsigned_abs())).unwrap()
    } else {
        today.checked_sub_days(Days::new(days.unsigned_abs())).unwrap()
    }
}

/// Inserts a booking of `customer` from `from` for `minutes` with `status` and `price`; its id.
fn booking(panel: &Panel, customer: i64, from: &str, minutes: i64, status: &str, price: i64) -> i64 {
    let cancelled_by = if status == "cancelled" { "'customer'" } else { "NULL" };
    panel.bot.scalar(&format!(
        "INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at, \
         status, cancelled_by) \
         SELECT {customer}, min(id), 'Стрижка', {price}, {from}, {from} + interval '{minutes} minutes', '{status}', \
         {cancelled_by} FROM {{schema}}.services RETURNING id"
    ))
}

fn audits(panel: &Panel, action: &str) -> i64 {
    panel.bot.scalar(&format!("SELECT count(*) FROM {{schema}}.audit_log WHERE action = '{action}' AND actor = 1001"))
}

#[test]
fn the_dashboard_counts_a_seeded_day() {
    let panel = setup();
    let owner = panel.owner();
    let (anna, boris, vera) =
        (customer(&panel, 2001, "Анна"), customer(&panel, 2002, "Борис"), customer(&panel, 2003, "Вера"));
    // Boris has been here before; Anna and Vera come for the first time today.
    booking(&panel, boris.id, &at(-40, 10, 0), 60, "completed", 100_000);
    let done = booking(&panel, anna.id, &at(0, 10, 0), 60, "completed", 150_000);
    let active = booking(&panel, boris.id, &at(0, 11, 0), 60, "active", 100_000);
    booking(&panel, vera.id, &at(0, 12, 0), 30, "no_show", 50_000);
    booking(&panel, vera.id, &at(0, 13, 0), 60, "cancelled", 70_000);
    panel.bot.sql(&format!("INSERT INTO {{schema}}.ratings (booking_id, score) VALUES ({done}, 4), ({active}, 5)"));

    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:db:t");
    let today = panel.says(&owner, "Записей:");
    let text = today.text.clone().unwrap();
    for expected in [
        "Записей: 3",
        "Отмен: 1",
        "Неявок: 1",
        "Выручка: 2500 ₽",
        // 150 booked minutes of 600 open ones.
        "Загрузка рабочего времени: 25%",
        "Новых клиентов: 2, постоянных: 1",
        "Средняя оценка: 4.5 ⭐ (2)",
    ] {
        assert!(text.contains(expected), "`{expected}` missing in {text}");
    }
    let buttons = crate::serve::buttons(&today);
    for data in ["a:db:t", "a:db:w", "a:db:m", "a"] {
        assert!(buttons.contains(&data.to_string()), "{buttons:?}");
    }
    // The month holds the same day, and Boris's earlier visit was in an earlier month.
    panel.press(&owner, &today, "a:db:m");
    let month = panel.bot.bot_says(&owner, |m| m.text.as_deref().is_some_and(|t| t.contains(" — ")));
    let text = month.text.unwrap();
    assert!(text.contains("Записей: 3") && text.contains("Выручка: 2500 ₽"), "{text}");
}

#[test]
fn the_schedule_lists_a_day_and_a_week_and_a_booking_is_cancelled_with_a_reason() {
    let panel = setup();
    let owner = panel.owner();
    let boris = customer(&panel, 2101, "Борис");
    panel.bot.sql("UPDATE {schema}.customers SET phone = '+79990001122' WHERE user_id = 2101");
    let id = booking(&panel, boris.id, &at(1, 14, 30), 60, "active", 150_000);
    let tomorrow = day(1);

    let menu = panel.open(&owner);
    panel.press_data(&owner, &menu, &format!("a:sc:d:{}", tomorrow.format("%Y%m%d")));
    let day_view = panel.says(&owner, "Борис");
    assert!(day_view.text.as_deref().unwrap().contains("14:30–15:30"), "{:?}", day_view.text);
    let monday = tomorrow.checked_sub_days(Days::new(u64::from(tomorrow.weekday().num_days_from_monday()))).unwrap();
    panel.press_data(&owner, &day_view, &format!("a:sc:w:{}", monday.format("%Y%m%d")));
    let week = panel.says(&owner, "Неделя");
    assert!(week.text.as_deref().unwrap().contains(": 1 — 14:30"), "{:?}", week.text);
    assert!(crate::serve::buttons(&week).contains(&format!("a:sc:d:{}", tomorrow.format("%Y%m%d"))));

    panel.press_data(&owner, &week, &format!("a:sc:c:{id}"));
    let card = panel.says(&owner, "+79990001122");
    assert!(card.text.as_deref().unwrap().contains("Борис (id 2101)"), "{:?}", card.text);
    assert!(panel.press_data(&owner, &card, "a:sc:c:999999").is_some(), "a stale card is an alert");

    panel.press(&owner, &card, &format!("a:sc:x:{id}"));
    panel.says(&owner, "Напишите причину");
    panel.bot.text(&owner, &"я".repeat(501));
    panel.says(&owner, &Panel::words(Text::AdminCancelReasonBad));
    panel.bot.text(&owner, "Мастер заболел");
    panel.says(&owner, "Запись отменена");
    let row: String = panel.bot.scalar(&format!(
        "SELECT status || '/' || cancelled_by || '/' || cancel_reason FROM {{schema}}.bookings WHERE id = {id}"
    ));
    assert_eq!(row, "cancelled/admin/Мастер заболел");
    assert_eq!(audits(&panel, "booking.cancel"), 1);
    panel.says(&boris, "Мастер заболел");
}

#[test]
fn a_visit_is_marked_a_no_show_and_a_booking_is_moved_after_checks() {
    let panel = setup();
    let owner = panel.owner();
    let (gleb, lena) = (customer(&panel, 2201, "Глеб"), customer(&panel, 2202, "Лена"));
    let started = booking(&panel, gleb.id, "now() - interval '1 hour'", 30, "active", 100_000);
    let ahead = booking(&panel, lena.id, &at(2, 10, 0), 60, "active", 100_000);
    let other = customer(&panel, 2203, "Олег");
    booking(&panel, other.id, &at(3, 12, 0), 60, "active", 100_000);

    let menu = panel.open(&owner);
    panel.press_data(&owner, &menu, &format!("a:sc:c:{ahead}"));
    let card = panel.says(&owner, "Лена");
    assert!(!crate::serve::buttons(&card).iter().any(|d| d.starts_with("a:sc:k:")), "a future visit is not marked");
    let alert = panel.press_data(&owner, &card, &format!("a:sc:k:{ahead}:n"));
    assert_eq!(alert.as_deref(), Some(ru().raw(Text::AdminNotStarted)));

    panel.press_data(&owner, &card, &format!("a:sc:c:{started}"));
    let card = panel.says(&owner, "Глеб");
    let alert = panel.press(&owner, &card, &format!("a:sc:k:{started}:n"));
    assert_eq!(alert.as_deref(), Some(ru().raw(Text::AdminSaved)));
    let status: String = panel.bot.scalar(&format!("SELECT status FROM {{schema}}.bookings WHERE id = {started}"));
    assert_eq!(status, "no_show");
    assert_eq!(audits(&panel, "booking.no_show"), 1);

    panel.press_data(&owner, &card, &format!("a:sc:v:{ahead}"));
    panel.says(&owner, "Напишите новую дату");
    panel.bot.text(&owner, "завтра");
    panel.says(&owner, &Panel::words(Text::AdminInputDateTime));
    panel.bot.text(&owner, "31.02.2030 10:00");
    panel.says(&owner, &Panel::words(Text::AdminInputInvalid));
    panel.bot.text(&owner, "01.01.2020 10:00");
    panel.says(&owner, &Panel::words(Text::AdminInputPast));
    let target = day(3);
    panel.bot.text(&owner, &format!("{} 12:30", target.format("%d.%m.%Y")));
    panel.says(&owner, &Panel::words(Text::AdminInputTaken));
    panel.bot.text(&owner, &format!("{} 15:00", target.format("%d.%m.%Y")));
    let preview = panel.says(&owner, "Перенести");
    panel.press(&owner, &preview, "a:sc:V:");
    panel.says(&owner, "Запись перенесена");
    let moved: String = panel.bot.scalar(&format!(
        "SELECT to_char(starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || '/' || \
         to_char(ends_at - starts_at, 'HH24:MI') FROM {{schema}}.bookings WHERE id = {ahead}"
    ));
    assert_eq!(moved, format!("{} 15:00/01:00", target.format("%Y-%m-%d")));
    assert_eq!(audits(&panel, "booking.move"), 1);
    panel.says(&lena, "15:00");
}

#[test]
fn blocking_time_cancels_exactly_the_bookings_it_overlaps() {
    let panel = setup();
    let owner = panel.owner();
    let (petr, vera, gleb) =
        (customer(&panel, 2301, "Пётр"), customer(&panel, 2302, "Вера"), customer(&panel, 2303, "Глеб"));
    let first = booking(&panel, petr.id, &at(4, 10, 0), 60, "active", 100_000);
    let second = booking(&panel, vera.id, &at(4, 12, 0), 60, "active", 100_000);
    let third = booking(&panel, gleb.id, &at(4, 16, 0), 60, "active", 100_000);
    let date = day(4).format("%d.%m.%Y").to_string();

    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:bl:l");
    let list = panel.says(&owner, &Panel::words(Text::AdminBlocksTitle).replace("⛔ ", ""));
    panel.press(&owner, &list, "a:bl:a");
    panel.says(&owner, "Какое время закрыть");
    panel.bot.text(&owner, "в пятницу");
    panel.says(&owner, &Panel::words(Text::AdminBlockFormat));
    panel.bot.text(&owner, &format!("{date} 13:00-11:00"));
    panel.says(&owner, &Panel::words(Text::AdminBlockOrder));
    panel.bot.text(&owner, &format!("{date} 10:30-12:30"));
    panel.says(&owner, "Напишите причину");
    panel.bot.text(&owner, "Ремонт");
    let preview = panel.says(&owner, "Будут отменены записи: 2");
    let text = preview.text.clone().unwrap();
    assert!(text.contains("Пётр") && text.contains("Вера") && !text.contains("Глеб"), "{text}");

    panel.press(&owner, &preview, "a:bl:c");
    panel.says(&owner, "Время закрыто");
    let statuses: String = panel.bot.scalar(&format!(
        "SELECT string_agg(status || ':' || coalesce(cancel_reason, ''), ',' ORDER BY id) FROM {{schema}}.bookings \
         WHERE id IN ({first}, {second}, {third})"
    ));
    assert_eq!(statuses, "cancelled:Ремонт,cancelled:Ремонт,active:");
    let block: String = panel.bot.scalar(
        "SELECT note || ' ' || to_char(starts_at AT TIME ZONE 'UTC', 'HH24:MI') || '-' || \
         to_char(ends_at AT TIME ZONE 'UTC', 'HH24:MI') FROM {schema}.bookings WHERE kind = 'block'",
    );
    assert_eq!(block, "Ремонт 10:30-12:30");
    assert_eq!(audits(&panel, "block.add"), 1);
    assert_eq!(audits(&panel, "booking.cancel"), 2);
    panel.says(&petr, "Ремонт");
    panel.says(&vera, "Ремонт");
    let told: i64 = panel.bot.scalar(&format!(
        "SELECT count(*) FROM {{schema}}.outbox WHERE kind = 'customer_cancelled' AND recipient = {}",
        gleb.id
    ));
    assert_eq!(told, 0);
    let chat = panel.bot.emulator().chat(&panel.bot.token, gleb.id);
    assert!(!chat.iter().any(|m| m.text.as_deref().is_some_and(|t| t.contains("Ремонт"))), "{chat:#?}");

    // The block is listed and can be removed again.
    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:bl:l");
    let list = panel.says(&owner, "Ремонт");
    let alert = panel.press(&owner, &list, "a:bl:r:");
    assert_eq!(alert.as_deref(), Some(ru().raw(Text::AdminBlocksRemoved)));
    let blocks: i64 = panel.bot.scalar("SELECT count(*) FROM {schema}.bookings WHERE kind = 'block'");
    assert_eq!(blocks, 0);
    assert_eq!(audits(&panel, "block.remove"), 1);
}

#[test]
fn a_booking_made_after_the_preview_brings_the_preview_back_and_a_whole_day_is_blocked() {
    let panel = setup();
    let owner = panel.owner();
    let petr = customer(&panel, 2401, "Пётр");
    let first = booking(&panel, petr.id, &at(5, 10, 0), 60, "active", 100_000);
    let menu = panel.open(&owner);
    panel.press_data(&owner, &menu, "a:bl:a");
    panel.says(&owner, "Какое время закрыть");
    panel.bot.text(&owner, &day(5).format("%d.%m.%Y").to_string());
    panel.says(&owner, "00:00–24:00");
    panel.bot.text(&owner, "-");
    let preview = panel.says(&owner, "Будут отменены записи: 1");

    // Not cancelled unseen: the confirmation shows the preview again, with the newcomer.
    let dina = customer(&panel, 2402, "Дина");
    let second = booking(&panel, dina.id, &at(5, 15, 0), 30, "active", 100_000);
    panel.press(&owner, &preview, "a:bl:c");
    let again = panel.says(&owner, &Panel::words(Text::AdminBlockChanged));
    let text = again.text.clone().unwrap();
    assert!(text.contains("Будут отменены записи: 2") && text.contains("Дина"), "{text}");
    assert_eq!(audits(&panel, "block.add"), 0);
    let active: i64 = panel.bot.scalar(&format!(
        "SELECT count(*) FROM {{schema}}.bookings WHERE id IN ({first}, {second}) AND status = 'active'"
    ));
    assert_eq!(active, 2, "nothing was done by the refused confirmation");

    panel.press(&owner, &again, "a:bl:c");
    panel.says(&owner, "Время закрыто");
    let block: String = panel.bot.scalar(
        "SELECT coalesce(note, '-') || ' ' || to_char(starts_at AT TIME ZONE 'UTC', 'HH24:MI') || ' ' || \
         extract(epoch FROM ends_at - starts_at)::bigint::text FROM {schema}.bookings WHERE kind = 'block'",
    );
    assert_eq!(block, "- 00:00 86400");
    assert_eq!(audits(&panel, "booking.cancel"), 2);
    let nobody: i64 =
        panel.bot.scalar("SELECT count(*) FROM {schema}.bookings WHERE kind = 'customer' AND status = 'active'");
    assert_eq!(nobody, 0);
    panel.says(&dina, "Стрижка");
}
