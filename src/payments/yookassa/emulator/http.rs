//! The emulator's HTTP face: API v3 under `/v3/` (HTTP Basic as the shop, `Idempotence-Key` on POSTs,
//! injected failures) and the buyer's confirmation page `/pay/{payment_id}`, whose opening pays.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::shared::Shared;
use super::state::Refusal;
use super::{EmulatorError, Failure, Operation};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v3/payments", post(create_payment))
        .route("/v3/payments/{id}", get(get_payment))
        .route("/v3/refunds", post(create_refund))
        .route("/v3/refunds/{id}", get(get_refund))
        .route("/pay/{id}", get(pay_page))
        .merge(super::control::routes())
        .fallback(|| async { refuse(Refusal::not_found()) })
        .with_state(shared)
}

async fn create_payment(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (shop, lose_answer) = match admit(&shared, &headers, Operation::CreatePayment).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let (key, body) = match key_and_body(&headers, &body) {
        Ok(read) => read,
        Err(refusal) => return refuse(refusal),
    };
    let created = shared.write(|s| s.create_payment(&shop, &key, body));
    answer(created, lose_answer)
}

async fn get_payment(State(shared): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (shop, lose_answer) = match admit(&shared, &headers, Operation::GetPayment).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    answer(shared.read(|s| s.payment(&shop, &id)).ok_or_else(Refusal::not_found), lose_answer)
}

async fn create_refund(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (shop, lose_answer) = match admit(&shared, &headers, Operation::CreateRefund).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let (key, body) = match key_and_body(&headers, &body) {
        Ok(read) => read,
        Err(refusal) => return refuse(refusal),
    };
    let created = shared.write(|s| s.create_refund(&shop, &key, body));
    let created = created.map(|(refund, outgoing)| {
        shared.dispatch(outgoing);
        refund
    });
    answer(created, lose_answer)
}

async fn get_refund(State(shared): State<Arc<Shared>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (shop, lose_answer) = match admit(&shared, &headers, Operation::GetRefund).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    answer(shared.read(|s| s.refund(&shop, &id)).ok_or_else(Refusal::not_found), lose_answer)
}

/// The buyer's side: opening the page is paying.
async fn pay_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.pay(&id) {
        Ok(payment) => {
            let back = payment
                .confirmation
                .and_then(|c| c.return_url)
                .map(|url| format!(r#"<p><a href="{}">Return to the shop</a></p>"#, escape(url.as_str())));
            let amount = payment.amount;
            Html(format!("<h1>Paid {}</h1>{}", escape(&amount.to_string()), back.unwrap_or_default())).into_response()
        }
        Err(error @ EmulatorError::NotPending { .. }) => {
            (StatusCode::CONFLICT, Html(format!("<h1>{}</h1>", escape(&error.to_string())))).into_response()
        }
        Err(error) => (StatusCode::NOT_FOUND, Html(format!("<h1>{}</h1>", escape(&error.to_string())))).into_response(),
    }
}

/// Authenticates the shop and applies an injected failure. `Ok` carries the shop and whether to do the
/// work but lose the answer; `Err` is the answer to give instead.
async fn admit(shared: &Shared, headers: &HeaderMap, operation: Operation) -> Result<(String, bool), Response> {
    let shop = authenticate(shared, headers).ok_or_else(|| refuse(Refusal::unauthorized()))?;
    match shared.write(|s| s.take_failure(operation)) {
        None => Ok((shop, false)),
        Some(Failure::LostAnswer) => Ok((shop, true)),
        Some(Failure::ServerError(status)) => Err(internal_error(status)),
        Some(Failure::Hang) => {
            // Ends when the client gives up (hyper drops this future) or at shutdown, never later.
            shared.stopped().await;
            Err(internal_error(500))
        }
        Some(Failure::Answer { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err((status, axum::Json(body)).into_response())
        }
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (shop, secret) = decoded.split_once(':')?;
    shared.read(|s| s.authenticate(shop, secret))
}

fn key_and_body(headers: &HeaderMap, body: &[u8]) -> Result<(String, Value), Refusal> {
    let key = headers.get("Idempotence-Key").and_then(|k| k.to_str().ok()).filter(|k| !k.is_empty());
    let key = key.ok_or_else(|| Refusal::invalid("Idempotence-Key header is missing", Some("Idempotence-Key")))?;
    let body =
        serde_json::from_slice(body).map_err(|e| Refusal::invalid(format!("The body is not JSON: {e}"), None))?;
    Ok((key.to_string(), body))
}

fn answer<T: serde::Serialize>(result: Result<T, Refusal>, lose_answer: bool) -> Response {
    match result {
        Ok(_) if lose_answer => internal_error(500),
        Ok(object) => axum::Json(object).into_response(),
        Err(refusal) => refuse(refusal),
    }
}

fn refuse(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = json!({
        "type": "error",
        "id": format!("{:032x}", rand::random::<u128>()),
        "code": refusal.code,
        "description": refusal.description,
    });
    if let Some(parameter) = refusal.parameter {
        body["parameter"] = json!(parameter);
    }
    (status, axum::Json(body)).into_response()
}

fn internal_error(status: u16) -> Response {
    let description = "Internal server error. The result is unknown: repeat the request with the same Idempotence-Key";
    refuse(Refusal { status, code: "internal_server_error", description: description.into(), parameter: None })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
