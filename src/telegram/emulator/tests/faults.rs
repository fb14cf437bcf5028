//! Injected failures (429, 5xx, hangs) and the errors of a wrong token or method.

use std::time::Duration;

use serde_json::{Value, json};
use teloxide::adaptors::throttle::Limits;
use teloxide::prelude::*;
use teloxide::{ApiError, RequestError};

use super::*;
use crate::telegram::emulator::Failure;

/// `url.join` would take `bot123…:` for a URL scheme.
fn api(emulator: &Emulator, bot_and_method: &str) -> String {
    format!("{}{bot_and_method}", emulator.url())
}

async fn raw_get(emulator: &Emulator, path: &str) -> (u16, Value) {
    let response = reqwest::get(api(emulator, path)).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn too_many_requests_reaches_teloxide_as_retry_after_and_throttle_retries() {
    let (emulator, bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    emulator.fail(TOKEN, "sendMessage", Failure::TooManyRequests { retry_after: 7 }, 1);
    let flooded = bot.send_message(ANN, "one").await;
    let Err(RequestError::RetryAfter(after)) = flooded else { panic!("{flooded:?}") };
    assert_eq!(after.seconds(), 7);

    // The failure is used up; the method name matches in any case, as teloxide sends `SendMessage`.
    emulator.fail(TOKEN, "SENDMESSAGE", Failure::TooManyRequests { retry_after: 1 }, 1);
    let throttled = bot.clone().throttle(Limits::default());
    let sent = throttled.send_message(ANN, "two").await.unwrap();
    assert_eq!(sent.text(), Some("two"));
    assert_eq!(methods(&emulator), ["sendMessage"; 3]);
    let texts: Vec<_> = emulator.chat(TOKEN, 42).into_iter().filter_map(|m| m.text).collect();
    assert_eq!(texts, ["/start", "two"]);
}

#[tokio::test]
async fn a_server_error_is_answered_for_the_given_number_of_calls() {
    // Through raw HTTP: teloxide waits 10 s after any 5xx before it returns the error.
    let (emulator, _bot) = start().await;
    emulator.fail(TOKEN, "getMe", Failure::ServerError(502), 2);
    let path = format!("bot{TOKEN}/getMe");
    for _ in 0..2 {
        let (status, body) = raw_get(&emulator, &path).await;
        assert_eq!(status, 502);
        assert_eq!(body, json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}));
    }
    let (status, body) = raw_get(&emulator, &path).await;
    assert_eq!((status, body["ok"].clone()), (200, json!(true)));
    assert_eq!(methods(&emulator), ["getMe"; 3]);
}

#[tokio::test]
async fn a_hung_call_lasts_until_the_client_gives_up_or_the_emulator_stops() {
    let (emulator, _bot) = start().await;
    emulator.fail(TOKEN, "getMe", Failure::Hang, 2);
    let client = teloxide::net::default_reqwest_settings().timeout(Duration::from_millis(200)).build().unwrap();
    let impatient = Bot::with_client(TOKEN, client).set_api_url(emulator.url());
    let timed_out = impatient.get_me().await;
    let Err(RequestError::Network(error)) = timed_out else { panic!("{timed_out:?}") };
    assert!(error.is_timeout());
    // teloxide strips the token from its network errors; the emulator never puts it anywhere.
    assert!(!error.to_string().contains(TOKEN));

    let url = api(&emulator, &format!("bot{TOKEN}/getMe"));
    let patient = tokio::spawn(reqwest::get(url));
    emulator.wait_until_sent(TOKEN, |sent| sent.len() == 2, WAIT).await.unwrap();
    emulator.shutdown().await;
    let answer = patient.await.unwrap().unwrap();
    assert_eq!(answer.status(), 503);
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized_and_an_unknown_method_not_found() {
    let (emulator, _bot) = start().await;
    let stranger = Bot::new("987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw").set_api_url(emulator.url());
    let refused = stranger.get_me().await;
    assert!(matches!(refused, Err(RequestError::Api(ApiError::InvalidToken))), "{refused:?}");

    let (status, body) = raw_get(&emulator, "bot987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe").await;
    assert_eq!((status, body), (401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"})));
    let (status, body) = raw_get(&emulator, &format!("bot{TOKEN}/sendPigeon")).await;
    assert_eq!(status, 404);
    assert_eq!(body["description"], "Not Found: method not found");
    // Method names are case-insensitive.
    assert_eq!(raw_get(&emulator, &format!("bot{TOKEN}/GETME")).await.0, 200);
}

#[tokio::test]
async fn parameters_arrive_as_query_string_form_or_json_alike() {
    let (emulator, _bot) = start().await;
    emulator.send_text(TOKEN, &ann(), "/start");
    let url = api(&emulator, &format!("bot{TOKEN}/sendMessage"));
    let markup = r#"{"inline_keyboard":[[{"text":"Yes","callback_data":"y"}]]}"#;
    let client = reqwest::Client::new();

    let by_query = client.get(url.clone()).query(&[("chat_id", "42"), ("text", "q")]).send().await.unwrap();
    let form = [("chat_id", "42"), ("text", "f"), ("reply_markup", markup)];
    let by_form = client.post(url.clone()).form(&form).send().await.unwrap();
    let by_json = client.post(url).json(&json!({"chat_id": "42", "text": "j"})).send().await.unwrap();
    for response in [by_query, by_form, by_json] {
        assert_eq!(response.status(), 200);
    }

    let log = emulator.sent(TOKEN);
    assert_eq!(log[0].params, json!({"chat_id": 42, "text": "q"}));
    assert_eq!(log[1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "y");
    let texts: Vec<_> = emulator.chat(TOKEN, 42).into_iter().filter_map(|m| m.text).collect();
    assert_eq!(texts, ["/start", "q", "f", "j"]);
}
