//! The admin panel's part of the button wire format: `a` and then the panel's section. Every section
//! declares the permission it needs (`Admin::need`), which the handler tree checks before any admin
//! handler runs.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use super::CallbackError;
use crate::bot::admin::access::{Need, Permission};
use crate::bot::texts::Text;
use crate::telegram::runtime::callback::{id, instant, small};

/// An admin button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// The panel's main menu.
    Menu,
    /// Figures for today, this week or this month.
    Dashboard(Period),
    /// The schedule's days, weeks and bookings.
    Schedule(ScheduleAction),
    /// Time the business takes for itself.
    Block(BlockAction),
    Services(ServiceAction),
    /// Hours, date exceptions and the booking rules.
    Settings(SettingsAction),
    Texts(TextAction),
    Exports(ExportAction),
    Broadcast(BroadcastAction),
    Staff(StaffAction),
    Audit(AuditAction),
}

/// A part of the panel. Permissions are granted per part: every button and every question of a part
/// needs the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The main menu and the dashboard: any admin.
    Panel,
    Schedule,
    Blocks,
    Services,
    Settings,
    Texts,
    Exports,
    Broadcast,
    Staff,
    Audit,
}

impl Section {
    pub fn need(self) -> Need {
        match self {
            Section::Panel => Need::Admin,
            Section::Schedule => Need::Permission(Permission::Bookings),
            Section::Blocks | Section::Settings => Need::Permission(Permission::Schedule),
            Section::Services => Need::Permission(Permission::Services),
            Section::Texts => Need::Permission(Permission::Texts),
            Section::Exports => Need::Permission(Permission::Export),
            Section::Broadcast => Need::Permission(Permission::Broadcast),
            Section::Staff => Need::Permission(Permission::Admins),
            Section::Audit => Need::Permission(Permission::Audit),
        }
    }
}

impl Admin {
    pub fn section(&self) -> Section {
        match self {
            Admin::Menu | Admin::Dashboard(_) => Section::Panel,
            Admin::Schedule(_) => Section::Schedule,
            Admin::Block(_) => Section::Blocks,
            Admin::Services(_) => Section::Services,
            Admin::Settings(_) => Section::Settings,
            Admin::Texts(_) => Section::Texts,
            Admin::Exports(_) => Section::Exports,
            Admin::Broadcast(_) => Section::Broadcast,
            Admin::Staff(_) => Section::Staff,
            Admin::Audit(_) => Section::Audit,
        }
    }

    /// What pressing the button needs: its section's rule.
    pub fn need(&self) -> Need {
        self.section().need()
    }

    /// One of each button, with `id` wherever an id goes: the permission test presses them all, and the
    /// format tests round-trip them.
    pub fn samples(id: i64) -> Vec<Admin> {
        let date = NaiveDate::from_ymd_opt(2099, 12, 31).unwrap_or_default();
        let at = DateTime::from_timestamp(4_102_444_800, 0).unwrap_or_default();
        let text = Text::StartWelcomeNew;
        let mut all = vec![Admin::Menu];
        all.extend([Period::Today, Period::Week, Period::Month].map(Admin::Dashboard));
        all.extend(
            [
                ScheduleAction::Day { date },
                ScheduleAction::Week { monday: date },
                ScheduleAction::Card { booking: id },
                ScheduleAction::Cancel { booking: id },
                ScheduleAction::Mark { booking: id, outcome: Outcome::Done },
                ScheduleAction::Mark { booking: id, outcome: Outcome::NoShow },
                ScheduleAction::Move { booking: id },
                ScheduleAction::MoveConfirm { booking: id, starts_at: at },
            ]
            .map(Admin::Schedule),
        );
        all.extend(
            [BlockAction::List, BlockAction::Add, BlockAction::Confirm, BlockAction::Remove { block: id }]
                .map(Admin::Block),
        );
        all.extend(
            [
                ServiceAction::List,
                ServiceAction::Card { service: id },
                ServiceAction::New,
                ServiceAction::Toggle { service: id },
                ServiceAction::Up { service: id },
                ServiceAction::Down { service: id },
                ServiceAction::Delete { service: id },
                ServiceAction::DeleteConfirm { service: id },
            ]
            .map(Admin::Services),
        );
        all.extend(ServiceField::ALL.map(|field| Admin::Services(ServiceAction::Edit { service: id, field })));
        all.extend(
            [
                SettingsAction::Menu,
                SettingsAction::Hours,
                SettingsAction::HoursDay { weekday: 7 },
                SettingsAction::Exceptions,
                SettingsAction::ExceptionAdd,
                SettingsAction::ExceptionRemove { day: date },
            ]
            .map(Admin::Settings),
        );
        all.extend(SettingField::ALL.map(|field| Admin::Settings(SettingsAction::Edit { field })));
        all.extend(
            [
                TextAction::List { page: 3 },
                TextAction::Card { text },
                TextAction::Edit { text },
                TextAction::Save { text },
                TextAction::Reset { text },
            ]
            .map(Admin::Texts),
        );
        all.extend(
            [
                ExportAction::Menu,
                ExportAction::Bookings { from: date, to: date },
                ExportAction::BookingsRange,
                ExportAction::Customers,
                ExportAction::Feedback,
            ]
            .map(Admin::Exports),
        );
        all.extend([BroadcastAction::Compose, BroadcastAction::Send, BroadcastAction::Cancel].map(Admin::Broadcast));
        all.extend(
            [
                StaffAction::List,
                StaffAction::Card { user: id },
                StaffAction::Add,
                StaffAction::Role { user: id, owner: true },
                StaffAction::Role { user: id, owner: false },
                StaffAction::Remove { user: id },
                StaffAction::RemoveConfirm { user: id },
            ]
            .map(Admin::Staff),
        );
        all.extend(Permission::ALL.map(|permission| Admin::Staff(StaffAction::Toggle { user: id, permission })));
        all.extend([AuditAction::Page { page: 7 }, AuditAction::Csv].map(Admin::Audit));
        all
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    /// One local day's bookings and blocks.
    Day { date: NaiveDate },
    /// The week starting on `monday`, day by day.
    Week { monday: NaiveDate },
    /// A booking's card: the customer, the service, their history, what can be done.
    Card { booking: i64 },
    /// Asks for the reason, then cancels and tells the customer.
    Cancel { booking: i64 },
    /// Marks a visit that has begun.
    Mark { booking: i64, outcome: Outcome },
    /// Asks for the new date and time.
    Move { booking: i64 },
    /// Moves it there and tells the customer.
    MoveConfirm { booking: i64, starts_at: DateTime<Utc> },
}

/// How a visit went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    NoShow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockAction {
    /// The blocks ahead.
    List,
    /// Asks for the date and times, then the reason.
    Add,
    /// Takes the block the admin has described (kept in the dialogue), cancelling what it overlaps.
    Confirm,
    /// Frees the time again.
    Remove { block: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceAction {
    List,
    Card {
        service: i64,
    },
    /// Asks for a new service's fields one by one.
    New,
    Edit {
        service: i64,
        field: ServiceField,
    },
    /// Enables or disables it.
    Toggle {
        service: i64,
    },
    Up {
        service: i64,
    },
    Down {
        service: i64,
    },
    /// Asks to confirm deleting a service without future bookings.
    Delete {
        service: i64,
    },
    DeleteConfirm {
        service: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ServiceField {
    Name,
    Description,
    Duration,
    Price,
    SlotStep,
}

impl ServiceField {
    pub const ALL: [ServiceField; 5] = [
        ServiceField::Name,
        ServiceField::Description,
        ServiceField::Duration,
        ServiceField::Price,
        ServiceField::SlotStep,
    ];

    fn code(self) -> &'static str {
        match self {
            ServiceField::Name => "n",
            ServiceField::Description => "d",
            ServiceField::Duration => "u",
            ServiceField::Price => "p",
            ServiceField::SlotStep => "s",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsAction {
    /// Every setting with its value.
    Menu,
    /// Asks for a new value.
    Edit {
        field: SettingField,
    },
    /// The weekly hours.
    Hours,
    /// Asks for one weekday's intervals (ISO: 1 = Monday).
    HoursDay {
        weekday: u8,
    },
    /// Dates with their own hours, ahead.
    Exceptions,
    /// Asks for a date and its hours (or closed).
    ExceptionAdd,
    ExceptionRemove {
        day: NaiveDate,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SettingField {
    SlotStep,
    Horizon,
    MinLead,
    Cutoff,
    MaxActive,
    Reminders,
    Address,
    Contacts,
    TimeZone,
}

impl SettingField {
    pub const ALL: [SettingField; 9] = [
        SettingField::SlotStep,
        SettingField::Horizon,
        SettingField::MinLead,
        SettingField::Cutoff,
        SettingField::MaxActive,
        SettingField::Reminders,
        SettingField::Address,
        SettingField::Contacts,
        SettingField::TimeZone,
    ];

    fn code(self) -> &'static str {
        match self {
            SettingField::SlotStep => "step",
            SettingField::Horizon => "horizon",
            SettingField::MinLead => "lead",
            SettingField::Cutoff => "cutoff",
            SettingField::MaxActive => "max",
            SettingField::Reminders => "remind",
            SettingField::Address => "address",
            SettingField::Contacts => "contacts",
            SettingField::TimeZone => "tz",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextAction {
    /// The customer-facing texts, a page at a time.
    List { page: u16 },
    /// A text's default and current wording.
    Card { text: Text },
    /// Asks for the new wording, then previews it.
    Edit { text: Text },
    /// Saves the previewed wording (kept in the dialogue).
    Save { text: Text },
    /// Back to the default.
    Reset { text: Text },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportAction {
    Menu,
    /// Bookings starting on local dates `from..=to`.
    Bookings {
        from: NaiveDate,
        to: NaiveDate,
    },
    /// Asks for a date range.
    BookingsRange,
    Customers,
    Feedback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastAction {
    /// Asks for the message.
    Compose,
    /// Sends the previewed message (kept in the dialogue) to every customer.
    Send,
    /// Drops the previewed message and goes back to the menu.
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    List,
    Card {
        user: i64,
    },
    /// Asks for the new admin's Telegram id.
    Add,
    /// Makes the admin an owner or a manager.
    Role {
        user: i64,
        owner: bool,
    },
    /// Grants or withdraws one of a manager's permissions.
    Toggle {
        user: i64,
        permission: Permission,
    },
    Remove {
        user: i64,
    },
    RemoveConfirm {
        user: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// Newest first, ten to a page; page 0 is the newest.
    Page {
        page: u16,
    },
    Csv,
}

fn day(s: &str) -> Result<NaiveDate, CallbackError> {
    NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|_| CallbackError)
}

fn ymd(date: &NaiveDate) -> impl fmt::Display {
    date.format("%Y%m%d")
}

impl fmt::Display for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admin::Menu => write!(f, "a"),
            Admin::Dashboard(period) => {
                let p = match period {
                    Period::Today => "t",
                    Period::Week => "w",
                    Period::Month => "m",
                };
                write!(f, "a:db:{p}")
            }
            Admin::Schedule(a) => match a {
                ScheduleAction::Day { date } => write!(f, "a:sc:d:{}", ymd(date)),
                ScheduleAction::Week { monday } => write!(f, "a:sc:w:{}", ymd(monday)),
                ScheduleAction::Card { booking } => write!(f, "a:sc:c:{booking}"),
                ScheduleAction::Cancel { booking } => write!(f, "a:sc:x:{booking}"),
                ScheduleAction::Mark { booking, outcome } => {
                    let o = if *outcome == Outcome::Done { "d" } else { "n" };
                    write!(f, "a:sc:k:{booking}:{o}")
                }
                ScheduleAction::Move { booking } => write!(f, "a:sc:v:{booking}"),
                ScheduleAction::MoveConfirm { booking, starts_at } => {
                    write!(f, "a:sc:V:{booking}:{}", starts_at.timestamp())
                }
            },
            Admin::Block(a) => match a {
                BlockAction::List => write!(f, "a:bl:l"),
                BlockAction::Add => write!(f, "a:bl:a"),
                BlockAction::Confirm => write!(f, "a:bl:c"),
                BlockAction::Remove { block } => write!(f, "a:bl:r:{block}"),
            },
            Admin::Services(a) => match a {
                ServiceAction::List => write!(f, "a:sv:l"),
                ServiceAction::Card { service } => write!(f, "a:sv:c:{service}"),
                ServiceAction::New => write!(f, "a:sv:n"),
                ServiceAction::Edit { service, field } => write!(f, "a:sv:e:{service}:{}", field.code()),
                ServiceAction::Toggle { service } => write!(f, "a:sv:t:{service}"),
                ServiceAction::Up { service } => write!(f, "a:sv:u:{service}"),
                ServiceAction::Down { service } => write!(f, "a:sv:w:{service}"),
                ServiceAction::Delete { service } => write!(f, "a:sv:x:{service}"),
                ServiceAction::DeleteConfirm { service } => write!(f, "a:sv:X:{service}"),
            },
            Admin::Settings(a) => match a {
                SettingsAction::Menu => write!(f, "a:st:m"),
                SettingsAction::Edit { field } => write!(f, "a:st:e:{}", field.code()),
                SettingsAction::Hours => write!(f, "a:st:h"),
                SettingsAction::HoursDay { weekday } => write!(f, "a:st:h:{weekday}"),
                SettingsAction::Exceptions => write!(f, "a:st:x"),
                SettingsAction::ExceptionAdd => write!(f, "a:st:xa"),
                SettingsAction::ExceptionRemove { day } => write!(f, "a:st:xr:{}", ymd(day)),
            },
            Admin::Texts(a) => match a {
                TextAction::List { page } => write!(f, "a:tx:l:{page}"),
                TextAction::Card { text } => write!(f, "a:tx:c:{}", text.key()),
                TextAction::Edit { text } => write!(f, "a:tx:e:{}", text.key()),
                TextAction::Save { text } => write!(f, "a:tx:s:{}", text.key()),
                TextAction::Reset { text } => write!(f, "a:tx:r:{}", text.key()),
            },
            Admin::Exports(a) => match a {
                ExportAction::Menu => write!(f, "a:ex:m"),
                ExportAction::Bookings { from, to } => write!(f, "a:ex:b:{}:{}", ymd(from), ymd(to)),
                ExportAction::BookingsRange => write!(f, "a:ex:br"),
                ExportAction::Customers => write!(f, "a:ex:c"),
                ExportAction::Feedback => write!(f, "a:ex:f"),
            },
            Admin::Broadcast(a) => match a {
                BroadcastAction::Compose => write!(f, "a:bc:n"),
                BroadcastAction::Send => write!(f, "a:bc:s"),
                BroadcastAction::Cancel => write!(f, "a:bc:x"),
            },
            Admin::Staff(a) => match a {
                StaffAction::List => write!(f, "a:ad:l"),
                StaffAction::Card { user } => write!(f, "a:ad:c:{user}"),
                StaffAction::Add => write!(f, "a:ad:a"),
                StaffAction::Role { user, owner } => write!(f, "a:ad:r:{user}:{}", if *owner { "o" } else { "m" }),
                StaffAction::Toggle { user, permission } => write!(f, "a:ad:p:{user}:{permission}"),
                StaffAction::Remove { user } => write!(f, "a:ad:x:{user}"),
                StaffAction::RemoveConfirm { user } => write!(f, "a:ad:X:{user}"),
            },
            Admin::Audit(a) => match a {
                AuditAction::Page { page } => write!(f, "a:au:p:{page}"),
                AuditAction::Csv => write!(f, "a:au:csv"),
            },
        }
    }
}

/// Parses what follows `a:`, split at colons.
pub(super) fn parse(parts: &[&str]) -> Result<Admin, CallbackError> {
    let text = |key: &str| Text::from_key(key).filter(|t| t.editable()).ok_or(CallbackError);
    Ok(match parts {
        [] => Admin::Menu,
        ["db", "t"] => Admin::Dashboard(Period::Today),
        ["db", "w"] => Admin::Dashboard(Period::Week),
        ["db", "m"] => Admin::Dashboard(Period::Month),
        ["sc", rest @ ..] => Admin::Schedule(match rest {
            ["d", date] => ScheduleAction::Day { date: day(date)? },
            ["w", date] => ScheduleAction::Week { monday: day(date)? },
            ["c", b] => ScheduleAction::Card { booking: id(b)? },
            ["x", b] => ScheduleAction::Cancel { booking: id(b)? },
            ["k", b, "d"] => ScheduleAction::Mark { booking: id(b)?, outcome: Outcome::Done },
            ["k", b, "n"] => ScheduleAction::Mark { booking: id(b)?, outcome: Outcome::NoShow },
            ["v", b] => ScheduleAction::Move { booking: id(b)? },
            ["V", b, at] => ScheduleAction::MoveConfirm { booking: id(b)?, starts_at: instant(at)? },
            _ => return Err(CallbackError),
        }),
        ["bl", rest @ ..] => Admin::Block(match rest {
            ["l"] => BlockAction::List,
            ["a"] => BlockAction::Add,
            ["c"] => BlockAction::Confirm,
            ["r", b] => BlockAction::Remove { block: id(b)? },
            _ => return Err(CallbackError),
        }),
        ["sv", rest @ ..] => Admin::Services(match rest {
            ["l"] => ServiceAction::List,
            ["n"] => ServiceAction::New,
            ["c", s] => ServiceAction::Card { service: id(s)? },
            ["e", s, code] => {
                let field = ServiceField::ALL.into_iter().find(|f| f.code() == *code).ok_or(CallbackError)?;
                ServiceAction::Edit { service: id(s)?, field }
            }
            ["t", s] => ServiceAction::Toggle { service: id(s)? },
            ["u", s] => ServiceAction::Up { service: id(s)? },
            ["w", s] => ServiceAction::Down { service: id(s)? },
            ["x", s] => ServiceAction::Delete { service: id(s)? },
            ["X", s] => ServiceAction::DeleteConfirm { service: id(s)? },
            _ => return Err(CallbackError),
        }),
        ["st", rest @ ..] => Admin::Settings(match rest {
            ["m"] => SettingsAction::Menu,
            ["e", code] => {
                let field = SettingField::ALL.into_iter().find(|f| f.code() == *code).ok_or(CallbackError)?;
                SettingsAction::Edit { field }
            }
            ["h"] => SettingsAction::Hours,
            ["h", weekday] => {
                let weekday = small::<u8>(weekday).ok().filter(|w| (1..=7).contains(w)).ok_or(CallbackError)?;
                SettingsAction::HoursDay { weekday }
            }
            ["x"] => SettingsAction::Exceptions,
            ["xa"] => SettingsAction::ExceptionAdd,
            ["xr", date] => SettingsAction::ExceptionRemove { day: day(date)? },
            _ => return Err(CallbackError),
        }),
        ["tx", rest @ ..] => Admin::Texts(match rest {
            ["l", page] => TextAction::List { page: small(page)? },
            ["c", key] => TextAction::Card { text: text(key)? },
            ["e", key] => TextAction::Edit { text: text(key)? },
            ["s", key] => TextAction::Save { text: text(key)? },
            ["r", key] => TextAction::Reset { text: text(key)? },
            _ => return Err(CallbackError),
        }),
        ["ex", rest @ ..] => Admin::Exports(match rest {
            ["m"] => ExportAction::Menu,
            ["b", from, to] => ExportAction::Bookings { from: day(from)?, to: day(to)? },
            ["br"] => ExportAction::BookingsRange,
            ["c"] => ExportAction::Customers,
            ["f"] => ExportAction::Feedback,
            _ => return Err(CallbackError),
        }),
        ["bc", "n"] => Admin::Broadcast(BroadcastAction::Compose),
        ["bc", "s"] => Admin::Broadcast(BroadcastAction::Send),
        ["bc", "x"] => Admin::Broadcast(BroadcastAction::Cancel),
        ["ad", rest @ ..] => Admin::Staff(match rest {
            ["l"] => StaffAction::List,
            ["a"] => StaffAction::Add,
            ["c", u] => StaffAction::Card { user: id(u)? },
            ["r", u, "o"] => StaffAction::Role { user: id(u)?, owner: true },
            ["r", u, "m"] => StaffAction::Role { user: id(u)?, owner: false },
            ["p", u, p] => StaffAction::Toggle { user: id(u)?, permission: p.parse().map_err(|()| CallbackError)? },
            ["x", u] => StaffAction::Remove { user: id(u)? },
            ["X", u] => StaffAction::RemoveConfirm { user: id(u)? },
            _ => return Err(CallbackError),
        }),
        ["au", "p", page] => Admin::Audit(AuditAction::Page { page: small(page)? }),
        ["au", "csv"] => Admin::Audit(AuditAction::Csv),
        _ => return Err(CallbackError),
    })
}
