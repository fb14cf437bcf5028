//! Inline keyboards built from data: the month calendar and the time grid. Pure functions, so the
//! layout rules (which days are pressable, where navigation stops) are tested without Telegram.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use chrono_tz::Tz;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::callback::Callback;

/// The words a calendar shows, in the tenant's language.
pub struct CalendarLabels {
    /// January first.
    pub months: [String; 12],
    /// Monday first.
    pub weekdays: [String; 7],
    pub prev: String,
    pub next: String,
    pub back: String,
}

pub use crate::telegram::runtime::callback::button;

/// A month grid, Monday first. Only `free` days (of the month shown) are pressable; navigation reaches
/// only months that overlap `first..=last` (today to the horizon).
pub struct Calendar<'a> {
    pub service: i64,
    pub moving: Option<i64>,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub free: &'a [NaiveDate],
    pub labels: &'a CalendarLabels,
}

impl Calendar<'_> {
    pub fn month(&self, year: i32, month: u32) -> InlineKeyboardMarkup {
        let Some(start) = NaiveDate::from_ymd_opt(year, month, 1) else {
            return self.month(self.first.year(), self.first.month());
        };
        let mut rows = Vec::new();
        let first_month = self.first.with_day(1).unwrap_or(self.first);
        let prev = start.checked_sub_months(Months::new(1)).filter(|m| *m >= first_month);
        let next = start.checked_add_months(Months::new(1)).filter(|m| *m <= self.last);
        let nav = |target: Option<NaiveDate>, label: &str| match target {
            Some(m) => button(
                label,
                Callback::Month { service: self.service, year: m.year(), month: m.month(), moving: self.moving },
            ),
            None => button(" ", Callback::Noop),
        };
        let title = format!("{} {year}", self.labels.months[start.month0() as usize]);
        rows.push(vec![nav(prev, &self.labels.prev), button(title, Callback::Noop), nav(next, &self.labels.next)]);
        rows.push(self.labels.weekdays.iter().map(|d| button(d.clone(), Callback::Noop)).collect());
        let mut week: Vec<InlineKeyboardButton> =
            (0..start.weekday().num_days_from_monday()).map(|_| button(" ", Callback::Noop)).collect();
        for day in start.iter_days().take_while(|d| d.month() == month) {
            let cell = if self.free.contains(&day) {
                button(day.day().to_string(), Callback::Day { service: self.service, date: day, moving: self.moving })
            } else {
                button("·", Callback::Noop)
            };
            week.push(cell);
            if week.len() == 7 {
                rows.push(std::mem::take(&mut week));
            }
        }
        if !week.is_empty() {
            week.resize_with(7, || button(" ", Callback::Noop));
            rows.push(week);
        }
        rows.push(vec![button(self.labels.back.clone(), Callback::Services)]);
        InlineKeyboardMarkup::new(rows)
    }
}

/// Free times of one day, four to a row, with a way back to the calendar.
pub fn times(
    service: i64,
    moving: Option<i64>,
    slots: &[DateTime<Utc>],
    tz: Tz,
    back: &str,
    month: (i32, u32),
) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = slots
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .map(|s| {
                    button(
                        s.with_timezone(&tz).format("%H:%M").to_string(),
                        Callback::Time { service, starts_at: *s, moving },
                    )
                })
                .collect()
        })
        .collect();
    rows.push(vec![button(back, Callback::Month { service, year: month.0, month: month.1, moving })]);
    InlineKeyboardMarkup::new(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> CalendarLabels {
        CalendarLabels {
            months: std::array::from_fn(|i| format!("M{}", i + 1)),
            weekdays: std::array::from_fn(|i| format!("W{i}")),
            prev: "<".into(),
            next: ">".into(),
            back: "back".into(),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn data(markup: &InlineKeyboardMarkup) -> Vec<Vec<String>> {
        markup
            .inline_keyboard
            .iter()
            .map(|row| {
                row.iter()
                    .map(|b| match &b.kind {
                        teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => d.clone(),
                        other => format!("{other:?}"),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn only_free_days_are_pressable_and_weeks_start_on_monday() {
        let labels = labels();
        let free = [day(2026, 12, 3), day(2026, 12, 31)];
        let calendar = Calendar {
            service: 7,
            moving: None,
            first: day(2026, 12, 1),
            last: day(2026, 12, 31),
            free: &free,
            labels: &labels,
        };
        let markup = calendar.month(2026, 12);
        let rows = data(&markup);
        // 1 December 2026 is a Tuesday: one blank before it.
        assert_eq!(rows[2][0], "_");
        let pressable: Vec<&String> = rows.iter().flatten().filter(|d| d.starts_with("d:")).collect();
        assert_eq!(pressable, ["d:7:20261203", "d:7:20261231"]);
        assert!(rows[2..rows.len() - 1].iter().all(|week| week.len() == 7));
        // No way to the past or past the horizon.
        assert_eq!((rows[0][0].as_str(), rows[0][2].as_str()), ("_", "_"));
    }

    #[test]
    fn navigation_reaches_the_months_of_the_horizon_only() {
        let labels = labels();
        let calendar = Calendar {
            service: 7,
            moving: Some(9),
            first: day(2026, 11, 20),
            last: day(2027, 1, 5),
            free: &[],
            labels: &labels,
        };
        assert_eq!(data(&calendar.month(2026, 11))[0][2], "m:7:202612:9");
        assert_eq!(data(&calendar.month(2026, 12))[0][0], "m:7:202611:9");
        assert_eq!(data(&calendar.month(2027, 1))[0][2], "_");
    }

    #[test]
    fn times_are_local_and_four_to_a_row() {
        let tz = chrono_tz::Europe::Moscow;
        let base = DateTime::from_timestamp(1_796_000_400, 0).unwrap();
        let slots: Vec<DateTime<Utc>> = (0..6).map(|i| base + chrono::TimeDelta::minutes(30 * i)).collect();
        let markup = times(7, None, &slots, tz, "back", (2026, 12));
        assert_eq!(markup.inline_keyboard.len(), 3);
        assert_eq!(markup.inline_keyboard[0].len(), 4);
        assert_eq!(markup.inline_keyboard[0][0].text, slots[0].with_timezone(&tz).format("%H:%M").to_string());
        assert_eq!(data(&markup)[2][0], "m:7:202612");
    }
}
