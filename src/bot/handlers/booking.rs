//! The booking flow: service → month calendar → time grid → confirmation card → booked. The same steps
//! move a booking when `moving` names it; the final step books (or moves) in one transaction that is the
//! only judge of the slot.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, TimeZone, Utc};
use teloxide::prelude::*;
use teloxide::types::{
    ButtonRequest, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, KeyboardMarkup, MessageId, ReplyMarkup,
};

use super::format;
use super::{Business, CustomerDialogue, Deps, HandlerResult, business, menu};
use crate::booking::phone::{self, PhoneError};
use crate::booking::schedule::{Busy, Schedule};
use crate::booking::store::{self, Booking, BookingError, Service};
use crate::bot::callback::Callback;
use crate::bot::keyboards::{self, Calendar, CalendarLabels, button};
use crate::bot::state::State;
use crate::bot::texts::{Catalog, Text};
use crate::telegram::runtime::sender::TgBot;

/// Where a flow's message lives: the chat and the bot message being edited in place.
pub(super) type At = (ChatId, MessageId);

fn labels(catalog: &Catalog) -> CalendarLabels {
    CalendarLabels {
        months: Text::MONTHS.map(|t| catalog.raw(t).to_string()),
        weekdays: Text::WEEKDAYS.map(|t| catalog.raw(t).to_string()),
        prev: catalog.raw(Text::CalendarPrev).to_string(),
        next: catalog.raw(Text::CalendarNext).to_string(),
        back: catalog.raw(Text::CommonBack).to_string(),
    }
}

/// The schedule (with its date exceptions as far as any horizon reaches) and the service.
async fn load(deps: &Deps, service: i64) -> anyhow::Result<Option<(Schedule, Service)>> {
    let mut conn = deps.pool.acquire().await?;
    let Some(service) = store::service(&mut conn, service).await? else { return Ok(None) };
    let today = deps.now().date_naive();
    // The longest horizon the settings allow (365 days) and a day either side of the tenant's zone: one
    // query, where learning the horizon first would take two.
    let (schedule, _) = store::schedule(&mut conn, today - TimeDelta::days(1), today + TimeDelta::days(367)).await?;
    Ok(Some((schedule.with_step(service.slot_step()), service)))
}

/// The days of `days` with a free slot for `service`: only their share of the time taken is loaded.
async fn free_days(
    deps: &Deps,
    schedule: &Schedule,
    service: &Service,
    days: RangeInclusive<NaiveDate>,
    moving: Option<i64>,
) -> anyhow::Result<Vec<NaiveDate>> {
    let busy = busy(deps, &days, moving).await?;
    Ok(schedule.free_days(days, service.duration(), &busy, deps.now()))
}

/// The time taken on the local dates `days`, apart from the booking being moved.
async fn busy(deps: &Deps, days: &RangeInclusive<NaiveDate>, moving: Option<i64>) -> anyhow::Result<Vec<Busy>> {
    let (from, to) = Schedule::window(days);
    Ok(store::busy(&mut *deps.pool.acquire().await?, from, to, moving).await?)
}

fn month_days(first: NaiveDate) -> RangeInclusive<NaiveDate> {
    let next = first.checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX);
    first..=next.pred_opt().unwrap_or(first)
}

pub(super) async fn choose_service(
    bot: &TgBot,
    chat: ChatId,
    message: Option<MessageId>,
    deps: &Deps,
) -> HandlerResult {
    let catalog = &deps.catalog();
    let services = store::services(&mut *deps.pool.acquire().await?).await?;
    let business = business(&deps.pool).await?;
    if services.is_empty() {
        return bot.send(chat, catalog.render(Text::BookingNoServices, &[]), None).await;
    }
    let rows: Vec<Vec<InlineKeyboardButton>> = services
        .iter()
        .map(|s| {
            let label = catalog.render_plain(
                Text::BookingServiceButton,
                &[
                    ("name", &s.name),
                    ("duration", &format::duration(catalog, i64::from(s.duration_minutes))),
                    ("price", &format::price(catalog, s.price_minor, &business.currency)),
                ],
            );
            vec![button(label, Callback::Service { service: s.id })]
        })
        .collect();
    let text = catalog.render(Text::BookingChooseService, &[]);
    let markup = InlineKeyboardMarkup::new(rows);
    match message {
        Some(message) => bot.edit(chat, message, text, Some(markup)).await,
        None => bot.send(chat, text, Some(ReplyMarkup::InlineKeyboard(markup))).await,
    }
}

/// The month calendar of free days; when moving, headed by the booking being moved.
pub(super) async fn calendar(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    customer: i64,
    service: i64,
    month: Option<(i32, u32)>,
    moving: Option<i64>,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let Some((schedule, service)) = load(deps, service).await? else { return Ok(Some(Text::StaleButton)) };
    let header = match moving {
        Some(booking) => {
            let Some(old) = own_booking(deps, customer, booking).await? else { return Ok(Some(Text::StaleButton)) };
            let (date, time) = format::date_time(catalog, schedule.tz, old.starts_at);
            catalog.render(Text::MoveChooseDay, &[("service", &old.service_name), ("date", &date), ("time", &time)])
        }
        None => catalog.render(Text::BookingChooseDay, &[("service", &service.name)]),
    };
    let now = deps.now();
    let (first, last) = (schedule.today(now), schedule.last_day(now));
    let month_of = |day: NaiveDate| day.with_day(1).unwrap_or(day);
    // The month asked for (navigation), else the first month with a free day, computed month by month
    // so that a far horizon costs nothing until someone looks there.
    let asked =
        month.and_then(|(y, m)| NaiveDate::from_ymd_opt(y, m, 1)).filter(|m| (month_of(first)..=last).contains(m));
    let (shown, free) = match asked {
        Some(shown) => (shown, free_days(deps, &schedule, &service, month_days(shown), moving).await?),
        None => {
            let mut shown = month_of(first);
            loop {
                let free = free_days(deps, &schedule, &service, month_days(shown), moving).await?;
                if !free.is_empty() {
                    break (shown, free);
                }
                match shown.checked_add_months(Months::new(1)).filter(|next| *next <= last) {
                    Some(next) => shown = next,
                    None => {
                        bot.edit(chat, message, catalog.render(Text::BookingNoFreeDays, &[]), None).await?;
                        return Ok(None);
                    }
                }
            }
        }
    };
    let labels = labels(catalog);
    let calendar = Calendar { service: service.id, moving, first, last, free: &free, labels: &labels };
    bot.edit(chat, message, header, Some(calendar.month(shown.year(), shown.month()))).await?;
    Ok(None)
}

pub(super) async fn times(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    service: i64,
    date: NaiveDate,
    moving: Option<i64>,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let Some((schedule, service)) = load(deps, service).await? else { return Ok(Some(Text::StaleButton)) };
    let now = deps.now();
    if date < schedule.today(now) || date > schedule.last_day(now) || schedule.hours_on(date).is_empty() {
        return Ok(Some(Text::StaleButton));
    }
    let busy = busy(deps, &(date..=date), moving).await?;
    let slots = schedule.free_slots(date, service.duration(), &busy, now);
    let day_text = date_text(catalog, &schedule, date);
    let back = catalog.raw(Text::CommonBack);
    let markup = keyboards::times(service.id, moving, &slots, schedule.tz, back, (date.year(), date.month()));
    let text = if slots.is_empty() {
        catalog.render(Text::BookingNoFreeTimes, &[("date", &day_text)])
    } else {
        catalog.render(Text::BookingChooseTime, &[("service", &service.name), ("date", &day_text)])
    };
    bot.edit(chat, message, text, Some(markup)).await?;
    Ok(None)
}

/// A local date as the texts write it (local noon is inside the date whatever DST does).
fn date_text(catalog: &Catalog, schedule: &Schedule, date: NaiveDate) -> String {
    let noon = date.and_hms_opt(12, 0, 0).and_then(|t| schedule.tz.from_local_datetime(&t).earliest());
    noon.map_or_else(|| date.to_string(), |n| format::date(catalog, schedule.tz, n.with_timezone(&Utc)))
}

pub(super) async fn confirm_card(
    bot: &TgBot,
    (chat, message): At,
    deps: &Deps,
    customer: i64,
    service: i64,
    starts_at: DateTime<Utc>,
    moving: Option<i64>,
) -> anyhow::Result<Option<Text>> {
    let catalog = &deps.catalog();
    let Some((schedule, service)) = load(deps, service).await? else { return Ok(Some(Text::StaleButton)) };
    let now = deps.now();
    let local_day = starts_at.with_timezone(&schedule.tz).date_naive();
    let busy = busy(deps, &(local_day..=local_day), moving).await?;
    let offered = schedule.free_slots(local_day, service.duration(), &busy, now);
    if !offered.contains(&starts_at) {
        // Taken meanwhile, passed, or never offered: show what is free now.
        times(bot, (chat, message), deps, service.id, local_day, moving).await?;
        return Ok(Some(Text::StaleButton));
    }
    let business = business(&deps.pool).await?;
    let (date, time) = (format::date(catalog, schedule.tz, starts_at), format::time(schedule.tz, starts_at));
    let back = Callback::Day { service: service.id, date: local_day, moving };
    let confirm = Callback::Confirm { service: service.id, starts_at, moving };
    let (text, confirm_label) = match moving {
        Some(booking) => {
            let Some(old) = own_booking(deps, customer, booking).await? else { return Ok(Some(Text::StaleButton)) };
            let text = catalog.render(
                Text::MoveConfirmCard,
                &[
                    ("service", &old.service_name),
                    ("old_date", &format::date(catalog, schedule.tz, old.starts_at)),
                    ("old_time", &format::time(schedule.tz, old.starts_at)),
                    ("date", &date),
                    ("time", &time),
                ],
            );
            (text, Text::MoveConfirmButton)
        }
        None => {
            let text = catalog.render(
                Text::BookingConfirmCard,
                &[
                    ("service", &service.name),
                    ("date", &date),
                    ("time", &time),
                    ("duration", &format::duration(catalog, i64::from(service.duration_minutes))),
                    ("price", &format::price(catalog, service.price_minor, &business.currency)),
                    ("address", business.address.as_deref().unwrap_or_default()),
                ],
            );
            (text, Text::BookingConfirmButton)
        }
    };
    let markup = InlineKeyboardMarkup::new(vec![
        vec![button(catalog.raw(confirm_label), confirm)],
        vec![button(catalog.raw(Text::BookingOtherTime), back)],
    ]);
    bot.edit(chat, message, text, Some(markup)).await?;
    Ok(None)
}

pub(super) async fn own_booking(deps: &Deps, customer: i64, booking: i64) -> anyhow::Result<Option<Booking>> {
    let upcoming = store::upcoming(&mut *deps.pool.acquire().await?, customer, deps.now()).await?;
    Ok(upcoming.into_iter().find(|b| b.id == booking))
}

#[allow(clippy::too_many_arguments)] // the button's fields, spelled out
pub(super) async fn confirm(
    bot: &TgBot,
    at: At,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    customer: i64,
    service: i64,
    starts_at: DateTime<Utc>,
    moving: Option<i64>,
) -> anyhow::Result<Option<Text>> {
    // Button data is only a claim: the booking must be the customer's and the slot one that is offered,
    // before anything changes (the transaction checks both again).
    let Some((schedule, offered)) = load(deps, service).await? else { return Ok(Some(Text::StaleButton)) };
    let duration = match moving {
        // A moved booking keeps its length, whatever the service says now.
        Some(booking) => match own_booking(deps, customer, booking).await? {
            Some(b) => b.ends_at - b.starts_at,
            None => return Ok(Some(Text::StaleButton)),
        },
        None => offered.duration(),
    };
    if schedule.check_start(starts_at, duration, deps.now()).is_err() {
        return Ok(Some(Text::StaleButton));
    }
    let business = business(&deps.pool).await?;
    if moving.is_none() && business.ask_phone && !has_phone(deps, customer).await? {
        dialogue.update(State::AwaitingPhone { service, starts_at, moving }).await?;
        // The card's buttons go; the question comes with the contact button, which only a new message can carry.
        bot.remove_buttons(at.0, at.1).await?;
        let catalog = &deps.catalog();
        bot.send(at.0, catalog.render(Text::BookingAskPhone, &[]), Some(phone_keyboard(catalog))).await?;
        return Ok(None);
    }
    finish(bot, at.0, Some(at.1), deps, &business, customer, service, starts_at, moving).await?;
    Ok(None)
}

/// The contact button and "Skip", under the question for a phone number and under each refusal.
fn phone_keyboard(catalog: &Catalog) -> ReplyMarkup {
    ReplyMarkup::Keyboard(
        KeyboardMarkup::new(vec![
            vec![KeyboardButton::new(catalog.raw(Text::BookingPhoneButton)).request(ButtonRequest::Contact)],
            vec![KeyboardButton::new(catalog.raw(Text::BookingSkipPhone))],
        ])
        .resize_keyboard()
        .one_time_keyboard(),
    )
}

async fn has_phone(deps: &Deps, customer: i64) -> anyhow::Result<bool> {
    let phone: Option<Option<String>> = sqlx::query_scalar("SELECT phone FROM customers WHERE user_id = $1")
        .bind(customer)
        .fetch_optional(&deps.pool)
        .await?;
    Ok(phone.flatten().is_some())
}

/// Books or moves, and tells the customer how it went (editing the card when there is one).
#[allow(clippy::too_many_arguments)]
async fn finish(
    bot: &TgBot,
    chat: ChatId,
    message: Option<MessageId>,
    deps: &Deps,
    business: &Business,
    customer: i64,
    service: i64,
    starts_at: DateTime<Utc>,
    moving: Option<i64>,
) -> HandlerResult {
    let catalog = &deps.catalog();
    let now = deps.now();
    let result = match moving {
        Some(booking) => store::reschedule(&deps.pool, booking, customer, starts_at, now).await,
        None => store::book(&deps.pool, customer, service, starts_at, now).await,
    };
    let tz = business.tz;
    let (text, markup) = match result {
        Ok(done) => {
            let params = [
                ("service", done.service_name.as_str()),
                ("date", &format::date(catalog, tz, done.starts_at)),
                ("time", &format::time(tz, done.starts_at)),
                ("address", business.address.as_deref().unwrap_or_default()),
            ];
            if moving.is_some() {
                (catalog.render(Text::MoveDone, &params), None)
            } else {
                deps.bookings.created.inc();
                (catalog.render(Text::BookingConfirmed, &params), None)
            }
        }
        Err(BookingError::SlotTaken) => {
            let day = starts_at.with_timezone(&tz).date_naive();
            let text = catalog.render(Text::BookingSlotTaken, &[("date", &format::date(catalog, tz, starts_at))]);
            let markup = InlineKeyboardMarkup::new(vec![vec![button(
                catalog.raw(Text::BookingOtherTime),
                Callback::Day { service, date: day, moving },
            )]]);
            (text, Some(markup))
        }
        Err(BookingError::LimitReached { limit }) => {
            (catalog.render(Text::BookingLimitReached, &[("limit", &limit.to_string())]), None)
        }
        Err(BookingError::TooLate { .. }) => (super::too_late(catalog, Text::MoveTooLate, business), None),
        Err(BookingError::NotOffered(_)) => (catalog.render(Text::BookingTimePassed, &[]), None),
        Err(BookingError::UnknownService) => (catalog.render(Text::BookingServiceUnavailable, &[]), None),
        Err(BookingError::NotFound | BookingError::NotActive) => (catalog.render(Text::MyNotFound, &[]), None),
        Err(BookingError::Database(e)) => return Err(e.into()),
    };
    match message {
        Some(message) => bot.edit(chat, message, text, markup).await,
        // From the phone step there is no card to edit; the answer brings the menu back.
        None => bot.send(chat, text, Some(markup.map_or_else(|| menu(catalog), ReplyMarkup::InlineKeyboard))).await,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn receive_phone(
    bot: &TgBot,
    msg: &Message,
    deps: &Deps,
    dialogue: &CustomerDialogue,
    service: i64,
    starts_at: DateTime<Utc>,
    moving: Option<i64>,
) -> HandlerResult {
    let catalog = &deps.catalog();
    let chat = msg.chat.id;
    let customer = msg.from.as_ref().map(|u| u.id.0).unwrap_or_default();
    let customer = i64::try_from(customer)?;
    let skip = msg.text() == Some(catalog.raw(Text::BookingSkipPhone));
    if msg.text() == Some(catalog.raw(Text::CommonCancel)) {
        dialogue.update(State::Idle).await?;
        return bot.send(chat, catalog.render(Text::BookingAborted, &[]), Some(menu(catalog))).await;
    }
    let business = business(&deps.pool).await?;
    // Only the customer's own contact counts: a forwarded card of someone else is not their number.
    let own = msg.contact().filter(|c| c.user_id.map(|u| u.0) == Some(customer as u64));
    let typed = msg.text().filter(|_| !skip).map(|t| phone::parse(t, phone::country_of(business.tz)));
    let number = match (own, typed) {
        // Telegram vouches for a shared number: one the metadata does not know is kept as sent, not lost.
        (Some(contact), _) => {
            Some(phone::shared(&contact.phone_number).unwrap_or_else(|_| contact.phone_number.clone()))
        }
        (None, Some(Ok(number))) => Some(number),
        (None, Some(Err(why))) => return refuse(bot, chat, catalog, why).await,
        (None, None) if skip => None,
        // A sticker, a photo, someone else's contact.
        (None, None) => return refuse(bot, chat, catalog, PhoneError::NotANumber).await,
    };
    if let Some(number) = number {
        sqlx::query("UPDATE customers SET phone = $2 WHERE user_id = $1")
            .bind(customer)
            .bind(number)
            .execute(&deps.pool)
            .await?;
    }
    dialogue.update(State::Idle).await?;
    finish(bot, chat, None, deps, &business, customer, service, starts_at, moving).await
}

/// Says why a number was refused; the question stays open, with its buttons.
async fn refuse(bot: &TgBot, chat: ChatId, catalog: &Catalog, why: PhoneError) -> HandlerResult {
    let text = match why {
        PhoneError::NotANumber => Text::BookingPhoneInvalid,
        PhoneError::Country => Text::BookingPhoneNoCountry,
        PhoneError::TooShort => Text::BookingPhoneTooShort,
        PhoneError::TooLong => Text::BookingPhoneTooLong,
        PhoneError::Length => Text::BookingPhoneBadLength,
    };
    bot.send(chat, catalog.render(text, &[]), Some(phone_keyboard(catalog))).await
}
