//! Managed bots: the manager's `request_managed_bot` button, the user creating a bot through it, the
//! `managed_bot` update read through `telegram::managed`, and `getManagedBotToken` for the manager only.

use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::UpdateKind;

use super::*;
use crate::error::BadInput;
use crate::telegram::emulator::ManagedBotRefused;
use crate::telegram::{BotToken, get_me, managed};

const NEW_BOT_ID: i64 = 7_000_000_001;

/// teloxide 0.17 has no `request_managed_bot` button: the manager sends it as raw JSON. Returns the
/// message id.
async fn offer_button(emulator: &Emulator) -> i64 {
    let url = format!("{}bot{TOKEN}/sendMessage", emulator.url());
    let markup = json!({"keyboard": [[{"text": "Create my bot", "request_managed_bot": {"request_id": 1}}]]});
    let body = json!({"chat_id": 42, "text": "Create your booking bot", "reply_markup": markup});
    let sent: Value = reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(sent["ok"], true, "{sent}");
    sent["result"]["message_id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_bot_created_through_the_button_reaches_the_manager_and_its_token_works() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let message_id = offer_button(&emulator).await;
    let created = emulator.create_managed_bot(TOKEN, &ann(), message_id, NEW_BOT_ID, "ann_salon_bot").unwrap();
    assert!(!format!("{created:?}").contains(&created.token), "Debug leaves the token out");

    let updates = bot.get_updates().offset(2).await.unwrap();
    let [update] = updates.as_slice() else { panic!("expected one update: {updates:?}") };
    // teloxide does not know the kind; it keeps the raw update, which `managed` reads.
    let UpdateKind::Error(raw) = &update.kind else { panic!("teloxide learnt managed_bot: {update:?}") };
    let notice = managed::parse_managed_bot_update(raw).unwrap().expect("a managed_bot update");
    assert_eq!((notice.owner.id, notice.owner.first_name.as_str()), (42, "Ann"));
    assert_eq!((notice.bot.id, notice.bot.username.as_str()), (NEW_BOT_ID, "ann_salon_bot"));

    let manager: BotToken = TOKEN.parse().unwrap();
    let token = managed::get_managed_bot_token(&emulator.url(), &manager, notice.bot.id).await.unwrap();
    assert_eq!(token.expose(), created.token);
    let me = get_me(&emulator.url(), &token).await.unwrap();
    assert_eq!((me.id, me.username.as_str()), (NEW_BOT_ID, "ann_salon_bot"));
    let log = emulator.sent(TOKEN);
    assert_eq!(
        log.last().map(|s| (s.method.as_str(), s.params["user_id"].clone())),
        Some(("getManagedBotToken", json!(NEW_BOT_ID)))
    );
}

#[tokio::test]
async fn another_bot_asking_for_the_token_is_refused_without_seeing_a_token() {
    let (emulator, _bot) = start().await;
    let other_token = "555555555:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    emulator.add_bot(other_token, 555_555_555, "other_bot");
    emulator.send_text(TOKEN, &ann(), "/start");
    let message_id = offer_button(&emulator).await;
    let created = emulator.create_managed_bot(TOKEN, &ann(), message_id, NEW_BOT_ID, "ann_salon_bot").unwrap();

    let other: BotToken = other_token.parse().unwrap();
    let refused = managed::get_managed_bot_token(&emulator.url(), &other, NEW_BOT_ID).await.unwrap_err();
    assert!(refused.downcast_ref::<BadInput>().is_some(), "{refused:#}");
    let text = format!("{refused:#} {refused:?}");
    assert!(!text.contains(&created.token) && !text.contains(other_token), "{text}");
    // Nor is the manager told the token of a bot it did not create.
    let manager: BotToken = TOKEN.parse().unwrap();
    let not_managed = managed::get_managed_bot_token(&emulator.url(), &manager, 555_555_555).await.unwrap_err();
    assert!(not_managed.downcast_ref::<BadInput>().is_some(), "{not_managed:#}");
}

#[tokio::test]
async fn a_bot_is_created_only_through_the_managers_button_and_once_per_id() {
    let (emulator, _bot) = start().await;
    let hello = emulator.send_text(TOKEN, &ann(), "/start");
    let refused = emulator.create_managed_bot(TOKEN, &ann(), hello, NEW_BOT_ID, "ann_salon_bot");
    assert_eq!(refused, Err(ManagedBotRefused::NoButton(hello)));
    let message_id = offer_button(&emulator).await;
    emulator.create_managed_bot(TOKEN, &ann(), message_id, NEW_BOT_ID, "ann_salon_bot").unwrap();
    let taken = emulator.create_managed_bot(TOKEN, &ann(), message_id, BOT_ID, "salon_bot");
    assert_eq!(taken, Err(ManagedBotRefused::BotIdTaken(BOT_ID)));
    let unknown = emulator.create_managed_bot("1:x", &ann(), message_id, 8_000_000_001, "x_bot");
    assert_eq!(unknown, Err(ManagedBotRefused::UnknownBot));
}

#[tokio::test]
async fn a_replaced_token_works_at_once_and_the_old_one_stops() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let message_id = offer_button(&emulator).await;
    let created = emulator.create_managed_bot(TOKEN, &ann(), message_id, NEW_BOT_ID, "ann_salon_bot").unwrap();
    let old: BotToken = created.token.parse().unwrap();
    let manager: BotToken = TOKEN.parse().unwrap();

    let other_token = "555555555:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    emulator.add_bot(other_token, 555_555_555, "other_bot");
    let other: BotToken = other_token.parse().unwrap();
    let refused = managed::replace_managed_bot_token(&emulator.url(), &other, NEW_BOT_ID).await.unwrap_err();
    assert!(refused.downcast_ref::<BadInput>().is_some(), "{refused:#}");
    get_me(&emulator.url(), &old).await.expect("a refused replacement changes nothing");

    let new = managed::replace_managed_bot_token(&emulator.url(), &manager, NEW_BOT_ID).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(get_me(&emulator.url(), &new).await.unwrap().id, NEW_BOT_ID);
    let stale = get_me(&emulator.url(), &old).await.unwrap_err();
    assert!(stale.downcast_ref::<BadInput>().is_some(), "{stale:#}");
    assert_eq!(managed::get_managed_bot_token(&emulator.url(), &manager, NEW_BOT_ID).await.unwrap(), new);

    // The manager hears of the creation and of the new token alike.
    let updates = bot.get_updates().offset(2).await.unwrap();
    let notices: Vec<_> = updates
        .iter()
        .filter_map(|u| match &u.kind {
            UpdateKind::Error(raw) => managed::parse_managed_bot_update(raw).unwrap(),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().all(|n| n.bot.id == NEW_BOT_ID && n.owner.id == 42));
}
