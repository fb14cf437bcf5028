//! How dates, times, durations and prices read in the tenant's language and time zone.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::bot::texts::{Catalog, Text};

/// "вт, 1 декабря" / "Tue, 1 December", in the tenant's zone.
pub fn date(catalog: &Catalog, tz: Tz, at: DateTime<Utc>) -> String {
    day(catalog, at.with_timezone(&tz).date_naive())
}

/// A local date the same way.
pub fn day(catalog: &Catalog, day: NaiveDate) -> String {
    let weekday = catalog.raw(Text::WEEKDAYS[day.weekday().num_days_from_monday() as usize]);
    let month = catalog.raw(Text::MONTHS_IN_DATES[day.month0() as usize]);
    catalog.render_plain(Text::DateFormat, &[("weekday", weekday), ("day", &day.day().to_string()), ("month", month)])
}

/// The date and the time of an instant, as most texts take them.
pub fn date_time(catalog: &Catalog, tz: Tz, at: DateTime<Utc>) -> (String, String) {
    (date(catalog, tz, at), time(tz, at))
}

/// "14:30" in the tenant's zone.
pub fn time(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz).format("%H:%M").to_string()
}

pub fn duration(catalog: &Catalog, minutes: i64) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => catalog.render_plain(Text::DurationMinutes, &[("minutes", &m.to_string())]),
        (h, 0) => catalog.render_plain(Text::DurationHours, &[("hours", &h.to_string())]),
        (h, m) => {
            catalog.render_plain(Text::DurationHoursMinutes, &[("hours", &h.to_string()), ("minutes", &m.to_string())])
        }
    }
}

/// "1500 ₽", "24.50 €"; free services say so.
pub fn price(catalog: &Catalog, minor: i64, currency: &str) -> String {
    if minor == 0 { catalog.render_plain(Text::PriceFree, &[]) } else { amount(minor, currency) }
}

/// A sum of money, zero included: "0 ₽", "24.50 €".
pub fn amount(minor: i64, currency: &str) -> String {
    let symbol = match currency {
        "RUB" => "₽",
        "EUR" => "€",
        "USD" => "$",
        "KZT" => "₸",
        other => other,
    };
    let (major, cents) = (minor / 100, minor % 100);
    if cents == 0 { format!("{major} {symbol}") } else { format!("{major}.{cents:02} {symbol}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::Locale;

    #[test]
    fn prices_durations_and_dates_read_naturally() {
        let ru = Catalog::defaults(Locale::Ru);
        assert_eq!(price(ru, 150_000, "RUB"), "1500 ₽");
        assert_eq!(price(ru, 2450, "EUR"), "24.50 €");
        assert!(!price(ru, 0, "RUB").is_empty());
        assert_eq!(amount(0, "RUB"), "0 ₽");
        assert!(duration(ru, 90).contains('1') && duration(ru, 90).contains("30"));
        let at = DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z").unwrap().with_timezone(&Utc);
        let text = date(ru, chrono_tz::Europe::Moscow, at);
        assert!(text.contains('1'), "{text}");
        assert_eq!(time(chrono_tz::Europe::Moscow, at), "12:00");
    }
}
