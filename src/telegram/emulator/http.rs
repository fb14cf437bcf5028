//! The emulator's HTTP face for bots: `/bot<token>/<method>`, failure injection, and the long poll of
//! `getUpdates`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tokio::time::Instant;

use super::Failure;
use super::api_error::{ApiError, respond};
use super::control;
use super::methods::{self, Method};
use super::params::{self, Params};
use super::shared::Shared;

/// Longer polls are cut to this; Telegram itself answers well before.
const MAX_POLL_SECONDS: i64 = 3600;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{bot}/{method}", get(bot_api).post(bot_api))
        .merge(control::routes())
        .fallback(|| async { ApiError::new(404, "Not Found").into_response() })
        .layer(DefaultBodyLimit::max(params::MAX_BODY))
        .with_state(shared)
}

async fn bot_api(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Response {
    // The path holds the token: axum's own rejection text could echo it, so it is not used.
    let Ok(Path((bot, method_name))) = path else { return ApiError::new(404, "Not Found").into_response() };
    let Some(token) = bot.strip_prefix("bot") else { return ApiError::new(404, "Not Found").into_response() };
    let Some(bot_id) = shared.read(|s| s.bots.get(token).map(|b| b.id)) else {
        return ApiError::unauthorized().into_response();
    };
    let (params, uploads) = match params::read(request).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let method = Method::parse(&method_name);
    let name = method.map_or(method_name.as_str(), |m| m.name());
    tracing::debug!(bot_id, method = name, "emulated Bot API call");
    let failure = shared.write(|s| s.bots.get_mut(token).and_then(|b| b.intercept(name, &params)));
    let Some(method) = method else { return ApiError::method_not_found().into_response() };
    match failure {
        Some(Failure::Hang) => {
            // Ends when the client gives up (hyper drops this future) or at shutdown, never later.
            shared.stopped().await;
            return ApiError::injected(Failure::Hang).into_response();
        }
        Some(failure) => return ApiError::injected(failure).into_response(),
        None => {}
    }
    let result = match method {
        Method::GetUpdates => long_poll(&shared, token, &params).await,
        method => shared.write(|s| methods::call(s, token, method, &params, &uploads)),
    };
    if let Err(error) = &result {
        tracing::debug!(bot_id, method = name, code = error.code, "emulated Bot API call refused");
    }
    respond(result)
}

/// `getUpdates` with `timeout`: answers as soon as an update is pending, or with `[]` when the time is
/// up or the emulator stops. A newer `getUpdates` for the same bot ends this one with 409.
async fn long_poll(shared: &Shared, token: &str, p: &Params) -> Result<Value, ApiError> {
    let seconds = params::integer(p, "timeout")?.unwrap_or(0).clamp(0, MAX_POLL_SECONDS);
    let deadline = Instant::now() + Duration::from_secs(seconds.unsigned_abs());
    // Subscribed under the same lock as the look, after this poll's own bump: the next change wakes it.
    let (generation, mut updates, mut changes) = shared.write(|s| {
        let bot = s.bots.get_mut(token).ok_or_else(ApiError::unauthorized)?;
        let (generation, updates) = methods::get_updates(bot, p)?;
        Ok::<_, ApiError>((generation, updates, bot.polls.subscribe()))
    })?;
    loop {
        if updates.as_array().is_some_and(|u| !u.is_empty()) || Instant::now() >= deadline {
            return Ok(updates);
        }
        tokio::select! {
            // The sender goes with its bot: a bot removed ends its polls.
            changed = changes.changed() => if changed.is_err() { return Ok(updates) },
            () = tokio::time::sleep_until(deadline) => {}
            () = shared.stopped() => return Ok(updates),
        }
        updates = shared.read(|s| {
            let bot = s.bots.get(token).ok_or_else(ApiError::unauthorized)?;
            methods::pending(bot, generation, p)
        })?;
    }
}
