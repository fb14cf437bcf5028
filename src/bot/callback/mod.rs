//! The booking bot's one wire format for inline-button data, after the shared runtime's pattern:
//! Telegram gives a button 64 bytes and hands back whatever a client sends, so parsing is total (never
//! panics) and everything parsed is re-checked against the database and the rules by the handler that
//! receives it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

pub mod admin;

pub use admin::Admin;

pub use crate::telegram::runtime::callback::{CallbackError, MAX_LEN};
use crate::telegram::runtime::callback::{id, instant};

/// What a button asks for. `moving` names the booking being moved when the booking flow is reused
/// for a move (Move keeps the booking's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// A calendar cell that does nothing (a past or full day, a weekday header).
    Noop,
    /// The list of services.
    Services,
    /// A service was chosen: show the month with free days.
    Service { service: i64 },
    /// Calendar navigation to a month.
    Month { service: i64, year: i32, month: u32, moving: Option<i64> },
    /// A day was chosen: show its free times.
    Day { service: i64, date: NaiveDate, moving: Option<i64> },
    /// A time was chosen: show the confirmation card.
    Time { service: i64, starts_at: DateTime<Utc>, moving: Option<i64> },
    /// The card was confirmed: book (or move).
    Confirm { service: i64, starts_at: DateTime<Utc>, moving: Option<i64> },
    /// The customer's upcoming bookings.
    MyBookings,
    /// Asks to confirm cancelling a booking.
    Cancel { booking: i64 },
    /// Cancels it.
    CancelConfirm { booking: i64 },
    /// Starts moving a booking: its service's calendar in move mode.
    Move { booking: i64 },
    /// A rating for a past visit.
    Rate { booking: i64, score: u8 },
    /// The admin panel's buttons, behind its permission check.
    Admin(Admin),
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let moving = |m: &Option<i64>| m.map(|b| format!(":{b}")).unwrap_or_default();
        match self {
            Callback::Noop => write!(f, "_"),
            Callback::Services => write!(f, "sv"),
            Callback::Service { service } => write!(f, "s:{service}"),
            Callback::Month { service, year, month, moving: m } => {
                write!(f, "m:{service}:{year:04}{month:02}{}", moving(m))
            }
            Callback::Day { service, date, moving: m } => {
                write!(f, "d:{service}:{}{}", date.format("%Y%m%d"), moving(m))
            }
            Callback::Time { service, starts_at, moving: m } => {
                write!(f, "t:{service}:{}{}", starts_at.timestamp(), moving(m))
            }
            Callback::Confirm { service, starts_at, moving: m } => {
                write!(f, "c:{service}:{}{}", starts_at.timestamp(), moving(m))
            }
            Callback::MyBookings => write!(f, "my"),
            Callback::Cancel { booking } => write!(f, "x:{booking}"),
            Callback::CancelConfirm { booking } => write!(f, "X:{booking}"),
            Callback::Move { booking } => write!(f, "v:{booking}"),
            Callback::Rate { booking, score } => write!(f, "r:{booking}:{score}"),
            Callback::Admin(admin) => admin.fmt(f),
        }
    }
}

fn moving(rest: &[&str]) -> Result<Option<i64>, CallbackError> {
    match rest {
        [] => Ok(None),
        [booking] => id(booking).map(Some),
        _ => Err(CallbackError),
    }
}

impl FromStr for Callback {
    type Err = CallbackError;

    /// Reads data of any length: a button's data comes through `runtime::callback::parse`, which
    /// refuses what is longer than Telegram allows.
    fn from_str(s: &str) -> Result<Self, CallbackError> {
        let parts: Vec<&str> = s.split(':').collect();
        Ok(match parts.as_slice() {
            ["_"] => Callback::Noop,
            ["sv"] => Callback::Services,
            ["my"] => Callback::MyBookings,
            ["s", service] => Callback::Service { service: id(service)? },
            ["m", service, ym, rest @ ..] if ym.len() == 6 => {
                let year = ym[..4].parse().map_err(|_| CallbackError)?;
                let month = ym[4..].parse().map_err(|_| CallbackError)?;
                NaiveDate::from_ymd_opt(year, month, 1).ok_or(CallbackError)?;
                Callback::Month { service: id(service)?, year, month, moving: moving(rest)? }
            }
            ["d", service, date, rest @ ..] => Callback::Day {
                service: id(service)?,
                date: NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| CallbackError)?,
                moving: moving(rest)?,
            },
            ["t", service, at, rest @ ..] => {
                Callback::Time { service: id(service)?, starts_at: instant(at)?, moving: moving(rest)? }
            }
            ["c", service, at, rest @ ..] => {
                Callback::Confirm { service: id(service)?, starts_at: instant(at)?, moving: moving(rest)? }
            }
            ["x", booking] => Callback::Cancel { booking: id(booking)? },
            ["X", booking] => Callback::CancelConfirm { booking: id(booking)? },
            ["v", booking] => Callback::Move { booking: id(booking)? },
            ["a", rest @ ..] => Callback::Admin(admin::parse(rest)?),
            ["r", booking, score] => {
                let score = score.parse::<u8>().ok().filter(|s| (1..=5).contains(s)).ok_or(CallbackError)?;
                Callback::Rate { booking: id(booking)?, score }
            }
            _ => return Err(CallbackError),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::texts::Text;
    use crate::telegram::runtime::callback::parse;

    fn all_with(id: i64) -> Vec<Callback> {
        let at = DateTime::from_timestamp(4_102_444_800, 0).unwrap();
        let date = NaiveDate::from_ymd_opt(2099, 12, 31).unwrap();
        let mut all = vec![Callback::Noop, Callback::Services, Callback::MyBookings, Callback::Service { service: id }];
        for moving in [None, Some(id)] {
            all.push(Callback::Month { service: id, year: 2099, month: 12, moving });
            all.push(Callback::Day { service: id, date, moving });
            all.push(Callback::Time { service: id, starts_at: at, moving });
            all.push(Callback::Confirm { service: id, starts_at: at, moving });
        }
        all.extend([
            Callback::Cancel { booking: id },
            Callback::CancelConfirm { booking: id },
            Callback::Move { booking: id },
            Callback::Rate { booking: id, score: 5 },
        ]);
        all.extend(Admin::samples(id).into_iter().map(Callback::Admin));
        all
    }

    #[test]
    fn every_variant_round_trips() {
        for callback in all_with(42) {
            assert_eq!(callback.to_string().parse::<Callback>(), Ok(callback), "{callback}");
        }
    }

    #[test]
    fn the_longest_data_fits_telegrams_limit() {
        for callback in all_with(i64::MAX) {
            let data = callback.to_string();
            assert!(data.len() <= MAX_LEN, "{data} is {} bytes", data.len());
            assert_eq!(data.parse::<Callback>(), Ok(callback));
        }
    }

    #[test]
    fn every_editable_text_fits_a_button() {
        for text in Text::ALL.iter().copied().filter(|t| t.editable()) {
            for action in [admin::TextAction::Card { text }, admin::TextAction::Save { text }] {
                let data = Callback::Admin(Admin::Texts(action)).to_string();
                assert!(data.len() <= MAX_LEN, "{data}");
                assert_eq!(data.parse::<Callback>(), Ok(Callback::Admin(Admin::Texts(action))));
            }
        }
    }

    #[test]
    fn forged_data_is_rejected_without_panicking() {
        let long = "s:".to_string() + &"1".repeat(100);
        for forged in [
            "",
            ":",
            "s",
            "s:",
            "s:-1",
            "s:0",
            "s:+5",
            "s:1:2",
            "s:99999999999999999999",
            "d:1:20261301",
            "d:1:2026-12-01",
            "m:1:202613",
            "m:1:2026",
            "t:1:-5",
            "c:1:abc",
            "r:1:6",
            "r:1:0",
            "x:",
            "X:1:2",
            "v:1e3",
            "my:1",
            "\u{0}",
            "é:1",
            "a:",
            "a:db",
            "a:db:y",
            "a:sc:k:1:z",
            "a:sv:e:1:q",
            "a:st:h:8",
            "a:st:h:0",
            "a:tx:c:no.such.key",
            "a:tx:c:admin.menu.title",
            "a:ad:p:1:root",
            "a:au:p:-1",
            "a:au:p:999999",
            &long,
        ] {
            assert_eq!(parse::<Callback>(forged), Err(CallbackError), "{forged:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap fuzz: every short string over the alphabet the format uses.
        let alphabet = ['s', 'd', 'm', 't', 'c', 'x', 'X', 'v', 'r', ':', '0', '1', '9', '_'];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            inputs = inputs.iter().flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}"))).collect();
            for input in &inputs {
                let _ = input.parse::<Callback>();
            }
        }
    }
}
