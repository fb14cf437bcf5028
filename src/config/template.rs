//! Business templates: the services, weekly hours and booking rules a new tenant is seeded with, either
//! embedded in the binary (`templates/business/NAME.LOCALE.yaml`) or read from an operator's YAML file.
//!
//! Parsing happens in two steps: serde reads the YAML into raw types that keep scalars as text (so that
//! unknown keys and wrong shapes are reported with their line), then `Check` turns the text into minutes,
//! minor units and times and reports any value out of range by its key path, e.g. `services[2].duration`.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{NaiveTime, Timelike, Weekday};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

pub use crate::locale::{Locale, UnknownLocale};

/// A validated business template: what a new tenant's services, hours and rules start as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub name: String,
    pub locale: Locale,
    /// The tenant's display name until the operator or business admin sets one.
    pub display_name: String,
    /// ISO 4217, e.g. `RUB`; prices are in its minor units (kopecks, cents).
    pub currency: String,
    pub services: Vec<ServiceTemplate>,
    /// Sorted by weekday (Monday first), then by opening time; a weekday without intervals is closed.
    pub hours: Vec<WorkingInterval>,
    pub slot_step_minutes: u32,
    pub horizon_days: u32,
    pub cancellation_cutoff_minutes: u32,
    pub max_active_bookings: u32,
    /// Lead times of the reminders before a visit: distinct, longest first.
    pub reminder_offsets_minutes: Vec<u32>,
    /// How long after a visit ends the rating request is sent.
    pub feedback_delay_minutes: u32,
    pub address: Option<String>,
    pub contacts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceTemplate {
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: u32,
    /// The price × 100, exact: `1499.50` is `149950`.
    pub price_minor: i64,
}

/// One opening interval on one weekday; several on a day leave breaks between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WorkingInterval {
    #[serde(serialize_with = "serialize_weekday")]
    pub weekday: Weekday,
    #[serde(serialize_with = "serialize_time")]
    pub opens: NaiveTime,
    #[serde(serialize_with = "serialize_time")]
    pub closes: NaiveTime,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown business template `{name}`: available are {} (a file path must contain `/` or end in .yaml)",
        available.join(", ")
    )]
    UnknownEmbedded { name: String, available: Vec<&'static str> },
    #[error("cannot read template file `{}`", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The YAML is malformed or has unknown, missing or mistyped keys; the source names the key and line.
    #[error("cannot parse {origin}")]
    Parse { origin: String, source: serde_yaml_ng::Error },
    #[error("{origin}: invalid {key} {value}: {allowed}")]
    Invalid { origin: String, key: String, value: String, allowed: String },
}

// The binary runs in a container without the repository, so the templates travel inside it.
const EMBEDDED: [(&str, Locale, &str); 6] = [
    ("barbershop", Locale::Ru, include_str!("../../templates/business/barbershop.ru.yaml")),
    ("barbershop", Locale::En, include_str!("../../templates/business/barbershop.en.yaml")),
    ("beauty_salon", Locale::Ru, include_str!("../../templates/business/beauty_salon.ru.yaml")),
    ("beauty_salon", Locale::En, include_str!("../../templates/business/beauty_salon.en.yaml")),
    ("clinic", Locale::Ru, include_str!("../../templates/business/clinic.ru.yaml")),
    ("clinic", Locale::En, include_str!("../../templates/business/clinic.en.yaml")),
];

/// The names of the embedded templates, distinct and sorted.
pub fn embedded_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = EMBEDDED.iter().map(|(name, _, _)| *name).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// An embedded template in one locale.
pub fn embedded(name: &str, locale: Locale) -> Result<Template, TemplateError> {
    let Some((_, _, text)) = EMBEDDED.iter().find(|(n, l, _)| *n == name && *l == locale) else {
        return Err(TemplateError::UnknownEmbedded { name: name.to_string(), available: embedded_names() });
    };
    let origin = format!("embedded template `{name}` ({locale})");
    let template = parse(text, &origin)?;
    // The file name is the lookup key, so a file that claims to be something else would seed the wrong tenant.
    let check = Check { origin: &origin };
    if template.name != name {
        return Err(check.invalid("name", quote(&template.name), format!("must be `{name}`, as the file name says")));
    }
    if template.locale != locale {
        let allowed = format!("must be `{locale}`, as the file name says");
        return Err(check.invalid("locale", template.locale.to_string(), allowed));
    }
    Ok(template)
}

/// A template from an operator-supplied YAML file.
pub fn from_file(path: &Path) -> Result<Template, TemplateError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| TemplateError::Read { path: path.to_path_buf(), source })?;
    parse(&text, &format!("template file `{}`", path.display()))
}

/// `--template NAME|FILE`: a spec with a `/` or a `.yaml`/`.yml` ending is a file, anything else an embedded
/// name looked up in `locale`. A file's own locale is reported as written; the caller decides whether it fits.
pub fn resolve(spec: &str, locale: Locale) -> Result<Template, TemplateError> {
    let lower = spec.to_ascii_lowercase();
    if spec.contains('/') || lower.ends_with(".yaml") || lower.ends_with(".yml") {
        from_file(Path::new(spec))
    } else {
        embedded(spec, locale)
    }
}

/// Parses and validates template YAML; `origin` names the source in errors.
pub fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
    let raw = deserialize(text).map_err(|source| TemplateError::Parse { origin: origin.to_string(), source })?;
    Check { origin }.template(raw)
}

#[allow(clippy::disallowed_methods)] // config is where operator files are parsed
fn deserialize(text: &str) -> Result<RawTemplate, serde_yaml_ng::Error> {
    serde_yaml_ng::from_str(text)
}

/// The file as written. Unknown keys are errors, so a typo never silently leaves a default in place.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    locale: Locale,
    display_name: String,
    currency: String,
    services: Vec<RawService>,
    hours: RawHours,
    slot_step: Text,
    horizon: Text,
    cancellation_cutoff: Text,
    max_active_bookings: Text,
    reminders: Vec<Text>,
    feedback_delay: Text,
    address: Option<String>,
    contacts: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    description: Option<String>,
    duration: Text,
    price: Text,
}

/// A weekday that is missing, empty or `null` is closed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    mon: Option<Vec<Text>>,
    tue: Option<Vec<Text>>,
    wed: Option<Vec<Text>>,
    thu: Option<Vec<Text>>,
    fri: Option<Vec<Text>>,
    sat: Option<Vec<Text>>,
    sun: Option<Vec<Text>>,
}

/// A scalar kept as the text the operator wrote. serde_yaml_ng hands plain scalars to `deserialize_str`
/// verbatim, so `1499.50` reaches the price parser as decimal text and is never rounded through `f64`.
#[derive(Debug, Clone)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    // Formats that type their numbers (not YAML, see above) still arrive here.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
}

const MINUTES_PER_DAY: u32 = 24 * 60;
const MAX_SERVICE_NAME_CHARS: usize = 64;
const MAX_DISPLAY_NAME_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_ADDRESS_CHARS: usize = 200;
const MAX_REMINDERS: usize = 5;
/// Large enough for any single service in any currency, small enough that minor units fit `numeric(12, 2)`.
const MAX_PRICE_MAJOR: i64 = 100_000_000;

/// An inclusive range of minutes and how it reads in an error message.
struct Range {
    min: u32,
    max: u32,
    text: &'static str,
}

const SERVICE_DURATION: Range = Range { min: 5, max: 12 * 60, text: "whole minutes from 5m to 12h" };
const SLOT_STEP: Range = Range { min: 5, max: 2 * 60, text: "whole minutes from 5m to 2h" };
const CUTOFF: Range = Range { min: 0, max: 7 * MINUTES_PER_DAY, text: "whole minutes from 0 to 7d" };
const REMINDER: Range = Range { min: 5, max: 7 * MINUTES_PER_DAY, text: "whole minutes from 5m to 7d" };
const FEEDBACK_DELAY: Range = Range { min: 0, max: 7 * MINUTES_PER_DAY, text: "whole minutes from 0 to 7d" };

/// Validates raw values against one source, so that every error names it.
struct Check<'a> {
    origin: &'a str,
}

impl Check<'_> {
    fn invalid(&self, key: impl Into<String>, value: String, allowed: impl Into<String>) -> TemplateError {
        TemplateError::Invalid { origin: self.origin.to_string(), key: key.into(), value, allowed: allowed.into() }
    }

    fn template(&self, raw: RawTemplate) -> Result<Template, TemplateError> {
        let name = self.name(&raw.name)?;
        let display_name = self.line("display_name", &raw.display_name, MAX_DISPLAY_NAME_CHARS)?;
        let currency = self.currency(&raw.currency)?;
        let services = self.services(raw.services)?;
        let hours = self.hours(&raw.hours)?;
        let slot_step_minutes = self.minutes("slot_step", &raw.slot_step, &SLOT_STEP)?;
        let horizon_days = self.days("horizon", &raw.horizon)?;
        let cancellation_cutoff_minutes = self.minutes("cancellation_cutoff", &raw.cancellation_cutoff, &CUTOFF)?;
        let max_active_bookings = self.max_active_bookings(&raw.max_active_bookings)?;
        let reminder_offsets_minutes = self.reminders(&raw.reminders)?;
        let feedback_delay_minutes = self.minutes("feedback_delay", &raw.feedback_delay, &FEEDBACK_DELAY)?;
        let address = self.optional("address", raw.address, MAX_ADDRESS_CHARS)?;
        let contacts = self.optional("contacts", raw.contacts, MAX_ADDRESS_CHARS)?;
        Ok(Template {
            name,
            locale: raw.locale,
            display_name,
            currency,
            services,
            hours,
            slot_step_minutes,
            horizon_days,
            cancellation_cutoff_minutes,
            max_active_bookings,
            reminder_offsets_minutes,
            feedback_delay_minutes,
            address,
            contacts,
        })
    }

    /// The same rule as tenant slugs, so a template name can double as one.
    fn name(&self, name: &str) -> Result<String, TemplateError> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let len = name.chars().count();
        if first_ok && rest_ok && (2..=31).contains(&len) {
            Ok(name.to_string())
        } else {
            let allowed = "must be 2 to 31 characters: a lower-case letter, then lower-case letters, digits or `_`";
            Err(self.invalid("name", quote(name), allowed))
        }
    }

    /// A one-line, non-blank label such as a name shown on a button; surrounding spaces are dropped.
    fn line(&self, key: &str, value: &str, max_chars: usize) -> Result<String, TemplateError> {
        let trimmed = value.trim();
        let len = trimmed.chars().count();
        if len == 0 || len > max_chars || trimmed.chars().any(char::is_control) {
            let allowed = format!("must be 1 to {max_chars} characters on one line");
            return Err(self.invalid(key, quote(value), allowed));
        }
        Ok(trimmed.to_string())
    }

    /// Free text that may be left out; blank counts as left out.
    fn optional(&self, key: &str, value: Option<String>, max_chars: usize) -> Result<Option<String>, TemplateError> {
        let Some(value) = value else { return Ok(None) };
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > max_chars {
            return Err(self.invalid(key, quote(&value), format!("must be at most {max_chars} characters")));
        }
        Ok(Some(trimmed.to_string()))
    }

    fn currency(&self, currency: &str) -> Result<String, TemplateError> {
        if currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(currency.to_string())
        } else {
            Err(self.invalid("currency", quote(currency), "must be an ISO 4217 code: 3 upper-case letters such as RUB"))
        }
    }

    fn services(&self, raw: Vec<RawService>) -> Result<Vec<ServiceTemplate>, TemplateError> {
        if raw.is_empty() {
            return Err(self.invalid("services", "[]".to_string(), "must list at least one service"));
        }
        let mut services: Vec<ServiceTemplate> = Vec::with_capacity(raw.len());
        for (i, service) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("services[{i}].{field}");
            let name = self.line(&key("name"), &service.name, MAX_SERVICE_NAME_CHARS)?;
            // Customers pick services by name, so two that differ only in case would look the same.
            let folded = name.to_lowercase();
            if let Some(j) = services.iter().position(|s| s.name.to_lowercase() == folded) {
                let allowed = format!("must be unique ignoring case, but services[{j}] has the same name");
                return Err(self.invalid(key("name"), quote(&name), allowed));
            }
            let description = self.optional(&key("description"), service.description, MAX_DESCRIPTION_CHARS)?;
            let duration_minutes = self.minutes(&key("duration"), &service.duration, &SERVICE_DURATION)?;
            let price_minor = self.price(&key("price"), &service.price)?;
            services.push(ServiceTemplate { name, description, duration_minutes, price_minor });
        }
        Ok(services)
    }

    fn price(&self, key: &str, text: &Text) -> Result<i64, TemplateError> {
        let bad = |allowed: &str| self.invalid(key, quote(&text.0), allowed);
        let s = text.0.trim();
        if s.starts_with('-') {
            return Err(bad("must not be negative"));
        }
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "00"));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) {
            return Err(bad("must be a number in major units such as 1500 or 1499.50"));
        }
        if fraction.len() > 2 {
            return Err(bad("must have at most 2 decimals"));
        }
        // Digits only, so a parse failure can only mean overflow; the bound keeps `* 100` far from it.
        let too_large = || bad(&format!("must be at most {MAX_PRICE_MAJOR}"));
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        // "5" after the point is 50 cents, not 5.
        let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| too_large())?;
        if whole > MAX_PRICE_MAJOR || (whole == MAX_PRICE_MAJOR && cents > 0) {
            return Err(too_large());
        }
        Ok(whole * 100 + cents)
    }

    fn hours(&self, raw: &RawHours) -> Result<Vec<WorkingInterval>, TemplateError> {
        let days = [
            (Weekday::Mon, &raw.mon),
            (Weekday::Tue, &raw.tue),
            (Weekday::Wed, &raw.wed),
            (Weekday::Thu, &raw.thu),
            (Weekday::Fri, &raw.fri),
            (Weekday::Sat, &raw.sat),
            (Weekday::Sun, &raw.sun),
        ];
        let mut hours = Vec::new();
        for (weekday, intervals) in days {
            let day = weekday_key(weekday);
            let mut parsed = Vec::new();
            for (i, text) in intervals.iter().flatten().enumerate() {
                let (opens, closes) = self.interval(&format!("hours.{day}[{i}]"), text)?;
                parsed.push((i, opens, closes, text));
            }
            parsed.sort_by_key(|&(_, opens, _, _)| opens);
            for pair in parsed.windows(2) {
                if let [(i, _, earlier_closes, _), (j, later_opens, _, text)] = pair
                    && later_opens < earlier_closes
                {
                    let allowed = format!("must not overlap hours.{day}[{i}]");
                    return Err(self.invalid(format!("hours.{day}[{j}]"), quote(&text.0), allowed));
                }
            }
            hours.extend(parsed.into_iter().map(|(_, opens, closes, _)| WorkingInterval { weekday, opens, closes }));
        }
        if hours.is_empty() {
            return Err(self.invalid("hours", "{}".to_string(), "must open on at least one weekday"));
        }
        Ok(hours)
    }

    fn interval(&self, key: &str, text: &Text) -> Result<(NaiveTime, NaiveTime), TemplateError> {
        let times = text.0.split_once('-').and_then(|(a, b)| Some((clock_time(a)?, clock_time(b)?)));
        match times {
            Some((opens, closes)) if opens < closes => Ok((opens, closes)),
            _ => {
                let allowed = "must be HH:MM-HH:MM between 00:00 and 23:59, opening before closing, e.g. 10:00-19:00";
                Err(self.invalid(key, quote(&text.0), allowed))
            }
        }
    }

    fn max_active_bookings(&self, text: &Text) -> Result<u32, TemplateError> {
        match text.0.trim().parse::<u32>() {
            Ok(n) if (1..=20).contains(&n) => Ok(n),
            _ => Err(self.invalid("max_active_bookings", quote(&text.0), "must be a whole number from 1 to 20")),
        }
    }

    fn reminders(&self, raw: &[Text]) -> Result<Vec<u32>, TemplateError> {
        if raw.len() > MAX_REMINDERS {
            let allowed = format!("must list at most {MAX_REMINDERS} reminders");
            return Err(self.invalid("reminders", format!("({} items)", raw.len()), allowed));
        }
        let mut offsets: Vec<u32> = Vec::with_capacity(raw.len());
        for (i, text) in raw.iter().enumerate() {
            let key = format!("reminders[{i}]");
            let minutes = self.minutes(&key, text, &REMINDER)?;
            if let Some(j) = offsets.iter().position(|&m| m == minutes) {
                return Err(self.invalid(key, quote(&text.0), format!("must differ from reminders[{j}]")));
            }
            offsets.push(minutes);
        }
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        Ok(offsets)
    }

    fn minutes(&self, key: &str, text: &Text, range: &Range) -> Result<u32, TemplateError> {
        let allowed = || format!("must be a duration such as 45m or 1h 30m, {}", range.text);
        let minutes = whole_minutes(&text.0).ok_or_else(|| self.invalid(key, quote(&text.0), allowed()))?;
        if (range.min..=range.max).contains(&minutes) {
            Ok(minutes)
        } else {
            Err(self.invalid(key, quote(&text.0), allowed()))
        }
    }

    fn days(&self, key: &str, text: &Text) -> Result<u32, TemplateError> {
        let allowed = "must be whole days from 1d to 365d";
        match whole_minutes(&text.0) {
            Some(minutes) if minutes % MINUTES_PER_DAY == 0 && (1..=365).contains(&(minutes / MINUTES_PER_DAY)) => {
                Ok(minutes / MINUTES_PER_DAY)
            }
            _ => Err(self.invalid(key, quote(&text.0), allowed)),
        }
    }
}

/// A humantime duration (`45m`, `1h 30m`, `2d`, `0`) that is a whole number of minutes fitting `u32`.
fn whole_minutes(text: &str) -> Option<u32> {
    let duration = humantime::parse_duration(text.trim()).ok()?;
    if duration.subsec_nanos() != 0 || duration.as_secs() % 60 != 0 {
        return None;
    }
    u32::try_from(duration.as_secs() / 60).ok()
}

/// `H:MM` or `HH:MM`, strictly: no seconds, no `24:00`.
fn clock_time(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// A value as an error message shows it: quoted with escapes, and cut short so a long description stays readable.
fn quote(value: &str) -> String {
    const MAX_SHOWN: usize = 60;
    if value.chars().count() > MAX_SHOWN {
        let head: String = value.chars().take(MAX_SHOWN).collect();
        format!("{head:?}…")
    } else {
        format!("{value:?}")
    }
}

/// The key the YAML uses for a weekday, which is also how it is serialized.
fn weekday_key(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

fn serialize_weekday<S: Serializer>(weekday: &Weekday, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(weekday_key(*weekday))
}

fn serialize_time<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{:02}:{:02}", time.hour(), time.minute()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
name: test_shop
locale: en
display_name: Test Shop
currency: EUR
services:
  - name: Cut
    description: A haircut
    duration: 45m
    price: 1499.50
  - name: Shave
    duration: 30m
    price: 20
hours:
  mon: ["10:00-14:00", "15:00-21:00"]
  tue: ["10:00-21:00"]
slot_step: 15m
horizon: 30d
cancellation_cutoff: 3h
max_active_bookings: 3
reminders: [1h, 24h, 2h]
feedback_delay: 2h
address: "1 Example Street"
contacts: "+1 555 010 0000"
"#;

    /// `VALID` with one line replaced, e.g. `with("slot_step: 15m", "slot_step: 3m")`.
    fn with(line: &str, replacement: &str) -> String {
        assert!(VALID.contains(line), "test fixture has no `{line}`");
        VALID.replacen(line, replacement, 1)
    }

    /// The whole error chain, as the CLI prints it.
    fn chain(err: &TemplateError) -> String {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            text.push_str(": ");
            text.push_str(&e.to_string());
            source = e.source();
        }
        text
    }

    fn invalid(text: &str) -> (String, String) {
        match parse(text, "test") {
            Err(TemplateError::Invalid { key, value, allowed, .. }) => (key, format!("{value} {allowed}")),
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    fn assert_invalid(text: &str, key: &str, detail: &str) {
        let (got_key, got_detail) = invalid(text);
        assert_eq!(got_key, key, "{got_detail}");
        assert!(got_detail.contains(detail), "{got_key}: {got_detail} lacks {detail}");
    }

    #[test]
    fn a_valid_template_parses_to_minutes_and_minor_units() {
        let t = parse(VALID, "test").unwrap();
        assert_eq!(t.name, "test_shop");
        assert_eq!(t.locale, Locale::En);
        assert_eq!(t.currency, "EUR");
        assert_eq!(t.services[0].price_minor, 149_950);
        assert_eq!(t.services[0].duration_minutes, 45);
        assert_eq!(t.services[0].description.as_deref(), Some("A haircut"));
        assert_eq!(t.services[1].description, None);
        assert_eq!(t.services[1].price_minor, 2000);
        assert_eq!(t.slot_step_minutes, 15);
        assert_eq!(t.horizon_days, 30);
        assert_eq!(t.cancellation_cutoff_minutes, 180);
        assert_eq!(t.max_active_bookings, 3);
        assert_eq!(t.feedback_delay_minutes, 120);
        assert_eq!(t.address.as_deref(), Some("1 Example Street"));
        assert_eq!(t.hours.len(), 3);
        let first = t.hours[0];
        assert_eq!((first.weekday, first.opens.to_string()), (Weekday::Mon, "10:00:00".to_string()));
    }

    #[test]
    fn all_embedded_templates_load_and_pairs_agree() {
        for name in embedded_names() {
            let ru = embedded(name, Locale::Ru).unwrap_or_else(|e| panic!("{}", chain(&e)));
            let en = embedded(name, Locale::En).unwrap_or_else(|e| panic!("{}", chain(&e)));
            assert_eq!((ru.name.as_str(), ru.locale, en.locale), (name, Locale::Ru, Locale::En));
            assert_eq!(ru.currency, "RUB", "{name}");
            assert_eq!(ru.services.len(), en.services.len(), "{name}");
            assert!((4..=8).contains(&ru.services.len()), "{name}");
            assert_eq!(ru.hours, en.hours, "{name}");
            let durations = |t: &Template| t.services.iter().map(|s| s.duration_minutes).collect::<Vec<_>>();
            assert_eq!(durations(&ru), durations(&en), "{name}");
            assert_eq!(ru.slot_step_minutes, en.slot_step_minutes, "{name}");
            assert_eq!(ru.cancellation_cutoff_minutes, en.cancellation_cutoff_minutes, "{name}");
            assert_eq!(ru.reminder_offsets_minutes, en.reminder_offsets_minutes, "{name}");
        }
    }

    #[test]
    fn embedded_names_are_distinct_and_sorted() {
        assert_eq!(embedded_names(), ["barbershop", "beauty_salon", "clinic"]);
    }

    #[test]
    fn unknown_embedded_name_lists_the_available_ones() {
        let err = embedded("bakery", Locale::Ru).unwrap_err();
        assert!(matches!(err, TemplateError::UnknownEmbedded { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("`bakery`"), "{message}");
        assert!(message.contains("barbershop, beauty_salon, clinic"), "{message}");
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let text = with("    duration: 30m\n", "    duration: 30m\n    colour: red\n");
        let err = parse(&text, "template file `x.yaml`").unwrap_err();
        assert!(matches!(err, TemplateError::Parse { .. }), "{err:?}");
        let message = chain(&err);
        assert!(message.contains("template file `x.yaml`"), "{message}");
        assert!(message.contains("unknown field `colour`"), "{message}");
        assert!(message.contains("services[1]"), "{message}");
        assert!(message.contains("line 13"), "{message}");
    }

    #[test]
    fn unknown_weekday_and_missing_keys_are_parse_errors() {
        let message = chain(&parse(&with("  tue:", "  tues:"), "test").unwrap_err());
        assert!(message.contains("unknown field `tues`"), "{message}");
        let message = chain(&parse(&with("slot_step: 15m\n", ""), "test").unwrap_err());
        assert!(message.contains("missing field `slot_step`"), "{message}");
        let message = chain(&parse(&with("locale: en", "locale: de"), "test").unwrap_err());
        assert!(message.contains("locale") && message.contains("line 3"), "{message}");
        assert!(parse("", "test").is_err());
        assert!(parse("- just\n- a list\n", "test").is_err());
    }

    #[test]
    fn prices_are_exact_decimals() {
        let price = |p: &str| parse(&with("price: 1499.50", &format!("price: {p}")), "test");
        assert_eq!(price("1499.50").unwrap().services[0].price_minor, 149_950);
        assert_eq!(price("\"1499.50\"").unwrap().services[0].price_minor, 149_950);
        assert_eq!(price("0.1").unwrap().services[0].price_minor, 10);
        assert_eq!(price("0").unwrap().services[0].price_minor, 0);
        assert_eq!(price("100000000").unwrap().services[0].price_minor, 10_000_000_000);
        assert_invalid(&with("price: 1499.50", "price: 1499.505"), "services[0].price", "at most 2 decimals");
        assert_invalid(&with("price: 1499.50", "price: -5"), "services[0].price", "must not be negative");
        assert_invalid(&with("price: 1499.50", "price: 100000000.01"), "services[0].price", "at most 100000000");
        assert_invalid(&with("price: 1499.50", "price: 99999999999999999999"), "services[0].price", "at most");
        for bad in ["1e3", "free", "1,5", ".5", "5.", "1 500", "~", "0x10", "+5"] {
            let (key, detail) = invalid(&with("price: 1499.50", &format!("price: \"{bad}\"")));
            assert_eq!(key, "services[0].price", "{bad}: {detail}");
        }
    }

    #[test]
    fn reminders_are_sorted_descending_and_distinct() {
        let t = parse(VALID, "test").unwrap();
        assert_eq!(t.reminder_offsets_minutes, [24 * 60, 120, 60]);
        assert!(
            parse(&with("reminders: [1h, 24h, 2h]", "reminders: []"), "test")
                .unwrap()
                .reminder_offsets_minutes
                .is_empty()
        );
        assert_invalid(&with("reminders: [1h, 24h, 2h]", "reminders: [1h, 60m]"), "reminders[1]", "reminders[0]");
        assert_invalid(&with("reminders: [1h, 24h, 2h]", "reminders: [1h, 4m]"), "reminders[1]", "5m to 7d");
        assert_invalid(&with("reminders: [1h, 24h, 2h]", "reminders: [8d]"), "reminders[0]", "5m to 7d");
        assert_invalid(
            &with("reminders: [1h, 24h, 2h]", "reminders: [1h, 2h, 3h, 4h, 5h, 6h]"),
            "reminders",
            "at most 5",
        );
    }

    #[test]
    fn identity_rules() {
        assert_invalid(&with("name: test_shop", "name: Test"), "name", "lower-case");
        assert_invalid(&with("name: test_shop", "name: t"), "name", "2 to 31");
        assert_invalid(&with("name: test_shop", "name: 1shop"), "name", "lower-case letter");
        assert_invalid(&with("name: test_shop", &format!("name: {}", "a".repeat(32))), "name", "2 to 31");
        assert_invalid(&with("name: test_shop", "name: shop-1"), "name", "`_`");
        assert_invalid(&with("display_name: Test Shop", "display_name: \"  \""), "display_name", "1 to 64");
        assert_invalid(
            &with("display_name: Test Shop", &format!("display_name: {}", "я".repeat(65))),
            "display_name",
            "1 to 64",
        );
        assert_invalid(&with("display_name: Test Shop", "display_name: \"a\\nb\""), "display_name", "one line");
        assert!(parse(&with("display_name: Test Shop", &format!("display_name: {}", "я".repeat(64))), "test").is_ok());
        for bad in ["eur", "EU", "EURO", "€UR", "E1R"] {
            assert_invalid(&with("currency: EUR", &format!("currency: \"{bad}\"")), "currency", "3 upper-case");
        }
    }

    #[test]
    fn service_rules() {
        let services = VALID.find("services:").unwrap();
        let hours = VALID.find("hours:").unwrap();
        let no_services = format!("{}services: []\n{}", &VALID[..services], &VALID[hours..]);
        assert_invalid(&no_services, "services", "at least one");
        assert_invalid(&with("name: Shave", "name: \"\""), "services[1].name", "1 to 64");
        assert_invalid(&with("name: Shave", &format!("name: {}", "x".repeat(65))), "services[1].name", "1 to 64");
        assert_invalid(&with("name: Shave", "name: cUT"), "services[1].name", "services[0]");
        let long = "д".repeat(501);
        assert_invalid(
            &with("description: A haircut", &format!("description: {long}")),
            "services[0].description",
            "500",
        );
        let t = parse(&with("description: A haircut", &format!("description: {}", "д".repeat(500))), "test").unwrap();
        assert_eq!(t.services[0].description.as_ref().map(|d| d.chars().count()), Some(500));
        assert_eq!(
            parse(&with("description: A haircut", "description: \" \""), "test").unwrap().services[0].description,
            None
        );
    }

    #[test]
    fn duration_rules() {
        let cases = [
            ("duration: 45m", "duration: 4m", "services[0].duration", "5m to 12h"),
            ("duration: 45m", "duration: 12h 5m", "services[0].duration", "5m to 12h"),
            ("duration: 45m", "duration: 45m 30s", "services[0].duration", "whole minutes"),
            ("duration: 45m", "duration: 45", "services[0].duration", "such as 45m"),
            ("duration: 45m", "duration: soon", "services[0].duration", "such as 45m"),
            ("slot_step: 15m", "slot_step: 3m", "slot_step", "5m to 2h"),
            ("slot_step: 15m", "slot_step: 3h", "slot_step", "5m to 2h"),
            ("horizon: 30d", "horizon: 0d", "horizon", "1d to 365d"),
            ("horizon: 30d", "horizon: 366d", "horizon", "1d to 365d"),
            ("horizon: 30d", "horizon: 36h", "horizon", "whole days"),
            ("cancellation_cutoff: 3h", "cancellation_cutoff: 8d", "cancellation_cutoff", "0 to 7d"),
            ("feedback_delay: 2h", "feedback_delay: 7d 1m", "feedback_delay", "0 to 7d"),
            ("feedback_delay: 2h", "feedback_delay: 99999999999999d", "feedback_delay", "0 to 7d"),
        ];
        for (line, replacement, key, detail) in cases {
            assert_invalid(&with(line, replacement), key, detail);
        }
        let t = parse(&with("cancellation_cutoff: 3h", "cancellation_cutoff: 0"), "test").unwrap();
        assert_eq!(t.cancellation_cutoff_minutes, 0);
        let t = parse(&with("duration: 45m", "duration: 1h 30m"), "test").unwrap();
        assert_eq!(t.services[0].duration_minutes, 90);
    }

    #[test]
    fn booking_limit_rules() {
        for bad in ["0", "21", "-1", "three", "2.5"] {
            let text = with("max_active_bookings: 3", &format!("max_active_bookings: {bad}"));
            assert_invalid(&text, "max_active_bookings", "1 to 20");
        }
        assert_eq!(
            parse(&with("max_active_bookings: 3", "max_active_bookings: 20"), "t").unwrap().max_active_bookings,
            20
        );
    }

    #[test]
    fn hours_rules() {
        let mon = r#"  mon: ["10:00-14:00", "15:00-21:00"]"#;
        for bad in [
            "10-14",
            "10:00",
            "10:00-10:00",
            "14:00-10:00",
            "10:00-24:00",
            "10:60-11:00",
            "10:00:00-11:00",
            "ab:cd-ef:gh",
        ] {
            assert_invalid(&with(mon, &format!("  mon: [\"{bad}\"]")), "hours.mon[0]", "HH:MM-HH:MM");
        }
        let overlap = with(mon, r#"  mon: ["15:00-21:00", "10:00-15:30"]"#);
        assert_invalid(&overlap, "hours.mon[0]", "overlap hours.mon[1]");
        let closed = with(mon, "  mon: []").replace("  tue: [\"10:00-21:00\"]", "  tue:");
        assert_invalid(&closed, "hours", "at least one weekday");

        // Breaks are allowed, touching intervals are not an overlap, and output is sorted by day then time.
        let t = parse(
            &with(
                mon,
                r#"  sun: ["9:00-12:00"]
  mon: ["15:00-21:00", "10:00-15:00"]"#,
            ),
            "test",
        )
        .unwrap();
        let got: Vec<(Weekday, String)> =
            t.hours.iter().map(|h| (h.weekday, h.opens.format("%H:%M").to_string())).collect();
        let want = [(Weekday::Mon, "10:00"), (Weekday::Mon, "15:00"), (Weekday::Tue, "10:00"), (Weekday::Sun, "09:00")];
        assert_eq!(got, want.map(|(d, s)| (d, s.to_string())));
    }

    #[test]
    fn working_intervals_serialize_as_written() {
        let interval = WorkingInterval {
            weekday: Weekday::Mon,
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            closes: NaiveTime::from_hms_opt(13, 30, 0).unwrap(),
        };
        let json = serde_json::to_string(&interval).unwrap();
        assert_eq!(json, r#"{"weekday":"mon","opens":"09:00","closes":"13:30"}"#);
        assert_eq!(serde_json::to_string(&Locale::Ru).unwrap(), r#""ru""#);
    }

    #[test]
    fn locale_parses_and_displays() {
        assert_eq!("ru".parse::<Locale>().unwrap(), Locale::Ru);
        assert_eq!("en".parse::<Locale>().unwrap(), Locale::En);
        assert_eq!(Locale::En.to_string(), "en");
        let message = "de".parse::<Locale>().unwrap_err().to_string();
        assert!(message.contains("`ru`") && message.contains("`en`") && message.contains("`de`"), "{message}");
    }

    #[test]
    fn errors_name_the_origin_key_value_and_rule() {
        let err = parse(&with("duration: 45m", "duration: 3m"), "template file `shop.yaml`").unwrap_err();
        assert_eq!(
            err.to_string(),
            "template file `shop.yaml`: invalid services[0].duration \"3m\": \
             must be a duration such as 45m or 1h 30m, whole minutes from 5m to 12h"
        );
        let (_, detail) = invalid(&with("description: A haircut", &format!("description: {}", "z".repeat(600))));
        assert!(detail.len() < 200, "long values are cut short: {detail}");
    }

    #[test]
    fn resolve_picks_a_file_or_an_embedded_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custom.yaml");
        std::fs::write(&path, VALID).unwrap();

        // A file keeps its own locale; the caller decides whether a mismatch matters.
        let t = resolve(path.to_str().unwrap(), Locale::Ru).unwrap();
        assert_eq!((t.name.as_str(), t.locale), ("test_shop", Locale::En));
        let t = resolve("clinic", Locale::Ru).unwrap();
        assert_eq!((t.name.as_str(), t.locale), ("clinic", Locale::Ru));

        // A bare name ending in .yaml is a (missing, relative) file, not an unknown embedded name.
        let err = resolve("barbershop.yaml", Locale::En).unwrap_err();
        assert!(matches!(&err, TemplateError::Read { path, .. } if path == Path::new("barbershop.yaml")), "{err:?}");
        assert!(matches!(resolve("x.YML", Locale::En), Err(TemplateError::Read { .. })));
        assert!(matches!(resolve("./clinic", Locale::En), Err(TemplateError::Read { .. })));
        assert!(matches!(resolve("bakery", Locale::En), Err(TemplateError::UnknownEmbedded { .. })));

        std::fs::write(&path, "name: x\nsurprise: 1\n").unwrap();
        let message = chain(&resolve(path.to_str().unwrap(), Locale::En).unwrap_err());
        assert!(message.contains(&path.display().to_string()) && message.contains("surprise"), "{message}");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let inputs = [
            "\u{0}",
            "name: [",
            "services: {a: b}",
            "&a [*a]",
            "name: test_shop\nservices:\n  - name: x\n    duration: 1h\n    price: \u{1F600}\n",
            &with("price: 1499.50", "price: \"\u{0661}\u{0662}\""),
            &with("  tue: [\"10:00-21:00\"]", "  tue: [\"\u{0661}0:00-21:00\"]"),
            &with("duration: 45m", "duration: 18446744073709551615s"),
        ];
        for input in inputs {
            assert!(parse(input, "test").is_err(), "{input:?}");
        }
    }
}
