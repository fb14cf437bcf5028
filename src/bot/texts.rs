//! The booking bot's texts: every text customers and the business's admins see, as a key with Russian
//! and English defaults (`templates/texts/{ru,en}.yaml` and `templates/texts/admin/`, compiled in), and
//! the tenant's own wording laid over them by the shared catalogue machinery.
//!
//! A text is one of five kinds (`Kind`): a message in Telegram HTML, or plain text for a fragment that
//! code puts into other texts (a date, "tomorrow"), a pop-up alert, a button label or a command
//! description. Each key declares its placeholders here; both locales and every override must use
//! exactly those, so a handler never renders a text that expects a value it does not pass.

use crate::locale::Locale;
use crate::telegram::runtime::texts::{self as machinery};
pub use crate::telegram::runtime::texts::{Kind, TextError, escape_html};

/// The tenant's catalogue.
pub type Catalog = machinery::Catalog<Text>;
/// The catalogue a running bot speaks with.
pub type LiveCatalog = machinery::LiveCatalog<Text>;

crate::texts! {
    yaml: embedded_yaml,
    editable: Text::editable,
    reply_buttons: &REPLY_BUTTONS;

    CommandsStart: Command = "commands.start";
    CommandsBook: Command = "commands.book";
    CommandsMy: Command = "commands.my";
    CommandsAbout: Command = "commands.about";
    CommandsHelp: Command = "commands.help";
    CommandsCancel: Command = "commands.cancel";

    MenuBook: Label = "menu.book";
    MenuMy: Label = "menu.my";
    MenuServices: Label = "menu.services";
    MenuAbout: Label = "menu.about";
    MenuHelp: Label = "menu.help";
    MenuPlaceholder: Label = "menu.placeholder";

    StartWelcomeNew: Html = "start.welcome_new" { name };
    StartWelcomeBack: Html = "start.welcome_back" { name };
    HelpText: Html = "help.text" { rules };
    RulesCutoff: Fragment = "rules.cutoff" { cutoff };
    RulesNoCutoff: Fragment = "rules.no_cutoff";
    RulesLimit: Fragment = "rules.limit" { limit };
    UnknownMessage: Html = "unknown.message";
    CancelCommandDone: Html = "cancel_command.done";
    CancelCommandNothing: Html = "cancel_command.nothing";

    ServicesListHeader: Html = "services.list_header";
    ServicesItem: Html = "services.item" { name, duration, price, description };
    ServicesEmpty: Html = "services.empty";

    BookingChooseService: Html = "booking.choose_service";
    BookingServiceButton: Fragment = "booking.service_button" { name, duration, price };
    BookingNoServices: Html = "booking.no_services";
    BookingServiceUnavailable: Html = "booking.service_unavailable";
    BookingChooseDay: Html = "booking.choose_day" { service };
    BookingNoFreeDays: Html = "booking.no_free_days";
    BookingChooseTime: Html = "booking.choose_time" { service, date };
    BookingNoFreeTimes: Html = "booking.no_free_times" { date };
    BookingTimePassed: Html = "booking.time_passed";
    BookingConfirmCard: Html = "booking.confirm_card" { service, date, time, duration, price, address };
    BookingConfirmButton: Label = "booking.confirm_button";
    BookingOtherTime: Label = "booking.other_time";
    BookingOtherDay: Label = "booking.other_day";
    BookingConfirmed: Html = "booking.confirmed" { service, date, time, address };
    BookingSlotTaken: Html = "booking.slot_taken" { date };
    BookingLimitReached: Html = "booking.limit_reached" { limit };
    BookingAskPhone: Html = "booking.ask_phone";
    BookingPhoneButton: Label = "booking.phone_button";
    BookingSkipPhone: Label = "booking.skip_phone";
    BookingPhoneInvalid: Html = "booking.phone_invalid";
    BookingPhoneNoCountry: Html = "booking.phone_no_country";
    BookingPhoneTooShort: Html = "booking.phone_too_short";
    BookingPhoneTooLong: Html = "booking.phone_too_long";
    BookingPhoneBadLength: Html = "booking.phone_bad_length";
    BookingAborted: Html = "booking.aborted";

    MyHeader: Html = "my.header";
    MyEmpty: Html = "my.empty";
    MyItem: Html = "my.item" { number, service, date, time, duration, price };
    MyCancelButton: Fragment = "my.cancel_button" { number };
    MyMoveButton: Fragment = "my.move_button" { number };
    MyNotFound: Html = "my.not_found";

    CancelConfirm: Html = "cancel.confirm" { service, date, time };
    CancelConfirmButton: Label = "cancel.confirm_button";
    CancelKeepButton: Label = "cancel.keep_button";
    CancelDone: Html = "cancel.done" { service, date, time };
    CancelKept: Html = "cancel.kept";
    CancelTooLate: Html = "cancel.too_late" { cutoff, phone };

    MoveChooseDay: Html = "move.choose_day" { service, date, time };
    MoveChooseTime: Html = "move.choose_time" { service, date };
    MoveConfirmCard: Html = "move.confirm_card" { service, old_date, old_time, date, time };
    MoveConfirmButton: Label = "move.confirm_button";
    MoveDone: Html = "move.done" { service, date, time };
    MoveTooLate: Html = "move.too_late" { cutoff, phone };
    MoveAborted: Html = "move.aborted";

    AboutText: Html = "about.text" { name, address, phone, map_link, hours };
    HoursDay: Fragment = "hours.day" { day, intervals };
    HoursClosed: Fragment = "hours.closed" { day };

    DateFormat: Fragment = "date.format" { weekday, day, month };
    DateMonth1: Label = "date.month.1";
    DateMonth2: Label = "date.month.2";
    DateMonth3: Label = "date.month.3";
    DateMonth4: Label = "date.month.4";
    DateMonth5: Label = "date.month.5";
    DateMonth6: Label = "date.month.6";
    DateMonth7: Label = "date.month.7";
    DateMonth8: Label = "date.month.8";
    DateMonth9: Label = "date.month.9";
    DateMonth10: Label = "date.month.10";
    DateMonth11: Label = "date.month.11";
    DateMonth12: Label = "date.month.12";

    CalendarHeader: Fragment = "calendar.header" { month, year };
    CalendarMonth1: Label = "calendar.month.1";
    CalendarMonth2: Label = "calendar.month.2";
    CalendarMonth3: Label = "calendar.month.3";
    CalendarMonth4: Label = "calendar.month.4";
    CalendarMonth5: Label = "calendar.month.5";
    CalendarMonth6: Label = "calendar.month.6";
    CalendarMonth7: Label = "calendar.month.7";
    CalendarMonth8: Label = "calendar.month.8";
    CalendarMonth9: Label = "calendar.month.9";
    CalendarMonth10: Label = "calendar.month.10";
    CalendarMonth11: Label = "calendar.month.11";
    CalendarMonth12: Label = "calendar.month.12";
    CalendarWeekdayMon: Label = "calendar.weekday.mon";
    CalendarWeekdayTue: Label = "calendar.weekday.tue";
    CalendarWeekdayWed: Label = "calendar.weekday.wed";
    CalendarWeekdayThu: Label = "calendar.weekday.thu";
    CalendarWeekdayFri: Label = "calendar.weekday.fri";
    CalendarWeekdaySat: Label = "calendar.weekday.sat";
    CalendarWeekdaySun: Label = "calendar.weekday.sun";
    CalendarPrev: Label = "calendar.prev";
    CalendarNext: Label = "calendar.next";

    WhenToday: Fragment = "when.today";
    WhenTomorrow: Fragment = "when.tomorrow";
    WhenInMinutesOne: Fragment = "when.in_minutes.one" { n };
    WhenInMinutesFew: Fragment = "when.in_minutes.few" { n };
    WhenInMinutesMany: Fragment = "when.in_minutes.many" { n };
    WhenInHoursOne: Fragment = "when.in_hours.one" { n };
    WhenInHoursFew: Fragment = "when.in_hours.few" { n };
    WhenInHoursMany: Fragment = "when.in_hours.many" { n };
    WhenInDaysOne: Fragment = "when.in_days.one" { n };
    WhenInDaysFew: Fragment = "when.in_days.few" { n };
    WhenInDaysMany: Fragment = "when.in_days.many" { n };

    DurationMinutes: Fragment = "duration.minutes" { minutes };
    DurationHours: Fragment = "duration.hours" { hours };
    DurationHoursMinutes: Fragment = "duration.hours_minutes" { hours, minutes };
    PriceFree: Fragment = "price.free";

    RatingAsk: Html = "rating.ask" { service, date };
    RatingThanks: Html = "rating.thanks" { stars };
    RatingCommentPrompt: Html = "rating.comment_prompt";
    RatingSkipComment: Label = "rating.skip_comment";
    RatingCommentThanks: Html = "rating.comment_thanks";
    RatingAlreadyRated: Alert = "rating.already_rated";
    RatingNotYours: Alert = "rating.not_yours";

    StaleButton: Alert = "stale.button";
    ErrorGeneric: Alert = "error.generic";
    FloodSlowDown: Alert = "flood.slow_down";

    ReminderBefore: Html = "reminder.before" { service, date, time, address, when };
    ReminderCancelButton: Label = "reminder.cancel_button";
    ReminderMoveButton: Label = "reminder.move_button";

    NotifyAdminNewBooking: Html = "notify.admin.new_booking" { customer, customer_id, phone, service, date, time };
    NotifyAdminCancelled: Html = "notify.admin.cancelled" { customer, customer_id, service, date, time };
    NotifyAdminMoved: Html =
        "notify.admin.moved" { customer, customer_id, service, old_date, old_time, date, time };
    NotifyAdminNewRating: Html = "notify.admin.new_rating" { customer, customer_id, service, date, stars, comment };
    NotifyCustomerCancelledByAdmin: Html = "notify.customer.cancelled_by_admin" { service, date, time, reason };
    NotifyCustomerMovedByAdmin: Html =
        "notify.customer.moved_by_admin" { service, old_date, old_time, date, time };

    CommonBack: Label = "common.back";
    CommonCancel: Label = "common.cancel";
    CommonYes: Label = "common.yes";
    CommonNo: Label = "common.no";

    // The admin panel (templates/texts/admin/*.yaml). Only admins see these, so they are not editable.
    // -- panel (admin/panel.*.yaml)
    AdminCommandsAdmin: Command = "admin.commands.admin";
    AdminCommandsAudit: Command = "admin.commands.audit";
    AdminPanelTitle: Html = "admin.panel.title" { name, role };
    AdminPanelDashboard: Label = "admin.panel.dashboard";
    AdminPanelSchedule: Label = "admin.panel.schedule";
    AdminPanelBlocks: Label = "admin.panel.blocks";
    AdminPanelServices: Label = "admin.panel.services";
    AdminPanelSettings: Label = "admin.panel.settings";
    AdminPanelTexts: Label = "admin.panel.texts";
    AdminPanelExports: Label = "admin.panel.exports";
    AdminPanelBroadcast: Label = "admin.panel.broadcast";
    AdminPanelStaff: Label = "admin.panel.staff";
    AdminPanelAudit: Label = "admin.panel.audit";
    AdminRoleOwner: Fragment = "admin.role.owner";
    AdminRoleManager: Fragment = "admin.role.manager";
    AdminDenied: Html = "admin.denied";
    // The platform's notices about the subscription, written by `platform serve`: the operator's words.
    AdminBillingEndsSoon: Html = "admin.billing.ends_soon" { when, date, contact, renew_url };
    AdminBillingGrace: Html = "admin.billing.grace" { date, contact, renew_url };
    AdminBillingSuspended: Html = "admin.billing.suspended" { date, contact, renew_url };
    AdminDeniedAlert: Alert = "admin.denied_alert";
    AdminPromptHint: Fragment = "admin.prompt_hint";
    AdminPromptCancelled: Html = "admin.prompt_cancelled";
    AdminMenuButton: Label = "admin.menu_button";
    AdminGone: Alert = "admin.gone";
    AdminSaved: Alert = "admin.saved";
    // -- bookings: dashboard, schedule, blocks (admin/bookings.*.yaml)
    AdminDashTitle: Html = "admin.dash.title" {
        period, bookings, cancelled, no_shows, revenue, occupancy, new_customers, returning_customers, rating
    };
    AdminDashToday: Label = "admin.dash.today";
    AdminDashWeek: Label = "admin.dash.week";
    AdminDashMonth: Label = "admin.dash.month";
    AdminDashPeriodToday: Fragment = "admin.dash.period_today" { date };
    AdminDashPeriodRange: Fragment = "admin.dash.period_range" { from, to };
    AdminDashRating: Fragment = "admin.dash.rating" { average, count };
    AdminDashNone: Fragment = "admin.dash.none";
    AdminDayTitle: Html = "admin.day.title" { date };
    AdminDayBooking: Fragment = "admin.day.booking" { from, to, customer, service, status };
    AdminDayBlock: Fragment = "admin.day.block" { from, to, reason };
    AdminDayEmpty: Fragment = "admin.day.empty";
    AdminDayWeek: Label = "admin.day.week";
    AdminPrev: Label = "admin.prev";
    AdminNext: Label = "admin.next";
    AdminWeekTitle: Html = "admin.week.title" { from, to };
    AdminWeekDay: Fragment = "admin.week.day" { day, count, times };
    AdminStatusActive: Fragment = "admin.status.active";
    AdminStatusCancelled: Fragment = "admin.status.cancelled";
    AdminStatusCompleted: Fragment = "admin.status.completed";
    AdminStatusNoShow: Fragment = "admin.status.no_show";
    AdminCard: Html = "admin.card" {
        customer, customer_id, username, phone, service, price, date, time, status, reason, visits, no_shows,
        cancellations, last_visits
    };
    AdminCardCancel: Label = "admin.card.cancel";
    AdminCardMove: Label = "admin.card.move";
    AdminCardDone: Label = "admin.card.done";
    AdminCardNoShow: Label = "admin.card.no_show";
    AdminCardDay: Label = "admin.card.day";
    AdminCardOpen: Label = "admin.card.open";
    AdminNotActive: Alert = "admin.not_active";
    AdminNotStarted: Alert = "admin.not_started";
    AdminCancelAsk: Html = "admin.cancel.ask" { service, date, time };
    AdminCancelReasonBad: Html = "admin.cancel.reason_bad";
    AdminCancelDone: Html = "admin.cancel.done" { service, date, time };
    AdminMoveAsk: Html = "admin.move.ask" { service, date, time };
    AdminMovePreview: Html = "admin.move.preview" { service, old_date, old_time, date, time };
    AdminMoveConfirm: Label = "admin.move.confirm";
    AdminMoveDone: Html = "admin.move.done" { service, date, time };
    AdminMoveTaken: Alert = "admin.move.taken";
    AdminInputDateTime: Html = "admin.input.date_time";
    AdminInputInvalid: Html = "admin.input.invalid";
    AdminInputPast: Html = "admin.input.past";
    AdminInputTaken: Html = "admin.input.taken";
    AdminBlocksTitle: Html = "admin.blocks.title";
    AdminBlocksEmpty: Fragment = "admin.blocks.empty";
    AdminBlocksLine: Fragment = "admin.blocks.line" { n, date, from, to, reason };
    AdminBlocksAdd: Label = "admin.blocks.add";
    AdminBlocksRemoved: Alert = "admin.blocks.removed";
    AdminBlockAsk: Html = "admin.block.ask";
    AdminBlockFormat: Html = "admin.block.format";
    AdminBlockOrder: Html = "admin.block.order";
    AdminBlockOverlap: Html = "admin.block.overlap";
    AdminBlockAskReason: Html = "admin.block.ask_reason" { date, from, to };
    AdminBlockReasonBad: Html = "admin.block.reason_bad";
    AdminBlockPreview: Html = "admin.block.preview" { date, from, to, reason, count };
    AdminBlockPreviewLine: Fragment = "admin.block.preview_line" { date, time, customer, service };
    AdminBlockConfirm: Label = "admin.block.confirm";
    AdminBlockDone: Html = "admin.block.done" { date, from, to, count };
    AdminBlockChanged: Html = "admin.block.changed";
    AdminBlockWaiting: Html = "admin.block.waiting";
    // -- setup: services, settings, texts (admin/setup.*.yaml)
    AdminServicesList: Html = "admin.services.list";
    AdminServicesItem: Fragment = "admin.services.item" { mark, name };
    AdminServicesNew: Label = "admin.services.new";
    AdminServicesBackToList: Label = "admin.services.back_to_list";
    AdminServicesCard: Html = "admin.services.card" { name, state, description, duration, price, step };
    AdminServicesActive: Fragment = "admin.services.active";
    AdminServicesDisabled: Fragment = "admin.services.disabled";
    AdminServicesNoDescription: Fragment = "admin.services.no_description";
    AdminServicesDefaultStep: Fragment = "admin.services.default_step" { step };
    AdminServicesEditName: Label = "admin.services.edit_name";
    AdminServicesEditDescription: Label = "admin.services.edit_description";
    AdminServicesEditDuration: Label = "admin.services.edit_duration";
    AdminServicesEditPrice: Label = "admin.services.edit_price";
    AdminServicesEditStep: Label = "admin.services.edit_step";
    AdminServicesEnable: Label = "admin.services.enable";
    AdminServicesDisable: Label = "admin.services.disable";
    AdminServicesUp: Label = "admin.services.up";
    AdminServicesDown: Label = "admin.services.down";
    AdminServicesDelete: Label = "admin.services.delete";
    AdminServicesDeleteAsk: Html = "admin.services.delete_ask" { name };
    AdminServicesDeleteYes: Label = "admin.services.delete_yes";
    AdminServicesDeleted: Alert = "admin.services.deleted";
    AdminServicesHasFuture: Alert = "admin.services.has_future";
    AdminServicesNameTakenAlert: Alert = "admin.services.name_taken_alert";
    AdminServicesAskName: Html = "admin.services.ask_name";
    AdminServicesAskDescription: Html = "admin.services.ask_description";
    AdminServicesAskDuration: Html = "admin.services.ask_duration";
    AdminServicesAskPrice: Html = "admin.services.ask_price" { currency };
    AdminServicesAskStep: Html = "admin.services.ask_step" { step };
    AdminServicesBadName: Html = "admin.services.bad_name";
    AdminServicesNameTaken: Html = "admin.services.name_taken" { name };
    AdminServicesBadDescription: Html = "admin.services.bad_description";
    AdminServicesBadDuration: Html = "admin.services.bad_duration";
    AdminServicesBadPrice: Html = "admin.services.bad_price";
    AdminServicesBadStep: Html = "admin.services.bad_step";
    AdminSettingsMenu: Html =
        "admin.settings.menu" { step, horizon, lead, cutoff, max, reminders, address, contacts, tz };
    AdminSettingsUnset: Fragment = "admin.settings.unset";
    AdminSettingsDays: Fragment = "admin.settings.days" { n };
    AdminSettingsEditStep: Label = "admin.settings.edit_step";
    AdminSettingsEditHorizon: Label = "admin.settings.edit_horizon";
    AdminSettingsEditLead: Label = "admin.settings.edit_lead";
    AdminSettingsEditCutoff: Label = "admin.settings.edit_cutoff";
    AdminSettingsEditMax: Label = "admin.settings.edit_max";
    AdminSettingsEditReminders: Label = "admin.settings.edit_reminders";
    AdminSettingsEditAddress: Label = "admin.settings.edit_address";
    AdminSettingsEditContacts: Label = "admin.settings.edit_contacts";
    AdminSettingsEditTz: Label = "admin.settings.edit_tz";
    AdminSettingsHoursButton: Label = "admin.settings.hours_button";
    AdminSettingsExceptionsButton: Label = "admin.settings.exceptions_button";
    AdminSettingsBack: Label = "admin.settings.back";
    AdminSettingsAskStep: Html = "admin.settings.ask_step" { current };
    AdminSettingsAskHorizon: Html = "admin.settings.ask_horizon" { current };
    AdminSettingsAskLead: Html = "admin.settings.ask_lead" { current };
    AdminSettingsAskCutoff: Html = "admin.settings.ask_cutoff" { current };
    AdminSettingsAskMax: Html = "admin.settings.ask_max" { current };
    AdminSettingsAskReminders: Html = "admin.settings.ask_reminders" { current };
    AdminSettingsAskAddress: Html = "admin.settings.ask_address" { current };
    AdminSettingsAskContacts: Html = "admin.settings.ask_contacts" { current };
    AdminSettingsAskTz: Html = "admin.settings.ask_tz" { current };
    AdminSettingsBadStep: Html = "admin.settings.bad_step";
    AdminSettingsBadHorizon: Html = "admin.settings.bad_horizon";
    AdminSettingsBadLead: Html = "admin.settings.bad_lead";
    AdminSettingsBadCutoff: Html = "admin.settings.bad_cutoff";
    AdminSettingsBadMax: Html = "admin.settings.bad_max";
    AdminSettingsBadReminders: Html = "admin.settings.bad_reminders";
    AdminSettingsBadText: Html = "admin.settings.bad_text";
    AdminSettingsBadTz: Html = "admin.settings.bad_tz" { tz };
    AdminSettingsHours: Html = "admin.settings.hours" { days };
    AdminSettingsHoursLine: Fragment = "admin.settings.hours_line" { day, intervals };
    AdminSettingsClosed: Fragment = "admin.settings.closed";
    AdminSettingsAskHours: Html = "admin.settings.ask_hours" { day, current };
    AdminSettingsBadHoursFormat: Html = "admin.settings.bad_hours_format";
    AdminSettingsBadHoursOrder: Html = "admin.settings.bad_hours_order";
    AdminSettingsBadHoursOverlap: Html = "admin.settings.bad_hours_overlap";
    AdminSettingsExceptions: Html = "admin.settings.exceptions" { days };
    AdminSettingsExceptionsNone: Fragment = "admin.settings.exceptions_none";
    AdminSettingsExceptionAdd: Label = "admin.settings.exception_add";
    AdminSettingsExceptionRemove: Fragment = "admin.settings.exception_remove" { date };
    AdminSettingsAskException: Html = "admin.settings.ask_exception";
    AdminSettingsBadException: Html = "admin.settings.bad_exception";
    AdminSettingsPastDate: Html = "admin.settings.past_date";
    AdminTextsList: Html = "admin.texts.list" { page, pages };
    AdminTextsItemEdited: Fragment = "admin.texts.item_edited" { key };
    AdminTextsPrev: Label = "admin.texts.prev";
    AdminTextsNext: Label = "admin.texts.next";
    AdminTextsCard: Html = "admin.texts.card" { key, params, default, current };
    AdminTextsNoParams: Fragment = "admin.texts.no_params";
    AdminTextsEdit: Label = "admin.texts.edit";
    AdminTextsReset: Label = "admin.texts.reset";
    AdminTextsBack: Label = "admin.texts.back";
    AdminTextsSave: Label = "admin.texts.save";
    AdminTextsCancel: Label = "admin.texts.cancel";
    AdminTextsAsk: Html = "admin.texts.ask" { key, params, current };
    AdminTextsBadPlaceholders: Html = "admin.texts.bad_placeholders" { expected, found };
    AdminTextsBadHtml: Html = "admin.texts.bad_html" { detail };
    AdminTextsBadFormat: Html = "admin.texts.bad_format" { detail };
    AdminTextsPreview: Html = "admin.texts.preview";
    AdminTextsResetDone: Alert = "admin.texts.reset_done";
    // -- people: staff, audit, exports, broadcast (admin/people.*.yaml)
    AdminStaffList: Html = "admin.staff.list" { count };
    AdminStaffAdd: Label = "admin.staff.add";
    AdminStaffAddAsk: Html = "admin.staff.add_ask";
    AdminStaffIdInvalid: Html = "admin.staff.id_invalid";
    AdminStaffIdTaken: Html = "admin.staff.id_taken";
    AdminStaffCard: Html = "admin.staff.card" { name, role, permissions };
    AdminStaffAllPermissions: Fragment = "admin.staff.all_permissions";
    AdminStaffMakeOwner: Label = "admin.staff.make_owner";
    AdminStaffMakeManager: Label = "admin.staff.make_manager";
    AdminStaffRemove: Label = "admin.staff.remove";
    AdminStaffRemoveAsk: Html = "admin.staff.remove_ask" { name };
    AdminStaffRemoveYes: Label = "admin.staff.remove_yes";
    AdminStaffBack: Label = "admin.staff.back";
    AdminStaffOwnersOnly: Alert = "admin.staff.owners_only";
    AdminStaffNotYourself: Alert = "admin.staff.not_yourself";
    AdminStaffLastOwner: Alert = "admin.staff.last_owner";
    AdminStaffNotifyAdded: Html = "admin.staff.notify_added";
    AdminStaffNotifyOwner: Html = "admin.staff.notify_owner";
    AdminStaffNotifyManager: Html = "admin.staff.notify_manager";
    AdminStaffNotifyRemoved: Html = "admin.staff.notify_removed";
    AdminAuditTitle: Html = "admin.audit.title" { page, pages, total };
    AdminAuditEmpty: Fragment = "admin.audit.empty";
    AdminAuditEntry: Html = "admin.audit.entry" { when, actor, action, target, diff };
    AdminAuditNewer: Label = "admin.audit.newer";
    AdminAuditOlder: Label = "admin.audit.older";
    AdminAuditCsv: Label = "admin.audit.csv";
    AdminExportTitle: Html = "admin.export.title";
    AdminExportThisMonth: Label = "admin.export.this_month";
    AdminExportLastMonth: Label = "admin.export.last_month";
    AdminExportNext30: Label = "admin.export.next_30";
    AdminExportRange: Label = "admin.export.range";
    AdminExportCustomers: Label = "admin.export.customers";
    AdminExportFeedback: Label = "admin.export.feedback";
    AdminExportRangeAsk: Html = "admin.export.range_ask";
    AdminExportRangeInvalid: Alert = "admin.export.range_invalid";
    AdminExportCaption: Html = "admin.export.caption" { file, rows };
    AdminBroadcastAsk: Html = "admin.broadcast.ask";
    AdminBroadcastTooLong: Html = "admin.broadcast.too_long" { max };
    AdminBroadcastPreview: Html = "admin.broadcast.preview" { recipients, text };
    AdminBroadcastSend: Label = "admin.broadcast.send";
    AdminBroadcastCancel: Label = "admin.broadcast.cancel";
    AdminBroadcastProgress: Html = "admin.broadcast.progress" { id, done, total };
    AdminBroadcastProgressDone: Html = "admin.broadcast.progress_done" { id, done, total };
    AdminBroadcastReport: Html = "admin.broadcast.report" { id, recipients, delivered, blocked, failed };
}

impl Text {
    /// Weekday names, Monday first (`chrono::Weekday::num_days_from_monday` indexes it).
    pub const WEEKDAYS: [Text; 7] = [
        Text::CalendarWeekdayMon,
        Text::CalendarWeekdayTue,
        Text::CalendarWeekdayWed,
        Text::CalendarWeekdayThu,
        Text::CalendarWeekdayFri,
        Text::CalendarWeekdaySat,
        Text::CalendarWeekdaySun,
    ];
    /// Month names as a calendar header shows them, January first (`month0()` indexes it).
    pub const MONTHS: [Text; 12] = [
        Text::CalendarMonth1,
        Text::CalendarMonth2,
        Text::CalendarMonth3,
        Text::CalendarMonth4,
        Text::CalendarMonth5,
        Text::CalendarMonth6,
        Text::CalendarMonth7,
        Text::CalendarMonth8,
        Text::CalendarMonth9,
        Text::CalendarMonth10,
        Text::CalendarMonth11,
        Text::CalendarMonth12,
    ];
    /// Month names as a date in `date.format` needs them; Russian puts the month after a day in the
    /// genitive ("15 марта"), unlike the header ("Март").
    pub const MONTHS_IN_DATES: [Text; 12] = [
        Text::DateMonth1,
        Text::DateMonth2,
        Text::DateMonth3,
        Text::DateMonth4,
        Text::DateMonth5,
        Text::DateMonth6,
        Text::DateMonth7,
        Text::DateMonth8,
        Text::DateMonth9,
        Text::DateMonth10,
        Text::DateMonth11,
        Text::DateMonth12,
    ];
    /// The one/few/many forms for `Catalog::render_count`.
    pub const IN_MINUTES: [Text; 3] = [Text::WhenInMinutesOne, Text::WhenInMinutesFew, Text::WhenInMinutesMany];
    pub const IN_HOURS: [Text; 3] = [Text::WhenInHoursOne, Text::WhenInHoursFew, Text::WhenInHoursMany];
    pub const IN_DAYS: [Text; 3] = [Text::WhenInDaysOne, Text::WhenInDaysFew, Text::WhenInDaysMany];

    /// Whether a business may reword it: every text customers see. The admin panel's own texts and the
    /// command menu (set once at start) keep their defaults.
    pub fn editable(self) -> bool {
        !self.key().starts_with("admin.") && self.kind() != Kind::Command
    }
}

/// Labels of reply-keyboard buttons. Pressing one sends its label as a message, and handlers tell the
/// buttons apart by that text, so no two of them may read the same.
const REPLY_BUTTONS: [Text; 8] = [
    Text::MenuBook,
    Text::MenuMy,
    Text::MenuServices,
    Text::MenuAbout,
    Text::MenuHelp,
    Text::BookingPhoneButton,
    Text::BookingSkipPhone,
    Text::CommonCancel,
];

// The bot runs in a container without the repository, so the defaults travel inside the binary. Each
// locale is one flat map; the admin panel's texts sit in files of their own, one per part of the panel.
fn embedded_yaml(locale: Locale) -> &'static str {
    macro_rules! locale_files {
        ($locale:literal) => {
            concat!(
                include_str!(concat!("../../templates/texts/", $locale, ".yaml")),
                "\n",
                include_str!(concat!("../../templates/texts/admin/panel.", $locale, ".yaml")),
                "\n",
                include_str!(concat!("../../templates/texts/admin/bookings.", $locale, ".yaml")),
                "\n",
                include_str!(concat!("../../templates/texts/admin/setup.", $locale, ".yaml")),
                "\n",
                include_str!(concat!("../../templates/texts/admin/people.", $locale, ".yaml")),
            )
        };
    }
    match locale {
        Locale::Ru => locale_files!("ru"),
        Locale::En => locale_files!("en"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::*;
    use crate::telegram::runtime::texts::{
        MAX_ALERT_CHARS, MAX_COMMAND_CHARS, MAX_LABEL_BYTES, check_html, deserialize,
    };

    const LOCALES: [Locale; 2] = [Locale::Ru, Locale::En];

    fn pairs(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn with(key: &str, text: &str) -> Result<Catalog, TextError> {
        Catalog::defaults(Locale::En).with_overrides(&pairs(&[(key, text)]))
    }

    fn placeholders(catalog: &Catalog, text: Text) -> BTreeSet<&str> {
        catalog.placeholders(text)
    }

    #[test]
    fn both_default_files_parse_completely() {
        for locale in LOCALES {
            let catalog = Catalog::parse_embedded(locale).unwrap_or_else(|e| panic!("{locale}: {e:?}"));
            assert_eq!(catalog.len(), Text::ALL.len());
            assert_eq!(catalog.locale(), locale);
            // A folded YAML scalar keeps a long paragraph on one line.
            assert!(!catalog.raw(Text::BookingPhoneInvalid).contains('\n'));
        }
    }

    #[test]
    fn every_key_is_in_both_files_and_nothing_else() {
        let keys: BTreeSet<&str> = Text::ALL.iter().map(|t| t.key()).collect();
        for locale in LOCALES {
            let map = deserialize(embedded_yaml(locale)).unwrap();
            let file: BTreeSet<&str> = map.keys().map(String::as_str).collect();
            assert_eq!(file.difference(&keys).collect::<Vec<_>>(), Vec::<&&str>::new(), "extra in {locale}");
            assert_eq!(keys.difference(&file).collect::<Vec<_>>(), Vec::<&&str>::new(), "missing in {locale}");
        }
    }

    #[test]
    fn a_file_with_a_missing_extra_or_repeated_key_is_refused() {
        let yaml = embedded_yaml(Locale::En);
        let without = yaml.replace("common.no: \"No\"\n", "");
        assert_ne!(without, yaml);
        let err = Catalog::from_yaml(Locale::En, &without).unwrap_err();
        assert!(matches!(err, TextError::MissingKey { key: "common.no", locale: Locale::En }), "{err:?}");
        assert_eq!(err.to_string(), "the en texts lack `common.no`");

        let err = Catalog::from_yaml(Locale::En, &format!("{yaml}common.maybe: \"Maybe\"\n")).unwrap_err();
        assert!(matches!(&err, TextError::UnknownKey { key } if key == "common.maybe"), "{err:?}");

        let err = Catalog::from_yaml(Locale::En, &format!("{yaml}common.no: \"Nope\"\n")).unwrap_err();
        assert!(matches!(err, TextError::Parse { .. }), "{err:?}");
        let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("`common.no` is given twice"), "{source}");
        let err = Catalog::from_yaml(Locale::Ru, "common.no: [\n").unwrap_err();
        assert!(matches!(err, TextError::Parse { locale: Locale::Ru, .. }), "{err:?}");

        let bad = yaml.replace("common.no: \"No\"", "common.no: \"<b>No</b>\"");
        assert!(matches!(Catalog::from_yaml(Locale::En, &bad), Err(TextError::Invalid { key: "common.no", .. })));
    }

    #[test]
    fn both_locales_use_exactly_the_declared_placeholders() {
        let (ru, en) = (Catalog::defaults(Locale::Ru), Catalog::defaults(Locale::En));
        for &text in Text::ALL {
            let declared: BTreeSet<&str> = text.params().iter().copied().collect();
            assert_eq!(declared.len(), text.params().len(), "{} declares a placeholder twice", text.key());
            assert_eq!(placeholders(ru, text), declared, "ru {}", text.key());
            assert_eq!(placeholders(en, text), declared, "en {}", text.key());
        }
    }

    #[test]
    fn every_text_renders_to_valid_html_even_with_hostile_values() {
        let hostile = "<script>alert(\"x\")</script> & </b> {name} }}";
        for locale in LOCALES {
            let catalog = Catalog::defaults(locale);
            for &text in Text::ALL {
                if text.kind() == Kind::Html {
                    check_html(catalog.raw(text)).unwrap_or_else(|e| panic!("{locale} {}: {e}", text.key()));
                }
                let params: Vec<(&str, &str)> = text.params().iter().map(|p| (*p, hostile)).collect();
                let out = catalog.render(text, &params);
                check_html(&out).unwrap_or_else(|e| panic!("{locale} {}: {e}\n{out}", text.key()));
                assert!(!out.contains("<script>"), "{out}");

                // Filled with ordinary values, nothing of the template syntax is left.
                let params: Vec<(&str, &str)> = text.params().iter().map(|p| (*p, "x")).collect();
                let out = catalog.render(text, &params);
                assert!(!out.contains(['{', '}']) && !out.is_empty(), "{locale} {}: {out}", text.key());
                assert_eq!(out, out.trim(), "{locale} {}", text.key());
            }
        }
    }

    #[test]
    fn render_escapes_values_in_text_and_in_links() {
        let en = Catalog::defaults(Locale::En);
        let out = en.render(Text::StartWelcomeBack, &[("name", "<script>alert(1)</script> & Co")]);
        assert!(out.contains("<b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</b>"), "{out}");
        assert!(!out.contains("<script>"), "{out}");

        let link = "https://maps.example/?q=\"a\"&b=<c>";
        let params = [("name", "N"), ("address", "A"), ("phone", "P"), ("map_link", link), ("hours", "H")];
        let out = en.render(Text::AboutText, &params);
        assert!(out.contains(r#"<a href="https://maps.example/?q=&quot;a&quot;&amp;b=&lt;c&gt;">"#), "{out}");
    }

    #[test]
    fn plain_texts_are_escaped_only_when_they_go_out_as_html() {
        let en = Catalog::defaults(Locale::En);
        assert_eq!(en.raw(Text::MenuServices), "💰 Services & prices");
        assert_eq!(en.render(Text::MenuServices, &[]), "💰 Services &amp; prices");
        let params = [("name", "Cut & <wash>"), ("duration", "1 h"), ("price", "£20")];
        assert_eq!(en.render_plain(Text::BookingServiceButton, &params), "Cut & <wash> · 1 h · £20");
        assert_eq!(en.render(Text::BookingServiceButton, &params), "Cut &amp; &lt;wash&gt; · 1 h · £20");
        let ru = Catalog::defaults(Locale::Ru);
        let date = ru.render_plain(Text::DateFormat, &[("weekday", "Пт"), ("day", "15"), ("month", "марта")]);
        assert_eq!(date, "Пт, 15 марта");
    }

    #[test]
    fn doubled_braces_render_as_braces() {
        let catalog = with("help.text", "Braces: {{ and }}; {{rules}} is not {rules}.").unwrap();
        assert_eq!(catalog.render(Text::HelpText, &[("rules", "R")]), "Braces: { and }; {rules} is not R.");
        assert_eq!(catalog.raw(Text::HelpText), "Braces: { and }; {rules} is not {rules}.");
        let catalog = with("common.yes", "{{Yes}}").unwrap();
        assert_eq!(catalog.raw(Text::CommonYes), "{Yes}");
    }

    #[test]
    fn a_line_whose_values_are_all_empty_is_left_out() {
        let en = Catalog::defaults(Locale::En);
        let params = [("name", "Salon"), ("address", ""), ("phone", " "), ("map_link", ""), ("hours", "Mon: 10–18")];
        assert_eq!(en.render(Text::AboutText, &params), "<b>Salon</b>\n\n🕒 <b>Opening hours</b>\nMon: 10–18");

        // One value is enough to keep a line.
        let params = [("service", "Cut"), ("date", ""), ("time", "10:00"), ("address", "")];
        let out = en.render(Text::BookingConfirmed, &params);
        assert!(out.contains("📅 , 10:00") && !out.contains("📍"), "{out}");
        assert!(!out.contains("\n\n\n"), "{out}");

        // An optional last line takes no blank line with it and leaves none at the end.
        let params = [("cutoff", "3 h"), ("phone", "")];
        assert_eq!(
            en.render(Text::CancelTooLate, &params),
            "⏳ Your visit is less than 3 h away, so it can no longer be cancelled here."
        );
    }

    #[test]
    fn a_missing_value_renders_as_empty_instead_of_panicking() {
        let out = Catalog::defaults(Locale::Ru).render(Text::BookingConfirmed, &[]);
        assert!(out.starts_with("✅ <b>Вы записаны!</b>\n\nЖдём вас!"), "{out}");
        let out = Catalog::defaults(Locale::En).render(Text::StartWelcomeNew, &[("unrelated", "x")]);
        assert!(out.starts_with("Here you can pick"), "{out}");
    }

    #[test]
    fn counts_take_the_form_their_number_needs() {
        let ru = Catalog::defaults(Locale::Ru);
        let cases = [
            (0, "через 0 часов"),
            (1, "через 1 час"),
            (2, "через 2 часа"),
            (4, "через 4 часа"),
            (5, "через 5 часов"),
            (11, "через 11 часов"),
            (12, "через 12 часов"),
            (14, "через 14 часов"),
            (21, "через 21 час"),
            (22, "через 22 часа"),
            (25, "через 25 часов"),
            (101, "через 101 час"),
            (111, "через 111 часов"),
            (112, "через 112 часов"),
        ];
        for (n, want) in cases {
            assert_eq!(ru.render_count(Text::IN_HOURS, n), want);
        }
        assert_eq!(ru.render_count(Text::IN_MINUTES, 3), "через 3 минуты");
        assert_eq!(ru.render_count(Text::IN_DAYS, 1), "через 1 день");
        let en = Catalog::defaults(Locale::En);
        for (n, want) in [(0, "in 0 hours"), (1, "in 1 hour"), (2, "in 2 hours"), (21, "in 21 hours")] {
            assert_eq!(en.render_count(Text::IN_HOURS, n), want);
        }
        assert_eq!(en.render_count(Text::IN_MINUTES, 1), "in 1 minute");
    }

    #[test]
    fn a_good_override_replaces_its_key_only() {
        let defaults = Catalog::defaults(Locale::Ru);
        let overrides = pairs(&[
            ("start.welcome_new", "<b>Привет!</b> Это <i>{name}</i>.\n"),
            ("menu.book", "  ✂️ Записаться на стрижку  "),
        ]);
        let catalog = defaults.with_overrides(&overrides).unwrap();
        assert_eq!(catalog.render(Text::StartWelcomeNew, &[("name", "A&B")]), "<b>Привет!</b> Это <i>A&amp;B</i>.");
        assert_eq!(catalog.raw(Text::MenuBook), "✂️ Записаться на стрижку");
        assert_eq!(catalog.raw(Text::MenuMy), defaults.raw(Text::MenuMy));
        assert_eq!(catalog.locale(), Locale::Ru);
        // The shared defaults are untouched, and overrides can be laid over overrides.
        assert_eq!(defaults.raw(Text::MenuBook), "📅 Записаться");
        let again = catalog.with_overrides(&pairs(&[("menu.my", "Мои визиты")])).unwrap();
        assert_eq!((again.raw(Text::MenuBook), again.raw(Text::MenuMy)), ("✂️ Записаться на стрижку", "Мои визиты"));
        assert!(defaults.with_overrides(&[]).is_ok());
    }

    #[test]
    fn an_override_of_an_unknown_or_repeated_key_is_refused() {
        let err = with("menu.bok", "Book").unwrap_err();
        assert!(matches!(&err, TextError::UnknownKey { key } if key == "menu.bok"), "{err:?}");
        assert_eq!(err.to_string(), "unknown text key `menu.bok`");
        let twice = pairs(&[("menu.book", "Book"), ("menu.my", "Mine"), ("menu.book", "Book now")]);
        let err = Catalog::defaults(Locale::En).with_overrides(&twice).unwrap_err();
        assert!(matches!(err, TextError::DuplicateKey { key: "menu.book" }), "{err:?}");
    }

    #[test]
    fn an_override_with_other_placeholders_is_refused_naming_both_sets() {
        let err = with("booking.confirm_card", "{service} at {time} on {day}").unwrap_err();
        assert!(matches!(err, TextError::Placeholders { key: "booking.confirm_card", .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "text `booking.confirm_card` must use the placeholders {address}, {date}, {duration}, {price}, \
             {service}, {time}, but uses {day}, {service}, {time}"
        );
        let err = with("start.welcome_new", "Hello!").unwrap_err().to_string();
        assert!(err.ends_with("must use the placeholders {name}, but uses none"), "{err}");
        let err = with("common.yes", "Yes, {name}").unwrap_err().to_string();
        assert!(err.ends_with("must use the placeholders none, but uses {name}"), "{err}");
        // Repeating a placeholder is fine.
        assert!(with("start.welcome_new", "{name}! Welcome to {name}.").is_ok());
    }

    #[test]
    fn an_override_with_bad_html_is_refused() {
        let bad = [
            "<b>x",
            "x</b>",
            "<b><i>x</b></i>",
            "<script>x</script>",
            "<B>x</B>",
            "<br>",
            "<span class=\"tg-spoiler\">x</span>",
            "<b class=\"x\">x</b>",
            "<a>y</a>",
            "<a href='https://e.x'>y</a>",
            "<a href=\"\">y</a>",
            "<a href=\"https://e.x\" target=\"_blank\">y</a>",
            "<a href=\"https://e.x\"><a href=\"https://e.y\">z</a></a>",
            "<a href=\"https://e.x\"><code>z</code></a>",
            "<code><b>x</b></code>",
            "fish & chips",
            "a > b",
            "a < b",
            "&nbsp;",
            "&#;",
            "&#x12345678;",
            "&amp",
        ];
        for html in bad {
            let err = with("start.welcome_new", &format!("{html}\n{{name}}")).unwrap_err();
            assert!(matches!(err, TextError::Html { key: "start.welcome_new", .. }), "{html}: {err:?}");
        }
        let good = "<b>{name}</b> &amp; &lt;3 &gt; &quot; &#128512; &#x1F600; \
                    <a href=\"https://e.x/?a=1&amp;b=2\"><b>link</b></a> <code>x &lt; y</code> <b><code>c</code></b> \
                    <s><u><i>x</i></u></s> <a href=\"{name}\">me</a>";
        let catalog = with("start.welcome_new", good).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            catalog.render(Text::StartWelcomeNew, &[("name", "\"<>")]).contains("<a href=\"&quot;&lt;&gt;\">me</a>")
        );
    }

    #[test]
    fn tags_on_a_line_with_placeholders_close_on_that_line() {
        let err = with("start.welcome_new", "<i>Welcome to {name}\nand enjoy</i>").unwrap_err();
        assert!(matches!(err, TextError::Html { .. }), "{err:?}");
        assert!(err.to_string().contains("a line with placeholders must close the tags it opens"), "{err}");
        // Tags may span lines without placeholders; the dropped line takes nothing with it.
        let catalog = with("start.welcome_new", "<i>Welcome\n{name}\nand enjoy</i>").unwrap();
        assert_eq!(catalog.render(Text::StartWelcomeNew, &[("name", "")]), "<i>Welcome\nand enjoy</i>");
    }

    #[test]
    fn an_override_with_broken_braces_is_refused() {
        for bad in ["{name", "name}", "{name}}", "{}", "{na me}", "{name-x}", "{{name}", "{ name }"] {
            let err = with("start.welcome_new", &format!("{bad} {{name}}")).unwrap_err();
            assert!(matches!(err, TextError::Invalid { key: "start.welcome_new", .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn overrides_follow_their_kind() {
        let invalid = |key: &str, text: &str| {
            let err = with(key, text).unwrap_err();
            assert!(matches!(err, TextError::Invalid { .. }), "{key} = {text:?}: {err:?}");
            err.to_string()
        };
        assert!(invalid("menu.book", &"я".repeat(33)).contains("64 bytes"));
        assert!(with("menu.book", &"я".repeat(32)).is_ok());
        assert!(invalid("menu.book", "Book\nnow").contains("one line"));
        assert!(invalid("menu.book", "<b>Book</b>").contains("plain text"));
        assert!(invalid("menu.book", " \n ").contains("empty"));
        assert!(invalid("stale.button", &"x".repeat(201)).contains("200 characters"));
        assert!(with("stale.button", &format!("Out of date.\n{}", "x".repeat(187))).is_ok());
        let long_command = machinery::compile_check(Text::CommandsHelp, &"x".repeat(257)).unwrap_err();
        assert!(long_command.to_string().contains("256 characters"));
        assert!(invalid("hours.day", "{day}:\n{intervals}").contains("one line"));
        assert!(invalid("start.welcome_new", &format!("{{name}}{}", "x".repeat(4096))).contains("4096"));
    }

    #[test]
    fn only_what_customers_see_may_be_overridden() {
        // Commands are registered once at start, and the panel's own texts are the same for every business.
        for key in ["commands.help", "admin.denied"] {
            assert!(matches!(with(key, "x"), Err(TextError::UnknownKey { .. })), "{key}");
        }
        assert!(with("start.welcome_back", "Hi, {name}").is_ok());
    }

    #[test]
    fn reply_buttons_must_stay_distinct() {
        let err = with("menu.my", "📅 Book").unwrap_err();
        assert!(matches!(err, TextError::Invalid { key: "menu.my", .. }), "{err:?}");
        assert!(err.to_string().contains("`menu.book`"), "{err}");
        let swapped = pairs(&[("menu.book", "📋 My bookings"), ("menu.my", "📅 Book")]);
        assert!(Catalog::defaults(Locale::En).with_overrides(&swapped).is_ok());
    }

    #[test]
    fn labels_have_no_placeholders_and_fit_telegram() {
        for &text in Text::ALL {
            let key = text.key();
            let group = key.split('.').next().unwrap_or_default();
            if ["menu", "common", "calendar"].contains(&group) && text != Text::CalendarHeader {
                assert_eq!(text.kind(), Kind::Label, "{key}");
            }
            if key.ends_with("_button") && text.kind() != Kind::Fragment {
                assert_eq!(text.kind(), Kind::Label, "{key}");
            }
            if matches!(text.kind(), Kind::Label | Kind::Alert | Kind::Command) {
                assert!(text.params().is_empty(), "{key}");
            }
            for locale in LOCALES {
                let raw = Catalog::defaults(locale).raw(text);
                match text.kind() {
                    Kind::Label => assert!(raw.len() <= MAX_LABEL_BYTES && !raw.contains('\n'), "{locale} {key}"),
                    Kind::Alert => assert!(raw.chars().count() <= MAX_ALERT_CHARS, "{locale} {key}"),
                    Kind::Command => assert!(raw.chars().count() <= MAX_COMMAND_CHARS, "{locale} {key}"),
                    Kind::Html | Kind::Fragment => {}
                }
            }
        }
    }

    #[test]
    fn keys_round_trip_and_are_well_formed() {
        let shape = regex::Regex::new(r"^[a-z][a-z_]*(\.[a-z0-9_]+)+$").unwrap();
        let mut keys = HashSet::new();
        for (i, &text) in Text::ALL.iter().enumerate() {
            assert_eq!(text as usize, i, "ALL follows the declaration order");
            assert_eq!(Text::from_key(text.key()), Some(text));
            assert!(shape.is_match(text.key()), "{}", text.key());
            assert!(keys.insert(text.key()), "{} twice", text.key());
        }
        assert_eq!(Text::from_key("menu"), None);
        assert_eq!(Text::from_key("MENU.BOOK"), None);
    }

    #[test]
    fn the_name_tables_are_in_calendar_order() {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        for (text, day) in Text::WEEKDAYS.iter().zip(days) {
            assert_eq!(text.key(), format!("calendar.weekday.{day}"));
        }
        for (i, (header, date)) in Text::MONTHS.iter().zip(Text::MONTHS_IN_DATES).enumerate() {
            assert_eq!(header.key(), format!("calendar.month.{}", i + 1));
            assert_eq!(date.key(), format!("date.month.{}", i + 1));
        }
        for forms in [Text::IN_MINUTES, Text::IN_HOURS, Text::IN_DAYS] {
            let ends: Vec<&str> = forms.iter().filter_map(|t| t.key().rsplit('.').next()).collect();
            assert_eq!(ends, ["one", "few", "many"]);
        }
        assert_eq!(Catalog::defaults(Locale::Ru).raw(Text::MONTHS_IN_DATES[2]), "марта");
        assert_eq!(Catalog::defaults(Locale::Ru).raw(Text::MONTHS[2]), "Март");
    }

    #[test]
    fn defaults_are_parsed_once_per_locale() {
        assert!(std::ptr::eq(Catalog::defaults(Locale::Ru), Catalog::defaults(Locale::Ru)));
        assert_eq!(Catalog::defaults(Locale::Ru).locale(), Locale::Ru);
        assert_eq!(Catalog::defaults(Locale::En).locale(), Locale::En);
        assert_ne!(
            Catalog::defaults(Locale::Ru).raw(Text::MenuBook),
            Catalog::defaults(Locale::En).raw(Text::MenuBook)
        );
    }

    #[test]
    fn the_keys_only_fallback_still_renders() {
        let catalog = Catalog::keys_only(Locale::En);
        assert_eq!(catalog.render(Text::StartWelcomeNew, &[("name", "x")]), "start.welcome_new");
        assert_eq!(catalog.raw(Text::MenuBook), "menu.book");
        assert!(catalog.check_reply_buttons().is_ok());
        assert!(catalog.with_overrides(&pairs(&[("menu.book", "Book")])).is_ok());
    }
}
