//! The emulator's HTTP face for people: `/_emulator/…`, so that a running demo can be driven with curl.
//! Each route is a thin wrapper over the same operation as the Rust handle.
//!
//! ```text
//! POST /_emulator/shops                    {"shop_id", "secret_key", "notification_url"?}
//! POST /_emulator/payments/{id}/pay        the buyer pays
//! POST /_emulator/payments/{id}/cancel     {"party"?: "yoo_money", "reason": "card_expired"}
//! POST /_emulator/failures                 {"operation": "create_payment", "failure", "times"}, the failure
//!                                          being {"server_error": 500}, "lost_answer", "hang" or
//!                                          {"answer": {"status", "body"}}
//! GET  /_emulator/payments                 every payment
//! GET  /_emulator/refunds                  every refund
//! GET  /_emulator/notifications            every delivery attempt
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

use super::shared::Shared;
use super::{EmulatorError, Failure, Operation};

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/shops", post(add_shop))
        .route("/_emulator/payments", get(payments))
        .route("/_emulator/payments/{id}/pay", post(pay))
        .route("/_emulator/payments/{id}/cancel", post(cancel))
        .route("/_emulator/refunds", get(refunds))
        .route("/_emulator/failures", post(fail))
        .route("/_emulator/notifications", get(notifications))
}

/// serde's own message is not echoed: it may quote the body, and a body can hold a secret key.
fn bad_body(expected: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("expected a JSON body {expected}") }))).into_response()
}

fn emulator_error(error: EmulatorError) -> Response {
    let status = match error {
        EmulatorError::NotPending { .. } => StatusCode::CONFLICT,
        EmulatorError::UnknownShop(_) | EmulatorError::UnknownPayment(_) => StatusCode::NOT_FOUND,
    };
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

#[derive(Deserialize)]
struct NewShop {
    shop_id: String,
    secret_key: String,
    #[serde(default)]
    notification_url: Option<url::Url>,
}

async fn add_shop(State(shared): State<Arc<Shared>>, new: Result<Json<NewShop>, JsonRejection>) -> Response {
    let Ok(Json(new)) = new else {
        return bad_body(r#"{"shop_id": "…", "secret_key": "…", "notification_url": "https://…" (optional)}"#);
    };
    let added = shared.write(|s| {
        s.add_shop(&new.shop_id, &new.secret_key);
        s.set_notification_url(&new.shop_id, new.notification_url)
    });
    match added {
        Ok(()) => (StatusCode::CREATED, Json(json!({ "shop_id": new.shop_id }))).into_response(),
        Err(error) => emulator_error(error),
    }
}

async fn pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    shared.pay(&id).map_or_else(emulator_error, |payment| Json(payment).into_response())
}

#[derive(Deserialize)]
struct Cancel {
    #[serde(default = "yoo_money")]
    party: String,
    reason: String,
}

fn yoo_money() -> String {
    "yoo_money".into()
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<Json<Cancel>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else { return bad_body(r#"{"party": "yoo_money" (optional), "reason": "…"}"#) };
    shared.cancel(&id, &body.party, &body.reason).map_or_else(emulator_error, |payment| Json(payment).into_response())
}

#[derive(Deserialize)]
struct Fail {
    operation: Operation,
    failure: Failure,
    #[serde(default = "once")]
    times: u32,
}

fn once() -> u32 {
    1
}

async fn fail(State(shared): State<Arc<Shared>>, body: Result<Json<Fail>, JsonRejection>) -> Response {
    let Ok(Json(body)) = body else {
        return bad_body(r#"{"operation": "create_payment", "failure": {"server_error": 500}, "times": 1}"#);
    };
    shared.write(|s| s.fail(body.operation, body.failure, body.times));
    StatusCode::NO_CONTENT.into_response()
}

async fn payments(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.read(|s| s.payments())).into_response()
}

async fn refunds(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.read(|s| s.refunds())).into_response()
}

async fn notifications(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.read(|s| s.attempts.clone())).into_response()
}
