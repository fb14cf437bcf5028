//! The Telegram Bot API as seen from the operator's side: is the configured endpoint reachable.

use std::time::Duration;

use anyhow::Context;

/// Sends one request to the Bot API base URL. Any HTTP answer proves the endpoint is reachable;
/// a token is not needed for that, so none is sent.
pub async fn probe(api_url: &url::Url, timeout: Duration) -> anyhow::Result<u16> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        // The public endpoint redirects `/` to its documentation site, which proves nothing about the API.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")?;
    let response = client.get(api_url.clone()).send().await.with_context(|| format!("no answer from {api_url}"))?;
    Ok(response.status().as_u16())
}
