//! An amount of money as the operator writes it (`299RUB`, `799.50RUB`, `150XTR`) and as it is kept:
//! an integer count of the currency's minor unit.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The currencies botctl takes payments in. A closed list, because each needs its minor unit known:
/// a price typed in the wrong scale is a 100-fold mistake (the original's Stars bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Currency {
    /// Russian rubles, kept in kopecks.
    #[serde(rename = "RUB")]
    Rub,
    /// Telegram Stars: whole Stars, no fraction (Bot API `XTR`).
    #[serde(rename = "XTR")]
    Xtr,
}

impl Currency {
    pub const ALL: [Currency; 2] = [Currency::Rub, Currency::Xtr];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Rub => "RUB",
            Currency::Xtr => "XTR",
        }
    }

    /// Digits after the decimal point: the minor unit is 10^-decimals of the major one.
    pub fn decimals(self) -> u32 {
        match self {
            Currency::Rub => 2,
            Currency::Xtr => 0,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        Currency::ALL.into_iter().find(|c| c.code() == upper).ok_or_else(|| MoneyError::UnknownCurrency(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` has no currency: write it as 299RUB, 799.50RUB or 150XTR")]
    NoCurrency(String),
    #[error("unknown currency `{0}` (botctl takes RUB and XTR)")]
    UnknownCurrency(String),
    #[error("`{0}` is not an amount: write it as 299RUB, 799.50RUB or 150XTR")]
    NotAnAmount(String),
    #[error("`{text}` has more decimals than {currency} has (at most {decimals})")]
    TooPrecise { text: String, currency: Currency, decimals: u32 },
    #[error("`{0}` is too large an amount")]
    TooLarge(String),
}

/// A non-negative amount in a currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Money {
    /// Kopecks for RUB, Stars for XTR.
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = self.currency.decimals();
        if decimals == 0 {
            return write!(f, "{}{}", self.minor, self.currency);
        }
        let scale = 10_i64.pow(decimals);
        let (major, minor) = (self.minor / scale, self.minor % scale);
        if minor == 0 {
            write!(f, "{major}{}", self.currency)
        } else {
            write!(f, "{major}.{minor:0width$}{}", self.currency, width = decimals as usize)
        }
    }
}

/// Hand-written: the accepted form is this small (digits, an optional fraction, a code), and a decimal
/// crate would still leave the minor-unit scaling and its errors to us.
impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let s = text.trim();
        let split =
            s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(|| MoneyError::NoCurrency(text.to_string()))?;
        let (number, code) = (s[..split].trim(), s[split..].trim());
        let currency: Currency = code.parse()?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || (number.contains('.') && fraction.is_empty()) {
            return Err(MoneyError::NotAnAmount(text.to_string()));
        }
        let decimals = currency.decimals();
        if fraction.len() > decimals as usize {
            return Err(MoneyError::TooPrecise { text: text.to_string(), currency, decimals });
        }
        let too_large = || MoneyError::TooLarge(text.to_string());
        let major: i64 = whole.parse().map_err(|_| too_large())?;
        let padded = format!("{fraction:0<width$}", width = decimals as usize);
        let minor_part: i64 = if padded.is_empty() { 0 } else { padded.parse().map_err(|_| too_large())? };
        let minor =
            major.checked_mul(10_i64.pow(decimals)).and_then(|m| m.checked_add(minor_part)).ok_or_else(too_large)?;
        Ok(Money { minor, currency })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn rubles_are_kept_in_kopecks_and_stars_whole() {
        assert_eq!(money("299RUB"), Money::new(29_900, Currency::Rub));
        assert_eq!(money("799.5RUB"), Money::new(79_950, Currency::Rub));
        assert_eq!(money("0.01 rub"), Money::new(1, Currency::Rub));
        assert_eq!(money("150XTR"), Money::new(150, Currency::Xtr));
    }

    #[test]
    fn amounts_print_as_they_are_written() {
        for text in ["299RUB", "799.50RUB", "0.01RUB", "150XTR", "0RUB"] {
            assert_eq!(money(text).to_string(), text);
        }
    }

    #[test]
    fn malformed_amounts_say_what_is_wrong() {
        assert_eq!("299".parse::<Money>(), Err(MoneyError::NoCurrency("299".into())));
        assert_eq!("299USD".parse::<Money>(), Err(MoneyError::UnknownCurrency("USD".into())));
        assert!(matches!("-5RUB".parse::<Money>(), Err(MoneyError::NotAnAmount(_))));
        assert!(matches!("5.RUB".parse::<Money>(), Err(MoneyError::NotAnAmount(_))));
        assert!(matches!("RUB".parse::<Money>(), Err(MoneyError::NotAnAmount(_))));
        assert!(matches!("1.5XTR".parse::<Money>(), Err(MoneyError::TooPrecise { decimals: 0, .. })));
        assert!(matches!("1.234RUB".parse::<Money>(), Err(MoneyError::TooPrecise { decimals: 2, .. })));
        assert!(matches!("99999999999999999999RUB".parse::<Money>(), Err(MoneyError::TooLarge(_))));
    }
}
