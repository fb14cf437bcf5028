//! The schedule: a local day's bookings and blocks, a week at a glance, and a booking's card with what
//! the business can do to it — cancel with a reason, mark a visit done or a no-show, move it. Each
//! change is one transaction with its audit row and, where the customer must know, its outbox notice.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use teloxide::types::{InlineKeyboardButton, MessageId};

use super::{Cx, Reply, audit};
use crate::booking::admin::{self as calendar, AdminError, Card, Entry};
use crate::booking::input::{self, InputError};
use crate::booking::store::Booking;
use crate::bot::callback::Callback;
use crate::bot::callback::admin::{Admin, Outcome, ScheduleAction};
use crate::bot::handlers::{HandlerResult, format};
use crate::bot::keyboards::button;
use crate::bot::texts::{Catalog, Text};

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// The reason for cancelling `booking`, which its customer is told.
    CancelReason { booking: i64 },
    /// The new date and time of `booking`.
    MoveTo { booking: i64 },
}

/// Most bookings one day's screen lists as buttons (Telegram allows 100 buttons per message).
const DAY_BUTTONS: usize = 60;
const REASON_CHARS: usize = 500;

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: ScheduleAction) -> Reply {
    match action {
        ScheduleAction::Day { date } => day(cx, Some(at), date).await.map(|()| None),
        ScheduleAction::Week { monday } => week(cx, at, monday).await.map(|()| None),
        ScheduleAction::Card { booking } => card(cx, Some(at), booking).await,
        ScheduleAction::Cancel { booking } => ask(cx, booking, true).await,
        ScheduleAction::Move { booking } => ask(cx, booking, false).await,
        ScheduleAction::Mark { booking, outcome } => mark(cx, at, booking, outcome).await,
        ScheduleAction::MoveConfirm { booking, starts_at } => move_confirm(cx, at, booking, starts_at).await,
    }
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::CancelReason { booking } => cancel(cx, booking, text).await,
        Prompt::MoveTo { booking } => move_preview(cx, booking, text).await,
    }
}

fn status(catalog: &Catalog, status: &str) -> String {
    let text = match status {
        "cancelled" => Text::AdminStatusCancelled,
        "completed" => Text::AdminStatusCompleted,
        "no_show" => Text::AdminStatusNoShow,
        _ => Text::AdminStatusActive,
    };
    catalog.render_plain(text, &[])
}

fn entry_line(catalog: &Catalog, tz: Tz, e: &Entry) -> String {
    let (from, to) = (format::time(tz, e.starts_at), format::time(tz, e.ends_at));
    if e.is_block() {
        let reason = e.note.as_deref().unwrap_or_default();
        return catalog.render(Text::AdminDayBlock, &[("from", &from), ("to", &to), ("reason", reason)]);
    }
    let params = [
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("customer", e.customer.as_deref().unwrap_or_default()),
        ("service", e.service_name.as_deref().unwrap_or_default()),
        ("status", &status(catalog, &e.status)),
    ];
    catalog.render(Text::AdminDayBooking, &params)
}

/// One local day: its entries in time order, each booking a button to its card.
async fn day(cx: &Cx<'_>, at: Option<MessageId>, date: NaiveDate) -> HandlerResult {
    let tz = cx.business().await?.tz;
    let (from, to) = calendar::span(tz, &(date..=date));
    let entries = calendar::entries(&mut *cx.pool().acquire().await?, from, to).await?;
    let mut html = cx.catalog.render(Text::AdminDayTitle, &[("date", &format::day(&cx.catalog, date))]);
    html.push_str("\n\n");
    if entries.is_empty() {
        html.push_str(&cx.catalog.render(Text::AdminDayEmpty, &[]));
    }
    let lines: Vec<String> = entries.iter().map(|e| entry_line(&cx.catalog, tz, e)).collect();
    html.push_str(&lines.join("\n"));
    let mut rows: Vec<Vec<InlineKeyboardButton>> = entries
        .iter()
        .filter(|e| !e.is_block())
        .take(DAY_BUTTONS)
        .map(|e| {
            let label = format!("{} {}", format::time(tz, e.starts_at), e.customer.as_deref().unwrap_or_default());
            vec![button(label, Callback::Admin(Admin::Schedule(ScheduleAction::Card { booking: e.id })))]
        })
        .collect();
    let (prev, next) = (date.pred_opt().unwrap_or(date), date.succ_opt().unwrap_or(date));
    rows.push(vec![
        cx.button(Text::AdminPrev, ScheduleAction::Day { date: prev }),
        cx.button(Text::AdminDayWeek, ScheduleAction::Week { monday: calendar::monday(date) }),
        cx.button(Text::AdminNext, ScheduleAction::Day { date: next }),
    ]);
    rows.push(cx.menu_row());
    cx.show(at, html, rows).await
}

/// Monday..Sunday: each day's count and times, each day a button to it.
async fn week(cx: &Cx<'_>, at: MessageId, monday: NaiveDate) -> HandlerResult {
    let tz = cx.business().await?.tz;
    let monday = calendar::monday(monday);
    let sunday = monday.checked_add_days(Days::new(6)).unwrap_or(monday);
    let (from, to) = calendar::span(tz, &(monday..=sunday));
    let entries = calendar::entries(&mut *cx.pool().acquire().await?, from, to).await?;
    let short = |d: NaiveDate| {
        let weekday = cx.catalog.raw(Text::WEEKDAYS[d.weekday().num_days_from_monday() as usize]);
        format!("{weekday} {:02}.{:02}", d.day(), d.month())
    };
    let mut lines = Vec::with_capacity(7);
    let mut days = Vec::with_capacity(7);
    for date in monday.iter_days().take(7) {
        let times: Vec<String> = entries
            .iter()
            .filter(|e| !e.is_block() && e.starts_at.with_timezone(&tz).date_naive() == date)
            .map(|e| format::time(tz, e.starts_at))
            .collect();
        let count = times.len().to_string();
        let times = if times.is_empty() { cx.catalog.render_plain(Text::AdminDashNone, &[]) } else { times.join(", ") };
        lines.push(
            cx.catalog.render(Text::AdminWeekDay, &[("day", &short(date)), ("count", &count), ("times", &times)]),
        );
        let label = format!("{} · {count}", short(date));
        days.push(button(label, Callback::Admin(Admin::Schedule(ScheduleAction::Day { date }))));
    }
    let title = cx.catalog.render(
        Text::AdminWeekTitle,
        &[("from", &format::day(&cx.catalog, monday)), ("to", &format::day(&cx.catalog, sunday))],
    );
    let html = format!("{title}\n\n{}", lines.join("\n"));
    let mut rows: Vec<Vec<InlineKeyboardButton>> = days.chunks(4).map(<[InlineKeyboardButton]>::to_vec).collect();
    let (prev, next) = (
        monday.checked_sub_days(Days::new(7)).unwrap_or(monday),
        monday.checked_add_days(Days::new(7)).unwrap_or(monday),
    );
    rows.push(vec![
        cx.button(Text::AdminPrev, ScheduleAction::Week { monday: prev }),
        cx.button(Text::AdminNext, ScheduleAction::Week { monday: next }),
    ]);
    rows.push(cx.menu_row());
    cx.show(Some(at), html, rows).await
}

fn card_html(catalog: &Catalog, tz: Tz, currency: &str, c: &Card) -> String {
    let (date, time) = format::date_time(catalog, tz, c.starts_at);
    let none = catalog.render_plain(Text::AdminDashNone, &[]);
    let last = if c.last_visits.is_empty() {
        none.clone()
    } else {
        c.last_visits.iter().map(|at| format::date(catalog, tz, *at)).collect::<Vec<_>>().join("; ")
    };
    let params = [
        ("customer", c.first_name.as_str()),
        ("customer_id", &c.customer_id.to_string()),
        ("username", c.username.as_deref().unwrap_or_default()),
        ("phone", c.phone.as_deref().unwrap_or(&none)),
        ("service", &c.service_name),
        ("price", &format::price(catalog, c.price_minor, currency)),
        ("date", &date),
        ("time", &time),
        ("status", &status(catalog, &c.status)),
        ("reason", c.cancel_reason.as_deref().unwrap_or_default()),
        ("visits", &c.visits.to_string()),
        ("no_shows", &c.no_shows.to_string()),
        ("cancellations", &c.cancellations.to_string()),
        ("last_visits", &last),
    ];
    catalog.render(Text::AdminCard, &params)
}

/// A booking's card, or the stale-button alert when there is no such booking.
async fn card(cx: &Cx<'_>, at: Option<MessageId>, booking: i64) -> Reply {
    let business = cx.business().await?;
    let Some(c) = calendar::card(&mut *cx.pool().acquire().await?, booking).await? else {
        return Ok(Some(Text::AdminGone));
    };
    let html = card_html(&cx.catalog, business.tz, &business.currency, &c);
    let mut rows = Vec::new();
    if c.status == "active" {
        rows.push(vec![
            cx.button(Text::AdminCardCancel, ScheduleAction::Cancel { booking }),
            cx.button(Text::AdminCardMove, ScheduleAction::Move { booking }),
        ]);
        if c.starts_at <= cx.now() {
            rows.push(vec![
                cx.button(Text::AdminCardDone, ScheduleAction::Mark { booking, outcome: Outcome::Done }),
                cx.button(Text::AdminCardNoShow, ScheduleAction::Mark { booking, outcome: Outcome::NoShow }),
            ]);
        }
    }
    let date = c.starts_at.with_timezone(&business.tz).date_naive();
    rows.push(vec![cx.button(Text::AdminCardDay, ScheduleAction::Day { date })]);
    rows.push(cx.menu_row());
    cx.show(at, html, rows).await?;
    Ok(None)
}

/// Asks for the reason of a cancellation (`cancel`) or for the new time of a move.
async fn ask(cx: &Cx<'_>, booking: i64, cancel: bool) -> Reply {
    let business = cx.business().await?;
    let Some(c) = calendar::card(&mut *cx.pool().acquire().await?, booking).await? else {
        return Ok(Some(Text::AdminGone));
    };
    if c.status != "active" {
        return Ok(Some(Text::AdminNotActive));
    }
    let (date, time) = format::date_time(&cx.catalog, business.tz, c.starts_at);
    let params = [("service", c.service_name.as_str()), ("date", &date), ("time", &time)];
    if cancel {
        cx.ask(Prompt::CancelReason { booking }, cx.catalog.render(Text::AdminCancelAsk, &params)).await?;
    } else {
        cx.ask(Prompt::MoveTo { booking }, cx.catalog.render(Text::AdminMoveAsk, &params)).await?;
    }
    Ok(None)
}

fn target(booking: i64) -> String {
    format!("booking {booking}")
}

fn card_row(cx: &Cx<'_>, booking: i64) -> Vec<Vec<InlineKeyboardButton>> {
    vec![vec![cx.button(Text::AdminCardOpen, ScheduleAction::Card { booking })], cx.menu_row()]
}

/// The answer to the reason prompt: cancels, tells the customer, records it.
async fn cancel(cx: &Cx<'_>, booking: i64, reason: &str) -> HandlerResult {
    let length = reason.chars().count();
    if length == 0 || length > REASON_CHARS {
        return cx.show(None, cx.say(Text::AdminCancelReasonBad), Vec::new()).await;
    }
    let mut tx = cx.pool().begin().await?;
    let cancelled = match calendar::cancel(&mut tx, booking, reason, cx.now()).await {
        Ok(b) => b,
        Err(e) => return gone(cx, e).await,
    };
    let before = json!({ "status": "active", "starts_at": cancelled.starts_at });
    let after = json!({ "status": "cancelled", "reason": reason });
    audit::record(&mut tx, &cx.staff, "booking.cancel", &target(booking), Some(before), Some(after)).await?;
    tx.commit().await?;
    cx.done().await?;
    let tz = cx.business().await?.tz;
    let (date, time) = format::date_time(&cx.catalog, tz, cancelled.starts_at);
    let params = [("service", cancelled.service_name.as_str()), ("date", &date), ("time", &time)];
    cx.show(None, cx.catalog.render(Text::AdminCancelDone, &params), card_row(cx, booking)).await
}

/// A change that found its booking gone or no longer active ends the question with why.
async fn gone(cx: &Cx<'_>, error: AdminError) -> HandlerResult {
    let text = match error {
        AdminError::NotFound => Text::AdminGone,
        AdminError::NotActive => Text::AdminNotActive,
        AdminError::Database(e) => return Err(e.into()),
        AdminError::NotStarted | AdminError::Past | AdminError::Taken | AdminError::Unchanged | AdminError::Changed => {
            Text::AdminMoveTaken
        }
    };
    cx.done().await?;
    cx.show(None, cx.say(text), vec![cx.menu_row()]).await
}

async fn mark(cx: &Cx<'_>, at: MessageId, booking: i64, outcome: Outcome) -> Reply {
    let completed = outcome == Outcome::Done;
    let mut tx = cx.pool().begin().await?;
    let (before, after) = match calendar::mark(&mut tx, booking, completed, cx.now()).await {
        Ok(pair) => pair,
        Err(AdminError::NotFound) => return Ok(Some(Text::AdminGone)),
        Err(AdminError::NotActive) => return refresh(cx, at, booking, Text::AdminNotActive).await,
        Err(AdminError::NotStarted) => return Ok(Some(Text::AdminNotStarted)),
        Err(AdminError::Database(e)) => return Err(e.into()),
        Err(AdminError::Past | AdminError::Taken | AdminError::Unchanged | AdminError::Changed) => {
            return Ok(Some(Text::AdminGone));
        }
    };
    let action = if completed { "booking.done" } else { "booking.no_show" };
    let (b, a) = (serde_json::to_value(&before)?, serde_json::to_value(&after)?);
    audit::record(&mut tx, &cx.staff, action, &target(booking), Some(b), Some(a)).await?;
    tx.commit().await?;
    card(cx, Some(at), booking).await?;
    Ok(Some(Text::AdminSaved))
}

/// Shows the card as it is now, with `alert` on the press.
async fn refresh(cx: &Cx<'_>, at: MessageId, booking: i64, alert: Text) -> Reply {
    Ok(card(cx, Some(at), booking).await?.or(Some(alert)))
}

/// The answer to the move prompt: checks the typed time and shows the confirmation.
///
/// The time must be in the future and free (no other active booking or block overlaps), but it need
/// not be inside working hours or on the slot grid: the admin speaks for the business and may agree
/// to see a customer early or late. The exclusion constraint still rules out double bookings, and
/// blocked time stays closed.
async fn move_preview(cx: &Cx<'_>, booking: i64, text: &str) -> HandlerResult {
    let business = cx.business().await?;
    let local = match input::parse_date_time(text, super::today(&business, cx.now())) {
        Ok(local) => local,
        Err(InputError::Invalid) => return cx.show(None, cx.say(Text::AdminInputInvalid), Vec::new()).await,
        Err(InputError::Format | InputError::Order) => {
            return cx.show(None, cx.say(Text::AdminInputDateTime), Vec::new()).await;
        }
    };
    let starts_at = calendar::instant(business.tz, local);
    if starts_at <= cx.now() {
        return cx.show(None, cx.say(Text::AdminInputPast), Vec::new()).await;
    }
    let mut conn = cx.pool().acquire().await?;
    let Some(c) = calendar::card(&mut conn, booking).await? else { return gone(cx, AdminError::NotFound).await };
    if c.status != "active" {
        return gone(cx, AdminError::NotActive).await;
    }
    if !calendar::free(&mut conn, starts_at, starts_at + (c.ends_at - c.starts_at), booking).await? {
        return cx.show(None, cx.say(Text::AdminInputTaken), Vec::new()).await;
    }
    drop(conn);
    cx.done().await?;
    let (old_date, old_time) = format::date_time(&cx.catalog, business.tz, c.starts_at);
    let (date, time) = format::date_time(&cx.catalog, business.tz, starts_at);
    let params = [
        ("service", c.service_name.as_str()),
        ("old_date", &old_date),
        ("old_time", &old_time),
        ("date", &date),
        ("time", &time),
    ];
    let rows = vec![
        vec![cx.button(Text::AdminMoveConfirm, ScheduleAction::MoveConfirm { booking, starts_at })],
        vec![cx.button(Text::AdminCardOpen, ScheduleAction::Card { booking })],
    ];
    cx.show(None, cx.catalog.render(Text::AdminMovePreview, &params), rows).await
}

async fn move_confirm(cx: &Cx<'_>, at: MessageId, booking: i64, starts_at: DateTime<Utc>) -> Reply {
    let mut tx = cx.pool().begin().await?;
    let (before, after): (Booking, Booking) = match calendar::move_to(&mut tx, booking, starts_at, cx.now()).await {
        Ok(pair) => pair,
        Err(AdminError::NotFound) => return Ok(Some(Text::AdminGone)),
        Err(AdminError::NotActive) => return refresh(cx, at, booking, Text::AdminNotActive).await,
        Err(AdminError::Unchanged) => return Ok(Some(Text::AdminGone)),
        Err(AdminError::Taken | AdminError::Past | AdminError::NotStarted | AdminError::Changed) => {
            return Ok(Some(Text::AdminMoveTaken));
        }
        Err(AdminError::Database(e)) => return Err(e.into()),
    };
    let (b, a) = (serde_json::to_value(&before)?, serde_json::to_value(&after)?);
    audit::record(&mut tx, &cx.staff, "booking.move", &target(booking), Some(b), Some(a)).await?;
    tx.commit().await?;
    let tz = cx.business().await?.tz;
    let (date, time) = format::date_time(&cx.catalog, tz, after.starts_at);
    let params = [("service", after.service_name.as_str()), ("date", &date), ("time", &time)];
    cx.show(Some(at), cx.catalog.render(Text::AdminMoveDone, &params), card_row(cx, booking)).await?;
    Ok(None)
}
