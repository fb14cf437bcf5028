//! What admins type into the panel — names, durations, prices, hours, dates and times, time zones —
//! parsed and checked as plain functions, with the same limits as the schema's CHECK constraints
//! (migrations/tenant/0001, 0002, 0008), so a value that passes here never fails in the database.

use std::ops::RangeInclusive;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use super::schedule::Hours;

/// A service's name: `services_name_check`.
pub const NAME_CHARS: RangeInclusive<usize> = 3..=100;
/// A service's description: `services_description_check`.
pub const DESCRIPTION_CHARS: usize = 500;
/// What the panel offers for a service's length (the schema allows up to 720).
pub const DURATION: RangeInclusive<i64> = 5..=480;
/// A service's own slot step: `services_slot_step_minutes_check`.
pub const SERVICE_STEP: RangeInclusive<i64> = 5..=240;
/// The business's slot step: `settings_slot_step_minutes_check`.
pub const SLOT_STEP: RangeInclusive<i64> = 5..=120;
pub const HORIZON_DAYS: RangeInclusive<i64> = 1..=365;
/// Minimum lead time and cancellation cutoff, in minutes (a week at most).
pub const WEEK_MINUTES: RangeInclusive<i64> = 0..=10080;
pub const MAX_ACTIVE: RangeInclusive<i64> = 1..=20;
pub const REMINDER: RangeInclusive<i64> = 5..=10080;
pub const REMINDERS_AT_MOST: usize = 5;
/// Address and contacts.
pub const INFO_CHARS: usize = 300;
/// The largest price the panel takes, in major units: a typo guard far above any real service.
const PRICE_MAX_MAJOR: i64 = 100_000_000;

/// `-` alone: "none", "closed", "the default".
pub fn is_dash(s: &str) -> bool {
    matches!(s.trim(), "-" | "—" | "–")
}

/// A trimmed one-line text of `chars` characters.
pub fn line(s: &str, chars: RangeInclusive<usize>) -> Option<String> {
    let s = s.trim();
    let n = s.chars().count();
    (chars.contains(&n) && !s.contains('\n')).then(|| s.to_string())
}

/// An optional text: `-` clears it, otherwise up to `max` characters.
pub fn optional(s: &str, max: usize) -> Option<Option<String>> {
    if is_dash(s) {
        return Some(None);
    }
    let s = s.trim();
    (!s.is_empty() && s.chars().count() <= max).then(|| Some(s.to_string()))
}

/// A length of time in minutes: `90`, `1h 30m`, `2ч`, `45 мин`, `1d`. A bare number is minutes.
pub fn minutes(s: &str) -> Option<i64> {
    let s = s.trim().to_lowercase();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().filter(|n: &i64| *n <= 1_000_000);
    }
    let mut total: i64 = 0;
    let mut rest = s.as_str();
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_end = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "m" | "min" | "м" | "мин" => 1,
            "h" | "ч" | "час" | "часа" | "часов" => 60,
            "d" | "д" | "дн" | "день" | "дня" | "дней" => 1440,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(factor)?)?;
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// Minutes within `range`.
pub fn minutes_in(s: &str, range: RangeInclusive<i64>) -> Option<i32> {
    minutes(s).filter(|m| range.contains(m)).and_then(|m| i32::try_from(m).ok())
}

/// A whole number within `range`.
pub fn number_in(s: &str, range: RangeInclusive<i64>) -> Option<i32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| range.contains(n)).and_then(|n| i32::try_from(n).ok())
}

/// A price in the currency's major units, to minor units: `1500`, `1500.50`, `1 500,5`. Spaces group
/// thousands; one `.` or `,` starts at most two decimals.
pub fn price_minor(s: &str) -> Option<i64> {
    let s: String = s.trim().chars().filter(|c| !c.is_whitespace() && *c != '\u{202f}').collect();
    let (major, cents) = match s.split_once(['.', ',']) {
        Some((major, cents)) => (major, cents),
        None => (s.as_str(), ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || major.len() > 12 || (!cents.is_empty() && (!digits(cents) || cents.len() > 2)) {
        return None;
    }
    if s.ends_with(['.', ',']) {
        return None;
    }
    let major: i64 = major.parse().ok().filter(|m| *m <= PRICE_MAX_MAJOR)?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    Some(major * 100 + cents)
}

/// A list of reminder offsets such as `24h, 2h, 1h` or `1440 120`: 1 to 5 distinct values of 5 minutes to
/// a week, largest first.
pub fn reminders(s: &str) -> Option<Vec<i32>> {
    let mut list = s
        .split([',', ';'])
        .flat_map(|part| {
            // `1440 120` is two bare numbers, `1h 30m` is one length.
            let part = part.trim();
            if part.split_whitespace().all(|w| w.bytes().all(|b| b.is_ascii_digit())) {
                part.split_whitespace().map(str::to_string).collect::<Vec<_>>()
            } else {
                vec![part.to_string()]
            }
        })
        .map(|part| minutes_in(&part, REMINDER))
        .collect::<Option<Vec<i32>>>()?;
    let count = list.len();
    list.sort_unstable_by(|a, b| b.cmp(a));
    list.dedup();
    (list.len() == count && (1..=REMINDERS_AT_MOST).contains(&count)).then_some(list)
}

/// A time zone by its IANA name, such as `Europe/Moscow`.
pub fn time_zone(s: &str) -> Option<Tz> {
    s.trim().parse().ok()
}

/// Why typed hours were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursError {
    /// Not `HH:MM-HH:MM, …`.
    Format,
    /// An interval that closes before it opens.
    Order,
    /// Two intervals that overlap.
    Overlap,
}

/// A day's intervals: `09:00-13:00, 14:00-19:00`, or `-` for closed (no intervals). Sorted.
pub fn intervals(s: &str) -> Result<Vec<Hours>, HoursError> {
    if is_dash(s) {
        return Ok(Vec::new());
    }
    let mut list = s
        .split([',', ';'])
        .map(|part| {
            let (opens, closes) = part.trim().split_once(['-', '–', '—']).ok_or(HoursError::Format)?;
            let (opens, closes) = (
                parse_time(opens.trim()).map_err(|_| HoursError::Format)?,
                parse_time(closes.trim()).map_err(|_| HoursError::Format)?,
            );
            if opens >= closes {
                return Err(HoursError::Order);
            }
            Ok(Hours { opens, closes })
        })
        .collect::<Result<Vec<_>, _>>()?;
    list.sort_by_key(|h| h.opens);
    if list.windows(2).any(|pair| pair[1].opens < pair[0].closes) {
        return Err(HoursError::Overlap);
    }
    Ok(list)
}

/// What is wrong with a typed date or time, for a clear answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("not in the expected format")]
    Format,
    #[error("no such date or time")]
    Invalid,
    #[error("the end is not after the start")]
    Order,
}

/// `25.12` or `25.12.2026`. Without a year, the next 25 December from `today` on: admins plan ahead.
pub fn parse_date(text: &str, today: NaiveDate) -> Result<NaiveDate, InputError> {
    let parts: Vec<&str> = text.split('.').collect();
    let number = |s: &str| -> Result<u32, InputError> {
        if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InputError::Format);
        }
        s.parse().map_err(|_| InputError::Format)
    };
    match parts.as_slice() {
        [d, m] => {
            let (d, m) = (number(d)?, number(m)?);
            let this = NaiveDate::from_ymd_opt(today.year(), m, d);
            let next = NaiveDate::from_ymd_opt(today.year() + 1, m, d);
            match (this, next) {
                (Some(date), _) if date >= today => Ok(date),
                (_, Some(date)) => Ok(date),
                _ => Err(InputError::Invalid),
            }
        }
        [d, m, y] if y.len() == 4 => {
            let year = i32::try_from(number(y)?).map_err(|_| InputError::Format)?;
            NaiveDate::from_ymd_opt(year, number(m)?, number(d)?).ok_or(InputError::Invalid)
        }
        _ => Err(InputError::Format),
    }
}

/// `14:30` or `9:05`.
pub fn parse_time(text: &str) -> Result<NaiveTime, InputError> {
    let (h, m) = text.split_once(':').ok_or(InputError::Format)?;
    let digits = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
        return Err(InputError::Format);
    }
    let (h, m) = (h.parse().map_err(|_| InputError::Format)?, m.parse().map_err(|_| InputError::Format)?);
    NaiveTime::from_hms_opt(h, m, 0).ok_or(InputError::Invalid)
}

/// `25.12 14:30` or `25.12.2026 14:30`.
pub fn parse_date_time(text: &str, today: NaiveDate) -> Result<NaiveDateTime, InputError> {
    let mut words = text.split_whitespace();
    let (Some(date), Some(time), None) = (words.next(), words.next(), words.next()) else {
        return Err(InputError::Format);
    };
    Ok(parse_date(date, today)?.and_time(parse_time(time)?))
}

/// Why a date exception was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionError {
    /// Not `DD.MM[.YYYY]` followed by hours or `closed`.
    Format,
    /// The date has passed.
    Past,
    Hours(HoursError),
}

/// A date with its own hours: `31.12 closed`, `31.12 -`, `31.12.2030 10:00-15:00, 16:00-18:00`. A date
/// without a year is its next occurrence from `today`; an empty list closes the date.
pub fn exception(s: &str, today: NaiveDate) -> Result<(NaiveDate, Vec<Hours>), ExceptionError> {
    let s = s.trim();
    let (date, rest) = s.split_once(char::is_whitespace).ok_or(ExceptionError::Format)?;
    let day = date_after(date, today)?;
    let rest = rest.trim();
    let closed = ["closed", "выходной", "закрыто", "нерабочий"].contains(&rest.to_lowercase().as_str());
    let hours = if closed { Vec::new() } else { intervals(rest).map_err(ExceptionError::Hours)? };
    Ok((day, hours))
}

/// `DD.MM` (the next such date from `today`) or `DD.MM.YYYY` (not before `today`).
pub fn date_after(s: &str, today: NaiveDate) -> Result<NaiveDate, ExceptionError> {
    match parse_date(s.trim(), today) {
        Ok(date) if date < today => Err(ExceptionError::Past),
        Ok(date) => Ok(date),
        Err(_) => Err(ExceptionError::Format),
    }
}

/// Hours as an admin types them, so what is shown can be typed back: `09:00-13:00, 14:00-19:00`.
pub fn show_intervals(hours: &[Hours]) -> String {
    hours
        .iter()
        .map(|h| format!("{}-{}", h.opens.format("%H:%M"), h.closes.format("%H:%M")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn typed_dates_take_the_next_such_day_without_a_year() {
        let today = d(2026, 11, 24);
        assert_eq!(parse_date("25.12", today), Ok(d(2026, 12, 25)));
        assert_eq!(parse_date("24.11", today), Ok(d(2026, 11, 24)));
        assert_eq!(parse_date("1.3", today), Ok(d(2027, 3, 1)));
        assert_eq!(parse_date("25.12.2030", today), Ok(d(2030, 12, 25)));
        assert_eq!(parse_date("29.02", today), Err(InputError::Invalid));
        assert_eq!(parse_date("31.02", today), Err(InputError::Invalid));
        assert_eq!(parse_date("25/12", today), Err(InputError::Format));
        assert_eq!(parse_date("25.12.26", today), Err(InputError::Format));
        assert_eq!(parse_date("+1.12", today), Err(InputError::Format));
        assert_eq!(parse_date("", today), Err(InputError::Format));
    }

    #[test]
    fn typed_dates_and_times() {
        let today = d(2026, 11, 24);
        assert_eq!(parse_date_time("25.12 14:30", today), Ok(d(2026, 12, 25).and_time(t(14, 30))));
        assert_eq!(parse_date_time("25.12.2027 9:05", today), Ok(d(2027, 12, 25).and_time(t(9, 5))));
        assert_eq!(parse_date_time("25.12 25:00", today), Err(InputError::Invalid));
        assert_eq!(parse_date_time("25.12 14.30", today), Err(InputError::Format));
        assert_eq!(parse_date_time("25.12", today), Err(InputError::Format));
        assert_eq!(parse_date_time("25.12 14:30 x", today), Err(InputError::Format));
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn lengths_of_time_read_as_minutes() {
        assert_eq!(minutes("90"), Some(90));
        assert_eq!(minutes("1h 30m"), Some(90));
        assert_eq!(minutes("1ч30м"), Some(90));
        assert_eq!(minutes("2 ч"), Some(120));
        assert_eq!(minutes("1d"), Some(1440));
        assert_eq!(minutes("45 мин"), Some(45));
        for bad in ["", "abc", "1.5h", "-5", "10x", "h", "99999999999"] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
        assert_eq!(minutes_in("4", DURATION), None);
        assert_eq!(minutes_in("8h", DURATION), Some(480));
        assert_eq!(minutes_in("481", DURATION), None);
        assert_eq!(number_in("20", MAX_ACTIVE), Some(20));
        assert_eq!(number_in("21", MAX_ACTIVE), None);
        assert_eq!(number_in("1e3", HORIZON_DAYS), None);
    }

    #[test]
    fn prices_take_spaces_commas_and_two_decimals() {
        assert_eq!(price_minor("1500"), Some(150_000));
        assert_eq!(price_minor("1500.50"), Some(150_050));
        assert_eq!(price_minor("1 500,50"), Some(150_050));
        assert_eq!(price_minor("1\u{a0}500,5"), Some(150_050));
        assert_eq!(price_minor("0"), Some(0));
        for bad in ["", "-1", "12.345", "abc", "1,", ",5", "1.2.3", "999999999999999", "1500 ₽"] {
            assert_eq!(price_minor(bad), None, "{bad}");
        }
    }

    #[test]
    fn reminders_are_distinct_in_range_and_at_most_five() {
        assert_eq!(reminders("24h, 2h, 1h"), Some(vec![1440, 120, 60]));
        assert_eq!(reminders("60 1440"), Some(vec![1440, 60]));
        assert_eq!(reminders("1h 30m"), Some(vec![90]));
        for bad in ["", "2h, 2h", "1", "8d", "1h,2h,3h,4h,5h,6h", "soon"] {
            assert_eq!(reminders(bad), None, "{bad}");
        }
    }

    #[test]
    fn intervals_are_checked_for_format_order_and_overlap() {
        let day = intervals("14:00-19:00, 9:00-13:00").unwrap();
        assert_eq!(day, [Hours { opens: t(9, 0), closes: t(13, 0) }, Hours { opens: t(14, 0), closes: t(19, 0) }]);
        assert_eq!(show_intervals(&day), "09:00-13:00, 14:00-19:00");
        assert_eq!(intervals("-"), Ok(vec![]));
        assert_eq!(intervals("10:00-12:00, 12:00-13:00").map(|v| v.len()), Ok(2));
        assert_eq!(intervals("13:00-09:00"), Err(HoursError::Order));
        assert_eq!(intervals("09:00-13:00, 12:00-14:00"), Err(HoursError::Overlap));
        for bad in ["", "9-13", "25:00-26:00", "09:00", "09:00-13:0", "aa:bb-cc:dd", "09:00-24:00"] {
            assert_eq!(intervals(bad), Err(HoursError::Format), "{bad}");
        }
    }

    #[test]
    fn date_exceptions_name_a_coming_date_and_its_hours() {
        let today = day(2030, 6, 15);
        assert_eq!(exception("31.12 closed", today), Ok((day(2030, 12, 31), vec![])));
        assert_eq!(exception("31.12 -", today), Ok((day(2030, 12, 31), vec![])));
        assert_eq!(exception("1.01 выходной", today), Ok((day(2031, 1, 1), vec![])));
        assert_eq!(exception("15.06 10:00-15:00", today).map(|(d, h)| (d, h.len())), Ok((today, 1)));
        assert_eq!(exception("01.01.2030 -", today), Err(ExceptionError::Past));
        assert_eq!(exception("31.02 -", today), Err(ExceptionError::Format));
        assert_eq!(exception("31.12", today), Err(ExceptionError::Format));
        assert_eq!(exception("31.12 10:00-09:00", today), Err(ExceptionError::Hours(HoursError::Order)));
    }

    #[test]
    fn names_texts_and_zones() {
        assert_eq!(line("  Стрижка ", NAME_CHARS).as_deref(), Some("Стрижка"));
        assert_eq!(line("ab", NAME_CHARS), None);
        assert_eq!(line(&"x".repeat(101), NAME_CHARS), None);
        assert_eq!(optional("-", INFO_CHARS), Some(None));
        assert_eq!(optional("ул. Ленина, 1", INFO_CHARS), Some(Some("ул. Ленина, 1".to_string())));
        assert_eq!(optional(&"x".repeat(301), INFO_CHARS), None);
        assert_eq!(time_zone("Europe/Moscow"), Some(chrono_tz::Europe::Moscow));
        assert_eq!(time_zone("Mars/Olympus"), None);
    }
}
