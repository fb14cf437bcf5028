//! When a business can be booked: its hours, the slot grid and the booking rules, as plain functions of
//! the schedule, the time taken and `now`. All local arithmetic happens in the tenant's time zone and is
//! DST-correct: a local time that does not exist is skipped, an ambiguous one is offered once.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// One opening interval of a day, in local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub opens: NaiveTime,
    pub closes: NaiveTime,
}

/// A period that is not free: an active booking or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A tenant's calendar rules.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub tz: Tz,
    /// Indexed by `Weekday::num_days_from_monday()`.
    pub weekly: [Vec<Hours>; 7],
    /// Dates with their own hours; an empty list closes the date.
    pub dates: BTreeMap<NaiveDate, Vec<Hours>>,
    pub slot_step: TimeDelta,
    /// How soon from now a slot may start.
    pub min_lead: TimeDelta,
    /// How many days after today customers may book (today counts as day 0).
    pub horizon_days: u32,
    /// Until how long before the start a customer may cancel or move.
    pub cutoff: TimeDelta,
}

/// Why a start time cannot be booked, for a polite answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("the time has passed or is too soon")]
    TooSoon,
    #[error("the day is beyond the booking horizon")]
    BeyondHorizon,
    #[error("the business is closed then, or the time is not on the slot grid")]
    NotOffered,
}

impl Schedule {
    /// This schedule with a service's own slot step, where it has one: a long service may start on a
    /// coarser grid than the business's default. Both the offered times and the booking transaction's
    /// re-check go through here, so they always agree.
    pub fn with_step(mut self, step: Option<TimeDelta>) -> Schedule {
        if let Some(step) = step {
            self.slot_step = step;
        }
        self
    }

    /// The business's local date at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }

    /// The last date customers may book.
    pub fn last_day(&self, now: DateTime<Utc>) -> NaiveDate {
        self.today(now).checked_add_days(Days::new(u64::from(self.horizon_days))).unwrap_or(NaiveDate::MAX)
    }

    /// The opening intervals of a local date: its own hours if it has any, else the weekday's.
    pub fn hours_on(&self, day: NaiveDate) -> &[Hours] {
        match self.dates.get(&day) {
            Some(hours) => hours,
            None => &self.weekly[day.weekday().num_days_from_monday() as usize],
        }
    }

    /// Start instants on `day` where a service of `duration` fits entirely inside opening hours, clear
    /// of every busy period, no sooner than the minimum lead time and within the horizon.
    pub fn free_slots(
        &self,
        day: NaiveDate,
        duration: TimeDelta,
        busy: &[Busy],
        now: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        if day < self.today(now) || day > self.last_day(now) || self.slot_step <= TimeDelta::zero() {
            return Vec::new();
        }
        let earliest = now + self.min_lead;
        let mut slots: Vec<DateTime<Utc>> = Vec::new();
        for hours in self.hours_on(day) {
            let (Some(open), Some(close)) =
                (self.earliest(day.and_time(hours.opens)), self.latest(day.and_time(hours.closes)))
            else {
                continue;
            };
            // `busy` may cover a month: each slot is checked only against this interval's share of it.
            let taken: Vec<&Busy> = busy.iter().filter(|b| b.starts_at < close && b.ends_at > open).collect();
            let mut local = day.and_time(hours.opens);
            while local.time() < hours.closes && local.date() == day {
                // A wall-clock time inside a spring-forward gap does not exist: no slot there.
                if let Some(start) = self.earliest(local) {
                    let end = start + duration;
                    let clear = taken.iter().all(|b| end <= b.starts_at || start >= b.ends_at);
                    if start >= open && end <= close && start >= earliest && clear {
                        slots.push(start);
                    }
                }
                local += self.slot_step;
            }
        }
        // Each start once, even where a day's intervals overlap.
        slots.sort();
        slots.dedup();
        slots
    }

    /// The local dates of `days` (clamped to today..=horizon) that have at least one free slot.
    pub fn free_days(
        &self,
        days: RangeInclusive<NaiveDate>,
        duration: TimeDelta,
        busy: &[Busy],
        now: DateTime<Utc>,
    ) -> Vec<NaiveDate> {
        let first = (*days.start()).max(self.today(now));
        let last = (*days.end()).min(self.last_day(now));
        first
            .iter_days()
            .take_while(|day| *day <= last)
            .filter(|day| !self.free_slots(*day, duration, busy, now).is_empty())
            .collect()
    }

    /// An instant range that holds every slot of the local dates `days` whatever the zone's offset
    /// (±1 day covers every offset there is): the busy periods to load for them.
    pub fn window(days: &RangeInclusive<NaiveDate>) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = days.start().pred_opt().unwrap_or(NaiveDate::MIN);
        let to = days.end().checked_add_days(Days::new(2)).unwrap_or(NaiveDate::MAX);
        (from.and_time(NaiveTime::MIN).and_utc(), to.and_time(NaiveTime::MIN).and_utc())
    }

    /// Whether `start` is a slot this schedule offers for `duration`, ignoring what is taken: the
    /// database's exclusion constraint judges overlaps.
    pub fn check_start(&self, start: DateTime<Utc>, duration: TimeDelta, now: DateTime<Utc>) -> Result<(), SlotError> {
        let day = start.with_timezone(&self.tz).date_naive();
        if start < now + self.min_lead {
            return Err(SlotError::TooSoon);
        }
        if day > self.last_day(now) {
            return Err(SlotError::BeyondHorizon);
        }
        if self.free_slots(day, duration, &[], now).contains(&start) { Ok(()) } else { Err(SlotError::NotOffered) }
    }

    /// Whether a booking starting at `start` may still be cancelled or moved at `now`.
    pub fn can_change(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now + self.cutoff <= start
    }

    /// The instant of a local time; of two (a repeated hour in autumn), the first.
    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }

    /// The instant of a local time; of two, the second. A closing time inside a spring-forward gap closes
    /// at the gap's end.
    fn latest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => Some(t.with_timezone(&Utc)),
            LocalResult::None => self.earliest(local + TimeDelta::hours(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn schedule(tz: Tz, day_hours: Vec<Hours>) -> Schedule {
        Schedule {
            tz,
            weekly: std::array::from_fn(|_| day_hours.clone()),
            dates: BTreeMap::new(),
            slot_step: TimeDelta::minutes(30),
            min_lead: TimeDelta::zero(),
            horizon_days: 30,
            cutoff: TimeDelta::hours(24),
        }
    }

    fn local(tz: Tz, date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
        tz.from_local_datetime(&date.and_time(t(h, m))).earliest().unwrap().with_timezone(&Utc)
    }

    fn times(tz: Tz, slots: &[DateTime<Utc>]) -> Vec<String> {
        slots.iter().map(|s| s.with_timezone(&tz).format("%H:%M %Z").to_string()).collect()
    }

    const MOSCOW: Tz = chrono_tz::Europe::Moscow;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_day_with_a_break_offers_slots_that_fit_before_each_close() {
        let s = schedule(
            MOSCOW,
            vec![Hours { opens: t(10, 0), closes: t(12, 0) }, Hours { opens: t(13, 0), closes: t(14, 0) }],
        );
        let d = day(2026, 12, 1);
        let now = local(MOSCOW, day(2026, 11, 30), 9, 0);
        let slots = s.free_slots(d, TimeDelta::minutes(60), &[], now);
        assert_eq!(times(MOSCOW, &slots), ["10:00 MSK", "10:30 MSK", "11:00 MSK", "13:00 MSK"]);
    }

    #[test]
    fn busy_periods_remove_every_overlapping_slot() {
        let s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(13, 0) }]);
        let d = day(2026, 12, 1);
        let now = local(MOSCOW, day(2026, 11, 30), 9, 0);
        let busy = [Busy { starts_at: local(MOSCOW, d, 11, 0), ends_at: local(MOSCOW, d, 11, 30) }];
        let slots = s.free_slots(d, TimeDelta::minutes(60), &busy, now);
        assert_eq!(times(MOSCOW, &slots), ["10:00 MSK", "11:30 MSK", "12:00 MSK"]);
    }

    #[test]
    fn lead_time_and_the_past_are_not_offered() {
        let mut s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(14, 0) }]);
        s.min_lead = TimeDelta::minutes(90);
        let d = day(2026, 12, 1);
        let now = local(MOSCOW, d, 10, 45);
        assert_eq!(
            times(MOSCOW, &s.free_slots(d, TimeDelta::minutes(30), &[], now)),
            ["12:30 MSK", "13:00 MSK", "13:30 MSK"]
        );
        assert!(s.free_slots(day(2026, 11, 30), TimeDelta::minutes(30), &[], now).is_empty());
        assert_eq!(s.check_start(local(MOSCOW, d, 12, 0), TimeDelta::minutes(30), now), Err(SlotError::TooSoon));
    }

    #[test]
    fn the_horizon_ends_the_calendar() {
        let mut s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(11, 0) }]);
        s.horizon_days = 2;
        let now = local(MOSCOW, day(2026, 12, 1), 9, 0);
        assert_eq!(
            s.free_days(day(2026, 12, 1)..=day(2026, 12, 31), TimeDelta::minutes(30), &[], now),
            [day(2026, 12, 1), day(2026, 12, 2), day(2026, 12, 3)]
        );
        let beyond = local(MOSCOW, day(2026, 12, 4), 10, 0);
        assert_eq!(s.check_start(beyond, TimeDelta::minutes(30), now), Err(SlotError::BeyondHorizon));
    }

    #[test]
    fn dates_override_the_weekly_hours_and_can_close_a_day() {
        let mut s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(12, 0) }]);
        s.dates.insert(day(2026, 12, 2), vec![]);
        s.dates.insert(day(2026, 12, 3), vec![Hours { opens: t(15, 0), closes: t(16, 0) }]);
        let now = local(MOSCOW, day(2026, 12, 1), 9, 0);
        let duration = TimeDelta::minutes(60);
        assert!(s.free_slots(day(2026, 12, 2), duration, &[], now).is_empty());
        assert_eq!(times(MOSCOW, &s.free_slots(day(2026, 12, 3), duration, &[], now)), ["15:00 MSK"]);
        assert!(!s.free_days(day(2026, 12, 1)..=day(2026, 12, 3), duration, &[], now).contains(&day(2026, 12, 2)));
    }

    #[test]
    fn spring_forward_skips_the_missing_hour_and_counts_real_time() {
        // Berlin, 2026-03-29: clocks jump from 02:00 to 03:00.
        let s = schedule(BERLIN, vec![Hours { opens: t(1, 0), closes: t(5, 0) }]);
        let d = day(2026, 3, 29);
        let now = local(BERLIN, day(2026, 3, 28), 9, 0);
        let slots = s.free_slots(d, TimeDelta::minutes(60), &[], now);
        assert_eq!(times(BERLIN, &slots), ["01:00 CET", "01:30 CET", "03:00 CEST", "03:30 CEST", "04:00 CEST"]);
        // 01:30 CET plus one real hour is 03:30 CEST: the hour that does not exist is not bookable time.
        assert_eq!(slots[1] + TimeDelta::minutes(60), slots[3]);
    }

    #[test]
    fn fall_back_offers_the_repeated_hour_once() {
        // Berlin, 2026-10-25: clocks go back from 03:00 to 02:00, so 02:00-02:59 happens twice.
        let s = schedule(BERLIN, vec![Hours { opens: t(1, 0), closes: t(4, 0) }]);
        let d = day(2026, 10, 25);
        let now = local(BERLIN, day(2026, 10, 24), 9, 0);
        let slots = s.free_slots(d, TimeDelta::minutes(30), &[], now);
        assert_eq!(
            times(BERLIN, &slots),
            ["01:00 CEST", "01:30 CEST", "02:00 CEST", "02:30 CEST", "03:00 CET", "03:30 CET"]
        );
        let unique: std::collections::BTreeSet<_> = slots.iter().collect();
        assert_eq!(unique.len(), slots.len());
    }

    #[test]
    fn a_services_own_step_replaces_the_business_grid() {
        let tz = chrono_tz::Europe::Moscow;
        let d = day(2030, 3, 5);
        let now = local(tz, day(2030, 3, 1), 9, 0);
        let s = schedule(tz, vec![Hours { opens: t(10, 0), closes: t(12, 0) }]);
        let hour = TimeDelta::hours(1);
        let default = times(tz, &s.clone().with_step(None).free_slots(d, hour, &[], now));
        assert_eq!(default, ["10:00 MSK", "10:30 MSK", "11:00 MSK"]);
        let own = s.with_step(Some(TimeDelta::minutes(45)));
        assert_eq!(times(tz, &own.free_slots(d, hour, &[], now)), ["10:00 MSK", "10:45 MSK"]);
        assert!(own.check_start(local(tz, d, 10, 45), hour, now).is_ok());
        assert_eq!(own.check_start(local(tz, d, 10, 30), hour, now), Err(SlotError::NotOffered));
    }

    #[test]
    fn only_grid_times_inside_hours_are_offered() {
        let s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(12, 0) }]);
        let d = day(2026, 12, 1);
        let now = local(MOSCOW, day(2026, 11, 30), 9, 0);
        let duration = TimeDelta::minutes(30);
        assert_eq!(s.check_start(local(MOSCOW, d, 10, 30), duration, now), Ok(()));
        assert_eq!(s.check_start(local(MOSCOW, d, 10, 10), duration, now), Err(SlotError::NotOffered));
        assert_eq!(s.check_start(local(MOSCOW, d, 11, 45), duration, now), Err(SlotError::NotOffered));
        assert_eq!(s.check_start(local(MOSCOW, d, 12, 0), duration, now), Err(SlotError::NotOffered));
    }

    #[test]
    fn changes_are_allowed_until_the_cutoff() {
        let s = schedule(MOSCOW, vec![]);
        let start = local(MOSCOW, day(2026, 12, 2), 10, 0);
        assert!(s.can_change(start, start - TimeDelta::hours(24)));
        assert!(!s.can_change(start, start - TimeDelta::hours(23)));
    }

    #[test]
    fn the_window_holds_every_slot_of_its_days_in_the_farthest_zones() {
        let days = day(2026, 12, 1)..=day(2026, 12, 31);
        let (from, to) = Schedule::window(&days);
        for tz in [chrono_tz::Pacific::Kiritimati, chrono_tz::Pacific::Pago_Pago] {
            let mut s = schedule(tz, vec![Hours { opens: t(0, 0), closes: t(23, 59) }]);
            s.horizon_days = 60;
            let now = local(tz, day(2026, 11, 30), 9, 0);
            for d in [*days.start(), *days.end()] {
                let slots = s.free_slots(d, TimeDelta::minutes(30), &[], now);
                assert!(slots.first().is_some_and(|f| *f >= from) && slots.last().is_some_and(|l| *l < to), "{tz} {d}");
            }
        }
    }

    #[test]
    fn free_days_look_only_at_the_days_asked_for() {
        let s = schedule(MOSCOW, vec![Hours { opens: t(10, 0), closes: t(11, 0) }]);
        let now = local(MOSCOW, day(2026, 12, 10), 9, 0);
        let busy = [Busy {
            starts_at: local(MOSCOW, day(2026, 12, 12), 10, 0),
            ends_at: local(MOSCOW, day(2026, 12, 12), 11, 0),
        }];
        // The past part of the range is cut, the fully booked day is left out.
        assert_eq!(
            s.free_days(day(2026, 12, 1)..=day(2026, 12, 13), TimeDelta::minutes(60), &busy, now),
            [day(2026, 12, 10), day(2026, 12, 11), day(2026, 12, 13)]
        );
    }
}
