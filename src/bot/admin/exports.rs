//! Exports as CSV documents: bookings for a date range, customers, feedback. Files are UTF-8 with a
//! byte-order mark, which spreadsheets need to read Cyrillic correctly; every export is audited.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use teloxide::types::MessageId;

use super::{Cx, Reply, audit, today};
use crate::booking::admin as calendar;
use crate::bot::callback::admin::ExportAction;
use crate::bot::handlers::HandlerResult;
use crate::bot::texts::Text;

/// The longest range one bookings export covers, in days.
const MAX_DAYS: i64 = 366;

/// What this part of the panel asks admins to type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// `01.11.2026-30.11.2026`.
    Range,
}

pub(super) async fn callback(cx: &Cx<'_>, at: MessageId, action: ExportAction) -> Reply {
    match action {
        ExportAction::Menu => menu(cx, Some(at)).await.map(|()| None),
        ExportAction::Bookings { from, to } => match checked_range(from, to) {
            Some((from, to)) => bookings(cx, from, to).await.map(|()| None),
            None => Ok(Some(Text::AdminExportRangeInvalid)),
        },
        ExportAction::BookingsRange => {
            cx.ask(Prompt::Range, cx.catalog.render(Text::AdminExportRangeAsk, &[])).await?;
            Ok(None)
        }
        ExportAction::Customers => customers(cx).await.map(|()| None),
        ExportAction::Feedback => feedback(cx).await.map(|()| None),
    }
}

pub(super) async fn answer(cx: &Cx<'_>, prompt: Prompt, text: &str) -> HandlerResult {
    match prompt {
        Prompt::Range => match parse_range(text) {
            Some((from, to)) => {
                cx.done().await?;
                bookings(cx, from, to).await
            }
            // The question stays open: the admin types the range again.
            None => cx.bot.send(cx.chat, cx.catalog.render(Text::AdminExportRangeInvalid, &[]), None).await,
        },
    }
}

async fn menu(cx: &Cx<'_>, at: Option<MessageId>) -> HandlerResult {
    let business = cx.business().await?;
    let today = today(&business, cx.now());
    let this_month = today.with_day0(0).unwrap_or(today);
    let month_end =
        |first: NaiveDate| first.checked_add_months(Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first);
    let last_month = this_month.checked_sub_months(Months::new(1)).unwrap_or(this_month);
    let rows = vec![
        vec![
            cx.button(
                Text::AdminExportThisMonth,
                ExportAction::Bookings { from: this_month, to: month_end(this_month) },
            ),
            cx.button(
                Text::AdminExportLastMonth,
                ExportAction::Bookings { from: last_month, to: month_end(last_month) },
            ),
        ],
        vec![
            cx.button(Text::AdminExportNext30, ExportAction::Bookings { from: today, to: today + TimeDelta::days(29) }),
            cx.button(Text::AdminExportRange, ExportAction::BookingsRange),
        ],
        vec![
            cx.button(Text::AdminExportCustomers, ExportAction::Customers),
            cx.button(Text::AdminExportFeedback, ExportAction::Feedback),
        ],
        cx.menu_row(),
    ];
    cx.show(at, cx.catalog.render(Text::AdminExportTitle, &[]), rows).await
}

/// `01.11.2026-30.11.2026` (spaces and an en dash are fine), within `MAX_DAYS`.
fn parse_range(text: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (from, to) = text.split_once(['-', '–', '—'])?;
    let date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%d.%m.%Y").ok();
    checked_range(date(from)?, date(to)?)
}

/// The range if it is in order and not too long (a forged button could say anything).
fn checked_range(from: NaiveDate, to: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let days = (to - from).num_days() + 1;
    (1..=MAX_DAYS).contains(&days).then_some((from, to))
}

/// A local date and time as a spreadsheet reads it: `2026-11-01 14:30`.
pub(super) fn local(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The rows as CSV, with the byte-order mark first.
pub(super) fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row.iter().map(|cell| inert(cell).into_owned()))?;
    }
    writer.into_inner().map_err(|e| anyhow::anyhow!("the CSV could not be written: {e}"))
}

/// A cell a spreadsheet will not run: customers choose their names and comments, and a cell that starts
/// like a formula (`=HYPERLINK(…)`, `@SUM(…)`, `+cmd|…`) would be one when the business opens the file.
/// A leading apostrophe makes it text. Phone numbers and signed numbers stay as they are.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    let numeric = |rest: &str| rest.chars().all(|c| c.is_ascii_digit() || " ()-.,".contains(c));
    let formula = match cell.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !numeric(&cell[1..]),
        _ => false,
    };
    if formula { format!("'{cell}").into() } else { cell.into() }
}

/// Sends the file with a caption naming it and its row count.
pub(super) async fn send_csv(cx: &Cx<'_>, name: String, rows: usize, bytes: Vec<u8>) -> HandlerResult {
    let caption = cx.catalog.render(Text::AdminExportCaption, &[("file", &name), ("rows", &rows.to_string())]);
    cx.bot.send_document(cx.chat, name, bytes, caption).await
}

/// Writes the audit row of an export: who took which data.
async fn audited(cx: &Cx<'_>, action: &str, target: &str, rows: usize) -> anyhow::Result<()> {
    let mut tx = cx.pool().begin().await?;
    audit::record(&mut tx, &cx.staff, action, target, None, Some(json!({ "rows": rows }))).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct BookingRow {
    id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    service_name: Option<String>,
    price_minor: Option<i64>,
    status: String,
    customer_id: Option<i64>,
    first_name: Option<String>,
    username: Option<String>,
    phone: Option<String>,
    note: Option<String>,
}

async fn bookings(cx: &Cx<'_>, from: NaiveDate, to: NaiveDate) -> HandlerResult {
    let business = cx.business().await?;
    let tz = business.tz;
    let found: Vec<BookingRow> = sqlx::query_as(
        "SELECT b.id, b.starts_at, b.ends_at, b.service_name, b.price_minor, b.status, b.customer_id, \
                c.first_name, c.username, c.phone, b.note \
         FROM bookings b LEFT JOIN customers c ON c.user_id = b.customer_id \
         WHERE b.kind = 'customer' AND b.starts_at >= $1 AND b.starts_at < $2 ORDER BY b.starts_at, b.id",
    )
    .bind(calendar::day_start(tz, from))
    .bind(calendar::day_start(tz, to + TimeDelta::days(1)))
    .fetch_all(cx.pool())
    .await?;
    let rows: Vec<Vec<String>> = found
        .into_iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.starts_at.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                b.starts_at.with_timezone(&tz).format("%H:%M").to_string(),
                b.service_name.unwrap_or_default(),
                (b.ends_at - b.starts_at).num_minutes().to_string(),
                b.price_minor.map(decimal).unwrap_or_default(),
                business.currency.clone(),
                b.status,
                b.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                b.first_name.unwrap_or_default(),
                b.username.unwrap_or_default(),
                b.phone.unwrap_or_default(),
                b.note.unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "id",
        "date",
        "time",
        "service",
        "duration_min",
        "price",
        "currency",
        "status",
        "customer_id",
        "customer",
        "username",
        "phone",
        "note",
    ];
    let bytes = csv_bytes(&header, &rows)?;
    let name = format!("bookings-{from}-{to}.csv");
    audited(cx, "export.bookings", &format!("bookings {from}..{to}"), rows.len()).await?;
    send_csv(cx, name, rows.len(), bytes).await
}

/// Minor units as a decimal amount: `150050` → `1500.50`.
fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    user_id: i64,
    first_name: String,
    username: Option<String>,
    phone: Option<String>,
    created_at: DateTime<Utc>,
    bookings: i64,
    last_visit: Option<DateTime<Utc>>,
}

async fn customers(cx: &Cx<'_>) -> HandlerResult {
    let business = cx.business().await?;
    let tz = business.tz;
    // A visit is a booking that was not cancelled and has begun.
    let found: Vec<CustomerRow> = sqlx::query_as(
        "SELECT c.user_id, c.first_name, c.username, c.phone, c.created_at, \
                count(b.id) AS bookings, \
                max(b.starts_at) FILTER (WHERE b.status IN ('active', 'completed') AND b.starts_at <= $1) \
                    AS last_visit \
         FROM customers c LEFT JOIN bookings b ON b.customer_id = c.user_id AND b.kind = 'customer' \
         GROUP BY c.user_id ORDER BY c.created_at, c.user_id",
    )
    .bind(cx.now())
    .fetch_all(cx.pool())
    .await?;
    let rows: Vec<Vec<String>> = found
        .into_iter()
        .map(|c| {
            vec![
                c.user_id.to_string(),
                c.first_name,
                c.username.unwrap_or_default(),
                c.phone.unwrap_or_default(),
                local(tz, c.created_at),
                c.bookings.to_string(),
                c.last_visit.map(|at| local(tz, at)).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["id", "name", "username", "phone", "first_seen", "bookings", "last_visit"];
    let bytes = csv_bytes(&header, &rows)?;
    let name = format!("customers-{}.csv", today(&business, cx.now()));
    audited(cx, "export.customers", "customers", rows.len()).await?;
    send_csv(cx, name, rows.len(), bytes).await
}

#[derive(sqlx::FromRow)]
struct FeedbackRow {
    starts_at: DateTime<Utc>,
    customer_id: Option<i64>,
    first_name: Option<String>,
    service_name: Option<String>,
    score: i16,
    comment: Option<String>,
}

async fn feedback(cx: &Cx<'_>) -> HandlerResult {
    let business = cx.business().await?;
    let tz = business.tz;
    let found: Vec<FeedbackRow> = sqlx::query_as(
        "SELECT b.starts_at, b.customer_id, c.first_name, b.service_name, r.score, r.comment \
         FROM ratings r JOIN bookings b ON b.id = r.booking_id LEFT JOIN customers c ON c.user_id = b.customer_id \
         ORDER BY b.starts_at, b.id",
    )
    .fetch_all(cx.pool())
    .await?;
    let rows: Vec<Vec<String>> = found
        .into_iter()
        .map(|f| {
            vec![
                f.starts_at.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                f.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                f.first_name.unwrap_or_default(),
                f.service_name.unwrap_or_default(),
                f.score.to_string(),
                f.comment.unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["date", "customer_id", "customer", "service", "score", "comment"];
    let bytes = csv_bytes(&header, &rows)?;
    let name = format!("feedback-{}.csv", today(&business, cx.now()));
    audited(cx, "export.feedback", "feedback", rows.len()).await?;
    send_csv(cx, name, rows.len(), bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn ranges_are_parsed_and_bounded() {
        assert_eq!(parse_range("01.11.2026-30.11.2026"), Some((d(2026, 11, 1), d(2026, 11, 30))));
        assert_eq!(parse_range(" 01.11.2026 – 01.11.2026 "), Some((d(2026, 11, 1), d(2026, 11, 1))));
        assert_eq!(parse_range("30.11.2026-01.11.2026"), None);
        assert_eq!(parse_range("01.01.2026-01.01.2027"), Some((d(2026, 1, 1), d(2027, 1, 1))));
        assert_eq!(parse_range("01.01.2026-02.01.2027"), None);
        assert_eq!(parse_range("tomorrow"), None);
        assert_eq!(parse_range("31.02.2026-01.03.2026"), None);
    }

    #[test]
    fn csv_starts_with_the_bom_and_quotes() {
        let bytes = csv_bytes(&["a", "b"], &[vec!["x,y".into(), "say \"hi\"".into()]]).unwrap_or_default();
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(text, "\u{feff}a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
        assert_eq!(decimal(150_050), "1500.50");
        for (cell, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("-5", "-5"),
            ("+7 (999) 123-45-67", "+7 (999) 123-45-67"),
            ("Анна", "Анна"),
            ("", ""),
        ] {
            assert_eq!(inert(cell), written, "{cell}");
        }
        assert_eq!(decimal(5), "0.05");
    }
}
