//! The dashboard: a period's bookings, cancellations, no-shows, revenue, occupancy of working time,
//! new and returning customers and the average rating, for today, this week or this month in the
//! business's time zone.

use std::ops::RangeInclusive;

use chrono::NaiveDate;
use teloxide::types::MessageId;

use super::{Cx, Reply, today};
use crate::booking::admin::{self as calendar, Figures};
use crate::booking::store;
use crate::bot::callback::admin::Period;
use crate::bot::handlers::format;
use crate::bot::texts::{Catalog, Text};

/// The local dates a period covers around `today`.
fn days(period: Period, today: NaiveDate) -> RangeInclusive<NaiveDate> {
    match period {
        Period::Today => today..=today,
        Period::Week => {
            let monday = calendar::monday(today);
            monday..=monday.checked_add_days(chrono::Days::new(6)).unwrap_or(monday)
        }
        Period::Month => calendar::month(today),
    }
}

/// `part` of `whole` as a whole percentage; none when there is no whole.
fn percent(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (part * 100 + whole / 2) / whole)
}

pub(super) async fn show(cx: &Cx<'_>, at: MessageId, period: Period) -> Reply {
    let business = cx.business().await?;
    let days = days(period, today(&business, cx.now()));
    let (from, to) = calendar::span(business.tz, &days);
    let mut conn = cx.pool().acquire().await?;
    let figures = calendar::figures(&mut conn, from, to).await?;
    let (schedule, _) = store::schedule(&mut conn, *days.start(), *days.end()).await?;
    drop(conn);
    let open = calendar::open_minutes(&schedule, &days);
    let html = render(&cx.catalog, &business, period, &days, &figures, open);
    let rows = vec![
        vec![
            cx.button(Text::AdminDashToday, Period::Today),
            cx.button(Text::AdminDashWeek, Period::Week),
            cx.button(Text::AdminDashMonth, Period::Month),
        ],
        cx.menu_row(),
    ];
    cx.show(Some(at), html, rows).await?;
    Ok(None)
}

fn render(
    catalog: &Catalog,
    business: &crate::bot::business::Business,
    period: Period,
    days: &RangeInclusive<NaiveDate>,
    f: &Figures,
    open_minutes: i64,
) -> String {
    let period_text = match period {
        Period::Today => {
            catalog.render_plain(Text::AdminDashPeriodToday, &[("date", &format::day(catalog, *days.start()))])
        }
        Period::Week | Period::Month => catalog.render_plain(
            Text::AdminDashPeriodRange,
            &[("from", &format::day(catalog, *days.start())), ("to", &format::day(catalog, *days.end()))],
        ),
    };
    let none = catalog.render_plain(Text::AdminDashNone, &[]);
    let occupancy = percent(f.booked_minutes, open_minutes).map_or_else(|| none.clone(), |p| format!("{p}%"));
    let rating = match f.average_rating {
        Some(average) if f.ratings > 0 => catalog.render_plain(
            Text::AdminDashRating,
            &[("average", &format!("{average:.1}")), ("count", &f.ratings.to_string())],
        ),
        _ => none,
    };
    catalog.render(
        Text::AdminDashTitle,
        &[
            ("period", &period_text),
            ("bookings", &f.bookings.to_string()),
            ("cancelled", &f.cancelled.to_string()),
            ("no_shows", &f.no_shows.to_string()),
            ("revenue", &format::amount(f.revenue_minor, &business.currency)),
            ("occupancy", &occupancy),
            ("new_customers", &f.new_customers.to_string()),
            ("returning_customers", &f.returning_customers.to_string()),
            ("rating", &rating),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn periods_cover_the_day_the_week_from_monday_and_the_month() {
        let today = d(2026, 11, 26);
        assert_eq!(days(Period::Today, today), today..=today);
        assert_eq!(days(Period::Week, today), d(2026, 11, 23)..=d(2026, 11, 29));
        assert_eq!(days(Period::Month, today), d(2026, 11, 1)..=d(2026, 11, 30));
        let (from, to) = calendar::span(chrono_tz::Europe::Moscow, &days(Period::Today, today));
        assert_eq!(from.to_rfc3339(), "2026-11-25T21:00:00+00:00");
        assert_eq!((to - from).num_hours(), 24);
    }

    #[test]
    fn occupancy_rounds_and_needs_open_time() {
        assert_eq!(percent(90, 600), Some(15));
        assert_eq!(percent(1, 3), Some(33));
        assert_eq!(percent(2, 3), Some(67));
        assert_eq!(percent(10, 0), None);
    }
}
