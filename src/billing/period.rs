//! Period arithmetic: how a credit extends a paid period, how a refund shortens it, and the
//! operator's spellings of days, spans and dates. Plain functions of their inputs and `now`.

use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};

/// The most days one payment may credit (the schema's bound: about ten years).
pub const MAX_DAYS: i32 = 3660;

/// `now` as PostgreSQL keeps it (microseconds), so that what a command returns is what it stored.
pub fn stored(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(6)
}

/// `days` whole days, as an exact span (a day is 86 400 s: periods are counted in UTC instants, so a
/// 30-day payment gives 30 × 24 h whatever the tenant's time zone does with its clocks).
pub fn days(days: i32) -> TimeDelta {
    TimeDelta::days(i64::from(days))
}

/// The end of a period after crediting `n` days: counted from the current end while it is still ahead,
/// else from `now` (a credit during grace or after a suspension buys days from now, not the past).
/// `None` (complimentary, or no period yet) counts from `now`.
pub fn extend(paid_until: Option<DateTime<Utc>>, now: DateTime<Utc>, n: i32) -> DateTime<Utc> {
    let start = paid_until.filter(|end| *end > now).unwrap_or(now);
    start + days(n)
}

/// The end of a period after revoking `n` days of it. It may fall into the past: which state that
/// means is the clock's decision, not the refund's.
pub fn revoke(paid_until: DateTime<Utc>, n: i32) -> DateTime<Utc> {
    paid_until - days(n)
}

/// A number of days one payment may credit: 1 to [`MAX_DAYS`].
pub fn parse_days(text: &str) -> Result<i32, String> {
    match text.trim().parse::<i64>() {
        Ok(n) => i32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_DAYS).contains(n))
            .ok_or_else(|| format!("{n} days: a payment credits 1 to {MAX_DAYS} days")),
        Err(_) => Err(format!("`{text}` is not a number of days (1 to {MAX_DAYS})")),
    }
}

/// A span ahead such as `7d`, `36h` or `2w` (`--expiring`): positive, at most ten years.
pub fn parse_span(text: &str) -> Result<TimeDelta, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a span of time: write it as 7d, 36h or 2w"))?;
    TimeDelta::from_std(duration)
        .ok()
        .filter(|span| *span > TimeDelta::zero() && *span <= days(MAX_DAYS))
        .ok_or_else(|| format!("`{text}`: give a span from 1s to {MAX_DAYS} days"))
}

/// An instant from a date (`2026-12-01`, midnight UTC) or an RFC 3339 time (`--since`).
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(midnight.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is neither a date (2026-12-01) nor an RFC 3339 time (2026-12-01T10:00:00Z)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_plan_length_gives_exactly_its_days_on_top_of_a_running_period() {
        let now = at("2026-03-01T12:00:00Z");
        let end = at("2026-03-10T08:30:00Z");
        for n in [30, 90, 180, 365] {
            assert_eq!(extend(Some(end), now, n) - end, TimeDelta::days(n.into()), "{n} days");
        }
    }

    #[test]
    fn a_period_that_has_ended_or_never_began_is_extended_from_now() {
        let now = at("2026-03-01T12:00:00Z");
        assert_eq!(extend(Some(at("2026-02-20T00:00:00Z")), now, 30), at("2026-03-31T12:00:00Z"));
        assert_eq!(extend(None, now, 30), at("2026-03-31T12:00:00Z"));
        // Ending exactly now is ended.
        assert_eq!(extend(Some(now), now, 1), at("2026-03-02T12:00:00Z"));
    }

    #[test]
    fn days_are_exact_spans_across_a_daylight_saving_change() {
        // Europe's clocks moved on 2026-03-29; a UTC instant plus 30 days is still 720 hours.
        let now = at("2026-03-15T00:00:00Z");
        assert_eq!(extend(None, now, 30) - now, TimeDelta::hours(720));
    }

    #[test]
    fn a_revocation_takes_back_exactly_what_a_credit_gave() {
        let now = at("2026-03-01T12:00:00Z");
        let end = at("2026-04-01T00:00:00Z");
        assert_eq!(revoke(extend(Some(end), now, 90), 90), end);
        assert_eq!(revoke(at("2026-03-05T00:00:00Z"), 30), at("2026-02-03T00:00:00Z"));
    }

    #[test]
    fn days_outside_one_to_ten_years_are_refused() {
        assert_eq!(parse_days("30"), Ok(30));
        assert_eq!(parse_days(" 3660 "), Ok(3660));
        for bad in ["0", "-5", "3661", "thirty", "", "1.5"] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_are_positive_human_durations() {
        assert_eq!(parse_span("7d"), Ok(TimeDelta::days(7)));
        assert_eq!(parse_span("36h"), Ok(TimeDelta::hours(36)));
        assert_eq!(parse_span("2w"), Ok(TimeDelta::days(14)));
        for bad in ["0", "7", "soon", "-7d", "20000d"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_are_dates_at_utc_midnight_or_rfc3339_times() {
        assert_eq!(parse_instant("2026-12-01"), Ok(at("2026-12-01T00:00:00Z")));
        assert_eq!(parse_instant("2026-12-01T10:00:00+03:00"), Ok(at("2026-12-01T07:00:00Z")));
        for bad in ["2026-13-01", "yesterday", "01.12.2026", ""] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }
}
