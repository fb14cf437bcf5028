//! The emulator driven by a real teloxide 0.17 `Bot`, which proves that what it answers deserializes
//! the way botctl's bot will read it; and the control API driven by reqwest.

mod control;
mod conversation;
mod faults;
mod managed;
mod payments;
mod updates;

use std::time::Duration;

use teloxide::Bot;
use teloxide::types::ChatId;

use super::{Emulator, TgUser};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const BOT_ID: i64 = 123_456_789;
/// Generous, since it only bounds a failing test: passing ones are woken by the change they wait for.
const WAIT: Duration = Duration::from_secs(10);

async fn start() -> (Emulator, Bot) {
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    emulator.add_bot(TOKEN, BOT_ID, "salon_bot");
    let bot = Bot::new(TOKEN).set_api_url(emulator.url());
    (emulator, bot)
}

fn ann() -> TgUser {
    TgUser { id: 42, first_name: "Ann".into(), username: Some("ann".into()), language_code: Some("en".into()) }
}

const ANN: ChatId = ChatId(42);

/// Waits until the emulator has seen `polls` `getUpdates` calls, so that a test knows a poll is waiting.
async fn until_polled(emulator: &Emulator, polls: u64) {
    let shared = &emulator.inner.shared;
    let mut changes = shared.changes();
    let polled = || shared.read(|s| s.bots.get(TOKEN).is_some_and(|b| b.poll_generation >= polls));
    tokio::time::timeout(WAIT, async {
        while !polled() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
}

fn methods(emulator: &Emulator) -> Vec<String> {
    emulator.sent(TOKEN).into_iter().map(|s| s.method).collect()
}
