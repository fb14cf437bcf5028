//! The emulator's HTTP face for people: `/_emulator/…`, so that a `botctl demo --keep` can be talked to
//! with curl. Each route is a thin wrapper over the same operation as the Rust handle. docs/EMULATOR.md
//! documents it for people: keep it in step.
//!
//! ```text
//! POST /_emulator/bots                     {"token", "id", "username"}
//! POST /_emulator/{token}/messages         {"user": {"id", "first_name", …}, "text"}
//!                                          or {"user", "contact": {"phone"}}
//! POST /_emulator/{token}/callbacks        {"user", "message_id", "data"}
//! POST /_emulator/{token}/blocks           {"user_id"}
//! POST /_emulator/{token}/failures         {"method", "failure", "times"}, the failure being
//!                                          {"too_many_requests": {"retry_after": 3}}, {"server_error": 502}
//!                                          or "hang"
//! GET  /_emulator/{token}/chats/{chat_id}  the chat as the user sees it
//! GET  /_emulator/{token}/sent             every request the bot made
//! POST /_emulator/{token}/payments         {"user", "message_id"}: the user pays that invoice; answers
//!                                          {"pre_checkout_query_id"}
//! GET  /_emulator/checkouts/{query_id}     {"state": "waiting" | "paid" | "declined" | "timed_out", …}
//! POST /_emulator/{token}/managed_bots     {"user", "message_id", "id", "username"}: the user created a
//!                                          bot through that message's request_managed_bot button;
//!                                          answers {"id", "username", "token"}
//! ```

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::shared::{Shared, UnknownBot, token_matches};
use super::{Failure, ManagedBotRefused, PaymentRefused, TgUser};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/bots", post(add_bot))
        .route("/_emulator/{token}/messages", post(message))
        .route("/_emulator/{token}/callbacks", post(callback))
        .route("/_emulator/{token}/blocks", post(block))
        .route("/_emulator/{token}/failures", post(fail))
        .route("/_emulator/{token}/chats/{chat_id}", get(chat))
        .route("/_emulator/{token}/sent", get(sent))
        .route("/_emulator/{token}/payments", post(pay))
        .route("/_emulator/checkouts/{query_id}", get(checkout))
        .route("/_emulator/{token}/managed_bots", post(managed_bot))
}

enum ControlError {
    UnknownBot,
    /// The operation does not apply to what was named (not an invoice, no such query…).
    Refused(String),
    /// What the body should have looked like. serde's own message is not echoed: it may quote the
    /// body, and a body can hold a token.
    BadBody(&'static str),
}

impl From<UnknownBot> for ControlError {
    fn from(_: UnknownBot) -> Self {
        Self::UnknownBot
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::UnknownBot => (StatusCode::NOT_FOUND, UnknownBot.to_string()),
            Self::Refused(why) => (StatusCode::CONFLICT, why),
            Self::BadBody(expected) => (StatusCode::BAD_REQUEST, format!("expected a JSON body {expected}")),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

type Answer = Result<Response, ControlError>;

fn body<T>(body: Result<Json<T>, JsonRejection>, expected: &'static str) -> Result<T, ControlError> {
    body.map(|Json(body)| body).map_err(|_| ControlError::BadBody(expected))
}

#[derive(Deserialize)]
struct NewBot {
    token: String,
    id: i64,
    username: String,
}

async fn add_bot(State(shared): State<Arc<Shared>>, new: Result<Json<NewBot>, JsonRejection>) -> Answer {
    const EXPECTED: &str = r#"{"token": "<id>:<secret>", "id": <id>, "username": "…"}"#;
    let new = body(new, EXPECTED)?;
    if !token_matches(&new.token, new.id) {
        return Err(ControlError::BadBody(EXPECTED));
    }
    shared.add_bot(&new.token, new.id, &new.username);
    Ok((StatusCode::CREATED, Json(json!({ "id": new.id, "username": new.username }))).into_response())
}

#[derive(Deserialize)]
struct NewMessage {
    user: TgUser,
    text: Option<String>,
    contact: Option<NewContact>,
}

#[derive(Deserialize)]
struct NewContact {
    phone: String,
}

async fn message(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    new: Result<Json<NewMessage>, JsonRejection>,
) -> Answer {
    const EXPECTED: &str = r#"{"user": {"id", "first_name"}, "text": "…"} or {"user", "contact": {"phone": "…"}}"#;
    let message_id = match body(new, EXPECTED)? {
        NewMessage { user, text: Some(text), contact: None } => shared.send_text(&token, &user, &text)?,
        NewMessage { user, text: None, contact: Some(contact) } => {
            shared.send_contact(&token, &user, &contact.phone)?
        }
        _ => return Err(ControlError::BadBody(EXPECTED)),
    };
    Ok(Json(json!({ "message_id": message_id })).into_response())
}

#[derive(Deserialize)]
struct NewCallback {
    user: TgUser,
    message_id: i64,
    data: String,
}

async fn callback(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    new: Result<Json<NewCallback>, JsonRejection>,
) -> Answer {
    let new = body(new, r#"{"user": {"id", "first_name"}, "message_id": 1, "data": "…"}"#)?;
    let query_id = shared.press_button(&token, &new.user, new.message_id, &new.data)?;
    Ok(Json(json!({ "callback_query_id": query_id })).into_response())
}

#[derive(Deserialize)]
struct Block {
    user_id: i64,
}

async fn block(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    block: Result<Json<Block>, JsonRejection>,
) -> Answer {
    let block = body(block, r#"{"user_id": 1}"#)?;
    shared.block_bot(&token, block.user_id)?;
    Ok(Json(json!({ "blocked": block.user_id })).into_response())
}

#[derive(Deserialize)]
struct NewFailure {
    method: String,
    failure: Failure,
    #[serde(default = "once")]
    times: u32,
}

fn once() -> u32 {
    1
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    new: Result<Json<NewFailure>, JsonRejection>,
) -> Answer {
    let new = body(new, r#"{"method": "sendMessage", "failure": {"server_error": 502}, "times": 1}"#)?;
    shared.fail(&token, &new.method, new.failure, new.times)?;
    Ok(Json(json!({ "method": new.method, "times": new.times })).into_response())
}

async fn chat(State(shared): State<Arc<Shared>>, Path((token, chat_id)): Path<(String, i64)>) -> Answer {
    Ok(Json(shared.chat(&token, chat_id)?).into_response())
}

async fn sent(State(shared): State<Arc<Shared>>, Path(token): Path<String>) -> Answer {
    Ok(Json(shared.sent(&token)?).into_response())
}

impl From<PaymentRefused> for ControlError {
    fn from(refused: PaymentRefused) -> Self {
        match refused {
            PaymentRefused::UnknownBot => Self::UnknownBot,
            refused => Self::Refused(refused.to_string()),
        }
    }
}

impl From<ManagedBotRefused> for ControlError {
    fn from(refused: ManagedBotRefused) -> Self {
        match refused {
            ManagedBotRefused::UnknownBot => Self::UnknownBot,
            refused => Self::Refused(refused.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct Payment {
    user: TgUser,
    message_id: i64,
}

async fn pay(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    payment: Result<Json<Payment>, JsonRejection>,
) -> Answer {
    let payment = body(payment, r#"{"user": {"id", "first_name"}, "message_id": 1}"#)?;
    let query_id = shared.write(|s| s.pay_invoice(&token, &payment.user, payment.message_id))?;
    Ok(Json(json!({ "pre_checkout_query_id": query_id })).into_response())
}

async fn checkout(State(shared): State<Arc<Shared>>, Path(query_id): Path<String>) -> Answer {
    let outcome = shared.read(|s| s.payments.checkout(&query_id)).map(|(outcome, _)| outcome);
    let outcome = outcome.ok_or_else(|| ControlError::Refused(format!("no pre-checkout query {query_id}")))?;
    Ok(Json(outcome).into_response())
}

#[derive(Deserialize)]
struct NewManagedBot {
    user: TgUser,
    message_id: i64,
    id: i64,
    username: String,
}

async fn managed_bot(
    State(shared): State<Arc<Shared>>,
    Path(token): Path<String>,
    new: Result<Json<NewManagedBot>, JsonRejection>,
) -> Answer {
    let new = body(new, r#"{"user": {"id", "first_name"}, "message_id": 1, "id": 7000000001, "username": "…"}"#)?;
    let bot = shared.write(|s| s.create_managed_bot(&token, &new.user, new.message_id, new.id, &new.username))?;
    // The token is the emulator's own make-believe, handed to whoever drives the emulator.
    let answer = json!({ "id": bot.id, "username": bot.username, "token": bot.token });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
