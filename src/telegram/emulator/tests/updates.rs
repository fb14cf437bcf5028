//! `getUpdates`: confirmation by offset, `allowed_updates`, long polling, one poller per token, and a
//! teloxide `Dispatcher` polling the emulator end to end.

use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, MessageEntityKind, UpdateKind};
use teloxide::{ApiError, RequestError};

use super::*;

fn text_of(update: &Update) -> &str {
    match &update.kind {
        UpdateKind::Message(message) => message.text().unwrap(),
        other => panic!("not a message: {other:?}"),
    }
}

#[tokio::test]
async fn updates_stay_until_an_offset_confirms_them_and_are_never_delivered_twice() {
    let (emulator, bot) = start().await;
    let message_id = emulator.send_text(TOKEN, &ann(), "/start now");

    let first = bot.get_updates().await.unwrap();
    let [update] = first.as_slice() else { panic!("expected one update: {first:?}") };
    let UpdateKind::Message(message) = &update.kind else { panic!("not a message: {update:?}") };
    assert_eq!(i64::from(message.id.0), message_id);
    assert_eq!(message.text(), Some("/start now"));
    assert_eq!(message.entities().unwrap()[0].kind, MessageEntityKind::BotCommand);
    assert_eq!((message.entities().unwrap()[0].offset, message.entities().unwrap()[0].length), (0, 6));
    let from = message.from.as_ref().unwrap();
    assert_eq!((from.id.0, from.first_name.as_str(), from.username.as_deref()), (42, "Ann", Some("ann")));
    assert_eq!(from.language_code.as_deref(), Some("en"));
    assert!(message.chat.is_private());

    // Not confirmed yet: delivered again.
    assert_eq!(bot.get_updates().await.unwrap(), first);
    let next = update.id.as_offset();
    assert!(bot.get_updates().offset(next).await.unwrap().is_empty());

    emulator.send_text(TOKEN, &ann(), "hello");
    let second = bot.get_updates().offset(next).await.unwrap();
    assert_eq!(second.iter().map(text_of).collect::<Vec<_>>(), ["hello"]);
    assert!(second[0].id.0 > update.id.0);
    // getUpdates is not in the request log.
    assert!(emulator.sent(TOKEN).is_empty());
}

#[tokio::test]
async fn allowed_updates_leave_out_the_other_kinds() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    emulator.press_button(TOKEN, &ann(), 1, "x");
    emulator.send_text(TOKEN, &ann(), "hi");
    let updates = bot.get_updates().allowed_updates([AllowedUpdate::Message]).await.unwrap();
    assert_eq!(updates.iter().map(text_of).collect::<Vec<_>>(), ["/start", "hi"]);
    let limited = bot.get_updates().limit(1).await.unwrap();
    assert_eq!(limited.iter().map(text_of).collect::<Vec<_>>(), ["/start"]);
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_an_update_arrives() {
    let (emulator, bot) = start().await;
    let poll = tokio::spawn(async move { bot.get_updates().timeout(10).await });
    until_polled(&emulator, 1).await;
    assert!(!poll.is_finished());
    emulator.send_text(TOKEN, &ann(), "/start");
    let updates = poll.await.unwrap().unwrap();
    assert_eq!(updates.iter().map(text_of).collect::<Vec<_>>(), ["/start"]);
}

#[tokio::test]
async fn a_second_poller_terminates_the_first_with_409() {
    let (emulator, bot) = start().await;
    let first = tokio::spawn(bot.get_updates().timeout(10).send());
    until_polled(&emulator, 1).await;
    let second = tokio::spawn(bot.get_updates().timeout(10).send());
    let replaced = first.await.unwrap();
    assert!(matches!(replaced, Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates))), "{replaced:?}");
    emulator.send_text(TOKEN, &ann(), "/start");
    assert_eq!(second.await.unwrap().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dispatcher_polls_and_answers_end_to_end() {
    let (emulator, bot) = start().await;
    let handler = Update::filter_message().endpoint(|bot: Bot, message: Message| async move {
        let name = message.from.as_ref().map(|u| u.first_name.clone()).unwrap_or_default();
        bot.send_message(message.chat.id, format!("Hello, {name}!")).await?;
        respond(())
    });
    let mut dispatcher = Dispatcher::builder(bot, handler).build();
    let dispatching = tokio::spawn(async move { dispatcher.dispatch().await });

    emulator.send_text(TOKEN, &ann(), "/start");
    let chat = emulator.wait_until(TOKEN, 42, |chat| chat.iter().any(|m| m.from_bot), WAIT).await.unwrap();
    assert_eq!(chat[1].text.as_deref(), Some("Hello, Ann!"));
    let methods = methods(&emulator);
    // teloxide's polling first checks for a webhook, then the dispatcher learns who it is.
    assert_eq!(methods[..2], ["getWebhookInfo", "getMe"]);
    assert_eq!(methods.last().map(String::as_str), Some("sendMessage"));

    // The long poll still waiting ends with the emulator, so nothing outlives the test.
    emulator.shutdown().await;
    dispatching.abort();
}
