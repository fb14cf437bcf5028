//! The `/_emulator` HTTP API, as a person with curl would use it against `botctl demo --keep`.

use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::UpdateKind;

use super::*;

struct Control {
    client: reqwest::Client,
    base: url::Url,
}

impl Control {
    fn new(emulator: &Emulator) -> Self {
        Self { client: reqwest::Client::new(), base: emulator.url().join("_emulator/").unwrap() }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.post(self.base.join(path).unwrap()).json(&body).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.base.join(path).unwrap()).send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

#[tokio::test]
async fn a_conversation_through_the_control_api() {
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let control = Control::new(&emulator);
    let (status, _) = control.post("bots", json!({"token": TOKEN, "id": BOT_ID, "username": "salon_bot"})).await;
    assert_eq!(status, 201);
    let bot = Bot::new(TOKEN).set_api_url(emulator.url());

    let user = json!({"id": 42, "first_name": "Ann", "language_code": "ru"});
    let (status, body) = control.post(&format!("{TOKEN}/messages"), json!({"user": user, "text": "/start"})).await;
    assert_eq!((status, body), (200, json!({"message_id": 1})));
    let updates = bot.get_updates().await.unwrap();
    let UpdateKind::Message(message) = &updates[0].kind else { panic!("{updates:?}") };
    assert_eq!(message.from.as_ref().unwrap().language_code.as_deref(), Some("ru"));

    let markup =
        teloxide::types::InlineKeyboardMarkup::new([[teloxide::types::InlineKeyboardButton::callback("Yes", "yes")]]);
    let question = bot.send_message(ANN, "Confirm?").reply_markup(markup).await.unwrap();
    let press = json!({"user": user, "message_id": question.id.0, "data": "yes"});
    let (status, body) = control.post(&format!("{TOKEN}/callbacks"), press).await;
    assert_eq!(status, 200);
    let query_id = body["callback_query_id"].as_str().unwrap().to_owned();
    bot.answer_callback_query(teloxide::types::CallbackQueryId(query_id.clone())).await.unwrap();
    assert!(emulator.callback_answered(&query_id));

    let contact = json!({"user": user, "contact": {"phone": "+7 900 000-00-00"}});
    assert_eq!(control.post(&format!("{TOKEN}/messages"), contact).await.0, 200);

    let (status, chat) = control.get(&format!("{TOKEN}/chats/42")).await;
    assert_eq!(status, 200);
    assert_eq!(chat[0]["text"], "/start");
    assert_eq!(chat[1]["text"], "Confirm?");
    assert_eq!(chat[1]["from_bot"], true);
    assert_eq!(chat[1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "yes");
    assert_eq!(chat[2]["contact"], "+7 900 000-00-00");

    let (status, sent) = control.get(&format!("{TOKEN}/sent")).await;
    assert_eq!(status, 200);
    let methods: Vec<_> = sent.as_array().unwrap().iter().map(|s| s["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["sendMessage", "answerCallbackQuery"]);
    assert!(sent[0]["at"].as_str().unwrap().ends_with('Z'));

    let failure = json!({"method": "sendMessage", "failure": {"server_error": 500}});
    assert_eq!(control.post(&format!("{TOKEN}/failures"), failure).await.0, 200);
    assert_eq!(emulator.inner.shared.read(|s| s.bots[TOKEN].failures["sendmessage"].len()), 1);
    assert_eq!(control.post(&format!("{TOKEN}/blocks"), json!({"user_id": 42})).await.0, 200);
    assert!(emulator.inner.shared.read(|s| s.bots[TOKEN].blocked.contains(&42)));
}

#[tokio::test]
async fn control_errors_never_echo_the_token() {
    let (emulator, _bot) = start().await;
    let control = Control::new(&emulator);
    let unknown = "555555555:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
    let message = json!({"user": {"id": 1, "first_name": "A"}, "text": "hi"});
    let (status, body) = control.post(&format!("{unknown}/messages"), message).await;
    assert_eq!(status, 404);
    assert!(!body.to_string().contains(unknown), "{body}");
    assert_eq!(control.get(&format!("{unknown}/sent")).await.0, 404);

    let (status, body) = control.post("bots", json!({"token": 5, "id": TOKEN})).await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains(TOKEN), "{body}");
    let mismatched = json!({"token": TOKEN, "id": 1, "username": "x"});
    assert_eq!(control.post("bots", mismatched).await.0, 400);
    let neither = json!({"user": {"id": 1, "first_name": "A"}});
    assert_eq!(control.post(&format!("{TOKEN}/messages"), neither).await.0, 400);
}

#[tokio::test]
async fn a_payment_and_a_managed_bot_through_the_control_api() {
    let (emulator, bot) = start().await;
    let control = Control::new(&emulator);
    emulator.send_text(TOKEN, &ann(), "/buy");
    let price = [teloxide::types::LabeledPrice::new("1 month", 250)];
    let invoice = bot.send_invoice(ANN, "1 month", "30 days", "order:5", "XTR", price).await.unwrap();
    let user = json!({"id": 42, "first_name": "Ann"});

    let (status, body) = control.post(&format!("{TOKEN}/payments"), json!({"user": user, "message_id": 1})).await;
    assert_eq!(status, 409, "the user's own message is no invoice: {body}");
    let payment = json!({"user": user, "message_id": invoice.id.0});
    let (status, body) = control.post(&format!("{TOKEN}/payments"), payment).await;
    assert_eq!(status, 200);
    let query_id = body["pre_checkout_query_id"].as_str().unwrap().to_owned();
    assert_eq!(control.get(&format!("checkouts/{query_id}")).await, (200, json!({"state": "waiting"})));
    bot.answer_pre_checkout_query(teloxide::types::PreCheckoutQueryId(query_id.clone()), true).await.unwrap();
    let (status, body) = control.get(&format!("checkouts/{query_id}")).await;
    assert_eq!((status, &body["state"]), (200, &json!("paid")));
    assert!(body["telegram_payment_charge_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(control.get("checkouts/nope").await.0, 409);

    let keyboard = json!({"keyboard": [[{"text": "Create my bot", "request_managed_bot": {"request_id": 1}}]]});
    let raw = format!("{}bot{TOKEN}/sendMessage", emulator.url());
    let offer = json!({"chat_id": 42, "text": "Create your bot", "reply_markup": keyboard});
    let sent: Value = control.client.post(raw).json(&offer).send().await.unwrap().json().await.unwrap();
    let created = json!({"user": user, "message_id": sent["result"]["message_id"], "id": 7_000_000_001_i64, "username": "ann_bot"});
    let (status, body) = control.post(&format!("{TOKEN}/managed_bots"), created).await;
    assert_eq!(status, 201, "{body}");
    let new_bot = Bot::new(body["token"].as_str().unwrap()).set_api_url(emulator.url());
    assert_eq!(new_bot.get_me().await.unwrap().username(), "ann_bot");
}
