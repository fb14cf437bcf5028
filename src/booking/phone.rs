//! Customers' phone numbers, typed or shared with the contact button: parsed with libphonenumber's
//! metadata (the `phonenumber` crate), a national format read in the business's own country, refused
//! unless the number has a possible length for its country, and kept in E.164 (`+79012345678`).
//!
//! The business's country is not a setting of its own: it is the country of its IANA time zone, as
//! IANA's `zone.tab` names it (`Europe/Moscow` → RU, so `8 900 123-45-67` is Russian). A zone that names
//! no single country (`UTC`, `Etc/GMT+3`, an old alias such as `US/Eastern`) gives none, and then only
//! numbers written with their country code (`+…` or `00…`) are taken.

use chrono_tz::Tz;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, ParseError};

pub use phonenumber::country::Id as Country;

/// Why a typed number was refused; each reason has its own answer in the bot's texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not a phone number")]
    NotANumber,
    /// A national format where the business's country is unknown, or a country code that does not exist.
    #[error("no known country code")]
    Country,
    #[error("too few digits for its country")]
    TooShort,
    #[error("too many digits for its country")]
    TooLong,
    /// Between the shortest and the longest numbers of its country, but no number there has this length.
    #[error("no number of its country has that many digits")]
    Length,
}

/// The longest text looked at: a number with spaces, dashes and an international prefix fits well within.
const MAX_CHARS: usize = 40;
/// More digits than any international prefix and E.164's 15 digits together.
const MAX_DIGITS: usize = 20;

/// A number as a customer types it — `+44 20 7946 0958`, `8 (900) 123-45-67`, `0044 20…` — in E.164.
/// `country` reads national formats (`8 900…` in Russia); without it they are refused.
pub fn parse(text: &str, country: Option<Country>) -> Result<String, PhoneError> {
    let text = text.trim();
    // Only digits and the separators people put between them reach the library: its RFC 3966 and free-text
    // readings would take a number out of a sentence, which is not what the question asked for.
    let separator = |c: char| c.is_whitespace() || "+-‐‑–—().,/".contains(c);
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || separator(c)) {
        return Err(PhoneError::NotANumber);
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if digits == 0 {
        return Err(PhoneError::NotANumber);
    }
    if text.chars().count() > MAX_CHARS || digits > MAX_DIGITS {
        return Err(PhoneError::TooLong);
    }
    let number = phonenumber::parse(country, text).map_err(|e| match e {
        ParseError::NoNumber | ParseError::TooShortNsn | ParseError::TooShortAfterIdd => PhoneError::TooShort,
        ParseError::InvalidCountryCode => PhoneError::Country,
        ParseError::TooLong | ParseError::MalformedInteger(_) => PhoneError::TooLong,
    })?;
    possible(&number)?;
    Ok(number.format().mode(Mode::E164).to_string())
}

/// A number the contact button shared. Telegram sends it international, with or without the `+`.
pub fn shared(phone: &str) -> Result<String, PhoneError> {
    let phone = phone.trim();
    match phone.strip_prefix('+') {
        Some(_) => parse(phone, None),
        None => parse(&format!("+{phone}"), None),
    }
}

/// libphonenumber's "is possible": the national number's length is one its country code's numbers have.
/// Lengths valid only locally (without an area code) are not enough for a number to call back on.
fn possible(number: &phonenumber::PhoneNumber) -> Result<(), PhoneError> {
    let regions = DATABASE.by_code(&number.code().value()).ok_or(PhoneError::Country)?;
    // The lengths are those of the code's main country, as libphonenumber itself checks them.
    let meta = regions.iter().find(|m| m.is_main_country_for_code()).or(regions.first()).ok_or(PhoneError::Country)?;
    let national = number.national();
    let length = usize::from(national.zeros()) + national.value().to_string().len();
    // The metadata leaves the general lengths out; as libphonenumber builds them, they are those of every
    // kind of number together.
    let d = meta.descriptors();
    let kinds = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut lengths: Vec<usize> =
        kinds.into_iter().flatten().flat_map(|k| k.possible_length()).map(|&n| usize::from(n)).collect();
    lengths.sort_unstable();
    lengths.dedup();
    match (lengths.first(), lengths.last()) {
        _ if lengths.contains(&length) => Ok(()),
        (Some(&shortest), _) if length < shortest => Err(PhoneError::TooShort),
        (_, Some(&longest)) if length > longest => Err(PhoneError::TooLong),
        _ => Err(PhoneError::Length),
    }
}

/// IANA's `zone.tab` (public domain), which gives each time zone the one country it lies in.
const ZONE_TAB: &str = include_str!("zone.tab");

/// The country of a time zone, for reading national formats: `Europe/Moscow` → RU.
pub fn country_of(tz: Tz) -> Option<Country> {
    ZONE_TAB.lines().filter(|line| !line.starts_with('#')).map(|line| line.split('\t')).find_map(|mut columns| {
        let (code, zone) = (columns.next()?, columns.nth(1)?);
        (zone == tz.name()).then(|| code.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RU: Option<Country> = Some(Country::RU);

    #[test]
    fn typed_numbers_in_every_usual_format_come_out_in_e164() {
        for (typed, e164) in [
            ("+44 20 7946 0958", "+442079460958"),
            ("+79012345678", "+79012345678"),
            ("89012345678", "+79012345678"),
            ("8 (901) 234-56-78", "+79012345678"),
            ("+7 900 123-45-67", "+79001234567"),
            ("+1 212 555 0100", "+12125550100"),
            ("  +1 (212) 555-0100 ", "+12125550100"),
            ("9012345678", "+79012345678"),
        ] {
            assert_eq!(parse(typed, RU).as_deref(), Ok(e164), "{typed}");
        }
        // In London, a national number is British.
        assert_eq!(parse("020 7946 0958", Some(Country::GB)).as_deref(), Ok("+442079460958"));
        assert_eq!(parse("(212) 555-0100", Some(Country::US)).as_deref(), Ok("+12125550100"));
        // 00 is the international prefix in Germany (in Russia it is 8 10).
        assert_eq!(parse("0044 20 7946 0958", Some(Country::DE)).as_deref(), Ok("+442079460958"));
        assert_eq!(parse("8 10 44 20 7946 0958", RU).as_deref(), Ok("+442079460958"));
        // A number with its country code needs no country of the business.
        assert_eq!(parse("+7 900 123-45-67", None).as_deref(), Ok("+79001234567"));
    }

    #[test]
    fn what_is_not_a_possible_number_is_refused_with_its_reason() {
        for (typed, why) in [
            ("", PhoneError::NotANumber),
            ("call me", PhoneError::NotANumber),
            ("+7 900 CALL-ME", PhoneError::NotANumber),
            ("my number is +79012345678", PhoneError::NotANumber),
            ("tel:+79012345678", PhoneError::NotANumber),
            ("---", PhoneError::NotANumber),
            ("123", PhoneError::TooShort),
            ("1", PhoneError::TooShort),
            ("+7 123", PhoneError::TooShort),
            // Russian numbers have 10 digits, or 14 for some free calls.
            ("+7 900 123 45 678", PhoneError::Length),
            ("+7 900 123 45 67 890 12", PhoneError::TooLong),
            (&"1".repeat(40), PhoneError::TooLong),
            (&"9".repeat(18), PhoneError::TooLong),
            (&format!("+{}", "7".repeat(17)), PhoneError::TooLong),
            ("+999 1234567", PhoneError::Country),
            ("+44 20 7946 09", PhoneError::Length),
        ] {
            assert_eq!(parse(typed, RU), Err(why), "{typed}");
        }
        // Without the business's country, a national format cannot be read.
        assert_eq!(parse("89012345678", None), Err(PhoneError::Country));
    }

    #[test]
    fn hostile_text_is_refused_without_a_panic() {
        for typed in [";phone-context=", "+;phone-context=é", "+\u{1F4A9}", "٠١٢٣٤٥٦٧٨٩", "+(((((", "+0", "00", "+"]
        {
            assert!(parse(typed, RU).is_err(), "{typed}");
            assert!(parse(typed, None).is_err(), "{typed}");
        }
    }

    #[test]
    fn shared_contacts_are_kept_in_e164_with_or_without_the_plus() {
        assert_eq!(shared("79990001122").as_deref(), Ok("+79990001122"));
        assert_eq!(shared("+79990001122").as_deref(), Ok("+79990001122"));
        assert_eq!(shared("+7 900 000-00-00").as_deref(), Ok("+79000000000"));
        assert_eq!(shared("442079460958").as_deref(), Ok("+442079460958"));
        assert!(shared("").is_err());
    }

    #[test]
    fn a_time_zone_names_its_country() {
        assert_eq!(country_of(chrono_tz::Europe::Moscow), RU);
        assert_eq!(country_of(chrono_tz::Europe::London), Some(Country::GB));
        assert_eq!(country_of(chrono_tz::America::New_York), Some(Country::US));
        assert_eq!(country_of(chrono_tz::Asia::Almaty), Some(Country::KZ));
        assert_eq!(country_of(chrono_tz::Europe::Berlin), Some(Country::DE));
        assert_eq!(country_of(chrono_tz::UTC), None);
        assert_eq!(country_of(chrono_tz::Etc::GMTPlus3), None);
    }
}
