//! The hours-and-rules section of the panel: every booking setting with its value and its own question,
//! the weekly hours a weekday at a time, and dates with their own hours. The bot reads all of these per
//! update, so a change applies from the next message on; each is audited with its value before and after.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use teloxide::types::{InlineKeyboardButton, MessageId};

use super::{Cx, Reply, audit};
use crate::booking::Hours;
use crate::booking::input::{self, ExceptionError, HoursError};
use crate::bot::callback::Callback;
use crate::bot::callback::admin::{Admin, SettingField, SettingsAction};
use crate::bot::handlers::{HandlerResult, format};
use crate::bot::keyboards::button;
use crate::bot::texts::{Catalog, Text};

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    Field(SettingField),
    /// One weekday's intervals (ISO: 1 = Monday).
    Weekday(u8),
    /// A date and its hours.
    Exception,
}

/// The settings this section edits, as shown and as audited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
struct Settings {
    slot_step_minutes: i32,
    horizon_days: i32,
    min_lead_minutes: i32,
    cancellation_cutoff_minutes: i32,
    max_active_bookings: i32,
    reminder_offsets_minutes: Vec<i32>,
    address: Option<String>,
    contacts: Option<String>,
    timezone: String,
}

/// A checked new value for one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Typed {
    Number(i32),
    List(Vec<i32>),
    Text(Option<String>),
}

/// Each setting's column, question, error and button.
fn info(field: SettingField) -> (&'static str, Text, Text, Text) {
    match field {
        SettingField::SlotStep => {
            ("slot_step_minutes", Text::AdminSettingsAskStep, Text::AdminSettingsBadStep, Text::AdminSettingsEditStep)
        }
        SettingField::Horizon => (
            "horizon_days",
            Text::AdminSettingsAskHorizon,
            Text::AdminSettingsBadHorizon,
            Text::AdminSettingsEditHorizon,
        ),
        SettingField::MinLead => {
            ("min_lead_minutes", Text::AdminSettingsAskLead, Text::AdminSettingsBadLead, Text::AdminSettingsEditLead)
        }
        SettingField::Cutoff => (
            "cancellation_cutoff_minutes",
            Text::AdminSettingsAskCutoff,
            Text::AdminSettingsBadCutoff,
            Text::AdminSettingsEditCutoff,
        ),
        SettingField::MaxActive => {
            ("max_active_bookings", Text::AdminSettingsAskMax, Text::AdminSettingsBadMax, Text::AdminSettingsEditMax)
        }
        SettingField::Reminders => (
            "reminder_offsets_minutes",
            Text::AdminSettingsAskReminders,
            Text::AdminSettingsBadReminders,
            Text::AdminSettingsEditReminders,
        ),
        SettingField::Address => {
            ("address", Text::AdminSettingsAskAddress, Text::AdminSettingsBadText, Text::AdminSettingsEditAddress)
        }
        SettingField::Contacts => {
            ("contacts", Text::AdminSettingsAskContacts, Text::AdminSettingsBadText, Text::AdminSettingsEditContacts)
        }
        SettingField::TimeZone => {
            ("timezone", Text::AdminSettingsAskTz, Text::AdminSettingsBadTz, Text::AdminSettingsEditTz)
        }
    }
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: SettingsAction) -> Reply {
    match action {
        SettingsAction::Menu => menu(cx, Some(at)).await?,
        SettingsAction::Edit { field } => {
            let settings = load(&mut *cx.pool().acquire().await?).await?;
            let (_, ask, _, _) = info(field);
            let current = shown(&cx.catalog, &settings, field);
            cx.ask(Prompt::Field(field), cx.catalog.render(ask, &[("current", &current)])).await?;
        }
        SettingsAction::Hours => hours(cx, Some(at)).await?,
        SettingsAction::HoursDay { weekday } => {
            let Some(name) = weekday_name(&cx.catalog, weekday) else { return Ok(Some(Text::AdminGone)) };
            let current = day_hours(&cx.catalog, &weekly(&mut *cx.pool().acquire().await?, weekday).await?);
            let html = cx.catalog.render(Text::AdminSettingsAskHours, &[("day", &name), ("current", &current)]);
            cx.ask(Prompt::Weekday(weekday), html).await?;
        }
        SettingsAction::Exceptions => exceptions(cx, Some(at)).await?,
        SettingsAction::ExceptionAdd => {
            cx.ask(Prompt::Exception, cx.catalog.render(Text::AdminSettingsAskException, &[])).await?;
        }
        SettingsAction::ExceptionRemove { day } => return remove_exception(cx, at, day).await,
    }
    Ok(None)
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::Field(field) => answer_field(cx, field, text).await,
        Prompt::Weekday(weekday) => answer_weekday(cx, weekday, text).await,
        Prompt::Exception => answer_exception(cx, text).await,
    }
}

async fn load(conn: &mut PgConnection) -> sqlx::Result<Settings> {
    sqlx::query_as(
        "SELECT slot_step_minutes, horizon_days, min_lead_minutes, cancellation_cutoff_minutes, max_active_bookings, \
         reminder_offsets_minutes, address, contacts, timezone FROM settings FOR UPDATE",
    )
    .fetch_one(conn)
    .await
}

/// A setting's value as the menu shows it.
fn shown(catalog: &Catalog, s: &Settings, field: SettingField) -> String {
    let duration = |minutes: i32| format::duration(catalog, minutes.into());
    let unset = || catalog.render_plain(Text::AdminSettingsUnset, &[]);
    match field {
        SettingField::SlotStep => duration(s.slot_step_minutes),
        SettingField::Horizon => catalog.render_plain(Text::AdminSettingsDays, &[("n", &s.horizon_days.to_string())]),
        SettingField::MinLead => duration(s.min_lead_minutes),
        SettingField::Cutoff => duration(s.cancellation_cutoff_minutes),
        SettingField::MaxActive => s.max_active_bookings.to_string(),
        SettingField::Reminders if s.reminder_offsets_minutes.is_empty() => unset(),
        SettingField::Reminders => {
            s.reminder_offsets_minutes.iter().map(|m| duration(*m)).collect::<Vec<_>>().join(", ")
        }
        SettingField::Address => s.address.clone().unwrap_or_else(unset),
        SettingField::Contacts => s.contacts.clone().unwrap_or_else(unset),
        SettingField::TimeZone => s.timezone.clone(),
    }
}

async fn menu(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let settings = load(&mut *cx.pool().acquire().await?).await?;
    let value = |field| shown(&cx.catalog, &settings, field);
    let html = cx.catalog.render(
        Text::AdminSettingsMenu,
        &[
            ("step", &value(SettingField::SlotStep)),
            ("horizon", &value(SettingField::Horizon)),
            ("lead", &value(SettingField::MinLead)),
            ("cutoff", &value(SettingField::Cutoff)),
            ("max", &value(SettingField::MaxActive)),
            ("reminders", &value(SettingField::Reminders)),
            ("address", &value(SettingField::Address)),
            ("contacts", &value(SettingField::Contacts)),
            ("tz", &value(SettingField::TimeZone)),
        ],
    );
    let edit = |field: SettingField| cx.button(info(field).3, SettingsAction::Edit { field });
    let mut rows: Vec<Vec<InlineKeyboardButton>> =
        SettingField::ALL.chunks(2).map(|pair| pair.iter().map(|f| edit(*f)).collect()).collect();
    rows.push(vec![
        cx.button(Text::AdminSettingsHoursButton, SettingsAction::Hours),
        cx.button(Text::AdminSettingsExceptionsButton, SettingsAction::Exceptions),
    ]);
    rows.push(cx.menu_row());
    cx.show(at, html, rows).await
}

/// Checks a typed value for `field`.
fn parse(field: SettingField, text: &str) -> Option<Typed> {
    let number = |range| input::number_in(text, range).map(Typed::Number);
    let minutes = |range| input::minutes_in(text, range).map(Typed::Number);
    match field {
        SettingField::SlotStep => minutes(input::SLOT_STEP),
        SettingField::Horizon => number(input::HORIZON_DAYS),
        SettingField::MinLead | SettingField::Cutoff => minutes(input::WEEK_MINUTES),
        SettingField::MaxActive => number(input::MAX_ACTIVE),
        SettingField::Reminders => input::reminders(text).map(Typed::List),
        SettingField::Address | SettingField::Contacts => input::optional(text, input::INFO_CHARS).map(Typed::Text),
        SettingField::TimeZone => input::time_zone(text).map(|tz| Typed::Text(Some(tz.name().to_string()))),
    }
}

async fn answer_field(cx: &Cx<'_>, field: SettingField, text: &str) -> HandlerResult {
    let (column, _, bad, _) = info(field);
    let Some(value) = parse(field, text) else {
        // The question stays open: the admin tries again or sends /cancel.
        return cx.bot.send(cx.chat, cx.catalog.render(bad, &[("tz", text)]), None).await;
    };
    let mut tx = cx.pool().begin().await?;
    let before = load(&mut tx).await?;
    // `column` comes from the fixed list above, never from input.
    let sql = format!("UPDATE settings SET {column} = $1");
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let query = match value {
        Typed::Number(n) => query.bind(n),
        Typed::List(list) => query.bind(list),
        Typed::Text(text) => query.bind(text),
    };
    query.execute(&mut *tx).await?;
    let after = load(&mut tx).await?;
    let pick = |s: &Settings| serde_json::to_value(s).ok().and_then(|v| v.get(column).cloned());
    audit::record(
        &mut tx,
        &cx.staff,
        "settings.update",
        column,
        Some(json!({ column: pick(&before) })),
        Some(json!({ column: pick(&after) })),
    )
    .await?;
    tx.commit().await?;
    cx.done().await?;
    menu(cx, None).await
}

fn weekday_name(catalog: &Catalog, weekday: u8) -> Option<String> {
    let index = usize::from(weekday.checked_sub(1)?);
    Text::WEEKDAYS.get(index).map(|t| catalog.raw(*t).to_string())
}

/// A day's intervals as typed, or "closed".
fn day_hours(catalog: &Catalog, hours: &[Hours]) -> String {
    if hours.is_empty() { catalog.render_plain(Text::AdminSettingsClosed, &[]) } else { input::show_intervals(hours) }
}

async fn weekly(conn: &mut PgConnection, weekday: u8) -> sqlx::Result<Vec<Hours>> {
    let rows: Vec<(chrono::NaiveTime, chrono::NaiveTime)> =
        sqlx::query_as("SELECT opens, closes FROM working_hours WHERE weekday = $1 ORDER BY opens")
            .bind(i16::from(weekday))
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(opens, closes)| Hours { opens, closes }).collect())
}

async fn hours(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let mut conn = cx.pool().acquire().await?;
    let mut lines = Vec::new();
    let mut buttons = Vec::new();
    for weekday in 1..=7u8 {
        let name = weekday_name(&cx.catalog, weekday).unwrap_or_default();
        let intervals = day_hours(&cx.catalog, &weekly(&mut conn, weekday).await?);
        lines.push(cx.catalog.render_plain(Text::AdminSettingsHoursLine, &[("day", &name), ("intervals", &intervals)]));
        buttons.push(button(name, Callback::Admin(Admin::Settings(SettingsAction::HoursDay { weekday }))));
    }
    let html = cx.catalog.render(Text::AdminSettingsHours, &[("days", &lines.join("\n"))]);
    let mut rows: Vec<Vec<InlineKeyboardButton>> = buttons.chunks(4).map(<[InlineKeyboardButton]>::to_vec).collect();
    rows.push(vec![cx.button(Text::AdminSettingsBack, SettingsAction::Menu)]);
    cx.show(at, html, rows).await
}

fn hours_error(e: HoursError) -> Text {
    match e {
        HoursError::Format => Text::AdminSettingsBadHoursFormat,
        HoursError::Order => Text::AdminSettingsBadHoursOrder,
        HoursError::Overlap => Text::AdminSettingsBadHoursOverlap,
    }
}

/// Replaces a weekday's intervals in one transaction.
async fn answer_weekday(cx: &Cx<'_>, weekday: u8, text: &str) -> HandlerResult {
    let list = match input::intervals(text) {
        Ok(list) => list,
        Err(e) => return cx.bot.send(cx.chat, cx.catalog.render(hours_error(e), &[]), None).await,
    };
    let mut tx = cx.pool().begin().await?;
    // Serializes edits of the hours with the settings row, which every hours change locks.
    load(&mut tx).await?;
    let before = weekly(&mut tx, weekday).await?;
    sqlx::query("DELETE FROM working_hours WHERE weekday = $1").bind(i16::from(weekday)).execute(&mut *tx).await?;
    for h in &list {
        sqlx::query("INSERT INTO working_hours (weekday, opens, closes) VALUES ($1, $2, $3)")
            .bind(i16::from(weekday))
            .bind(h.opens)
            .bind(h.closes)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        &cx.staff,
        "settings.hours",
        &format!("weekday {weekday}"),
        Some(json!({ "hours": input::show_intervals(&before) })),
        Some(json!({ "hours": input::show_intervals(&list) })),
    )
    .await?;
    tx.commit().await?;
    cx.done().await?;
    hours(cx, None).await
}

/// The exceptions from `from` on, grouped by date; a closed date has no intervals.
async fn dates(conn: &mut PgConnection, from: NaiveDate) -> sqlx::Result<Vec<(NaiveDate, Vec<Hours>)>> {
    type DateRow = (NaiveDate, Option<chrono::NaiveTime>, Option<chrono::NaiveTime>);
    let rows: Vec<DateRow> =
        sqlx::query_as("SELECT day, opens, closes FROM date_hours WHERE day >= $1 ORDER BY day, opens NULLS FIRST")
            .bind(from)
            .fetch_all(conn)
            .await?;
    let mut out: Vec<(NaiveDate, Vec<Hours>)> = Vec::new();
    for (day, opens, closes) in rows {
        if out.last().is_none_or(|(last, _)| *last != day) {
            out.push((day, Vec::new()));
        }
        if let (Some(opens), Some(closes), Some((_, list))) = (opens, closes, out.last_mut()) {
            list.push(Hours { opens, closes });
        }
    }
    Ok(out)
}

fn short_date(day: NaiveDate) -> String {
    day.format("%d.%m.%Y").to_string()
}

async fn exceptions(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let business = cx.business().await?;
    let today = super::today(&business, cx.now());
    let list = dates(&mut *cx.pool().acquire().await?, today).await?;
    let lines: Vec<String> = list
        .iter()
        .map(|(day, hours)| {
            cx.catalog.render_plain(
                Text::AdminSettingsHoursLine,
                &[("day", &short_date(*day)), ("intervals", &day_hours(&cx.catalog, hours))],
            )
        })
        .collect();
    let days = if lines.is_empty() {
        cx.catalog.render_plain(Text::AdminSettingsExceptionsNone, &[])
    } else {
        lines.join("\n")
    };
    let html = cx.catalog.render(Text::AdminSettingsExceptions, &[("days", &days)]);
    let removes: Vec<InlineKeyboardButton> = list
        .iter()
        .map(|(day, _)| {
            let label = cx.catalog.render_plain(Text::AdminSettingsExceptionRemove, &[("date", &short_date(*day))]);
            button(label, Callback::Admin(Admin::Settings(SettingsAction::ExceptionRemove { day: *day })))
        })
        .collect();
    let mut rows: Vec<Vec<InlineKeyboardButton>> = removes.chunks(3).map(<[InlineKeyboardButton]>::to_vec).collect();
    rows.push(vec![cx.button(Text::AdminSettingsExceptionAdd, SettingsAction::ExceptionAdd)]);
    rows.push(vec![cx.button(Text::AdminSettingsBack, SettingsAction::Menu)]);
    cx.show(at, html, rows).await
}

/// Replaces a date's rows: its intervals, or one row without times for a closed date.
async fn answer_exception(cx: &Cx<'_>, text: &str) -> HandlerResult {
    let business = cx.business().await?;
    let today = super::today(&business, cx.now());
    let (day, list) = match input::exception(text, today) {
        Ok(parsed) => parsed,
        Err(e) => {
            let error = match e {
                ExceptionError::Format => Text::AdminSettingsBadException,
                ExceptionError::Past => Text::AdminSettingsPastDate,
                ExceptionError::Hours(e) => hours_error(e),
            };
            return cx.bot.send(cx.chat, cx.catalog.render(error, &[]), None).await;
        }
    };
    let mut tx = cx.pool().begin().await?;
    load(&mut tx).await?;
    let before = date_rows(&mut tx, day).await?;
    sqlx::query("DELETE FROM date_hours WHERE day = $1").bind(day).execute(&mut *tx).await?;
    if list.is_empty() {
        sqlx::query("INSERT INTO date_hours (day) VALUES ($1)").bind(day).execute(&mut *tx).await?;
    }
    for h in &list {
        sqlx::query("INSERT INTO date_hours (day, opens, closes) VALUES ($1, $2, $3)")
            .bind(day)
            .bind(h.opens)
            .bind(h.closes)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        &cx.staff,
        "settings.date",
        &day.to_string(),
        before,
        Some(json!({ "hours": input::show_intervals(&list), "closed": list.is_empty() })),
    )
    .await?;
    tx.commit().await?;
    cx.done().await?;
    exceptions(cx, None).await
}

/// A date's exception as the audit log records it, `None` where it had none.
async fn date_rows(conn: &mut PgConnection, day: NaiveDate) -> sqlx::Result<Option<serde_json::Value>> {
    let found = dates(conn, day).await?.into_iter().find(|(d, _)| *d == day);
    Ok(found.map(|(_, hours)| json!({ "hours": input::show_intervals(&hours), "closed": hours.is_empty() })))
}

async fn remove_exception(cx: &Cx<'_>, at: MessageId, day: NaiveDate) -> Reply {
    let mut tx = cx.pool().begin().await?;
    load(&mut tx).await?;
    let Some(before) = date_rows(&mut tx, day).await? else { return Ok(Some(Text::AdminGone)) };
    sqlx::query("DELETE FROM date_hours WHERE day = $1").bind(day).execute(&mut *tx).await?;
    audit::record(&mut tx, &cx.staff, "settings.date_remove", &day.to_string(), Some(before), None).await?;
    tx.commit().await?;
    exceptions(cx, Some(at)).await?;
    Ok(Some(Text::AdminSaved))
}
