//! Bot API errors as Telegram words them: teloxide maps the exact descriptions to its `ApiError` variants.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Failure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub(super) struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        Self { code, description: description.into(), retry_after: None }
    }

    /// `description` is the whole text, `Bad Request: ` prefix included, so that it can be grepped
    /// against teloxide's error list.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, description)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    pub fn method_not_found() -> Self {
        Self::new(404, "Not Found: method not found")
    }

    pub fn chat_not_found() -> Self {
        Self::bad_request("Bad Request: chat not found")
    }

    pub fn blocked() -> Self {
        Self::new(403, "Forbidden: bot was blocked by the user")
    }

    pub fn conflict() -> Self {
        Self::new(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        )
    }

    /// The answer to a call that an injected failure (other than a hang) intercepts.
    pub fn injected(failure: Failure) -> Self {
        match failure {
            Failure::TooManyRequests { retry_after } => Self {
                code: 429,
                description: format!("Too Many Requests: retry after {retry_after}"),
                retry_after: Some(retry_after),
            },
            Failure::ServerError(code) => {
                let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason());
                Self::new(code, reason.unwrap_or("Internal Server Error"))
            }
            Failure::Hang => Self::new(503, "Service Unavailable: the emulator is shutting down"),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "ok": false, "error_code": self.code, "description": self.description });
        if let Some(seconds) = self.retry_after {
            body["parameters"] = json!({ "retry_after": seconds });
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

/// The answer to a Bot API call: `{"ok":true,"result":…}` or the error.
pub(super) fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => axum::Json(json!({ "ok": true, "result": value })).into_response(),
        Err(error) => error.into_response(),
    }
}
