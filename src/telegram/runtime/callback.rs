//! The typed callback-data pattern every bot follows: one enum per bot of what its buttons ask for,
//! written by `Display` and read back by `FromStr` in one place, within Telegram's 64 bytes. Telegram
//! hands back whatever a client sends, so reading is total (never panics) and a handler re-checks all
//! it reads against the database and the rules; the field readers here accept only what the writers
//! write.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use teloxide::types::InlineKeyboardButton;

/// Telegram's limit on `callback_data`.
pub const MAX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized button data")]
pub struct CallbackError;

/// A bot's button data.
pub trait CallbackData: fmt::Display + FromStr<Err = CallbackError> {}

impl<C: fmt::Display + FromStr<Err = CallbackError>> CallbackData for C {}

/// A bot's own test of its callbacks: each of `all` (built with its largest values) fits Telegram's
/// limit and reads back as itself, and each of `forged` is refused, unread, without a panic.
#[cfg(test)]
pub(crate) fn check<C>(all: impl IntoIterator<Item = C>, forged: &[&str])
where
    C: CallbackData + PartialEq + fmt::Debug,
{
    for callback in all {
        let data = callback.to_string();
        assert!(data.len() <= MAX_LEN, "{data} is {} bytes", data.len());
        assert_eq!(parse::<C>(&data), Ok(callback), "{data}");
    }
    for data in forged {
        assert_eq!(parse::<C>(data), Err(CallbackError), "{data:?}");
    }
}

/// Reads data a button came back with; anything longer than Telegram allows is refused unread.
pub fn parse<C: CallbackData>(data: &str) -> Result<C, CallbackError> {
    if data.len() > MAX_LEN {
        return Err(CallbackError);
    }
    data.parse()
}

/// An inline button carrying typed callback data.
pub fn button<C: CallbackData>(label: impl Into<String>, data: C) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, data.to_string())
}

/// A database id: only plain positive decimals — no signs, no leading-zero games, nothing i64 cannot hold.
pub fn id(s: &str) -> Result<i64, CallbackError> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CallbackError);
    }
    s.parse().ok().filter(|v| *v > 0).ok_or(CallbackError)
}

/// An instant written as Unix seconds.
pub fn instant(s: &str) -> Result<DateTime<Utc>, CallbackError> {
    DateTime::from_timestamp(id(s)?, 0).ok_or(CallbackError)
}

/// A small unsigned number (a page, a score, a count of days): at most five digits.
pub fn small<T: FromStr>(s: &str) -> Result<T, CallbackError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CallbackError);
    }
    s.parse().map_err(|_| CallbackError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_readers_take_only_what_the_writers_write() {
        assert_eq!(id("42"), Ok(42));
        for bad in ["", "0", "-1", "+1", "1e3", "99999999999999999999", " 1"] {
            assert_eq!(id(bad), Err(CallbackError), "{bad:?}");
        }
        assert_eq!(small::<u32>("12"), Ok(12));
        assert_eq!(small::<u8>("300"), Err(CallbackError));
        assert_eq!(small::<u32>("123456"), Err(CallbackError));
        assert_eq!(instant("1900000000").map(|t| t.timestamp()), Ok(1_900_000_000));
    }

    #[test]
    fn data_longer_than_telegram_allows_is_refused_unread() {
        #[derive(Debug, PartialEq)]
        struct Any;
        impl fmt::Display for Any {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any")
            }
        }
        impl FromStr for Any {
            type Err = CallbackError;
            fn from_str(_: &str) -> Result<Self, CallbackError> {
                Ok(Any)
            }
        }
        assert_eq!(parse::<Any>(&"x".repeat(MAX_LEN)), Ok(Any));
        assert_eq!(parse::<Any>(&"x".repeat(MAX_LEN + 1)), Err(CallbackError));
    }
}
