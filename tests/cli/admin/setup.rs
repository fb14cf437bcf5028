//! The panel's setup sections through the emulator: services, hours and booking rules, date exceptions
//! and the texts editor — typed by an owner, refused when wrong, and seen at once by customers.

use botctl::bot::texts::Text;
use botctl::telegram::emulator::TgUser;
use chrono::{Datelike, NaiveDate, TimeDelta};

use super::{Panel, ru};
use crate::serve::has_buttons;

/// The newest bot message's id in `user`'s chat (0 when there is none).
fn last_id(panel: &Panel, user: &TgUser) -> i64 {
    let chat = panel.bot.emulator().chat(&panel.bot.token, user.id);
    chat.iter().filter(|m| m.from_bot).map(|m| m.message_id).max().unwrap_or(0)
}

/// The services a customer is offered, by their buttons' labels.
fn offered(panel: &Panel, customer: &TgUser) -> Vec<String> {
    let after = last_id(panel, customer);
    panel.bot.text(customer, ru().raw(Text::MenuBook));
    let list = panel.bot.bot_says_after(customer, after, has_buttons("s:"));
    list.buttons().into_iter().filter(|(_, d)| d.starts_with("s:")).map(|(label, _)| label).collect()
}

/// The start times a customer is offered for `service` on `day`, or the alert a closed day answers with.
fn times(panel: &Panel, customer: &TgUser, service: i64, day: NaiveDate) -> Result<Vec<String>, String> {
    let after = last_id(panel, customer);
    panel.bot.text(customer, ru().raw(Text::MenuBook));
    let list = panel.bot.bot_says_after(customer, after, has_buttons("s:"));
    assert_eq!(panel.press_data(customer, &list, &format!("s:{service}")), None);
    let calendar = panel.bot.bot_says(customer, has_buttons("d:"));
    if let Some(alert) = panel.press_data(customer, &calendar, &format!("d:{service}:{}", day.format("%Y%m%d"))) {
        return Err(alert);
    }
    let shown = panel.bot.bot_says(customer, has_buttons("t:"));
    Ok(shown.buttons().into_iter().filter(|(_, d)| d.starts_with("t:")).map(|(label, _)| label).collect())
}

/// A day three days ahead in the business's zone: inside the horizon, past the lead time.
fn ahead() -> NaiveDate {
    (chrono::Utc::now().with_timezone(&chrono_tz::Europe::Moscow) + TimeDelta::days(3)).date_naive()
}

fn audited(panel: &Panel, action: &str) -> i64 {
    panel.bot.scalar(&format!("SELECT count(*) FROM {{schema}}.audit_log WHERE action = '{action}' AND actor = 1001"))
}

#[test]
fn an_owner_creates_edits_disables_reorders_and_deletes_services() {
    let panel = Panel::start();
    let owner = panel.owner();
    let customer = panel.customer(2001);
    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:sv:l");
    let list = panel.says(&owner, "Нажмите услугу");
    panel.press(&owner, &list, "a:sv:n");
    panel.says(&owner, "Название услуги");
    panel.bot.text(&owner, "ab");
    panel.says(&owner, "от 3 до 100 символов. Попробуйте");
    panel.bot.text(&owner, "Укладка <b>");
    panel.says(&owner, "Описание");
    panel.bot.text(&owner, "-");
    panel.says(&owner, "Длительность в минутах");
    panel.bot.text(&owner, "полчаса");
    panel.says(&owner, "⚠️ Длительность");
    panel.bot.text(&owner, "45");
    panel.says(&owner, "Цена в RUB");
    panel.bot.text(&owner, "12,345");
    panel.says(&owner, "Не понял цену");
    panel.bot.text(&owner, "1 500,50");
    panel.says(&owner, "Шаг, с которым");
    panel.bot.text(&owner, "-");
    let card = panel.says(&owner, "Укладка <b>");
    let id: i64 = panel.bot.scalar("SELECT id FROM {schema}.services WHERE name = 'Укладка <b>'");
    let row: String = panel.bot.scalar(&format!(
        "SELECT concat_ws('|', duration_minutes, price_minor, coalesce(slot_step_minutes::text, 'none'), active, \
         position = (SELECT max(position) FROM {{schema}}.services)) FROM {{schema}}.services WHERE id = {id}"
    ));
    assert_eq!(row, "45|150050|none|t|t");
    assert!(offered(&panel, &customer).iter().any(|label| label.contains("Укладка <b>")));

    // One field, with the same checks.
    panel.press(&owner, &card, &format!("a:sv:e:{id}:p"));
    panel.says(&owner, "Цена в RUB");
    panel.bot.text(&owner, "-5");
    panel.says(&owner, "Не понял цену");
    panel.bot.text(&owner, "2000");
    let card = panel.says(&owner, "2000 ₽");
    assert_eq!(
        panel.bot.scalar::<i64>(&format!("SELECT price_minor FROM {{schema}}.services WHERE id = {id}")),
        200_000
    );

    // Disabled: gone from the customers' list, still in the panel.
    assert_eq!(panel.press(&owner, &card, &format!("a:sv:t:{id}")).as_deref(), Some(ru().raw(Text::AdminSaved)));
    assert!(!panel.bot.scalar::<bool>(&format!("SELECT active FROM {{schema}}.services WHERE id = {id}")));
    assert!(!offered(&panel, &customer).iter().any(|label| label.contains("Укладка")));

    // Up one place: it swaps with its neighbour.
    let order = |panel: &Panel| -> Vec<i64> {
        panel.bot.scalar("SELECT array_agg(id ORDER BY position, id) FROM {schema}.services WHERE deleted_at IS NULL")
    };
    let before = order(&panel);
    let card = panel.says(&owner, "отключена");
    panel.press(&owner, &card, &format!("a:sv:u:{id}"));
    panel.says(&owner, "Нажмите услугу");
    let after = order(&panel);
    let n = before.len();
    assert_eq!(after[n - 2], id);
    assert_eq!(after[n - 1], before[n - 2]);

    // A service with a future booking cannot be deleted.
    let first = before[0];
    panel.bot.sql(&format!(
        "INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at) \
         VALUES ({}, {first}, 'x', 1, now() + interval '3 days', now() + interval '3 days 1 hour')",
        customer.id
    ));
    let list = panel.says(&owner, "Нажмите услугу");
    panel.press(&owner, &list, &format!("a:sv:c:{first}"));
    let card = panel.says(&owner, "Шаг записи");
    let refused = panel.press(&owner, &card, &format!("a:sv:x:{first}"));
    assert_eq!(refused.as_deref(), Some(ru().raw(Text::AdminServicesHasFuture)));
    assert!(panel.bot.scalar::<bool>(&format!("SELECT active FROM {{schema}}.services WHERE id = {first}")));

    // One only booked in the past leaves the panel but keeps its row; one never booked goes.
    let second = before[1];
    panel.bot.sql(&format!(
        "INSERT INTO {{schema}}.bookings (customer_id, service_id, service_name, price_minor, starts_at, ends_at, \
         status) VALUES ({}, {second}, 'x', 1, now() - interval '3 days', now() - interval '3 days' + interval '1 \
         hour', 'completed')",
        customer.id
    ));
    for service in [second, id] {
        assert_eq!(panel.press_data(&owner, &card, &format!("a:sv:x:{service}")), None);
        let ask = panel.says(&owner, "Удалить услугу");
        assert_eq!(
            panel.press(&owner, &ask, &format!("a:sv:X:{service}")).as_deref(),
            Some(ru().raw(Text::AdminServicesDeleted))
        );
    }
    let soft: String = panel.bot.scalar(&format!(
        "SELECT concat_ws('|', active, deleted_at IS NOT NULL) FROM {{schema}}.services WHERE id = {second}"
    ));
    assert_eq!(soft, "f|t");
    assert_eq!(panel.bot.scalar::<i64>(&format!("SELECT count(*) FROM {{schema}}.services WHERE id = {id}")), 0);
    let list = panel.says(&owner, "Нажмите услугу");
    assert!(!list.buttons().iter().any(|(_, d)| d == &format!("a:sv:c:{second}")));

    for action in ["service.create", "service.update", "service.disable", "service.reorder"] {
        assert_eq!(audited(&panel, action), 1, "{action}");
    }
    assert_eq!(audited(&panel, "service.delete"), 2);
    let change: String = panel.bot.scalar(
        "SELECT concat_ws('|', before->>'price_minor', after->>'price_minor') FROM {schema}.audit_log \
         WHERE action = 'service.update'",
    );
    assert_eq!(change, "150050|200000");
}

#[test]
fn a_services_own_slot_step_changes_the_offered_times() {
    let panel = Panel::start();
    let owner = panel.owner();
    let customer = panel.customer(2001);
    let service: i64 = panel.bot.scalar("SELECT min(id) FROM {schema}.services");
    let day = ahead();
    let before = times(&panel, &customer, service, day).unwrap();
    assert!(before.iter().any(|t| t.ends_with(":15")), "the business's 15-minute grid: {before:?}");

    let menu = panel.open(&owner);
    panel.press_data(&owner, &menu, &format!("a:sv:e:{service}:s"));
    panel.says(&owner, "Шаг, с которым");
    panel.bot.text(&owner, "241");
    panel.says(&owner, "от 5 до 240");
    panel.bot.text(&owner, "1h");
    panel.says(&owner, "Шаг записи: 1 ч");
    let after = times(&panel, &customer, service, day).unwrap();
    assert!(!after.is_empty() && after.iter().all(|t| t.ends_with(":00")), "hourly: {after:?}");
    assert!(after.len() < before.len());
}

#[test]
fn settings_hours_and_dates_are_changed_by_prompts_and_apply_at_once() {
    let panel = Panel::start();
    let owner = panel.owner();
    let customer = panel.customer(2001);
    let service: i64 = panel.bot.scalar("SELECT min(id) FROM {schema}.services");
    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:st:m");
    let settings = panel.says(&owner, "Часы и правила записи");

    panel.press(&owner, &settings, "a:st:e:step");
    panel.says(&owner, "Шаг сетки");
    panel.bot.text(&owner, "121");
    panel.says(&owner, "от 5 до 120. Попробуйте");
    panel.bot.text(&owner, "30");
    let settings = panel.says(&owner, "Шаг записи: 30 мин");

    panel.press(&owner, &settings, "a:st:e:cutoff");
    panel.says(&owner, "отменить или перенести");
    panel.bot.text(&owner, "8d");
    panel.says(&owner, "от 0 до 10080 минут");
    panel.bot.text(&owner, "5h");
    let settings = panel.says(&owner, "Отмена и перенос не позже чем за: 5 ч");

    panel.press(&owner, &settings, "a:st:e:remind");
    panel.says(&owner, "напоминать");
    panel.bot.text(&owner, "24h, 24h");
    panel.says(&owner, "разных значений через запятую, каждое");
    panel.bot.text(&owner, "24h, 1h");
    let settings = panel.says(&owner, "Напоминания за");

    let row: String = panel.bot.scalar(
        "SELECT concat_ws('|', slot_step_minutes, cancellation_cutoff_minutes, reminder_offsets_minutes::text) \
         FROM {schema}.settings",
    );
    assert_eq!(row, "30|300|{1440,60}");

    // Weekly hours with a break, on the weekday of the day checked.
    let day = ahead();
    let weekday = day.weekday().number_from_monday();
    panel.press(&owner, &settings, "a:st:h");
    let hours = panel.says(&owner, "Часы работы по дням недели");
    panel.press(&owner, &hours, &format!("a:st:h:{weekday}"));
    panel.says(&owner, "Напишите интервалы");
    panel.bot.text(&owner, "10:00-13:00, 12:00-14:00");
    panel.says(&owner, "Интервалы пересекаются");
    panel.bot.text(&owner, "15:00-17:00, 10:00-12:00");
    let hours = panel.says(&owner, "10:00-12:00, 15:00-17:00");
    let offered = times(&panel, &customer, service, day).unwrap();
    assert_eq!(offered, ["10:00", "10:30", "11:00", "15:00", "15:30", "16:00"]);

    // A closed date is not bookable.
    panel.press(&owner, &hours, "a:st:m");
    let settings = panel.says(&owner, "Часы и правила записи");
    panel.press(&owner, &settings, "a:st:x");
    let dates = panel.says(&owner, "Особые дни");
    panel.press(&owner, &dates, "a:st:xa");
    panel.says(&owner, "Дата и её часы");
    panel.bot.text(&owner, "01.01.2020 -");
    panel.says(&owner, "уже прошла");
    panel.bot.text(&owner, &format!("{} выходной", day.format("%d.%m")));
    let dates = panel.says(&owner, &format!("{}: выходной", day.format("%d.%m.%Y")));
    assert_eq!(times(&panel, &customer, service, day), Err(ru().raw(Text::StaleButton).to_string()));
    // Removed again, the weekday's hours are back.
    let removed = panel.press(&owner, &dates, &format!("a:st:xr:{}", day.format("%Y%m%d")));
    assert_eq!(removed.as_deref(), Some(ru().raw(Text::AdminSaved)));
    assert_eq!(times(&panel, &customer, service, day).unwrap().len(), 6);

    // The time zone: an unknown name is refused, a real one is saved.
    panel.press(&owner, &dates, "a:st:m");
    let settings = panel.says(&owner, "Часы и правила записи");
    panel.press(&owner, &settings, "a:st:e:tz");
    panel.says(&owner, "Часовой пояс — название");
    panel.bot.text(&owner, "Mars/Olympus");
    panel.says(&owner, "«Mars/Olympus» не найден");
    panel.bot.text(&owner, "Europe/Berlin");
    panel.says(&owner, "Часовой пояс: Europe/Berlin");
    assert_eq!(panel.bot.scalar::<String>("SELECT timezone FROM {schema}.settings"), "Europe/Berlin");
    // Moscow's 10:00 opening is Berlin's: the same wall-clock times, now in Berlin.
    assert_eq!(times(&panel, &customer, service, day).unwrap()[0], "10:00");

    assert_eq!(audited(&panel, "settings.update"), 4);
    assert_eq!(audited(&panel, "settings.hours"), 1);
    assert_eq!(audited(&panel, "settings.date"), 1);
    assert_eq!(audited(&panel, "settings.date_remove"), 1);
    let change: String = panel.bot.scalar(
        "SELECT concat_ws('|', before->>'timezone', after->>'timezone') FROM {schema}.audit_log \
         WHERE target = 'timezone'",
    );
    assert_eq!(change, "Europe/Moscow|Europe/Berlin");
}

#[test]
fn a_text_edit_is_checked_previewed_saved_live_and_reset() {
    let panel = Panel::start();
    let owner = panel.owner();
    let customer = panel.customer(2001);
    let menu = panel.open(&owner);
    panel.press(&owner, &menu, "a:tx:l:");
    let list = panel.says(&owner, "Тексты бота");
    panel.press(&owner, &list, "a:tx:c:start.welcome_back");
    let card = panel.says(&owner, "По умолчанию");
    panel.press(&owner, &card, "a:tx:e:start.welcome_back");
    panel.says(&owner, "Новый текст для");

    panel.bot.text(&owner, "С возвращением, {имя}!");
    panel.says(&owner, "Текст не сохранён");
    panel.bot.text(&owner, "С возвращением, {client}!");
    panel.says(&owner, "подстановки должны быть ровно {name}");
    panel.bot.text(&owner, "<b>Рады снова видеть, {name}!");
    panel.says(&owner, "ошибка в HTML");
    assert_eq!(panel.bot.scalar::<i64>("SELECT count(*) FROM {schema}.texts"), 0);

    // Discarding the preview ends the question: the next message is no answer.
    panel.bot.text(&owner, "<b>Рады снова видеть</b>, {name}!");
    let preview = panel.says(&owner, "Рады снова видеть, [name]!");
    panel.press(&owner, &preview, "a:tx:c:start.welcome_back");
    let card = panel.says(&owner, "По умолчанию");
    let state: String = panel.bot.scalar("SELECT state::text FROM {schema}.dialogues WHERE chat_id = 1001");
    assert!(!state.contains("Preview"), "{state}");

    panel.press(&owner, &card, "a:tx:e:start.welcome_back");
    panel.says(&owner, "Новый текст для");
    panel.bot.text(&owner, "<b>Рады снова видеть</b>, {name}!");
    let preview = panel.says(&owner, "Рады снова видеть, [name]!");
    assert_eq!(panel.press(&owner, &preview, "a:tx:s:start.welcome_back").as_deref(), Some(ru().raw(Text::AdminSaved)));
    let saved: String = panel.bot.scalar("SELECT text FROM {schema}.texts WHERE key = 'start.welcome_back'");
    assert_eq!(saved, "<b>Рады снова видеть</b>, {name}!");

    // At once: no restart.
    panel.bot.text(&customer, "/start");
    panel.says(&customer, "Рады снова видеть, Барбершоп!");

    let card = panel.says(&owner, "Сейчас:");
    assert_eq!(
        panel.press(&owner, &card, "a:tx:r:start.welcome_back").as_deref(),
        Some(ru().raw(Text::AdminTextsResetDone))
    );
    assert_eq!(panel.bot.scalar::<i64>("SELECT count(*) FROM {schema}.texts"), 0);
    let after = last_id(&panel, &customer);
    panel.bot.text(&customer, "/start");
    let welcome = Panel::words(Text::StartWelcomeBack);
    let back = panel.bot.bot_says_after(&customer, after, |m| m.text.as_deref().is_some_and(|t| t.contains(&welcome)));
    assert!(!back.text.unwrap_or_default().contains("Рады снова видеть, Барбершоп"));

    assert_eq!(audited(&panel, "text.save"), 1);
    assert_eq!(audited(&panel, "text.reset"), 1);
    let change: String = panel.bot.scalar(
        "SELECT concat_ws('|', before->>'text', after->>'text') FROM {schema}.audit_log WHERE action = 'text.save'",
    );
    assert_eq!(change, format!("{}|<b>Рады снова видеть</b>, {{name}}!", ru().raw(Text::StartWelcomeBack)));
}
