//! A bot's outgoing calls, in one place so that every send obeys the same limits. New messages go
//! through teloxide's `Throttle` (Telegram's published limits, `retry_after` honoured) unless the Bot
//! API in use enforces none (botctl's emulator); edits and callback answers go straight, as `Throttle`
//! itself sends them.

use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::Limits;
use teloxide::payloads::{SendDocumentSetters, SendMessageSetters};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, InputFile, MessageId, ParseMode, ReplyMarkup};
use teloxide::{ApiError, RequestError};

#[derive(Clone)]
pub struct TgBot {
    direct: Bot,
    /// `None` when the Bot API has no rate limits: `Throttle` holds each send for up to a quarter of a
    /// second even when nothing limits it.
    throttled: Option<Throttle<Bot>>,
}

impl TgBot {
    /// `rate_limits`: whether to keep to Telegram's limits (always, against Telegram).
    pub fn new(bot: Bot, rate_limits: bool) -> Self {
        let throttled = rate_limits.then(|| bot.clone().throttle(Limits::default()));
        Self { direct: bot, throttled }
    }

    /// For the calls no limit applies to: polling, commands, answers.
    pub fn direct(&self) -> &Bot {
        &self.direct
    }

    /// Deletes `msg` at once when it may hold a bot token — shaped like one (`token_shaped`), or any
    /// message while the bot awaits a token (`awaited`) — before anything else reads it. `true` when it
    /// was a token out of place, which the caller must neither use nor echo. A failed delete is logged
    /// (never the message) and the caller goes on: the token is still neither used nor shown.
    pub async fn delete_if_token(&self, msg: &Message, token_shaped: bool, awaited: bool) -> bool {
        if (token_shaped || awaited)
            && let Err(error) = self.direct.delete_message(msg.chat.id, msg.id).await
        {
            tracing::warn!(%error, "could not delete a message that may hold a bot token");
        }
        token_shaped && !awaited
    }

    /// A new HTML message in `chat`.
    pub async fn send(&self, chat: ChatId, html: String, markup: Option<ReplyMarkup>) -> anyhow::Result<()> {
        self.post(chat, html, markup).await.map(drop)
    }

    /// A new HTML message in `chat`, and its id, for a message edited later (an operation's progress).
    pub async fn post(&self, chat: ChatId, html: String, markup: Option<ReplyMarkup>) -> anyhow::Result<MessageId> {
        let sent = match &self.throttled {
            Some(bot) => html_message(bot.send_message(chat, html), markup).await?,
            None => html_message(self.direct.send_message(chat, html), markup).await?,
        };
        Ok(sent.id)
    }

    /// A file in `chat`, with an HTML caption: through the same limits as a message.
    pub async fn send_document(
        &self,
        chat: ChatId,
        file_name: String,
        bytes: Vec<u8>,
        caption: String,
    ) -> anyhow::Result<()> {
        let file = InputFile::memory(bytes).file_name(file_name);
        match &self.throttled {
            Some(bot) => bot.send_document(chat, file).caption(caption).parse_mode(ParseMode::Html).await?,
            None => self.direct.send_document(chat, file).caption(caption).parse_mode(ParseMode::Html).await?,
        };
        Ok(())
    }

    /// Replaces a bot message's text and buttons in place; "not modified" (a double tap) is not an error.
    pub async fn edit(
        &self,
        chat: ChatId,
        message: MessageId,
        html: String,
        markup: Option<InlineKeyboardMarkup>,
    ) -> anyhow::Result<()> {
        let mut request = self.direct.edit_message_text(chat, message, html).parse_mode(ParseMode::Html);
        if let Some(markup) = markup {
            request = request.reply_markup(markup);
        }
        match request.await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes a message's inline buttons away, leaving its text.
    pub async fn remove_buttons(&self, chat: ChatId, message: MessageId) -> anyhow::Result<()> {
        match self.direct.edit_message_reply_markup(chat, message).await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether Telegram says a chat cannot be written to at all (the user blocked the bot, left, or never
/// started it), so that trying again is pointless.
pub fn unreachable(error: &RequestError) -> bool {
    matches!(
        error,
        RequestError::Api(
            ApiError::BotBlocked
                | ApiError::ChatNotFound
                | ApiError::UserDeactivated
                | ApiError::CantInitiateConversation
                | ApiError::BotKicked
        )
    )
}

/// The same message settings for a throttled and a direct request, which are different types.
async fn html_message<R>(request: R, markup: Option<ReplyMarkup>) -> Result<Message, RequestError>
where
    R: Request<Payload = teloxide::payloads::SendMessage, Err = RequestError>,
{
    let mut request = request.parse_mode(ParseMode::Html);
    if let Some(markup) = markup {
        request = request.reply_markup(markup);
    }
    request.await
}
