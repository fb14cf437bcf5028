//! `refundStarPayment` as a raw Bot API call, through the same client as `managed`: teloxide's request
//! errors carry the URL (and so the bot's token), and a refund must tell Telegram's "already refunded"
//! apart from any other refusal, which only the answer's description does.

use anyhow::Context;

use super::{ApiResponse, BotToken, REQUEST_TIMEOUT, client};
use crate::error::BadInput;

/// What Telegram answers a refund of a charge it has refunded before. It also answered it, by mistake,
/// to some refunds that did succeed (tdlib/telegram-bot-api#690): either way the Stars are back.
const ALREADY_REFUNDED: &str = "CHARGE_ALREADY_REFUNDED";

/// How a refund ended at Telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarRefund {
    /// Telegram returned the Stars now.
    Refunded,
    /// Telegram had returned them before (`CHARGE_ALREADY_REFUNDED`).
    AlreadyRefunded,
}

/// Returns the Stars of charge `charge_id` to user `user_id`, as the bot whose token is `bot` (the one
/// the user paid). A refusal (an unknown charge, another user's) is bad input naming Telegram's reason;
/// an unreachable API is a failure worth a retry. The token appears in no error.
pub async fn refund_star_payment(
    api_url: &url::Url,
    bot: &BotToken,
    user_id: i64,
    charge_id: &str,
) -> anyhow::Result<StarRefund> {
    let method = "refundStarPayment";
    let url = format!("{}/bot{}/{method}", api_url.as_str().trim_end_matches('/'), bot.expose());
    let response = client(REQUEST_TIMEOUT)?
        .post(url)
        .json(&serde_json::json!({ "user_id": user_id, "telegram_payment_charge_id": charge_id }))
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| {
            format!("cannot reach the Telegram Bot API at {api_url} to refund Stars charge {charge_id}")
        })?;
    let status = response.status();
    let body: ApiResponse<bool> =
        response.json().await.map_err(reqwest::Error::without_url).with_context(|| {
            format!("the Bot API at {api_url} answered {method} with HTTP {status} and no valid JSON")
        })?;
    let description = body.description.as_deref().unwrap_or("no description");
    match (body.ok, body.result) {
        (true, Some(true)) => Ok(StarRefund::Refunded),
        (true, _) => anyhow::bail!("{method} for charge {charge_id} answered ok without `true`"),
        _ if description.contains(ALREADY_REFUNDED) => Ok(StarRefund::AlreadyRefunded),
        _ if matches!(body.error_code, Some(401 | 404)) => {
            Err(BadInput::new(format!("Telegram rejected the sales bot's token (bot {}): {description}", bot.bot_id()))
                .into())
        }
        _ if matches!(body.error_code, Some(400..=499)) => Err(BadInput::new(format!(
            "Telegram refused to refund Stars charge {charge_id} of user {user_id} ({description}): is it a payment \
             to bot {}?",
            bot.bot_id()
        ))
        .into()),
        _ => anyhow::bail!("{method} failed: HTTP {status}: {description}"),
    }
}
