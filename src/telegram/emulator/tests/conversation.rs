//! Sending, editing, deleting, keyboards, callbacks, commands and documents, through teloxide.

use std::time::Duration;

use serde_json::json;
use teloxide::prelude::*;
use teloxide::types::{
    BotCommand, BotCommandScope, ButtonRequest, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, KeyboardButton,
    KeyboardMarkup, KeyboardRemove, MaybeInaccessibleMessage, MessageEntityKind, ParseMode, UpdateKind,
};
use teloxide::{ApiError, RequestError};

use super::*;

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Haircut", data)]])
}

#[tokio::test]
async fn get_me_describes_the_registered_bot() {
    let (_emulator, bot) = start().await;
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.id.0, 123_456_789);
    assert!(me.is_bot);
    assert_eq!(me.username(), "salon_bot");
}

#[tokio::test]
async fn a_sent_inline_keyboard_shows_in_the_chat_and_html_becomes_entities() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let sent = bot
        .send_message(ANN, "<b>Pick</b> a service &amp; time")
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard("svc:1"))
        .await
        .unwrap();
    assert_eq!(sent.text(), Some("Pick a service & time"));
    assert_eq!(sent.entities().unwrap()[0].kind, MessageEntityKind::Bold);
    assert_eq!(sent.reply_markup(), Some(&keyboard("svc:1")));
    assert_eq!(sent.from.as_ref().unwrap().id.0, 123_456_789);
    assert_eq!(sent.chat.id, ANN);

    let chat = emulator.chat(TOKEN, 42);
    assert_eq!(chat.len(), 2);
    assert!(!chat[0].from_bot);
    assert_eq!(chat[0].text.as_deref(), Some("/start"));
    assert!(chat[1].from_bot);
    assert_eq!(chat[1].message_id, i64::from(sent.id.0));
    assert_eq!(chat[1].text.as_deref(), Some("Pick a service & time"));
    assert_eq!(chat[1].reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["callback_data"], "svc:1");
    assert_eq!(emulator.sent(TOKEN)[0].params["text"], "<b>Pick</b> a service &amp; time");
}

#[tokio::test]
async fn a_contact_button_keyboard_and_the_shared_contact() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/book");
    let share = KeyboardMarkup::new([[KeyboardButton::new("Share my phone").request(ButtonRequest::Contact)]]);
    let sent = bot.send_message(ANN, "Your phone?").reply_markup(share).await.unwrap();
    // Telegram returns only inline keyboards in a `Message`; the user still sees the reply keyboard.
    assert_eq!(sent.reply_markup(), None);
    assert_eq!(emulator.chat(TOKEN, 42)[1].reply_markup.as_ref().unwrap()["keyboard"][0][0]["request_contact"], true);

    emulator.send_contact(TOKEN, &ann(), "+491701234567");
    let updates = bot.get_updates().await.unwrap();
    let UpdateKind::Message(message) = &updates.last().unwrap().kind else { panic!("not a message: {updates:?}") };
    let contact = message.contact().unwrap();
    assert_eq!(contact.phone_number, "+491701234567");
    assert_eq!(contact.first_name, "Ann");
    assert_eq!(contact.user_id.unwrap().0, 42);
    assert_eq!(emulator.chat(TOKEN, 42)[2].contact.as_deref(), Some("+491701234567"));

    bot.send_message(ANN, "Thanks").reply_markup(KeyboardRemove::new()).await.unwrap();
    assert_eq!(emulator.chat(TOKEN, 42)[3].reply_markup, Some(json!({"remove_keyboard": true})));
}

#[tokio::test]
async fn a_button_press_arrives_as_a_callback_query_that_can_be_answered_once() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let sent = bot.send_message(ANN, "Pick").reply_markup(keyboard("svc:1")).await.unwrap();
    // Clients can send any data; the bot must re-validate it.
    let query_id = emulator.press_button(TOKEN, &ann(), sent.id.0.into(), "svc:999");

    let updates = bot.get_updates().offset(2).await.unwrap();
    let [update] = updates.as_slice() else { panic!("expected one update: {updates:?}") };
    let UpdateKind::CallbackQuery(query) = &update.kind else { panic!("not a callback query: {update:?}") };
    assert_eq!(query.id.0, query_id);
    assert_eq!(query.data.as_deref(), Some("svc:999"));
    assert_eq!(query.from.id.0, 42);
    assert_eq!(query.regular_message().unwrap().id, sent.id);

    assert!(!emulator.callback_answered(&query_id));
    let waiter = {
        let (emulator, query_id) = (emulator.clone(), query_id.clone());
        tokio::spawn(async move { emulator.wait_answered(TOKEN, &query_id, Duration::from_secs(5)).await })
    };
    bot.answer_callback_query(query.id.clone()).text("Booked").await.unwrap();
    assert!(emulator.callback_answered(&query_id));
    waiter.await.unwrap().expect("the waiter wakes on the answer");
    let again = bot.answer_callback_query(query.id.clone()).await.unwrap_err();
    assert!(matches!(again, RequestError::Api(ApiError::InvalidQueryId)), "{again:?}");

    // A press on a message that is gone carries it as inaccessible, as Telegram does for old messages.
    emulator.press_button(TOKEN, &ann(), 99, "svc:1");
    let updates = bot.get_updates().offset(update.id.as_offset()).await.unwrap();
    let UpdateKind::CallbackQuery(query) = &updates[0].kind else { panic!("not a callback query: {updates:?}") };
    assert!(matches!(query.message, Some(MaybeInaccessibleMessage::Inaccessible(_))), "{query:?}");
}

#[tokio::test]
async fn edits_change_the_message_in_place_and_an_identical_edit_is_refused() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let sent = bot.send_message(ANN, "Monday 10:00").reply_markup(keyboard("slot:1")).await.unwrap();

    let edited = bot.edit_message_text(ANN, sent.id, "Monday 11:00").reply_markup(keyboard("slot:2")).await.unwrap();
    assert_eq!(edited.id, sent.id);
    assert_eq!(edited.text(), Some("Monday 11:00"));
    assert!(edited.edit_date().is_some());
    let chat = emulator.chat(TOKEN, 42);
    assert_eq!(chat.len(), 2);
    assert!(chat[1].edited);
    assert_eq!(chat[1].text.as_deref(), Some("Monday 11:00"));

    let same = bot.edit_message_text(ANN, sent.id, "Monday 11:00").reply_markup(keyboard("slot:2")).await;
    assert!(matches!(same, Err(RequestError::Api(ApiError::MessageNotModified))), "{same:?}");

    let stripped = bot.edit_message_reply_markup(ANN, sent.id).await.unwrap();
    assert_eq!(stripped.reply_markup(), None);
    assert_eq!(emulator.chat(TOKEN, 42)[1].reply_markup, None);

    bot.delete_message(ANN, sent.id).await.unwrap();
    assert!(emulator.chat(TOKEN, 42)[1].deleted);
    let twice = bot.delete_message(ANN, sent.id).await;
    assert!(matches!(twice, Err(RequestError::Api(ApiError::MessageToDeleteNotFound))), "{twice:?}");
    let user_message = bot.edit_message_text(ANN, teloxide::types::MessageId(1), "x").await;
    assert!(matches!(user_message, Err(RequestError::Api(ApiError::MessageCantBeEdited))), "{user_message:?}");
}

#[tokio::test]
async fn what_telegram_refuses_is_refused() {
    let (emulator, bot) = start().await;
    let nobody = bot.send_message(ChatId(7), "hi").await;
    assert!(matches!(nobody, Err(RequestError::Api(ApiError::ChatNotFound))), "{nobody:?}");

    emulator.send_text(TOKEN, &ann(), "/start");
    let unescaped = bot.send_message(ANN, "Hello <Ann>").parse_mode(ParseMode::Html).await;
    let Err(RequestError::Api(ApiError::CantParseEntities(description))) = unescaped else { panic!("{unescaped:?}") };
    assert!(description.starts_with("Bad Request: can't parse entities: Unsupported start tag \"ann\""));

    let long_data = bot.send_message(ANN, "Pick").reply_markup(keyboard(&"x".repeat(65))).await;
    assert!(matches!(long_data, Err(RequestError::Api(ApiError::ButtonDataInvalid))), "{long_data:?}");
    let empty = bot.send_message(ANN, " ").await;
    assert!(matches!(empty, Err(RequestError::Api(ApiError::MessageTextIsEmpty))), "{empty:?}");
}

#[tokio::test]
async fn a_blocked_bot_gets_403_until_the_user_writes_again() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let sent = bot.send_message(ANN, "Reminder").await.unwrap();
    emulator.block_bot(TOKEN, 42);
    let blocked = bot.send_message(ANN, "Reminder").await;
    assert!(matches!(blocked, Err(RequestError::Api(ApiError::BotBlocked))), "{blocked:?}");
    let edit = bot.edit_message_text(ANN, sent.id, "Changed").await;
    assert!(matches!(edit, Err(RequestError::Api(ApiError::BotBlocked))), "{edit:?}");

    emulator.send_text(TOKEN, &ann(), "/start");
    bot.send_message(ANN, "Welcome back").await.unwrap();
}

#[tokio::test]
async fn a_document_upload_is_recorded_by_name_and_size_and_kept() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/export");
    let csv = InputFile::memory(b"date;client\n2026-01-05;Ann\n".to_vec()).file_name("bookings.csv");
    let sent = bot.send_document(ANN, csv).caption("<i>Bookings</i>").parse_mode(ParseMode::Html).await.unwrap();
    let document = sent.document().unwrap();
    assert_eq!(document.file_name.as_deref(), Some("bookings.csv"));
    assert_eq!(document.file.size, 27);
    assert_eq!(sent.caption(), Some("Bookings"));

    let log = emulator.sent(TOKEN);
    let upload = log.last().unwrap();
    assert_eq!(upload.method, "sendDocument");
    assert_eq!(upload.params["document"], json!({"file_name": "bookings.csv", "size": 27}));
    assert_eq!(upload.params["chat_id"], 42);
    let chat = emulator.chat(TOKEN, 42);
    assert_eq!(chat[1].document.as_ref().unwrap().file_name.as_deref(), Some("bookings.csv"));
    assert_eq!(chat[1].document.as_ref().unwrap().bytes, b"date;client\n2026-01-05;Ann\n");
    assert_eq!(chat[1].text.as_deref(), Some("Bookings"));

    // The file id Telegram returned can be sent again without uploading, and it is the same file.
    let again = bot.send_document(ANN, InputFile::file_id(document.file.id.clone())).await.unwrap();
    assert_eq!(again.document().unwrap().file.id, document.file.id);
    let chat = emulator.chat(TOKEN, 42);
    assert_eq!(chat[2].document.as_ref().unwrap().bytes, chat[1].document.as_ref().unwrap().bytes);
}

#[tokio::test]
async fn commands_are_kept_per_scope_and_language() {
    let (emulator, bot) = start().await;
    let en = [BotCommand::new("book", "Book a visit"), BotCommand::new("cancel", "Cancel a booking")];
    let ru = [BotCommand::new("book", "Записаться")];
    bot.set_my_commands(en.clone()).await.unwrap();
    bot.set_my_commands(ru.clone()).language_code("ru").await.unwrap();
    bot.set_my_commands([BotCommand::new("admin", "Admin menu")])
        .scope(BotCommandScope::Chat { chat_id: ANN.into() })
        .await
        .unwrap();

    assert_eq!(bot.get_my_commands().await.unwrap(), en);
    assert_eq!(bot.get_my_commands().language_code("ru").await.unwrap(), ru);
    assert_eq!(bot.get_my_commands().scope(BotCommandScope::Chat { chat_id: ANN.into() }).await.unwrap().len(), 1);
    assert!(bot.get_my_commands().language_code("de").await.unwrap().is_empty());
    let invalid = bot.set_my_commands([BotCommand::new("Book Now", "x")]).await;
    assert!(invalid.is_err());
    assert_eq!(methods(&emulator).iter().filter(|m| *m == "setMyCommands").count(), 4);
}
