//! Alerts pushed by the operator bot: each due alert reaches each operator once, with the owner's
//! action or the viewer's card button; a restart sends nothing again; an open alert is reminded once
//! per `remind_after` and a resolved one never; a chat that cannot be written to is not retried forever.
//!
//! "Nothing more was sent" is checked without timing: a later alert (a sentinel) is raised and waited
//! for, and the bot sends what is due oldest first, so anything owed before it would already be there.

use std::time::Duration;

use botctl::platform::alerts::{self, Alert, Kind};
use botctl::platform::operator::AlertDelivery;
use botctl::platform::operator::alerts::PER_WAKE;
use botctl::platform::operator::texts::Text;
use botctl::telegram::emulator::{ChatMessage, Failure, TgUser};
use chrono::Utc;

use super::{ALERTS_EVERY, Desk, OWNER, REMIND_AFTER, VIEWER, en, words};
use crate::support::block_on;
use crate::support::chat::Chat;

fn alert(kind: Kind, tenant: Option<&str>, key: &str, facts: &[(&str, &str)]) -> Alert {
    Alert {
        kind,
        tenant: tenant.map(str::to_string),
        key: key.to_string(),
        condition: None,
        facts: facts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        raised_at: Utc::now(),
    }
}

fn raise(desk: &Desk, alert: &Alert) -> i64 {
    block_on(async { alerts::raise(&mut *desk.pool.acquire().await?, alert).await }).unwrap().expect("a new alert")
}

/// A failed backup of the desk's tenant whose error is `error` (what a check looks for).
fn backup_failed(desk: &Desk, key: &str, error: &str) -> i64 {
    raise(desk, &alert(Kind::BackupFailed, Some(&desk.slug), key, &[("error", error), ("dest", "/backups")]))
}

/// Raises a notice no other alert mentions and waits until both operators have it: every send due
/// before it has been made by then.
fn sentinel(desk: &Desk, name: &str) {
    let key = format!("takeover:{name}");
    raise(desk, &alert(Kind::Takeover, None, &key, &[("from", name), ("to", "here")]));
    for id in [OWNER, VIEWER] {
        desk.says_text(&Desk::user(id), name);
    }
}

/// Waits until `message`, edited in place by a press, satisfies `f`; the message as it is then.
fn becomes(desk: &Desk, user: &TgUser, message: &ChatMessage, f: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
    let find = |chat: &[ChatMessage]| chat.iter().find(|m| m.message_id == message.message_id).cloned();
    let check = |chat: &[ChatMessage]| find(chat).is_some_and(|m| f(&m));
    let chat = block_on(desk.emulator().wait_until(&desk.token, user.id, check, crate::serve::WAIT))
        .unwrap_or_else(|e| panic!("{e}; the message is now {:#?}", find(&desk.chat(user))));
    find(&chat).unwrap()
}

fn users() -> [TgUser; 2] {
    [Desk::user(OWNER), Desk::user(VIEWER)]
}

/// The bot's messages in `user`'s chat whose text holds `needle`.
fn messages(desk: &Desk, user: &TgUser, needle: &str) -> Vec<ChatMessage> {
    desk.chat(user)
        .into_iter()
        .filter(|m| m.from_bot && m.text.as_deref().is_some_and(|t| t.contains(needle)))
        .collect()
}

/// The reminder's mark as a chat shows it (its tags applied).
fn reminder() -> String {
    let raw = en().raw(Text::AlertReminder);
    let mut shown = String::new();
    let mut in_tag = false;
    for c in raw.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => shown.push(c),
            _ => {}
        }
    }
    shown
}

/// Moves every record of sending `alert` back by `by`, as if that much time had passed since.
fn sent_earlier(desk: &Desk, alert: i64, by: Duration) {
    let sql = format!(
        "UPDATE botctl.alert_deliveries SET sent_at = sent_at - interval '{} seconds', \
         last_sent_at = last_sent_at - interval '{} seconds' WHERE alert_id = {alert}",
        by.as_secs(),
        by.as_secs()
    );
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&desk.pool)).unwrap();
}

fn desk() -> Desk {
    let desk = Desk::start();
    for user in users() {
        desk.emulator().open_chat(&desk.token, &user);
    }
    desk
}

#[test]
fn an_alert_reaches_each_operator_once_with_their_button_and_the_owners_button_asks_to_confirm() {
    let desk = desk();
    let [owner, viewer] = users();
    backup_failed(&desk, "backup_failed:test:1", "disk <full>");

    let to_owner = desk.says_text(&owner, "disk <full>");
    let to_viewer = desk.says_text(&viewer, "disk <full>");
    for message in [&to_owner, &to_viewer] {
        let text = message.text.as_deref().unwrap_or_default();
        assert!(text.contains(&desk.slug) && text.contains("/backups"), "{text}");
        assert!(!text.contains(&reminder()), "a first send is no reminder: {text}");
    }
    assert_eq!(to_owner.callbacks(""), [format!("a:bk:{}", desk.slug)]);
    assert_eq!(to_viewer.callbacks(""), [format!("c:{}", desk.slug)], "a viewer is shown no action");

    sentinel(&desk, "after-the-first-wakes");
    for user in users() {
        assert_eq!(messages(&desk, &user, "disk <full>").len(), 1, "one send each, whatever the wakes");
    }
    let sends: i64 = desk.scalar("SELECT sum(sends)::bigint FROM botctl.alert_deliveries WHERE alert_id = (SELECT id FROM botctl.alerts WHERE dedupe_key = 'backup_failed:test:1')");
    assert_eq!(sends, 2);

    // The button works through the same gate as the card's: the owner gets the confirmation.
    assert_eq!(desk.press(&owner, &to_owner, &format!("a:bk:{}", desk.slug)), None);
    let confirm = becomes(&desk, &owner, &to_owner, |m| !m.callbacks("d:bk:").is_empty());
    assert!(confirm.text.as_deref().is_some_and(|t| t.contains(&words(Text::ConfirmText)) && t.contains(&desk.slug)));
    assert_eq!(desk.press(&viewer, &to_viewer, &format!("c:{}", desk.slug)), None);
    let card = becomes(&desk, &viewer, &to_viewer, |m| !m.callbacks("g:").is_empty());
    assert!(card.callbacks("a:").is_empty(), "the viewer's card has no action either");
}

#[test]
fn a_restart_sends_nothing_again_and_only_an_open_alert_is_reminded_once() {
    let mut desk = desk();
    let open = backup_failed(&desk, "backup_failed:test:open", "still broken");
    let resolved = backup_failed(&desk, "backup_failed:test:resolved", "fixed since");
    for user in users() {
        desk.says_text(&user, "still broken");
        desk.says_text(&user, "fixed since");
    }
    block_on(async {
        alerts::resolve(&mut *desk.pool.acquire().await?, "backup_failed:test:resolved", Utc::now()).await
    })
    .unwrap();

    desk.restart(AlertDelivery { remind_after: REMIND_AFTER, every: ALERTS_EVERY });
    sentinel(&desk, "after-the-restart");
    for user in users() {
        assert_eq!(messages(&desk, &user, "still broken").len(), 1, "a restart sends nothing again");
        assert_eq!(messages(&desk, &user, "fixed since").len(), 1);
    }

    // As if a reminder's interval had passed since both were sent.
    let remind_after = Duration::from_secs(3600);
    desk.restart(AlertDelivery { remind_after, every: ALERTS_EVERY });
    sent_earlier(&desk, open, remind_after * 2);
    sent_earlier(&desk, resolved, remind_after * 2);
    for user in users() {
        let reminded = desk.says_text(&user, "still broken");
        assert!(reminded.text.as_deref().is_some_and(|t| t.starts_with(&reminder())), "{reminded:?}");
    }
    sentinel(&desk, "after-the-reminder");
    for user in users() {
        let sent = messages(&desk, &user, "still broken");
        assert_eq!(sent.len(), 2, "exactly one reminder: {sent:#?}");
        assert_eq!(sent.iter().filter(|m| m.text.as_deref().is_some_and(|t| t.contains(&reminder()))).count(), 1);
        assert_eq!(messages(&desk, &user, "fixed since").len(), 1, "a resolved alert is not reminded");
    }
    let owners = messages(&desk, &Desk::user(OWNER), "still broken");
    assert_eq!(owners[1].callbacks(""), [format!("a:bk:{}", desk.slug)], "a reminder keeps its button");
}

#[test]
fn a_blocked_operator_is_tried_once_and_a_failed_send_is_tried_again() {
    let desk = desk();
    let [owner, viewer] = users();
    desk.emulator().block_bot(&desk.token, VIEWER);
    desk.emulator().fail(&desk.token, "sendMessage", Failure::ServerError(502), 1);
    let id = backup_failed(&desk, "backup_failed:test:blocked", "nobody reads this");
    desk.says_text(&owner, "nobody reads this");
    // The viewer cannot see a sentinel: wait for the bot's records instead.
    raise(&desk, &alert(Kind::Takeover, None, "takeover:blocked-sentinel", &[("from", "blocked-sentinel")]));
    desk.says_text(&owner, "blocked-sentinel");
    recorded_for_viewer(&desk, 2);
    sentinel_owner_only(&desk, "later-still");
    recorded_for_viewer(&desk, 3);

    let tries = desk
        .emulator()
        .sent(&desk.token)
        .into_iter()
        .filter(|s| s.method == "sendMessage" && s.params["chat_id"].as_i64() == Some(VIEWER))
        .count();
    assert_eq!(tries, 3, "one try per alert for the blocked viewer, none repeated");
    let owners_tries = desk
        .emulator()
        .sent(&desk.token)
        .into_iter()
        .filter(|s| s.method == "sendMessage" && s.params["chat_id"].as_i64() == Some(OWNER))
        .filter(|s| s.params["text"].as_str().is_some_and(|t| t.contains("nobody reads this")))
        .count();
    assert_eq!(owners_tries, 2, "the send Telegram failed (502) was tried again");
    assert_eq!(messages(&desk, &owner, "nobody reads this").len(), 1, "the failed send came once, later");
    assert!(messages(&desk, &viewer, "nobody reads this").is_empty());
    let owners: i64 = desk.scalar(&format!(
        "SELECT sends::bigint FROM botctl.alert_deliveries WHERE alert_id = {id} AND chat_id = {OWNER}"
    ));
    assert_eq!(owners, 1);
}

/// Waits until `n` alerts count as delivered to the viewer, who blocked the bot.
fn recorded_for_viewer(desk: &Desk, n: i64) {
    let recorded =
        || -> i64 { desk.scalar(&format!("SELECT count(*) FROM botctl.alert_deliveries WHERE chat_id = {VIEWER}")) };
    let deadline = std::time::Instant::now() + crate::serve::WAIT;
    while recorded() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(ALERTS_EVERY);
    }
    assert_eq!(recorded(), n, "an unreachable operator's sends count as done");
}

/// A sentinel only the owner can receive (the viewer blocked the bot).
fn sentinel_owner_only(desk: &Desk, name: &str) {
    raise(desk, &alert(Kind::Takeover, None, &format!("takeover:{name}"), &[("from", name)]));
    desk.says_text(&Desk::user(OWNER), name);
}

mod needs_docker {
    use botctl::platform::alerts::detect;
    use chrono::{TimeDelta, Utc};

    use super::{Desk, OWNER, desk, messages, sentinel};
    use crate::needs_docker::{ContainerGuard, build_image, engine, runtime_botctl};
    use crate::support::block_on;
    use crate::support::chat::Chat;

    #[test]
    #[cfg_attr(
        not(docker_engine),
        ignore = "needs a Docker engine (none at /var/run/docker.sock or DOCKER_HOST); set BOTCTL_REQUIRE_DOCKER=1 to require it"
    )]
    fn a_killed_bot_is_one_alert_message_with_a_restart_button() {
        let desk = desk();
        let (image, _, _image_guard) = build_image(&desk.f.sandbox);
        let name = format!("botctl-{}", desk.slug);
        let _container = ContainerGuard(name.clone());
        runtime_botctl(&desk.f, &image).args(["tenant", "start", &desk.slug]).assert().success();
        let engine = engine();
        let bots = || block_on(detect::bots(&desk.pool, &engine, Utc::now(), TimeDelta::zero())).unwrap();
        assert_eq!(bots(), (0, 0), "a healthy bot");

        let docker = bollard::Docker::connect_with_defaults().unwrap();
        block_on(docker.kill_container(&name, None::<bollard::query_parameters::KillContainerOptions>)).unwrap();
        assert_eq!(bots(), (1, 0));
        let owner = Desk::user(OWNER);
        let down = desk.says(&owner, |m| !m.callbacks("a:rs:").is_empty());
        assert_eq!(down.callbacks(""), [format!("a:rs:{}", desk.slug)]);
        assert!(down.text.as_deref().is_some_and(|t| t.contains(&desk.slug)), "{down:?}");

        assert_eq!(bots(), (0, 0));
        sentinel(&desk, "after-the-second-scan");
        let about = |m: &botctl::telegram::emulator::ChatMessage| !m.callbacks("a:rs:").is_empty();
        assert_eq!(messages(&desk, &owner, &desk.slug).into_iter().filter(about).count(), 1);
    }
}

#[test]
fn a_burst_of_alerts_is_paced_per_wake_and_each_reaches_each_operator_once() {
    let mut desk = desk();
    desk.stop();
    let burst = 25;
    for n in 0..burst {
        backup_failed(&desk, &format!("backup_failed:burst:{n}"), &format!("burst number {n}."));
    }
    // One wake, then none for an hour: the first wake's sends are all there will be.
    desk.spawn(AlertDelivery { remind_after: REMIND_AFTER, every: Duration::from_secs(3600) });
    let delivered = |desk: &Desk| -> i64 { desk.scalar("SELECT count(*) FROM botctl.alert_deliveries") };
    let deadline = std::time::Instant::now() + crate::serve::WAIT;
    while delivered(&desk) < PER_WAKE as i64 && std::time::Instant::now() < deadline {
        std::thread::sleep(ALERTS_EVERY);
    }
    desk.stop();
    assert_eq!(delivered(&desk), PER_WAKE as i64, "one wake sends at most {PER_WAKE}");
    let sends = desk.emulator().sent(&desk.token).into_iter().filter(|s| s.method == "sendMessage").count();
    assert_eq!(sends, PER_WAKE);

    desk.spawn(AlertDelivery { remind_after: REMIND_AFTER, every: ALERTS_EVERY });
    for user in users() {
        desk.says_text(&user, &format!("burst number {}.", burst - 1));
    }
    sentinel(&desk, "after-the-burst");
    for user in users() {
        for n in 0..burst {
            assert_eq!(messages(&desk, &user, &format!("burst number {n}.")).len(), 1, "{n} to {}", user.id);
        }
    }
}
