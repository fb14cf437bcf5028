//! The Telegram Bot API: reachability and `getMe` to confirm a token, as the operator's commands need
//! them; the runtime every bot of ours runs on (`runtime`); and the Bot API emulator tests and demos
//! talk to.

pub mod emulator;
pub mod managed;
pub mod runtime;
pub mod stars;
mod token;

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use token::{BotToken, TokenShapeError};

use crate::error::BadInput;

/// How long one Bot API call may take from the CLI.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        // The public endpoint redirects `/` to its documentation site, which proves nothing about the API.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

/// Asks the Bot API at `api_url` for `getMe` with a token no bot has: a Bot API answers in its own JSON
/// (401 Unauthorized), which proves the URL is right; anything else (a 404 page, a proxy's error) is
/// reported as not a Bot API.
pub async fn probe(api_url: &url::Url, timeout: Duration) -> anyhow::Result<u16> {
    let url = format!("{}/bot0:botctl-doctor/getMe", api_url.as_str().trim_end_matches('/'));
    let response = client(timeout)?.get(url).send().await.with_context(|| format!("no answer from {api_url}"))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ApiResponse<serde_json::Value>>(&body) {
        Ok(_) => Ok(status),
        Err(_) => anyhow::bail!("{api_url} answers HTTP {status}, not as a Bot API does: is this the Bot API's URL?"),
    }
}

/// Who a token belongs to, as `getMe` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotIdentity {
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub first_name: String,
}

#[derive(Deserialize)]
struct ApiResponse<T> {
    ok: bool,
    result: Option<T>,
    description: Option<String>,
    error_code: Option<u16>,
}

/// Calls `getMe`: confirms the token is live and learns the bot's id and username.
/// A token Telegram rejects is bad input (exit 2); an unreachable API is a failure (exit 1).
pub async fn get_me(api_url: &url::Url, token: &BotToken) -> anyhow::Result<BotIdentity> {
    let url = format!("{}/bot{}/getMe", api_url.as_str().trim_end_matches('/'), token.expose());
    // reqwest puts the URL, and so the token, into its errors: strip it before anything can print them.
    let response = client(REQUEST_TIMEOUT)?
        .get(url)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach the Telegram Bot API at {api_url} to check the token"))?;
    let status = response.status();
    let body: ApiResponse<BotIdentity> = response
        .json()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("the Bot API at {api_url} answered getMe with HTTP {status} and no valid JSON"))?;
    match (body.ok, body.result) {
        (true, Some(me)) if me.id == token.bot_id() => Ok(me),
        (true, Some(me)) => anyhow::bail!("getMe returned bot {} for a token of bot {}", me.id, token.bot_id()),
        _ if matches!(body.error_code, Some(401 | 404)) => Err(BadInput::new(format!(
            "Telegram rejected the token for bot {} ({}); check it with @BotFather",
            token.bot_id(),
            body.description.as_deref().unwrap_or("Unauthorized")
        ))
        .into()),
        _ => anyhow::bail!("getMe failed: HTTP {status}: {}", body.description.as_deref().unwrap_or("no description")),
    }
}
