use chrono::TimeZone;

use super::*;

fn at(hour: u32) -> When {
    Utc.with_ymd_and_hms(2030, 1, 10, hour, 0, 0).unwrap()
}

const SIX_HOURS: TimeDelta = TimeDelta::hours(6);

#[test]
fn kinds_round_trip_and_unknown_ones_are_refused() {
    for kind in Kind::ALL {
        assert_eq!(Kind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(Kind::parse("bot_unhappy"), None);
    assert_eq!(Kind::parse(""), None);
}

#[test]
fn each_kind_names_its_button() {
    assert_eq!(Kind::BotDown.action(), Some(Action::Restart));
    assert_eq!(Kind::BackupFailed.action(), Some(Action::BackupNow));
    assert_eq!(Kind::Grace.action(), Some(Action::OpenCard));
    assert_eq!(Kind::Suspended.action(), Some(Action::OpenCard));
    assert_eq!(Kind::PaymentReceived.action(), Some(Action::OpenCard));
    assert_eq!(Kind::StartFailed.action(), Some(Action::Start));
    assert_eq!(Kind::Takeover.action(), None);
}

#[test]
fn an_open_alert_never_sent_is_due_as_a_first_send() {
    assert_eq!(send_due(at(1), None, None, at(1), SIX_HOURS), Some(Occasion::First));
    // However old: an open condition is news to a recipient who never heard of it.
    assert_eq!(send_due(at(1) - TimeDelta::days(30), None, None, at(1), SIX_HOURS), Some(Occasion::First));
}

#[test]
fn a_sent_alert_waits_for_remind_after_then_is_reminded_once_per_interval() {
    let sent = at(2);
    assert_eq!(send_due(at(1), None, Some(sent), at(2), SIX_HOURS), None);
    assert_eq!(send_due(at(1), None, Some(sent), at(7), SIX_HOURS), None);
    assert_eq!(send_due(at(1), None, Some(sent), at(8), SIX_HOURS), Some(Occasion::Reminder));
    // Reminded at 8: the next reminder is at 14, not sooner.
    assert_eq!(send_due(at(1), None, Some(at(8)), at(13), SIX_HOURS), None);
    assert_eq!(send_due(at(1), None, Some(at(8)), at(14), SIX_HOURS), Some(Occasion::Reminder));
}

#[test]
fn a_resolved_alert_is_never_reminded() {
    assert_eq!(send_due(at(1), Some(at(3)), Some(at(2)), at(23), SIX_HOURS), None);
    assert_eq!(send_due(at(1), Some(at(3)), Some(at(2)), at(3) + TimeDelta::days(30), SIX_HOURS), None);
}

#[test]
fn a_resolved_alert_never_sent_goes_out_once_while_fresh_and_then_is_history() {
    assert_eq!(send_due(at(1), Some(at(1)), None, at(5), SIX_HOURS), Some(Occasion::First));
    assert_eq!(send_due(at(1), Some(at(1)), None, at(1) + FRESH_FOR, SIX_HOURS), None);
}
