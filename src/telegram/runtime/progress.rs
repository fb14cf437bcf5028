//! A long operation's progress shown by editing its message, for any bot of the runtime: the library's
//! `Progress` steps become a watch value, and a task edits the message with the newest at most once a
//! second (Telegram limits edits too), so a fast operation makes one edit and a slow one keeps the
//! reader informed.

use std::time::Duration;

use teloxide::types::{ChatId, MessageId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::progress::Progress;
use crate::telegram::runtime::sender::TgBot;

const EVERY: Duration = Duration::from_secs(1);

pub struct MessageProgress {
    step: watch::Sender<String>,
}

impl MessageProgress {
    /// Edits `message` with `render(step)` as steps come; the task ends when the progress is dropped.
    pub fn start(
        bot: TgBot,
        chat: ChatId,
        message: MessageId,
        render: impl Fn(&str) -> String + Send + 'static,
    ) -> (Self, JoinHandle<()>) {
        let (step, mut steps) = watch::channel(String::new());
        let task = tokio::spawn(async move {
            while steps.changed().await.is_ok() {
                let html = render(&steps.borrow_and_update().clone());
                if let Err(error) = bot.edit(chat, message, html, None).await {
                    tracing::debug!(error = format!("{error:#}"), "could not show a step of an operation");
                }
                tokio::time::sleep(EVERY).await;
            }
        });
        (Self { step }, task)
    }
}

impl Progress for MessageProgress {
    fn set_message(&self, message: &str) {
        self.step.send_replace(message.to_string());
    }
}
