//! YooKassa's amounts, `{"value": "299.00", "currency": "RUB"}`, to and from `billing::Money` exactly.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::billing::{Currency, Money, MoneyError};

/// Why an amount cannot cross to or from YooKassa.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not digits with an optional fraction (signs, exponents, spaces, commas are refused).
    #[error("`{0}` is not a decimal amount such as 299.00")]
    NotDecimal(String),
    /// YooKassa takes rubles only among botctl's currencies; Stars are paid through Telegram.
    #[error("YooKassa does not take {0} here (only RUB)")]
    Currency(String),
    /// More digits after the point than kopecks, or too large for the ledger.
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("a negative amount ({0}) cannot be paid or refunded")]
    Negative(Money),
}

/// Parses an amount as YooKassa writes it. Exact: `"299.5"` is 29 950 kopecks, `"299.001"` is refused.
pub fn parse_amount(value: &str, currency: &str) -> Result<Money, AmountError> {
    if currency != Currency::Rub.code() {
        return Err(AmountError::Currency(currency.to_string()));
    }
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(AmountError::NotDecimal(value.to_string()));
    }
    // The shape is checked above, so Money's own parser only adds scale, precision and range checks.
    Ok(format!("{value}{currency}").parse::<Money>()?)
}

/// Writes an amount as YooKassa expects it: always two decimals, `"299.00"`.
pub fn format_value(money: Money) -> Result<String, AmountError> {
    if money.currency != Currency::Rub {
        return Err(AmountError::Currency(money.currency.code().to_string()));
    }
    if money.minor < 0 {
        return Err(AmountError::Negative(money));
    }
    Ok(format!("{}.{:02}", money.minor / 100, money.minor % 100))
}

#[derive(Serialize, Deserialize)]
struct Wire<S> {
    value: S,
    currency: S,
}

/// `#[serde(with = "amount::wire")]` for a `Money` field that is an amount object on the wire.
pub(super) mod wire {
    use super::*;

    pub fn serialize<S: Serializer>(money: &Money, serializer: S) -> Result<S::Ok, S::Error> {
        let value = format_value(*money).map_err(serde::ser::Error::custom)?;
        Wire { value: value.as_str(), currency: money.currency.code() }.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let wire = Wire::<String>::deserialize(deserializer)?;
        parse_amount(&wire.value, &wire.currency).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rub(minor: i64) -> Money {
        Money::new(minor, Currency::Rub)
    }

    #[test]
    fn decimal_strings_become_kopecks_exactly() {
        assert_eq!(parse_amount("299.00", "RUB"), Ok(rub(29_900)));
        assert_eq!(parse_amount("299", "RUB"), Ok(rub(29_900)));
        assert_eq!(parse_amount("799.5", "RUB"), Ok(rub(79_950)));
        assert_eq!(parse_amount("0.01", "RUB"), Ok(rub(1)));
        // A float would make this 1999.9999…; the integer path cannot.
        assert_eq!(parse_amount("19.99", "RUB"), Ok(rub(1_999)));
    }

    #[test]
    fn kopecks_are_written_with_two_decimals() {
        assert_eq!(format_value(rub(29_900)).as_deref(), Ok("299.00"));
        assert_eq!(format_value(rub(79_950)).as_deref(), Ok("799.50"));
        assert_eq!(format_value(rub(1)).as_deref(), Ok("0.01"));
        assert_eq!(format_value(rub(0)).as_deref(), Ok("0.00"));
        for minor in [0, 1, 10, 99, 100, 101, 29_900, 123_456_789] {
            let text = format_value(rub(minor)).unwrap();
            assert_eq!(parse_amount(&text, "RUB"), Ok(rub(minor)), "{text}");
        }
    }

    #[test]
    fn malformed_or_over_precise_values_are_refused() {
        for bad in ["", ".", "1.", ".5", "-1.00", "+1.00", "1e3", "1,00", " 1.00", "1.00 ", "NaN", "1.0.0", "１"] {
            assert_eq!(parse_amount(bad, "RUB"), Err(AmountError::NotDecimal(bad.to_string())), "{bad:?}");
        }
        assert!(matches!(parse_amount("1.001", "RUB"), Err(AmountError::Money(MoneyError::TooPrecise { .. }))));
        assert!(matches!(
            parse_amount("99999999999999999999", "RUB"),
            Err(AmountError::Money(MoneyError::TooLarge(_)))
        ));
        assert_eq!(parse_amount("1.00", "USD"), Err(AmountError::Currency("USD".into())));
        assert_eq!(parse_amount("1.00", "rub"), Err(AmountError::Currency("rub".into())));
        assert_eq!(parse_amount("150", "XTR"), Err(AmountError::Currency("XTR".into())));
    }

    #[test]
    fn stars_and_negative_amounts_are_not_sent() {
        assert_eq!(format_value(Money::new(150, Currency::Xtr)), Err(AmountError::Currency("XTR".into())));
        assert_eq!(format_value(rub(-1)), Err(AmountError::Negative(rub(-1))));
    }

    #[test]
    fn the_wire_object_round_trips_and_refuses_garbage() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            #[serde(with = "wire")]
            amount: Money,
        }
        let json = serde_json::to_value(Holder { amount: rub(29_900) }).unwrap();
        assert_eq!(json, serde_json::json!({"amount": {"value": "299.00", "currency": "RUB"}}));
        assert_eq!(serde_json::from_value::<Holder>(json).unwrap(), Holder { amount: rub(29_900) });
        let bad = serde_json::json!({"amount": {"value": 299.0, "currency": "RUB"}});
        assert!(serde_json::from_value::<Holder>(bad).is_err());
        let bad = serde_json::json!({"amount": {"value": "2.999", "currency": "RUB"}});
        assert!(serde_json::from_value::<Holder>(bad).is_err());
    }
}
